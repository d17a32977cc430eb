// linkCells: TaggedCell[] + CellAnalysis[] → TaskPlan: which task needs which value from which
// other task, in notebook semantics.
//
// A notebook is one long scope read top to bottom, and redeclaring a name in a later cell is
// normal (`let df` in three cells). So every top-level declaration is a *version* of its name,
// and each use binds the latest version declared in a compiled cell before it — exactly what the
// kernel computed. A use whose version belongs to another task is an input (and makes that task
// upstream); one from setup is an import of the shared module; one from the params cell is a
// param. Everything is decided here, on plain data, so emission is only printing.
import { diagnostic, suggest } from '../diagnostics.js';
import { KNOWN_GLOBALS } from '../analyze/globals.js';
import type {
  Binding, CellAnalysis, Diagnostic, Owner, ParamPlan, Span, TaggedCell, TaskNode, TaskOutput, TaskPlan, TestNode, Version, WarehousePlan,
} from '../types.js';

export interface LinkInput {
  notebook: string;
  stem: string;
  cells: TaggedCell[];
  analyses: ReadonlyMap<number, CellAnalysis>;
  /** Tables each cell's sql`…` templates read (from analyze/sql.ts). */
  sqlReads: ReadonlyMap<number, string[]>;
  /** The kernel the notebook is written for: tslab's quirks get warnings (default tslab). */
  kernel?: 'tslab' | 'deno' | 'typescript';
}

export interface LinkResult {
  plan?: TaskPlan;
  diagnostics: Diagnostic[];
}

const VALUE_KINDS = new Set(['const', 'let', 'var', 'function', 'class', 'enum', 'namespace', 'import']);
const TYPE_KINDS = new Set(['class', 'enum', 'interface', 'type', 'namespace', 'import']);
const DATA_KINDS = new Set(['const', 'let', 'var']);
const COMMONJS_HINTS: Record<string, string> = {
  require: 'compiled cells are ES modules: use `import x from "..."` instead of `require(...)`',
  module: 'compiled cells are ES modules: there is no `module`',
  exports: 'compiled cells are ES modules: there is no `exports`',
  __dirname: 'use `import.meta.dirname` (or relative paths: tasks run in the notebook folder)',
  __filename: 'use `import.meta.filename`',
};

const sameOwner = (a: Owner, b: Owner) => a.kind === b.kind && (a.kind !== 'task' || (b.kind === 'task' && a.task === b.task));
const ownerWords = (o: Owner) => (o.kind === 'task' ? `task \`${o.task}\`` : o.kind === 'setup' ? 'a setup cell' : o.kind === 'params' ? 'the params cell' : 'an import');

export function linkCells(input: LinkInput): LinkResult {
  const { notebook, cells, analyses } = input;
  const diagnostics: Diagnostic[] = [];
  const at = (cell: TaggedCell, line?: number, column?: number) => ({ notebook, cell: cell.index + 1, cellId: cell.id, line, column });
  const lineOf = (cell: TaggedCell, line: number) => cell.code.split('\n')[line - 1] ?? '';

  // --- tasks, in notebook order -----------------------------------------------------------
  const tasks = new Map<string, TaskNode>();
  const taskStart = new Map<string, TaggedCell>();
  const firstUse = new Map<string, { cell: TaggedCell; line: number; column: number }>(); // `${task}|${versionId}`
  let pendingDoc: string[] = [];
  let topDoc: string[] | undefined;
  const setupDoc: string[] = [];
  const setupCells: number[] = [];
  for (const cell of cells) {
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
      setupCells.push(cell.index);
      setupDoc.push(...pendingDoc);
    }
    if (cell.role === 'task' && cell.task !== undefined) {
      if (cell.startsTask) {
        if (tasks.has(cell.task)) {
          const first = taskStart.get(cell.task)!;
          diagnostics.push(
            diagnostic('error', 'E_DUPLICATE_TASK', at(cell, 1), `task \`${cell.task}\` is already defined in cell ${first.index + 1}`, {
              hint: 'give each task a unique name, or merge the cells',
              snippet: `//| task: ${cell.task}`,
            }),
          );
        } else {
          taskStart.set(cell.task, cell);
          tasks.set(cell.task, {
            name: cell.task, cells: [], cellIds: [], doc: pendingDoc.join('\n\n'), inputs: [], params: [], upstream: [], outputs: [],
            version: 0, rerun: false, cache: 'code', checks: [], uses: [], async: false,
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
      task.checks.push(...d.checks);
      task.async ||= analyses.get(cell.index)?.topLevelAwait ?? false;
    }
    pendingDoc = [];
  }

  // --- scope walk: bind every use to a version ---------------------------------------------
  const versions: Record<string, Version> = {};
  const bindings: Record<number, Binding[]> = {};
  const droppedByCell: Record<number, Span[]> = {};
  const valueScope = new Map<string, Version>();
  const typeScope = new Map<string, Version>();
  const uses = new Map<string, Set<string>>(); // task name → version ids
  const tests: TestNode[] = [];
  const params: ParamPlan[] = [];
  const declaredIn = new Map<string, TaggedCell>(); // for hints: first cell declaring each name
  for (const cell of cells) {
    const a = analyses.get(cell.index);
    if (a) for (const d of a.declarations) if (!declaredIn.has(d.name)) declaredIn.set(d.name, cell);
  }
  // `const ys = xs` with xs from an earlier cell: version id of ys → the version it is the same
  // object as (followed to the root), so a later cell changing ys changes xs.
  const aliasOf = new Map<string, Version>();
  const exploreDecls = new Map<string, TaggedCell>();
  for (const cell of cells) {
    if (cell.role !== 'explore') continue;
    for (const m of cell.code.matchAll(/^(?:export\s+)?(?:const|let|var|function\*?|class|async\s+function)\s+([A-Za-z_$][\w$]*)/gm)) {
      if (!exploreDecls.has(m[1]!)) exploreDecls.set(m[1]!, cell);
    }
  }

  for (const cell of cells) {
    if (cell.role === 'markdown' || cell.role === 'explore') continue;
    const a = analyses.get(cell.index);
    if (!a) continue;
    if (cell.role === 'task' && cell.startsTask && cell.task !== undefined && taskStart.get(cell.task) !== cell) continue;
    const owner: Owner | undefined =
      cell.role === 'setup' ? { kind: 'setup' } : cell.role === 'params' ? { kind: 'params' } : cell.role === 'task' ? { kind: 'task', task: cell.task! } : undefined;
    const useKey = cell.role === 'test' ? `test:${cell.index}` : owner?.kind === 'task' ? owner.task : owner?.kind ?? '';
    const used = uses.get(useKey) ?? new Set<string>();
    uses.set(useKey, used);
    const cellBindings: Binding[] = (bindings[cell.index] = []);

    // This cell's own versions (created now, entered into scope after its uses are resolved).
    const ownValue = new Map<string, Version>();
    const ownType = new Map<string, Version>();
    const versionOwner: Owner = owner ?? { kind: 'import' };
    for (const imp of a.imports) {
      for (const b of imp.bindings) {
        const v: Version = { id: `${cell.index}:${b.local}`, name: b.local, cell: cell.index, kind: 'import', owner: { kind: 'import' }, importFrom: { module: imp.module, imported: b.imported, typeOnly: b.typeOnly, ...(imp.attributes ? { attributes: imp.attributes } : {}) } };
        versions[v.id] = v;
        if (!b.typeOnly) ownValue.set(b.local, v);
        ownType.set(b.local, v);
      }
    }
    for (const d of a.declarations) {
      const isValue = VALUE_KINDS.has(d.kind);
      const id = isValue ? `${cell.index}:${d.name}` : `${cell.index}:type:${d.name}`;
      const v: Version = versions[id] ?? { id, name: d.name, cell: cell.index, kind: d.kind, owner: versionOwner, ...(d.callable ? { callable: true } : {}) };
      versions[id] = v;
      if (isValue) ownValue.set(d.name, v);
      if (TYPE_KINDS.has(d.kind)) ownType.set(d.name, v);
      for (const site of d.sites) cellBindings.push({ start: site.start, end: site.end, versionId: id, meaning: isValue ? 'value' : 'type', ...(site.shorthandBinding ? { shorthand: 'binding' as const } : {}) });
    }

    for (const alias of a.aliases ?? []) {
      const target = valueScope.get(alias.target);
      const own = ownValue.get(alias.name);
      if (target && own) aliasOf.set(own.id, aliasOf.get(target.id) ?? target);
    }

    // tslab's display functions throw outside a kernel: their statements stay in the notebook.
    const dropped: Span[] = [];
    for (const call of a.displayCalls) {
      const v = ownValue.get(call.root) ?? valueScope.get(call.root);
      if (v?.kind === 'import' && v.importFrom?.module === 'tslab') {
        dropped.push(call.statement);
        diagnostics.push(
          diagnostic('note', 'N_DISPLAY_DROPPED', at(cell, call.line), `\`${call.root}.display…\` only works inside Jupyter: left out of the compiled ${cell.role === 'test' ? 'test' : 'module'}`, {
            snippet: lineOf(cell, call.line),
          }),
        );
      }
    }
    const inDropped = (pos: number) => dropped.some((s) => pos >= s.start && pos < s.end);
    // Display-only statements (`raw.length;`) are dead code in a module: cut, and what they read
    // is not a use (no input just to show it). A misspelt name in one is still reported below.
    const inert = a.inertStatements ?? [];
    const inInert = (pos: number) => inert.some((s) => pos >= s.start && pos < s.end);
    dropped.push(...inert);
    if (dropped.length) droppedByCell[cell.index] = dropped;

    const reported = new Set<string>();
    const assignedUndeclared = new Set(a.mutations.filter((m) => m.kind === 'assign' && !valueScope.has(m.name)).map((m) => m.name));
    for (const ref of a.references) {
      if (inDropped(ref.start) && !inInert(ref.start)) continue;
      let v: Version | undefined;
      if (ref.own) v = ref.meaning === 'value' ? ownValue.get(ref.name) ?? ownType.get(ref.name) : ownType.get(ref.name) ?? ownValue.get(ref.name);
      else v = ref.meaning === 'value' ? valueScope.get(ref.name) : typeScope.get(ref.name) ?? valueScope.get(ref.name);
      if (v && inInert(ref.start)) continue;
      if (!v) {
        if (ref.own || ref.meaning === 'type' || KNOWN_GLOBALS.has(ref.name) || reported.has(ref.name) || assignedUndeclared.has(ref.name)) continue;
        reported.add(ref.name);
        const explore = exploreDecls.get(ref.name);
        const later = declaredIn.get(ref.name);
        const hint = COMMONJS_HINTS[ref.name]
          ?? (explore && explore.index < cell.index ? `\`${ref.name}\` is declared in cell ${explore.index + 1}, which is tagged \`//| explore\` and not compiled: move the declaration to a setup or task cell`
            : later && later.index > cell.index ? `\`${ref.name}\` is declared later, in cell ${later.index + 1}: the pipeline runs cells in notebook order, so move it up`
              : later && later.role === 'test' ? `\`${ref.name}\` is declared in test cell ${later.index + 1}; tests are not visible to other cells`
                : (() => {
                  const guess = suggest(ref.name, [...valueScope.keys(), ...ownValue.keys()]);
                  return guess ? `did you mean \`${guess}\`?` : undefined;
                })());
        diagnostics.push(
          diagnostic('error', 'E_UNDECLARED_NAME', at(cell, ref.line, ref.column), `\`${ref.name}\` is used but never declared in a compiled cell before it`, { hint, snippet: lineOf(cell, ref.line) }),
        );
        continue;
      }
      if (cell.role === 'setup' && v.owner.kind === 'params' && !reported.has(ref.name)) {
        reported.add(ref.name);
        diagnostics.push(
          diagnostic('error', 'E_PARAM_IN_SETUP', at(cell, ref.line, ref.column), `setup cell reads param \`${ref.name}\`, but setup is shared by every task and has no params`, {
            hint: 'read the param inside a task, or pass it to a setup function as an argument',
            snippet: lineOf(cell, ref.line),
          }),
        );
      }
      if (ref.shorthand && !ref.own && ref.meaning === 'value' && (input.kernel ?? 'tslab') === 'tslab' && !reported.has(`shorthand:${ref.name}`)) {
        // tslab rewrites reads of earlier cells' names but misses object shorthands: `{ seed }`
        // throws ReferenceError in the kernel, though the compiled module is fine.
        reported.add(`shorthand:${ref.name}`);
        diagnostics.push(
          diagnostic('warning', 'W_TSLAB_SHORTHAND', at(cell, ref.line, ref.column), `\`{ ${ref.name} }\` names \`${ref.name}\` from cell ${v.cell + 1}: tslab throws "ReferenceError: ${ref.name} is not defined" on this shorthand`, {
            hint: `write \`${ref.name}: ${ref.name}\` instead of \`${ref.name}\` in the object literal`,
            snippet: lineOf(cell, ref.line),
          }),
        );
      }
      used.add(v.id);
      const key = `${useKey}|${v.id}`;
      if (!firstUse.has(key)) firstUse.set(key, { cell, line: ref.line, column: ref.column });
      cellBindings.push({ start: ref.start, end: ref.end, versionId: v.id, meaning: ref.meaning, ...(ref.shorthand ? { shorthand: 'literal' as const } : {}) });
    }

    for (const m of a.mutations) {
      if (dropped.length && a.references.some((r) => r.name === m.name && r.line === m.line && r.column === m.column && inDropped(r.start))) continue;
      const v = valueScope.get(m.name);
      if (!v) {
        if (m.kind === 'assign' && !ownValue.has(m.name)) {
          diagnostics.push(
            diagnostic('error', 'E_IMPLICIT_GLOBAL', at(cell, m.line, m.column), `\`${m.name}\` is assigned but never declared (an implicit global)`, {
              hint: `declare it: \`const ${m.name} = ...\`${/require\s*\(/.test(lineOf(cell, m.line)) ? ', and use `import` instead of `require`' : ''}`,
              snippet: lineOf(cell, m.line),
            }),
          );
        }
        continue;
      }
      const root = m.kind === 'assign' ? undefined : aliasOf.get(v.id);
      if (root && cell.role === 'task' && owner && root.owner.kind !== 'import' && !sameOwner(root.owner, owner)) {
        // `const ys = xs` in an earlier cell of this task, changed here: xs changes.
        const what = m.element ? `changes \`${m.element}\`, an element of` : m.kind === 'method' ? `calls \`${m.name}.${m.detail}(...)\` on` : m.detail === 'Object.assign' ? 'calls `Object.assign(...)` on' : `assigns to \`${m.detail}\` of`;
        diagnostics.push(
          diagnostic('error', 'E_MUTATES_UPSTREAM', at(cell, m.line, m.column), `task \`${cell.task}\` ${what} \`${m.name}\`, which is \`${root.name}\` from ${ownerWords(root.owner)} (cell ${root.cell + 1}) under another name (cell ${v.cell + 1}): the cached value would no longer match what the notebook computed`, {
            hint: `copy it where you take it, in cell ${v.cell + 1}: \`const ${m.name} = structuredClone(${root.name})\``,
            snippet: lineOf(cell, m.line),
          }),
        );
        continue;
      }
      if (cell.role !== 'task' || !owner || v.owner.kind === 'import' || sameOwner(v.owner, owner)) continue;
      const what = m.element ? `changes \`${m.element}\`, an element of` : m.detail === 'Object.assign' ? 'calls `Object.assign(...)` on' : m.kind === 'method' ? `calls \`${m.name}.${m.detail}(...)\` on` : m.kind === 'property' ? `assigns to \`${m.detail}\` of` : 'assigns to';
      diagnostics.push(
        diagnostic('error', 'E_MUTATES_UPSTREAM', at(cell, m.line, m.column), `task \`${cell.task}\` ${what} \`${m.name}\`, which ${ownerWords(v.owner)} produced (cell ${v.cell + 1}): the cached value would no longer match what the notebook computed`, {
          hint: m.element
            ? `copy it deeply first, e.g. \`const my${m.name[0]!.toUpperCase()}${m.name.slice(1)} = structuredClone(${m.name})\` (\`[...${m.name}]\` would share the elements), or build new elements with \`${m.name}.map((x) => ({ ...x, … }))\``
            : m.kind === 'assign'
              ? `give the new value its own name in this task, e.g. \`const ${m.name}2 = …\`, and read that one from here on`
              : `copy it first, e.g. \`const my${m.name[0]!.toUpperCase()}${m.name.slice(1)} = structuredClone(${m.name})\` (or \`[...${m.name}]\`), and change the copy`,
          snippet: lineOf(cell, m.line),
        }),
      );
    }

    if (cell.role === 'params') {
      for (const p of a.params) params.push({ ...p, cell: cell.index, versionId: `${cell.index}:${p.name}` });
    }
    if (cell.role === 'test') {
      tests.push({ task: cell.task!, cell: cell.index, cellId: cell.id, uses: [], async: true });
      continue; // a test's declarations are its own: later cells do not see them
    }
    for (const [name, v] of ownValue) valueScope.set(name, v);
    for (const [name, v] of ownType) typeScope.set(name, v);
  }

  // --- per task: inputs, params, outputs ----------------------------------------------------
  const lastVersionOf = (task: TaskNode, name: string): Version | undefined => {
    let last: Version | undefined;
    for (const cellIndex of task.cells) {
      const v = versions[`${cellIndex}:${name}`];
      if (v && DATA_KINDS.has(v.kind)) last = v;
    }
    return last;
  };
  const consumed = new Map<string, Set<string>>(); // producing task → output names
  const readByTasks = new Set<string>(); // tasks some other task reads from
  const consume = (task: string, name: string) => {
    const set = consumed.get(task) ?? new Set<string>();
    set.add(name);
    consumed.set(task, set);
  };
  for (const task of tasks.values()) {
    const ids = [...(uses.get(task.name) ?? [])].sort();
    task.uses = ids;
    const inputs = new Map<string, TaskNode['inputs'][number]>();
    const paramNames = new Set<string>();
    for (const id of ids) {
      const v = versions[id]!;
      if (v.owner.kind === 'params') paramNames.add(v.name);
      if (v.owner.kind !== 'task' || v.owner.task === task.name) continue;
      if (!VALUE_KINDS.has(v.kind) || id.includes(':type:')) continue; // types are imported, not passed
      if (!DATA_KINDS.has(v.kind) || v.callable) {
        const use = firstUse.get(`${task.name}|${id}`)!;
        diagnostics.push(
          diagnostic('error', 'E_FUNCTION_CROSSES_TASK', at(use.cell, use.line, use.column), `task \`${task.name}\` uses ${v.callable ? `function` : v.kind} \`${v.name}\`, declared in task \`${v.owner.task}\` (cell ${v.cell + 1}): only data can pass between tasks`, {
            hint: 'move the declaration into a setup cell (before the first task), so every task module can import it',
            snippet: lineOf(use.cell, use.line),
          }),
        );
        continue;
      }
      inputs.set(v.name, { name: v.name, fromTask: v.owner.task, versionId: id });
      consume(v.owner.task, v.name);
      readByTasks.add(v.owner.task);
    }
    task.inputs = [...inputs.values()].sort((x, y) => (x.name < y.name ? -1 : 1));
    task.params = [...paramNames].sort();
  }
  for (const test of tests) {
    const ids = [...(uses.get(`test:${test.cell}`) ?? [])].sort();
    test.uses = ids;
    for (const id of ids) {
      const v = versions[id]!;
      if (v.owner.kind === 'task' && DATA_KINDS.has(v.kind) && !v.callable) consume(v.owner.task, v.name);
    }
    if (!tasks.has(test.task)) {
      const cell = cells.find((c) => c.index === test.cell)!;
      const guess = suggest(test.task, tasks.keys());
      diagnostics.push(
        diagnostic('error', 'E_UNKNOWN_TASK', at(cell, 1), `test cell names task \`${test.task}\`, which does not exist`, {
          hint: guess ? `did you mean \`${guess}\`?` : `tasks are: ${[...tasks.keys()].join(', ') || '(none)'}`,
          snippet: `//| test: ${test.task}`,
        }),
      );
    }
    // A test cell between two cells of its task: the notebook checked the value as it was then,
    // the generated test gets the task's final outputs. Say so when a later cell changes it.
    const task = tasks.get(test.task);
    const later = task?.cells.filter((i) => i > test.cell) ?? [];
    if (!task || later.length === 0) continue;
    const changedIn = new Map<string, number>();
    for (const i of later) {
      const a = analyses.get(i);
      for (const d of a?.declarations ?? []) if (DATA_KINDS.has(d.kind) && !changedIn.has(d.name)) changedIn.set(d.name, i);
      for (const m of a?.mutations ?? []) if (!changedIn.has(m.name)) changedIn.set(m.name, i);
    }
    const testCell = cells.find((c) => c.index === test.cell)!;
    for (const id of ids) {
      const v = versions[id]!;
      const changer = changedIn.get(v.name);
      if (v.owner.kind !== 'task' || v.owner.task !== test.task || !DATA_KINDS.has(v.kind) || changer === undefined) continue;
      const use = firstUse.get(`test:${test.cell}|${id}`);
      diagnostics.push(
        diagnostic('warning', 'W_TEST_SEES_LATER_VALUE', at(testCell, use?.line ?? 1, use?.column), `this test checks \`${v.name}\` in the middle of task \`${test.task}\`, and cell ${changer + 1} changes it afterwards: the generated test sees the task's final \`${v.name}\`, not the value checked here`, {
          hint: `move this test below cell ${task.cells[task.cells.length - 1]! + 1}, the task's last cell (or start a new task at cell ${later[0]! + 1})`,
          snippet: use ? lineOf(testCell, use.line) : undefined,
        }),
      );
    }
  }
  for (const task of tasks.values()) {
    const outputs = new Map<string, TaskOutput>();
    const names = new Set(consumed.get(task.name) ?? []);
    const explicit = task.cells.flatMap((i) => cells.find((c) => c.index === i)!.directives.outputs);
    if (!readByTasks.has(task.name)) {
      // A leaf: no task reads it, so keep every value it computes (its results are the point).
      // Functions (`const f = () => …`) are code, not results: there is nothing to store. Values
      // read from the environment (secrets, most often) are kept only when `//| output` asks.
      for (const i of task.cells) for (const d of analyses.get(i)?.declarations ?? []) if (DATA_KINDS.has(d.kind) && !d.callable && !d.fromEnv) names.add(d.name);
    }
    for (const o of explicit) {
      if (!lastVersionOf(task, o.name)) {
        const cell = cells.find((c) => c.index === task.cells[0])!;
        diagnostics.push(diagnostic('error', 'E_UNKNOWN_OUTPUT', at(cell, 1), `\`//| output: ${o.name}=${o.codec}\` names \`${o.name}\`, which task \`${task.name}\` does not declare`, { hint: 'name a top-level const/let of the task' }));
      } else names.add(o.name);
    }
    for (const name of [...names].sort()) {
      const v = lastVersionOf(task, name);
      if (!v) continue;
      const codec = explicit.filter((o) => o.name === name).pop()?.codec;
      outputs.set(name, { name, versionId: v.id, ...(codec ? { codec } : {}) });
    }
    task.outputs = [...outputs.values()];
  }

  // What is left of a cell once display-only statements, imports and comments are cut.
  const leftOf = (cell: TaggedCell): string => {
    const a = analyses.get(cell.index);
    const cut = [...(droppedByCell[cell.index] ?? []), ...(a?.imports.map((i) => i.statement) ?? [])].sort((x, y) => y.start - x.start);
    let code = cell.code;
    for (const span of cut) code = code.slice(0, span.start) + code.slice(span.end);
    return code.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '').replace(/;/g, '').trim();
  };
  for (const task of tasks.values()) {
    const taskCells = task.cells.map((i) => cells.find((c) => c.index === i)!);
    const cell = taskStart.get(task.name)!;
    if (taskCells.every((c) => !c.code.trim())) {
      diagnostics.push(diagnostic('warning', 'W_EMPTY_TASK', at(cell, 1), `task \`${task.name}\` has no code`, { hint: 'put its code under the directive, or remove the directive' }));
    } else if (taskCells.every((c) => !leftOf(c))) {
      diagnostics.push(
        diagnostic('warning', 'W_EMPTY_TASK', at(cell, 1), `task \`${task.name}\` only shows values (statements like \`df.length;\`, left out of the pipeline): it computes nothing`, {
          hint: 'tag the cell `//| explore` if it is there to look at data, or give the task some work',
        }),
      );
    }
  }

  // --- warehouse facts and upstream edges -----------------------------------------------------
  const materializedBy = new Map<string, string>();
  for (const task of tasks.values()) {
    for (const i of task.cells) {
      const m = cells.find((c) => c.index === i)!.directives.materialize;
      if (m) materializedBy.set(m, task.name);
    }
  }
  for (const task of tasks.values()) {
    const taskCells = task.cells.map((i) => cells.find((c) => c.index === i)!);
    const dialect = taskCells.find((c) => c.directives.dialect)?.directives.dialect;
    const materialize = taskCells.find((c) => c.directives.materialize)?.directives.materialize;
    const reads = [...new Set(task.cells.flatMap((i) => input.sqlReads.get(i) ?? []))].sort();
    const tables: Record<string, string> = {};
    for (const r of reads) {
      for (const [table, producer] of materializedBy) {
        if (producer !== task.name && (r === table || r.endsWith(`.${table}`))) tables[r] = producer;
      }
    }
    const usesSql = task.cells.some((i) => input.sqlReads.has(i));
    if (dialect || materialize || usesSql) {
      const w: WarehousePlan = { reads, tables };
      if (dialect) w.dialect = dialect;
      if (materialize) w.materialize = materialize;
      task.warehouse = w;
    }
    task.upstream = [...new Set([...task.inputs.map((i) => i.fromTask), ...Object.values(tables)])].sort();
  }

  // --- cycles and order ------------------------------------------------------------------------
  const order: TaskNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  let cycleFound = false;
  const visit = (name: string) => {
    if (state.get(name) === 'done' || cycleFound) return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const cell = taskStart.get(name)!;
      diagnostics.push(
        diagnostic('error', 'E_DEPENDENCY_CYCLE', at(cell, 1), `tasks depend on each other: ${cycle.join(' → ')}`, {
          hint: 'a task may only read values and tables of tasks that do not read its own; split one of them',
        }),
      );
      cycleFound = true;
      return;
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const up of tasks.get(name)?.upstream ?? []) visit(up);
    stack.pop();
    state.set(name, 'done');
    order.push(tasks.get(name)!);
  };
  for (const name of tasks.keys()) visit(name);

  const plan: TaskPlan = {
    notebook,
    stem: input.stem,
    doc: (topDoc ?? pendingDoc).join('\n\n'),
    setupDoc: setupDoc.join('\n\n'),
    setupCells,
    params,
    tasks: cycleFound ? [...tasks.values()] : order,
    tests,
    versions,
    bindings,
    dropped: droppedByCell,
  };
  return { plan, diagnostics };
}
