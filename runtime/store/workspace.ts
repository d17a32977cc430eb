// Where the local store lives. One rule, used by `cellar run`, `cellar show`, `load()` alike:
// an explicit path (`--workspace`), else $CELLAR_WORKSPACE, else `<project>/.cellar/workspace`,
// where <project> is the project root (runtime/project.ts: $CELLAR_PROJECT_ROOT, else the nearest
// cellar.config.json or package.json) above the pipeline (or the task's module, or the current directory). Relative paths resolve from the current directory.
import { resolve, dirname } from 'node:path';
import { modulePath } from '../key/module-path.js';
import { findProjectRoot } from '../project.js';
import type { AnyTask } from '../task.js';

export function resolveWorkspace(options: { explicit?: string; near?: string }): string {
  if (options.explicit) return resolve(options.explicit);
  const env = process.env.CELLAR_WORKSPACE;
  if (env) return resolve(env);
  return resolve(findProjectRoot(options.near ?? process.cwd()), '.cellar', 'workspace');
}

/** The folder a task's module lives in (for finding its project), or the current directory. */
export function taskDir(task: AnyTask): string {
  return task.module ? dirname(modulePath(task.module)) : process.cwd();
}
