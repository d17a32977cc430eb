// Where a compiled task came from, resolved when a message needs it.
//
// A generated task module records `source: { notebook, cells: [<cell ids>] }`. The module is part
// of the task's cache key, so it holds cell *ids* (stable when prose is added above) rather than
// positions (which shift with every inserted cell and would re-run every task). Positions are
// what people read, though ("cell 3"), so this module reads the notebook at message time and
// turns ids back into 1-based cell numbers. Nothing here is on the hot path: only error messages,
// `cellar tree` and the warehouse hooks' error prefixes call it.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { modulePath } from '../key/module-path.js';
import { findProjectRoot } from '../project.js';
import type { AnyTask, TaskSource } from '../task.js';

export interface CellPosition {
  /** 1-based, as diagnostics and Jupyter's cell counter read. */
  cell: number;
  id: string;
  /**
   * How many lines open the cell before its compiled code: `//|` directive lines and the blank
   * lines among and after them. The compiler's rule (compiler/notebook/directives.ts
   * `linesBeforeCode`), repeated because the runtime cannot import the compiler; a test keeps
   * the two equal.
   */
  directiveLines: number;
  /** The cell's source as the notebook holds it now (its lines joined). */
  text: string;
}

/** The project folder a task's `source.notebook` is relative to. */
export function projectRootOf(task: AnyTask): string {
  return findProjectRoot(task.module ? dirname(modulePath(task.module)) : process.cwd());
}

/** The notebook's absolute path, or undefined for a hand-written task. */
export function notebookPath(task: AnyTask): string | undefined {
  return task.source ? resolve(projectRootOf(task), task.source.notebook) : undefined;
}

/**
 * The folder a compiled task's code ran in under Jupyter (its notebook's folder), where its
 * relative paths resolve; undefined for a hand-written task or when that folder is not there.
 * `cellar run` gets the same folder from the pipeline's `workdir`.
 */
export function sourceWorkdir(task: AnyTask): string | undefined {
  const nb = notebookPath(task);
  if (!nb) return undefined;
  try {
    return statSync(dirname(nb)).isDirectory() ? dirname(nb) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The notebook (absolute) a compiled pipeline.ts was compiled from (its `source:` line), or
 * undefined for a hand-written pipeline or an unreadable file.
 */
export function namedNotebook(pipelineFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(pipelineFile, 'utf8');
  } catch {
    return undefined;
  }
  const source = /^\s*source: '([^']+\.ipynb)',$/m.exec(text)?.[1];
  return source ? join(findProjectRoot(dirname(pipelineFile)), source) : undefined;
}

/** Every cell of a notebook by id, or undefined when the file cannot be read as a notebook. */
export function readCellPositions(notebookFile: string): Map<string, CellPosition> | undefined {
  let cells: unknown;
  try {
    cells = (JSON.parse(readFileSync(notebookFile, 'utf8')) as { cells?: unknown }).cells;
  } catch {
    return undefined;
  }
  if (!Array.isArray(cells)) return undefined;
  const out = new Map<string, CellPosition>();
  cells.forEach((raw: { id?: unknown; source?: unknown }, i) => {
    if (typeof raw?.id !== 'string') return;
    const text = Array.isArray(raw.source)
      ? raw.source.join('')
      : typeof raw.source === 'string'
        ? raw.source
        : '';
    const lines = text.split(/\r\n?|\n/);
    let directiveLines = 0;
    while (
      directiveLines < lines.length &&
      (/^\s*\/\/\|/.test(lines[directiveLines]!) || lines[directiveLines]!.trim() === '')
    )
      directiveLines++;
    out.set(raw.id, { cell: i + 1, id: raw.id, directiveLines, text });
  });
  return out;
}

/**
 * Where a compiled task's `//| output:` directive gives `output` a codec (`//| output: rows=csv`):
 * `notebooks/x.ipynb, cell 4 (id k), line 2`; undefined for a hand-written task or when the
 * directive is not found in the notebook as it is now.
 */
export function outputDirectiveLocation(task: AnyTask, output: string): string | undefined {
  const file = notebookPath(task);
  if (!file || !task.source) return undefined;
  const cells = readCellPositions(file);
  const named = new RegExp(`^\\s*//\\|\\s*output\\b.*\\b${output.replace(/[$]/g, '\\$')}\\s*=`);
  for (const id of task.source.cells) {
    const cell = cells?.get(id);
    const line = cell?.text.split(/\r\n?|\n/).findIndex((l) => named.test(l));
    if (cell && line !== undefined && line >= 0)
      return `${task.source.notebook}, cell ${cell.cell} (id ${id}), line ${line + 1}`;
  }
  return undefined;
}

/** Cells as people count them: `cell 3`, `cells 3–4`, `cells 2, 5`. */
export function cellRangeText(numbers: number[]): string {
  if (numbers.length === 1) return `cell ${numbers[0]}`;
  const contiguous = numbers.every((n, i) => i === 0 || n === numbers[i - 1]! + 1);
  return contiguous
    ? `cells ${numbers[0]}–${numbers[numbers.length - 1]}`
    : `cells ${numbers.join(', ')}`;
}

/**
 * `notebooks/x.ipynb, cells 3–4` for a compiled task, resolving its cell ids in the notebook as
 * it is now; `notebooks/x.ipynb, cell id abc` when an id is no longer there (the notebook changed
 * since the compile); just the notebook when it records no ids (nbformat < 4.5 has none).
 */
export function describeSource(task: AnyTask): string | undefined {
  const source: TaskSource | undefined = task.source;
  if (!source) return undefined;
  if (source.cells.length === 0) return source.notebook;
  const positions = readCellPositions(notebookPath(task)!);
  const numbers = source.cells.map((id) => positions?.get(id)?.cell);
  if (numbers.every((n): n is number => n !== undefined))
    return `${source.notebook}, ${cellRangeText(numbers)}`;
  return `${source.notebook}, cell id${source.cells.length > 1 ? 's' : ''} ${source.cells.join(', ')}`;
}
