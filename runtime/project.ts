// The project root: the one rule every part of the runtime uses to find "the project" — the
// workspace (store/workspace.ts), the pipeline bundle cache (load/bundle.ts), a task's notebook
// (load/source.ts) and the warehouse file (warehouse/config.ts). compiler/host.ts applies the
// same rule for generated/ (the compiler may not import the runtime, so it keeps a copy).
//
//   1. $CELLAR_PROJECT_ROOT, when set (resolved from the current directory);
//   2. else the nearest folder at or above `from` holding `cellar.config.json`;
//   3. else the nearest one holding `package.json`;
//   4. else `from` itself.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The file that marks a Cellar project (and holds its warehouse settings). */
export const CONFIG_FILE = 'cellar.config.json';

/** The project folder for a path inside it (see the rule above). `env` is a parameter for tests. */
export function findProjectRoot(from: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.CELLAR_PROJECT_ROOT) return resolve(env.CELLAR_PROJECT_ROOT);
  let fallback: string | undefined;
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, CONFIG_FILE))) return dir;
    if (fallback === undefined && existsSync(join(dir, 'package.json'))) fallback = dir;
    if (dirname(dir) === dir) return fallback ?? resolve(from);
  }
}

/** The nearest folder at or above `from` holding a package.json (else `from`): a package's own
 *  folder (e.g. Cellar's, from one of its modules), which no project setting moves. */
export function findPackageRoot(from: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from);
  }
}

/**
 * The version of package `name` as Node would load it from `fromDir`: the nearest
 * `node_modules/<name>/package.json` at or above it, or the package itself when a package.json
 * on the way is `name` (a package importing itself by name, as generated code imports 'cellar'
 * in this repository). `'unknown'` when that package.json has no version; undefined when the
 * package is installed nowhere above `fromDir`. Used by the code hash (each imported package's
 * version is in a task's key) and by `cellar build` (the versions a built folder installs).
 */
export function installedPackageVersion(fromDir: string, name: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest))
      return (
        (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? 'unknown'
      );
    const own = join(dir, 'package.json');
    if (existsSync(own)) {
      try {
        const pkg = JSON.parse(readFileSync(own, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? 'unknown';
      } catch {
        // not a readable package.json: keep walking
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The files `installedPackageVersion(fromDir, name)` decides by: `read`, every package.json it
 * reads (the one that answers, and each project package.json it passes whose name is not
 * `name`), and `absent`, every package.json it looks for that is not there.
 * While each file read has the same content and each absent one stays absent, the answer is the
 * same (the warm-run record, run/warm-record.ts, checks them instead of asking again).
 */
export function packageVersionEvidence(
  fromDir: string,
  name: string,
): { read: string[]; absent: string[] } {
  const read: string[] = [];
  const absent: string[] = [];
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(manifest)) {
      read.push(manifest);
      return { read, absent };
    }
    absent.push(manifest);
    const own = join(dir, 'package.json');
    if (existsSync(own)) {
      read.push(own);
      try {
        if ((JSON.parse(readFileSync(own, 'utf8')) as { name?: string }).name === name)
          return { read, absent };
      } catch {
        // not a readable package.json: keep walking, as installedPackageVersion does
      }
    } else absent.push(own);
    if (dirname(dir) === dir) return { read, absent };
  }
}

/**
 * The folders of Cellar's own code (built `dist/`, sources `runtime/` and `cli/`), each ending in
 * a separator: what it loads or imports is not a pipeline's. Folders, not the package root: a
 * project may live inside the package's folder (its tests' projects do).
 */
export const CELLAR_CODE_DIRS: readonly string[] = ((root) =>
  ['dist', 'runtime', 'cli'].map((d) => join(root, d) + sep))(cellarRoot());

/** Cellar's own package.json (its version, its `imports`): Cellar's file, never a pipeline's. */
const CELLAR_PACKAGE_JSON = join(cellarRoot(), 'package.json');

/** Is `abs` (an absolute path) a file of Cellar itself: its code folders or its package.json? */
export function isCellarOwnFile(abs: string): boolean {
  return abs === CELLAR_PACKAGE_JSON || CELLAR_CODE_DIRS.some((dir) => abs.startsWith(dir));
}

/**
 * Cellar's package folder, from this module's own place: `<root>/dist/<chunk>.js` built,
 * `<root>/runtime/project.ts` from sources. Named without touching the file system: this module
 * may first be evaluated while a pipeline loads, whose reads are recorded (run/read-record.ts),
 * and Cellar's own probes of its package.json made every compiled notebook's load look like it
 * read files, so no warm-run record was ever written (warm-facts.ts).
 */
function cellarRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const folder = here.slice(here.lastIndexOf(sep) + 1);
  return folder === 'dist' || folder === 'runtime' ? dirname(here) : findPackageRoot(here);
}
