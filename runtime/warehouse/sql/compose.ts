// Turns a `sql` template (strings + interpolated values) into text plus typed parameters.
//
// The one rule that keeps injection out: an interpolated *value* always becomes a bound parameter,
// never text. Only three things are inlined as SQL: another Query (as a parenthesised subquery,
// its parameters renumbered), a table reference (as a quoted name), and an explicit identifier
// made with `ident()`. Placeholders are written as `__cellar_p<i>__` markers, an identifier that
// survives dialect translation untouched; the adapter swaps them for `@p<i>` or `$<i+1>` last.
// Pure: no `node:*` imports.
import type { SqlDialect } from '../../task.js';
import { WarehouseError, type BoundParam, type ParamType } from '../types.js';
import { DOLLAR_QUOTE } from './files.js';

/** A reference to a warehouse table; what a materialised task hands to its downstream. Plain
 *  data (it goes through the runtime's JSON codec), recognised by shape. */
export interface TableRef {
  kind: 'cellar.table';
  /** Physical name, `ds.table_<key>` or `proj.ds.table_<key>`. */
  name: string;
  /** The logical name it materialises (`mart.daily`), when it came from `//| materialize`. */
  logical?: string;
}

/** A name inlined as a quoted identifier (column or table), never a parameter. */
export interface Ident {
  kind: 'cellar.ident';
  parts: string[];
}

/** A value with an explicit BigQuery type (needed for null, and for DATE vs string). */
export interface TypedParam {
  kind: 'cellar.param';
  value: unknown;
  type: ParamType;
}

/** What `compose` needs from a Query; `Query` (sql.ts) implements it. */
export interface QueryTemplate {
  readonly kind: 'cellar.query';
  readonly strings: readonly string[];
  readonly values: readonly unknown[];
  readonly dialect: SqlDialect | undefined;
}

export interface ComposedQuery {
  /** SQL in `dialect`, with `__cellar_p<i>__` markers for parameters. */
  text: string;
  params: BoundParam[];
  dialect: SqlDialect;
}

export const MARKER = /__cellar_p(\d+)__/g;
export const marker = (i: number) => `__cellar_p${i}__`;

export function isTableRef(v: unknown): v is TableRef {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as TableRef).kind === 'cellar.table' &&
    typeof (v as TableRef).name === 'string'
  );
}
export function isQueryTemplate(v: unknown): v is QueryTemplate {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as QueryTemplate).kind === 'cellar.query' &&
    Array.isArray((v as QueryTemplate).strings)
  );
}
const isIdent = (v: unknown): v is Ident =>
  typeof v === 'object' && v !== null && (v as Ident).kind === 'cellar.ident';
const isTyped = (v: unknown): v is TypedParam =>
  typeof v === 'object' && v !== null && (v as TypedParam).kind === 'cellar.param';

/** Quote an identifier in a dialect (each part separately). */
export function quoteIdent(parts: string[], dialect: SqlDialect): string {
  if (dialect === 'bigquery')
    return parts.map((p) => '`' + p.replace(/[`\\]/g, '\\$&') + '`').join('.');
  return parts.map((p) => '"' + p.replace(/"/g, '""') + '"').join('.');
}

/** The BigQuery type a JS value binds as. Integers are INT64, other numbers FLOAT64, Date is
 *  TIMESTAMP; a `YYYY-MM-DD` string stays STRING unless wrapped with `param(v, 'DATE')`. */
export function inferParamType(value: unknown, where: string): ParamType {
  if (value === null || value === undefined) return 'STRING';
  if (typeof value === 'string') return 'STRING';
  if (typeof value === 'bigint') return 'INT64';
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new WarehouseError(
        'E_WH_PARAM',
        `${where}: ${value} cannot be a query parameter (not finite)`,
      );
    return Number.isInteger(value) ? 'INT64' : 'FLOAT64';
  }
  if (typeof value === 'boolean') return 'BOOL';
  if (value instanceof Date) return 'TIMESTAMP';
  if (value instanceof Uint8Array) return 'BYTES';
  if (Array.isArray(value)) {
    const first = value.find((v) => v !== null && v !== undefined);
    if (first !== undefined && typeof first === 'object' && !(first instanceof Date)) {
      throw new WarehouseError(
        'E_WH_PARAM',
        `${where}: an array of objects cannot be a query parameter. If it holds rows of an upstream task, materialise that task (\`//| materialize: ds.table\`) so its result stays a table, or interpolate the Query itself.`,
      );
    }
    const inner = first === undefined ? 'STRING' : inferParamType(first, where);
    // Integers and floats mixed in one array: FLOAT64 holds both.
    const anyFloat = value.some((v) => typeof v === 'number' && !Number.isInteger(v));
    return `ARRAY<${inner === 'INT64' && anyFloat ? 'FLOAT64' : inner}>`;
  }
  throw new WarehouseError(
    'E_WH_PARAM',
    `${where}: a ${value?.constructor?.name ?? typeof value} cannot be a query parameter; pass a string, number, boolean, Date, bigint, Uint8Array or array of those`,
  );
}

/** Where a gap of a template (a `${…}`) sits: in code, in a comment, in a string literal (a
 *  dollar-quoted one too), or in a quoted name. */
export type GapContext = 'code' | 'comment' | 'string' | 'identifier';

/**
 * For each gap between a template's strings (each `${…}`): does it sit in code, in a SQL comment
 * (`-- …`, `# …` in BigQuery, `/* … *\/`), in a string (`'…'`, BigQuery's `"…"`, DuckDB's
 * `$$…$$`) or in a quoted name (DuckDB's `"…"`, BigQuery's `` `…` ``)? Comment markers inside
 * strings and names are text, so `'--'` in a literal is not a comment. The compiler keeps a copy
 * of this rule (compiler/analyze/sql.ts) for its diagnostics; it cannot import the runtime.
 */
export function gapContexts(strings: readonly string[], dialect: SqlDialect): GapContext[] {
  type State = 'code' | 'line' | 'block' | 'dollar' | "'" | '"' | '`';
  let state: State = 'code';
  let dollarTag = ''; // the `$$` or `$tag$` that opened a DuckDB dollar-quoted string
  // DuckDB (as Postgres) nests block comments: `/* a /* b */ c */` is one comment. BigQuery
  // does not: its comment ends at the first `*/`.
  let depth = 0;
  // DuckDB's escape string `E'it\'s'`: a backslash escapes the next character, as in BigQuery.
  let escapes = false;
  const out: GapContext[] = [];
  const context = (): GapContext =>
    state === 'code'
      ? 'code'
      : state === 'line' || state === 'block'
        ? 'comment'
        : state === '`' || (state === '"' && dialect === 'duckdb')
          ? 'identifier'
          : 'string';
  strings.forEach((text, k) => {
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      const next = text[i + 1];
      if (state === 'code') {
        if (c === '-' && next === '-') state = 'line';
        else if (c === '#' && dialect === 'bigquery') state = 'line';
        else if (c === '/' && next === '*') ((state = 'block'), (depth = 1), i++);
        else if (c === "'" || c === '"' || c === '`') {
          state = c;
          escapes = c === "'" && dialect === 'duckdb' && escapeStringAt(text, i);
        } else if (c === '$' && dialect === 'duckdb' && DOLLAR_QUOTE.test(text.slice(i, i + 66))) {
          dollarTag = DOLLAR_QUOTE.exec(text.slice(i, i + 66))![0];
          state = 'dollar';
          i += dollarTag.length - 1;
        }
      } else if (state === 'line') {
        if (c === '\n') state = 'code';
      } else if (state === 'block') {
        if (c === '*' && next === '/') {
          i++;
          if (--depth === 0 || dialect !== 'duckdb') state = 'code';
        } else if (c === '/' && next === '*' && dialect === 'duckdb') (depth++, i++);
      } else if (state === 'dollar') {
        if (text.startsWith(dollarTag, i)) ((state = 'code'), (i += dollarTag.length - 1));
      } else if (c === '\\' && state !== '`' && (dialect === 'bigquery' || escapes))
        i++; // BigQuery and DuckDB's E'…' escape; DuckDB's other strings are standard
      else if (c === state) {
        if (next === state && dialect === 'duckdb')
          i++; // DuckDB's doubled quote: an escaped quote, still inside
        else state = 'code';
      }
    }
    if (k < strings.length - 1) out.push(context());
  });
  return out;
}

/** True when the `'` at `i` opens a DuckDB escape string: `E'…'` (any case), the `E` not the end
 *  of a longer word (`type'…'` is no escape string). The compiler keeps a copy. */
export function escapeStringAt(text: string, i: number): boolean {
  return /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
}

/** Compose a template and everything nested in it into one text with numbered markers. */
export function compose(q: QueryTemplate, defaultDialect: SqlDialect): ComposedQuery {
  const dialect = q.dialect ?? defaultDialect;
  const params: BoundParam[] = [];
  const text = composeInto(q, dialect, params, 0);
  return { text, params, dialect };
}

function composeInto(
  q: QueryTemplate,
  dialect: SqlDialect,
  params: BoundParam[],
  depth: number,
): string {
  if (depth > 32)
    throw new WarehouseError(
      'E_WH_PARAM',
      'queries nested more than 32 deep (a query interpolated into itself?)',
    );
  let text = q.strings[0] ?? '';
  const contexts = gapContexts(q.strings, dialect);
  q.values.forEach((value, i) => {
    const where = `sql\`\` value #${i + 1}`;
    const context = contexts[i];
    if (context === 'string' || context === 'identifier') {
      // Inside quotes a placeholder is text: DuckDB would say "Can not bind to parameter number
      // 1, statement only has 0 parameter(s)", naming no template; BigQuery would match the text
      // `@p0`. A nested Query or a name spliced in would be text as well. The compiler refuses
      // the same (E_SQL_QUOTED_PARAM); this is for templates it did not see (a helper's).
      throw new WarehouseError('E_WH_PARAM', quotedGapMessage(q.strings, i, context), {
        placeholder: i + 1,
      });
    }
    if (context === 'comment') {
      // A `${…}` in a commented-out line (`-- AND amount > ${min}`) is dropped, as any SQL client
      // ignores the comment: binding it would fail (no placeholder in the statement) and splicing
      // text into a comment could end it. The compiler warns (W_SQL_COMMENT_PARAM).
      text += '${…}';
    } else if (isQueryTemplate(value)) {
      const innerDialect = value.dialect ?? dialect;
      if (innerDialect !== dialect)
        throw new WarehouseError(
          'E_WH_DIALECT',
          `${where}: a ${innerDialect} query cannot be nested in a ${dialect} query`,
        );
      text += '(' + composeInto(value, dialect, params, depth + 1) + ')';
    } else if (isTableRef(value)) {
      text += quoteIdent(value.name.replace(/[`"]/g, '').split('.'), dialect);
    } else if (isIdent(value)) {
      text += quoteIdent(value.parts, dialect);
    } else {
      const typed = isTyped(value);
      const raw = typed ? value.value : value;
      const type = typed ? value.type : inferParamType(raw, where);
      params.push({ name: `p${params.length}`, type, value: raw === undefined ? null : raw });
      text += marker(params.length - 1);
    }
    text += q.strings[i + 1] ?? '';
  });
  return text;
}

/** What E_WH_PARAM says of the `${…}` at gap `i` inside quotes: which one (its number, and the
 *  SQL around it), why it fails and the fix. */
function quotedGapMessage(
  strings: readonly string[],
  i: number,
  context: 'string' | 'identifier',
): string {
  const before = (strings[i] ?? '').slice(-30).replace(/\s+/g, ' ').trimStart();
  const after = (strings[i + 1] ?? '').slice(0, 30).replace(/\s+/g, ' ').trimEnd();
  const at = `sql\`\` value #${i + 1} (\`…${before}\${…}${after}…\`)`;
  return context === 'identifier'
    ? `${at} sits inside a quoted name: a name cannot be a parameter, so the warehouse would never see the value. Write the name itself, or interpolate \`\${ident(name)}\` outside the quotes (it is quoted for you); on DuckDB \`query_table(\${name})\` reads a table named by a value.`
    : `${at} sits inside a quoted SQL string literal, where a parameter is text, not the value. Move it out of the quotes and build the text in SQL: \`LIKE \${pat} || '%'\` or \`CONCAT(\${pat}, '%')\`.`;
}

/** Replace markers with the warehouse's placeholder syntax. */
export function placeMarkers(text: string, style: 'bigquery' | 'duckdb'): string {
  return text.replace(MARKER, (_m, d: string) =>
    style === 'bigquery' ? `@p${d}` : `$${Number(d) + 1}`,
  );
}
