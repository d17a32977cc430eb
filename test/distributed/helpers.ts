// Process-level helpers for the distributed tests: copy the shapes fixture into test/.tmp (inside
// the project, so its `import 'cellar'` resolves), start workers and coordinators as real CLI
// processes, read the executions side file.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { root, startCli, type CliResult } from '../runtime/helpers.js';

export { root, runCli, runJson, startCli, sleep } from '../runtime/helpers.js';

let counter = 0;
export function copyShapes(): string {
  const dir = join(
    root,
    'test',
    '.tmp',
    'distributed',
    `shapes-${process.pid}-${Date.now()}-${counter++}`,
  );
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'test', 'distributed', 'fixtures', 'shapes'), dir, { recursive: true });
  return dir;
}

export interface Execution {
  what: 'start' | 'end';
  task: string;
  pid: number;
}

/** The lines of data/calls.log: each task appends `start`/`end` with its process id. */
export function executions(dir: string): Execution[] {
  const path = join(dir, 'data', 'calls.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, task, pid] = l.split(' ');
      return { what: what as Execution['what'], task: task!, pid: Number(pid) };
    });
}

/** How many times each task finished computing. */
export function completions(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of executions(dir)) if (e.what === 'end') out[e.task] = (out[e.task] ?? 0) + 1;
  return out;
}

/** Poll until `check` holds (no time limit of its own: the test's timeout is the bound). */
export async function until(check: () => boolean, what: string, everyMs = 50): Promise<void> {
  for (;;) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
    void what; // named for readers of a timed-out test
  }
}

/** Every output file of a local workspace (not manifests, locks or logs): `<pipeline>/<task>/<file>` → bytes. */
export function outputFiles(ws: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const pipeline of readdirSync(ws)) {
    if (pipeline.startsWith('_') || pipeline.startsWith('.')) continue;
    for (const task of readdirSync(join(ws, pipeline))) {
      if (task.startsWith('_') || task.startsWith('.')) continue;
      for (const name of readdirSync(join(ws, pipeline, task))) {
        if (name.endsWith('.manifest.json') || name.endsWith('.lock')) continue;
        out.set(`${pipeline}/${task}/${name}`, readFileSync(join(ws, pipeline, task, name)));
      }
    }
  }
  return out;
}

export interface WorkerProcess {
  pid: number;
  done: Promise<CliResult>;
  log(): string;
}

/** BullMQ's stalled-job timings a test worker runs with (`--lock-duration`, `--stalled-interval`). */
export interface StallTimings {
  lockDurationMs: number;
  stalledIntervalMs: number;
}

/**
 * The default: a lock far longer than any pause a loaded machine makes. A worker renews its job's
 * lock every half of it; a pause past that (a starved process) makes BullMQ count a live worker's
 * job as stalled and hand it to another, which then finds it `cached` or computes it twice.
 */
export const STEADY: StallTimings = { lockDurationMs: 20_000, stalledIntervalMs: 1_000 };

/**
 * For a test that SIGKILLs a worker and needs its job retaken soon (within about the lock time
 * and two stalled checks). Still some seconds: every worker of that test runs with it, and its
 * live jobs must outlast a pause too.
 */
export const QUICK_RETAKE: StallTimings = { lockDurationMs: 10_000, stalledIntervalMs: 500 };

/** `cellar worker` with stall timings `STEADY` unless told otherwise. */
export function startWorkerProcess(
  pipeline: string,
  redis: string,
  ws: string,
  stall: StallTimings = STEADY,
): WorkerProcess {
  const { child, done } = startCli([
    'worker',
    pipeline,
    '--redis',
    redis,
    '--workspace',
    ws,
    '--concurrency',
    '2',
    '--lock-duration',
    String(stall.lockDurationMs),
    '--stalled-interval',
    String(stall.stalledIntervalMs),
  ]);
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  return { pid: child.pid!, done, log: () => log };
}

/** Wait until a worker says it is listening (its first log line names the queue). */
export async function workerReady(w: WorkerProcess): Promise<void> {
  await until(() => w.log().includes('queue cellar-'), 'the worker to start');
}
