// `cellar run --dry-run`: what the tasks that would run cost in the warehouse, before anything
// runs. Asks each task's hooks for an `estimate` (the warehouse dry-runs the task's SQL) and
// formats the answers for the plan printout. Kept here, not in the CLI, so the CLI change is two
// lines and the logic is tested with the warehouse.
import { hooksFor } from '../../run/hooks.js';
import type { TaskGraph, RunPlan } from '../../types.js';
import { DUCKDB_NOTE, type TaskEstimate } from './hooks.js';

export interface PlanEstimate extends TaskEstimate {
  task: string;
}

export async function estimatePlan(graph: TaskGraph, plan: RunPlan): Promise<PlanEstimate[]> {
  // Built only when a hook estimates (warehouse tasks): a dry run of 100k plain tasks skips it.
  let keysByTask: Record<string, string> | undefined;
  const out: PlanEstimate[] = [];
  const entries = plan.entries;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.action !== 'run') continue;
    // The plan lists the graph's nodes in their order (planRun): the node by index, no name lookup.
    const at = graph.nodes[i];
    const node = at !== undefined && at.name === entry.name ? at : graph.byName.get(entry.name);
    if (!node) continue;
    for (const hook of hooksFor(node.task)) {
      if (!hook.estimate) continue;
      const keys = (keysByTask ??= Object.fromEntries(
        plan.entries.map((e) => [e.name, e.key.value]),
      ));
      const upstreamKeys = Object.fromEntries(node.upstream.map((u) => [u, keys[u] ?? '']));
      const est = await hook.estimate(node.task, {
        params: node.params,
        upstreamKeys,
        key: entry.key.value,
        keysByTask: keys,
      });
      out.push({ task: entry.name, ...est });
    }
  }
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) ((v /= 1000), i++);
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Lines to print under the plan: bytes per task and the total. */
export function formatEstimates(estimates: PlanEstimate[]): string {
  // On DuckDB there is nothing to say: it does not bill by bytes.
  if (estimates.every((e) => e.note === DUCKDB_NOTE)) return '';
  const width = Math.max(...estimates.map((e) => e.task.length));
  const lines = ['Warehouse dry run (bytes each task would process):'];
  let total = 0;
  for (const e of estimates) {
    if (e.bytes !== null) total += e.bytes;
    lines.push(
      `  ${e.task.padEnd(width)}  ${e.bytes === null ? `unknown (${e.note ?? 'no estimate'})` : `${formatBytes(e.bytes)} in ${e.queries} quer${e.queries === 1 ? 'y' : 'ies'}`}`,
    );
  }
  lines.push(
    `  ${'total'.padEnd(width)}  ${formatBytes(total)}${estimates.some((e) => e.bytes === null) ? ' (plus the unknown ones)' : ''}`,
  );
  return lines.join('\n');
}
