// What a materialised table (`//| materialize: mart.daily` → `mart.daily_<key12>`) held when its
// task made it: the table's version (duckdb.ts `tableVersion`: registry counter, row count, DDL
// and a hash of its rows; BigQuery: `lastModifiedTime`) right after the run, so a cache hit can
// tell an intact table from one another program changed (`UPDATE mart.daily_<key> …`). A changed
// one is a damaged output, as a file output whose bytes moved (E_OUTPUT_DAMAGED): the cached
// result is not served and the task re-runs, making the table again; its readers, keyed on its
// key, then read what the key promises.
//
// One small JSON file per warehouse and table, `<root>/.cellar/warehouse-materialized/<hash>.json`,
// written by rename (worker threads and processes never tear one). Not in the warehouse: BigQuery
// would need a table of ours, and the record is the project's cache, like its other records.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../../key/hash.js';
import { warehouseConfig } from '../session.js';
import type { Warehouse } from '../types.js';

function recordPath(w: Warehouse, physical: string): string {
  const id = sha256(`${w.identity}\u0000${w.canonicalTable(physical)}`).slice(0, 24);
  return join(warehouseConfig().projectRoot, '.cellar', 'warehouse-materialized', `${id}.json`);
}

/** Note the version of `physical` as its task left it (after its checks passed). */
export async function recordMaterialized(w: Warehouse, physical: string): Promise<void> {
  const v = await w.tableVersion(physical);
  if (!v) return;
  const file = recordPath(w, physical);
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, JSON.stringify({ table: w.canonicalTable(physical), version: v.version }));
    renameSync(tmp, file);
  } catch {
    // Without a record the table is trusted while it exists, as before such records.
  }
}

/**
 * Is `physical` as its task left it? False when another program changed it since (its version
 * moved). True when there is no record (a table made before records were kept), or the
 * warehouse cannot version it.
 */
export async function materializedIntact(w: Warehouse, physical: string): Promise<boolean> {
  let recorded: string;
  try {
    recorded = (JSON.parse(readFileSync(recordPath(w, physical), 'utf8')) as { version: string })
      .version;
  } catch {
    return true;
  }
  const now = await w.tableVersion(physical);
  return now === null || now.version === recorded;
}
