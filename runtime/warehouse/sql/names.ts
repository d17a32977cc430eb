// Finds the table names in SQL text and rewrites them, without a full parser.
//
// Why our own scanner: the translator turns BigQuery's `` `proj.ds.t` `` into one quoted DuckDB
// identifier `"proj.ds.t"`, and the runtime must swap logical table names (`mart.daily`) for the
// physical table of the current run (`mart.daily_3fa1…`). Both need the table positions only. The
// scanner skips strings, comments and quoted text, so a name inside a literal is never touched.
//
// What counts as a table: a dotted name of two or three parts that follows FROM, JOIN, INTO,
// TABLE or UPDATE (FROM inside EXTRACT/TRIM/SUBSTRING does not count), plus any backquoted
// name that contains a dot, wherever it stands. One-part names are left alone: they may be CTEs.
// Known limit: in `FROM a.b, c.d` only `a.b` is seen as a table (comma joins); write JOIN.
// Pure: no `node:*` imports.
import type { SqlDialect } from '../../task.js';

export interface TableToken {
  /** Offsets of the whole name in the text. */
  start: number;
  end: number;
  /** The name's parts, unquoted: `['cellar-examples', 'vega', 'flights']`. */
  parts: string[];
}

const TABLE_KEYWORDS = new Set(['FROM', 'JOIN', 'INTO', 'TABLE', 'UPDATE']);
const NON_TABLE_FROM = new Set(['EXTRACT', 'TRIM', 'SUBSTRING', 'SUBSTR', 'OVERLAY', 'POSITION']);

/** Every table name in `text`, in order. */
export function scanTables(text: string, dialect: SqlDialect = 'bigquery'): TableToken[] {
  const out: TableToken[] = [];
  const n = text.length;
  let i = 0;
  let lastWord = '';
  /** For each open paren: the identifier before it (to spot EXTRACT(... FROM ...)). */
  const parens: string[] = [];
  const identQuote = dialect === 'bigquery' ? '`' : '"';
  const isIdentStart = (c: string) => /[A-Za-z_]/.test(c);
  const isIdentChar = (c: string) => /[A-Za-z0-9_]/.test(c);

  const readQuoted = (q: string): string => {
    // i points at the opening quote; returns the unquoted body and leaves i after the close.
    let body = '';
    i++;
    while (i < n) {
      const c = text[i]!;
      if (c === '\\' && q !== '"') {
        body += text[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === q) {
        if (text[i + 1] === q && q === '"') {
          body += q;
          i += 2;
          continue;
        }
        i++;
        return body;
      }
      body += c;
      i++;
    }
    return body;
  };

  while (i < n) {
    const c = text[i]!;
    // Comments.
    if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '#' && dialect === 'bigquery') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      continue;
    }
    // String literals (BigQuery also has triple quotes and r/b prefixes; the prefix is a word char
    // we step over harmlessly).
    if (c === "'" || (c === '"' && dialect === 'bigquery')) {
      const triple = text.startsWith(c.repeat(3), i);
      if (triple) {
        const close = text.indexOf(c.repeat(3), i + 3);
        i = close < 0 ? n : close + 3;
      } else readQuoted(c);
      lastWord = '';
      continue;
    }
    if (c === '(') {
      parens.push(lastWord);
      lastWord = '';
      i++;
      continue;
    }
    if (c === ')') {
      parens.pop();
      lastWord = '';
      i++;
      continue;
    }
    if (c === identQuote || isIdentStart(c)) {
      // A dotted name: segments separated by '.', each bare or quoted.
      const start = i;
      const parts: string[] = [];
      let quotedDot = false;
      for (;;) {
        if (text[i] === identQuote) {
          const body = readQuoted(identQuote);
          if (body.includes('.')) quotedDot = true;
          parts.push(...body.split('.'));
        } else if (i < n && isIdentStart(text[i]!)) {
          let j = i + 1;
          while (j < n && isIdentChar(text[j]!)) j++;
          parts.push(text.slice(i, j));
          i = j;
        } else break;
        if (text[i] === '.' && (text[i + 1] === identQuote || isIdentStart(text[i + 1] ?? ''))) i++;
        else break;
      }
      const end = i;
      let k = i;
      while (k < n && /\s/.test(text[k]!)) k++;
      // `name(` is a call (table function), except a column list after INTO or a quoted path.
      const isCall = text[k] === '(' && lastWord.toUpperCase() !== 'INTO' && !quotedDot;
      const afterKeyword = TABLE_KEYWORDS.has(lastWord.toUpperCase()) && !(lastWord.toUpperCase() === 'FROM' && NON_TABLE_FROM.has((parens[parens.length - 1] ?? '').toUpperCase()));
      if (!isCall && parts.length >= 2 && parts.length <= 3 && (afterKeyword || (quotedDot && dialect === 'bigquery'))) {
        out.push({ start, end, parts });
      }
      lastWord = parts.length === 1 && text[start] !== identQuote ? parts[0]! : '';
      continue;
    }
    if (!/\s/.test(c)) lastWord = '';
    i++;
  }
  return out;
}

/** Replace each table name for which `resolve` returns text; others stay as written. */
export function rewriteTables(text: string, resolve: (parts: string[]) => string | null, dialect: SqlDialect = 'bigquery'): string {
  const tokens = scanTables(text, dialect);
  let out = '';
  let at = 0;
  for (const t of tokens) {
    const replacement = resolve(t.parts);
    if (replacement === null) continue;
    out += text.slice(at, t.start) + replacement;
    at = t.end;
  }
  return out + text.slice(at);
}

/** Split a written name (`proj.ds.t`, `` `proj.ds.t` ``, `ds.t`) into parts. */
export function splitTableName(name: string): string[] {
  return name
    .replace(/[`"]/g, '')
    .split('.')
    .filter((p) => p.length > 0);
}

const WRITE_HEAD =
  /^\s*(?:INSERT\s+(?:INTO\s+)?|UPDATE\s+|DELETE\s+(?:FROM\s+)?|CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?|MERGE\s+(?:INTO\s+)?|TRUNCATE\s+(?:TABLE\s+)?|DROP\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?)((?:`[^`]+`|"[^"]+"|[A-Za-z_][\w-]*)(?:\.(?:`[^`]+`|"[^"]+"|[A-Za-z_]\w*))*)/i;

/** The table a statement writes (INSERT/UPDATE/DELETE/CREATE TABLE|VIEW/MERGE/TRUNCATE/DROP), as
 *  parts, or null for a query that only reads. Comments before the statement are skipped. */
export function writeTarget(text: string): string[] | null {
  const body = text.replace(/^(\s*(--[^\n]*\n|#[^\n]*\n|\/\*[\s\S]*?\*\/))*/, '');
  const m = WRITE_HEAD.exec(body);
  return m ? splitTableName(m[1]!) : null;
}
