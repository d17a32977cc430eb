// Where in the notebook a failed task threw: `notebooks/x.ipynb, cell 3 (id c2), line 2`.
//
// A task's stack trace points into its generated module (generated/<nb>/<task>.ts, source-mapped
// through the bundle), but the user wrote the code in a notebook cell. Every cell's code in a
// generated module follows a `// notebook cell N (id X)` marker, and compiler/locate.ts finds the
// marker above a line. This lives in the CLI layer because the runtime core must not import the
// compiler. The cell number is resolved from the id in the notebook as it is now (so a cell added
// above since the compile does not mislead); the line counts the cell's `//|` directive lines,
// as the notebook shows them. Everything is best-effort: no location is better than a wrong one.
import { readFileSync } from 'node:fs';
import { locateInNotebook } from '../../compiler/locate.js';
import { modulePath } from '../codehash.js';
import { notebookPath, readCellPositions } from '../source.js';
import type { AnyTask } from '../task.js';

/** `notebooks/x.ipynb, cell 3 (id c2), line 2`, or undefined when the stack is not in cell code. */
export function failureLocation(task: AnyTask, stack: string): string | undefined {
  if (!task.module || !task.source) return undefined;
  const file = modulePath(task.module);
  const line = frameLine(stack, file);
  if (line === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const at = locateInNotebook(text, line);
  if (!at) return undefined;
  const now = at.cellId ? readCellPositions(notebookPath(task)!)?.get(at.cellId) : undefined;
  if (now) return `${task.source.notebook}, cell ${now.cell} (id ${at.cellId}), line ${now.directiveLines + at.codeLine}`;
  // No id, or the cell is gone since the compile: the numbers as compiled.
  return `${task.source.notebook}, cell ${at.cell}${at.cellId ? ` (id ${at.cellId})` : ''}, code line ${at.codeLine} (as compiled)`;
}

/** The line of the first stack frame in `file` (1-based), if any. */
function frameLine(stack: string, file: string): number | undefined {
  for (const frame of stack.split('\n').slice(1)) {
    const i = frame.indexOf(file);
    if (i < 0) continue;
    const m = /^:(\d+):\d+/.exec(frame.slice(i + file.length));
    if (m) return Number(m[1]);
  }
  return undefined;
}
