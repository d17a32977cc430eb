// The names a store keeps for itself beside the task folders of a pipeline
// (`<workspace>/<pipeline>/`, or `<prefix>/<pipeline>/` on Cloud Storage): a task of the same name
// would have its folder collide with them. A tester's finding: `//| task: _source.json` compiled
// and failed at run time with a raw ENOTDIR, and `//| task: _runs` stored its outputs among the
// run logs. Compared without case: on macOS and Windows `_RUNS` is the same folder. Pure (no
// imports), so the compiler may refuse the same names at the directive.

/** `_runs/`: one log per run; `_source.json`: the notebook the pipeline folder belongs to. */
export const STORE_OWN_NAMES: readonly string[] = ['_runs', '_source.json'];

/** Why `task` cannot name a task folder, or undefined when it can. */
export function storeOwnName(task: string): string | undefined {
  const own = STORE_OWN_NAMES.find((n) => n === task.toLowerCase());
  if (own === undefined) return undefined;
  return own === '_runs'
    ? 'the store keeps its run logs in the folder `_runs` beside the task folders'
    : 'the store keeps the file `_source.json` (the notebook the pipeline belongs to) beside the task folders';
}
