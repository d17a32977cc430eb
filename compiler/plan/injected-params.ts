// The `injected-parameters` cell (papermill's convention; `cellar exec -p` writes one right after
// the params cell) holds the values of a parameterised run: `const nTrees: number = 200;`. In the
// notebook it runs after the params cell and so wins; the pipeline gives it the same meaning, as
// papermill does: its values are the params' defaults (`cellar plan` shows them, `--param` still
// overrides them). It is never setup code: a setup `const nTrees` would shadow the param, so the
// pipeline ran 200 while the plan said 50 and `--param nTrees=7` was refused.
//
// Pure: tagged cells and their analyses (the injected cell analysed as a params cell, so it too
// holds only literal consts) in, the analyses the link stage reads and diagnostics out.
import { diagnostic } from '../diagnostics.js';
import type { CellAnalysis, Diagnostic, ParamDecl, TaggedCell } from '../types.js';

/**
 * Override the params cells' defaults with the injected cells' values, in `analyses` (the
 * injected cells' own analyses are taken out: they declare nothing the pipeline compiles). An
 * injected name no params cell declares, or a value of another kind than the default's, is an
 * error on the injected cell's line.
 */
export function applyInjectedParams(
  notebook: string,
  cells: readonly TaggedCell[],
  analyses: Map<number, CellAnalysis>,
): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const paramsCells = cells.filter((c) => c.role === 'params' && analyses.has(c.index));
  const cellName = (c: TaggedCell) => `cell ${c.index + 1}${c.id ? ` (id ${c.id})` : ''}`;
  for (const cell of cells) {
    if (!cell.injected) continue;
    const a = analyses.get(cell.index);
    analyses.delete(cell.index);
    if (!a) continue;
    const at = (line: number) => ({
      notebook,
      cell: cell.index + 1,
      ...(cell.id ? { cellId: cell.id } : {}),
      line,
    });
    for (const value of a.params) {
      const owner = paramsCells.find((c) =>
        analyses.get(c.index)!.params.some((p) => p.name === value.name),
      );
      if (!owner) {
        const declared = paramsCells.flatMap((c) =>
          analyses.get(c.index)!.params.map((p) => p.name),
        );
        diagnostics.push(
          diagnostic(
            'error',
            'E_INJECTED_PARAM',
            at(value.line),
            `the injected-parameters cell sets \`${value.name}\`, which ${paramsCells.length ? `the params cell (${paramsCells.map(cellName).join(', ')}) does not declare` : 'is no param: the notebook has no params cell'}${declared.length ? `; its params: ${declared.join(', ')}` : ''}`,
            {
              hint: paramsCells.length
                ? `declare \`const ${value.name} = …\` in the params cell, or drop this line (or the whole cell, to run with the params cell's defaults)`
                : 'tag the cell holding the params `parameters` (or start it with `//| params`), or drop this cell',
            },
          ),
        );
        continue;
      }
      const declaredIn = analyses.get(owner.index)!;
      const declared = declaredIn.params.find((p) => p.name === value.name)!;
      if (declared.paramType !== value.paramType) {
        diagnostics.push(
          diagnostic(
            'error',
            'E_INJECTED_PARAM',
            at(value.line),
            `the injected-parameters cell gives \`${value.name}\` a ${value.paramType} (${JSON.stringify(value.default)}), but its default in the params cell (${cellName(owner)}, line ${declared.line}) is a ${declared.paramType}`,
            {
              hint: `inject a ${declared.paramType}, e.g. with \`cellar exec <notebook> -p ${value.name} <value>\`, which types it against the params cell`,
            },
          ),
        );
        continue;
      }
      analyses.set(owner.index, {
        ...declaredIn,
        params: declaredIn.params.map((p): ParamDecl =>
          p.name === value.name ? { ...p, default: value.default } : p,
        ),
      });
    }
  }
  return diagnostics;
}
