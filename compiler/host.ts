// The compiler's one door to the disk: find notebooks, load and save the incremental cache,
// compile, write generated files atomically, and compare them for `--check`.
//
// The stages (program.ts and below) are pure; this module owns every effect (TypeScript's
// CompilerHost, Rollup's write()). The cache lives in <project>/.cellar/compile/, one JSON file
// per notebook, keyed by the notebook's bytes and a fingerprint of the compiler itself: when both
// match and the generated files on disk are the ones recorded, nothing is parsed at all. When
// only some cells changed, the cached per-cell analyses and formatted modules are reused, so the
// cost is one cell's analysis plus the modules whose text changed.
import { hash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { isAscii } from 'node:buffer';
import { createRequire, isBuiltin } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { loadAnalyzer, setTsMorphLoader, type CellInput } from './analyze/cell.js';
import { packageName } from './analyze/deno.js';
import { diagnostic, hasErrors } from './diagnostics.js';
import { HEADER } from './emit/module.js';
import { fixtureTasksAt } from './fixture-names.js';
import { formatBatch } from './emit/print.js';
import {
  COMPILER_VERSION,
  compileNotebook,
  doDeepWork,
  exhaustedStack,
  newMemory,
  type CompileMemory,
  type BuiltinExports,
  type CompileStats,
  type DeepWork,
} from './program.js';
import type { ReadModule } from './analyze/module-clock.js';
import type { SqlFacts } from './analyze/sql.js';
import type { CellAnalysis, Diagnostic, EmittedFile, TaskPlan } from './types.js';

// `require`, not `import()`: see setTsMorphLoader.
const require = createRequire(import.meta.url);
// The TypeScript ts-morph carries (its version, not the project's `typescript` package, so
// analyses stay as they were), required alone: the analyser uses nothing else of ts-morph, and
// skipping its wrapper saves about a third of the load (a one-cell recompile's largest cost).
let typeScriptPath: string | undefined;
setTsMorphLoader(async () => {
  typeScriptPath = createRequire(require.resolve('ts-morph')).resolve(
    '@ts-morph/common/dist/typescript.js',
  );
  return { ts: requireWithCodeCache(typeScriptPath) } as typeof import('ts-morph');
});
/** `warmCodeCache` of TypeScript, once this thread has analysed (a no-op where it did not load). */
const warmTypeScript = () => {
  if (typeScriptPath !== undefined) warmCodeCache(typeScriptPath);
};

/**
 * `require(path)` of a CommonJS file through V8's code cache: most of loading TypeScript's 9 MB is
 * compiling it, and Node 20 has no `module.enableCompileCache`. The cache sits where tools keep
 * theirs, in `node_modules/.cache/cellar/` of the node_modules folder holding the file (the
 * user's own, unlike a shared temp folder: the data is code V8 runs), named by the file's path,
 * size and mtime and the Node version. V8 checks the data against the source and its own version
 * and flags and rejects what does not match (the file is then compiled as usual and the cache
 * written anew), so stale data costs time, never correctness. A file outside node_modules, or a
 * cache that cannot be written, is loaded without one. A cache made after the file's code ran
 * (`warmCodeCache`, `<name>.warm.bin`) is preferred: it also holds the functions compiled on
 * first call (TypeScript's parser, binder and checker: an analysis ran ~3× faster with it).
 */
export function requireWithCodeCache(path: string): unknown {
  const parts = path.split(sep);
  const nodeModules = parts.lastIndexOf('node_modules');
  if (nodeModules < 0) return createRequire(path)(path);
  const { size, mtimeMs } = statSync(path);
  const id = sha256(`${path}\0${size}\0${mtimeMs}\0${process.version}\0${process.arch}`);
  const cacheFile = join(
    parts.slice(0, nodeModules + 1).join(sep),
    '.cache',
    'cellar',
    `v8-${id.slice(0, 24)}.bin`,
  );
  const warmFile = cacheFile.replace(/\.bin$/, '.warm.bin');
  let cachedData: Buffer | undefined;
  let warm = true;
  try {
    cachedData = readFileSync(warmFile);
  } catch {
    warm = false;
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // none yet
    }
  }
  // Node's own CommonJS wrapper (Module.wrap), which ESM cannot import by name.
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${readText(path)}\n});`;
  const script = new Script(wrapped, {
    filename: path,
    cachedData,
  });
  const module = { exports: {} as unknown, filename: path, id: path, loaded: false };
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    module.exports,
    module.exports,
    createRequire(path),
    module,
    path,
    dirname(path),
  );
  module.loaded = true;
  if (warm && script.cachedDataRejected) {
    // Damaged or stale: gone, so the next load does not try it again; this thread may rewrite it.
    rmSync(warmFile, { force: true });
    warm = false;
  }
  loadedScripts.set(path, { script, warmFile: warm ? undefined : warmFile });
  if (cachedData === undefined || script.cachedDataRejected) writeCodeCache(script, cacheFile);
  return module.exports;
}

/** Scripts `requireWithCodeCache` loaded in this thread, and the warm cache each may still write. */
const loadedScripts = new Map<string, { script: Script; warmFile: string | undefined }>();

/**
 * After `path`'s code has done its work once in this thread (TypeScript analysed a cell), write
 * its warm code cache when the load did not come from one: once per install and file, not per
 * compile. Never throws; does nothing for a file `requireWithCodeCache` did not load here.
 */
export function warmCodeCache(path: string): void {
  const loaded = loadedScripts.get(path);
  if (!loaded?.warmFile) return;
  writeCodeCache(loaded.script, loaded.warmFile);
  loaded.warmFile = undefined;
}

function writeCodeCache(script: Script, cacheFile: string): void {
  try {
    // A name per thread too: the large-stack thread may load TypeScript at the same time.
    const tmp = `${cacheFile}.${process.pid}.${threadId}.tmp`;
    mkdirSync(dirname(cacheFile), { recursive: true });
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  } catch {
    // a read-only install: the next load compiles again
  }
}

/**
 * A file's text, as `readFileSync(path, 'utf8')` gives it but faster: Node 20 reads a 9 MB ASCII
 * file (TypeScript itself; a 5,000-task cache record) as UTF-8 in ~80 ms, its bytes in ~15 ms,
 * and ASCII bytes are the same characters read as Latin-1, which needs no decoding.
 */
export function readText(path: string): string {
  const bytes = readFileSync(path);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

// The runtime's one sha256 is runtime/key/hash.ts; the compiler keeps this copy because it may not
// import the runtime (test/layering.test.ts).
// Node's one-shot `hash` (no Hash object per call): a one-cell compile of 5,000 cells hashes
// about 15,000 texts.
export const sha256 = (text: string): string => hash('sha256', text, 'hex');
const posix = (p: string) => p.split(sep).join('/');

/**
 * The project folder, where generated/ goes: $CELLAR_PROJECT_ROOT when set, else the nearest folder
 * at or above `from` holding cellar.config.json, else the nearest holding package.json, else
 * `from`. The runtime's rule (runtime/project.ts), copied because the compiler may not import the
 * runtime; test/cli/project-root.test.ts keeps the two in step.
 */
export function projectRoot(from: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.CELLAR_PROJECT_ROOT) return resolve(env.CELLAR_PROJECT_ROOT);
  let fallback: string | undefined;
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'cellar.config.json'))) return dir;
    if (fallback === undefined && existsSync(join(dir, 'package.json'))) fallback = dir;
    if (dirname(dir) === dir) return fallback ?? resolve(from);
  }
}

/** A path given to `findNotebooks` that does not exist (commands report it as E_NOT_FOUND). */
export class NotFoundError extends Error {
  constructor(readonly path: string) {
    super(`no such file or folder: ${path}`);
  }
}

/**
 * Notebook files under the given files/folders (folders: recursively, skipping checkpoints).
 * @throws NotFoundError for a path that does not exist.
 */
export function findNotebooks(paths: string[]): string[] {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.ipynb')) found.add(p);
    }
  };
  for (const p of paths) {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new NotFoundError(p);
    if (statSync(abs).isDirectory()) walk(abs);
    else found.add(abs);
  }
  return [...found].sort();
}

let fingerprint: string | undefined;
/**
 * COMPILER_VERSION plus a hash of the code that is running, so a changed compiler misses, and the
 * running Node's version: a compile's verdict depends on it (E_MISSING_BUILTIN_EXPORT checks the
 * names its built-in modules export), so another Node compiles afresh.
 */
export function compilerFingerprint(): string {
  if (!fingerprint) {
    let code = '';
    try {
      code = readText(fileURLToPath(import.meta.url));
    } catch {
      // Bundled somewhere unreadable: the version alone.
    }
    fingerprint = `${COMPILER_VERSION}:${sha256(code).slice(0, 16)}:node${process.versions.node}`;
  }
  return fingerprint;
}

interface CacheFile {
  fingerprint: string;
  notebookHash: string;
  /** The tasks with fixtures this compile saw (a compile input besides the notebook). */
  fixtures?: string[];
  outDir: string;
  diagnostics: Diagnostic[];
  files: { path: string; hash: string }[];
  /**
   * sha256 of the plan's JSON, which is kept beside the record (`planPath`): only a full hit
   * reads it, so an incremental compile neither reads nor parses it (3.2 of 7.8 MB of a
   * 5,000-task record), and writes it only when it changed. A full hit whose plan file does not
   * hash to this is no hit.
   */
  planHash?: string;
  analyses: [string, CellAnalysis][];
  /**
   * [a module's path in `files`, the memory key of its unformatted text]: the formatted text is the
   * file itself, read back (and checked against its hash in `files`) when the next compile emits
   * the same text. Keeping the texts here doubled the record (5.4 of 12 MB for 5,000 tasks).
   */
  modules: [string, string][];
  sql: [string, SqlFacts][];
  /** `CompileMemory.emitted` entries this compile used: [emit inputs key, unformatted-text key]. */
  emitted?: [string, string][];
  /**
   * [project-relative path, sha256] of each local module the compile read (`moduleTextReader`,
   * for E_MODULE_STATE and W_TASK_READS_CLOCK): compile inputs besides the
   * notebook, so a full hit needs each to be as read.
   */
  localModules?: [string, string][];
}

export interface NotebookOutcome {
  /** Project-relative path of the notebook. */
  notebook: string;
  stem: string;
  diagnostics: Diagnostic[];
  files: EmittedFile[];
  plan?: TaskPlan;
  /** The generated pipeline.ts (absolute), when there is one. */
  pipeline?: string;
  /** True when the cache answered and nothing was compiled. */
  cached: boolean;
  /**
   * Paths of `files` found in `outDir` (absolute) holding exactly their contents during this
   * compile (read back through the cache's `modules`): `writeOutcome` into the same folder need
   * not read them again.
   */
  onDisk?: { outDir: string; paths: ReadonlySet<string> };
  /** sha256 (hex) of the notebook text compiled: what a record of this compile names it by. */
  notebookHash: string;
  /** The tasks with fixtures this compile saw (`fixtureTasks`), a compile input. */
  fixtures: string[];
  /**
   * The project's local modules the notebook's imports reached (project-relative posix path,
   * sha256 hex of the text read), sorted: compile inputs too (a module's own state is refused,
   * E_MODULE_STATE), so a record of this compile holds while each still reads the same.
   */
  localModules?: [string, string][];
  stats?: CompileStats;
}

export interface HostOptions {
  root: string;
  /** Absolute output folder (generated/). */
  outDir: string;
  /** Warm memory (watch mode); when absent the on-disk cache is used. */
  memory?: CompileMemory;
  /** Don't read or write .cellar/compile (tests). */
  noCache?: boolean;
}

const cachePath = (root: string, notebook: string) =>
  join(root, '.cellar', 'compile', `${notebook.replace(/[^\w.-]+/g, '_')}.json`);

/** The plan of the compile a cache record (`cachePath`) records: `<record>.plan.json`. */
const planPath = (cacheFile: string) => cacheFile.replace(/\.json$/, '.plan.json');

function readCache(path: string): CacheFile | undefined {
  try {
    const c = JSON.parse(readText(path)) as CacheFile;
    return c.fingerprint === compilerFingerprint() ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Write a file by temp + rename, so a reader never sees half of it. Throws what the write or the
 * rename threw; the temp file is removed first, so a failure leaves nothing beside `path`.
 */
export function writeAtomic(path: string, contents: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempFile(path);
  try {
    writeFileSync(tmp, contents);
    renameSync(tmp, path);
  } catch (error) {
    removeTemp(tmp);
    throw error;
  }
}

/** The temp file an atomic write of `path` goes through first: `<path>.<pid>.tmp`. */
const tempFile = (path: string) => `${path}.${process.pid}.tmp`;
/** A file name of that form (`pipeline.ts.8190.tmp`): the pid that wrote it, else undefined. */
const TEMP_FILE = /^.+\.(\d+)\.tmp$/;

function removeTemp(tmp: string): void {
  try {
    rmSync(tmp, { force: true });
  } catch {
    // A temp file whose name the file system refused was never made.
  }
}

/**
 * Temp files (`<file>.<pid>.tmp`) in <out>/<stem>/ that no compile is still writing: left by a
 * compile that crashed between writing and renaming (before they were cleaned up on every failure)
 * or was killed there. A compile removes them and `--check` reports them, as stale generated
 * files. Another process's temp file is someone's write under way unless that process has ended,
 * or the file is over 10 minutes old (its pid since reused).
 */
function strayTempFiles(outDir: string, stem: string): string[] {
  const dir = join(outDir, stem);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => {
      const pid = TEMP_FILE.exec(f)?.[1];
      if (pid === undefined) return false;
      if (Number(pid) === process.pid || !processRunning(Number(pid))) return true;
      const age = Date.now() - (statSync(join(dir, f), { throwIfNoEntry: false })?.mtimeMs ?? 0);
      return age > 10 * 60_000;
    })
    .map((f) => `${stem}/${f}`)
    .sort();
}

function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The file's text when it hashes (sha256) to `hash`, else undefined (also when unreadable). */
function readIfHashed(path: string, hash: string | undefined): string | undefined {
  const contents = readOrUndefined(path);
  return contents !== undefined && sha256(contents) === hash ? contents : undefined;
}

const readTextOrUndefined = (path: string) => {
  try {
    return readText(path);
  } catch {
    return undefined;
  }
};

// Node's UTF-8 read (one native call), not readText: generated modules are small.
const readOrUndefined = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Tasks with a recorded fixture in <out>/<stem>/__fixtures__/ (`<task>.fixture.json`, written by
 * `cellar fixtures`), sorted: each gets a generated replay test, so the list is a compile input.
 */
export function fixtureTasks(stemDir: string): string[] {
  return fixtureTasksAt(stemDir, readdirSync);
}

/** Compile one notebook, using (and refreshing) the cache. Writes nothing to generated/. */
export async function compileFile(
  notebookAbs: string,
  opts: HostOptions,
): Promise<NotebookOutcome> {
  const notebook = posix(relative(opts.root, notebookAbs));
  const text = readText(notebookAbs);
  // The biggest modules (print.ts ALONE_CHARS: a 5,000-task pipeline.ts, a 5,000-term sum), and
  // a share of a big notebook's modules, are formatted on a large-stack thread while this one
  // formats the rest: no stack to run out of, and the second core works too. A big notebook
  // starts that thread first thing, and it analyses cells too: with no cache to start from, it
  // loads Prettier and TypeScript while this thread loads TypeScript, and analyses half the
  // cells; with a cache (a few cells changed), it loads TypeScript and analyses them while this
  // thread reads the cache and the recorded modules back, so a one-cell change has no thread
  // waiting for TypeScript to load. A full hit ends it unused.
  const big = !opts.memory && text.length >= hostLimits.helperChars;
  const slot: ThreadSlot = {};
  if (big)
    slot.thread = helperThread(
      opts.noCache === true || !existsSync(cachePath(opts.root, notebook))
        ? { analyze: true, format: true }
        : { analyze: true, formatAfterReadBack: true },
    );
  try {
    return await compileText(notebookAbs, notebook, text, opts, slot, big);
  } finally {
    await endThread(slot);
  }
}

/** The helper thread of one compile, when it runs (started on demand for a small notebook). */
interface ThreadSlot {
  thread?: HelperThread;
}

async function endThread(slot: ThreadSlot): Promise<void> {
  const ending = slot.thread;
  slot.thread = undefined;
  await ending?.close();
}

/** `compileFile` once the notebook is read; `big`: the helper thread analyses, and started already. */
async function compileText(
  notebookAbs: string,
  notebook: string,
  text: string,
  opts: HostOptions,
  slot: ThreadSlot,
  big: boolean,
): Promise<NotebookOutcome> {
  const stem = notebookAbs
    .split(sep)
    .pop()!
    .replace(/\.ipynb$/i, '');
  const outDirRel = posix(relative(opts.root, opts.outDir));
  const notebookHash = sha256(text);
  const cacheFile = cachePath(opts.root, notebook);
  const cache = opts.noCache || opts.memory ? undefined : readCache(cacheFile);
  const pipelineAbs = join(opts.outDir, stem, 'pipeline.ts');
  const fixtures = fixtureTasks(join(opts.outDir, stem));

  if (
    cache &&
    // An import the project lacked may be installed now, and a compile that failed inside (a
    // helper thread that died, a bug) may not fail again: check again rather than repeat it.
    !cache.diagnostics.some((d) => d.code === 'E_UNRESOLVED_IMPORT' || d.code === 'E_INTERNAL') &&
    cache.notebookHash === notebookHash &&
    cache.outDir === outDirRel &&
    (cache.localModules ?? []).every(([path, hash]) => localModuleHash(opts.root, path) === hash) &&
    (cache.fixtures ?? []).join('\0') === fixtures.join('\0')
  ) {
    // A full hit: nothing to do if generated/ still holds exactly what was recorded.
    const files: EmittedFile[] = [];
    const planText =
      cache.planHash === undefined ? undefined : readTextOrUndefined(planPath(cacheFile));
    let intact =
      cache.planHash === undefined ||
      (planText !== undefined && sha256(planText) === cache.planHash);
    // A plan file of other bytes goes, so the compile below writes it again (see the record).
    if (!intact && planText !== undefined) rmSync(planPath(cacheFile), { force: true });
    for (const f of intact ? cache.files : []) {
      const contents = readOrUndefined(join(opts.outDir, f.path));
      if (contents === undefined || sha256(contents) !== f.hash) {
        intact = false;
        break;
      }
      files.push({ path: f.path, contents });
    }
    if (intact) {
      return {
        notebook,
        stem,
        diagnostics: cache.diagnostics,
        files,
        plan: planText === undefined ? undefined : (JSON.parse(planText) as TaskPlan),
        cached: true,
        notebookHash,
        fixtures,
        ...(cache.localModules ? { localModules: cache.localModules } : {}),
        pipeline: files.length ? pipelineAbs : undefined,
      };
    }
  }

  const memory = opts.memory ?? newMemory();
  // Formatted modules the last compile wrote, read back from generated/ when asked for.
  const readBack = new Map<string, string>();
  let recall: ((key: string) => string | undefined) | undefined;
  // The hash the last compile recorded for each file it wrote.
  const hashOf = new Map(cache?.files.map((f) => [f.path, f.hash]));
  // Each recorded module as read back: its text when it still holds what was recorded, else
  // undefined (missing, or edited by hand: formatted again and rewritten).
  const onDiskAsRecorded = new Map<string, string | undefined>();
  const readRecorded = (path: string): string | undefined => {
    if (onDiskAsRecorded.has(path)) return onDiskAsRecorded.get(path);
    const intact = readIfHashed(join(opts.outDir, path), hashOf.get(path));
    onDiskAsRecorded.set(path, intact);
    return intact;
  };
  if (cache) {
    for (const [k, v] of cache.analyses) memory.analyses.set(k, v);
    for (const [k, v] of cache.sql) memory.sql.set(k, v);
    for (const [k, v] of cache.emitted ?? []) memory.emitted.set(k, v);
    const pathOf = new Map(cache.modules.map(([path, key]) => [key, path]));
    recall = (key) => {
      const path = pathOf.get(key);
      const contents = path === undefined ? undefined : readRecorded(path);
      if (contents === undefined) return undefined;
      readBack.set(path!, contents);
      return contents;
    };
  }
  const workdir = posix(relative(join(opts.outDir, stem), dirname(notebookAbs))) || '.';
  // A big notebook's recorded modules are read back while the helper thread (see compileFile)
  // loads TypeScript and analyses: here, a batch at a time until the analyses arrive, and the
  // rest on the helper thread while this one links; the emit stage waits for them
  // (`beforeEmit`). Whatever that thread could not read is read here when asked.
  const recorded = big && cache ? cache.modules.map(([path]) => path) : [];
  let readHere = 0;
  let readingBack: Promise<void> | undefined;
  const readBackElsewhere = () => {
    if (readingBack || !slot.thread || readHere === recorded.length) return;
    const paths = recorded.slice(readHere);
    readHere = recorded.length;
    readingBack = slot.thread
      .readBack(paths.map((path) => [join(opts.outDir, path), hashOf.get(path) ?? '']))
      .then(
        (texts) => texts.forEach((t, i) => onDiskAsRecorded.set(paths[i]!, t ?? undefined)),
        () => {}, // the thread failed: each module is read here when asked
      );
  };
  const formatElsewhere = (texts: string[]) => (slot.thread ??= helperThread({})).format(texts);
  const analyzeElsewhere = big
    ? async (cells: CellInput[]) => {
        const analyses = (slot.thread ??= helperThread({ analyze: true })).analyze(cells);
        let answered = false;
        analyses.then(
          () => (answered = true),
          () => (answered = true),
        );
        while (!answered && readHere < recorded.length) {
          for (const end = Math.min(readHere + READ_BACK_BATCH, recorded.length); readHere < end;)
            readRecorded(recorded[readHere++]!);
          // Lets the thread's answer in (messages come before immediates).
          await new Promise((resolve) => setImmediate(resolve));
        }
        readBackElsewhere();
        return analyses;
      }
    : undefined;
  const beforeEmit = async () => {
    readBackElsewhere();
    await readingBack;
  };
  const canImport = importResolver(join(opts.outDir, stem));
  const localModulesRead = new Map<string, string>();
  const readModule = moduleTextReader(opts.root, dirname(notebookAbs), localModulesRead);
  const compile = () =>
    compileNotebook(notebook, text, {
      workdir,
      memory,
      hash: sha256,
      fixtures,
      formatElsewhere,
      // An incremental compile's helper thread loads Prettier once it has analysed and read.
      formatAllElsewhere: big && cache !== undefined,
      analyzeElsewhere,
      beforeEmit,
      canImport,
      pathsAlias: tsconfigPaths(join(opts.outDir, stem)),
      builtinExports,
      recall,
      readModule,
    });
  let result: Awaited<ReturnType<typeof compile>>;
  try {
    result = await compile();
  } finally {
    await endThread(slot);
  }
  warmTypeScript(); // when this thread analysed
  // Deep but ordinary code (750 nested parentheses, a 750-call chain, a 5,000-term sum) can
  // exhaust the default stack inside TypeScript's parser or Prettier, which recurse once per
  // level. The compile leaves exactly those pieces out of the memory (`stats.deep`): they are
  // redone on a thread with a 256 MB stack, and the compile run again finds everything in the
  // memory. The result is what any compile gives, wherever it runs and whatever the cache held.
  // Each round settles one stage's pieces (the analyses; then, reached now, the modules).
  for (let round = 0; result.stats.deep && round < 3; round++) {
    const done = await onDeepStack({ kind: 'work', work: result.stats.deep });
    for (const [k, v] of done.analyses) memory.analyses.set(k, v);
    for (const [k, v] of done.formatted) memory.formatted.set(k, v);
    const { analyzed, formatted } = result.stats;
    try {
      result = await compile();
    } finally {
      await endThread(slot);
    }
    result.stats.analyzed += analyzed;
    result.stats.formatted += formatted;
  }
  // Out of stack anywhere else (not a piece the memory holds): the whole compile, from scratch,
  // on the large stack, and none of this thread's memory is kept.
  const deep = exhaustedStack(result.diagnostics) || result.stats.deep !== undefined;
  if (deep)
    result = await onDeepStack({
      kind: 'compile',
      notebook,
      text,
      workdir,
      fixtures,
      moduleDir: join(opts.outDir, stem),
      root: opts.root,
      notebookDir: dirname(notebookAbs),
    });
  const localModules = [...localModulesRead].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (!opts.noCache) {
    const pick = <V>(m: Map<string, V>, keys: string[]) =>
      [...new Set(keys)]
        .filter((k) => m.has(k))
        .sort()
        .map((k): [string, V] => [k, m.get(k)!]);
    const planText = result.plan && JSON.stringify(result.plan);
    const planFile = planPath(cacheFile);
    // The plan the last record named, when the plan file still holds exactly this text: its hash
    // is that record's, and the file need not be written again (a one-cell change rarely moves
    // the plan). Comparing with the file's bytes costs a read of it; hashing a 5,000-task plan's
    // 3.2 MB cost more. A file that holds this text but not the recorded hash (edited by hand
    // into it) makes the next full hit miss, which removes it and compiles again.
    const planKept =
      planText !== undefined &&
      cache?.planHash !== undefined &&
      readTextOrUndefined(planFile) === planText;
    const planHash = planKept ? cache.planHash : planText && sha256(planText);
    const record: CacheFile = {
      fingerprint: compilerFingerprint(),
      notebookHash,
      fixtures,
      outDir: outDirRel,
      diagnostics: result.diagnostics,
      // A module read back as recorded keeps its recorded hash (no second hash of 5,000 files).
      files: result.files.map((f) => ({
        path: f.path,
        hash: readBack.get(f.path) === f.contents ? hashOf.get(f.path)! : sha256(f.contents),
      })),
      planHash,
      // After a deep-stack compile this thread's memory holds the failed attempt: keep none of it.
      analyses: deep ? [] : pick(memory.analyses, result.stats.used.analyses),
      modules: deep ? [] : result.stats.used.modules,
      sql: deep ? [] : pick(memory.sql, result.stats.used.sql),
      emitted: deep
        ? []
        : [...new Map(result.stats.used.emitted)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      ...(localModules.length > 0 ? { localModules } : {}),
    };
    try {
      // The plan first: a record is never written naming a plan file not there yet.
      // An unchanged plan (a one-cell change) is not written again (`planKept`).
      if (planText !== undefined && !planKept) writeAtomic(planFile, planText);
      writeAtomic(cacheFile, JSON.stringify(record));
    } catch {
      // A read-only checkout still compiles; it just will not be incremental.
    }
  }
  return {
    notebook,
    stem,
    diagnostics: result.diagnostics,
    files: result.files,
    plan: result.plan,
    cached: false,
    onDisk: {
      outDir: resolve(opts.outDir),
      paths: new Set(
        result.files.filter((f) => readBack.get(f.path) === f.contents).map((f) => f.path),
      ),
    },
    notebookHash,
    fixtures,
    ...(localModules.length > 0 ? { localModules } : {}),
    stats: result.stats,
    pipeline: result.files.length ? pipelineAbs : undefined,
  };
}

/**
 * `CompileOptions.readModule` from the disk: a relative import's file, from the notebook's folder
 * or the importing module's, as TypeScript finds it (`./x.js` is `x.ts` too, an extension or
 * `/index` may be left out); only files inside the project. Each read is noted in `read`
 * (project-relative path → sha256), for the cache record.
 */
export function moduleTextReader(
  root: string,
  notebookDir: string,
  read: Map<string, string>,
): ReadModule {
  return (from, specifier) => {
    const target = resolve(from === undefined ? notebookDir : dirname(join(root, from)), specifier);
    const bare = target.replace(/\.[cm]?[jt]sx?$/, '');
    for (const file of [
      target,
      ...['.ts', '.tsx', '.mts', '.js', '.mjs'].map((e) => bare + e),
      ...['index.ts', 'index.js'].map((f) => join(target, f)),
    ]) {
      const path = posix(relative(root, file));
      if (path.startsWith('../') || path.includes('node_modules/')) return undefined;
      if (!/\.[cm]?[jt]sx?$/.test(file) || !existsSync(file) || !statSync(file).isFile()) continue;
      const text = readFileSync(file, 'utf8');
      read.set(path, sha256(text));
      return { path, text };
    }
    return undefined;
  };
}

/** The sha256 of a local module a record names, or undefined when it is gone. */
function localModuleHash(root: string, path: string): string | undefined {
  const text = readTextOrUndefined(join(root, path));
  return text === undefined ? undefined : sha256(text);
}

/**
 * Whether a module in `moduleDir` (generated/<stem>/) can import a specifier, as Node would find
 * it: a builtin; a package in a node_modules folder of moduleDir or any folder above it (or the
 * project's own package, by its name); a relative file, also under the names a TypeScript import
 * may use for it (`./x.js` for x.ts, `./x` for x.ts or x/index.ts). Only the package is looked
 * for, not a subpath inside it: a missing package is what users meet, and Node's own error names
 * a bad subpath well.
 */
export function importResolver(moduleDir: string): (specifier: string) => boolean {
  return (spec) => {
    if (isBuiltin(spec)) return true;
    if (spec.startsWith('#')) {
      const target = subpathImportTarget(moduleDir, spec);
      return target !== undefined && resolvesToFile(target);
    }
    const pkg = packageName(spec);
    if (pkg !== undefined) {
      for (let dir = resolve(moduleDir); ; dir = dirname(dir)) {
        if (existsSync(join(dir, 'node_modules', pkg))) return true;
        const manifest = readOrUndefined(join(dir, 'package.json'));
        if (manifest !== undefined) {
          try {
            if ((JSON.parse(manifest) as { name?: unknown }).name === pkg) return true;
          } catch {
            // a broken package.json names no package
          }
        }
        if (dirname(dir) === dir) return false;
      }
    }
    if (!spec.startsWith('.') && !spec.startsWith('/')) return true;
    return resolvesToFile(resolve(moduleDir, spec));
  };
}

/**
 * The `compilerOptions.paths` pattern of the nearest tsconfig.json above `moduleDir` that maps a
 * specifier (`@lib/*` for `@lib/sub`), and that file relative to the working directory; undefined
 * when none does. Only for a message (compiler/program.ts `pathsAlias`): read on the error path,
 * with TypeScript's own parser (comments and trailing commas), `extends` not followed.
 */
export function tsconfigPaths(
  moduleDir: string,
): (specifier: string) => { pattern: string; file: string } | undefined {
  let patterns: { pattern: string; file: string }[] | undefined;
  const load = () => {
    patterns = [];
    for (let dir = resolve(moduleDir); ; dir = dirname(dir)) {
      const file = join(dir, 'tsconfig.json');
      const text = readOrUndefined(file);
      if (text !== undefined) {
        const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
        const { config } = ts.parseConfigFileTextToJson(file, text);
        const paths = (config as { compilerOptions?: { paths?: unknown } } | undefined)
          ?.compilerOptions?.paths;
        const shown = relative(process.cwd(), file) || file;
        if (paths && typeof paths === 'object')
          patterns = Object.keys(paths).map((pattern) => ({ pattern, file: shown }));
        return;
      }
      if (dirname(dir) === dir) return;
    }
  };
  return (spec) => {
    if (!patterns) load();
    return patterns!.find(({ pattern }) => {
      const star = pattern.indexOf('*');
      return star < 0
        ? spec === pattern
        : spec.startsWith(pattern.slice(0, star)) && spec.endsWith(pattern.slice(star + 1));
    });
  };
}

/** Is there a file a bundler resolves `path` (absolute, as imported) to? */
function resolvesToFile(path: string): boolean {
  const stem = path.replace(/\.(?:[cm]?js|jsx)$/, '');
  const candidates = [
    path,
    ...['.ts', '.tsx', '.mts', '.cts'].map((ext) => stem + ext),
    ...['.ts', '.js', '.mjs', '.json'].map((ext) => path + ext),
    ...['index.ts', 'index.js'].map((f) => join(path, f)),
  ];
  return candidates.some((c) => existsSync(c) && statSync(c).isFile());
}

/**
 * Where a subpath import (`#lib/factor.ts`) points, absolute, by the `imports` field of the
 * package.json nearest to `fromDir` (Node's rule: exact keys first, then the longest `*`
 * pattern; a conditions object gives its `import`, `node` or `default` target). Undefined when
 * no key matches.
 */
export function subpathImportTarget(fromDir: string, spec: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const manifest = readOrUndefined(join(dir, 'package.json'));
    if (manifest !== undefined) {
      let imports: unknown;
      try {
        imports = (JSON.parse(manifest) as { imports?: unknown }).imports;
      } catch {
        return undefined;
      }
      if (!imports || typeof imports !== 'object') return undefined;
      const map = imports as Record<string, unknown>;
      const pick = (t: unknown): string | undefined => {
        if (typeof t === 'string') return t;
        if (t && typeof t === 'object') {
          const c = t as Record<string, unknown>;
          return pick(c.import ?? c.node ?? c.default);
        }
        return undefined;
      };
      if (Object.hasOwn(map, spec)) {
        const t = pick(map[spec]);
        return t === undefined ? undefined : resolve(dir, t);
      }
      let best: { key: string; middle: string } | undefined;
      for (const key of Object.keys(map)) {
        const star = key.indexOf('*');
        if (star < 0) continue;
        const [pre, post] = [key.slice(0, star), key.slice(star + 1)];
        if (spec.startsWith(pre) && spec.endsWith(post) && spec.length >= key.length - 1)
          if (!best || pre.length > best.key.indexOf('*'))
            best = { key, middle: spec.slice(pre.length, spec.length - post.length) };
      }
      const t = best && pick(map[best.key]);
      return t === undefined ? undefined : resolve(dir, t.replace('*', best!.middle));
    }
    if (dirname(dir) === dir) return undefined;
  }
}

const builtinsSeen = new Map<string, BuiltinExports | undefined>();

/**
 * The named exports of the Node built-in module `spec` (`node:fs`, `fs`) on this Node, as an ES
 * import sees them (the CommonJS module's own keys), or undefined for a specifier that is no
 * built-in or cannot be loaded. Loading a built-in runs no project code.
 */
export function builtinExports(spec: string): BuiltinExports | undefined {
  if (builtinsSeen.has(spec)) return builtinsSeen.get(spec);
  let answer: BuiltinExports | undefined;
  if (isBuiltin(spec)) {
    try {
      const loaded = require(spec) as object;
      answer = { names: new Set(Object.keys(loaded)), nodeVersion: process.versions.node };
    } catch {
      answer = undefined; // not loadable here (a prefix-only module on an older Node): not checked
    }
  }
  builtinsSeen.set(spec, answer);
  return answer;
}

/** Recorded modules read back between two looks for the helper thread's analyses. */
const READ_BACK_BATCH = 100;

/** Stack for compiles of very deep code, in MB (V8's default is about 1 MB). */
const DEEP_STACK_MB = 256;

/** What a deep-stack thread is asked: the pieces a compile left (the usual case), or a compile. */
type DeepRequest =
  | { kind: 'work'; work: DeepWork }
  | {
      kind: 'compile';
      notebook: string;
      text: string;
      workdir: string;
      fixtures: string[];
      /** generated/<stem>/, where the host's importResolver looks from. */
      moduleDir: string;
      /** The project root and the notebook's folder, where local modules are read from. */
      root: string;
      notebookDir: string;
    };
type DeepAnswer<R extends DeepRequest> = R extends { kind: 'work' }
  ? Awaited<ReturnType<typeof doDeepWork>>
  : Awaited<ReturnType<typeof compileNotebook>>;

function answerDeep(request: DeepRequest): Promise<unknown> {
  if (request.kind === 'work') return doDeepWork(request.work, sha256);
  return compileNotebook(request.notebook, request.text, {
    workdir: request.workdir,
    hash: sha256,
    fixtures: request.fixtures,
    canImport: importResolver(request.moduleDir),
    pathsAlias: tsconfigPaths(request.moduleDir),
    builtinExports,
    // Modules read here are not recorded: this compile's record keeps none of its inputs' memory.
    readModule: moduleTextReader(request.root, request.notebookDir, new Map()),
  });
}

/**
 * `doDeepWork` or `compileNotebook` on a worker thread with a `DEEP_STACK_MB` stack. The thread
 * runs this very module (its top level answers the request below), from dist/ as plain JS or,
 * from the sources (tests), with tsx registered first, as runtime/workers/pool.ts does.
 */
async function onDeepStack<R extends DeepRequest>(request: R): Promise<DeepAnswer<R>> {
  const worker = deepStackThread({ cellarDeepCompile: true, request });
  try {
    return await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`the deep-stack compile thread exited with code ${code}`)),
      );
    });
  } finally {
    await worker.terminate();
  }
}

/** A worker thread running this very module with a `DEEP_STACK_MB` stack (see onDeepStack). */
function deepStackThread(data: object): Worker {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(here)}))`,
        { eval: true, workerData: data, resourceLimits: { stackSizeMb: DEEP_STACK_MB } },
      )
    : new Worker(new URL(here), {
        workerData: data,
        resourceLimits: { stackSizeMb: DEEP_STACK_MB },
      });
}

/**
 * `helperChars`: notebook text from which a compile starts its helper thread first thing (see
 * compileFile; the 5,000-cell bench notebook is ~1 MB, a 200-cell one ~60 KB, which is compiled
 * on this thread alone, starting a thread only for its biggest modules). Mutable only so tests
 * can take the big notebook's path with a small one.
 */
export const hostLimits = { helperChars: 400_000 };

/**
 * A large-stack thread that formats modules (print.ts `formatBatch`) and analyses cells
 * (`analyzeCells`) on request, for one compile. `preload`: what it loads as it starts, before
 * any request (Prettier, TypeScript).
 */
interface HelperThread {
  format(texts: string[]): Promise<string[]>;
  analyze(cells: CellInput[]): Promise<CellAnalysis[]>;
  /** `readIfHashed` of each [absolute path, hash]: the text, or null. */
  readBack(files: [string, string][]): Promise<(string | null)[]>;
  /** Ends the thread; requests not answered yet are rejected. */
  close(): Promise<void>;
}

interface HelperPreload {
  format?: boolean;
  analyze?: boolean;
  /** Load Prettier once a read-back is answered (an incremental compile formats a few modules). */
  formatAfterReadBack?: boolean;
}

type HelperAsk = { texts: string[] } | { cells: CellInput[] } | { files: [string, string][] };
type HelperRequest = { id: number } & HelperAsk;

function helperThread(preload: HelperPreload): HelperThread {
  const worker = deepStackThread({ cellarHelperThread: preload });
  const pending = new Map<
    number,
    { resolve: (v: unknown[]) => void; reject: (e: Error) => void }
  >();
  let next = 0;
  const failAll = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on('message', (m: { id: number; out?: unknown[]; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.out) p?.resolve(m.out);
    else p?.reject(new Error(m.error ?? 'the format thread failed'));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the format thread exited with code ${code}`)));
  const ask = <T>(request: HelperAsk) =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve: (out) => resolve(out as T), reject });
      worker.postMessage({ id, ...request } satisfies HelperRequest);
    });
  return {
    format: (texts) => ask<string[]>({ texts }),
    analyze: (cells) => ask<CellAnalysis[]>({ cells }),
    readBack: (files) => ask<(string | null)[]>({ files }),
    close: async () => {
      await worker.terminate();
    },
  };
}

if (!isMainThread) {
  const data = workerData as
    | { cellarDeepCompile?: boolean; cellarHelperThread?: HelperPreload; request?: DeepRequest }
    | undefined;
  if (data?.cellarDeepCompile)
    void answerDeep(data.request!).then((answer) => parentPort!.postMessage(answer));
  if (data?.cellarHelperThread) {
    // Load what was asked for while the main thread reads and analyses, then answer requests in
    // order of arrival.
    const preload = data.cellarHelperThread;
    if (preload.format) void formatBatch(['']);
    if (preload.analyze) void loadAnalyzer();
    parentPort!.on('message', (request: HelperRequest) => {
      const work: Promise<unknown[]> =
        'cells' in request
          ? loadAnalyzer().then((analyzer) => analyzer.analyzeCells(request.cells))
          : 'files' in request
            ? Promise.resolve(request.files.map(([path, hash]) => readIfHashed(path, hash) ?? null))
            : formatBatch(request.texts);
      work.then(
        (out) => {
          parentPort!.postMessage({ id: request.id, out });
          if ('cells' in request) warmTypeScript();
          if ('files' in request && preload.formatAfterReadBack) void formatBatch(['']);
        },
        (error: unknown) =>
          parentPort!.postMessage({
            id: request.id,
            error: error instanceof Error ? error.message : String(error),
          }),
      );
    });
  }
}

/**
 * Has the notebook changed since this pipeline.ts was compiled from it? `cellar run
 * generated/x/pipeline.ts` after editing the notebook would run the old code without a word.
 * Decided from the compile cache, cheaply (one hash, no compiling): the record that wrote this
 * very pipeline.ts names the notebook bytes it came from. Returns a message when they differ;
 * undefined when they match or nothing is known (no record, as in a fresh clone).
 */
export function staleNotebook(pipelineAbs: string): string | undefined {
  const pipelineText = readOrUndefined(pipelineAbs);
  const source = pipelineText && /^\s*source: '([^']+)',$/m.exec(pipelineText)?.[1];
  if (!source) return undefined;
  const root = projectRoot(dirname(pipelineAbs));
  let record: CacheFile;
  try {
    record = JSON.parse(readText(cachePath(root, source))) as CacheFile;
  } catch {
    return undefined;
  }
  const wrote = record.files.find(
    (f) => resolve(root, record.outDir, f.path) === resolve(pipelineAbs),
  );
  if (!wrote || wrote.hash !== sha256(pipelineText)) return undefined; // some other compile wrote it
  const notebookText = readOrUndefined(join(root, source));
  if (notebookText === undefined)
    return `${source}, which ${posix(relative(process.cwd(), pipelineAbs))} was compiled from, no longer exists`;
  if (sha256(notebookText) === record.notebookHash) return undefined;
  return `${source} has changed since ${posix(relative(process.cwd(), pipelineAbs))} was compiled: this runs the old code (run \`cellar compile\`, or run the notebook itself)`;
}

/**
 * Generated files in <out>/<stem>/ that carry our header (so only ours are ever deleted), apart
 * from the `kept` ones (outDir-relative): those are the compile's own files, so they are not read
 * to find the header (5,000 reads for a 5,000-task notebook).
 */
function staleGenerated(outDir: string, stem: string, kept: ReadonlySet<string>): string[] {
  const dir = join(outDir, stem);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(
      (f) =>
        // .js and tsconfig.json: a JavaScript notebook's modules and their type-check config.
        (f.endsWith('.ts') || f.endsWith('.js') || f === 'tsconfig.json') &&
        !kept.has(`${stem}/${f}`) &&
        (readOrUndefined(join(dir, f)) ?? '').includes(HEADER),
    )
    .map((f) => `${stem}/${f}`)
    .sort();
}

export interface WriteReport {
  written: string[];
  removed: string[];
}

/** A generated file that could not be written; nothing of the outcome was written. */
export class WriteError extends Error {
  /**
   * `written`: the files already renamed into place when a rename failed (then the folder holds
   * part of the new files; compiling again finishes it); none when the failure came first.
   */
  constructor(
    readonly file: string,
    readonly cause: unknown,
    readonly written: readonly string[] = [],
  ) {
    super(
      `could not write ${file} (${cause instanceof Error ? cause.message : String(cause)}); ` +
        (written.length
          ? `${written.length} other ${written.length === 1 ? 'file was' : 'files were'} written before it: run \`cellar compile\` again`
          : 'nothing was written'),
    );
    this.name = 'WriteError';
  }
}

/**
 * Make <out>/<stem>/ hold exactly the outcome's files (skip when it has errors). All or nothing:
 * every changed file is first written beside its target as a temp file, and only when all of
 * them are written are they renamed into place, pipeline.ts last, so a failed write (a full disk,
 * a name the file system refuses) never leaves a pipeline.ts importing a module that is not
 * there. Throws WriteError naming the file; the temp files are removed.
 */
export function writeOutcome(outcome: NotebookOutcome, outDir: string): WriteReport {
  const report: WriteReport = { written: [], removed: [] };
  if (hasErrors(outcome.diagnostics)) return report;
  const wanted = new Set(outcome.files.map((f) => f.path));
  if (wanted.size < outcome.files.length) {
    // Two files of one path would share one temp file, and the second rename fail. The compile
    // refuses task names that lead there (E_TASK_FILE_NAME): this is the guard behind it.
    const twice = outcome.files.find(
      (f, i) => outcome.files.findIndex((g) => g.path === f.path) < i,
    )!;
    throw new WriteError(
      posix(relative(process.cwd(), join(outDir, twice.path))),
      new Error('two generated files have this path'),
    );
  }
  const known = outcome.onDisk?.outDir === resolve(outDir) ? outcome.onDisk.paths : undefined;
  // A file already there that no compile wrote (no header: a hand-written lib/pipeline.ts under
  // `--out notebooks`) is the user's: never written over. Nothing is written then.
  const foreign: string[] = [];
  const changed = outcome.files.filter((f) => {
    if (known?.has(f.path)) return false;
    const now = readOrUndefined(join(outDir, f.path));
    if (now !== undefined && now !== f.contents && !now.includes(HEADER)) foreign.push(f.path);
    return now !== f.contents;
  });
  if (foreign.length > 0)
    throw new WriteError(
      posix(relative(process.cwd(), join(outDir, foreign[0]!))),
      new Error(
        `it is not a file \`cellar compile\` wrote (no "${HEADER}" header)${foreign.length > 1 ? `, nor are ${foreign.length - 1} more there` : ''}, and would be replaced: choose another --out folder, or move it`,
      ),
    );
  // Modules before the pipeline that imports them.
  changed.sort(
    (a, b) => Number(a.path.endsWith('/pipeline.ts')) - Number(b.path.endsWith('/pipeline.ts')),
  );
  const staged: { tmp: string; path: string; file: string }[] = [];
  const folders = new Set<string>(); // made once each, not once per file (5,000 in one folder)
  try {
    for (const f of changed) {
      const path = join(outDir, f.path);
      const tmp = tempFile(path);
      staged.push({ tmp, path, file: f.path });
      const folder = dirname(path);
      if (!folders.has(folder)) mkdirSync(folder, { recursive: true });
      folders.add(folder);
      writeFileSync(tmp, f.contents);
    }
  } catch (error) {
    for (const s of staged) removeTemp(s.tmp);
    throw new WriteError(
      posix(relative(process.cwd(), join(outDir, staged[staged.length - 1]!.file))),
      error,
    );
  }
  for (const [i, s] of staged.entries()) {
    try {
      renameSync(s.tmp, s.path);
    } catch (error) {
      // A rename refused (a folder where the file goes, a file locked on Windows): the files not
      // yet in place are not written, and their temp files go.
      for (const rest of staged.slice(i)) removeTemp(rest.tmp);
      throw new WriteError(
        posix(relative(process.cwd(), s.path)),
        error,
        staged.slice(0, i).map((w) => w.file),
      );
    }
    report.written.push(s.file);
  }
  for (const old of [
    ...staleGenerated(outDir, outcome.stem, wanted),
    ...strayTempFiles(outDir, outcome.stem),
  ]) {
    rmSync(join(outDir, old), { force: true });
    report.removed.push(old);
  }
  return report;
}

/**
 * What `--check` reports: files that differ from, are missing in, or are extra in <out>, and temp
 * files a failed write left there (`stray`).
 */
export function checkOutcome(outcome: NotebookOutcome, outDir: string): string[] {
  const problems: string[] = [];
  const wanted = new Set(outcome.files.map((f) => f.path));
  for (const f of outcome.files) {
    const onDisk = readOrUndefined(join(outDir, f.path));
    if (onDisk === undefined) problems.push(`missing ${f.path}`);
    else if (onDisk !== f.contents) problems.push(`differs ${f.path}`);
  }
  for (const old of staleGenerated(outDir, outcome.stem, wanted)) problems.push(`stale ${old}`);
  for (const tmp of strayTempFiles(outDir, outcome.stem)) problems.push(`stray ${tmp}`);
  return problems;
}

/**
 * Output folders whose notebook is gone: `<out>/<stem>/pipeline.ts` names its notebook in the
 * header; when that notebook sits under one of the folders just compiled but no longer exists,
 * the folder is stale (`--check` reports it, compiling removes its generated files).
 */
export function orphanedOutputs(
  outDir: string,
  root: string,
  scannedDirs: string[],
): { stem: string; notebook: string }[] {
  if (!existsSync(outDir)) return [];
  const scanned = scannedDirs.map((d) => posix(relative(root, resolve(d))).replace(/\/?$/, '/'));
  const orphans: { stem: string; notebook: string }[] = [];
  for (const entry of readdirSync(outDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const head = readOrUndefined(join(outDir, entry.name, 'pipeline.ts'))?.slice(0, 400) ?? '';
    const m = new RegExp(`${HEADER.replace(/[`]/g, '\\`')} from (\\S+?\\.ipynb)`).exec(head);
    if (!m) continue;
    const notebook = m[1]!;
    const underScanned = scanned.some((d) => d === '/' || d === './' || notebook.startsWith(d));
    if (underScanned && !existsSync(join(root, notebook)))
      orphans.push({ stem: entry.name, notebook });
  }
  return orphans.sort((a, b) => (a.stem < b.stem ? -1 : 1));
}

/** Delete the generated files of an orphaned output folder (only files carrying our header). */
export function removeOrphan(outDir: string, stem: string): string[] {
  const removed = staleGenerated(outDir, stem, new Set());
  for (const f of removed) rmSync(join(outDir, f));
  try {
    rmdirSync(join(outDir, stem)); // only when empty
  } catch {
    // Not empty (someone's own files): leave the folder.
  }
  return removed;
}

/** The folder a notebook compiles into (its `<stem>/` goes below): `out` when given, else <project>/generated. */
export function outputRoot(notebook: string, out?: string): string {
  return out ? resolve(out) : join(projectRoot(dirname(notebook)), 'generated');
}

const stemOf = (notebook: string) => basename(notebook).replace(/\.ipynb$/i, '');

/**
 * E_DUPLICATE_OUTPUT, keyed by notebook path, for every notebook whose output folder another
 * notebook of `notebooks` also compiles to (`a/w.ipynb`, `b/w.ipynb`): compiling both would make
 * each overwrite the other's folder on every compile, so none of a clashing group is compiled.
 * Paths in the message are relative to the notebook's project root; the folder to `cwd`.
 */
export function duplicateOutputs(
  notebooks: string[],
  out: string | undefined,
  cwd = process.cwd(),
): Map<string, Diagnostic> {
  const byFolder = new Map<string, string[]>();
  for (const nb of notebooks) {
    // Lower case: on macOS and Windows `W.ipynb` and `w.ipynb` share a folder too.
    const key = join(outputRoot(nb, out), stemOf(nb)).toLowerCase();
    byFolder.set(key, [...(byFolder.get(key) ?? []), nb]);
  }
  const found = new Map<string, Diagnostic>();
  for (const group of byFolder.values()) {
    if (group.length < 2) continue;
    for (const nb of group) {
      const clash = group.filter((other) => other !== nb);
      const root = projectRoot(dirname(nb));
      const rel = (f: string) => relative(root, f).split('\\').join('/');
      const folder = `${relative(cwd, outputRoot(nb, out)) || '.'}/${stemOf(nb)}/`;
      found.set(
        nb,
        diagnostic(
          'error',
          'E_DUPLICATE_OUTPUT',
          { notebook: rel(nb) },
          `compiles to ${folder}, as ${clash.map(rel).join(' and ')} do${clash.length > 1 ? '' : 'es'}: ${clash.length > 1 ? 'none of them is' : 'neither is'} compiled`,
          {
            hint: 'rename one of the notebooks (the output folder is named after the file), or compile them with different --out folders',
          },
        ),
      );
    }
  }
  return found;
}

/**
 * E_DUPLICATE_OUTPUT for compiling `notebook` alone (`cellar compile a/w.ipynb`, `cellar run
 * a/w.ipynb`) into a folder another notebook of the project, still present, was compiled into
 * (`b/w.ipynb`): the same clash `duplicateOutputs` finds among the notebooks of one compile, seen
 * through the folder's pipeline.ts header. Without it, running each in turn would make each
 * overwrite the other's folder and share its workspace. `undefined` when the folder is free, ours,
 * or its notebook is gone (an orphan the next compile of the folder replaces).
 */
export function foreignOutput(
  notebook: string,
  out: string | undefined,
  cwd = process.cwd(),
): Diagnostic | undefined {
  const root = projectRoot(dirname(notebook));
  const outDir = outputRoot(notebook, out);
  const head = readOrUndefined(join(outDir, stemOf(notebook), 'pipeline.ts'))?.slice(0, 400) ?? '';
  const m = new RegExp(`${HEADER.replace(/[`]/g, '\\`')} from (\\S+?\\.ipynb)`).exec(head);
  if (!m) return undefined;
  const rel = posix(relative(root, notebook));
  const owner = m[1]!;
  if (owner.toLowerCase() === rel.toLowerCase() || !existsSync(join(root, owner))) return undefined;
  const folder = `${relative(cwd, outDir) || '.'}/${stemOf(notebook)}/`;
  return diagnostic(
    'error',
    'E_DUPLICATE_OUTPUT',
    { notebook: rel },
    `compiles to ${folder}, which holds ${owner}'s pipeline: ${rel} is not compiled`,
    {
      hint: 'rename one of the notebooks (the output folder is named after the file), or compile them with different --out folders',
    },
  );
}

/** An output folder whose notebook no longer exists (see orphanedOutputs). */
export interface OrphanedOutput {
  /** Absolute path of the folder, `<out>/<stem>`. */
  folder: string;
  /** The vanished notebook, relative to the project root, as the folder's pipeline.ts names it. */
  notebook: string;
  /** True when its generated files were deleted (`remove`); false when only reported (`--check`). */
  removed: boolean;
}

/**
 * Orphan policy for one compile of `paths`: the output folders of the folders among `paths`
 * (files are skipped) whose notebook is gone. With `remove`, their generated files are deleted
 * (removeOrphan); without it (`--check`) they are only returned, and the caller fails.
 */
export function settleOrphans(
  paths: string[],
  out: string | undefined,
  options: { remove: boolean },
): OrphanedOutput[] {
  const dirs = paths.filter((p) => statSync(p).isDirectory());
  const outs = new Map<string, string>();
  for (const d of dirs) {
    const root = projectRoot(resolve(d));
    outs.set(out ? resolve(out) : join(root, 'generated'), root);
  }
  const settled: OrphanedOutput[] = [];
  for (const [outDir, root] of outs) {
    for (const orphan of orphanedOutputs(outDir, root, dirs)) {
      if (options.remove) removeOrphan(outDir, orphan.stem);
      settled.push({
        folder: join(outDir, orphan.stem),
        notebook: orphan.notebook,
        removed: options.remove,
      });
    }
  }
  return settled;
}
