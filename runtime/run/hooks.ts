// Extension points the executor calls around each task, so the warehouse (and later other
// integrations) can take part in caching and running without the core knowing about SQL.
//
// The runtime core (plan.ts / execute.ts) owns *when* these are called; runtime/warehouse/
// provides the warehouse implementation and registers it with `registerTaskHooks`.
import type { AnyTask } from '../task.js';

export interface TaskHookContext {
  /** The task's resolved params (only the ones it declares). */
  params: Record<string, unknown>;
  /** Cache key of each upstream task, by task name. */
  upstreamKeys: Record<string, string>;
  /**
   * The direct upstream task names of any task of the run, from its graph (dynamic inputs
   * resolved with that task's params; `[]` for a name it does not hold): to follow a task's
   * upstream transitively. Present where keys are computed; absent in a worker thread.
   */
  upstreamOf?: (task: string) => readonly string[];
  /** The folder the task will run in, when the run sets one (`--workdir`, the pipeline's
   *  workdir): where its relative data paths resolve. Absent: the task's notebook folder. */
  workdir?: string;
}

export interface TaskRunContext extends TaskHookContext {
  /** This task's cache key (hex). */
  key: string;
  /**
   * Cache key of this task and of each task it depends on (inputs and `warehouse.tables`), by
   * name: for naming materialised tables.
   */
  keysByTask: Record<string, string>;
  /**
   * Say that the result must not be stored under `key`, and why (`table main.t changed while
   * load ran`): something the key names changed while the task ran. The outputs are still
   * written for this run's downstream (perform.ts `PerformedTask.notCached`). Absent where no
   * result is committed (dry runs).
   */
  notCached?(why: string): void;
  /** What each hook's `keyInputs` put into this task's key, by hook name (absent: none). */
  keyed?: Record<string, Record<string, unknown>>;
}

export interface TaskHooks {
  name: string;
  /** Does this hook care about the task at all? (Cheap; called for every task.) */
  applies(task: AnyTask): boolean;
  /**
   * Extra inputs of the task's cache key, e.g. the last-modified time of each table its SQL
   * reads. They are stored with the key's other inputs, so `--dry-run` can say what changed.
   */
  keyInputs?(task: AnyTask, ctx: TaskHookContext): Promise<Record<string, unknown>>;
  /** Is a cached result still usable (e.g. its materialised table still exists)? */
  isCachedValid?(task: AnyTask, ctx: TaskRunContext): Promise<boolean>;
  /**
   * Wraps the task's run: sets up context (logical → physical table names), then
   * post-processes outputs (materialise a query, apply `//| check`s). Throwing fails the task.
   */
  aroundRun?(
    task: AnyTask,
    ctx: TaskRunContext,
    run: () => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>>;
  /**
   * Wrap every task's run with `aroundRun`, also of tasks `applies` is false for (it is then
   * called with the task as is): how the warehouse sees a task that runs SQL only through a
   * helper its compiled module does not show (runtime/warehouse/tasks/reads.ts). Keys and the
   * warm-run record still go by `applies`.
   */
  wrapsEveryRun?: boolean;
  /**
   * What `applies` rests on besides the task's own definition: a folder whose entries decide
   * which tasks the hook applies to (the warehouse: its ran-SQL markers, tasks/reads.ts), and the
   * entries (names not starting with '.') as they were when this process first asked `applies`,
   * that is, as its keys were computed. A run that adds an entry (a task seen running SQL through
   * a helper) gives the next run other keys than this run's, so the warm-run record of this run
   * is not written (runtime/run/warm-facts.ts), and a record holds the listing and is not trusted
   * once it moved (warm-record.ts). Undefined when the folder cannot be told: no record.
   */
  appliesListing?(): { dir: string; names: readonly string[] } | undefined;
  /**
   * `cellar run --dry-run`: what running the task would cost, without running it (the warehouse
   * dry-runs the task's SQL: bytes to be processed). `bytes` is null when unknown; `note` says why.
   */
  estimate?(
    task: AnyTask,
    ctx: TaskRunContext,
  ): Promise<{ bytes: number | null; queries: number; note?: string }>;
}

const registered: TaskHooks[] = [];

export function registerTaskHooks(hooks: TaskHooks): void {
  if (!registered.some((h) => h.name === hooks.name)) registered.push(hooks);
}

const NO_HOOKS: TaskHooks[] = [];

/**
 * The registered hooks that apply to `task`. Asked afresh each time: `applies` is a field test,
 * cheaper than remembering the answer per task (a WeakMap of 100k tasks cost more to fill and to
 * sweep in every garbage collection than the tests it saved). No array is made for a task no
 * hook applies to.
 */
export function hooksFor(task: AnyTask): TaskHooks[] {
  return select(task, false);
}

/**
 * Per registered hook whose `applies` rests on a folder's entries (`TaskHooks.appliesListing`):
 * that folder and its entries as this process keyed with them, or `dir` undefined when the hook
 * cannot tell them.
 */
export function appliesListings(): {
  hook: string;
  dir: string | undefined;
  names: readonly string[];
}[] {
  const out: { hook: string; dir: string | undefined; names: readonly string[] }[] = [];
  for (const h of registered) {
    if (!h.appliesListing) continue;
    const listing = h.appliesListing();
    out.push({ hook: h.name, dir: listing?.dir, names: listing?.names ?? [] });
  }
  return out;
}

/** The hooks around a task's run: those that apply, and those that wrap every run. */
export function runHooksFor(task: AnyTask): TaskHooks[] {
  return select(task, true);
}

function select(task: AnyTask, running: boolean): TaskHooks[] {
  let hooks: TaskHooks[] | undefined;
  for (const h of registered)
    if ((running && h.wrapsEveryRun) || h.applies(task)) (hooks ??= []).push(h);
  return hooks ?? NO_HOOKS;
}
