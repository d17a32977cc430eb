// A helper (function, class, arrow const) redeclared in a later cell, as a notebook may: every
// version shared between tasks is its own export of shared.ts (`g`, `g_2`), and each task imports
// the version it read in the notebook. A tester's notebook compiled with ✓ to a shared.ts
// exporting `g` twice, which `cellar run` could not load (E_PIPELINE_LOAD naming generated/).
// The run results are checked by test/acceptance/habits.test.ts.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const NB = 'notebooks/redecl.ipynb';

async function compiled(cells: string[]) {
  const result = await compileNotebook(NB, notebookText(cells), {
    workdir: '../../notebooks',
    format: false,
  });
  expect(result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)).toEqual(
    [],
  );
  const file = (name: string) => result.files.find((f) => f.path === `redecl/${name}`)!.contents;
  return { result, file };
}

export const FUNCTION_IN_LATER_TASK = [
  '//| params\nconst base = 3;',
  '//| task: a\nconst v = base;\nfunction g(x: number) { return x + 7; }\nconst r = g(1);',
  '//| task: b\nconst w = v * 10 + g(100);',
  '//| task: c\nconst v = 500;\nfunction g(x: number) { return x * 1000; }',
  '//| task: d\nconst y = v + w + g(1);',
];

describe('a helper redeclared in a later cell', () => {
  it('a function in a later task: two exports of shared.ts, each task importing its own', async () => {
    const { file } = await compiled(FUNCTION_IN_LATER_TASK);
    const shared = file('shared.ts');
    expect(shared).toContain('export function g(x: number) { return x + 7; }');
    expect(shared).toContain('export function g_2(x: number) { return x * 1000; }');
    expect(shared.match(/export function g\b/g)).toHaveLength(1);
    expect(file('b.ts')).toContain("import { g } from './shared.js';");
    expect(file('b.ts')).toContain('const w = v * 10 + g(100);');
    expect(file('d.ts')).toContain("import { g_2 } from './shared.js';");
    expect(file('d.ts')).toContain('const y = v + w + g_2(1);');
  });

  it('a function of setup redeclared in a later setup cell and again in a task', async () => {
    const { file } = await compiled([
      'function g(x: number) { return x + 7; }\nconst k = g(1);',
      'function g(x: number) { return x * 1000; }',
      '//| task: a\nconst r = g(1) + k;',
      '//| task: b\nfunction g(x: number) { return x - 1; }\nconst s = g(10);',
      '//| task: c\nconst t = g(5) + r + s;',
    ]);
    // setup.ts keeps the last setup version as `g`; the task's version is shared as `g_2`.
    expect(file('setup.ts')).toContain('export function g(x: number) { return x * 1000; }');
    expect(file('a.ts')).toContain("import { g, k } from './setup.js';");
    expect(file('shared.ts')).toContain('export function g_2(x: number) { return x - 1; }');
    expect(file('c.ts')).toContain("import { g_2 } from './shared.js';");
    expect(file('c.ts')).toContain('const t = g_2(5) + r + s;');
  });

  it('a class, and a helper calling the later version, inside shared.ts too', async () => {
    const { file } = await compiled([
      '//| task: a\nclass Acc { n = 0; add(x: number) { this.n += x; return this; } }\nconst a1 = new Acc().add(2).n;',
      '//| task: b\nconst b1 = new Acc().add(5).n + a1;',
      '//| task: c\nclass Acc { n = 100; add(x: number) { this.n -= x; return this; } }\nconst make = () => new Acc();\nconst acc = make().add(3);',
      '//| task: d\nconst d1 = make().add(1).n + b1 + acc.n;\nconst isAcc = acc instanceof Acc;',
    ]);
    const shared = file('shared.ts');
    expect(shared).toContain('export class Acc { n = 0;');
    expect(shared).toContain('export class Acc_2 { n = 100;');
    expect(shared).toContain('export const make = () => new Acc_2();');
    expect(file('d.ts')).toContain("import { Acc_2, make } from './shared.js';");
    expect(file('d.ts')).toContain('const isAcc = acc instanceof Acc_2;');
  });

  it('an arrow helper', async () => {
    const { file } = await compiled([
      '//| task: a\nconst f = (x: number) => x + 1;\nconst a1 = f(1);',
      '//| task: b\nconst b1 = f(10) + a1;',
      '//| task: c\nconst f = (x: number) => x * 3;',
      '//| task: d\nconst d1 = f(b1);\nconst both = [1, 2].map(f);',
    ]);
    expect(file('shared.ts')).toContain('export const f = (x: number) => x + 1;');
    expect(file('shared.ts')).toContain('export const f_2 = (x: number) => x * 3;');
    expect(file('d.ts')).toContain('const d1 = f_2(b1);\nconst both = [1, 2].map(f_2);');
  });

  it('a fresh name clear of every name in the notebook', async () => {
    const { file } = await compiled([
      '//| task: a\nfunction g(x: number) { return x + 7; }\nconst g_2 = 1;',
      '//| task: b\nconst w = g(100) + g_2;',
      '//| task: c\nfunction g(x: number) { const g_3 = x; return g_3 * 1000; }',
      '//| task: d\nconst y = w + g(1);',
    ]);
    expect(file('shared.ts')).toContain('export function g_4(x: number)');
    expect(file('d.ts')).toContain('const y = w + g_4(1);');
  });

  it('a shared.ts that would declare one name twice is refused at compile time (E_INTERNAL on the cell), never emitted', async () => {
    // Two helpers reading a `join` each, imported from different modules: not versioned (yet),
    // caught by the emitter's guard instead of a ✓ compile and a pipeline that cannot load.
    const result = await compileNotebook(
      NB,
      notebookText([
        "//| task: a\nimport { join } from 'node:path';\nfunction j(x: string) { return join(x, 'a'); }",
        "//| task: b\nconst p = j('q');",
        "//| task: c\nimport { join } from 'node:path/posix';\nfunction k(x: string) { return join(x, 'b'); }",
        "//| task: d\nconst q = k('r') + p;",
      ]),
      { workdir: '../../notebooks', format: false },
    );
    expect(result.files).toEqual([]);
    expect(result.diagnostics).toHaveLength(1);
    const d = result.diagnostics[0]!;
    expect(d).toMatchObject({ code: 'E_INTERNAL', severity: 'error', cell: 3, cellId: 'c3' });
    expect(d.message).toContain(
      "shared.ts would declare `join` twice, for the import of `join` from 'node:path' and for the import of `join` from 'node:path/posix' (cell `c3`)",
    );
    expect(d.hint).toContain('give one of the two another name in the notebook');
  });
});
