// sqlReads: the tables a cell's sql`…` templates read, for the warehouse's cache key and the
// `tables` upstream edges.
//
// The template text is extracted statically by analyze/cell.ts (interpolations become `@p0`…,
// BigQuery's parameter syntax, which is also how the runtime binds them). @polyglot-sql/sdk's
// analyzeQuery parses it; its WASM start costs ~0.3 s, so it is imported only when some cell has
// sql``. A query it cannot parse yields no tables rather than an error: the warehouse reports SQL
// errors at run time with the job's own message, and reads only ever add cache-key precision.
type Polyglot = typeof import('@polyglot-sql/sdk');

const PLACEHOLDER = '__cellar_param_';

let loading: Promise<Polyglot | undefined> | undefined;

export async function sqlReads(templates: string[], dialect: 'bigquery' | 'duckdb' | undefined): Promise<string[]> {
  if (templates.length === 0) return [];
  loading ??= import('@polyglot-sql/sdk').catch(() => undefined);
  const polyglot = await loading;
  if (!polyglot) return [];
  const tables = new Set<string>();
  for (const template of templates) {
    // An interpolation after FROM/JOIN is a table (an upstream Query): give it a table-shaped
    // placeholder so the rest of the query still parses, and leave it out of the reads.
    const sql = template.replace(/\b(FROM|JOIN)(\s+)@p(\d+)/gi, (_, kw: string, ws: string, n: string) => `${kw}${ws}${PLACEHOLDER}${n}`);
    try {
      const result = polyglot.analyzeQuery(sql, dialect === 'duckdb' ? polyglot.Dialect.DuckDB : polyglot.Dialect.BigQuery);
      for (const t of result.success ? result.analysis?.baseTables ?? [] : []) if (t.name && !t.name.startsWith(PLACEHOLDER)) tables.add(t.name);
    } catch {
      // Unparseable SQL: no reads (see the header).
    }
  }
  return [...tables].sort();
}
