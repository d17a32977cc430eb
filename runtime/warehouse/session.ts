// The process-wide warehouse and the per-task scope, and the one function that turns a `sql`
// template into text for a given warehouse (`prepareQuery`).
//
// A notebook kernel and a pipeline process each open one warehouse, lazily, on the first query
// (so importing 'cellar' stays cheap). While a task runs, the warehouse hooks open a scope
// (AsyncLocalStorage, so concurrent tasks do not see each other's scope) holding the task's
// dialect and its logical → physical table map: `mart.daily` in the SQL text, or a Query
// interpolated from an upstream task, then names this run's table `mart.daily_<key>`.
import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { SqlDialect } from '../task.js';
import { compose, MARKER, placeMarkers, quoteIdent, type QueryTemplate } from './sql/compose.js';
import { loadWarehouseConfig, type WarehouseConfig } from './config.js';
import { onWarehouseProjectChange, warehouseProjectRoot } from './project-root.js';
import { sha256 } from '../key/hash.js';
import { checkRefusals, memoisedTranslation, translate, TRANSLATION_ID } from './sql/dialect.js';
import { helperTranspile } from './sql/translator.js';
import { oneWordTables, replacedTable, rewriteTables, writeTarget } from './sql/names.js';
import { copyFolders, copyTargets, fileRead, fileReads } from './sql/files.js';
import { WarehouseError, type PreparedQuery, type Warehouse } from './types.js';
import { noteWritten, untracked } from '../run/read-record.js';

/** A DuckDB statement, after leading comments, that reads the catalog but is no SELECT. */
const CATALOG_STATEMENT = /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:PRAGMA|CALL)\b/i;

/**
 * A path as DuckDB opens it: `~` and `~/…` expand to the home directory (DuckDB's `$HOME`, the
 * process's environment), so `read_csv('~/x.csv')` is keyed on the file it reads, and a changed
 * HOME changes the key. Other paths are returned as they are (relative ones resolve later).
 */
export function expandHome(path: string): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  const home = process.env.HOME || homedir();
  return path === '~' ? home : join(home, path.slice(2));
}

export interface TaskScope {
  task: string;
  dialect: SqlDialect | undefined;
  /** Canonical logical name (on the active warehouse) → physical table name. */
  tables: Map<string, string>;
  /** When set, queries are dry-run and their bytes added here instead of running. */
  dryRun: { bytes: number; queries: number; unknown: boolean } | undefined;
  /** Every physical table the task's queries named, wherever the query text lives (tasks/reads.ts). */
  reads?: Set<string>;
  /** Every table the task's statements wrote (INSERT/CREATE/…), canonical. */
  writes?: Set<string>;
  /** Tables the task made anew (`CREATE [OR REPLACE] TABLE`), canonical: its later reads of them
   *  are of its own work, not inputs (sql/names.ts `replacedTable`). */
  replaced?: Set<string>;
  /** Every file a DuckDB statement of the task read by path (absolute; URLs as written), after
   *  parameter binding, wherever the query text lives (tasks/files.ts). */
  files?: Set<string>;
  /** Set when a statement of the task made, replaced or dropped a user-defined function or
   *  macro: the change of the database's functions while it ran is its own work. */
  definesFunctions?: boolean;
  /** Set when a statement of the task was prepared to run: its session state is put back when
   *  the task ends (`Warehouse.endTaskSession`). */
  queried?: boolean;
  /** The warehouse this scope's queries run on, instead of the process's (a fixture replay's
   *  in-memory DuckDB: runtime/testing/warehouse-replay.ts). */
  warehouse?: Warehouse;
}

const scopes = new AsyncLocalStorage<TaskScope>();

/** `ATTACH [DATABASE] [IF NOT EXISTS] 'path' [AS alias]` at the start of a statement. */
const ATTACH_ALIAS =
  /^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*ATTACH\s+(?:DATABASE\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:'((?:[^']|'')*)'|(\S+))(?:\s+AS\s+(?:"((?:[^"]|"")*)"|(\w+)))?/i;

/** The alias an ATTACH gives: its `AS` name, else the file's name without its extension. */
function attachAlias(m: RegExpExecArray): string {
  const alias = m[3]?.replace(/""/g, '"') ?? m[4];
  if (alias) return alias;
  const path = (m[1]?.replace(/''/g, "'") ?? m[2] ?? '').split(/[\\/]/).pop() ?? '';
  return path.replace(/\.[^.]*$/, '');
}

/** A statement making, replacing or dropping a function or macro (anywhere in the text: a false
 *  match only leaves the task's own "functions changed while it ran" check out). */
const DEFINES_FUNCTION =
  /\b(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:MACRO|FUNCTION)|DROP\s+(?:MACRO|FUNCTION))\b/i;

export function runInScope<T>(scope: TaskScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}
export function currentScope(): TaskScope | undefined {
  return scopes.getStore();
}

let active: Promise<Warehouse> | null = null;
let activeConfig: WarehouseConfig | null = null;
let override: { warehouse: Warehouse; dialect: SqlDialect; maxBytesBilled: number | null } | null =
  null;

export function warehouseConfig(): WarehouseConfig {
  // Cellar's own reads, not the task's (run/read-record.ts): the first task to query opens these.
  activeConfig ??= untracked(() => loadWarehouseConfig(warehouseProjectRoot() ?? process.cwd()));
  return activeConfig;
}

// A run named another project (project-root.ts): a warehouse opened from this one is closed.
onWarehouseProjectChange((root) => {
  if (!activeConfig || activeConfig.projectRoot === root) return;
  activeConfig = null;
  const opened = active;
  active = null;
  void opened?.then((w) => w.close()).catch(() => undefined);
});

/** Use this warehouse for every `sql` query in the process (tests, the CLI, a custom setup).
 *  `null` goes back to the configured one. */
export function useWarehouse(
  w: Warehouse | null,
  opts: { dialect?: SqlDialect; maxBytesBilled?: number | null } = {},
): void {
  override = w
    ? {
        warehouse: w,
        dialect: opts.dialect ?? 'bigquery',
        maxBytesBilled: opts.maxBytesBilled ?? null,
      }
    : null;
}

/** The warehouse `sql` queries run on: the current task scope's, else the one set by `useWarehouse`, else the configured one,
 *  opened (and, for DuckDB, seeded with the example tables) on first use. */
export async function getWarehouse(): Promise<Warehouse> {
  const scoped = currentScope()?.warehouse;
  if (scoped) return scoped;
  if (override) return override.warehouse;
  active ??= untracked(() => openConfigured(warehouseConfig())).catch((e) => {
    active = null;
    throw e;
  });
  return active;
}

async function openConfigured(cfg: WarehouseConfig): Promise<Warehouse> {
  if (cfg.kind === 'bigquery') {
    const { openBigQuery } = await import('./adapters/bigquery.js');
    return openBigQuery(cfg.bigquery);
  }
  const { openDuckDB } = await import('./adapters/duckdb.js');
  const w = await openDuckDB(cfg.duckdb);
  if (cfg.duckdb.seed) {
    const { seedExamples } = await import('./adapters/duckdb-seed.js');
    await seedExamples(w, cfg.projectRoot);
  }
  return w;
}

/**
 * Closes the process's shared warehouse connection (the one `useWarehouse`/`getWarehouse` open
 * from cellar.config.json), if one is open; the next use opens a new one. For scripts and tests
 * that must release the DuckDB file (its lease) before exiting or handing it to another process.
 */
export async function closeWarehouse(): Promise<void> {
  const w = active;
  active = null;
  if (w) await (await w).close();
}

export function defaultDialect(): SqlDialect {
  return currentScope()?.dialect ?? override?.dialect ?? warehouseConfig().dialect;
}

export function maxBytesBilled(): number | null {
  return override ? override.maxBytesBilled : warehouseConfig().maxBytesBilled;
}

export interface Prepared extends PreparedQuery {
  /** The table the statement writes, when it is INSERT/CREATE/…; canonical on the warehouse. */
  writes: string | null;
  /** The source text, in its own dialect, after table mapping (for messages and `toSQL`). */
  source: string;
  sourceDialect: SqlDialect;
  /**
   * Absolute folders a DuckDB `COPY … (PARTITION_BY …)` fills with files it names: noted as the
   * task's side-effect outputs once the statement ran (`noteFolderWrites`). Absent: none.
   */
  writesFolders?: string[];
}

/**
 * Note each file now under the folders a statement filled (`Prepared.writesFolders`) as written by
 * the current task: a cache hit is then served only while they hold what this run wrote, as for a
 * single `COPY … TO` file. The walk itself is no read of the task's. Outside a task: nothing.
 */
export function noteFolderWrites(p: Prepared): void {
  if (!p.writesFolders) return;
  const files = untracked(() =>
    p.writesFolders!.flatMap((dir) => {
      try {
        return readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name));
      } catch {
        return []; // no rows, no folder: nothing written
      }
    }),
  );
  for (const f of files) noteWritten(f);
}

/** Compose, map table names, translate, place parameters: a template ready for `w`. */
export async function prepareQuery(
  w: Warehouse,
  q: QueryTemplate,
  scope: TaskScope | undefined = currentScope(),
): Promise<Prepared> {
  const composed = compose(q, scope?.dialect ?? defaultDialect());
  if (scope && !scope.dryRun) scope.queried = true;
  const from = composed.dialect;
  const translating = from !== w.dialect;
  const tables: string[] = [];
  const targets: string[][] = [];
  const resolve = (parts: string[]): string | null => {
    const logical = w.canonicalTable(parts.join('.'));
    const physical = scope?.tables.get(logical);
    const target = physical ? w.tableParts(physical) : w.tableParts(parts);
    tables.push(target.join('.'));
    if (translating) {
      // A marker the translator passes through: the translation (and its cache entry) then
      // depends on the query's shape only, not on this run's physical table names.
      targets.push(target);
      return tableMarker(targets.length - 1);
    }
    // Rewrite only when something changes; otherwise keep the text as the user wrote it.
    return physical ? quoteIdent(target, from) : null;
  };
  const shaped = rewriteTables(composed.text, resolve, from);
  const source = translating
    ? shaped.replace(TABLE_MARKER, (_m, i: string) => quoteIdent(targets[Number(i)]!, from))
    : shaped;
  const target = writeTarget(source);
  let text: string;
  try {
    text = await untracked(() => translateFor(w, shaped, from));
  } catch (e) {
    throw inUserTerms(
      e,
      targets.map((t) => quoteIdent(t, from)),
    );
  }
  if (translating)
    text = text.replace(TABLE_MARKER, (_m, i: string) =>
      quoteIdent(targets[Number(i)]!, w.dialect),
    );
  if (scope?.writes && target) scope.writes.add(w.canonicalTable(target.join('.')));
  if (scope && DEFINES_FUNCTION.test(source)) scope.definesFunctions = true;
  // Which task attached a database, for the message of a later task using it without attaching
  // it (the attach ends with the task: Warehouse.endTaskSession). Noted when prepared, since the
  // instance may close (and lose the attach) before the task ends.
  const attached = scope && w.noteAttach ? ATTACH_ALIAS.exec(source) : null;
  if (attached) w.noteAttach!(attachAlias(attached), scope!.task);
  const placed = placeMarkers(text, w.dialect);
  let indirect: string[] = [];
  if (scope?.reads) {
    // A table this task made anew in an earlier statement holds its own work: not an input. Nor
    // is the table a `CREATE [OR REPLACE] TABLE t AS …` makes, unless its query names it too.
    const made = replacedTable(source);
    const madeName = made ? w.canonicalTable(w.tableParts(made).join('.')) : undefined;
    const selfRead =
      madeName !== undefined && tables.filter((t) => w.canonicalTable(t) === madeName).length > 1;
    const replaced = scope.replaced;
    const read = (t: string) => {
      const name = w.canonicalTable(t);
      if (replaced?.has(name) || (name === madeName && !selfRead)) return;
      scope.reads!.add(name);
    };
    for (const t of tables) read(t);
    // The warehouse's own parse of the text it runs, where it has one (DuckDB): every table of a
    // comma join, quoted names, subqueries, a table macro's tables, the catalog
    // (sql/parsed-reads.ts). Else the scanner: DuckDB reads `FROM t` from the current schema, so a
    // helper's one-word name is in the key too (the rewrite above takes only qualified names,
    // since one word may be a CTE).
    const parsed = w.statementReads
      ? await untracked(() =>
          w.statementReads!(
            placed,
            composed.params.map((p) => p.value),
          ),
        )
      : null;
    if (parsed) for (const t of parsed.tables) read(t);
    else if (w.kind === 'duckdb') {
      for (const t of oneWordTables(composed.text, from)) read(t);
      // `PRAGMA show_tables`, `PRAGMA table_info('t')`, `CALL duckdb_tables()`: no SELECT for
      // DuckDB to serialise, and answered from the catalog.
      if (CATALOG_STATEMENT.test(composed.text))
        scope.reads.add(w.canonicalTable('information_schema.tables'));
    }
    indirect = parsed?.texts ?? [];
    if (madeName !== undefined) (scope.replaced ??= new Set()).add(madeName);
  }
  // Files named by path in the text DuckDB runs, with the bound values in place of `$n`: a path
  // from a setup helper or an interpolated value is seen here, whatever the compiler could list.
  // DuckDB resolves relative paths from the working directory, which is the task's while it runs.
  if (scope?.files && w.kind === 'duckdb') {
    const found = fileReads(
      placed,
      'duckdb',
      composed.params.map((p) => p.value),
    );
    const computed = found.dynamic.map((d) => ({
      ...d,
      values: d.params.map((i) => composed.params[i]!),
    }));
    // And the files of the SQL it runs indirectly: macro bodies (`FROM shop.tm_x()`, `SELECT
    // shop.cnt()`) and `query('…')` text, which the scan of the statement's own text cannot see.
    for (const t of indirect) {
      const inner = fileReads(t, 'duckdb');
      found.reads.push(...inner.reads);
      for (const d of inner.dynamic) computed.push({ ...d, values: [] });
    }
    // A path computed in the SQL (`'data/' || $1 || '.csv'`, `lower(…)`): evaluated as DuckDB
    // binds it (a table function's arguments are constants), else refused, never left unkeyed.
    for (const d of computed)
      for (const path of await untracked(() => w.pathsOf!(d, d.values)))
        found.reads.push(fileRead(path));
    for (const r of found.reads)
      scope.files.add(r.kind === 'url' ? r.path : resolvePath(expandHome(r.path)));
  }
  // `COPY … TO 'out/report.csv'` writes a file as `writeFileSync` would: the task's side-effect
  // output (run/read-record.ts), so a cache hit is served only while the file holds what the run
  // wrote. Noted when the statement is prepared to run, in the task's context.
  if (scope && !scope.dryRun && w.kind === 'duckdb')
    for (const p of copyTargets(
      placed,
      composed.params.map((x) => x.value),
    ))
      noteWritten(resolvePath(expandHome(p)));
  const folders =
    scope && !scope.dryRun && w.kind === 'duckdb'
      ? copyFolders(
          placed,
          composed.params.map((x) => x.value),
        ).map((p) => resolvePath(expandHome(p)))
      : [];
  return {
    ...(folders.length > 0 ? { writesFolders: folders } : {}),
    text: placed,
    params: composed.params,
    tables: [...new Set(tables)].sort(),
    writes: target ? w.canonicalTable(target.join('.')) : null,
    source,
    sourceDialect: from,
  };
}

/**
 * A translation failure in the user's own terms: the markers that crossed the translator become
 * the tables the user named and `${…}` for interpolated values (the CLI names the cell and line
 * where the expression is); the names of our own rewrites become the functions the user wrote.
 */
function inUserTerms(e: unknown, tables: string[]): unknown {
  if (!(e instanceof WarehouseError)) return e;
  const clean = (t: string) =>
    t
      .replace(TABLE_MARKER, (m, i: string) => tables[Number(i)] ?? m)
      .replace(MARKER, '${…}')
      .replace(/__cellar_fn_regexp_matches\b/g, 'REGEXP_CONTAINS')
      .replace(/__cellar_fn_regexp_extract\b/g, 'REGEXP_EXTRACT');
  const details = {
    ...e.details,
    ...(typeof e.details.sql === 'string' ? { sql: clean(e.details.sql) } : {}),
  };
  return new WarehouseError(e.code, clean(e.message), details);
}

const TABLE_MARKER = /__cellar_t(\d+)__/g;
const tableMarker = (i: number) => `__cellar_t${i}__`;

/** Translate for `w`, from the process memo, then the warehouse's own cache, then the translator
 *  (in a helper process, translator.ts, started only on a miss). */
async function translateFor(w: Warehouse, text: string, from: SqlDialect): Promise<string> {
  if (from === w.dialect) return text;
  const hit = memoisedTranslation(text, from, w.dialect);
  if (hit !== undefined) return hit;
  const key = sha256(`${TRANSLATION_ID}\u0000${from}>${w.dialect}\u0000${text}`).slice(0, 32);
  // Same-text queries started together (Promise.all) share one lookup and one translation.
  const flight = `${w.describe}\u0000${key}`;
  let pending = inFlight.get(flight);
  if (!pending) {
    pending = lookUpOrTranslate(w, key, text, from).finally(() => inFlight.delete(flight));
    inFlight.set(flight, pending);
  }
  return pending;
}

const inFlight = new Map<string, Promise<string>>();

async function lookUpOrTranslate(
  w: Warehouse,
  key: string,
  text: string,
  from: SqlDialect,
): Promise<string> {
  if (w.translations) {
    const cached = await w.translations.get(key);
    if (cached !== null) {
      if (from === 'bigquery') checkRefusals(text);
      return cached;
    }
  }
  const out = await translate(text, from, w.dialect, helperTranspile);
  // The cache entry is an optimisation: failing to write it never fails the user's query (the
  // adapter's write is idempotent and serialised; this guards against anything else).
  if (w.translations) await w.translations.put(key, out).catch(() => undefined);
  return out;
}
