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
import { dirname } from 'node:path';
import { locateInNotebook } from '../../compiler/locate.js';
import { modulePath } from '../codehash.js';
import { notebookPath, readCellPositions } from '../source.js';
import type { AnyTask } from '../task.js';

/**
 * `notebooks/x.ipynb, cell 3 (id c2), line 2`, or undefined when the stack is not in cell code.
 * The first frame in a module of the task's own generated folder wins: the task's module, or
 * setup.ts when a helper from a setup cell threw (frames in the runtime or in packages are skipped).
 */
export function failureLocation(task: AnyTask, stack: string): string | undefined {
  if (!task.module || !task.source) return undefined;
  const folder = dirname(modulePath(task.module));
  for (const frame of stack.split('\n').slice(1)) {
    const m = FRAME.exec(frame);
    if (!m || dirname(m[1]!) !== folder) continue;
    let text: string;
    try {
      text = readFileSync(m[1]!, 'utf8');
    } catch {
      continue;
    }
    const at = locateInNotebook(text, Number(m[2]));
    if (!at) continue;
    const now = at.cellId ? readCellPositions(notebookPath(task)!)?.get(at.cellId) : undefined;
    if (now) return `${task.source.notebook}, cell ${now.cell} (id ${at.cellId}), line ${now.directiveLines + at.codeLine}`;
    // No id, or the cell is gone since the compile: the numbers as compiled.
    return `${task.source.notebook}, cell ${at.cell}${at.cellId ? ` (id ${at.cellId})` : ''}, code line ${at.codeLine} (as compiled)`;
  }
  return undefined;
}

/** `    at f (/abs/path/x.ts:12:5)` or `    at /abs/path/x.ts:12:5` → path and line. */
const FRAME = /^\s*at (?:.*\()?(\/[^()]+?\.[cm]?[tj]s):(\d+):\d+\)?$/;
