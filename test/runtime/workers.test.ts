// The worker-thread runner from the library (source mode: workers load runtime/workers/thread.ts through
// tsx): CPU-bound tasks run off the scheduler's thread, in the pipeline's working directory.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadPipeline } from '../../runtime/load/loader.js';
import { runPipeline } from '../../runtime/run/run.js';
import type { RunEvent } from '../../runtime/types.js';
import { copyFixture } from './helpers.js';

describe('worker pool', () => {
  it('runs tasks in worker threads, in the workdir, and keeps the scheduler responsive', async () => {
    const dir = copyFixture('basic');
    const file = join(dir, 'pipeline.ts');
    const { pipeline } = await loadPipeline(file);
    const events: RunEvent[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const cwd = process.cwd();
    const { result } = await runPipeline({
      pipeline,
      pipelineFile: file,
      workspace: join(dir, 'ws'),
      workers: 2,
      params: { slowMs: 300 },
      onEvent: (e) => events.push(e),
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
    // The main thread kept ticking while tasks slept/ran in workers.
    expect(ticks).toBeGreaterThan(20);
    expect(events.filter((e) => e.kind === 'task-done')).toHaveLength(4);
  });
});
