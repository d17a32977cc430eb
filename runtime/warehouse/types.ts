// The shared vocabulary of the warehouse layer: what an adapter must do, what rows look like when
// they reach Node, and the errors it reports.
//
// Two adapters implement `Warehouse` (DuckDB embedded, BigQuery through its client library); the
// `sql` template, the task hooks, checks and seeding only ever talk to this interface, so a test
// can run one suite against both. Pure: no `node:*` imports.
import type { SqlDialect } from '../task.js';
import type { RuntimeCode } from '../codes.js';
import type { DynamicRead } from './sql/files.js';

export type { SqlDialect };

/** A JSON-safe value as it reaches Node: INT64 becomes a number when safe (else a decimal string),
 *  DATE is `YYYY-MM-DD`, TIMESTAMP an ISO string in UTC, BYTES base64. Never a `bigint`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type Row = Record<string, JsonValue>;

/** Logical column types, the same words on both adapters (and in `//| check: columns`). */
export type LogicalType =
  'string' | 'number' | 'boolean' | 'date' | 'timestamp' | 'bytes' | 'array' | 'struct' | 'other';

export interface ColumnSchema {
  name: string;
  /** The warehouse's own type name (`BIGINT`, `INT64`, ...), for messages and docs. */
  type: string;
  logical: LogicalType;
}

/** One columnar batch: every column as an array of the same length. */
export interface ColumnBatch {
  schema: ColumnSchema[];
  rowCount: number;
  columns: Record<string, JsonValue[]>;
}

/** BigQuery parameter types; DuckDB binds the equivalent type. */
export type ParamType =
  'STRING' | 'INT64' | 'FLOAT64' | 'BOOL' | 'TIMESTAMP' | 'DATE' | 'BYTES' | `ARRAY<${string}>`;

/** One bound query parameter, with its type made explicit (null and arrays need it). */
export interface BoundParam {
  name: string;
  type: ParamType;
  value: unknown;
}

/** SQL text ready for one warehouse: identifiers resolved, dialect translated, placeholders in
 *  the warehouse's own syntax (`@p0` on BigQuery, `$1` on DuckDB). */
export interface PreparedQuery {
  text: string;
  params: BoundParam[];
  /** Physical tables the text reads, for messages and dry runs. */
  tables: string[];
}

export interface QueryOptions {
  /** Rows per page / batch when streaming. */
  pageSize?: number;
  /** Refuse when the warehouse would bill more than this (BigQuery `maximumBytesBilled`). */
  maxBytesBilled?: number;
}

/** A table's version for cache keys: changes whenever its data changes (as far as the adapter can
 *  tell; see each adapter's header for the limits). `null` when the table does not exist. */
export interface TableVersion {
  table: string;
  version: string;
  /** Where the version came from, so `--dry-run` can explain a re-run. */
  source:
    | 'bigquery.lastModifiedTime'
    | 'bigquery.view'
    | 'cellar.registry'
    | 'duckdb.fingerprint'
    | 'duckdb.view'
    | 'duckdb.catalog';
}

export interface DryRunResult {
  /** Bytes the query would process; `null` where the warehouse does not bill by bytes. */
  bytes: number | null;
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'bigquery';
  /** The dialect this warehouse runs natively. */
  readonly dialect: SqlDialect;
  /** Human-readable location for messages: a file path or `project/location`. */
  readonly describe: string;
  /** Which warehouse this is, for cache keys: results of one never serve another. DuckDB:
   *  `duckdb:<id written into the database file>`; BigQuery: `bigquery:<project>`. */
  readonly identity: string;
  /** The physical name parts of a written table name (`proj.ds.t`, `ds.t`) on this warehouse. */
  tableParts(name: string | string[]): string[];
  /** Canonical `ds.t` / `proj.ds.t` form of a logical name, used as a key in registries. */
  canonicalTable(name: string): string;
  query(q: PreparedQuery, opts?: QueryOptions): Promise<{ rows: Row[]; schema: ColumnSchema[] }>;
  /** Streams row batches; only one page is held at a time. */
  stream(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<Row[]>;
  /** Streams columnar batches. */
  columns(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<ColumnBatch>;
  /** Runs a statement that returns no rows (DDL/DML); records a write to `writes` tables. */
  execute(q: PreparedQuery, writes?: string[], opts?: QueryOptions): Promise<void>;
  dryRun(q: PreparedQuery): Promise<DryRunResult>;
  /** Atomically creates `table` from `q` (replacing it when present). */
  createTableAs(table: string, q: PreparedQuery, opts?: QueryOptions): Promise<void>;
  /** Points the view `view` at `table` (the newest materialisation of a logical table). */
  createView(view: string, table: string): Promise<void>;
  dropTable(table: string): Promise<void>;
  tableExists(table: string): Promise<boolean>;
  /** Tables and views in a dataset (DuckDB: schema), as full names like `tableParts` gives. */
  listTables(dataset: string): Promise<string[]>;
  tableSchema(table: string): Promise<ColumnSchema[] | null>;
  tableVersion(table: string): Promise<TableVersion | null>;
  /**
   * A hash (16 hex) of the definitions of every user-defined function and macro of the warehouse
   * (DuckDB: `CREATE MACRO`, in any schema, temporary ones too), or null when there is none or the
   * warehouse cannot list them (BigQuery routines are not listed yet). A query calling `addk(v)`
   * computes what `addk`'s definition says: a redefinition must change its readers' keys.
   */
  userFunctionsVersion?(): Promise<string | null>;
  /**
   * The tables a statement in this warehouse's dialect reads, from the warehouse's own parser
   * (DuckDB: `json_serialize_sql`, table macros followed, a catalog read as
   * `information_schema.tables`), or null when it cannot tell (the caller scans the text).
   */
  statementReads?(text: string, params?: readonly unknown[]): Promise<StatementReads | null>;
  /**
   * The path(s) a file-reading call's argument expression names (`'data/' || $1 || '.csv'`,
   * `concat(…)`, `lower(…)`), evaluated by the warehouse as it binds the call: a table function's
   * arguments are constants, so the value is the one the statement reads. `read.sql` is
   * evaluated with `params` bound (`$n` in it is the n-th); `read.call` and `read.expr` name it
   * in the error.
   * @throws WarehouseError E_WH_DYNAMIC_READ when the expression does not evaluate to a path or
   * a list of paths on its own (it names a column, say): what the call reads cannot be keyed.
   */
  pathsOf?(
    read: Pick<DynamicRead, 'call' | 'expr' | 'sql'>,
    params: readonly BoundParam[],
  ): Promise<string[]>;
  /**
   * Puts the warehouse's shared state back as it was before `task` ran (DuckDB: settings a `SET`
   * or `PRAGMA` changed, databases an `ATTACH` added), so one task's session state never reaches
   * another task's results (which are keyed without it). Called when a task that ran SQL ends,
   * failed or not. Returns what was undone, for messages.
   */
  endTaskSession?(task: string): Promise<{ settings: string[]; detached: string[] }>;
  /** Notes that `task` ran `ATTACH … AS alias`: a later task naming the alias without its own
   *  ATTACH is told where the database came from (the attach lasts until the task ends). */
  noteAttach?(alias: string, task: string): void;
  /** Appends rows to an existing table (tests, seeds, small uploads). */
  insertRows(table: string, rows: Row[]): Promise<void>;
  close(): Promise<void>;
  /** Where translated SQL is remembered across processes (DuckDB keeps it in the database file),
   *  so a re-run never loads the translator. */
  readonly translations?: {
    get(key: string): Promise<string | null>;
    put(key: string, text: string): Promise<void>;
  };
}

/** What a statement reads, from the warehouse's own parse (`Warehouse.statementReads`). */
export interface StatementReads {
  /** Tables and views, as written (`schema.table`, or `table` when unqualified). */
  tables: string[];
  /** SQL the statement runs indirectly: the bodies of the user macros it calls (table macros as
   *  they are, scalar ones as `SELECT <body>`) and the literal text of `query('…')`. The files they
   *  name by path are read by the statement too. */
  texts: string[];
}

/** Stable error codes, so the CLI and tests match on codes rather than wording: the `E_WH_*`
 *  entries of the runtime's catalogue (runtime/codes.ts). */
export type WarehouseErrorCode = Extract<RuntimeCode, `E_WH_${string}`>;

export class WarehouseError extends Error {
  override name = 'WarehouseError';
  constructor(
    readonly code: WarehouseErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
