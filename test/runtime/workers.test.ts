// The worker-thread runner from the library (source mode: workers load runtime/workers/thread.ts through
// tsx): CPU-bound tasks run off the scheduler's thread, in the pipeline's working directory.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadPipeline } from '../../runtime/load/loader.js';
import { runPipeline } from '../../runtime/run/run.js';
import type { RunEvent } from '../../runtime/types.js';
import { copyFixture } from './helpers.js';
import { WorkerPool } from '../../runtime/workers/pool.js';
import type { TaskJob } from '../../runtime/run/perform.js';
import { LocalStore } from '../../runtime/store/local.js';
import type { KeyInputs } from '../../runtime/types.js';

describe('worker pool', () => {
  it('runs tasks in worker threads, in the workdir, and keeps the scheduler responsive', async () => {
    const dir = copyFixture('basic');
    // `total` blocks its thread (Atomics.wait, no event loop turns) until a file `tick` appears in
    // the workdir, which only the main thread's interval below writes, once it sees total started.
    // It can finish only if the main thread ran while it was blocked: proof of a worker thread and
    // a responsive scheduler whatever the machine's speed. Were it on the main thread, nothing
    // would write the file: the guard fails it (well inside the test timeout) rather than hang.
    const totalFile = join(dir, 'tasks', 'total.ts');
    const blocking = readFileSync(totalFile, 'utf8').replace(
      "logCall('total');",
      `logCall('total');
    const blocked = new Int32Array(new SharedArrayBuffer(4));
    const guard = Date.now() + 300_000;
    while (!existsSync('tick')) {
      if (Date.now() > guard) throw new Error('no tick: the main thread did not run while total ran');
      Atomics.wait(blocked, 0, 0, 10);
    }`,
    );
    expect(blocking).toContain('Atomics.wait');
    writeFileSync(totalFile, `import { existsSync } from 'node:fs';\n${blocking}`);
    const file = join(dir, 'pipeline.ts');
    const { pipeline } = await loadPipeline(file);
    const events: RunEvent[] = [];
    const order: string[] = [];
    const calls = join(dir, 'data', 'calls.log');
    const timer = setInterval(() => {
      if (order.includes('tick') || !existsSync(calls)) return;
      if (!readFileSync(calls, 'utf8').includes('total ')) return;
      writeFileSync(join(dir, 'data', 'tick'), '');
      order.push('tick');
    }, 10);
    const cwd = process.cwd();
    const { result } = await runPipeline({
      pipeline,
      pipelineFile: file,
      workspace: join(dir, 'ws'),
      workers: 2,
      params: { slowMs: 300 },
      onEvent: (e) => {
        events.push(e);
        if (e.kind === 'task-done') order.push(`done ${e.task}`);
      },
    });
    clearInterval(timer);
    expect(result!.tasks.filter((t) => t.error)).toEqual([]);
    expect(process.cwd()).toBe(cwd);
    // calls.log is written relative to the workdir (data/); the PIDs are this process (threads).
    const lines = readFileSync(join(dir, 'data', 'calls.log'), 'utf8')
      .trim()
      .split('\n');
    expect(lines.map((l) => l.split(' ')[0]).sort()).toEqual(['count', 'scale', 'source', 'total']);
    expect(new Set(lines.map((l) => l.split(' ')[1]))).toEqual(new Set([String(process.pid)]));
    // The main thread ran while total was blocked in its worker: it wrote the tick before total
    // was done (total could not finish without it).
    expect(order.indexOf('tick')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('tick')).toBeLessThan(order.indexOf('done total'));
    expect(events.filter((e) => e.kind === 'task-done')).toHaveLength(4);
  });
});

describe('idle worker threads are retired (each holds the whole pipeline module)', () => {
  const job = (task: string): TaskJob => ({
    task,
    key: '0000000000000000',
    params: {},
    upstreamKeys: {},
    inputs: [],
  });
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  };
  const poolFor = (retireIdleAfterMs?: number) => {
    const dir = copyFixture('basic');
    return new WorkerPool(
      2,
      { pipelineFile: join(dir, 'pipeline.ts'), workspace: join(dir, 'ws'), params: {} },
      retireIdleAfterMs,
    );
  };

  it('an idle thread beyond the first is ended, and later jobs start threads again', async () => {
    const pool = poolFor(0);
    try {
      // Two jobs at once: two threads. Each fails (no such task) after the module loaded.
      const first = [pool.run(job('nope1')), pool.run(job('nope2'))];
      expect(pool.threads).toBe(2);
      const both = await Promise.allSettled(first);
      expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      await until(() => pool.threads === 1);
      // The last thread is kept; the pool still runs jobs, and grows again for two at once.
      await expect(pool.run(job('nope3'))).rejects.toThrow(/task 'nope3' not found/);
      const second = [pool.run(job('nope4')), pool.run(job('nope5'))];
      expect(pool.threads).toBe(2);
      const again = await Promise.allSettled(second);
      expect(again.map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([
        expect.stringMatching(/task 'nope4' not found/),
        expect.stringMatching(/task 'nope5' not found/),
      ]);
      await until(() => pool.threads === 1);
    } finally {
      await pool.close();
    }
  });

  it('variant: without a retire time, idle threads stay', async () => {
    const pool = poolFor(undefined);
    try {
      await Promise.allSettled([pool.run(job('nope1')), pool.run(job('nope2'))]);
      await new Promise((r) => setTimeout(r, 300));
      expect(pool.threads).toBe(2);
    } finally {
      await pool.close();
    }
  });
});

describe("a task's manifest, written by the worker thread that ran it", () => {
  const oneTask = `import { defineTask, definePipeline } from 'cellar';
const one = defineTask({ name: 'one', module: import.meta.url, params: {}, inputs: {}, outputs: { v: {} }, run: () => ({ v: 41 + 1 }) });
export default definePipeline({ name: 'one', tasks: [one] });
`;
  const job = (key: string): TaskJob => ({
    task: 'one',
    key,
    params: {},
    upstreamKeys: {},
    inputs: [],
  });

  it('a job carrying `manifest` is marked done beside its outputs; one without (not to be cached) is not', async () => {
    const dir = copyFixture('basic');
    const file = join(dir, 'one.ts');
    writeFileSync(file, oneTask);
    const ws = join(dir, 'ws');
    const pool = new WorkerPool(1, { pipelineFile: file, workspace: ws, params: {} });
    const inputs: KeyInputs = {
      task: 'one',
      version: 0,
      cache: 'code',
      params: {},
      upstream: {},
      codecs: { v: 'json@1' },
    };
    const store = new LocalStore(ws).forPipeline('one');
    try {
      const cached = await pool.run({ ...job('aaaaaaaaaaaaaaaa'), manifest: { inputs } });
      expect(await store.isDone('one', 'aaaaaaaaaaaaaaaa')).toBe(true);
      // The manifest the scheduler reports (execute.ts builds it from this result) is the one on disk.
      expect(await store.readManifest('one', 'aaaaaaaaaaaaaaaa')).toEqual({
        task: 'one',
        key: 'aaaaaaaaaaaaaaaa',
        inputs,
        outputs: cached.outputs,
        durationMs: cached.durationMs,
        finishedAt: cached.finishedAt,
      });
      expect(Date.parse(cached.finishedAt!)).not.toBeNaN();
      // Without `manifest` (an upstream result of this run was not cached, or the scheduler
      // writes it): the outputs are written, nothing is marked done.
      const bare = await pool.run(job('bbbbbbbbbbbbbbbb'));
      expect(bare.finishedAt).toBeUndefined();
      expect(existsSync(join(ws, 'one', bare.outputs.v!.file))).toBe(true);
      expect(await store.isDone('one', 'bbbbbbbbbbbbbbbb')).toBe(false);
    } finally {
      await pool.close();
    }
  });
});
