// Stage 4 of a run: `executeRun` carries out a RunPlan and reports every step as a RunEvent, in two
// parts: `schedule` (the ready queue, fail-fast) and `runAttempts` (one task: lock, retries, manifest).
//
// Scheduling is topological: a task starts when all its upstream tasks have ran or were cached,
// up to `workers` at once. The scheduler itself does no heavy work: task bodies go to a
// TaskRunner (worker threads for `cellar run`, see workers.ts; in-process for tests and the
// library), so a CPU-bound task never stalls the scheduler, the progress display or the locks.
//
// Safety: before running a task the executor takes the task+key lock in the store; if another
// process finished the same key meanwhile, the result is reused (each task computed once across
// concurrent runs). The manifest is written only after every output is in place, so a killed run
// leaves no task half-done. Failure is fail-fast by default (running tasks finish, nothing new
// starts); `keepGoing` runs everything not downstream of a failure. Retries back off
// exponentially from the task's `retryDelayMs`.
import { locatingStack, thrownMessage } from '../errors.js';
import { whileSettleable } from '../settle.js';
import type { Store } from '../store/store.js';
import type { AnyTask } from '../task.js';
import type {
  GraphNode,
  Manifest,
  NotRunReason,
  OutputSchema,
  PlanEntry,
  PlanReason,
  RunEvent,
  RunPlan,
  RunResult,
  StoredOutput,
  TaskGraph,
  TaskResult,
} from '../types.js';
import {
  neverSettlesError,
  performTask,
  timeoutError,
  unreadableInput,
  type JobInput,
  type OutputLocation,
  type TaskJob,
} from './perform.js';
import {
  codeFilesOfKey,
  moduleRecordsOfCode,
  type ReadsContext,
  type RecordedRunReads,
} from '../key/run-reads.js';
import type { ReadAdopter } from './adopt-reads.js';
import { countPlan, forced as isForced } from './plan.js';
import { dropStaleDownstream, sameOutputs } from './replaced.js';
import { missingPackageError } from '../missing-package.js';

/** What a runner reports for one job: the outputs written, and the time the task itself took. */
export interface JobResult {
  outputs: Record<string, StoredOutput>;
  /** Measured where the task ran, so worker start-up is not billed to the first tasks. */
  durationMs: number;
  /** From a committing runner: another run had already finished task+key, nothing was computed. */
  reused?: boolean;
  /** The result must not be stored under the job's key, and why (perform.ts `PerformedTask`). */
  notCached?: string;
  /** The task read nothing at run time, so it left no run-read record (perform.ts `PerformedTask`). */
  readNothing?: boolean;
  /** The task read an input its key lacks: not stored under the job's key (perform.ts `PerformedTask`). */
  unkeyed?: boolean;
  /** The task's side-effect files and their content as it left them (perform.ts `PerformedTask`). */
  written?: Record<string, string>;
  /** From a runner that wrote the manifest (`writesManifests`): its `finishedAt` (ISO 8601). */
  finishedAt?: string;
}

export interface TaskRunner {
  run(job: TaskJob): Promise<JobResult>;
  close(): Promise<void>;
  /**
   * True for a runner that itself locks task+key, reuses a finished result and writes the
   * manifest where the task runs (the distributed executor: the lock has to be held by the
   * machine that writes the outputs, or a stalled-and-retaken job could be computed twice).
   * The scheduler then neither locks nor writes the manifest; jobs carry `commit`.
   */
  readonly commits?: boolean;
  /**
   * True for a runner that writes the manifest itself, where the task ran, right after the
   * outputs, when the job carries `manifest` (the worker pool: the scheduler's thread, which
   * also locks, dispatches and keys, made every cold task wait on its manifest write). The
   * scheduler still holds the lock around the job, and the manifest is still written last.
   */
  readonly writesManifests?: boolean;
  /**
   * Called once before the first job with the run-time read records the run's keys were computed
   * from (key/run-reads.ts): a runner whose tasks run elsewhere hands them on, so the machine
   * running a task checks its key against the same records (records grow while the run goes on).
   */
  beginRun?(records: ReadonlyMap<string, RecordedRunReads>): Promise<void>;
}

/** Runs tasks on the calling thread: the in-memory twin of the worker pool. */
export class InProcessRunner implements TaskRunner {
  constructor(
    private readonly tasks: ReadonlyMap<string, AnyTask>,
    private readonly store: Store,
  ) {}

  async run(job: TaskJob): Promise<JobResult> {
    const t0 = performance.now();
    // A task awaiting a promise nothing can settle any more leaves the event loop empty: Node
    // would end the process with code 13 and no word, the summary unprinted and the task's lock
    // left behind. The task fails by name instead (settle.ts).
    const attempt = { abandoned: false };
    const performing = performTask(this.tasks.get(job.task)!, this.tasks, job, this.store, attempt);
    const done = await whileSettleable(
      job.timeoutMs === undefined ? performing : withinTimeout(performing, job, attempt),
      () => neverSettlesError(job.task),
    );
    return { ...done, durationMs: Math.round(performance.now() - t0) };
  }

  async close(): Promise<void> {}
}

/**
 * `performing`, or E_TASK_TIMEOUT once `job.timeoutMs` has passed. The timer is unref'd, so a task
 * awaiting what nothing can settle still fails at once with E_NEVER_SETTLES rather than at the
 * timeout. In process a task's code cannot be stopped: it is abandoned, and a synchronous loop
 * blocks this timer too (worker threads, pool.ts, stop both).
 */
async function withinTimeout<T>(
  performing: Promise<T>,
  job: TaskJob,
  attempt: { abandoned: boolean },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      attempt.abandoned = true;
      performing.catch(() => undefined); // its late failure is nobody's to report
      reject(timeoutError(job.task, job.timeoutMs!, false));
    }, job.timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([performing, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ExecuteOptions {
  pipeline: string;
  graph: TaskGraph;
  plan: RunPlan;
  store: Store;
  runner: TaskRunner;
  workers: number;
  keepGoing: boolean;
  onEvent?: (event: RunEvent) => void;
  /** Structured log id: events are appended to the store's run log as JSONL. */
  runId?: string;
  /** Wait between attempts is `retryDelayMs × 2^(attempt-1)` times this (tests set 0). */
  backoffScale?: number;
  /** Record what each task reads while it runs (runtime/key/run-reads.ts); absent: not recorded. */
  reads?: ReadsContext;
  /** Files each finished result under the key its newly recorded reads give (adopt-reads.ts). */
  adopter?: ReadAdopter;
  /**
   * When the plan's keys were computed (epoch ms, taken before): a task whose keyed run-time reads
   * saw other content than its key names is not committed (perform.ts `TaskJob.keyed`).
   */
  keyedAtMs?: number;
  /**
   * Called with each task whose committed result lists files it wrote outside its outputs
   * (`Manifest.written`): the run may warn about them from the records those runs just grew.
   */
  onWritten?: (task: string) => void;
}

/**
 * The params the plan's tasks are keyed with, merged by name (a param has one value per run), for
 * the run log: a failed task leaves no manifest, so its params were otherwise lost. Undefined when
 * no task reads one.
 */
export function runParams(plan: RunPlan): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const e of plan.entries)
    for (const [name, value] of Object.entries(e.key.inputs.params)) (out ??= {})[name] ??= value;
  return out;
}

export async function executeRun(options: ExecuteOptions): Promise<RunResult> {
  const { graph, plan, store } = options;
  const started = Date.now();
  const emit = (event: RunEvent) => {
    options.onEvent?.(event);
    if (options.runId) store.appendLog(options.runId, JSON.stringify(event));
  };
  const results = new Map<string, TaskResult>();
  const entryOf = new Map<string, PlanEntry>();
  for (const e of plan.entries) entryOf.set(e.name, e);
  // A key by task name, read from the plan (no second per-task map on the all-cached path).
  const keyOf = (name: string): string => entryOf.get(name)!.key.value;
  const toRun = plan.entries.filter((e) => e.action === 'run');

  const counts = countPlan(plan);
  const params = runParams(plan);
  emit({
    kind: 'run-start',
    at: started,
    pipeline: options.pipeline,
    toRun: counts.run,
    ...(counts.mayRun.count > 0 ? { mayRun: counts.mayRun } : {}),
    cached: counts.cached,
    workers: options.workers,
    ...(params ? { params } : {}),
  });
  for (const e of plan.entries) {
    if (e.action === 'cached') {
      results.set(e.name, { name: e.name, status: 'cached', key: e.key.value, durationMs: 0 });
      emit({
        kind: 'task-cached',
        at: Date.now(),
        task: e.name,
        key: e.key.value,
        byOtherRun: false,
      });
    } else if (e.action === 'not-run') {
      results.set(e.name, {
        name: e.name,
        status: 'not-run',
        key: e.key.value,
        durationMs: 0,
        because: NOT_REQUESTED,
      });
    } else {
      // Why it runs, in the run log: "why did last night's run re-train?" is answerable later.
      emit({
        kind: 'task-planned',
        at: Date.now(),
        task: e.name,
        key: e.key.value,
        reason: e.reason,
      });
    }
  }

  // How many tasks still to run read each task's outputs: a manifest is kept in memory only
  // until its last reader's job is built (a 100k-task run would otherwise hold every one).
  const readers = new Map<string, number>();
  for (const e of toRun)
    for (const up of readTasks(graph.byName.get(e.name)!))
      readers.set(up, (readers.get(up) ?? 0) + 1);
  const attempts: AttemptContext = {
    store,
    runner: options.runner,
    emit,
    keyOf,
    entryOf: (name) => entryOf.get(name)!,
    remaking: new Map(),
    onRemade: (result) => results.set(result.name, result),
    graph,
    kept: new Map(),
    schemas: new Map(),
    readers,
    backoffScale: options.backoffScale ?? 1,
    ...(options.reads ? { reads: options.reads } : {}),
    ...(options.adopter ? { adopter: options.adopter } : {}),
    ...(options.keyedAtMs !== undefined ? { keyedAtMs: options.keyedAtMs } : {}),
    ...(options.onWritten ? { onWritten: options.onWritten } : {}),
    notCached: new Map(),
    unkeyed: new Set(),
  };
  let control: ScheduleControl | undefined;
  // Tasks run again because a task upstream replaced the output they were computed from: by name,
  // the task made again (their results say so).
  const staleFrom = new Map<string, string>();
  attempts.onReplaced = async (replaced) => {
    if (!control) return;
    const reopened = await reopenBelow(replaced);
    for (const name of reopened) control.reopen(name);
  };
  /**
   * `replaced` stored other outputs under its unchanged key in this run (forced, or made again
   * because a reader found its stored output damaged): every task of this run below it that is
   * served from, or already computed from, the old outputs runs again, in this run, after what
   * it reads: a task the plan had cached (its stored result, dropped by `dropStaleDownstream`
   * when its key names `replaced`'s, was computed from the old outputs), one that ran or was
   * found cached in this run, and one running now on the old outputs (run again once it ends:
   * `ScheduleControl.reopen`). Not a task still waiting to start (it reads the new outputs), nor
   * a direct reader of `replaced` running now whose other inputs are not stale (it reads the
   * new outputs or, finding the old digest, is handed them: `remakeInput`), nor a task this run
   * does not run (not requested: left without a stored result, never reported cached).
   * Their stored results are dropped before they run again; the re-run is forced, so what it
   * replaces in turn reopens what is below it. Returns them in graph order.
   */
  const reopenBelow = async (replaced: string): Promise<string[]> => {
    const stale = new Set<string>();
    const below: GraphNode[] = [];
    const seen = new Set<string>([replaced]);
    const queue = [replaced];
    while (queue.length > 0)
      for (const down of graph.byName.get(queue.shift()!)!.downstream)
        if (!seen.has(down)) {
          seen.add(down);
          queue.push(down);
          below.push(graph.byName.get(down)!);
        }
    below.sort((a, b) => a.index - b.index);
    for (const node of below) {
      const entry = entryOf.get(node.name)!;
      if (entry.action === 'not-run') continue;
      const state = control!.state(node.name);
      if (state === 'pending') continue;
      const fromStale = node.upstream.some((u) => stale.has(u));
      if (state === 'running' && !fromStale) continue;
      // A task that did not end well is left as it ended (failed, not run).
      const status = results.get(node.name)?.status;
      if (state === 'settled' && status !== 'cached' && status !== 'ran') continue;
      stale.add(node.name);
    }
    const reopened: string[] = [];
    for (const node of below) {
      if (!stale.has(node.name)) continue;
      const entry = entryOf.get(node.name)!;
      const by = staleFrom.get(node.name) ?? replaced;
      staleFrom.set(node.name, by);
      const reason: PlanReason = { kind: 'upstream-remade', task: by };
      entryOf.set(node.name, { ...entry, action: 'run', reason });
      forget(node.name);
      if (control!.state(node.name) === 'settled') {
        results.delete(node.name);
        await store.dropManifest(node.name, entry.key.value);
      }
      emit({ kind: 'task-planned', at: Date.now(), task: node.name, key: entry.key.value, reason });
      reopened.push(node.name);
    }
    return reopened;
  };
  /** A task to run again: its outputs kept for readers are stale, and its inputs are read again. */
  const forget = (name: string) => {
    attempts.kept.delete(name);
    attempts.notCached.delete(name);
    attempts.unkeyed.delete(name);
    for (const up of readTasks(graph.byName.get(name)!))
      readers.set(up, (readers.get(up) ?? 0) + 1);
  };
  await schedule({
    graph,
    pending: new Set(toRun.map((e) => e.name)),
    settled: (name) => {
      const s = results.get(name)?.status;
      return s === 'ran' || s === 'cached';
    },
    workers: options.workers,
    keepGoing: options.keepGoing,
    run: (node, stopping) =>
      runAttempts(attempts, node, entryOf.get(node.name)!, stopping).catch((error): TaskResult => ({
        name: node.name,
        status: 'failed',
        key: keyOf(node.name),
        durationMs: 0,
        error: errorText(error),
      })),
    settle: (result) => {
      const from = staleFrom.get(result.name);
      if (from !== undefined && result.status !== 'cached') result = { ...result, staleFrom: from };
      results.set(result.name, result);
      if (result.status === 'not-run')
        emit({ kind: 'task-not-run', at: Date.now(), task: result.name, because: result.because });
    },
    keyOf,
    control: (c) => (control = c),
  });

  const tasks = graph.nodes.map((n) => results.get(n.name)!);
  const ok = isRunOk(tasks);
  const durationMs = Date.now() - started;
  emit({ kind: 'run-end', at: Date.now(), ok, durationMs });
  return { ok, pipeline: options.pipeline, durationMs, tasks };
}

/** What the attempt loop needs from the run around it. */
interface AttemptContext {
  store: Store;
  runner: TaskRunner;
  emit: (event: RunEvent) => void;
  keyOf: (name: string) => string;
  entryOf: (name: string) => PlanEntry;
  /**
   * Upstream tasks made again in this run because a reader found a stored output of theirs
   * missing or damaged (`remakeInput`), each once: where the re-made outputs are, or why they
   * could not be made again (the reader's failure).
   */
  remaking: Map<string, Promise<Record<string, OutputLocation> | string>>;
  /** The result of a task made again for a reader (`remakeInput`), replacing its earlier one. */
  onRemade: (result: TaskResult) => void;
  graph: TaskGraph;
  /**
   * Where the outputs of tasks read or run in this run are stored, by task, while a task still to
   * run reads them: the inputs of downstream jobs. Only what reading needs (`OutputLocation`), not
   * the whole manifest: a 100k-task fan-in keeps one per upstream task until its job is built.
   * One forgotten too early is read back from the store.
   */
  kept: Map<string, Record<string, OutputLocation>>;
  /**
   * One object per distinct output schema among `kept` (by its JSON): the 100k leaves of a fan-in
   * mostly share one schema, and a job holding the same object 100k times posts it to its worker
   * once (the structured clone keeps shared references shared).
   */
  schemas: Map<string, OutputSchema>;
  /** Task → how many tasks still to run read its outputs (those not yet given their job). */
  readers: Map<string, number>;
  backoffScale: number;
  reads?: ReadsContext;
  adopter?: ReadAdopter;
  keyedAtMs?: number;
  /**
   * Tasks that ran in this run but were not committed (`TaskResult.notCached`): their manifest,
   * for their readers in this run only. Their downstream is not committed either.
   */
  notCached: Map<string, Manifest>;
  /**
   * Tasks that ran in this run whose key lacks an input their result depends on (`JobResult
   * .unkeyed`), or whose upstream's does: stored under no key of their own, only where the read
   * adopter files them (its key computed from the grown record holds the input, and the upstream
   * keys it moved). A downstream result's key names the upstream key: were it stored, a later run
   * computing that upstream key again (without the record) would re-run the upstream on other
   * data, then be served this result.
   */
  unkeyed: Set<string>;
  onWritten?: (task: string) => void;
  /**
   * Called once `task`, run under a key that already held a result (forced, or made again for a
   * reader), stored other outputs than that result's: what this run serves or has computed below
   * it from the old outputs runs again (`executeRun`'s `reopenBelow`). Awaited before `task`'s
   * result is reported, so nothing below it is settled from the old outputs meanwhile.
   */
  onReplaced?: (task: string) => Promise<void>;
}

/**
 * One task, from lock to manifest: take the task+key lock; reuse the result if another process
 * finished the same key meanwhile (unless forced); otherwise run it up to `retries + 1` times,
 * with exponential backoff, and write the manifest last. Stops retrying once `stopping()` (a
 * fail-fast run is ending). Returns the task's result; throws only when the store fails.
 */
export async function runAttempts(
  ctx: AttemptContext,
  node: GraphNode,
  entry: PlanEntry,
  stopping: () => boolean,
): Promise<TaskResult> {
  const { store, emit } = ctx;
  const key = entry.key.value;
  const t0 = Date.now();
  const commits = ctx.runner.commits === true;
  const lock = commits
    ? undefined
    : await store.lock(node.name, key, (holder) =>
        emit({ kind: 'task-waiting', at: Date.now(), task: node.name, holder }),
      );
  try {
    const forced = isForced(entry.reason);
    if (!forced && (await store.isDone(node.name, key))) {
      // Planned only in case a forced upstream replaced its output (it did not): not another run's.
      const byOtherRun = entry.reason.kind !== 'upstream-forced';
      emit({ kind: 'task-cached', at: Date.now(), task: node.name, key, byOtherRun });
      return { name: node.name, status: 'cached', key, durationMs: 0 };
    }
    // Another run, started with this one, discovered a read this key lacks and filed its result
    // under the key holding it (adopt-reads.ts servedElsewhere): that result, and like any result
    // under no key of this run's own, its downstream's (execute.ts `unkeyed`).
    const elsewhere =
      !forced && !commits && ctx.adopter
        ? await ctx.adopter.servedElsewhere(node, entry.key)
        : undefined;
    if (elsewhere) {
      ctx.unkeyed.add(node.name);
      if ((ctx.readers.get(node.name) ?? 0) > 0) keep(ctx, node.name, elsewhere.manifest.outputs);
      emit({
        kind: 'task-cached',
        at: Date.now(),
        task: node.name,
        key,
        byOtherRun: true,
        filed: elsewhere.key,
      });
      return { name: node.name, status: 'cached', key, durationMs: 0 };
    }
    // The result this forced run replaces: its downstream results were computed from it.
    const previous = forced ? await store.readManifest(node.name, key) : undefined;
    const inputs: JobInput[] = [];
    for (const input of node.inputs) {
      const stored = await outputsOf(ctx, input.task);
      inputs.push({ ...input, stored: stored[input.output]! });
    }
    for (const up of readTasks(node)) {
      const left = (ctx.readers.get(up) ?? 1) - 1;
      if (left > 0) ctx.readers.set(up, left);
      else {
        ctx.readers.delete(up);
        ctx.kept.delete(up);
      }
    }
    // Only this task's and its upstream tasks' keys travel with the job (the whole run's map
    // would be cloned into the worker for every task, a million entries for 1000 tasks), and
    // only once: the runner derives `keysByTask` from `upstreamKeys` and `key`.
    const job: TaskJob = {
      task: node.name,
      key,
      params: node.params,
      upstreamKeys: entry.key.inputs.upstream,
      inputs,
      envRead: Object.keys(entry.key.inputs.env ?? {}),
    };
    if (node.task.timeoutMs !== undefined) job.timeoutMs = node.task.timeoutMs;
    if (ctx.reads) {
      job.reads = ctx.reads;
      const files = codeFilesOfKey(entry.key);
      const modules =
        node.task.module && files
          ? moduleRecordsOfCode(ctx.reads.root, node.task.module, files)
          : [];
      if (modules.length > 0) job.modules = modules;
    }
    const keyedReads = entry.key.inputs.reads;
    if (ctx.reads && ctx.keyedAtMs !== undefined && keyedReads && Object.keys(keyedReads).length)
      job.keyed = { reads: keyedReads, sinceMs: ctx.keyedAtMs };
    const hookInputs = entry.key.inputs.hooks;
    if (hookInputs && Object.keys(hookInputs).length > 0)
      job.hookInputs = hookInputs as Record<string, Record<string, unknown>>;
    // A result computed from an upstream result that was not committed is not committed either:
    // its key names the upstream key, whose stored result (if any) is not what it read.
    const fromUncached = node.upstream.find((u) => ctx.notCached.has(u));
    const inherited = fromUncached && `upstream ${fromUncached} was not cached`;
    const upUnkeyed = node.upstream.some((u) => ctx.unkeyed.has(u));
    if (commits)
      job.commit = {
        inputs: entry.key.inputs,
        forced,
        ...(inherited ? { notCached: inherited } : {}),
      };
    if (upUnkeyed) job.unkeyed = true;
    // It may replace a result stored under its key: written apart, committed by the manifest.
    if (forced) {
      job.replaces = true;
      // What it replaces, read once above: an output computed again to the same bytes keeps its file.
      if (previous && !previous.damaged) job.replacing = previous.outputs;
    }
    const runnerWrites = !commits && ctx.runner.writesManifests === true;
    if (runnerWrites && !inherited && !upUnkeyed) job.manifest = { inputs: entry.key.inputs };
    const attempts = node.task.retries + 1;
    // Upstream tasks this task had made again after finding their stored output unreadable: each
    // at most once, so a re-made output found damaged again fails the task (no loop).
    const remadeFor = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      emit({ kind: 'task-start', at: Date.now(), task: node.name, key, attempt });
      try {
        const done = await ctx.runner.run(job);
        const { outputs, durationMs, reused } = done;
        const manifest: Manifest = {
          task: node.name,
          key,
          inputs: entry.key.inputs,
          outputs,
          durationMs,
          finishedAt: done.finishedAt ?? new Date().toISOString(),
          ...(done.written ? { written: done.written } : {}),
        };
        const read = (ctx.readers.get(node.name) ?? 0) > 0;
        if (reused) {
          if (read) keep(ctx, node.name, outputs);
          emit({ kind: 'task-cached', at: Date.now(), task: node.name, key, byOtherRun: true });
          return { name: node.name, status: 'cached', key, durationMs: 0 };
        }
        const notCached = inherited || done.notCached;
        if (notCached) {
          // Delivered to this run's downstream, stored under no key: the next run re-runs it.
          ctx.notCached.set(node.name, manifest);
          emit({ kind: 'task-done', at: Date.now(), task: node.name, key, durationMs, notCached });
          return { name: node.name, status: 'ran', key, durationMs, notCached };
        }
        const unkeyed = upUnkeyed || done.unkeyed === true;
        if (unkeyed) ctx.unkeyed.add(node.name);
        // (A runner that writes manifests wrote this very one, unless the result is not cached
        // or unkeyed.)
        else if (!commits && !runnerWrites) await store.writeManifest(manifest);
        if (manifest.written) ctx.onWritten?.(node.name);
        // Before any downstream task is scheduled: none may be served from the replaced output.
        const dropped = await dropStaleDownstream(store, ctx.graph, previous, manifest);
        // Reads this run discovered: the result also under the next run's key, where provably
        // the same. Best effort: failing leaves the next run to re-run the task, never this one.
        // (A committing runner's worker wrote the manifest and the record; both are in the
        // store and the project the coordinator reads.)
        const filed = ctx.adopter
          ? await ctx.adopter
              .finished(node, entry.key, manifest, done.readNothing === true, unkeyed)
              .catch(() => undefined)
          : undefined;
        if (read) keep(ctx, node.name, outputs);
        const replaced = previous !== undefined && !sameOutputs(previous, manifest);
        emit({
          kind: 'task-done',
          at: Date.now(),
          task: node.name,
          key,
          durationMs,
          ...(unkeyed && filed ? { filed } : {}),
          ...(dropped.length > 0 ? { dropped } : {}),
        });
        if (replaced) await ctx.onReplaced?.(node.name);
        return { name: node.name, status: 'ran', key, durationMs };
      } catch (error) {
        let message = errorText(error);
        // A package the task's code (or the runtime for it: DuckDB, the SQL translator) loads is
        // not installed: which, and where to install it, not Node's chunk path.
        const missing = missingPackageError(message, node.name);
        if (missing) message = missing.message;
        // An upstream output that is missing or damaged is not a failure of this task: as gokart
        // re-runs a task whose target is gone, the upstream is made again now, then this task
        // runs once more (not counted as an attempt). The store probe checks sizes only (hashing
        // every output on every run would cost more than most runs), so an edit that keeps the
        // size, or a file deleted after the probe, is met here, by the reader.
        const unreadable = stopping() ? undefined : unreadableInput(message, job.inputs);
        if (unreadable) {
          const remade = await remakeInput(ctx, node, unreadable, message, remadeFor, stopping);
          if (typeof remade !== 'string') {
            for (const input of job.inputs)
              if (input.task === unreadable.input.task) input.stored = remade[input.output]!;
            attempt--;
            continue;
          }
          message = remade;
        }
        // (No retry finds a package installed meanwhile.)
        if (unreadable || missing || attempt >= attempts || stopping()) {
          const durationMs = Date.now() - t0;
          // (For an unreadable input, the read's own stack: the CLI then places the failure in
          // no line of this task's cell, cli/commands/run.ts UPSTREAM_OUTPUT_FAULT.)
          const stack = locatingStack(error);
          emit({
            kind: 'task-failed',
            at: Date.now(),
            task: node.name,
            error: message,
            ...(stack ? { stack } : {}),
            durationMs,
          });
          return { name: node.name, status: 'failed', key, durationMs, error: message };
        }
        const delayMs = node.task.retryDelayMs * 2 ** (attempt - 1) * ctx.backoffScale;
        emit({
          kind: 'task-retry',
          at: Date.now(),
          task: node.name,
          attempt,
          error: message,
          delayMs,
        });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  } finally {
    await lock?.release();
  }
}

/**
 * Make upstream `unreadable.input.task` again because `reader`, running, found its stored output
 * missing or damaged (`message`, readOutput's error): its result is not served any more (the
 * reader marked the manifest damaged; `Store.missingOutput` reports it), so it runs forced under
 * its key with the reason found (`task-remake`, then its own start and done), and its new
 * outputs replace the old everywhere in this run. One re-make per upstream per run, shared by its
 * readers; one per reader and upstream (`remadeFor`): read damaged again after it, the reader
 * fails, naming both. Returns where the re-made outputs are, or the reader's failure message.
 */
async function remakeInput(
  ctx: AttemptContext,
  reader: GraphNode,
  unreadable: { input: JobInput; kind: 'missing' | 'damaged' },
  message: string,
  remadeFor: Set<string>,
  stopping: () => boolean,
): Promise<Record<string, OutputLocation> | string> {
  const name = unreadable.input.task;
  if (remadeFor.has(name))
    return `the stored output '${unreadable.input.output}' of task '${name}' was made again in this run after '${reader.name}' found it ${unreadable.kind}, and reading it failed again: not made a third time; check what else writes to the workspace or the disk. ${message}`;
  remadeFor.add(name);
  let remaking = ctx.remaking.get(name);
  if (!remaking) {
    remaking = remake(ctx, reader, unreadable, stopping);
    ctx.remaking.set(name, remaking);
  }
  const remade = await remaking;
  return typeof remade === 'string'
    ? `the stored output '${unreadable.input.output}' of task '${name}' is ${unreadable.kind} and making '${name}' again in this run failed: ${remade}. ${message}`
    : remade;
}

async function remake(
  ctx: AttemptContext,
  reader: GraphNode,
  unreadable: { input: JobInput; kind: 'missing' | 'damaged' },
  stopping: () => boolean,
): Promise<Record<string, OutputLocation> | string> {
  const { input } = unreadable;
  const node = ctx.graph.byName.get(input.task)!;
  const entry = ctx.entryOf(input.task);
  const key = entry.key.value;
  // What the reader found, as the store now says it (the reader marked the manifest: the size or
  // digest found, or the codec's complaint), else as the reader's error said it.
  const found = await Promise.resolve(ctx.store.missingOutput?.(input.task, key)).catch(
    () => undefined,
  );
  const reason: PlanReason = found
    ? found.damaged
      ? { kind: 'output-damaged', output: found.output, file: found.file, found: found.damaged }
      : { kind: 'output-missing', output: found.output, file: found.file }
    : unreadable.kind === 'missing'
      ? { kind: 'output-missing', output: input.output, file: input.stored.file }
      : {
          kind: 'output-damaged',
          output: input.output,
          file: input.stored.file,
          found: `found by ${reader.name}`,
        };
  ctx.emit({ kind: 'task-remake', at: Date.now(), task: node.name, reader: reader.name, reason });
  // Its own inputs are read once more: count it among their readers again (runAttempts counts
  // each of them down when its job is built).
  for (const up of readTasks(node)) ctx.readers.set(up, (ctx.readers.get(up) ?? 0) + 1);
  const result = await runAttempts(ctx, node, { ...entry, action: 'run', reason }, stopping);
  ctx.onRemade({ ...result, remade: { reason, reader: reader.name } });
  if (result.status === 'failed' || result.status === 'not-run')
    return (result.error ?? 'it did not run').split('\n')[0]!;
  const m = ctx.notCached.get(node.name) ?? (await ctx.store.readManifest(node.name, key));
  if (!m) return `its new result is not stored under key ${key}`;
  return keep(ctx, node.name, m.outputs);
}

/**
 * The distinct tasks whose outputs `node` reads, each once: its `upstream` (distinct and sorted)
 * when that names exactly its inputs' tasks, as it does unless a warehouse table adds a task it
 * does not read; else a Set of its inputs' tasks. (A fan-in of 100k tasks made two 100k-name Sets
 * and arrays per run on the scheduler's thread, whose heap is at its largest by then.)
 */
export function readTasks(node: GraphNode): Iterable<string> {
  const { inputs, upstream } = node;
  if (upstream.length === inputs.length) {
    let same = true;
    for (let i = 0; i < inputs.length && same; i++) same = inputs[i]!.task === upstream[i];
    if (same) return upstream;
  }
  return new Set(inputs.map((i) => i.task));
}

/** Where task `name`'s outputs are, for a job reading them: kept, or read from its manifest. */
async function outputsOf(
  ctx: AttemptContext,
  name: string,
): Promise<Record<string, OutputLocation>> {
  const kept = ctx.kept.get(name) ?? ctx.notCached.get(name)?.outputs;
  if (kept) return kept;
  const key = ctx.keyOf(name);
  const m = await ctx.store.readManifest(name, key);
  if (!m)
    throw new Error(
      `output of '${name}' (key ${key}) is missing from the store at ${ctx.store.location}`,
    );
  return keep(ctx, name, m.outputs);
}

/** Keep what reading task `name`'s outputs needs, each schema shared with equal ones kept. */
function keep(
  ctx: AttemptContext,
  name: string,
  outputs: Record<string, StoredOutput>,
): Record<string, OutputLocation> {
  const kept: Record<string, OutputLocation> = {};
  for (const output of Object.keys(outputs)) {
    const { codec, file, schema, bytes, digest } = outputs[output]!;
    const text = JSON.stringify(schema);
    let shared = ctx.schemas.get(text);
    if (!shared) ctx.schemas.set(text, (shared = schema));
    // Size and digest: the reader checks the bytes it reads against them (perform.ts readOutput).
    kept[output] = { codec, file, schema: shared, bytes, ...(digest ? { digest } : {}) };
  }
  ctx.kept.set(name, kept);
  return kept;
}

export interface ScheduleInput {
  graph: TaskGraph;
  /** The tasks to run. */
  pending: Set<string>;
  /** Whether a task outside `pending` counts as finished for its downstream (ran or cached). */
  settled: (name: string) => boolean;
  workers: number;
  keepGoing: boolean;
  /** Runs one task; `stopping()` turns true once a failure ends a fail-fast run. */
  run: (node: GraphNode, stopping: () => boolean) => Promise<TaskResult>;
  /** Called once per pending task with its final result (including the not-run ones). */
  settle: (result: TaskResult) => void;
  keyOf: (name: string) => string;
  /** Called once, before any task runs, with the handle that changes the schedule as it runs. */
  control?: (control: ScheduleControl) => void;
}

/** Changing a running schedule: what runs again because what it read was replaced. */
export interface ScheduleControl {
  /** `pending`: still to start; `running`; `settled`: ended, or not the schedule's to run. */
  state(name: string): 'pending' | 'running' | 'settled';
  /**
   * Run `name` (again) once its upstream tasks are settled: a settled task is pending again (its
   * result is no longer settled: the caller removes it first), and its pending downstream tasks
   * wait for it; a running one is, once it ends, pending again instead of settled (its
   * downstream keep waiting). A pending task stays as it is.
   */
  reopen(name: string): void;
}

/**
 * The ready-queue scheduler: each pending task counts its unfinished upstream tasks; a finished
 * task decrements its downstream, a failed one marks them not run (`upstream-failed`, naming the
 * failed task). Up to `workers` tasks run at once, started in graph order (declaration order
 * where the graph allows), not finish order. After a failure without `keepGoing`, running tasks
 * finish and nothing new starts (`fail-fast`). Each task enters and leaves the ready queue once,
 * O(log n) each.
 */
export async function schedule(s: ScheduleInput): Promise<void> {
  const { graph, pending } = s;
  const running = new Set<string>();
  let stopping = false;
  const waiting = new Map<string, number>();
  // Ready tasks, lowest graph index first. A binary heap, not a sorted array: `shift` and
  // `splice` on an array of 100k names move the whole array each time (V8 cannot trim a large
  // array in place), which made a 100k-task fan-out quadratic (~7 s of CPU in the queue alone).
  const ready = new ReadyQueue();
  const enqueue = (name: string) => ready.push(graph.byName.get(name)!);
  for (const name of pending) {
    const node = graph.byName.get(name)!;
    // Counted, not filtered into a list: the scheduler's heap only grows during a run (see
    // performance.md, "Cold run peak at 100,000 tasks"), and a fan-in's list held 100k names.
    let count = 0;
    for (const up of node.upstream) if (!s.settled(up)) count++;
    waiting.set(name, count);
    if (count === 0) ready.push(node);
  }
  const skip = (name: string, because: NotRunReason) => {
    if (!pending.has(name)) return;
    pending.delete(name);
    s.settle({ name, status: 'not-run', key: s.keyOf(name), durationMs: 0, because });
    for (const down of graph.byName.get(name)!.downstream) skip(down, because);
  };
  // (A not-requested task has no pending downstream: `only` is closed over upstream tasks, so
  // whatever is requested has its upstream requested too. A task left waiting is skipped below.)

  // Running tasks to run again once they end (`ScheduleControl.reopen`).
  const again = new Set<string>();
  let pump = () => {};
  const unsettled = (up: string) => pending.has(up) || running.has(up) || !s.settled(up);
  const repend = (name: string) => {
    pending.add(name);
    let count = 0;
    for (const up of graph.byName.get(name)!.upstream) if (unsettled(up)) count++;
    waiting.set(name, count);
    if (count === 0) enqueue(name);
  };
  s.control?.({
    state: (name) => (pending.has(name) ? 'pending' : running.has(name) ? 'running' : 'settled'),
    reopen: (name) => {
      if (pending.has(name)) return;
      if (running.has(name)) {
        again.add(name);
        return;
      }
      repend(name);
      // Its pending downstream counted it settled: now they wait for it. (One reopened after it
      // in the same pass counts it itself.)
      for (const down of graph.byName.get(name)!.downstream)
        if (pending.has(down)) waiting.set(down, waiting.get(down)! + 1);
      pump();
    },
  });

  await new Promise<void>((resolveAll) => {
    const finish = (name: string, result: TaskResult) => {
      running.delete(name);
      if (again.delete(name)) {
        repend(name);
        pump();
        return;
      }
      s.settle(result);
      const node = graph.byName.get(name)!;
      if (result.status === 'failed') {
        if (!s.keepGoing) stopping = true;
        for (const down of node.downstream) skip(down, { kind: 'upstream-failed', task: name });
      } else {
        for (const down of node.downstream) {
          if (!pending.has(down)) continue;
          const left = waiting.get(down)! - 1;
          waiting.set(down, left);
          if (left === 0) enqueue(down);
        }
      }
      pump();
    };
    pump = () => {
      if (stopping) for (const name of [...pending]) skip(name, FAIL_FAST);
      while (!stopping && running.size < s.workers && ready.size > 0) {
        const name = ready.pop().name;
        // (A reopened task's downstream may be queued already: it waits again, queued anew.)
        if (!pending.has(name) || waiting.get(name) !== 0) continue;
        pending.delete(name);
        running.add(name);
        s.run(graph.byName.get(name)!, () => stopping).then((result) => finish(name, result));
      }
      if (running.size === 0 && (pending.size === 0 || ready.size === 0)) {
        for (const name of [...pending]) skip(name, FAIL_FAST);
        resolveAll();
      }
    };
    pump();
  });
}

/** A min-heap of graph nodes by `index` (topological, declaration order where the graph allows). */
class ReadyQueue {
  private readonly heap: GraphNode[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(node: GraphNode): void {
    const h = this.heap;
    let i = h.length;
    h.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.index <= node.index) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = node;
  }

  /** The ready node of lowest index; call only when `size > 0`. */
  pop(): GraphNode {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.index < h[l]!.index ? r : l;
        if (h[c]!.index >= last.index) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

const NOT_REQUESTED: NotRunReason = { kind: 'not-requested' };
const FAIL_FAST: NotRunReason = { kind: 'fail-fast' };

/** A run is ok when every task ran or was cached, or was left out because it was not requested. */
export function isRunOk(tasks: readonly TaskResult[]): boolean {
  return tasks.every(
    (t) =>
      t.status === 'ran' ||
      t.status === 'cached' ||
      (t.status === 'not-run' && t.because.kind === 'not-requested'),
  );
}

function errorText(error: unknown): string {
  return thrownMessage(error);
}
