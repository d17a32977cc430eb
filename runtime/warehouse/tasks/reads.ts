// Tables (and, on DuckDB, files read by path: tasks/files.ts) a task was seen reading at run time,
// for the tasks whose SQL the compiler could not see (a query in a setup-cell helper, a local
// module, a package, a table name or path computed at run time).
//
// The compiler lists the tables of the sql`` templates written in a task's own cells
// (`warehouse.reads`); those enter the key before the task runs. Everything else a task reads is
// recorded here when it runs (session.ts collects the tables of every query in the task's scope),
// one small JSON file per task under `<project>/.cellar/warehouse-reads/`, and from the next run
// on those tables' versions enter the key as well: a new row re-runs the task and its downstream.
// Cost of honesty: the run after the one that discovered a table re-runs the task once (its key
// gains the table). One file per task (named by a hash of the warehouse identity, task name and
// notebook) and atomic renames: concurrent worker threads never lose each other's records.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../key/hash.js';
import type { AnyTask } from '../../task.js';
import { warehouseConfig } from '../session.js';
import type { Warehouse } from '../types.js';

function recordPath(w: Warehouse, task: AnyTask): string {
  const id = sha256(`${w.identity}\u0000${task.name}\u0000${task.source?.notebook ?? ''}`).slice(
    0,
    24,
  );
  return join(
    warehouseConfig().projectRoot,
    '.cellar',
    'warehouse-reads',
    `${task.name.slice(0, 60)}-${id}.json`,
  );
}

/** What a task was seen reading on earlier runs, beyond what the compiler listed. */
export interface RecordedReads {
  /** Tables, canonical on the warehouse. */
  tables: string[];
  /** Files read by path (DuckDB): relative to the project root with `/`, absolute outside it,
   *  or a URL (tasks/files.ts). */
  files: string[];
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];

/** Tables and files this task was seen reading on earlier runs, beyond its compiled reads. */
export function recordedReads(w: Warehouse, task: AnyTask): RecordedReads {
  try {
    const record = JSON.parse(readFileSync(recordPath(w, task), 'utf8')) as {
      tables?: unknown;
      files?: unknown;
    };
    return { tables: strings(record.tables), files: strings(record.files) };
  } catch {
    return { tables: [], files: [] }; // never recorded (or unreadable: the next run records again)
  }
}

/** Add tables and files to the task's record (kept sorted; written only when it grows). */
export function recordReads(w: Warehouse, task: AnyTask, seen: RecordedReads): void {
  const known = recordedReads(w, task);
  const tables = [...new Set([...known.tables, ...seen.tables])].sort();
  const files = [...new Set([...known.files, ...seen.files])].sort();
  if (tables.length === known.tables.length && files.length === known.files.length) return;
  const path = recordPath(w, task);
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify({
      task: task.name,
      notebook: task.source?.notebook ?? null,
      warehouse: w.identity,
      tables,
      ...(files.length > 0 ? { files } : {}),
    }) + '\n',
  );
  renameSync(tmp, path);
}
