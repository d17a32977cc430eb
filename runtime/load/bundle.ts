// Fast loading of a TypeScript pipeline: bundle it once with esbuild, reuse the bundle while its
// source files are unchanged.
//
// Why not tsx on every run: tsx loads TypeScript through Node's module hooks, which on Node 20
// run on a separate loader thread; starting that thread and the synchronous round-trips cost
// ~200 ms per process (measured with --cpu-prof), more than everything else a warm `cellar run`
// does. The bundle keeps tsx's semantics where they matter: esbuild is the transform tsx uses,
// packages stay external (resolved by Node from the project, so 'cellar' is the same module
// instance the CLI uses), and every local module's `import.meta.url` / `dirname` / `filename`
// is replaced by its real source location, so code-aware cache keys still root at the real file.
//
// The bundle and a record of its inputs live in `<project>/.cellar/cache/`, where Node resolves
// the project's packages as it does for the sources. The inputs are every file esbuild read (local
// modules, imported JSON, any other file it inlines), each with a content stamp (key/filestamp.ts):
// the bundle is fresh only while every input has the same content and every local import would
// resolve as it did (key/resolve-facts.ts: no new file ahead of the one picked, no symlink on the
// way re-pointed; one stat per folder looked in). A warm start is one JSON read,
// one stat per source file, one import; a file whose stat moved is re-read and hashed, so an edit
// that keeps mtime and size (`touch -r`, `cp -p`) still rebuilds. When bundling fails, the caller
// falls back to tsx.
//
// Each local module that exports a class gets one statement appended: it registers its exported
// classes with the runtime under `<path relative to the project>#<export name>` (codecs/classes.ts),
// so instances a task stores come back as instances of that class in the tasks that read them.
// The code-aware key hashes its own bundle (key/codehash.ts), without this statement.
//
// A pipeline outside any project that has cellar installed (a notebook in /tmp, `--out` outside
// the project) imports 'cellar' from a folder where Node cannot find it. There the bundle
// imports the runtime that is running it (this package's dist/index.js), so such a pipeline
// runs as it would inside the project, instead of failing with `Cannot find module 'cellar'`.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { threadId } from 'node:worker_threads';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { untracked } from '../run/read-record.js';
import { findProjectRoot } from '../project.js';
import { sha256 } from '../key/hash.js';
import { checkStamp, readWithStamp, sameStamp, type FileStamp } from '../key/filestamp.js';
import {
  REPORT_UNBUNDLED_IMPORTS,
  bundledGlobs,
  globsChanged,
  resolvingGlobImports,
  unbundledImports,
} from '../key/dynamic-imports.js';
import { tempStamp } from '../store/owner.js';
import { codeLoaderFor } from './esbuild-loaders.js';
import { cellarPackageDir, runningRuntimeEntry } from '../own-package.js';
import {
  ResolveRecorder,
  checkResolveFacts,
  wellFormedFacts,
  type ResolveFacts,
} from '../key/resolve-facts.js';

interface BundleRecord {
  version: number;
  bundle: string;
  /** Every file the bundle was built from → its content stamp. */
  inputs: Record<string, FileStamp>;
  /** Each glob a dynamic import bundled → the hash of its matches (key/dynamic-imports.ts). */
  globs?: Record<string, string>;
  /**
   * How every local import resolved (key/resolve-facts.ts): per folder looked in (through
   * links), the entries that could answer. A file added ahead of the one esbuild picked
   * (`lib/util.js` beside the util.ts `./lib/util.js` loaded) or a re-pointed symlinked folder
   * changes them, though no input changed.
   */
  resolved: ResolveFacts;
  /**
   * Where 'cellar' did not resolve from the importing folders, so the bundle imports the running
   * runtime instead: those folders, and that runtime's entry file. The bundle is reused only
   * while 'cellar' still resolves nowhere from those folders and the running runtime is the same
   * file: a project that installed cellar since, or another Cellar (`npx cellar@<other>` keeps
   * each version in its own folder), bundles again instead of loading a stale runtime.
   */
  ownRuntime?: { from: string[]; entry: string };
  /**
   * Where 'cellar' did resolve, so the bundle imports it bare: those folders (the cache folder the
   * bundle is loaded from among them). The bundle is reused only while it still resolves from
   * each: a project that removed cellar since bundles again with the mapping, instead of failing
   * every run until a source file changes.
   */
  cellarFrom?: string[];
}

// 2: 'cellar' mapped to the running runtime where it does not resolve. 3: content stamps of every
// file read (2 kept (mtime, size) of JS/TS inputs only, which missed JSON imports and same-size edits).
// 4: the source map in a file beside the bundle, not inline. 5: local modules register their
// exported classes. 6: the globs of dynamic imports, with their matches. 7: where 'cellar' was
// mapped to the running runtime (`ownRuntime`). 8: how local imports resolved (`resolved`).
// 9: the config files that steer resolution (package.json `imports`, tsconfig) in `resolved`.
// 10: dynamic imports of a prefix and a run-time name resolved as static ones (resolvingGlobImports).
// 11: where 'cellar' resolved (`cellarFrom`), and the cache folder's resolution in both lists.
// 12: import.meta.url / dirname / filename set by esbuild's define, not by a text replacement.
const RECORD_VERSION = 12;

/**
 * Import `path` through a cached esbuild bundle; undefined when that is not possible here.
 * `sourceMaps` (default true): map stack frames of the bundle back to the source files. Node 20
 * decodes and indexes a module's whole inline map when it loads (~30 % of loading the 2.4 MB
 * bundle of a 1,000-task notebook), so a process that runs no task code itself (`cellar run` on
 * worker threads, which load their own copy with maps) may skip it.
 */
export async function importBundled(
  path: string,
  options: { sourceMaps?: boolean } = {},
): Promise<Record<string, unknown> | undefined> {
  // Cellar's own reads (the project root lookup, the record, the sources' freshness, esbuild's)
  // are not what the pipeline's module reads while it is evaluated (loader.ts records that).
  const bundlePath = await untracked(() => freshBundle(path));
  if (!bundlePath) return undefined;
  if (options.sourceMaps ?? true) process.setSourceMapsEnabled(true);
  try {
    return await import(pathToFileURL(bundlePath).href);
  } catch (error) {
    // The bundle itself vanished (another process replaced it): load through tsx instead. Any
    // other error is the pipeline's own and surfaces as it is.
    if (
      (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(`'${bundlePath}'`)
    )
      return undefined;
    throw error;
  }
}

/** The path of a fresh cached bundle of `path` (bundled again when stale), or undefined. */
async function freshBundle(path: string): Promise<string | undefined> {
  const root = findProjectRoot(dirname(path));
  // Inside the project (so bare imports and the package's self-reference resolve as they do
  // from the sources) but not under node_modules (Node ignores self-references from there).
  const cacheDir = join(root, '.cellar', 'cache', 'pipelines');
  const id = sha256(path).slice(0, 16);
  const recordFile = join(cacheDir, `${id}.json`);
  let record = readRecord(recordFile);
  const freshness = record ? checkFresh(record) : 'stale';
  if (!record || freshness === 'stale') {
    record = await bundle(path, cacheDir, id, root, record?.ownRuntime !== undefined);
    if (!record) return undefined;
    writeRecord(recordFile, record);
  } else if (freshness === 'restamped') writeRecord(recordFile, record);
  return join(cacheDir, record.bundle);
}

/**
 * The cached bundle of the pipeline at `path` as the last `importBundled` left it: the bundle
 * file (absolute) and the content stamp of every source file it was built from. Undefined when
 * there is none (never bundled, or loaded through tsx).
 */
export function bundledInputs(path: string):
  | {
      bundle: string;
      inputs: Record<string, FileStamp>;
      globs: Record<string, string>;
      resolved: ResolveFacts;
    }
  | undefined {
  const cacheDir = join(findProjectRoot(dirname(path)), '.cellar', 'cache', 'pipelines');
  const record = readRecord(join(cacheDir, `${sha256(path).slice(0, 16)}.json`));
  return record
    ? {
        bundle: join(cacheDir, record.bundle),
        inputs: record.inputs,
        globs: record.globs ?? {},
        resolved: record.resolved,
      }
    : undefined;
}

function readRecord(file: string): BundleRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as BundleRecord;
    return r.version === RECORD_VERSION && wellFormedFacts(r.resolved) ? r : undefined;
  } catch {
    return undefined;
  }
}

function writeRecord(file: string, record: BundleRecord): void {
  // A cache: a failed write only costs the next load a check. Worker threads of one process
  // load the pipeline at once and may each refresh the record: the temp name is per thread.
  const tmp = tempName(file);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** A temp file beside `file`, unique to this process and thread (store/owner.ts TEMP_NAME). */
function tempName(file: string): string {
  return `${file}.tmp-${tempStamp()}-t${threadId}`;
}

/** 'fresh': every input has its recorded content; 'restamped': same, but some stamps moved (saved). */
function checkFresh(record: BundleRecord): 'fresh' | 'restamped' | 'stale' {
  let restamped = false;
  for (const [file, stamp] of Object.entries(record.inputs)) {
    const check = checkStamp(file, stamp);
    if (!check.same) return 'stale';
    if (!sameStamp(check.stamp, stamp)) {
      record.inputs[file] = check.stamp;
      restamped = true;
    }
  }
  // A file added where a dynamic import's glob looks (a new plugin) is in no bundle yet.
  if (globsChanged(record.globs)) return 'stale';
  // A file added ahead of one an import resolved to, or a symlink on the way re-pointed.
  const resolution = checkResolveFacts(record.resolved);
  if (!resolution.same) return 'stale';
  if (resolution.restamped) restamped = true;
  const own = record.ownRuntime;
  if (own && (runningRuntimeEntry() !== own.entry || own.from.some((dir) => resolvesCellar(dir))))
    return 'stale';
  if (record.cellarFrom?.some((dir) => !resolvesCellar(dir))) return 'stale';
  return restamped ? 'restamped' : 'fresh';
}

async function bundle(
  path: string,
  cacheDir: string,
  id: string,
  root: string,
  /** The last bundle mapped 'cellar' (`ownRuntime`): build with the mapping plugin at once. */
  mapFirst = false,
): Promise<BundleRecord | undefined> {
  const esbuild = await import('esbuild');
  // Built without mapping 'cellar' (left external, as every package), then checked: a build
  // whose 'cellar' imports all resolve from their folders is the one the mapping plugin gives. The
  // plugin answered each module's import on this thread (~0.3 ms a round trip to esbuild, a third
  // of rebuilding a 1,000-task notebook's bundle, by --cpu-prof). A pipeline outside any project
  // with cellar installed is built again with it, once: its record says so for the next build.
  let inputs: Record<string, FileStamp> = {};
  let resolution = new ResolveRecorder();
  const localSource: import('esbuild').Plugin = {
    name: 'cellar-real-import-meta',
    setup(build) {
      // Every file esbuild loads is read here, so each gets a stamp of the very bytes bundled.
      build.onLoad({ filter: /.*/ }, (args) => {
        if (args.namespace !== 'file') return undefined;
        const { bytes, stamp } = readWithStamp(args.path);
        inputs[args.path] = stamp;
        const loader = codeLoaderFor(args.path);
        if (loader === undefined) {
          return { contents: bytes, loader: 'default', resolveDir: dirname(args.path) };
        }
        if (args.path.includes(`${'/'}node_modules${'/'}`)) {
          const contents = withImportMeta(bytes.toString('utf8'), args.path);
          return { contents, loader: 'default', resolveDir: dirname(args.path) };
        }
        let contents = bytes.toString('utf8');
        if (exportsClasses(contents, args.path)) contents += classRegistration(args.path, root);
        // `import('./plugins/' + name)` finds `name` as a static import would (p1, p1.js → p1.ts).
        contents = resolvingGlobImports(contents, args.path, root);
        // Last: the edits above read the module's own first line (a generated module's header).
        contents = withImportMeta(contents, args.path);
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
  // 'cellar' where Node cannot resolve it from the importing file, or from the cache folder the
  // bundle is imported from (where Node resolves the bundle's bare imports): this running runtime
  // instead.
  const mappedFrom = new Set<string>();
  const cacheResolves = resolvesCellar(cacheDir);
  const ownRuntime: import('esbuild').Plugin = {
    name: 'cellar-own-runtime',
    setup(build) {
      // One answer per folder for the build: every task module of a notebook sits in one folder
      // and imports 'cellar', and Node's resolution is ~0.14 ms a call (140 ms of rebuilding a
      // 1,000-task notebook's bundle after a one-cell edit, by --cpu-prof).
      const resolvable = new Map<string, boolean>();
      build.onResolve({ filter: /^cellar$/ }, (args) => {
        const dir = args.resolveDir || dirname(args.importer);
        let found = resolvable.get(dir);
        if (found === undefined) resolvable.set(dir, (found = resolvesCellar(dir)));
        if (found && cacheResolves) return undefined;
        const entry = runningRuntimeEntry();
        if (entry) mappedFrom.add(found ? cacheDir : dir);
        return entry ? { path: pathToFileURL(entry).href, external: true } : undefined;
      });
    },
  };
  let result;
  let importing: string[];
  for (let mapRuntime = mapFirst; ; mapRuntime = true) {
    try {
      result = await esbuild.build({
        entryPoints: [path],
        bundle: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        packages: 'external',
        write: false,
        metafile: true,
        // A map file beside the bundle, without the sources' text (stack traces need only the
        // mappings): the module Node parses is then the code alone (~520 KB instead of 2.4 MB for
        // a 1,000-task notebook), and a process without source maps never reads the map.
        sourcemap: 'external',
        sourcesContent: false,
        // Source paths in the map are relative to this (the hashed name below sits beside it).
        outfile: join(cacheDir, `${id}.mjs`),
        logLevel: 'silent',
        logOverride: REPORT_UNBUNDLED_IMPORTS,
        define: IMPORT_META_DEFINES,
        plugins: mapRuntime
          ? [resolution.plugin(), ownRuntime, localSource]
          : [resolution.plugin(), localSource],
        absWorkingDir: resolve(root),
      });
    } catch (error) {
      // A failed build (another module's error) still reports the imports it could not bundle.
      const refused = unbundledImports(
        (error as { warnings?: import('esbuild').Message[] })?.warnings ?? [],
        resolve(root),
      );
      if (refused) throw refused;
      // Perhaps 'cellar' itself: a tsconfig alias of it to a checkout's sources, which the mapping
      // (asked before tsconfig) would have kept out of the bundle.
      if (mapRuntime) return undefined;
      inputs = {};
      resolution = new ResolveRecorder();
      continue;
    }
    importing = cellarImportFolders(result.metafile, root);
    if (mapRuntime || importing.length === 0 || (cacheResolves && importing.every(resolvesCellar)))
      break;
    inputs = {};
    resolution = new ResolveRecorder();
  }
  // Refused before the module is evaluated: from this bundle a relative `import(name)` would
  // resolve from .cellar/cache/, and what it loads would be in no key (key/dynamic-imports.ts).
  const refused = unbundledImports(result.warnings, resolve(root));
  if (refused) throw refused;
  const code = result.outputFiles.find((f) => f.path.endsWith('.mjs'))!.contents;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'))?.contents;
  const name = `${id}-${sha256(code).slice(0, 12)}.mjs`;
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, name);
  if (!existsSync(file)) {
    // The map first: a process that sees the bundle may read its map at once.
    if (map) writeAtomicFile(`${file}.map`, map);
    const comment = map ? `\n//# sourceMappingURL=${name}.map\n` : '';
    writeAtomicFile(file, Buffer.concat([code, Buffer.from(comment)]));
  }
  // Older bundles of this pipeline (and their maps) are garbage now.
  for (const old of readdirSync(cacheDir)) {
    if (
      old.startsWith(`${id}-`) &&
      old !== name &&
      old !== `${name}.map` &&
      (old.endsWith('.mjs') || old.endsWith('.mjs.map'))
    )
      rmSync(join(cacheDir, old), { force: true });
  }
  const globs = bundledGlobs(result.metafile!, resolve(root));
  resolution.settle();
  const entry = mappedFrom.size > 0 ? runningRuntimeEntry() : undefined;
  const cellarFrom =
    importing.length === 0 || !cacheResolves
      ? []
      : [cacheDir, ...importing.filter((dir) => resolvesCellar(dir))].sort();
  return {
    version: RECORD_VERSION,
    bundle: name,
    inputs,
    resolved: resolution.all(),
    ...(Object.keys(globs).length > 0 ? { globs } : {}),
    ...(entry ? { ownRuntime: { from: [...mappedFrom].sort(), entry } } : {}),
    ...(cellarFrom.length > 0 ? { cellarFrom } : {}),
  };
}

/**
 * `import.meta.url` / `dirname` / `filename` of each bundled module, as names esbuild's `define`
 * puts where those expressions are (in code only, never in a string, template text or comment),
 * each bound by a declaration `withImportMeta` puts at the top of that module. esbuild renames
 * the declarations apart when it joins the modules into one scope, and each use follows its own.
 */
const IMPORT_META_NAMES = {
  url: '__cellarImportMetaUrl',
  dirname: '__cellarImportMetaDirname',
  filename: '__cellarImportMetaFilename',
} as const;

const IMPORT_META_DEFINES = Object.fromEntries(
  Object.entries(IMPORT_META_NAMES).map(([property, name]) => [`import.meta.${property}`, name]),
);

/**
 * `source` (a JS or TS module at `path`) with its `import.meta` facts declared first, on its first
 * line (after a `#!` line), so line numbers in stack traces stay the source's. A module that does
 * not mention `import.meta` is returned as it is. The values are the real file's, not the bundle's.
 */
export function withImportMeta(source: string, path: string): string {
  if (!source.includes('import.meta')) return source;
  const values = { url: pathToFileURL(path).href, dirname: dirname(path), filename: path };
  const declarations = Object.entries(IMPORT_META_NAMES)
    .map(
      ([property, name]) =>
        `var ${name} = ${JSON.stringify(values[property as keyof typeof values])};`,
    )
    .join(' ');
  return onFirstLine(source, declarations);
}

/**
 * `source` with `code` (statements without a line break) put at the start of its first line, or
 * after a `#!` line (which must stay first), so every later line keeps its number.
 */
export function onFirstLine(source: string, code: string): string {
  if (!source.startsWith('#!')) return `${code} ${source}`;
  const end = source.indexOf('\n');
  return end < 0
    ? `${source}\n${code}`
    : `${source.slice(0, end + 1)}${code} ${source.slice(end + 1)}`;
}

/**
 * The folders of the modules that import 'cellar' in a build's metafile (absolute, unique):
 * left external, or resolved to files by a tsconfig alias (`original`), which the mapping
 * plugin answered first too.
 */
function cellarImportFolders(metafile: import('esbuild').Metafile, root: string): string[] {
  const dirs = new Set<string>();
  for (const [file, input] of Object.entries(metafile.inputs))
    if (input.imports.some((i) => (i.external ? i.path : i.original) === 'cellar'))
      dirs.add(dirname(resolve(root, file)));
  return [...dirs];
}

function writeAtomicFile(file: string, contents: Uint8Array): void {
  const tmp = tempName(file);
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/**
 * Might this module export a class? Cheap text tests: the word `class`, an ES `export`, and not
 * Cellar's own runtime sources (a test pipeline importing them must not load a second runtime).
 * A false positive only registers nothing.
 */
export function exportsClasses(source: string, path: string): boolean {
  if (!/\bclass\b/.test(source) || !/\bexport\b/.test(source) || /\.c[jt]s$/.test(path))
    return false;
  const own = cellarPackageDir();
  return (
    !own ||
    !(path.startsWith(join(own, 'runtime') + sep) || path.startsWith(join(own, 'dist') + sep))
  );
}

/**
 * The statements appended to a local module: register its exported classes (see the header).
 * `cellar build` appends the same to the modules of a built folder (cli/build/build.ts).
 */
export function classRegistration(path: string, root: string): string {
  const id = relative(root, path).split(sep).join('/');
  return (
    `\nimport * as __cellarModuleExports from ${JSON.stringify(path)};\n` +
    `import { registerModuleClasses as __cellarRegisterModuleClasses } from 'cellar';\n` +
    `__cellarRegisterModuleClasses(${JSON.stringify(id)}, __cellarModuleExports);\n`
  );
}

/**
 * Can Node's ES module loader resolve the package 'cellar' from `dir`: a `node_modules/cellar`
 * in `dir` or a folder above it, or a self-reference (the nearest package.json is cellar's, with
 * `exports`)? Not CommonJS resolution, which also looks in NODE_PATH and ~/.node_modules: the
 * bundle is imported as an ES module, and 'cellar' found only there does not load.
 */
export function resolvesCellar(dir: string): boolean {
  let inScope = true;
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', 'cellar', 'package.json'))) return true;
    if (inScope && existsSync(join(d, 'package.json'))) {
      inScope = false;
      try {
        const pkg = JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as {
          name?: unknown;
          exports?: unknown;
        };
        if (pkg.name === 'cellar' && pkg.exports !== undefined) return true;
      } catch {
        // unreadable: no self-reference
      }
    }
    if (dirname(d) === d) return false;
  }
}
