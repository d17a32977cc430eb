// Diagnostics are data: a stable code, a notebook/cell/line location, a message and a hint.
//
// Stages return them instead of throwing (TypeScript's EmitResult habit), so one bad cell does
// not hide the next, and the CLI, the watch loop and tests all read the same structure. The codes
// below are the public list: tooling may match on them, so never rename one.
import type { Diagnostic, Location, Severity } from './types.js';

export const CODES = {
  E_NOTEBOOK_JSON: 'the file is not valid JSON',
  E_NOTEBOOK_FORMAT: 'the file is not an nbformat 4 notebook',
  E_NOTEBOOK_LANGUAGE: 'the notebook kernel is not TypeScript',
  E_UNKNOWN_DIRECTIVE: 'a `//|` directive that does not exist',
  E_DIRECTIVE_VALUE: 'a directive with a missing or malformed value',
  E_DIRECTIVE_SYNTAX:
    "a line that looks like a `//|` directive but is not written as one (`// | task: x`, `//|task x`), or a `//|` line below the cell's first line of code",
  E_DIRECTIVE_CONFLICT:
    'two directives that cannot go together on one cell (or the same directive twice with different values), or a `//| params` cell beside another cell tagged `parameters`',
  E_DUPLICATE_TASK: 'two tasks with the same name',
  E_TASK_FILE_NAME:
    "a task name that cannot be a file name everywhere (over 100 characters, a Windows device name, the same file as another task's on a case-insensitive file system, or a file the compiler writes itself, `pipeline.test.ts`)",
  E_DUPLICATE_OUTPUT: 'two notebooks with the same file name compiling to one output folder',
  E_UNKNOWN_TASK: 'a test cell naming a task that does not exist',
  E_UNDECLARED_NAME: 'a name used but never declared in a compiled cell',
  E_DEPENDENCY_CYCLE: 'tasks that depend on each other',
  E_MUTATES_UPSTREAM: 'a task changing a value another task (or setup) produced',
  E_SETUP_STATE:
    'a setup helper changing a setup value when called (`function setFactor(v) { cfg.factor = v }`), or a setup class instance or closure keeping state its calls change (`counter.inc()` with `inc() { this.n++ }`): tasks share setup state, so a result would depend on which tasks ran before it',
  E_MODULE_STATE:
    "a task changing a value it imports from a local module (`registry.push('a')`), or calling a local module's function that changes the module's top-level state (`let n = 0; export function next() { return ++n; }`): tasks in one worker thread share a local module, so a result would depend on which tasks ran before it in that thread",
  E_GLOBAL_STATE:
    'a task (or a setup helper it calls) changing a global of the process (`globalThis.factor = 5`, `Array.prototype.sumAll = …`): tasks share the process, so a result would depend on which tasks ran before it',
  E_FUNCTION_CROSSES_TASK: 'a function or class declared in one task and used by another',
  E_DUPLICATE_DECLARATION:
    'one cell declaring a name twice (`const total` twice, a `let` and a `function` of one name)',
  E_USED_BEFORE_DECLARATION:
    'a cell reading a name before its own `let`/`const`/`class` of that name (`let df = df.filter(…)`)',
  E_IMPLICIT_GLOBAL: 'assignment to a name that was never declared',
  E_RESERVED_NAME:
    "a task named `__proto__`, or a task cell declaring `__proto__`: task names and a task's values are object keys in the pipeline, where `{ __proto__: … }` sets the prototype and the value is lost",
  E_PARAM_IN_SETUP: 'a setup cell reading a param (setup is shared and has none)',
  E_PARAM_NOT_LITERAL: 'a params cell with something other than literal consts',
  E_INJECTED_PARAM:
    'an `injected-parameters` cell (written by `cellar exec -p` or papermill) setting a name no params cell declares, or giving a param a value of another kind than its default',
  E_UNKNOWN_OUTPUT: '`//| output:` naming a value the task does not declare',
  E_PACKAGE_CLASS_OUTPUT:
    'a task output holding an instance of a class from a package that no setup cell registers a model format for',
  E_SYNTAX: 'a cell that does not parse as TypeScript',
  E_UNSUPPORTED_JSX: 'a cell written in JSX',
  E_UNSUPPORTED_SYNTAX: 'a construct the analyzer does not support (e.g. `import x = require()`)',
  E_DENO_API: 'a Deno-only API (`Deno.*`)',
  E_DENO_IMPORT: 'a `jsr:` or URL import (Deno only)',
  E_DYNAMIC_IMPORT:
    'a dynamic `import(x)` whose module is named only at run time (neither a string literal nor a template literal or `+` with a static relative prefix): no key could hold the code it loads',
  E_IMPORT_META:
    "`import.meta` (`.url`, `.dirname`, `.filename`) in a notebook cell: it names the compiled module in generated/, not the notebook, so a path resolved from it (`createRequire(import.meta.url)('./x.json')`) is wrong",
  E_UNRESOLVED_IMPORT:
    'an import of a package the project has not installed, or of a relative module that does not exist',
  E_MISSING_BUILTIN_EXPORT:
    'a named import a Node built-in module (`node:fs`, …) does not export on the Node version compiling (`globSync` from `node:fs` before Node 22)',
  N_DISPLAY_DROPPED:
    'a tslab display call (or Deno.jupyter display) in a compiled cell, left out of the pipeline (it throws outside Jupyter)',
  E_INTERNAL: 'a compiler bug, reported on the cell or notebook instead of a crash',
  W_NO_DIRECTIVES: 'a notebook with no directives: it compiles to nothing',
  W_EMPTY_TASK: 'a task with no code',
  E_SQL_QUOTED_PARAM:
    'a ${…} inside a quoted string or name of a sql`…` template (`LIKE \'${pat}%\'`, `"col_${x}"`, `$$…${x}…$$`): it is no parameter there, so the query cannot run',
  W_SQL_COMMENT_PARAM:
    'a ${…} inside a SQL comment of a sql`…` template: dropped, the query runs without it',
  W_SQL_SYNTAX:
    "a sql`…` template the SQL parser refuses (in the task's dialect, BigQuery by default)",
  W_TEST_SEES_LATER_VALUE:
    'a test cell between two cells of its task checking a value a later cell changes (the generated test sees the final value)',
  W_UNKNOWN_CODEC:
    '`//| output: x=<codec>` naming a codec that is not built in (a project may register its own)',
  W_TSLAB_IMPORT_EXTENSION:
    'a relative import ending in `.ts` (`.tsx`, `.mts`, `.cts`) in a tslab notebook: `cellar run` loads it, the tslab kernel refuses it (write `.js`)',
  W_TSLAB_IMPORT_OUTSIDE:
    "a relative import of a module outside the notebook's folder in a tslab notebook: `cellar run` loads it, the tslab kernel refuses it (its rootDir is the notebook's folder)",
  W_TASK_READS_CLOCK:
    "a task reads the current time (`Date.now()`, `new Date()`, SQL `current_date`): its result is cached with the first run's time",
  W_TSLAB_SHORTHAND:
    "`{ x }` shorthand naming another cell's variable: tslab throws ReferenceError on it (write `{ x: x }`)",
} as const;

export type Code = keyof typeof CODES;

export function diagnostic(
  severity: Severity,
  code: Code,
  at: Location,
  message: string,
  extra: { hint?: string; snippet?: string } = {},
): Diagnostic {
  const d: Diagnostic = { severity, code, notebook: at.notebook, message };
  if (at.cell !== undefined) d.cell = at.cell;
  if (at.cellId !== undefined) d.cellId = at.cellId;
  if (at.line !== undefined) d.line = at.line;
  if (at.column !== undefined) d.column = at.column;
  if (extra.hint) d.hint = extra.hint;
  if (extra.snippet !== undefined) d.snippet = extra.snippet;
  return d;
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean =>
  ds.some((d) => d.severity === 'error');

/** Where, in words people use: `notebooks/a.ipynb, cell 4 (id x1), line 3`. */
export function formatLocation(d: Location): string {
  const parts = [d.notebook];
  if (d.cell !== undefined) parts.push(`cell ${d.cell}${d.cellId ? ` (id ${d.cellId})` : ''}`);
  if (d.line !== undefined)
    parts.push(`line ${d.line}${d.column !== undefined ? `, column ${d.column}` : ''}`);
  return parts.join(', ');
}

/** One diagnostic as printed by the CLI: location, code, message, the line, the hint. */
export function formatDiagnostic(d: Diagnostic): string {
  const lines = [`${formatLocation(d)}: ${d.severity} ${d.code}: ${d.message}`];
  if (d.snippet !== undefined && d.snippet.trim()) {
    lines.push(`    ${d.line ?? ''} | ${d.snippet}`);
    if (d.column !== undefined)
      lines.push(`    ${' '.repeat(String(d.line ?? '').length)} | ${' '.repeat(d.column - 1)}^`);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** Stable order: by notebook, cell, line, column, code. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) =>
    [d.notebook, d.cell ?? 0, d.line ?? 0, d.column ?? 0, d.code] as const;
  return [...ds].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    return 0;
  });
}

/** Edit distance counting a swap of two neighbours as one edit (typos are often swaps). */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[x.length]![y.length]!;
}

/** The closest candidate within a third of the word's length, for "did you mean". */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of [...new Set(candidates)].sort()) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
