// "Is this notebook's compile still fresh?", answered by content stamps instead of a re-check of
// the compile cache, for `cellar run <notebook>.ipynb` (and the stale-notebook warning of
// `cellar run generated/<stem>/pipeline.ts`).
//
// Why: the compile cache's full hit (compiler/host.ts `compileFile`) parses the whole cache record
// (every cell's analysis: 2.4 MB for a 1,000-task notebook), reads and hashes every generated
// file, and `writeOutcome` then reads each one again and every `.ts` file of the folder a third
// time to find stray ones. On a warm run of the wide-1000 notebook that was a third of the
// process (docs/design/performance.md).
//
// The record (`.cellar/compile/<notebook>.stamps.json`, beside the cache) holds what that full
// hit compares, each as a content stamp (runtime/key/filestamp.ts): the notebook's bytes, every
// generated file's bytes, the compiler's fingerprint, the output folder and the fixture list.
// `freshPipeline` answers "fresh" only when all of them still hold: the same compiler, the same
// fixtures, no `.ts` file in the output folder the compile did not write, and every stamped file
// with the same content (one `stat` per file when its stat facts are unchanged and were taken
// after the file had been quiet; otherwise the file is read and hashed). Anything else, a missing
// or damaged record included, falls back to `ensureCompiled`'s compile path, which is
// unchanged. So the fast answer is exactly the full hit's answer, reached with stats.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import {
  checkStamp,
  contentHash,
  packStamps,
  readWithStamp,
  sameStamp,
  unpackStamps,
  type FileStamp,
  type PackedStamps,
} from '../runtime/key/filestamp.js';
import { sha256 } from '../runtime/key/hash.js';

/** What one successful compile of one notebook wrote, as content stamps. */
export interface CompileStamps {
  version: typeof STAMPS_VERSION;
  /** `compilerFingerprint()` of the compile that wrote the files. */
  compiler: string;
  /** The output folder, absolute. */
  outDir: string;
  notebook: FileStamp;
  /** Tasks with a recorded fixture (a compile input besides the notebook), sorted. */
  fixtures: string[];
  /** outDir-relative path (posix) → stamp of the bytes the compile wrote there. */
  files: Record<string, FileStamp>;
  /**
   * Absolute path → stamp of each local module the notebook's imports reached, as the compile
   * read it: an input as the notebook is (an edit may make the compile refuse it, E_MODULE_STATE).
   */
  modules: Record<string, FileStamp>;
  /** outDir-relative path of the generated pipeline.ts. */
  pipeline: string;
}

// 2: `files` packed on disk (runtime/key/filestamp.ts `PackedStamps`: a fifth of the parse);
// 3: the local modules the compile read (`modules`)
const STAMPS_VERSION = 3;

/** The record as stored. */
type StampsFile = Omit<CompileStamps, 'files' | 'modules'> & {
  files: PackedStamps;
  modules: PackedStamps;
};

/** `<root>/.cellar/compile/<notebook, flattened>.stamps.json` (beside the compile cache). */
export function stampsPath(root: string, notebookAbs: string): string {
  const rel = relative(root, notebookAbs).split(sep).join('/');
  return join(root, '.cellar', 'compile', `${rel.replace(/[^\w.-]+/g, '_')}.stamps.json`);
}

function readStamps(file: string): CompileStamps | undefined {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as StampsFile;
    if (r.version !== STAMPS_VERSION) return undefined;
    const files = unpackStamps(r.files);
    const modules = unpackStamps(r.modules);
    return files && modules ? { ...r, files, modules } : undefined;
  } catch {
    return undefined;
  }
}

function writeStamps(file: string, stamps: CompileStamps): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const stored: StampsFile = {
    ...stamps,
    files: packStamps(stamps.files),
    modules: packStamps(stamps.modules),
  };
  writeFileSync(tmp, JSON.stringify(stored));
  renameSync(tmp, file);
}

export interface FreshnessFacts {
  root: string;
  notebookAbs: string;
  outDir: string;
  /** The running compiler's fingerprint. */
  compiler: string;
  /** The fixture list as the compiler would see it now (`fixtureTasks`). */
  fixtures: () => string[];
}

/**
 * The generated pipeline.ts (absolute) when the recorded compile of this notebook is still
 * fresh (see the header for what that checks), else undefined: compile as usual. Saves the
 * record again when stamps moved but contents did not, so the next check is stats only.
 */
export function freshPipeline(
  facts: FreshnessFacts,
  /** Filled with each file found unchanged and its stamp as now (the warm run's other checks reuse it). */
  verified?: Map<string, FileStamp>,
): string | undefined {
  const file = stampsPath(facts.root, facts.notebookAbs);
  const stamps = readStamps(file);
  if (
    !stamps ||
    stamps.compiler !== facts.compiler ||
    stamps.outDir !== facts.outDir ||
    stamps.fixtures.join('\0') !== facts.fixtures().join('\0')
  )
    return undefined;
  let restamped = false;
  const check = (path: string, stamp: FileStamp): FileStamp | undefined => {
    const c = checkStamp(path, stamp);
    if (!c.same) return undefined;
    if (!sameStamp(c.stamp, stamp)) restamped = true;
    verified?.set(path, c.stamp);
    return c.stamp;
  };
  const notebook = check(facts.notebookAbs, stamps.notebook);
  if (!notebook) return undefined;
  stamps.notebook = notebook;
  for (const [path, stamp] of Object.entries(stamps.modules)) {
    const now = check(path, stamp);
    if (!now) return undefined;
    stamps.modules[path] = now;
  }
  // A `.ts` file the compile did not write, where it writes: the compile path removes ours.
  // The paths are posix and relative (`recordStamps`), so their folders and the absolute paths
  // are string slices and concatenation: `dirname` and `join` per file were a fifth of this
  // check on a 1,000-task notebook.
  const base = facts.outDir.endsWith(sep) ? facts.outDir : facts.outDir + sep;
  const absolute = (path: string) =>
    sep === '/' && !UNNORMAL.test(path) ? base + path : join(facts.outDir, path);
  const folders = new Set<string>();
  for (const path of Object.keys(stamps.files)) {
    const slash = path.lastIndexOf('/');
    folders.add(slash < 0 ? '.' : path.slice(0, slash));
  }
  for (const folder of folders) {
    let names: string[];
    try {
      names = readdirSync(join(facts.outDir, folder));
    } catch {
      return undefined;
    }
    for (const name of names)
      if (name.endsWith('.ts') && !Object.hasOwn(stamps.files, `${folder}/${name}`))
        return undefined;
  }
  for (const [path, stamp] of Object.entries(stamps.files)) {
    const now = check(absolute(path), stamp);
    if (!now) return undefined;
    stamps.files[path] = now;
  }
  if (restamped) writeStamps(file, stamps);
  return join(facts.outDir, stamps.pipeline);
}

/** A path `join` would change beyond prefixing: absolute, `.` or `..` segments, `//`, backslashes. */
const UNNORMAL = /^\/|\/\/|\\|(?:^|\/)\.\.?(?:\/|$)/;

export interface CompiledOutcome {
  /** sha256 (hex) of the notebook text the compile read. */
  notebookHash: string;
  fixtures: string[];
  files: { path: string; contents: string }[];
  /** outDir-relative path of pipeline.ts. */
  pipeline: string;
  /** The local modules the compile read: project-relative posix path, sha256 (hex) of its text. */
  localModules?: readonly (readonly [string, string])[];
}

/**
 * Record what a compile just wrote (after `writeOutcome`). Stamps are taken from the files on
 * disk and kept only when their content is exactly what the compile read or wrote: a notebook
 * saved again meanwhile, or a file another process rewrote, leaves no record (the next run takes
 * the compile path). Never throws: a record that cannot be written only costs speed.
 */
export function recordStamps(facts: FreshnessFacts, outcome: CompiledOutcome): void {
  const file = stampsPath(facts.root, facts.notebookAbs);
  try {
    const nb = readWithStamp(facts.notebookAbs);
    if (nb.stamp.hash !== outcome.notebookHash.slice(0, nb.stamp.hash.length)) return;
    const files: Record<string, FileStamp> = {};
    for (const f of outcome.files) {
      const { stamp } = readWithStamp(join(facts.outDir, f.path));
      if (stamp.hash !== contentHash(f.contents)) return;
      files[f.path] = stamp;
    }
    const modules: Record<string, FileStamp> = {};
    for (const [path, textHash] of outcome.localModules ?? []) {
      const abs = join(facts.root, path);
      const { bytes, stamp } = readWithStamp(abs);
      // As the compiler read it (UTF-8 text): a module edited since is no record's input.
      if (sha256(bytes.toString('utf8')) !== textHash) return;
      modules[abs] = stamp;
    }
    writeStamps(file, {
      version: STAMPS_VERSION,
      compiler: facts.compiler,
      outDir: facts.outDir,
      notebook: nb.stamp,
      fixtures: outcome.fixtures,
      files,
      modules,
      pipeline: outcome.pipeline,
    });
  } catch {
    // Unreadable or unwritable: the compile path answers next time.
  }
}
