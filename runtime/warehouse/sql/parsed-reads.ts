// What a DuckDB SELECT reads, from DuckDB's own parse of it (`json_serialize_sql`), not a scan.
//
// Why the parser and not names.ts's scanner: the tables a query reads decide which tables key a
// task, and a scanner misses the shapes it was not taught (the second table of `FROM a, b`, a
// quoted `"G"` in a helper, `FROM tm()` reading a table macro's tables). DuckDB's parser sees
// every table reference (joins of every kind, comma joins, subqueries anywhere, quoted and
// qualified names) and says which names a WITH clause defines. Only the parse is used, never the
// binder: the tables need not exist, and nothing runs.
//
// The scanner stays the fallback (statements DuckDB does not serialise: INSERT, CREATE, …) and
// the rewriter (it needs offsets, which the parse does not give for every reference).
// Pure: no `node:*` imports.

/** A table the statement names, as written (parts unquoted, in the parser's spelling). */
export interface ParsedTableRef {
  catalog: string;
  schema: string;
  table: string;
}

/** What one parsed statement reads. */
export interface ParsedReads {
  /** Base tables and views named (CTE names left out, scope by scope). */
  tables: ParsedTableRef[];
  /** Table functions called in FROM (`tm()`, `read_csv(…)`, `duckdb_tables()`), lower case,
   *  with their schema when written. */
  functions: { schema: string; name: string }[];
  /** Scalar function calls anywhere (`shop.cnt()`), lower case: a user macro among them reads
   *  what its body reads. Operators left out. */
  calls: { schema: string; name: string }[];
  /** `query_table(…)` and `query(…)` in FROM: their argument is a table name (or a list of them)
   *  or SQL text, read only when the statement runs. `arg`: the literal strings, a bound
   *  parameter (`$n`, 0-based index), or null for any other expression. */
  indirect: { fn: 'query' | 'query_table'; arg: string[] | { param: number } | null }[];
}

/** Schemas whose tables are the catalog itself: reading them reads the list of tables. */
export const CATALOG_SCHEMAS = new Set(['information_schema', 'pg_catalog']);

/**
 * True when an unqualified name in FROM is, for DuckDB, likely a file rather than a table: a
 * replacement scan (`FROM 'data/sales.csv'`, `FROM 's3://b/x.parquet'`, `FROM 'parts/*.csv'`). The
 * parser reports it as a table; the file reads key it by content (session.ts's path scan), so it
 * is no table read unless a table of that very name exists (the caller checks the catalog).
 */
export function looksLikePath(ref: ParsedTableRef): boolean {
  return ref.schema === '' && ref.catalog === '' && /[./\\*?]/.test(ref.table);
}

/**
 * True when a reference reads the catalog rather than data: `information_schema.*`,
 * `pg_catalog.*`, `duckdb_tables()` and the other `duckdb_*` functions and views, `sqlite_master`,
 * `pragma_*` table functions, `SHOW …` and `DESCRIBE` (walked as `information_schema.tables`).
 */
export function readsCatalog(r: ParsedReads): boolean {
  return (
    r.tables.some(
      (t) =>
        CATALOG_SCHEMAS.has(t.schema.toLowerCase()) ||
        (t.schema === '' && /^(duckdb_\w+|sqlite_master|sqlite_schema|pg_\w+)$/i.test(t.table)),
    ) || r.functions.some((f) => /^(duckdb_\w+|pragma_\w+)$/.test(f.name))
  );
}

/**
 * The reads of the JSON `json_serialize_sql` returned, or null when DuckDB could not serialise
 * the statement (not a SELECT, or a parse error: the caller falls back to the scanner).
 */
export function parsedReads(json: string): ParsedReads | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  const d = doc as { error?: unknown; statements?: unknown };
  if (d.error !== false || !Array.isArray(d.statements)) return null;
  const out: ParsedReads = { tables: [], functions: [], calls: [], indirect: [] };
  walk(d.statements, new Set(), out);
  return out;
}

type Json = Record<string, unknown>;

/** Depth-first over the parse tree; `ctes` holds the names WITH clauses in scope define. */
function walk(node: unknown, ctes: ReadonlySet<string>, out: ParsedReads): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, ctes, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Json;
  let scope = ctes;
  const map = (o.cte_map as { map?: unknown } | undefined)?.map;
  if (Array.isArray(map) && map.length > 0) {
    const inner = new Set(ctes);
    for (const e of map) {
      const key = (e as { key?: unknown }).key;
      if (typeof key === 'string') inner.add(key.toLowerCase());
    }
    scope = inner;
  }
  if (o.type === 'BASE_TABLE' && typeof o.table_name === 'string') {
    const schema = typeof o.schema_name === 'string' ? o.schema_name : '';
    const catalog = typeof o.catalog_name === 'string' ? o.catalog_name : '';
    const isCte = schema === '' && catalog === '' && scope.has(o.table_name.toLowerCase());
    if (!isCte) out.tables.push({ catalog, schema, table: o.table_name });
  }
  // `SHOW TABLES`, `SHOW ALL TABLES`, `DESCRIBE`, `SHOW DATABASES`: DuckDB answers them from the
  // catalog (a table named in one, `DESCRIBE t`, is a BASE_TABLE below it as well).
  if (o.type === 'SHOW_REF')
    out.tables.push({ catalog: '', schema: 'information_schema', table: 'tables' });
  if (o.type === 'TABLE_FUNCTION') {
    const f = o.function as Json | undefined;
    if (f && typeof f.function_name === 'string') {
      const name = f.function_name.toLowerCase();
      out.functions.push({ schema: typeof f.schema === 'string' ? f.schema : '', name });
      if ((name === 'query' || name === 'query_table') && (f.schema ?? '') === '')
        out.indirect.push({
          fn: name,
          arg: literalArgument((f.children as unknown[] | undefined)?.[0]),
        });
    }
  } else if (
    o.class === 'FUNCTION' &&
    o.is_operator !== true &&
    typeof o.function_name === 'string'
  ) {
    out.calls.push({
      schema: typeof o.schema === 'string' ? o.schema : '',
      name: o.function_name.toLowerCase(),
    });
  }
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') walk(v, scope, out);
}

/** A call's argument as literal strings (a string, or a list of strings), a parameter, or null. */
function literalArgument(node: unknown): string[] | { param: number } | null {
  const o = node as Json | undefined;
  if (!o || typeof o !== 'object') return null;
  const constant = (n: Json): string | null => {
    const v = n.value as
      { is_null?: unknown; value?: unknown; type?: { id?: unknown } } | undefined;
    return n.class === 'CONSTANT' && v && v.is_null === false && typeof v.value === 'string'
      ? v.value
      : null;
  };
  const one = constant(o);
  if (one !== null) return [one];
  if (o.class === 'PARAMETER' && /^\d+$/.test(String(o.identifier)))
    return { param: Number(o.identifier) - 1 };
  if (o.class === 'FUNCTION' && o.function_name === 'list_value' && Array.isArray(o.children)) {
    const all = (o.children as Json[]).map(constant);
    return all.every((x): x is string => x !== null) ? all : null;
  }
  return null;
}

/** `text` as a SQL string literal, for `SELECT json_serialize_sql(<literal>)`. */
export function sqlStringLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
