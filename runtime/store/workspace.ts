// Where the local store lives. One rule, used by `cellar run`, `cellar show`, `load()` alike:
// an explicit path (`--workspace`), else $CELLAR_WORKSPACE, else `<project>/.cellar/workspace`,
// where <project> is the project root (runtime/project.ts: $CELLAR_PROJECT_ROOT, else the nearest
// cellar.config.json or package.json) above the pipeline (or the task's module, or the current directory). Relative paths resolve from the current directory.
import { statSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { CellarError } from '../errors.js';
import { modulePath } from '../key/module-path.js';
import { findProjectRoot } from '../project.js';
import type { AnyTask } from '../task.js';

export function resolveWorkspace(options: { explicit?: string; near?: string }): string {
  if (options.explicit) return folderOnly(resolve(options.explicit), '--workspace');
  const env = process.env.CELLAR_WORKSPACE;
  if (env) return folderOnly(resolve(env), 'CELLAR_WORKSPACE');
  return resolve(findProjectRoot(options.near ?? process.cwd()), '.cellar', 'workspace');
}

/**
 * `dir`, unless a file is there: every later write (a code-hash memo, a task folder) would fail
 * with a raw ENOTDIR (a tester's `--workspace afile`: E_UNEXPECTED from run and show alike).
 * @throws CellarError E_WORKSPACE_WRITE naming where the workspace was set and the path
 */
function folderOnly(dir: string, from: string): string {
  let file = false;
  try {
    file = !statSync(dir).isDirectory();
  } catch {
    // not there yet: made when first written
  }
  if (file)
    throw new CellarError(
      `the workspace ${dir} (${from}) is a file, not a folder: give a folder (it is made if missing)`,
      'E_WORKSPACE_WRITE',
    );
  return dir;
}

/** The folder a task's module lives in (for finding its project), or the current directory. */
export function taskDir(task: AnyTask): string {
  return task.module ? dirname(modulePath(task.module)) : process.cwd();
}
