// What a task read at run time that its code does not show: data files (`readFileSync(path)`,
// `fs/promises` readFile, `createReadStream`, `Deno.readTextFile`, a file opened for reading),
// folder listings (`readdirSync('data/')`), existence probes (`existsSync`, `access`), the stat
// facts a task saw (`statSync(p).size`, `.mtimeMs`, `isDirectory()`, `fstat` on a descriptor), and
// environment variables read by a computed name (`process.env[name]`). The recorder
// (runtime/run/read-record.ts) observes them while the task runs; this file keeps the record and
// turns it into key inputs.
//
// One small JSON file per task under `<project>/.cellar/run-reads/<pipeline>/`, written with an
// atomic rename and only when the set grows (a union over runs, as the warehouse's table reads in
// runtime/warehouse/tasks/reads.ts): concurrent worker threads and processes never leave a torn
// record, and a lost race only loses paths the next run records again. From the next run on, each
// recorded file's content, each folder's listing and each variable's hashed value enter the key
// (`KeyInputs.reads`, `KeyInputs.env`): editing the data re-runs the task and its downstream.
// Cost of honesty: the run after the one that discovered a read re-runs the task once (its key
// gains the input). Warm runs stat each recorded file and read none whose stat facts are unchanged
// (filestamp.ts: size, inode, mtime and ctime, so a same-size edit under `touch -r` is caught).
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { moduleFileIn } from './module-path.js';
import { findProjectRoot, isCellarOwnFile } from '../project.js';
import { envInputs, sha256 } from './hash.js';
import type { CacheKey } from '../types.js';
import {
  checkStamp,
  contentHash,
  readWithStamp,
  sameStamp,
  stampLimits,
  type FileStamp,
} from './filestamp.js';

/** Reads recorded for one task, as stored: paths relative to the project root with `/`
 *  separators (or absolute, for files outside the project). */
export interface RecordedRunReads {
  /** Files whose content the task read. */
  files: string[];
  /** Folders whose listing the task read. */
  dirs: string[];
  /** Paths whose existence the task checked (existsSync, exists, access). */
  probes: string[];
  /**
   * Paths whose stat facts the task was handed (statSync, lstat, fs/promises stat, fstat on a
   * descriptor or FileHandle it opened): keyed by type, size, mtime and mode (`statFacts`), so a result
   * computed from `.size` or `.mtimeMs` re-runs when they move. Kept apart from `probes`, whose
   * existence check does not make a file's size a dependency.
   */
  stats: string[];
  /** Installed packages (folders under node_modules) the task read files of by path. */
  packages: string[];
  /** Environment variables read by a computed name (names only; values stay in the environment). */
  env: string[];
  /**
   * Files the task itself wrote from scratch outside its declared outputs
   * (`writeFileSync('out/report.csv')`, a stream or open in 'w' mode, a rename or copy onto a
   * path), on any run: its side-effect outputs, never key inputs. A cached result of the task is
   * served only while each such file it owns is there and, when no other task writes to it, holds
   * what that run wrote (its manifest's `written`; `sideEffectFiles`, runtime/run/probe.ts). A task
   * reading one another task writes is warned about (`sideEffectReaders`). Absent: none.
   */
  writes?: string[];
  /**
   * Files the task only appended to (`appendFileSync('calls.log', …)`), on any run: logs, neither
   * inputs nor side-effect outputs (not checked on a cache hit). Kept so a file another task
   * writes from scratch is known not to hold that task's bytes alone. Absent: none.
   */
  appends?: string[];
  /**
   * Set when the task's value may follow the folder it ran in though it read no path there:
   * it called `process.cwd()`, or `path.resolve('out.csv')` (a relative path resolved from it),
   * on any run. Keyed as `WORKDIR_INPUT`, as a read by path is. Absent: never.
   */
  cwd?: true;
  /**
   * What the run that last grew the record saw: key-input path (as in `runReadInputs`) → the
   * content or listing hash of the bytes and names the task was handed. Lets that run's result be
   * filed under the next key when the content is still the same (runtime/run/adopt-reads.ts).
   */
  observed?: Record<string, string>;
}

/** A record of no reads, every list empty (a new one each call: callers fill it). */
export function emptyRunReads(): RecordedRunReads {
  return { files: [], dirs: [], probes: [], stats: [], packages: [], env: [] };
}

const EMPTY: RecordedRunReads = Object.freeze(emptyRunReads());

/**
 * Whose records: the project, the pipeline and the workspace its results live in (two workspaces
 * of one project, e.g. `--workspace` per test or per branch, keep their records apart, as their
 * results are apart).
 */
export interface RunReadsAt {
  /** The project root (runtime/project.ts findProjectRoot): recorded paths are relative to it. */
  root: string;
  pipeline: string;
  /** The workspace folder (runtime/store/workspace.ts resolveWorkspace). */
  workspace: string;
  /**
   * The folder tasks run in (run.ts's workdir, absolute): relative paths in task code resolve
   * from it, so a task reading paths is keyed on it (`WORKDIR_INPUT`). Undefined: not keyed.
   */
  workdir?: string;
}

/** `<root>/.cellar/run-reads/<pipeline>-<workspace id>`: one folder per pipeline and workspace, so
 *  listing it once finds every record (a run does not open a file per task that never read any).
 *  The workspace id hashes its path relative to the root, so a moved project keeps its records. */
export function runReadsDir(at: RunReadsAt): string {
  const ws = sha256(toRecorded(at.root, resolve(at.workspace))).slice(0, 8);
  return join(at.root, '.cellar', 'run-reads', `${safeName(at.pipeline)}-${ws}`);
}

function recordFile(at: RunReadsAt, task: string): string {
  const id = sha256(`${at.pipeline}\u0000${task}`).slice(0, 16);
  return join(runReadsDir(at), `${safeName(task).slice(0, 60)}-${id}.json`);
}

/** Has `task` a record at all (one stat, no read)? */
export function hasRunReads(at: RunReadsAt, task: string): boolean {
  return existsSync(recordFile(at, task));
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80) || '_';

/**
 * The run-time reads recorded for `task` of `pipeline` on earlier runs, or empty lists when none
 * were (or the record is unreadable: the next run records again). The one reader of the records:
 * the key (computeKeys) and anything validating a warm run use it. Paths are relative to `at.root`
 * (absolute outside it); turn a record into key inputs with `runReadInputs`.
 */
export function recordedRunReads(
  at: RunReadsAt,
  task: string,
  /** Module records (`moduleRecordsOfCode`) to join in, as computeKeys does. */
  modules: readonly string[] = [],
): RecordedRunReads {
  const own = parseRecord(recordFile(at, task));
  const rec =
    task === PIPELINE_LOAD ? own : withLoadReads(own, parseRecord(recordFile(at, PIPELINE_LOAD)));
  let out = rec;
  for (const m of modules) out = unionOf(out, parseRecord(recordFile(at, m)));
  return out;
}

/**
 * Files of the kernel's own file systems (/proc, /sys, /dev): the host's live state, never project
 * data. Their content moves on every read (Cellar's own DuckDB lease reads /proc/thread-self/stat
 * when a task's first query opens the warehouse), so keying them would make every such result
 * "changed while it ran", never cached. Neither recorded nor, from an older record, keyed.
 */
export const isHostFile = (abs: string) => /^\/(?:proc|sys|dev)\//.test(abs);

/** Left out of a record as it is read: host files, and Cellar's own files (an older Cellar
 *  recorded its own probes of its package.json as a pipeline load's, which kept that load's
 *  record, and so every warm-run record, from ever being written: warm-facts.ts). */
const notData = (s: string) => isHostFile(s) || (isAbsolute(s) && isCellarOwnFile(s));

function parseRecord(file: string): RecordedRunReads {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return EMPTY;
  }
  const list = (v: unknown) =>
    Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && !notData(s)) : [];
  const observed =
    raw.observed && typeof raw.observed === 'object'
      ? (raw.observed as Record<string, string>)
      : undefined;
  return {
    files: list(raw.files),
    dirs: list(raw.dirs),
    probes: list(raw.probes),
    stats: list(raw.stats),
    packages: list(raw.packages),
    env: list(raw.env),
    ...(Array.isArray(raw.writes) ? { writes: list(raw.writes) } : {}),
    ...(Array.isArray(raw.appends) ? { appends: list(raw.appends) } : {}),
    ...(raw.cwd === true ? { cwd: true as const } : {}),
    ...(observed ? { observed } : {}),
  };
}

/**
 * Every task's record of one pipeline, by task name, from one listing of its folder (an empty map
 * when the pipeline never recorded a read: the common case costs one failed readdir).
 */
export function recordedRunReadsOfPipeline(at: RunReadsAt): Map<string, RecordedRunReads> {
  const out = new Map<string, RecordedRunReads>();
  let names: string[];
  try {
    names = readdirSync(runReadsDir(at));
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = join(runReadsDir(at), name);
    let task: unknown;
    try {
      task = (JSON.parse(readFileSync(file, 'utf8')) as { task?: unknown }).task;
    } catch {
      continue;
    }
    if (typeof task !== 'string' || file !== recordFile(at, task)) continue;
    const record = parseRecord(file);
    // A load record left with nothing (only Cellar's own files, dropped above) is no record.
    if (task === PIPELINE_LOAD && size(record) === 0) continue;
    out.set(task, record);
  }
  // Every task's record holds what the pipeline's module read as it loaded (`runReadsOfTask`
  // answers for a task without a record of its own).
  const load = out.get(PIPELINE_LOAD);
  if (load)
    for (const [task, rec] of out)
      if (task !== PIPELINE_LOAD) out.set(task, withLoadReads(rec, load));
  return out;
}

/** Reads observed in one run of a task: absolute paths (the recorder's view). */
export interface ObservedReads {
  files: Set<string>;
  dirs: Set<string>;
  probes: Set<string>;
  /** Paths whose stat facts (type, size, mtime) the task was handed. */
  stats: Set<string>;
  env: Set<string>;
  /** Files the task itself wrote in this run: reading back its own file is not an input. */
  written: Set<string>;
  /**
   * Of `written`, the files it only appended to (`appendFileSync('calls.log', …)`, a stream or
   * open in 'a' mode) and never wrote from scratch in this run: logs, not side-effect outputs
   * (`sideEffectOutputs`). Absent: none.
   */
  appended?: Set<string>;
  /**
   * Stored outputs of other tasks `load()` read for the task (read-record.ts `noteLoadedOutput`),
   * also in `files`: inputs though they lie in the workspace. Absent: none.
   */
  loaded?: Set<string>;
  /** Set when the task's own code (or a package's) asked for the working folder: `process.cwd()`,
   *  or `path.resolve` of a relative path (read-record.ts). */
  cwd?: boolean;
  /** Absolute path (a folder's with a trailing `/`, a stat's with `#stat`) → hash of the whole
   *  content or listing read, or the stat facts (`statFacts`) handed. */
  seen: Map<string, string>;
}

/**
 * What `seen` holds for a path handed to the task twice with different content (or listings):
 * equal to no key value, so the run neither commits nor adopts a result for it.
 */
export const SEEN_VARIED = 'varied';

/** Note that the task was handed `hash` for `path` (a folder's with a trailing `/`). */
export function noteSeen(reads: ObservedReads, path: string, hash: string): void {
  const before = reads.seen.get(path);
  reads.seen.set(path, before === undefined || before === hash ? hash : SEEN_VARIED);
}

/** Whose records, and where the run's own files live: never inputs (the workspace holds outputs). */
export type ReadsContext = RunReadsAt;

/**
 * Add what one run observed to the task's record (kept sorted; written only when it grows). Files
 * under the project's `.cellar/`, the workspace and Node's own install are left out (Cellar's
 * state and the runtime, not data); a file under `node_modules/` is recorded as its package (the
 * installed version enters the key, as for packages the bundle imports: that holds for a package
 * the task's code never imports, too). Returns whether the task read anything, and the key inputs
 * this run's reads take (`RunReadsNow`).
 */
export function recordRunReads(
  ctx: ReadsContext,
  task: string,
  seen: ObservedReads,
  /** Keep the files `seen` wrote as the task's `writes` and `appends`. A module's record and the
   *  pipeline's load record keep none: what a setup cell writes as it loads belongs to no task. */
  keepWrites = task !== PIPELINE_LOAD && !isModuleRecord(task),
): RunReadsNow {
  const fresh = emptyRunReads();
  const writes = keepWrites ? writtenPaths(ctx, sideEffectOutputs(seen)) : [];
  const appends = keepWrites && seen.appended ? writtenPaths(ctx, seen.appended) : [];
  // A stored output `load()` read is the one file of the workspace that is an input, by content
  // (not by its stat facts, which Cellar's own checks read and a same-bytes rewrite moves).
  const notInput = (abs: string, content: boolean) =>
    ownFile(seen.written, abs) ||
    (excluded(ctx, abs) && !(content && seen.loaded?.has(abs) === true));
  const classify = (abs: string, into: 'files' | 'dirs' | 'probes' | 'stats') => {
    if (notInput(abs, into === 'files')) return;
    const pkg = packageOf(abs);
    if (pkg !== undefined) fresh.packages.push(toRecorded(ctx.root, pkg));
    else fresh[into].push(toRecorded(ctx.root, abs));
  };
  for (const f of seen.files) classify(f, 'files');
  for (const d of seen.dirs) classify(d, 'dirs');
  for (const p of seen.probes) classify(p, 'probes');
  for (const p of seen.stats) classify(p, 'stats');
  fresh.env.push(...seen.env);
  // The common case, a task that read nothing by path: no file opened at all.
  if (
    seen.files.size + seen.dirs.size + seen.probes.size + seen.stats.size + seen.env.size === 0 &&
    writes.length + appends.length === 0 &&
    !seen.cwd
  )
    return NOTHING_READ;
  if (seen.cwd) fresh.cwd = true;
  const now = { readAny: true, inputs: keyedInputNames(fresh) };
  const known = parseRecord(recordFile(ctx, task));
  const merged: RecordedRunReads = {
    files: union(known.files, fresh.files),
    dirs: union(known.dirs, fresh.dirs),
    probes: union(known.probes, fresh.probes),
    stats: union(known.stats, fresh.stats),
    packages: union(known.packages, fresh.packages),
    env: union(known.env, fresh.env),
  };
  const allWrites = union(known.writes ?? [], writes);
  if (allWrites.length > 0) merged.writes = allWrites;
  const allAppends = union(known.appends ?? [], appends);
  if (allAppends.length > 0) merged.appends = allAppends;
  if (known.cwd || seen.cwd) merged.cwd = true;
  if (size(merged) === size(known)) return now;
  const observed: Record<string, string> = {};
  for (const [abs, hash] of seen.seen) {
    const suffix = abs.endsWith('/') ? '/' : abs.endsWith(STAT) ? STAT : '';
    const plain = abs.slice(0, abs.length - suffix.length);
    if (notInput(plain, suffix === '') || packageOf(plain) !== undefined) continue;
    observed[toRecorded(ctx.root, plain) + suffix] = hash;
  }
  if (Object.keys(observed).length > 0) merged.observed = observed;
  const path = recordFile(ctx, task);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, JSON.stringify({ task, pipeline: ctx.pipeline, ...merged }) + '\n');
  renameSync(tmp, path);
  return now;
}

/** What one run of a task read, as `recordRunReads` recorded it. */
export interface RunReadsNow {
  /** False when the task read nothing by path nor an env variable by a computed name (no record
   *  opened: the executor need not look for one). */
  readAny: boolean;
  /**
   * The key inputs these reads take: names in `KeyInputs.reads` (`runReadInputs`: a path, a
   * folder with `/`, a stat read with `#stat`, `WORKDIR_INPUT`), and `env:NAME` for a variable
   * read by a computed name (keyed in `KeyInputs.env`). One the task's key lacks means the result
   * is not the key's (perform.ts `PerformedTask.unkeyed`).
   */
  inputs: string[];
}

const NOTHING_READ: RunReadsNow = Object.freeze({ readAny: false, inputs: [] });

/** The names `runReadInputs` (and the env merge of keys.ts) give the entries of `rec`. */
function keyedInputNames(rec: RecordedRunReads): string[] {
  const names = new Set<string>();
  if (readsPaths(rec)) names.add(WORKDIR_INPUT);
  for (const p of rec.files) names.add(p);
  for (const p of rec.dirs) names.add(p.endsWith('/') ? p : `${p}/`);
  for (const p of rec.probes) names.add(p);
  for (const p of rec.stats) names.add(p.endsWith(LSTAT) || p.endsWith(LINK) ? p : p + STAT);
  for (const p of rec.packages) names.add(p);
  for (const name of rec.env) names.add(`env:${name}`);
  return [...names];
}

/**
 * Is `abs` the task's own: a file it wrote, or a path under a folder it wrote (a copy's
 * destination, `cpSync(src, scratch, { recursive: true })`)? Reading back its own output is not
 * an input.
 */
function ownFile(written: ReadonlySet<string>, abs: string): boolean {
  if (written.size === 0) return false;
  for (let p = abs; ;) {
    if (written.has(p)) return true;
    const up = dirname(p);
    if (up === p) return false;
    p = up;
  }
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();
const size = (r: RecordedRunReads) =>
  (r.cwd ? 1 : 0) +
  (r.writes?.length ?? 0) +
  (r.appends?.length ?? 0) +
  r.files.length +
  r.dirs.length +
  r.probes.length +
  r.stats.length +
  r.packages.length +
  r.env.length;

const nodeInstall = resolve(dirname(process.execPath), '..');

function excluded(ctx: ReadsContext, abs: string): boolean {
  const within = (dir: string) =>
    abs === dir || abs.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  return (
    within(join(ctx.root, '.cellar')) ||
    within(resolve(ctx.workspace)) ||
    within(nodeInstall) ||
    isCellarOwnFile(abs)
  );
}

/**
 * The package folder (`…/node_modules/<name>` or `…/node_modules/@scope/name`, holding a
 * package.json) holding `abs`. Anything else under node_modules (`.cache/`, `.vite/`, a folder
 * without package.json) is data some tool wrote, keyed by content like any file: its "version"
 * would never move. So is a file of a linked package (`npm link`, a workspace, `file:`: the folder
 * resolves outside any node_modules, as codehash.ts `linkedPackagesAsCode` treats its code): its
 * files are edited in place with no new version.
 */
function packageOf(abs: string): string | undefined {
  const folder = packageFolderOf(abs);
  return folder === undefined || isLinkedPackage(folder) ? undefined : folder;
}

/** Package folder → is it a link to a folder outside node_modules (memo for the process). */
const linkedPackages = new Map<string, boolean>();

function isLinkedPackage(folder: string): boolean {
  let linked = linkedPackages.get(folder);
  if (linked === undefined) {
    try {
      linked = !realpathSync(folder).includes(`${sep}node_modules${sep}`);
    } catch {
      linked = false;
    }
    linkedPackages.set(folder, linked);
  }
  return linked;
}

function packageFolderOf(abs: string): string | undefined {
  const marker = `${sep}node_modules${sep}`;
  const at = abs.lastIndexOf(marker);
  if (at < 0) return undefined;
  const rest = abs.slice(at + marker.length).split(sep);
  const take = rest[0]?.startsWith('@') ? 2 : 1;
  if (rest.length <= take || !rest[0] || rest[0].startsWith('.')) return undefined;
  const folder = abs.slice(0, at + marker.length) + rest.slice(0, take).join(sep);
  return existsSync(join(folder, 'package.json')) ? folder : undefined;
}

/** Relative to the root with `/`, or absolute when outside it. */
function toRecorded(root: string, abs: string): string {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return abs.split(sep).join('/');
  return rel.split(sep).join('/');
}

/** A recorded path (relative to `root` with `/`, or absolute) as an absolute path. */
export function fromRecorded(root: string, p: string): string {
  return isAbsolute(p) ? p : join(root, ...p.split('/'));
}

/**
 * Content stamps of recorded files, kept between runs in `<root>/.cellar/run-reads/stamps.json`,
 * so a warm run stats each file and reads only the ones whose stat facts moved (filestamp.ts).
 * Written by the keying thread only, atomically; a lost or torn memo only costs a re-read.
 */
export class RunReadStamps {
  private stamps: Record<string, FileStamp> = {};
  private dirty = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (raw && typeof raw === 'object') this.stamps = raw as Record<string, FileStamp>;
    } catch {
      // no memo yet: every file is read once
    }
  }

  static forProject(root: string): RunReadStamps {
    return new RunReadStamps(join(root, '.cellar', 'run-reads', 'stamps.json'));
  }

  /** The content hash of `abs`, or `missing` / `dir` when it is not a readable file. */
  contentOf(abs: string): string {
    const known = this.stamps[abs];
    if (known) {
      const checked = checkStamp(abs, known);
      if (checked.same) {
        if (!sameStamp(checked.stamp, known)) {
          this.stamps[abs] = checked.stamp;
          this.dirty = true;
        }
        return checked.stamp.hash;
      }
    }
    let st: Stats;
    try {
      st = statSync(abs);
    } catch {
      return 'missing';
    }
    if (st.isDirectory()) return 'dir';
    try {
      const { stamp } = readWithStamp(abs);
      this.stamps[abs] = stamp;
      this.dirty = true;
      return stamp.hash;
    } catch {
      return 'unreadable';
    }
  }

  save(): void {
    if (!this.file || !this.dirty) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.stamps));
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      // a memo only: the next run reads the files again
    }
  }
}

/**
 * The key inputs of a record: recorded path → content hash (16 hex) or `missing`; a folder
 * (`data/` with a trailing slash) → `ls:` + hash of its sorted entry names; a probe → `probe:file`,
 * `probe:dir` or `probe:missing`; a stat read, under the path with `#stat` appended → its stat
 * facts (`statFacts`: `stat:file:<size>:<mtime ms>:<mode>`, `stat:dir:<mtime ms>:<mode>`,
 * `stat:missing`); a package folder
 * → `pkg:<version>`. A path read both as a file and probed is keyed by its content; read and
 * stat'ed, by both (its content and its mtime). Paths as recorded (relative to `root`, or
 * absolute).
 */
export function runReadInputs(
  root: string,
  rec: RecordedRunReads,
  stamps: RunReadStamps,
  /** The folder the tasks run in (absolute): keyed as `WORKDIR_INPUT` when the record holds a
   *  path read (`readsPaths`), with the workspace the keys are for (`workdirInput`). Undefined:
   *  not keyed (a module's load facts). */
  where?: { workdir: string; workspace: string },
): Record<string, string> {
  const out: Record<string, string> = {};
  if (where !== undefined && readsPaths(rec))
    out[WORKDIR_INPUT] = workdirInput(where.workdir, where.workspace);
  for (const p of rec.files) out[p] = stamps.contentOf(fromRecorded(root, p));
  for (const p of rec.dirs) out[p.endsWith('/') ? p : `${p}/`] = listingOf(fromRecorded(root, p));
  for (const p of rec.probes) if (!(p in out)) out[p] = `probe:${kindOf(fromRecorded(root, p))}`;
  // (`?? []`: a record from before stat reads were kept apart, as a BullMQ coordinator of an
  // older build may hand one.)
  for (const p of rec.stats ?? [])
    if (p.endsWith(LSTAT)) out[p] = lstatFacts(fromRecorded(root, p.slice(0, -LSTAT.length)));
    else if (p.endsWith(LINK)) out[p] = linkFacts(fromRecorded(root, p.slice(0, -LINK.length)));
    else out[p + STAT] = statFacts(fromRecorded(root, p));
  for (const p of rec.packages) out[p] = `pkg:${packageVersion(fromRecorded(root, p))}`;
  return out;
}

/**
 * The key input (in `reads`) naming the folder the task ran in, for a task recorded reading any
 * path: `readFileSync('data/v.txt')` reads `dirA/data/v.txt` under `--workdir dirA` and
 * `dirB/data/v.txt` under `--workdir dirB`, yet the record holds the path it resolved to. Keyed,
 * a run in another workdir has another key (and records what it reads there), so it is never
 * served a result computed from the other folder's data. The recorder sees resolved paths only,
 * so every task reading a path is keyed on it, an absolute path too: over-inclusion (a re-run
 * when the workdir changes), never a stale hit. Not a path: `<` starts no recorded path.
 */
export const WORKDIR_INPUT = '<workdir>';

/**
 * The workdir as keyed: its real path (links resolved), relative with `/` to the project of the
 * workspace whose results these keys find (`.` for that project's root), so a moved or cloned
 * project keeps its keys; absolute when outside it.
 * - Real: the recorder sees real paths (`process.cwd()` after the chdir is one), so keyed by a
 *   link's path, `current -> releases/1` re-pointed to `releases/2` kept its key and the run was
 *   served release 1's results.
 * - The workspace's project, not the root recorded paths are relative to (the workdir's own
 *   project, run.ts normalizeRunOptions): that root differs per workdir (an outside folder is its
 *   own, a nested package.json starts another), so two folders were both `.` or both `x`.
 */
export function workdirInput(workdir: string, workspace: string): string {
  let base = workspaceProjects.get(workspace);
  if (base === undefined)
    workspaceProjects.set(workspace, (base = realOrSelf(findProjectRoot(workspace))));
  const abs = realOrSelf(resolve(workdir));
  return abs === base ? '.' : toRecorded(base, abs);
}

/** Workspace → the real path of its project root (`workdirInput`). */
const workspaceProjects = new Map<string, string>();

/** `path` with its links resolved, or as given when it cannot be (it does not exist). */
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Does the record hold a read by path (a file, listing, probe or stat), whose resolution the
 *  workdir may change, or a use of the working folder itself (`cwd`: `process.cwd()`,
 *  `path.resolve('out.csv')`)? Packages and env names do not depend on it. */
export function readsPaths(rec: RecordedRunReads): boolean {
  return (
    rec.cwd === true ||
    rec.files.length + rec.dirs.length + rec.probes.length + (rec.stats ?? []).length > 0
  );
}

/**
 * The first keyed run-time read this run of the task did not see as its key holds it: a file (or
 * folder, probe, package) changed after the key was computed, before or while the task read it,
 * and perhaps restored since. The result computed from it must not be stored under this key (the
 * next run with the keyed content would be served a result computed from other data).
 *
 * `keyed`: the key's `reads` (path as recorded → value, as `runReadInputs` gives). `seen`: what the
 * recorder observed in this run. `sinceMs`: when the key's inputs were computed (epoch ms, this
 * host's clock). A path the task was handed whole (readFileSync, fs/promises readFile, readdir,
 * an existsSync that found nothing) is compared by the hash of what it was handed: exact. A path
 * it touched otherwise (a stream, a descriptor, opendir, stat) is compared by its stamp: unchanged
 * when its last change (max of mtime and ctime; ctime cannot be set back from user space) is
 * older than `sinceMs` by filestamp's racy window; else its value now must equal the key's and
 * its ctime be older than `sinceMs` (a rewrite after keying may have been read before a restore).
 * Keyed paths this run did not touch are not checked: the result does not rest on them.
 *
 * @returns the path as recorded (e.g. `notebooks/data/penguins.csv`, `data/` for a folder), or
 *   undefined when every keyed read this run made saw the keyed content.
 */
export function readChangedWhileRunning(
  ctx: ReadsContext,
  keyed: Readonly<Record<string, string>>,
  seen: ObservedReads,
  sinceMs: number,
): string | undefined {
  for (const [path, value] of Object.entries(keyed)) {
    if (path === WORKDIR_INPUT) continue;
    const dir = path.endsWith('/');
    const stat = !dir && path.endsWith(STAT);
    const abs = fromRecorded(
      ctx.root,
      dir ? path.slice(0, -1) : stat ? path.slice(0, -STAT.length) : path,
    );
    const handed = seen.seen.get(dir ? `${abs}/` : stat ? abs + STAT : abs);
    if (handed !== undefined) {
      const same =
        handed === value ||
        (handed === 'probe:missing' && (value === 'missing' || value === 'probe:missing'));
      if (!same) return path;
      continue;
    }
    const pkg = value.startsWith('pkg:');
    const touched = dir
      ? seen.dirs.has(abs)
      : stat
        ? seen.stats.has(abs)
        : pkg
          ? [...seen.files, ...seen.dirs, ...seen.probes].some((f) => f.startsWith(abs + sep))
          : seen.files.has(abs) || seen.probes.has(abs);
    if (touched && !unchangedSince(abs, dir, value, sinceMs)) return path;
  }
  return undefined;
}

function unchangedSince(abs: string, dir: boolean, value: string, sinceMs: number): boolean {
  const pkg = value.startsWith('pkg:');
  let st: Stats | undefined;
  try {
    st = statSync(pkg ? join(abs, 'package.json') : abs);
  } catch {
    st = undefined;
  }
  if (st && Math.max(st.mtimeMs, st.ctimeMs) < sinceMs - stampLimits.racyMs) return true;
  const now = dir
    ? listingOf(abs)
    : value.startsWith('probe:')
      ? `probe:${kindOf(abs)}`
      : value.startsWith('stat:')
        ? statFacts(abs)
        : pkg
          ? `pkg:${packageVersion(abs)}`
          : fileValue(abs);
  if (now !== value) return false;
  // Missing then and now: nothing was there to read.
  return !st || st.ctimeMs < sinceMs;
}

/** A file's key value read afresh: its content hash, or `missing` / `dir` / `unreadable`. */
function fileValue(abs: string): string {
  try {
    if (statSync(abs).isDirectory()) return 'dir';
  } catch {
    return 'missing';
  }
  try {
    return contentHash(readFileSync(abs));
  } catch {
    return 'unreadable';
  }
}

function listingOf(abs: string): string {
  try {
    return listingHash(readdirSync(abs, { withFileTypes: true }).map(typedEntry));
  } catch {
    return 'missing';
  }
}

/**
 * A folder entry as keyed: its name with its type (`x/` a folder, `x@` a symlink, `x?` neither a
 * file nor a folder, `x` a file), so a file replaced by a folder of the same name moves the
 * listing's hash (`readdirSync(dir, { withFileTypes: true })` hands the types to the task).
 */
export function typedEntry(d: {
  name: string | Buffer;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}): string {
  const name = String(d.name);
  if (d.isDirectory()) return `${name}/`;
  if (d.isSymbolicLink()) return `${name}@`;
  return d.isFile() ? name : `${name}?`;
}

/** `ls:` + hash of a folder's entries (`typedEntry`: names with their types), in order (the key
 *  value of a listed folder). */
export function listingHash(entries: readonly string[]): string {
  return `ls:${sha256([...entries].sort().join('\u0000')).slice(0, 16)}`;
}

/** The suffix of a stat read's key-input path (`data/x.csv#stat`), beside the file's content. */
export const STAT = '#stat';

/**
 * The suffix of an lstat read (`data/current#lstat`): the path's own facts, not following a
 * symlink (`lstatFacts`). Recorded in `stats` with the suffix on.
 */
export const LSTAT = '#lstat';

/**
 * The suffix of a link read (`data/current#link`): what `readlink` and `realpath` hand back
 * (`linkFacts`). Recorded in `stats` with the suffix on.
 */
export const LINK = '#link';

/** A key-input path without its `#stat` / `#lstat` / `#link` suffix: the file it is about. */
export function pathOfInput(recorded: string): string {
  for (const suffix of [STAT, LSTAT, LINK])
    if (recorded.endsWith(suffix)) return recorded.slice(0, -suffix.length);
  return recorded;
}

/** `statFacts` of the path itself, a symlink not followed (`lstatSync`): a link's mode holds its
 *  type bits, so a file replaced by a link (or back) moves the value too. */
export function lstatFacts(abs: string): string {
  try {
    return statFacts(abs, lstatSync(abs));
  } catch {
    return 'stat:missing';
  }
}

/**
 * What `readlink` and `realpath` of `abs` hand a task, as a key value:
 * `link:<link target, or - when not a link>:<resolved path, or - when it does not resolve>`.
 */
export function linkFacts(abs: string): string {
  let target = '-';
  try {
    target = readlinkSync(abs);
  } catch {
    // not a link (EINVAL) or missing
  }
  let real = '-';
  try {
    real = realpathSync(abs);
  } catch {
    // missing, or a dangling link
  }
  return `link:${target}:${real}`;
}

/**
 * The stat facts a result can depend on, as a key value: `stat:file:<size>:<mtime in whole
 * ms>:<mode>` for a file (anything not a folder: a FIFO, a socket), `stat:dir:<mtime in whole
 * ms>:<mode>` for a folder, `stat:missing`. `<mode>` is `st.mode` in octal: the type bits and the
 * permission bits (`mode & 0o111`, "is it executable?", is a fact a task computes from). A
 * folder's mtime moves with any entry created, removed or renamed in it: keyed, since a task may
 * compute from it (`statSync(dir).mtimeMs`); the cost is a re-run of a folder-stating task when
 * the folder's entries change. `st`: the Stats the task was handed (bigint ones too), or read now
 * from `abs` (following links, as `statSync`).
 */
export function statFacts(
  abs: string,
  st?: {
    isDirectory(): boolean;
    size: number | bigint;
    mtimeMs: number | bigint;
    mode: number | bigint;
  },
): string {
  if (!st) {
    try {
      st = statSync(abs);
    } catch {
      return 'stat:missing';
    }
  }
  const mtime = Math.floor(Number(st.mtimeMs));
  const mode = Number(st.mode).toString(8);
  if (st.isDirectory()) return `stat:dir:${mtime}:${mode}`;
  return `stat:file:${Number(st.size)}:${mtime}:${mode}`;
}

function kindOf(abs: string): 'file' | 'dir' | 'missing' {
  try {
    return statSync(abs).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

function packageVersion(dir: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: unknown })
      .version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'missing';
  }
}

/**
 * The record name of what a pipeline module's own code read while it was evaluated (a notebook's
 * setup cell reading `limits.json` at its top level, runtime/load/loader.ts). Every task's key
 * holds it: the read happens before any task, so which task uses what the module computed from it
 * is not known (over-inclusion, never a stale hit). Not a task name (tasks are identifiers).
 */
export const PIPELINE_LOAD = '<load>';

const loadReadsByPipeline = new WeakMap<object, ObservedReads>();

/** What evaluating `pipeline`'s module read (loader.ts observes it on the main thread). */
export function noteLoadReads(pipeline: object, reads: ObservedReads): void {
  loadReadsByPipeline.set(pipeline, reads);
}

/** What evaluating `pipeline`'s module read, if it was loaded from a file on this thread. */
export function loadReadsOf(pipeline: object): ObservedReads | undefined {
  return loadReadsByPipeline.get(pipeline);
}

/**
 * What `reads` (a module's load, as observed) would key now: absolute path → content hash, `ls:`
 * listing hash or `probe:<kind>`, and `env:<NAME>` → hashed value. A process that keeps a loaded
 * module (a BullMQ worker) compares it with what it was at load to know its module is stale.
 */
export function loadReadFacts(reads: ObservedReads, stamps: RunReadStamps): Record<string, string> {
  const own = (set: Set<string>) => [...set].filter((p) => !reads.written.has(p));
  const out = runReadInputs(
    '/',
    {
      files: own(reads.files),
      dirs: own(reads.dirs),
      probes: own(reads.probes),
      stats: own(reads.stats),
      packages: [],
      env: [],
    },
    stamps,
  );
  for (const [name, hash] of Object.entries(envInputs([...reads.env]))) out[`env:${name}`] = hash;
  return out;
}

/**
 * `task`'s record in a map from `recordedRunReadsOfPipeline` (its own reads joined with the
 * pipeline's load record), or the load record alone when the task has none of its own.
 */
export function runReadsOfTask(
  records: ReadonlyMap<string, RecordedRunReads>,
  task: string,
): RecordedRunReads | undefined {
  return records.get(task) ?? records.get(PIPELINE_LOAD);
}

/**
 * The record name of what code of one local module (a setup cell's helpers, a module under lib/:
 * any file but the task's own module) read while tasks ran: `<module:lib/limits.ts>`, the path
 * as recorded. A module's state outlives the task that filled it (`let cache; export function
 * limits() { return cache ??= JSON.parse(readFileSync(...)) }`): the first task on a thread reads
 * the file, the next is handed the memo and reads nothing, so the file is keyed for every task
 * whose code reaches the module (`withModuleReads`): over-inclusion, never a stale hit.
 */
export function moduleRecordName(root: string, moduleFile: string): string {
  return `${MODULE_PREFIX}${toRecorded(root, moduleFile)}>`;
}

const MODULE_PREFIX = '<module:';

/** Is `name` a module's record (`moduleRecordName`), not a task's? */
export const isModuleRecord = (name: string): boolean => name.startsWith(MODULE_PREFIX);

/**
 * Add what the task's run saw code of other local modules read (read-record.ts `observeReads`'
 * `shared`, by absolute module file, or a built run's module URL) to those modules' records. Files the task wrote and the env
 * names in `keyedEnv` (read by name in code, keyed already) are left out, as for the task's own.
 * The key inputs each module's reads take are kept for this thread (`moduleInputsSeen`).
 */
export function recordModuleReads(
  ctx: ReadsContext,
  shared: ReadonlyMap<string, ObservedReads>,
  written: ReadonlySet<string>,
  keyedEnv: readonly string[] = [],
): void {
  for (const [moduleId, reads] of shared) {
    // A built run names a module by its URL (`cellar-build:…`): the same file under this root.
    const module = moduleFileIn(ctx.root, moduleId);
    if (excluded(ctx, module) || packageOf(module) !== undefined) continue;
    for (const name of keyedEnv) reads.env.delete(name);
    for (const w of written) {
      reads.files.delete(w);
      reads.written.add(w);
    }
    // What a module hands on is not tied to what one task saw: no `observed` hashes.
    const name = moduleRecordName(ctx.root, module);
    const now = recordRunReads(ctx, name, { ...reads, seen: new Map() }, false);
    let seen = moduleInputs.get(name);
    if (!seen) moduleInputs.set(name, (seen = new Set()));
    for (const input of now.inputs) seen.add(input);
  }
}

/** Module record name → the key inputs its module's code was seen reading on this thread. */
const moduleInputs = new Map<string, Set<string>>();

/**
 * The key inputs code of the modules named (module record names, `moduleRecordsOfCode`) was seen
 * reading on this thread, in any task. A module keeps state across the tasks a thread runs (a
 * memo filled by the first caller): a task handed what another task's read filled reads nothing
 * itself, yet its result rests on those inputs, which its key holds only once the module's record
 * is joined into it (keys.ts). perform.ts checks them against the job's key (`lacksRead`).
 */
export function moduleInputsSeen(modules: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of modules) for (const input of moduleInputs.get(name) ?? []) out.push(input);
  return out;
}

/**
 * The local modules a task's code reaches, as module record names: one per file of its code
 * fingerprint (codehash.ts `files`, paths relative to the task's module `taskModule`, an
 * `import.meta.url` or a path). Of these, `withModuleReads` merges those that have a record.
 * Computed once per fingerprint, root and module: the executor (each job's `modules`) and the
 * read adopter (before and after a task runs) ask again for the same task.
 */
export function moduleRecordsOfCode(
  root: string,
  taskModule: string,
  files: Readonly<Record<string, string>>,
): readonly string[] {
  let byModule = recordsOfCode.get(files);
  if (!byModule) recordsOfCode.set(files, (byModule = new Map()));
  const at = `${root}\0${taskModule}`;
  let names = byModule.get(at);
  if (!names) {
    const dir = dirname(moduleFileIn(root, taskModule));
    names = Object.freeze(
      Object.keys(files)
        .filter((f) => !f.startsWith('<'))
        .map((f) => moduleRecordName(root, resolve(dir, f))),
    );
    byModule.set(at, names);
  }
  return names;
}

/**
 * The code fingerprint files a task's key rests on, for `moduleRecordsOfCode`: its key's code, or
 * under `cache: 'params'` the fingerprint taken beside the key (CacheKey.codeFiles). Undefined
 * when there is neither (no hasher, no module).
 */
export function codeFilesOfKey(
  key: Pick<CacheKey, 'inputs' | 'codeFiles'>,
): Readonly<Record<string, string>> | undefined {
  return key.inputs.code?.files ?? key.codeFiles;
}

/** Code fingerprint files → `root\0module` → their module records (`moduleRecordsOfCode`). */
const recordsOfCode = new WeakMap<object, Map<string, readonly string[]>>();

/**
 * `rec` (a task's record, or undefined) joined with the records of the modules named in `uses`
 * (module record names) found in `records`: undefined only when neither has anything.
 */
export function withModuleReads(
  rec: RecordedRunReads | undefined,
  records: ReadonlyMap<string, RecordedRunReads>,
  uses: Iterable<string>,
): RecordedRunReads | undefined {
  let out = rec;
  for (const name of uses) {
    const mod = records.get(name);
    if (mod) out = unionOf(out ?? EMPTY, mod);
  }
  return out;
}

/** Two records' union (`observed` stays the first's). */
function unionOf(a: RecordedRunReads, b: RecordedRunReads): RecordedRunReads {
  return {
    files: union(a.files, b.files),
    dirs: union(a.dirs, b.dirs),
    probes: union(a.probes, b.probes),
    stats: union(a.stats ?? [], b.stats ?? []),
    packages: union(a.packages, b.packages),
    env: union(a.env, b.env),
    // The task's own side-effect files only: a load's or a module's record keeps none.
    ...(a.writes ? { writes: a.writes } : {}),
    ...(a.appends ? { appends: a.appends } : {}),
    // A setup cell's or a helper module's `process.cwd()` follows every task using it.
    ...(a.cwd || b.cwd ? { cwd: true as const } : {}),
    ...(a.observed ? { observed: a.observed } : {}),
  };
}

/** A task's own record joined with its pipeline's load record (`observed` stays the task's). */
function withLoadReads(own: RecordedRunReads, load: RecordedRunReads): RecordedRunReads {
  if (size(load) === 0) return own;
  return unionOf(own, load);
}

/**
 * The files a task wrote outside the workspace and Cellar's state, as recorded paths (relative to
 * the project root, or absolute), sorted: its side-effect files. A path written and gone by the
 * time the task returned (a temporary file renamed away) is still listed; `writtenContent` skips it.
 */
export function writtenPaths(ctx: ReadsContext, written: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const abs of written)
    if (!isHostFile(abs) && !excluded(ctx, abs) && packageOf(abs) === undefined)
      out.push(toRecorded(ctx.root, abs));
  return [...new Set(out)].sort();
}

/**
 * What a task's side-effect files hold now: recorded path → content hash (16 hex, as a read file
 * is keyed), for each of `paths` (recorded) that is a regular file now; a path missing or a folder
 * is left out (a temporary file renamed away). Stored in the result's manifest (`written`), so a
 * later cache hit can check the files still hold what this run wrote. `stamps`: the stamp memo,
 * when the caller has one (the keying thread); else each file is read once.
 */
export function writtenContent(
  root: string,
  paths: readonly string[],
  stamps?: RunReadStamps,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of paths) {
    const value = stamps
      ? stamps.contentOf(fromRecorded(root, p))
      : fileValue(fromRecorded(root, p));
    if (value !== 'missing' && value !== 'dir' && value !== 'unreadable') out[p] = value;
  }
  return out;
}

/**
 * The files a task wrote from scratch in one run (`seen.written` less those it only appended to,
 * `seen.appended`): its side-effect outputs, as absolute paths.
 */
export function sideEffectOutputs(seen: ObservedReads): Set<string> {
  const appended = seen.appended;
  if (!appended || appended.size === 0) return new Set(seen.written);
  return new Set([...seen.written].filter((p) => !appended.has(p)));
}

/**
 * How a cache hit checks one side-effect output of its task: `content`, the task is the file's
 * only writer, so a file missing or holding other bytes than its run left re-runs it; `exists`,
 * other tasks append to it (a log it started), so its bytes are not the task's alone and only a
 * missing file re-runs it.
 */
export type WrittenCheckMode = 'content' | 'exists';

/** Who owns the files a pipeline's tasks write outside their outputs (`sideEffectFiles`). */
export interface SideEffectFiles {
  /** Task → each side-effect output it owns (recorded path) and how a cache hit checks it. */
  owned: Map<string, Map<string, WrittenCheckMode>>;
  /** Files two or more tasks write from scratch: owned by none, checked for none; by path. */
  shared: { path: string; writers: string[] }[];
}

/**
 * Who owns each file the pipeline's tasks write outside their outputs, from their records
 * (`writes`, `appends`). A file one task writes from scratch is that task's: checked on its cache
 * hits (by content, or only for being there when other tasks append to it). A file only appended
 * to is a log, nobody's output, never checked. A file two tasks write from scratch is owned by
 * neither: whichever ran last decides its bytes, so checking it against either run's would re-run
 * them in turn on every run; it is left unchecked and the run warns (run.ts). The pipeline's load
 * record and module records keep no writes.
 */
export function sideEffectFiles(records: ReadonlyMap<string, RecordedRunReads>): SideEffectFiles {
  const whole = new Map<string, string[]>();
  const appenders = new Map<string, Set<string>>();
  for (const [task, rec] of records) {
    if (task === PIPELINE_LOAD || isModuleRecord(task)) continue;
    for (const w of rec.writes ?? []) {
      const list = whole.get(w);
      if (list) list.push(task);
      else whole.set(w, [task]);
    }
    for (const a of rec.appends ?? []) {
      const set = appenders.get(a);
      if (set) set.add(task);
      else appenders.set(a, new Set([task]));
    }
  }
  const owned = new Map<string, Map<string, WrittenCheckMode>>();
  const shared: SideEffectFiles['shared'] = [];
  for (const [path, writers] of whole) {
    if (writers.length > 1) {
      shared.push({ path, writers: [...writers].sort() });
      continue;
    }
    const owner = writers[0]!;
    const others = [...(appenders.get(path) ?? [])].some((t) => t !== owner);
    let files = owned.get(owner);
    if (!files) owned.set(owner, (files = new Map()));
    files.set(path, others ? 'exists' : 'content');
  }
  shared.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { owned, shared };
}

/**
 * The first of a result's side-effect files (`written`, from its manifest: recorded path → the
 * content hash the run left) that its task owns (`owned`: `sideEffectFiles`) and that no longer
 * holds what that run wrote, or undefined when none: `{ path, now }` with `now` the file's state
 * (`missing`, `dir`, `unreadable` or another hash). A file checked for being there only (`exists`)
 * moved when it is missing or a folder. A path the task no longer owns (another task writes it
 * too) is not checked. One `stat` per file when its stamp in `stamps` still holds.
 */
export function writtenFileMoved(
  root: string,
  written: Readonly<Record<string, string>>,
  owned: ReadonlyMap<string, WrittenCheckMode>,
  stamps: RunReadStamps,
): { path: string; now: string } | undefined {
  for (const [path, hash] of Object.entries(written)) {
    const mode = owned.get(path);
    if (mode === undefined) continue;
    const now = stamps.contentOf(fromRecorded(root, path));
    if (mode === 'exists' ? now === 'missing' || now === 'dir' : now !== hash) return { path, now };
  }
  return undefined;
}

/**
 * What the side-effect files the pipeline's tasks own hold now (`sideEffectFiles`): recorded path
 * → content hash, `missing`, `dir` or `unreadable`; a file checked for being there only is
 * `present` while it is a file. Compared by the warm-run record (runtime/run/warm-record.ts) with
 * what it held after the recorded run. One `stat` per file while its stamp holds.
 */
export function ownedWrittenNow(
  root: string,
  files: SideEffectFiles,
  stamps: RunReadStamps,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const owned of files.owned.values())
    for (const [path, mode] of owned) {
      const now = stamps.contentOf(fromRecorded(root, path));
      out[path] = mode === 'exists' && now !== 'missing' && now !== 'dir' ? 'present' : now;
    }
  return out;
}

/**
 * Tasks reading a file another task of the pipeline writes (or appends to) outside its outputs,
 * with no upstream path from the writer: the reader may run before the writer, and stays cached
 * when the writer re-runs and rewrites the file (its key holds the content from before).
 * `records`: the pipeline's records by task; `dependsOn(reader, writer)`: is `writer` upstream of
 * `reader` (transitively)? One entry per (reader, writer, file), in record order.
 */
export function sideEffectReaders(
  records: ReadonlyMap<string, RecordedRunReads>,
  dependsOn: (reader: string, writer: string) => boolean,
): { reader: string; writer: string; path: string }[] {
  const writers = new Map<string, string[]>();
  for (const [task, rec] of records) {
    if (task === PIPELINE_LOAD || isModuleRecord(task)) continue;
    for (const w of new Set([...(rec.writes ?? []), ...(rec.appends ?? [])])) {
      const list = writers.get(w);
      if (list) list.push(task);
      else writers.set(w, [task]);
    }
  }
  const out: { reader: string; writer: string; path: string }[] = [];
  if (writers.size === 0) return out;
  for (const [task, rec] of records) {
    if (task === PIPELINE_LOAD || isModuleRecord(task)) continue;
    const read = new Set([...rec.files, ...rec.stats, ...rec.probes]);
    for (const [path, tasks] of writers) {
      if (!read.has(path)) continue;
      for (const writer of tasks)
        if (writer !== task && !dependsOn(task, writer)) out.push({ reader: task, writer, path });
    }
  }
  return out;
}
