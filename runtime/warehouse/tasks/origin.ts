// Where in the user's code a warehouse failure came from: the sql`` template, the line inside its
// SQL the engine complained about, or the `//| check:` that failed.
//
// A query runs long after the line that wrote it: `await sql\`…\`` calls the Query's `then`, the
// engine fails a few hops later, and V8's async stack does not reach back through a thenable, so
// the error's own stack never shows the task's code. So each Query remembers the stack of the
// line that created it (`Error.captureStackTrace` on a small object: V8 formats it only if read),
// and a failure carries that stack and the SQL line in a marked section appended to the error's
// stack. Only `message` and `stack` cross from a worker to the CLI, so the stack is the one channel
// that needs no change to the runtime's events; the CLI (cli/failure-location.ts) maps the
// frames to the notebook cell with the compiler's locate.ts, which the runtime core must not import.
// The SQL line is best-effort: exact when the text sent has the template's lines, else found by
// the word the engine pointed at; none rather than a wrong one. Pure: no `node:*` imports.
import { WarehouseError } from '../types.js';

/** The stack of the line that wrote a sql`` template (read lazily: formatting costs). */
export interface QuerySite {
  readonly stack?: string;
}

/** Capture the caller of `fn` (the `sql` tag) as the Query's site. */
export function captureSite(fn: (...args: never[]) => unknown): QuerySite {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, fn);
  return site;
}

const SQL_MARK = /^ {4}-- sql`` written at(?: \(SQL line (\d+)\))?:$/;
const CHECK_MARK = /^ {4}-- \/\/\| check: (.*)$/;

/** What a failure's stack says about its origin: the template's frames (and the SQL line in it),
 *  and the check that failed. */
export interface FailureOrigin {
  sqlFrames?: string[];
  sqlLine?: number;
  check?: string;
}

function hasMark(e: Error): boolean {
  return (e.stack ?? '').split('\n').some((l) => SQL_MARK.test(l) || CHECK_MARK.test(l));
}

/**
 * Add the template's site (and the SQL line the engine reported) to a WarehouseError's stack, once:
 * the innermost query wins (a check's own COUNT query is not the user's template, but no frame of
 * it is in the task's module either, so the CLI falls back to the check's line).
 */
export function attachSite(
  e: unknown,
  site: QuerySite | undefined,
  strings: readonly string[],
): unknown {
  if (!(e instanceof WarehouseError) || !site?.stack || hasMark(e)) return e;
  const frames = site.stack.split('\n').filter((l) => /^\s+at /.test(l));
  const line = sqlLineOf(e, strings);
  e.stack = `${e.stack ?? `${e.name}: ${e.message}`}\n    -- sql\`\` written at${line ? ` (SQL line ${line})` : ''}:\n${frames.join('\n')}`;
  return e;
}

/** Name the `//| check:` a failure came from on its stack (once). */
export function attachCheck(e: unknown, check: string): unknown {
  if (!(e instanceof WarehouseError) || (e.stack ?? '').split('\n').some((l) => CHECK_MARK.test(l)))
    return e;
  e.stack = `${e.stack ?? `${e.name}: ${e.message}`}\n    -- //| check: ${check.replace(/\n/g, ' ')}`;
  return e;
}

/** Read back what attachSite / attachCheck wrote. */
export function readOrigin(stack: string): FailureOrigin {
  const out: FailureOrigin = {};
  const lines = stack.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const c = CHECK_MARK.exec(lines[i]!);
    if (c) out.check ??= c[1]!.trim();
    const s = SQL_MARK.exec(lines[i]!);
    if (s && !out.sqlFrames) {
      if (s[1]) out.sqlLine = Number(s[1]);
      out.sqlFrames = [];
      for (let j = i + 1; j < lines.length && /^\s+at /.test(lines[j]!); j++)
        out.sqlFrames.push(lines[j]!);
    }
  }
  return out;
}

/** Carry a wrapped error's stack over to the error that replaces it (a new message, same trail). */
export function keepTrail(wrapped: Error, original: Error): Error {
  const head = `${original.name}: ${original.message}`;
  const stack = original.stack ?? '';
  const rest = stack.startsWith(head) ? stack.slice(head.length) : stack.slice(stack.indexOf('\n'));
  wrapped.stack = `${wrapped.name}: ${wrapped.message}${rest}`;
  return wrapped;
}

/**
 * The 1-based line within the template's SQL (as written, `${…}` counted as one line) that the
 * failure points at, or undefined. Sources: a refused construct's name (E_WH_DIALECT), DuckDB's
 * `LINE n:` with its caret, BigQuery's `[line:col]`, else the name of a table reported missing.
 */
export function sqlLineOf(e: WarehouseError, strings: readonly string[]): number | undefined {
  const raw = (strings as { raw?: readonly string[] }).raw ?? strings;
  const template = raw.join('${}').split('\n');
  const construct = e.details.construct;
  if (e.code === 'E_WH_DIALECT' && typeof construct === 'string')
    return findWord(template, construct);
  const sent = typeof e.details.sql === 'string' ? e.details.sql.split('\n') : undefined;
  let line: number | undefined;
  let token: string | undefined;
  const duck = /\nLINE (\d+): (.*)\n( *)\^/.exec(e.message);
  // The translator's parser (BigQuery SQL on DuckDB): its line is in the text it was given.
  const parse = /Parse error at line (\d+), column (\d+)/.exec(e.message);
  if (parse) {
    line = Number(parse[1]);
    const text = sent?.[line - 1];
    if (text !== undefined) token = tokenAt(text, Number(parse[2]) - 1);
  } else if (duck) {
    line = Number(duck[1]);
    token = tokenAt(duck[2]!, duck[3]!.length - `LINE ${duck[1]}: `.length);
  } else {
    const bq = /\[(\d+):(\d+)\]/.exec(e.message);
    if (bq) {
      line = Number(bq[1]);
      const text = sent?.[line - 1];
      if (text !== undefined) token = tokenAt(text, Number(bq[2]) - 1);
    }
  }
  if (line === undefined) {
    // No position, but a missing table by name (BigQuery's `Not found: Table p:ds.t`): its line.
    const missing =
      /(?:Not found: Table|Table with name) "?([\w.:$-]+?)"? (?:was not found|does not exist)/.exec(
        e.message,
      );
    return missing ? findWord(template, missing[1]!.split(/[.:]/).pop()!) : undefined;
  }
  // The text sent has the template's lines (no translation, no multi-line subquery): trust the
  // line, if the word the engine pointed at is on it (a stand-in or a wrapper may number its own text).
  const aligned = sent !== undefined && sent.length === template.length && line <= template.length;
  if (aligned && (!token || findWord([template[line - 1]!], token))) return line;
  return token ? findWord(template, token) : undefined;
}

/** The last name of the identifier chain at `col` in `text` (`"vega"."nosuch"` → nosuch). */
function tokenAt(text: string, col: number): string | undefined {
  if (col < 0 || col >= text.length) return undefined;
  const m = /^(?:[`"]?[\w$-]+[`"]?\.)*[`"]?([\w$-]+)[`"]?/.exec(text.slice(col));
  return m?.[1];
}

/** The first template line holding `word` as a whole word (case-insensitive). */
function findWord(lines: string[], word: string): number | undefined {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`(^|[^\\w$])${escaped}($|[^\\w$])`, 'i');
  const i = lines.findIndex((l) => re.test(l));
  return i >= 0 ? i + 1 : undefined;
}
