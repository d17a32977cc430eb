// `sql`: the tagged template notebooks and compiled tasks use to read the warehouse.
//
//   const rows = await sql<Flight>`SELECT * FROM \`cellar-examples.vega.flights\` WHERE delay > ${minDelay}`;
//
// `sql` returns a lazy `Query`: nothing runs until it is awaited (or streamed). That laziness is
// what lets one cell work in both worlds: in the notebook, awaiting runs it live; in a compiled
// task marked `//| materialize: mart.daily`, the hooks take the un-run Query and create a table
// from it inside the warehouse, and downstream tasks receive a table reference instead. A Query
// interpolated into another `sql` becomes a subquery; a value becomes a bound parameter.
import type { SqlDialect } from '../../task.js';
import type { Ident, QueryTemplate, TableRef, TypedParam } from './compose.js';
import { isQueryTemplate } from './compose.js';
import { attachSite, captureSite, type QuerySite } from '../tasks/origin.js';
import {
  currentScope,
  getWarehouse,
  maxBytesBilled,
  noteFolderWrites,
  prepareQuery,
  type Prepared,
} from '../session.js';
import {
  WarehouseError,
  type ColumnBatch,
  type ParamType,
  type Row,
  type Warehouse,
} from '../types.js';

export class Query<R extends object = Row> implements PromiseLike<R[]>, QueryTemplate {
  readonly kind = 'cellar.query' as const;

  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
    readonly dialect: SqlDialect | undefined,
  ) {}

  /** Awaiting a Query runs it and resolves to JSON-safe row objects. */
  then<A = R[], B = never>(
    onfulfilled?: ((value: R[]) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.rows().then(onfulfilled, onrejected);
  }

  /** Runs the query; all rows in memory. For big results use `stream()` or `columns()`. */
  async rows(opts: { pageSize?: number } = {}): Promise<R[]> {
    try {
      return await this.#rows(opts);
    } catch (e) {
      throw this.located(e);
    }
  }

  /** A warehouse failure, marked with the line that wrote this query (see origin.ts). */
  located(e: unknown): unknown {
    return attachSite(e, sites.get(this), this.strings);
  }

  async #rows(opts: { pageSize?: number }): Promise<R[]> {
    const w = await getWarehouse();
    const p = await prepareQuery(w, this);
    if (await recordDryRun(w, p)) return [];
    const max = maxBytesBilled();
    if (p.writes) {
      await w.execute(p, [p.writes], max ? { maxBytesBilled: max } : {});
      return [];
    }
    const { rows } = await w.query(p, { ...opts, ...(max ? { maxBytesBilled: max } : {}) });
    noteFolderWrites(p);
    return rows as unknown as R[];
  }

  /** Row batches, one page in memory at a time (default 50 000 rows per batch). */
  async *stream(opts: { pageSize?: number } = {}): AsyncIterable<R[]> {
    try {
      const w = await getWarehouse();
      const p = await prepareQuery(w, this);
      if (await recordDryRun(w, p)) return;
      for await (const batch of w.stream(p, {
        ...opts,
        maxBytesBilled: maxBytesBilled() ?? undefined,
      }))
        yield batch as unknown as R[];
    } catch (e) {
      throw this.located(e);
    }
  }

  /** Columnar batches: each column one array; cheaper than row objects for wide scans. */
  async *columns(opts: { pageSize?: number } = {}): AsyncIterable<ColumnBatch> {
    try {
      const w = await getWarehouse();
      const p = await prepareQuery(w, this);
      if (await recordDryRun(w, p)) return;
      yield* w.columns(p, { ...opts, maxBytesBilled: maxBytesBilled() ?? undefined });
    } catch (e) {
      throw this.located(e);
    }
  }

  /** Bytes the query would process on the active warehouse (`null` on DuckDB). */
  async dryRun(): Promise<number | null> {
    const w = await getWarehouse();
    return (await w.dryRun(await prepareQuery(w, this))).bytes;
  }

  /** The text and parameters as they would be sent to the active warehouse. */
  async toSQL(): Promise<Prepared> {
    return prepareQuery(await getWarehouse(), this);
  }
}

/** Inside `estimateTask` (cellar run --dry-run) queries are dry-run, not run: add up their bytes
 *  and report true so the caller returns no rows. */
async function recordDryRun(w: Warehouse, p: Prepared): Promise<boolean> {
  const scope = currentScope();
  if (!scope?.dryRun) return false;
  const { bytes } = await w.dryRun(p);
  scope.dryRun.queries++;
  if (bytes === null) scope.dryRun.unknown = true;
  else scope.dryRun.bytes += bytes;
  return true;
}

/** Each Query's site, kept off the object so it never reaches hashes, codecs or `inspect`. */
const sites = new WeakMap<object, QuerySite>();

type SqlTag = <R extends object = Row>(
  strings: TemplateStringsArray,
  ...values: unknown[]
) => Query<R>;

function tagFor(dialect: SqlDialect | undefined): SqlTag {
  const tag = <R extends object = Row>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Query<R> => {
    if (!Array.isArray(strings) || !('raw' in strings))
      throw new WarehouseError(
        'E_WH_PARAM',
        'sql must be used as a tagged template: sql`SELECT …`, not sql("…")',
      );
    const q = new Query<R>(strings, values, dialect);
    sites.set(q, captureSite(tag));
    return q;
  };
  return tag;
}

/** A table by name, to interpolate as an identifier: sql`SELECT * FROM ${table('vega.flights')}`. */
export function table(name: string): TableRef {
  if (!/^[\w`".-]+$/.test(name))
    throw new WarehouseError('E_WH_PARAM', `not a table name: ${JSON.stringify(name)}`);
  return { kind: 'cellar.table', name: name.replace(/[`"]/g, '') };
}

/** A column or other identifier, quoted, never a parameter: sql`SELECT ${ident(col)} FROM …`. */
export function ident(...parts: string[]): Ident {
  return { kind: 'cellar.ident', parts };
}

/** A parameter with an explicit type, for null and for DATE: sql`… WHERE ds = ${param('2024-01-01', 'DATE')}`. */
export function param(value: unknown, type: ParamType): TypedParam {
  return { kind: 'cellar.param', value, type };
}

export interface Sql extends SqlTag {
  /** A tag for SQL written in another dialect than the project's: sql.dialect('duckdb')`…`. */
  dialect(d: SqlDialect): SqlTag;
  table: typeof table;
  ident: typeof ident;
  param: typeof param;
}

/**
 * The SQL template tag: ``sql`SELECT * FROM ${table('flights')} WHERE delay > ${minDelay}` `` builds a
 * `Query` (awaiting it runs the query on the shared warehouse and yields rows). Interpolated
 * values become query parameters, never SQL text; a `Query` or `TableRef` nests as SQL.
 * `sql.dialect('duckdb')` writes in another dialect than the project's (BigQuery by default).
 * @throws WarehouseError `E_WH_PARAM` when called as a function rather than as a tag, or for a
 *   value that cannot be a parameter; `E_WH_DIALECT` for queries of two dialects nested.
 */
export const sql: Sql = Object.assign(tagFor(undefined), {
  dialect: (d: SqlDialect) => tagFor(d),
  table,
  ident,
  param,
});

export function isQuery(v: unknown): v is Query<object> {
  return v instanceof Query || isQueryTemplate(v);
}
