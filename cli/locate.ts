// From a line of a generated module back to the notebook cell it came from.
//
// A task that throws reports a stack frame in generated/<notebook>/<task>.ts; the user wrote the
// code in a notebook cell. Every cell's code in a module is preceded by a `// notebook cell `id``
// line (`// notebook cell N` in a notebook without ids; emit/module.ts `cellLabel`), so the
// nearest such line above the failing line names the cell exactly. The line within the cell is counted from that marker: exact unless Prettier
// re-wrapped a long statement above it in the same cell, then a line or two off. Pure: the
// caller (the runtime's error report) reads the file and parses the stack frame.

export interface NotebookPosition {
  /** 1-based cell number as compiled, when the label gives one (a notebook without cell ids). */
  cell?: number;
  cellId?: string;
  /**
   * 1-based line within the cell's code as compiled: the `//|` directive lines at the top of the
   * cell are not counted (diagnostics count them), and Prettier may have re-wrapped lines above.
   * Good for "near line N"; the cell is exact.
   */
  codeLine: number;
}

/** `export const trainTask = defineTask({` (the local name of defineTask may be renamed). */
const TASK_RECORD = /^export const [\w$]+ = [\w$]+\(\{$/;

/** `// notebook cell `load`` or `// notebook cell 8`; modules compiled before ids were labels
 *  say `// notebook cell 8 (id load)`. */
const MARKER = /^\s*\/\/ notebook cell (?:`([^`]+)`|(\d+)(?: \(id ([^)]+)\))?)\s*$/;

/**
 * The cell (and line in it) that `line` (1-based) of a generated module's text came from, or
 * undefined when the line is not inside a cell's code (imports, the task record).
 */
export function locateInNotebook(
  generatedText: string,
  line: number,
): NotebookPosition | undefined {
  const lines = generatedText.split('\n');
  if (line < 1 || line > lines.length) return undefined;
  for (let i = line - 1; i >= 0; i--) {
    const text = lines[i]!;
    const m = MARKER.exec(text);
    if (m) {
      if (i === line - 1) return undefined; // the marker itself
      const position: NotebookPosition = { codeLine: line - 1 - i };
      if (m[2]) position.cell = Number(m[2]);
      const id = m[1] ?? m[3];
      if (id) position.cellId = id;
      return position;
    }
    // Reached imports or the task record without meeting a marker: not cell code. (Other
    // `export` lines are cell code in setup.ts, whose helpers are exported declarations.)
    if (/^import /.test(text) || TASK_RECORD.test(text)) return undefined;
  }
  return undefined;
}
