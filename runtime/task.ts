// The task model: what `cellar compile` emits and what hand-written tasks use.
//
// A task is plain data plus one pure function. `defineTask` only checks the definition and
// fixes its types; building the graph, hashing, planning and running live in their own modules
// (graph.ts, hash.ts, plan.ts, execute.ts), so this file stays the one contract between the
// compiler's output and the runtime.
import { CellarError } from './errors.js';
import { storeOwnName } from './store/own-names.js';

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
   * every task; ids do not move. `describeSource` (runtime/load/source.ts) resolves them to cell
   * numbers when a message needs one. Empty for notebooks without cell ids (nbformat < 4.5).
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
  /** Absent: no params. */
  params?: { [K in keyof P]: ParamSpec<P[K]> };
  /** Absent: no upstream inputs. */
  inputs?: { [K in keyof I]: InputSpec<I[K]> };
  outputs: { [K in keyof O]: OutputSpec };
  /**
   * Upstream computed from params (gokart's `requires()` reading parameters): merged over
   * `inputs` when the graph is built for a given set of params.
   */
  dynamicInputs?: (params: P) => Record<string, InputSpec>;
  version?: number;
  rerun?: boolean;
  cache?: CacheMode;
  /** Extra attempts after a failure, with exponential backoff from `retryDelayMs`. Default 0. */
  retries?: number;
  retryDelayMs?: number;
  /**
   * Longest one attempt may take, in milliseconds (`//| timeout: 10m` in a notebook). Past it the
   * attempt fails with E_TASK_TIMEOUT: on a worker thread (`cellar run`, `cellar worker`) the
   * thread is stopped, busy or waiting; in process (`--in-process`) only the wait ends, and code
   * that never yields cannot be stopped. Retries apply. Absent: no limit. Not in the cache key.
   */
  timeoutMs?: number;
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
  /** Files the task's SQL reads by path on DuckDB (`read_csv_auto('data/x.csv')`, globs, URLs), as
   *  written: relative to the folder the task runs in. Their content enters the key. */
  files?: string[];
  /** `//| materialize: ds.table`: the query result becomes a warehouse table named with the key. */
  materialize?: string;
  /** Logical table name → the task in this pipeline that materialises it (an upstream edge). */
  tables?: Record<string, AnyTask>;
}

/** A checked task definition with every default filled in. */
export interface Task<I = any, P = any, O = any> extends Readonly<
  Required<
    Omit<TaskDefinition<I, P, O>, 'module' | 'source' | 'warehouse' | 'dynamicInputs' | 'timeoutMs'>
  >
> {
  readonly timeoutMs: number | undefined;
  readonly kind: 'cellar.task';
  readonly dynamicInputs: ((params: P) => Record<string, InputSpec>) | undefined;
  readonly module: string | undefined;
  readonly source: TaskSource | undefined;
  readonly warehouse: WarehouseSpec | undefined;
}

export type AnyTask = Task<any, any, any>;
export type TaskOutputs<T> = T extends Task<any, any, infer O> ? O : never;
export type TaskParams<T> = T extends Task<any, infer P, any> ? P : never;

/**
 * The fields a task definition may have. Anything else is a typo (`output:` for `outputs:`) and
 * refused by name, rather than silently ignored.
 */
const TASK_FIELDS = [
  'name',
  'family',
  'module',
  'source',
  'params',
  'inputs',
  'outputs',
  'dynamicInputs',
  'version',
  'rerun',
  'cache',
  'retries',
  'retryDelayMs',
  'timeoutMs',
  'warehouse',
  'checks',
  'run',
] as const;
const PARAM_TYPES: readonly string[] = ['string', 'number', 'boolean', 'json'];

/** A malformed task definition: `E_BAD_TASK`, naming the task and each bad field. */
function definitionError(task: string, problems: string[]): CellarError {
  const more = problems
    .slice(1)
    .map((p) => `\n  ${p}`)
    .join('');
  return new CellarError(
    `task '${task}': ${problems[0]}${more}`,
    'E_BAD_TASK',
    problems.map((p) => ({ code: 'E_BAD_TASK', task, message: `task '${task}': ${p}` })),
  );
}

/**
 * Declare a task. Absent optional fields (`params`, `inputs`, `outputs`, `version`, ...) take
 * their defaults (an absent `params` is no params). The definition is checked eagerly, so a
 * mistake surfaces when the module is imported, before the graph is built or anything runs:
 * throws CellarError `E_BAD_TASK` naming the task and every malformed field (wrong
 * type, unknown field, an output spec that is not an object, `run` not a function, a name that
 * would reach an object's prototype such as `__proto__`).
 */
export function defineTask<
  I extends Record<string, unknown>,
  P extends Record<string, unknown>,
  O extends Record<string, unknown>,
>(def: TaskDefinition<I, P, O>): Task<I, P, O> {
  // The full check builds a message per field; a well-formed definition (all but a mistake's)
  // passes the straight-line `wellFormed` instead: a pipeline of 100k tasks defines 100k.
  if (!wellFormed(def)) {
    const problems = checkDefinition(def);
    const name =
      typeof (def as { name?: unknown } | null)?.name === 'string' ? def.name : '(unnamed)';
    if (problems.length > 0) throw definitionError(name, problems);
  }
  return Object.freeze({
    kind: 'cellar.task' as const,
    name: def.name,
    family: def.family ?? def.name,
    module: def.module,
    source: def.source,
    params: def.params ?? ({} as { [K in keyof P]: ParamSpec<P[K]> }),
    inputs: def.inputs ?? ({} as { [K in keyof I]: InputSpec<I[K]> }),
    outputs: def.outputs,
    dynamicInputs: def.dynamicInputs,
    version: def.version ?? 0,
    rerun: def.rerun ?? false,
    cache: def.cache ?? 'code',
    warehouse: def.warehouse,
    checks: def.checks ?? [],
    retries: def.retries ?? 0,
    retryDelayMs: def.retryDelayMs ?? 200,
    timeoutMs: def.timeoutMs,
    run: def.run,
  });
}

const FIELD_SET: ReadonlySet<string> = new Set(TASK_FIELDS);

/** The longest timer Node keeps (2^31 − 1 ms): a longer `setTimeout` fires after 1 ms instead. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const validTimeoutMs = (v: unknown): boolean =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_TIMEOUT_MS;
const NAME = /^[A-Za-z_][\w.-]*$/;

/**
 * True only when `checkDefinition(def)` would find nothing: the same rules, written without the
 * messages, closures and key arrays. Stricter is allowed (a false sends the definition through
 * the full check, which has the last word); laxer never is. test/runtime/definitions.test.ts
 * runs every malformed definition it knows through both.
 */
export function wellFormed(def: unknown): boolean {
  if (!isRecord(def)) return false;
  for (const field in def) {
    if (!FIELD_SET.has(field) && !(field === 'kind' && def.kind === 'cellar.task')) return false;
  }
  const d = def as Record<string, unknown>;
  const name = d.name;
  if (typeof name !== 'string' || !NAME.test(name) || name === '__proto__' || storeOwnName(name))
    return false;
  if (typeof d.run !== 'function') return false;
  if (d.family !== undefined && (typeof d.family !== 'string' || d.family === '')) return false;
  if (d.module !== undefined && typeof d.module !== 'string') return false;
  if (d.version !== undefined && (typeof d.version !== 'number' || !Number.isFinite(d.version)))
    return false;
  if (d.rerun !== undefined && typeof d.rerun !== 'boolean') return false;
  if (d.cache !== undefined && d.cache !== 'code' && d.cache !== 'params') return false;
  if (d.retries !== undefined && !(Number.isInteger(d.retries) && (d.retries as number) >= 0))
    return false;
  if (
    d.retryDelayMs !== undefined &&
    !(typeof d.retryDelayMs === 'number' && Number.isFinite(d.retryDelayMs) && d.retryDelayMs >= 0)
  )
    return false;
  if (d.timeoutMs !== undefined && !validTimeoutMs(d.timeoutMs)) return false;
  if (d.dynamicInputs !== undefined && typeof d.dynamicInputs !== 'function') return false;
  if (d.checks !== undefined) {
    if (!Array.isArray(d.checks)) return false;
    for (const c of d.checks) if (typeof c !== 'string') return false;
  }
  if (d.warehouse !== undefined && !isRecord(d.warehouse)) return false;
  if (d.source !== undefined) {
    const s = d.source;
    if (!isRecord(s) || typeof s.notebook !== 'string' || !Array.isArray(s.cells)) return false;
  }
  if (d.params !== undefined) {
    if (!isRecord(d.params)) return false;
    for (const key in d.params) {
      const spec = d.params[key];
      if (key === '__proto__' || !isRecord(spec)) return false;
      if (!PARAM_TYPES.includes(spec.type as string) || !Object.hasOwn(spec, 'default'))
        return false;
    }
  }
  if (d.inputs !== undefined) {
    if (!isRecord(d.inputs)) return false;
    for (const key in d.inputs) {
      const spec = d.inputs[key];
      if (key === '__proto__' || !isRecord(spec)) return false;
      const task = spec.task;
      if (!isRecord(task) || task.kind !== 'cellar.task' || typeof spec.output !== 'string')
        return false;
    }
  }
  if (!isRecord(d.outputs)) return false;
  for (const key in d.outputs) {
    const spec = d.outputs[key];
    if (key === '__proto__' || !isRecord(spec)) return false;
    if (spec.codec !== undefined && typeof spec.codec !== 'string') return false;
    if (spec.save !== undefined && typeof spec.save !== 'function') return false;
    if (spec.load !== undefined && typeof spec.load !== 'function') return false;
  }
  return true;
}

/** Every problem with a definition, each naming its field; empty when it is well formed. */
function checkDefinition(def: unknown): string[] {
  if (!isRecord(def)) return [`the definition must be an object, got ${kindOf(def)}`];
  const problems: string[] = [];
  for (const field of Object.keys(def)) {
    // `kind` comes along when a task is spread into a new definition ({ ...task, name: 'b' }).
    if (field === 'kind' && def.kind === 'cellar.task') continue;
    if (!(TASK_FIELDS as readonly string[]).includes(field))
      problems.push(
        `unknown field '${field}'${closest(field, TASK_FIELDS)} (fields: ${TASK_FIELDS.join(', ')})`,
      );
  }
  const { name } = def;
  if (typeof name !== 'string' || !/^[A-Za-z_][\w.-]*$/.test(name))
    problems.push(
      `'name' must be a name of letters, digits, '_', '.' or '-' starting with a letter or '_', got ${show(name)}`,
    );
  else if (name === '__proto__')
    problems.push(`'name' cannot be '__proto__' (it would reach an object's prototype)`);
  else if (storeOwnName(name)) problems.push(`'name' cannot be '${name}': ${storeOwnName(name)}`);
  const optional = (field: string, ok: (v: unknown) => boolean, wanted: string) => {
    const v = def[field];
    if (v !== undefined && !ok(v)) problems.push(`'${field}' must be ${wanted}, got ${show(v)}`);
  };
  optional('family', (v) => typeof v === 'string' && v !== '', 'a non-empty string');
  optional('module', (v) => typeof v === 'string', "a string (the module's import.meta.url)");
  optional('version', (v) => typeof v === 'number' && Number.isFinite(v), 'a number');
  optional('rerun', (v) => typeof v === 'boolean', 'true or false');
  optional('cache', (v) => v === 'code' || v === 'params', "'code' or 'params'");
  optional('retries', (v) => Number.isInteger(v) && (v as number) >= 0, 'a whole number ≥ 0');
  optional(
    'retryDelayMs',
    (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
    'a number of milliseconds ≥ 0',
  );
  optional(
    'timeoutMs',
    validTimeoutMs,
    `a number of milliseconds > 0 and at most ${MAX_TIMEOUT_MS} (about 24.8 days)`,
  );
  optional('dynamicInputs', (v) => typeof v === 'function', 'a function from params to inputs');
  optional(
    'checks',
    (v) => Array.isArray(v) && v.every((c) => typeof c === 'string'),
    'an array of strings',
  );
  optional('warehouse', isRecord, 'an object');
  optional(
    'source',
    (v) => isRecord(v) && typeof v.notebook === 'string' && Array.isArray(v.cells),
    'an object { notebook: string, cells: string[] }',
  );
  if (typeof def.run !== 'function')
    problems.push(`'run' must be a function (inputs, params) => outputs, got ${show(def.run)}`);

  const entries = (field: string, check: (entry: string, v: unknown) => string | undefined) => {
    const record = def[field];
    if (record === undefined) return;
    if (!isRecord(record)) {
      problems.push(`'${field}' must be an object keyed by name, got ${show(record)}`);
      return;
    }
    for (const key of Object.keys(record)) {
      if (key === '__proto__') {
        problems.push(
          `'${field}.__proto__': '__proto__' cannot be a name (it would reach an object's prototype)`,
        );
        continue;
      }
      const problem = check(key, record[key]);
      if (problem) problems.push(`'${field}.${key}' ${problem}`);
    }
  };
  entries('params', (_, spec) => {
    if (!isRecord(spec)) return `must be a param spec { type, default }, got ${show(spec)}`;
    if (!PARAM_TYPES.includes(spec.type as string))
      return `has type ${show(spec.type)}; the types are ${PARAM_TYPES.map((t) => `'${t}'`).join(', ')}`;
    if (!Object.hasOwn(spec, 'default')) return `needs a 'default'`;
    return undefined;
  });
  entries('inputs', (_, spec) => {
    if (!isRecord(spec)) return `must be output(task, 'name'), got ${show(spec)}`;
    if (!isRecord(spec.task) || spec.task.kind !== 'cellar.task')
      return `must be output(task, 'name'): its 'task' is ${show(spec.task)}, not a task made by defineTask`;
    if (typeof spec.output !== 'string')
      return `must name an output of '${String(spec.task.name)}', got ${show(spec.output)}`;
    return undefined;
  });
  if (def.outputs === undefined)
    problems.push(`'outputs' is required: an object of output specs, e.g. { rows: {} }`);
  entries('outputs', (_, spec) => {
    if (!isRecord(spec))
      return `must be an output spec object ({} or { codec: 'json' }), got ${show(spec)}`;
    if (spec.codec !== undefined && typeof spec.codec !== 'string')
      return `has codec ${show(spec.codec)}; a codec is named by a string`;
    for (const fn of ['save', 'load'])
      if (spec[fn] !== undefined && typeof spec[fn] !== 'function')
        return `has '${fn}' ${show(spec[fn])}; it must be a function`;
    return undefined;
  });
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function show(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

/** `, did you mean 'outputs'?` for a field one or two edits away (or a missing/extra 's'). */
function closest(field: string, fields: readonly string[]): string {
  const near = fields.find(
    (f) => f === `${field}s` || `${f}s` === field || f.toLowerCase() === field.toLowerCase(),
  );
  return near ? `, did you mean '${near}'?` : '';
}

/** Refer to one output of an upstream task, typed. */
export function output<T extends AnyTask, K extends keyof TaskOutputs<T> & string>(
  task: T,
  name: K,
  options?: { expects?: string | string[] },
): InputSpec<TaskOutputs<T>[K]> {
  const expects =
    options?.expects === undefined ? undefined : ([] as string[]).concat(options.expects);
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

/**
 * A pipeline: a name, its tasks (upstream tasks not listed are pulled in through inputs) and the
 * folder tasks run in (`workdir`, relative to the pipeline's file). The default export of a
 * pipeline module, which `cellar run <pipeline.ts>` loads. Checked when a run builds its graph,
 * not here.
 */
export function definePipeline(def: Omit<Pipeline, 'kind'>): Pipeline {
  if (Array.isArray(def.tasks) && typeof def.name === 'string') {
    // Listed when a listing is first asked for (or the next pipeline is defined), not now: the
    // CLI defines one pipeline and never asks, and 100k WeakMap entries cost the definition and
    // every garbage collection after it. The tasks as listed now (the array may change later).
    fileListing();
    pendingListing = { name: def.name, tasks: def.tasks.slice() };
  }
  return Object.freeze({ kind: 'cellar.pipeline' as const, ...def });
}

/**
 * Task → the name of the pipeline that lists it, or the names when several do (filled from
 * definePipeline's listings in this process; one string, not a Set, for the common case of one
 * pipeline).
 */
const listedIn = new WeakMap<object, string | Set<string>>();
/** The last pipeline defined, not yet in `listedIn` (at most one is held here). */
let pendingListing: { name: string; tasks: readonly unknown[] } | undefined;
function fileListing(): void {
  const pending = pendingListing;
  if (!pending) return;
  pendingListing = undefined;
  for (const task of pending.tasks) {
    if (typeof task !== 'object' || task === null) continue;
    const listed = listedIn.get(task);
    if (listed === undefined) listedIn.set(task, pending.name);
    else if (typeof listed === 'string') {
      if (listed !== pending.name) listedIn.set(task, new Set([listed, pending.name]));
    } else listed.add(pending.name);
  }
}
const listingOf = (task: AnyTask): string[] => {
  fileListing();
  const listed = listedIn.get(task);
  return listed === undefined ? [] : typeof listed === 'string' ? [listed] : [...listed];
};

/**
 * The pipeline whose stored results `load(task)` reads (results belong to their pipeline,
 * store/store.ts): the one `definePipeline` listed the task in, if exactly one; else, for a
 * compiled task, its notebook's pipeline (the compiler names it after the notebook file, as
 * `generated/<stem>/`). Undefined when that cannot be told: the caller must name it.
 */
export function pipelineOf(task: AnyTask): string | undefined {
  const listed = listingOf(task);
  const fromNotebook = task.source?.notebook
    .split('/')
    .pop()!
    .replace(/\.ipynb$/i, '');
  if (listed.length === 1) return listed[0];
  if (fromNotebook !== undefined && (listed.length === 0 || listed.includes(fromNotebook)))
    return fromNotebook;
  return undefined;
}

/** The pipelines `definePipeline` listed `task` in, for messages. */
export function pipelinesListing(task: AnyTask): string[] {
  return listingOf(task).sort();
}
