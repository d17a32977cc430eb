// Tables a task was seen reading at run time, for the tasks whose SQL the compiler could not see
// (a query in a setup-cell helper, a local module, a package, a table name computed at run time).
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

/** Tables (canonical) this task was seen reading on earlier runs, beyond its compiled reads. */
export function recordedReads(w: Warehouse, task: AnyTask): string[] {
  try {
    const tables = (JSON.parse(readFileSync(recordPath(w, task), 'utf8')) as { tables?: unknown })
      .tables;
    return Array.isArray(tables) ? tables.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return []; // never recorded (or unreadable: the next run records again)
  }
}

/** Add `tables` to the task's record (kept sorted; written only when it grows). */
export function recordReads(w: Warehouse, task: AnyTask, tables: string[]): void {
  const known = recordedReads(w, task);
  const all = [...new Set([...known, ...tables])].sort();
  if (all.length === known.length) return;
  const path = recordPath(w, task);
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify({
      task: task.name,
      notebook: task.source?.notebook ?? null,
      warehouse: w.identity,
      tables: all,
    }) + '\n',
  );
  renameSync(tmp, path);
}
