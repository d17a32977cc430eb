// Builds the runtime (what `import ... from 'cellar'` loads) and the CLI into dist/ with esbuild.
//
// Why a build at all: Node 20 cannot load TypeScript. The CLI and the runtime share chunks
// (code splitting), so a compiled pipeline that imports 'cellar' gets the very module instance
// the CLI uses. `ensureBuilt()` rebuilds only when a source file is newer than dist/, so the
// CLI always runs current code and a warm start costs a few stat calls.
//
// Two CLIs may start together on stale sources (tests do), so a build never leaves a torn file:
// esbuild builds in memory and each file is written to a temp name and renamed into place.
// Chunk names carry a content hash, so a process still running the old build keeps finding its
// chunks; files no build has produced for an hour are pruned.
import {
  readdirSync,
  statSync,
  existsSync,
  writeFileSync,
  mkdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stamp = join(dist, '.stamp');
const sourceDirs = ['compiler', 'runtime', 'cli'];

function newestSourceMtime() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of sourceDirs) if (existsSync(join(root, dir))) walk(join(root, dir));
  return Math.max(newest, statSync(join(root, 'scripts', 'build.mjs')).mtimeMs);
}

export async function buildDist() {
  // esbuild loads lazily: importing it costs ~50 ms, which a warm `cellar run` should not pay.
  const { build } = await import('esbuild');
  const shared = {
    absWorkingDir: root,
    outdir: dist,
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  };
  // warm: `cellar run` answered from the warm-run record (cli/warm-entry.ts), one file without
  // splitting: Node's ESM loader costs per module, and this is all a warm run loads after cli.js.
  const [split, warm] = await Promise.all([
    build({
      ...shared,
      // worker: the body of each task worker thread (runtime/workers/pool.ts starts dist/worker.js).
      // worker-reads: preloaded in a worker thread a task starts (runtime/run/read-record.ts).
      entryPoints: {
        index: 'runtime/index.ts',
        cli: 'cli/main.ts',
        worker: 'runtime/workers/thread.ts',
        'worker-reads': 'runtime/run/worker-reads.ts',
      },
      splitting: true,
    }),
    build({ ...shared, entryPoints: { warm: 'cli/warm-entry.ts' }, splitting: false }),
  ]);
  const result = { outputFiles: [...split.outputFiles, ...warm.outputFiles] };
  mkdirSync(dist, { recursive: true });
  const written = new Set([stamp]);
  for (const file of result.outputFiles) {
    writeAtomic(file.path, file.contents);
    written.add(file.path);
  }
  // The build's identity: a hash of every file it wrote. A warm-run record (runtime/run/
  // warm-record.ts) is trusted only by the very build that wrote it, since any change to Cellar's
  // code may change keys, codecs or what a run prints.
  const hash = createHash('sha256');
  for (const file of [...result.outputFiles].sort((a, b) => (a.path < b.path ? -1 : 1)))
    hash.update(file.path.slice(dist.length)).update('\0').update(file.contents);
  writeAtomic(join(dist, 'build-id'), hash.digest('hex').slice(0, 16));
  written.add(join(dist, 'build-id'));
  writeAtomic(stamp, String(Date.now()));
  // Prune only files this script writes: dist/ is also where `cellar build` puts a user's built
  // pipelines and functions (dist/penguins/, dist/functions/), which are no business of ours.
  const hourAgo = Date.now() - 3600_000;
  for (const entry of readdirSync(dist, { withFileTypes: true })) {
    const path = join(dist, entry.name);
    if (
      entry.isFile() &&
      OWN_OUTPUT.test(entry.name) &&
      !written.has(path) &&
      statSync(path).mtimeMs < hourAgo
    )
      rmSync(path, { force: true });
  }
}

/** The names esbuild gives this build's chunks (`chunk-<hash>.js`, `bigquery-<hash>.js`) and
 *  their source maps; entry points keep fixed names and are rewritten by every build. */
const OWN_OUTPUT = /^[\w-]+-[A-Z0-9]{8}\.js(\.map)?$/;

function writeAtomic(path, contents) {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

export async function ensureBuilt() {
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  if (built < newestSourceMtime()) await buildDist();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildDist();
