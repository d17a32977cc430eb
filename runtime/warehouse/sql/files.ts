// The files a DuckDB statement reads by path: `read_csv_auto('data/sales.csv')` and the other
// file-reading table functions, `FROM 'data/sales.csv'` (a quoted path used as a table, DuckDB's
// replacement scan, also `COPY t FROM 'x.csv'`), and `ATTACH 'other.duckdb'`. Their content is
// an input of the task as much as a table's rows are, so the warehouse hook keys on it
// (tasks/files.ts); this scanner says which paths a statement names.
//
// A token scanner, not a parser: it skips comments, and reads string literals (dollar-quoted ones
// too) and quoted names whole, so a path inside a comment or a name inside a string is never taken. A path argument may
// be a string literal, a list of literals (`['a.csv', 'b.csv']`) or a bound parameter (`$1`,
// `@p0`, resolved from `params` when given); anything else (`'data/' || name`) cannot be known
// from the text and is reported as `dynamic`, with the argument's text: DuckDB binds a table
// function's arguments as constants, so the caller can have DuckDB evaluate it (session.ts).
// Pure: no `node:*` imports, and no imports at all: the compiler imports it too (a pure leaf of the
// runtime, docs/design/architecture.md) to key a template's literal paths before the first run.

type SqlDialect = 'bigquery' | 'duckdb';

/** One path a statement reads, as written (relative paths are resolved by the caller). */
export interface FileRead {
  path: string;
  /** `glob`: the path has wildcards (`*`, `?`, `[`): its input is the set of files it matches.
   *  `url`: a remote location (`https://`, `s3://`, …) that cannot be content-stamped. */
  kind: 'file' | 'glob' | 'url';
}

export interface FileReads {
  reads: FileRead[];
  /** Calls whose path is an expression the text does not settle (`read_csv('data/' || $1)`). */
  dynamic: DynamicRead[];
}

/** A file-reading call whose path argument is an expression. */
export interface DynamicRead {
  /** The call as shown to a person: `read_csv(…)`, `ATTACH …`. */
  call: string;
  /** The argument's SQL text as written (`'data/' || $3 || '.csv'`), placeholders kept. */
  expr: string;
  /** The argument as SQL to evaluate on its own: its placeholders renumbered from `$1` in order
   *  (`'data/' || $1 || '.csv'`), by token, so a `'$1'` inside a string literal stays text. */
  sql: string;
  /** For each placeholder of `sql` in order, the 0-based index of the statement's bound value it
   *  stands for (`[2]` above). */
  params: number[];
}

/**
 * DuckDB functions whose first argument is a path (or a list of paths) they read. Extensions'
 * readers (`read_xlsx`, `st_read`, `delta_scan`, `iceberg_scan`) are listed too: a name that is
 * not loaded fails in DuckDB anyway, and keying it costs nothing.
 */
const FILE_FUNCTIONS =
  /^(read_\w+|parquet_scan|parquet_metadata|parquet_schema|parquet_file_metadata|parquet_kv_metadata|csv_scan|sniff_csv|st_read|delta_scan|iceberg_scan|iceberg_metadata|glob)$/i;

const NON_TABLE_FROM = new Set(['EXTRACT', 'TRIM', 'SUBSTRING', 'SUBSTR', 'OVERLAY', 'POSITION']);
/** A double-quoted name DuckDB reads as a file (its replacement scan): `FROM "data/x.csv"`. */
const QUOTED_PATH = /\/|\.(csv|tsv|parquet|json|jsonl|ndjson)(\.gz|\.zst)?$/i;
const REMOTE = /^[a-z][a-z0-9+.-]*:\/\//i;
const GLOB = /[*?[]/;

/** A token, with where it is in the text (`at` to `end`, offsets). */
type Token = (
  | { kind: 'word'; text: string; quoted?: boolean }
  | { kind: 'string'; text: string }
  | { kind: 'param'; index: number }
  | { kind: 'punct'; text: string }
) & { at: number; end: number };

/**
 * The files `text` reads. `params`: the bound values, for `$n` (DuckDB, 1-based) and `@p<n>`
 * (BigQuery style, 0-based) placeholders; without them a placeholder path is `dynamic`.
 */
export function fileReads(
  text: string,
  dialect: SqlDialect = 'duckdb',
  params?: readonly unknown[],
): FileReads {
  const tokens = tokenize(text, dialect);
  const reads: FileRead[] = [];
  const dynamic: DynamicRead[] = [];
  const add = (path: string) => reads.push(fileRead(path));
  // The word before each open paren: `TRIM('x' FROM 'abc')` is no file read.
  const parens: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '(') {
      const before = tokens[i - 1];
      parens.push(before?.kind === 'word' ? before.text.toUpperCase() : '');
    } else if (t.kind === 'punct' && t.text === ')') parens.pop();
    if (t.kind !== 'word') continue;
    const word = t.text.toUpperCase();
    if (FILE_FUNCTIONS.test(t.text) && next?.kind === 'punct' && next.text === '(') {
      const paths = argumentPaths(tokens, i + 2, params);
      if (paths) paths.forEach(add);
      else dynamic.push(dynamicRead(`${t.text}(…)`, text, tokens, i + 2));
    } else if (
      (word === 'FROM' || word === 'JOIN') &&
      !t.quoted &&
      (next?.kind === 'string' ||
        (next?.kind === 'word' && next.quoted && QUOTED_PATH.test(next.text))) &&
      !NON_TABLE_FROM.has(parens[parens.length - 1] ?? '')
    ) {
      add(next.text as string);
    } else if (word === 'ATTACH') {
      // ATTACH [DATABASE] [IF NOT EXISTS] 'path'
      let j = i + 1;
      for (let w = tokens[j]; w?.kind === 'word' && /^(DATABASE|IF|NOT|EXISTS)$/i.test(w.text);)
        w = tokens[++j];
      const target = tokens[j];
      if (target?.kind === 'string') add(target.text);
      else if (target?.kind === 'param') {
        const v = paramValue(target.index, params);
        if (typeof v === 'string') add(v);
        else dynamic.push({ call: 'ATTACH …', ...evaluable(text, [target]) });
      }
    }
  }
  const seen = new Set<string>();
  return {
    reads: reads.filter((r) => !seen.has(r.path) && seen.add(r.path)),
    dynamic,
  };
}

/**
 * The files a DuckDB `COPY … TO '<path>'` statement writes (`COPY t TO 'out/x.csv'`, `COPY (SELECT
 * …) TO $1`): side-effect outputs of the task, not inputs. Only the `TO` of a COPY at the
 * statement's top level counts (not a `TO` inside the copied query); a path that is an expression
 * is left out. URLs (`s3://…`) are left out (no file here to check), and so are `PARTITION_BY`
 * targets and the other options that write a folder (`copyFolders`).
 */
export function copyTargets(text: string, params?: readonly unknown[]): string[] {
  return WRITES_FOLDER.test(text) ? [] : copyTos(text, params);
}

/**
 * The folders a DuckDB `COPY … TO '<dir>' (PARTITION_BY (…))` statement writes its files into
 * (`<dir>/region=north/data_0.parquet`, names DuckDB picks; also `PER_THREAD_OUTPUT`,
 * `FILE_SIZE_BYTES`), and `EXPORT DATABASE '<dir>'`: the files found there once it ran are
 * the task's side-effect outputs (template.ts). Local paths only, as `copyTargets`.
 */
export function copyFolders(text: string, params?: readonly unknown[]): string[] {
  return [...(WRITES_FOLDER.test(text) ? copyTos(text, params) : []), ...exportTos(text, params)];
}

/**
 * The local folders `EXPORT DATABASE [name TO] '<dir>'` writes (a schema.sql, a load.sql and a
 * file per table, names DuckDB picks): side-effect outputs as a partitioned COPY's are.
 */
function exportTos(text: string, params: readonly unknown[] | undefined): string[] {
  const tokens = tokenize(text, 'duckdb');
  const out: string[] = [];
  const isWord = (t: Token | undefined, w: string) =>
    t?.kind === 'word' && !t.quoted && t.text.toUpperCase() === w;
  for (let i = 0; i + 2 < tokens.length; i++) {
    if (!isWord(tokens[i], 'EXPORT') || !isWord(tokens[i + 1], 'DATABASE')) continue;
    let target = tokens[i + 2];
    if (target?.kind === 'word' && isWord(tokens[i + 3], 'TO')) target = tokens[i + 4];
    const path = localTarget(target, params);
    if (path !== undefined) out.push(path);
  }
  return out;
}

/** The local file path a written target token names (a literal or a bound string), else undefined. */
function localTarget(
  target: Token | undefined,
  params: readonly unknown[] | undefined,
): string | undefined {
  const v =
    target?.kind === 'string'
      ? target.text
      : target?.kind === 'param'
        ? paramValue(target.index, params)
        : undefined;
  return typeof v === 'string' && fileRead(v).kind === 'file' ? fileRead(v).path : undefined;
}

/** COPY options that make its target a folder of files DuckDB names: by partition, one file per
 *  thread, or a new file each time one reaches a size. */
const WRITES_FOLDER = /\b(PARTITION_BY|PER_THREAD_OUTPUT|FILE_SIZE_BYTES)\b/i;

/** The local paths the top-level `TO` of each COPY in `text` names. */
function copyTos(text: string, params: readonly unknown[] | undefined): string[] {
  const tokens = tokenize(text, 'duckdb');
  const out: string[] = [];
  let depth = 0;
  let inCopy = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct') {
      if (t.text === '(') depth++;
      else if (t.text === ')') depth--;
      else if (t.text === ';') inCopy = false;
      continue;
    }
    if (t.kind !== 'word' || t.quoted || depth !== 0) continue;
    const word = t.text.toUpperCase();
    if (word === 'COPY') inCopy = true;
    else if (word === 'TO' && inCopy) {
      const path = localTarget(tokens[i + 1], params);
      if (path !== undefined) out.push(path);
      inCopy = false;
    }
  }
  return out;
}

/** One path as a read: a `url`, a `glob` (wildcards) or a `file`; `file://` dropped. */
export function fileRead(path: string): FileRead {
  const p = path.startsWith('file://') ? path.slice('file://'.length) : path;
  if (REMOTE.test(p)) return { path: p, kind: 'url' };
  return { path: p, kind: GLOB.test(p) ? 'glob' : 'file' };
}

/** A call's first argument, from `tokens[i]` to the `,` or `)` that ends it, as a dynamic read. */
function dynamicRead(call: string, text: string, tokens: Token[], i: number): DynamicRead {
  return { call, ...evaluable(text, tokens.slice(i, argumentEnd(tokens, i))) };
}

/** The text `tokens` span (`expr`), and the same with its placeholders renumbered from `$1`. */
function evaluable(text: string, tokens: Token[]): Omit<DynamicRead, 'call'> {
  if (tokens.length === 0) return { expr: '', sql: '', params: [] };
  const from = tokens[0]!.at;
  const to = tokens[tokens.length - 1]!.end;
  const params: number[] = [];
  let sql = '';
  let at = from;
  for (const t of tokens) {
    if (t.kind !== 'param') continue;
    params.push(t.index);
    sql += `${text.slice(at, t.at)}$${params.length}`;
    at = t.end;
  }
  return { expr: text.slice(from, to), sql: sql + text.slice(at, to), params };
}

/** The index after a call's first argument starting at `tokens[i]`: its ending `,` or `)`. */
function argumentEnd(tokens: Token[], i: number): number {
  let depth = 0;
  let j = i;
  for (; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind !== 'punct') continue;
    if (t.text === '(' || t.text === '[') depth++;
    else if (t.text === ')' || t.text === ']') {
      if (depth === 0) break;
      depth--;
    } else if (t.text === ',' && depth === 0) break;
  }
  return j;
}

/** The paths of a call's first argument at `tokens[i]`, or null when it is an expression. */
function argumentPaths(
  tokens: Token[],
  i: number,
  params: readonly unknown[] | undefined,
): string[] | null {
  const ends = (t: Token | undefined) => t?.kind === 'punct' && (t.text === ',' || t.text === ')');
  const first = tokens[i];
  if (first?.kind === 'string' && ends(tokens[i + 1])) return [first.text];
  if (first?.kind === 'param' && ends(tokens[i + 1])) {
    const v = paramValue(first.index, params);
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    return null;
  }
  if (first?.kind === 'punct' && first.text === '[') {
    const out: string[] = [];
    for (let j = i + 1; ; j += 2) {
      const t = tokens[j];
      const v =
        t?.kind === 'string' ? t.text : t?.kind === 'param' ? paramValue(t.index, params) : null;
      if (typeof v !== 'string') return null;
      out.push(v);
      const sep = tokens[j + 1];
      if (sep?.kind === 'punct' && sep.text === ']') return ends(tokens[j + 2]) ? out : null;
      if (!(sep?.kind === 'punct' && sep.text === ',')) return null;
    }
  }
  return null;
}

function paramValue(index: number, params: readonly unknown[] | undefined): unknown {
  return params ? params[index] : undefined;
}

/** The opening of a DuckDB dollar-quoted string: `$$` or `$tag$` (a tag is a name, as in
 *  Postgres). Also read by sql/compose.ts and the compiler's comment check. */
export const DOLLAR_QUOTE = /^\$([A-Za-z_][A-Za-z0-9_]{0,63})?\$/;

/** Words, string literals, placeholders and punctuation; comments and whitespace dropped. */
function tokenize(text: string, dialect: SqlDialect): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if ((c === '-' && text[i + 1] === '-') || (c === '#' && dialect === 'bigquery')) {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === "'" || (c === '"' && dialect === 'bigquery')) {
      const [body, end] = quoted(text, i, c, dialect);
      out.push({ kind: 'string', text: body, at: i, end });
      i = end;
    } else if (c === '"' || c === '`') {
      // A quoted name: a word (a path only where DuckDB would scan it as one, below).
      const [body, end] = quoted(text, i, c, dialect);
      out.push({ kind: 'word', text: body, quoted: true, at: i, end });
      i = end;
    } else if (c === '$' && dialect === 'duckdb' && DOLLAR_QUOTE.test(text.slice(i, i + 66))) {
      // `$$data/x.csv$$`, `$tag$…$tag$`: DuckDB's dollar-quoted string, read verbatim.
      const open = DOLLAR_QUOTE.exec(text.slice(i, i + 66))![0];
      const close = text.indexOf(open, i + open.length);
      const end = close < 0 ? n : close + open.length;
      out.push({
        kind: 'string',
        text: text.slice(i + open.length, close < 0 ? n : close),
        at: i,
        end,
      });
      i = end;
    } else if (c === '$' && /\d/.test(text[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /\d/.test(text[j]!)) j++;
      out.push({ kind: 'param', index: Number(text.slice(i + 1, j)) - 1, at: i, end: j });
      i = j;
    } else if (c === '@' && /^@p\d+/.test(text.slice(i, i + 12))) {
      let j = i + 2;
      while (j < n && /\d/.test(text[j]!)) j++;
      out.push({ kind: 'param', index: Number(text.slice(i + 2, j)), at: i, end: j });
      i = j;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(text[j]!)) j++;
      out.push({ kind: 'word', text: text.slice(i, j), at: i, end: j });
      i = j;
    } else {
      out.push({ kind: 'punct', text: c, at: i, end: i + 1 });
      i++;
    }
  }
  return out;
}

/** A quoted run at `i` (quote `q`): its body and the offset after the closing quote. SQL doubles
 *  a quote to escape it; BigQuery also escapes with a backslash. Triple quotes are BigQuery's. */
function quoted(text: string, i: number, q: string, dialect: SqlDialect): [string, number] {
  const n = text.length;
  if (dialect === 'bigquery' && q !== '`' && text.startsWith(q.repeat(3), i)) {
    const close = text.indexOf(q.repeat(3), i + 3);
    return close < 0 ? [text.slice(i + 3), n] : [text.slice(i + 3, close), close + 3];
  }
  let body = '';
  let j = i + 1;
  while (j < n) {
    const c = text[j]!;
    if (c === '\\' && dialect === 'bigquery' && q !== '`') {
      body += text[j + 1] ?? '';
      j += 2;
      continue;
    }
    if (c === q) {
      if (text[j + 1] === q) {
        body += q;
        j += 2;
        continue;
      }
      return [body, j + 1];
    }
    body += c;
    j++;
  }
  return [body, n];
}
