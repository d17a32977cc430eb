// A module URL as a file path. Apart from the code hasher (codehash.ts, which re-exports it) so
// that what needs only this (the workspace rule, on every warm `cellar run`) does not load the
// hasher.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The scheme of module URLs inside a built bundle (`cellar-build:generated/x/task.ts`). */
export const BUILT_MODULE_SCHEME = 'cellar-build:';

/**
 * `Symbol.for` of this names, on `globalThis`, a function giving the run's working folder
 * (absolute), asked outside the read recorder (read-record.ts sets it as it installs): a module
 * `cellar build` bundled is located there (cli/build/build.ts `withBuiltImportMeta`), and the
 * recorder's `process.cwd` would key the task on the workdir where the source run does not.
 */
export const WORKING_FOLDER_KEY = 'cellar.workingFolder';

/**
 * A worker thread's script named statically, the form Node documents: `new URL('<path>',
 * import.meta.url)` (the regex source; the `path` group is the literal). One pattern, so what the
 * code hasher keys as a worker's code (codehash.ts `withWorkerScripts`) is what `cellar build`
 * bundles as one (cli/build/build.ts `withBuiltImportMeta`).
 */
export const WORKER_SCRIPT_URL = String.raw`new\s+URL\s*\(\s*(?<quote>['"\`])(?<path>[^'"\`$\n]+)\k<quote>\s*,\s*import\.meta\.url\s*\)`;

const paths = new Map<string, string>();

/** Strip tsx's `?tsx-namespace=…` (and any other query) and turn a module URL into a path. */
export function modulePath(moduleUrl: string): string {
  let path = paths.get(moduleUrl);
  if (path === undefined) {
    const clean = moduleUrl.replace(/[?#].*$/, '');
    path = clean.startsWith('file:') ? fileURLToPath(clean) : clean;
    paths.set(moduleUrl, path);
  }
  return path;
}

/**
 * A module URL as the file it is in the project at `root` (absolute): a built bundle's
 * `cellar-build:<path from the project root>` (cli/build/build.ts) as that path under `root`, so
 * a built run names a module's file as a run from the sources does; any other URL as `modulePath`.
 */
export function moduleFileIn(root: string, moduleUrl: string): string {
  return moduleUrl.startsWith(BUILT_MODULE_SCHEME)
    ? join(root, moduleUrl.slice(BUILT_MODULE_SCHEME.length))
    : modulePath(moduleUrl);
}
