// Stack frames of a built pipeline as the project modules they came from.
//
// A run from the sources sees a local module's code under its own file in every stack frame (the
// cached bundle is loaded with source maps: load/bundle.ts), and run/read-record.ts attributes a
// read to the module whose code made it, so a memoising helper's read keys every task using the
// helper (key/run-reads.ts `recordModuleReads`). A built folder (`cellar build`) runs esbuild
// chunks without Node's source maps, so its frames name `chunk-XYZ.js`: every read looked like
// the task's own, and a helper memoising a file served the second task a stale value. Here a
// chunk's frame is mapped back through the map file beside it (written by the build) to the
// project path of its source, and that to the module URL the build gives the module
// (`cellar-build:<path from the project root>`), the same name its task and fingerprint carry.
//
// Rejected: turning on Node's source maps in built runs (every error's stack would be decoded;
// and Node resolves a map's sources against where the folder lies now, which on a batch machine
// is not the project the paths came from).
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, posix, relative, resolve, sep } from 'node:path';
import { BUILT_MODULE_SCHEME } from './module-path.js';

/** A built folder's facts from its manifest.json (cli/build/run-entry.ts `BuildManifest`). */
interface BuiltFolder {
  /** The project root relative to the folder, as it was at build time (`..`). */
  root: string;
  /** The project paths (posix, from the project root) of the local modules a task's code reaches. */
  modules: Set<string>;
}

/** Folder → its build facts, or null when it is not a built folder (memo for the process). */
const folders = new Map<string, BuiltFolder | null>();
/** Chunk file → its source map, or null when it has none. */
const maps = new Map<string, SourceMap | null>();

/**
 * The module of a stack frame at `line`, `column` (1-based, as a stack prints them) of `file`
 * (absolute): undefined when `file` is not a chunk of a built folder; null when it is, but the
 * code there is not a local module of the pipeline (Cellar's runtime, the pipeline file); else the
 * module's URL, `cellar-build:<path from the project root>`.
 * Reads manifest.json and the chunk's `.map` once per folder and chunk; the caller keeps these
 * reads out of a task's recorded reads.
 */
export function builtFrameModule(
  file: string,
  line: number,
  column: number,
): string | null | undefined {
  const folder = builtFolder(dirname(file));
  if (!folder) return undefined;
  const at = mappedFrame(folder, file, line, column);
  return at && folder.modules.has(at.path) ? BUILT_MODULE_SCHEME + at.path : null;
}

/** Where a built folder's frame is in the project's sources (`builtFrameSource`). */
export interface BuiltFrameSource {
  /** The source's path from the project root (posix): `generated/x/train.ts`. */
  path: string;
  /** 1-based line and column in the source. */
  line: number;
  column: number;
  /** The source's text, from the map's `sourcesContent` (the batch machine has no sources). */
  text: string | undefined;
  /**
   * Whether the source is one of the project's own modules the build fingerprinted (a task
   * module or a local file it loads), not Cellar's runtime or a package bundled beside them.
   */
  local: boolean;
}

/**
 * A stack frame at `line`, `column` (1-based) of `file` (absolute) of a built folder, as the place
 * in the project source it came from, with that source's text: what names a failed task's cell and
 * line there (cli/failure-location.ts). Undefined when `file` is not in a built folder or its map
 * does not cover the place.
 */
export function builtFrameSource(
  file: string,
  line: number,
  column: number,
): BuiltFrameSource | undefined {
  const folder = builtFolder(dirname(file));
  return folder ? (mappedFrame(folder, file, line, column) ?? undefined) : undefined;
}

function mappedFrame(
  folder: BuiltFolder,
  file: string,
  line: number,
  column: number,
): BuiltFrameSource | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  if (!map) return null;
  const entry = map.findEntry(line - 1, column - 1) as {
    originalSource?: string;
    originalLine?: number;
    originalColumn?: number;
  };
  if (entry.originalSource === undefined) return null;
  // Sources are relative to the chunk's folder, as is the build's root: both resolved from where
  // the folder lies now give the source's path from the project root, wherever the folder moved.
  const dir = dirname(file);
  const path = relative(resolve(dir, folder.root), resolve(dir, sourcePath(entry.originalSource)))
    .split(sep)
    .join('/');
  const index = map.payload.sources.indexOf(entry.originalSource);
  return {
    path,
    line: (entry.originalLine ?? 0) + 1,
    column: (entry.originalColumn ?? 0) + 1,
    text: index >= 0 ? (map.payload.sourcesContent?.[index] ?? undefined) : undefined,
    local: folder.modules.has(path),
  };
}

/**
 * A map's source as a file path: esbuild writes sources as URLs relative to the map, percent-
 * encoding what a URL cannot hold (`generated/My Odd-Name %3Cx%3E&y/t.ts` for `<x>`), so the path
 * is the decoded text (a `%` in a name is written `%25`). Without it, a notebook named with `<`
 * matched no task folder and its failures lost their line.
 */
function sourcePath(source: string): string {
  try {
    return decodeURIComponent(source);
  } catch {
    return source;
  }
}

function builtFolder(dir: string): BuiltFolder | null {
  let folder = folders.get(dir);
  if (folder !== undefined) return folder;
  folder = null;
  const manifestFile = `${dir}${sep}manifest.json`;
  if (existsSync(manifestFile)) {
    try {
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
        format?: unknown;
        root?: unknown;
        fingerprints?: Record<string, { files?: Record<string, string> }>;
      };
      if (manifest.format === 1 && typeof manifest.root === 'string' && manifest.fingerprints)
        folder = { root: manifest.root, modules: localModules(manifest.fingerprints) };
    } catch {
      folder = null;
    }
  }
  folders.set(dir, folder);
  return folder;
}

/** Every task module of the build and every local file its fingerprint names, from the root. */
function localModules(
  fingerprints: Record<string, { files?: Record<string, string> }>,
): Set<string> {
  const out = new Set<string>();
  for (const [url, fp] of Object.entries(fingerprints)) {
    if (!url.startsWith(BUILT_MODULE_SCHEME)) continue;
    const path = url.slice(BUILT_MODULE_SCHEME.length);
    out.add(path);
    for (const f of Object.keys(fp.files ?? {}))
      if (!f.startsWith('<')) out.add(posix.normalize(posix.join(posix.dirname(path), f)));
  }
  return out;
}
