// The packages a package loads in turn: its installed dependencies, transitively.
//
// A task's key holds the version (and entry files) of each package its code imports
// (codehash.ts). The code of those packages' own dependencies runs too, so `npm update` bumping
// a dependency of a dependency (`ml-array-rescale` → `ml-array-max` 2.0.0 → 2.0.1) changes what
// the task computes while every version the key named stays the same. The closure is resolved as
// Node resolves it (from each package's real folder up through the `node_modules` folders above
// it), by each package.json's `dependencies`, `optionalDependencies` and `peerDependencies`; a
// declared dependency that is not installed counts as `name@-` (installing it later moves the
// key). Of Cellar's own tree, only the packages that compute a task's stored values are followed
// (`CELLAR_ENGINES`): a checkout keeps its version (0.1.0) through a `git pull` that upgrades
// DuckDB, and its SQL results must not be served as the new engine's.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { cellarPackageDir } from '../own-package.js';
import { sha256 } from './hash.js';

/**
 * Cellar's dependencies whose code makes or reads back a task's values: the embedded warehouse
 * engine (its native bindings are its dependencies), the SQL dialect translator, and Arrow, which
 * the table codec writes and reads outputs with. A task importing 'cellar' is keyed on their
 * installed versions, transitively; the rest of Cellar's tree (the CLI's Jupyter, Redis, Cloud
 * clients, the docs builder) computes no task's value, and following it would move every key on
 * any upgrade of them.
 */
export const CELLAR_ENGINES: readonly string[] = [
  '@duckdb/node-api',
  '@polyglot-sql/sdk',
  'apache-arrow',
];

/** A package's dependency closure, and the files that answer decided it. */
export interface DependencyClosure {
  /** `name@version` of every package reached, the package itself left out; sorted. */
  deps: string[];
  /** Every package.json read (as found, not real paths). */
  read: string[];
  /** Every package.json looked for and not found. */
  absent: string[];
}

/**
 * The installed dependency closure of package `name` as Node resolves it from `fromDir`. While
 * each file in `read` has the same content and each in `absent` stays absent, the answer is the
 * same (the warm-run record checks them, run/warm-facts.ts). Never throws: an unreadable
 * package.json counts as `name@unreadable`.
 */
export function dependencyClosure(fromDir: string, name: string): DependencyClosure {
  const read: string[] = [];
  const absent: string[] = [];
  const deps = new Set<string>();
  const seen = new Set<string>();
  let root = locate(resolve(fromDir), name, absent, read);
  // 'cellar' not installed for `fromDir` is mapped to the running runtime (load/bundle.ts): its
  // engines are the running Cellar's.
  if (!root && name === 'cellar') {
    root = cellarPackageDir();
    if (root) read.push(join(root, 'package.json'));
  }
  if (!root) return { deps: [], read, absent };
  const pending: string[] = [root];
  while (pending.length > 0) {
    const folder = pending.pop()!;
    if (seen.has(folder)) continue;
    seen.add(folder);
    const manifest = readManifest(folder);
    if (folder !== root)
      deps.add(`${manifest?.name ?? basename(folder)}@${manifest?.version ?? 'unreadable'}`);
    if (!manifest) continue;
    const names = new Set(
      name === 'cellar' && folder === root
        ? CELLAR_ENGINES
        : [
            ...Object.keys(manifest.dependencies ?? {}),
            ...Object.keys(manifest.optionalDependencies ?? {}),
            ...Object.keys(manifest.peerDependencies ?? {}),
          ],
    );
    for (const dep of [...names].sort()) {
      const found = locate(folder, dep, absent, read);
      if (found) pending.push(found);
      else deps.add(`${dep}@-`);
    }
  }
  return { deps: [...deps].sort(), read, absent };
}

interface Manifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readManifest(folder: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** The real folder of package `name` as Node finds it from `from`, noting what it looked at. */
function locate(from: string, name: string, absent: string[], read: string[]): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (basename(dir) !== 'node_modules') {
      const manifest = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(manifest)) {
        read.push(manifest);
        try {
          return realpathSync(dirname(manifest));
        } catch {
          return dirname(manifest);
        }
      }
      absent.push(manifest);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The code key's entry for the packages `name` (as installed for `fromDir`) loads in turn
 * (`files.<package-deps:name>`, codehash.ts): a hash (16 hex) of `dependencyClosure`'s `deps`,
 * or undefined when it has none.
 */
export function dependenciesHash(fromDir: string, name: string): string | undefined {
  return closureHash(dependencyClosure(fromDir, name));
}

/** `dependenciesHash` of a closure already made. */
export function closureHash({ deps }: DependencyClosure): string | undefined {
  return deps.length > 0 ? sha256(deps.join('\n')).slice(0, 16) : undefined;
}
