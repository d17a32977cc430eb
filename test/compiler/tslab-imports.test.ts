// Relative imports `cellar run` loads but the tslab kernel refuses are warnings at compile time,
// on the importing cell and line, naming the form both load (compiler/analyze/tslab-imports.ts).
// What tslab accepts was found with a real kernel: test/e2e/tslab-imports.test.ts.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const TASK = '//| task: t\nconst y = f(1);';

/** Compile `cells` as notebooks/x.ipynb (or `path`): its tslab-import warnings. */
async function tslabWarnings(cells: string[], kernel = {}, path = 'notebooks/x.ipynb') {
  const result = await compileNotebook(path, notebookText(cells, kernel), {
    workdir: '../../notebooks',
  });
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return result.diagnostics.filter((d) => d.code.startsWith('W_TSLAB_IMPORT'));
}

describe('a relative import the tslab kernel refuses', () => {
  it('a `.ts` extension warns on the cell and line, naming the `.js` form both load', async () => {
    const ds = await tslabWarnings(["import { f } from './lib/consts.ts';", TASK]);
    expect(ds.map(formatDiagnostic)).toEqual([
      [
        "notebooks/x.ipynb, cell 1 (id c1), line 1, column 19: warning W_TSLAB_IMPORT_EXTENSION: `./lib/consts.ts` ends in `.ts`: `cellar run` loads it, but the tslab kernel refuses the cell (\"An import path can only end with a '.ts' extension when 'allowImportingTsExtensions' is enabled\")",
        "    1 | import { f } from './lib/consts.ts';",
        '      |                   ^',
        "  hint: import './lib/consts.js' instead: both tslab and `cellar run` load it",
      ].join('\n'),
    ]);
  });

  it("a module outside the notebook's folder warns in any form, naming where to move it", async () => {
    const ds = await tslabWarnings(["import { f } from '../lib/consts.ts';", TASK]);
    expect(ds.map((d) => [d.cell, d.line, d.code])).toEqual([
      [1, 1, 'W_TSLAB_IMPORT_EXTENSION'],
      [1, 1, 'W_TSLAB_IMPORT_OUTSIDE'],
    ]);
    expect(ds[1]!.message).toContain(
      "`../lib/consts.ts` is `lib/consts.ts`, outside the notebook's folder `notebooks/`",
    );
    expect(ds[1]!.hint).toBe(
      "move the module under the notebook's folder (`notebooks/lib/consts.ts`) and import './lib/consts.js': both tslab and `cellar run` load that",
    );
    // Variant: the `.js` form outside the folder is refused too (not by its extension).
    const js = await tslabWarnings(["import { f } from '../lib/consts.js';", TASK]);
    expect(js.map((d) => d.code)).toEqual(['W_TSLAB_IMPORT_OUTSIDE']);
  });

  it('an import in a task cell, a second line, and `.mts` are reported where they stand', async () => {
    const ds = await tslabWarnings([
      'const a = 1;',
      "//| task: t\nimport { g } from './lib/more.mts';\nconst y = g(a);",
    ]);
    expect(ds.map((d) => [d.cell, d.line, d.code, d.hint])).toEqual([
      [
        2,
        2,
        'W_TSLAB_IMPORT_EXTENSION',
        "rename the module to `more.ts` and import './lib/more.js' instead: both tslab and `cellar run` load it",
      ],
    ]);
  });

  it('the forms tslab loads, a path that leaves and comes back, and other kernels are not reported', async () => {
    expect(
      await tslabWarnings([
        "import { f } from './lib/consts.js';\nimport { h } from './lib/other';\nimport { k } from '../notebooks/lib/k.js';",
        '//| task: t\nconst y = f(1) + h(2) + k(3);',
      ]),
    ).toEqual([]);
    // Deno resolves `.ts` specifiers itself; a plain TypeScript kernel is not tslab.
    expect(
      await tslabWarnings(["import { f } from '../lib/consts.ts';", TASK], { name: 'deno' }),
    ).toEqual([]);
    // A notebook at the project root: `./lib` is inside its folder, `../lib` is not.
    const root = await tslabWarnings(
      [
        "import { f } from './lib/consts.js';\nimport { g } from '../lib/g.js';",
        '//| task: t\nconst y = f(1) + g(1);',
      ],
      {},
      'x.ipynb',
    );
    expect(root.map((d) => [d.line, d.code])).toEqual([[2, 'W_TSLAB_IMPORT_OUTSIDE']]);
  });
});
