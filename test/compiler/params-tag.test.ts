// A code cell tagged `parameters` (papermill's convention, which `cellar exec` honours) is the
// params cell for the compiler too, read exactly like `//| params`: same params, same literal
// rules, same generated code. Beside a different `//| params` cell it is an error naming both.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileNotebook } from '../../compiler/program.js';
import { codeCell, notebookText, type NotebookCell } from './notebook.js';

const NB = 'notebooks/tagged.ipynb';

/** A code cell with Jupyter cell tags, as JupyterLab's property inspector writes them. */
const tagged = (id: string, source: string, tags: string[]): NotebookCell => ({
  ...codeCell(id, source),
  metadata: { tags },
});

const compile = (cells: (string | NotebookCell)[]) =>
  compileNotebook(NB, notebookText(cells), { workdir: '../../notebooks', format: false });

const TASK = '//| task: scaled\nconst ys = [1, 2, 3].map((y) => y * k);';

describe('a cell tagged `parameters`', () => {
  it('declares the pipeline params, compiling to what a `params` cell compiles to', async () => {
    const byTag = await compile([tagged('c1', 'const k = 5;', ['parameters']), TASK]);
    expect(byTag.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(byTag.plan?.params.map((p) => [p.name, p.type])).toEqual([['k', 'number']]);
    expect(byTag.plan?.tasks.find((t) => t.name === 'scaled')?.params).toEqual(['k']);
    // The `params` tag is the Cellar directive already: same source, so the same generated code.
    const byDirective = await compile([tagged('c1', 'const k = 5;', ['params']), TASK]);
    expect(byTag.files).toEqual(byDirective.files);
    expect(byTag.files.find((f) => f.path.endsWith('pipeline.ts'))?.contents).toContain('k');
  });

  it('keeps the literal rules of a params cell (E_PARAM_NOT_LITERAL)', async () => {
    const r = await compile([tagged('c1', 'const k = Math.random();', ['parameters']), TASK]);
    expect(r.diagnostics.map((d) => [d.code, d.cell, d.line])).toEqual([
      ['E_PARAM_NOT_LITERAL', 1, 1],
    ]);
    expect(r.files).toEqual([]);
  });

  it('beside a different `//| params` cell is an error naming both cells', async () => {
    const r = await compile([
      '//| params\nconst k = 5;',
      tagged('c2', 'const j = 2;', ['parameters']),
      '//| task: scaled\nconst ys = [1, 2, 3].map((y) => y * k * j);',
    ]);
    const found = r.diagnostics.filter((d) => d.code === 'E_DIRECTIVE_CONFLICT');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ severity: 'error', notebook: NB, cell: 2, cellId: 'c2' });
    expect(formatDiagnostic(found[0]!)).toContain(
      'two params cells: cell 1 (id c1) says `//| params` and cell 2 (id c2) is tagged `parameters`',
    );
    expect(r.files).toEqual([]);
  });

  it('on the `//| params` cell itself is that one params cell', async () => {
    const r = await compile([tagged('c1', '//| params\nconst k = 5;', ['parameters']), TASK]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(r.plan?.params.map((p) => p.name)).toEqual(['k']);
  });

  it('cannot also be a task cell', async () => {
    const r = await compile([
      tagged('c1', '//| task: scaled\nconst ys = [1, 2, 3];', ['parameters']),
    ]);
    expect(r.diagnostics.map((d) => d.code)).toContain('E_DIRECTIVE_CONFLICT');
  });

  it('alone, in a papermill notebook with no `//|` line, still leaves nothing to compile', async () => {
    const r = await compile([tagged('c1', 'const k = 5;', ['parameters']), 'const y = k * 2;']);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['W_NO_DIRECTIVES']);
    expect(r.files).toEqual([]);
  });
});
