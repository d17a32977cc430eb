// The embedded default warehouse: one DuckDB database file in the workspace
// (`<project>/.cellar/warehouse.duckdb`), or `:memory:` — its own in-memory twin for tests.
//
// Identity and table versions (for cache keys). Two DuckDB files whose tables were built the same
// way must never share results, so the key holds the file's identity: a random id written once
// into the file (`_cellar.meta.database_id`). It travels with the file when it is moved or copied
// (a copy holds the same data, so sharing its results is right until one of them changes, which
// the content part below sees). A table's version is:
// - `r<n>`: a counter in `_cellar.table_versions`, bumped by every write that goes through cellar
//   (materialisation, `insertRows`, seeding, INSERT/UPDATE/DELETE/CREATE run with `sql`);
// - `n<rows>:d<ddl>`: DuckDB's catalog (estimated row count, a hash of the table's DDL);
// - `c<count>:<xor>:<sum>` (default, `fingerprint: 'content'`): a hash of the table's rows, as a
//   multiset (`bit_xor` and `sum` of `hash(row)`), so a program that updates values in place,
//   keeping the row count and schema, is seen too. It costs a scan (~0.3 s per 3M rows, see
//   bench), so it is memoised per table together with the file's stamp (device, inode, size,
//   mtime and ctime in ns, of the file and its WAL) in `<db>.fingerprints.json`: any write by
//   anyone changes the stamp (ctime cannot be set back from user space), an unchanged file
//   costs two `stat`s. `fingerprint: 'catalog'` leaves the content out (writes outside cellar
//   that keep the row count and columns are then not seen).
// A view's version is its own (`r<n>:d<ddl>`) plus the version of every table its query reads,
// as DuckDB's binder resolves them (`viewVersion`): a view's catalog entry does not move when an
// outside program writes its base tables.
//
// Each operation opens its own connection (cheap in DuckDB), so a stream and a query can run at
// once; the database file itself is opened only while leased (lease.ts), so worker threads and
// other processes (a notebook kernel and `cellar run`) take turns instead of corrupting it.
//
// Time zones: BigQuery's TIMESTAMP is an instant and its functions (`TIMESTAMP('…')`,
// `CURRENT_DATE()`, `EXTRACT`, `DATE(ts)`) read and print it in UTC. DuckDB ships ICU, whose
// TIMESTAMPTZ functions (what the translator turns `TIMESTAMP('…')` into) use the *host's* zone,
// so the same SQL gave a different instant in New York. Every instance therefore runs with its
// TimeZone set to UTC (and the Gregorian calendar), whatever TZ the process has; the dialect
// suite runs under several zones to keep it so.
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
  type DuckDBInstance,
  type DuckDBListType,
  type DuckDBStructType,
  type DuckDBDataChunk,
  type DuckDBPreparedStatement,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { sha256 } from '../../key/hash.js';
import { DuckDBLease } from './duckdb-lease.js';
import { splitTableName } from '../sql/names.js';
import type { DynamicRead } from '../sql/files.js';
import {
  CATALOG_SCHEMAS,
  looksLikePath,
  parsedReads,
  readsCatalog,
  sqlStringLiteral,
  type ParsedReads,
} from '../sql/parsed-reads.js';
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
  type StatementReads,
  type TableVersion,
  type Warehouse,
} from '../types.js';

export interface DuckDBWarehouseOptions {
  /** Database file, or ':memory:'. */
  path: string;
  threads?: number;
  /** 'content' (default): registry + row count + DDL + a hash of every row (memoised by the
   *  file's stamp). 'catalog': without the content hash. */
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
        // GLOBAL: every later connection of this instance (one per operation) starts in UTC.
        await c.run(`SET GLOBAL TimeZone = 'UTC'; SET GLOBAL Calendar = 'gregorian'`);
        await c.run('CREATE SCHEMA IF NOT EXISTS _cellar');
        await c.run(
          'CREATE TABLE IF NOT EXISTS _cellar.table_versions (name VARCHAR PRIMARY KEY, version BIGINT NOT NULL, modified_at TIMESTAMP NOT NULL)',
        );
        await c.run(
          'CREATE TABLE IF NOT EXISTS _cellar.translations (key VARCHAR PRIMARY KEY, sql VARCHAR NOT NULL)',
        );
        await c.run(
          'CREATE TABLE IF NOT EXISTS _cellar.meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)',
        );
        // Written once, when the file is new (only a read afterwards: an unchanged file keeps its stamp).
        const id = await c.runAndReadAll(
          `SELECT value FROM _cellar.meta WHERE key = 'database_id'`,
        );
        if (id.getRowObjectsJson().length === 0)
          await c.run(`INSERT INTO _cellar.meta VALUES ('database_id', $1)`, [randomUUID()]);
        baselines.set(instance, await sessionState(c));
      } finally {
        c.closeSync();
      }
    },
  });
  // Open once now, so a bad path fails here rather than at the first query; read the file's id.
  const id = await lease.with(async (instance) => {
    const c = await instance.connect();
    try {
      return String(
        (
          await c.runAndReadAll(`SELECT value FROM _cellar.meta WHERE key = 'database_id'`)
        ).getRowObjectsJson()[0]!.value,
      );
    } finally {
      c.closeSync();
    }
  });
  return new DuckDBWarehouse(lease, opts, id);
}

/** Content hashes by table, valid while the database file's stamp is `stamp`. */
interface ContentMemo {
  stamp: string;
  tables: Record<string, string>;
}

export class DuckDBWarehouse implements Warehouse {
  readonly kind = 'duckdb' as const;
  readonly dialect = 'duckdb' as const;
  readonly describe: string;

  /** `duckdb:<database id>`: the id written into the file when it was created (see the header). */
  readonly identity: string;

  /** Schemas seeding could not create, and why (duckdb-seed.ts): a query that fails on one of
   *  them says why instead of DuckDB's bare "schema … does not exist". */
  missingSchemas: { schemas: string[]; why: string } | null = null;

  constructor(
    private readonly lease: DuckDBLease,
    private readonly opts: DuckDBWarehouseOptions,
    databaseId: string,
  ) {
    this.describe = `duckdb:${opts.path}`;
    this.identity = `duckdb:${databaseId}`;
  }

  /** Translated SQL by key (session.ts): the translator's WASM costs ~190 MB of memory and 0.3 s
   *  to start, so a process whose queries were all translated before never loads it. */
  readonly translations = {
    get: (key: string): Promise<string | null> =>
      this.withConnection(async (c) => {
        const r = await c.runAndReadAll('SELECT sql FROM _cellar.translations WHERE key = $1', [
          key,
        ]);
        return ((r.getRowObjectsJson()[0] as { sql?: string } | undefined)?.sql ?? null) as
          string | null;
      }),
    // Idempotent and serialised (bookkeeping below): the same text translated by two concurrent
    // queries is written once, and never fails either query.
    put: (key: string, text: string): Promise<void> =>
      this.bookkeeping((c) =>
        c
          .run('INSERT INTO _cellar.translations VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
            key,
            text,
          ])
          .then(() => undefined),
      ),
  };

  /** The tail of this process's bookkeeping writes (see `bookkeeping`). */
  private bookkeepingTail: Promise<unknown> = Promise.resolve();

  /**
   * Run one write to cellar's own tables (`_cellar.*`), one at a time in this process, each on
   * its own connection in autocommit. Why: DuckDB checks a primary key against other
   * connections' *uncommitted* rows, so two concurrent `INSERT … ON CONFLICT DO NOTHING` of one
   * key (or two `UPDATE`s of one counter) fail with "Duplicate key" / "Conflict on update" even
   * though each is idempotent. Other processes never share the file (the lease), so a queue per
   * warehouse object makes every bookkeeping write conflict-free. A user's query never waits on a
   * failed bookkeeping write of another query: the queue goes on after a failure.
   */
  bookkeeping<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.bookkeepingTail.then(
      () => this.withConnection(fn),
      () => this.withConnection(fn),
    );
    this.bookkeepingTail = run.catch(() => undefined);
    return run;
  }

  /** Databases a task attached, by alias (lower case) → that task: detached when it ended, named
   *  in the error of a later task that uses the alias without attaching it. */
  private readonly detachedBy = new Map<string, string>();

  /**
   * See `Warehouse.endTaskSession`. DuckDB's `SET x = …` (no scope) and `PRAGMA x = …` are GLOBAL:
   * they outlive the statement's connection and hold for every later query of this instance
   * (another task's, in the same thread), until the instance closes after 300 ms idle. So the
   * result of `ORDER BY x` depended on which task ran before and how fast. Compared with the state
   * the instance had when opened (`baselines`): a changed setting is `RESET GLOBAL` (its default;
   * cellar's own `SET GLOBAL TimeZone` and the configured `threads` are set back to their value
   * instead), an added database is detached. A setting that still differs closes the instance as
   * soon as it is idle (a file-backed one reopens in its opening state, ~15 ms).
   */
  noteAttach(alias: string, task: string): void {
    this.detachedBy.set(alias.toLowerCase(), task);
  }

  async endTaskSession(task: string): Promise<{ settings: string[]; detached: string[] }> {
    return this.lease.with(async (instance) => {
      const base = baselines.get(instance);
      if (!base) return { settings: [], detached: [] };
      const c = await instance.connect();
      try {
        const now = await sessionState(c);
        const settings = [...now.settings]
          .filter(([k, v]) => base.settings.get(k) !== v)
          .map(([k]) => k);
        const detached = now.databases.filter((d) => !base.databases.includes(d));
        for (const d of detached) {
          await c.run(`DETACH DATABASE IF EXISTS ${quoteName(d)}`);
          this.detachedBy.set(d.toLowerCase(), task);
        }
        for (const k of settings) {
          const want = base.settings.get(k);
          const current = (await sessionState(c)).settings.get(k);
          if (current === want) continue; // an alias of one already put back (null_order)
          try {
            await c.run(`RESET GLOBAL ${quoteName(k)}`);
          } catch {
            // not resettable: set back below
          }
          if ((await sessionState(c)).settings.get(k) === want || want === undefined) continue;
          try {
            await c.run(`SET GLOBAL ${quoteName(k)} = ${sqlStringLiteral(want)}`);
          } catch {
            // checked below
          }
        }
        const left = [...(await sessionState(c)).settings].filter(
          ([k, v]) => base.settings.get(k) !== v,
        );
        if (left.length > 0) this.lease.retire(instance);
        return { settings, detached };
      } finally {
        c.closeSync();
      }
    });
  }

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
      throw queryError(e, q, this.missingSchemas, this.detachedBy);
    }
    q.params.forEach((p, i) => bindParam(stmt, i + 1, p));
    return stmt;
  }

  /** All rows (`opts` has nothing for DuckDB: no paging, no billing). */
  async query(
    q: PreparedQuery,
    _opts?: QueryOptions,
  ): Promise<{ rows: Row[]; schema: ColumnSchema[] }> {
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
      return result.columnNames().map((name, i) => ({
        name,
        type: result.columnType(i).toString(),
        logical: logicalFromDuckDB(result.columnType(i).toString()),
      }));
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
        batch ??= {
          schema: chunk.schema,
          rowCount: 0,
          columns: Object.fromEntries(chunk.schema.map((s) => [s.name, [] as JsonValue[]])),
        };
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
        throw queryError(e, q, this.missingSchemas, this.detachedBy);
      }
      const names = result.deduplicatedColumnNames();
      const types = result.columnTypes();
      const schema: ColumnSchema[] = names.map((name, i) => ({
        name,
        type: types[i]!.toString(),
        logical: logicalFromDuckDB(types[i]!.toString()),
      }));
      const converters = types.map(converterFor);
      for (let first = true; ; first = false) {
        let chunk: DuckDBDataChunk | null;
        try {
          chunk = await result.fetchChunk();
        } catch (e) {
          throw queryError(e, q, this.missingSchemas, this.detachedBy);
        }
        if (!chunk || chunk.rowCount === 0) {
          // No rows: still say what the columns are, so `query` never runs the statement a
          // second time to learn them (a DDL statement would run twice).
          if (first) yield { schema, rowCount: 0, columns: [] };
          break;
        }
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
        throw queryError(e, q, this.missingSchemas, this.detachedBy);
      }
    });
    await this.bump(writes);
  }

  /** Record a write to each table in the version registry, after the write committed (a queued
   *  bookkeeping write: concurrent writers to one table must not conflict on its counter). */
  async bump(tables: string[]): Promise<void> {
    if (tables.length === 0) return;
    await this.bookkeeping(async (c) => {
      for (const t of tables) {
        await c.run(
          `INSERT INTO _cellar.table_versions VALUES ($1, 1, now()::TIMESTAMP)
           ON CONFLICT (name) DO UPDATE SET version = table_versions.version + 1, modified_at = now()::TIMESTAMP`,
          [this.canonicalTable(t)],
        );
      }
    });
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
      const stmt = await this.prepare(c, {
        ...q,
        text: `CREATE OR REPLACE TABLE ${this.quote(table)} AS ${q.text}`,
      });
      try {
        await stmt.run();
      } catch (e) {
        throw queryError(e, q, this.missingSchemas, this.detachedBy);
      }
    });
    await this.bump([table]);
  }

  async createView(view: string, table: string): Promise<void> {
    const [schema] = this.tableParts(view);
    await this.withConnection(async (c) => {
      await c.run(`CREATE SCHEMA IF NOT EXISTS "${schema!.replace(/"/g, '""')}"`);
      await c.run(
        `CREATE OR REPLACE VIEW ${this.quote(view)} AS SELECT * FROM ${this.quote(table)}`,
      );
    });
    await this.bump([view]);
  }

  async dropTable(table: string): Promise<void> {
    await this.withConnection(async (c) => {
      await c.run(`DROP TABLE IF EXISTS ${this.quote(table)}`);
    });
    await this.bump([table]);
  }

  /**
   * The catalog entry `table` names, resolved as DuckDB resolves a name in a query: identifiers
   * are case-insensitive, quoted or not (`T`, `Main.T` and `"T"` all name `main.t`; a table
   * created as `"Sales"` is `sales` too), and an unqualified name is in `main`. `schema` and
   * `name` are the catalog's own spelling.
   */
  private async catalogEntry(table: string | string[]): Promise<{
    estimated_size: string;
    sql: string;
    kind: 'table' | 'view';
    schema: string;
    name: string;
  } | null> {
    const [schema, name] = this.tableParts(table);
    return this.withConnection(async (c) => {
      type Entry = { estimated_size: string; sql: string; schema: string; name: string };
      const t = await c.runAndReadAll(
        `SELECT estimated_size::VARCHAR AS estimated_size, sql, schema_name AS schema, table_name AS name FROM duckdb_tables() WHERE lower(schema_name) = lower($1) AND lower(table_name) = lower($2) AND database_name = current_database()`,
        [schema!, name!],
      );
      const rows = t.getRowObjectsJson() as Entry[];
      if (rows[0]) return { ...rows[0], kind: 'table' as const };
      const v = await c.runAndReadAll(
        `SELECT '0' AS estimated_size, sql, schema_name AS schema, view_name AS name FROM duckdb_views() WHERE lower(schema_name) = lower($1) AND lower(view_name) = lower($2) AND database_name = current_database()`,
        [schema!, name!],
      );
      const vr = v.getRowObjectsJson() as Entry[];
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

  async tableExists(table: string | string[]): Promise<boolean> {
    return (await this.catalogEntry(table)) !== null;
  }

  async tableSchema(table: string): Promise<ColumnSchema[] | null> {
    if (!(await this.tableExists(table))) return null;
    return this.withConnection(async (c) => {
      const r = await c.runAndReadAll(`DESCRIBE ${this.quote(table)}`);
      return (r.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((x) => ({
        name: x.column_name,
        type: x.column_type,
        logical: logicalFromDuckDB(x.column_type),
      }));
    });
  }

  async tableVersion(table: string): Promise<TableVersion | null> {
    if (CATALOG_SCHEMAS.has(this.tableParts(table)[0]!.toLowerCase())) return this.catalogVersion();
    const entry = await this.catalogEntry(table);
    if (!entry) return null;
    // The catalog's spelling: `FROM T` and `FROM t` read one table, with one version.
    const canonical = `${entry.schema}.${entry.name}`;
    const registered = await this.withConnection(async (c) => {
      // Writes through cellar bump the name as their SQL spelled it: every spelling counts.
      const r = await c.runAndReadAll(
        `SELECT coalesce(sum(version), 0)::VARCHAR AS v FROM _cellar.table_versions WHERE lower(name) = lower($1)`,
        [canonical],
      );
      return (r.getRowObjectsJson()[0] as { v?: string } | undefined)?.v ?? '0';
    });
    const ddl = sha256(entry.sql).slice(0, 12);
    if (entry.kind === 'view') return this.viewVersion(canonical, `r${registered}:d${ddl}`);
    const content =
      this.opts.fingerprint !== 'catalog' ? `:c${await this.contentHash(canonical)}` : '';
    return {
      table: canonical,
      version: `r${registered}:n${entry.estimated_size}:d${ddl}${content}`,
      source: content ? 'duckdb.fingerprint' : 'cellar.registry',
    };
  }

  /**
   * The version of the catalog itself, for a query over `information_schema.*`, `pg_catalog.*` or
   * `duckdb_tables()` and its kin (recorded as `information_schema.tables`, `statementReads`): a
   * hash of every table and view of every attached database (name, DDL, estimated rows), Cellar's
   * own `_cellar` schema left out. A new, dropped or altered table changes it; so does a row
   * count (`duckdb_tables()` shows it), which re-runs catalog readers more often than needed,
   * never less.
   */
  private async catalogVersion(): Promise<TableVersion> {
    const rows = await this.withConnection(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT database_name || '.' || schema_name || '.' || table_name || ':' || coalesce(sql, '') || ':' || estimated_size::VARCHAR AS d FROM duckdb_tables() WHERE schema_name <> '_cellar'
         UNION ALL SELECT database_name || '.' || schema_name || '.' || view_name || ':' || coalesce(sql, '') FROM duckdb_views() WHERE NOT internal AND schema_name <> '_cellar'
         ORDER BY 1`,
      );
      return (r.getRowObjectsJson() as { d: string }[]).map((x) => String(x.d));
    });
    return {
      table: 'information_schema.tables',
      version: `catalog:${sha256(rows.join('\n')).slice(0, 16)}`,
      source: 'duckdb.catalog',
    };
  }

  /**
   * The tables a statement reads, from DuckDB's own parse of it (sql/parsed-reads.ts), as
   * `schema.table` (`table` alone when unqualified), or null when DuckDB cannot serialise it (not
   * a SELECT: the caller falls back to the scanner). A table macro called in FROM (`tm()`) reads
   * what its body reads, followed through macros calling macros; a catalog read adds
   * `information_schema.tables` (whose version is `catalogVersion`). Views are named as views:
   * their version holds their base tables' versions (`viewVersion`). The parse is memoised by
   * text (one per distinct query per process); macro bodies are looked up on every call, since
   * another program may redefine them.
   */
  async statementReads(
    text: string,
    params: readonly unknown[] = [],
  ): Promise<StatementReads | null> {
    const first = await this.parse(text);
    if (!first) return null;
    const out = new Set<string>();
    const texts: string[] = [];
    const seen = new Set<string>();
    let macros: UserMacro[] | null = null;
    const pending: ParsedReads[] = [first];
    const follow = async (sqlText: string) => {
      if (seen.has(`sql:${sqlText}`)) return;
      seen.add(`sql:${sqlText}`);
      texts.push(sqlText);
      const inner = await this.parse(sqlText);
      if (inner) pending.push(inner);
    };
    while (pending.length > 0) {
      const r = pending.pop()!;
      for (const t of r.tables) {
        // `FROM 'data/x.csv'` is a file DuckDB scans, keyed by content as a file, not a table.
        if (looksLikePath(t) && !(await this.tableExists(['main', t.table]))) continue;
        out.add([t.catalog, t.schema, t.table].filter((p) => p !== '').join('.'));
      }
      if (readsCatalog(r)) out.add('information_schema.tables');
      // `query_table('shop.nums')` reads that table, `query('SELECT …')` what its SQL reads; both
      // are known from a literal (or a bound value) only.
      for (const x of r.indirect) {
        const arg =
          x.arg && !Array.isArray(x.arg)
            ? stringsOf(params[x.arg.param])
            : (x.arg as string[] | null);
        if (!arg) throw dynamicRead(x.fn);
        if (x.fn === 'query_table') for (const t of arg) out.add(t);
        else for (const q of arg) await follow(q);
      }
      // A user macro, table (`FROM tm()`) or scalar (`SELECT shop.cnt()`), reads what its body
      // reads, tables and files, through macros calling macros.
      const called = [
        ...r.functions.map((f) => ({ ...f, type: 'table_macro' })),
        ...r.calls.map((f) => ({ ...f, type: 'macro' })),
      ];
      if (called.length === 0) continue;
      macros ??= await this.userMacros();
      for (const f of called) {
        for (const m of macros) {
          if (m.type !== f.type || m.name !== f.name) continue;
          if (f.schema !== '' && m.schema !== f.schema.toLowerCase()) continue;
          await follow(m.type === 'macro' ? `SELECT ${m.body}` : m.body);
        }
      }
    }
    return { tables: [...out].sort(), texts };
  }

  private readonly parses = new Map<string, ParsedReads | null>();

  private async parse(text: string): Promise<ParsedReads | null> {
    if (this.parses.has(text)) return this.parses.get(text)!;
    const json = await this.withConnection(async (c) => {
      try {
        const r = await c.runAndReadAll(
          `SELECT json_serialize_sql(${sqlStringLiteral(text)}) AS j`,
        );
        return String((r.getRowObjectsJson()[0] as { j: string }).j);
      } catch {
        return null; // the scanner's turn
      }
    });
    const parsed = json === null ? null : parsedReads(json);
    if (this.parses.size > 2000) this.parses.clear(); // a process of generated queries: bound it
    this.parses.set(text, parsed);
    return parsed;
  }

  /** See `Warehouse.pathsOf`. */
  async pathsOf(
    { call, expr, sql }: Pick<DynamicRead, 'call' | 'expr' | 'sql'>,
    params: readonly BoundParam[],
  ): Promise<string[]> {
    let value: unknown;
    let why = '';
    try {
      value = await this.withConnection(async (c) => {
        const stmt = await c.prepare(`SELECT (${sql}) AS p`);
        params.forEach((p, i) => bindParam(stmt, i + 1, p));
        return ((await stmt.runAndReadAll()).getRowObjectsJson()[0] as { p: unknown }).p;
      });
    } catch (e) {
      why = `: DuckDB could not evaluate it on its own (${(e as Error).message.split('\n')[0]})`;
    }
    const paths = stringsOf(value);
    if (paths) return paths;
    throw new WarehouseError(
      'E_WH_DYNAMIC_READ',
      `${call} reads a path computed inside the SQL (${expr})${why || ', which is not a path or a list of paths'}: what it reads cannot be keyed. Write the path as a string literal, or pass it as one \${…} value (a bound string or array is read like a literal).`,
      { function: call, sql: expr },
    );
  }

  /** Every user macro (table and scalar) with its body, names lower case. Looked up on each
   *  statement, not memoised: another program may redefine a macro between runs. */
  private async userMacros(): Promise<UserMacro[]> {
    return this.withConnection(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT lower(schema_name) AS s, lower(function_name) AS n, function_type AS t, macro_definition AS d FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') AND NOT internal AND macro_definition IS NOT NULL`,
      );
      return (r.getRowObjectsJson() as { s: string; n: string; t: string; d: string }[]).map(
        (x) => ({ schema: String(x.s), name: String(x.n), type: String(x.t), body: String(x.d) }),
      );
    });
  }

  async userFunctionsVersion(): Promise<string | null> {
    const defs = await this.withConnection(async (c) => {
      // Not per query: a macro may call another, and which ones a query reaches is DuckDB's
      // binder's business. All of them is simple and honest; a database has few.
      const r = await c.runAndReadAll(
        `SELECT database_name || '.' || schema_name || '.' || function_name || ':' || function_type || '(' || coalesce(array_to_string(parameters, ','), '') || ')=' || coalesce(macro_definition, '') AS d FROM duckdb_functions() WHERE NOT internal ORDER BY d`,
      );
      return (r.getRowObjectsJson() as { d: string }[]).map((x) => String(x.d));
    });
    return defs.length > 0 ? sha256(defs.join('\n')).slice(0, 16) : null;
  }

  /**
   * A view's version: its own (`own`: registry counter and DDL hash) plus the version of every
   * table its query reads, resolved through nested views by DuckDB's binder:
   * `r<n>:d<ddl>:view[shop.orders=<table version>,…]`, so `--dry-run` shows which base table
   * moved. Each base table's content hash is memoised by the file's stamp like any table's, so an
   * unchanged file costs no scan, and a view over a big join never runs the join.
   *
   * A view that reads anything else (a file through read_csv/read_parquet, a table of another
   * attached database, a temporary table, any other table function) has no base table whose
   * version this file's stamp guards: its rows are hashed, on every call (`:c…`), unmemoised.
   * With `fingerprint: 'catalog'` that scan is skipped (the version is then the view's own).
   */
  private async viewVersion(canonical: string, own: string): Promise<TableVersion> {
    let reads: { tables: string[]; outside: string[] };
    try {
      reads = await this.viewReads(canonical);
    } catch {
      // The view no longer binds (a base table dropped or renamed): the key is still computed,
      // and the task's own query fails with the engine's message, located in its cell. Once the
      // table is back, the view binds and the version changes.
      return { table: canonical, version: `${own}:unbound`, source: 'duckdb.view' };
    }
    // The plan's leaves are base tables only: a view in between (v1 → v2 → base) is inlined by
    // the binder and leaves no trace, so redefining v2 moved neither v1's DDL nor its tables.
    const inner = await this.innerViews(canonical);
    const through = inner.length > 0 ? `:through[${inner.join(',')}]` : '';
    if (reads.outside.length === 0) {
      const parts: string[] = [];
      for (const t of reads.tables) {
        const v = await this.tableVersion(t);
        parts.push(`${t}=${v ? v.version : 'missing'}`);
      }
      return {
        table: canonical,
        version: `${own}${through}:view[${parts.join(',')}]`,
        source: 'duckdb.view',
      };
    }
    const content =
      this.opts.fingerprint !== 'catalog' ? `:c${await this.scanHash(canonical)}` : '';
    return {
      table: canonical,
      version: `${own}${through}:reads[${reads.outside.join(',')}]${content}`,
      source: 'duckdb.view',
    };
  }

  /**
   * Every view a view's definition may reach through other views, as `schema.view=d<ddl hash>`,
   * sorted: a view whose name (any case) appears in the definition, then in that view's, and so
   * on. A superset of the views the binder resolves through, by design: a name that appears but
   * does not bind there (a column spelt like a view) only adds a definition to the key, which
   * costs a re-run when that view changes, never a stale result. Chosen over parsing each
   * definition (the DDL would have to be cut into its SELECT, and unqualified names resolved as
   * the binder would, per schema) and over hashing every view of the database (any view's edit
   * would re-run every view reader). One `duckdb_views()` query per view version.
   */
  private async innerViews(canonical: string): Promise<string[]> {
    const views = await this.withConnection(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT schema_name AS s, view_name AS n, sql AS d FROM duckdb_views() WHERE NOT internal AND database_name = current_database()`,
      );
      return (r.getRowObjectsJson() as { s: string; n: string; d: string }[]).map((x) => ({
        name: `${x.s}.${x.n}`,
        view: String(x.n).toLowerCase(),
        sql: String(x.d ?? ''),
      }));
    });
    const mentions = (text: string, name: string) => {
      const lower = text.toLowerCase();
      if (!/^\w+$/.test(name)) return lower.includes(name);
      return new RegExp(`(^|[^\\w])${name}($|[^\\w])`).test(lower);
    };
    const self = canonical.toLowerCase();
    const found = new Map<string, string>();
    const pending = views.filter((v) => v.name.toLowerCase() === self).map((v) => v.sql);
    while (pending.length > 0) {
      const text = pending.pop()!;
      for (const v of views) {
        const key = v.name.toLowerCase();
        if (key === self || found.has(key) || !mentions(text, v.view)) continue;
        found.set(key, `${v.name}=d${sha256(v.sql).slice(0, 12)}`);
        pending.push(v.sql);
      }
    }
    return [...found.values()].sort();
  }

  /**
   * What a view's query reads, as DuckDB's binder resolved it: the leaves of the physical plan
   * of `SELECT * FROM <view>` with the optimizer off (an optimizer could prove a scan empty from
   * today's statistics and drop it, hiding a table whose new rows would matter tomorrow).
   * `tables`: `schema.table` of this database's own tables (sorted, unique); `outside`: a short
   * name for every other leaf that holds data (table functions such as READ_CSV, tables of
   * another catalog). Constant leaves (VALUES, range(), CTE and delim scans) are neither.
   */
  private async viewReads(canonical: string): Promise<{ tables: string[]; outside: string[] }> {
    return this.withConnection(async (c) => {
      const db = String(
        (
          (await c.runAndReadAll('SELECT current_database() AS d')).getRowObjectsJson()[0] as {
            d: string;
          }
        ).d,
      );
      // Connection-local; the connection is closed after this operation.
      await c.run('PRAGMA disable_optimizer');
      const r = await c.runAndReadAll(
        `EXPLAIN (FORMAT JSON) SELECT * FROM ${this.quote(canonical)}`,
      );
      const plan = (r.getRowObjectsJson() as { explain_value: string }[]).map(
        (x) => JSON.parse(x.explain_value) as PlanNode[],
      );
      const tables = new Set<string>();
      const outside = new Set<string>();
      const visit = (n: PlanNode) => {
        const info = n.extra_info ?? {};
        if (typeof info.Table === 'string') {
          const parts = identifierParts(info.Table);
          if (parts.length === 3 && parts[0] === db) tables.add(`${parts[1]}.${parts[2]}`);
          else outside.add(parts.join('.'));
        } else if (typeof info.Function === 'string' && !CONSTANT_FUNCTIONS.has(info.Function)) {
          outside.add(info.Function.toLowerCase());
        }
        for (const child of n.children ?? []) visit(child);
      };
      for (const roots of plan) for (const n of roots) visit(n);
      return { tables: [...tables].sort(), outside: [...outside].sort() };
    });
  }

  /** A hash of a relation's rows as a multiset: `count:xor:sum` of `hash(row)`. A scan. */
  private async scanHash(canonical: string): Promise<string> {
    return this.withConnection(async (c) => {
      const r = await c.runAndReadAll(
        `SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(t)), 0)::VARCHAR || ':' || coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR AS h FROM ${this.quote(canonical)} AS t`,
      );
      return String((r.getRowObjectsJson()[0] as { h: string }).h);
    });
  }

  /** `<db>.fingerprints.json`: content hashes memoised across processes (see the header). */
  private get memoPath(): string | null {
    return this.opts.path === ':memory:' ? null : `${this.opts.path}.fingerprints.json`;
  }

  /** The database file's stamp: device, inode, size, mtime and ctime (ns) of the file and its WAL. */
  private fileStamp(): string {
    const one = (f: string) => {
      if (!existsSync(f)) return '-';
      const st = statSync(f, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    };
    return `${one(this.opts.path)}|${one(`${this.opts.path}.wal`)}`;
  }

  private readMemo(): ContentMemo | null {
    const p = this.memoPath;
    if (!p) return null;
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as ContentMemo;
    } catch {
      return null; // absent or torn: recompute
    }
  }

  /** A hash of the table's rows as a multiset; memoised while the file is unchanged. Called under
   *  the lease, so no other process writes the file between the stamp and the scan. */
  private async contentHash(canonical: string): Promise<string> {
    return this.lease.with(async () => {
      const memoPath = this.memoPath;
      const stamp = memoPath ? this.fileStamp() : '';
      let memo = this.readMemo();
      const hit = memo?.stamp === stamp ? memo.tables[canonical] : undefined;
      if (hit) return hit;
      const hash = await this.scanHash(canonical);
      if (memoPath && this.fileStamp() === stamp) {
        memo = memo?.stamp === stamp ? memo : { stamp, tables: {} };
        memo.tables[canonical] = hash;
        const tmp = `${memoPath}.${process.pid}.tmp`;
        try {
          writeFileSync(tmp, JSON.stringify(memo));
          renameSync(tmp, memoPath); // atomic: a reader sees the old memo or the new one
        } catch {
          // A memo that cannot be written costs a rescan next time, nothing else.
        }
      }
      return hash;
    });
  }

  async insertRows(table: string, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    const cols = await this.tableSchema(table);
    if (!cols) throw new WarehouseError('E_WH_QUERY', `insertRows: table ${table} does not exist`);
    await this.withConnection(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        const placeholders = cols.map((_, i) => `$${i + 1}::${cols[i]!.type}`).join(', ');
        const stmt = await c.prepare(
          `INSERT INTO ${this.quote(table)} (${cols.map((x) => '"' + x.name.replace(/"/g, '""') + '"').join(', ')}) VALUES (${placeholders})`,
        );
        for (const row of rows) {
          cols.forEach((col, i) => {
            const v = row[col.name];
            if (v === null || v === undefined) stmt.bindNull(i + 1);
            else stmt.bindVarchar(i + 1, typeof v === 'object' ? JSON.stringify(v) : String(v));
          });
          await stmt.run();
        }
        await c.run('COMMIT');
      } catch (e) {
        await c.run('ROLLBACK');
        throw e;
      }
    });
    await this.bump([table]);
  }

  async close(): Promise<void> {
    this.lease.close();
  }
}

/** A node of DuckDB's `EXPLAIN (FORMAT JSON)` physical plan (the fields read here). */
interface PlanNode {
  name?: string;
  children?: PlanNode[];
  extra_info?: { Table?: unknown; Function?: unknown };
}

/** Table functions whose rows come from their arguments alone, not from stored data. */
const CONSTANT_FUNCTIONS = new Set(['RANGE', 'GENERATE_SERIES', 'UNNEST', 'REPEAT', 'REPEAT_ROW']);

/** `"my-db".shop.orders` → `['my-db', 'shop', 'orders']` (DuckDB quotes a part with `"`, doubling
 *  inner quotes, only where it must). */
interface UserMacro {
  schema: string;
  name: string;
  /** `macro` (scalar) or `table_macro`. */
  type: string;
  body: string;
}

/** A bound value as the strings `query_table($1)` / `query($1)` would read, or null. */
function stringsOf(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return null;
}

/** `query(…)` / `query_table(…)` whose argument is an expression: what it reads is decided when
 *  DuckDB runs it, so no key could hold it. Refused rather than cached on a guess. */
function dynamicRead(fn: 'query' | 'query_table'): WarehouseError {
  const what = fn === 'query' ? 'SQL text' : 'table name';
  return new WarehouseError(
    'E_WH_DYNAMIC_READ',
    `${fn}(…) with a ${what} computed inside the SQL: what it reads is known only when DuckDB runs it, so no cache key can hold it. Write the ${what} as a string literal, or pass it as one \${…} value (a bound string is read like a literal).`,
    { function: fn },
  );
}

function identifierParts(text: string): string[] {
  const parts: string[] = [];
  for (const m of text.matchAll(/"((?:[^"]|"")*)"|([^."]+)/g))
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
  return parts;
}

function queryError(
  e: unknown,
  q: PreparedQuery,
  missing: DuckDBWarehouse['missingSchemas'] = null,
  detachedBy: ReadonlyMap<string, string> = new Map(),
): WarehouseError {
  const msg = (e as Error).message ?? String(e);
  const named = missing?.schemas.some((s) => new RegExp(`\\b${s}\\b`).test(q.text));
  let why = named && /Catalog Error/.test(msg) ? `\n${missing!.why}` : '';
  if (!why && /Catalog Error/.test(msg)) {
    for (const [alias, task] of detachedBy) {
      if (!new RegExp(`(^|[^\\w])"?${alias.replace(/\W/g, '\\$&')}"?\\.`, 'i').test(q.text))
        continue;
      why = `\nDatabase ${alias} was attached while task ${task} ran (by that task, or by setup code it ran) and detached when that task ended: an ATTACH (or SET) lasts until the task ends, so no task's result depends on which task ran before it. ATTACH it in the task that reads it (ATTACH IF NOT EXISTS '<file>' AS ${alias} (READ_ONLY)): the file is then in that task's key.`;
      break;
    }
  }
  return new WarehouseError('E_WH_QUERY', `DuckDB: ${msg}${why}`, { sql: q.text });
}

function bindParam(stmt: DuckDBPreparedStatement, i: number, p: BoundParam): void {
  const v = p.value;
  if (v === null || v === undefined) {
    stmt.bindNull(i);
    return;
  }
  if (p.type.startsWith('ARRAY<')) {
    const inner = p.type.slice(6, -1) as BoundParam['type'];
    const items = (v as unknown[]).map((x) =>
      x === null || x === undefined ? null : toDuckValue(x, inner),
    );
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
      if (Number.isNaN(d.getTime()))
        throw new WarehouseError('E_WH_PARAM', `not a timestamp: ${String(v)}`);
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
      return (v) =>
        v === null ? null : isoFromMicros(Number((v as { seconds: bigint }).seconds) * 1e6);
    case DuckDBTypeId.TIMESTAMP_MS:
      return (v) =>
        v === null ? null : isoFromMicros(Number((v as { millis: bigint }).millis) * 1e3);
    case DuckDBTypeId.TIMESTAMP_NS:
      return (v) =>
        v === null ? null : isoFromMicros(Number((v as { nanos: bigint }).nanos / 1000n));
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
      return (v) =>
        v === null
          ? null
          : (JsonDuckDBValueConverter(v, type, JsonDuckDBValueConverter) as JsonValue);
  }
}

/** The state of a DuckDB instance a task's statements can change for later tasks. */
interface SessionState {
  /** Every setting's value (`duckdb_settings()`). */
  settings: Map<string, string>;
  /** Attached databases, user-visible ones only (`duckdb_databases()`). */
  databases: string[];
}

/** Each open instance's state just after cellar opened it (`openDuckDB`'s `onOpen`). */
const baselines = new WeakMap<DuckDBInstance, SessionState>();

async function sessionState(c: DuckDBConnection): Promise<SessionState> {
  const s = await c.runAndReadAll('SELECT name, value FROM duckdb_settings()');
  const d = await c.runAndReadAll(
    'SELECT database_name AS n FROM duckdb_databases() WHERE NOT internal ORDER BY 1',
  );
  return {
    settings: new Map(
      (s.getRowObjectsJson() as { name: string; value: unknown }[]).map((x) => [
        String(x.name),
        String(x.value ?? ''),
      ]),
    ),
    databases: (d.getRowObjectsJson() as { n: string }[]).map((x) => String(x.n)),
  };
}

function quoteName(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
