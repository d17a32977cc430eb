// Stage 1 of a run: `buildGraph` turns a pipeline's tasks and the run's params into a checked,
// topologically ordered TaskGraph. Pure: no I/O, no clock.
//
// Everything that can be wrong with a pipeline's shape is found here, before a single task runs,
// and returned as diagnostics with stable codes: two different tasks with one name, an input
// naming an output its upstream does not declare, a task-instance input wired to the wrong
// family of task (gokart's `expected_type`), a cycle, a param of the wrong type, an output
// naming a codec that is not registered. Upstream tasks
// not listed in the pipeline are pulled in through inputs, so `evaluate(task)` and `load(task)`
// can build the graph of one task alone.
import { codecIds, hasCodec } from '../codecs/index.js';
import { nameList, suggest } from '../suggest.js';
import type { AnyTask, InputSpec, OutputSpec, ParamSpec, Pipeline } from '../task.js';
import type { GraphNode, RuntimeDiagnostic, TaskGraph } from '../types.js';

export interface GraphResult {
  graph: TaskGraph | undefined;
  diagnostics: RuntimeDiagnostic[];
}

/** The pipeline-wide params: the union of what each task declares. */
export function pipelineParams(tasks: readonly AnyTask[]): Record<string, ParamSpec> {
  // A Map, not an object: a param named like a prototype member ('constructor') is just a name.
  const out = new Map<string, ParamSpec>();
  for (const task of collectTasks(
    tasks,
    {},
    (t) => t,
    (t) => t,
  ).tasks) {
    for (const [name, spec] of Object.entries(task.params as Record<string, ParamSpec>))
      if (!out.has(name)) out.set(name, spec);
  }
  return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Build the graph of `tasks` (and everything upstream of them) for one set of param overrides,
 * in four passes: collect the tasks, resolve each one's params and inputs (`draftNode`), order
 * them (`topologicalOrder`), then link downstream edges (`linkNodes`). Every problem found is a
 * diagnostic; `graph` is undefined when there is any.
 */
export function buildGraph(
  tasks: readonly AnyTask[] | Pipeline,
  overrides: Record<string, unknown> = {},
): GraphResult {
  const list = Array.isArray(tasks) ? (tasks as AnyTask[]) : (tasks as Pipeline).tasks;
  const diagnostics: RuntimeDiagnostic[] = [];
  // One node object per task, drafted as it is collected and linked in place (index, downstream)
  // once ordered, in one name → node map: at 100k tasks every per-task object and map counts
  // (allocation, GC and the maps' inserts were most of the build).
  const draftDiags: RuntimeDiagnostic[] = [];
  const {
    entries: draft,
    tasks: all,
    diagnostics: collectDiags,
  } = collectTasks(
    list,
    overrides,
    (task) => draftNode(task, overrides, draftDiags),
    (node) => node.task,
  );
  checkParamNames(all, overrides, diagnostics);
  diagnostics.push(...collectDiags, ...draftDiags);
  const order = topologicalOrder(draft, diagnostics);
  if (diagnostics.length > 0) return { graph: undefined, diagnostics };
  return { graph: linkNodes(order, draft), diagnostics };
}

/** An override naming a param no task declares is a mistake (a typo, most likely). */
function checkParamNames(
  all: readonly AnyTask[],
  overrides: Record<string, unknown>,
  diagnostics: RuntimeDiagnostic[],
): void {
  const known = new Set<string>();
  for (const task of all) for (const name in task.params) known.add(name);
  for (const name of Object.keys(overrides)) {
    if (!known.has(name)) {
      const list = [...known].sort();
      diagnostics.push({
        code: 'E_UNKNOWN_PARAM',
        message: `unknown param '${name}'${suggest(name, list)} (params: ${list.join(', ') || 'none'})`,
      });
    }
  }
}

/**
 * The `upstream`, `downstream` and `inputs` of a node that has none: one frozen array each, shared
 * by every such node (at 100k tasks, an empty array per field per node was ~10 MB). Frozen, so a
 * push onto the shared one throws instead of reaching every node; `linkNodes` replaces it.
 */
const NO_NAMES = Object.freeze([]) as unknown as string[];
const NO_INPUTS = Object.freeze([]) as unknown as GraphNode['inputs'];

/** One task's params, checked inputs, codecs and sorted upstream names (tables included);
 *  `index` and `downstream` are filled by `linkNodes`. */
function draftNode(
  task: AnyTask,
  overrides: Record<string, unknown>,
  diagnostics: RuntimeDiagnostic[],
): GraphNode {
  const params = resolveParams(task, overrides, diagnostics);
  const inputs = resolveInputs(task, params, diagnostics);
  checkCodecs(task, diagnostics);
  // Most tasks have few or no upstream tasks: skip the Set and sort when there is nothing to order.
  const tables = task.warehouse?.tables;
  let upstreamNames: string[] = NO_NAMES;
  if (inputs.length > 0 && !tables && strictlyIncreasing(inputs)) {
    // The inputs (sorted by input name) already name their tasks in sorted order, each once: the
    // common fan-in (a task of 100k inputs spent more on its Set and sort than the leaves did).
    upstreamNames = inputs.map((i) => i.task);
  } else if (inputs.length > 0 || tables) {
    const upstream = new Set<string>();
    for (const i of inputs) upstream.add(i.task);
    if (tables) for (const t in tables) upstream.add(tables[t]!.name);
    upstreamNames = [...upstream].sort();
  }
  return {
    task,
    name: task.name,
    index: -1,
    params,
    inputs,
    upstream: upstreamNames.length > 0 ? upstreamNames : NO_NAMES,
    downstream: NO_NAMES,
  };
}

/** Whether the inputs' task names are in sorted order (as `sort()` orders them), none twice. */
function strictlyIncreasing(inputs: GraphNode['inputs']): boolean {
  for (let i = 1; i < inputs.length; i++)
    if (!(inputs[i - 1]!.task < inputs[i]!.task)) return false;
  return true;
}

/** The task's inputs, each checked: it names a task, of the expected family, and a declared output. */
function resolveInputs(
  task: AnyTask,
  params: Record<string, unknown>,
  diagnostics: RuntimeDiagnostic[],
): GraphNode['inputs'] {
  const specs = inputsOf(task, params);
  // Most tasks of a wide pipeline have no inputs: no key array and no list for them.
  if (isEmpty(specs)) return NO_INPUTS;
  const inputs: GraphNode['inputs'] = [];
  const names = Object.keys(specs);
  if (names.length > 1) names.sort();
  for (const inputName of names) {
    const spec = specs[inputName]!;
    const upstream = spec.task;
    if (!spec.task || spec.task.kind !== 'cellar.task') {
      diagnostics.push({
        code: 'E_BAD_INPUT',
        task: task.name,
        message: `task '${task.name}': input '${inputName}' does not name a task`,
      });
      continue;
    }
    if (spec.expects && !spec.expects.includes(upstream.family)) {
      diagnostics.push({
        code: 'E_WRONG_TASK_TYPE',
        task: task.name,
        message: `task '${task.name}': input '${inputName}' expects a task of type ${spec.expects.map((e) => `'${e}'`).join(' or ')}, got '${upstream.name}' of type '${upstream.family}'`,
      });
      continue;
    }
    if (!Object.hasOwn(upstream.outputs, spec.output)) {
      diagnostics.push({
        code: 'E_UNKNOWN_OUTPUT',
        task: task.name,
        message: `task '${task.name}': input '${inputName}' reads output '${spec.output}' of '${upstream.name}', which declares ${
          Object.keys(upstream.outputs)
            .map((o) => `'${o}'`)
            .join(', ') || 'no outputs'
        }`,
      });
      continue;
    }
    inputs.push({ name: inputName, task: upstream.name, output: spec.output });
  }
  return inputs.length > 0 ? inputs : NO_INPUTS;
}

/** An output naming a codec nobody registered: found here, naming the task and the output,
 *  instead of as a bare error from the codec registry when the key is computed. */
function checkCodecs(task: AnyTask, diagnostics: RuntimeDiagnostic[]): void {
  const outputs = task.outputs as Record<string, OutputSpec>;
  for (const outputName in outputs) {
    const spec = outputs[outputName]!;
    if (spec.codec === undefined || hasCodec(spec.codec)) continue;
    diagnostics.push({
      code: 'E_UNKNOWN_CODEC',
      task: task.name,
      output: outputName,
      message: `task '${task.name}': output '${outputName}' names codec '${spec.codec}', which is not registered${suggest(spec.codec, codecIds())} (codecs: ${codecIds().join(', ')})`,
    });
  }
}

/**
 * Topological order by depth-first search in declaration order (stable, readable); a cycle is an
 * `E_DEPENDENCY_CYCLE` naming its path. (The compiler orders cells the same way in
 * compiler/plan/link.ts; the layers stay apart, so each keeps its copy.) The visit state lives in
 * each drafted node's `index` (-1 not seen, -2 on the current path, else its place in the order),
 * and the order is of nodes: at 100k tasks a state Map and a second name lookup per node were a
 * quarter of the graph's build.
 */
function topologicalOrder(
  draft: Map<string, GraphNode>,
  diagnostics: RuntimeDiagnostic[],
): GraphNode[] {
  const order: GraphNode[] = [];
  const path: string[] = []; // the current DFS stack, shared (not copied per edge)
  const visit = (node: GraphNode): void => {
    if (node.index >= 0) return;
    if (node.index === VISITING) {
      const cycle = [...path.slice(path.indexOf(node.name)), node.name];
      diagnostics.push({
        code: 'E_DEPENDENCY_CYCLE',
        task: node.name,
        message: `tasks form a cycle: ${cycle.join(' → ')}`,
      });
      return;
    }
    const ups = node.upstream;
    if (ups.length > 0) {
      node.index = VISITING;
      path.push(node.name);
      for (const up of ups) {
        const upNode = draft.get(up);
        if (upNode) visit(upNode);
      }
      path.pop();
    }
    node.index = order.length;
    order.push(node);
  };
  // The draft holds the tasks in declaration order (collectTasks').
  for (const node of draft.values()) visit(node);
  return order;
}
/** A node's `index` while the depth-first search is below it (topologicalOrder). */
const VISITING = -2;

/**
 * The nodes in topological order (each given its index already), linked downstream. `byName`
 * lists them in that order: the draft map itself when the order is the draft's (declaration order
 * already topological, as in most pipelines), else a new map.
 */
function linkNodes(nodes: GraphNode[], draft: Map<string, GraphNode>): TaskGraph {
  let byName = draft;
  let i = 0;
  for (const node of draft.values())
    if (nodes[i++] !== node) {
      byName = new Map<string, GraphNode>();
      for (const n of nodes) byName.set(n.name, n);
      break;
    }
  for (const node of nodes)
    for (const up of node.upstream) {
      const target = byName.get(up)!;
      // A one-element literal, not a push onto []: V8 gives a pushed-to empty array room for 17.
      if (target.downstream === NO_NAMES) target.downstream = [node.name];
      else target.downstream.push(node.name);
    }
  for (const node of nodes) if (node.downstream.length > 1) node.downstream.sort();
  return { nodes, byName };
}

/** The tasks named by `selectors` (`name`, `name+` downstream too, `+name` upstream too). */
export function selectTasks(
  graph: TaskGraph,
  selectors: readonly string[],
): { names: Map<string, string>; diagnostics: RuntimeDiagnostic[] } {
  const names = new Map<string, string>();
  const diagnostics: RuntimeDiagnostic[] = [];
  for (const raw of selectors
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean)) {
    const up = raw.startsWith('+');
    const down = raw.endsWith('+');
    const name = raw.replace(/^\+|\+$/g, '');
    const node = graph.byName.get(name);
    if (!node) {
      diagnostics.push({
        code: 'E_UNKNOWN_TASK',
        message: `unknown task '${name}' in selector '${raw}'${suggest(name, [...graph.byName.keys()])} (tasks: ${nameList([...graph.byName.keys()])})`,
      });
      continue;
    }
    names.set(name, raw);
    const walk = (n: string, dir: 'upstream' | 'downstream') => {
      for (const next of graph.byName.get(n)![dir]) {
        if (!names.has(next)) names.set(next, raw);
        walk(next, dir);
      }
    };
    if (down) walk(name, 'downstream');
    if (up) walk(name, 'upstream');
  }
  return { names, diagnostics };
}

/** The task and everything upstream of it, in topological order. */
export function upstreamClosure(graph: TaskGraph, name: string): GraphNode[] {
  const keep = new Set<string>([name]);
  for (let i = graph.byName.get(name)!.index; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (keep.has(node.name)) for (const up of node.upstream) keep.add(up);
  }
  return graph.nodes.filter((n) => keep.has(n.name));
}

/** Whether a record has no own enumerable member (without making its key array). */
function isEmpty(record: object): boolean {
  for (const name in record) if (Object.hasOwn(record, name)) return false;
  return true;
}

function inputsOf(task: AnyTask, params: Record<string, unknown>): Record<string, InputSpec> {
  const inputs = task.inputs as Record<string, InputSpec>;
  return task.dynamicInputs ? { ...inputs, ...task.dynamicInputs(params) } : inputs;
}

/**
 * Task name → task, for every task of the pipeline and everything upstream of them, without
 * building (or checking) the graph: what a worker thread needs to run jobs of a graph the
 * scheduler has already built and checked. Half the memory of `buildGraph` at 100k tasks.
 */
export function tasksByName(
  pipeline: Pipeline,
  overrides: Record<string, unknown> = {},
): Map<string, AnyTask> {
  return collectTasks(
    pipeline.tasks,
    overrides,
    (task) => task,
    (task) => task,
  ).entries;
}

/**
 * Every task of `list` and everything upstream of them, once each, in the order met (depth first,
 * a task before its upstream). `entry` makes what the name maps to (the task, or buildGraph's
 * drafted node), called once per task in that same order; `taskOf` gives the entry's task back.
 * Two different tasks of one name are an `E_DUPLICATE_TASK`; the first met is kept.
 */
function collectTasks<T>(
  list: readonly AnyTask[],
  overrides: Record<string, unknown>,
  entry: (task: AnyTask) => T,
  taskOf: (entry: T) => AnyTask,
): { entries: Map<string, T>; tasks: AnyTask[]; diagnostics: RuntimeDiagnostic[] } {
  const seen = new Map<string, T>();
  const diagnostics: RuntimeDiagnostic[] = [];
  const order: AnyTask[] = [];
  const add = (task: AnyTask) => {
    if (!task || task.kind !== 'cellar.task') return;
    const prior = seen.get(task.name);
    if (prior !== undefined) {
      if (taskOf(prior) !== task)
        diagnostics.push({
          code: 'E_DUPLICATE_TASK',
          task: task.name,
          message: `two different tasks are named '${task.name}'`,
        });
      return;
    }
    seen.set(task.name, entry(task));
    order.push(task);
    const specs = task.dynamicInputs
      ? inputsOf(task, defaultsOf(task, overrides))
      : (task.inputs as Record<string, InputSpec>);
    for (const name in specs) add(specs[name]!.task);
    const tables = task.warehouse?.tables;
    if (tables) for (const t in tables) add(tables[t]!);
  };
  for (const task of list) add(task);
  return { entries: seen, tasks: order, diagnostics };
}

/** `task`'s params: each one's default, or the same-named value of `overrides`. */
export function defaultsOf(
  task: AnyTask,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(task.params as Record<string, ParamSpec>))
    out[name] = Object.hasOwn(overrides, name) ? overrides[name] : spec.default;
  return out;
}

function resolveParams(
  task: AnyTask,
  overrides: Record<string, unknown>,
  diagnostics: RuntimeDiagnostic[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const specs = task.params as Record<string, ParamSpec>;
  if (isEmpty(specs)) return out;
  const names = Object.keys(specs);
  if (names.length > 1) names.sort();
  for (const name of names) {
    const spec = specs[name]!;
    const value = Object.hasOwn(overrides, name) ? overrides[name] : spec.default;
    if (spec.type !== 'json' && typeof value !== spec.type) {
      diagnostics.push({
        code: 'E_PARAM_TYPE',
        task: task.name,
        message: `param '${name}' of task '${task.name}' must be a ${spec.type}, got ${JSON.stringify(value)}`,
      });
    }
    out[name] = value;
  }
  return out;
}
