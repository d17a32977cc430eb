// The default store: a local folder (`<project>/.cellar/workspace` unless configured). A run
// works on the view of its pipeline (`forPipeline`), rooted at `<workspace>/<pipeline>/`:
//
//   <workspace>/<pipeline>/<task>/<output>_<key>.<ext>    one file per output (`_<key>-<16 hex>.<ext>`
//                                                         when a re-run replaces a result: store.ts)
//   <workspace>/<pipeline>/<task>/<key>.manifest.json     key inputs, schemas, timing: the "done" marker
//   <workspace>/<pipeline>/<task>/<key>.lock              held while one process computes task+key
//   <workspace>/<pipeline>/_runs/<run-id>.jsonl           one structured log per run
//   <workspace>/<pipeline>/_source.json                   the notebook whose pipeline the folder holds
//
// Writes go to a temp file in the same folder and are renamed over the final name, so a reader
// never sees a torn file and an old output is never deleted first (a concurrent reader keeps its
// open file; gokart deletes on rerun and concurrent runs crash). The lock is the small
// cross-process part; see lock.ts for why an O_EXCL lock file with PID liveness was chosen.
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { rename, writeFile, unlink } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Manifest } from '../types.js';
import { CellarError } from '../errors.js';
import {
  checkRescope,
  isReplacementFile,
  markedDamaged,
  pipelineFolder,
  sizeDiffers,
  type MissingOutput,
  type Store,
  type TaskLock,
} from './store.js';
import { KEY_LENGTH } from '../key/hash.js';
import { acquireLock, lockHolder, removeStaleLock, type LockTiming } from './lock.js';
import {
  TEMP_NAME,
  currentProcess,
  isLeftoverTemp,
  isOwnerAlive,
  processStamp,
  tempStamp,
  type ProcessIdentity,
} from './owner.js';

/** A task lock's file name: the cache key (KEY_LENGTH hex digits) and `.lock` (`lock`). */
const TASK_LOCK = new RegExp(`^[0-9a-f]{${KEY_LENGTH}}\\.lock$`);

/**
 * A temp name this Cellar writes (`.tmp-<pid>.<start>~<host>`, owner.ts `tempStamp`): the walk of
 * a whole workspace, which may be a folder holding the user's own files (`--workspace shared`),
 * removes only these. A red team's `sales.csv.tmp-20241201` matched the laxer pattern a task
 * folder's own sweep still accepts (names of older Cellars) and was deleted.
 */
function isStampedTemp(name: string): boolean {
  const m = TEMP_NAME.exec(name);
  return m !== null && m[2] !== undefined && m[3] !== undefined;
}

/** Does the file hold a task lock's record (JSON with the holder's pid), as `lock` writes one? */
function holdsLockRecord(path: string): boolean {
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown } | null;
    return typeof record?.pid === 'number';
  } catch {
    return false;
  }
}

/** `<workspace>/.writers/`: a marker per process writing into the workspace (`registerWriter`). */
const WRITERS = '.writers';

/** Workspaces this process (main thread) has marked itself a writer of, and the markers. */
const registeredWriters = new Set<string>();
const writerMarkers = new Set<string>();

/**
 * Leave this process's `.writers/` markers in place when it exits: for an exit that may cut
 * writes short (a worker stopped at once with jobs in hand), so the next run sweeps after it.
 */
export function keepWriterMarkers(): void {
  writerMarkers.clear();
}

/** Is the process a `.writers/` marker names still running? An unreadable marker is not. */
function writerAlive(file: string): boolean {
  try {
    return isOwnerAlive(JSON.parse(readFileSync(file, 'utf8')) as ProcessIdentity);
  } catch {
    return false;
  }
}

/** Run logs kept in `<workspace>/_runs`; older ones are pruned when a run ends. */
export const RUN_LOGS_KEPT = 50;

/** Buffered run-log lines written at once (`appendLog`). */
const LOG_FLUSH_LINES = 2000;

export class LocalStore implements Store {
  private readonly made = new Set<string>();
  /** The task folders `storedTasks` listed: a task not in it gets its folder before its lock. */
  private listed: Set<string> | undefined;
  private readonly logs = new Map<string, { fd: number; buffer: string[] }>();
  private flushTimer: NodeJS.Timeout | undefined;

  /** `lockTiming`: lease and heartbeat for holders on other hosts (a shared NFS folder); see lock.ts. */
  constructor(
    readonly location: string,
    private readonly lockTiming: LockTiming = {},
    readonly pipeline?: string,
    /** The workspace itself (the root's location), which `sweepLeftovers` covers whole. */
    private readonly root: string = location,
  ) {}

  forPipeline(pipeline: string): LocalStore {
    if (checkRescope(this.pipeline, pipeline) === 'same') return this;
    return new LocalStore(
      join(this.location, pipelineFolder(pipeline)),
      this.lockTiming,
      pipeline,
      this.root,
    );
  }

  outputPath(_task: string, file: string): string {
    return join(this.location, file);
  }

  isDone(task: string, key: string): boolean {
    return existsSync(this.manifestPath(task, key));
  }

  /**
   * `isDone` for many tasks at once: whether the `count` manifests `task(i)`/`key(i)` name all
   * exist, stopping at the first missing one. The same one existence check per manifest, looked
   * up from the pipeline's folder: on the main thread the process changes into that folder for
   * the loop (and back, before returning or throwing), so each check is a two-part relative
   * path for the kernel to walk instead of the workspace's whole absolute path; at 100,000
   * manifests that is about a quarter of the checks' CPU (docs/design/performance.md,
   * stop 20). Nothing else runs during the synchronous loop. Task names must hold no path
   * separator (the caller's are checked task names); elsewhere (a worker thread, which cannot
   * change directory) the absolute paths are used.
   */
  allDone(count: number, task: (i: number) => string, key: (i: number) => string): boolean {
    // No pipeline folder: nothing is done.
    return this.fromFolder(false, (base) => {
      for (let i = 0; i < count; i++)
        if (!existsSync(`${base}${task(i)}/${key(i)}.manifest.json`)) return false;
      return true;
    });
  }

  /**
   * `loop(base)` with task folders looked up as `${base}<task>`: on the main thread from inside
   * the pipeline's folder (base ''; see `allDone` for why), and back to the current folder before
   * returning or throwing; else, or when there is no current folder to come back to, by absolute
   * path. `missing` when the pipeline's folder does not exist.
   */
  private fromFolder<T>(missing: T, loop: (base: string) => T): T {
    let back: string | undefined;
    if (isMainThread) {
      try {
        back = process.cwd();
        process.chdir(this.location);
      } catch {
        if (back !== undefined) return missing;
      }
    }
    try {
      return loop(back === undefined ? `${this.location}/` : '');
    } finally {
      if (back !== undefined) process.chdir(back);
    }
  }

  /**
   * A stamp of the `count` task folders `task(i)` as they are now: sha256 over each folder's
   * inode, modification and change time (ms, sub-µs resolution), in order; undefined when one is
   * missing. Removing, adding or renaming any entry of a folder (an output file deleted by hand, a
   * manifest written or dropped) moves its times, so an equal stamp says no entry of these
   * folders changed since it was taken. Every output file lives directly in its task's folder
   * (`outputFileName`), so this one stat per task stands for one per output file; the warm-run
   * record keeps it (runtime/run/warm-record.ts). Looked up from the pipeline folder as `allDone`.
   */
  taskFoldersStamp(count: number, task: (i: number) => string): string | undefined {
    return this.fromFolder(undefined, (base) => {
      // The numbers as doubles, hashed at once: no number-to-text per folder.
      const facts = new Float64Array(3 * count);
      for (let i = 0; i < count; i++) {
        const st = statSync(`${base}${task(i)}`, { throwIfNoEntry: false });
        if (!st) return undefined;
        facts[3 * i] = st.ino;
        facts[3 * i + 1] = st.mtimeMs;
        facts[3 * i + 2] = st.ctimeMs;
      }
      return createHash('sha256').update(facts).digest('hex').slice(0, 32);
    });
  }

  /**
   * The notebook whose pipeline this folder holds (`_source.json`: its path relative to the
   * project root, as the compiled pipeline's `source` names it), or undefined before a run of a
   * compiled notebook wrote one. Two notebooks of one name (`a/w.ipynb`, `b/w.ipynb`) compile to
   * pipelines of one name: this tells their folders apart (runtime/run/run.ts checkPipelineOwner).
   */
  pipelineSource(): string | undefined {
    try {
      const raw = JSON.parse(readFileSync(join(this.location, '_source.json'), 'utf8')) as unknown;
      const source = (raw as { source?: unknown } | null)?.source;
      return typeof source === 'string' ? source : undefined;
    } catch {
      return undefined;
    }
  }

  /** Record `source` as the notebook whose pipeline this folder holds (atomic rename). */
  claimPipelineSource(source: string): void {
    // A full disk, a read-only mount or a workspace that is a file: said as the workspace's, and
    // no temp file left behind (a tester found one after ENOSPC here, never removed).
    this.naming('pipeline folder (_source.json)', () => {
      mkdirSync(this.location, { recursive: true });
      const file = join(this.location, '_source.json');
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      try {
        writeFileSync(tmp, JSON.stringify({ source }) + '\n');
        renameSync(tmp, file);
      } catch (error) {
        rmSync(tmp, { force: true });
        throw error;
      }
    });
  }

  /** The task folders present (one readdir of the workspace); empty when there is no workspace yet. */
  storedTasks(): Set<string> {
    try {
      this.listed = new Set(readdirSync(this.location));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.listed = new Set();
    }
    return new Set(this.listed);
  }

  /**
   * @throws CellarError E_OUTPUT_DAMAGED when the manifest is there but not valid JSON (truncated
   * or edited by hand), naming the task and the file; the manifest is removed first
   */
  async readManifest(task: string, key: string): Promise<Manifest | undefined> {
    const path = this.manifestPath(task, key);
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (error instanceof SyntaxError) {
        // Cellar writes manifests whole (temp file, then rename): this one was damaged from
        // outside. Removed, so no path serves the result and the next run makes it again.
        try {
          unlinkSync(path);
        } catch {
          // a read-only workspace: the error still says what to do
        }
        throw new CellarError(
          `the stored result of task '${task}' is damaged: its manifest ${path} is not valid JSON (${error.message}): changed after its run wrote it (edited or truncated by hand, a damaged disk). It is removed; the next \`cellar run\` of the pipeline makes the result again`,
          'E_OUTPUT_DAMAGED',
        );
      }
      throw error;
    }
  }

  async latestManifest(task: string): Promise<Manifest | undefined> {
    return (await this.recentManifests(task, 1))[0];
  }

  async recentManifests(task: string, limit: number): Promise<Manifest[]> {
    const dir = join(this.location, task);
    // A never-run task has no folder: check first, a throwing readdir costs far more.
    if (!existsSync(dir)) return [];
    let found: { name: string; time: number }[];
    try {
      found = readdirSync(dir)
        .filter((n) => n.endsWith('.manifest.json'))
        .map((name) => ({ name, time: statSync(join(dir, name)).mtimeMs }));
    } catch {
      return [];
    }
    found.sort((a, b) => b.time - a.time || a.name.localeCompare(b.name));
    const out: Manifest[] = [];
    for (const { name } of found.slice(0, limit)) {
      try {
        out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as Manifest);
      } catch {
        // removed meanwhile, or not ours to read: one candidate fewer
      }
    }
    return out;
  }

  // Synchronous file calls behind the async interface: outputs are written and read on worker
  // threads (blocking there is free), manifests are small, and a sync call skips the libuv
  // thread-pool round trip, which dominated the per-task cost of a cold run.
  //
  // Task folders are made on demand: a write or lock that finds no folder (ENOENT) makes it and
  // tries once more, so the common case (the folder is there) costs no `mkdir` call.
  async writeOutput(task: string, file: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.location, file);
    this.naming(`output file ${path} of task '${task}'`, () =>
      this.inTaskFolder(task, () => atomicWriteSync(path, bytes)),
    );
  }

  async readOutput(_task: string, file: string): Promise<Uint8Array> {
    return readWholeSync(join(this.location, file));
  }

  missingOutput(task: string, key: string): MissingOutput | undefined {
    return this.doneAndMissing(task, key).gone;
  }

  doneAndMissing(task: string, key: string): { done: boolean; gone?: MissingOutput } {
    const path = this.manifestPath(task, key);
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    } catch (error) {
      // A manifest that is there but not JSON (truncated, edited): the result cannot be served.
      // `output` is empty: the manifest itself, not one output (summary.ts says so).
      if (error instanceof SyntaxError)
        return {
          done: true,
          gone: {
            output: '',
            file: `${task}/${key}.manifest.json`,
            damaged: `not valid JSON: ${error.message}`,
          },
        };
      // No manifest: not done. One there but unreadable (permissions, a folder of that name):
      // done as `isDone` says, with nothing found incomplete, as before this read was shared.
      const code = (error as NodeJS.ErrnoException).code;
      return { done: code === 'ENOENT' || code === 'ENOTDIR' ? false : existsSync(path) };
    }
    const gone = this.outputGone(manifest);
    if (gone && !gone.damaged) {
      // Gone because a re-run committed a new result since the read above and removed the files
      // only the old one named (`writeManifest`): the key's result is the new one.
      const now = readManifestFile(path);
      if (now && now.outputs?.[gone.output]?.file !== gone.file)
        return { done: true, gone: this.outputGone(now) };
    }
    return { done: true, gone };
  }

  /** The first output of a parsed manifest whose file is gone or of another size, if any. */
  private outputGone(manifest: Manifest): MissingOutput | undefined {
    // One stat per output: gone, or truncated or edited to another size since the run wrote it.
    // An edit that keeps the size is seen by a reader's digest check, which marks the manifest.
    const marked = markedDamaged(manifest);
    if (marked) return marked;
    for (const [output, stored] of Object.entries(manifest.outputs ?? {})) {
      const st = statSync(join(this.location, stored.file), { throwIfNoEntry: false });
      if (!st) return { output, file: stored.file };
      if (typeof stored.bytes === 'number' && st.size !== stored.bytes)
        return { output, file: stored.file, damaged: sizeDiffers(st.size, stored.bytes) };
    }
    return undefined;
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    const path = this.manifestPath(manifest.task, manifest.key);
    const text = JSON.stringify(manifest, null, 2) + '\n';
    // A re-run's result (its files named apart: store.ts `replacementFileKey`) may replace one
    // stored under the key: that one is read first, and the files only it named go once the new
    // manifest is in place (the rename is the commit). A first run's plain names mean no manifest
    // was there under the lock: no read on the cold path.
    const before = namesReplacement(manifest) ? readManifestFile(path) : undefined;
    this.naming(`manifest ${path} of task '${manifest.task}'`, () =>
      this.inTaskFolder(manifest.task, () => atomicWriteSync(path, text)),
    );
    if (before) {
      const kept = filesOf(manifest);
      this.removeUnnamed(
        manifest.task,
        manifest.key,
        [...filesOf(before)].filter((f) => !kept.has(f)),
      );
    }
  }

  async discardOutputs(task: string, key: string, files: readonly string[]): Promise<void> {
    const stored = readManifestFile(this.manifestPath(task, key));
    const named = stored ? filesOf(stored) : new Set<string>();
    this.removeUnnamed(
      task,
      key,
      files.filter((f) => !named.has(f)),
    );
  }

  /**
   * Remove output files of `task` (paths relative to this view) that no manifest of the task
   * other than `key`'s names (the caller has checked `key`'s): a result adopted under another key
   * (run/adopt-reads.ts) names the files of the key it was computed under. Best effort.
   */
  private removeUnnamed(task: string, key: string, files: readonly string[]): void {
    if (files.length === 0) return;
    const others = this.namedByOtherManifests(task, key);
    for (const file of files) {
      if (others.has(file)) continue;
      try {
        unlinkSync(join(this.location, file));
      } catch {
        // gone already, or not ours to remove: disk space, never a wrong result
      }
    }
  }

  /** The output files every manifest of `task` but `key`'s names. */
  private namedByOtherManifests(task: string, key: string): Set<string> {
    const named = new Set<string>();
    const dir = join(this.location, task);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return named;
    }
    for (const name of names) {
      if (!name.endsWith('.manifest.json') || name === `${key}.manifest.json`) continue;
      const m = readManifestFile(join(dir, name));
      if (m) for (const f of filesOf(m)) named.add(f);
    }
    return named;
  }

  async dropManifest(task: string, key: string): Promise<void> {
    try {
      unlinkSync(this.manifestPath(task, key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async lock(task: string, key: string, onWait?: (holder: string) => void): Promise<TaskLock> {
    const path = join(this.location, task, `${key}.lock`);
    // A folder this store made a moment ago holds no temp file of a dead process (one that
    // appears later is swept by the next run's start or the next lock of an existing folder).
    let fresh = false;
    // A task the run's listing had no folder for (a never-run task, most of a cold run) gets its
    // folder first: the lock's create would only fail with ENOENT. The listing is a hint: a
    // folder made since is met as EEXIST and treated as any existing folder.
    if (this.listed && !this.listed.has(task)) {
      this.naming(`folder ${join(this.location, task)} of task '${task}'`, () => {
        fresh = this.makeTaskFolder(task);
      });
      this.listed.add(task);
    }
    let lock: TaskLock;
    try {
      lock = await acquireLock(path, onWait, this.lockTiming, () => {
        fresh = this.makeTaskFolder(task);
      });
    } catch (error) {
      this.naming(`lock file ${path} of task '${task}'`, () => {
        throw error;
      });
      throw error;
    }
    if (!fresh) this.sweepTemp(task, key);
    return lock;
  }

  lockHolder(task: string, key: string) {
    return lockHolder(join(this.location, task, `${key}.lock`), this.lockTiming);
  }

  /**
   * Lines are buffered and written at most every 200 ms, at close, or once LOG_FLUSH_LINES are
   * waiting: a warm run logs 1000s in one synchronous loop (100,000 at scale), where the timer
   * never fires; holding them all until close cost a 10 MB string and the garbage collector's
   * copying of every line.
   */
  appendLog(runId: string, line: string): void {
    let log = this.logs.get(runId);
    if (!log) {
      if (this.logFailed) return;
      try {
        this.ensureDir('_runs');
        log = { fd: openSync(join(this.location, '_runs', `${runId}.jsonl`), 'a'), buffer: [] };
      } catch (error) {
        this.dropLog(error);
        return;
      }
      this.logs.set(runId, log);
    }
    log.buffer.push(line);
    if (log.buffer.length >= LOG_FLUSH_LINES) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), 200);
      this.flushTimer.unref();
    }
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const log of this.logs.values()) {
      try {
        if (log.buffer.length > 0 && !this.logFailed)
          writeSync(log.fd, log.buffer.join('\n') + '\n');
      } catch (error) {
        this.dropLog(error);
      }
      log.buffer.length = 0;
    }
  }

  *recentLogs(): Iterable<string> {
    this.flush();
    let names: string[];
    try {
      names = readdirSync(join(this.location, '_runs'));
    } catch {
      return;
    }
    // Run ids start with an ISO timestamp, so name order is age order.
    for (const name of names
      .filter((n) => n.endsWith('.jsonl'))
      .sort()
      .reverse()) {
      try {
        yield readFileSync(join(this.location, '_runs', name), 'utf8');
      } catch {
        // pruned by a run ending meanwhile
      }
    }
  }

  /** Flush and close open run logs (end of a run), keeping the newest RUN_LOGS_KEPT logs. */
  close(): void {
    this.flush();
    for (const log of this.logs.values()) closeSync(log.fd);
    if (this.logs.size > 0) {
      const dir = join(this.location, '_runs');
      // Run ids start with an ISO timestamp, so name order is age order.
      const names = readdirSync(dir)
        .filter((n) => n.endsWith('.jsonl'))
        .sort();
      for (const old of names.slice(0, Math.max(0, names.length - RUN_LOGS_KEPT))) {
        try {
          unlinkSync(join(dir, old));
        } catch {
          // another run pruned it
        }
      }
    }
    this.logs.clear();
  }

  /** The manifest file of `task`'s result for `key` (load() keys a task reading it: api.ts). */
  manifestPath(task: string, key: string): string {
    // Plain concatenation: called once per task on every run; task names are path-safe.
    return `${this.location}/${task}/${key}.manifest.json`;
  }

  private ensureDir(task: string): void {
    if (this.made.has(task)) return;
    const dir = join(this.location, task);
    this.naming(
      task === '_runs' ? `run log folder ${dir}` : `folder ${dir} of task '${task}'`,
      () => mkdirSync(dir, { recursive: true }),
    );
    this.made.add(task);
  }

  /** Run `write` (a file in `task`'s folder); when the folder is missing, make it and run it again. */
  private inTaskFolder(task: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.makeTaskFolder(task);
      write();
    }
  }

  /** Make `task`'s folder (and the pipeline's); true when this call created it. */
  private makeTaskFolder(task: string): boolean {
    const dir = join(this.location, task);
    try {
      mkdirSync(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'ENOENT') throw error;
    }
    // The pipeline folder (or the workspace) is missing too: the first task of a new pipeline.
    mkdirSync(this.location, { recursive: true });
    try {
      mkdirSync(dir);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  /**
   * Run a write; an I/O failure (ENOSPC on a full disk, EACCES, EROFS...) becomes E_WORKSPACE_WRITE
   * naming what was being written, the workspace and the system's code. atomicWriteSync has
   * already removed its temp file.
   */
  private naming(what: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!code || !/^E[A-Z]+$/.test(code)) throw error;
      const reason =
        code === 'ENOSPC'
          ? 'no space left on the device'
          : (error as Error).message.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
      throw new CellarError(
        `cannot write the ${what} in workspace ${this.location}: ${reason} (${code})`,
        'E_WORKSPACE_WRITE',
      );
    }
  }

  /** A run log that cannot be written (a full disk) is dropped with one warning; the run goes on. */
  private logFailed = false;
  private dropLog(error: unknown): void {
    if (this.logFailed) return;
    this.logFailed = true;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    process.stderr.write(
      `warning: cannot write the run log in ${join(this.location, '_runs')}: ${(error as Error).message}${code ? '' : ''}; the run goes on without it\n`,
    );
  }

  /**
   * Remove temp files left by processes that died mid-write, and task locks whose holder is gone,
   * anywhere in the workspace (its top level, every pipeline folder and its task folders and
   * _runs, and folders of the layout before pipeline folders): called when a run starts, so a
   * killed run's leftovers do not pile up in folders no later run locks. Returns how many were
   * removed.
   *
   * The walk reads every task folder (77 ms at 1,000 tasks, seconds at 100,000, on every run with
   * work), so it is done only when a writer may have died mid-write: when `.writers/` holds the
   * marker of a process that is gone (`registerWriter`), or when there is no `.writers/` yet (a
   * workspace last written by a Cellar before markers). A process that exits normally removes its
   * marker. Leftovers are garbage only (readers never open temp names; a lock's next taker
   * removes a dead holder's lock itself), so a walk skipped is disk space, never a wrong result.
   */
  sweepLeftovers(): number {
    const writers = join(this.root, WRITERS);
    let names: string[] | undefined;
    try {
      names = readdirSync(writers).filter((n) => !TEMP_NAME.test(n));
    } catch {
      names = undefined;
    }
    const dead = (names ?? []).filter((n) => !writerAlive(join(writers, n)));
    this.registerWriter();
    if (names !== undefined && dead.length === 0) return 0;
    const removed = this.sweepWorkspace();
    for (const n of dead) rmSync(join(writers, n), { force: true });
    return removed;
  }

  /**
   * Mark this process as a writer of the workspace (`<workspace>/.writers/<pid>.<start>@<host>`,
   * its identity as a lock records it), removed when the process exits normally: a marker whose
   * process is gone tells the next run's `sweepLeftovers` to walk the workspace. Once per process
   * and workspace, from the main thread only (a worker thread's exit is not the process's; its
   * temp files carry the process's id, which the main thread's marker covers). Best effort: a
   * marker that cannot be written costs only that its writer's leftovers wait for another sweep.
   */
  registerWriter(): void {
    if (!isMainThread || registeredWriters.has(this.root)) return;
    registeredWriters.add(this.root);
    const me = currentProcess();
    const file = join(this.root, WRITERS, `${processStamp()}@${me.host.replace(/[^\w.-]/g, '_')}`);
    const tmp = `${file}.tmp-${tempStamp()}`;
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(tmp, JSON.stringify(me));
      renameSync(tmp, file);
      // One exit listener for every marker of the process (a test process may mark many).
      if (writerMarkers.size === 0)
        process.once('exit', () => {
          for (const marker of writerMarkers) rmSync(marker, { force: true });
        });
      writerMarkers.add(file);
    } catch {
      // Best effort (see above), and no temp file left behind (a full disk, say).
      rmSync(tmp, { force: true });
    }
  }

  private sweepWorkspace(): number {
    let removed = 0;
    const sweep = (dir: string, depth: number) => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) {
          if (depth < 2) sweep(join(dir, entry.name), depth + 1);
        } else if (isStampedTemp(entry.name) && isLeftoverTemp(entry.name)) {
          try {
            unlinkSync(join(dir, entry.name));
            removed++;
          } catch {
            // another sweeper got there first
          }
        } else if (
          depth === 2 &&
          TASK_LOCK.test(entry.name) &&
          holdsLockRecord(join(dir, entry.name))
        ) {
          // A dead holder's lock under a key no later run may take again. Only a task lock's
          // name (`<key>.lock`): a workspace given as a folder that holds other files (a
          // `yarn.lock` two levels down) keeps them.
          if (removeStaleLock(join(dir, entry.name))) removed++;
        }
      }
    };
    sweep(this.root, 0);
    return removed;
  }

  /**
   * Remove temp files left by processes that died mid-write (their PID is in the name), and, with
   * the lock of `key` held, the output files a re-run under `key` wrote before it failed or was
   * killed (`replacementFileKey` names no manifest names): no other writer of `key` can be
   * writing them now.
   */
  private sweepTemp(task: string, key?: string): void {
    const dir = join(this.location, task);
    let unnamed: string[] | undefined;
    for (const name of readdirSync(dir)) {
      if (isLeftoverTemp(name)) {
        try {
          unlinkSync(join(dir, name));
        } catch {
          // another sweeper got there first
        }
      } else if (key !== undefined && isReplacementFile(name, key)) {
        (unnamed ??= []).push(`${task}/${name}`);
      }
    }
    if (unnamed && key !== undefined) {
      const stored = readManifestFile(this.manifestPath(task, key));
      const named = stored ? filesOf(stored) : new Set<string>();
      this.removeUnnamed(
        task,
        key,
        unnamed.filter((f) => !named.has(f)),
      );
    }
  }
}

/** The manifest in the file `path`, or undefined when there is none or it cannot be read. */
function readManifestFile(path: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** The output files a manifest names. */
function filesOf(manifest: Manifest): Set<string> {
  return new Set(Object.values(manifest.outputs ?? {}).map((o) => o.file));
}

/** Does the manifest name an output file a re-run writes (`replacementFileKey`)? */
function namesReplacement(manifest: Manifest): boolean {
  for (const o of Object.values(manifest.outputs ?? {}))
    if (isReplacementFile(o.file, manifest.key)) return true;
  return false;
}

/**
 * The most bytes one read or write call is given: Node refuses more than 2 GiB - 1 in one call
 * (`writeFileSync` of a 2.3 GB output: "The value of "length" is out of range"; `readFileSync`:
 * ERR_FS_FILE_TOO_LARGE), so larger files go in chunks of this size. Mutable so tests can cross
 * it with small files (never set by users).
 */
export const ioLimits = { chunkBytes: 1 << 30 };
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

/** `writeFileSync`, in chunks past `ioLimits.chunkBytes`. */
function writeWholeSync(path: string, data: Uint8Array | string): void {
  const chunk = ioLimits.chunkBytes;
  if (typeof data === 'string' || data.byteLength <= chunk) {
    writeFileSync(path, data);
    return;
  }
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < data.byteLength;)
      at += writeSync(fd, data, at, Math.min(chunk, data.byteLength - at));
  } finally {
    closeSync(fd);
  }
}

/**
 * `readFileSync` (the same open, fstat, reads and close), in chunks of `ioLimits.chunkBytes`
 * (`readFileSync` refuses 2 GiB), up to the largest Buffer Node makes
 * (`buffer.constants.MAX_LENGTH`, 4 GiB on 64-bit Node 20).
 * @throws Error naming the file and both sizes when the file is larger than one Buffer holds
 */
export function readWholeSync(path: string): Buffer {
  const chunk = ioLimits.chunkBytes;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_LENGTH)
      throw new Error(`${path} holds ${size} bytes, more than one buffer holds (${MAX_LENGTH})`);
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, out, at, Math.min(chunk, size - at), at);
      if (n === 0) break;
      at += n;
    }
    return at === size ? out : out.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

/** Write to `<path>.tmp-<pid>.<start>-<random>` in the same folder, then rename over `path`. */
export function atomicWriteSync(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${tempStamp()}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    writeWholeSync(tmp, data);
    renameSync(tmp, path);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw error;
  }
}

/** The same, asynchronously (for callers on the main thread writing large files). */
export async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${tempStamp()}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}
