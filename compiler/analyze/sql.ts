// sqlFacts: the tables a cell's sql`…` templates read, for the warehouse's cache key and the
// `tables` upstream edges, and the templates that do not parse, for a located warning.
//
// The template text is extracted statically by analyze/cell.ts (interpolations become `@p0`…,
// BigQuery's parameter syntax, which is also how the runtime binds them). @polyglot-sql/sdk's
// analyzeQuery parses it; its WASM start costs ~0.3 s, so it is imported only when some cell has
// sql``. A query it cannot parse yields no tables and a problem, which the compiler turns into a
// warning on the cell's line (W_SQL_SYNTAX), not an error: the warehouse is the judge of its own
// SQL, and reads only ever add cache-key precision.
//
// Files a template reads by path on DuckDB (`read_csv_auto('data/x.csv')`, `FROM 'x.csv'`,
// `ATTACH`) are found by the runtime's own scanner (a pure leaf the compiler may import, see
// docs/design/architecture.md), so compile and run agree: the literal ones go in
// `warehouse.files`, keyed before the task's first run; a path given by a `${…}` (here `@p<n>`)
// is left to the runtime, which sees its bound value.
import { diagnostic } from '../diagnostics.js';
import { DOLLAR_QUOTE, fileReads } from '../../runtime/warehouse/sql/files.js';
import type { CellAnalysis, Diagnostic, TaggedCell } from '../types.js';

type Polyglot = typeof import('@polyglot-sql/sdk');

const PLACEHOLDER = '__cellar_param_';

let loading: Promise<Polyglot | undefined> | undefined;

/** A template the parser refused: its index, the parser's message, and the line in the SQL. */
export interface SqlProblem {
  template: number;
  /** `syntax`: the parser refused the text; `comment-param`: a `${…}` inside a SQL comment;
   *  `quoted-param`: a `${…}` inside a quoted string, name or dollar-quoted string. */
  kind?: 'syntax' | 'comment-param' | 'quoted-param';
  /** For `quoted-param`: what encloses it, a string literal or a quoted name (identifier). */
  quoted?: 'string' | 'identifier';
  message: string;
  /** 1-based line within the template text, when the parser says. */
  line?: number;
}

/** A call of the run's time in a template (`current_date`, `now()`): where it is and what. */
export interface SqlClockRead {
  template: number;
  /** 1-based line within the template text. */
  line: number;
  /** As written, lower-cased: `current_date`, `now()`. */
  call: string;
}

export interface SqlFacts {
  reads: string[];
  /** Literal paths the templates read as files on DuckDB (runtime/warehouse/sql/files.ts), as written, sorted. */
  files: string[];
  problems: SqlProblem[];
  /** Reads of the run's time outside strings and comments (link.ts W_TASK_READS_CLOCK). */
  clock: SqlClockRead[];
}

export async function sqlReads(
  templates: string[],
  dialect: 'bigquery' | 'duckdb' | undefined,
): Promise<string[]> {
  return (await sqlFacts(templates, dialect)).reads;
}

/**
 * Reads and parse problems of a cell's templates. The runtime translates BigQuery SQL for DuckDB
 * with the same parser, so what fails here usually fails there too: later, and without a cell.
 */
export async function sqlFacts(
  templates: string[],
  taskDialect: 'bigquery' | 'duckdb' | undefined,
  /** Per template, its own dialect (`sql.dialect('duckdb')`…``), else null: the task's. */
  ownDialects?: readonly ('bigquery' | 'duckdb' | null)[],
  /** Per template, the offsets of its placeholders (CellAnalysis.sqlTemplateParamAt); without
   *  it every `@p<n>` in the text is taken for one. */
  paramAt?: readonly (readonly number[])[],
): Promise<SqlFacts> {
  const dialectOf = (i: number) => ownDialects?.[i] ?? taskDialect;
  if (templates.length === 0) return { reads: [], files: [], problems: [], clock: [] };
  const scans = templates.map((t, i) =>
    scanTemplate(i, t, dialectOf(i) ?? 'bigquery', paramAt?.[i]),
  );
  const clock = scans.flatMap((scan) => scan.clock);
  const files = [
    ...new Set(
      templates.flatMap((t, i) =>
        fileReads(t, dialectOf(i) ?? 'bigquery').reads.map((r) => r.path),
      ),
    ),
  ].sort();
  loading ??= import('@polyglot-sql/sdk').catch(() => undefined);
  const polyglot = await loading;
  // Without the parser, the lexer's findings (a ${…} in a comment or quotes) still stand.
  if (!polyglot)
    return { reads: [], files, problems: scans.flatMap((scan) => scan.commentParams), clock };
  const tables = new Set<string>();
  const problems: SqlProblem[] = [];
  const refused = (template: number, error: unknown) => {
    const message = (error instanceof Error ? error.message : String(error ?? '')).trim();
    // Only a syntax error is a problem: the analyzer also refuses valid SQL it does not analyze
    // (several statements, PIVOT and other non-SELECT queries), which is not the user's mistake.
    if (!/^Parse error\b/.test(message) || /Expected 1 statement/i.test(message)) return;
    const line = Number(/\bline (\d+)/i.exec(message)?.[1] ?? 0);
    problems.push({ template, message, ...(line > 0 ? { line } : {}) });
  };
  // Tables an earlier template made anew (`CREATE [OR REPLACE] TABLE t …`): what later ones read
  // from them is the task's own work, not an input (the runtime's rule: sql/names.ts
  // `replacedTable`, which this copies: the compiler cannot import the runtime).
  const made = new Set<string>();
  for (const [index, template] of templates.entries()) {
    const dialect = dialectOf(index);
    problems.push(...scans[index]!.commentParams);
    // An interpolation after FROM/JOIN is a table (an upstream Query): give it a table-shaped
    // placeholder so the rest of the query still parses, and leave it out of the reads.
    const tabled = template.replace(
      /\b(FROM|JOIN)(\s+)@p(\d+)/gi,
      (_, kw: string, ws: string, n: string) => `${kw}${ws}${PLACEHOLDER}${n}`,
    );
    // The parser reads DuckDB's `@p0::INT` (a cast of the bound value, which DuckDB runs) as an
    // error: give it DuckDB's own named-parameter form, `$p0`, of the same length (columns in its
    // messages stay the template's).
    const asDuckDb = () =>
      polyglot.analyzeQuery(tabled.replace(/@p(\d+)/g, '$$p$1'), polyglot.Dialect.DuckDB);
    try {
      let result =
        dialect === 'duckdb'
          ? asDuckDb()
          : polyglot.analyzeQuery(tabled, polyglot.Dialect.BigQuery);
      // No dialect named (the project's default may be DuckDB): a query DuckDB reads is no mistake.
      if (!result.success && dialect === undefined) {
        const duck = asDuckDb();
        if (duck.success) result = duck;
      }
      if (!result.success) refused(index, (result as { error?: unknown }).error);
      // A quoted path used as a table (`FROM 'data/x.csv'`) is a file, keyed by content, not a table.
      for (const t of result.success ? (result.analysis?.baseTables ?? []) : [])
        if (
          t.name &&
          !t.name.startsWith(PLACEHOLDER) &&
          !files.includes(t.name) &&
          !made.has(tableKey(t.name))
        )
          tables.add(t.name);
    } catch (error) {
      refused(index, error); // unparseable: no reads, and a problem to report
    }
    const target = REPLACE_HEAD.exec(template.replace(LEADING_COMMENTS, ''))?.[1];
    if (target) made.add(tableKey(target));
  }
  return { reads: [...tables].sort(), files, problems, clock };
}

/** `CREATE [OR REPLACE] [TEMP] TABLE t` (not `IF NOT EXISTS`): the table a statement makes anew. */
const REPLACE_HEAD =
  /^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?TABLE\s+(?!IF\s+NOT\s+EXISTS\b)((?:`[^`]+`|"[^"]+"|[A-Za-z_][\w-]*)(?:\.(?:`[^`]+`|"[^"]+"|[A-Za-z_]\w*))*)/i;
const LEADING_COMMENTS = /^(\s*(--[^\n]*\n|#[^\n]*\n|\/\*[\s\S]*?\*\/))*/;

/** A table name as compared: quotes dropped, lower case (`"Shop".t` and `shop.T` are one). */
function tableKey(name: string): string {
  return name.replace(/[`"]/g, '').toLowerCase();
}

/**
 * One pass over a template's text, knowing strings and comments from code:
 * - `commentParams`: a `${…}` (here `@p<i>`) inside a SQL comment: the runtime drops it
 *   (compose.ts, whose rule this copies: the compiler cannot import the runtime), so the query runs
 *   as any SQL client would run it, without the commented-out line; the compiler says so, on the
 *   line. Also a `${…}` inside a quoted string or name (`LIKE '${pat}%'`, `"col_${x}"`,
 *   `$$…${x}…$$`): the warehouse sees the placeholder as text, never the value, so it cannot work
 *   (the runtime refuses it too, compose.ts); an error on the line.
 * - `clock`: the run's time read in code (`current_date`, `now()`, BigQuery's
 *   `CURRENT_TIMESTAMP()`): a query filtering on it ("the last 7 days") is cached with the first
 *   run's window.
 */
function scanTemplate(
  template: number,
  text: string,
  dialect: 'bigquery' | 'duckdb',
  paramAt?: readonly number[],
): { commentParams: SqlProblem[]; clock: SqlClockRead[] } {
  const isParam = (i: number) =>
    paramAt ? paramAt.includes(i) : text[i] === '@' && /^@p\d+/.test(text.slice(i, i + 12));
  type State = 'code' | 'line' | 'block' | 'dollar' | "'" | '"' | '`';
  let state: State = 'code';
  let dollarTag = ''; // the `$$` or `$tag$` that opened a DuckDB dollar-quoted string
  // DuckDB (as Postgres) nests block comments; BigQuery's end at the first `*/`. The runtime's
  // lexer (runtime/warehouse/sql/compose.ts `gapContexts`) follows the same rules.
  let depth = 0;
  // DuckDB's escape string `E'it\'s'`: a backslash escapes the next character.
  let escapes = false;
  let line = 1;
  const out: SqlProblem[] = [];
  const clock: SqlClockRead[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '\n') line++;
    if (state === 'code') {
      const call = /[a-z_]/i.test(c) && !/[\w.$@]/.test(text[i - 1] ?? ' ') && clockCall(text, i);
      if (call) {
        const name = call.toLowerCase().replace(/\s+/g, '');
        clock.push({ template, line, call: name.endsWith('(') ? `${name}…)` : name });
        i += call.length - 1;
      } else if (c === '-' && next === '-') state = 'line';
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
    } else if (c === '@' && state !== 'line' && state !== 'block' && isParam(i)) {
      // Inside a string or quoted name (the comment case is below). In BigQuery `"…"` is a
      // string, in DuckDB a name.
      const quoted =
        state === '`' || (state === '"' && dialect === 'duckdb') ? 'identifier' : 'string';
      out.push({
        template,
        kind: 'quoted-param',
        quoted,
        message:
          quoted === 'identifier'
            ? 'a ${…} inside a quoted name is not a parameter: the warehouse sees the placeholder as part of the name, never the value, so the query fails'
            : 'a ${…} inside a quoted SQL string is not a parameter: the warehouse sees the placeholder as text, never the value, so the query fails',
        line,
      });
    } else if (state === 'dollar') {
      if (text.startsWith(dollarTag, i)) ((state = 'code'), (i += dollarTag.length - 1));
    } else if (state === 'line' || state === 'block') {
      if (state === 'line' && c === '\n') state = 'code';
      else if (state === 'block' && c === '*' && next === '/') {
        i++;
        if (--depth === 0 || dialect !== 'duckdb') state = 'code';
      } else if (state === 'block' && c === '/' && next === '*' && dialect === 'duckdb')
        (depth++, i++);
      else if (c === '@' && isParam(i)) {
        out.push({
          template,
          kind: 'comment-param',
          message: 'a ${…} inside a SQL comment is dropped: the query runs without it',
          line,
        });
      }
    } else if (c === '\\' && state !== '`' && (dialect === 'bigquery' || escapes)) i++;
    else if (c === state) {
      if (next === state && dialect === 'duckdb') i++;
      else state = 'code';
    }
  }
  return { commentParams: out, clock };
}

/** True when the `'` at `i` opens a DuckDB escape string `E'…'` (a copy of the runtime's
 *  `escapeStringAt`, runtime/warehouse/sql/compose.ts: the compiler cannot import the runtime). */
function escapeStringAt(text: string, i: number): boolean {
  return /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
}

/** The clock calls in a sql`…` template's text, outside its strings and comments (module-clock.ts). */
export function sqlClockCalls(text: string): string[] {
  return scanTemplate(0, text, 'duckdb').clock.map((c) => c.call);
}

/** Functions and keywords giving the current date or time, in DuckDB and BigQuery: `now()`,
 *  `today()`, DuckDB's `current_localtime()` and `current_localtimestamp()` only as calls, the
 *  SQL-standard keywords (`current_date`, `localtimestamp`, BigQuery's `CURRENT_DATETIME`) with or
 *  without `()`, and DuckDB's `ago(interval)` (now minus it) with its argument. */
const CLOCK_CALL =
  /^(?:(?:now|today|get_current_time(?:stamp)?|transaction_timestamp|current_localtime(?:stamp)?)[ \t]*\([ \t]*\)|(?:current_(?:date|time|timestamp|datetime)|localtime(?:stamp)?)\b(?:[ \t]*\([ \t]*\))?|ago[ \t]*\()/i;

/** The clock call starting at `i` (as written), else undefined. */
function clockCall(text: string, i: number): string | undefined {
  return CLOCK_CALL.exec(text.slice(i, i + 40))?.[0];
}

/**
 * W_SQL_COMMENT_PARAM for each `${…}` in a comment, E_SQL_QUOTED_PARAM for each in a quoted
 * string or name, and W_SQL_SYNTAX for each template of a cell the parser refused, on the template's line in the cell
 * (the parser's line within the template, offset by where the template starts).
 */
export function sqlDiagnostics(
  notebook: string,
  cell: TaggedCell,
  analysis: CellAnalysis,
  facts: SqlFacts,
  dialect: 'bigquery' | 'duckdb' | undefined,
): Diagnostic[] {
  const taskDialect = dialect;
  return facts.problems.map((problem) => {
    const dialect = analysis.sqlTemplateDialects?.[problem.template] ?? taskDialect;
    const start = analysis.sqlTemplateAt?.[problem.template];
    const line = start ? start.line + (problem.line ?? 1) - 1 : undefined;
    if (problem.kind === 'comment-param') {
      return diagnostic(
        'warning',
        'W_SQL_COMMENT_PARAM',
        { notebook, cell: cell.index + 1, ...(cell.id ? { cellId: cell.id } : {}), line },
        problem.message,
        {
          hint: 'delete the commented-out line, or move the ${…} out of the comment if the filter is meant to apply',
          ...(line ? { snippet: cell.code.split('\n')[line - 1] ?? '' } : {}),
        },
      );
    }
    if (problem.kind === 'quoted-param') {
      // An error, not a warning as in a comment: a comment's ${…} has a plain meaning (drop it),
      // a quoted one none that could run. DuckDB refuses to bind it ("Can not bind to parameter
      // number 1"); BigQuery would match the text `@p0` itself.
      return diagnostic(
        'error',
        'E_SQL_QUOTED_PARAM',
        { notebook, cell: cell.index + 1, ...(cell.id ? { cellId: cell.id } : {}), line },
        problem.message,
        {
          hint:
            problem.quoted === 'identifier'
              ? 'a name cannot be a parameter: write the name itself, or interpolate `${ident(name)}` outside the quotes (it is quoted for you); on DuckDB `query_table(${name})` reads a table named by a value'
              : "move the ${…} out of the quotes and build the text in SQL: `LIKE ${pat} || '%'` or `CONCAT(${pat}, '%')`",
          ...(line ? { snippet: cell.code.split('\n')[line - 1] ?? '' } : {}),
        },
      );
    }
    return diagnostic(
      'warning',
      'W_SQL_SYNTAX',
      { notebook, cell: cell.index + 1, ...(cell.id ? { cellId: cell.id } : {}), line },
      `this sql\`…\` does not parse as ${dialect ?? 'BigQuery (the default)'} SQL: ${problem.message}`,
      {
        hint: dialect
          ? 'fix the query; the warehouse would refuse it when the task runs'
          : 'fix the query, or if it is DuckDB SQL say so with `//| dialect: duckdb` on the task',
        ...(line ? { snippet: cell.code.split('\n')[line - 1] ?? '' } : {}),
      },
    );
  });
}
