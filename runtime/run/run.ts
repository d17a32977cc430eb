// `runPipeline`: the whole run, stage by stage — build the graph, key every task, probe the
// store, plan, then (unless it is a dry run) execute and return the RunResult. `cellar run`,
// `cellar tree` and the tests call this; the stages stay separate modules so each can be tested
// on its own.
//
// Options are normalized once (`normalizeRunOptions`, by the caller of `preparePipelineRun`) into a
// type with no optional fields.
import { useProjectWarehouse } from '../warehouse/project-root.js';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CellarError, diagnosticsError } from '../errors.js';
import { CodeHasher } from '../key/codehash.js';
import { executeRun, InProcessRunner, type TaskRunner } from './execute.js';
import { buildGraph, selectTasks, upstreamClosure } from './graph.js';
import { computeKeys } from '../key/keys.js';
import {
  loadReadsOf,
  PIPELINE_LOAD,
  recordedRunReads,
  recordedRunReadsOfPipeline,
  recordRunReads,
  RunReadStamps,
  sideEffectFiles,
  sideEffectReaders,
  type RecordedRunReads,
  type SideEffectFiles,
} from '../key/run-reads.js';
import { ReadAdopter } from './adopt-reads.js';
import { findProjectRoot } from '../project.js';
import { planRun } from './plan.js';
import { probeStore } from './probe.js';
import { LocalStore } from '../store/local.js';
import type { Store } from '../store/store.js';
import type { StoreChoice } from '../store/open.js';
import type { Pipeline } from '../task.js';
import type {
  CacheKey,
  RunEvent,
  RunPlan,
  RunResult,
  RuntimeDiagnostic,
  TaskGraph,
} from '../types.js';
import { outputDirectiveLocation, sourceWorkdir } from '../load/source.js';
import { resolveWorkspace } from '../store/workspace.js';
import { WorkerPool } from '../workers/pool.js';

/**
 * A worker thread idle this long while another is alive is ended (WorkerPool): each holds the
 * whole pipeline module, and a run's tail is often one task (a fan-in) while the rest sit idle.
 * A second after its last job, so a burst of ready tasks keeps its threads.
 */
const RETIRE_IDLE_WORKER_MS = 1000;

export interface RunOptions {
  pipeline: Pipeline;
  /** The module the pipeline came from: enables worker threads and sets the default workdir. */
  pipelineFile?: string;
  params?: Record<string, unknown>;
  workers?: number;
  /** `--rerun` selectors: `task`, `task+` (and downstream), `+task` (and upstream). */
  rerun?: string[];
  /** Task selectors to run, with what they need (upstream); the rest is not run (`not-requested`).
   *  Empty or absent: the whole pipeline. `cellar run <pipeline> <task>...` fills it. */
  only?: string[];
  keepGoing?: boolean;
  dryRun?: boolean;
  store?: Store;
  /**
   * The spec `store` was opened from, when it is not the workspace (`--store gs://…`): worker
   * threads open their own instance of it.
   */
  storeChoice?: Pick<StoreChoice, 'spec' | 'gcs'>;
  workspace?: string;
  /**
   * Folder tasks run in (relative paths resolve from it, as in the notebook). Default: the
   * pipeline's own `workdir`, relative to its file. A built bundle moved to another machine
   * passes the folder its data was moved to.
   */
  workdir?: string;
  /**
   * 'worker' needs `pipelineFile`; 'in-process' runs task code on the scheduler's thread; a
   * TaskRunner object is another executor (the BullMQ one, runtime/distributed/), closed at the end.
   */
  runner?: 'worker' | 'in-process' | TaskRunner;
  /** Hash task code into keys (default true; tests of params-only keys turn it off). */
  codeAware?: boolean;
  onEvent?: (event: RunEvent) => void;
  backoffScale?: number;
}

export interface NormalizedRunOptions {
  pipeline: Pipeline;
  pipelineFile: string | undefined;
  params: Record<string, unknown>;
  workers: number;
  rerun: string[];
  only: string[];
  keepGoing: boolean;
  dryRun: boolean;
  store: Store;
  storeChoice: Pick<StoreChoice, 'spec' | 'gcs'> | undefined;
  workspace: string;
  runner: 'worker' | 'in-process' | TaskRunner;
  codeAware: boolean;
  workdir: string | undefined;
  /** The project root (runtime/project.ts): where run-time read records live (key/run-reads.ts). */
  projectRoot: string;
  onEvent: (event: RunEvent) => void;
  backoffScale: number;
}

export function normalizeRunOptions(o: RunOptions): NormalizedRunOptions {
  const near = o.pipelineFile ? dirname(o.pipelineFile) : undefined;
  const workspace = resolveWorkspace({ explicit: o.workspace, near });
  // The pipeline file's workdir; without a file (a pipeline built in code), the notebook folder
  // its compiled tasks share, so in-process runs read the files the notebook read.
  const workdir =
    o.workdir !== undefined
      ? resolve(o.workdir)
      : o.pipelineFile
        ? resolve(dirname(o.pipelineFile), o.pipeline.workdir ?? '.')
        : sharedSourceWorkdir(o.pipeline);
  return {
    pipeline: o.pipeline,
    pipelineFile: o.pipelineFile ? resolve(o.pipelineFile) : undefined,
    params: o.params ?? {},
    workers: Math.max(1, o.workers ?? availableParallelism()),
    rerun: o.rerun ?? [],
    only: o.only ?? [],
    keepGoing: o.keepGoing ?? false,
    dryRun: o.dryRun ?? false,
    // Results belong to their pipeline: the run sees only its pipeline's view of the store.
    store: (o.store ?? new LocalStore(workspace)).forPipeline(o.pipeline.name),
    storeChoice: o.storeChoice,
    workspace,
    runner: o.runner ?? (o.pipelineFile ? 'worker' : 'in-process'),
    codeAware: o.codeAware ?? true,
    workdir,
    // The project whose data the tasks read: the workdir's (a built bundle run with --workdir
    // <checkout>/notebooks keys its reads, and finds their records, as the run from the sources
    // does, so both compute the same keys on one store); else the pipeline file's.
    projectRoot: findProjectRoot(
      o.workdir !== undefined && existsSync(workdir ?? '') ? workdir! : (near ?? process.cwd()),
    ),
    onEvent: o.onEvent ?? (() => {}),
    backoffScale: o.backoffScale ?? 1,
  };
}

export interface PreparedRun {
  /** Milliseconds spent in each stage before execution (printed by `cellar run --verbose`). */
  timings: Record<string, number>;
  options: NormalizedRunOptions;
  graph: TaskGraph;
  keys: Map<string, CacheKey>;
  plan: RunPlan;
  /** The run-time read records the keys were computed from (key/run-reads.ts). */
  records: Map<string, RecordedRunReads>;
  /** When the keys' inputs began to be computed (epoch ms): keyed reads are checked against it. */
  keyedAtMs: number;
  /** The code hasher that keyed the tasks (what each module's key rested on: `evidence`). */
  hasher?: CodeHasher;
}

/** Everything up to the plan: no task runs. Throws CellarError for a bad pipeline or selector. */
export async function preparePipelineRun(
  options: NormalizedRunOptions,
  reasons = true,
): Promise<PreparedRun> {
  const timings: Record<string, number> = {};
  let t = performance.now();
  const lap = (stage: string) => {
    const now = performance.now();
    timings[stage] = Math.round((now - t) * 10) / 10;
    t = now;
  };
  checkPipelineOwner(options);
  // One warehouse for the keys (computed here) and the tasks (run in the workdir): the project's.
  useProjectWarehouse(options.projectRoot);
  const { graph, diagnostics } = buildGraph(options.pipeline, options.params);
  lap('graph');
  if (!graph) throw diagnosticsError(diagnostics.map((d) => withDirective(d, options.pipeline)));
  const memo =
    options.store instanceof LocalStore ? join(options.workspace, '.codehash.json') : undefined;
  const hasher = options.codeAware ? new CodeHasher(memo) : undefined;
  const readsAt = {
    root: options.projectRoot,
    pipeline: options.pipeline.name,
    workspace: options.workspace,
  };
  // What the pipeline module read while it loaded is known now, before any key: recorded as the
  // pipeline's own record, it is in this run's keys already (key/run-reads.ts PIPELINE_LOAD).
  const loadReads = loadReadsOf(options.pipeline);
  if (loadReads) recordRunReads(readsAt, PIPELINE_LOAD, loadReads);
  const records = recordedRunReadsOfPipeline(readsAt);
  const stamps = RunReadStamps.forProject(options.projectRoot);
  const keyedAtMs = Date.now();
  const keys = await computeKeys(graph, {
    hasher,
    workdir: options.workdir,
    reads: { ...readsAt, stamps, records },
  });
  hasher?.save();
  stamps.save();
  lap('keys');
  const rerun = selectTasks(graph, options.rerun);
  const requested = selectTasks(graph, options.only);
  const problems = [...rerun.diagnostics, ...requested.diagnostics];
  if (problems.length > 0) throw diagnosticsError(problems);
  let only: Set<string> | undefined;
  if (options.only.length > 0) {
    only = new Set<string>();
    for (const name of requested.names.keys())
      for (const n of upstreamClosure(graph, name)) only.add(n.name);
  }
  const sideEffects = sideEffectFiles(records);
  if (sideEffects.owned.size + sideEffects.shared.length > 0) {
    warnSideEffectReaders(graph, records);
    warnSharedSideEffects(graph, sideEffects.shared);
  }
  const owned = sideEffects.owned;
  const facts = await probeStore(graph, keys, options.store, {
    reasons,
    ...(owned.size > 0 ? { written: { root: options.projectRoot, stamps, owned } } : {}),
  });
  if (owned.size > 0) stamps.save();
  lap('probe');
  const plan = planRun(graph, keys, facts, { rerun: rerun.names, only });
  lap('plan');
  return {
    timings,
    options,
    graph,
    keys,
    plan,
    records,
    keyedAtMs,
    ...(hasher ? { hasher } : {}),
  };
}

/** Do the records name a file some task writes or appends to outside its outputs? */
const hasSideEffects = (records: ReadonlyMap<string, RecordedRunReads>) => {
  for (const rec of records.values()) if (rec.writes?.length || rec.appends?.length) return true;
  return false;
};

/** (reader, writer, file) triples already warned about in this process. */
const warnedSideEffects = new Set<string>();

/**
 * Warn about each task reading a file another task writes outside its outputs with no upstream
 * path between them (run-reads.ts `sideEffectReaders`): nothing orders the two, and the reader's
 * key holds the file as it was when keyed, so it may read it before the writer runs, or stay
 * cached for a run after the writer rewrote it. Known from the records of earlier runs.
 */
function warnSideEffectReaders(
  graph: TaskGraph,
  records: ReadonlyMap<string, RecordedRunReads>,
): void {
  const upstreamOf = new Map<string, Set<string>>();
  const dependsOn = (reader: string, writer: string) => {
    if (!graph.byName.has(reader)) return true;
    let ups = upstreamOf.get(reader);
    if (!ups)
      upstreamOf.set(reader, (ups = new Set(upstreamClosure(graph, reader).map((n) => n.name))));
    return ups.has(writer);
  };
  for (const { reader, writer, path } of sideEffectReaders(records, dependsOn)) {
    if (!graph.byName.has(writer)) continue;
    const id = `${reader}\0${writer}\0${path}`;
    if (warnedSideEffects.has(id)) continue;
    warnedSideEffects.add(id);
    process.stderr.write(
      `cellar: warning: task '${reader}' reads ${path}, which task '${writer}' writes outside its outputs, ` +
        `and '${reader}' does not depend on '${writer}': it may run before '${writer}' writes the file, ` +
        `or stay cached for a run after '${writer}' rewrites it. Pass it as a value instead: ` +
        `return the content from '${writer}' as an output (\`//| output\`) and use it in '${reader}'.\n`,
    );
  }
}

/** Files already warned about in this process as written from scratch by two tasks. */
const warnedSharedSideEffects = new Set<string>();

/**
 * Warn once about each file two or more tasks write from scratch outside their outputs
 * (run-reads.ts `sideEffectFiles` `shared`): its bytes are whichever task ran last, so it belongs
 * to neither and a cache hit of either does not check it (deleting it re-runs none of them).
 */
function warnSharedSideEffects(graph: TaskGraph, shared: SideEffectFiles['shared']): void {
  for (const { path, writers } of shared) {
    const tasks = writers.filter((t) => graph.byName.has(t));
    if (tasks.length < 2 || warnedSharedSideEffects.has(path)) continue;
    warnedSharedSideEffects.add(path);
    const named = tasks.map((t) => `'${t}'`);
    const list = `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
    process.stderr.write(
      `cellar: warning: tasks ${list} each write ${path} outside their outputs: it belongs to neither, ` +
        `so a cached result of either is served whatever the file holds (deleting or editing it re-runs none of them). ` +
        `Write it from one task only (the others return their part as an output with \`//| output\`), or give each task its own file.\n`,
    );
  }
}

/**
 * Runs a pipeline as a cached DAG: graph, keys, store probe, plan, then (unless `dryRun`) execute.
 * Tasks whose key is in the store are not run; the rest run on worker threads (with
 * `pipelineFile`) or in process, up to `workers` at once, in the pipeline's workdir.
 *
 * @returns `prepared` (the graph, keys, plan and stage timings in ms) and `result` (each task's
 *   status, key and duration in ms; `ok`), or `result: undefined` for a dry run. A failing task
 *   does not throw: it is `failed` in the result and its downstream is `not-run`.
 * @throws CellarError for a pipeline that cannot be built or an unknown task selector in `only`
 *   or `rerun` (`E_UNKNOWN_TASK`, `E_UNKNOWN_PARAM`, `E_DEPENDENCY_CYCLE`, …).
 */
export async function runPipeline(
  input: RunOptions,
): Promise<{ prepared: PreparedRun; result: RunResult | undefined }> {
  const prepared = await preparePipelineRun(normalizeRunOptions(input));
  const { options, graph, plan } = prepared;
  if (options.dryRun) return { prepared, result: undefined };
  const toRun = plan.entries.filter((e) => e.action === 'run').length;
  const previousCwd = process.cwd();
  let runner: TaskRunner | undefined;
  try {
    // Temp files of killed runs, anywhere in the workspace, go before new work starts (the lock
    // sweeps only its own task's folder, which a later run may never lock again).
    if (toRun > 0 && options.store instanceof LocalStore) options.store.sweepLeftovers();
    checkPipelineOwner(options, true);
    // Tasks resolve relative paths from the pipeline's workdir, as the notebook did in Jupyter.
    if (options.workdir && toRun > 0) {
      checkWorkdir(options);
      process.chdir(options.workdir);
    }
    runner =
      typeof options.runner === 'object'
        ? options.runner
        : options.runner === 'worker' && options.pipelineFile
          ? new WorkerPool(
              Math.min(options.workers, Math.max(1, toRun)),
              {
                pipelineFile: options.pipelineFile,
                workspace: options.workspace,
                params: options.params,
                projectRoot: options.projectRoot,
                ...(options.storeChoice ? { store: options.storeChoice } : {}),
              },
              RETIRE_IDLE_WORKER_MS,
            )
          : new InProcessRunner(new Map(graph.nodes.map((n) => [n.name, n.task])), options.store);
    await runner.beginRun?.(prepared.records);
    const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
    const reads = {
      root: options.projectRoot,
      pipeline: options.pipeline.name,
      workspace: options.workspace,
      ...(options.workdir ? { workdir: options.workdir } : {}),
    };
    const adopter = new ReadAdopter(reads, prepared.records, options.store, Date.now());
    const wrote: string[] = [];
    const result = await executeRun({
      pipeline: options.pipeline.name,
      graph,
      plan,
      store: options.store,
      runner,
      workers: options.workers,
      keepGoing: options.keepGoing,
      onEvent: options.onEvent,
      runId,
      backoffScale: options.backoffScale,
      reads,
      adopter,
      keyedAtMs: prepared.keyedAtMs,
      onWritten: (task) => wrote.push(task),
    });
    // What tasks wrote outside their outputs, and who read it, in this run, warned about now
    // rather than from the next run on (that one may be answered by the warm-run record, which
    // warns about nothing): the records of every task that ran, a reader's too (its first run).
    const ran = result.tasks.filter((t) => t.status === 'ran').map((t) => t.name);
    if (wrote.length > 0 || (ran.length > 0 && hasSideEffects(prepared.records))) {
      const records = new Map(prepared.records);
      for (const task of new Set([...wrote, ...ran]))
        records.set(task, recordedRunReads(reads, task));
      const sideEffects = sideEffectFiles(records);
      warnSideEffectReaders(graph, records);
      warnSharedSideEffects(graph, sideEffects.shared);
    }
    // Tasks served from cache whose upstream result moved to a new key follow it.
    const finished = new Map(
      result.tasks
        .filter((t) => t.status === 'ran' || t.status === 'cached')
        .map((t) => [t.name, prepared.keys.get(t.name)!] as const),
    );
    await adopter.sweep(graph.nodes, finished).catch(() => undefined);
    return { prepared, result };
  } finally {
    await (runner ?? (typeof options.runner === 'object' ? options.runner : undefined))?.close();
    await options.store.close?.();
    if (process.cwd() !== previousCwd) process.chdir(previousCwd);
  }
}

/**
 * The workdir must be a folder before tasks start in it: a compiled pipeline whose notebook
 * folder was moved or deleted would otherwise fail with a raw `ENOENT ... chdir`. Throws
 * CellarError E_NO_WORKDIR naming the folder, where it was set, and the fix.
 */
function checkWorkdir(options: NormalizedRunOptions): void {
  const dir = options.workdir!;
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (isDir) return;
  const where = options.pipelineFile
    ? `${options.pipelineFile} sets workdir: '${options.pipeline.workdir ?? '.'}', which is`
    : `the pipeline's tasks run in their notebook's folder,`;
  const fix = options.pipeline.source
    ? `recompile the notebook from where it is now (cellar compile <notebook>), or run the notebook itself (cellar run <notebook>.ipynb)`
    : `create the folder, or fix the pipeline's workdir`;
  throw new CellarError(
    `the pipeline's working folder ${dir} does not exist (${where} ${dir}); the notebook folder was moved or deleted: ${fix}`,
    'E_NO_WORKDIR',
  );
}

/**
 * A workspace folder holds one notebook's pipeline. Two notebooks with the same file name in
 * different folders (`notebooks/2024/sales.ipynb`, `notebooks/2025/sales.ipynb`), compiled with
 * different `--out`, give two pipelines named `sales`: sharing `<workspace>/sales/` (and the
 * run-time read records beside it) their tasks, with equal code and params, would get equal keys
 * and one would be served the other's results. The folder records the notebook that first ran in
 * it (`_source.json`); another notebook, while that one still exists, is refused before anything
 * is keyed or run (E_DUPLICATE_PIPELINE), as compiling both into one folder is
 * (compiler/host.ts E_DUPLICATE_OUTPUT). A moved or renamed notebook takes its folder over.
 * Hand-written pipelines (no `source`) are named by their author and not checked.
 * `claim`: record this notebook as the owner (a run about to execute tasks).
 */
function checkPipelineOwner(options: NormalizedRunOptions, claim = false): void {
  const { store, pipeline } = options;
  const source = pipeline.source;
  if (!(store instanceof LocalStore) || source === undefined) return;
  const owner = store.pipelineSource();
  if (owner === source) return;
  if (owner !== undefined && existsSync(resolve(options.projectRoot, owner))) {
    throw new CellarError(
      `${source}: its pipeline '${pipeline.name}' would share the workspace folder ${store.location} with ${owner}'s pipeline of the same name (outputs, manifests, run-time read records), and be served its results. ` +
        `Rename one of the notebooks (the pipeline is named after the file), or run this one with its own --workspace`,
      'E_DUPLICATE_PIPELINE',
    );
  }
  if (claim) store.claimPipelineSource(source);
}

function sharedSourceWorkdir(pipeline: Pipeline): string | undefined {
  const dirs = new Set(pipeline.tasks.filter((t) => t.source).map((t) => sourceWorkdir(t)));
  return dirs.size === 1 ? [...dirs][0] : undefined;
}

/**
 * An output's diagnostic (E_UNKNOWN_CODEC) with the notebook, cell and line of the `//| output:`
 * directive that named the codec appended, as a task failure names its line; unchanged for a
 * hand-written task, another diagnostic, or when the directive is not found.
 */
function withDirective(d: RuntimeDiagnostic, pipeline: Pipeline): RuntimeDiagnostic {
  if (!d.output || !d.task) return d;
  const task = pipeline.tasks.find((t) => t.name === d.task);
  const at = task && outputDirectiveLocation(task, d.output);
  return at ? { ...d, message: `${d.message}\n  at ${at}` } : d;
}
