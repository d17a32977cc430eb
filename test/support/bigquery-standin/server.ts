// TEST DOUBLE — a local stand-in for the BigQuery REST API (v2), backed by DuckDB.
//
// Why it exists: BigQuery cannot run on this machine (no network, no credentials), yet the
// BigQuery adapter must be tested with the real `@google-cloud/bigquery` client. The client is
// pointed here with `apiEndpoint: 'http://127.0.0.1:<port>'` and an auth client that sends no
// credentials; this server answers the REST calls the client actually makes (found by logging
// the client's requests), running the SQL on an in-memory DuckDB after translating it with the
// same dialect layer the runtime uses.
//
// Covered:
//   POST /projects/{p}/jobs                jobs.insert: query jobs, dry runs, maximumBytesBilled,
//                                          destinationTable + writeDisposition, DDL and DML
//   GET  /projects/{p}/jobs/{id}           jobs.get
//   POST /projects/{p}/queries             jobs.query (first page inline)
//   GET  /projects/{p}/queries/{id}        jobs.getQueryResults, paged by pageToken/maxResults
//   GET|POST|DELETE datasets, GET tables (list), GET|DELETE tables/{t}, GET tables/{t}/data (tabledata.list, paged),
//   POST tables/{t}/insertAll (streaming insert)
//   Row values are strings in f[].v, typed by the schema; TIMESTAMP as int64 micros when the
//   client asks for formatOptions.useInt64Timestamp (it always does), else float seconds.
//   statistics.query.referencedTables of a SELECT job (dry run too): the tables the query reads,
//   views expanded to their base tables, as BigQuery documents the field (JobStatistics2:
//   "Referenced tables for the job"); found with DuckDB's binder (EXPLAIN, optimizer off).
//   tables.get answers type VIEW for a view; a view's lastModifiedTime moves only when it is
//   (re)created, as BigQuery's does, not when its base tables change. A view that no longer binds
//   (base table dropped) is answered with no schema fields (BigQuery keeps the stored schema).
//
// NOT covered (do not read a passing test as proof of these): load jobs and multipart uploads,
// extract/copy jobs, the Storage Read API (gRPC), scripting and multi-statement queries,
// sessions and transactions, partition decorators and partitioned-table metadata, IAM, quotas,
// slot time, query caching (cacheHit is always false), materialized views, referencedTables'
// 50-table cap and its order, referencedTables of DDL/DML jobs (left empty), real job latency (every job finishes before
// the reply; `slowPolls` only pretends, answering the first polls with jobComplete=false),
// authentication (any request is accepted), and BigQuery's exact
// error texts beyond "Not found: Table p:d.t" and the bytes-billed limit message.
// Bytes processed are an estimate: for every table the query names, rows × columns × 8.
// SQL semantics are DuckDB's after cellar's own BigQuery → DuckDB translation, the same layer the
// DuckDB adapter uses, so this double cannot catch a translation error; the known-answer dialect
// suite (test/warehouse/dialect.test.ts) is what does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DuckDBInstance,
  DuckDBTypeId,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { codeOnly, translate } from '../../../runtime/warehouse/sql/dialect.js';
import { rewriteTables, scanTables, writeTarget } from '../../../runtime/warehouse/sql/names.js';
import { base64, bigQueryTypeFromDuckDB } from '../../../runtime/warehouse/adapters/values.js';

interface Field {
  name: string;
  type: string;
  mode: 'NULLABLE' | 'REPEATED';
  fields?: Field[];
}

interface JobRecord {
  id: string;
  projectId: string;
  location: string;
  resultTable: string | null;
  schema: Field[];
  totalRows: number;
  bytes: number;
  statementType: string;
  /** `ds.t` of every table a SELECT reads (views expanded); empty for statements. */
  referenced: string[];
  error: { reason: string; message: string } | null;
  configuration: unknown;
}

interface QueryParameter {
  name?: string;
  parameterType: { type: string; arrayType?: { type: string } };
  parameterValue?: { value?: unknown; arrayValues?: { value?: unknown }[] };
}

export interface StandIn {
  url: string;
  port: number;
  /** Every request seen, `METHOD path` (for tests that check what the client called). */
  requests: string[];
  /** Run DuckDB SQL directly on the stand-in's database (test set-up). */
  exec(sqlText: string): Promise<void>;
  close(): Promise<void>;
}

export interface StandInOptions {
  port?: number;
  /** Answer the first N result polls of every job with jobComplete=false, as a slow job would. */
  slowPolls?: number;
}

export async function startStandIn(opts: StandInOptions = {}): Promise<StandIn> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  // BigQuery reads and prints TIMESTAMPs in UTC, whatever the zone of the machine running it.
  await conn.run(`SET GLOBAL TimeZone = 'UTC'`);
  await conn.run('CREATE SCHEMA IF NOT EXISTS _standin');
  const modified = new Map<string, number>();
  const jobs = new Map<string, JobRecord>();
  const polls = new Map<string, number>();
  const requests: string[] = [];
  let lastStamp = 0;
  let jobSeq = 0;
  const bumpModified = (t: string) => {
    lastStamp = Math.max(Date.now(), lastStamp + 1);
    modified.set(t, lastStamp);
  };
  const startedAt = Date.now();

  /** BigQuery name parts → DuckDB `ds.t` (the project is dropped). */
  const local = (parts: string[]) => parts.slice(-2).join('.');
  const quoted = (t: string) =>
    t
      .split('.')
      .map((p) => '"' + p.replace(/"/g, '""') + '"')
      .join('.');

  async function tableInfo(
    t: string,
  ): Promise<{ rows: number; cols: number; kind: 'TABLE' | 'VIEW' } | null> {
    const [s, n] = t.split('.');
    const r = await conn.runAndReadAll(
      `SELECT estimated_size::BIGINT AS r, column_count::BIGINT AS c, 'TABLE' AS k FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2
       UNION ALL SELECT 0, 0, 'VIEW' FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2`,
      [s!, n!],
    );
    const row = r.getRows()[0];
    if (!row) return null;
    return { rows: Number(row[0]), cols: Number(row[1]), kind: row[2] as 'TABLE' | 'VIEW' };
  }

  /** The stand-in's own tables a DuckDB query reads, from its plan with the optimizer off (the
   *  binder expands views; an optimizer could drop a scan it proves empty). A connection of its
   *  own, since `disable_optimizer` is per connection. */
  const planConn = await instance.connect();
  await planConn.run('PRAGMA disable_optimizer');
  async function referencedTables(duck: string, values: DuckDBValue[]): Promise<string[]> {
    const stmt = await planConn.prepare(`EXPLAIN (FORMAT JSON) ${duck}`);
    values.forEach((v, i) => (v === null ? stmt.bindNull(i + 1) : stmt.bindValue(i + 1, v)));
    const r = await stmt.runAndReadAll();
    const found = new Set<string>();
    interface PlanNode {
      children?: PlanNode[];
      extra_info?: { Table?: unknown };
    }
    const visit = (n: PlanNode) => {
      const t = n.extra_info?.Table;
      if (typeof t === 'string') {
        const parts = t.split('.').map((p) => p.replace(/^"|"$/g, ''));
        if (parts[1] !== '_standin') found.add(parts.slice(-2).join('.'));
      }
      for (const c of n.children ?? []) visit(c);
    };
    for (const row of r.getRowObjectsJson() as { explain_value: string }[])
      for (const n of JSON.parse(row.explain_value) as PlanNode[]) visit(n);
    return [...found].sort();
  }

  async function estimateBytes(bqText: string): Promise<number> {
    let bytes = 0;
    for (const t of new Set(scanTables(bqText).map((x) => local(x.parts)))) {
      const info = await tableInfo(t);
      if (info) bytes += info.rows * Math.max(1, info.cols) * 8;
    }
    return bytes;
  }

  /** BigQuery SQL with @named params → DuckDB SQL with $n, plus the values to bind. */
  async function toDuckDB(
    bqText: string,
    params: QueryParameter[],
  ): Promise<{ text: string; values: DuckDBValue[] }> {
    const names = params.map((p) => p.name ?? '');
    const code = codeOnly(bqText);
    let withMarkers = '';
    let at = 0;
    for (const m of code.matchAll(/@([A-Za-z_]\w*)/g)) {
      const i = names.indexOf(m[1]!);
      if (i < 0) throw new BadQuery(`Query parameter '${m[1]}' not found`);
      withMarkers += bqText.slice(at, m.index) + `__cellar_p${i}__`;
      at = m.index + m[0].length;
    }
    withMarkers += bqText.slice(at);
    const mapped = rewriteTables(withMarkers, (parts) => quotedBq(local(parts)));
    const duck = (await translate(mapped, 'bigquery', 'duckdb')).replace(
      /__cellar_p(\d+)__/g,
      (_m, d: string) => `$${Number(d) + 1}`,
    );
    return { text: duck, values: params.map(paramValue) };
  }

  async function runQueryJob(
    projectId: string,
    location: string,
    cfg: Record<string, any>,
    dryRun: boolean,
    jobId?: string,
  ): Promise<JobRecord> {
    const q = cfg.query as Record<string, any>;
    const seq = ++jobSeq;
    const id = jobId ?? `standin_${seq}_${Date.now()}`;
    const job: JobRecord = {
      id,
      projectId,
      location,
      resultTable: null,
      schema: [],
      totalRows: 0,
      bytes: 0,
      statementType: 'SELECT',
      referenced: [],
      error: null,
      configuration: cfg,
    };
    try {
      if (q.useLegacySql === true)
        throw new BadQuery('Legacy SQL is not supported by the stand-in');
      const text = String(q.query ?? '');
      job.bytes = await estimateBytes(text);
      const target = writeTarget(text);
      const isStatement = /^\s*(CREATE|DROP|ALTER|INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b/i.test(
        codeOnly(text),
      );
      job.statementType = target
        ? /^\s*CREATE/i.test(text)
          ? 'CREATE_TABLE_AS_SELECT'
          : /^\s*DROP/i.test(text)
            ? 'DROP_TABLE'
            : 'DML'
        : 'SELECT';
      if (target) {
        // Real BigQuery needs the dataset to exist.
        const [ds] = local(target).split('.');
        const r = await conn.runAndReadAll(
          `SELECT 1 FROM duckdb_schemas() WHERE schema_name = $1`,
          [ds!],
        );
        if (r.getRows().length === 0) throw new NotFound(`Not found: Dataset ${projectId}:${ds}`);
      }
      const limit = q.maximumBytesBilled !== undefined ? Number(q.maximumBytesBilled) : null;
      if (limit !== null && job.bytes > limit) {
        throw new BadQuery(
          `Query exceeded limit for bytes billed: ${limit}. ${Math.max(job.bytes, 10 * 2 ** 20)} or higher required.`,
          'bytesBilledLimitExceeded',
        );
      }
      const { text: duck, values } = await toDuckDB(
        text,
        (q.queryParameters ?? []) as QueryParameter[],
      );
      if (dryRun) {
        await conn.prepare(duck).catch((e: Error) => {
          throw new BadQuery(e.message);
        });
        if (!isStatement) job.referenced = await referencedTables(duck, values);
        return job;
      }
      if (!isStatement) job.referenced = await referencedTables(duck, values);
      if (isStatement) {
        await runStmt(conn, duck, values);
        if (target) bumpModified(local(target));
      } else {
        const resultTable = `_standin.job_${seq}`;
        await runStmt(conn, `CREATE TABLE ${resultTable} AS ${duck}`, values);
        job.resultTable = resultTable;
        const dest = q.destinationTable as { datasetId: string; tableId: string } | undefined;
        if (dest) {
          const t = `${dest.datasetId}.${dest.tableId}`;
          const exists = await tableInfo(t);
          if (exists && q.writeDisposition === 'WRITE_EMPTY')
            throw new BadQuery(`Already Exists: Table ${projectId}:${t}`, 'duplicate');
          if (exists && q.writeDisposition === 'WRITE_APPEND')
            await conn.run(`INSERT INTO ${quoted(t)} SELECT * FROM ${resultTable}`);
          else
            await conn.run(`CREATE OR REPLACE TABLE ${quoted(t)} AS SELECT * FROM ${resultTable}`);
          bumpModified(t);
        }
        const d = await conn.runAndReadAll(`SELECT * FROM ${resultTable} LIMIT 0`);
        job.schema = d.columnNames().map((n, i) => fieldFor(n, d.columnType(i)));
        const c = await conn.runAndReadAll(`SELECT count(*)::BIGINT FROM ${resultTable}`);
        job.totalRows = Number(c.getRows()[0]![0]);
      }
    } catch (e) {
      if (e instanceof NotFound) throw e;
      job.error = {
        reason: e instanceof BadQuery ? e.reason : 'invalidQuery',
        message: e instanceof BadQuery ? e.message : `Stand-in: ${(e as Error).message}`,
      };
    }
    jobs.set(id, job);
    return job;
  }

  function jobResource(job: JobRecord, dryRun = false) {
    const status: Record<string, unknown> = { state: 'DONE' };
    if (job.error) {
      status.errorResult = { ...job.error, location: 'query' };
      status.errors = [{ ...job.error, location: 'query' }];
    }
    return {
      kind: 'bigquery#job',
      id: `${job.projectId}:${job.location}.${job.id}`,
      jobReference: { projectId: job.projectId, jobId: job.id, location: job.location },
      configuration: { ...(job.configuration as object), dryRun },
      status,
      statistics: {
        creationTime: String(Date.now()),
        totalBytesProcessed: String(job.bytes),
        query: {
          totalBytesProcessed: String(job.bytes),
          totalBytesBilled: String(dryRun ? 0 : job.bytes),
          statementType: job.statementType,
          cacheHit: false,
          referencedTables: job.referenced.map((t) => {
            const [datasetId, tableId] = t.split('.');
            return { projectId: job.projectId, datasetId, tableId };
          }),
        },
      },
    };
  }

  async function page(
    job: JobRecord,
    pageToken: string | undefined,
    maxResults: number | undefined,
    int64Ts: boolean,
  ) {
    const offset = pageToken ? Number(pageToken) : 0;
    const size = Math.min(maxResults ?? 10_000, 100_000);
    let rows: unknown[] = [];
    if (job.resultTable) {
      const r = await conn.runAndReadAll(
        `SELECT * FROM ${job.resultTable} LIMIT ${size} OFFSET ${offset}`,
      );
      const types = r.columnTypes();
      rows = r
        .getRows()
        .map((row) => ({ f: row.map((v, i) => ({ v: encode(v, types[i]!, int64Ts) })) }));
    }
    const next = offset + rows.length < job.totalRows ? String(offset + rows.length) : undefined;
    return {
      kind: 'bigquery#getQueryResultsResponse',
      jobReference: { projectId: job.projectId, jobId: job.id, location: job.location },
      jobComplete: true,
      schema: { fields: job.schema },
      totalRows: String(job.totalRows),
      ...(job.resultTable ? { rows } : {}),
      ...(next ? { pageToken: next } : {}),
      totalBytesProcessed: String(job.bytes),
      cacheHit: false,
    };
  }

  async function route(req: IncomingMessage, url: URL, body: any): Promise<[number, unknown]> {
    const path = url.pathname.replace(/^\/bigquery\/v2/, '');
    const qs = url.searchParams;
    const int64Ts = qs.get('formatOptions.useInt64Timestamp') === 'true';
    let m: RegExpExecArray | null;
    if ((m = /^\/projects\/([^/]+)\/jobs$/.exec(path)) && req.method === 'POST') {
      const cfg = body.configuration ?? {};
      if (!cfg.query)
        return [
          400,
          apiError(400, 'The stand-in only runs query jobs (no load/extract/copy)', 'invalid'),
        ];
      const ref = body.jobReference ?? {};
      const job = await runQueryJob(
        m[1]!,
        ref.location ?? 'US',
        cfg,
        Boolean(cfg.dryRun),
        ref.jobId,
      );
      return [200, jobResource(job, Boolean(cfg.dryRun))];
    }
    if ((m = /^\/projects\/([^/]+)\/jobs\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const job = jobs.get(decodeURIComponent(m[2]!));
      return job
        ? [200, jobResource(job)]
        : [404, apiError(404, `Not found: Job ${m[1]}:${m[2]}`, 'notFound')];
    }
    if ((m = /^\/projects\/([^/]+)\/queries$/.exec(path)) && req.method === 'POST') {
      const job = await runQueryJob(
        m[1]!,
        body.location ?? 'US',
        { query: { ...body } },
        Boolean(body.dryRun),
      );
      if (job.error) return [400, apiError(400, job.error.message, job.error.reason)];
      const first = await page(
        job,
        undefined,
        body.maxResults,
        body.formatOptions?.useInt64Timestamp === true,
      );
      return [200, { ...first, kind: 'bigquery#queryResponse' }];
    }
    if ((m = /^\/projects\/([^/]+)\/queries\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const job = jobs.get(decodeURIComponent(m[2]!));
      if (!job) return [404, apiError(404, `Not found: Job ${m[1]}:${m[2]}`, 'notFound')];
      if (job.error) return [400, apiError(400, job.error.message, job.error.reason)];
      if ((polls.get(job.id) ?? 0) < (opts.slowPolls ?? 0)) {
        polls.set(job.id, (polls.get(job.id) ?? 0) + 1);
        return [
          200,
          {
            kind: 'bigquery#getQueryResultsResponse',
            jobReference: { projectId: job.projectId, jobId: job.id, location: job.location },
            jobComplete: false,
          },
        ];
      }
      return [
        200,
        await page(
          job,
          qs.get('pageToken') ?? undefined,
          qs.has('maxResults') ? Number(qs.get('maxResults')) : undefined,
          int64Ts,
        ),
      ];
    }
    if ((m = /^\/projects\/([^/]+)\/datasets$/.exec(path)) && req.method === 'POST') {
      const ds = body.datasetReference?.datasetId as string;
      const r = await conn.runAndReadAll(`SELECT 1 FROM duckdb_schemas() WHERE schema_name = $1`, [
        ds,
      ]);
      if (r.getRows().length > 0)
        return [409, apiError(409, `Already Exists: Dataset ${m[1]}:${ds}`, 'duplicate')];
      await conn.run(`CREATE SCHEMA ${quoted(ds)}`);
      return [
        200,
        {
          kind: 'bigquery#dataset',
          id: `${m[1]}:${ds}`,
          datasetReference: { projectId: m[1], datasetId: ds },
        },
      ];
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(path))) {
      const ds = decodeURIComponent(m[2]!);
      const r = await conn.runAndReadAll(`SELECT 1 FROM duckdb_schemas() WHERE schema_name = $1`, [
        ds,
      ]);
      if (r.getRows().length === 0)
        return [404, apiError(404, `Not found: Dataset ${m[1]}:${ds}`, 'notFound')];
      if (req.method === 'DELETE') {
        await conn.run(`DROP SCHEMA ${quoted(ds)} CASCADE`);
        return [204, null];
      }
      return [
        200,
        {
          kind: 'bigquery#dataset',
          id: `${m[1]}:${ds}`,
          datasetReference: { projectId: m[1], datasetId: ds },
        },
      ];
    }
    if (
      (m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) &&
      req.method === 'GET'
    ) {
      const ds = decodeURIComponent(m[2]!);
      const r = await conn.runAndReadAll(
        `SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE schema_name = $1 UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE schema_name = $1 AND NOT internal ORDER BY 1`,
        [ds],
      );
      const tables = r.getRows().map(([t, kind]) => ({
        kind: 'bigquery#table',
        id: `${m![1]}:${ds}.${t}`,
        tableReference: { projectId: m![1], datasetId: ds, tableId: t },
        type: kind,
      }));
      return [200, { kind: 'bigquery#tableList', tables, totalItems: tables.length }];
    }
    if (
      (m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)(\/data|\/insertAll)?$/.exec(
        path,
      ))
    ) {
      const [, project, dsRaw, tRaw, sub] = m;
      const t = `${decodeURIComponent(dsRaw!)}.${decodeURIComponent(tRaw!)}`;
      const info = await tableInfo(t);
      if (!info) return [404, apiError(404, `Not found: Table ${project}:${t}`, 'notFound')];
      if (!sub && req.method === 'DELETE') {
        await conn.run(info.kind === 'VIEW' ? `DROP VIEW ${quoted(t)}` : `DROP TABLE ${quoted(t)}`);
        modified.delete(t);
        return [204, null];
      }
      if (!sub && req.method === 'GET') {
        // A view whose base table was dropped no longer binds: BigQuery still answers with the
        // schema stored when the view was made; the stand-in keeps none, so it sends no fields.
        const d = await conn
          .runAndReadAll(`SELECT * FROM ${quoted(t)} LIMIT 0`)
          .catch((e: unknown) => {
            if (info.kind === 'VIEW') return null;
            throw e;
          });
        const [ds, id] = t.split('.');
        return [
          200,
          {
            kind: 'bigquery#table',
            id: `${project}:${t}`,
            tableReference: { projectId: project, datasetId: ds, tableId: id },
            type: info.kind,
            schema: {
              fields: d ? d.columnNames().map((n, i) => fieldFor(n, d.columnType(i))) : [],
            },
            numRows: String(info.rows),
            numBytes: String(info.rows * info.cols * 8),
            creationTime: String(startedAt),
            lastModifiedTime: String(modified.get(t) ?? startedAt),
            location: 'US',
          },
        ];
      }
      if (sub === '/insertAll' && req.method === 'POST') {
        const d = await conn.runAndReadAll(`SELECT * FROM ${quoted(t)} LIMIT 0`);
        const cols = d.columnNames();
        const types = d.columnTypes().map((x) => x.toString());
        const stmt = await conn.prepare(
          `INSERT INTO ${quoted(t)} VALUES (${cols.map((_, i) => `$${i + 1}::${types[i]}`).join(', ')})`,
        );
        for (const r of (body.rows ?? []) as { json: Record<string, unknown> }[]) {
          cols.forEach((c, i) => {
            const v = r.json[c];
            if (v === null || v === undefined) stmt.bindNull(i + 1);
            else stmt.bindVarchar(i + 1, typeof v === 'object' ? JSON.stringify(v) : String(v));
          });
          await stmt.run();
        }
        bumpModified(t);
        return [200, { kind: 'bigquery#tableDataInsertAllResponse' }];
      }
      if (sub === '/data' && req.method === 'GET') {
        const offset = Number(qs.get('pageToken') ?? qs.get('startIndex') ?? 0);
        const size = Number(qs.get('maxResults') ?? 10_000);
        const r = await conn.runAndReadAll(
          `SELECT * FROM ${quoted(t)} LIMIT ${size} OFFSET ${offset}`,
        );
        const types = r.columnTypes();
        const rows = r
          .getRows()
          .map((row) => ({ f: row.map((v, i) => ({ v: encode(v, types[i]!, int64Ts) })) }));
        const next = offset + rows.length < info.rows ? String(offset + rows.length) : undefined;
        return [
          200,
          {
            kind: 'bigquery#tableDataList',
            totalRows: String(info.rows),
            rows,
            ...(next ? { pageToken: next } : {}),
          },
        ];
      }
    }
    return [404, apiError(404, `Stand-in does not implement ${req.method} ${path}`, 'notFound')];
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push(`${req.method} ${url.pathname}`);
      let body: unknown = {};
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        send(res, 400, apiError(400, 'request body is not JSON', 'invalid'));
        return;
      }
      route(req, url, body).then(
        ([status, payload]) => send(res, status, payload),
        (e: unknown) => {
          if (e instanceof NotFound) send(res, 404, apiError(404, e.message, 'notFound'));
          else if (e instanceof BadQuery) send(res, 400, apiError(400, e.message, e.reason));
          else
            send(
              res,
              500,
              apiError(500, `stand-in failure: ${(e as Error).stack ?? e}`, 'backendError'),
            );
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    async exec(text: string) {
      await conn.run(text);
      const target = writeTarget(text);
      if (target) bumpModified(local(target));
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      planConn.closeSync();
      conn.closeSync();
      instance.closeSync();
    },
  };
}

class BadQuery extends Error {
  constructor(
    message: string,
    readonly reason = 'invalidQuery',
  ) {
    super(message);
  }
}
class NotFound extends Error {}

function quotedBq(t: string): string {
  return t
    .split('.')
    .map((p) => '`' + p + '`')
    .join('.');
}

function apiError(code: number, message: string, reason: string) {
  return {
    error: {
      code,
      message,
      errors: [{ message, domain: 'global', reason }],
      status: code === 404 ? 'NOT_FOUND' : code === 409 ? 'ALREADY_EXISTS' : 'INVALID_ARGUMENT',
    },
  };
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function runStmt(conn: DuckDBConnection, text: string, values: DuckDBValue[]): Promise<void> {
  const stmt = await conn.prepare(text);
  values.forEach((v, i) => (v === null ? stmt.bindNull(i + 1) : stmt.bindValue(i + 1, v)));
  await stmt.run();
}

function fieldFor(name: string, type: DuckDBType): Field {
  if (type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY) {
    const inner = fieldFor(name, (type as unknown as { valueType: DuckDBType }).valueType);
    return { ...inner, mode: 'REPEATED' };
  }
  if (type.typeId === DuckDBTypeId.STRUCT) {
    const st = type as unknown as { entryNames: string[]; entryTypes: DuckDBType[] };
    return {
      name,
      type: 'RECORD',
      mode: 'NULLABLE',
      fields: st.entryNames.map((n, i) => fieldFor(n, st.entryTypes[i]!)),
    };
  }
  return { name, type: bigQueryTypeFromDuckDB(type.toString()), mode: 'NULLABLE' };
}

/** A DuckDB value as BigQuery's REST API spells it: strings, typed by the schema. */
function encode(v: DuckDBValue, type: DuckDBType, int64Ts: boolean): unknown {
  if (v === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const inner = (type as unknown as { valueType: DuckDBType }).valueType;
      return (v as unknown as { items: DuckDBValue[] }).items.map((x) => ({
        v: encode(x, inner, int64Ts),
      }));
    }
    case DuckDBTypeId.STRUCT: {
      const st = type as unknown as { entryNames: string[]; entryTypes: DuckDBType[] };
      const e = (v as unknown as { entries: Record<string, DuckDBValue> }).entries;
      return {
        f: st.entryNames.map((n, i) => ({ v: encode(e[n] ?? null, st.entryTypes[i]!, int64Ts) })),
      };
    }
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ: {
      const micros = (v as unknown as { micros: bigint }).micros;
      return int64Ts ? micros.toString() : String(Number(micros) / 1e6);
    }
    case DuckDBTypeId.BOOLEAN:
      return v ? 'true' : 'false';
    case DuckDBTypeId.BLOB:
      return base64((v as unknown as { bytes: Uint8Array }).bytes);
    default:
      return String(v);
  }
}

/** A REST query parameter → a DuckDB value to bind. */
function paramValue(p: QueryParameter): DuckDBValue {
  const t = p.parameterType.type;
  if (t === 'ARRAY') {
    const inner = p.parameterType.arrayType?.type ?? 'STRING';
    const items = (p.parameterValue?.arrayValues ?? []).map((x) => scalar(inner, x.value));
    return listOf(items);
  }
  return scalar(t, p.parameterValue?.value);
}

// Imported lazily to keep the top of the file about the protocol.
import { DuckDBDateValue, DuckDBTimestampValue, listValue, blobValue } from '@duckdb/node-api';
function listOf(items: DuckDBValue[]): DuckDBValue {
  return listValue(items);
}
function scalar(type: string, value: unknown): DuckDBValue {
  if (value === null || value === undefined) return null;
  const raw = String(value);
  switch (type) {
    case 'INT64':
    case 'INTEGER':
      return BigInt(raw);
    case 'FLOAT64':
    case 'FLOAT':
    case 'NUMERIC':
      return Number(raw);
    case 'BOOL':
    case 'BOOLEAN':
      return raw === 'true';
    case 'TIMESTAMP':
      return new DuckDBTimestampValue(
        BigInt(Date.parse(raw.replace(' ', 'T').replace(/(\.\d{3})\d*/, '$1'))) * 1000n,
      );
    case 'DATE':
      return new DuckDBDateValue(Math.round(Date.parse(raw + 'T00:00:00Z') / 86_400_000));
    case 'BYTES':
      return blobValue(Buffer.from(raw, 'base64'));
    default:
      return raw;
  }
}
