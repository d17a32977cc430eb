// The library face of the runtime, for scripts, notebooks and generated tests:
//
// - `evaluate(task, params?)` runs a task and everything upstream of it in memory, with no cache
//   and no files: what a generated vitest test calls (`const { accuracy } = await
//   evaluate(trainTask)`). Values pass between tasks as they are, without codecs. A compiled task
//   runs in its notebook's folder (like `cellar run`), and the caller's folder is restored after.
// - `load(task, params?)` returns the outputs a previous `cellar run` stored for this task and
//   these params, running nothing; it fails with E_NOT_CACHED when there are none.
import { buildGraph } from './run/graph.js';
import { computeKeys } from './key/keys.js';
import { CodeHasher } from './key/codehash.js';
import {
  damagedOutputError,
  markDamaged,
  invokeTask,
  missingOutputText,
  readOutput,
} from './run/perform.js';
import { closestManifest, PREVIOUS_RUNS_COMPARED } from './run/probe.js';
import { formatChange } from './run/summary.js';
import { diffKeyInputs } from './key/hash.js';
import { LocalStore } from './store/local.js';
import type { Store } from './store/store.js';
import { pipelineOf, pipelinesListing, type AnyTask, type TaskOutputs } from './task.js';
import type { TaskGraph } from './types.js';
import { CellarError, diagnosticsError } from './errors.js';
import { sourceWorkdir } from './load/source.js';
import { resolveWorkspace, taskDir } from './store/workspace.js';
import { findProjectRoot } from './project.js';
import { RunReadStamps } from './key/run-reads.js';
import { noteLoadedOutput, untracked } from './run/read-record.js';
import { basename, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

function graphOrThrow(tasks: AnyTask[], params: Record<string, unknown>): TaskGraph {
  const { graph, diagnostics } = buildGraph(tasks, params);
  if (!graph) throw diagnosticsError(diagnostics);
  return graph;
}

/**
 * Runs `task` and everything upstream of it in memory and returns its outputs, e.g.
 * `const { accuracy } = await evaluate(trainTask, { nTrees: 10 })`. No cache, no files, no codecs:
 * values pass between tasks as they are. `params` are pipeline params by name (a task reads the
 * ones it declares; defaults fill the rest). A compiled task runs in its notebook's folder; the
 * caller's folder is restored after.
 *
 * @throws CellarError for a graph that cannot be built (`E_UNKNOWN_PARAM`, `E_PARAM_TYPE`,
 *   `E_DEPENDENCY_CYCLE`, `E_WRONG_TASK_TYPE`, …; every problem is in `diagnostics`).
 * @throws whatever a task throws, as it is.
 */
export async function evaluate<T extends AnyTask>(
  task: T,
  params: Record<string, unknown> = {},
): Promise<TaskOutputs<T>> {
  const graph = graphOrThrow([task], params);
  const keys = await computeKeys(graph);
  const keysByTask = Object.fromEntries([...keys].map(([name, key]) => [name, key.value]));
  const values = new Map<string, Record<string, unknown>>();
  const callerCwd = process.cwd();
  try {
    for (const node of graph.nodes) {
      const inputs: Record<string, unknown> = {};
      for (const input of node.inputs) inputs[input.name] = values.get(input.task)![input.output];
      const key = keys.get(node.name)!;
      // Each compiled task runs in its notebook's folder, as in Jupyter and under `cellar run`,
      // wherever the script calling evaluate() was started; hand-written tasks in the caller's.
      // (A worker thread cannot chdir: there the caller's folder stays, as before.)
      const workdir = isMainThread ? (sourceWorkdir(node.task) ?? callerCwd) : callerCwd;
      if (process.cwd() !== workdir) process.chdir(workdir);
      values.set(
        node.name,
        await invokeTask(node.task, inputs, {
          params: node.params,
          upstreamKeys: key.inputs.upstream,
          key: key.value,
          keysByTask,
        }),
      );
    }
  } finally {
    if (process.cwd() !== callerCwd) process.chdir(callerCwd);
  }
  return values.get(task.name) as TaskOutputs<T>;
}

export interface LoadOptions {
  /** The workspace folder (default: see workspace.ts). */
  workspace?: string;
  /** A store other than the local folder (tests pass a MemoryStore). */
  store?: Store;
  /**
   * The pipeline whose results to read (results belong to their pipeline). Default: the one
   * `definePipeline` listed the task in, else a compiled task's notebook (`pipelineOf`).
   */
  pipeline?: string;
}

/**
 * The outputs a previous `cellar run` stored for `task` with these `params`, decoded; runs
 * nothing. The cache key is computed as the run computed it (params, upstream keys, code), so an
 * edited task or changed param finds no result.
 *
 * @param options.workspace the workspace folder (default: `--workspace`'s default, see store/workspace.ts).
 * @param options.store a store other than the local folder (e.g. a `MemoryStore` in tests).
 * @throws CellarError `E_NOT_CACHED` when there is no stored result for this key, or when the
 *   task's pipeline cannot be told (see `options.pipeline`) (the message
 *   names the last stored key, if any); the graph errors of `evaluate`.
 */
export async function load<T extends AnyTask>(
  task: T,
  params: Record<string, unknown> = {},
  options: LoadOptions = {},
): Promise<TaskOutputs<T>> {
  // Inside a task (a notebook loading another pipeline's result), finding the workspace, the
  // project and the notebook's folder is Cellar's own work, not the task's reads (the stat of the
  // notebook's folder moved whenever a file came or went there); the variables that move them
  // are the task's inputs: read in its scope.
  void [process.env.CELLAR_WORKSPACE, process.env.CELLAR_PROJECT_ROOT];
  const workspace = untracked(() =>
    resolveWorkspace({ explicit: options.workspace, near: taskDir(task) }),
  );
  const pipeline = options.pipeline ?? options.store?.pipeline ?? pipelineOf(task);
  if (pipeline === undefined) {
    const listed = pipelinesListing(task);
    const which =
      listed.length > 1
        ? `is listed in several pipelines (${listed.join(', ')})`
        : 'is listed in no pipeline defined in this process';
    throw new CellarError(
      `cannot tell which pipeline's results to load for '${task.name}': it ${which}; pass { pipeline: '<name>' } to load()`,
      'E_NOT_CACHED',
    );
  }
  const store = (options.store ?? new LocalStore(workspace)).forPipeline(pipeline);
  const graph = graphOrThrow([task], params);
  const hasher = new CodeHasher(options.store ? undefined : join(workspace, '.codehash.json'));
  // Inside a task (a notebook loading another pipeline's result), hashing the loaded tasks' code
  // is Cellar's own work, not the task's reads: that code is in the task's key already, as its
  // own code imports their modules. Recorded, the facts of how their imports resolve (listings
  // of the folders above the project) moved its key whenever a file came or went there. What
  // keys the loaded result beyond code (the data files its run read) stays recorded, below.
  await untracked(() =>
    hasher.prepare(
      graph.nodes.flatMap((n) => (n.task.cache === 'code' && n.task.module ? [n.task.module] : [])),
    ),
  );
  // The files the run saw its tasks read are in their keys (key/run-reads.ts): key them here as
  // the run did, from the same records, or a task reading a data file is never found.
  const root = untracked(() => findProjectRoot(taskDir(task)));
  const readsAt = { root, pipeline, workspace };
  const key = (
    await computeKeys(graph, {
      hasher,
      workdir: untracked(() => sourceWorkdir(task)) ?? process.cwd(),
      reads: { ...readsAt, stamps: RunReadStamps.forProject(root) },
    })
  ).get(task.name)!;
  const manifest = await store.readManifest(task.name, key.value);
  if (!manifest) {
    // Explain against the stored run closest to these inputs (same params where one exists), as
    // --dry-run does, and say what differs: the newest run may be another param's.
    const closest = closestManifest(
      await store.recentManifests(task.name, PREVIOUS_RUNS_COMPARED),
      key.inputs,
    );
    const changes = closest ? diffKeyInputs(closest.inputs, key.inputs) : [];
    const hint = closest
      ? `; the closest stored result has key ${closest.key}${changes.length > 0 ? ` (differs in ${changes.slice(0, 3).map(formatChange).join('; ')}${changes.length > 3 ? `; and ${changes.length - 3} more` : ''})` : ''}: run the pipeline to refresh it`
      : '; run the pipeline first';
    throw new CellarError(
      `no stored output of '${task.name}' for key ${key.value} in ${store.location}${hint}`,
      'E_NOT_CACHED',
    );
  }
  // A result one of whose output files is gone is not stored: the next run re-makes it. One
  // whose file is not what its run wrote is damaged, and no longer served either.
  const gone = await store.missingOutput?.(task.name, key.value);
  if (gone?.damaged !== undefined) {
    const stored = manifest.outputs[gone.output];
    if (stored) await markDamaged(store, task.name, key.value, gone.output, stored, gone.damaged);
    throw damagedOutputError(store, task, gone.output, gone.file, gone.damaged);
  }
  if (gone)
    throw new CellarError(
      `no complete stored result of '${task.name}' for key ${key.value} in ${store.location}: ${missingOutputText(task.name, gone)}`,
      'E_NOT_CACHED',
    );
  const out: Record<string, unknown> = {};
  for (const [name, stored] of Object.entries(manifest.outputs)) {
    out[name] = await readOutput(store, task, name, stored, key.value);
    // Inside a task (a notebook loading another pipeline's result), what it loaded is its input:
    // re-made under the same key (`--rerun`), the result holds other bytes, and so does its key.
    if (store instanceof LocalStore) {
      noteLoadedOutput(store.outputPath(task.name, stored.file), stored.digest);
      // A file named for another key (`<output>_<key>-<8 hex>`: the run that first saw the task
      // read a data file filed its result under the next key) is not the file a forced re-run
      // writes over: it writes `<output>_<key>`, and the manifest, which is keyed too.
      if (!basename(stored.file).startsWith(`${name}_${key.value}.`))
        noteLoadedOutput(store.manifestPath(task.name, key.value), undefined);
    }
  }
  return out as TaskOutputs<T>;
}
