// Between keys and plan: `probeStore` reads what `planRun` needs from the store (which keys are
// done, which cached results a task hook rejects, the previous key inputs of stale tasks), so the
// plan itself stays pure and `--dry-run` and the real run see one and the same facts.
import { hooksFor } from './hooks.js';
import type { StoreFacts } from './plan.js';
import type { Store } from '../store/store.js';
import type { CacheKey, TaskGraph } from '../types.js';

/** Read what planRun needs from the store: done markers, hook validity, previous key inputs. */
export async function probeStore(graph: TaskGraph, keys: Map<string, CacheKey>, store: Store, options: { reasons: boolean }): Promise<StoreFacts> {
  const facts: StoreFacts = { done: new Set(), invalid: new Map(), previous: new Map() };
  // Built only when a hook asks (warehouse tasks): a run of plain tasks never needs it.
  let keysByTask: Record<string, string> | undefined;
  const allKeys = () => {
    if (!keysByTask) {
      keysByTask = {};
      for (const [name, key] of keys) keysByTask[name] = key.value;
    }
    return keysByTask;
  };
  // One listing of the store: a task with no folder has no manifest under any key, so it is
  // neither done nor has a previous key, without two failed lookups (100k tasks: 200k stats).
  // Names with a path separator map to nested folders: those are probed one by one as before.
  const stored = store.storedTasks?.();
  for (const node of graph.nodes) {
    if (stored && !stored.has(node.name) && !/[\\/]/.test(node.name)) continue;
    const key = keys.get(node.name)!;
    // A local store answers synchronously: no await (and no microtask) per task on the warm path.
    const done = store.isDone(node.name, key.value);
    if (done === true || (done !== false && (await done))) {
      facts.done.add(node.name);
      for (const hook of hooksFor(node.task)) {
        if (!hook.isCachedValid) continue;
        const ctx = { params: node.params, upstreamKeys: key.inputs.upstream, key: key.value, keysByTask: allKeys() };
        if (!(await hook.isCachedValid(node.task, ctx))) {
          facts.invalid.set(node.name, hook.name);
          break;
        }
      }
    } else if (options.reasons) {
      const latest = await store.latestManifest(node.name);
      if (latest) facts.previous.set(node.name, { key: latest.key, inputs: latest.inputs });
    }
  }
  return facts;
}
