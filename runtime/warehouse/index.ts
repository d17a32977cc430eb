// The warehouse part of the public 'cellar' entry: the `sql` template, checks, the adapters, and
// the task hooks, registered on import so compiled pipelines and notebooks get warehouse-aware
// caching without wiring anything. Importing stays cheap: adapters and the BigQuery client load
// on the first query.
import { registerCodec } from '../codecs/index.js';
import { registerTaskHooks } from '../hooks.js';
import { warehouseHooks } from './hooks.js';
import { tableHandleCodec } from './table-handle.js';

registerTaskHooks(warehouseHooks);
registerCodec(tableHandleCodec);

export { sql, Query, table, ident, param } from './sql.js';
export type { Sql } from './sql.js';
export { defineChecks, checkTable, parseCheck } from './checks.js';
export type { Check, CheckOutcome } from './checks.js';
export { useWarehouse, getWarehouse, closeWarehouse, warehouseConfig } from './session.js';
export { loadWarehouseConfig, CONFIG_FILE } from './config.js';
export type { WarehouseConfig, CellarConfigFile } from './config.js';
export { openDuckDB, openBigQuery } from './open.js';
export type { DuckDBWarehouseOptions } from './duckdb.js';
export type { BigQueryWarehouseOptions } from './bigquery.js';
export { warehouseHooks, physicalTableName, estimateTask, materialisedTables, pruneMaterialisations } from './hooks.js';
export type { TaskEstimate, PruneResult } from './hooks.js';
export { REFUSED as refusedBigQueryConstructs, TRAPS as fixedBigQueryTraps } from './dialect.js';
export { analyzeSql, analyzeTemplate } from './lineage.js';
export { estimatePlan, formatEstimates, formatBytes } from './estimate.js';
export type { PlanEstimate } from './estimate.js';
export type { SqlAnalysis, ColumnLineage, ColumnSource } from './lineage.js';
export { WarehouseError } from './types.js';
export type { Warehouse, Row, JsonValue, ColumnBatch, ColumnSchema, TableVersion, WarehouseErrorCode } from './types.js';
export type { TableRef } from './compose.js';
export { TableHandle } from './table-handle.js';
