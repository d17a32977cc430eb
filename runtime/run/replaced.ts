// A forced task (`//| rerun`, `--rerun`, a cached result a hook rejected) runs under a key that
// may already hold a result, and replaces it: a downstream key names the upstream's KEY, which
// did not move, so every stored downstream result computed from the replaced output would still
// be served. `dropStaleDownstream` removes those results (every key variant, transitively) when
// the new output differs from the old one by content; an unchanged output keeps them all.
// docs/design/cache-key.md, "Forced re-runs", says why this and not output-digest keys.
import type { Store } from '../store/store.js';
import type { Manifest, TaskGraph } from '../types.js';

/** Whether two manifests of one task+key hold the same outputs, byte for byte (by digest). */
export function sameOutputs(before: Manifest, after: Manifest): boolean {
  const names = Object.keys(after.outputs);
  if (names.length !== Object.keys(before.outputs).length) return false;
  for (const name of names) {
    const a = before.outputs[name]?.digest;
    const b = after.outputs[name]!.digest;
    // A manifest written before digests existed: unknown, so treated as changed.
    if (a === undefined || b === undefined || a !== b) return false;
  }
  return true;
}

/**
 * After `replaced` (task+key) was stored over `previous`: when the outputs differ, drops every
 * stored result of a downstream task whose key names `replaced`'s key, then those computed from
 * the dropped ones, down the graph. Reads each downstream task's manifests once (a forced run is
 * rare: a normal run pays nothing).
 *
 * @returns the dropped results as `task@key`, in the order dropped (empty when outputs are equal).
 * @throws what the store throws listing or dropping manifests.
 */
export async function dropStaleDownstream(
  store: Store,
  graph: TaskGraph,
  previous: Manifest | undefined,
  replaced: Manifest,
): Promise<string[]> {
  if (!previous || sameOutputs(previous, replaced)) return [];
  const dropped: string[] = [];
  const stored = new Map<string, Manifest[]>();
  const manifestsOf = async (task: string) => {
    let list = stored.get(task);
    if (!list) {
      list = await store.recentManifests(task, Number.MAX_SAFE_INTEGER);
      stored.set(task, list);
    }
    return list;
  };
  const queue: { task: string; key: string }[] = [{ task: replaced.task, key: replaced.key }];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const { task, key } = queue.shift()!;
    for (const down of graph.byName.get(task)?.downstream ?? []) {
      for (const m of await manifestsOf(down)) {
        if (m.inputs.upstream?.[task] !== key) continue;
        const id = `${down}@${m.key}`;
        if (seen.has(id)) continue;
        seen.add(id);
        await store.dropManifest(down, m.key);
        dropped.push(id);
        queue.push({ task: down, key: m.key });
      }
    }
  }
  return dropped;
}
