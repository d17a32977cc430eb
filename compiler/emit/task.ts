// emitTaskModule / emitSetupModule: one TaskNode (or the setup cells) → one TypeScript module.
//
// A task module exports a pure function (inputs and params in, outputs out) holding the cells'
// code unchanged but for hoisted imports and renamed redeclarations, and a `defineTask` record for
// the runtime. Values crossing tasks are typed as `TaskOutputs<typeof upstreamTask>['name']`, so
// tsc infers real types from the upstream function's return without the compiler ever running
// the type checker. Setup cells become one shared module whose declarations are exported.
import type {
  Binding,
  CellAnalysis,
  ImportDecl,
  EmittedFile,
  Span,
  TaggedCell,
  TaskNode,
  TaskPlan,
  Version,
} from '../types.js';
import {
  HEADER,
  ImportSet,
  NameAllocator,
  cellLabel,
  cellName,
  codeExt,
  docComment,
  header,
  identifierFor,
  rewriteCell,
  taskFile,
  fromNotebook,
} from './module.js';

export { fromNotebook };

export interface EmitContext {
  plan: TaskPlan;
  cells: ReadonlyMap<number, TaggedCell>;
  analyses: ReadonlyMap<number, CellAnalysis>;
  /** The notebook's folder relative to generated/<stem>/ (forward slashes). */
  workdir: string;
  /** Whether a setup module is emitted (setup cells hold more than imports). */
  hasSetupModule: boolean;
  /**
   * The compile memory's key of each cell's analysis (program.ts `analysisText`, hashed), by cell
   * index, when the compile has them: `taskModuleInputs` names an analysis by it instead of
   * spelling it out. Only emission's memo reads it.
   */
  analysisKeys?: ReadonlyMap<number, string>;
}

const VALUE_KINDS = new Set(['const', 'let', 'var', 'function', 'class', 'enum', 'namespace']);

/**
 * The name a version goes by outside its own task's function: a shared helper's export name in
 * shared.ts (`g_2` for a later `function g`, link.ts `nameSharedVersions`), else its own.
 */
export const sharedName = (v: Version): string => (v.shared && v.sharedAs) || v.name;
const TYPE_DECL_KINDS = new Set(['interface', 'type']);

/**
 * Names the emitter itself puts at the top level of a task or pipeline module (its `cellar`
 * imports), which a task const must not take: a task named `define` would otherwise export
 * `defineTask` beside the import of `defineTask`.
 */
const EMITTER_NAMES = ['defineTask', 'output', 'TaskOutputs', 'Deno', 'definePipeline'];

/**
 * Task name → the name of its `defineTask` const (`load-data` → `loadDataTask`), unique in the
 * pipeline: task names that differ only in `-`, `_`, `.` (`x-y`, `x_y`, `x.y`) share a camel-case
 * form, and pipeline.ts imports every const under its own name. Nor is it a name user code may put
 * at a module's top level (a setup value, an import, a shared helper, a type), or the module
 * declaring the const would import that name too: `const loadTask = 5` in setup makes the task
 * `load`'s const `loadTask_2`. Suffixes (`_2`, `_3`) go by task name in code-unit order, so they
 * stay put when cells move; the map is computed once per plan.
 */
export function taskConsts(plan: TaskPlan): ReadonlyMap<string, string> {
  let consts = taskConstsByPlan.get(plan);
  if (consts) return consts;
  const taken = new NameAllocator(EMITTER_NAMES);
  for (const v of Object.values(plan.versions))
    if (v.owner.kind === 'setup' || v.kind === 'import' || v.shared || TYPE_DECL_KINDS.has(v.kind))
      taken.reserve(sharedName(v));
  consts = new Map(
    plan.tasks
      .map((t) => t.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((name) => [name, taken.fresh(`${identifierFor(name)}Task`)]),
  );
  taskConstsByPlan.set(plan, consts);
  return consts;
}
const taskConstsByPlan = new WeakMap<TaskPlan, ReadonlyMap<string, string>>();

/** The name of task `task`'s `defineTask` const in every module (see `taskConsts`). */
export const taskConst = (plan: TaskPlan, task: string): string => taskConsts(plan).get(task)!;

/** Is every use of this version, in these cells, in a type position? */
export function onlyTypeUses(ctx: EmitContext, cells: number[], versionId: string): boolean {
  for (const i of cells)
    for (const b of ctx.plan.bindings[i] ?? [])
      if (b.versionId === versionId && b.meaning === 'value') return false;
  return true;
}

/** The versions a task's code still reads once its shared helpers moved to shared.ts. */
function usesLeftInTask(ctx: EmitContext, task: TaskNode): string[] {
  const moved = new Map<number, Span[]>();
  for (const i of task.cells) {
    const spans = (ctx.analyses.get(i)?.declarations ?? [])
      .filter((d) => ctx.plan.versions[`${i}:${d.name}`]?.shared)
      .map((d) => d.statement);
    if (spans.length) moved.set(i, spans);
  }
  if (moved.size === 0) return task.uses;
  const inMoved = (i: number, b: Span) =>
    (moved.get(i) ?? []).some((m) => b.start >= m.start && b.end <= m.end);
  return task.uses.filter(
    (id) =>
      ctx.plan.versions[id]?.shared ||
      task.cells.some((i) =>
        (ctx.plan.bindings[i] ?? []).some((b) => b.versionId === id && !inMoved(i, b)),
      ),
  );
}

const within = (spans: readonly Span[], at: number) =>
  spans.some((s) => at >= s.start && at < s.end);

/**
 * Does the code of these cells that the module keeps (`keep`) call a mapped `Deno.*` API?
 * Displays the link stage dropped (`Deno.jupyter.md…`) do not count.
 */
function usesDeno(
  ctx: EmitContext,
  cells: readonly number[],
  keep: (cell: number, at: number) => boolean = () => true,
): boolean {
  return cells.some((i) =>
    (ctx.analyses.get(i)?.denoUses ?? []).some(
      (u) => !within(ctx.plan.dropped[i] ?? [], u.start) && keep(i, u.start),
    ),
  );
}

/** The import of the runtime's Deno shim (runtime/deno.ts) where the code calls one of its APIs. */
export function addDenoShim(
  ctx: EmitContext,
  imports: ImportSet,
  cells: readonly number[],
  keep?: (cell: number, at: number) => boolean,
): void {
  if (usesDeno(ctx, cells, keep)) imports.add('cellar', 'Deno', 'Deno', false);
}

/**
 * The imports of these cells that take a value (not only types) from a local module: a relative
 * path, a subpath import (`#lib/x`, package.json `imports`) or an absolute path. The notebook's
 * kernel loaded each such module where the cell ran, whether the cell used the value or not
 * (tslab keeps every value import for later cells), and its load may fill a registry
 * (`import { PLUGINS } from './lib/plugins'`). Packages are left out on purpose: without the type
 * checker an unused `import { Property } from 'csstype'` cannot be told from a value import, and
 * a package of types only (csstype, type-fest) has no code to load, so loading it would fail
 * where the kernel erased it; a local module always has a file (E_UNRESOLVED_IMPORT), and one
 * holding only types loads as an empty module.
 */
function localValueImports(ctx: EmitContext, cells: readonly number[]): ImportDecl[] {
  const out: ImportDecl[] = [];
  for (const i of cells)
    for (const imp of ctx.analyses.get(i)?.imports ?? [])
      if (/^[.#/]/.test(imp.module) && imp.bindings.some((b) => !b.typeOnly)) out.push(imp);
  return out;
}

/** Route every outside version a group of cells uses to the import that provides it. */
export function addOutsideImports(
  ctx: EmitContext,
  imports: ImportSet,
  cells: number[],
  uses: string[],
  self: string | undefined,
): Set<string> {
  const names = new Set<string>();
  // Does the code use a value some module hands out (a package's or a local module's)? Then a
  // local module setup imported may have filled it as it loaded (below).
  let usesModuleValue = false;
  for (const id of uses) {
    const v = ctx.plan.versions[id]!;
    if (v.shared) {
      const name = sharedName(v);
      imports.add('./shared.js', name, name, onlyTypeUses(ctx, cells, id));
      names.add(name);
      continue;
    }
    if (v.owner.kind === 'task' && v.owner.task === self) continue;
    if (cells.includes(v.cell) && v.kind !== 'import') continue;
    if (v.kind === 'import' && v.importFrom) {
      const typeOnly = v.importFrom.typeOnly || onlyTypeUses(ctx, cells, id);
      const module = v.importFrom.module;
      if (!typeOnly && !module.startsWith('node:') && module !== 'cellar') usesModuleValue = true;
      imports.add(
        fromNotebook(ctx.workdir, module),
        v.importFrom.imported,
        v.name,
        typeOnly,
        v.importFrom.attributes,
      );
    } else if (v.owner.kind === 'setup') {
      imports.add(
        './setup.js',
        v.name,
        v.name,
        TYPE_DECL_KINDS.has(v.kind) || onlyTypeUses(ctx, cells, id),
      );
    } else if (v.owner.kind === 'task' && TYPE_DECL_KINDS.has(v.kind)) {
      imports.add(`./${taskFile(v.owner.task)}.js`, v.name, v.name, true);
    }
    names.add(v.name);
  }
  // Side-effect imports (`import './lib/register'`): the cells' own, and setup's, which every
  // later cell saw run in the notebook. In the module itself, so the effect happens wherever the
  // module is loaded (a worker, a built function, a test) and its code is in the task's key.
  for (const i of [...ctx.plan.setupCells, ...cells])
    for (const imp of ctx.analyses.get(i)?.imports ?? [])
      if (imp.bindings.length === 0)
        imports.addSideEffect(fromNotebook(ctx.workdir, imp.module), imp.attributes);
  // A local module setup imports for a value this code does not use (`import { PLUGINS } from
  // './lib/plugins'`) may fill, as it loads, a registry the code reads through another module:
  // in the notebook it had run. Loaded here whenever the code uses a module's value, so the
  // effect happens and its code is in the key; code using no module value (a sum of upstream
  // values) stays keyed on its own code only, as an edit of a helper it never reaches must not
  // re-run it. (A registry reached through setup's own values: setup.js loads them all.)
  if (usesModuleValue)
    for (const imp of localValueImports(ctx, ctx.plan.setupCells))
      imports.addSideEffect(fromNotebook(ctx.workdir, imp.module), imp.attributes);
  // A local module these cells import for a value is loaded by this module, used or not: the
  // cell loaded it in the notebook, and the effect of its load (a registry filled) belongs to
  // this code's result, as its code to this code's key.
  for (const imp of localValueImports(ctx, cells))
    imports.addSideEffect(fromNotebook(ctx.workdir, imp.module), imp.attributes);
  const sharedSpans = (i: number) =>
    (ctx.analyses.get(i)?.declarations ?? [])
      .filter((d) => ctx.plan.versions[`${i}:${d.name}`]?.shared)
      .map((d) => d.statement);
  if (usesDeno(ctx, cells, (i, at) => !within(sharedSpans(i), at))) {
    imports.add('cellar', 'Deno', 'Deno', false);
    names.add('Deno');
  }
  return names;
}

const literal = (value: unknown): string =>
  JSON.stringify(value).replace(/"([A-Za-z_$][\w$]*)":/g, '$1:');

/** Module-level names the compiler adds to a task module, chosen to avoid every outside name. */
interface TaskNames {
  /** Local names of the `cellar` imports (`output`, `TaskOutputs` only when the task has inputs). */
  cellar: { defineTask: string; output: string; TaskOutputs: string };
  /** Upstream task → the local name of its imported `<task>Task` const. */
  upstreamConst: Map<string, string>;
  fn: string;
  constName: string;
  /** Names visible from outside the task function: imports, inputs, params. */
  outside: Set<string>;
}

/** Where a task's module goes: `<stem>/<task file>.ts` (`.js` for a JavaScript notebook). */
export const taskModulePath = (plan: TaskPlan, task: TaskNode): string =>
  `${plan.stem}/${taskFile(task.name)}.${codeExt(plan)}`;

/**
 * Everything `emitTaskModule(ctx, task)` reads, in two texts, so a compile can reuse the module an
 * earlier compile emitted from equal texts (a one-cell change to a 5,000-task notebook re-emits
 * one module, not 5,000). `planInputs` is what every task's module may read: the plan's versions
 * (by id, and all of them for the reassignments), its params, notebook, stem and language, the
 * setup cells, the workdir and whether there is a setup module. `taskModuleInputs` is the task's
 * own: its node, and of each of its cells the cell, its analysis, bindings and dropped spans.
 * Every value here is plain JSON (the compile cache stores plans and analyses as JSON), so equal
 * texts mean equal inputs. Keep them in step with what emitTaskModule and its helpers read:
 * test/compiler/incremental.test.ts compares a reusing compile with a fresh one across edits.
 */
export function planInputs(ctx: EmitContext): string {
  const { plan } = ctx;
  return JSON.stringify([
    plan.notebook,
    plan.stem,
    plan.language ?? null,
    plan.params,
    plan.versions,
    plan.setupCells,
    ctx.workdir,
    ctx.hasSetupModule,
  ]);
}

/**
 * The task's own part of what its module is emitted from (see `planInputs`). A cell's analysis is
 * named by its memory key when `ctx.analysisKeys` has it, not spelt out (its JSON was about half
 * of these texts, which a compile makes and hashes for every task): the compile's analysis of a
 * cell is the memory's entry under that key (an entry, once made, is never replaced, and the
 * cache record keeps an entry while any compiled cell uses it, so while any recorded task input
 * names it) stamped with the cell's index and id (in the cell, here) and the notebook's path (in
 * `planInputs`), plus the SQL facts the SQL stage adds (here too).
 */
export function taskModuleInputs(ctx: EmitContext, task: TaskNode): string {
  return JSON.stringify([
    task,
    // The consts' names hang on every task's name (taskConsts), which planInputs leaves out.
    [task.name, ...task.upstream].map((t) => taskConst(ctx.plan, t)),
    task.cells.map((i) => {
      const key = ctx.analysisKeys?.get(i);
      const analysis = ctx.analyses.get(i);
      return [
        ctx.cells.get(i) ?? null,
        key === undefined
          ? (analysis ?? null)
          : [key, analysis?.sqlReads ?? null, analysis?.sqlFiles ?? null],
        ctx.plan.bindings[i] ?? null,
        ctx.plan.dropped[i] ?? null,
      ];
    }),
  ]);
}

export function emitTaskModule(ctx: EmitContext, task: TaskNode): EmittedFile {
  const { plan } = ctx;
  const imports = new ImportSet();
  const names = taskModuleNames(ctx, task, imports);
  addParamTypeImports(ctx, task, imports);
  const { locals, hoisted, cutByCell } = taskLocals(ctx, task, names.outside);
  const nameOf = (v: Version) => locals.get(v.id) ?? sharedName(v);
  const text = [
    header(
      plan,
      task.cells.map((i) => ctx.cells.get(i)!),
    ),
    docComment(task.doc, ['@module']),
    imports.print(),
    hoisted.join('\n\n'),
    taskFunction(ctx, task, names, nameOf, cutByCell),
    `/** Task \`${task.name}\` for the runtime: what it reads, what it writes, how it is cached. */\n` +
      `export const ${names.constName} = ${names.cellar.defineTask}({\n${defineTaskFields(ctx, task, names).join(',\n')},\n});`,
  ].filter(Boolean);
  return { path: taskModulePath(plan, task), contents: text.join('\n\n') + '\n' };
}

/**
 * The setup cells' types a task's param types name (`const mode: Mode = 'fast'` in the params
 * cell, `type Mode = …` in setup): imported as types, since the task function's params are typed
 * by them (a tester's generated module failed `tsc` with "Cannot find name 'Mode'").
 */
function addParamTypeImports(ctx: EmitContext, task: TaskNode, imports: ImportSet): void {
  if (task.params.length === 0) return;
  const words = new Set<string>();
  for (const name of task.params)
    for (const w of ctx.plan.params.find((p) => p.name === name)?.type.match(/[A-Za-z_$][\w$]*/g) ??
      [])
      words.add(w);
  if (words.size === 0) return;
  const types = setupTypes(ctx.plan);
  for (const w of [...words].sort()) if (types.has(w)) imports.add('./setup.js', w, w, true);
}

/** Type names the setup cells declare (`type`, `interface`), once per plan. */
function setupTypes(plan: TaskPlan): Set<string> {
  let types = setupTypesByPlan.get(plan);
  if (!types) {
    types = new Set();
    for (const v of Object.values(plan.versions))
      if (v.owner.kind === 'setup' && TYPE_DECL_KINDS.has(v.kind)) types.add(v.name);
    setupTypesByPlan.set(plan, types);
  }
  return types;
}
const setupTypesByPlan = new WeakMap<TaskPlan, Set<string>>();

/** The module's imports (outside versions, `cellar`, upstream task consts) and the names it invents. */
function taskModuleNames(ctx: EmitContext, task: TaskNode, imports: ImportSet): TaskNames {
  const outside = addOutsideImports(ctx, imports, task.cells, usesLeftInTask(ctx, task), task.name);
  for (const input of task.inputs) outside.add(input.name);
  for (const p of task.params) outside.add(p);

  // Names the compiler invents live at module level: they must avoid every outside name, and the
  // types the task's cells declare, which move to module level.
  const cells = task.cells.map((i) => ctx.analyses.get(i));
  const hoistedTypes = cells.flatMap((a) =>
    (a?.declarations ?? []).filter((d) => TYPE_DECL_KINDS.has(d.kind)).map((d) => d.name),
  );
  const generated = new NameAllocator([...outside, ...hoistedTypes]);
  // taskConsts keeps it clear of every name user code puts at a module's top level.
  const constName = taskConst(ctx.plan, task.name);
  generated.reserve(constName);
  // Names in the task function's parameter types (`TaskOutputs<typeof loadTask>['a']`) resolve
  // in the function's scope, where the cells' own declarations live: avoid those too, or a cell's
  // `const loadTask` would become the type of an input.
  const body = new Set(cells.flatMap((a) => a?.identifiers ?? []));
  const inSignature = (base: string) => {
    let name = base;
    for (let i = 2; generated.has(name) || body.has(name); i++) name = `${base}_${i}`;
    generated.reserve(name);
    return name;
  };
  const cellar = {
    defineTask: generated.fresh('defineTask'),
    output: task.inputs.length ? generated.fresh('output') : '',
    TaskOutputs: task.inputs.length ? inSignature('TaskOutputs') : '',
  };
  imports.add('cellar', 'defineTask', cellar.defineTask, false);
  if (task.inputs.length) {
    imports.add('cellar', 'output', cellar.output, false);
    // A JS module names the type in JSDoc instead, as an import type of the runtime package.
    if (codeExt(ctx.plan) === 'ts') imports.add('cellar', 'TaskOutputs', cellar.TaskOutputs, true);
    else cellar.TaskOutputs = `import(${literal('cellar').replace(/"/g, "'")}).TaskOutputs`;
  }
  const upstreamConst = new Map<string, string>();
  for (const up of task.upstream) {
    const local = inSignature(taskConst(ctx.plan, up));
    upstreamConst.set(up, local);
    imports.add(`./${taskFile(up)}.js`, taskConst(ctx.plan, up), local, false);
  }
  const fn = generated.fresh(identifierFor(task.name));
  return { cellar, upstreamConst, fn, constName, outside };
}

/**
 * Local names of the versions the task declares: a redeclaration inside the one function scope
 * gets a fresh name (`df_2`), as does one that would shadow an outside name the task also reads.
 * Interfaces and type aliases move to module level, exported, so other modules can import them.
 */
function taskLocals(
  ctx: EmitContext,
  task: TaskNode,
  outside: Set<string>,
): { locals: Map<string, string>; hoisted: string[]; cutByCell: Map<number, Span[]> } {
  const cells = task.cells.map((i) => ctx.cells.get(i)!);
  const identifiers = new Set(cells.flatMap((c) => ctx.analyses.get(c.index)?.identifiers ?? []));
  const renamer = new NameAllocator([...identifiers, ...outside]);
  const bound = new Set(outside);
  const locals = new Map<string, string>();
  const hoisted: string[] = [];
  const cutByCell = new Map<number, Span[]>();
  for (const cell of cells) {
    const a = ctx.analyses.get(cell.index)!;
    for (const d of a.declarations) {
      if (TYPE_DECL_KINDS.has(d.kind)) continue;
      if (!VALUE_KINDS.has(d.kind)) continue;
      const id = `${cell.index}:${d.name}`;
      if (locals.has(id) || ctx.plan.versions[id]?.shared) continue;
      if (bound.has(d.name)) locals.set(id, renamer.fresh(d.name));
      else {
        locals.set(id, d.name);
        bound.add(d.name);
      }
    }
    // `df = …` of another task's `df` is a new version here: a `let` of its own (see link.ts).
    for (const v of reassignedIn(ctx, cell.index)) {
      if (locals.has(v.id)) continue;
      if (bound.has(v.name)) locals.set(v.id, renamer.fresh(v.name));
      else {
        locals.set(v.id, v.name);
        bound.add(v.name);
      }
    }
    const typeStatements = [
      ...new Map(
        a.declarations
          .filter((d) => TYPE_DECL_KINDS.has(d.kind))
          .map((d) => [d.statement.start, d.statement]),
      ).values(),
    ];
    // Shared helpers live in shared.ts (imported instead); the statement leaves the task.
    const sharedStatements = a.declarations
      .filter((d) => ctx.plan.versions[`${cell.index}:${d.name}`]?.shared)
      .map((d) => d.statement);
    cutByCell.set(cell.index, [...typeStatements, ...sharedStatements]);
    for (const s of typeStatements)
      hoisted.push(`export ${cell.code.slice(s.start, s.end).replace(/^export\s+/, '')}`);
  }
  return { locals, hoisted, cutByCell };
}

/** Versions a cell makes by reassigning another owner's name, in the order they appear. */
function reassignedIn(ctx: EmitContext, cell: number): Version[] {
  let byCell = reassignedByCell.get(ctx.plan);
  if (!byCell) {
    // Indexed once per plan: scanning every version for every cell is quadratic in the cells.
    byCell = new Map();
    for (const v of Object.values(ctx.plan.versions))
      if (v.reassignedAt !== undefined) byCell.set(v.cell, [...(byCell.get(v.cell) ?? []), v]);
    for (const vs of byCell.values()) vs.sort((x, y) => x.reassignedAt! - y.reassignedAt!);
    reassignedByCell.set(ctx.plan, byCell);
  }
  return byCell.get(cell) ?? [];
}
const reassignedByCell = new WeakMap<TaskPlan, Map<number, Version[]>>();

/** The task function: inputs and params destructured, the cells' code, the outputs returned. */
function taskFunction(
  ctx: EmitContext,
  task: TaskNode,
  names: TaskNames,
  nameOf: (v: Version) => string,
  cutByCell: Map<number, Span[]>,
): string {
  const { plan } = ctx;
  const body = task.cells
    .map((i) => {
      const cell = ctx.cells.get(i)!;
      const lets = reassignedIn(ctx, i).map((v) => ({ at: v.reassignedAt!, text: 'let ' }));
      const code = rewriteCell(
        cell,
        ctx.analyses.get(i)!,
        plan.bindings[i] ?? [],
        nameOf,
        plan.versions,
        [...(cutByCell.get(i) ?? []), ...(plan.dropped[i] ?? [])],
        lets,
        ctx.workdir,
      );
      return code ? `${cellLabel(cell)}\n${code}` : '';
    })
    .filter(Boolean)
    .join('\n\n');
  const returned = task.outputs.map((o) => {
    const local = nameOf(plan.versions[o.versionId]!);
    return local === o.name ? o.name : `${o.name}: ${local}`;
  });
  const paramPlans = task.params.map((name) => plan.params.find((p) => p.name === name)!);
  // Only the arguments the task reads: `run(inputs, params)` is positional, so a task with
  // params but no inputs still takes an (empty) inputs object first. Each is a pattern and a type.
  const inputsArg: [string, string] = task.inputs.length
    ? [
        `{ ${task.inputs.map((i) => i.name).join(', ')} }`,
        `{ ${task.inputs.map((i) => `${i.name}: ${names.cellar.TaskOutputs}<typeof ${names.upstreamConst.get(i.fromTask)}>['${i.name}']`).join('; ')} }`,
      ]
    : ['_inputs', 'Record<string, never>'];
  const args: [string, string][] = paramPlans.length
    ? [
        inputsArg,
        [
          `{ ${paramPlans.map((p) => p.name).join(', ')} }`,
          `{ ${paramPlans.map((p) => `${p.name}: ${p.type}`).join('; ')} }`,
        ],
      ]
    : task.inputs.length
      ? [inputsArg]
      : [];
  const takes = [task.inputs.length ? 'inputs' : '', paramPlans.length ? 'params' : '']
    .filter(Boolean)
    .join(' and ');
  const summary = `The code of task \`${task.name}\`${takes ? `: ${takes} in, outputs out` : ''}.`;
  // JavaScript: the same types as JSDoc (tsc matches a pattern parameter's @param by position).
  const js = codeExt(plan) === 'js';
  const doc = js
    ? docComment(summary, [
        args
          .map(
            ([, type], i) =>
              `@param {${type}} ${i === 0 && task.inputs.length ? 'inputs' : i === 0 ? '_inputs' : 'params'}`,
          )
          .join('\n'),
      ])
    : `/** ${summary} */`;
  const params = args.map(([pattern, type]) => (js ? pattern : `${pattern}: ${type}`));
  return (
    `${doc}\n` +
    `export ${task.async ? 'async ' : ''}function ${names.fn}(${params.join(', ')}) {\n${body}\n\nreturn { ${returned.join(', ')} };\n}`
  );
}

/** The fields of the task's `defineTask({...})` record, in order. */
function defineTaskFields(ctx: EmitContext, task: TaskNode, names: TaskNames): string[] {
  const { plan } = ctx;
  const paramPlans = task.params.map((name) => plan.params.find((p) => p.name === name)!);
  const fields: string[] = [
    `name: ${literal(task.name)}`,
    'module: import.meta.url',
    // Cell ids, not positions: this module is hashed into the task's key, and a markdown cell
    // added above must not re-run the task.
    `source: { notebook: ${literal(plan.notebook)}, cells: ${literal(task.cellIds.filter((id): id is string => id !== undefined))} }`,
  ];
  // Only what differs from defineTask's defaults (runtime/task.ts): no params, no inputs,
  // version 0, no rerun, the code-aware cache.
  if (paramPlans.length)
    fields.push(
      `params: { ${paramPlans.map((p) => `${p.name}: { type: ${literal(p.paramType)}, default: ${literal(p.default)} }`).join(', ')} }`,
    );
  if (task.inputs.length)
    fields.push(
      `inputs: { ${task.inputs.map((i) => `${i.name}: ${names.cellar.output}(${names.upstreamConst.get(i.fromTask)}, ${literal(i.name)})`).join(', ')} }`,
    );
  fields.push(
    `outputs: { ${task.outputs.map((o) => `${o.name}: ${o.codec ? `{ codec: ${literal(o.codec)} }` : '{}'}`).join(', ')} }`,
  );
  if (task.version !== 0) fields.push(`version: ${task.version}`);
  if (task.rerun) fields.push('rerun: true');
  if (task.cache !== 'code') fields.push(`cache: ${literal(task.cache)}`);
  if (task.retries) fields.push(`retries: ${task.retries}`);
  if (task.timeoutMs !== undefined) fields.push(`timeoutMs: ${task.timeoutMs}`);
  if (task.warehouse) {
    // An empty `warehouse: {}` stays: it says the task runs SQL, so the runtime opens a session.
    const w = task.warehouse;
    const tables = Object.entries(w.tables);
    const parts = [
      ...(w.dialect ? [`dialect: ${literal(w.dialect)}`] : []),
      ...(w.reads.length ? [`reads: ${literal(w.reads)}`] : []),
      ...(w.files?.length ? [`files: ${literal(w.files)}`] : []),
      ...(w.materialize ? [`materialize: ${literal(w.materialize)}`] : []),
      ...(tables.length
        ? [
            `tables: { ${tables.map(([t, producer]) => `${literal(t)}: ${names.upstreamConst.get(producer)}`).join(', ')} }`,
          ]
        : []),
    ];
    fields.push(`warehouse: { ${parts.join(', ')} }`);
  }
  if (task.checks.length) fields.push(`checks: ${literal(task.checks)}`);
  fields.push(`run: ${names.fn}`);
  return fields;
}

/**
 * The helpers tasks share (`Version.shared`: functions and classes declared in a task that close
 * over no task value) as one module, or undefined when there are none. Each is exported as
 * written; what it reads comes from imports and setup. Every task calling one imports it from
 * here, so the module is part of exactly those tasks' code fingerprints.
 */
export function emitSharedModule(ctx: EmitContext): EmittedFile | undefined {
  const { plan } = ctx;
  const shared = Object.values(plan.versions)
    .filter((v) => v.shared)
    .sort((x, y) => x.cell - y.cell || (x.id < y.id ? -1 : 1));
  if (shared.length === 0) return undefined;
  const imports = new ImportSet();
  const statements = new Map<string, { cell: number; start: number; end: number; text: string }>();
  // Every top-level name of the module, with the cell it comes from: one declared twice would make
  // a module that cannot load (`Multiple exports with the same name`), so it is refused here.
  // `what` says what the name stands for: the same import read by helpers of two cells is one.
  const names = new Map<string, string>();
  const claim = (name: string, cell: number, what: string) => {
    const had = names.get(name);
    if (had !== undefined && had !== what)
      throw new EmitConflictError(
        `shared.ts would declare \`${name}\` twice, for ${had} and for ${what} (cell ${cellName(ctx.cells.get(cell)!)}), and could not load`,
        ctx.cells.get(cell)!,
      );
    names.set(name, what);
  };
  for (const v of shared) {
    const cell = ctx.cells.get(v.cell)!;
    claim(sharedName(v), v.cell, `the ${v.kind} \`${v.name}\` of cell ${cellName(cell)}`);
    const decl = ctx.analyses
      .get(v.cell)!
      .declarations.find((d) => d.name === v.name && VALUE_KINDS.has(d.kind))!;
    const key = `${v.cell}:${decl.statement.start}`;
    if (!statements.has(key))
      statements.set(key, {
        cell: v.cell,
        start: decl.statement.start,
        end: decl.statement.end,
        text: `export ${sharedStatement(cell.code, decl.statement, plan.bindings[v.cell] ?? [], plan.versions).replace(/^export\s+/, '')}`,
      });
    for (const b of plan.bindings[v.cell] ?? []) {
      if (b.start < decl.statement.start || b.end > decl.statement.end) continue;
      const read = plan.versions[b.versionId]!;
      const typeOnly = b.meaning === 'type';
      if (read.kind === 'import' && read.importFrom) {
        claim(
          read.name,
          v.cell,
          `the import of \`${read.importFrom.imported}\` from '${read.importFrom.module}'`,
        );
        imports.add(
          fromNotebook(ctx.workdir, read.importFrom.module),
          read.importFrom.imported,
          read.name,
          read.importFrom.typeOnly || typeOnly,
          read.importFrom.attributes,
        );
      } else if (read.owner.kind === 'setup') {
        claim(read.name, v.cell, `setup's \`${read.name}\``);
        imports.add('./setup.js', read.name, read.name, TYPE_DECL_KINDS.has(read.kind) || typeOnly);
      }
    }
  }
  const ordered = [...statements.values()].sort((x, y) => x.cell - y.cell || x.start - y.start);
  addDenoShim(ctx, imports, [...new Set(ordered.map((o) => o.cell))], (i, at) =>
    ordered.some((o) => o.cell === i && at >= o.start && at < o.end),
  );
  const cells = [...new Set(ordered.map((o) => o.cell))].map((i) => ctx.cells.get(i)!);
  const body = cells
    .map(
      (cell) =>
        `${cellLabel(cell)}\n${ordered
          .filter((o) => o.cell === cell.index)
          .map((o) => o.text)
          .join('\n\n')}`,
    )
    .join('\n\n');
  const text = [
    header(plan, cells),
    docComment(
      'Functions and classes declared in task cells: code, not data, so every task that uses one imports it from here (and an instance of a class stored by one task is rebuilt from here in the next).',
      ['@module'],
    ),
    imports.print(),
    body,
  ].filter(Boolean);
  return { path: `${plan.stem}/shared.${codeExt(plan)}`, contents: text.join('\n\n') + '\n' };
}

/**
 * A generated module would declare one name twice, so it could not load: a compiler bug (every
 * version gets a name of its own), reported as E_INTERNAL on the cell of the second declaration
 * instead of a compile that succeeds and a run that fails to load the pipeline.
 */
export class EmitConflictError extends Error {
  constructor(
    message: string,
    readonly cell: TaggedCell,
  ) {
    super(message);
  }
}

/**
 * A shared helper's statement as shared.ts holds it: the cell's text, with each shared helper it
 * declares or reads under its export name (`sharedName`: `function g_2` for a redeclared `g`).
 */
function sharedStatement(
  code: string,
  statement: Span,
  bindings: readonly Binding[],
  versions: Record<string, Version>,
): string {
  let text = code.slice(statement.start, statement.end);
  const renames = bindings
    .filter((b) => b.start >= statement.start && b.end <= statement.end)
    .map((b) => ({ b, name: versions[b.versionId] && sharedName(versions[b.versionId]!) }))
    .filter(({ b, name }) => name && name !== code.slice(b.start, b.end))
    .sort((x, y) => y.b.start - x.b.start);
  for (const { b, name } of renames) {
    const original = code.slice(b.start, b.end);
    const at = b.start - statement.start;
    text =
      text.slice(0, at) +
      (b.shorthand ? `${original}: ${name}` : name) +
      text.slice(b.end - statement.start);
  }
  return text;
}

/** The setup cells as one module, or undefined when they hold only imports (then hoisted). */
export function emitSetupModule(ctx: EmitContext): EmittedFile | undefined {
  const { plan } = ctx;
  const cells = plan.setupCells.map((i) => ctx.cells.get(i)!);
  const uses = [
    ...new Set(cells.flatMap((c) => (plan.bindings[c.index] ?? []).map((b) => b.versionId))),
  ].sort();
  const imports = new ImportSet();
  for (const id of uses) {
    const v = plan.versions[id]!;
    if (v.kind === 'import' && v.importFrom)
      imports.add(
        fromNotebook(ctx.workdir, v.importFrom.module),
        v.importFrom.imported,
        v.name,
        v.importFrom.typeOnly || onlyTypeUses(ctx, plan.setupCells, id),
        v.importFrom.attributes,
      );
  }
  for (const c of cells)
    for (const imp of ctx.analyses.get(c.index)!.imports)
      if (imp.bindings.length === 0)
        imports.addSideEffect(fromNotebook(ctx.workdir, imp.module), imp.attributes);
  // Every local module setup imports for a value is loaded with it, used or not: the notebook
  // ran each, and one may fill a registry setup's values hand on (addOutsideImports).
  for (const imp of localValueImports(ctx, plan.setupCells))
    imports.addSideEffect(fromNotebook(ctx.workdir, imp.module), imp.attributes);

  addDenoShim(ctx, imports, plan.setupCells);

  // The last version of each name keeps it (that is what tasks import); earlier ones are renamed.
  const last = new Map<string, string>();
  for (const c of cells)
    for (const d of ctx.analyses.get(c.index)!.declarations)
      last.set(`${VALUE_KINDS.has(d.kind) ? 'v' : 't'}:${d.name}`, `${c.index}:${d.name}`);
  const identifiers = new Set(cells.flatMap((c) => ctx.analyses.get(c.index)!.identifiers));
  const renamer = new NameAllocator(identifiers);
  const names = new Map<string, string>();
  for (const c of cells) {
    for (const d of ctx.analyses.get(c.index)!.declarations) {
      const id = `${c.index}:${d.name}`;
      if (VALUE_KINDS.has(d.kind) && last.get(`v:${d.name}`) !== id)
        names.set(id, renamer.fresh(d.name));
    }
  }
  const blocks = cells.map((cell) => {
    const a = ctx.analyses.get(cell.index)!;
    const exported = new Map<number, { at: number; text: string }>();
    for (const d of a.declarations) {
      const isLast =
        last.get(`${VALUE_KINDS.has(d.kind) ? 'v' : 't'}:${d.name}`) === `${cell.index}:${d.name}`;
      if (!isLast) continue;
      // Written `export function f` in the cell: the analysis strips that `export ` (a cell is
      // no module); put ours after the stripped span, or the strip would swallow it with its own.
      const at = a.strip.find((s) => s.start === d.statement.start)?.end ?? d.statement.start;
      exported.set(d.statement.start, { at, text: 'export ' });
    }
    return {
      cell,
      code: rewriteCell(
        cell,
        a,
        plan.bindings[cell.index] ?? [],
        (v) => names.get(v.id) ?? v.name,
        plan.versions,
        plan.dropped[cell.index] ?? [],
        [...exported.values()],
        ctx.workdir,
      ),
    };
  });
  // The header names the cells whose code is here; a cell of only imports is hoisted away.
  const withCode = blocks.filter((b) => b.code);
  const body = withCode.map((b) => `${cellLabel(b.cell)}\n${b.code}`).join('\n\n');
  if (!body.replace(/^\/\/.*$/gm, '').trim()) return undefined;
  const text = [
    header(
      plan,
      withCode.map((b) => b.cell),
    ),
    docComment(
      plan.setupDoc ||
        'Shared setup: the imports, helpers and types declared before the first task.',
      ['@module'],
    ),
    imports.print(),
    body,
  ].filter(Boolean);
  return { path: `${plan.stem}/setup.${codeExt(plan)}`, contents: text.join('\n\n') + '\n' };
}

export { HEADER };
