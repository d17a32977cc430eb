// A task changing its upstream's value in place through an alias the compiler cannot follow (a
// shallow copy whose elements it changes, a setup helper changing its argument; a newcomer's
// finding): in the notebook later cells see the change, in the pipeline each task decodes its own
// copy, so the pipeline silently computed something else than the notebook. Upstream values are
// frozen while a task runs: the change fails at its line with E_MUTATES_UPSTREAM, naming the task,
// the value and whose output it is, with the fix.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects, runStatuses as run } from './harness.js';

afterAll(removeProjects);

function failure(
  cells: string[],
  nb = 'notebooks/alias.ipynb',
  files: Record<string, string> = {},
): string {
  const p = project();
  p.write(nb, notebookText(cells));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(p.dir, dirname(path)), { recursive: true });
    p.write(path, text);
  }
  const r = p.cellar('run', nb);
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  return r.stdout + r.stderr;
}

describe('a task changing a value it received from upstream', () => {
  it('through a shallow copy: fails at the line that changes it, naming the value, its task and the fix', () => {
    // `[...nums]` written in the task is refused at compile time; made by a helper, the compiler
    // does not follow it, and the freeze catches the change.
    const text = failure([
      '//| task: load\nconst nums = [{ v: 1 }, { v: 2 }];',
      '//| task: bump\nconst shallow = <T,>(xs: T[]): T[] => [...xs];\nconst copy = shallow(nums);\ncopy[0].v = 50;\nconst first = copy[0].v;',
      '//| task: report\nconst total = nums.reduce((s, x) => s + x.v, 0);',
    ]);
    // Both elements have a `v`: the error's text cannot tell which one changed, so no path is named.
    expect(text).toContain(
      "task 'bump' changes a value it received from upstream: `nums` (output 'nums' of task 'load') (Cannot assign to read only property 'v'",
    );
    expect(text).not.toContain(', at nums[');
    expect(text).toContain('E_MUTATES_UPSTREAM');
    expect(text).toContain('structuredClone(nums)');
    expect(text).toMatch(/at notebooks\/alias\.ipynb, cell 2 \(id [^)]+\), line 4/);
  });

  it("a setup value changed through an element alias (`holder.at(0)!`): refused at compile time, not left to leak between a worker's runs", () => {
    // Setup values are not frozen: the change stayed in the worker, so b stored 30 after a full
    // run and 0 after `--rerun b`, under one key.
    const p = project();
    p.write(
      'notebooks/leak.ipynb',
      notebookText([
        'const holder = [{ n: 0 }];',
        '//| params\nconst base = 3;',
        '//| task: a\nconst h = holder.at(0)!;\nh.n = base * 10;\nconst aOut = 1;',
        '//| task: b\nconst seen = holder[0].n + aOut * 0;',
      ]),
    );
    const r = p.cellar('compile', 'notebooks/leak.ipynb');
    const text = r.stdout + r.stderr;
    expect(r.code, text).not.toBe(0);
    expect(text).toContain('E_MUTATES_UPSTREAM');
    expect(text).toContain('task `a` assigns to `h.n` of `holder`, which a setup cell produced');
    expect(text).toMatch(/notebooks\/leak\.ipynb, cell 3 \(id [^)]+\), line 3/);
    expect(text).toContain('structuredClone');
  });

  it('through a setup helper that changes its argument: refused at compile time, at the call', () => {
    const text = failure([
      'function bump(xs: { v: number }[]) {\n  xs[0].v++;\n}',
      '//| task: load\nconst nums = [{ v: 1 }, { v: 2 }];',
      '//| task: step\nbump(nums);\nconst firstV = nums[0].v;',
    ]);
    expect(text).toContain('E_MUTATES_UPSTREAM');
    expect(text).toContain(
      'task `step` hands `nums` to `bump`, which assigns to `xs[0].v` of its parameter (cell 1, line 2)',
    );
    expect(text).toMatch(/notebooks\/alias\.ipynb, cell 3 \(id [^)]+\), line 2/);
  });

  it('variant: a helper in a local module (unseen by the compiler) changing its argument: located at the helper line', () => {
    const text = failure(
      [
        "import { bump } from './lib/bump.ts';",
        '//| task: load\nconst nums = [{ v: 1 }, { v: 2 }];',
        '//| task: step\nbump(nums);\nconst firstV = nums[0].v;',
      ],
      'notebooks/alias.ipynb',
      { 'notebooks/lib/bump.ts': 'export function bump(xs: { v: number }[]) {\n  xs[0].v++;\n}\n' },
    );
    expect(text).toContain("task 'step' changes a value it received from upstream: `nums`");
    expect(text).toMatch(/at notebooks\/lib\/bump\.ts.*line 2|notebooks\/lib\/bump\.ts:2/);
  });

  it('a Map or a Date changed by a helper (not only objects and arrays)', () => {
    const helpers =
      'export function tally(counts: Map<string, number>, key: string) {\n  counts.set(key, (counts.get(key) ?? 0) + 1);\n}\nexport function later(d: Date) {\n  d.setDate(d.getDate() + 1);\n}\n';
    const cells = (setup: string) => [
      setup,
      "//| task: load\nconst counts = new Map([['a', 1]]);\nconst since = new Date(0);",
      "//| task: count\ntally(counts, 'b');\nconst size = counts.size;",
      '//| task: shift\nlater(since);\nconst day = since.toISOString();',
    ];
    // In a setup cell the compiler sees the helpers change their parameters: both calls refused.
    const compiled = failure(cells(helpers.replaceAll('export ', '')));
    expect(compiled).toContain(
      'task `count` hands `counts` to `tally`, which calls `counts.set(...)`',
    );
    expect(compiled).toContain(
      'task `shift` hands `since` to `later`, which calls `d.setDate(...)`',
    );
    // In a local module it does not: the run refuses them at the helper's line.
    const text = failure(
      cells("import { tally, later } from './lib/helpers.ts';"),
      'notebooks/alias.ipynb',
      { 'notebooks/lib/helpers.ts': helpers },
    );
    expect(text).toContain("task 'count' changes a value it received from upstream: `counts`");
    expect(text).toContain('Map.prototype.set');
    expect(text).toContain("task 'shift' changes a value it received from upstream: `since`");
    expect(text).toContain('new Map(counts)');
  });

  it('variant: an array of doubles sorted and a Float64Array filled in place by a local helper: refused once the task returns, naming the value', () => {
    // Freezing cannot guard these (V8 keeps the doubles unboxed; a typed array's elements cannot
    // be frozen): a digest taken before the task runs is checked after it.
    const text = failure(
      [
        "import { rank, clear } from './lib/nums.ts';",
        '//| task: load\nconst scores = [0.5, 2.5, 1.5];\nconst grid = new Float64Array([1.5, 2.5]);',
        '//| task: top\nconst best = rank(scores)[0];',
        '//| task: zero\nclear(grid);\nconst cleared = grid[0];',
        '//| task: fine\nconst mine = scores.slice();\nmine.sort();\nconst low = mine[0] + grid[1];',
      ],
      'notebooks/nums.ipynb',
      {
        'notebooks/lib/nums.ts':
          'export function rank(xs: number[]) {\n  return xs.sort((a, b) => b - a);\n}\nexport function clear(g: Float64Array) {\n  g.fill(0);\n}\n',
      },
    );
    expect(text).toContain(
      "task 'top' changes a value it received from upstream: `scores` (output 'scores' of task 'load')",
    );
    expect(text).toContain(
      "task 'zero' changes a value it received from upstream: `grid` (output 'grid' of task 'load')",
    );
    expect(text).toContain('E_MUTATES_UPSTREAM');
    expect(text).toContain('scores.slice()');
    expect(text).not.toMatch(/task 'fine' changes/);
  });

  it('building new values from upstream, passing one on, or changing a deep copy runs as before', () => {
    const p = project();
    const nb = 'notebooks/fine.ipynb';
    p.write(
      nb,
      notebookText([
        "//| task: load\nconst nums = [{ v: 3 }, { v: 1 }];\nconst counts = new Map([['a', 1]]);",
        "//| task: derive\nconst tens = nums.map((x) => ({ ...x, v: x.v * 10 }));\nconst sorted = [...nums].sort((a, b) => a.v - b.v);\nconst same = nums;\nconst more = new Map(counts).set('b', 2);",
        '//| task: fixed\nconst mine = structuredClone(nums);\nmine[0].v = 50;\nconst firstV = mine[0].v;',
      ]),
    );
    expect(run(p, nb)).toEqual({ load: 'ran', derive: 'ran', fixed: 'ran' });
    const show = (task: string, output: string) =>
      JSON.parse(p.cellar('show', nb, task, output, '--json').stdout);
    expect(show('derive', 'tens')).toEqual([{ v: 30 }, { v: 10 }]);
    expect(show('derive', 'sorted')).toEqual([{ v: 1 }, { v: 3 }]);
    expect(show('derive', 'same')).toEqual([{ v: 3 }, { v: 1 }]);
    expect(show('derive', 'more')).toEqual({ a: 1, b: 2 });
    expect(show('fixed', 'firstV')).toBe(50);
  });
});
