// Distributed runs on a real redis-server: a coordinator (`cellar run --executor bullmq`) and two
// workers (`cellar worker`), all separate processes on one shared local store. A worker killed
// mid-task has its job retaken by the other; each task is computed once (counted in a side file);
// outputs equal a local run byte for byte; a second run is all cached; a restarted coordinator
// resumes from the cache and collapses onto the job still running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { jobId, queueName } from '../../runtime/distributed/queue.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { TAMPER_SCRIPT } from '../support/tamper.js';
import {
  completions,
  copyShapes,
  executions,
  outputFiles,
  QUICK_RETAKE,
  root,
  runCli,
  runJson,
  sleep,
  startCli,
  startWorkerProcess,
  until,
  workerReady,
  type StallTimings,
  type WorkerProcess,
} from './helpers.js';

let redis: RedisServer;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
  redis = await startRedis();
});

afterAll(async () => {
  for (const w of workers) {
    try {
      process.kill(w.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await redis?.stop();
});

async function twoWorkers(
  pipeline: string,
  ws: string,
  stall?: StallTimings,
): Promise<[WorkerProcess, WorkerProcess]> {
  const pair: [WorkerProcess, WorkerProcess] = [
    startWorkerProcess(pipeline, redis.url, ws, stall),
    startWorkerProcess(pipeline, redis.url, ws, stall),
  ];
  workers.push(...pair);
  await Promise.all(pair.map(workerReady));
  return pair;
}

async function stop(w: WorkerProcess): Promise<number | null> {
  process.kill(w.pid, 'SIGTERM');
  return (await w.done).code;
}

describe('cellar run --executor bullmq with two cellar workers', () => {
  it('runs a diamond; a worker SIGKILLed mid-task has its job retaken; each task computed once; outputs equal a local run; a second run is all cached', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'diamond.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'hold-left'), '');
    // The one test that needs a killed worker's job retaken soon.
    const [a, b] = await twoWorkers(pipeline, ws, QUICK_RETAKE);

    const coordinator = startCli([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
      '--json',
    ]);
    // `left` holds until released: kill the worker running it, mid-task.
    await until(
      () => executions(dir).some((e) => e.what === 'start' && e.task === 'left'),
      'left to start',
    );
    // `right` runs beside it, maybe on the same worker: let it finish first, so the kill hits
    // `left` alone (a task killed after computing but before its commit is rightly computed again).
    // Finished is BullMQ's word, not the manifest: a worker writes the manifest, releases the store
    // lock and only then marks the job completed in Redis; killed in between, its job is retaken
    // and the retry finds the manifest (`right: 'cached'`).
    const rightManifest = () =>
      existsSync(join(ws, 'diamond', 'right'))
        ? readdirSync(join(ws, 'diamond', 'right')).find((n) => n.endsWith('.manifest.json'))
        : undefined;
    await until(() => rightManifest() !== undefined, 'right to commit');
    const rightJob = jobId('right', rightManifest()!.slice(0, -'.manifest.json'.length));
    const queue = new Queue(queueName('diamond'), {
      connection: { host: '127.0.0.1', port: redis.port },
    });
    try {
      for (;;) {
        const state = await queue.getJobState(rightJob);
        if (state === 'completed') break;
        expect(state, `the state of job ${rightJob}`).toBe('active');
        await sleep(50);
      }
    } finally {
      await queue.close();
    }
    const victim = executions(dir).find((e) => e.task === 'left')!.pid;
    expect([a.pid, b.pid]).toContain(victim);
    process.kill(victim, 'SIGKILL');
    writeFileSync(join(dir, 'data', 'release-left'), '');

    const result = await coordinator.done;
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout.trim().split('\n').pop()!) as {
      ok: boolean;
      tasks: { name: string; status: string; key: string }[];
    };
    expect(parsed.tasks.map((t) => [t.name, t.status])).toEqual([
      ['top', 'ran'],
      ['left', 'ran'],
      ['right', 'ran'],
      ['bottom', 'ran'],
    ]);
    // Each task finished computing exactly once; `left` started twice, the second time elsewhere.
    expect(completions(dir)).toEqual({ top: 1, left: 1, right: 1, bottom: 1 });
    const leftRuns = executions(dir).filter((e) => e.task === 'left');
    expect(leftRuns.map((e) => e.what)).toEqual(['start', 'start', 'end']);
    const survivor = victim === a.pid ? b : a;
    expect(leftRuns[1]!.pid).toBe(survivor.pid);

    // The same pipeline run locally: the same keys and byte-equal outputs.
    const local = await runJson(['run', pipeline, '--workspace', join(dir, 'ws-local')]);
    expect(local.code).toBe(0);
    expect(local.keys).toEqual(Object.fromEntries(parsed.tasks.map((t) => [t.name, t.key])));
    expect(outputFiles(join(dir, 'ws-local'))).toEqual(outputFiles(ws));

    // Again on the cluster: nothing to compute.
    const before = executions(dir).length;
    const again = await runJson([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
    ]);
    expect(again.code).toBe(0);
    expect(again.status).toEqual({
      top: 'cached',
      left: 'cached',
      right: 'cached',
      bottom: 'cached',
    });
    expect(executions(dir).length).toBe(before);
    expect(await stop(survivor)).toBe(0);
  }, 600_000);

  it('runs a fan-out and fan-in across both workers, each task once, outputs equal a local run', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'fanout.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'await-two'), '');
    const pair = await twoWorkers(pipeline, ws);
    const run = await runJson([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(Object.values(run.status).every((s) => s === 'ran')).toBe(true);
    expect(Object.keys(run.status)).toHaveLength(10);
    const done = completions(dir);
    expect(Object.values(done).every((n) => n === 1)).toBe(true);
    expect(Object.keys(done)).toHaveLength(10);
    // The parts wait for each other across processes: both workers took some.
    const partPids = new Set(
      executions(dir)
        .filter((e) => e.task.startsWith('part'))
        .map((e) => e.pid),
    );
    expect(partPids).toEqual(new Set(pair.map((w) => w.pid)));

    rmSync(join(dir, 'data', 'await-two')); // a local run has one process: no waiting
    const local = await runJson(['run', pipeline, '--workspace', join(dir, 'ws-local')]);
    expect(local.code).toBe(0);
    expect(local.keys).toEqual(run.keys);
    expect(outputFiles(join(dir, 'ws-local'))).toEqual(outputFiles(ws));
    for (const w of pair) expect(await stop(w)).toBe(0);
  }, 600_000);

  it('a task reading a data file at run time: workers key with the records the coordinator keyed with, the next run is all cached, an edit re-runs the chain', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'reads.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'prices.json'), '[1, 2, 3]');
    const pair = await twoWorkers(pipeline, ws);
    const cluster = () =>
      runJson(['run', pipeline, '--executor', 'bullmq', '--redis', redis.url, '--workspace', ws]);
    const report = () =>
      readFileSync(
        join(
          ws,
          'reads',
          'report',
          readdirSync(join(ws, 'reads', 'report')).find(
            (n) => n.startsWith('line_') && n.endsWith('.txt'),
          )!,
        ),
        'utf8',
      );
    // First run: `prices` discovers its read while `total` and `report` wait; their jobs still
    // carry the keys the coordinator computed before the read was recorded.
    const first = await cluster();
    expect(first.code, first.stderr).toBe(0);
    expect(first.status).toEqual({ prices: 'ran', total: 'ran', report: 'ran' });
    expect(report()).toBe('total 6');
    // Second run: keys now hold prices.json's content; the first run's results were filed there.
    const second = await cluster();
    expect(second.code, second.stderr).toBe(0);
    expect(second.status).toEqual({ prices: 'cached', total: 'cached', report: 'cached' });
    expect(completions(dir)).toEqual({ prices: 1, total: 1, report: 1 });
    // An edit to the data file re-runs the chain on the workers, keyed alike on both sides.
    writeFileSync(join(dir, 'data', 'prices.json'), '[1, 2, 30]');
    const third = await cluster();
    expect(third.code, third.stderr).toBe(0);
    expect(third.status).toEqual({ prices: 'ran', total: 'ran', report: 'ran' });
    expect(completions(dir)).toEqual({ prices: 2, total: 2, report: 2 });
    const lines = readdirSync(join(ws, 'reads', 'report')).filter((n) => n.startsWith('line_'));
    const texts = lines.map((n) => readFileSync(join(ws, 'reads', 'report', n), 'utf8')).sort();
    expect(texts).toEqual(['total 33', 'total 6']);
    for (const w of pair) expect(await stop(w)).toBe(0);
  }, 600_000);

  it("a module reading a data file while it loads: the workers key with it as the coordinator does, equal to a local run's keys; after an edit running workers refuse, naming the file, and restarted ones re-run every task", async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'loadreads.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'rate.json'), '{"rate": 2}');
    const pair = await twoWorkers(pipeline, ws);
    const cluster = () =>
      runJson(['run', pipeline, '--executor', 'bullmq', '--redis', redis.url, '--workspace', ws]);
    const lineText = () =>
      readdirSync(join(ws, 'loadreads', 'line'))
        .filter((n) => n.startsWith('line_') && n.endsWith('.txt'))
        .map((n) => readFileSync(join(ws, 'loadreads', 'line', n), 'utf8'))
        .sort();
    const first = await cluster();
    expect(first.code, first.stderr).toBe(0);
    expect(first.status).toEqual({ base: 'ran', line: 'ran' });
    expect(lineText()).toEqual(['scaled 40']);
    const local = await runJson(['run', pipeline, '--workspace', join(dir, 'ws-local')]);
    expect(local.code, local.stderr).toBe(0);
    expect(local.keys).toEqual(first.keys);
    const second = await cluster();
    expect(second.status).toEqual({ base: 'cached', line: 'cached' });
    writeFileSync(join(dir, 'data', 'rate.json'), '{"rate": 3}');
    // The running workers computed the module's values from the old file: they refuse, naming
    // it, rather than store a result computed from it under the new keys.
    const refused = await cluster();
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/rate\.json while this worker loaded it.*restart the worker/);
    expect(lineText()).toEqual(['scaled 40']);
    for (const w of pair) expect(await stop(w)).toBe(0);
    // Restarted, they load the new file and compute with it.
    const restarted = await twoWorkers(pipeline, ws);
    const third = await cluster();
    expect(third.code, third.stderr).toBe(0);
    expect(third.status).toEqual({ base: 'ran', line: 'ran' });
    expect(lineText()).toEqual(['scaled 40', 'scaled 90']);
    for (const w of restarted) expect(await stop(w)).toBe(0);
  }, 600_000);

  it('a failing task: the same exit code, statuses, retries and error as a local run', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'fails.ts');
    const ws = join(dir, 'ws');
    const pair = await twoWorkers(pipeline, ws);
    const remote = await runJson([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
    ]);
    const local = await runJson(['run', pipeline, '--workspace', join(dir, 'ws-local')]);
    expect(remote.code).toBe(1);
    expect(local.code).toBe(1);
    const shape = (r: typeof remote) => r.result.tasks.map((t) => ({ ...t, durationMs: 0 }));
    expect(shape(remote)).toEqual(shape(local));
    expect(remote.result.tasks.find((t) => t.name === 'boom')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('boom at n=3'),
    });
    // Two attempts each (retries: 1), the remote ones on the workers.
    const boomStarts = executions(dir).filter((e) => e.task === 'boom');
    expect(boomStarts.filter((e) => pair.some((w) => w.pid === e.pid))).toHaveLength(2);
    expect(boomStarts).toHaveLength(4);
    // The human-readable summary lists the same tasks under the same headings.
    const text = await runCli([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
    ]);
    const localText = await runCli(['run', pipeline, '--workspace', join(dir, 'ws-local')]);
    const headings = (out: string) =>
      out
        .split('\n')
        .filter((l) => /^\* |^    - /.test(l))
        .map((l) => l.replace(/\(\d+(\.\d+)?m?s\)/, ''));
    expect(headings(text.stdout)).toEqual(headings(localText.stdout));
    expect(text.code).toBe(1);
    for (const w of pair) expect(await stop(w)).toBe(0);
  }, 600_000);

  it('a task past its timeoutMs on a worker: its thread is stopped, the run fails it with E_TASK_TIMEOUT, and the worker goes on (it still stops cleanly)', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'stuck.ts');
    const ws = join(dir, 'ws');
    const pair = await twoWorkers(pipeline, ws);
    const bullmq = ['--executor', 'bullmq', '--redis', redis.url, '--workspace', ws];
    const remote = await runJson(['run', pipeline, '--keep-going', ...bullmq]);
    expect(remote.code).toBe(1);
    expect(remote.result.tasks.find((t) => t.name === 'fine')).toMatchObject({ status: 'ran' });
    expect(remote.result.tasks.find((t) => t.name === 'stuck')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(
        /task 'stuck' ran longer than its timeout of 500ms \(timeoutMs: 500\): its thread was stopped.*E_TASK_TIMEOUT/,
      ),
    });
    // It ran on a worker, not on the coordinator.
    const starts = executions(dir).filter((e) => e.task === 'stuck');
    expect(starts).toHaveLength(1);
    expect(pair.map((w) => w.pid)).toContain(starts[0]!.pid);
    // The worker that ran it takes jobs again: a second run sends `stuck` once more (nothing was
    // stored) and it fails the same way, rather than wait on a thread still spinning.
    const again = await runJson(['run', pipeline, '--keep-going', ...bullmq]);
    expect(again.result.tasks.find((t) => t.name === 'stuck')).toMatchObject({ status: 'failed' });
    expect(again.result.tasks.find((t) => t.name === 'fine')).toMatchObject({ status: 'cached' });
    // A graceful stop waits for running jobs: it ends only if none is stuck.
    for (const w of pair) expect(await stop(w)).toBe(0);
  }, 600_000);

  it('a coordinator killed mid-run and started again resumes from the cache and joins the job still running', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'diamond.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'hold-bottom'), '');
    const pair = await twoWorkers(pipeline, ws);
    const first = startCli([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
      '--json',
    ]);
    await until(
      () => executions(dir).some((e) => e.what === 'start' && e.task === 'bottom'),
      'bottom to start',
    );
    first.child.kill('SIGKILL');
    await first.done;
    const second = startCli([
      'run',
      pipeline,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
      '--json',
    ]);
    // The restarted coordinator re-adds `bottom` under the same job id: the add collapses onto
    // the job a worker is still running, so releasing it finishes the second run.
    writeFileSync(join(dir, 'data', 'release-bottom'), '');
    const result = await second.done;
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout.trim().split('\n').pop()!) as {
      tasks: { name: string; status: string }[];
    };
    const status = Object.fromEntries(parsed.tasks.map((t) => [t.name, t.status]));
    expect(status.top).toBe('cached');
    expect(status.left).toBe('cached');
    expect(status.right).toBe('cached');
    expect(['ran', 'cached']).toContain(status.bottom);
    expect(completions(dir)).toEqual({ top: 1, left: 1, right: 1, bottom: 1 });
    for (const w of pair) expect(await stop(w)).toBe(0);
  }, 600_000);

  it('a keyed input file changed while a worker runs its task, then restored: the worker commits no manifest for it or its downstream, and the next run computes from the restored file', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'tampered.ts');
    const ws = join(dir, 'ws');
    writeFileSync(join(dir, 'data', 'tamper.sh'), TAMPER_SCRIPT);
    writeFileSync(join(dir, 'data', 'rate.txt'), '3\n');
    const worker = startWorkerProcess(pipeline, redis.url, ws);
    workers.push(worker);
    await workerReady(worker);
    const remote = () =>
      runJson(['run', pipeline, '--executor', 'bullmq', '--redis', redis.url, '--workspace', ws]);
    await remote();
    await remote();
    expect((await remote()).status).toEqual({ load: 'cached', report: 'cached' });
    writeFileSync(join(dir, 'data', 'rate.txt'), '2\n');
    writeFileSync(join(dir, 'data', 'tamper-once'), '');
    const tampered = await remote();
    expect(tampered.code, tampered.stderr).toBe(0);
    const reasons = Object.fromEntries(
      (tampered.result.tasks as { name: string; notCached?: string }[]).map((t) => [
        t.name,
        t.notCached,
      ]),
    );
    expect(reasons).toEqual({
      load: expect.stringMatching(/^\S*data\/rate\.txt changed while load ran$/),
      report: 'upstream load was not cached',
    });
    for (const task of ['load', 'report'])
      expect(existsSync(join(ws, 'tampered', task, `${tampered.keys[task]}.manifest.json`))).toBe(
        false,
      );
    expect((await remote()).status).toEqual({ load: 'ran', report: 'ran' });
    const shown = await runCli(['show', pipeline, 'report', 'line', '--workspace', ws, '--json']);
    expect(JSON.parse(shown.stdout)).toBe('rate 2');
    expect((await remote()).status).toEqual({ load: 'cached', report: 'cached' });
    expect(await stop(worker)).toBe(0);
  }, 600_000);
});
