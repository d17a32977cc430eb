// Opening an adapter by hand (tests, scripts, a custom setup), without loading the DuckDB native
// binding or the BigQuery client when 'cellar' is imported: each loads on first call.
import type { BigQueryWarehouse, BigQueryWarehouseOptions } from './bigquery.js';
import type { DuckDBWarehouse, DuckDBWarehouseOptions } from './duckdb.js';

/** Opens a DuckDB warehouse (a file, or `:memory:`) by hand; loads the native binding on first call. */
export async function openDuckDB(opts: DuckDBWarehouseOptions): Promise<DuckDBWarehouse> {
  return (await import('./duckdb.js')).openDuckDB(opts);
}

/**
 * Opens a BigQuery warehouse by hand with the official client (Application Default Credentials,
 * or `apiEndpoint` with no credentials for an emulator); loads the client on first call.
 */
export async function openBigQuery(opts: BigQueryWarehouseOptions): Promise<BigQueryWarehouse> {
  return (await import('./bigquery.js')).openBigQuery(opts);
}
