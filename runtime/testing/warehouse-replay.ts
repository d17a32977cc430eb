// Replaying a SQL task (one with `warehouse` in its definition) on recorded table samples: the
// tables its SQL reads are created in a fresh in-memory DuckDB from the fixture's rows, the task's
// own function runs against it (its `sql` templates composed, table names mapped and BigQuery SQL
// translated exactly as a pipeline run on DuckDB does it, through session.ts), and every Query it
// returns is run there and read back as rows. No warehouse file, no network.
//
// Used by `cellar fixtures` to compute the recorded outputs (cli/fixtures/record.ts) and by the
// generated replay tests to compute them again (replay.ts), so both sides run the same code.
// What this proves and what it cannot: docs/design/fixtures.md, "SQL tasks".
import type { DuckDBWarehouse } from '../warehouse/adapters/duckdb.js';
import { quoteIdent } from '../warehouse/sql/compose.js';
import { isQuery, type Query } from '../warehouse/sql/template.js';
import { runInScope, type TaskScope } from '../warehouse/session.js';
import { TableHandle } from '../warehouse/tasks/table-handle.js';
import type { Row } from '../warehouse/types.js';
import type { AnyTask } from '../task.js';
import type { FixtureTable, FixtureWarehouse } from './fixture.js';

/**
 * Run `task` against an in-memory DuckDB holding `warehouse.tables` (with no rows when `empty`),
 * its table inputs given as handles on those tables and its other inputs as `inputs`.
 *
 * @returns the task's outputs, each Query output (a materialised or un-awaited `sql`) replaced by
 *   its rows in canonical order (sorted by their values: SQL gives no order without ORDER BY, and
 *   an engine may change it between runs).
 * @throws whatever the task throws, or a WarehouseError (`E_WH_QUERY`, `E_WH_DIALECT`) from its SQL.
 */
export async function runSqlTaskOnSample(
  task: AnyTask,
  params: Record<string, unknown>,
  inputs: Record<string, unknown>,
  warehouse: FixtureWarehouse,
  options: { empty?: boolean; onTranslations?: (t: Record<string, string>) => void } = {},
): Promise<Record<string, unknown>> {
  // One thread: the same small input then gives the same row order inside the task's own code
  // (an awaited query without ORDER BY), run after run.
  // Loaded here, not at the top: 'cellar' re-exports this module, and every pipeline that never
  // replays SQL would otherwise pay DuckDB's native load (~100 ms) on each run.
  const { openDuckDB } = await import('../warehouse/adapters/duckdb.js');
  const w = await openDuckDB({ path: ':memory:', threads: 1 });
  try {
    await loadTables(w, warehouse.tables, options.empty ?? false);
    for (const [key, text] of Object.entries(warehouse.translations ?? {}))
      await w.translations.put(key, text);
    const all: Record<string, unknown> = { ...inputs };
    for (const [input, table] of Object.entries(warehouse.tableInputs))
      all[input] = new TableHandle(table, table);
    // The scope, not the process, holds the warehouse: nothing else in the process is redirected.
    const scope: TaskScope = {
      task: task.name,
      dialect: task.warehouse?.dialect ?? warehouse.dialect,
      warehouse: w,
      // The sample tables carry the logical names, so `FROM mart.daily` needs no mapping.
      tables: new Map(),
      dryRun: undefined,
      reads: new Set(),
    };
    const outputs = await runInScope(scope, async () => {
      const out = (await task.run(all as never, params as never)) as Record<string, unknown>;
      if (out === null || typeof out !== 'object') return out;
      const result: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(out))
        result[name] = isQuery(value) ? canonicalOrder(await (value as Query).rows()) : value;
      return result;
    });
    if (options.onTranslations) {
      const { rows } = await w.query({
        text: 'SELECT key, sql FROM _cellar.translations ORDER BY key',
        params: [],
        tables: [],
      });
      options.onTranslations(Object.fromEntries(rows.map((r) => [r.key, r.sql])));
    }
    return outputs;
  } finally {
    await w.close();
  }
}

async function loadTables(
  w: DuckDBWarehouse,
  tables: Record<string, FixtureTable>,
  empty: boolean,
): Promise<void> {
  for (const [name, table] of Object.entries(tables)) {
    const parts = w.tableParts(name);
    if (parts.length > 1)
      await w.execute({
        text: `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(parts.slice(0, -1), 'duckdb')}`,
        params: [],
        tables: [],
      });
    const columns = table.columns
      .map((c) => `${quoteIdent([c.name], 'duckdb')} ${c.type}`)
      .join(', ');
    await w.execute({
      text: `CREATE TABLE ${quoteIdent(parts, 'duckdb')} (${columns})`,
      params: [],
      tables: [],
    });
    if (!empty) await w.insertRows(name, table.rows);
  }
}

const rowKey = (row: Row): string => JSON.stringify(Object.values(row));

/** Rows sorted by their values (a stable, engine-independent order). */
export function canonicalOrder<R extends object>(rows: R[]): R[] {
  return rows
    .map((r) => [rowKey(r as Row), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r);
}
