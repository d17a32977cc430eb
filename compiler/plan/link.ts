// linkCells: TaggedCell[] + CellAnalysis[] → TaskPlan: which task needs which value from which
// other task, in notebook semantics.
//
// A notebook is one long scope read top to bottom, and redeclaring a name in a later cell is
// normal (`let df` in three cells). So every top-level declaration is a *version* of its name,
// and each use binds the latest version declared in a compiled cell before it — exactly what the
// kernel computed. A use whose version belongs to another task is an input (and makes that task
// upstream); one from setup is an import of the shared module; one from the params cell is a
// param. Everything is decided here, on plain data, so emission is only printing.
//
// `linkCells` runs six passes over one `LinkState`, each a function below: collectTasks (cells →
// task nodes, docs), bindUses (the scope walk: every use → a version, with the checks that need
// scope), deriveInputs / checkTests / deriveOutputs (each task's interface, with package classes
// among the outputs refused by plan/package-classes.ts), checkEmptyTasks,
// linkWarehouse (SQL reads, materialized tables, upstream edges) and orderTasks (cycles, order).
import { diagnostic, suggest } from '../diagnostics.js';
import { KNOWN_GLOBALS } from '../analyze/globals.js';
import { checkPackageClassOutputs } from './package-classes.js';
import type { ModuleStateWrite } from '../analyze/module-state.js';
import type { ModuleClockRead } from '../analyze/module-clock.js';
import type {
  Binding,
  CellAnalysis,
  Declaration,
  Diagnostic,
  KeptState,
  Kernel,
  Mutation,
  Reference,
  Owner,
  ParamPlan,
  Span,
  TaggedCell,
  TaskNode,
  TaskOutput,
  TaskPlan,
  TestNode,
  Version,
  WarehousePlan,
} from '../types.js';

export interface LinkInput {
  notebook: string;
  stem: string;
  cells: TaggedCell[];
  /** By cell index; `sqlReads` on a task cell's analysis feeds the warehouse facts. */
  analyses: ReadonlyMap<number, CellAnalysis>;
  /** The kernel the notebook is written for: tslab's quirks get warnings (default tslab). */
  kernel?: Kernel;
  /** JavaScript kernels' notebooks compile to JS modules (TaskPlan.language). */
  language?: 'typescript' | 'javascript';
  /**
   * Local modules the cells import whose exported functions change module-level state, by the
   * specifier as written (program.ts `moduleStateStage`): a task calling one is E_MODULE_STATE.
   */
  moduleState?: ModuleState;
  /** By cell index, the names it imports from a local module whose use reads the clock. */
  moduleClock?: ReadonlyMap<number, ReadonlyMap<string, ModuleClockRead>>;
}

/** By import specifier: the module's file and, by exported name, the state change a call makes. */
export type ModuleState = ReadonlyMap<
  string,
  { file: string; writes: ReadonlyMap<string, ModuleStateWrite> }
>;

export interface LinkResult {
  plan?: TaskPlan;
  diagnostics: Diagnostic[];
}

const VALUE_KINDS = new Set([
  'const',
  'let',
  'var',
  'function',
  'class',
  'enum',
  'namespace',
  'import',
]);
const TYPE_KINDS = new Set(['class', 'enum', 'interface', 'type', 'namespace', 'import']);
const DATA_KINDS = new Set(['const', 'let', 'var']);
const COMMONJS_HINTS: Record<string, string> = {
  require: 'compiled cells are ES modules: use `import x from "..."` instead of `require(...)`',
  module: 'compiled cells are ES modules: there is no `module`',
  exports: 'compiled cells are ES modules: there is no `exports`',
  __dirname:
    "use relative paths: tasks run in the notebook's folder (`readFileSync('./data/x.csv')`)",
  __filename:
    "a cell has no file of its own: use relative paths (tasks run in the notebook's folder)",
};

const sameOwner = (a: Owner, b: Owner) =>
  a.kind === b.kind && (a.kind !== 'task' || (b.kind === 'task' && a.task === b.task));
const ownerWords = (o: Owner) =>
  o.kind === 'task'
    ? `task \`${o.task}\``
    : o.kind === 'setup'
      ? 'a setup cell'
      : o.kind === 'params'
        ? 'the params cell'
        : 'an import';

/** What the passes share: the input, what earlier passes decided, and the diagnostics so far. */
interface LinkState {
  input: LinkInput;
  /** The input's cells by index (a scan per lookup is quadratic in a notebook's cells). */
  cellByIndex: Map<number, TaggedCell>;
  diagnostics: Diagnostic[];
  /** Made by collectTasks. */
  tasks: Map<string, TaskNode>;
  taskStart: Map<string, TaggedCell>;
  doc: string;
  setupDoc: string[];
  setupCells: number[];
  /** Made by bindUses. */
  versions: Record<string, Version>;
  bindings: Record<number, Binding[]>;
  dropped: Record<number, Span[]>;
  /** Version ids each user reads: a task name, `test:<cell>`, `setup` or `params`. */
  uses: Map<string, Set<string>>;
  /** Where a user first reads a version, keyed `${user}|${versionId}`: the place to report. */
  firstUse: Map<string, { cell: TaggedCell; line: number; column: number }>;
  tests: TestNode[];
  params: ParamPlan[];
}

/** Names visible at a point of the scope walk, and what the hints need. */
interface Scope {
  value: Map<string, Version>;
  type: Map<string, Version>;
  /** `const ys = xs` with xs from an earlier cell: version id of ys → the version it is the same
   * object as (followed to the root), so a later cell changing ys changes xs. */
  aliasOf: Map<string, Version>;
  /** First cell declaring each name (for "declared later" hints). */
  declaredIn: Map<string, TaggedCell>;
  /** Names declared in explore cells (not analyzed: a regex is enough for a hint). */
  exploreDecls: Map<string, TaggedCell>;
}

/** One cell's versions, made before its uses resolve and entered into scope after. */
interface CellScope {
  cell: TaggedCell;
  analysis: CellAnalysis;
  owner: Owner | undefined;
  ownValue: Map<string, Version>;
  ownType: Map<string, Version>;
  /** Spans left out of the module: tslab display calls and display-only statements. */
  dropped: Span[];
  inert: Span[];
  /** `df = …` made a new version of `df` here: name → the statement, and the site it binds. */
  newVersions: Map<string, { statement: Span; site: Span }>;
}

const at = (s: LinkState, cell: TaggedCell, line?: number, column?: number) => ({
  notebook: s.input.notebook,
  cell: cell.index + 1,
  cellId: cell.id,
  line,
  column,
});
const lineOf = (cell: TaggedCell, line: number) => cell.code.split('\n')[line - 1] ?? '';
const within = (spans: Span[], pos: number) => spans.some((s) => pos >= s.start && pos < s.end);
const cellAt = (s: LinkState, index: number) => s.cellByIndex.get(index)!;

export function linkCells(input: LinkInput): LinkResult {
  const s: LinkState = {
    input,
    cellByIndex: new Map(input.cells.map((c) => [c.index, c])),
    diagnostics: [],
    tasks: new Map(),
    taskStart: new Map(),
    doc: '',
    setupDoc: [],
    setupCells: [],
    versions: {},
    bindings: {},
    dropped: {},
    uses: new Map(),
    firstUse: new Map(),
    tests: [],
    params: [],
  };
  collectTasks(s);
  bindUses(s);
  const { consumed, readByTasks } = deriveInputs(s);
  nameSharedVersions(s);
  checkTests(s, consumed);
  deriveOutputs(s, consumed, readByTasks);
  s.diagnostics.push(
    ...checkPackageClassOutputs({
      notebook: input.notebook,
      cells: s.cellByIndex,
      analyses: input.analyses,
      tasks: s.tasks.values(),
      versions: s.versions,
      setupCells: s.setupCells,
    }),
  );
  checkEmptyTasks(s);
  checkClockReads(s);
  linkWarehouse(s);
  const order = orderTasks(s);
  const plan: TaskPlan = {
    notebook: input.notebook,
    stem: input.stem,
    doc: s.doc,
    setupDoc: s.setupDoc.join('\n\n'),
    setupCells: s.setupCells,
    params: s.params,
    tasks: order ?? [...s.tasks.values()],
    tests: s.tests,
    versions: s.versions,
    bindings: s.bindings,
    dropped: s.dropped,
  };
  if (input.language === 'javascript') plan.language = 'javascript';
  return { plan, diagnostics: s.diagnostics };
}

// --- tasks, in notebook order -------------------------------------------------------------

/** Cells → task nodes (with their directives), setup cells, and the markdown docs of each. */
function collectTasks(s: LinkState): void {
  const { tasks, taskStart } = s;
  let pendingDoc: string[] = [];
  let topDoc: string[] | undefined;
  for (const cell of s.input.cells) {
    if (cell.role === 'markdown') {
      if (cell.code.trim()) pendingDoc.push(cell.code.trim());
      continue;
    }
    if (topDoc === undefined) {
      // The first markdown cell describes the notebook (the pipeline's doc); any after it
      // describe the code that follows, like every other markdown run.
      topDoc = pendingDoc.slice(0, 1);
      pendingDoc = pendingDoc.slice(1);
    }
    if (cell.role === 'setup') {
      s.setupCells.push(cell.index);
      s.setupDoc.push(...pendingDoc);
    }
    if (cell.role === 'task' && cell.task !== undefined) {
      if (cell.startsTask) {
        if (tasks.has(cell.task)) {
          const first = taskStart.get(cell.task)!;
          s.diagnostics.push(
            diagnostic(
              'error',
              'E_DUPLICATE_TASK',
              at(s, cell, 1),
              `task \`${cell.task}\` is already defined in cell ${first.index + 1}`,
              {
                hint: 'give each task a unique name, or merge the cells',
                snippet: `//| task: ${cell.task}`,
              },
            ),
          );
        } else {
          taskStart.set(cell.task, cell);
          tasks.set(cell.task, {
            name: cell.task,
            cells: [],
            cellIds: [],
            doc: pendingDoc.join('\n\n'),
            inputs: [],
            params: [],
            upstream: [],
            outputs: [],
            version: 0,
            rerun: false,
            cache: 'code',
            checks: [],
            uses: [],
            async: false,
          });
        }
      }
      const task = tasks.get(cell.task)!;
      if (cell.startsTask && taskStart.get(cell.task) !== cell) continue; // the duplicate: reported
      task.cells.push(cell.index);
      task.cellIds.push(cell.id);
      const d = cell.directives;
      if (d.version !== undefined) task.version = d.version;
      if (d.rerun) task.rerun = true;
      if (d.cache) task.cache = d.cache;
      if (d.retries !== undefined) task.retries = d.retries;
      if (d.timeoutMs !== undefined) task.timeoutMs = d.timeoutMs;
      task.checks.push(...d.checks);
      task.async ||= s.input.analyses.get(cell.index)?.topLevelAwait ?? false;
    }
    pendingDoc = [];
  }
  s.doc = (topDoc ?? pendingDoc).join('\n\n');
}

// --- scope walk: bind every use to a version -----------------------------------------------

/** Walk the cells in order, binding each use to the version the kernel would have read. */
function bindUses(s: LinkState): void {
  const { cells, analyses } = s.input;
  const scope: Scope = {
    value: new Map(),
    type: new Map(),
    aliasOf: new Map(),
    declaredIn: new Map(),
    exploreDecls: new Map(),
  };
  for (const cell of cells) {
    const a = analyses.get(cell.index);
    if (a)
      for (const d of a.declarations)
        if (!scope.declaredIn.has(d.name)) scope.declaredIn.set(d.name, cell);
  }
  for (const cell of cells) {
    if (cell.role !== 'explore') continue;
    for (const m of cell.code.matchAll(
      /^(?:export\s+)?(?:const|let|var|function\*?|class|async\s+function)\s+([A-Za-z_$][\w$]*)/gm,
    )) {
      if (!scope.exploreDecls.has(m[1]!)) scope.exploreDecls.set(m[1]!, cell);
    }
  }

  for (const cell of cells) {
    if (cell.role === 'markdown' || cell.role === 'explore') continue;
    const a = analyses.get(cell.index);
    if (!a) continue;
    if (
      cell.role === 'task' &&
      cell.startsTask &&
      cell.task !== undefined &&
      s.taskStart.get(cell.task) !== cell
    )
      continue;
    const owner: Owner | undefined =
      cell.role === 'setup'
        ? { kind: 'setup' }
        : cell.role === 'params'
          ? { kind: 'params' }
          : cell.role === 'task'
            ? { kind: 'task', task: cell.task! }
            : undefined;
    const here = declareVersions(s, cell, a, owner);
    declareReassignments(s, here, scope);
    for (const alias of a.aliases ?? []) {
      const target = scope.value.get(alias.target);
      const own = here.ownValue.get(alias.name);
      if (target && own) scope.aliasOf.set(own.id, scope.aliasOf.get(target.id) ?? target);
    }
    dropNotebookOnly(s, here, scope);
    resolveReferences(s, here, scope);
    checkMutations(s, here, scope);
    checkParamChanges(s, here, scope);
    checkModuleState(s, here, scope);
    checkKeptState(s, here, scope, checkSetupState(s, here, scope));
    checkReservedNames(s, here);

    if (cell.role === 'params') {
      for (const p of a.params)
        s.params.push({ ...p, cell: cell.index, versionId: `${cell.index}:${p.name}` });
    }
    if (cell.role === 'test') {
      s.tests.push({ task: cell.task!, cell: cell.index, cellId: cell.id, uses: [], async: true });
      continue; // a test's declarations are its own: later cells do not see them
    }
    for (const [name, v] of here.ownValue) scope.value.set(name, v);
    for (const [name, v] of here.ownType) scope.type.set(name, v);
  }
}

/** The key a cell's uses are recorded under: its task, `test:<cell>`, `setup` or `params`. */
const userOf = (cell: TaggedCell, owner: Owner | undefined) =>
  cell.role === 'test'
    ? `test:${cell.index}`
    : owner?.kind === 'task'
      ? owner.task
      : (owner?.kind ?? '');

/** This cell's own versions (imports and declarations), and the bindings of its declaration sites. */
function declareVersions(
  s: LinkState,
  cell: TaggedCell,
  a: CellAnalysis,
  owner: Owner | undefined,
): CellScope {
  const here: CellScope = {
    cell,
    analysis: a,
    owner,
    ownValue: new Map(),
    ownType: new Map(),
    dropped: [],
    inert: [],
    newVersions: new Map(),
  };
  const cellBindings: Binding[] = (s.bindings[cell.index] = []);
  const versionOwner: Owner = owner ?? { kind: 'import' };
  for (const imp of a.imports) {
    for (const b of imp.bindings) {
      const v: Version = {
        id: `${cell.index}:${b.local}`,
        name: b.local,
        cell: cell.index,
        kind: 'import',
        owner: { kind: 'import' },
        importFrom: {
          module: imp.module,
          imported: b.imported,
          typeOnly: b.typeOnly,
          ...(imp.attributes ? { attributes: imp.attributes } : {}),
        },
      };
      s.versions[v.id] = v;
      if (!b.typeOnly) here.ownValue.set(b.local, v);
      here.ownType.set(b.local, v);
    }
  }
  for (const d of a.declarations) {
    const isValue = VALUE_KINDS.has(d.kind);
    const id = isValue ? `${cell.index}:${d.name}` : `${cell.index}:type:${d.name}`;
    const v: Version = s.versions[id] ?? {
      id,
      name: d.name,
      cell: cell.index,
      kind: d.kind,
      owner: versionOwner,
      ...(d.callable ? { callable: true } : {}),
    };
    s.versions[id] = v;
    if (isValue) here.ownValue.set(d.name, v);
    if (TYPE_KINDS.has(d.kind)) here.ownType.set(d.name, v);
    for (const site of d.sites)
      cellBindings.push({
        start: site.start,
        end: site.end,
        versionId: id,
        meaning: isValue ? 'value' : 'type',
        ...(site.shorthandBinding ? { shorthand: 'binding' as const } : {}),
      });
  }
  return here;
}

/**
 * `df = df.filter(…)` in a task, where `df` is another task's (or setup's, or a param's) value:
 * the notebook rebinds the name to a new value and leaves the old one as it was, so it is a new
 * version of `df` owned by this task, exactly like `let df = …` would be (emitted as that). Reads
 * on its right-hand side still see the earlier version. Only the first such statement per name
 * and cell makes a version; later ones in the cell assign this task's own `let`.
 */
function declareReassignments(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a, owner } = here;
  if (cell.role !== 'task' || owner?.kind !== 'task') return;
  for (const r of a.reassignments ?? []) {
    if (here.ownValue.has(r.name)) continue;
    const prior = scope.value.get(r.name);
    if (!prior || !DATA_KINDS.has(prior.kind) || prior.callable || sameOwner(prior.owner, owner))
      continue;
    const id = `${cell.index}:${r.name}`;
    s.versions[id] = {
      id,
      name: r.name,
      cell: cell.index,
      kind: 'let',
      owner,
      reassignedAt: r.statement.start,
    };
    here.ownValue.set(r.name, s.versions[id]!);
    here.newVersions.set(r.name, { statement: r.statement, site: r.site });
    s.bindings[cell.index]!.push({
      start: r.site.start,
      end: r.site.end,
      versionId: id,
      meaning: 'value',
    });
  }
}

/** Which version a non-own read of `name` at `pos` binds when this cell made a new version of it:
 * 'site' for the reassigned identifier itself, 'new' after the statement, undefined before or inside it. */
function newVersionAt(here: CellScope, name: string, pos: number): 'site' | 'new' | undefined {
  const nv = here.newVersions.get(name);
  if (!nv) return undefined;
  if (pos === nv.site.start) return 'site';
  return pos >= nv.statement.end ? 'new' : undefined;
}

/** Statements the module leaves out: tslab display calls (they throw outside a kernel) and
 * display-only statements (`raw.length;`, dead code in a module). */
function dropNotebookOnly(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a } = here;
  for (const call of a.displayCalls) {
    const v = here.ownValue.get(call.root) ?? scope.value.get(call.root);
    const deno = call.root === 'Deno' && !v;
    if (deno || (v?.kind === 'import' && v.importFrom?.module === 'tslab')) {
      here.dropped.push(call.statement);
      s.diagnostics.push(
        diagnostic(
          'note',
          'N_DISPLAY_DROPPED',
          at(s, cell, call.line),
          `\`${call.root}.${deno ? 'jupyter' : 'display'}…\` only works inside Jupyter: left out of the compiled ${cell.role === 'test' ? 'test' : 'module'}`,
          {
            snippet: lineOf(cell, call.line),
          },
        ),
      );
    }
  }
  // What a display-only statement reads is not a use (no input just to show it); a misspelt
  // name in one is still reported by resolveReferences.
  here.inert = a.inertStatements ?? [];
  here.dropped.push(...here.inert);
  if (here.dropped.length) s.dropped[cell.index] = here.dropped;
}

/** Bind each reference to a version, or report it: undeclared, a param read by setup, a tslab shorthand. */
function resolveReferences(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a, ownValue, ownType } = here;
  const user = userOf(cell, here.owner);
  const used = s.uses.get(user) ?? new Set<string>();
  s.uses.set(user, used);
  const cellBindings = s.bindings[cell.index]!;
  const reported = new Set<string>();
  const assignedUndeclared = new Set(
    a.mutations.filter((m) => m.kind === 'assign' && !scope.value.has(m.name)).map((m) => m.name),
  );
  for (const ref of a.references) {
    const inert = within(here.inert, ref.start);
    if (within(here.dropped, ref.start) && !inert) continue;
    let v: Version | undefined;
    const reassigned = ref.own ? undefined : newVersionAt(here, ref.name, ref.start);
    if (reassigned === 'site') continue; // bound by declareReassignments
    if (reassigned === 'new') v = ownValue.get(ref.name);
    else if (ref.own)
      v =
        ref.meaning === 'value'
          ? (ownValue.get(ref.name) ?? ownType.get(ref.name))
          : (ownType.get(ref.name) ?? ownValue.get(ref.name));
    else
      v =
        ref.meaning === 'value'
          ? scope.value.get(ref.name)
          : (scope.type.get(ref.name) ?? scope.value.get(ref.name));
    if (v && inert) continue;
    if (!v) {
      if (
        ref.own ||
        ref.meaning === 'type' ||
        KNOWN_GLOBALS.has(ref.name) ||
        reported.has(ref.name) ||
        assignedUndeclared.has(ref.name)
      )
        continue;
      reported.add(ref.name);
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_UNDECLARED_NAME',
          at(s, cell, ref.line, ref.column),
          `\`${ref.name}\` is used but never declared in a compiled cell before it`,
          {
            hint: undeclaredHint(ref.name, cell, here, scope),
            snippet: lineOf(cell, ref.line),
          },
        ),
      );
      continue;
    }
    if (cell.role === 'setup' && v.owner.kind === 'params' && !reported.has(ref.name)) {
      reported.add(ref.name);
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_PARAM_IN_SETUP',
          at(s, cell, ref.line, ref.column),
          `setup cell reads param \`${ref.name}\`, but setup is shared by every task and has no params`,
          {
            hint: 'read the param inside a task, or pass it to a setup function as an argument',
            snippet: lineOf(cell, ref.line),
          },
        ),
      );
    }
    if (
      ref.shorthand &&
      !ref.own &&
      ref.meaning === 'value' &&
      ['tslab', 'jslab'].includes(s.input.kernel ?? 'tslab') &&
      !reported.has(`shorthand:${ref.name}`)
    ) {
      // tslab rewrites reads of earlier cells' names but misses object shorthands: `{ seed }`
      // throws ReferenceError in the kernel, though the compiled module is fine.
      reported.add(`shorthand:${ref.name}`);
      s.diagnostics.push(
        diagnostic(
          'warning',
          'W_TSLAB_SHORTHAND',
          at(s, cell, ref.line, ref.column),
          `\`{ ${ref.name} }\` names \`${ref.name}\` from cell ${v.cell + 1}: tslab throws "ReferenceError: ${ref.name} is not defined" on this shorthand`,
          {
            hint: `write \`${ref.name}: ${ref.name}\` instead of \`${ref.name}\` in the object literal`,
            snippet: lineOf(cell, ref.line),
          },
        ),
      );
    }
    used.add(v.id);
    const key = `${user}|${v.id}`;
    if (!s.firstUse.has(key)) s.firstUse.set(key, { cell, line: ref.line, column: ref.column });
    cellBindings.push({
      start: ref.start,
      end: ref.end,
      versionId: v.id,
      meaning: ref.meaning,
      ...(ref.shorthand ? { shorthand: 'literal' as const } : {}),
    });
  }
}

/** Why a name is not in scope, most specific first: CommonJS, explore cell, later cell, test cell, typo. */
function undeclaredHint(
  name: string,
  cell: TaggedCell,
  here: CellScope,
  scope: Scope,
): string | undefined {
  const explore = scope.exploreDecls.get(name);
  const later = scope.declaredIn.get(name);
  if (Object.hasOwn(COMMONJS_HINTS, name)) return COMMONJS_HINTS[name];
  if (explore && explore.index < cell.index)
    return `\`${name}\` is declared in cell ${explore.index + 1}, which is tagged \`//| explore\` and not compiled: move the declaration to a setup or task cell`;
  if (later && later.index > cell.index)
    return `\`${name}\` is declared later, in cell ${later.index + 1}: the pipeline runs cells in notebook order, so move it up`;
  if (later && later.role === 'test')
    return `\`${name}\` is declared in test cell ${later.index + 1}; tests are not visible to other cells`;
  const guess = suggest(name, [...scope.value.keys(), ...here.ownValue.keys()]);
  return guess ? `did you mean \`${guess}\`?` : undefined;
}

/** What a mutation does to a value, as the middle of a sentence: "calls `xs.push(...)` on". */
function describeMutation(m: Mutation): string {
  if (m.breach) return m.breach;
  if (m.element) return `changes \`${m.element}\`, an element of`;
  // `Object.assign`, `Reflect.set` and the like take the value as an argument.
  if (m.kind === 'method' && m.detail.includes('.')) return `calls \`${m.detail}(...)\` on`;
  if (m.kind === 'method') return `calls \`${m.name}${m.part ?? ''}.${m.detail}(...)\` on`;
  if (m.kind === 'property') return `assigns to \`${m.detail}\` of`;
  return 'assigns to';
}

/**
 * A task cell's `__proto__`: the pipeline hands a task's values on as object properties (its
 * outputs record, the inputs of the tasks reading it), and `{ __proto__: x }` sets the object's
 * prototype instead of a property, so the value was silently lost (a reader computed NaN).
 */
function checkReservedNames(s: LinkState, here: CellScope): void {
  const { cell, analysis: a } = here;
  if (cell.role !== 'task') return;
  for (const d of a.declarations)
    if (d.name === '__proto__')
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_RESERVED_NAME',
          at(s, cell, d.line),
          "`__proto__` cannot name a task's value: the pipeline hands values on as object properties, and `{ __proto__: … }` sets an object's prototype instead, so the value would be lost",
          { hint: 'give it another name (`proto`, `base`)', snippet: lineOf(cell, d.line) },
        ),
      );
}

/**
 * The process's global objects and built-ins (`globalThis`, `Array.prototype`, `Math`…): a change
 * to one in a task is seen by every task after it in that process.
 */
const GLOBAL_OBJECTS = new Set([
  'globalThis',
  'global',
  'window',
  'self',
  'Array',
  'Object',
  'String',
  'Number',
  'Boolean',
  'BigInt',
  'Symbol',
  'Function',
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'Date',
  'RegExp',
  'Promise',
  'Error',
  'Math',
  'JSON',
  'Intl',
  'Buffer',
]);

/** Is `m` a change (not a rebinding) of a global object of the process? */
function changesGlobal(m: Mutation): boolean {
  if (m.kind === 'assign') return false;
  // `console.log = …` replaces the console for every task after it; `console.clear()` does not.
  if (m.name === 'console') return m.kind === 'property';
  return GLOBAL_OBJECTS.has(m.name);
}

/** The hint for a memo or lazy initialisation that keeps state after all (analyze/memo.ts). */
const MEMO_HINT =
  "a memo may store under a key only a value computed from that key alone, and return the stored value on a hit (`if (!m.has(k)) m.set(k, f(k)); return m.get(k)`), and a lazy `x ??= load()` may not use the caller's arguments; compute a count, a first-time flag or a per-call value in the task from its inputs, or output it from one task to the tasks that read it";

/** Methods of the cache idiom (`const memo = new Map()` filled by a helper): allowed in setup. */
const CACHE_METHODS = new Set(['set', 'add', 'delete', 'clear']);

/**
 * A setup helper changing a setup value when it is called (`function setFactor(v) { cfg.factor =
 * v }`, `seen.push(x)`, `count++`). In the notebook every later cell sees the change; in the
 * pipeline each task starts from the setup as its module loads, in whatever process and order
 * the run picks, and a cached task is not run at all: what a task computes from that value would
 * depend on which tasks ran before it in the same process, so one key could store two results.
 * A Map or Set filled through `set`/`add` is allowed (the memo-cache idiom; a cache gives the
 * same result whatever was cached before).
 * @returns the setup values reported, for `checkKeptState` not to report them again.
 */
function checkSetupState(s: LinkState, here: CellScope, scope: Scope): Set<string> {
  const { cell, analysis: a } = here;
  const reported = new Set<string>();
  if (cell.role !== 'setup') return reported;
  for (const m of [...(a.sharedStateChanges ?? []), ...changesHandedOn(s, here, scope)]) {
    if (m.kind === 'method' && CACHE_METHODS.has(m.detail) && !m.breach) continue;
    const v = here.ownValue.get(m.name) ?? scope.value.get(m.name);
    // `globalThis.factor = f`, `Array.prototype.sumAll = …`: the process's own globals.
    const global = !v && changesGlobal(m);
    // A value imported from a local module is state every task in a worker thread shares too.
    const fromModule = !global && v !== undefined && localImport(v);
    if (!global && (!v || (v.owner.kind !== 'setup' && !fromModule))) continue;
    // A reassignment whose new value is handed on (`return ++calls`) is state by itself; any
    // other change counts when something reads the value (a counter nothing reads does not).
    if (reported.has(m.name) || (!global && !m.used && !readBesidesChanges(s, v!))) continue;
    // In a helper the setup only calls while it loads (`function init() {…}; init();`): the change
    // happens once, before any task, the same in every process that loads the setup.
    const later = m.inside === undefined ? undefined : useAfterLoading(s, m.inside, cell.index);
    if (later === 'none') continue;
    reported.add(m.name);
    const code = global ? 'E_GLOBAL_STATE' : fromModule ? 'E_MODULE_STATE' : 'E_SETUP_STATE';
    const declared = global
      ? 'a global every task in the process shares'
      : fromModule
        ? `imported from the local module \`${v!.importFrom!.module}\` in cell ${v!.cell + 1}, which a worker thread loads once for all its tasks`
        : `declared in setup, cell ${v!.cell + 1}`;
    const why = `every task shares ${global ? 'the process globals' : 'setup values'}, and in the pipeline a task starts from the setup as loaded, in whatever order and process the run picks, so a result computed from \`${m.name}\` would depend on which tasks ran before it`;
    const hint = m.breach
      ? MEMO_HINT
      : `have the helper return a new value instead of changing \`${m.name}\`, and the task output it for the tasks that read it (a Map memo filled with \`.set\` is allowed, and so is a helper only called at the top level of setup cells)`;
    const caller = later && s.cellByIndex.get(later.cell);
    if (later && caller?.role === 'task') {
      // Named at the task's call, as E_MUTATES_UPSTREAM is: that call is what differs between
      // the notebook and the pipeline; the helper's line is said in the message.
      s.diagnostics.push(
        diagnostic(
          'error',
          code,
          at(s, caller, later.line, later.column),
          `task \`${caller.task}\` calls \`${m.inside}\`, a setup helper that ${describeMutation(m)} \`${m.name}\` (${declared}; the change is in cell ${cell.index + 1}, line ${m.line}): ${why}`,
          { hint, snippet: lineOf(caller, later.line) },
        ),
      );
      continue;
    }
    s.diagnostics.push(
      diagnostic(
        'error',
        code,
        at(s, cell, m.line, m.column),
        `a setup helper ${describeMutation(m)} \`${m.name}\` (${declared}) when it is called${later && caller ? ` (\`${m.inside}\` is used in cell ${later.cell + 1}, line ${later.line}, where it may run after the setup loaded)` : ''}: ${why}`,
        { hint, snippet: lineOf(cell, m.line) },
      ),
    );
  }
  return reported;
}

/**
 * In setup helpers (functions kept to be called later), the setup values handed to a function
 * that changes its parameter (`function register(x) { addTo(names, x) }`): a change of each such
 * value, made where it is handed on, for `checkSetupState` to judge as the helper's own.
 */
function changesHandedOn(s: LinkState, here: CellScope, scope: Scope): Mutation[] {
  const out: Mutation[] = [];
  for (const call of here.analysis.calls ?? []) {
    if (!call.kept) continue;
    const fn = here.ownValue.get(call.name) ?? scope.value.get(call.name);
    if (!fn) continue;
    for (const change of s.input.analyses.get(fn.cell)?.paramChanges ?? []) {
      const arg = change.fn === call.name ? call.args[change.index] : undefined;
      if (!arg) continue;
      out.push({
        name: arg.name,
        kind: change.kind,
        detail: change.detail,
        ...(change.part !== undefined ? { part: change.part } : {}),
        ...(change.element !== undefined ? { element: change.element } : {}),
        ...(call.inside !== undefined ? { inside: call.inside } : {}),
        line: arg.line,
        column: arg.column,
      });
    }
  }
  return out;
}

/**
 * Where `name`, a top-level function of setup cell `declaredIn`, is first used other than by a
 * call made while setup cells load (their top level, outside any function): a task or a test
 * calling it, a reference inside a function, the function handed on as a value, any of which may
 * call it later. 'none' when every use is such a call (and there is one); undefined when the
 * function is not used at all.
 * `counts`: which references count (all when absent), given the reference and its cell.
 * @returns the 0-based cell index, the 1-based line and column and the span of the first such
 * use, and the member read on it (`counter.inc`: `inc`).
 */
function useAfterLoading(
  s: LinkState,
  name: string,
  declaredIn: number,
  counts?: (r: Reference, cell: number) => boolean,
  memberOf: (r: Reference) => string | undefined = (r) => r.member,
): (Span & { cell: number; line: number; column: number; member?: string }) | 'none' | undefined {
  let calls = 0;
  // Cells in notebook order, so the use named is the first a reader meets.
  for (const [index, a] of [...s.input.analyses].sort(([x], [y]) => x - y)) {
    for (const r of a.references) {
      if (r.name !== name || r.meaning !== 'value' || (counts && !counts(r, index))) continue;
      // Another cell's own declaration of the name is another value.
      if (r.own && index !== declaredIn) continue;
      const setup = s.cellByIndex.get(index)?.role === 'setup';
      const atLoad = a.loadTimeCalls?.some(
        (c) => c.name === name && c.line === r.line && c.column === r.column,
      );
      if (!setup || !atLoad)
        return {
          cell: index,
          start: r.start,
          end: r.end,
          line: r.line,
          column: r.column,
          ...(memberOf(r) !== undefined ? { member: memberOf(r)! } : {}),
        };
      calls++;
    }
  }
  return calls > 0 ? 'none' : undefined;
}

/**
 * Is setup value `v` read anywhere other than where it is changed? A log only appended to
 * (`const note = (s) => { log.push(s); return s; }`) changes no result; `seen.length`, or a task
 * reading `cfg.factor`, does.
 */
function readBesidesChanges(
  s: LinkState,
  v: Pick<Version, 'name' | 'cell'>,
  seen = new Set<string>(),
): boolean {
  seen.add(v.name);
  for (const [index, a] of s.input.analyses) {
    const changes = [...a.mutations, ...(a.sharedStateChanges ?? [])].filter(
      (m) => m.name === v.name,
    );
    for (const r of a.references) {
      if (r.name !== v.name || r.meaning !== 'value') continue;
      // Another cell's own declaration of the name (a shadowing task variable) is not `v`.
      if (r.own && index !== v.cell) continue;
      if (changes.some((m) => m.line === r.line && m.column === r.column)) continue;
      return true;
    }
  }
  // `const items = state.items`: a read of `state` (`state.items.length`) reads what a change
  // through `items` made.
  for (const alias of s.input.analyses.get(v.cell)?.partAliases ?? [])
    if (
      alias.name === v.name &&
      !seen.has(alias.target) &&
      readBesidesChanges(s, { name: alias.target, cell: v.cell }, seen)
    )
      return true;
  return false;
}

/**
 * For a reference inside a top-level function of a setup cell: that function, and its first use
 * after the setup loaded (useAfterLoading); 'none' when it is only called while the setup loads,
 * 'unused' when it is never used. Undefined outside a setup helper.
 */
function helperUse(
  s: LinkState,
  cell: number,
  r: Span,
):
  | { fn: string; use: { cell: number; line: number; column: number } }
  | 'none'
  | 'unused'
  | undefined {
  if (s.cellByIndex.get(cell)?.role !== 'setup') return undefined;
  const fn = s.input.analyses
    .get(cell)
    ?.topLevelFunctions?.find((f) => r.start >= f.start && r.end <= f.end)?.name;
  if (fn === undefined) return undefined;
  const use = useAfterLoading(s, fn, cell);
  return use === undefined ? 'unused' : use === 'none' ? 'none' : { fn, use };
}

/**
 * Is the part at `path` of setup value `v` read from outside (`counter.n`, `registry.c.n`, in
 * any cell)?
 */
function memberRead(s: LinkState, v: Version, path: string[]): boolean {
  for (const [index, a] of s.input.analyses)
    for (const r of a.references) {
      if (r.name !== v.name || (r.own && index !== v.cell)) continue;
      const read = accessedPath(r);
      if (path.every((k, i) => read[i] === k)) return true;
    }
  return false;
}

/** The properties a reference reads one after another on its name (`registry.c.inc`: c, inc). */
function accessedPath(r: Reference): string[] {
  return r.path ?? (r.member !== undefined ? [r.member] : []);
}

/**
 * How reference `r` reaches the part at `at` of its name's value (`registry.c`, `['c']`):
 * `member`, the property read on that part (`registry.c.inc`: `inc`), absent when the part or
 * the value around it is used whole (`registry.c`, `registry`, `counters[i]`); undefined when it
 * reads another part (`registry.d`, `counters.length`).
 */
function partUse(r: Reference, at: string[]): { member?: string } | undefined {
  const path = accessedPath(r);
  for (let i = 0; i < at.length; i++) {
    if (i >= path.length) return {};
    if (path[i] !== at[i]) return undefined;
  }
  return path.length > at.length ? { member: path[at.length]! } : {};
}

/** What a kept-state change does, for the message: `assigns to \`this.n\``, `changes \`n\``. */
function describeKeptChange(st: KeptState): string {
  const m = st.change;
  if (m.kind === 'method' && m.detail.includes('.'))
    return `calls \`${m.detail}(...)\` on \`${st.target}\``;
  if (m.kind === 'method') return `calls \`${st.target}.${m.detail}(...)\``;
  if (m.kind === 'property') return `assigns to \`${m.detail}\``;
  return `changes \`${st.target}\``;
}

/**
 * Setup state kept where no top-level name shows it (analysis `keptState`): a field a method of
 * a setup class changes on an instance a setup cell made (`const counter = new Counter()`, `inc()
 * { this.n++ }`) or on the class (a static member), and a variable a closure a setup value holds
 * changes (`const next = (() => { let n = 0; return () => ++n; })()`, or a value a setup factory
 * made). Each call changes what the next call sees, as a setup helper changing a setup value
 * does (checkSetupState), and is refused the same way, with the same exemptions: a Map or Set
 * memo, state nothing reads, members only called while the setup loads. A class or closure made
 * inside a task is that task's own, and not judged.
 */
function checkKeptState(s: LinkState, here: CellScope, scope: Scope, reported: Set<string>): void {
  const { cell, analysis: a } = here;
  if (cell.role !== 'setup') return;
  // Each setup value of this cell holding kept state: the state, the cell it is declared in,
  // and the class or factory that made the value.
  const held: { holder: string; st: KeptState; from: number; made?: string; at?: string[] }[] = [];
  for (const st of a.keptState ?? [])
    if (st.kind === 'static' || st.kind === 'object')
      held.push({ holder: st.owner!, st, from: cell.index });
    else if (st.holder !== undefined) held.push({ holder: st.holder, st, from: cell.index });
  for (const made of a.madeBy ?? []) {
    // The class or factory, then the classes it extends (`class B extends Counter`), in setup.
    const seen = new Set<string>();
    const found: { st: KeptState; from: number }[] = [];
    const selfReturning = new Set<string>();
    for (let of: string | undefined = made.of; of !== undefined && !seen.has(of);) {
      seen.add(of);
      const maker = here.ownValue.get(of) ?? scope.value.get(of);
      if (!maker || maker.owner.kind !== 'setup') break;
      const analysis = s.input.analyses.get(maker.cell);
      for (const st of analysis?.keptState ?? [])
        if ((st.kind === 'instance' || st.kind === 'closure') && st.owner === of)
          found.push({ st, from: maker.cell });
      for (const r of analysis?.returnsThis ?? []) if (r.name === of) selfReturning.add(r.member);
      of = analysis?.classBases?.find((c) => c.name === of)?.base;
    }
    // `new Counter().reset()` holds the instance only when each method called returns `this`.
    if (made.chain && !made.chain.every((m) => selfReturning.has(m))) continue;
    for (const { st, from } of found) {
      // `const { inc } = makeCounter()`: the name is the closure `inc` itself (a method taken
      // off an instance has lost its `this`).
      if (made.part !== undefined && (st.kind !== 'closure' || st.member !== made.part)) continue;
      const whole: KeptState = { ...st };
      delete whole.member;
      held.push({
        holder: made.name,
        st: made.part !== undefined ? whole : st,
        from,
        made: made.of,
        ...(made.at ? { at: made.at } : {}),
      });
    }
  }
  for (const { holder, st, from, made, at: inside = [] } of held) {
    const m = st.change;
    if (reported.has(holder) || (m.kind === 'method' && CACHE_METHODS.has(m.detail))) continue;
    const v = here.ownValue.get(holder);
    if (!v) continue;
    // A counter nothing reads changes no result; a field read from outside (`counter.n`) is read.
    if (!st.read && !(st.kind !== 'closure' && memberRead(s, v, [...inside, st.state]))) continue;
    // A use reaching the state: its member, or the value handed on whole (a static member: only
    // through a member; `new Reg()` reaches no static state). In a setup helper, a use runs when
    // the helper does: not at all when it is only called while the setup loads, or never.
    // Held inside the value (`registry.c`): a use of that part, or of the value around it.
    const use = useAfterLoading(
      s,
      holder,
      cell.index,
      (r, index) => {
        const reached = partUse(r, inside);
        if (!reached) return false;
        const { member } = reached;
        return (
          (st.kind === 'static' || st.kind === 'object'
            ? member !== undefined && (st.member === undefined || member === st.member)
            : st.member === undefined || member === undefined || member === st.member) &&
          typeof helperUse(s, index, r) !== 'string'
        );
      },
      (r) => partUse(r, inside)?.member,
    );
    if (use === undefined || use === 'none') continue;
    reported.add(holder);
    const changeCell = s.cellByIndex.get(from)!;
    const part = `${holder}${inside.map((k) => (/^\d+$/.test(k) ? `[${k}]` : `.${k}`)).join('')}`;
    const via = use.member !== undefined ? `${part}.${use.member}` : holder;
    // `function step() { return counter.inc(); }`, a task calling `step()`: named at that call.
    const hop = helperUse(s, use.cell, use);
    const helper = hop && typeof hop !== 'string' ? s.cellByIndex.get(hop.use.cell) : undefined;
    const changes = describeKeptChange(st);
    const kept = st.kind === 'closure' ? ', a variable it keeps between calls' : '';
    const by = made !== undefined ? ` made by setup function \`${made}\`` : '';
    const member = st.member !== undefined ? ` \`${st.member}\`` : '';
    // Through its member (`counter.inc`): that member; the value handed on whole: what it holds.
    const what =
      use.member === undefined && (st.kind === 'instance' || st.member !== undefined)
        ? st.kind === 'closure'
          ? `a value${by || ' of setup'}${inside.length ? ` (at \`${part}\`)` : ''} whose closure${member} ${changes}${kept}`
          : `${inside.length ? `a value holding (at \`${part}\`) ` : ''}an instance of setup class \`${st.owner}\` whose method${member} ${changes}`
        : st.kind === 'closure'
          ? `${by ? `a closure${by}` : 'a setup closure'} that ${changes}${kept}`
          : st.kind === 'object'
            ? `a method of setup object \`${st.owner}\` that ${changes}`
            : `a ${st.kind === 'static' ? 'static member' : 'method'} of setup class \`${st.owner}\` that ${changes}`;
    const declared = `\`${holder}\` declared in setup, cell ${cell.index + 1}`;
    const why = `every task shares setup values, and in the pipeline a task starts from the setup as loaded, in whatever order and process the run picks, so a result computed from \`${holder}\` would depend on which tasks ran before it`;
    const hint =
      st.kind === 'closure'
        ? `have the function return a new value instead of changing \`${st.target}\` (or make the closure inside the task that uses it), and the task output it for the tasks that read it (a Map memo filled with \`.set\` is allowed, and so is a closure only called at the top level of setup cells)`
        : `have the method return a new object instead of changing \`this\` (or make the \`${st.owner}\` inside the task that uses it), and the task output it for the tasks that read it (a Map memo filled with \`.set\` is allowed, and so is a method only called at the top level of setup cells)`;
    const verb =
      use.member !== undefined || (st.kind === 'closure' && st.member === undefined)
        ? 'calls'
        : 'uses';
    if (hop && typeof hop !== 'string' && helper?.role === 'task') {
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_SETUP_STATE',
          at(s, helper, hop.use.line, hop.use.column),
          `task \`${helper.task}\` calls \`${hop.fn}\`, a setup helper that ${verb} \`${via}\` (cell ${use.cell + 1}, line ${use.line}), ${what} (${declared}; the change is in cell ${from + 1}, line ${m.line}): ${why}`,
          { hint, snippet: lineOf(helper, hop.use.line) },
        ),
      );
      continue;
    }
    const caller = s.cellByIndex.get(use.cell);
    if (caller?.role === 'task') {
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_SETUP_STATE',
          at(s, caller, use.line, use.column),
          `task \`${caller.task}\` ${verb} \`${via}\`, ${what} (${declared}; the change is in cell ${from + 1}, line ${m.line}): ${why}`,
          { hint, snippet: lineOf(caller, use.line) },
        ),
      );
      continue;
    }
    s.diagnostics.push(
      diagnostic(
        'error',
        'E_SETUP_STATE',
        at(s, changeCell, m.line, m.column),
        `${what} when it is called (${declared}; \`${via}\` is used in cell ${use.cell + 1}, line ${use.line}, where it may run after the setup loaded): ${why}`,
        { hint, snippet: lineOf(changeCell, m.line) },
      ),
    );
  }
}

/** A task changing another owner's value (directly or through an alias), or assigning an undeclared name. */
function checkMutations(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a, owner } = here;
  for (const m of a.mutations) {
    if (
      here.dropped.length &&
      a.references.some(
        (r) =>
          r.name === m.name &&
          r.line === m.line &&
          r.column === m.column &&
          within(here.dropped, r.start),
      )
    )
      continue;
    if (here.newVersions.has(m.name)) {
      // On the new version (its own `let`) or the reassignment itself: this task's value.
      const ref = a.references.find(
        (r) => r.name === m.name && r.line === m.line && r.column === m.column,
      );
      if (ref && newVersionAt(here, m.name, ref.start) !== undefined) continue;
    }
    const v = scope.value.get(m.name);
    if (!v && cell.role === 'task' && changesGlobal(m)) {
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_GLOBAL_STATE',
          at(s, cell, m.line, m.column),
          `task \`${cell.task}\` ${describeMutation(m)} \`${m.name}\`, a global every task in the process shares: in the pipeline tasks run in whatever order and process the run picks (and a cached one not at all), so what a task reading it computes would depend on which tasks ran before it`,
          {
            hint: 'output the value from this task and read it by name in the tasks that need it (or set it once at the top level of a setup cell)',
            snippet: lineOf(cell, m.line),
          },
        ),
      );
      continue;
    }
    const imported = v ?? here.ownValue.get(m.name);
    if (cell.role === 'task' && imported && localImport(imported)) {
      reportLocalImportChange(s, cell, m, imported);
      continue;
    }
    if (!v) {
      if (m.kind === 'assign' && !here.ownValue.has(m.name)) {
        s.diagnostics.push(
          diagnostic(
            'error',
            'E_IMPLICIT_GLOBAL',
            at(s, cell, m.line, m.column),
            `\`${m.name}\` is assigned but never declared (an implicit global)`,
            {
              hint:
                s.input.language === 'javascript'
                  ? `declare it with let or const: \`let ${m.name} = ...\` (the JavaScript kernel's sloppy mode made it a global; a module is strict, where this assignment throws)`
                  : `declare it: \`const ${m.name} = ...\`${/require\s*\(/.test(lineOf(cell, m.line)) ? ', and use `import` instead of `require`' : ''}`,
              snippet: lineOf(cell, m.line),
            },
          ),
        );
      }
      continue;
    }
    const root = m.kind === 'assign' ? undefined : scope.aliasOf.get(v.id);
    if (cell.role === 'task' && root && localImport(root)) {
      reportLocalImportChange(s, cell, m, root);
      continue;
    }
    if (
      root &&
      cell.role === 'task' &&
      owner &&
      root.owner.kind !== 'import' &&
      !sameOwner(root.owner, owner)
    ) {
      // `const ys = xs` in an earlier cell of this task, changed here: xs changes.
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_MUTATES_UPSTREAM',
          at(s, cell, m.line, m.column),
          `task \`${cell.task}\` ${describeMutation(m)} \`${m.name}\`, which is \`${root.name}\` from ${ownerWords(root.owner)} (cell ${root.cell + 1}) under another name (cell ${v.cell + 1}): the cached value would no longer match what the notebook computed`,
          {
            hint: `copy it where you take it, in cell ${v.cell + 1}: \`const ${m.name} = structuredClone(${root.name})\``,
            snippet: lineOf(cell, m.line),
          },
        ),
      );
      continue;
    }
    if (cell.role !== 'task' || !owner || v.owner.kind === 'import' || sameOwner(v.owner, owner))
      continue;
    const mine = `my${m.name[0]!.toUpperCase()}${m.name.slice(1)}`;
    s.diagnostics.push(
      diagnostic(
        'error',
        'E_MUTATES_UPSTREAM',
        at(s, cell, m.line, m.column),
        `task \`${cell.task}\` ${describeMutation(m)} \`${m.name}\`, which ${ownerWords(v.owner)} produced (cell ${v.cell + 1}): the cached value would no longer match what the notebook computed`,
        {
          hint: m.element
            ? `copy it deeply first, e.g. \`const ${mine} = structuredClone(${m.name})\` (\`[...${m.name}]\` would share the elements), or build new elements with \`${m.name}.map((x) => ({ ...x, … }))\``
            : m.kind === 'assign'
              ? `give the new value its own name in this task, e.g. \`const ${m.name}2 = …\`, and read that one from here on`
              : `copy it first, e.g. \`const ${mine} = structuredClone(${m.name})\` (or \`[...${m.name}]\`), and change the copy`,
          snippet: lineOf(cell, m.line),
        },
      ),
    );
  }
}

/**
 * A task handing another owner's value to a function that changes its parameter (`function
 * addTo(list, x) { list.push(x) }` in setup, `addTo(names, 'a')` in a task): the value changes as
 * surely as if the task changed it itself (E_MUTATES_UPSTREAM; a global's, E_GLOBAL_STATE). Named
 * at the call, with the function's line.
 */
function checkParamChanges(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a, owner } = here;
  if (cell.role !== 'task' || !owner) return;
  for (const call of a.calls ?? []) {
    const fn = here.ownValue.get(call.name) ?? scope.value.get(call.name);
    if (!fn) continue;
    for (const change of s.input.analyses.get(fn.cell)?.paramChanges ?? []) {
      const arg = change.fn === call.name ? call.args[change.index] : undefined;
      // The task's own values are its to change.
      if (!arg || arg.own) continue;
      const handed = arg.name;
      const v = scope.value.get(handed);
      const root = v && (scope.aliasOf.get(v.id) ?? v);
      const global = !v && GLOBAL_OBJECTS.has(handed);
      if (root && localImport(root)) {
        reportLocalImportChange(
          s,
          cell,
          { ...change, name: handed, line: call.line, column: call.column },
          root,
          call.name,
          `cell ${fn.cell + 1}, line ${change.line}`,
        );
        break;
      }
      if (!global && (!root || root.owner.kind === 'import' || sameOwner(root.owner, owner)))
        continue;
      const where = `cell ${fn.cell + 1}, line ${change.line}`;
      s.diagnostics.push(
        diagnostic(
          'error',
          global ? 'E_GLOBAL_STATE' : 'E_MUTATES_UPSTREAM',
          at(s, cell, call.line, call.column),
          global
            ? `task \`${cell.task}\` hands \`${handed}\` to \`${call.name}\`, which ${describeMutation(change)} its parameter (${where}): \`${handed}\` is a global every task in the process shares, so what a task reading it computes would depend on which tasks ran before it`
            : `task \`${cell.task}\` hands \`${handed}\` to \`${call.name}\`, which ${describeMutation(change)} its parameter (${where}): \`${handed}\` is ${root!.name === handed ? '' : `\`${root!.name}\` `}what ${ownerWords(root!.owner)} produced (cell ${root!.cell + 1}), and the cached value would no longer match what the notebook computed`,
          {
            hint: global
              ? 'output the value from this task and read it by name in the tasks that need it (or change it once at the top level of a setup cell)'
              : `hand it a copy: \`${call.name}(structuredClone(${handed}), …)\`, or have \`${call.name}\` return a new value instead of changing its parameter`,
            snippet: lineOf(cell, call.line),
          },
        ),
      );
      break;
    }
  }
}

/** A value imported from a local module (`./lib/x.js`, `#lib/x`), not a package's. */
function localImport(v: Version): boolean {
  return (
    v.kind === 'import' &&
    v.importFrom !== undefined &&
    !v.importFrom.typeOnly &&
    /^(\.\.?\/|#)/.test(v.importFrom.module)
  );
}

const MODULE_STATE_WHY =
  "tasks run in worker threads that load a local module once, so every task in a thread shares the module's top-level state, and what a task computes from it would depend on which tasks ran before it in that thread (`--workers`), under the same cache key";

/**
 * A task changing a value it imported from a local module (`registry.push('a')` with `import {
 * registry } from './lib/counter.js'`), or handing it to a function that changes its parameter
 * (`via`, at `where`): E_MODULE_STATE.
 */
function reportLocalImportChange(
  s: LinkState,
  cell: TaggedCell,
  m: Mutation,
  imported: Version,
  via?: string,
  where?: string,
): void {
  const from = imported.importFrom!;
  const name =
    from.imported === imported.name
      ? `\`${imported.name}\``
      : `\`${imported.name}\` (\`${from.imported}\`)`;
  const mine = `my${imported.name[0]!.toUpperCase()}${imported.name.slice(1)}`;
  const doing = via
    ? `hands \`${m.name}\` to \`${via}\`, which ${describeMutation(m)} its parameter (${where}); \`${m.name}\` is ${name}`
    : `${describeMutation(m)} \`${m.name}\`${m.name === imported.name ? '' : `, which is ${name}`}`;
  s.diagnostics.push(
    diagnostic(
      'error',
      'E_MODULE_STATE',
      at(s, cell, m.line, m.column),
      `task \`${cell.task}\` ${doing}, imported from the local module \`${from.module}\` (cell ${imported.cell + 1}): ${MODULE_STATE_WHY}`,
      {
        hint: `change a copy made in the task, \`const ${mine} = [...${imported.name}]\` (or \`structuredClone(${imported.name})\`), or output the value from a task and read it by name in the tasks that need it`,
        snippet: lineOf(cell, m.line),
      },
    ),
  );
}

/**
 * A task calling a function of a local module that changes the module's top-level state (`let n
 * = 0; export function next() { return ++n; }`), directly or through functions of that module it
 * calls: E_MODULE_STATE at the task's first use of it (a use as a callback calls it too).
 */
function checkModuleState(s: LinkState, here: CellScope, scope: Scope): void {
  const { cell, analysis: a } = here;
  const state = s.input.moduleState;
  if (cell.role !== 'task' || !state || state.size === 0) return;
  const reported = new Set<string>();
  for (const ref of a.references) {
    if (ref.meaning !== 'value' || within(here.dropped, ref.start)) continue;
    const v = ref.own ? here.ownValue.get(ref.name) : scope.value.get(ref.name);
    if (!v || !localImport(v)) continue;
    const from = v.importFrom!;
    const mod = state.get(from.module);
    if (!mod) continue;
    // The name as used (`next`, `counter.bump`, `ns.counter.bump`) and as the module exports it.
    const called = memberKeys(ref, a.memberTakes).find((k) =>
      mod.writes.has(exportedAs(from.imported, ref.name, k)),
    );
    if (called === undefined || reported.has(called)) continue;
    const exported = exportedAs(from.imported, ref.name, called);
    const w = mod.writes.get(exported)!;
    reported.add(called);
    // `queue.add(1)` is also a change to the imported value itself, refused there already.
    const where = at(s, cell, ref.line, ref.column);
    if (
      s.diagnostics.some(
        (d) =>
          d.code === 'E_MODULE_STATE' &&
          d.cell === where.cell &&
          d.line === where.line &&
          d.column === where.column,
      )
    )
      continue;
    const chain = w.via.length > 1 ? ` (through ${w.via.map((f) => `\`${f}\``).join(' → ')})` : '';
    s.diagnostics.push(
      diagnostic(
        'error',
        'E_MODULE_STATE',
        where,
        w.global
          ? `task \`${cell.task}\` calls \`${called}\` from the local module \`${from.module}\`, which${chain} ${w.what.replace(/ of$/, '')} in ${w.file ?? mod.file} (line ${w.line}), a property of the global object: ${MODULE_STATE_WHY.replace("the module's top-level state", 'the global object')}`
          : `task \`${cell.task}\` calls \`${called}\` from the local module \`${from.module}\`, which${chain} ${w.what} \`${w.state}\`, a top-level variable of ${w.file ?? mod.file} (line ${w.line}): ${MODULE_STATE_WHY}`,
        {
          hint: w.memo
            ? MEMO_HINT
            : `have \`${exported}\` take what it needs as parameters and return a new value instead of changing ${w.global ? 'a global' : `\`${w.state}\``}, or call it in one task and output the result to the tasks that read it`,
          snippet: lineOf(cell, ref.line),
        },
      ),
    );
  }
}

/** `counter.bump` used through the import of `imported` as `local`: its name in the module. */
function exportedAs(imported: string, local: string, used: string): string {
  const rest = used.slice(local.length);
  return imported === '*' ? rest.slice(1) : imported + rest;
}

// --- per task: inputs, params, outputs ---------------------------------------------------

/** Output names each producing task must store, by task. */
type Consumed = Map<string, Set<string>>;

const consume = (consumed: Consumed, task: string, name: string) => {
  const set = consumed.get(task) ?? new Set<string>();
  set.add(name);
  consumed.set(task, set);
};

/** Each task's inputs (another task's data it reads) and params; functions crossing tasks are errors. */
function deriveInputs(s: LinkState): { consumed: Consumed; readByTasks: Set<string> } {
  const consumed: Consumed = new Map();
  const readByTasks = new Set<string>(); // tasks some other task reads from
  // A class declared in a task is code, and its instances may cross to later tasks that never
  // name it (`model.nearest(x)`): those need the class itself to rebuild them. Closing over no
  // task value, it goes to shared.ts, exported, where the runtime finds it by module and name.
  // A class declared again in a later cell is another version, exported under its own name
  // (`Acc_2`, nameSharedVersions), so instances of each come back as that version.
  for (const v of Object.values(s.versions))
    if (v.owner.kind === 'task' && v.kind === 'class' && !v.shared)
      if (capturedTaskValues(s, v).length === 0) v.shared = true;
  for (const task of s.tasks.values()) {
    const ids = [...(s.uses.get(task.name) ?? [])].sort();
    task.uses = ids;
    const inputs = new Map<string, TaskNode['inputs'][number]>();
    const paramNames = new Set<string>();
    for (const id of ids) {
      const v = s.versions[id]!;
      if (v.owner.kind === 'params') paramNames.add(v.name);
      if (v.owner.kind !== 'task' || v.owner.task === task.name) continue;
      if (!VALUE_KINDS.has(v.kind) || id.includes(':type:')) continue; // types are imported, not passed
      if (!DATA_KINDS.has(v.kind) || v.callable) {
        // A helper declared in one task and called by later ones: code, not data. Closing over
        // nothing a task computes, it is shared (emitted into shared.ts); otherwise it would
        // carry one task's values into another, which only data inputs may do.
        const captured = capturedTaskValues(s, v);
        if (captured.length === 0 && (v.kind === 'function' || v.kind === 'class' || v.callable)) {
          v.shared = true;
          continue;
        }
        const use = s.firstUse.get(`${task.name}|${id}`)!;
        const what = v.callable ? 'function' : v.kind;
        s.diagnostics.push(
          diagnostic(
            'error',
            'E_FUNCTION_CROSSES_TASK',
            at(s, use.cell, use.line, use.column),
            `task \`${task.name}\` uses ${what} \`${v.name}\`, declared in task \`${v.owner.task}\` (cell ${v.cell + 1})${captured.length ? `, which reads ${captured.map((c) => `\`${c.name}\``).join(', ')} of ${ownerWords(captured[0]!.owner)}` : ''}: only data can pass between tasks`,
            {
              hint: captured.length
                ? `make \`${v.name}\` take ${captured.map((c) => `\`${c.name}\``).join(', ')} as ${captured.length === 1 ? 'an argument' : 'arguments'} instead of reading ${captured.length === 1 ? 'it' : 'them'}: then it closes over no task value and is shared between tasks`
                : 'move the declaration into a setup cell (before the first task), so every task module can import it',
              snippet: lineOf(use.cell, use.line),
            },
          ),
        );
        continue;
      }
      inputs.set(v.name, { name: v.name, fromTask: v.owner.task, versionId: id });
      consume(consumed, v.owner.task, v.name);
      readByTasks.add(v.owner.task);
    }
    task.inputs = [...inputs.values()].sort((x, y) => (x.name < y.name ? -1 : 1));
    task.params = [...paramNames].sort();
  }
  return { consumed, readByTasks };
}

/**
 * The names shared.ts exports its helpers under. A notebook may redeclare a helper in a later
 * cell (`function g` in task `a`, again in task `c`): both versions are shared, and one module
 * cannot export `g` twice, so the first keeps its name and each later one gets a fresh name
 * (`g_2`, `Version.sharedAs`) that its readers import and call it by. So does a shared helper
 * whose name setup or an import holds (a task may read both). A fresh name is clear of every
 * identifier of the notebook's cells, so it shadows nothing in any module it lands in.
 */
function nameSharedVersions(s: LinkState): void {
  const shared = Object.values(s.versions)
    .filter((v) => v.shared)
    .sort((x, y) => x.cell - y.cell || (x.id < y.id ? -1 : 1));
  const taken = new Set<string>();
  for (const v of Object.values(s.versions))
    if (v.kind === 'import' || v.owner.kind === 'setup') taken.add(v.name);
  const clashes = shared.filter((v) => {
    const clash = taken.has(v.name);
    taken.add(v.name);
    return clash;
  });
  if (clashes.length === 0) return;
  const used = new Set<string>(Object.values(s.versions).map((v) => v.name));
  for (const a of s.input.analyses.values()) for (const name of a.identifiers) used.add(name);
  for (const v of clashes) {
    let name = v.name;
    for (let i = 2; used.has(name); i++) name = `${v.name}_${i}`;
    used.add(name);
    v.sharedAs = name;
  }
}

/**
 * The values of tasks and params a function or class declaration reads (its free names bound to
 * versions of a task or the params cell), in order of appearance. Imports, setup and globals do
 * not count: the shared module can import them too. The declaration's own name does not count.
 */
function capturedTaskValues(s: LinkState, v: Version, seen = new Set<string>()): Version[] {
  seen.add(v.id);
  const decl = s.input.analyses
    .get(v.cell)
    ?.declarations.find((d) => d.name === v.name && VALUE_KINDS.has(d.kind));
  if (!decl) return [v];
  const found = new Map<string, Version>();
  for (const b of s.bindings[v.cell] ?? []) {
    if (b.start < decl.statement.start || b.end > decl.statement.end || b.versionId === v.id)
      continue;
    const read = s.versions[b.versionId];
    if (
      !read ||
      read.kind === 'import' ||
      read.owner.kind === 'setup' ||
      read.shared ||
      seen.has(read.id)
    )
      continue;
    // Another helper of a task that itself closes over nothing: shared along with this one.
    if (
      read.owner.kind === 'task' &&
      (read.kind === 'function' || read.kind === 'class' || read.callable) &&
      capturedTaskValues(s, read, seen).length === 0
    ) {
      read.shared = true;
      continue;
    }
    // A type declared in a task would have to be imported from that task's module: not shared.
    found.set(read.id, read);
  }
  return [...found.values()];
}

/** Test cells: what they read (outputs to keep), a task that does not exist, a value checked mid-task. */
function checkTests(s: LinkState, consumed: Consumed): void {
  const { tasks } = s;
  for (const test of s.tests) {
    const ids = [...(s.uses.get(`test:${test.cell}`) ?? [])].sort();
    test.uses = ids;
    for (const id of ids) {
      const v = s.versions[id]!;
      if (v.owner.kind === 'task' && DATA_KINDS.has(v.kind) && !v.callable)
        consume(consumed, v.owner.task, v.name);
    }
    const testCell = cellAt(s, test.cell);
    if (!tasks.has(test.task)) {
      const guess = suggest(test.task, tasks.keys());
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_UNKNOWN_TASK',
          at(s, testCell, 1),
          `test cell names task \`${test.task}\`, which does not exist`,
          {
            hint: guess
              ? `did you mean \`${guess}\`?`
              : `tasks are: ${[...tasks.keys()].join(', ') || '(none)'}`,
            snippet: `//| test: ${test.task}`,
          },
        ),
      );
    }
    // A test cell between two cells of its task: the notebook checked the value as it was then,
    // the generated test gets the task's final outputs. Say so when a later cell changes it.
    const task = tasks.get(test.task);
    const later = task?.cells.filter((i) => i > test.cell) ?? [];
    if (!task || later.length === 0) continue;
    const changedIn = new Map<string, number>();
    for (const i of later) {
      const a = s.input.analyses.get(i);
      for (const d of a?.declarations ?? [])
        if (DATA_KINDS.has(d.kind) && !changedIn.has(d.name)) changedIn.set(d.name, i);
      for (const m of a?.mutations ?? []) if (!changedIn.has(m.name)) changedIn.set(m.name, i);
    }
    for (const id of ids) {
      const v = s.versions[id]!;
      const changer = changedIn.get(v.name);
      if (
        v.owner.kind !== 'task' ||
        v.owner.task !== test.task ||
        !DATA_KINDS.has(v.kind) ||
        changer === undefined
      )
        continue;
      const use = s.firstUse.get(`test:${test.cell}|${id}`);
      s.diagnostics.push(
        diagnostic(
          'warning',
          'W_TEST_SEES_LATER_VALUE',
          at(s, testCell, use?.line ?? 1, use?.column),
          `this test checks \`${v.name}\` in the middle of task \`${test.task}\`, and cell ${changer + 1} changes it afterwards: the generated test sees the task's final \`${v.name}\`, not the value checked here`,
          {
            hint: `move this test below cell ${task.cells[task.cells.length - 1]! + 1}, the task's last cell (or start a new task at cell ${later[0]! + 1})`,
            snippet: use ? lineOf(testCell, use.line) : undefined,
          },
        ),
      );
    }
  }
}

/** The last data version of `name` among a task's cells. */
function lastVersionOf(s: LinkState, task: TaskNode, name: string): Version | undefined {
  let last: Version | undefined;
  for (const cellIndex of task.cells) {
    const v = s.versions[`${cellIndex}:${name}`];
    if (v && DATA_KINDS.has(v.kind)) last = v;
  }
  return last;
}

/** Each task's outputs: what others read, what `//| output:` names, and everything of a leaf task. */
function deriveOutputs(s: LinkState, consumed: Consumed, readByTasks: Set<string>): void {
  const reassigned = new Map<number, Version[]>();
  for (const v of Object.values(s.versions))
    if (v.reassignedAt !== undefined)
      reassigned.set(v.cell, [...(reassigned.get(v.cell) ?? []), v]);
  for (const task of s.tasks.values()) {
    const outputs = new Map<string, TaskOutput>();
    const names = new Set(consumed.get(task.name) ?? []);
    const explicit = task.cells.flatMap((i) => cellAt(s, i).directives.outputs);
    const envValues = new Set<string>();
    if (!readByTasks.has(task.name)) {
      // A leaf: no task reads it, so keep every value it computes (its results are the point).
      // Functions (`const f = () => …`) are code, not results: there is nothing to store. Values
      // read from the environment (secrets, most often) are kept only when `//| output` asks.
      for (const i of task.cells)
        for (const d of s.input.analyses.get(i)?.declarations ?? [])
          if (DATA_KINDS.has(d.kind) && !d.callable) (d.fromEnv ? envValues : names).add(d.name);
      for (const i of task.cells) for (const v of reassigned.get(i) ?? []) names.add(v.name);
    }
    for (const o of explicit) {
      if (!lastVersionOf(s, task, o.name)) {
        const cell = cellAt(s, task.cells[0]!);
        s.diagnostics.push(
          diagnostic(
            'error',
            'E_UNKNOWN_OUTPUT',
            at(s, cell, 1),
            `\`//| output: ${o.name}=${o.codec}\` names \`${o.name}\`, which task \`${task.name}\` does not declare`,
            { hint: 'name a top-level const/let of the task' },
          ),
        );
      } else names.add(o.name);
    }
    for (const name of [...names].sort()) {
      const v = lastVersionOf(s, task, name);
      if (!v) continue;
      const codec = explicit.filter((o) => o.name === name).pop()?.codec;
      outputs.set(name, { name, versionId: v.id, ...(codec ? { codec } : {}) });
    }
    task.outputs = [...outputs.values()];
    // Said by `cellar plan` (and `cellar show`, from the generated module): which values were
    // left out and how to keep one.
    const left = [...envValues].filter((name) => !outputs.has(name)).sort();
    if (left.length > 0) task.envValues = left;
    else delete task.envValues;
  }
}

/** What is left of a cell once display-only statements, imports and comments are cut. */
function leftOf(s: LinkState, cell: TaggedCell): string {
  const a = s.input.analyses.get(cell.index);
  const cut = [
    ...(s.dropped[cell.index] ?? []),
    ...(a?.imports.map((i) => i.statement) ?? []),
  ].sort((x, y) => y.start - x.start);
  let code = cell.code;
  for (const span of cut) code = code.slice(0, span.start) + code.slice(span.end);
  return code
    .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    .replace(/;/g, '')
    .trim();
}

/** A task with no code, or only display-only statements: a warning, since it computes nothing. */
function checkEmptyTasks(s: LinkState): void {
  const sqlHelpers = sqlHelperNames(s);
  for (const task of s.tasks.values()) {
    const taskCells = task.cells.map((i) => cellAt(s, i));
    const cell = s.taskStart.get(task.name)!;
    if (taskCells.every((c) => !c.code.trim())) {
      s.diagnostics.push(
        diagnostic('warning', 'W_EMPTY_TASK', at(s, cell, 1), `task \`${task.name}\` has no code`, {
          hint: 'put its code under the directive, or remove the directive',
        }),
      );
    } else if (taskCells.every((c) => !leftOf(s, c))) {
      s.diagnostics.push(
        diagnostic(
          'warning',
          'W_EMPTY_TASK',
          at(s, cell, 1),
          `task \`${task.name}\` only shows values (statements like \`df.length;\`, left out of the pipeline): it computes nothing`,
          {
            hint: 'tag the cell `//| explore` if it is there to look at data, or give the task some work',
          },
        ),
      );
    }
  }
}

/**
 * A task reading the run's time (`Date.now()`, `new Date()`, SQL's `current_date`, `now()`) is
 * cached with the first run's: a "last 7 days" window stays where that run put it, and nothing
 * in the key moves when the day does. A warning at the first read (once per task), unless the
 * task runs every time (`//| rerun`). Why not key the time: a key of the day (or hour) would guess
 * the task's resolution, and a key of the instant would never hit; the author knows which.
 */
function checkClockReads(s: LinkState): void {
  const formatters = setupFormatters(s);
  const helpers = setupClockNames(s, formatters);
  for (const task of s.tasks.values()) {
    if (task.rerun) continue;
    const reads: { call: string; via?: string; line: number; column?: number; cell: TaggedCell }[] =
      task.cells.flatMap((i) =>
        clockReadsOf(s, i, formatters).map((r) => ({ ...r, cell: cellAt(s, i) })),
      );
    // Names the task's own cells import from a local module reading the clock, used in any of them.
    const imported = new Map(task.cells.flatMap((i) => [...(s.input.moduleClock?.get(i) ?? [])]));
    for (const i of task.cells) {
      if (helpers.size === 0 && imported.size === 0) continue;
      for (const r of s.input.analyses.get(i)?.references ?? []) {
        if (r.meaning !== 'value') continue;
        const key = memberKeys(r, s.input.analyses.get(i)?.memberTakes).find(
          (k) => imported.has(k) || (!r.own && helpers.has(k)),
        );
        const m = key === undefined ? undefined : imported.get(key);
        const h: SetupClockName | undefined = m
          ? { ...m, cell: i, kind: 'helper' }
          : r.own || key === undefined
            ? undefined
            : helpers.get(key);
        if (!h) continue;
        reads.push({
          call: h.call,
          via: clockVia(key!, h),
          line: r.line,
          column: r.column,
          cell: cellAt(s, i),
        });
      }
    }
    reads.sort((x, y) => x.cell.index - y.cell.index || x.line - y.line);
    const first = reads[0];
    if (!first) continue;
    const calls = [...new Set(reads.map((r) => r.via ?? `\`${r.call}\``))];
    s.diagnostics.push(
      diagnostic(
        'warning',
        'W_TASK_READS_CLOCK',
        at(s, first.cell, first.line, first.column),
        `task \`${task.name}\` reads the current time (${calls.join(', ')}): its result is cached with the time of the run that made it, and later runs reuse it as the clock moves on (a "last 7 days" window stays where that run put it)`,
        {
          hint: `make the date a param (a \`//| params\` cell with \`const asOf = '2026-01-31'\`, then \`cellar run … --param asOf=…\`), or tag the task \`//| rerun\` to run it on every run`,
          snippet: lineOf(first.cell, first.line),
        },
      ),
    );
  }
}

/**
 * Setup names holding a date formatter (`const fmt = new Intl.DateTimeFormat('en')`): its
 * `format()` with no date, in another cell, reads the clock.
 */
function setupFormatters(s: LinkState): Set<string> {
  const out = new Set<string>();
  for (const [i, a] of s.input.analyses)
    if (s.cellByIndex.get(i)?.role === 'setup') for (const n of a.dateFormatters ?? []) out.add(n);
  return out;
}

/** A cell's clock reads, with its `format()` calls on a setup formatter. */
function clockReadsOf(
  s: LinkState,
  index: number,
  formatters: ReadonlySet<string>,
): NonNullable<CellAnalysis['clockReads']> {
  const a = s.input.analyses.get(index);
  const held = (a?.formatCalls ?? []).filter((c) => formatters.has(c.name));
  return held.length ? [...(a?.clockReads ?? []), ...held] : (a?.clockReads ?? []);
}

/**
 * A reference's name, then with each property read on it (`t`, `t.today`, `t.today.x`): how a
 * namespace's or an object's member is looked up in a map keyed by qualified names.
 */
function memberKeys(r: Reference, takes?: CellAnalysis['memberTakes']): string[] {
  const path = r.path ?? (r.member !== undefined ? [r.member] : []);
  const keys = [r.name];
  for (const p of path) keys.push(`${keys[keys.length - 1]}.${p}`);
  // `const { today } = t`: the members taken from the name.
  for (const m of takes?.find((t) => t.start === r.start)?.members ?? [])
    keys.push(`${r.name}.${m}`);
  return keys;
}

/** How a name reads the clock, for the warning: `today`, a setup helper calling `new Date()` at cell 1, line 2. */
function clockVia(name: string, h: SetupClockName): string {
  const read = h.path
    ? `\`${h.call}\` at ${h.path}, line ${h.line}`
    : `\`${h.call}\` at cell ${h.cell + 1}, line ${h.line}`;
  if (h.through) return `\`${name}\`, a setup ${h.kind} using \`${h.through}\` (${read})`;
  if (h.path) return `\`${name}\`, a local module's helper reading ${read}`;
  return `\`${name}\`, a setup ${h.kind} ${h.kind === 'helper' ? 'calling' : 'computed with'} ${read}`;
}

interface SetupClockName {
  call: string;
  cell: number;
  line: number;
  kind: 'helper' | 'value';
  /** The setup name used, when this one reads the clock through it. */
  through?: string;
  /** The local module reading it, when it is imported. */
  path?: string;
}

/**
 * The setup names whose use reads the clock, by name, with the first read behind each: a helper
 * reading it in its body (`function today() { return new Date(); }`), a value computed with it
 * while setup loads (`const YEAR = new Date().getFullYear()`: a task reading `YEAR` is cached
 * with the year of its first run), and any helper or value using one of those
 * (`const LABEL = \`FY${YEAR}\``), across setup cells. A read is the top-level declaration whose
 * statement holds it; a class is left out (a method reading the clock, to log, is not the
 * instance's value).
 */
function setupClockNames(
  s: LinkState,
  formatters: ReadonlySet<string>,
): Map<string, SetupClockName> {
  const found = new Map<string, SetupClockName>();
  const setup = [...s.input.analyses]
    .filter(([i]) => s.cellByIndex.get(i)?.role === 'setup')
    .sort(([x], [y]) => x - y);
  const holders = (a: CellAnalysis, at: number) =>
    a.declarations.filter(
      (d) => d.kind !== 'class' && d.statement.start <= at && at < d.statement.end,
    );
  const kindOf = (d: Declaration) =>
    d.kind === 'function' || d.callable ? ('helper' as const) : ('value' as const);
  for (const [index, a] of setup)
    for (const r of clockReadsOf(s, index, formatters)) {
      const names =
        r.start !== undefined
          ? holders(a, r.start)
          : a.declarations.filter((d) => d.name === r.inside);
      for (const d of names)
        if (!found.has(d.name))
          found.set(d.name, { call: r.call, cell: index, line: r.line, kind: kindOf(d) });
    }
  // Names setup imports from a local module reading the clock (`import { today } from './lib/time.js'`).
  for (const [index] of setup)
    for (const [name, r] of s.input.moduleClock?.get(index) ?? [])
      if (!found.has(name))
        found.set(name, { call: r.call, cell: index, line: r.line, kind: 'helper', path: r.path });
  // Uses of those, to a fixed point (each pass adds a name, or ends); each use's holders found once.
  if (found.size === 0) return found;
  const uses = setup.flatMap(([, a]) =>
    a.references
      .filter((r) => r.meaning === 'value')
      .map((r) => ({ names: memberKeys(r, a.memberTakes), holders: holders(a, r.start) }))
      .filter((u) => u.holders.length > 0),
  );
  for (let changed = found.size > 0; changed;) {
    changed = false;
    for (const u of uses) {
      const name = u.names.find((k) => found.has(k));
      const h = name === undefined ? undefined : found.get(name);
      if (!h) continue;
      for (const d of u.holders)
        if (!found.has(d.name)) {
          found.set(d.name, { ...h, kind: kindOf(d), through: name! });
          changed = true;
        }
    }
  }
  return found;
}

// --- warehouse facts and upstream edges ------------------------------------------------------

/** SQL reads, dialect and materialized table per task; a read of another task's table is an upstream edge. */
function linkWarehouse(s: LinkState): void {
  const materializedBy = new Map<string, string>();
  for (const task of s.tasks.values()) {
    for (const i of task.cells) {
      const m = cellAt(s, i).directives.materialize;
      if (m) materializedBy.set(m, task.name);
    }
  }
  const sqlHelpers = sqlHelperNames(s);
  for (const task of s.tasks.values()) {
    const taskCells = task.cells.map((i) => cellAt(s, i));
    const dialect = taskCells.find((c) => c.directives.dialect)?.directives.dialect;
    const materialize = taskCells.find((c) => c.directives.materialize)?.directives.materialize;
    const cellReads = task.cells.map((i) => s.input.analyses.get(i)?.sqlReads);
    const reads = [...new Set(cellReads.flatMap((r) => r ?? []))].sort();
    const tables: Record<string, string> = {};
    for (const r of reads) {
      for (const [table, producer] of materializedBy) {
        if (producer !== task.name && (r === table || r.endsWith(`.${table}`)))
          tables[r] = producer;
      }
    }
    // A task calling a setup helper that runs sql`` (or a local module's function, when the
    // notebook uses sql at all) is a warehouse task too: its reads cannot be listed here, so the
    // runtime records the tables it reads and keys on them from then on (tasks/reads.ts).
    const usesSql =
      cellReads.some((r) => r !== undefined) ||
      task.cells.some((i) =>
        (s.input.analyses.get(i)?.references ?? []).some((r) => !r.own && sqlHelpers.has(r.name)),
      );
    if (dialect || materialize || usesSql) {
      const w: WarehousePlan = { reads, tables };
      const files = [
        ...new Set(task.cells.flatMap((i) => s.input.analyses.get(i)?.sqlFiles ?? [])),
      ].sort();
      if (files.length > 0) w.files = files;
      if (dialect) w.dialect = dialect;
      if (materialize) w.materialize = materialize;
      task.warehouse = w;
    }
    task.upstream = [
      ...new Set([...task.inputs.map((i) => i.fromTask), ...Object.values(tables)]),
    ].sort();
  }
}

/** Names from setup that may run SQL: declared in a setup cell holding sql`` templates, or
 *  imported from a local module (`./`, `../`) by a notebook whose setup imports the cellar package. */
function sqlHelperNames(s: LinkState): Set<string> {
  const names = new Set<string>();
  const setup = s.setupCells
    .map((i) => s.input.analyses.get(i))
    .filter((a): a is CellAnalysis => a !== undefined);
  const usesCellar = setup.some((a) => a.imports.some((d) => d.module === 'cellar'));
  for (const a of setup) {
    if (a.sqlTemplates.length > 0) for (const d of a.declarations) names.add(d.name);
    if (usesCellar)
      for (const d of a.imports)
        if (/^\.\.?\//.test(d.module))
          for (const b of d.bindings) if (!b.typeOnly) names.add(b.local);
  }
  return names;
}

// --- cycles and order ------------------------------------------------------------------------

/**
 * Tasks in a topological order (upstream first, notebook order among equals), or undefined after
 * reporting the first cycle found. runtime/run/graph.ts does the same for a loaded pipeline,
 * whose tasks need not come from a notebook.
 */
function orderTasks(s: LinkState): TaskNode[] | undefined {
  const order: TaskNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  let cycleFound = false;
  const visit = (name: string) => {
    if (state.get(name) === 'done' || cycleFound) return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const cell = s.taskStart.get(name)!;
      s.diagnostics.push(
        diagnostic(
          'error',
          'E_DEPENDENCY_CYCLE',
          at(s, cell, 1),
          `tasks depend on each other: ${cycle.join(' → ')}`,
          {
            hint: 'a task may only read values and tables of tasks that do not read its own; split one of them',
          },
        ),
      );
      cycleFound = true;
      return;
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const up of s.tasks.get(name)?.upstream ?? []) visit(up);
    stack.pop();
    state.set(name, 'done');
    order.push(s.tasks.get(name)!);
  };
  for (const name of s.tasks.keys()) visit(name);
  return cycleFound ? undefined : order;
}
