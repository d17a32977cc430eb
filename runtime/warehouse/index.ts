// The warehouse part of the public 'cellar' entry: the `sql` template, checks, the adapters, and
// the task hooks, registered on import so compiled pipelines and notebooks get warehouse-aware
// caching without wiring anything. Importing stays cheap: adapters and the BigQuery client load
// on the first query.
import { registerCodec } from '../codecs/index.js';
import { registerTaskHooks } from '../run/hooks.js';
import { warehouseHooks } from './tasks/hooks.js';
import { tableHandleCodec } from './tasks/table-handle.js';

registerTaskHooks(warehouseHooks);
registerCodec(tableHandleCodec);

export { sql, Query, table, ident, param } from './sql/template.js';
export type { Sql } from './sql/template.js';
export { defineChecks, checkTable, parseCheck } from './tasks/checks.js';
export type { Check, CheckOutcome } from './tasks/checks.js';
export { useWarehouse, getWarehouse, closeWarehouse, warehouseConfig } from './session.js';
export { loadWarehouseConfig, CONFIG_FILE } from './config.js';
export type { WarehouseConfig, CellarConfigFile } from './config.js';
export { openDuckDB, openBigQuery } from './adapters/open.js';
export type { DuckDBWarehouseOptions } from './adapters/duckdb.js';
export type { BigQueryWarehouseOptions } from './adapters/bigquery.js';
export {
  warehouseHooks,
  physicalTableName,
  estimateTask,
  materializedTables,
  pruneMaterializations,
} from './tasks/hooks.js';
export type { TaskEstimate, PruneResult } from './tasks/hooks.js';
export {
  REFUSED as refusedBigQueryConstructs,
  TRAPS as fixedBigQueryTraps,
} from './sql/dialect.js';
export { analyzeSql, analyzeTemplate } from './sql/lineage.js';
export { estimatePlan, formatEstimates, formatBytes } from './tasks/estimate.js';
export type { PlanEstimate } from './tasks/estimate.js';
export type { SqlAnalysis, ColumnLineage, ColumnSource } from './sql/lineage.js';
export { WarehouseError } from './types.js';
export type {
  Warehouse,
  Row,
  JsonValue,
  ColumnBatch,
  ColumnSchema,
  TableVersion,
  WarehouseErrorCode,
} from './types.js';
export type { TableRef } from './sql/compose.js';
export { TableHandle } from './tasks/table-handle.js';
