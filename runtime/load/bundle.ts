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
// The bundle and a record of its inputs' (mtime, size) live in `<project>/.cellar/cache/`, where
// Node resolves the project's packages as it does for the sources; a warm start is one JSON
// read, one stat per source file, one import. When bundling fails, the caller falls back to tsx.
//
// A pipeline outside any project that has cellar installed (a notebook in /tmp, `--out` outside
// the project) imports 'cellar' from a folder where Node cannot find it. There the bundle
// imports the runtime that is running it (this package's dist/index.js), so such a pipeline
// runs as it would inside the project, instead of failing with `Cannot find module 'cellar'`.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findProjectRoot } from '../project.js';
import { sha256 } from '../key/hash.js';

interface BundleRecord {
  version: number;
  bundle: string;
  inputs: Record<string, [number, number]>;
}

const RECORD_VERSION = 2; // 2: 'cellar' mapped to the running runtime where it does not resolve

/** Import `path` through a cached esbuild bundle; undefined when that is not possible here. */
export async function importBundled(path: string): Promise<Record<string, unknown> | undefined> {
  const root = findProjectRoot(dirname(path));
  // Inside the project (so bare imports and the package's self-reference resolve as they do
  // from the sources) but not under node_modules (Node ignores self-references from there).
  const cacheDir = join(root, '.cellar', 'cache', 'pipelines');
  const id = sha256(path).slice(0, 16);
  const recordFile = join(cacheDir, `${id}.json`);
  let record = readRecord(recordFile);
  if (!record || !isFresh(record)) {
    record = await bundle(path, cacheDir, id, root);
    if (!record) return undefined;
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${recordFile}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, recordFile);
  }
  process.setSourceMapsEnabled(true);
  const bundleUrl = pathToFileURL(join(cacheDir, record.bundle)).href;
  try {
    return await import(bundleUrl);
  } catch (error) {
    // The bundle itself vanished (another process replaced it): load through tsx instead. Any
    // other error is the pipeline's own and surfaces as it is.
    const bundlePath = join(cacheDir, record.bundle);
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${bundlePath}'`)) return undefined;
    throw error;
  }
}

function readRecord(file: string): BundleRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as BundleRecord;
    return r.version === RECORD_VERSION ? r : undefined;
  } catch {
    return undefined;
  }
}

function isFresh(record: BundleRecord): boolean {
  for (const [file, [mtime, size]] of Object.entries(record.inputs)) {
    try {
      const st = statSync(file);
      if (st.mtimeMs !== mtime || st.size !== size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function bundle(path: string, cacheDir: string, id: string, root: string): Promise<BundleRecord | undefined> {
  const esbuild = await import('esbuild');
  const inputs: Record<string, [number, number]> = {};
  const localSource: import('esbuild').Plugin = {
    name: 'cellar-real-import-meta',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        if (args.path.includes(`${'/'}node_modules${'/'}`)) return undefined;
        const st = statSync(args.path);
        inputs[args.path] = [st.mtimeMs, st.size];
        const url = pathToFileURL(args.path).href;
        const contents = readFileSync(args.path, 'utf8')
          .replace(/\bimport\.meta\.url\b/g, JSON.stringify(url))
          .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)))
          .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path));
        const ext = args.path.slice(args.path.lastIndexOf('.') + 1);
        const loader = ext.startsWith('ts') || ext === 'mts' || ext === 'cts' ? (ext === 'tsx' ? 'tsx' : 'ts') : ext === 'jsx' ? 'jsx' : 'js';
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
  // 'cellar' where Node cannot resolve it from the importing file: this running runtime instead.
  const ownRuntime: import('esbuild').Plugin = {
    name: 'cellar-own-runtime',
    setup(build) {
      build.onResolve({ filter: /^cellar$/ }, (args) => {
        if (resolvesCellar(args.resolveDir || dirname(args.importer))) return undefined;
        const entry = runningRuntimeEntry();
        return entry ? { path: pathToFileURL(entry).href, external: true } : undefined;
      });
    },
  };
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [path],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      write: false,
      sourcemap: 'inline',
      // Source paths in the map are relative to this (the hashed name below sits beside it).
      outfile: join(cacheDir, `${id}.mjs`),
      logLevel: 'silent',
      plugins: [ownRuntime, localSource],
      absWorkingDir: resolve(root),
    });
  } catch {
    return undefined;
  }
  const code = result.outputFiles[0]!.contents;
  const name = `${id}-${sha256(code).slice(0, 12)}.mjs`;
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, name);
  if (!existsSync(file)) {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
  }
  // Older bundles of this pipeline are garbage now.
  for (const old of readdirSync(cacheDir)) {
    if (old.startsWith(`${id}-`) && old !== name && old.endsWith('.mjs')) rmSync(join(cacheDir, old), { force: true });
  }
  return { version: RECORD_VERSION, bundle: name, inputs };
}

/** Can Node resolve the package 'cellar' from `dir` (node_modules above it, or a self-reference)? */
export function resolvesCellar(dir: string): boolean {
  try {
    createRequire(join(dir, 'noop.js')).resolve('cellar');
    return true;
  } catch {
    return false;
  }
}

/** dist/index.js of the cellar package this module belongs to (source or built), if built. */
export function runningRuntimeEntry(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cellar') {
          const entry = join(dir, 'dist', 'index.js');
          return existsSync(entry) ? entry : undefined;
        }
      } catch {
        // unreadable: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
