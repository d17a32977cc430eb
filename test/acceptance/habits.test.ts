// Notebook habits that used to stop compilation (issue 14 item 4), compiled and run for real
// through the CLI: the pipeline must compute what the notebook computed.
// Their generated code is pinned by test/compiler/fixtures/{block-cell,reassign}/ (baselines,
// type-checked with tsc --strict by test/compiler/typecheck.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects, repo } from './harness.js';
import { notebookText } from '../compiler/notebook.js';

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

describe('a helper redeclared in a later cell', () => {
  /** Compile and run `cells` as notebooks/<nb>.ipynb; then each `[task, output, value]` is shown. */
  function runs(nb: string, cells: string[], expected: [string, string, unknown][]) {
    const p = project();
    p.write(`notebooks/${nb}.ipynb`, notebookText(cells));
    const compile = p.cellar('compile', `notebooks/${nb}.ipynb`);
    expect(compile.code, compile.stderr).toBe(0);
    const run = p.cellar('run', `notebooks/${nb}.ipynb`, '--json');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    for (const [task, output, value] of expected)
      expect(shown(p, nb, task, output), `${task}.${output}`).toEqual(value);
  }

  it('a function in a later task: each task calls the version it saw (the pipeline loads)', () => {
    runs(
      'redecl',
      [
        '//| params\nconst base = 3;',
        '//| task: a\nconst v = base;\nfunction g(x: number) { return x + 7; }\nconst r = g(1);',
        '//| task: b\nconst w = v * 10 + g(100);',
        '//| task: c\nconst v = 500;\nfunction g(x: number) { return x * 1000; }',
        '//| task: d\nconst y = v + w + g(1);',
      ],
      [
        ['b', 'w', 137],
        ['d', 'y', 1637],
      ],
    );
  });

  it('a function in a later setup cell, and again in a task', () => {
    runs(
      'setup-redecl',
      [
        'function g(x: number) { return x + 7; }\nconst k = g(1);',
        'function g(x: number) { return x * 1000; }',
        '//| task: a\nconst r = g(1) + k;',
        '//| task: b\nfunction g(x: number) { return x - 1; }\nconst s = g(10);',
        '//| task: c\nconst t = g(5) + r + s;',
      ],
      [
        ['a', 'r', 1008],
        ['c', 't', 1021],
      ],
    );
  });

  it('a class: instances of each version come back as that version', () => {
    runs(
      'class-redecl',
      [
        '//| task: a\nclass Acc { n = 0; add(x: number) { this.n += x; return this; } }\nconst a1 = new Acc().add(2).n;',
        '//| task: b\nconst b1 = new Acc().add(5).add(1).n + a1;',
        '//| task: c\nclass Acc { n = 100; add(x: number) { this.n -= x; return this; } }\nconst acc = new Acc().add(3);',
        '//| task: d\nconst d1 = new Acc().add(1).n + b1 + acc.n;\nconst isAcc = acc instanceof Acc;',
      ],
      [
        ['b', 'b1', 8],
        ['d', 'd1', 204],
        ['d', 'isAcc', true],
      ],
    );
  });

  it('an arrow helper', () => {
    runs(
      'arrow-redecl',
      [
        '//| task: a\nconst f = (x: number) => x + 1;\nconst a1 = f(1);',
        '//| task: b\nconst b1 = f(10) + a1;',
        '//| task: c\nconst f = (x: number) => x * 3;',
        '//| task: d\nconst d1 = f(b1);\nconst both = [1, 2].map(f);',
      ],
      [
        ['b', 'b1', 13],
        ['d', 'd1', 39],
        ['d', 'both', [3, 6]],
      ],
    );
  });
});
