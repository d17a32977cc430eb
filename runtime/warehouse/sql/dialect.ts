// BigQuery SQL on DuckDB: translation with @polyglot-sql/sdk, plus the fixes and refusals that
// make the answers match.
//
// A translator that returns *some* SQL is not enough: several BigQuery functions came out with a
// different meaning (see TRAPS below; each was found by test/warehouse/dialect.test.ts, which runs
// BigQuery queries with known answers on DuckDB). We fix what has a faithful DuckDB spelling and
// refuse the rest with an error naming the construct, so a wrong answer never passes silently.
// Fixes work by renaming a function before translation to a marker the translator passes through
// unchanged, then renaming the marker to the right DuckDB function afterwards.
// Pure: no `node:*` imports (polyglot is WASM).
import type { SqlDialect } from '../../task.js';
import { WarehouseError } from '../types.js';

/** A BigQuery construct we will not translate, and why. */
export interface Refusal {
  construct: string;
  pattern: RegExp;
  reason: string;
}

export const REFUSED: Refusal[] = [
  {
    construct: 'FOR SYSTEM_TIME AS OF',
    pattern: /\bFOR\s+SYSTEM_TIME\s+AS\s+OF\b/i,
    reason: 'DuckDB has no time travel',
  },
  {
    construct: 'ML.* functions',
    pattern: /\bML\s*\.\s*[A-Z_]+\s*\(/i,
    reason: 'BigQuery ML models do not exist locally',
  },
  {
    construct: 'NET.* functions',
    pattern: /\bNET\s*\.\s*[A-Z_]+\s*\(/i,
    reason: 'no DuckDB equivalent',
  },
  {
    construct: 'FARM_FINGERPRINT',
    pattern: /\bFARM_FINGERPRINT\s*\(/i,
    reason: 'DuckDB has no FarmHash; a different hash would give different values',
  },
  { construct: 'IEEE_DIVIDE', pattern: /\bIEEE_DIVIDE\s*\(/i, reason: 'no DuckDB equivalent' },
  {
    construct: 'scripting (DECLARE/SET/BEGIN)',
    pattern: /^\s*(DECLARE|BEGIN|SET|IF|LOOP|WHILE|CALL)\b/i,
    reason: 'BigQuery scripting does not translate; run one statement per query',
  },
  {
    construct: 'named @parameters in SQL text',
    pattern: /(^|[^@\w])@[A-Za-z_]\w*/,
    reason: 'interpolate the value instead: sql`... ${value}` binds it safely',
  },
  {
    construct: 'EXTRACT(WEEK)',
    pattern: /\bEXTRACT\s*\(\s*WEEK\s*(\(|FROM\b)/i,
    reason:
      'BigQuery weeks start on Sunday with week 0 before the first Sunday; DuckDB counts ISO weeks. Use EXTRACT(ISOWEEK …)',
  },
  {
    construct: 'UNNEST … WITH OFFSET',
    pattern: /\bWITH\s+OFFSET\b/i,
    reason:
      'the translation loses the 0-based offset; number the elements with GENERATE_ARRAY or ROW_NUMBER() instead',
  },
  {
    construct: 'SAFE. function prefix',
    pattern: /\bSAFE\s*\.\s*[A-Z_]+\s*\(/i,
    reason:
      'the translator drops it and the function may not exist; use SAFE_CAST, SAFE_DIVIDE or a CASE',
  },
  { construct: 'INITCAP', pattern: /\bINITCAP\s*\(/i, reason: 'DuckDB has no INITCAP' },
  {
    construct: 'APPROX_QUANTILES',
    pattern: /\bAPPROX_QUANTILES\s*\(/i,
    reason:
      'DuckDB returns a different array shape; use PERCENTILE_CONT over a window or APPROX_QUANTILE',
  },
];

/** The semantic traps we fix (documented, and each covered by a known-answer test). */
export const TRAPS = [
  'REGEXP_CONTAINS is a partial match; the translator emits REGEXP_FULL_MATCH → we emit regexp_matches',
  "FORMAT('%d', …) is printf-style; DuckDB's FORMAT is fmt-style ({}) → we emit printf",
  'CONCAT returns NULL when any argument is NULL; DuckDB CONCAT skips NULLs → we emit a || chain',
  'JSON_VALUE returns a string; the translator emits -> (JSON) → we emit ->> like JSON_EXTRACT_SCALAR',
  'EXTRACT(DAYOFWEEK …) is 1 (Sunday) … 7 in BigQuery, 0 … 6 in DuckDB → we add 1',
  'REGEXP_EXTRACT returns the whole match (or group 1 when the pattern has a group); the translator always asks for group 1 → we pick the group',
  'REGEXP_REPLACE replaces every match; DuckDB replaces the first unless given the g flag → we add it',
  'DATE_TRUNC / DATE_ADD / DATE_SUB return DATE; DuckDB returns TIMESTAMP → we cast back to DATE',
  'ARRAY_AGG(… ORDER BY … LIMIT n) has no DuckDB form → we slice the ordered list',
  'EXTRACT(ISOWEEK …) is not a DuckDB specifier → we call week(), the ISO week',
  "SPLIT(s) with no delimiter splits on ','; DuckDB requires the delimiter → we add it",
];

/** Replace string literals and comments with spaces, keeping offsets, to search code only. */
export function codeOnly(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if ((c === '-' && text[i + 1] === '-') || c === '#') {
      while (i < n && text[i] !== '\n') ((out += ' '), i++);
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      const end = close < 0 ? n : close + 2;
      out += ' '.repeat(end - i);
      i = end;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const triple = c !== '`' && text.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      let j = i + close.length;
      while (j < n && !text.startsWith(close, j)) j += text[j] === '\\' ? 2 : 1;
      const end = Math.min(n, j + close.length);
      // Keep the quotes (so the result still tokenises), blank the body; identifiers stay as is.
      out +=
        c === '`'
          ? text.slice(i, end)
          : c + ' '.repeat(Math.max(0, end - i - 2)) + (end - i >= 2 ? c : '');
      i = end;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Rename calls `NAME(` (outside literals) to `to(`. */
function renameCalls(text: string, name: string, to: string): string {
  const code = codeOnly(text);
  const re = new RegExp(`\\b${name}\\s*\\(`, 'gi');
  let out = '';
  let at = 0;
  for (const m of code.matchAll(re)) {
    const prev = code[m.index - 1];
    if (prev === '.') continue; // SAFE.NAME( or a qualified name: leave it
    out += text.slice(at, m.index) + to + '(';
    at = m.index + m[0].length;
  }
  return out + text.slice(at);
}

/** Find `NAME(args)` calls and rebuild them; `args` split at top-level commas. */
function rewriteCalls(text: string, name: string, build: (args: string[]) => string): string {
  for (let guard = 0; guard < 1000; guard++) {
    const code = codeOnly(text);
    const m = new RegExp(`(^|[^.\\w])(${name})\\s*\\(`, 'i').exec(code);
    if (!m) return text;
    const start = m.index + m[1]!.length;
    let depth = 0;
    let j = code.indexOf('(', start);
    const open = j;
    const cuts: number[] = [];
    for (; j < code.length; j++) {
      const c = code[j];
      if (c === '(' || c === '[') depth++;
      else if (c === ')' || c === ']') {
        depth--;
        if (depth === 0) break;
      } else if (c === ',' && depth === 1) cuts.push(j);
    }
    const bounds = [open, ...cuts, j];
    const args = bounds.slice(0, -1).map((b, k) => text.slice(b + 1, bounds[k + 1]).trim());
    text = text.slice(0, start) + build(args) + text.slice(j + 1);
  }
  return text;
}

/** A literal regex with a capturing group: BigQuery's REGEXP_EXTRACT then returns group 1. */
function hasCapturingGroup(patternArg: string): boolean {
  const body = /^r?(['"])([\s\S]*)\1$/i.exec(patternArg.trim())?.[2];
  return body !== undefined && /(^|[^\\])\((?!\?)/.test(body);
}

function fixBeforeTranslation(text: string): string {
  let t = renameCalls(text, 'REGEXP_CONTAINS', '__cellar_fn_regexp_matches');
  t = rewriteCalls(t, 'REGEXP_EXTRACT', (args) =>
    args.length === 2
      ? `__cellar_fn_regexp_extract(${args[0]}, ${args[1]}, ${hasCapturingGroup(args[1]!) ? 1 : 0})`
      : `__CELLAR_RX__(${args.join(', ')})`,
  ).replace(/__CELLAR_RX__\(/g, 'REGEXP_EXTRACT(');
  // SPLIT(s) splits on ',' in BigQuery; DuckDB needs the delimiter.
  t = rewriteCalls(
    t,
    'SPLIT',
    (args) => `__CELLAR_SPLIT__(${args.length === 1 ? `${args[0]}, ','` : args.join(', ')})`,
  ).replace(/__CELLAR_SPLIT__\(/g, 'SPLIT(');
  t = rewriteCalls(
    t,
    'REGEXP_REPLACE',
    (args) => `__cellar_fn_regexp_replace(${args.join(', ')}, 'g')`,
  );
  // DATE_* functions return DATE in BigQuery; DuckDB's return TIMESTAMP.
  for (const fn of ['DATE_TRUNC', 'DATE_ADD', 'DATE_SUB']) {
    t = rewriteCalls(t, fn, (args) => `CAST(__CELLAR_${fn}__(${args.join(', ')}) AS DATE)`).replace(
      new RegExp(`__CELLAR_${fn}__\\(`, 'g'),
      `${fn}(`,
    );
  }
  // DuckDB has no LIMIT inside an aggregate: slice the ordered list instead.
  t = rewriteCalls(t, 'ARRAY_AGG', (args) => {
    const m = args.length === 1 ? /^([\s\S]*?)\s+LIMIT\s+(\d+)\s*$/i.exec(args[0]!) : null;
    return m
      ? `__cellar_fn_list_slice(__CELLAR_AA__(${m[1]}), 1, ${m[2]})`
      : `__CELLAR_AA__(${args.join(', ')})`;
  }).replace(/__CELLAR_AA__\(/g, 'ARRAY_AGG(');
  t = t.replace(/\bEXTRACT\s*\(\s*ISOWEEK\s+FROM\b/gi, '__cellar_fn_week(');
  t = renameCalls(t, 'FORMAT', '__cellar_fn_printf');
  t = renameCalls(t, 'JSON_VALUE', 'JSON_EXTRACT_SCALAR');
  t = rewriteCalls(t, 'CONCAT', (args) => '(' + args.map((a) => `(${a})`).join(' || ') + ')');
  t = t.replace(/\bEXTRACT\s*\(\s*DAYOFWEEK\s+FROM\b/gi, '__cellar_dow(DAYOFWEEK FROM');
  t = rewriteCalls(t, '__cellar_dow', (args) => `(EXTRACT(${args.join(', ')}) + 1)`);
  return t;
}

function fixAfterTranslation(text: string): string {
  return text.replace(/__cellar_fn_([a-z_]+)\s*\(/gi, (_m, fn: string) => `${fn.toLowerCase()}(`);
}

/** Raise E_WH_DIALECT when `text` uses a construct we refuse to translate. */
export function checkRefusals(text: string): void {
  const code = codeOnly(text);
  for (const r of REFUSED) {
    if (r.pattern.test(code)) {
      throw new WarehouseError(
        'E_WH_DIALECT',
        `BigQuery construct ${r.construct} is not supported on DuckDB: ${r.reason}`,
        { construct: r.construct },
      );
    }
  }
}

/** Names the translator and our fixes: part of every cached translation's key. Bump the suffix
 *  whenever a fix in this file changes (a test checks the polyglot version matches the install). */
export const TRANSLATION_ID = 'polyglot-0.12.1+cellar-4';

type Polyglot = typeof import('@polyglot-sql/sdk');
let polyglot: Polyglot | null = null;

/** What the translator returns (polyglot's TranspileResult, the part we use). */
export interface TranspileResult {
  success: boolean;
  sql?: string[] | null;
  error?: string | null;
}

/** Runs the raw translator. In-process by default; the session passes one that runs it in a
 *  helper process (translator.ts), so its ~190 MB of WASM never sits in a task's process. */
export type Transpile = (
  text: string,
  from: SqlDialect,
  to: SqlDialect,
) => Promise<TranspileResult>;

/** The translator in this process (WASM, ~0.3 s to start; loaded on first need). */
export const inProcessTranspile: Transpile = async (text, from, to) => {
  polyglot ??= await import('@polyglot-sql/sdk');
  const d = (x: SqlDialect) =>
    x === 'bigquery' ? polyglot!.Dialect.BigQuery : polyglot!.Dialect.DuckDB;
  return polyglot.transpile(text, d(from), d(to));
};

const memo = new Map<string, string>();

/** A translation remembered in this process, if any (no translator needed). */
export function memoisedTranslation(
  text: string,
  from: SqlDialect,
  to: SqlDialect,
): string | undefined {
  return memo.get(`${from}>${to}\u0000${text}`);
}

/** Translate one statement between dialects (identity when they match), with our fixes and
 *  refusals. Memoised: notebooks re-run the same text many times. */
export async function translate(
  text: string,
  from: SqlDialect,
  to: SqlDialect,
  transpile: Transpile = inProcessTranspile,
): Promise<string> {
  if (from === to) return text;
  const memoKey = `${from}>${to}\u0000${text}`;
  const hit = memo.get(memoKey);
  if (hit !== undefined) return hit;
  if (from === 'bigquery') checkRefusals(text);
  const source = from === 'bigquery' ? fixBeforeTranslation(text) : text;
  const result = await transpile(source, from, to);
  if (!result.success || !result.sql || result.sql.length === 0) {
    // details.sql: the text as given (the template's lines), so origin.ts can check the parser's
    // line against the word at its column.
    throw new WarehouseError(
      'E_WH_DIALECT',
      `could not translate ${from} SQL to ${to}: ${result.error ?? 'no output'}\n  in: ${oneLine(text)}`,
      { sql: text },
    );
  }
  if (result.sql.length > 1)
    throw new WarehouseError(
      'E_WH_DIALECT',
      `one statement per query, got ${result.sql.length}\n  in: ${oneLine(text)}`,
    );
  const out = fixAfterTranslation(result.sql[0]!);
  if (memo.size > 500) memo.clear();
  memo.set(memoKey, out);
  return out;
}

export function oneLine(text: string, max = 160): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
