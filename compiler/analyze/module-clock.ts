// Clock reads in a project's own modules (`lib/time.ts`: `export const today = () => new
// Date().toISOString().slice(0, 10)`), for W_TASK_READS_CLOCK on a task calling an export.
//
// Pure: the host hands each module's text (`ReadModule`). A scan of the text, not a program: a
// cell's analysis has TypeScript, a module here is read only for this, and a lexer that knows
// strings, comments and templates from code is enough to find `Date.now()`, `new Date()`,
// `Date()` and SQL's clock in a sql`…` template, which top-level declaration holds each, which
// declarations use which, and which local modules it imports. It guarantees no false warning
// from a string or a comment, nor from a `Date` the module declares itself (in its block); it may
// miss a read (a `Date` reached under another name, a formatter handed around), does not tell a
// parameter named `Date` from the global, and follows imports and re-exports `MAX_DEPTH` modules
// deep, each module once. A namespace (`import * as t`, `export * as t`) is followed by its members' names
// (`t.today`), so a module's exports may be qualified names.
import { sqlClockCalls } from './sql.js';

/** A local module's text and its project-relative path, or undefined when it is no file. */
export type ReadModule = (
  from: string | undefined,
  specifier: string,
) => { path: string; text: string } | undefined;

export interface ModuleClockRead {
  call: string;
  /** Project-relative path of the module where the clock is read. */
  path: string;
  line: number;
}

const MAX_DEPTH = 4;
const MAX_CHARS = 100_000;

/** Is this specifier a project file (relative), not a package? */
export function isLocalSpecifier(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../');
}

/**
 * The exports of the module at `specifier` (from the notebook when `from` is undefined) whose use
 * reads the clock, with the first read behind each.
 */
export function moduleClockReads(
  read: ReadModule,
  from: string | undefined,
  specifier: string,
  seen: Map<string, Map<string, ModuleClockRead>> = new Map(),
  depth = 0,
): Map<string, ModuleClockRead> {
  const module = read(from, specifier);
  // A bundle or generated data (over 100 KB) is not a helper a task calls: not scanned (a scan
  // costs about 1 ms per KB).
  if (!module || module.text.length > MAX_CHARS) return new Map();
  const known = seen.get(module.path);
  if (known) return known;
  const exported = new Map<string, ModuleClockRead>();
  seen.set(module.path, exported); // a cycle sees what is found so far
  const { code, sql } = mask(module.text);
  const decls = topLevelDeclarations(code);
  const found = new Map<string, ModuleClockRead>();
  // The innermost: a class's static method (listed after the class) before the class.
  const holder = (at: number) => decls.findLast((d) => d.start <= at && at < d.end);
  const lineAt = (at: number) => module.text.slice(0, at).split('\n').length;
  const reads: { at: number; call: string }[] = [];
  // A global the module declares itself (`const Date = …`, `function f(Temporal) {…}` is not
  // seen) is no clock in the block declaring it.
  const own = shadowed(code);
  const global = (name: string, at: number) =>
    !own.some((o) => o.name === name && o.from <= at && at < o.to);
  for (const m of code.matchAll(CLOCK_JS))
    if (global('Date', m.index)) reads.push({ at: m.index, call: jsCall(m[0]) });
  for (const m of code.matchAll(TEMPORAL_NOW))
    if (global('Temporal', m.index))
      reads.push({ at: m.index, call: m[1] ? `Temporal.Now.${m[1]}()` : 'Temporal.Now' });
  for (const m of code.matchAll(FORMAT_NOW))
    if (global('Intl', m.index))
      reads.push({ at: m.index, call: `Intl.DateTimeFormat().${m[1]}()` });
  // A formatter held in a name (`const fmt = new Intl.DateTimeFormat('en')`), called with no date.
  for (const f of code.matchAll(FORMATTER))
    for (const m of code.matchAll(heldFormatCall(f[1]!)))
      reads.push({ at: m.index, call: `Intl.DateTimeFormat().${m[1]}()` });
  for (const t of sql) for (const c of sqlClockCalls(t.text)) reads.push({ at: t.start, call: c });
  for (const r of reads.sort((x, y) => x.at - y.at)) {
    const d = holder(r.at);
    if (d?.taints && !found.has(d.name))
      found.set(d.name, { call: r.call, path: module.path, line: lineAt(r.at) });
  }
  // Imported names: a local module's tainted exports, followed `MAX_DEPTH` deep.
  // Re-exported names (`export { today } from './time.js'`, `export * from …`) go straight to
  // `exported`, under the names the importer sees.
  const exported0 = new Map<string, ModuleClockRead>();
  if (depth < MAX_DEPTH) {
    const theirsOf = (imp: RegExpMatchArray) => {
      const spec = module.text.slice(imp.index, imp.index! + imp[0].length).match(SPEC)?.[1];
      return spec && isLocalSpecifier(spec)
        ? moduleClockReads(read, module.path, spec, seen, depth + 1)
        : undefined;
    };
    const take = (
      into: Map<string, ModuleClockRead>,
      list: string,
      theirs: Map<string, ModuleClockRead>,
    ) => {
      for (const b of list.split(',')) {
        const [imported, local = imported] = b
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/);
        if (!imported || !local) continue;
        for (const [name, r] of qualified(theirs, imported, local))
          if (!into.has(name)) into.set(name, r);
      }
    };
    for (const imp of code.matchAll(IMPORT)) {
      const theirs = theirsOf(imp);
      if (!theirs) continue;
      const [, typeOnly, deflt, ns, list] = imp;
      if (typeOnly) continue;
      if (deflt) take(found, `default as ${deflt}`, theirs);
      if (ns)
        for (const [name, r] of theirs)
          if (!found.has(`${ns}.${name}`)) found.set(`${ns}.${name}`, r);
      if (list !== undefined) take(found, list, theirs);
    }
    for (const ex of code.matchAll(REEXPORT)) {
      const theirs = theirsOf(ex);
      if (!theirs) continue;
      const [, typeOnly, star, ns, list] = ex;
      if (typeOnly) continue;
      if (star && ns) for (const [name, r] of theirs) exported0.set(`${ns}.${name}`, r);
      else if (star)
        for (const [name, r] of theirs)
          if (name !== 'default' && !name.startsWith('default.')) exported0.set(name, r);
      if (list !== undefined) take(exported0, list, theirs);
    }
  }
  // Declarations using a tainted name, through a worklist: who uses each name, read once.
  const usedBy = new Map<string, TopLevel[]>();
  for (const d of decls) {
    if (!d.taints) continue;
    // Each name and each name with the member read on it (`t.today`, for a namespace import).
    const names = new Set(
      [...code.slice(d.start, d.end).matchAll(USE)].flatMap((m) =>
        m[2] ? [m[1]!, `${m[1]}.${m[2]}`] : [m[1]!],
      ),
    );
    for (const name of names) {
      const users = usedBy.get(name);
      if (users) users.push(d);
      else usedBy.set(name, [d]);
    }
  }
  const work = [...found.keys()];
  for (let name = work.pop(); name !== undefined; name = work.pop())
    for (const d of usedBy.get(name) ?? [])
      if (!found.has(d.name)) {
        found.set(d.name, found.get(name)!);
        work.push(d.name);
      }
  for (const [name, r] of exported0) exported.set(name, r);
  for (const d of decls)
    if (d.exported && found.has(d.name))
      exported.set(d.default ? d.name.replace(/^[^.]+/, 'default') : d.name, found.get(d.name)!);
  for (const m of code.matchAll(EXPORT_LIST))
    for (const b of m[1]!.split(',')) {
      const [local, as = local] = b.trim().split(/\s+as\s+/);
      if (!local || !as) continue;
      for (const [name, r] of qualified(found, local, as)) exported.set(name, r);
    }
  // `export default today;`
  for (const m of code.matchAll(EXPORT_DEFAULT_NAME)) {
    const r = found.get(m[1]!);
    if (r) exported.set('default', r);
  }
  return exported;
}

/**
 * The entries of `from` for `name` and its members (`t.today` for a namespace `t`), under `as`
 * in place of `name`.
 */
function qualified(
  from: Map<string, ModuleClockRead>,
  name: string,
  as: string,
): [string, ModuleClockRead][] {
  const out: [string, ModuleClockRead][] = [];
  for (const [k, r] of from)
    if (k === name) out.push([as, r]);
    else if (k.startsWith(`${name}.`)) out.push([as + k.slice(name.length), r]);
  return out;
}

/** `Date.now` (called or not), `new Date` with no argument, `Date()`; not `x.Date`, `new Date(x)`. */
const CLOCK_JS =
  /(?<![\w$.])(?:Date\s*\.\s*now\b(?:\s*\(\s*\))?|new\s+Date\b(?:\s*\(\s*\))?(?!\s*\()|(?<!new\s+)Date\s*\(\s*\))/g;
/** `Temporal.Now` (each of its members reads the clock), with the member called. */
const TEMPORAL_NOW = /(?<![\w$.])Temporal\s*\.\s*Now\b(?:\s*\.\s*([\w$]+)\s*\(\s*\))?/g;
/** `Intl.DateTimeFormat(…).format()` with no date (arguments without nested parentheses). */
const FORMAT_NOW =
  /(?<![\w$.])(?:new\s+)?Intl\s*\.\s*DateTimeFormat\s*\([^()]*\)\s*\)?\s*\.\s*(format(?:ToParts)?)\s*\(\s*\)/g;
/** A name holding a date formatter. */
const FORMATTER =
  /(?<![\w$.])(?:const|let|var)\s+([\w$]+)(?:\s*:[^=]*)?\s*=\s*(?:new\s+)?Intl\s*\.\s*DateTimeFormat\b/g;
const heldFormatCall = (name: string) =>
  new RegExp(
    `(?<![\\w$.])${name.replace(/\$/g, '\\$')}\\s*\\.\\s*(format(?:ToParts)?)\\s*\\(\\s*\\)`,
    'g',
  );
/** A name, and the member read on it. */
const USE = /(?<![\w$.])([A-Za-z_$][\w$]*)(?:\s*\.\s*([A-Za-z_$][\w$]*))?/g;
/** `import [type] [d,] [* as ns | { … }] from '…'` */
const IMPORT =
  /(?<![\w$.])import\s+(type\s+)?(?:([\w$]+)\s*,?\s*)?(?:\*\s*as\s+([\w$]+)\s*)?(?:\{([^}]*)\}\s*)?from\s*['"][^'"]*['"]/g;
/** `export [type] * [as ns] from '…'`, `export { … } from '…'` */
const REEXPORT =
  /(?<![\w$.])export\s+(type\s+)?(?:(\*)\s*(?:as\s+([\w$]+)\s*)?|\{([^}]*)\}\s*)from\s*['"][^'"]*['"]/g;
const EXPORT_DEFAULT_NAME = /(?<![\w$.])export\s+default\s+([A-Za-z_$][\w$]*)\s*;?\s*$/gm;
const SPEC = /from\s*['"]([^'"]*)['"]\s*$/;
const EXPORT_LIST = /(?<![\w$.])export\s*\{([^}]*)\}(?!\s*from)/g;
const DECL =
  /(?<![\w$.])(export\s+)?(default\s+)?(?:declare\s+)?(?:async\s+)?(function\s*\*?|const|let|var|class)\s+([\w$]+)/g;
/** `export default` of an expression or an anonymous function (`export default () => new Date()`). */
const ANON_DEFAULT =
  /(?<![\w$.])export\s+default\s+(?!(?:async\s+)?function\s*\*?\s*[\w$]|class\b|[A-Za-z_$][\w$]*\s*;?\s*$)/gm;

function jsCall(text: string): string {
  const t = text.replace(/\s+/g, '');
  if (t.startsWith('Date.now')) return t;
  if (t.startsWith('new')) return 'new Date()';
  return 'Date()';
}

/** A top-level declaration; a class does not read the clock by its methods (to log, say). */
interface TopLevel {
  name: string;
  exported: boolean;
  /** `export default function today()`: exported as `default`. */
  default?: boolean;
  taints: boolean;
  start: number;
  end: number;
}

/** Top-level declarations (outside any brace), each up to the next one. */
function topLevelDeclarations(code: string): TopLevel[] {
  const depthAt = braceDepths(code);
  const out: TopLevel[] = [];
  for (const m of code.matchAll(DECL))
    if (depthAt(m.index) === 0 && (m[2] === undefined || m[1] !== undefined))
      out.push({
        name: m[4]!,
        exported: m[1] !== undefined,
        ...(m[2] !== undefined ? { default: true } : {}),
        taints: m[3] !== 'class',
        start: m.index,
        end: code.length,
      });
  for (const m of code.matchAll(ANON_DEFAULT))
    if (depthAt(m.index) === 0)
      out.push({
        name: 'default',
        exported: true,
        default: true,
        taints: true,
        start: m.index,
        end: code.length,
      });
  out.sort((a, b) => a.start - b.start);
  for (let i = 0; i + 1 < out.length; i++) out[i]!.end = out[i + 1]!.start;
  // A class's static methods are functions reached by a qualified name (`Clock.now()`): each is
  // a declaration of its own, `Clock.now`, from its name to the next member (the class itself
  // still does not read the clock by its methods).
  const statics: TopLevel[] = [];
  for (const cls of out) {
    if (cls.taints || cls.name === 'default') continue;
    const body = code.indexOf('{', cls.start);
    if (body < 0 || body >= cls.end) continue;
    const members = [...code.slice(body, cls.end).matchAll(STATIC_METHOD)]
      .map((m) => ({ name: m[1]!, at: body + m.index }))
      .filter((m) => depthAt(m.at) === 1);
    members.forEach((m, k) =>
      statics.push({
        name: `${cls.name}.${m.name}`,
        exported: cls.exported,
        ...(cls.default ? { default: true } : {}),
        taints: true,
        start: m.at,
        end: members[k + 1]?.at ?? cls.end,
      }),
    );
  }
  return [...out, ...statics];
}
/** `static [async] [*] name(` in a class body. */
const STATIC_METHOD = /(?<![\w$.])static\s+(?:async\s+)?\*?\s*([\w$]+)\s*\(/g;

/**
 * Where the module declares `Date`, `Temporal` or `Intl` itself: from the bracket opening the
 * declaration's block to the one closing it (the whole module at the top level).
 */
function shadowed(code: string): { name: string; from: number; to: number }[] {
  const out: { name: string; from: number; to: number }[] = [];
  const matches = [...code.matchAll(OWN_GLOBAL)];
  if (matches.length === 0) return out;
  const depthAt = braceDepths(code);
  for (const m of matches) {
    const d = depthAt(m.index);
    let from = m.index;
    while (from > 0 && depthAt(from) >= d) from--;
    let to = m.index;
    while (to < code.length && depthAt(to) >= d) to++;
    out.push({ name: m[1]!, from: d === 0 ? 0 : from, to: d === 0 ? code.length : to });
  }
  return out;
}
/** Text ending in a sql tag: `sql`, `sql<{ d: string }>` (type arguments, one level nested),
 *  `sql.dialect('duckdb')`, just before a template's backtick. */
const SQL_TAG_BEFORE =
  /(?<![\w$.])sql(?:\s*\.\s*dialect\s*\([^()`]*\))?\s*(?:<(?:[^<>`]|<[^<>`]*>)*>)?\s*$/;
const OWN_GLOBAL = /(?<![\w$.])(?:const|let|var|function|class)\s+(Date|Temporal|Intl)(?![\w$])/g;

function braceDepths(code: string): (at: number) => number {
  const depth: number[] = [];
  let d = 0;
  for (let i = 0; i < code.length; i++) {
    depth.push(d);
    const c = code[i];
    if (c === '{' || c === '(' || c === '[') d++;
    else if (c === '}' || c === ')' || c === ']') d = Math.max(0, d - 1);
  }
  return (at) => depth[at] ?? 0;
}

/**
 * The text with strings, comments and template text blanked (same length, newlines kept; the
 * quotes of import specifiers stay, blanked inside), and the text of each sql`…` template.
 */
function mask(text: string): { code: string; sql: { start: number; text: string }[] } {
  const out = text.split('');
  const sql: { start: number; text: string }[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Brace depths of open `${`, to know where a template's text resumes.
  const templates: number[] = [];
  let braces = 0;
  const template = (i: number): number => {
    // i is just after a backtick or a `}` closing `${`; returns the index after the template text.
    const start = i;
    let j = i;
    for (; j < text.length; j++) {
      if (text[j] === '\\') j++;
      else if (text[j] === '`') break;
      else if (text[j] === '$' && text[j + 1] === '{') break;
    }
    blank(start, j);
    return j;
  };
  let sqlStart = -1;
  let sqlText = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      blank(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      blank(i, end < 0 ? text.length : end + 2);
      i = end < 0 ? text.length : end + 1;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== c && text[j] !== '\n'; j++) if (text[j] === '\\') j++;
      blank(i + 1, j);
      i = j;
    } else if (c === '`' || (c === '}' && templates.at(-1) === braces)) {
      if (c === '}') (templates.pop(), braces--);
      else if (SQL_TAG_BEFORE.test(text.slice(Math.max(0, i - 300), i)))
        ((sqlStart = i + 1), (sqlText = ''));
      const j = template(i + 1);
      if (sqlStart >= 0) sqlText += text.slice(i + 1, j) + (text[j] === '$' ? '@p0' : '');
      if (text[j] === '$') {
        templates.push(++braces);
        i = j + 1;
      } else {
        if (sqlStart >= 0) sql.push({ start: sqlStart, text: sqlText });
        sqlStart = -1;
        i = j;
      }
    } else if (c === '{') braces++;
    else if (c === '}') braces--;
  }
  return { code: out.join(''), sql };
}
