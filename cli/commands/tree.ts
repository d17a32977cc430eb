// `cellar tree <pipeline> [task]`: the dependency tree with each task's status, key, params,
// output files (with their schema) and last duration — gokart's `make_tree_info`. Runs nothing.
// Each task is drawn under the first task that needs it; later mentions say "(shown above)", so
// wide DAGs stay readable.
import { formatDuration, describeSchema, describeStale } from '../../runtime/run/summary.js';
import { lastRuns, type LastRun } from '../../runtime/run/last-run.js';
import type { Manifest, PlanEntry } from '../../runtime/types.js';
import { CliError, EXIT } from '../errors.js';
import { INSPECT_OPTIONS, openForInspection, unknownTask } from '../pipeline-args.js';
import { defineCommand, type CommandInput } from '../command.js';

const USAGE = `usage: cellar tree <pipeline.ts|notebook.ipynb> [task] [options]

Print the dependency tree with each task's status, cache key, params, output files (with their
schema) and last duration. Runs nothing.

  --param k=v        the params to show the tree for (repeatable)
  --json             print one JSON object
  --workspace DIR    where outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --workdir DIR      the folder the run's tasks ran in (--workdir of cellar run): a task reading
                     data by path is keyed on it`;

export const run = defineCommand({ usage: USAGE, options: INSPECT_OPTIONS, run: printTree });

async function printTree({
  values,
  positionals,
}: CommandInput<typeof INSPECT_OPTIONS>): Promise<number> {
  const { pipeline, prepared } = await openForInspection(
    { values, positionals },
    { usage: USAGE, required: [], reasons: true },
  );
  const taskName = positionals[1];
  const { graph, plan, options } = prepared;
  if (taskName && !graph.byName.has(taskName)) throw unknownTask(taskName, prepared);
  const entries = new Map(plan.entries.map((e) => [e.name, e]));
  // A task whose last run failed (or was left out by a failure) has no stored result: say what
  // happened to it, not "never run". Only tasks that are not complete are looked up.
  const lastRun = lastRuns(options.store, plan);
  const manifests = new Map<string, Manifest | undefined>();
  for (const node of graph.nodes) {
    const key = entries.get(node.name)!.key.value;
    manifests.set(
      node.name,
      (await options.store.readManifest(node.name, key)) ??
        (await options.store.latestManifest(node.name)),
    );
  }

  if (values.json) {
    const tasks = graph.nodes.map((n) => {
      const e = entries.get(n.name)!;
      const m = manifests.get(n.name);
      const current = m?.key === e.key.value;
      return {
        name: n.name,
        status: e.action === 'cached' ? 'complete' : 'pending',
        key: e.key.value,
        params: n.params,
        upstream: n.upstream,
        outputs: current
          ? Object.fromEntries(
              Object.entries(m!.outputs).map(([k, o]) => [
                k,
                {
                  path: options.store.outputPath(n.name, o.file),
                  codec: o.codec,
                  schema: o.schema,
                },
              ]),
            )
          : {},
        durationMs: m?.durationMs ?? null,
        ...(lastRun.has(n.name) ? { lastRun: lastRun.get(n.name) } : {}),
      };
    });
    console.log(
      JSON.stringify({ pipeline: pipeline.name, workspace: options.workspace, tasks }, null, 2),
    );
    return EXIT.ok;
  }

  const roots = taskName
    ? [taskName]
    : graph.nodes.filter((n) => n.downstream.length === 0).map((n) => n.name);
  const shown = new Set<string>();
  const lines: string[] = [];
  const draw = (name: string, prefix: string, last: boolean, top: boolean) => {
    const e = entries.get(name)!;
    const node = graph.byName.get(name)!;
    const branch = top ? '' : last ? '└─ ' : '├─ ';
    const status =
      e.action === 'cached'
        ? 'COMPLETE'
        : lastRun.get(name)?.kind === 'failed'
          ? 'FAILED'
          : lastRun.get(name)?.kind === 'running'
            ? 'RUNNING'
            : 'PENDING';
    if (shown.has(name)) {
      lines.push(`${prefix}${branch}(${status}) ${name}[${e.key.value}] (shown above)`);
      return;
    }
    shown.add(name);
    lines.push(`${prefix}${branch}(${status}) ${name}[${e.key.value}]`);
    const inner = top ? prefix : prefix + (last ? '   ' : '│  ');
    const bar = node.upstream.length > 0 ? '│  ' : '   ';
    for (const line of details(e, node.params, manifests.get(name), lastRun.get(name), (f) =>
      options.store.outputPath(name, f),
    ))
      lines.push(`${inner}${bar}${line}`);
    node.upstream.forEach((up, i) => draw(up, inner, i === node.upstream.length - 1, false));
  };
  for (const root of roots) draw(root, '', true, true);
  console.log(lines.join('\n'));
  return EXIT.ok;
}

function details(
  e: PlanEntry,
  params: Record<string, unknown>,
  m: Manifest | undefined,
  last: LastRun | undefined,
  path: (file: string) => string,
): string[] {
  const out: string[] = [];
  if (Object.keys(params).length > 0) out.push(`params: ${JSON.stringify(params)}`);
  const current = m && m.key === e.key.value;
  if (current) {
    for (const [name, o] of Object.entries(m.outputs))
      out.push(`${name}: ${path(o.file)} (${describeSchema(o.schema, o.codec)})`);
    out.push(`ran in ${formatDuration(m.durationMs)} at ${m.finishedAt}`);
  } else {
    out.push(
      `stale: ${describeStale(e.reason, last, e.key.value)}${m ? `; last stored run took ${formatDuration(m.durationMs)}` : ''}`,
    );
  }
  return out;
}
