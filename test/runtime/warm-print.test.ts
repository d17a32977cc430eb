// How a run answered by the warm-run record prints without a result object per task (h31): the
// summary from the record's counts (cli/commands/run-warm.ts `cachedSummaryGroups`), `--json` a
// part at a time (runtime/run/summary.ts `resultJsonParts`), the run log's one tasks-cached line
// by joining (warm-record.ts `tasksCachedLine`). Each must give the very text the whole-result
// form gives; a real process checks that a reader closing the pipe early is not an error.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  formatSummary,
  formatSummaryOf,
  resultJson,
  resultJsonParts,
} from '../../runtime/run/summary.js';
import {
  cachedResults,
  cachedRunResult,
  tasksCachedLine,
  type WarmRecord,
} from '../../runtime/run/warm-record.js';
import { cachedSummaryGroups } from '../../cli/commands/run-warm.js';
import type { RunEvent, TaskResult } from '../../runtime/types.js';
import { root } from './helpers.js';

const base = join(root, 'test', '.tmp', 'runtime', `warmprint-${process.pid}`);
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A checked record's tasks: `n` tasks, those at `notRequested` (ascending) not requested. */
function record(n: number, notRequested: number[], workspace = base): WarmRecord {
  const names = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `t.${i}` : `t_${i}-x`));
  const keys = names.map((_, i) => i.toString(16).padStart(16, '0')).join('');
  return {
    pipeline: 'p',
    workspace,
    tasks: { names, keys, notRequested },
  } as unknown as WarmRecord;
}

/** The results `cachedRunResult` makes (its run log goes to a scratch workspace). */
function wholeResult(r: WarmRecord) {
  mkdirSync(r.workspace, { recursive: true });
  return cachedRunResult(r, { workers: 1, onEvent: () => {}, perTask: false });
}

describe('the summary of a warm run from the record counts', () => {
  for (const [label, n, notRequested] of [
    ['all cached, more than the listed twelve', 40, []],
    ['a few not requested among many cached', 40, [0, 5, 6, 39]],
    [
      'many not requested, two cached',
      30,
      Array.from({ length: 28 }, (_, i) => i + (i >= 3 ? 2 : 0)),
    ],
    ['one task', 1, []],
  ] as const) {
    it(`is the summary of the whole result: ${label}`, () => {
      const r = record(n, [...notRequested], join(base, `sum-${n}-${notRequested.length}`));
      const whole = wholeResult(r);
      expect(formatSummaryOf(whole, cachedSummaryGroups(r))).toBe(formatSummary(whole));
    });
  }
});

describe('--json a part at a time', () => {
  const mixed: TaskResult[] = [
    { name: 'a', status: 'cached', key: 'ka', durationMs: 0 },
    { key: 'kb', durationMs: 1, status: 'ran', name: 'b' } as TaskResult,
    { name: 'c', status: 'ran', key: 'kc', durationMs: 2, notCached: 'upstream x was not cached' },
    { name: 'd', status: 'failed', key: 'kd', durationMs: 3, error: 'boom', location: 'x, cell 1' },
    { name: 'e', status: 'not-run', key: 'ke', durationMs: 0, because: { kind: 'fail-fast' } },
  ];
  it('joins to resultJson for every part size, and for no tasks', () => {
    for (const tasks of [mixed, []]) {
      const result = { ok: false, pipeline: 'p', durationMs: 7, tasks };
      for (const perPart of [1, 2, 3, 5, 100]) {
        const parts = resultJsonParts(
          result,
          tasks.length,
          (from, to) => tasks.slice(from, to),
          perPart,
        );
        expect([...parts].join(''), `${tasks.length} tasks, ${perPart} a part`).toBe(
          resultJson(result),
        );
      }
    }
  });

  it("a record's results made a part at a time are the whole result's, not-requested tasks too", () => {
    const r = record(25, [0, 1, 7, 8, 9, 24], join(base, 'json'));
    const whole = wholeResult(r);
    for (const perPart of [1, 4, 7, 25, 30]) {
      const parts = resultJsonParts(whole, 25, (from, to) => cachedResults(r, from, to), perPart);
      expect([...parts].join('')).toBe(resultJson(whole));
    }
  });
});

describe("the run log's tasks-cached line", () => {
  it('is JSON.stringify of the line, and what the warm run writes', () => {
    const r = record(30, [2, 3], join(base, 'log'));
    wholeResult(r);
    const runs = join(base, 'log', 'p', '_runs');
    const lines = readFileSync(join(runs, readdirSync(runs)[0]!), 'utf8')
      .trim()
      .split('\n');
    const line = JSON.parse(lines[1]!) as { at: number; tasks: string[]; keys: string };
    expect(line.tasks).toHaveLength(28);
    expect(lines[1]).toBe(
      JSON.stringify({ kind: 'tasks-cached', at: line.at, tasks: line.tasks, keys: line.keys }),
    );
    const { names, keys } = record(30, []).tasks;
    expect(tasksCachedLine(12, names, keys)).toBe(
      JSON.stringify({ kind: 'tasks-cached', at: 12, tasks: names, keys }),
    );
    expect((JSON.parse(lines[2]!) as RunEvent).kind).toBe('run-end');
  });
});

describe('printing in parts to a pipe the reader closes early', () => {
  it('is swallowed as console.log swallows it: exit 0, nothing on stderr', async () => {
    // printLikeConsole bundled and run by plain Node (a loader such as tsx pipes stdout itself,
    // which makes even console.log's EPIPE an error): 8 MB in parts of 64 KB, and `head -c 10`
    // closes the pipe after the first bytes. A bare `process.stdout.write` per part dies of an
    // unhandled EPIPE here.
    const { buildSync } = await import('esbuild');
    mkdirSync(base, { recursive: true });
    const script = join(base, 'print.mjs');
    buildSync({
      stdin: {
        contents: [
          "import { printLikeConsole } from './cli/commands/run-warm.ts';",
          "const part = 'x'.repeat(1 << 16);",
          'await printLikeConsole(Array.from({ length: 128 }, () => part));',
          "process.on('exit', (code) => process.stderr.write(`exit ${code}\\n`));",
        ].join('\n'),
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: script,
      logLevel: 'error',
    });
    const child = spawn('sh', ['-c', `"${process.execPath}" "${script}" | head -c 10 >/dev/null`]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    expect(stderr.trim()).toBe('exit 0');
  }, 30_000);
});
