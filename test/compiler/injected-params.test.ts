// The `injected-parameters` cell `cellar exec -p` (like papermill) writes after the params cell
// holds the run's values, and they win over the params cell's defaults, in the notebook and so in
// the pipeline: they become the params' defaults. Before, the compiler read the cell as setup code
// (`export const nTrees: number = 200;` in setup.ts), which shadowed the param: the plan said 50,
// the pipeline ran 200, and `--param nTrees=7` was refused as a param no task reads.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileNotebook } from '../../compiler/program.js';
import { codeCell, notebookText, type NotebookCell } from './notebook.js';

const NB = 'notebooks/ran.ipynb';

const tagged = (id: string, source: string, tags: string[]): NotebookCell => ({
  ...codeCell(id, source),
  metadata: { tags },
});
const PARAMS = tagged('p', "const k = 5;\nconst label = 'plain';", ['parameters']);
const injected = (source: string) =>
  tagged('injected-parameters', `// Parameters (injected by cellar exec)\n${source}`, [
    'injected-parameters',
  ]);
const TASK =
  '//| task: scaled\n//| output: ys=json\nconst ys = [1, 2, 3].map((y) => `${label}:${y * k}`);';

const compile = (cells: (string | NotebookCell)[]) =>
  compileNotebook(NB, notebookText(cells), { workdir: '../../notebooks', format: false });
const file = (r: Awaited<ReturnType<typeof compile>>, name: string) =>
  r.files.find((f) => f.path.endsWith(`/${name}`))?.contents;

describe('an injected-parameters cell after the params cell', () => {
  it('gives the params its values as defaults, and is no setup code', async () => {
    const r = await compile([PARAMS, injected('const k: number = 200;'), TASK]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.plan?.params.map((p) => [p.name, p.default])).toEqual([
      ['k', 200],
      ['label', 'plain'],
    ]);
    // The task still reads both as params (so `--param k=7` reaches it), with the new default.
    expect(r.plan?.tasks.find((t) => t.name === 'scaled')?.params).toEqual(['k', 'label']);
    expect(file(r, 'scaled.ts')).toMatch(/k: \{ type: "number", default: 200 \}/);
    expect(file(r, 'setup.ts') ?? '').not.toMatch(/\bk\b/);
    // The same as a notebook whose params cell says 200 (an empty cell keeps the task's id).
    const direct = await compile([
      tagged('p', "const k = 200;\nconst label = 'plain';", ['parameters']),
      '',
      TASK,
    ]);
    expect(file(r, 'scaled.ts')).toBe(file(direct, 'scaled.ts'));
    expect(file(r, 'pipeline.ts')).toBe(file(direct, 'pipeline.ts'));
  });

  it('after a task cell is transparent too: the task goes on past it', async () => {
    const r = await compile([
      PARAMS,
      TASK,
      injected("const label: string = 'fancy';"),
      'const n = ys.length;',
    ]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.plan?.params.find((p) => p.name === 'label')?.default).toBe('fancy');
    expect(r.plan?.tasks.find((t) => t.name === 'scaled')?.cells).toEqual([1, 3]);
  });

  it('setting a name the params cell does not declare is an error on its cell and line', async () => {
    const r = await compile([
      PARAMS,
      injected('const k: number = 200;\nconst nTrees: number = 7;'),
      TASK,
    ]);
    const found = r.diagnostics.filter((d) => d.severity === 'error');
    expect(found.map((d) => [d.code, d.notebook, d.cell, d.cellId, d.line])).toEqual([
      ['E_INJECTED_PARAM', NB, 2, 'injected-parameters', 3],
    ]);
    expect(formatDiagnostic(found[0]!)).toContain(
      'the injected-parameters cell sets `nTrees`, which the params cell (cell 1 (id p)) does not declare; its params: k, label',
    );
    expect(r.files).toEqual([]);
  });

  it('a value of another kind than the default is an error naming both lines', async () => {
    const r = await compile([PARAMS, injected("const k: string = 'many';"), TASK]);
    const found = r.diagnostics.filter((d) => d.severity === 'error');
    expect(found.map((d) => [d.code, d.cell, d.line])).toEqual([['E_INJECTED_PARAM', 2, 2]]);
    expect(formatDiagnostic(found[0]!)).toContain(
      'gives `k` a string ("many"), but its default in the params cell (cell 1 (id p), line 1) is a number',
    );
  });

  it('holds literal consts only, as a params cell (E_PARAM_NOT_LITERAL)', async () => {
    const r = await compile([PARAMS, injected('const k = Math.random();'), TASK]);
    expect(r.diagnostics.map((d) => [d.code, d.cell, d.line])).toEqual([
      ['E_PARAM_NOT_LITERAL', 2, 2],
    ]);
  });
});
