// The data that flows through `cellar run`, one type per stage:
//
//   Pipeline (Task[]) → TaskGraph (graph.ts) → CacheKey per node (keys.ts, upstream first)
//   → RunPlan (plan.ts: each node cached / run / not run, with the reason)
//   → RunEvent stream (execute.ts) → outputs + Manifest (store/) → RunResult (summary.ts)
//
// Every union here is closed: the formatters in summary.ts switch over them exhaustively, so a
// new status or event kind is a type error until it has its own line of output.
import type { RuntimeCode } from './codes.js';
import type { AnyTask } from './task.js';

/** A problem with the pipeline definition or the command line, found before anything runs. */
export interface RuntimeDiagnostic {
  /** Stable code from `RUNTIME_CODES` (codes.ts), e.g. `E_DEPENDENCY_CYCLE`, `E_UNKNOWN_PARAM`. */
  code: RuntimeCode;
  message: string;
  /** The task the problem is about, when there is one. */
  task?: string;
  /** The output of `task` it is about (E_UNKNOWN_CODEC), so a message can point at its directive. */
  output?: string;
}

/** Made by graph.ts, read by every later stage. Nodes are in topological order. */
export interface TaskGraph {
  nodes: GraphNode[];
  byName: Map<string, GraphNode>;
}

export interface GraphNode {
  task: AnyTask;
  name: string;
  /** Position in `nodes` (topological: every upstream index is smaller). */
  index: number;
  /** This task's own params (only the ones it declares), resolved from defaults and overrides. */
  params: Record<string, unknown>;
  /** Input name → the upstream output it reads. Sorted by input name. */
  inputs: { name: string; task: string; output: string }[];
  /** Distinct upstream task names, sorted. */
  upstream: string[];
  /** Distinct downstream task names, sorted. */
  downstream: string[];
}

/**
 * Everything a task's output depends on, and nothing else (hash.ts states the invariant).
 * Stored beside each output so a stale task can say why, as a diff of these fields.
 */
export interface KeyInputs {
  task: string;
  version: number;
  cache: 'code' | 'params';
  params: Record<string, unknown>;
  /**
   * Where a param object's members are not in sorted order: path → its keys in the order the task
   * receives them (key/keys.ts `paramKeyOrder`); absent when all are sorted.
   */
  paramOrder?: Record<string, string[]>;
  /** Upstream task name → its cache key. */
  upstream: Record<string, string>;
  /** Output name → codec id@version ("auto" names the whole registry's version). */
  codecs: Record<string, string>;
  /** Present when cache mode is 'code': file → normalised-syntax hash, package → version. */
  code?: { files: Record<string, string>; packages: Record<string, string> };
  /**
   * Environment variables the task's code reads (`process.env.X`), name → sha256 of the value
   * (16 hex; `unset` when absent). Values never appear in clear (keys.ts).
   */
  env?: Record<string, string>;
  /**
   * What the task read at run time on earlier runs (runtime/key/run-reads.ts): a file's path
   * (relative to the project root, or absolute outside it) → content hash (16 hex) or `missing`;
   * a folder (`data/`) → `ls:<hash of its names>`; an existence probe → `probe:file|dir|missing`;
   * a package folder read by path → `pkg:<version>`.
   */
  reads?: Record<string, string>;
  /** Inputs contributed by task hooks (e.g. warehouse table snapshots), by hook name. */
  hooks?: Record<string, unknown>;
}

export interface CacheKey {
  /** Hex digest of the canonical JSON of `inputs`; names the output files. */
  value: string;
  inputs: KeyInputs;
  /**
   * The files of the task's code fingerprint (codehash.ts `files`) when `inputs` holds no code
   * (`cache: 'params'`): not hashed, but the local modules the code reaches still hand it state
   * (a memo another task's call filled), so the run checks what their code read against this key
   * as for a code-keyed task (run-reads.ts `codeFilesOfKey`). Absent under `cache: 'code'`
   * (`inputs.code.files` says it) and when no fingerprint was taken.
   */
  codeFiles?: Readonly<Record<string, string>>;
}

/** What is stored beside a task's outputs when it finishes: the "done" marker, written last. */
export interface Manifest {
  task: string;
  key: string;
  inputs: KeyInputs;
  outputs: Record<string, StoredOutput>;
  durationMs: number;
  finishedAt: string;
  /**
   * Files the task wrote outside its outputs in this run (path relative to the project root, or
   * absolute → content hash, 16 hex): the result is served from cache only while each still holds
   * this (runtime/run/probe.ts). Absent when it wrote none.
   */
  written?: Record<string, string>;
  /**
   * Set by a reader that found output `output`'s file no longer holding what the run stored
   * (`found`: what differs, as `readOutput` says it, run/perform.ts): the result is not served
   * (`Store.missingOutput` reports it), and the next run makes it again. Absent on a sound result.
   */
  damaged?: { output: string; found: string };
}

export interface StoredOutput {
  codec: string;
  codecVersion: number;
  /** Path relative to the workspace: `<task>/<output>_<key>.<ext>`. */
  file: string;
  bytes: number;
  /**
   * SHA-256 of the stored bytes (16 hex; absent in older manifests): tells a forced re-run's new
   * output from the one it replaces under the same key (run/replaced.ts).
   */
  digest?: string;
  schema: OutputSchema;
  /** Profile of the value when it was stored (codecs/stats.ts); absent in older manifests. */
  stats?: OutputStats;
}

/** What a run records about an output's values, bounded in size (see codecs/stats.ts). */
export interface OutputStats {
  /** Table outputs: per column, keyed by column name. */
  columns?: Record<string, ColumnStats>;
  /** Set when a large table was profiled on its first N rows only. */
  sampledRows?: number;
  /** JSON outputs: numeric fields (`accuracy`, `metrics.f1`), booleans as 0/1. */
  scalars?: Record<string, number>;
}

export interface ColumnStats {
  nulls: number;
  /** Distinct non-null values; a lower bound when `distinctAtLeast` is set. */
  distinct: number;
  distinctAtLeast?: true;
  /** Numeric and date columns (dates as epoch milliseconds). */
  min?: number;
  max?: number;
  mean?: number;
  /** Equal-width bins between min and max. */
  histogram?: { min: number; max: number; counts: number[] };
  /** Other columns: the most frequent values. */
  top?: { value: string; count: number }[];
}

/** Shape of a stored value, for `cellar tree`, `cellar show` and the docs site. */
export type OutputSchema =
  | {
      kind: 'table';
      rows: number;
      /**
       * `missing`: some rows of this column hold no value (a record without the field, or
       * `undefined`), which Arrow has no null for; the table codec keeps which, to give them back.
       */
      columns: { name: string; type: string; missing?: true }[];
      shape: 'records' | 'columns';
    }
  /** `classes`: ids of the project classes whose instances the value holds (structured codec). */
  | { kind: 'json'; type: string; length?: number; classes?: string[] }
  | { kind: 'text'; chars: number }
  /** `class`: the value's class when not a plain Uint8Array (`Buffer`), so it comes back as one. */
  | { kind: 'binary'; bytes: number; class?: 'Buffer' }
  | { kind: 'model'; format: string };

/** Why a task will run (or will not): one per plan entry, shown by --dry-run. */
export type PlanReason =
  | { kind: 'cached' }
  | { kind: 'never-run' }
  | { kind: 'inputs-changed'; changes: KeyChange[]; previousKey: string }
  | { kind: 'rerun-flag' }
  | { kind: 'rerun-selector'; selector: string }
  | { kind: 'cache-invalid'; hook: string }
  /**
   * Cached, but `task` upstream of it is forced this run (`rerun`, `--rerun`, a rejected cached
   * result): it is served from the store only if that task's new output equals the stored one
   * (execute.ts drops the results computed from a replaced output, replaced.ts).
   */
  /** `task` is forced; `via`, when set, is the direct upstream it reaches this task through. */
  | { kind: 'upstream-forced'; task: string; via?: string }
  /** A file the task wrote outside its outputs is gone or no longer what its cached run wrote. */
  | { kind: 'written-changed'; path: string; missing: boolean }
  /**
   * Its manifest is stored but the file of its output `output` (`file`, as the manifest names
   * it) is not (deleted by hand, a damaged workspace): the result is not complete, so the task
   * runs again under its key, as Luigi re-runs a task whose target is missing.
   */
  | { kind: 'output-missing'; output: string; file: string }
  /**
   * Its output `output`'s file is there but not what the run wrote: another size than its
   * manifest recorded, or a reader found other bytes (`Manifest.damaged`); `found` says what
   * (`20 bytes, recorded 490`). Truncated or edited since: re-run as for a missing one.
   */
  | { kind: 'output-damaged'; output: string; file: string; found: string }
  /**
   * Planned cached (or already run in this run), but `task` upstream of it was made again in this
   * run under its unchanged key and its output changed (a damaged output found by a reader and
   * made again, execute.ts `remakeInput`): the stored result was computed from the old output, so
   * the task runs again in the same run (execute.ts `reopenBelow`). Never in a plan made ahead.
   */
  | { kind: 'upstream-remade'; task: string }
  | { kind: 'not-requested' };

/** One difference between the previous key's inputs and the current ones. */
export interface KeyChange {
  /** Dotted path into KeyInputs, e.g. `params.nTrees`, `upstream.split`, `code.files.train.ts`. */
  path: string;
  before: unknown;
  after: unknown;
}

export type PlanAction = 'cached' | 'run' | 'not-run';

export interface PlanEntry {
  name: string;
  action: PlanAction;
  key: CacheKey;
  reason: PlanReason;
}

/** Made by plan.ts (pure), executed by execute.ts. Entries follow the graph's order. */
export interface RunPlan {
  entries: PlanEntry[];
}

/** The final state of a task in one run; what `--json` prints. */
export type TaskStatus = 'ran' | 'cached' | 'failed' | 'not-run';

/**
 * Why a task did not run, in the plan, the `task-not-run` event, the result and `--json`:
 * - `upstream-failed`: `task`, upstream of it, failed (directly or through another not-run task);
 * - `fail-fast`: another task failed and the run stopped starting new ones (no `--keep-going`);
 * - `not-requested`: outside the tasks asked for (`only`); the only reason that leaves a run ok.
 */
export type NotRunReason =
  { kind: 'upstream-failed'; task: string } | { kind: 'fail-fast' } | { kind: 'not-requested' };

export type RunEvent =
  | {
      kind: 'run-start';
      at: number;
      pipeline: string;
      /** Tasks that will run. */
      toRun: number;
      /**
       * Tasks planned only because a task upstream is forced (`upstream-forced`): each runs if the
       * output of one of `forced` changes, and is served cached otherwise. Absent when none.
       */
      mayRun?: { count: number; forced: string[] };
      cached: number;
      workers: number;
      /**
       * The params this run's tasks are keyed with (each task's own, merged by name): what a run
       * that failed was run with, which no manifest records (the docs' run history shows it).
       * Absent when the tasks read none, and in logs written before it was recorded.
       */
      params?: Record<string, unknown>;
    }
  | { kind: 'task-planned'; at: number; task: string; key: string; reason: PlanReason }
  | { kind: 'task-start'; at: number; task: string; key: string; attempt: number }
  | { kind: 'task-waiting'; at: number; task: string; holder: string }
  | {
      kind: 'task-cached';
      at: number;
      task: string;
      key: string;
      byOtherRun: boolean;
      /** The key its result is stored under, when not `key` (run/adopt-reads.ts servedElsewhere). */
      filed?: string;
    }
  | {
      kind: 'task-done';
      at: number;
      task: string;
      key: string;
      durationMs: number;
      /**
       * The key its result is stored under, when not `key`: the run read an input `key` lacks, so
       * the result is filed only under the next key (run/adopt-reads.ts). Absent: under `key`, or
       * (a result whose adoption was declined) under none.
       */
      filed?: string;
      /** Ran, but its result was not stored under `key`, and why (TaskResult.notCached). */
      notCached?: string;
      /**
       * Forced, its output differed from the one stored under `key`: the downstream results
       * computed from the old one were dropped (`task@key`; run/replaced.ts).
       */
      dropped?: string[];
    }
  | {
      kind: 'task-retry';
      at: number;
      task: string;
      attempt: number;
      error: string;
      delayMs: number;
    }
  | {
      kind: 'task-failed';
      at: number;
      task: string;
      error: string;
      stack?: string;
      durationMs: number;
    }
  | { kind: 'task-not-run'; at: number; task: string; because: NotRunReason }
  /**
   * `reader`, running, found the stored output of `task` it reads missing or damaged (a file
   * deleted or changed in place after the store probe, which checks sizes only): `task` is made
   * again now, in this run, then `reader` runs once more (execute.ts `remakeInput`). `reason`
   * says what was found (`output-missing` or `output-damaged`).
   */
  | { kind: 'task-remake'; at: number; task: string; reader: string; reason: PlanReason }
  | { kind: 'run-end'; at: number; ok: boolean; durationMs: number };

/** One task's outcome; `because` is there exactly when the task did not run. */
export type TaskResult =
  | (TaskResultBase & { status: Exclude<TaskStatus, 'not-run'> })
  | (TaskResultBase & { status: 'not-run'; because: NotRunReason });

interface TaskResultBase {
  name: string;
  key: string;
  durationMs: number;
  error?: string;
  /** For `failed`: where in the notebook it threw (`notebooks/x.ipynb, cell 3 (id c2), line 2`), set by the CLI. */
  location?: string;
  /**
   * For `ran`: its result was delivered to this run's downstream but stored under no key, and why
   * (`notebooks/data/x.csv changed while load ran`, `upstream load was not cached`): the next run
   * runs it again.
   */
  notCached?: string;
  /**
   * For a task this run made again because `reader` found its stored output missing or damaged
   * while reading it (`RunEvent` `task-remake`): what was found. Its status is then that of the
   * re-make (`ran`, or `failed`).
   */
  remade?: { reason: PlanReason; reader: string };
  /**
   * For a task whose stored result (or result in this run) was computed from the old output of
   * `task`, made again in this run with another output: it ran again on the new one (`ran`), or
   * could not (`failed`, `not-run`). Never reported `cached`.
   */
  staleFrom?: string;
}

export interface RunResult {
  ok: boolean;
  pipeline: string;
  durationMs: number;
  tasks: TaskResult[];
}
