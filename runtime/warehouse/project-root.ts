// The project whose warehouse a run uses: its `cellar.config.json` and its DuckDB file.
//
// A run computes its keys (the warehouse's table versions among them) before it moves to the
// pipeline's workdir, and its tasks query after: each found "the project" from the working folder,
// so a run started from another folder keyed against one warehouse (a DuckDB file made there,
// never seeded; or a local DuckDB for a BigQuery project) and ran against another. The run names
// its project here (runtime/run/run.ts, and each worker thread it starts), and the warehouse
// session (session.ts) reads its settings from that project. A leaf module, so naming the project
// does not load the warehouse.

let root: string | undefined;
const listeners = new Set<(root: string) => void>();

/** Use the warehouse of the project at `root` (absolute) from now on in this thread. */
export function useProjectWarehouse(projectRoot: string): void {
  if (root === projectRoot) return;
  root = projectRoot;
  for (const listener of listeners) listener(projectRoot);
}

/** The project a run named, or undefined (then the working folder's project: notebooks, scripts). */
export function warehouseProjectRoot(): string | undefined {
  return root;
}

/** Call `listener` whenever the project changes (session.ts drops a warehouse of another project). */
export function onWarehouseProjectChange(listener: (root: string) => void): void {
  listeners.add(listener);
}
