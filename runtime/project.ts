// The project root: the one rule every part of the runtime uses to find "the project" — the
// workspace (store/workspace.ts), the pipeline bundle cache (load/bundle.ts), a task's notebook
// (load/source.ts) and the warehouse file (warehouse/config.ts). compiler/host.ts applies the
// same rule for generated/ (the compiler may not import the runtime, so it keeps a copy).
//
//   1. $CELLAR_PROJECT_ROOT, when set (resolved from the current directory);
//   2. else the nearest folder at or above `from` holding `cellar.config.json`;
//   3. else the nearest one holding `package.json`;
//   4. else `from` itself.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

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
