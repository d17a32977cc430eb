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
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { findProjectRoot } from '../project.js';
import { sha256 } from '../key/hash.js';

interface BundleRecord {
  version: number;
  bundle: string;
  inputs: Record<string, [number, number]>;
}

const RECORD_VERSION = 1;

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
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(record.bundle)) return undefined;
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
      plugins: [localSource],
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
