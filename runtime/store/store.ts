// Where outputs live, behind one small interface. Implementations: `LocalStore` (the default; a
// folder, `<workspace>/<task>/<output>_<key>.<ext>`, also a shared NFS folder: its locks are safe
// across hosts), `GcsStore` (a Cloud Storage bucket shared by many machines, gcs.ts) and
// `MemoryStore` (the in-memory twin for tests). `openStore` (open.ts) picks one from a spec.
//
// The contract every store keeps:
// - `writeOutput` is atomic: a reader sees the old bytes or the new bytes, never a torn file, and
//   an existing output is replaced (never deleted first), so a concurrent reader is never broken.
// - The manifest is written last and is the "done" marker: a task whose manifest exists for a key
//   finished and all its outputs are in place. A task killed half-way has no manifest.
// - `lock` serialises the computation of one task+key across processes; `release` is idempotent.
import type { Manifest } from '../types.js';

export interface TaskLock {
  release(): Promise<void>;
}

export interface Store {
  /** Human-readable location (a folder path, or `memory:`). */
  readonly location: string;
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
   * not in the set has no manifest under any key. Read once by `probeStore`; a snapshot, not kept.
   */
  storedTasks?(): Set<string>;
  /** The most recently finished manifest of `task` under any key, for "why is this stale". */
  latestManifest(task: string): Promise<Manifest | undefined>;
  /**
   * Store one output under `file` (`<task>/<output>_<key>.<ext>`). A store that names outputs
   * itself (content-addressed: GcsStore) returns the name it used, relative to its root; that
   * name goes into the manifest and is what `readOutput` is later given.
   */
  writeOutput(task: string, file: string, bytes: Uint8Array): Promise<string | void>;
  readOutput(task: string, file: string): Promise<Uint8Array>;
  writeManifest(manifest: Manifest): Promise<void>;
  /**
   * Take the lock of one task+key, waiting while another run holds it. `onWait` is told who holds
   * it (once), so the run can say why it is waiting.
   */
  lock(task: string, key: string, onWait?: (holder: string) => void): Promise<TaskLock>;
  /** Free-form run log lines (JSONL). */
  appendLog(runId: string, line: string): void;
  /** Flush logs and free connections at the end of a run (optional). */
  close?(): void | Promise<void>;
}

/** `<output>_<key>.<ext>`: the file name of one output. */
export function outputFileName(task: string, output: string, key: string, ext: string): string {
  return `${task}/${output}_${key}.${ext}`;
}
