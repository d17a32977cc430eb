// Builds .ipynb text from a list of cells, so tests state notebooks in a few readable lines.
// A cell is code by default; prefix its text with `md:` for markdown. A cell given as a
// `NotebookCell` (codeCell, markdownCell) keeps its own id, for tests asserting `cell 2 (id load)`.

/** A cell of a test notebook, as Jupyter writes it. */
export interface NotebookCell {
  cell_type: 'code' | 'markdown';
  id: string;
  metadata: Record<string, unknown>;
  source: string | string[];
  execution_count?: null;
  outputs?: unknown[];
}

/** A code cell, never run (no outputs). */
export function codeCell(id: string, source: string | string[]): NotebookCell {
  return { cell_type: 'code', id, metadata: {}, execution_count: null, outputs: [], source };
}

/** A markdown cell (the TSDoc of the task after it). */
export function markdownCell(id: string, source: string): NotebookCell {
  return { cell_type: 'markdown', id, metadata: {}, source };
}

/** A notebook of `cells` (tslab's TypeScript kernel by default), as the object an .ipynb holds. */
export function tslabNotebook(
  cells: (string | NotebookCell)[],
  kernel: { language?: string; name?: string } = {},
): {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: NotebookCell[];
} {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: kernel.name ?? 'tslab',
        display_name: 'TypeScript',
        language: kernel.language ?? 'typescript',
      },
      language_info: { name: kernel.language ?? 'typescript' },
    },
    cells: cells.map((cell, i) =>
      typeof cell !== 'string'
        ? cell
        : cell.startsWith('md:')
          ? markdownCell(`c${i + 1}`, cell.slice(3).trim())
          : codeCell(`c${i + 1}`, cell.split(/(?<=\n)/)),
    ),
  };
}

/** The .ipynb text of `tslabNotebook(cells, kernel)` (Jupyter's one-space indent). */
export function notebookText(
  cells: (string | NotebookCell)[],
  kernel: { language?: string; name?: string } = {},
): string {
  return JSON.stringify(tslabNotebook(cells, kernel), null, 1);
}
