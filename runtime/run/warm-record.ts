// The warm-run record: "is every task of this run still cached?", answered from one small file
// and a `stat` per source file, without loading the pipeline or computing a key.
//
// Why: a warm `cellar run` of a compiled 1,000-task notebook spent its time loading the pipeline
// bundle, keying every task and collecting the garbage of both (docs/design/warm-path.md), only to find each key's manifest where the last run left it. The record keeps
// what that decision rested on, so a run whose inputs did not move can say so at once.
//
// Principle: the record answers "all cached" exactly when the full path would compute the same
// keys and find them all done, never otherwise. A key is a function of the task definitions
// (names, params, upstream, outputs, version, code mode), each module's code fingerprint (the
// files its bundle read, by content, and the installed version of each package it imports), the
// values of the environment variables its code reads, and hooks' inputs. So the record holds:
// - `build`: the identity of the Cellar build that wrote it (dist/build-id: a hash of every file
//   of the build). Another build may key, encode or print differently;
// - `context`: what the caller asked (the CLI: the argument, params given, task selection,
//   workdir, the compile's facts), compared exactly;
// - `sources`: the content stamp (key/filestamp.ts) of every file the pipeline bundle and the
//   task modules' code fingerprints were built from, and `absent`: the files whose absence
//   decided how a package version resolved. A file whose stat facts moved is read and hashed, as
//   everywhere else: an edit that keeps size and mtime is still seen;
// - `env`: every variable name the code reads, with its value hashed as in the key (never in clear);
// - `runReads`: what each task's run-time read record (key/run-reads.ts: data files, folder
//   listings, existence probes, packages read by path, variables read by a computed name) added
//   to its key. Checked by computing those inputs again with the keying's own functions
//   (`runReadInputs`, the same stamp memo): a file by content (stat facts, re-hashed when they
//   moved), a folder by its listing, a probe by what it finds, a package by its version. A record
//   that grew (another argument's run discovered a read) changes them too;
// - `listings`: per folder whose entries decide which tasks a hook applies to (the warehouse's
//   ran-SQL markers: a task seen running SQL through a helper gains the hook, so its key gains the
//   warehouse and its tables), a hash of those entries as the keys were computed. A run that
//   added an entry leaves no record (warm-facts.ts); one added later voids the record;
// - `written`: the state of every file a task owns outside its outputs (a record's `writes`, less
//   files two tasks write; appended logs are no task's: run-reads.ts `sideEffectFiles`), as the
//   run left it, by the same stamps: its content hash, or `present` for one others append to.
//   Deleting or editing `out/report.csv` sends the run down the full path, whose store probe
//   re-runs the task that wrote it (probe.ts);
// - `globs`: per glob of a dynamic import the bundle holds (`` import(`./plugins/${name}.ts`) ``),
//   the hash of the files it matches (key/dynamic-imports.ts): a file added to or removed from
//   plugins/ changes what the bundle and the keys hold, so the full path rebuilds and keys again;
// - `tasks`: every task's key in plan order, and whether the plan had it cached or not requested;
// - `folders`: a stamp of every cached task's folder in the workspace as the record was written
//   (LocalStore `taskFoldersStamp`: inode and times of each folder). A stored output file deleted
//   since (its manifest staying) moves its folder's times, so the full path runs, whose store
//   probe re-runs the task (probe.ts); one stat per task rather than one per output file.
// Checking it is those stats, one hash per variable and one stat per cached task's folder: the
// record is written only when every cached task's manifest (its done marker) is there, checked
// after the folders' stamp, so an unchanged stamp means each manifest is still there.
//
// It is written only when nothing else can move a key: no task has a hook (a warehouse task's
// key holds table versions, which take a query), no task is forced by its `rerun` flag, and the
// task definitions themselves can only have come from the recorded sources: a compiled notebook
// (the compiler writes definitions as literals; params cells are literal by E_PARAM_NOT_LITERAL),
// or a hand-written pipeline whose bundle imports nothing but 'cellar' and names none of the ways
// a module can see the outside world while it loads (files, clock, randomness, process state
// other than `process.env.NAME`, dynamic import): see `loadIsSealed`. Anything else leaves no
// record, and a record that is missing, damaged, from another build or with any fact moved sends
// the run down the full path, unchanged.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkStamp,
  packStamps,
  readWithStamp,
  sameStamp,
  unpackStamps,
  type FileStamp,
  type PackedStamps,
} from '../key/filestamp.js';
import { globsChanged } from '../key/dynamic-imports.js';
import {
  checkResolveFacts,
  packFacts,
  unpackFacts,
  wellFormedFacts,
  type PackedFacts,
  type ResolveFacts,
} from '../key/resolve-facts.js';
import { canonicalJson, envInputs, sha256 } from '../key/hash.js';
import {
  isModuleRecord,
  withModuleReads,
  ownedWrittenNow,
  sideEffectFiles,
  recordedRunReadsOfPipeline,
  runReadInputs,
  type RunReadsAt,
  type RunReadStamps,
} from '../key/run-reads.js';
import type { RunEvent, RunResult, TaskResult } from '../types.js';
import { LocalStore } from '../store/local.js';

export interface WarmRecord {
  version: typeof RECORD_VERSION;
  build: string;
  /** What the caller asked, compared exactly (canonical JSON). */
  context: string;
  /** The module the pipeline was loaded from, its name (its folder in the workspace), the workspace. */
  pipelineFile: string;
  pipeline: string;
  workspace: string;
  /** Absolute path → content stamp, for every file the keys and the definitions rest on. */
  sources: Record<string, FileStamp>;
  /** Files that must still not exist (package resolution). */
  absent: string[];
  /** How the local imports of the bundle and the fingerprints resolved (key/resolve-facts.ts). */
  resolved: ResolveFacts;
  /** Variable name → hashed value (key/hash.ts `envInputs`). */
  env: Record<string, string>;
  /** The project whose run-time read records the keys used, and what they added per task. */
  runReads: {
    root: string;
    /** The folder the tasks ran in (absolute): keyed with their path reads (WORKDIR_INPUT). */
    workdir: string;
    /** Per task, its facts; per module record (`<module:…>`), an empty entry: it exists. */
    tasks: Record<string, RunReadFacts>;
    /** Task → the module records joined into its key (run-reads.ts `withModuleReads`). */
    uses: Record<string, string[]>;
  };
  /** Folder → `listingHash` of its entries, for each folder a hook's `applies` rests on
   *  (hooks.ts `appliesListing`), as the keys were computed. */
  listings: Record<string, string>;
  /** Recorded path → content hash, `present` or `missing` of each file a task owns outside its
   *  outputs (`writtenFactsNow`). */
  written: Record<string, string>;
  /** Absolute glob pattern of a bundled dynamic import → hash of the files it matched. */
  globs: Record<string, string>;
  /** Plan order: each task's key, and which tasks the selection did not request. */
  tasks: WarmTasks;
  /** LocalStore `taskFoldersStamp` of the cached tasks' folders, in plan order, as written. */
  folders: string;
  /** The params the plan's tasks are keyed with (execute.ts `runParams`), for the run log's
   *  run-start, as the full path logs them; absent when no task reads one. */
  params?: Record<string, unknown>;
}

/** A folder's entries (`listingNow`) as a record holds them: sha256 of the sorted names, one a line. */
export function listingHash(names: readonly string[]): string {
  return sha256([...names].sort().join('\n'));
}

/**
 * The entries of `dir` that decide which tasks a hook applies to, sorted; names starting with
 * '.' (temporary files being renamed into place) left out; [] when it does not exist. Throws on
 * any other error (an unreadable folder: nothing to trust).
 */
export function listingNow(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * The tasks of a record in plan order: `names[i]` has the key `keys.slice(16 * i, 16 * i + 16)`
 * (16 hex each, concatenated), and `notRequested` lists, ascending, the indices of the tasks the
 * selection did not request; every other task was cached. One array and one string rather than
 * an object per task: a warm run reads the whole record, and at 100,000 tasks the object form
 * was 6 MB whose parse was a sixth of the run (docs/design/performance.md). On disk the
 * names are one string, joined by newlines (`RecordFile`): one JSON string parses far faster
 * than an array of 100,000, and a task name never holds a newline (`TASK_NAMES`).
 */
export interface WarmTasks {
  names: string[];
  keys: string;
  notRequested: number[];
}

/** The record's tasks one by one, in plan order. */
export function* warmTasks(
  tasks: WarmTasks,
): Generator<{ name: string; key: string; cached: boolean }> {
  let skip = 0;
  for (let i = 0; i < tasks.names.length; i++) {
    const cached = tasks.notRequested[skip] !== i;
    if (!cached) skip++;
    yield { name: tasks.names[i]!, key: tasks.keys.slice(16 * i, 16 * i + 16), cached };
  }
}

/**
 * What one task's run-time read record adds to its key (key/keys.ts `addRecordedReads`): `reads`,
 * recorded path → key value (content hash, `ls:` listing hash, `probe:<kind>`, `pkg:<version>`,
 * `missing`), and `env`, the variable names read by a computed name (sorted; their hashed values
 * are in the record's `env` with the statically read ones).
 */
export interface RunReadFacts {
  reads: Record<string, string>;
  env: string[];
}

/**
 * Per task of `tasks` whose run-time read record adds anything to its key, what it adds now: the
 * records as they are on disk, their paths' contents, listings and kinds as they are now (through
 * `stamps`, the keying's memo). Tasks adding nothing are left out. The one computation both the
 * writer (warm-facts.ts, against the keys the run used) and the check (`stillHolds`) compare.
 */
export function runReadFactsNow(
  at: RunReadsAt,
  tasks: Iterable<string>,
  stamps: RunReadStamps,
  /** Task → the module records its key joins (computeKeys), as the writer found them. */
  uses: Readonly<Record<string, readonly string[]>> = {},
): Record<string, RunReadFacts> {
  const records = recordedRunReadsOfPipeline(at);
  const out: Record<string, RunReadFacts> = {};
  if (records.size === 0) return out;
  // A module record that appeared (or went) may belong in any task's key: its presence is a fact.
  for (const name of records.keys()) if (isModuleRecord(name)) out[name] = { reads: {}, env: [] };
  for (const task of tasks) {
    const rec = withModuleReads(records.get(task), records, uses[task] ?? []);
    if (!rec) continue;
    const reads = runReadInputs(
      at.root,
      rec,
      stamps,
      at.workdir !== undefined ? { workdir: at.workdir, workspace: at.workspace } : undefined,
    );
    if (Object.keys(reads).length > 0 || rec.env.length > 0)
      out[task] = { reads, env: [...new Set(rec.env)].sort() };
  }
  return out;
}

/**
 * What the side-effect files the pipeline's tasks own (their records' `writes`, run-reads.ts
 * `sideEffectFiles`: not logs only appended to, nor files two tasks write) hold now: recorded path
 * → content hash, `missing`, `dir` or `unreadable`, or `present` for one checked for being there
 * only (one `stat` each while their stamps in `stamps` hold). Empty when no task owns any.
 */
export function writtenFactsNow(at: RunReadsAt, stamps: RunReadStamps): Record<string, string> {
  return ownedWrittenNow(at.root, sideEffectFiles(recordedRunReadsOfPipeline(at)), stamps);
}

// 9: `resolved`; 10: `runReads.workdir`; 11: config files in `resolved`; 12: `sources` and
// `resolved` packed on disk
const RECORD_VERSION = 13; // 13: params, for the run log

/**
 * The names of a record's tasks, newline-joined, each a task name as defineTask allows it
 * (runtime/task.ts: letters, digits, '_', '.', '-', not starting with a digit, '.' or '-'). Such
 * a name holds no newline and no path separator, so the done checks look its manifest up by a
 * relative path from the pipeline folder (`LocalStore.allDone`). A run with any other name
 * leaves no record, and a record naming a task otherwise is not trusted.
 */
const TASK_NAMES = /^[A-Za-z_][\w.-]*(?:\n[A-Za-z_][\w.-]*)*$/;

/**
 * The record as stored: the task names joined (see `WarmTasks`), the sources and the resolution
 * facts packed as arrays (key/filestamp.ts `PackedStamps`, key/resolve-facts.ts `PackedFacts`).
 */
type RecordFile = Omit<WarmRecord, 'tasks' | 'sources' | 'resolved'> & {
  tasks: Omit<WarmTasks, 'names'> & { names: string };
  sources: PackedStamps;
  resolved: PackedFacts;
};

/** `<project>/.cellar/cache/warm/<hash of what is run>.json`: one record per pipeline argument. */
export function warmRecordPath(root: string, entry: string): string {
  return join(root, '.cellar', 'cache', 'warm', `${sha256(entry).slice(0, 16)}.json`);
}

/**
 * The running Cellar build's identity: dist/build-id (written by scripts/build.mjs, a hash of every
 * file of the build) as bin/cellar.mjs read it before loading the CLI, and only while the file
 * still says so. A rebuild since (another process rebuilding on changed sources) means this
 * process may run other code than the id names: undefined, so nothing is recorded or trusted.
 * Undefined too outside the `cellar` command (tests importing the TypeScript, library use).
 */
export function cellarBuildId(): string | undefined {
  const atStart = (globalThis as { __cellarBuildId?: unknown }).__cellarBuildId;
  if (typeof atStart !== 'string' || atStart === '') return undefined;
  try {
    const now = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'build-id'), 'utf8');
    return now === atStart ? now.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** What a record is made from: gathered by the caller from the run it just did. */
export interface WarmFacts {
  build: string;
  context: Record<string, unknown>;
  pipelineFile: string;
  pipeline: string;
  workspace: string;
  sources: Record<string, FileStamp>;
  absent: string[];
  resolved: ResolveFacts;
  envNames: string[];
  runReads: WarmRecord['runReads'];
  /** Folder → its entries as the keys were computed (see `WarmRecord.listings`). */
  listings: Record<string, readonly string[]>;
  written: Record<string, string>;
  globs: Record<string, string>;
  tasks: { name: string; key: string; cached: boolean }[];
  params?: Record<string, unknown>;
}

/**
 * Write the record (atomically: a temp file renamed over it). Stamps are refreshed from disk
 * first and any file whose content is no longer what was keyed leaves no record: the next run
 * takes the full path. Never throws: a record that cannot be written only costs speed.
 */
export function writeWarmRecord(file: string, facts: WarmFacts): boolean {
  try {
    const sources: Record<string, FileStamp> = {};
    for (const [path, stamp] of Object.entries(facts.sources)) {
      const check = checkStamp(path, stamp);
      if (!check.same) {
        dropWarmRecord(file);
        return false;
      }
      // A stamp taken in the racy window is re-taken when the file has been quiet since.
      sources[path] = check.stamp.trusted ? check.stamp : restamp(path, check.stamp);
    }
    for (const path of facts.absent)
      if (existsSync(path)) {
        dropWarmRecord(file);
        return false;
      }
    const resolved = { ...facts.resolved };
    if (!checkResolveFacts(resolved).same) {
      dropWarmRecord(file);
      return false;
    }
    const names = facts.tasks.map((t) => t.name);
    if (!TASK_NAMES.test(names.join('\n'))) {
      dropWarmRecord(file);
      return false;
    }
    // Taken last, after the run's final writes into task folders (manifests, lock removal).
    const cached = facts.tasks.filter((t) => t.cached);
    const store = new LocalStore(facts.workspace).forPipeline(facts.pipeline);
    const folders = store.taskFoldersStamp(cached.length, (i) => cached[i]!.name);
    // Every cached task's manifest there, checked after the stamp: one removed before the stamp
    // is seen here, one removed after it moves its folder's times, so a later check of the stamp
    // alone (`stillHolds`) stands for a check of every manifest.
    if (
      folders === undefined ||
      !store.allDone(
        cached.length,
        (i) => cached[i]!.name,
        (i) => cached[i]!.key,
      )
    ) {
      dropWarmRecord(file);
      return false;
    }
    const record: WarmRecord = {
      version: RECORD_VERSION,
      build: facts.build,
      context: canonicalJson(facts.context),
      pipelineFile: facts.pipelineFile,
      pipeline: facts.pipeline,
      workspace: facts.workspace,
      sources,
      absent: [...new Set(facts.absent)].sort(),
      resolved,
      env: envInputs([...new Set(facts.envNames)].sort()),
      runReads: facts.runReads,
      listings: Object.fromEntries(
        Object.entries(facts.listings).map(([dir, names]) => [dir, listingHash(names)]),
      ),
      written: facts.written,
      globs: facts.globs,
      tasks: {
        names,
        keys: facts.tasks.map((t) => t.key).join(''),
        notRequested: facts.tasks.flatMap((t, i) => (t.cached ? [] : [i])),
      },
      folders,
      ...(facts.params ? { params: facts.params } : {}),
    };
    save(file, record);
    return true;
  } catch {
    dropWarmRecord(file);
    return false;
  }
}

function restamp(path: string, stamp: FileStamp): FileStamp {
  const fresh = readWithStamp(path).stamp;
  return fresh.hash === stamp.hash ? fresh : stamp;
}

/** Remove a record (a run that may not be shortcut next time). Never throws. */
export function dropWarmRecord(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // A record that cannot be removed cannot be trusted either: it fails its checks or another
    // run's, and a later record replaces it by rename.
  }
}

function save(file: string, record: WarmRecord): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const stored: RecordFile = {
      ...record,
      sources: packStamps(record.sources),
      resolved: packFacts(record.resolved),
      tasks: { ...record.tasks, names: record.tasks.names.join('\n') },
    };
    writeFileSync(tmp, JSON.stringify(stored));
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The record at `file` as this `build` wrote it, unchecked; undefined when there is none, it is
 * damaged, or another build wrote it. Its facts are checked by `stillHolds`.
 */
export function readWarmRecord(file: string, build: string): WarmRecord | undefined {
  let stored: RecordFile;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as RecordFile;
  } catch {
    return undefined;
  }
  if (
    stored === null ||
    typeof stored !== 'object' ||
    stored.tasks === null ||
    typeof stored.tasks !== 'object' ||
    typeof stored.tasks.names !== 'string' ||
    !TASK_NAMES.test(stored.tasks.names)
  )
    return undefined;
  // Another build's record is not unpacked: it is not trusted whatever it holds.
  if (stored.build !== build) return undefined;
  const sources = unpackStamps(stored.sources);
  const resolved = unpackFacts(stored.resolved);
  if (!sources || !resolved) return undefined;
  const record: WarmRecord = {
    ...stored,
    sources,
    resolved,
    tasks: { ...stored.tasks, names: stored.tasks.names.split('\n') },
  };
  return wellFormed(record) ? record : undefined;
}

/**
 * Does every fact of `record` still hold for this `context`: the same context, the same sources
 * by content, the same absent files absent, the same hashed env values, the same run-time read
 * inputs, and a manifest for every cached task's key? Saves the record again when stamps moved but
 * contents did not, so the next check is stats only. `stamps`: the run-time reads' stamp memo of
 * the project the caller found the full path would key with (saved when refreshed).
 */
export function stillHolds(
  file: string,
  record: WarmRecord,
  context: Record<string, unknown>,
  stamps: RunReadStamps,
  /** Files the caller found unchanged in this process, with their stamps as now: not stat'ed twice. */
  verified?: ReadonlyMap<string, FileStamp>,
): boolean {
  if (record.context !== canonicalJson(context)) return false;
  let restamped = false;
  for (const [path, stamp] of Object.entries(record.sources)) {
    const seen = verified?.get(path);
    // Verified just now with these contents: the same file, whatever its stat facts were then.
    if (seen && seen.hash === stamp.hash) {
      if (!sameStamp(seen, stamp)) {
        record.sources[path] = seen;
        restamped = true;
      }
      continue;
    }
    const check = checkStamp(path, stamp);
    if (!check.same) return false;
    if (!sameStamp(check.stamp, stamp)) {
      record.sources[path] = check.stamp;
      restamped = true;
    }
  }
  for (const path of record.absent) if (existsSync(path)) return false;
  // A file added ahead of one a local import resolved to, a symlinked folder re-pointed.
  const resolution = checkResolveFacts(record.resolved);
  if (!resolution.same) return false;
  if (resolution.restamped) restamped = true;
  // One recursive listing per glob's folder: a plugin added where a glob looks is no source yet.
  if (globsChanged(record.globs)) return false;
  const env = envInputs(Object.keys(record.env));
  for (const [name, hashed] of Object.entries(record.env)) if (env[name] !== hashed) return false;
  // A task a hook now applies to (marked by a later run) has another key than the record's.
  for (const [dir, hash] of Object.entries(record.listings))
    if (listingHash(listingNow(dir)) !== hash) return false;
  // What the tasks read at run time, as the keying would see it now (one failed readdir when the
  // pipeline never recorded a read).
  const at = {
    root: record.runReads.root,
    pipeline: record.pipeline,
    workspace: record.workspace,
    workdir: record.runReads.workdir,
  };
  const reads = runReadFactsNow(at, record.tasks.names, stamps, record.runReads.uses);
  if (canonicalJson(reads) !== canonicalJson(record.runReads.tasks)) return false;
  if (canonicalJson(writtenFactsNow(at, stamps)) !== canonicalJson(record.written)) return false;
  stamps.save();
  // No entry of a cached task's folder added, removed or renamed since the record was written,
  // when every cached task's manifest (its done marker) was there (`writeWarmRecord`): each is
  // still there, and so is every output file it names (a deleted one re-runs its task on the full
  // path). One stat per cached task, no existence check per manifest.
  const store = new LocalStore(record.workspace).forPipeline(record.pipeline);
  const { names, notRequested } = record.tasks;
  const cached: number[] = [];
  for (let i = 0, skip = 0; i < names.length; i++) {
    if (notRequested[skip] === i) skip++;
    else cached.push(i);
  }
  const folders = store.taskFoldersStamp(cached.length, (j) => names[cached[j]!]!);
  if (folders !== record.folders) return false;
  if (restamped) {
    try {
      save(file, record);
    } catch {
      // only speed is lost
    }
  }
  return true;
}

/** The shape this version writes; anything else (a damaged or older record) is not trusted. */
function wellFormed(r: WarmRecord): boolean {
  return (
    r !== null &&
    typeof r === 'object' &&
    r.version === RECORD_VERSION &&
    (r.params === undefined || (r.params !== null && typeof r.params === 'object')) &&
    typeof r.build === 'string' &&
    typeof r.context === 'string' &&
    typeof r.folders === 'string' &&
    typeof r.pipelineFile === 'string' &&
    typeof r.pipeline === 'string' &&
    typeof r.workspace === 'string' &&
    r.sources !== null &&
    typeof r.sources === 'object' &&
    Object.values(r.sources).every(
      (s) =>
        s !== null &&
        typeof s === 'object' &&
        typeof s.hash === 'string' &&
        typeof s.size === 'number' &&
        typeof s.ino === 'string' &&
        typeof s.mtimeNs === 'string' &&
        typeof s.ctimeNs === 'string' &&
        typeof s.trusted === 'boolean',
    ) &&
    Array.isArray(r.absent) &&
    r.absent.every((p) => typeof p === 'string') &&
    wellFormedFacts(r.resolved) &&
    r.env !== null &&
    typeof r.env === 'object' &&
    Object.values(r.env).every((v) => typeof v === 'string') &&
    r.globs !== null &&
    typeof r.globs === 'object' &&
    Object.values(r.globs).every((v) => typeof v === 'string') &&
    r.written !== null &&
    typeof r.written === 'object' &&
    Object.values(r.written).every((v) => typeof v === 'string') &&
    r.runReads !== null &&
    typeof r.runReads === 'object' &&
    typeof r.runReads.root === 'string' &&
    typeof r.runReads.workdir === 'string' &&
    r.runReads.tasks !== null &&
    typeof r.runReads.tasks === 'object' &&
    r.runReads.uses !== null &&
    typeof r.runReads.uses === 'object' &&
    Object.values(r.runReads.uses).every(
      (u) => Array.isArray(u) && u.every((n) => typeof n === 'string'),
    ) &&
    Object.values(r.runReads.tasks).every(
      (f) =>
        f !== null &&
        typeof f === 'object' &&
        f.reads !== null &&
        typeof f.reads === 'object' &&
        Object.values(f.reads).every((v) => typeof v === 'string') &&
        Array.isArray(f.env) &&
        f.env.every((v) => typeof v === 'string'),
    ) &&
    r.listings !== null &&
    typeof r.listings === 'object' &&
    Object.values(r.listings).every((h) => typeof h === 'string') &&
    r.tasks !== null &&
    typeof r.tasks === 'object' &&
    Array.isArray(r.tasks.names) &&
    r.tasks.names.length > 0 &&
    typeof r.tasks.keys === 'string' &&
    r.tasks.keys.length === 16 * r.tasks.names.length &&
    /^[0-9a-f]*$/.test(r.tasks.keys) &&
    Array.isArray(r.tasks.notRequested) &&
    r.tasks.notRequested.every(
      (i, at, all) =>
        Number.isInteger(i) && i >= 0 && i < r.tasks.names.length && (at === 0 || i > all[at - 1]!),
    )
  );
}

/**
 * The run log's one line for every task a run answered by the record found cached: the tasks in
 * plan order and their keys (16 hex each, concatenated, as in the record), at one time. It stands
 * for the task-cached events the full path logs one per line (`byOtherRun: false`, this `at`);
 * `logEvents` expands it. Why one line: at 100,000 tasks an event, its JSON and a log line per
 * task were a quarter of the warm run's CPU, to say "all cached" (docs/design/warm-path.md,
 * stop 20).
 */
export interface TasksCachedLine {
  kind: 'tasks-cached';
  at: number;
  tasks: string[];
  keys: string;
}

/**
 * The events of one run-log line: the event itself, or a `tasks-cached` line's task-cached
 * events, in order. For readers of run logs (cli/docs/history.ts).
 */
export function logEvents(line: RunEvent | TasksCachedLine): RunEvent[] {
  if (line.kind !== 'tasks-cached') return [line];
  const { at, tasks, keys } = line;
  if (!Array.isArray(tasks) || typeof keys !== 'string' || keys.length !== 16 * tasks.length)
    return [];
  return tasks.map((task, i) => ({
    kind: 'task-cached',
    at,
    task,
    key: keys.slice(16 * i, 16 * i + 16),
    byOtherRun: false,
  }));
}

/**
 * An all-cached run from a checked record, reported as `executeRun` reports one (execute.ts):
 * the same events in the same order (run-start, a task-cached per cached task, run-end) and the
 * same RunResult (tasks in plan order; a task the selection did not request is not-run,
 * `not-requested`). The run log holds run-start, one `TasksCachedLine` for the cached tasks and
 * run-end.
 *
 * `perTask`: whether `onEvent` wants each task-cached event (a progress line does; `--json` and
 * plain stderr lines print nothing for a task this run found cached).
 */
export function cachedRunResult(
  record: WarmRecord,
  options: { workers: number; onEvent: (e: RunEvent) => void; perTask?: boolean },
): RunResult {
  const durationMs = reportCachedRun(record, options);
  const tasks = cachedResults(record, 0, record.tasks.names.length);
  return { ok: true, pipeline: record.pipeline, durationMs, tasks };
}

/**
 * The results of the tasks `from` (inclusive) to `to` (exclusive) in plan order of the all-cached
 * run a checked record stands for, as `cachedRunResult` holds them: `cached`, or `not-run`
 * (`not-requested`) for a task the selection did not request. For printing `--json` a part at a
 * time (summary.ts `resultJsonParts`).
 */
export function cachedResults(record: WarmRecord, from: number, to: number): TaskResult[] {
  const { names, keys, notRequested } = record.tasks;
  // The first not-requested index at or after `from` (the list is ascending).
  let lo = 0;
  for (let hi = notRequested.length; lo < hi;) {
    const mid = (lo + hi) >>> 1;
    if (notRequested[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  let skip = lo;
  const tasks: TaskResult[] = new Array(to - from);
  for (let i = from; i < to; i++) {
    const name = names[i]!;
    const key = keys.slice(16 * i, 16 * i + 16);
    if (notRequested[skip] === i) {
      skip++;
      const because = { kind: 'not-requested' } as const;
      tasks[i - from] = { name, status: 'not-run', key, durationMs: 0, because };
    } else tasks[i - from] = { name, status: 'cached', key, durationMs: 0 };
  }
  return tasks;
}

/**
 * The events and run log of an all-cached run from a checked record (see `cachedRunResult`),
 * without its result: the run's duration in ms. For a run that prints only the summary
 * (`cachedSummaryGroups`), which needs no result object per task: at 100,000 tasks those objects
 * and their collection were ~10 % of the warm run (docs/design/performance.md, h31).
 */
export function reportCachedRun(
  record: WarmRecord,
  options: { workers: number; onEvent: (e: RunEvent) => void; perTask?: boolean },
): number {
  const store = new LocalStore(record.workspace).forPipeline(record.pipeline);
  const started = Date.now();
  const runId = `${new Date(started).toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const perTask = options.perTask ?? true;
  const log = (line: RunEvent) => store.appendLog(runId, JSON.stringify(line));
  try {
    const { names, keys, notRequested } = record.tasks;
    const start: RunEvent = {
      kind: 'run-start',
      at: started,
      pipeline: record.pipeline,
      toRun: 0,
      cached: names.length - notRequested.length,
      workers: options.workers,
      ...(record.params ? { params: record.params } : {}),
    };
    options.onEvent(start);
    log(start);
    const at = Date.now();
    if (perTask)
      for (let i = 0, skip = 0; i < names.length; i++) {
        if (notRequested[skip] === i) skip++;
        else {
          const key = keys.slice(16 * i, 16 * i + 16);
          options.onEvent({ kind: 'task-cached', at, task: names[i]!, key, byOtherRun: false });
        }
      }
    if (notRequested.length === 0) store.appendLog(runId, tasksCachedLine(at, names, keys));
    else if (notRequested.length < names.length) {
      const cachedNames: string[] = [];
      let cachedKeys = '';
      for (let i = 0, skip = 0; i < names.length; i++) {
        if (notRequested[skip] === i) skip++;
        else {
          cachedNames.push(names[i]!);
          cachedKeys += keys.slice(16 * i, 16 * i + 16);
        }
      }
      store.appendLog(runId, tasksCachedLine(at, cachedNames, cachedKeys));
    }
    const durationMs = Date.now() - started;
    const end: RunEvent = { kind: 'run-end', at: Date.now(), ok: true, durationMs };
    options.onEvent(end);
    log(end);
    return durationMs;
  } finally {
    store.close();
  }
}

/**
 * `JSON.stringify` of the `TasksCachedLine` of `tasks` (at least one) and their `keys`, built by
 * joining: a checked record's names are task names (`TASK_NAMES`: no quote, backslash or control
 * character) and its keys hex, so neither needs escaping. At 100,000 tasks the join takes about
 * a third of the time `JSON.stringify` of the 100,000-member array does (h31).
 */
export function tasksCachedLine(at: number, tasks: readonly string[], keys: string): string {
  return `{"kind":"tasks-cached","at":${JSON.stringify(at)},"tasks":["${tasks.join('","')}"],"keys":"${keys}"}`;
}

/**
 * Can loading this hand-written pipeline bundle depend on anything but its own text, 'cellar'
 * and `process.env.NAME`? False (not sealed) when it imports any other package or a Node
 * built-in, or names a way to read the outside world or the clock: files, `process` (but
 * `process.env.NAME`), `Date`, `performance`, `Math.random`, `crypto`, timers, `fetch`,
 * `require`, `import()`, `import.meta`, `eval`/`Function`, globals, locale-dependent formatting.
 * A conservative text test over the whole bundle (task bodies included: it cannot tell load-time
 * code from run-time code): a false "not sealed" only costs the full path.
 */
export function loadIsSealed(bundleText: string, cellarEntries: readonly string[]): boolean {
  for (const m of bundleText.matchAll(
    /(?:^|[;\n}])\s*(?:import|export)\b[^;'"`]*?(?:from\s*)?(["'])([^"']+)\1/g,
  )) {
    const spec = m[2]!;
    if (spec !== 'cellar' && !cellarEntries.includes(spec)) return false;
  }
  if (/\brequire\s*\(|\bimport\s*\(|\bimport\s*\.\s*meta\b/.test(bundleText)) return false;
  const code = bundleText.replace(/\bprocess\s*\.\s*env\s*\.\s*[A-Za-z_$][\w$]*/g, '');
  return !DENIED.test(code);
}

const DENIED =
  /\b(?:process|Date|performance|crypto|globalThis|global|self|window|eval|Function|fetch|XMLHttpRequest|WebSocket|setTimeout|setInterval|setImmediate|queueMicrotask|Atomics|SharedArrayBuffer|Worker|WeakRef|FinalizationRegistry|Intl|Deno|Bun|toLocaleString|toLocaleDateString|toLocaleTimeString|localeCompare)\b|\bMath\s*\.\s*random\b/;
