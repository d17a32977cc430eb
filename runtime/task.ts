// The task model: what `cellar compile` emits and what hand-written tasks use.
//
// A task is plain data plus one pure function. `defineTask` only checks the definition and
// fixes its types; building the graph, hashing, planning and running live in their own modules
// (graph.ts, hash.ts, plan.ts, execute.ts), so this file stays the one contract between the
// compiler's output and the runtime.

/** How a param's value is checked and parsed from `--param k=v`. */
export type ParamType = 'string' | 'number' | 'boolean' | 'json';

export interface ParamSpec<T = unknown> {
  type: ParamType;
  default: T;
  description?: string;
}

/** Whether edits to the task's code change its cache key (`//| cache:`). */
export type CacheMode = 'code' | 'params';

/** How one output is stored; `codec` names an entry of the codec registry ('auto' picks by value). */
export interface OutputSpec {
  codec?: string;
  /** For `codec: 'model'`: turn the value into bytes (or JSON-able data) and back. */
  save?: (value: any) => Uint8Array | string | unknown;
  load?: (saved: any) => unknown;
}

/** One input of a task: the output `output` of the upstream task `task`. */
export interface InputSpec<T = unknown> {
  task: AnyTask;
  output: string;
  /**
   * Task families this input accepts (gokart's `expected_type`): a task-instance input wired to
   * a task of another family is rejected when the graph is built, not mid-run.
   */
  expects?: string[];
  /** Phantom: the value's type, so `run` sees real types. */
  readonly __type?: T;
}

/** Where a compiled task came from; names the notebook cells in messages and docs. */
export interface TaskSource {
  /** The notebook, relative to the project root (the folder holding package.json). */
  notebook: string;
  /**
   * The task's cells by nbformat cell id (not position). The task module is part of the cache
   * key, and positions shift whenever a cell is inserted above, so a prose edit would re-run
   * every task; ids do not move. `describeSource` (runtime/source.ts) resolves them to cell
   * numbers when a message needs one. Empty for notebooks without cell ids (nbformat < 4.5).
   * Changed from 0-based indexes (number[]) in the first release of the runtime.
   */
  cells: string[];
}

export interface TaskDefinition<I, P, O> {
  name: string;
  /** The task's kind, checked against an input's `expects` (gokart's task class). Default: name. */
  family?: string;
  /** `import.meta.url` of the defining module: the root of the code-aware cache key. */
  module?: string;
  source?: TaskSource;
  /** Default `{}`: no params. */
  params?: { [K in keyof P]: ParamSpec<P[K]> };
  /** Default `{}`: no upstream task. */
  inputs?: { [K in keyof I]: InputSpec<I[K]> };
  outputs: { [K in keyof O]: OutputSpec };
  /**
   * Upstream computed from params (gokart's `requires()` reading parameters): merged over
   * `inputs` when the graph is built for a given set of params.
   */
  dynamicInputs?: (params: P) => Record<string, InputSpec>;
  /** Bump to invalidate the task's cache (`//| version:`). Default 0. */
  version?: number;
  /** Always run, cached or not (`//| rerun`). Default false. */
  rerun?: boolean;
  /** Default 'code'. */
  cache?: CacheMode;
  /** Extra attempts after a failure, with exponential backoff from `retryDelayMs`. Default 0. */
  retries?: number;
  retryDelayMs?: number;
  /** Warehouse facts from the task's SQL (`//| dialect`, `//| materialize`, tables read). */
  warehouse?: WarehouseSpec;
  /** `//| check: ...` data checks, as written; parsed and applied by the runtime. */
  checks?: string[];
  run: (inputs: I, params: P) => O | Promise<O>;
}

export type SqlDialect = 'bigquery' | 'duckdb';

export interface WarehouseSpec {
  /** The dialect the task's SQL is written in; the project's default when absent. */
  dialect?: SqlDialect;
  /** Tables the task's SQL reads, as written (`proj.ds.table`): their snapshots enter the key. */
  reads?: string[];
  /** `//| materialize: ds.table`: the query result becomes a warehouse table named with the key. */
  materialize?: string;
  /** Logical table name → the task in this pipeline that materialises it (an upstream edge). */
  tables?: Record<string, AnyTask>;
}

/** A checked task definition with every default filled in. */
export interface Task<I = any, P = any, O = any>
  extends Readonly<Required<Omit<TaskDefinition<I, P, O>, 'module' | 'source' | 'warehouse' | 'dynamicInputs'>>> {
  readonly kind: 'cellar.task';
  readonly dynamicInputs: ((params: P) => Record<string, InputSpec>) | undefined;
  readonly module: string | undefined;
  readonly source: TaskSource | undefined;
  readonly warehouse: WarehouseSpec | undefined;
}

export type AnyTask = Task<any, any, any>;
export type TaskOutputs<T> = T extends Task<any, any, infer O> ? O : never;
export type TaskParams<T> = T extends Task<any, infer P, any> ? P : never;

/** Declare a task. Checks the definition eagerly so mistakes surface at import, not mid-run. */
export function defineTask<I extends Record<string, unknown>, P extends Record<string, unknown>, O extends Record<string, unknown>>(
  def: TaskDefinition<I, P, O>,
): Task<I, P, O> {
  if (!/^[A-Za-z_][\w.-]*$/.test(def.name)) throw new Error(`invalid task name ${JSON.stringify(def.name)}`);
  return Object.freeze({
    kind: 'cellar.task' as const,
    name: def.name,
    family: def.family ?? def.name,
    module: def.module,
    source: def.source,
    params: def.params ?? ({} as Task<I, P, O>['params']),
    inputs: def.inputs ?? ({} as Task<I, P, O>['inputs']),
    outputs: def.outputs,
    dynamicInputs: def.dynamicInputs,
    version: def.version ?? 0,
    rerun: def.rerun ?? false,
    cache: def.cache ?? 'code',
    warehouse: def.warehouse,
    checks: def.checks ?? [],
    retries: def.retries ?? 0,
    retryDelayMs: def.retryDelayMs ?? 200,
    run: def.run,
  });
}

/** Refer to one output of an upstream task, typed. */
export function output<T extends AnyTask, K extends keyof TaskOutputs<T> & string>(
  task: T,
  name: K,
  options?: { expects?: string | string[] },
): InputSpec<TaskOutputs<T>[K]> {
  const expects = options?.expects === undefined ? undefined : ([] as string[]).concat(options.expects);
  return expects ? { task, output: name, expects } : { task, output: name };
}

/** A compiled notebook: every task, plus the pipeline-wide params (the union of the tasks'). */
export interface Pipeline {
  readonly kind: 'cellar.pipeline';
  name: string;
  source?: string;
  /** Directory the notebook ran in: tasks resolve relative paths from here, as Jupyter did. */
  workdir?: string;
  tasks: AnyTask[];
}

export function definePipeline(def: Omit<Pipeline, 'kind'>): Pipeline {
  return Object.freeze({ kind: 'cellar.pipeline' as const, ...def });
}
