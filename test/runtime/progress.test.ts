// The terminal progress line and the per-run JSONL log.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineTask, definePipeline } from 'cellar';
import { ProgressLine } from '../../runtime/run/summary.js';
import { runPipeline } from '../../runtime/run/run.js';

describe('progress and logs', () => {
  it('redraws one progress line and prints permanent lines for finished and failed tasks', () => {
    let out = '';
    const p = new ProgressLine((s) => (out += s));
    p.update({ kind: 'run-start', at: 0, pipeline: 'p', toRun: 2, cached: 1, workers: 2 });
    p.update({ kind: 'task-start', at: 0, task: 'a', key: 'k', attempt: 1 });
    expect(out.split('\r\x1b[2K').pop()).toMatch(/1\/3 done · running a$/);
    p.update({ kind: 'task-done', at: 0, task: 'a', key: 'k', durationMs: 5 });
    p.update({ kind: 'task-failed', at: 0, task: 'b', error: 'nope', durationMs: 1 });
    const last = out.split('\r\x1b[2K').pop()!;
    expect(last).toContain('FAILED  b: nope\n');
    expect(last).toMatch(/3\/3 done$/);
    expect(out).toContain('done    a (5ms)\n');
  });

  it('writes every event of a run to <workspace>/<pipeline>/_runs/<run-id>.jsonl', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-log-'));
    const t = defineTask({
      name: 't',
      params: {},
      inputs: {},
      outputs: { v: {} },
      run: () => ({ v: 1 }),
    });
    await runPipeline({
      pipeline: definePipeline({ name: 'p', tasks: [t] }),
      workspace,
      codeAware: false,
    });
    const [log] = readdirSync(join(workspace, 'p', '_runs'));
    const kinds = readFileSync(join(workspace, 'p', '_runs', log!), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).kind);
    expect(kinds).toEqual(['run-start', 'task-planned', 'task-start', 'task-done', 'run-end']);
    const planned = JSON.parse(
      readFileSync(join(workspace, 'p', '_runs', log!), 'utf8').split('\n')[1]!,
    );
    expect(planned).toMatchObject({
      kind: 'task-planned',
      task: 't',
      reason: { kind: 'never-run' },
    });
  });
});
