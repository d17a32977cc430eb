// Stage 3 of a run: `planRun` decides, for every node, whether it is cached, will run, or is
// not run, and why. Pure: the facts it needs about the store (which keys are done, which cached
// results a hook rejected, the previous key inputs of stale tasks) are gathered beforehand by
// `probeStore`, so `--dry-run` and the real run see one and the same plan.
import { diffKeyInputs } from '../key/hash.js';
import { hooksFor } from './hooks.js';
import type { Store } from '../store/store.js';
import type { CacheKey, KeyInputs, PlanEntry, PlanReason, RunPlan, TaskGraph } from '../types.js';

export interface StoreFacts {
  done: Set<string>;
  /** Task → the hook that says its cached result is no longer usable. */
  invalid: Map<string, string>;
  /** Task → its most recent key inputs, for tasks that are not done. */
  previous: Map<string, { key: string; inputs: KeyInputs }>;
}

export interface PlanOptions {
  /** Tasks forced to run, with the selector that forced them (`--rerun`). */
  rerun: Map<string, string>;
  /** When set, only these tasks (and what they need) are considered; the rest are not run. */
  only?: Set<string>;
}

export function planRun(graph: TaskGraph, keys: Map<string, CacheKey>, facts: StoreFacts, options: PlanOptions): RunPlan {
  const entries: PlanEntry[] = graph.nodes.map((node) => {
    const key = keys.get(node.name)!;
    const entry = (action: PlanEntry['action'], reason: PlanReason): PlanEntry => ({ name: node.name, action, key, reason });
    if (options.only && !options.only.has(node.name)) return entry('not-run', { kind: 'not-requested' });
    const selector = options.rerun.get(node.name);
    if (selector !== undefined) return entry('run', selector === node.name ? { kind: 'rerun-flag' } : { kind: 'rerun-selector', selector });
    if (node.task.rerun) return entry('run', { kind: 'rerun-flag' });
    if (facts.done.has(node.name)) {
      const hook = facts.invalid.get(node.name);
      return hook ? entry('run', { kind: 'cache-invalid', hook }) : entry('cached', { kind: 'cached' });
    }
    const prev = facts.previous.get(node.name);
    if (!prev) return entry('run', { kind: 'never-run' });
    return entry('run', { kind: 'inputs-changed', previousKey: prev.key, changes: diffKeyInputs(prev.inputs, key.inputs) });
  });
  return { entries };
}

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
  for (const node of graph.nodes) {
    const key = keys.get(node.name)!;
    if (store.isDone(node.name, key.value)) {
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
