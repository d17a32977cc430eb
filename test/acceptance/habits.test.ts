// Notebook habits that used to stop compilation (issue 14 item 4), compiled and run for real
// through the CLI: the pipeline must compute what the notebook computed.
// Their generated code is pinned by test/compiler/fixtures/{block-cell,reassign}/ (baselines,
// type-checked with tsc --strict by test/compiler/typecheck.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects, repo } from './harness.js';

afterAll(removeProjects);

const fixture = (name: string) =>
  readFileSync(join(repo, 'test', 'compiler', 'fixtures', name, 'input.ipynb'), 'utf8');

/** The last JSON value `cellar show` prints. */
function shown(p: ReturnType<typeof project>, nb: string, task: string, output: string): unknown {
  const r = p.cellar('show', `notebooks/${nb}.ipynb`, task, output, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim());
}

describe('reassigning a name another task declared', () => {
  it('is a new version: the upstream value is unchanged and later tasks read the new one', () => {
    const p = project();
    p.write('notebooks/reassign.ipynb', fixture('reassign'));
    const run = p.cellar('run', 'notebooks/reassign.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    // load's df is what load computed, not what clean made of it (no mutation of upstream).
    expect(shown(p, 'reassign', 'load', 'df')).toEqual([3, 1, 2]);
    expect(shown(p, 'reassign', 'clean', 'df')).toEqual([20, 30]);
    expect(shown(p, 'reassign', 'report', 'n')).toBe(2);
    // A second run: every task cached (the new versions have stable keys).
    const again = p.cellar('run', 'notebooks/reassign.ipynb', '--json');
    expect(JSON.parse(again.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'cached',
      'cached',
      'cached',
    ]);
  });
});

describe('a cell wrapped in `{ … }`', () => {
  it('runs as part of its task and exports nothing', () => {
    const p = project();
    p.write('notebooks/block-cell.ipynb', fixture('block-cell'));
    const plan = JSON.parse(p.cellar('plan', 'notebooks/block-cell.ipynb', '--json').stdout);
    expect(plan.tasks.map((t: { name: string; outputs: string[] }) => [t.name, t.outputs])).toEqual(
      [
        ['load', ['rows']],
        ['report', ['total']],
        ['check', []],
      ],
    );
    const run = p.cellar('run', 'notebooks/block-cell.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'ran',
      'ran',
      'ran',
    ]);
    expect(shown(p, 'block-cell', 'report', 'total')).toBe(3);
  });
});

describe('a helper declared in one task and called by later tasks', () => {
  it('is shared through shared.ts when it closes over no task value, and the pipeline runs', () => {
    const p = project();
    p.write('notebooks/helper-cell.ipynb', fixture('helper-cell'));
    const compile = p.cellar('compile');
    expect(compile.code, compile.stderr).toBe(0);
    expect(p.read('generated/helper-cell/report.ts')).toContain(
      "import { Tally, clean, stem } from './shared.js';",
    );
    const run = p.cellar('run', 'notebooks/helper-cell.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(shown(p, 'helper-cell', 'report', 'counts')).toEqual({ a: 2 });
    expect(shown(p, 'helper-cell', 'report', 'joined')).toBe('a/b');
    // The helpers are part of the code of the tasks that import them: editing one re-runs both.
    const nb = p.read('notebooks/helper-cell.ipynb');
    p.write(
      'notebooks/helper-cell.ipynb',
      nb.replace('toLowerCase()', 'toUpperCase().toLowerCase()'),
    );
    const again = p.cellar('run', 'notebooks/helper-cell.ipynb', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'ran',
      'ran',
    ]);
  });
});
