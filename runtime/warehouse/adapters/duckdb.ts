// The embedded default warehouse: one DuckDB database file in the workspace
// (`<project>/.cellar/warehouse.duckdb`), or `:memory:` — its own in-memory twin for tests.
//
// Table versions (for cache keys). DuckDB keeps no per-table modification time, so cellar keeps
// one: `_cellar.table_versions` holds a counter per table, bumped by every write that goes
// through cellar (materialisation, `insertRows`, seeding, INSERT/UPDATE/DELETE/CREATE run with
// `sql`). A table's version is that counter plus a cheap fingerprint read from DuckDB's catalog:
// the estimated row count and the table's DDL (columns and types). Limits, stated plainly: a write
// made *outside* cellar (the duckdb CLI, another program) is noticed when it changes the row
// count or the columns, not when it updates values in place with the same row count; set
// `duckdb.fingerprint: 'content'` in the config to add a content hash (about 0.2 s per 3M rows).
//
// Each operation opens its own connection (cheap in DuckDB), so a stream and a query can run at
// once; the database file itself is opened only while leased (lease.ts), so worker threads and
// other processes (a notebook kernel and `cellar run`) take turns instead of corrupting it. DuckDB here has no ICU extension, so there are no time zones: TIMESTAMP is UTC.
import {
  BIGINT,
  BOOLEAN,
  DATE,
  DOUBLE,
  BLOB,
  TIMESTAMP,
  VARCHAR,
  LIST,
  DuckDBDateValue,
  blobValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  type DuckDBConnection,
  type DuckDBListType,
  type DuckDBStructType,
  type DuckDBDataChunk,
  type DuckDBPreparedStatement,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { sha256 } from '../../key/hash.js';
import { DuckDBLease } from './duckdb-lease.js';
import { splitTableName } from '../sql/names.js';
import { base64, intFromBigInt, isoFromMicros, logicalFromDuckDB } from './values.js';
import {
  WarehouseError,
  type BoundParam,
  type ColumnBatch,
  type ColumnSchema,
  type DryRunResult,
  type JsonValue,
  type PreparedQuery,
  type QueryOptions,
  type Row,
  type TableVersion,
  type Warehouse,
} from '../types.js';

export interface DuckDBWarehouseOptions {
  /** Database file, or ':memory:'. */
  path: string;
  threads?: number;
  /** 'catalog' (default): registry + row count + DDL. 'content': also a hash of every row. */
  fingerprint?: 'catalog' | 'content';
  /** Close the file after this long without queries (lease.ts). */
  idleMs?: number;
}

const DEFAULT_PAGE = 10_000;

interface ConvertedChunk {
  schema: ColumnSchema[];
  rowCount: number;
  /** Column-major, already JSON-safe. */
  columns: JsonValue[][];
}

function appendRows(out: Row[], chunk: ConvertedChunk, from: number, to: number): void {
  const names = chunk.schema.map((s) => s.name);
  const cols = chunk.columns;
  for (let r = from; r < to; r++) {
    const row: Row = {};
    for (let c = 0; c < names.length; c++) row[names[c]!] = cols[c]![r]!;
    out.push(row);
  }
}

export async function openDuckDB(opts: DuckDBWarehouseOptions): Promise<DuckDBWarehouse> {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const lease = new DuckDBLease({
    path: opts.path,
    threads: opts.threads ?? 2,
    ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}),
    onOpen: async (instance) => {
      const c = await instance.connect();
      try {
        await c.run('CREATE SCHEMA IF NOT EXISTS _cellar');
        await c.run('CREATE TABLE IF NOT EXISTS _cellar.table_versions (name VARCHAR PRIMARY KEY, version BIGINT NOT NULL, modified_at TIMESTAMP NOT NULL)');
        await c.run('CREATE TABLE IF NOT EXISTS _cellar.translations (key VARCHAR PRIMARY KEY, sql VARCHAR NOT NULL)');
      } finally {
        c.closeSync();
      }
    },
  });
  // Open once now, so a bad path fails here rather than at the first query.
  await lease.with(async () => undefined);
  return new DuckDBWarehouse(lease, opts);
}

export class DuckDBWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly dialect = 'duckdb' as const;
  readonly describe: string;

  constructor(
    private readonly lease: DuckDBLease,
    private readonly opts: DuckDBWarehouseOptions,
  ) {
    this.describe = `duckdb:${opts.path}`;
  }

  /** Translated SQL by key (session.ts): the translator's WASM costs ~190 MB of memory and 0.3 s
   *  to start, so a process whose queries were all translated before never loads it. */
  readonly translations = {
    get: (key: string): Promise<string | null> =>
      this.withConnection(async (c) => {
        const r = await c.runAndReadAll('SELECT sql FROM _cellar.translations WHERE key = $1', [key]);
        return ((r.getRowObjectsJson()[0] as { sql?: string } | undefined)?.sql ?? null) as string | null;
      }),
    put: (key: string, text: string): Promise<void> =>
      this.withConnection(async (c) => {
        await c.run('INSERT INTO _cellar.translations VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, text]);
      }),
  };

  /** `proj.ds.t` and `ds.t` → `[ds, t]`; `t` → `[main, t]`. The project is dropped: one DuckDB
   *  file stands for one project. */
  tableParts(name: string | string[]): string[] {
    const parts = typeof name === 'string' ? splitTableName(name) : name;
    if (parts.length === 1) return ['main', parts[0]!];
    return parts.slice(-2);
  }

  canonicalTable(name: string): string {
    return this.tableParts(name).join('.');
  }

  private quote(name: string): string {
    return this.tableParts(name)
      .map((p) => '"' + p.replace(/"/g, '""') + '"')
      .join('.');
  }

  /** Run `fn` on a fresh connection while holding the file lease (lease.ts). */
  async withConnection<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    return this.lease.with(async (instance) => {
      const c = await instance.connect();
      try {
        return await fn(c);
      } finally {
        c.closeSync();
      }
    });
  }

  private async prepare(c: DuckDBConnection, q: PreparedQuery): Promise<DuckDBPreparedStatement> {
    let stmt: DuckDBPreparedStatement;
    try {
      stmt = await c.prepare(q.text);
    } catch (e) {
      throw queryError(e, q);
    }
    q.params.forEach((p, i) => bindParam(stmt, i + 1, p));
    return stmt;
  }

  /** All rows (`opts` has nothing for DuckDB: no paging, no billing). */
  async query(q: PreparedQuery, _opts?: QueryOptions): Promise<{ rows: Row[]; schema: ColumnSchema[] }> {
    const rows: Row[] = [];
    let schema: ColumnSchema[] | null = null;
    for await (const chunk of this.chunks(q)) {
      schema = chunk.schema;
      appendRows(rows, chunk, 0, chunk.rowCount);
    }
    return { rows, schema: schema ?? (await this.describeQuery(q)) };
  }

  private async describeQuery(q: PreparedQuery): Promise<ColumnSchema[]> {
    return this.withConnection(async (c) => {
      const stmt = await this.prepare(c, q);
      const result = await stmt.run();
      return result.columnNames().map((name, i) => ({ name, type: result.columnType(i).toString(), logical: logicalFromDuckDB(result.columnType(i).toString()) }));
    });
  }

  /** Row pages, built straight from each 2048-row DuckDB chunk (no columnar detour, no copies). */
  async *stream(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<Row[]> {
    const pageSize = opts?.pageSize ?? DEFAULT_PAGE;
    let page: Row[] = [];
    for await (const chunk of this.chunks(q)) {
      let from = 0;
      while (from < chunk.rowCount) {
        const to = Math.min(chunk.rowCount, from + (pageSize - page.length));
        appendRows(page, chunk, from, to);
        from = to;
        if (page.length >= pageSize) {
          yield page;
          page = [];
        }
      }
    }
    if (page.length > 0) yield page;
  }

  async *columns(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<ColumnBatch> {
    const pageSize = opts?.pageSize ?? DEFAULT_PAGE;
    let batch: ColumnBatch | null = null;
    for await (const chunk of this.chunks(q)) {
      let from = 0;
      while (from < chunk.rowCount) {
        batch ??= { schema: chunk.schema, rowCount: 0, columns: Object.fromEntries(chunk.schema.map((s) => [s.name, [] as JsonValue[]])) };
        const to = Math.min(chunk.rowCount, from + (pageSize - batch.rowCount));
        chunk.schema.forEach((s, i) => {
          const dst = batch!.columns[s.name]!;
          const src = chunk.columns[i]!;
          for (let r = from; r < to; r++) dst.push(src[r]!);
        });
        batch.rowCount += to - from;
        from = to;
        if (batch.rowCount >= pageSize) {
          yield batch;
          batch = null;
        }
      }
    }
    if (batch && batch.rowCount > 0) yield batch;
  }

  /** The result, one DuckDB chunk at a time, converted to JSON-safe columns. Holds the lease
   *  for as long as the consumer keeps reading. */
  private async *chunks(q: PreparedQuery): AsyncIterable<ConvertedChunk> {
    const instance = await this.lease.acquire();
    const c = await instance.connect().catch((e: unknown) => {
      this.lease.release();
      throw e;
    });
    try {
      const stmt = await this.prepare(c, q);
      let result;
      try {
        result = await stmt.stream();
      } catch (e) {
        throw queryError(e, q);
      }
      const names = result.deduplicatedColumnNames();
      const types = result.columnTypes();
      const schema: ColumnSchema[] = names.map((name, i) => ({ name, type: types[i]!.toString(), logical: logicalFromDuckDB(types[i]!.toString()) }));
      const converters = types.map(converterFor);
      for (;;) {
        let chunk: DuckDBDataChunk | null;
        try {
          chunk = await result.fetchChunk();
        } catch (e) {
          throw queryError(e, q);
        }
        if (!chunk || chunk.rowCount === 0) break;
        const raw = chunk.getColumns();
        const columns = raw.map((col, i) => {
          const conv = converters[i]!;
          const out: JsonValue[] = new Array(col.length);
          for (let r = 0; r < col.length; r++) out[r] = conv(col[r]!);
          return out;
        });
        yield { schema, rowCount: chunk.rowCount, columns };
      }
    } finally {
      c.closeSync();
      this.lease.release();
    }
  }

  async execute(q: PreparedQuery, writes: string[] = []): Promise<void> {
    await this.withConnection(async (c) => {
      const stmt = await this.prepare(c, q);
      try {
        await stmt.run();
      } catch (e) {
        throw queryError(e, q);
      }
      await this.bump(c, writes);
    });
  }

  /** Record a write to each table in the version registry. */
  async bump(c: DuckDBConnection, tables: string[]): Promise<void> {
    for (const t of tables) {
      await c.run(
        `INSERT INTO _cellar.table_versions VALUES ($1, 1, now()::TIMESTAMP)
         ON CONFLICT (name) DO UPDATE SET version = table_versions.version + 1, modified_at = now()::TIMESTAMP`,
        [this.canonicalTable(t)],
      );
    }
  }

  async dryRun(q: PreparedQuery): Promise<DryRunResult> {
    // DuckDB does not bill by bytes; preparing the statement still validates it.
    await this.withConnection(async (c) => {
      await this.prepare(c, q);
    });
    return { bytes: null };
  }

  async createTableAs(table: string, q: PreparedQuery): Promise<void> {
    const [schema] = this.tableParts(table);
    await this.withConnection(async (c) => {
      await c.run(`CREATE SCHEMA IF NOT EXISTS "${schema!.replace(/"/g, '""')}"`);
      // One statement is one transaction in DuckDB: the table appears whole or not at all.
      const stmt = await this.prepare(c, { ...q, text: `CREATE OR REPLACE TABLE ${this.quote(table)} AS ${q.text}` });
      try {
        await stmt.run();
      } catch (e) {
        throw queryError(e, q);
      }
      await this.bump(c, [table]);
    });
  }

  async createView(view: string, table: string): Promise<void> {
    const [schema] = this.tableParts(view);
    await this.withConnection(async (c) => {
      await c.run(`CREATE SCHEMA IF NOT EXISTS "${schema!.replace(/"/g, '""')}"`);
      await c.run(`CREATE OR REPLACE VIEW ${this.quote(view)} AS SELECT * FROM ${this.quote(table)}`);
      await this.bump(c, [view]);
    });
  }

  async dropTable(table: string): Promise<void> {
    await this.withConnection(async (c) => {
      await c.run(`DROP TABLE IF EXISTS ${this.quote(table)}`);
      await this.bump(c, [table]);
    });
  }

  private async catalogEntry(table: string): Promise<{ estimated_size: string; sql: string; kind: 'table' | 'view' } | null> {
    const [schema, name] = this.tableParts(table);
    return this.withConnection(async (c) => {
      const t = await c.runAndReadAll(`SELECT estimated_size::VARCHAR AS estimated_size, sql FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2`, [schema!, name!]);
      const rows = t.getRowObjectsJson() as { estimated_size: string; sql: string }[];
      if (rows[0]) return { ...rows[0], kind: 'table' as const };
      const v = await c.runAndReadAll(`SELECT '0' AS estimated_size, sql FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2`, [schema!, name!]);
      const vr = v.getRowObjectsJson() as { estimated_size: string; sql: string }[];
      return vr[0] ? { ...vr[0], kind: 'view' as const } : null;
    });
  }

  async listTables(dataset: string): Promise<string[]> {
    const schema = this.tableParts([dataset, 'x'])[0]!;
    return this.withConnection(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT table_name AS n FROM duckdb_tables() WHERE schema_name = $1 UNION SELECT view_name FROM duckdb_views() WHERE schema_name = $1 AND NOT internal ORDER BY 1`,
        [schema],
      );
      return (r.getRowObjectsJson() as { n: string }[]).map((x) => `${schema}.${x.n}`);
    });
  }

  async tableExists(table: string): Promise<boolean> {
    return (await this.catalogEntry(table)) !== null;
  }

  async tableSchema(table: string): Promise<ColumnSchema[] | null> {
    if (!(await this.tableExists(table))) return null;
    return this.withConnection(async (c) => {
      const r = await c.runAndReadAll(`DESCRIBE ${this.quote(table)}`);
      return (r.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((x) => ({ name: x.column_name, type: x.column_type, logical: logicalFromDuckDB(x.column_type) }));
    });
  }

  async tableVersion(table: string): Promise<TableVersion | null> {
    const entry = await this.catalogEntry(table);
    if (!entry) return null;
    const canonical = this.canonicalTable(table);
    const registered = await this.withConnection(async (c) => {
      const r = await c.runAndReadAll(`SELECT version::VARCHAR AS v FROM _cellar.table_versions WHERE name = $1`, [canonical]);
      return (r.getRowObjectsJson()[0] as { v?: string } | undefined)?.v ?? '0';
    });
    let content = '';
    if (this.opts.fingerprint === 'content' && entry.kind === 'table') {
      content = await this.withConnection(async (c) => {
        const [s, n] = this.tableParts(table).map((p) => '"' + p.replace(/"/g, '""') + '"');
        const r = await c.runAndReadAll(`SELECT bit_xor(hash(t))::VARCHAR AS h FROM ${s}.${n} AS t`);
        return ':c' + String((r.getRowObjectsJson()[0] as { h: string | null }).h);
      });
    }
    const ddl = sha256(entry.sql).slice(0, 12);
    return { table: canonical, version: `r${registered}:n${entry.estimated_size}:d${ddl}${content}`, source: content ? 'duckdb.fingerprint' : 'cellar.registry' };
  }

  async insertRows(table: string, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    const cols = await this.tableSchema(table);
    if (!cols) throw new WarehouseError('E_WH_QUERY', `insertRows: table ${table} does not exist`);
    await this.withConnection(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const placeholders = cols.map((_, i) => `$${i + 1}::${cols[i]!.type}`).join(', ');
        const stmt = await c.prepare(`INSERT INTO ${this.quote(table)} (${cols.map((x) => '"' + x.name.replace(/"/g, '""') + '"').join(', ')}) VALUES (${placeholders})`);
        for (const row of rows) {
          cols.forEach((col, i) => {
            const v = row[col.name];
            if (v === null || v === undefined) stmt.bindNull(i + 1);
            else stmt.bindVarchar(i + 1, typeof v === 'object' ? JSON.stringify(v) : String(v));
          });
          await stmt.run();
        }
        await this.bump(c, [table]);
        await c.run('COMMIT');
      } catch (e) {
        await c.run('ROLLBACK');
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    this.lease.close();
  }
}

function queryError(e: unknown, q: PreparedQuery): WarehouseError {
  const msg = (e as Error).message ?? String(e);
  return new WarehouseError('E_WH_QUERY', `DuckDB: ${msg}`, { sql: q.text });
}

function bindParam(stmt: DuckDBPreparedStatement, i: number, p: BoundParam): void {
  const v = p.value;
  if (v === null || v === undefined) {
    stmt.bindNull(i);
    return;
  }
  if (p.type.startsWith('ARRAY<')) {
    const inner = p.type.slice(6, -1) as BoundParam['type'];
    const items = (v as unknown[]).map((x) => (x === null || x === undefined ? null : toDuckValue(x, inner)));
    stmt.bindList(i, items, LIST(duckType(inner)));
    return;
  }
  stmt.bindValue(i, toDuckValue(v, p.type), duckType(p.type));
}

function duckType(t: BoundParam['type']): DuckDBType {
  switch (t) {
    case 'STRING':
      return VARCHAR;
    case 'INT64':
      return BIGINT;
    case 'FLOAT64':
      return DOUBLE;
    case 'BOOL':
      return BOOLEAN;
    case 'TIMESTAMP':
      return TIMESTAMP;
    case 'DATE':
      return DATE;
    case 'BYTES':
      return BLOB;
    default:
      throw new WarehouseError('E_WH_PARAM', `unsupported parameter type ${t}`);
  }
}

function toDuckValue(v: unknown, t: BoundParam['type']): DuckDBValue {
  switch (t) {
    case 'STRING':
      return String(v);
    case 'INT64':
      return typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    case 'FLOAT64':
      return Number(v);
    case 'BOOL':
      return Boolean(v);
    case 'TIMESTAMP': {
      const d = v instanceof Date ? v : new Date(String(v));
      if (Number.isNaN(d.getTime())) throw new WarehouseError('E_WH_PARAM', `not a timestamp: ${String(v)}`);
      return new DuckDBTimestampValue(BigInt(d.getTime()) * 1000n);
    }
    case 'DATE': {
      const s = v instanceof Date ? v.toISOString().slice(0, 10) : String(v);
      const ms = Date.parse(s.slice(0, 10) + 'T00:00:00Z');
      if (Number.isNaN(ms)) throw new WarehouseError('E_WH_PARAM', `not a date: ${String(v)}`);
      return new DuckDBDateValue(Math.round(ms / 86_400_000));
    }
    case 'BYTES':
      return blobValue(v as Uint8Array);
    default:
      throw new WarehouseError('E_WH_PARAM', `unsupported parameter type ${t}`);
  }
}

type Converter = (v: DuckDBValue) => JsonValue;

/** One converter per column, chosen once from the column type (not per value). */
function converterFor(type: DuckDBType): Converter {
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
      return (v) => (v === null ? null : intFromBigInt(v as bigint));
    case DuckDBTypeId.DECIMAL:
      return (v) => (v === null ? null : (v as { toDouble(): number }).toDouble());
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return (v) => (v === null ? null : isoFromMicros(Number((v as DuckDBTimestampValue).micros)));
    case DuckDBTypeId.TIMESTAMP_S:
      return (v) => (v === null ? null : isoFromMicros(Number((v as { seconds: bigint }).seconds) * 1e6));
    case DuckDBTypeId.TIMESTAMP_MS:
      return (v) => (v === null ? null : isoFromMicros(Number((v as { millis: bigint }).millis) * 1e3));
    case DuckDBTypeId.TIMESTAMP_NS:
      return (v) => (v === null ? null : isoFromMicros(Number((v as { nanos: bigint }).nanos / 1000n)));
    case DuckDBTypeId.DATE:
      return (v) => (v === null ? null : String(v));
    case DuckDBTypeId.BLOB:
      return (v) => (v === null ? null : base64((v as { bytes: Uint8Array }).bytes));
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.VARCHAR:
      return (v) => v as JsonValue;
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const inner = converterFor((type as DuckDBListType).valueType);
      return (v) => (v === null ? null : (v as { items: readonly DuckDBValue[] }).items.map(inner));
    }
    case DuckDBTypeId.STRUCT: {
      const st = type as DuckDBStructType;
      const inner = st.entryTypes.map(converterFor);
      return (v) => {
        if (v === null) return null;
        const e = (v as { entries: Readonly<Record<string, DuckDBValue>> }).entries;
        const out: Record<string, JsonValue> = {};
        st.entryNames.forEach((n, i) => (out[n] = inner[i]!(e[n] ?? null)));
        return out;
      };
    }
    default:
      return (v) => (v === null ? null : (JsonDuckDBValueConverter(v, type, JsonDuckDBValueConverter) as JsonValue));
  }
}
