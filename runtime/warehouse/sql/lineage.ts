// Which tables and columns a query's output columns come from, for the docs site and `cellar show`.
//
// Wraps @polyglot-sql/sdk's query analysis and resolves columns that come through CTEs down to
// base tables. Works on the text of a `sql` template as written (interpolations are replaced by
// parameter markers first, so `${minDelay}` is not mistaken for a column). The tables it lists
// come from the runtime's scanner (names.ts), which decides what gets rewritten; `warehouse.reads`
// (table versions in the key) is filled by the compiler instead (compiler/analyze/sql.ts).
import type { SqlDialect } from '../../task.js';
import { marker } from './compose.js';
import { scanTables } from './names.js';
import { WarehouseError } from '../types.js';

export interface ColumnSource {
  table: string;
  column: string;
}

export interface ColumnLineage {
  /** Output column name (null for an unnamed expression). */
  column: string | null;
  /** 'direct' (a column passed through), 'expression', 'aggregation', … as the analyser says. */
  transform: string;
  sources: ColumnSource[];
}

export interface SqlAnalysis {
  tables: string[];
  columns: ColumnLineage[];
}

interface Upstream {
  table: string | null;
  column: string;
  sourceKind: string;
}
interface Projection {
  name: string | null;
  transformKind: string;
  upstream: Upstream[];
}
interface Analysis {
  projections: Projection[];
  cteFacts: { name: string; bodySql: string }[];
}

/** Analyse the strings of a `sql` template (the parts between interpolations). */
export async function analyzeTemplate(
  strings: readonly string[],
  dialect: SqlDialect = 'bigquery',
): Promise<SqlAnalysis> {
  return analyzeSql(
    strings.reduce((acc, s, i) => (i === 0 ? s : `${acc}${marker(i - 1)}${s}`), ''),
    dialect,
  );
}

export async function analyzeSql(
  text: string,
  dialect: SqlDialect = 'bigquery',
): Promise<SqlAnalysis> {
  const polyglot = await import('@polyglot-sql/sdk');
  const d = dialect === 'bigquery' ? polyglot.Dialect.BigQuery : polyglot.Dialect.DuckDB;
  const analyse = (sqlText: string): Analysis => {
    const r = polyglot.analyzeQuery(sqlText, d) as {
      success: boolean;
      analysis?: Analysis;
      error?: string | null;
    };
    if (!r.success || !r.analysis)
      throw new WarehouseError('E_WH_DIALECT', `cannot analyse SQL: ${r.error ?? 'unknown error'}`);
    return r.analysis;
  };
  const top = analyse(text);
  const resolve = (a: Analysis, up: Upstream, depth: number): ColumnSource[] => {
    if (/^@?__cellar_p\d+__$/.test(up.column)) return [];
    if (up.sourceKind !== 'cte' || depth > 8)
      return up.table ? [{ table: up.table, column: up.column }] : [];
    const cte = a.cteFacts.find((c) => c.name === up.table);
    if (!cte) return [];
    const inner = analyse(cte.bodySql);
    const proj = inner.projections.find((p) => p.name === up.column);
    // The CTE body may use CTEs defined before it in the outer query: look there too.
    const scope: Analysis = { ...inner, cteFacts: [...inner.cteFacts, ...a.cteFacts] };
    return proj ? proj.upstream.flatMap((u) => resolve(scope, u, depth + 1)) : [];
  };
  const columns = top.projections.map((p) => {
    const seen = new Set<string>();
    const sources = p.upstream
      .flatMap((u) => resolve(top, u, 0))
      .filter((s) => !seen.has(`${s.table}.${s.column}`) && seen.add(`${s.table}.${s.column}`))
      .sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));
    return { column: p.name, transform: p.transformKind, sources };
  });
  const tables = [...new Set(scanTables(text, dialect).map((t) => t.parts.join('.')))].sort();
  return { tables, columns };
}
