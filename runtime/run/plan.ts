// Stage 3 of a run: `planRun` decides, for every node, whether it is cached, will run, or is
// not run, and why. Pure: the facts it needs about the store (which keys are done, which cached
// results a hook rejected, the previous key inputs of stale tasks) are gathered beforehand by
// `probeStore` (probe.ts), so `--dry-run` and the real run see one and the same plan.
import { diffKeyInputs } from '../key/hash.js';
import type { CacheKey, KeyInputs, PlanEntry, PlanReason, RunPlan, TaskGraph } from '../types.js';

export interface StoreFacts {
  done: Set<string>;
  /** Task → the hook that says its cached result is no longer usable. */
  invalid: Map<string, string>;
  /**
   * Task → a file its cached run wrote outside its outputs that is missing or holds something else
   * now (probe.ts): the result is not served, the task re-runs and writes it again.
   */
  writtenMoved?: Map<string, { path: string; missing: boolean }>;
  /**
   * Task → the first of its stored outputs whose file is gone while its manifest stays, or is not
   * what its run wrote (`damaged`: what differs) (probe.ts, for stores that can tell:
   * `Store.missingOutput`): the result is not complete, the task re-runs.
   */
  outputMissing?: Map<string, { output: string; file: string; damaged?: string }>;
  /** Task → its most recent key inputs, for tasks that are not done. */
  previous: Map<string, { key: string; inputs: KeyInputs }>;
}

export interface PlanOptions {
  /** Tasks forced to run, with the selector that forced them (`--rerun`). */
  rerun: Map<string, string>;
  /** When set, only these tasks (and what they need) are considered; the rest are not run. */
  only?: Set<string>;
}

export function planRun(
  graph: TaskGraph,
  keys: Map<string, CacheKey>,
  facts: StoreFacts,
  options: PlanOptions,
): RunPlan {
  // A forced task may store another output under its unchanged key: what is cached downstream of
  // it was computed from the old one. Nodes are topological, so an upstream is decided first.
  const forcedBy = new Map<string, string>();
  // One closure for the plan, not one per node (100k nodes made 100k).
  let node: TaskGraph['nodes'][number];
  let key: CacheKey;
  const entry = (action: PlanEntry['action'], reason: PlanReason): PlanEntry => {
    if (action === 'run') {
      const by = reason.kind === 'upstream-forced' ? reason.task : forced(reason) && node.name;
      if (by) forcedBy.set(node.name, by);
    }
    return { name: node.name, action, key, reason };
  };
  const entries: PlanEntry[] = graph.nodes.map((n) => {
    node = n;
    key = keys.get(node.name)!;
    if (options.only && !options.only.has(node.name)) return entry('not-run', NOT_REQUESTED);
    const selector = options.rerun.get(node.name);
    if (selector !== undefined)
      return entry(
        'run',
        selector === node.name ? { kind: 'rerun-flag' } : { kind: 'rerun-selector', selector },
      );
    if (node.task.rerun) return entry('run', { kind: 'rerun-flag' });
    if (facts.done.has(node.name)) {
      const gone = facts.outputMissing?.get(node.name);
      if (gone)
        return entry(
          'run',
          gone.damaged
            ? { kind: 'output-damaged', output: gone.output, file: gone.file, found: gone.damaged }
            : { kind: 'output-missing', output: gone.output, file: gone.file },
        );
      const moved = facts.writtenMoved?.get(node.name);
      if (moved) return entry('run', { kind: 'written-changed', ...moved });
      const hook = facts.invalid.get(node.name);
      if (hook) return entry('run', { kind: 'cache-invalid', hook });
      const via = forcedBy.size === 0 ? undefined : node.upstream.find((u) => forcedBy.has(u));
      if (via === undefined) return entry('cached', CACHED);
      const by = forcedBy.get(via)!;
      return entry('run', { kind: 'upstream-forced', task: by, ...(via !== by ? { via } : {}) });
    }
    const prev = facts.previous.get(node.name);
    if (!prev) return entry('run', NEVER_RUN);
    return entry('run', {
      kind: 'inputs-changed',
      previousKey: prev.key,
      changes: diffKeyInputs(prev.inputs, key.inputs),
    });
  });
  return { entries };
}

/** The reasons that carry nothing but their kind: one frozen record each, shared by every entry. */
const NEVER_RUN: PlanReason = Object.freeze({ kind: 'never-run' });
const CACHED: PlanReason = Object.freeze({ kind: 'cached' });
const NOT_REQUESTED: PlanReason = Object.freeze({ kind: 'not-requested' });

/** Whether a task runs under a key that may already hold a result, which it then replaces. */
export function forced(reason: PlanReason): boolean {
  return (
    reason.kind === 'rerun-flag' ||
    reason.kind === 'rerun-selector' ||
    reason.kind === 'cache-invalid' ||
    reason.kind === 'written-changed' ||
    reason.kind === 'output-missing' ||
    reason.kind === 'output-damaged' ||
    reason.kind === 'upstream-remade'
  );
}

/**
 * What a plan entry comes to, as `--dry-run` (text and `--json`) and the run's opening line say
 * it. `may-run`: planned only because a task upstream is forced (`upstream-forced`); it runs
 * only if that task's new output differs from the stored one and is served cached otherwise
 * (execute.ts), so counting it among the tasks that run overstates the run.
 */
export type PlanOutlook = 'run' | 'may-run' | 'cached' | 'not-run';

export function planOutlook(e: PlanEntry): PlanOutlook {
  return e.action === 'run' && e.reason.kind === 'upstream-forced' ? 'may-run' : e.action;
}

/**
 * The plan's tasks counted by outlook. `mayRun.forced`: the tasks forced this run (plan order),
 * whose new outputs decide whether the `may-run` tasks run; all of them, not the one each
 * `upstream-forced` reason names, since a task below two forced tasks runs if either output
 * changes and its reason names the first.
 */
export function countPlan(plan: RunPlan): {
  run: number;
  mayRun: { count: number; forced: string[] };
  cached: number;
  notRun: number;
} {
  let run = 0;
  let cached = 0;
  let notRun = 0;
  let maybe = 0;
  const forcedTasks: string[] = [];
  for (const e of plan.entries) {
    if (e.action === 'run' && forced(e.reason)) forcedTasks.push(e.name);
    const outlook = planOutlook(e);
    if (outlook === 'may-run') maybe++;
    else if (outlook === 'run') run++;
    else if (outlook === 'cached') cached++;
    else notRun++;
  }
  return { run, mayRun: { count: maybe, forced: maybe > 0 ? forcedTasks : [] }, cached, notRun };
}
