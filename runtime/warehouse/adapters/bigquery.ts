// The production warehouse: BigQuery through `@google-cloud/bigquery`.
//
// Credentials come from Application Default Credentials (the client's own lookup), except when
// `apiEndpoint` is set (tests, emulators): then an auth client that sends no credentials is
// passed, so the library never probes a metadata server.
//
// Results are read page by page (`getQueryResults` with page tokens and `skipParsing`), so a
// stream holds one page at a time; rows are converted with the schema into the same JSON-safe
// values as the DuckDB adapter (values.ts). Table versions are BigQuery's own `lastModifiedTime`,
// which changes with every load, insert, DML or DDL on the table, including writes made outside
// cellar; a view's version adds its base tables' times (`viewVersion`). The Storage Read API
// (Arrow over gRPC) is not used: the stand-in cannot serve gRPC, so it could not be tested here;
// `columns()` is the place to add it.
import type { BigQuery as BigQueryClient, Job, Query as ClientQuery } from '@google-cloud/bigquery';
import { splitTableName } from '../sql/names.js';
import { intFromString, isoFromMicros, logicalFromBigQuery } from './values.js';
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

export interface BigQueryWarehouseOptions {
  project: string;
  location: string;
  /** Dataset for one-part table names. */
  dataset: string;
  apiEndpoint: string | null;
}

interface Field {
  name: string;
  type: string;
  mode?: string;
  fields?: Field[];
}

const DEFAULT_PAGE = 10_000;

/** The fields of BigQuery's Table resource read here (REST v2 `tables.get`). */
interface TableMetadata {
  /** `TABLE`, `VIEW`, `MATERIALIZED_VIEW`, `EXTERNAL`, `SNAPSHOT`. */
  type?: string;
  schema?: { fields?: Field[] };
  /** Milliseconds since the epoch, as a decimal string. */
  lastModifiedTime?: string;
}

/** BigQuery's TableReference. */
interface TableRef {
  projectId: string;
  datasetId: string;
  tableId: string;
}

export async function openBigQuery(opts: BigQueryWarehouseOptions): Promise<BigQueryWarehouse> {
  const { BigQuery } = await import('@google-cloud/bigquery');
  const clientOpts: ConstructorParameters<typeof BigQuery>[0] = {
    projectId: opts.project,
    location: opts.location,
  };
  if (opts.apiEndpoint) {
    const { PassThroughClient } = await import('google-auth-library');
    clientOpts.apiEndpoint = opts.apiEndpoint;
    clientOpts.authClient = new PassThroughClient() as never;
  }
  return new BigQueryWarehouse(new BigQuery(clientOpts), opts);
}

export class BigQueryWarehouse implements Warehouse {
  readonly kind = 'bigquery' as const;
  readonly dialect = 'bigquery' as const;
  readonly describe: string;
  /** `bigquery:<project>`: table names are project-qualified, but a key must not depend on how a
   *  cell spelled them (`ds.t` resolves to the configured project). */
  readonly identity: string;

  constructor(
    readonly client: BigQueryClient,
    private readonly opts: BigQueryWarehouseOptions,
  ) {
    this.identity = `bigquery:${opts.project}`;
    this.describe = `bigquery:${opts.project}/${opts.location}${opts.apiEndpoint ? ` via ${opts.apiEndpoint}` : ''}`;
  }

  tableParts(name: string | string[]): string[] {
    const parts = typeof name === 'string' ? splitTableName(name) : name;
    if (parts.length === 1) return [this.opts.project, this.opts.dataset, parts[0]!];
    if (parts.length === 2) return [this.opts.project, ...parts];
    return parts.slice(-3);
  }

  canonicalTable(name: string): string {
    return this.tableParts(name).join('.');
  }

  private quote(name: string): string {
    return '`' + this.tableParts(name).join('.') + '`';
  }

  private tableHandle(name: string) {
    const [project, ds, t] = this.tableParts(name);
    return this.client.dataset(ds!, { projectId: project }).table(t!);
  }

  private jobOptions(q: PreparedQuery, opts?: QueryOptions & { dryRun?: boolean }): ClientQuery {
    const params: Record<string, unknown> = {};
    const types: Record<string, unknown> = {};
    for (const p of q.params) {
      params[p.name] = clientValue(this.client, p);
      types[p.name] = p.type.startsWith('ARRAY<') ? [p.type.slice(6, -1)] : p.type;
    }
    return {
      query: q.text,
      location: this.opts.location,
      useLegacySql: false,
      ...(q.params.length ? { params, types: types as ClientQuery['types'] } : {}),
      ...(opts?.maxBytesBilled
        ? { maximumBytesBilled: String(Math.floor(opts.maxBytesBilled)) }
        : {}),
      ...(opts?.dryRun ? { dryRun: true } : {}),
    };
  }

  private async startJob(
    q: PreparedQuery,
    opts?: QueryOptions & { dryRun?: boolean },
  ): Promise<Job> {
    try {
      const [job] = await this.client.createQueryJob(this.jobOptions(q, opts));
      return job;
    } catch (e) {
      throw jobError(e, q);
    }
  }

  async query(
    q: PreparedQuery,
    opts?: QueryOptions,
  ): Promise<{ rows: Row[]; schema: ColumnSchema[] }> {
    const rows: Row[] = [];
    let schema: ColumnSchema[] = [];
    for await (const page of this.pages(q, opts)) {
      schema = page.schema;
      for (const r of page.rows) rows.push(r);
    }
    return { rows, schema };
  }

  /** One page of converted rows at a time. */
  private async *pages(
    q: PreparedQuery,
    opts?: QueryOptions,
  ): AsyncIterable<{ rows: Row[]; schema: ColumnSchema[]; fields: Field[] }> {
    const job = await this.startJob(q, opts);
    let pageToken: string | undefined;
    let convert: ((raw: { f: { v: unknown }[] }) => Row) | null = null;
    for (;;) {
      let resp: {
        schema?: { fields?: Field[] };
        rows?: { f: { v: unknown }[] }[];
        pageToken?: string;
        jobComplete?: boolean;
      };
      try {
        const res = await job.getQueryResults({
          autoPaginate: false,
          maxResults: opts?.pageSize ?? DEFAULT_PAGE,
          pageToken,
          skipParsing: true,
        } as never);
        resp = (res as unknown[])[2] as typeof resp;
        const raw = (res as unknown[])[0] as { f: { v: unknown }[] }[];
        resp = { ...resp, rows: raw };
      } catch (e) {
        throw jobError(e, q, job.id);
      }
      // A long job answers "not complete yet" (after waiting server-side): ask again.
      if (resp.jobComplete === false) continue;
      const fields = resp.schema?.fields ?? [];
      convert ??= rowConverter(fields);
      const schema = fields.map((f) => ({
        name: f.name,
        type: f.mode === 'REPEATED' ? `ARRAY<${f.type}>` : f.type,
        logical: logicalFromBigQuery(f.type, f.mode),
      }));
      yield { rows: (resp.rows ?? []).map(convert), schema, fields };
      pageToken = resp.pageToken;
      if (!pageToken) return;
    }
  }

  async *stream(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<Row[]> {
    for await (const page of this.pages(q, opts)) if (page.rows.length) yield page.rows;
  }

  async *columns(q: PreparedQuery, opts?: QueryOptions): AsyncIterable<ColumnBatch> {
    for await (const page of this.pages(q, opts)) {
      if (!page.rows.length) continue;
      const columns: Record<string, JsonValue[]> = {};
      for (const s of page.schema) columns[s.name] = page.rows.map((r) => r[s.name] ?? null);
      yield { schema: page.schema, rowCount: page.rows.length, columns };
    }
  }

  private async runToEnd(q: PreparedQuery, opts?: QueryOptions): Promise<void> {
    const job = await this.startJob(q, opts);
    try {
      await job.getQueryResults({ maxResults: 0 });
    } catch (e) {
      throw jobError(e, q, job.id);
    }
  }

  async execute(q: PreparedQuery, _writes?: string[], opts?: QueryOptions): Promise<void> {
    await this.runToEnd(q, opts);
  }

  async dryRun(q: PreparedQuery): Promise<DryRunResult> {
    const job = await this.startJob(q, { dryRun: true });
    const stats = (job.metadata as { statistics?: { totalBytesProcessed?: string } }).statistics;
    return {
      bytes: stats?.totalBytesProcessed !== undefined ? Number(stats.totalBytesProcessed) : null,
    };
  }

  private async ensureDataset(table: string): Promise<void> {
    const [project, ds] = this.tableParts(table);
    try {
      await this.client
        .dataset(ds!, { projectId: project, location: this.opts.location })
        .get({ autoCreate: true });
    } catch (e) {
      throw new WarehouseError(
        'E_WH_MATERIALIZE',
        `cannot create dataset ${project}.${ds}: ${(e as Error).message}`,
      );
    }
  }

  async createTableAs(table: string, q: PreparedQuery, opts?: QueryOptions): Promise<void> {
    await this.ensureDataset(table);
    // A CREATE TABLE … AS job either creates the whole table or fails: no partial table.
    await this.runToEnd(
      { ...q, text: `CREATE OR REPLACE TABLE ${this.quote(table)} AS ${q.text}` },
      opts,
    );
  }

  async createView(view: string, table: string): Promise<void> {
    await this.ensureDataset(view);
    await this.runToEnd({
      text: `CREATE OR REPLACE VIEW ${this.quote(view)} AS SELECT * FROM ${this.quote(table)}`,
      params: [],
      tables: [table],
    });
  }

  async dropTable(table: string): Promise<void> {
    try {
      await this.tableHandle(table).delete({ ignoreNotFound: true });
    } catch (e) {
      if ((e as { code?: number }).code !== 404)
        throw jobError(e, { text: `DROP TABLE ${table}`, params: [], tables: [] });
    }
  }

  private async metadata(table: string): Promise<TableMetadata | null> {
    try {
      const [meta] = await this.tableHandle(table).getMetadata();
      return meta as TableMetadata;
    } catch (e) {
      if ((e as { code?: number }).code === 404) return null;
      throw new WarehouseError(
        'E_WH_QUERY',
        `BigQuery: cannot read table ${this.canonicalTable(table)}: ${(e as Error).message}`,
      );
    }
  }

  async listTables(dataset: string): Promise<string[]> {
    const [project, ds] = this.tableParts([...dataset.split('.'), 'x']);
    try {
      const [tables] = await this.client.dataset(ds!, { projectId: project }).getTables();
      return tables.map((t) => `${project}.${ds}.${t.id}`).sort();
    } catch (e) {
      if ((e as { code?: number }).code === 404) return [];
      throw new WarehouseError(
        'E_WH_QUERY',
        `BigQuery: cannot list tables of ${project}.${ds}: ${(e as Error).message}`,
      );
    }
  }

  async tableExists(table: string): Promise<boolean> {
    return (await this.metadata(table)) !== null;
  }

  async tableSchema(table: string): Promise<ColumnSchema[] | null> {
    const meta = await this.metadata(table);
    if (!meta) return null;
    return (meta.schema?.fields ?? []).map((f) => ({
      name: f.name,
      type: f.type,
      logical: logicalFromBigQuery(f.type, f.mode),
    }));
  }

  async tableVersion(table: string): Promise<TableVersion | null> {
    const meta = await this.metadata(table);
    if (!meta) return null;
    const own = `m${meta.lastModifiedTime ?? '0'}`;
    if (meta.type === 'VIEW' || meta.type === 'MATERIALIZED_VIEW')
      return this.viewVersion(this.canonicalTable(table), own);
    return { table: this.canonicalTable(table), version: own, source: 'bigquery.lastModifiedTime' };
  }

  /**
   * A view's (or materialized view's) version. Its own `lastModifiedTime` moves only when its
   * definition does, not when its base tables get rows, so the version also holds the
   * `lastModifiedTime` of every table a query of the view really reads:
   * `m<view>:view[p.d.t=m<t>,…]`. BigQuery names those tables for a dry-run query job in
   * `statistics.query.referencedTables` (JobStatistics2, REST v2; views are expanded to their
   * base tables). A dry run is free and processes no bytes. BigQuery lists at most 50 tables
   * there ("Queries that reference more than 50 tables will not have a complete list"): a view
   * reading more is marked `:incomplete` and writes to the tables left off are not seen.
   */
  private async viewVersion(canonical: string, own: string): Promise<TableVersion> {
    let job: Job;
    try {
      job = await this.startJob(
        {
          text: `SELECT * FROM ${this.quote(canonical)}`,
          params: [],
          tables: [canonical],
        },
        { dryRun: true },
      );
    } catch (e) {
      // The view no longer resolves (a base table dropped): the key is still computed and the
      // task's own query fails with BigQuery's message, located in its cell. Other failures
      // (credentials) are not the view's and stop here.
      if (e instanceof WarehouseError && e.code === 'E_WH_QUERY')
        return { table: canonical, version: `${own}:unbound`, source: 'bigquery.view' };
      throw e;
    }
    const stats = (job.metadata as { statistics?: { query?: { referencedTables?: TableRef[] } } })
      .statistics;
    const refs = stats?.query?.referencedTables ?? [];
    const names = [...new Set(refs.map((r) => `${r.projectId}.${r.datasetId}.${r.tableId}`))]
      .filter((t) => t !== canonical)
      .sort();
    const parts: string[] = [];
    for (const t of names) {
      // The base table's own lastModifiedTime; a view listed here (BigQuery lists base tables,
      // but an authorised view may appear) counts by its own time, never recursively.
      const meta = await this.metadata(t);
      parts.push(`${t}=${meta ? `m${meta.lastModifiedTime ?? '0'}` : 'missing'}`);
    }
    return {
      table: canonical,
      version: `${own}:view[${parts.join(',')}]${refs.length >= 50 ? ':incomplete' : ''}`,
      source: 'bigquery.view',
    };
  }

  async insertRows(table: string, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.tableHandle(table).insert(rows, { raw: false });
    } catch (e) {
      throw new WarehouseError(
        'E_WH_QUERY',
        `BigQuery: streaming insert into ${this.canonicalTable(table)} failed: ${(e as Error).message}`,
      );
    }
  }

  async close(): Promise<void> {
    // The client holds no open connections worth closing.
  }
}

function clientValue(client: BigQueryClient, p: BoundParam): unknown {
  const one = (v: unknown, type: string): unknown => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return v.toString();
    if (type === 'TIMESTAMP') return v instanceof Date ? v : new Date(String(v));
    // The client reads DATE values from its own wrapper and would serialise a Buffer as JSON.
    if (type === 'DATE')
      return client.date(v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10));
    if (type === 'BYTES') return Buffer.from(v as Uint8Array).toString('base64');
    return v;
  };
  if (p.type.startsWith('ARRAY<'))
    return ((p.value as unknown[]) ?? []).map((v) => one(v, p.type.slice(6, -1)));
  return one(p.value, p.type);
}

/** A job's failure as a WarehouseError carrying the job's own message. */
function jobError(e: unknown, q: PreparedQuery, jobId?: string): WarehouseError {
  const err = e as {
    message?: string;
    errors?: { reason?: string; message?: string }[];
    code?: number;
  };
  const reasons = (err.errors ?? []).map((x) => x.reason);
  const message = err.errors?.[0]?.message ?? err.message ?? String(e);
  if (/default credentials|invalid_grant|invalid_rapt|reauth/i.test(message)) {
    return new WarehouseError(
      'E_WH_CONFIG',
      `BigQuery: no usable credentials (${message.split('\n')[0]}). Run \`gcloud auth application-default login\` or set GOOGLE_APPLICATION_CREDENTIALS; to work locally instead, set CELLAR_WAREHOUSE=duckdb.`,
      { sql: q.text },
    );
  }
  if (reasons.includes('bytesBilledLimitExceeded')) {
    return new WarehouseError(
      'E_WH_BYTES_LIMIT',
      `BigQuery refused the query: ${message} Raise warehouse.maxBytesBilled (or CELLAR_MAX_BYTES_BILLED) if this is expected.`,
      { sql: q.text, jobId },
    );
  }
  return new WarehouseError(
    'E_WH_QUERY',
    `BigQuery${jobId ? ` job ${jobId}` : ''} failed: ${message}`,
    { sql: q.text, jobId, reasons },
  );
}

/** Raw REST rows (`{f: [{v}]}`) → JSON-safe row objects, with converters chosen once per field. */
function rowConverter(fields: Field[]): (raw: { f: { v: unknown }[] }) => Row {
  const convs = fields.map(fieldConverter);
  const names = fields.map((f) => f.name);
  return (raw) => {
    const row: Row = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = convs[i]!(raw.f[i]?.v ?? null);
    return row;
  };
}

function fieldConverter(f: Field): (v: unknown) => JsonValue {
  const scalar = scalarConverter(f);
  if (f.mode === 'REPEATED')
    return (v) => (v === null ? [] : (v as { v: unknown }[]).map((x) => scalar(x.v)));
  return scalar;
}

function scalarConverter(f: Field): (v: unknown) => JsonValue {
  switch (f.type.toUpperCase()) {
    case 'INTEGER':
    case 'INT64':
      return (v) => (v === null ? null : intFromString(String(v)));
    case 'FLOAT':
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return (v) => (v === null ? null : Number(v));
    case 'BOOLEAN':
    case 'BOOL':
      return (v) => (v === null ? null : v === 'true' || v === true);
    case 'TIMESTAMP':
      // The client asks for int64 microseconds; older responses use float seconds.
      return (v) =>
        v === null
          ? null
          : /^-?\d+$/.test(String(v))
            ? isoFromMicros(Number(v))
            : isoFromMicros(Number(v) * 1e6);
    case 'RECORD':
    case 'STRUCT': {
      const inner = rowConverter(f.fields ?? []);
      return (v) => (v === null ? null : inner(v as { f: { v: unknown }[] }));
    }
    default:
      return (v) => (v === null ? null : String(v));
  }
}
