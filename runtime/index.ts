// The public entry of the `cellar` package: what notebooks, scripts and generated code import.
export { defineTask, definePipeline, output } from './task.js';
export type { Task, AnyTask, TaskDefinition, TaskOutputs, TaskParams, ParamSpec, ParamType, OutputSpec, InputSpec, CacheMode, Pipeline, TaskSource, WarehouseSpec, SqlDialect } from './task.js';
