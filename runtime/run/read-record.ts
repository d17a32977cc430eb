// The recorder of what a task reads while it runs (records and keying: runtime/key/run-reads.ts).
//
// A task's code may read data the compiler cannot see: `readFileSync(dataPath)`, `await
// readFile(...)` from node:fs/promises, `createReadStream`, `readdirSync('data/')`, a Deno
// notebook's `Deno.readTextFile` (runtime/deno.ts calls node:fs), `process.env[name]` with a
// computed name. `observeReads` runs the task in an AsyncLocalStorage scope (so concurrent tasks
// on one thread never see each other's reads) and the node:fs read entry points, patched once per
// thread, add the paths they are given to the current scope. Outside a scope the patches only
// forward. ESM named imports of node:fs bind at link time, so after patching
// `syncBuiltinESMExports()` points them at the patched functions too.
//
// process.env becomes a Proxy over the real environment object (reads and writes forward, so
// child processes and workers see what they saw before); inside a scope it records names read.
// A task's writes are its own: undone as it ends (`undoEnvWrites`, docs/design/cache-key.md).
// Listing the environment (`Object.keys(process.env)`, `{ ...process.env }`, `for…in`,
// `JSON.stringify(process.env)`) records the pseudo-variable `@listing` (key/hash.ts
// `ENV_LISTING`): the task is keyed on every variable's name and value, hashed, so one added or
// changed re-runs it (and a shell's own variables moving re-run it too: over-inclusion, never a
// stale hit). The gets that walk the listing in its order are not recorded by name (they are in
// the listing's hash); a get out of that order is a read by name. `os.homedir()`/`os.tmpdir()`
// (native reads of HOME, TMPDIR…) and `process.loadEnvFile` are recorded too (below).
//
// A worker thread the task starts (`new Worker(…)`) is recorded as the task: it is started with
// the recorder preloaded, and its reads come back through a shared log (`installWorkerRecorder`).
// Network requests (`fetch`, http/https) are noted as calls, for a warning: what a server sends
// is not keyed.
//
// Not seen: reads by file descriptors opened outside the task, native addons' own I/O (DuckDB's
// `read_csv` in SQL), child processes' reads. Cellar's own work inside a task (opening the
// warehouse, translating SQL) runs `untracked`.
import { AsyncLocalStorage } from 'node:async_hooks';
import childProcess from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import v8 from 'node:v8';
import workerThreads from 'node:worker_threads';
import fs, { type Dirent } from 'node:fs';
import os from 'node:os';
import { Module, isBuiltin, syncBuiltinESMExports } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { contentHash } from '../key/filestamp.js';
import { ENV_LISTING } from '../key/hash.js';
import {
  isHostFile,
  linkFacts,
  listingHash,
  LINK,
  LSTAT,
  noteSeen,
  STAT,
  statFacts,
  typedEntry,
  type ObservedReads,
} from '../key/run-reads.js';
import { CELLAR_CODE_DIRS } from '../project.js';
import { builtFrameModule } from '../key/built-frames.js';
import { BUILT_MODULE_SCHEME, WORKING_FOLDER_KEY } from '../key/module-path.js';
import {
  LOG_BYTES,
  LOG_KEY,
  loggedReads,
  readLog,
  writeLog,
  type LogRecord,
} from './worker-read-log.js';

interface Scope {
  reads: ObservedReads;
  /**
   * The task's own module (its file, as its stack frames name it), when known: a read whose caller
   * is code of another local module (a setup helper, a module under lib/) is also noted in
   * `shared` under that module's file, since that module's state (a memo) may hand what it read
   * to every task using it (runtime/key/run-reads.ts `recordModuleReads`).
   */
  own: string | undefined;
  /** Module file → what code of that module read in this task (see `own`). */
  shared: Map<string, ObservedReads>;
  /**
   * A pipeline module's evaluation (`observeLoadReads`), not a task: reads Node makes on the
   * module's behalf (its loader reading the module's own files and its imports', CommonJS
   * packages' files, source maps, Node's own env switches) are left out.
   */
  loading: boolean;
  /** Set when the task listed the whole environment. */
  envListed: boolean;
  /** The names of the latest listing and how far a walk over it in order has come. */
  listing: string[] | undefined;
  listingAt: number;
  /** Child processes the code started (`execSync("cat data/x.csv")`), as calls: their reads are
   *  not seen. */
  children: string[];
  /** Inside a child_process call: its copy of the environment for the child is not the task
   *  listing it. */
  spawning: boolean;
  /** Network requests the code made (`fetch("https://…")`, `https.get(…)`), as calls with their
   *  call site: what a server sends is not seen. */
  requests: string[];
  /** The log the worker threads this scope's code started write their reads into (`writeLog`),
   *  made at the first `new Worker(…)`; merged into `reads` as the scope ends. */
  workerLog?: SharedArrayBuffer;
  /** Set when a worker thread was started whose reads cannot be recorded (why). */
  unrecorded?: string;
  /** In a worker thread a task started: sends each record to the task's log as it is made. */
  log?: (record: LogRecord) => void;
  /** Environment variables the task's code set or deleted → the value each held before its first
   *  write (undefined: unset), put back as the task ends (`undoEnvWrites`). */
  envWrites?: Map<string, string | undefined>;
}

/** The recording scope of the code running now: null inside `untracked` (explicitly outside). */
const scopes = new AsyncLocalStorage<Scope | null>();

/**
 * In a worker thread a task started (`new Worker(…)`), everything the thread runs is the task's:
 * its message handlers, timers and callbacks too, which no async context ties to a scope. The
 * thread's reads are recorded into this scope (`recordWorkerThread`) and sent to the task's.
 */
let threadScope: Scope | undefined;

/** The scope reads are recorded into now, if any. */
function currentScope(): Scope | undefined {
  const store = scopes.getStore();
  return store === undefined ? threadScope : (store ?? undefined);
}

/** Run `fn` outside any scope (its async continuations too). */
function outside<T>(fn: () => T): T {
  return scopes.run(null, fn);
}

/** What a run of code returned and what it was seen reading and calling (`observeReads`). */
export interface Observed<T> {
  result: T;
  reads: ObservedReads;
  /** Module file → what code of that module read (see `Scope.own`). */
  shared: Map<string, ObservedReads>;
  /** Set when the code listed the whole environment. */
  envListed: boolean;
  /** Child processes the code started, as calls (`execSync("cat data/x.csv")`). */
  children: string[];
  /** Network requests the code made (`fetch("https://…") at lib/get.ts:3`). */
  requests: string[];
  /** Set when what its worker threads read could not all be recorded (why): the result must
   *  not be cached. */
  unrecorded?: string;
  /** Environment variables the code set or deleted (undone as it ended: `undoEnvWrites`). */
  envWritten: string[];
}

/**
 * Run `fn` (a task's run) recording what it reads; the reads come back with its result. `module`:
 * the task's defining module (`import.meta.url` or a path); with it, reads made by code of other
 * local modules come back in `shared`, by module file (absolute path; in a built run, the module's
 * `cellar-build:` URL, as `module` is there).
 */
export async function observeReads<T>(
  fn: () => Promise<T>,
  module?: string,
  failed?: (reads: ObservedReads) => void,
): Promise<Observed<T>> {
  const own =
    module === undefined
      ? undefined
      : module.startsWith('file:')
        ? fileURLToPath(module)
        : module.startsWith(BUILT_MODULE_SCHEME)
          ? module
          : resolve(module);
  return observe(fn, false, own, failed);
}

/**
 * Run `fn` (evaluating a pipeline module) recording what the module's own top-level code reads: a
 * setup cell's `readFileSync('limits.json')`, a `readdirSync`, an `existsSync` probe, a
 * `process.env[name]`. Reads whose caller is Node itself (`node:internal/…`: the module loader
 * reading the module's files and its imports', a CommonJS package's files, source maps, Node's
 * own `NODE_*` switches) or the TypeScript loader (`CELLAR_LOADER=tsx`: tsx and esbuild looking
 * up tsconfig.json files) are code, which the code hash and package versions key, not data: they
 * are left out, so a source run, a built bundle's run and a tsx run record the same reads.
 */
export async function observeLoadReads<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; reads: ObservedReads; envListed: boolean }> {
  return observe(fn, true, undefined);
}

async function observe<T>(
  fn: () => Promise<T>,
  loading: boolean,
  own: string | undefined,
  failed?: (reads: ObservedReads) => void,
): Promise<Observed<T>> {
  install();
  const scope = newScope(loading, emptyReads(), own);
  let result: T;
  try {
    result = await scopes.run(scope, fn);
  } catch (error) {
    // What it read before it threw (the environment variables its error is redacted of).
    mergeWorkerLog(scope);
    failed?.(scope.reads);
    throw error;
  } finally {
    undoEnvWrites(scope);
  }
  // What its worker threads read up to now: a read that handed the task anything it returned was
  // logged before the worker could send it on (the worker logs each read as it is made).
  const lost = mergeWorkerLog(scope);
  return {
    result,
    reads: scope.reads,
    shared: scope.shared,
    envListed: scope.envListed,
    children: scope.children,
    requests: scope.requests,
    envWritten: [...(scope.envWrites?.keys() ?? [])],
    ...((scope.unrecorded ?? lost) ? { unrecorded: scope.unrecorded ?? lost } : {}),
  };
}

/** A scope recording into `reads`, nothing seen yet (the fields: `Scope`). */
function newScope(loading: boolean, reads: ObservedReads, own: string | undefined): Scope {
  return {
    loading,
    reads,
    own,
    shared: new Map(),
    envListed: false,
    listing: undefined,
    listingAt: 0,
    children: [],
    spawning: false,
    requests: [],
  };
}

function emptyReads(): ObservedReads {
  return {
    files: new Set(),
    dirs: new Set(),
    probes: new Set(),
    stats: new Set(),
    env: new Set(),
    written: new Set(),
    seen: new Map(),
  };
}

/**
 * The local module whose code made the read being recorded, when it is not the task's own module:
 * the file of the first stack frame that is not Node's, a package's (`node_modules`) or Cellar's
 * runtime. Undefined when that frame is the task's own module, or no frame names a source file.
 * A frame in a built folder's chunk is mapped to its module (`cellar-build:…`, key/built-frames.ts);
 * a bundle loaded without source maps otherwise names its bundle, and reads stay the task's own.
 */
function sharedCaller(own: string): string | undefined {
  for (const line of callerFrames(sharedCaller, 40) ?? []) {
    const m = FRAME_FILE.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('node:') || /[\\/]node_modules[\\/]/.test(file)) continue;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (!file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(file)) continue;
    // A built folder's chunk: its module as the build names it (a task's `own` is such a URL).
    const built = outside(() => builtFrameModule(file, Number(m[2]), Number(m[3])));
    if (built === null) continue;
    if (built !== undefined) return built === own ? undefined : built;
    if (CELLAR_CODE_DIRS.some((dir) => file.startsWith(dir))) continue;
    if (file === own) return undefined;
    return /[\\/]\.cellar[\\/]/.test(file) ? undefined : file;
  }
  return undefined;
}

/** The file, line and column of a stack line: `at f (file:1:2)`, `at file:1:2`, `at async f (file:1:2)`. */
const FRAME_FILE = /^\s+at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

/** Note `abs` as read (`kind`) by code of another local module than the task's, when it is. */
function share(scope: Scope, kind: Exclude<Kind, 'written'> | 'env', abs: string): void {
  if (scope.own === undefined) return;
  const module = sharedCaller(scope.own);
  if (module === undefined) return;
  let reads = scope.shared.get(module);
  if (!reads) scope.shared.set(module, (reads = emptyReads()));
  reads[kind].add(abs);
}

/**
 * Run `fn` outside the task's recording of run-time reads: what it reads does not enter the
 * task's key. For reads that cannot change a result: Cellar's own inside a task (opening the
 * warehouse, its caches), and in task code a lock, progress or marker file (exported from
 * `cellar`). Returns `fn`'s result; an async `fn`'s reads after its awaits are left out too (they
 * continue in the context `fn` started in). Outside a task it only calls `fn`.
 */
export function untracked<T>(fn: () => T): T {
  return currentScope() ? outside(fn) : fn();
}

/**
 * Note `path` as written from scratch by the current task, by code that does not go through
 * Node's `fs` (DuckDB's `COPY … TO 'out/report.csv'`, session.ts): a side-effect output like a
 * `writeFileSync` target, so a cache hit is served only while the file holds what that run wrote
 * (run-reads.ts `writes`). Outside a task it does nothing.
 */
export function noteWritten(path: string): void {
  note(currentScope(), 'written', path);
}

/**
 * Note `path`, a stored output `load()` read for the current task: another task's result (a
 * notebook reading a result of another notebook's pipeline). Keyed by content like a data file,
 * though it lies in the workspace, whose files are otherwise Cellar's state and never inputs: a
 * result re-made under the same key (`--rerun`, `//| rerun`, a lost output made again) holds
 * other bytes, and the reader re-runs on them instead of serving what it computed from the old
 * ones. `digest`: the manifest's digest of the file (`StoredOutput.digest`), which load() checked
 * the bytes against. Outside a task it does nothing.
 */
export function noteLoadedOutput(path: string, digest: string | undefined): void {
  const scope = currentScope();
  const abs = scope ? pathOf(path) : undefined;
  if (!scope || abs === undefined) return;
  (scope.reads.loaded ??= new Set()).add(abs);
  scope.reads.files.add(abs);
  // The manifest's digest of the bytes load() checked them against is their content hash; an
  // older manifest has none: read them again.
  noteSeen(scope.reads, abs, digest ?? contentHash(outside(() => fs.readFileSync(abs))));
}

/** The working folder, asked without the recorder's `process.cwd` (installCwdRecorder): the
 *  recorder's own resolving of a relative path is not the task asking, and costs no stack. */
const ownCwd = process.cwd.bind(process);

/** A path argument as an absolute path, or undefined for a descriptor or FileHandle. */
function pathOf(p: unknown): string | undefined {
  if (typeof p === 'string') return isAbsolute(p) ? resolve(p) : resolve(ownCwd(), p);
  if (Buffer.isBuffer(p)) return pathOf(p.toString());
  if (p instanceof URL) return p.protocol === 'file:' ? fileURLToPath(p) : undefined;
  return undefined;
}

type Kind = 'files' | 'dirs' | 'probes' | 'stats' | 'written';
/** A kind of read or write noted by `note`: 'appended', a write that only adds to a file's end. */
type NoteKind = Kind | 'appended';

/**
 * The scope a read made by a call to `entry` (of `path`, for a file system call) belongs to: none
 * outside a scope, and none when Node itself or the TypeScript loader made the call: in a
 * module's evaluation, any such call (see `observeLoadReads`); in a task, a call for a module
 * file or an env switch, as when a task's `import()` loads a module at run time under
 * CELLAR_LOADER=tsx (Node's loader and tsx read the module, package.json files, tsconfig.json,
 * `NODE_*` variables). That code is in the task's key already (the bundle holds every file a
 * literal or prefixed `import()` may load: key/dynamic-imports.ts), and a bundled run does not
 * make those reads at all: recording them would give a tsx run other keys. A task's own calls
 * have its code below them and stay; a path of any other kind is never looked into (no stack).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function scopeOf(entry: (...args: any[]) => unknown, path?: unknown): Scope | undefined {
  const scope = currentScope();
  if (!scope) return undefined;
  if (!scope.loading && path !== undefined && !MODULE_FILE.test(pathOf(path) ?? '')) return scope;
  return calledByLoader(entry) ? undefined : scope;
}

/** What a module loader reads on a module's behalf: code, JSON, source maps, package metadata. */
const MODULE_FILE = /\.(?:[cm]?[jt]sx?|json|map)$/;

/** A stack frame in Node's own code, or in the TypeScript loader's packages (tsx and the esbuild
 *  it drives: with CELLAR_LOADER=tsx they look up tsconfig.json files and their switches). */
const LOADER_FRAME = /\(?node:|[\\/]node_modules[\\/](?:tsx|esbuild)[\\/]/;

let inCallerCheck = false;

/**
 * The stack lines (`    at f (file:1:2)`) of the `depth` frames below `entry`, or undefined
 * when called again while a stack is being formatted: formatting may read a source map, a read
 * that comes back to the recorder.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function callerFrames(entry: (...args: any[]) => unknown, depth: number): string[] | undefined {
  if (inCallerCheck) return undefined;
  inCallerCheck = true;
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = depth;
    const holder: { stack?: string } = {};
    Error.captureStackTrace(holder, entry);
    return (holder.stack ?? '').split('\n').slice(1);
  } finally {
    Error.stackTraceLimit = limit;
    inCallerCheck = false;
  }
}

/** Is the caller of `entry` (the frame just below it) Node's own code (`node:internal/…`) or the
 *  TypeScript loader's? A call made while a stack is formatted counts as the loader's. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function calledByLoader(entry: (...args: any[]) => unknown): boolean {
  const frames = callerFrames(entry, 1);
  return frames === undefined || LOADER_FRAME.test(frames[0] ?? '');
}

function note(scope: Scope | undefined, kind: NoteKind, p: unknown): void {
  if (!scope) return;
  const abs = pathOf(p);
  if (abs === undefined || isHostFile(abs)) return;
  const reads = scope.reads;
  if (kind === 'appended') {
    // Only added to (a log): `appended` while no call wrote it from scratch in this scope.
    if (!reads.written.has(abs)) (reads.appended ??= new Set()).add(abs);
    reads.written.add(abs);
    return;
  }
  reads[kind].add(abs);
  if (kind === 'written') reads.appended?.delete(abs);
  else share(scope, kind, abs);
}

/**
 * A write call's kind from its flag (`writeFile`'s `flag`, `createWriteStream`'s `flags`, an
 * `open`'s flags): 'appended' when it only adds to the file's end ('a', 'as', O_APPEND), else
 * 'written' (from scratch, or over bytes in place). `fallback`: the call's own default.
 */
function writeKind(flags: unknown, fallback: 'written' | 'appended'): 'written' | 'appended' {
  if (typeof flags === 'string') return /a/.test(flags) ? 'appended' : 'written';
  if (typeof flags === 'number')
    return (flags & fs.constants.O_APPEND) !== 0 ? 'appended' : 'written';
  return fallback;
}

/** The `flag` (or `flags`) of a write call's options argument, when it names one. */
function flagOf(options: unknown, name: 'flag' | 'flags'): unknown {
  return options !== null && typeof options === 'object'
    ? (options as Record<string, unknown>)[name]
    : undefined;
}

/**
 * Does an `open` with these flags hand the task the file's present content? Read-only ('r',
 * 'rs'), and read-write without truncating ('r+', 'rs+', 'a+', 'ax+': what the task reads through
 * the descriptor is the content it found, an input). 'w', 'w+', 'a' (nothing of the old content is
 * read) make the file the task's own. Numbers: not write-only, and no O_TRUNC.
 */
function readsContent(flags: unknown): boolean {
  if (flags === undefined || flags === null) return true;
  if (typeof flags === 'number')
    return (flags & 3) !== fs.constants.O_WRONLY && (flags & fs.constants.O_TRUNC) === 0;
  return typeof flags === 'string' && !/w/.test(flags) && (/\+/.test(flags) || !/a/.test(flags));
}

let installed = false;

/**
 * Patch this thread's read entry points and put the env Proxy in place now, before a pipeline
 * module is evaluated. A module's top level may keep `process.env` (a setup cell's `const env =
 * process.env`, a lib module's): it must keep the Proxy, or a task listing `env` later lists the
 * real object unseen (no `@listing`, a cached result served after a variable was added). The
 * main thread installs in `observeLoadReads`; a worker thread evaluates the module again without
 * recording its reads (loader.ts) and calls this first. Outside a scope the patches only forward.
 */
export function installReadRecorders(): void {
  install();
}

function install(): void {
  if (installed) return;
  installed = true;
  // A built folder's modules are located in the run's working folder (module-path.ts): Cellar's
  // look, not the task's reading of `process.cwd()`. Here, as pipeline.js evaluates after this.
  (globalThis as Record<symbol, unknown>)[Symbol.for(WORKING_FOLDER_KEY)] ??= () =>
    untracked(() => process.cwd());
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wrap = (
    target: any,
    name: string,
    kind: (args: unknown[]) => NoteKind | undefined,
    // The paths to note: by default the call's first argument.
    paths: (p: unknown) => unknown[] = (p) => [p],
  ) => {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') return;
    const patched = function (this: unknown, ...args: unknown[]) {
      const k = kind(args);
      if (k) {
        const scope = scopeOf(patched, args[0] ?? '');
        if (scope) for (const path of paths(args[0])) note(scope, k, path);
      }
      return original.apply(this, args);
    };
    copySymbols(original, patched);
    target[name] = patched;
  };
  const always = (k: Kind) => () => k;
  const p = fs.promises;
  for (const [target, names] of [[fs, ['readFile', 'createReadStream']]] as const)
    for (const n of names) wrap(target, n, always('files'));
  for (const [target, names] of [
    [fs, ['readdir', 'opendirSync', 'opendir']],
    [p, ['opendir']],
  ] as const)
    for (const n of names) {
      wrap(target, n, always('dirs'));
      wrap(target, n, (args) => (recursiveListing(args[1]) ? 'dirs' : undefined), subfolders);
    }
  // The whole-file reads and the listings hand back what was read: its hash is kept, so the run
  // that discovers the read can prove the content it read is the content the next key holds
  // (runtime/run/adopt-reads.ts) without waiting for the file to age.
  withResult(fs, 'readFileSync', 'files', noteContent);
  withResult(p, 'readFile', 'files', noteContent);
  withResult(fs, 'readdirSync', 'dirs', (abs, args, out, scope) =>
    noteListing(abs, args[1], out, scope),
  );
  withResult(p, 'readdir', 'dirs', (abs, args, out, scope) =>
    noteListing(abs, args[1], out, scope),
  );
  // An existence check that found nothing hands that back too: a path still missing when the
  // task ends is provably what it saw (adopt-reads.ts), though a task writing beside it moved
  // its folder.
  withResult(fs, 'existsSync', 'probes', (abs, _args, out, scope) => {
    if (out === false) noteSeen(scope.reads, abs, 'probe:missing');
  });
  for (const [target, names] of [
    [fs, ['exists', 'accessSync', 'access']],
    [p, ['access']],
  ] as const)
    for (const n of names) wrap(target, n, always('probes'));
  // A stat hands the task a file's size, mtime, type and mode: what it computes from them
  // (`.size`, "newer than", `isDirectory()`, `mode & 0o111`) depends on them, so they are keyed
  // (run-reads.ts statFacts), apart from existence probes. The facts handed are kept for the
  // changed-while-it-ran check and adoption. An lstat hands the path's own facts (a symlink's, not
  // its target's): keyed under `#lstat`.
  withStat(fs, 'statSync', (args) => pathOf(args[0]), STAT);
  withStat(p, 'stat', (args) => pathOf(args[0]), STAT);
  withStat(fs, 'lstatSync', (args) => pathOf(args[0]), LSTAT);
  withStat(p, 'lstat', (args) => pathOf(args[0]), LSTAT);
  wrap(fs, 'stat', always('stats'));
  wrapSuffixed(fs, 'lstat', LSTAT);
  // fstat on a descriptor or FileHandle the task opened: the stat of the file it opened.
  withStat(fs, 'fstatSync', (args) => fdPaths.get(args[0] as number), STAT);
  // readlink and realpath hand a link's target and the resolved path: keyed under `#link`
  // (run-reads.ts linkFacts), in every form (sync, callback, promises, `.native`).
  wrapLinks();
  wrapFstat();
  // A file written from scratch is the task's side-effect output (run-reads.ts `writes`: checked
  // on a cache hit); one only appended to is a log (`appends`: neither input nor output).
  for (const [target, names] of [
    [fs, ['writeFileSync', 'writeFile']],
    [p, ['writeFile']],
  ] as const)
    for (const n of names) wrap(target, n, (args) => writeKind(flagOf(args[2], 'flag'), 'written'));
  for (const [target, names] of [
    [fs, ['appendFileSync', 'appendFile']],
    [p, ['appendFile']],
  ] as const)
    for (const n of names)
      wrap(target, n, (args) => writeKind(flagOf(args[2], 'flag'), 'appended'));
  wrap(fs, 'createWriteStream', (args) => writeKind(flagOf(args[1], 'flags'), 'written'));
  // A file put in place by a rename (the atomic-write idiom: write `x.tmp`, rename it over `x`)
  // is written by the task as much as one written directly: its destination is noted (a copy's
  // destination is, by `wrapCopies` below).
  for (const [target, names] of [
    [fs, ['renameSync', 'rename']],
    [p, ['rename']],
  ] as const)
    for (const n of names) wrapWritten(target, n);
  // A file opened for reading is read (FileHandle.read, readSync on the descriptor), also one
  // opened read-write without truncating ('r+', 'a+'): its content as found is an input (a file
  // the task wrote before is its own all the same: run-reads.ts leaves `written` files out).
  // Opened to write from scratch ('w', 'w+'), or only to append, it is the task's own.
  for (const target of [fs, p])
    for (const n of target === p ? ['open'] : ['openSync', 'open'])
      wrap(target, n, (args) => (readsContent(args[1]) ? 'files' : writeKind(args[1], 'written')));
  // A copy reads its source (keyed by content, a folder's by its listings and files) and writes
  // its destination, the task's own; the copy's own calls (stats, listings of the destination)
  // run untracked.
  wrapCopies();
  // `fs.openAsBlob(path)`: a Blob over the file's bytes, read when the task reads the Blob (as a
  // stream's are: keyed by content, adopted once the file has aged, adopt-reads.ts).
  wrap(fs, 'openAsBlob', always('files'));
  rememberOpened();
  installHostPathRecorder();
  installLoadEnvFileRecorder();
  installCwdRecorder();
  syncBuiltinESMExports();
  installEnvProxy();
  installEnvCloning();
  installRequireRecorder();
  installChildProcessRecorder();
  installNetworkRecorder();
  installWorkerRecorder();
}

/** Note `name` as an environment variable the scope's code read (keyed by its hashed value). */
function noteEnv(scope: Scope, name: string): void {
  scope.reads.env.add(name);
  share(scope, 'env', name);
}

/**
 * The variables `os.homedir()` and `os.tmpdir()` answer from: Node reads them natively (libuv's
 * getenv, not process.env), so the env Proxy never sees them. A task reading
 * `join(os.homedir(), '.myrc')` depends on HOME as much as one reading `process.env.HOME`: each
 * call notes the variables as read (hashed in the key, as other env reads). tmpdir() takes the
 * first of TMPDIR, TMP, TEMP that is set: all three are noted (setting an earlier one moves it).
 * `os.userInfo()` is not: it reads the password database (getpwuid), not the environment.
 */
function installHostPathRecorder(): void {
  const hostVars: [string, readonly string[]][] = [
    ['homedir', process.platform === 'win32' ? ['USERPROFILE'] : ['HOME']],
    ['tmpdir', process.platform === 'win32' ? ['TEMP', 'TMP'] : ['TMPDIR', 'TMP', 'TEMP']],
  ];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const target = os as any;
  for (const [name, vars] of hostVars) {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    const patched = function (this: unknown, ...args: unknown[]) {
      const scope = scopeOf(patched);
      if (scope && !scope.spawning) for (const v of vars) noteEnv(scope, v);
      return original.apply(this, args);
    };
    copySymbols(original, patched);
    target[name] = patched;
  }
}

/**
 * `process.cwd()`, and through it `path.resolve('out.csv')` (Node's path.resolve asks
 * `process.cwd()` for a relative path, never for an absolute one): a value computed from the
 * working folder, with no file read, is as much the folder's as a relative read is. The scope's
 * `cwd` is set when the first frame below that is not Node's own is the task's code or a
 * package's (not Cellar's runtime, which resolves its own paths, nor the TypeScript loader), so
 * the task is keyed on the workdir (run-reads.ts `WORKDIR_INPUT`). Once set, later calls cost
 * nothing more.
 */
function installCwdRecorder(): void {
  const original = process.cwd;
  const patched = function (this: unknown) {
    const scope = currentScope();
    if (scope && !scope.reads.cwd && calledByUserCode(patched)) scope.reads.cwd = true;
    return original.call(process);
  };
  copySymbols(original, patched);
  process.cwd = patched;
}

/** Is the first frame below `entry` that is not Node's own (`node:path`, `node:internal/…`) code
 *  of the task or a package, not Cellar's runtime or the TypeScript loader's? */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function calledByUserCode(entry: (...args: any[]) => unknown): boolean {
  for (const line of callerFrames(entry, 12) ?? []) {
    const m = FRAME_FILE.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('node:')) continue;
    if (LOADER_FRAME.test(line)) return false;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (!file.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(file)) continue;
    // A built folder's chunk: a local module's code is the task's; Cellar's runtime bundled
    // there (null) is not, as it is not from the sources, so both runs key alike.
    const built = outside(() => builtFrameModule(file, Number(m[2]), Number(m[3])));
    if (built !== undefined) return built !== null;
    return !CELLAR_CODE_DIRS.some((dir) => file.startsWith(dir));
  }
  return false;
}

/**
 * `process.loadEnvFile(path = '.env')` reads the file natively and sets the variables it names
 * that are not set yet: the file is noted as read (keyed by content, the content as read noted as
 * seen), and each variable it names as read, so a task's key moves with the file and a value it
 * set is refused in an output as any read variable's is (perform.ts `refuseSecrets`).
 */
function installLoadEnvFileRecorder(): void {
  const original = (process as { loadEnvFile?: (path?: unknown) => void }).loadEnvFile;
  if (typeof original !== 'function') return;
  const patched = function (this: unknown, ...args: unknown[]) {
    const path = args[0] ?? '.env';
    const scope = scopeOf(patched, path);
    const abs = scope ? pathOf(path) : undefined;
    if (!scope || abs === undefined || isHostFile(abs)) return original.apply(this, args as []);
    scope.reads.files.add(abs);
    share(scope, 'files', abs);
    const out = original.apply(this, args as []);
    // Read again for its names and hash (the native read above threw if it could not read it).
    const bytes = outside(() => {
      try {
        return fs.readFileSync(abs);
      } catch {
        return undefined;
      }
    });
    if (bytes) {
      noteSeen(scope.reads, abs, contentHash(bytes));
      for (const name of Object.keys(parseEnv(bytes.toString('utf8')))) noteEnv(scope, name);
    }
    return out;
  };
  copySymbols(original, patched);
  (process as { loadEnvFile?: unknown }).loadEnvFile = patched;
}

/** The child_process entry points that start a process. */
const CHILD_PROCESS_CALLS = [
  'spawn',
  'spawnSync',
  'exec',
  'execSync',
  'execFile',
  'execFileSync',
  'fork',
] as const;

/**
 * Note each child process a scope's code starts (`execSync('cat data/x.csv')`): what the child
 * reads is not seen by the recorder (another process), so the task is warned, naming the call.
 * Node copies the whole environment for the child (`Object.keys(process.env)` inside spawn): that
 * copy is not the task listing the environment, so it does not count as one.
 */
function installChildProcessRecorder(): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const target = childProcess as any;
  for (const name of CHILD_PROCESS_CALLS) {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    const patched = function (this: unknown, ...args: unknown[]) {
      const scope = currentScope();
      if (!scope || scope.spawning) return original.apply(this, args);
      noteCall(scope, 'children', describeChildCall(name, args));
      scope.spawning = true;
      try {
        return original.apply(this, args);
      } finally {
        scope.spawning = false;
      }
    };
    copySymbols(original, patched);
    target[name] = patched;
  }
  syncBuiltinESMExports();
}

/** `execSync("cat data/x.csv")`, `spawn("cat", ["data/x.csv"])`: the call as written, shortened. */
function describeChildCall(name: string, args: unknown[]): string {
  const shown: string[] = [];
  for (const a of args.slice(0, 2)) {
    if (typeof a === 'string') shown.push(JSON.stringify(a));
    else if (Array.isArray(a) && a.every((x) => typeof x === 'string'))
      shown.push(JSON.stringify(a));
    else break;
  }
  const text = `${name}(${shown.join(', ')})`;
  return text.length > 120 ? `${text.slice(0, 117)}…)` : text;
}

/** Patch `target[name]` (rename: `(from, to, …)`) to note its destination as
 *  written by the task. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function wrapWritten(target: any, name: string): void {
  const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
  if (typeof original !== 'function') return;
  const patched = function (this: unknown, ...args: unknown[]) {
    note(currentScope(), 'written', args[1]);
    return original.apply(this, args);
  };
  copySymbols(original, patched);
  target[name] = patched;
}

/** Patch `target[name]` to note its path argument as `kind` and hand its result (awaited when a
 *  promise) to `seen`, inside a scope only. */
function withResult(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  target: any,
  name: string,
  kind: Kind,
  seen: (abs: string, args: unknown[], out: unknown, scope: Scope) => void,
): void {
  const original = target[name] as (...args: unknown[]) => unknown;
  const patched = function (this: unknown, ...args: unknown[]) {
    const scope = scopeOf(patched, args[0] ?? '');
    const abs = scope ? pathOf(args[0]) : undefined;
    if (abs === undefined || isHostFile(abs)) return original.apply(this, args);
    scope!.reads[kind].add(abs);
    if (kind !== 'written') share(scope!, kind, abs);
    const out = original.apply(this, args);
    if (out instanceof Promise)
      return out.then((v) => {
        seen(abs, args, v, scope!);
        return v;
      });
    seen(abs, args, out, scope!);
    return out;
  };
  copySymbols(original, patched);
  target[name] = patched;
}

/** The file each descriptor and FileHandle was opened on (while a scope was recording), for fstat.
 *  A descriptor number is reused after close: the latest open wins, as the kernel's table does. */
const fdPaths = new Map<number, string>();
const handlePaths = new WeakMap<object, string>();

/** Note where `openSync` / `open` / fs/promises `open` descriptors point; patch FileHandle#stat
 *  once the first handle shows its prototype. */
function rememberOpened(): void {
  const openSync = fs.openSync;
  const patchedSync = function (this: unknown, ...args: unknown[]) {
    const fd = (openSync as (...a: unknown[]) => number).apply(this, args);
    const abs = currentScope() ? pathOf(args[0]) : undefined;
    if (abs !== undefined) fdPaths.set(fd, abs);
    return fd;
  };
  copySymbols(openSync, patchedSync);
  fs.openSync = patchedSync as typeof fs.openSync;
  const open = fs.open;
  const patchedOpen = function (this: unknown, ...args: unknown[]) {
    const abs = currentScope() ? pathOf(args[0]) : undefined;
    const cb = args[args.length - 1];
    if (abs !== undefined && typeof cb === 'function')
      args[args.length - 1] = function (this: unknown, err: unknown, fd: number) {
        if (!err) fdPaths.set(fd, abs);
        return (cb as (...a: unknown[]) => unknown).call(this, err, fd);
      };
    return (open as (...a: unknown[]) => unknown).apply(this, args);
  };
  copySymbols(open, patchedOpen);
  fs.open = patchedOpen as typeof fs.open;
  const popen = fs.promises.open;
  let handleProto: object | undefined;
  const patchedPopen = async function (this: unknown, ...args: unknown[]) {
    const handle = await (popen as (...a: unknown[]) => Promise<object>).apply(this, args);
    const abs = currentScope() ? pathOf(args[0]) : undefined;
    if (abs !== undefined) handlePaths.set(handle, abs);
    if (!handleProto) {
      handleProto = Object.getPrototypeOf(handle) as object;
      withStat(handleProto, 'stat', (_args, self) => handlePaths.get(self as object), STAT);
    }
    return handle;
  };
  copySymbols(popen, patchedPopen);
  fs.promises.open = patchedPopen as typeof fs.promises.open;
}

/** fs.fstat(fd, cb): the path is noted (its facts are keyed as they are when the task ends). */
function wrapFstat(): void {
  const original = fs.fstat;
  const patched = function (this: unknown, ...args: unknown[]) {
    const abs = fdPaths.get(args[0] as number);
    const scope = abs === undefined || isHostFile(abs) ? undefined : scopeOf(patched);
    if (scope) {
      scope.reads.stats.add(abs!);
      share(scope, 'stats', abs!);
    }
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  copySymbols(original, patched);
  fs.fstat = patched as typeof fs.fstat;
}

/**
 * Patch `target[name]`, a stat returning its Stats (or a promise of them), to note the path
 * (`pathOf(args, this)`) as a stat read (`suffix` LSTAT: an lstat, the path's own facts) and the
 * facts handed (`statFacts`), or `stat:missing` when it found nothing (thrown ENOENT, or
 * undefined under `throwIfNoEntry: false`).
 */
function withStat(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  target: any,
  name: string,
  pathOfCall: (args: unknown[], self: unknown) => string | undefined,
  suffix: typeof STAT | typeof LSTAT,
): void {
  const original = target[name] as (...args: unknown[]) => unknown;
  if (typeof original !== 'function') return;
  type Facts = Parameters<typeof statFacts>[1];
  const patched = function (this: unknown, ...args: unknown[]) {
    const scope = scopeOf(patched);
    const abs = scope ? pathOfCall(args, this) : undefined;
    if (abs === undefined || isHostFile(abs)) return original.apply(this, args);
    const recorded = suffix === LSTAT ? abs + LSTAT : abs;
    scope!.reads.stats.add(recorded);
    share(scope!, 'stats', recorded);
    const seen = (st: unknown) => {
      noteSeen(scope!.reads, abs + suffix, st ? statFacts(abs, st as Facts) : 'stat:missing');
    };
    const missing = (error: unknown) => {
      if ((error as { code?: unknown })?.code === 'ENOENT') seen(undefined);
      throw error;
    };
    let out: unknown;
    try {
      out = original.apply(this, args);
    } catch (error) {
      missing(error);
    }
    if (out instanceof Promise)
      return out.then((v) => {
        seen(v);
        return v;
      }, missing);
    seen(out);
    return out;
  };
  copySymbols(original, patched);
  target[name] = patched;
}

/** Patch `target[name]` (a callback or promise call on a path) to note `path + suffix` as a stat
 *  read: its facts are keyed as they are when the task ends. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function wrapSuffixed(target: any, name: string, suffix: string): void {
  const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
  if (typeof original !== 'function') return;
  const patched = function (this: unknown, ...args: unknown[]) {
    const scope = scopeOf(patched);
    const abs = scope ? pathOf(args[0]) : undefined;
    if (abs !== undefined && !isHostFile(abs)) {
      scope!.reads.stats.add(abs + suffix);
      share(scope!, 'stats', abs + suffix);
    }
    return original.apply(this, args);
  };
  copySymbols(original, patched);
  target[name] = patched;
}

/**
 * readlink and realpath, sync, callback and fs/promises (and `realpath.native`): the path is
 * noted under `#link`; the sync and promise forms also note what they handed (`linkFacts` read
 * right after the call: the value the next key holds when nothing moved). Always with a look at
 * the caller (Node's own loader resolves module paths with realpath: code, not data).
 */
function wrapLinks(): void {
  const sync = (target: Record<string, unknown>, name: string) => {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') return;
    const patched = function (this: unknown, ...args: unknown[]) {
      const scope = scopeOf(patched);
      const abs = scope ? pathOf(args[0]) : undefined;
      if (abs === undefined || isHostFile(abs)) return original.apply(this, args);
      scope!.reads.stats.add(abs + LINK);
      share(scope!, 'stats', abs + LINK);
      const done = (v: unknown) => {
        noteSeen(
          scope!.reads,
          abs + LINK,
          untracked(() => linkFacts(abs)),
        );
        return v;
      };
      const fail = (error: unknown) => {
        done(undefined);
        throw error;
      };
      let out: unknown;
      try {
        out = original.apply(this, args);
      } catch (error) {
        fail(error);
      }
      return out instanceof Promise ? out.then(done, fail) : done(out);
    };
    copySymbols(original, patched);
    return patched;
  };
  const native = fs.realpathSync.native;
  const nativeCb = fs.realpath.native;
  for (const n of ['readlinkSync', 'realpathSync'])
    (fs as unknown as Record<string, unknown>)[n] = sync(
      fs as unknown as Record<string, unknown>,
      n,
    );
  for (const n of ['readlink', 'realpath'])
    (fs.promises as unknown as Record<string, unknown>)[n] = sync(
      fs.promises as unknown as Record<string, unknown>,
      n,
    );
  const holder = { native, nativeCb } as Record<string, unknown>;
  const patchedNative = sync(holder, 'native');
  wrapSuffixed(fs, 'readlink', LINK);
  wrapSuffixed(fs, 'realpath', LINK);
  wrapSuffixed(holder, 'nativeCb', LINK);
  Object.assign(fs.realpathSync, { native: patchedNative });
  Object.assign(fs.realpath, { native: holder.nativeCb });
}

/** copyFile and cp, sync, callback and fs/promises: see `wrapCopies`' caller. */
function wrapCopies(): void {
  const copy = (target: Record<string, unknown>, name: string) => {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') return;
    const patched = function (this: unknown, ...args: unknown[]) {
      const scope = scopeOf(patched);
      if (!scope) return original.apply(this, args);
      const src = pathOf(args[0]);
      if (src !== undefined) untracked(() => noteSource(scope, src));
      note(scope, 'written', args[1]);
      return outside(() => original.apply(this, args));
    };
    copySymbols(original, patched);
    target[name] = patched;
  };
  for (const n of ['copyFileSync', 'copyFile', 'cpSync', 'cp'])
    copy(fs as unknown as Record<string, unknown>, n);
  for (const n of ['copyFile', 'cp']) copy(fs.promises as unknown as Record<string, unknown>, n);
}

/**
 * A copy's source as read: a file by its content (hash noted when read whole here), a folder by
 * its listing and, below it, every file and folder (a copied folder's content is what the copy
 * hands on), a symlink by what it points to.
 */
function noteSource(scope: Scope, src: string): void {
  if (isHostFile(src)) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(src);
  } catch {
    scope.reads.files.add(src);
    return;
  }
  if (!st.isDirectory()) {
    scope.reads.files.add(src);
    share(scope, 'files', src);
    return;
  }
  scope.reads.dirs.add(src);
  share(scope, 'dirs', src);
  let entries: Dirent[];
  try {
    entries = fs.readdirSync(src, { withFileTypes: true });
  } catch {
    return;
  }
  noteSeen(scope.reads, `${src}/`, listingHash(entries.map(typedEntry)));
  for (const e of entries) noteSource(scope, join(src, e.name));
}

/** Is a listing call's options argument `{ recursive: true }`? */
function recursiveListing(options: unknown): boolean {
  return (options as { recursive?: unknown } | null)?.recursive === true;
}

/**
 * Every folder below `p`, for a recursive listing whose result the recorder does not see (an
 * `opendir` handle, a callback `readdir`): each is a listed folder of its own, as for a
 * recursive `readdirSync` (`noteListing`), so a file added deep down re-runs the task. Read as
 * the call is made, untracked (Cellar's look, not the task's read).
 */
function subfolders(p: unknown): unknown[] {
  const abs = pathOf(p);
  if (abs === undefined) return [];
  try {
    return untracked(() =>
      fs
        .readdirSync(abs, { recursive: true, withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => resolve(e.parentPath ?? abs, e.name)),
    );
  } catch {
    return [];
  }
}

function copySymbols(from: object, to: object): void {
  for (const sym of Object.getOwnPropertySymbols(from))
    Object.defineProperty(to, sym, Object.getOwnPropertyDescriptor(from, sym)!);
}

/** The hash of a whole file's content as read (run-reads.ts keys files by the same hash). */
function noteContent(abs: string, args: unknown[], out: unknown, scope: Scope): void {
  const opt = args[1];
  const encoding =
    typeof opt === 'string' ? opt : (opt as { encoding?: string } | undefined)?.encoding;
  let bytes: Uint8Array | undefined;
  if (out instanceof Uint8Array) bytes = out;
  else if (typeof out === 'string' && encoding)
    bytes = Buffer.from(out, encoding as BufferEncoding);
  if (bytes) noteSeen(scope.reads, abs, contentHash(bytes));
}

function noteListing(abs: string, options: unknown, out: unknown, scope: Scope): void {
  if (!Array.isArray(out)) return;
  const recursive = (options as { recursive?: unknown } | null)?.recursive === true;
  if (!recursive) {
    const typed = out.every(
      (e) => typeof (e as { isDirectory?: unknown })?.isDirectory === 'function',
    );
    if (typed) {
      noteSeen(scope.reads, `${abs}/`, listingHash(out.map((e) => typedEntry(e as Dirent))));
      return;
    }
    const names = out.map((e) => (typeof e === 'string' ? e : (e as { name?: unknown })?.name));
    if (names.every((n): n is string => typeof n === 'string'))
      noteSeen(scope.reads, `${abs}/`, typedListing(abs, names));
    return;
  }
  // A recursive listing (`{ recursive: true }`) read every folder under `abs`: each is a listed
  // folder of its own (a file added deep down re-runs the task), with its direct children's hash.
  // Names are paths relative to `abs` (Dirents carry their folder in parentPath instead).
  const children = new Map<string, string[]>([[abs, []]]);
  for (const e of out) {
    const full =
      typeof e === 'string'
        ? resolve(abs, e)
        : typeof (e as { name?: unknown })?.name === 'string'
          ? resolve(
              (e as { parentPath?: string; path?: string }).parentPath ??
                (e as { path?: string }).path ??
                abs,
              (e as { name: string }).name,
            )
          : undefined;
    if (full === undefined) return;
    // An empty folder has no entry of its own below: a file added into it later must show.
    const isDir =
      typeof e === 'string'
        ? untracked(() => fs.statSync(full, { throwIfNoEntry: false })?.isDirectory() === true)
        : (e as { isDirectory?: () => boolean }).isDirectory?.() === true;
    if (isDir && !children.has(full)) children.set(full, []);
    const parent = dirname(full);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(basename(full));
  }
  for (const [dir, names] of children) {
    scope.reads.dirs.add(dir);
    noteSeen(scope.reads, `${dir}/`, typedListing(dir, names));
  }
}

/**
 * The key value (`listingHash` of typed entries) of a listing handed as bare names: the folder is
 * listed again with types right away; when its names are not the ones handed (it moved between
 * the two), the hash of the bare names, which no key holds (the result is then not stored).
 */
function typedListing(dir: string, names: readonly string[]): string {
  let now: Dirent[];
  try {
    now = untracked(() => fs.readdirSync(dir, { withFileTypes: true }));
  } catch {
    return listingHash(names);
  }
  const handed = new Set(names);
  if (now.length !== handed.size || !now.every((d) => handed.has(d.name)))
    return listingHash(names);
  return listingHash(now.map(typedEntry));
}

function installEnvProxy(): void {
  const real = process.env;
  const record = (scope: Scope, name: string) => {
    // Node copying the environment for a child process: not a read by the task's code.
    if (scope.spawning) return;
    const listing = scope.listing;
    if (listing && listing[scope.listingAt] === name) {
      // The next name of a walk over a listing (spread, Object.entries, a copy): not a read by name.
      scope.listingAt++;
      if (scope.listingAt === listing.length) scope.listing = undefined;
      return;
    }
    scope.listing = undefined;
    scope.reads.env.add(name);
    share(scope, 'env', name);
    // Set by another task running now: what this one sees is that task's value, not the run's.
    if (envWrittenNow.has(name) && !scope.envWrites?.has(name))
      scope.unrecorded ??= `read process.env.${name} while another task had set it`;
  };
  const traps: ProxyHandler<NodeJS.ProcessEnv> = {
    get(target, prop) {
      const scope = typeof prop === 'string' ? scopeOf(traps.get!) : undefined;
      if (scope) record(scope, prop as string);
      return Reflect.get(target, prop);
    },
    // Writes go to the real object itself (its interceptor turns values into strings and reaches
    // the process's environment); through the Proxy as receiver they would be refused. A task's
    // write is its own: noted to be undone as it ends (`undoEnvWrites`).
    set(target, prop, value) {
      noteEnvWrite(target, prop);
      return Reflect.set(target, prop, value);
    },
    deleteProperty(target, prop) {
      noteEnvWrite(target, prop);
      return Reflect.deleteProperty(target, prop);
    },
    defineProperty(target, prop, descriptor) {
      noteEnvWrite(target, prop);
      return Reflect.defineProperty(target, prop, descriptor);
    },
    has(target, prop) {
      const scope = typeof prop === 'string' ? scopeOf(traps.has!) : undefined;
      if (scope) record(scope, prop as string);
      return Reflect.has(target, prop);
    },
    // `Object.hasOwn(process.env, 'X')`, `hasOwnProperty.call(process.env, 'X')`,
    // `getOwnPropertyDescriptor`: a presence check by name, keyed as `'X' in process.env` is. A
    // walk over a listing (a spread, Object.entries) asks for each listed name's descriptor too:
    // while a listing is being walked, a listed name's descriptor is part of the walk.
    getOwnPropertyDescriptor(target, prop) {
      const scope = typeof prop === 'string' ? scopeOf(traps.getOwnPropertyDescriptor!) : undefined;
      if (scope && !(scope.listing && scope.listing.includes(prop as string)))
        record(scope, prop as string);
      return Reflect.getOwnPropertyDescriptor(target, prop);
    },
    // A listing (Object.keys/entries, a spread, for…in, JSON.stringify): the task is keyed on the
    // whole environment (`@listing`, key/hash.ts: every name and value, hashed), since what it
    // computes may rest on which variables exist and what they hold. The walk's gets that follow
    // are not reads by name (the listing keys them already): see `record`.
    ownKeys(target) {
      const keys = Reflect.ownKeys(target);
      const scope = scopeOf(traps.ownKeys!);
      if (scope && !scope.spawning) {
        scope.listing = keys.filter((k): k is string => typeof k === 'string');
        scope.listingAt = 0;
        scope.envListed = true;
        noteEnv(scope, ENV_LISTING);
      }
      return keys;
    },
  };
  envProxy = new Proxy(real, traps);
  realEnv = real;
  process.env = envProxy;
}

/**
 * V8 refuses to clone a Proxy ("[object Object] could not be cloned"), where plain Node clones
 * process.env as an object of its variables: `structuredClone(process.env)`, `v8.serialize`, a
 * `postMessage` of it. Each is called as is first (no cost for what clones already); when it
 * refuses and the value holds the env Proxy, it is called again with the Proxy replaced by a copy
 * `{ ...process.env }`, which a task records as a listing of the environment, as it is.
 */
function installEnvCloning(): void {
  const retried =
    <A extends unknown[], R>(call: (value: unknown, ...rest: A) => R) =>
    (value: unknown, ...rest: A): R => {
      try {
        return call(value, ...rest);
      } catch (error) {
        const copied = refusedClone(error) ? withEnvCopied(value, new Map()) : value;
        if (copied === value) throw error;
        return call(copied, ...rest);
      }
    };
  const clone = globalThis.structuredClone;
  globalThis.structuredClone = retried((value, options?: Parameters<typeof clone>[1]) =>
    clone(value, options),
  ) as typeof structuredClone;
  const serialize = v8.serialize;
  v8.serialize = retried((value) => serialize(value));
  const port = workerThreads.MessagePort.prototype;
  const post = port.postMessage;
  port.postMessage = function (
    this: workerThreads.MessagePort,
    value: unknown,
    ...rest: unknown[]
  ) {
    return retried((v, ...r: unknown[]) => Reflect.apply(post, this, [v, ...r]))(value, ...rest);
  } as typeof post;
  syncBuiltinESMExports();
}

/** A clone refused as uncloneable: DataCloneError (structuredClone, postMessage) or v8.serialize's Error. */
function refusedClone(error: unknown): boolean {
  return error instanceof Error && / could not be cloned/.test(error.message);
}

/**
 * `value` with the env Proxy replaced by a copy of the environment wherever it is held in arrays,
 * plain objects, Maps and Sets (what a clone walks); `value` itself when it holds none.
 */
function withEnvCopied(value: unknown, seen: Map<object, unknown>): unknown {
  if (envProxy !== undefined && value === envProxy) return { ...envProxy };
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return seen.get(value);
  seen.set(value, value);
  let out: unknown = value;
  if (Array.isArray(value)) {
    const items = value.map((item) => withEnvCopied(item, seen));
    if (items.some((item, i) => item !== value[i])) out = items;
  } else if (value instanceof Map) {
    const before = [...value].flat();
    const entries = [...value].map(([k, v]) => [withEnvCopied(k, seen), withEnvCopied(v, seen)]);
    if (entries.flat().some((item, i) => item !== before[i]))
      out = new Map(entries as [unknown, unknown][]);
  } else if (value instanceof Set) {
    const before = [...value];
    const items = before.map((item) => withEnvCopied(item, seen));
    if (items.some((item, i) => item !== before[i])) out = new Set(items);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const entries = Object.entries(value).map(([k, v]) => [k, withEnvCopied(v, seen)] as const);
    if (entries.some(([k, v]) => v !== (value as Record<string, unknown>)[k]))
      out = Object.fromEntries(entries);
  }
  seen.set(value, out);
  return out;
}

/** The Proxy `installEnvProxy` put in place of process.env, and the object it forwards to. */
let envProxy: NodeJS.ProcessEnv | undefined;
let realEnv: NodeJS.ProcessEnv | undefined;

/**
 * Variable → how many running tasks on this thread have it set to their own value now. Another
 * task reading it meanwhile (tasks run concurrently on a thread) may see that value, which its
 * key does not hold: its result is not cached (`record`).
 */
const envWrittenNow = new Map<string, number>();

/**
 * A write (set, delete, defineProperty) to process.env by a task's code: the value before it is
 * kept, once per variable, to be put back as the task ends. A task's results are keyed on the
 * environment as the run started it, so a write seen by a later task would hand that task a value
 * no key of it holds: a stale cache hit (or a miss) in another run. A pipeline module's load
 * (setup cells) is not a task: its writes stay, as the shell's would.
 */
function noteEnvWrite(target: NodeJS.ProcessEnv, prop: string | symbol): void {
  if (typeof prop !== 'string') return;
  const scope = currentScope();
  if (!scope || scope.loading || scope.spawning) return;
  const writes = (scope.envWrites ??= new Map());
  if (writes.has(prop)) return;
  writes.set(prop, Object.hasOwn(target, prop) ? target[prop] : undefined);
  envWrittenNow.set(prop, (envWrittenNow.get(prop) ?? 0) + 1);
}

/**
 * Put back each variable the task's code set or deleted as it was before (deleted when it was
 * unset). Through the real object, so Node's interceptor does what a write does: a TZ put back
 * resets V8's time zone cache, as setting it did.
 */
function undoEnvWrites(scope: Scope): void {
  const writes = scope.envWrites;
  if (!writes || !realEnv) return;
  for (const [name, before] of writes) {
    if (before === undefined) delete realEnv[name];
    else realEnv[name] = before;
    const left = (envWrittenNow.get(name) ?? 1) - 1;
    if (left > 0) envWrittenNow.set(name, left);
    else envWrittenNow.delete(name);
  }
}

/** Content hash of each file `require` loaded on this thread, as it was when loaded (its cache). */
const requiredContent = new Map<string, string>();

/**
 * Record what `require` loads for code outside packages: `createRequire(import.meta.url)
 * ('./limits.json')` in a local module or a setup cell, and a local .cjs's own `require`s. Node's
 * CommonJS loader reads those files, and its reads are left out of a module's load as code
 * (`observeLoadReads`), but esbuild cannot see through `createRequire`, so the file is in no code
 * hash: recorded here, in the load's or the task's scope, it is keyed by content (a package's
 * file by the package's version, run-reads.ts). Every call is recorded, also one `require`
 * answers from its cache: a second task requiring the same JSON on the same thread read it too.
 * The hash noted as seen is the content as loaded (a cached module keeps its first content).
 */
function installRequireRecorder(): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ModuleClass = Module as any;
  const original = ModuleClass.prototype.require as (this: unknown, id: string) => unknown;
  ModuleClass.prototype.require = function (this: { filename?: unknown }, id: string) {
    const scope = currentScope();
    const parent = this?.filename;
    if (
      scope &&
      typeof id === 'string' &&
      typeof parent === 'string' &&
      !isBuiltin(id) &&
      !parent.includes(`${sep}node_modules${sep}`) &&
      !CELLAR_CODE_DIRS.some((dir) => parent.startsWith(dir))
    ) {
      let file: unknown;
      try {
        file = ModuleClass._resolveFilename(id, this);
      } catch {
        // Not found: the require below throws the error itself.
      }
      if (typeof file === 'string' && isAbsolute(file)) {
        scope.reads.files.add(file);
        let hash = requiredContent.get(file);
        if (hash === undefined && !ModuleClass._cache[file]) {
          try {
            hash = contentHash(outside(() => fs.readFileSync(file as string)));
            requiredContent.set(file, hash);
          } catch {
            // unreadable: the require below reports it
          }
        }
        if (hash !== undefined && !file.includes(`${sep}node_modules${sep}`))
          noteSeen(scope.reads, file, hash);
      }
    }
    return original.call(this, id);
  };
}

/** Note a call whose effects are not seen (a child process, a network request) in the scope, and
 *  in the task's log when the scope is a worker thread's. */
function noteCall(scope: Scope, kind: 'children' | 'requests', call: string): void {
  scope[kind].push(call);
  scope.log?.([kind, call]);
}

/**
 * Note each network request a scope's code makes (`fetch("https://…")`, `http.get`,
 * `https.request`): what the server sends is not in the key (a URL is code, not content), so the
 * task is warned, naming the call and where it is made. Only the run that executes the task pays
 * for it (one stack look per request).
 */
function installNetworkRecorder(): void {
  const patch = (
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    target: any,
    name: string,
    shown: string,
  ) => {
    const original = target[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') return;
    const patched = function (this: unknown, ...args: unknown[]) {
      const scope = currentScope();
      if (scope && !scope.spawning && !scope.requests.includes(REQUEST_CAP)) {
        const site = callSite(patched);
        const call = `${shown}(${describeRequest(args[0])})${site ? ` at ${site}` : ''}`;
        if (!scope.requests.includes(call))
          noteCall(scope, 'requests', scope.requests.length >= 20 ? REQUEST_CAP : call);
      }
      return original.apply(this, args);
    };
    copySymbols(original, patched);
    target[name] = patched;
  };
  patch(globalThis, 'fetch', 'fetch');
  for (const [mod, label] of [
    [http, 'http'],
    [https, 'https'],
  ] as const)
    for (const name of ['request', 'get']) patch(mod, name, `${label}.${name}`);
  syncBuiltinESMExports();
}

/** Noted once a scope has noted 20 requests: later ones are not listed. */
const REQUEST_CAP = '…';

/** A request's target as written: `"https://example.com/a"`, or the host and path of options. */
function describeRequest(target: unknown): string {
  let text: string | undefined;
  if (typeof target === 'string') text = target;
  else if (target instanceof URL) text = target.href;
  else if (target !== null && typeof target === 'object') {
    const t = target as { url?: unknown; hostname?: unknown; host?: unknown; path?: unknown };
    if (typeof t.url === 'string') text = t.url;
    else if (typeof (t.hostname ?? t.host) === 'string')
      text = `${String(t.hostname ?? t.host)}${typeof t.path === 'string' ? t.path : ''}`;
  }
  if (text === undefined) return '…';
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 79)}…` : text);
}

/**
 * Where the code calling `entry` is: `lib/get.ts:3` (relative to the working folder), from the
 * first stack frame that is not Node's, a package's or Cellar's; undefined when that frame is a
 * compiled notebook's generated code (the warning names the task's cell) or no frame names a file.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function callSite(entry: (...args: any[]) => unknown): string | undefined {
  for (const line of callerFrames(entry, 20) ?? []) {
    const m = FRAME_FILE.exec(line);
    if (!m) continue;
    let file = m[1]!;
    if (file.startsWith('node:') || /[\\/]node_modules[\\/]/.test(file)) continue;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    if (!isAbsolute(file)) continue;
    if (CELLAR_CODE_DIRS.some((dir) => file.startsWith(dir))) continue;
    if (/[\\/]\.cellar[\\/]/.test(file)) return undefined;
    const rel = relative(ownCwd(), file);
    return `${rel.startsWith('..') ? file : rel}:${m[2]}`;
  }
  return undefined;
}

// Worker threads a task starts (`new Worker(new URL('./work.mjs', import.meta.url))`): their
// reads are the task's. The worker is started with the recorder preloaded (`--import` of
// dist/worker-reads.js, runtime/run/worker-reads.ts), which records the whole thread as one scope
// (`threadScope`) and writes each record, as the read is made, into a log shared with the task's
// thread (a SharedArrayBuffer handed over as environment data): by the time the worker posts a
// value it computed, what it read for it is in the log. The task's scope merges the log as its
// code returns. A worker the task starts from a worker writes into the same log.

/**
 * Add what the scope's worker threads logged so far to its reads and calls. Returns why the
 * result must not be cached when the log overflowed (some reads are not in it).
 */
function mergeWorkerLog(scope: Scope): string | undefined {
  const buf = scope.workerLog;
  if (!buf || scope === threadScope) return undefined;
  const { records, overflowed } = readLog(buf);
  const reads = scope.reads;
  for (const r of records) {
    if (r[0] === 'add' || r[0] === 'del') {
      const set = r[1] === 'appended' ? (reads.appended ??= new Set()) : reads[r[1]];
      if (r[0] === 'del') set.delete(r[2]);
      else {
        set.add(r[2]);
        if (r[1] === 'env' && r[2] === ENV_LISTING) scope.envListed = true;
      }
    } else if (r[0] === 'seen') noteSeen(reads, r[1], r[2]);
    else if (r[0] === 'cwd') reads.cwd = true;
    else if (!scope[r[0]].includes(r[1])) scope[r[0]].push(r[1]);
  }
  return overflowed
    ? `has worker threads whose reads Cellar could not all record (past ${LOG_BYTES / 1024 / 1024} MiB of records, or a worker stopped while recording)`
    : undefined;
}

/**
 * In a worker thread a task started (dist/worker-reads.js, preloaded with `--import`): record
 * everything the thread reads into the task's log. Does nothing in a thread started without one
 * (Cellar's own workers).
 */
export function recordWorkerThread(): void {
  const buf = workerThreads.getEnvironmentData(LOG_KEY);
  if (!(buf instanceof SharedArrayBuffer)) return;
  const log = (record: LogRecord) => writeLog(buf, record);
  install();
  threadScope = { ...newScope(false, loggedReads(log), undefined), workerLog: buf, log };
}

/** The module a worker preloads to record its reads (dist/worker-reads.js), when it exists: not
 *  from source (tests under tsx), nor in a built folder bundling the runtime. */
let bootstrap: string | null | undefined;
function workerBootstrap(): string | null {
  if (bootstrap === undefined) {
    const url = new URL('./worker-reads.js', import.meta.url);
    bootstrap = url.protocol === 'file:' && outside(() => fs.existsSync(url)) ? url.href : null;
  }
  return bootstrap;
}

/** Start each worker thread a scope's code starts with the recorder preloaded (see above). */
function installWorkerRecorder(): void {
  const Original = workerThreads.Worker;
  class Worker extends Original {
    constructor(filename: string | URL, options?: workerThreads.WorkerOptions) {
      const scope = currentScope();
      const preload = scope ? workerBootstrap() : null;
      if (!scope) {
        super(filename, options);
        return;
      }
      if (preload === null) {
        // Its reads would be missed: the result is not cached rather than cached wrongly.
        scope.unrecorded ??= 'starts a worker thread whose reads Cellar cannot record here';
        super(filename, options);
        return;
      }
      if (options?.eval) {
        // Code given as text runs before an `--import` preload (Node 20), so the recorder would
        // start after the reads it is there for: not cached rather than cached wrongly.
        scope.unrecorded ??=
          'starts a worker thread from code text (`eval: true`), whose reads Cellar cannot record; give the worker a script file to have it cached';
        super(filename, options);
        return;
      }
      const log = (scope.workerLog ??= new SharedArrayBuffer(LOG_BYTES));
      const before = workerThreads.getEnvironmentData(LOG_KEY);
      workerThreads.setEnvironmentData(LOG_KEY, log);
      try {
        super(filename, {
          ...options,
          execArgv: [...(options?.execArgv ?? process.execArgv), '--import', preload],
        });
      } finally {
        workerThreads.setEnvironmentData(
          LOG_KEY,
          before as Parameters<typeof workerThreads.setEnvironmentData>[1],
        );
      }
    }
  }
  (workerThreads as { Worker: unknown }).Worker = Worker;
  syncBuiltinESMExports();
}
