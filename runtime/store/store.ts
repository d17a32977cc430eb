// Where outputs live, behind one small interface. Implementations: `LocalStore` (the default; a
// folder, `<workspace>/<pipeline>/<task>/<output>_<key>.<ext>`, also a shared NFS folder: its locks are safe
// across hosts), `GcsStore` (a Cloud Storage bucket shared by many machines, gcs.ts) and
// `MemoryStore` (the in-memory twin for tests). `openStore` (open.ts) picks one from a spec.
//
// The contract every store keeps:
// - `writeOutput` is atomic: a reader sees the old bytes or the new bytes, never a torn file, and
//   an existing output is replaced (never deleted first), so a concurrent reader is never broken.
// - The manifest is written last and is the "done" marker: a task whose manifest exists for a key
//   finished and all its outputs are in place. A task killed half-way has no manifest.
// - A result made again under a key that already has one (`--rerun`, a `//| rerun` task, an
//   upstream re-made because its stored output was damaged) writes its outputs under names no
//   stored manifest of that key names (`replacementFileKey`), so a run that fails or is killed
//   half-way leaves the last good result whole; replacing the manifest is the single commit
//   point, and the files only the old manifest named are removed after it (`writeManifest`).
// - `lock` serialises the computation of one task+key across processes; `release` is idempotent.
// - Outputs, manifests and run logs belong to their pipeline: a run works on `forPipeline(name)`,
//   a view rooted at `<root>/<pipeline folder>/`, so two notebooks that both have a task `load`
//   never share its folder (task names are unique only within a pipeline).
import { createHash } from 'node:crypto';
import type { Manifest } from '../types.js';

export interface TaskLock {
  release(): Promise<void>;
}

export interface Store {
  /** Human-readable location (a folder path, or `memory:`). */
  readonly location: string;
  /** The pipeline this view belongs to (`forPipeline`); undefined on the store's root. */
  readonly pipeline?: string | undefined;
  /**
   * The view of this store that holds `pipeline`'s outputs, manifests, locks and run logs, rooted
   * at `<root>/<pipelineFolder(pipeline)>/`. Every reader and writer of task results goes through
   * one (`cellar run`, worker threads, distributed workers, `cellar show`/`tree`, `load()`, the
   * docs site). Calling it on a view of the same pipeline returns that view; of another, throws.
   */
  forPipeline(pipeline: string): Store;
  /** Path (or URI) of an output file, as shown by `cellar tree`. */
  outputPath(task: string, file: string): string;
  /**
   * Has `task` finished for `key`? Called for every task on every run: local stores answer
   * synchronously (no promise on the warm path), remote ones with a promise.
   */
  isDone(task: string, key: string): boolean | Promise<boolean>;
  readManifest(task: string, key: string): Promise<Manifest | undefined>;
  /**
   * The names of the tasks that have anything stored (optional; a store that cannot list cheaply
   * leaves it out). One listing per run instead of two failed lookups per never-run task: a task
   * not in the set has no manifest under any key. Read once by `probeStore`; a snapshot. A store
   * may keep it as a hint of which folders to make before locking (never as a fact about
   * results: a folder made meanwhile by another process is met and handled as usual).
   */
  storedTasks?(): Set<string>;
  /** The most recently finished manifest of `task` under any key. */
  latestManifest(task: string): Promise<Manifest | undefined>;
  /**
   * Up to `limit` manifests of `task` under any key, newest first: the candidates `--dry-run`
   * picks the closest previous run from ("why is this stale").
   */
  recentManifests(task: string, limit: number): Promise<Manifest[]>;
  /**
   * Store one output under `file` (`<task>/<output>_<key>.<ext>`). A store that names outputs
   * itself (content-addressed: GcsStore) returns the name it used, relative to its root; that
   * name goes into the manifest and is what `readOutput` is later given.
   */
  writeOutput(task: string, file: string, bytes: Uint8Array): Promise<string | void>;
  readOutput(task: string, file: string): Promise<Uint8Array>;
  /**
   * The first output of the stored result of `task` for `key` whose file is gone while its
   * manifest stays (deleted by hand, a damaged workspace), or whose size is not the `bytes` the
   * manifest recorded or which a reader found damaged (`damaged`: truncated or edited since;
   * `Manifest.damaged`), as the output's name and its file as the manifest names it; undefined
   * when every file is there as stored or there is no manifest. Optional: a store that answers cheaply (a local folder: the manifest and one `stat`
   * per output) lets the run's store probe treat such a result as not stored and re-run its task
   * (runtime/run/probe.ts), and `cellar show`/`load()` say so. A store without it (GcsStore: a
   * request per object) is not checked; a reader then fails with E_OUTPUT_MISSING, or with
   * E_OUTPUT_DAMAGED (`readOutput` checks the size and digest of the bytes it reads).
   */
  missingOutput?(
    task: string,
    key: string,
  ): MissingOutput | undefined | Promise<MissingOutput | undefined>;
  /**
   * `isDone` then, when done, `missingOutput`, answered from one read of the manifest (optional;
   * the same answers as those two calls). The warm path's store probe asks it of every task: a
   * local store's existence check before reading the manifest it checks was a third of the
   * probe's file calls at 100,000 tasks. `gone` is left out when every output is there as stored.
   */
  doneAndMissing?(task: string, key: string): { done: boolean; gone?: MissingOutput };
  /**
   * Write the manifest (the commit). When it replaces a manifest of the same key whose outputs
   * were written under other names (a re-run: `replacementFileKey`), the files only the old one
   * named, and no other manifest of the task names, are removed once the new one is in place.
   */
  writeManifest(manifest: Manifest): Promise<void>;
  /**
   * Remove output files a run of `task` under `key` wrote before it failed (`files`, as
   * `writeOutput` named them), except those the stored manifest of `key`, or any other manifest
   * of the task, names. Optional and best effort: a file left is disk space, never a wrong result
   * (no manifest names it; LocalStore also sweeps such files when it next locks the key).
   */
  discardOutputs?(task: string, key: string, files: readonly string[]): Promise<void>;
  /**
   * Remove the result of one task+key (its manifest, the "done" marker; output files stay until
   * a run overwrites them), so it is no longer served: a forced upstream replaced the output it
   * was computed from (run/replaced.ts). Removing an absent one is not an error.
   */
  dropManifest(task: string, key: string): Promise<void>;
  /**
   * Take the lock of one task+key, waiting while another run holds it. `onWait` is told who holds
   * it (once), so the run can say why it is waiting.
   */
  lock(task: string, key: string, onWait?: (holder: string) => void): Promise<TaskLock>;
  /**
   * Who holds the lock of `task` under `key` now (optional; read only, never breaks it): `holder`
   * in words (`pid 123 on vm`), `since` (epoch ms) and `stale` (its holder is gone: the run that
   * took it was killed). Undefined when no lock is held. What `--dry-run` says of a task a killed
   * run left half done, or another run is computing.
   */
  lockHolder?(
    task: string,
    key: string,
  ): { holder: string; since: number; stale: boolean } | undefined;
  /** Free-form run log lines (JSONL). */
  appendLog(runId: string, line: string): void;
  /**
   * The run logs of this pipeline view, newest first, each as its JSONL text, read one at a time
   * as the caller iterates (a reader usually stops at the first log or two). Optional: a store
   * that cannot list them cheaply (GcsStore) leaves it out, and `cellar tree`/`--dry-run` then
   * say nothing of earlier runs' failures (runtime/run/last-run.ts).
   */
  recentLogs?(): Iterable<string>;
  /** Flush logs and free connections at the end of a run (optional). */
  close?(): void | Promise<void>;
}

/**
 * An output of a stored result whose file is gone (`Store.missingOutput`), or, with `damaged`,
 * there but not what the run wrote: what differs (`sizeDiffers`, or a reader's finding recorded
 * in the manifest, `Manifest.damaged`).
 */
export interface MissingOutput {
  output: string;
  file: string;
  damaged?: string;
}

/** What a stored output file of `bytes` bytes is, against the `recorded` size. */
export function sizeDiffers(bytes: number, recorded: number): string {
  return `${bytes} bytes, recorded ${recorded}`;
}

/**
 * What `Store.missingOutput` says of a manifest a reader marked damaged (`Manifest.damaged`), or
 * undefined for a sound one.
 */
export function markedDamaged(manifest: Manifest): MissingOutput | undefined {
  const marked = manifest.damaged;
  if (!marked) return undefined;
  const file = manifest.outputs?.[marked.output]?.file ?? marked.output;
  return { output: marked.output, file, damaged: marked.found };
}

/**
 * The key part of an output's file name for a result that may replace one stored under the same
 * key (`<key>-<16 hex of the bytes' SHA-256>`): never a name the stored manifest's files have
 * (those are `<key>`, or this with other bytes' digest), unless the bytes are the same, when
 * writing over it changes nothing. A re-run that fails or is killed after writing some outputs
 * has then changed no file a manifest names.
 */
export function replacementFileKey(key: string, digest: string): string {
  return `${key}-${digest.slice(0, 16)}`;
}

/**
 * Is `file` (a path relative to the store's root or a bare name) an output file named by
 * `replacementFileKey` for `key`? The files a result written under `key` by a re-run has.
 */
export function isReplacementFile(file: string, key: string): boolean {
  const at = file.lastIndexOf(`_${key}-`);
  if (at < 0) return false;
  return /^-[0-9a-f]{16}\.[^/]*$/.test(file.slice(at + 1 + key.length)) && !/\.tmp-/.test(file);
}

/** `<output>_<key>.<ext>`: the file name of one output. */
export function outputFileName(task: string, output: string, key: string, ext: string): string {
  return `${task}/${output}_${key}.${ext}`;
}

/**
 * The folder (or object prefix) of a pipeline's results: its name when that is a safe path
 * segment (letters, digits, `_`, `.`, `-`, not starting with `.` or `_`, so it never meets `..`,
 * a hidden file or a store's own `_runs`), else the name made safe plus 8 hex of its SHA-256, so
 * two names never share a folder.
 */
export function pipelineFolder(pipeline: string): string {
  if (/^[A-Za-z0-9][\w.-]{0,99}$/.test(pipeline)) return pipeline;
  const safe =
    pipeline
      .replace(/[^\w.-]/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 60) || 'pipeline';
  return `${safe}-${createHash('sha256').update(pipeline).digest('hex').slice(0, 8)}`;
}

/** A store's `forPipeline` rule: the same pipeline gives the same view, another one is a bug. */
export function checkRescope(current: string | undefined, wanted: string): 'same' | 'new' {
  if (current === undefined) return 'new';
  if (current === wanted) return 'same';
  throw new Error(
    `a store view of pipeline '${current}' cannot hold the results of pipeline '${wanted}'`,
  );
}
