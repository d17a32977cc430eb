// The public entry of the `cellar` package: what notebooks, scripts and generated code import.
export { defineTask, definePipeline, output } from './task.js';
export type {
  Task,
  AnyTask,
  TaskDefinition,
  TaskOutputs,
  TaskParams,
  ParamSpec,
  ParamType,
  OutputSpec,
  InputSpec,
  CacheMode,
  Pipeline,
  TaskSource,
  WarehouseSpec,
  SqlDialect,
} from './task.js';

// Run tasks from code, read stored results, extend codecs and stores.
export { evaluate, load } from './api.js';
export { CellarError } from './errors.js';
// Deno-kernel notebooks: the Deno APIs their cells call, on Node (compiled modules import it).
export { Deno } from './deno.js';
export type { DenoWriteFileOptions } from './deno.js';
export { RUNTIME_CODES } from './codes.js';
export type { RuntimeCode } from './codes.js';
export type { LoadOptions } from './api.js';
export { runPipeline } from './run/run.js';
// A task's reads that cannot change its result (a lock or progress file) kept out of its key.
export { untracked } from './run/read-record.js';
export type { RunOptions } from './run/run.js';
export { registerCodec } from './codecs/index.js';
export type { Codec } from './codecs/index.js';
export { registerModelFormat } from './codecs/model.js';
export { registerClass, registerModuleClasses } from './codecs/classes.js';
export type { ModelFormat } from './codecs/model.js';
export type { Store } from './store/store.js';
export { MemoryStore } from './store/memory.js';
export type {
  CacheKey,
  KeyInputs,
  Manifest,
  NotRunReason,
  RunEvent,
  RunResult,
  TaskResult,
  TaskStatus,
  OutputSchema,
} from './types.js';

// The warehouse: the `sql` template, data checks, adapters; importing this also
// registers the warehouse task hooks (table versions in cache keys, materialisation, checks).
export {
  sql,
  Query,
  table,
  ident,
  param,
  defineChecks,
  checkTable,
  useWarehouse,
  getWarehouse,
  closeWarehouse,
  openDuckDB,
  openBigQuery,
  loadWarehouseConfig,
  estimateTask,
  physicalTableName,
  pruneMaterializations,
  analyzeSql,
  analyzeTemplate,
  TableHandle,
  WarehouseError,
} from './warehouse/index.js';
export type {
  Row,
  JsonValue,
  ColumnBatch,
  ColumnSchema,
  Warehouse,
  TableRef,
  WarehouseConfig,
  CellarConfigFile,
  TaskEstimate,
  CheckOutcome,
  SqlAnalysis,
  ColumnLineage,
} from './warehouse/index.js';

// Generated tests: the graph check of a pipeline, and replay of fixtures recorded by `cellar fixtures`.
export {
  checkPipeline,
  readFixture,
  replayTask,
  assertReplay,
  assertReplaySchemas,
  assertEmptyInput,
} from './testing/replay.js';
export {
  encodeFixture,
  decodeFixture,
  compareOutputs,
  compareSchemas,
  describeDifference,
  schemaOf,
} from './testing/fixture.js';
export type { Fixture, FixtureSchema, FixtureDifference } from './testing/fixture.js';
