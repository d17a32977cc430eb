// The data that flows between the compiler's stages, in one place.
//
//   Notebook → TaggedCell[] → CellAnalysis[] → TaskPlan → EmittedFile[] → CompileResult
//
// Every stage is a function from one of these to the next and never touches the disk; the host
// (host.ts) reads notebooks and writes files. Each type says which stage makes it and which
// stages read it. Everything here is plain JSON-able data so the incremental cache can store
// analyses as they are.

// ---------------------------------------------------------------------------------------------
// Diagnostics (every stage)

export type Severity = 'error' | 'warning' | 'note';

/** Where a diagnostic points. `cell` is 1-based (as people count), `cellIndex` 0-based. */
export interface Location {
  notebook: string;
  cell?: number;
  cellId?: string;
  /** 1-based line within the cell's source. */
  line?: number;
  /** 1-based column. */
  column?: number;
}

export interface Diagnostic extends Location {
  severity: Severity;
  /** Stable machine code, e.g. E_UNDECLARED_NAME; see diagnostics.ts for the list. */
  code: string;
  message: string;
  /** A fix or a "did you mean" suggestion. */
  hint?: string;
  /** The offending source line, for the printed message. */
  snippet?: string;
}

// ---------------------------------------------------------------------------------------------
// Notebook (made by notebook/parse.ts, read by notebook/directives.ts)

export interface NotebookCell {
  /** 0-based position in the notebook. */
  index: number;
  id: string | undefined;
  type: 'code' | 'markdown' | 'raw';
  source: string;
  /** Jupyter cell tags (metadata.tags). */
  tags: string[];
}

/** The kernel a notebook was written for (kernelspec.name): quirks and language follow it. */
export type Kernel = 'tslab' | 'deno' | 'typescript' | 'jslab' | 'javascript';

export interface Notebook {
  /** Path as given to the compiler (project-relative, forward slashes), used in every message. */
  path: string;
  /** File name without extension: names generated/<stem>/ and the pipeline. */
  stem: string;
  kernel: Kernel;
  /** The kernel's language: JavaScript notebooks (jslab, ijavascript) compile to JS modules. */
  language: 'typescript' | 'javascript';
  cells: NotebookCell[];
}

// ---------------------------------------------------------------------------------------------
// Directives (made by notebook/directives.ts, read by analyze/ and plan/)

export type CellRole = 'setup' | 'params' | 'task' | 'test' | 'explore' | 'markdown';

export interface Directives {
  task?: string;
  params?: true;
  explore?: true;
  test?: string;
  version?: number;
  rerun?: true;
  cache?: 'code' | 'params';
  /** `//| output: name=format`, in order. */
  outputs: { name: string; codec: string }[];
  dialect?: 'bigquery' | 'duckdb';
  materialize?: string;
  checks: string[];
  /** `//| empty: error`: the generated empty-input test expects a clear error, not outputs. */
  empty?: 'error';
  /** `//| retries: 2`: extra attempts after a failure. */
  retries?: number;
  /** `//| timeout: 10m`, in milliseconds: the longest one attempt may take. */
  timeoutMs?: number;
}

export interface TaggedCell {
  index: number;
  id: string | undefined;
  role: CellRole;
  /** The task this cell belongs to (task cells and their continuations; test cells: the target). */
  task?: string;
  /** True on the cell carrying `//| task:` (the task's first cell). */
  startsTask: boolean;
  directives: Directives;
  /** Source with directive lines blanked (kept as empty lines so line numbers stay true). */
  code: string;
  /**
   * The cell `cellar exec` (papermill's convention) wrote after the params cell, tagged
   * `injected-parameters`: its `const name = <literal>` lines are the params' defaults, not code
   * (role `explore`: compiled into no module). See compiler/plan/injected-params.ts.
   */
  injected?: true;
}

// ---------------------------------------------------------------------------------------------
// Cell analysis (made by analyze/cell.ts, read by plan/link.ts and emit/)

/** A text span within a cell's `code`, 0-based [start, end). */
export interface Span {
  start: number;
  end: number;
}

export type DeclarationKind =
  'const' | 'let' | 'var' | 'function' | 'class' | 'enum' | 'interface' | 'type' | 'namespace';

export interface Declaration {
  name: string;
  kind: DeclarationKind;
  line: number;
  /** Where the declared identifier is written; `shorthandBinding` for `const { a } = …`. */
  sites: (Span & { shorthandBinding?: boolean })[];
  /** The whole statement, for hoisting types out of a task function. */
  statement: Span;
  /** `const f = (x) => …` (or a function or class expression): code, not data. */
  callable?: boolean;
  /** Its initializer reads `process.env` (or Deno's `Deno.env`): not stored as a leaf task's result unless `//| output` names it. */
  fromEnv?: boolean;
  /**
   * Names of classes the value evidently is, or holds, an instance of, read from the syntax: its
   * initializer (`new X(…)`, `[new X()]`, `{ a: new X() }`, `new Map<string, X>()`) and its type
   * annotation (`X`, `X[]`, `Map<K, X>`, `Set<X>`, `Promise<X>`, `{ a: X }`); `ns.X` for a
   * namespace import. The link stage keeps those imported from a package (package-classes.ts).
   */
  holds?: string[];
}

export interface ImportBinding {
  /** 'default', '*', or the imported name. */
  imported: string;
  local: string;
  typeOnly: boolean;
}

export interface ImportDecl {
  /** The specifier as emitted (Deno's `npm:pkg@1` already mapped to `pkg`). */
  module: string;
  bindings: ImportBinding[];
  /** Import attributes as written, normalized: `with { type: 'json' }` (Node needs it for JSON). */
  attributes?: string;
  /** The whole statement, removed from the cell body when hoisting. */
  statement: Span;
  line: number;
  /** The specifier's column (1-based) when it is on the statement's first line. */
  column?: number;
  /** The version Deno's `npm:pkg@version` named: the install hint of an unresolvable import. */
  version?: string;
}

export type Meaning = 'value' | 'type';

/** A use of a top-level name: either declared in this cell (`own`) or free (another cell's). */
export interface Reference extends Span {
  name: string;
  meaning: Meaning;
  own: boolean;
  /** `{ x }` object literal shorthand: renaming must write `{ x: x_2 }`. */
  shorthand?: boolean;
  /** `counter.inc`: the property read on the name (link.ts matches a setup value's stateful members). */
  member?: string;
  /**
   * The properties read one after another on the name, when more than `member` says
   * (`registry.c.inc`: `['c', 'inc']`; `counters[0].inc`: `['0', 'inc']`, a literal index as its
   * text); stops at a computed index or a call.
   */
  path?: string[];
  line: number;
  column: number;
}

/**
 * State a setup cell keeps where no top-level name shows it: a field of a class's instances (or
 * of the class, for a static member) a member changes (`inc() { this.n++ }`), or a variable a
 * kept inner function changes in the function that made it (`let n = 0; return () => ++n`).
 * Each call of the member changes what the next call sees, as a setup helper changing a setup
 * value does (E_SETUP_STATE).
 */
export interface KeptState {
  kind: 'instance' | 'static' | 'object' | 'closure';
  /**
   * The class (`instance`, `static`), the top-level object whose methods change it through `this`
   * (`object`: `const tally = { n: 0, inc() { return ++this.n; } }`), or for a closure the cell's top-level function making it
   * (`function makeCounter() {…}`: each value a setup cell gets from `makeCounter()` keeps one).
   */
  owner?: string;
  /** A closure made while the cell loads (an IIFE): the top-level name holding it (`next`). */
  holder?: string;
  /**
   * The member a caller reaches the change through (the method, accessor or property of the
   * returned object); absent when the value itself is the function, or the member is private.
   */
  member?: string;
  /** The field of `this` (`n`, `#items`) or the captured variable changed; '' when not known. */
  state: string;
  /** The changed expression as written (`this.items`, `n`), for the message. */
  target: string;
  /** The state is read besides its changes (in the class or closure), or the change hands it on. */
  read: boolean;
  /** The change, where it is in the cell (`name` is `target`). */
  change: Mutation;
}

/**
 * A top-level name holding what a bare name makes (`const counter = new Counter()`, `const ctr =
 * makeCounter()`), or a part of it, or holding it inside a literal.
 */
export interface MadeBy {
  name: string;
  /** The class or function called. */
  of: string;
  /** Where in the name's value the made value is (`const registry = { c: new Counter() }`: `['c']`). */
  at?: string[];
  /** The member of the made value the name holds (`const { inc } = makeCounter()`: `inc`). */
  part?: string;
  /** Methods called on the new instance, each to return it (`new Counter().reset()`: `['reset']`). */
  chain?: string[];
}

export interface Mutation {
  name: string;
  kind: 'assign' | 'property' | 'method';
  /** The mutating method (`push`) or the assigned path (`xs.length`). */
  detail: string;
  /**
   * A method called on a part of the value, the path from the value to the receiver as written
   * (`.list` for `cfg.list.splice(0, 1)`), for the message to name the real receiver.
   */
  part?: string;
  /**
   * Set when an element of `name` is changed through a loop or callback variable
   * (`for (const r of rows) r.flag = …`, `rows.forEach((r) => r.n++)`): the changed expression.
   */
  element?: string;
  /** A reassignment whose new value the expression hands on (`return ++calls`), not discarded. */
  used?: true;
  /**
   * A Map/Set memo or lazy initialisation used as state after all (analyze/memo.ts): what it
   * does, for the message, followed by the value's name (`stores a value computed from … in`).
   */
  breach?: string;
  /**
   * For a change inside a function: the top-level function of the cell it is in (`function
   * init() {…}` or `const init = () => {…}`), when it is one; link.ts lets a setup helper change
   * setup state when every use of it is a call while the setup cell loads (`loadTimeCalls`).
   */
  inside?: string;
  line: number;
  column: number;
}

export interface ParamDecl {
  name: string;
  /** TypeScript type text (annotation or inferred from the literal). */
  type: string;
  paramType: 'string' | 'number' | 'boolean' | 'json';
  default: unknown;
  line: number;
}

export interface CellAnalysis {
  index: number;
  imports: ImportDecl[];
  declarations: Declaration[];
  references: Reference[];
  mutations: Mutation[];
  /**
   * Changes made inside a function body to a top-level value (this cell's or another's):
   * `function setFactor(v) { cfg.factor = v }`. Calling the function changes state its callers
   * share; link.ts refuses it in setup helpers (E_SETUP_STATE). Absent when there are none.
   */
  sharedStateChanges?: Mutation[];
  /**
   * Changes a top-level function of the cell makes to a value handed to it (`function addTo(list,
   * x) { list.push(x) }`: parameter 0), by function name and parameter index; `name` is the name
   * the change is made through. link.ts refuses a task handing another owner's value to such a
   * parameter (E_MUTATES_UPSTREAM, at the call). Absent when there are none.
   */
  paramChanges?: (Mutation & { fn: string; index: number })[];
  /**
   * Calls of a bare name handing top-level values to it (another cell's, a global, or with `own`
   * this cell's), by argument position (`addTo(names, x)`: `[{ name: 'names', … }, null]`), the
   * alias resolved (`const { items } = state`: `state`), each with where the argument is.
   * `inside`: the cell's top-level function the call is in; `kept`: in a function kept to be
   * called later (a setup helper). Absent when there are none.
   */
  calls?: {
    name: string;
    args: ({ name: string; own: boolean; line: number; column: number } | null)[];
    inside?: string;
    kept: boolean;
    line: number;
    column: number;
  }[];
  /**
   * Names called at the top level of the cell, outside any function (`init();`,
   * `const n = await load();`), where the callee is the bare name: each such call runs once, while
   * the cell loads. Absent when there are none.
   */
  loadTimeCalls?: { name: string; line: number; column: number }[];
  /**
   * Reads of the run's time in the cell (`Date.now()`, `new Date()` with no argument, `Date()`),
   * each with where it is: a task computing with it is cached with the first run's time, so
   * link.ts warns (W_TASK_READS_CLOCK). `inside`: the cell's top-level function the read is in
   * (a setup helper, `function today() { return new Date(); }`: a task calling it reads the
   * clock too). `start`: its offset in the cell (a setup value computed with it, `const YEAR = new
   * Date().getFullYear()`, is the top-level declaration whose statement holds it). Absent when
   * there are none.
   */
  clockReads?: { call: string; line: number; column?: number; start?: number; inside?: string }[];
  /**
   * Top-level names the cell declares holding a date formatter (`const fmt = new
   * Intl.DateTimeFormat('en')`), and `x.format()` / `x.formatToParts()` with no argument on a
   * name the cell does not declare: link.ts counts such a call a clock read when `x` is a setup
   * cell's formatter (a use in the same cell is in `clockReads`). Absent when there are none.
   */
  dateFormatters?: string[];
  formatCalls?: { name: string; call: string; line: number; column: number; start: number }[];
  /** `await` at the top level (outside any function): the task function must be async. */
  topLevelAwait: boolean;
  /** Text of each sql`…` template, `${…}` replaced by `@p0`, `@p1`…. */
  sqlTemplates: string[];
  /** Per template (parallel to sqlTemplates), the offset in its text of each `${…}`'s `@p<i>`,
   *  in order: text the user wrote that reads like one (`'x@p2p.com'`) is not a placeholder. */
  sqlTemplateParamAt?: number[][];
  /** Where each template's text starts in the cell (just after the backtick), parallel to sqlTemplates. */
  sqlTemplateAt?: { line: number; column: number }[];
  /** Parallel to sqlTemplates when some template names its dialect (`sql.dialect('duckdb')`…``):
   *  that dialect, or null for the task's. Absent when none does. */
  sqlTemplateDialects?: ('bigquery' | 'duckdb' | null)[];
  /**
   * Tables the templates read (sorted), for the task's cache key and `tables` edges. Set by the
   * SQL pass (program.ts, with analyze/sql.ts) on task cells with templates, not by the analyzer:
   * it depends on the task's `//| dialect:`, which another cell may carry.
   */
  sqlReads?: string[];
  /** Literal file paths its sql`` templates read on DuckDB (runtime/warehouse/sql/files.ts). */
  sqlFiles?: string[];
  /** Params cells only. */
  params: ParamDecl[];
  /** Text removed when emitting: `export` keywords, `export {}`. */
  strip: Span[];
  /**
   * The static relative prefix of each dynamic `import()` (`'./lib/x.ts'`, the `./plugins/` of
   * `` `./plugins/${kind}.ts` `` or of `'./plugins/' + kind`), without its quotes: rebased onto
   * generated/<stem>/ when emitting, as static imports are (emit/module.ts `rewriteCell`).
   */
  relativeImports?: (Span & { spec: string })[];
  /** Top-level `x.display.html(…)`-style statements: dropped when `x` is tslab (notebook-only). */
  displayCalls: { statement: Span; root: string; line: number }[];
  /** Uses of mapped `Deno.*` APIs (`readTextFile`, `env.get`, where): a module holding one imports the shim. */
  denoUses?: { api: string; start: number }[];
  /**
   * Top-level expression statements with no effect (`raw.length;`, `` `${n} trees`; ``): in the
   * notebook they display a value, in a module they are dead code, so they are left out.
   */
  inertStatements: Span[];
  /** Top-level `const ys = xs` with `xs` from another cell: `ys` is the same object. */
  aliases?: { name: string; target: string }[];
  /**
   * Top-level names holding a part of this cell's own value (`const items = state.items`): a read
   * of `state` may read what a change through `items` made. Absent when there are none.
   */
  partAliases?: { name: string; target: string }[];
  /**
   * Top-level `const { today, now: n } = t`: the members taken from the name (`['today', 'now']`),
   * by the offset of its reference, so link.ts reads them as `t.today` and `t.now` (a namespace
   * import's member reading the clock, or changing its module's state). Absent when there are none.
   */
  memberTakes?: { start: number; members: string[] }[];
  /** Setup cells: state kept by class instances and closures (link.ts, E_SETUP_STATE). */
  keptState?: KeptState[];
  /**
   * Setup cells: top-level names given what a bare name makes (`const counter = new Counter()`,
   * `const ctr = makeCounter()`): each holds the state that class or function keeps.
   */
  madeBy?: MadeBy[];
  /** Setup cells: methods of a top-level class whose every return is `return this` (`reset`). */
  returnsThis?: { name: string; member: string }[];
  /** Setup cells: the class each top-level class extends (`class B extends Counter`: B → Counter). */
  classBases?: { name: string; base: string }[];
  /** Setup cells: where each top-level function is (`function step() {…}`, `const f = () => …`). */
  topLevelFunctions?: (Span & { name: string })[];
  /**
   * Top-level `x = …;` statements whose `x` this cell does not declare (`df = df.filter(…)`): in
   * a task, when `x` comes from another task, setup or params, the link stage makes it a new
   * version of `x` (like a redeclaration), not a change to the upstream value.
   */
  reassignments?: { name: string; site: Span; statement: Span; line: number; column: number }[];
  /** Every identifier text in the cell: generated names must avoid them. */
  identifiers: string[];
  /** Callees of `new X(…)` anywhere in the cell (`ns.X` for a namespace's): proof X is a class. */
  constructs?: string[];
  /**
   * Identifiers and string literals inside the arguments of `registerModelFormat(…)` and
   * `registerCodec(…)` calls: a setup cell registering a format for a package's class names it
   * (package-classes.ts).
   */
  formatMentions?: string[];
  diagnostics: Diagnostic[];
}

// ---------------------------------------------------------------------------------------------
// Task plan (made by plan/link.ts, read by emit/ and by `cellar plan`)

export type Owner =
  { kind: 'setup' } | { kind: 'params' } | { kind: 'task'; task: string } | { kind: 'import' };

/** One version of a top-level name: a declaration (or import binding) in one cell. */
export interface Version {
  /** `<cell>:<name>` for values, `<cell>:type:<name>` for types: unique in the notebook. */
  id: string;
  name: string;
  cell: number;
  kind: DeclarationKind | 'import';
  owner: Owner;
  /** A const/let holding a function or class (`const f = () => …`): code, not data. */
  callable?: boolean;
  /** For imports: where from. */
  importFrom?: { module: string; imported: string; typeOnly: boolean; attributes?: string };
  /**
   * A function or class declared in a task that closes over no task value (only imports, setup
   * and globals): code, not data, so it is emitted into the notebook's `shared.ts` and every
   * task that calls it (its own included) imports it from there.
   */
  shared?: boolean;
  /**
   * For a shared version, the name `shared.ts` exports it under when that is not `name`: a
   * function, class or arrow helper redeclared in a later task cell (`function g` in two tasks),
   * or one whose name setup or an import also holds, gets a fresh one (`g_2`), which every module
   * importing it uses too, so each reader keeps the version it read in the notebook.
   */
  sharedAs?: string;
  /** Made by a reassignment (`df = …` of another owner's `df`): emitted as `let df… = …` at `statementStart`. */
  reassignedAt?: number;
}

/** Which version each reference or declaration site in a cell binds (for renaming). */
export interface Binding extends Span {
  versionId: string;
  /** `{ x }` in an object literal (`shorthand`) or a binding pattern (`shorthandBinding`). */
  shorthand?: 'literal' | 'binding';
  meaning: Meaning;
}

export interface TaskInput {
  name: string;
  fromTask: string;
  versionId: string;
}

export interface TaskOutput {
  name: string;
  versionId: string;
  codec?: string;
}

export interface ParamPlan extends ParamDecl {
  cell: number;
  versionId: string;
}

export interface WarehousePlan {
  dialect?: 'bigquery' | 'duckdb';
  reads: string[];
  /** Literal file paths the task's SQL reads (DuckDB), as written: keyed by content at run time. */
  files?: string[];
  materialize?: string;
  /** Logical table → task materializing it. */
  tables: Record<string, string>;
}

export interface TaskNode {
  name: string;
  cells: number[];
  cellIds: (string | undefined)[];
  /** Markdown right before the task, for TSDoc. */
  doc: string;
  inputs: TaskInput[];
  params: string[];
  /** Upstream task names, sorted. */
  upstream: string[];
  outputs: TaskOutput[];
  /**
   * Values of a leaf task left out of `outputs` because they hold a value read from the
   * environment (`const r2 = r + Deno.env.get('H29_D')`: a token or a password, most often): kept
   * only when `//| output: r2=<codec>` names them. Absent: none.
   */
  envValues?: string[];
  version: number;
  rerun: boolean;
  cache: 'code' | 'params';
  /** `//| retries`: extra attempts after a failure; absent: none. */
  retries?: number;
  /** `//| timeout`, in milliseconds; absent: no limit. */
  timeoutMs?: number;
  warehouse?: WarehousePlan;
  checks: string[];
  /** Every version this task's cells reference (inputs, setup names, imports, own). */
  uses: string[];
  async: boolean;
}

export interface TestNode {
  task: string;
  cell: number;
  cellId: string | undefined;
  uses: string[];
  async: boolean;
}

export interface TaskPlan {
  notebook: string;
  stem: string;
  /** Markdown at the top of the notebook, for the pipeline's TSDoc. */
  doc: string;
  /** Markdown right before setup cells, for the setup module's TSDoc. */
  setupDoc: string;
  setupCells: number[];
  params: ParamPlan[];
  /** Tasks in a topological order (notebook order among ready tasks). */
  tasks: TaskNode[];
  tests: TestNode[];
  versions: Record<string, Version>;
  /** Per compiled cell: the version each site binds. */
  bindings: Record<number, Binding[]>;
  /** Per cell: statements left out of the pipeline (tslab display calls). */
  dropped: Record<number, Span[]>;
  /** A JavaScript-kernel notebook: its code modules are `.js`, type-checked as JavaScript. */
  language?: 'javascript';
}

// ---------------------------------------------------------------------------------------------
// Emission (made by emit/, written by host.ts)

export interface EmittedFile {
  /** Relative to the output directory, e.g. `penguins/train.ts`. */
  path: string;
  contents: string;
}

export interface CompileResult {
  notebook: string;
  files: EmittedFile[];
  diagnostics: Diagnostic[];
  plan?: TaskPlan;
}
