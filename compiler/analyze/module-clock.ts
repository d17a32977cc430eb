// Clock reads in a project's own modules (`lib/time.ts`: `export const today = () => new
// Date().toISOString().slice(0, 10)`), for W_TASK_READS_CLOCK on a task calling an export.
//
// Pure: the host hands each module's text (`ReadModule`). A scan of the text, not a program: a
// cell's analysis has TypeScript, a module here is read only for this, and a lexer that knows
// strings, comments and templates from code is enough to find `Date.now()`, `new Date()`,
// `Date()` and SQL's clock in a sql`…` template, which top-level declaration holds each, which
// declarations use which, and which local modules it imports. It guarantees no false warning
// from a string or a comment; it may miss a read (a local `Date`, a re-export, a namespace
// import), and follows imports `MAX_DEPTH` modules deep, each module once.
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
  const holder = (at: number) => decls.find((d) => d.start <= at && at < d.end);
  const lineAt = (at: number) => module.text.slice(0, at).split('\n').length;
  const reads: { at: number; call: string }[] = [];
  for (const m of code.matchAll(CLOCK_JS)) reads.push({ at: m.index, call: jsCall(m[0]) });
  for (const t of sql) for (const c of sqlClockCalls(t.text)) reads.push({ at: t.start, call: c });
  for (const r of reads.sort((x, y) => x.at - y.at)) {
    const d = holder(r.at);
    if (d?.taints && !found.has(d.name))
      found.set(d.name, { call: r.call, path: module.path, line: lineAt(r.at) });
  }
  // Imported names: a local module's tainted exports, followed `MAX_DEPTH` deep.
  if (depth < MAX_DEPTH)
    for (const imp of code.matchAll(IMPORT)) {
      const spec = module.text.slice(imp.index, imp.index + imp[0].length).match(SPEC)?.[1];
      if (!spec || !isLocalSpecifier(spec) || imp[1] === undefined) continue;
      const theirs = moduleClockReads(read, module.path, spec, seen, depth + 1);
      for (const b of imp[1].split(',')) {
        const [imported, local = imported] = b.trim().split(/\s+as\s+/);
        const r = imported ? theirs.get(imported) : undefined;
        if (r && local && !found.has(local)) found.set(local, r);
      }
    }
  // Declarations using a tainted name, through a worklist: who uses each name, read once.
  const usedBy = new Map<string, TopLevel[]>();
  for (const d of decls) {
    if (!d.taints) continue;
    const names = new Set(
      [...code.slice(d.start, d.end).matchAll(/(?<![\w$.])[A-Za-z_$][\w$]*/g)].map((m) => m[0]),
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
  for (const d of decls)
    if (d.exported && found.has(d.name)) exported.set(d.name, found.get(d.name)!);
  for (const m of code.matchAll(EXPORT_LIST))
    for (const b of m[1]!.split(',')) {
      const [local, as = local] = b.trim().split(/\s+as\s+/);
      const r = local ? found.get(local) : undefined;
      if (r && as) exported.set(as, r);
    }
  return exported;
}

/** `Date.now` (called or not), `new Date` with no argument, `Date()`; not `x.Date`, `new Date(x)`. */
const CLOCK_JS =
  /(?<![\w$.])(?:Date\s*\.\s*now\b(?:\s*\(\s*\))?|new\s+Date\b(?:\s*\(\s*\))?(?!\s*\()|(?<!new\s+)Date\s*\(\s*\))/g;
const IMPORT =
  /(?<![\w$.])import\s+(?:type\s+)?(?:\w+\s*,\s*)?(?:\{([^}]*)\}\s*)?from\s*['"][^'"]*['"]/g;
const SPEC = /from\s*['"]([^'"]*)['"]\s*$/;
const EXPORT_LIST = /(?<![\w$.])export\s*\{([^}]*)\}(?!\s*from)/g;
const DECL =
  /(?<![\w$.])(export\s+)?(?:default\s+)?(?:declare\s+)?(?:async\s+)?(function\s*\*?|const|let|var|class)\s+([\w$]+)/g;

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
  taints: boolean;
  start: number;
  end: number;
}

/** Top-level declarations (outside any brace), each up to the next one. */
function topLevelDeclarations(code: string): TopLevel[] {
  const depthAt = braceDepths(code);
  const out: TopLevel[] = [];
  for (const m of code.matchAll(DECL))
    if (depthAt(m.index) === 0)
      out.push({
        name: m[3]!,
        exported: m[1] !== undefined,
        taints: m[2] !== 'class',
        start: m.index,
        end: code.length,
      });
  for (let i = 0; i + 1 < out.length; i++) out[i]!.end = out[i + 1]!.start;
  return out;
}

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
      else if (/(?<![\w$.])sql\s*$/.test(text.slice(Math.max(0, i - 20), i)))
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
