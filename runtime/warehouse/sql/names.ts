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

/** Where the scan stands in the text: the one mutable state every pass below advances. */
interface Scan {
  readonly text: string;
  readonly dialect: SqlDialect;
  /** The quote around identifiers: `` ` `` in BigQuery, `"` in DuckDB. */
  readonly identQuote: string;
  /** Offset of the next character to read. */
  i: number;
  /** The bare word just before this point ('' after anything else), to tell `FROM x.y` apart. */
  lastWord: string;
  /** For each open paren: the identifier before it (to spot EXTRACT(... FROM ...)). */
  parens: string[];
}

const isIdentStart = (c: string) => /[A-Za-z_]/.test(c);
const isIdentChar = (c: string) => /[A-Za-z0-9_]/.test(c);

/** Every table name in `text`, in order. */
export function scanTables(
  text: string,
  dialect: SqlDialect = 'bigquery',
  oneWord = false,
): TableToken[] {
  const out: TableToken[] = [];
  const scan: Scan = {
    text,
    dialect,
    identQuote: dialect === 'bigquery' ? '`' : '"',
    i: 0,
    lastWord: '',
    parens: [],
  };
  while (scan.i < text.length) {
    const c = text[scan.i]!;
    if (skipComment(scan, c) || skipStringLiteral(scan, c) || trackParen(scan, c)) continue;
    if (c === scan.identQuote || isIdentStart(c)) {
      const name = readDottedName(scan);
      if (isTableReference(scan, name, oneWord))
        out.push({ start: name.start, end: name.end, parts: name.parts });
      scan.lastWord =
        name.parts.length === 1 && text[name.start] !== scan.identQuote ? name.parts[0]! : '';
      continue;
    }
    if (!/\s/.test(c)) scan.lastWord = '';
    scan.i++;
  }
  return out;
}

/** Line comments (`-- …`, BigQuery's `# …`) and block comments, stepped over whole. True when `c` opened one. */
function skipComment(scan: Scan, c: string): boolean {
  const { text } = scan;
  const n = text.length;
  if ((c === '-' && text[scan.i + 1] === '-') || (c === '#' && scan.dialect === 'bigquery')) {
    while (scan.i < n && text[scan.i] !== '\n') scan.i++;
    return true;
  }
  if (c === '/' && text[scan.i + 1] === '*') {
    const close = text.indexOf('*/', scan.i + 2);
    scan.i = close < 0 ? n : close + 2;
    return true;
  }
  return false;
}

/**
 * A string literal, stepped over so no name inside it is seen. BigQuery also has triple quotes and
 * r/b prefixes; the prefix is a word char stepped over harmlessly. True when `c` opened one.
 */
function skipStringLiteral(scan: Scan, c: string): boolean {
  if (!(c === "'" || (c === '"' && scan.dialect === 'bigquery'))) return false;
  if (scan.text.startsWith(c.repeat(3), scan.i)) {
    const close = scan.text.indexOf(c.repeat(3), scan.i + 3);
    scan.i = close < 0 ? scan.text.length : close + 3;
  } else readQuoted(scan, c);
  scan.lastWord = '';
  return true;
}

/** Parens: remember the word before each `(` until its `)`. True when `c` is one. */
function trackParen(scan: Scan, c: string): boolean {
  if (c === '(') scan.parens.push(scan.lastWord);
  else if (c === ')') scan.parens.pop();
  else return false;
  scan.lastWord = '';
  scan.i++;
  return true;
}

/** `scan.i` at the opening quote `q`: returns the unquoted body and leaves `scan.i` after the close. */
function readQuoted(scan: Scan, q: string): string {
  const { text } = scan;
  const n = text.length;
  let body = '';
  scan.i++;
  while (scan.i < n) {
    const c = text[scan.i]!;
    if (c === '\\' && q !== '"') {
      body += text[scan.i + 1] ?? '';
      scan.i += 2;
      continue;
    }
    if (c === q) {
      if (text[scan.i + 1] === q && q === '"') {
        body += q;
        scan.i += 2;
        continue;
      }
      scan.i++;
      return body;
    }
    body += c;
    scan.i++;
  }
  return body;
}

interface DottedName {
  start: number;
  end: number;
  parts: string[];
  /** A quoted segment held a dot (`` `proj.ds.t` ``): a path, never a call. */
  quotedDot: boolean;
}

/** A dotted name at `scan.i`: segments separated by '.', each bare or quoted. */
function readDottedName(scan: Scan): DottedName {
  const { text, identQuote } = scan;
  const n = text.length;
  const start = scan.i;
  const parts: string[] = [];
  let quotedDot = false;
  for (;;) {
    if (text[scan.i] === identQuote) {
      const body = readQuoted(scan, identQuote);
      if (body.includes('.')) quotedDot = true;
      parts.push(...body.split('.'));
    } else if (scan.i < n && isIdentStart(text[scan.i]!)) {
      let j = scan.i + 1;
      while (j < n && isIdentChar(text[j]!)) j++;
      parts.push(text.slice(scan.i, j));
      scan.i = j;
    } else break;
    if (
      text[scan.i] === '.' &&
      (text[scan.i + 1] === identQuote || isIdentStart(text[scan.i + 1] ?? ''))
    )
      scan.i++;
    else break;
  }
  return { start, end: scan.i, parts, quotedDot };
}

/** The rule in this file's header: two or three parts, after a table keyword (or backquoted with a dot), and not a call. */
function isTableReference(scan: Scan, name: DottedName, oneWord = false): boolean {
  const { text } = scan;
  let k = name.end;
  while (k < text.length && /\s/.test(text[k]!)) k++;
  const word = scan.lastWord.toUpperCase();
  // `name(` is a call (table function), except a column list after INTO or a quoted path.
  const isCall = text[k] === '(' && word !== 'INTO' && !name.quotedDot;
  const afterKeyword =
    TABLE_KEYWORDS.has(word) &&
    !(
      word === 'FROM' &&
      NON_TABLE_FROM.has((scan.parens[scan.parens.length - 1] ?? '').toUpperCase())
    );
  if (oneWord && name.parts.length === 1)
    return !isCall && afterKeyword && (word === 'FROM' || word === 'JOIN');
  return (
    !isCall &&
    name.parts.length >= 2 &&
    name.parts.length <= 3 &&
    (afterKeyword || (name.quotedDot && scan.dialect === 'bigquery'))
  );
}

/**
 * The one-part names a query run on DuckDB reads after FROM or JOIN (`FROM t`, `JOIN "Sales"`), minus
 * the names its WITH clause defines: tables in the current schema, to record as read. Not used
 * for rewriting (a one-part name may be a CTE the regex below missed): a name wrongly taken for a
 * table only adds a table to the key (its version, or `missing`), never drops one.
 */
export function oneWordTables(text: string, dialect: SqlDialect): string[] {
  const ctes = new Set<string>();
  const defined =
    /(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)("?)([A-Za-z_][\w$]*)\1\s*(?:\([^()]*\)\s*)?AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(/gi;
  for (const m of text.matchAll(defined)) ctes.add(m[2]!.toLowerCase());
  return scanTables(text, dialect, true)
    .filter((t) => t.parts.length === 1 && !ctes.has(t.parts[0]!.toLowerCase()))
    .map((t) => t.parts[0]!);
}

/** Replace each table name for which `resolve` returns text; others stay as written. */
export function rewriteTables(
  text: string,
  resolve: (parts: string[]) => string | null,
  dialect: SqlDialect = 'bigquery',
): string {
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

/** Comments (and blank space) before a statement's first word. */
const LEADING_COMMENTS = /^(\s*(--[^\n]*\n|#[^\n]*\n|\/\*[\s\S]*?\*\/))*/;

const REPLACE_HEAD =
  /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?TABLE\s+(?!IF\s+NOT\s+EXISTS\b)((?:`[^`]+`|"[^"]+"|[A-Za-z_][\w-]*)(?:\.(?:`[^`]+`|"[^"]+"|[A-Za-z_]\w*))*)/i;

/**
 * The table a statement makes anew (`CREATE [OR REPLACE] [TEMP] TABLE t …`, not `IF NOT EXISTS`),
 * as parts, or null. What a task reads from such a table afterwards is its own work, not an
 * input: its earlier contents cannot reach the result (an `INSERT` alone would keep them).
 * Comments before the statement are skipped.
 */
export function replacedTable(text: string): string[] | null {
  const body = text.replace(LEADING_COMMENTS, '');
  const m = REPLACE_HEAD.exec(body);
  return m ? splitTableName(m[1]!) : null;
}

/** The table a statement writes (INSERT/UPDATE/DELETE/CREATE TABLE|VIEW/MERGE/TRUNCATE/DROP), as
 *  parts, or null for a query that only reads. Comments before the statement are skipped. */
export function writeTarget(text: string): string[] | null {
  const body = text.replace(LEADING_COMMENTS, '');
  const m = WRITE_HEAD.exec(body);
  return m ? splitTableName(m[1]!) : null;
}
