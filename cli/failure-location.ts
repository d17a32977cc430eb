// Where in the notebook a failed task threw: `notebooks/x.ipynb, cell 3 (id c2), line 2`.
//
// A task's stack trace points into its generated module (generated/<nb>/<task>.ts, source-mapped
// through the bundle), but the user wrote the code in a notebook cell. Every cell's code in a
// generated module follows a `// notebook cell `id`` marker, and cli/locate.ts finds the
// marker above a line. This lives in the CLI layer because the runtime core must not import the
// compiler. The cell number is resolved from the id in the notebook as it is now (so a cell added
// above since the compile does not mislead); the line counts the cell's `//|` directive lines,
// as the notebook shows them. Everything is best-effort: no location is better than a wrong one.
//
// Warehouse failures carry their origin on the stack (runtime/warehouse/origin.ts): the frames of
// the line that wrote the sql`` template plus the SQL line the engine reported (the location is
// the template's first line plus that line), or the `//| check:` that failed (the location is that
// directive's line in the task's cells).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { locateInNotebook } from './locate.js';
import { modulePath } from '../runtime/key/codehash.js';
import { notebookPath, readCellPositions } from '../runtime/load/source.js';
import type { AnyTask } from '../runtime/task.js';
import { readOrigin } from '../runtime/warehouse/tasks/origin.js';

/**
 * `notebooks/x.ipynb, cell 3 (id c2), line 2`, or undefined when the stack is not in cell code.
 * The first frame in a module of the task's own generated folder wins: the task's module, or
 * setup.ts when a helper from a setup cell threw (frames in the runtime or in packages are skipped).
 */
export function failureLocation(task: AnyTask, stack: string): string | undefined {
  if (!task.module || !task.source) return undefined;
  const origin = readOrigin(stack);
  if (origin.sqlFrames) {
    const at = frameLocation(task, origin.sqlFrames, (origin.sqlLine ?? 1) - 1);
    if (at) return at;
  }
  if (origin.check) {
    const at = checkLocation(task, origin.check);
    if (at) return at;
  }
  return frameLocation(task, stack.split('\n').slice(1), 0);
}

/** The first of `frames` in the task's generated folder, as a notebook position; `extraLines`
 *  further down (a line inside a multi-line sql`` template). */
function frameLocation(task: AnyTask, frames: string[], extraLines: number): string | undefined {
  const folder = dirname(modulePath(task.module!));
  for (const frame of frames) {
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
    if (now) return `${task.source!.notebook}, cell ${now.cell} (id ${at.cellId}), line ${now.directiveLines + at.codeLine + extraLines}`;
    // No id, or the cell is gone since the compile: the numbers as compiled.
    const cell = at.cell !== undefined ? `cell ${at.cell}${at.cellId ? ` (id ${at.cellId})` : ''}` : `cell id ${at.cellId}`;
    return `${task.source!.notebook}, ${cell}, code line ${at.codeLine + extraLines} (as compiled)`;
  }
  return undefined;
}

/** The `//| check: <check>` line among the task's cells, in the notebook as it is now. */
function checkLocation(task: AnyTask, check: string): string | undefined {
  const file = notebookPath(task);
  let cells: { id?: unknown; source?: unknown }[];
  try {
    cells = (JSON.parse(readFileSync(file!, 'utf8')) as { cells: typeof cells }).cells;
  } catch {
    return undefined;
  }
  if (!Array.isArray(cells)) return undefined;
  const wanted = check.replace(/\s+/g, ' ').trim();
  for (const [i, cell] of cells.entries()) {
    if (typeof cell?.id !== 'string' || !task.source!.cells.includes(cell.id)) continue;
    const text = Array.isArray(cell.source) ? cell.source.join('') : typeof cell.source === 'string' ? cell.source : '';
    const line = text.split(/\r\n?|\n/).findIndex((l) => {
      const m = /^\s*\/\/\|\s*check\s*:(.*)$/.exec(l);
      return m !== null && m[1]!.replace(/\s+/g, ' ').trim() === wanted;
    });
    if (line >= 0) return `${task.source!.notebook}, cell ${i + 1} (id ${cell.id}), line ${line + 1}`;
  }
  return undefined;
}

/** `    at f (/abs/path/x.ts:12:5)` or `    at /abs/path/x.ts:12:5` → path and line. */
const FRAME = /^\s*at (?:.*\()?(\/[^()]+?\.[cm]?[tj]s):(\d+):\d+\)?$/;
