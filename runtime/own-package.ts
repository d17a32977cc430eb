// The Cellar package this code belongs to (its sources under runtime/, or its build under
// dist/): its folder, its version and its built entry. A task's 'cellar' import is mapped to it
// where the task's folder does not resolve one (load/bundle.ts), and its version is then keyed
// (key/codehash.ts); `cellar --version` prints it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/index.js of the cellar package this module belongs to (source or built), if built. */
export function runningRuntimeEntry(): string | undefined {
  const dir = cellarPackageDir();
  if (!dir) return undefined;
  const entry = join(dir, 'dist', 'index.js');
  return existsSync(entry) ? entry : undefined;
}

/**
 * The version (package.json `version`) of the cellar package this module belongs to: the
 * runtime a task's 'cellar' is mapped to where its folder does not resolve one. Undefined when
 * that package.json is missing or unreadable.
 */
export function runningCellarVersion(): string | undefined {
  const dir = cellarPackageDir();
  if (!dir) return undefined;
  try {
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

let packageDir: string | null | undefined;

/** The folder of the cellar package this module belongs to (source or built). */
export function cellarPackageDir(): string | undefined {
  if (packageDir !== undefined) return packageDir ?? undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cellar')
          return (packageDir = dir);
      } catch {
        // unreadable: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      packageDir = null;
      return undefined;
    }
    dir = parent;
  }
}
