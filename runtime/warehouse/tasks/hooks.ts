// The warehouse's part in caching and running tasks (the TaskHooks of runtime/hooks.ts).
//
// Cache key: the runtime already hashes the task's code (so its normalised SQL) and params (so
// every bound value); we add the version of every table the task's SQL reads (BigQuery's
// lastModifiedTime, or the DuckDB registry + content fingerprint, see duckdb.ts), the warehouse
// identity (which DuckDB file, which BigQuery project),
// the dialect, the materialisation target and the checks. New data in a source table changes
// exactly its readers' keys. Tables materialised by upstream tasks are left out: their content
// is already in the key through the upstream task's key.
//
// Materialisation (`//| materialize: mart.daily`): the task's code returns an un-run `sql`
// Query; after the task's code has run we create `mart.daily_<key12>` from it inside the
// warehouse (CREATE OR REPLACE TABLE … AS, atomic in both warehouses) and hand downstream a
// TableHandle on it (table-handle.ts) instead of rows. The cache stays valid while
// that table exists. Downstream SQL may name the logical table (`FROM mart.daily`) or
// interpolate the upstream value (`FROM ${daily}`); both resolve to this run's physical table.
// After the checks pass, the view `mart.daily` is pointed at the new table, so notebooks, BI
// tools and people can query the logical name and see the newest result.
import { relative, sep } from 'node:path';
import type { TaskHooks, TaskHookContext, TaskRunContext } from '../../run/hooks.js';
import type { AnyTask, Pipeline } from '../../task.js';
import { defaultsOf } from '../../run/graph.js';
import { isTableRef, type TableRef } from '../sql/compose.js';
import { checksForSource, runChecks } from './checks.js';
import { materializedIntact, recordMaterialized } from './materialized.js';
import { splitTableName } from '../sql/names.js';
import { keepTrail } from './origin.js';
import {
  getWarehouse,
  maxBytesBilled,
  prepareQuery,
  runInScope,
  type TaskScope,
  warehouseConfig,
} from '../session.js';
import { isQuery, Query } from '../sql/template.js';
import { describeSource } from '../../load/source.js';
import { TableHandle } from './table-handle.js';
import {
  markersAsKeyed,
  noteRanSql,
  ranSql,
  recordedReads,
  recordReads,
  recordedWriters,
  type RecordedWriter,
  writersOfTable,
} from './reads.js';
import { compiledFiles, fileKeyInputs, shownPath, taskWorkdir } from './files.js';
import { fileRead } from '../sql/files.js';
import { WarehouseError, type Row, type Warehouse } from '../types.js';

/** How long a key's table-name suffix is: 12 hex digits = 48 bits. */
const SUFFIX = 12;

/** `mart.daily` + key → `mart.daily_<key12>`. */
export function physicalTableName(logical: string, key: string): string {
  const parts = splitTableName(logical);
  parts[parts.length - 1] = `${parts[parts.length - 1]}_${key.slice(0, SUFFIX)}`;
  return parts.join('.');
}

function where(task: AnyTask): string {
  const described = describeSource(task);
  const src = described ? ` (${described})` : '';
  return `task ${task.name}${src}: `;
}

/** The task's logical → physical table map for this run (upstream materialisations). */
function tableMap(
  w: Warehouse,
  task: AnyTask,
  keysByTask: Record<string, string>,
): Map<string, string> {
  const map = new Map<string, string>();
  for (const [logical, upstream] of Object.entries(task.warehouse?.tables ?? {})) {
    const key = keysByTask[upstream.name];
    const target = upstream.warehouse?.materialize ?? logical;
    if (key) map.set(w.canonicalTable(logical), physicalTableName(target, key));
  }
  return map;
}

/** Source tables: read by the task and not materialised by a task of this pipeline. */
function sourceTables(w: Warehouse, task: AnyTask): string[] {
  const upstream = new Set(
    Object.keys(task.warehouse?.tables ?? {}).map((t) => w.canonicalTable(t)),
  );
  return [...new Set((task.warehouse?.reads ?? []).map((t) => w.canonicalTable(t)))]
    .filter((t) => !upstream.has(t))
    .sort();
}

const checkedSources = new Map<string, string>();

const taskId = (task: AnyTask) => `${task.name}\u0000${task.source?.notebook ?? ''}`;

/** The table versions this process put into each task's key (by task and notebook), the baseline
 *  "changed while it ran" compares with (`changedTables`). */
const keyedVersions = new Map<string, Record<string, string>>();
/** The user-defined functions' version this process put into each task's key (null: none). */
const keyedFunctions = new Map<string, string | null>();
/** Tasks of this thread whose statements made, replaced or dropped a function or macro. */
const functionDefiners = new Set<string>();

/** The version (or `missing`) of every table in the task's key: its compiled source tables and
 *  the ones recorded on earlier runs (`recorded`), by canonical name as written. */
async function keyedTableVersions(
  w: Warehouse,
  task: AnyTask,
  recorded: string[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of [...new Set([...sourceTables(w, task), ...recorded])].sort()) {
    const v = await w.tableVersion(t);
    out[t] = v ? v.version : 'missing';
  }
  return out;
}

/**
 * Tables of the task's key whose version now differs from `before` (the key's, or the one at the
 * task's start when another thread keyed it), leaving out those the task wrote itself: a result
 * computed from rows that changed while it ran must not be stored under a key naming the old
 * rows (an outside UPDATE, or a sibling task of the run replacing the table). As runtime/run does
 * for files ("changed while it ran").
 */
async function changedTables(
  w: Warehouse,
  task: AnyTask,
  before: Record<string, string>,
  wrote: ReadonlySet<string>,
): Promise<string[]> {
  const changed: string[] = [];
  for (const [t, v] of Object.entries(before)) {
    // A task's own CREATE changes the catalog it may also read: its own write, like a table's.
    if (wrote.has(t) || (wrote.size > 0 && t === 'information_schema.tables')) continue;
    const now = await w.tableVersion(t);
    if ((now ? now.version : 'missing') !== v) changed.push(t);
  }
  return changed;
}

/**
 * Which task of this process last wrote each table, and which read it: a task writing a table
 * another task reads, with no dependency between them, makes the reader's result depend on the
 * order the run happened to take. Warned once per pair (`warnUnorderedWrites`). Tasks in other
 * worker threads or processes are not seen.
 */
const writersOf = new Map<string, string>();
const readersOf = new Map<string, Set<string>>();
const warnedPairs = new Set<string>();

function warnUnordered(writer: string, reader: string, table: string): void {
  const pair = `${writer}\u0000${reader}\u0000${table}`;
  if (warnedPairs.has(pair)) return;
  warnedPairs.add(pair);
  process.stderr.write(
    `cellar: warning: task '${writer}' writes table ${table}, which task '${reader}' reads, and neither depends on the other: ` +
      `the reader's result depends on which ran first. Make the reader depend on the writer (use its output), or materialise the table (\`//| materialize: ${table}\`).\n`,
  );
}

/** The tasks recorded as writing tables, listed once per process (as keys are computed). */
let writersAtKeying: RecordedWriter[] | undefined;

/**
 * As a reader's key is computed (before any task runs, in the thread planning the run): warn
 * about each task of its pipeline recorded as writing a table it reads (tasks/reads.ts) that it
 * does not depend on. Nothing orders the two, so the reader may run first (and fail on a table
 * not made yet) or be served from cache in the run that rewrites the table. The warning by the
 * threads that ran them (`warnUnorderedWrites`) sees only pairs run by one thread; this one
 * sees every pair an earlier run recorded.
 */
function warnUnorderedReader(
  w: Warehouse,
  task: AnyTask,
  { params, upstreamOf }: TaskHookContext,
  tables: readonly string[],
): void {
  writersAtKeying ??= recordedWriters(w);
  if (writersAtKeying.length === 0 || tables.length === 0) return;
  const notebook = task.source?.notebook ?? null;
  let upstream: Set<string> | undefined;
  for (const writer of writersAtKeying) {
    if (writer.task === task.name || writer.notebook !== notebook) continue;
    for (const t of writer.writes) {
      if (!tables.includes(t)) continue;
      upstream ??= upstreamOf ? closure(task.name, upstreamOf) : upstreamNames(task, params);
      if (!upstream.has(writer.task)) warnUnordered(writer.task, task.name, t);
    }
  }
}

/**
 * The names of every task `task` depends on, directly or not, where no run graph is at hand (a
 * worker thread): through inputs, dynamic inputs and materialised tables. `params`: the task's
 * resolved params, which settle its own dynamic inputs exactly. An upstream task's dynamic inputs are resolved from its params' defaults with the
 * reader's params laid over them (the run's overrides the two share): only the planning graph
 * knows every task's params, and this serves a warning, never a key. A `dynamicInputs` that
 * throws adds nothing (the graph reports it).
 */
function upstreamNames(task: AnyTask, params: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const pending: AnyTask[] = [task];
  while (pending.length > 0) {
    const t = pending.pop()!;
    const specs: { task: AnyTask }[] = Object.values(t.inputs as Record<string, { task: AnyTask }>);
    if (t.dynamicInputs) {
      try {
        specs.push(...Object.values(t.dynamicInputs(t === task ? params : defaultsOf(t, params))));
      } catch {
        // left to the graph, which names the task
      }
    }
    const ups = [...specs.map((i) => i.task), ...Object.values(t.warehouse?.tables ?? {})];
    for (const u of ups)
      if (!out.has(u.name)) {
        out.add(u.name);
        pending.push(u);
      }
  }
  return out;
}

/** Every task `task` depends on, directly or not, by the run graph's direct upstream of each. */
function closure(task: string, upstreamOf: (task: string) => readonly string[]): Set<string> {
  const out = new Set<string>();
  const pending = [task];
  while (pending.length > 0)
    for (const u of upstreamOf(pending.pop()!))
      if (!out.has(u)) {
        out.add(u);
        pending.push(u);
      }
  return out;
}

function warnUnorderedWrites(
  task: AnyTask,
  ctx: TaskRunContext,
  upstream: () => Set<string>,
  reads: Iterable<string>,
  writes: Iterable<string>,
): void {
  // The task's upstream, transitively (its direct upstream is `ctx.keysByTask`): a writer two
  // tasks up is ordered before it as surely as its input's task.
  const related = (other: string) =>
    other === task.name || other in ctx.keysByTask || upstream().has(other);
  const warn = warnUnordered;
  for (const t of writes) {
    writersOf.set(t, task.name);
    for (const r of readersOf.get(t) ?? []) if (!related(r)) warn(task.name, r, t);
  }
  for (const t of reads) {
    if (!readersOf.has(t)) readersOf.set(t, new Set());
    readersOf.get(t)!.add(task.name);
    const writer = writersOf.get(t);
    if (writer && !related(writer)) warn(writer, task.name, t);
  }
}

/** After the task's code ran: say "not cached" for tables that changed under it, warn about
 *  unordered writers, and record the tables the key did not hold. */
async function afterRun(
  w: Warehouse,
  task: AnyTask,
  ctx: TaskRunContext,
  scope: TaskScope,
  before: Record<string, string>,
  functionsBefore: string | null | undefined,
): Promise<void> {
  const wrote = scope.writes ?? new Set<string>();
  if (scope.definesFunctions) functionDefiners.add(task.name);
  else if (functionsBefore !== undefined && w.userFunctionsVersion) {
    // A macro redefined while the task ran (a sibling task's `CREATE OR REPLACE MACRO`, another
    // program): its queries may have called the new body, under a key naming the old one.
    const now = await w.userFunctionsVersion();
    if (now !== functionsBefore) {
      const by = [...functionDefiners].filter((t) => t !== task.name).sort();
      ctx.notCached?.(
        `user-defined functions or macros${by.length > 0 ? ` (defined by task ${by.map((x) => `'${x}'`).join(', ')})` : ''} changed while ${task.name} ran`,
      );
    }
  }
  // Made once, when a warning needs it (most SQL tasks write and race nothing).
  let up: Set<string> | undefined;
  const upstream = () => (up ??= upstreamNames(task, ctx.params));
  if (wrote.size > 0) recordReads(w, task, { tables: [], files: [], writes: [...wrote] });
  const changed = await changedTables(w, task, before, wrote);
  if (changed.length > 0) {
    // Name the tasks that write the table (recorded when they ran, in any thread): a sibling
    // task of this run with no dependency between the two is the usual cause.
    const writers = [
      ...new Set(
        changed.flatMap((t) => [
          ...writersOfTable(w, task, t),
          ...(writersOf.get(t) && writersOf.get(t) !== task.name ? [writersOf.get(t)!] : []),
        ]),
      ),
    ].sort();
    const by =
      writers.length > 0 ? ` (written by task ${writers.map((x) => `'${x}'`).join(', ')})` : '';
    ctx.notCached?.(
      `table${changed.length > 1 ? 's' : ''} ${changed.join(', ')}${by} changed while ${task.name} ran`,
    );
    for (const t of changed)
      for (const writer of writers)
        if (!(writer in ctx.keysByTask) && !upstream().has(writer))
          warnUnordered(writer, task.name, t);
  }
  warnUnorderedWrites(
    task,
    ctx,
    upstream,
    [...(scope.reads ?? [])].filter((t) => !wrote.has(t)),
    wrote,
  );
}

export const warehouseHooks: TaskHooks & {
  estimate(task: AnyTask, ctx: TaskRunContext): Promise<TaskEstimate>;
} = {
  name: 'warehouse',

  applies(task) {
    return task.warehouse !== undefined || task.checks.length > 0 || ranSql(task);
  },

  // A task may run SQL only through a helper its module does not show (tasks/reads.ts).
  wrapsEveryRun: true,

  // Which tasks `applies` holds for rests on the ran-SQL markers: a run that marks a task gives
  // the next run another key for it (its warm-run record must not answer for that run).
  appliesListing: markersAsKeyed,

  async keyInputs(task: AnyTask, ctx: TaskHookContext) {
    if (!task.warehouse && !ranSql(task)) return { checks: task.checks };
    const w = await getWarehouse();
    const inputs: Record<string, unknown> = {
      // The warehouse itself, not just its kind: another DuckDB file or BigQuery project whose
      // tables were built the same way must not serve this one's results.
      warehouse: w.identity,
      dialect: task.warehouse?.dialect ?? null,
      materialize: task.warehouse?.materialize ?? null,
      checks: task.checks,
    };
    // Compiled reads, plus the tables earlier runs saw the task read through code the compiler
    // could not follow (a helper in setup or a local module; tasks/reads.ts).
    const recorded = recordedReads(w, task);
    const versions = await keyedTableVersions(w, task, recorded.tables);
    keyedVersions.set(taskId(task), versions);
    warnUnorderedReader(w, task, ctx, Object.keys(versions));
    for (const [t, v] of Object.entries(versions)) inputs[`table:${t}`] = v;
    // User-defined functions and macros (all of them): only present when there is one, so a
    // database without any keeps its keys.
    const functions = w.userFunctionsVersion ? await w.userFunctionsVersion() : null;
    keyedFunctions.set(taskId(task), functions);
    if (functions) inputs.functions = functions;
    // Files the SQL reads by path (DuckDB only: BigQuery reads no local files), by content.
    if (w.kind === 'duckdb') {
      const files = [...compiledFiles(task, taskWorkdir(task, ctx.workdir)), ...recorded.files];
      if (files.length > 0) Object.assign(inputs, await fileKeyInputs(w, files));
    }
    return inputs;
  },

  async isCachedValid(task, ctx) {
    const target = task.warehouse?.materialize;
    if (!target) return true;
    const w = await getWarehouse();
    const physical = physicalTableName(target, ctx.key);
    // Dropped, or changed by another program since the run made it (materialized.ts): a damaged
    // output, so the task re-runs and makes it again.
    return (await w.tableExists(physical)) && (await materializedIntact(w, physical));
  },

  async aroundRun(task, ctx, run) {
    try {
      return await runWarehouseTask(task, ctx, run);
    } catch (e) {
      // Say which task and notebook cells a warehouse error came from.
      // The stack (with the query's site, origin.ts) is kept: the CLI reads the cell and line from it.
      if (e instanceof WarehouseError && !e.message.startsWith('task ')) {
        const missing = missingFile(e);
        throw keepTrail(
          missing
            ? new WarehouseError('E_WH_FILE', `${where(task)}${missing}`, e.details)
            : new WarehouseError(e.code, `${where(task)}${e.message}`, e.details),
          e,
        );
      }
      throw e;
    }
  },

  async estimate(task, ctx) {
    return estimateTask(task, ctx);
  },
};

async function runWarehouseTask(
  task: AnyTask,
  ctx: TaskRunContext,
  run: () => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  if (!task.warehouse) {
    // A task whose module shows no SQL: watched, without opening the warehouse, in case a helper
    // runs a query (tasks/reads.ts); checks on its rows need no warehouse either.
    const watch: TaskScope = {
      task: task.name,
      dialect: undefined,
      tables: new Map(),
      dryRun: undefined,
      reads: new Set(),
      files: new Set(),
      writes: new Set(),
    };
    // A task keyed with the warehouse (it ran a query before): its tables at the start.
    const keyed = ranSql(task) ? await baseline(await getWarehouse(), task, ctx) : null;
    const functionsBefore = keyed
      ? await functionsBaseline(await getWarehouse(), task, ctx)
      : undefined;
    const outputs = await endingSession(task, watch, () => runInScope(watch, run));
    if (watch.reads!.size > 0 || watch.files!.size > 0) {
      const w = await getWarehouse();
      noteRanSql(task);
      await afterRun(w, task, ctx, watch, keyed ?? {}, functionsBefore);
      noteUnseenReads(w, task, watch, upstreamTables(task, ctx));
    }
    if (task.checks.length > 0)
      await runChecks(task.checks, checkTargetOf(task, outputs), ctx.params, where(task));
    return outputs;
  }
  const w = await getWarehouse();
  const scope: TaskScope = {
    task: task.name,
    dialect: task.warehouse?.dialect,
    tables: tableMap(w, task, ctx.keysByTask),
    dryRun: undefined,
    reads: new Set(),
    files: new Set(),
    writes: new Set(),
  };
  const before = await baseline(w, task, ctx);
  const functionsBefore = await functionsBaseline(w, task, ctx);
  return endingSession(task, scope, () =>
    runInScope(scope, async () => {
      await checkSources(w, task, ctx);
      const outputs = await run();
      await afterRun(w, task, ctx, scope, before, functionsBefore);
      const target = task.warehouse?.materialize;
      const result: Record<string, unknown> = { ...outputs };
      let checked: { label: string; table?: TableRef; rows?: Row[] } | null = null;
      if (target) {
        const queries = Object.entries(outputs).filter(([, v]) => isQuery(v));
        if (queries.length !== 1) {
          throw new WarehouseError(
            'E_WH_MATERIALIZE',
            `${where(task)}\`//| materialize: ${target}\` needs exactly one sql\`\` query among the outputs, found ${queries.length} (outputs: ${Object.keys(outputs).join(', ')}). Return the Query itself, without await.`,
          );
        }
        const [name, query] = queries[0]!;
        const physical = physicalTableName(target, ctx.key);
        const max = maxBytesBilled();
        try {
          await w.createTableAs(
            physical,
            await prepareQuery(w, query as Query, scope),
            max ? { maxBytesBilled: max } : {},
          );
        } catch (e) {
          throw query instanceof Query ? query.located(e) : e;
        }
        const ref: TableRef = { kind: 'cellar.table', name: physical, logical: target };
        result[name] = ref;
        checked = { label: `table ${w.canonicalTable(physical)} (${target})`, table: ref };
      }
      // Other Query outputs are pulled into Node as rows: awaiting them is what the notebook did.
      for (const [name, value] of Object.entries(result)) {
        if (isQuery(value)) result[name] = await (value as Query);
      }
      if (task.checks.length > 0) {
        checked ??= checkTargetOf(task, result);
        try {
          await runChecks(task.checks, checked, ctx.params, where(task));
        } catch (e) {
          // A failed task leaves no output behind: drop the table it just created.
          if (checked.table && target) await w.dropTable(checked.table.name).catch(() => undefined);
          throw e;
        }
      }
      if (target && checked?.table) {
        await w.createView(target, checked.table.name);
        await recordMaterialized(w, checked.table.name);
      }
      noteUnseenReads(w, task, scope, [
        ...(target ? [physicalTableName(target, ctx.key), target] : []),
        ...upstreamTables(task, ctx),
      ]);
      return result;
    }),
  );
}

/**
 * Runs a task, then puts the warehouse's session state back (`Warehouse.endTaskSession`) when a
 * statement of it ran, whether it succeeded or failed: a task's `SET`/`PRAGMA`/`ATTACH` serves its
 * own later statements and ends with it. Why: on DuckDB they are global to the open instance, so
 * the next task in the thread ran under them, and its result (keyed without them) depended on
 * which task ran before it and on timing.
 */
async function endingSession<T>(task: AnyTask, scope: TaskScope, fn: () => Promise<T>): Promise<T> {
  let out: T;
  try {
    out = await fn();
  } catch (e) {
    // The task's own failure is the one to report; the state is put back all the same.
    if (scope.queried) await (await getWarehouse()).endTaskSession?.(task.name).catch(() => {});
    throw e;
  }
  if (scope.queried) await (await getWarehouse()).endTaskSession?.(task.name);
  return out;
}

/** The table versions the task's key named: from the job (the key's own inputs), else as this
 *  process keyed it, else the ones now (a runner that sends no key inputs). */
async function baseline(
  w: Warehouse,
  task: AnyTask,
  ctx: TaskRunContext,
): Promise<Record<string, string>> {
  const keyed = ctx.keyed?.warehouse;
  if (keyed) {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(keyed))
      if (k.startsWith('table:') && typeof v === 'string') out[k.slice(6)] = v;
    return out;
  }
  return (
    keyedVersions.get(taskId(task)) ??
    (await keyedTableVersions(w, task, recordedReads(w, task).tables))
  );
}

/** The user-defined functions' version the task's key named (null: none), as `baseline` finds
 *  the tables'; undefined on a warehouse that keys none (BigQuery). */
async function functionsBaseline(
  w: Warehouse,
  task: AnyTask,
  ctx: TaskRunContext,
): Promise<string | null | undefined> {
  if (!w.userFunctionsVersion) return undefined;
  const keyed = ctx.keyed?.warehouse;
  if (keyed) return typeof keyed.functions === 'string' ? keyed.functions : null;
  const id = taskId(task);
  return keyedFunctions.has(id) ? keyedFunctions.get(id)! : await w.userFunctionsVersion();
}

/**
 * DuckDB's IO error for a path that does not exist, in the task's terms: which file, resolved from
 * which folder (relative paths resolve from the folder the task runs in). Null for other errors.
 */
function missingFile(e: WarehouseError): string | null {
  const m =
    /IO Error: (?:No files found that match the pattern|Cannot open (?:file|database)) "([^"]+)"/.exec(
      e.message,
    );
  if (!m || !/^DuckDB: IO Error/.test(e.message)) return null;
  const path = m[1]!;
  const root = warehouseConfig().projectRoot;
  const shown = shownPath(root, fileRead(path), process.cwd());
  const from = relative(root, process.cwd()).split(sep).join('/') || '.';
  const what = /[*?[]/.test(path) ? `no file matches ${shown}` : `file ${shown} does not exist`;
  return `its SQL reads '${path}' but ${what} (relative paths resolve from the folder the task runs in: ${from}/ of the project, the notebook's folder unless --workdir says otherwise)`;
}

/** The tables upstream tasks materialised for this run (`${upstream}` in the SQL): their content is
 *  in the upstream keys already. */
function upstreamTables(task: AnyTask, ctx: TaskRunContext): string[] {
  const ups = [
    ...Object.values(task.inputs as Record<string, { task: AnyTask }>).map((i) => i.task),
    ...Object.values(task.warehouse?.tables ?? {}),
  ];
  return ups.flatMap((up) => {
    const m = up.warehouse?.materialize;
    const key = ctx.keysByTask[up.name];
    return m && key ? [physicalTableName(m, key), m] : [];
  });
}

/** Record the tables the task's queries read that its key did not hold: the compiled reads and
 *  upstream materialisations are in the key already; anything else came through code the compiler
 *  could not follow, and enters the key from the next run on (tasks/reads.ts). */
function noteUnseenReads(w: Warehouse, task: AnyTask, scope: TaskScope, own: string[]): void {
  const known = new Set([
    ...sourceTables(w, task),
    ...[...scope.tables.values(), ...own].map((t) => w.canonicalTable(t)),
  ]);
  const unseen = [...(scope.reads ?? [])].filter((t) => !known.has(t) && !t.startsWith('_cellar.'));
  // Files: relative paths were resolved from the working directory, which is the task's now.
  const root = warehouseConfig().projectRoot;
  const compiled = new Set(compiledFiles(task, process.cwd()));
  const files = [...(scope.files ?? [])]
    .map((f) => shownPath(root, fileRead(f), root))
    .filter((f) => !compiled.has(f));
  if (unseen.length > 0 || files.length > 0) recordReads(w, task, { tables: unseen, files });
}

/** What a check applies to when the task is not materialised: its only table-like output. */
function checkTargetOf(
  task: AnyTask,
  outputs: Record<string, unknown>,
): { label: string; table?: TableRef; rows?: Row[] } {
  const tables = Object.entries(outputs).filter(
    ([, v]) =>
      isTableRef(v) ||
      (Array.isArray(v) && (v.length === 0 || (typeof v[0] === 'object' && v[0] !== null))),
  );
  if (tables.length !== 1) {
    throw new WarehouseError(
      'E_WH_CHECK',
      `${where(task)}\`//| check\` needs one table-like output (rows, a Query or a table), found ${tables.length} among ${Object.keys(outputs).join(', ')}`,
    );
  }
  const [name, v] = tables[0]!;
  return isTableRef(v)
    ? { label: `table ${v.name}`, table: v }
    : { label: `output ${name} of task ${task.name}`, rows: v as Row[] };
}

/** Checks declared with `defineChecks` on the task's source tables, once per table version. */
async function checkSources(w: Warehouse, task: AnyTask, ctx: TaskRunContext): Promise<void> {
  for (const t of task.warehouse?.reads ?? []) {
    const checks = checksForSource(t);
    if (checks.length === 0) continue;
    const version = (await w.tableVersion(t))?.version ?? 'missing';
    const memo = `${w.canonicalTable(t)}@${version}`;
    if (checkedSources.get(memo) === checks.join('\n')) continue;
    await runChecks(
      checks,
      { label: `source table ${t}`, table: { kind: 'cellar.table', name: t } },
      ctx.params,
      where(task),
    );
    checkedSources.set(memo, checks.join('\n'));
  }
}

export const DUCKDB_NOTE = 'DuckDB does not bill by bytes';

export interface TaskEstimate {
  /** Bytes the task's queries would process; null when unknown (DuckDB, or not estimable). */
  bytes: number | null;
  queries: number;
  /** Why there is no figure, when there is none. */
  note?: string;
}

/**
 * Dry-run a task's SQL without running anything (`cellar run --dry-run`). Inputs that come from
 * materialised upstream tasks are known from the keys alone (their table names); a task that
 * needs any other upstream value cannot be estimated before that upstream runs.
 */
export async function estimateTask(task: AnyTask, ctx: TaskRunContext): Promise<TaskEstimate> {
  const w = await getWarehouse();
  if (w.kind === 'duckdb') return { bytes: null, queries: 0, note: DUCKDB_NOTE };
  const inputs: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(
    task.inputs as Record<string, { task: AnyTask; output: string }>,
  )) {
    const up = spec.task;
    const key = ctx.keysByTask[up.name];
    if (!up.warehouse?.materialize || !key)
      return { bytes: null, queries: 0, note: `needs the output of task ${up.name}` };
    inputs[name] = new TableHandle(
      physicalTableName(up.warehouse.materialize, key),
      up.warehouse.materialize,
    );
  }
  const scope: TaskScope = {
    task: task.name,
    dialect: task.warehouse?.dialect,
    tables: tableMap(w, task, ctx.keysByTask),
    dryRun: { bytes: 0, queries: 0, unknown: false },
  };
  try {
    await runInScope(scope, async () => {
      const outputs = (await task.run(inputs, ctx.params)) as Record<string, unknown>;
      for (const v of Object.values(outputs ?? {})) {
        if (!isQuery(v)) continue;
        const { bytes } = await w.dryRun(await prepareQuery(w, v as Query, scope));
        scope.dryRun!.queries++;
        if (bytes === null) scope.dryRun!.unknown = true;
        else scope.dryRun!.bytes += bytes;
      }
    });
  } catch (e) {
    return {
      bytes: null,
      queries: scope.dryRun!.queries,
      note: `could not dry-run: ${(e as Error).message.split('\n')[0]}`,
    };
  }
  const d = scope.dryRun!;
  if (d.unknown) return { bytes: null, queries: d.queries, note: 'no estimate' };
  return { bytes: d.bytes, queries: d.queries };
}

/** Every materialised table of a pipeline for a set of keys (for `cellar show` and cleanup). */
export function materializedTables(
  pipeline: Pipeline,
  keysByTask: Record<string, string>,
): { task: string; logical: string; physical: string }[] {
  return pipeline.tasks
    .filter((t) => t.warehouse?.materialize && keysByTask[t.name])
    .map((t) => ({
      task: t.name,
      logical: t.warehouse!.materialize!,
      physical: physicalTableName(t.warehouse!.materialize!, keysByTask[t.name]!),
    }));
}

export interface PruneResult {
  dropped: string[];
  kept: string[];
}

/**
 * Drop materialisations of a pipeline's tasks other than the ones for `keysByTask` (old keys pile
 * up like old cache files). Only tables named exactly `<table>_<12 hex>` for a materialised
 * logical table are candidates; anything else in the dataset is left alone. `dryRun` lists only.
 */
export async function pruneMaterializations(
  pipeline: Pipeline,
  keysByTask: Record<string, string>,
  opts: { dryRun?: boolean } = {},
): Promise<PruneResult> {
  const w = await getWarehouse();
  const result: PruneResult = { dropped: [], kept: [] };
  for (const t of pipeline.tasks) {
    const target = t.warehouse?.materialize;
    const key = keysByTask[t.name];
    if (!target || !key) continue;
    const parts = w.tableParts(target);
    const base = parts[parts.length - 1]!;
    const current = w.canonicalTable(physicalTableName(target, key));
    const pattern = new RegExp(
      `^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_[0-9a-f]{${SUFFIX}}$`,
    );
    for (const table of await w.listTables(parts.slice(0, -1).join('.'))) {
      const name = table.split('.').pop()!;
      if (!pattern.test(name)) continue;
      if (table === current) result.kept.push(table);
      else {
        if (!opts.dryRun) await w.dropTable(table);
        result.dropped.push(table);
      }
    }
  }
  return result;
}
