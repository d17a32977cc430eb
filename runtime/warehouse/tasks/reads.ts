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
//
// A task whose compiled module shows no SQL at all (its cells call a function of a local module
// that runs `sql`) has no `warehouse` entry, so the warehouse hooks would not key it: its key
// would hold neither the tables' versions nor the warehouse's identity. Every task's run is
// therefore watched (hooks.ts `wrapsEveryRun`), and one that ran a query leaves a marker named by
// its task and notebook only (`sql-tasks/<id>`, not by warehouse: pointing the project at another
// warehouse must change the key too); from then on the hooks apply to it like to a compiled SQL
// task. The markers are listed once per process: a task without one costs a Set lookup.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
  /** Tables the task wrote (CREATE, INSERT, …), canonical: a reader whose table changed while it
   *  ran is told which task writes it (hooks.ts). */
  writes?: string[];
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : [];

/** Tables and files this task was seen reading on earlier runs, beyond its compiled reads. */
export function recordedReads(w: Warehouse, task: AnyTask): RecordedReads {
  try {
    const record = JSON.parse(readFileSync(recordPath(w, task), 'utf8')) as {
      tables?: unknown;
      files?: unknown;
      writes?: unknown;
    };
    return {
      tables: strings(record.tables),
      files: strings(record.files),
      writes: strings(record.writes),
    };
  } catch {
    return { tables: [], files: [] }; // never recorded (or unreadable: the next run records again)
  }
}

/** Add tables and files to the task's record (kept sorted; written only when it grows). */
export function recordReads(w: Warehouse, task: AnyTask, seen: RecordedReads): void {
  const known = recordedReads(w, task);
  const tables = [...new Set([...known.tables, ...seen.tables])].sort();
  const files = [...new Set([...known.files, ...seen.files])].sort();
  const writes = [...new Set([...(known.writes ?? []), ...(seen.writes ?? [])])].sort();
  if (
    tables.length === known.tables.length &&
    files.length === known.files.length &&
    writes.length === (known.writes ?? []).length
  )
    return;
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
      ...(writes.length > 0 ? { writes } : {}),
    }) + '\n',
  );
  renameSync(tmp, path);
}

/** Where the ran-SQL markers live (see the header). */
function markerDir(): string {
  return join(warehouseConfig().projectRoot, '.cellar', 'warehouse-reads', 'sql-tasks');
}

const markerId = (task: AnyTask) =>
  sha256(`${task.name}\u0000${task.source?.notebook ?? ''}`).slice(0, 24);

let markers: Set<string> | null = null;
/** The markers as first listed, before this process added any: what its keys were computed with. */
let markersKeyed: { dir: string; names: string[] } | undefined;

function loadMarkers(): Set<string> {
  if (markers) return markers;
  markers = new Set(); // none yet, or no readable config: no task has been seen running SQL
  let dir: string;
  try {
    dir = markerDir();
  } catch {
    return markers;
  }
  try {
    const names = readdirSync(dir);
    markers = new Set(names);
    markersKeyed = { dir, names: names.filter((n) => !n.startsWith('.')).sort() };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') markersKeyed = { dir, names: [] };
  }
  return markers;
}

/**
 * The markers folder and its entries (temporary files left out) as this process keyed tasks with
 * them (hooks.ts `appliesListing`): a task marked since, by this process or a worker thread, has
 * another key on the next run. Undefined when the folder could not be told (no readable config).
 */
export function markersAsKeyed(): { dir: string; names: readonly string[] } | undefined {
  loadMarkers();
  return markersKeyed;
}

/** Has this task been seen running a query (through code its compiled module does not show)? */
export function ranSql(task: AnyTask): boolean {
  const known = loadMarkers();
  return known.size > 0 && known.has(markerId(task));
}

/** Mark the task as one that runs queries: its key holds the warehouse from the next run on. */
export function noteRanSql(task: AnyTask): void {
  const id = markerId(task);
  if (loadMarkers().has(id)) return;
  const dir = markerDir();
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${id}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  writeFileSync(
    tmp,
    JSON.stringify({ task: task.name, notebook: task.source?.notebook ?? null }) + '\n',
  );
  renameSync(tmp, join(dir, id));
  markers!.add(id);
}

/** A task recorded as writing tables on a warehouse: its name, notebook (null: none) and tables. */
export interface RecordedWriter {
  task: string;
  notebook: string | null;
  writes: string[];
}

/**
 * Every task recorded as writing tables on this warehouse (their records under
 * `.cellar/warehouse-reads/`, any notebook), read from the files now. A torn or foreign file is
 * skipped: not a writer that can be named.
 */
export function recordedWriters(w: Warehouse): RecordedWriter[] {
  const dir = join(warehouseConfig().projectRoot, '.cellar', 'warehouse-reads');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: RecordedWriter[] = [];
  for (const n of names) {
    try {
      const r = JSON.parse(readFileSync(join(dir, n), 'utf8')) as {
        task?: unknown;
        notebook?: unknown;
        warehouse?: unknown;
        writes?: unknown;
      };
      const writes = strings(r.writes);
      if (r.warehouse !== w.identity || typeof r.task !== 'string' || writes.length === 0) continue;
      out.push({
        task: r.task,
        notebook: typeof r.notebook === 'string' ? r.notebook : null,
        writes,
      });
    } catch {
      // a torn or foreign file
    }
  }
  return out;
}

/** Tasks (other than `task`, of any notebook) recorded as writing `table` on this warehouse. */
export function writersOfTable(w: Warehouse, task: AnyTask, table: string): string[] {
  const found = new Set<string>();
  for (const r of recordedWriters(w))
    if (r.task !== task.name && r.writes.includes(table)) found.add(r.task);
  return [...found].sort();
}
