// `cellar run <pipeline> [task...]`: run a compiled pipeline (or a notebook, compiled first when
// stale) as a cached DAG and print a Luigi-style summary. Exit 0 when every task ran or was
// cached, 1 when a task failed, 2 for bad usage or a pipeline that cannot be built.
import { parseArgs } from 'node:util';
import { runPipeline } from '../../runtime/run/run.js';
import { formatEvent, formatPlan, formatSummary, ProgressLine, resultJson } from '../../runtime/run/summary.js';
import type { RunEvent } from '../../runtime/types.js';
import { CliError, EXIT } from '../errors.js';
import { failureLocation } from '../failure-location.js';
import { openPipeline, parseParams, toCliError } from '../pipeline-args.js';

const USAGE = `usage: cellar run <pipeline.ts|notebook.ipynb|folder> [task...] [options]

  --param k=v        set a pipeline param (repeatable)
  --workers N        run up to N tasks at once (default: CPU count)
  --rerun SEL        force tasks: 'train', 'train+' (and downstream), '+train' (and upstream)
  --dry-run          print what would run and why, run nothing
  --keep-going       after a failure, still run what does not depend on it
  --json             print one JSON object at the end
  --workspace DIR    where outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --workdir DIR      where tasks run: relative data paths resolve from it (default: the notebook's folder)
  --in-process       run task code on the main thread (debugging)
  --verbose          print every event, and stack traces`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        param: { type: 'string', multiple: true, default: [] },
        workers: { type: 'string' },
        rerun: { type: 'string', multiple: true, default: [] },
        'dry-run': { type: 'boolean', default: false },
        'keep-going': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        workspace: { type: 'string' },
        workdir: { type: 'string' },
        'in-process': { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 'E_USAGE');
  }
  const { values, positionals } = parsed;
  // main.ts consumes --verbose (for stack traces); it still applies here.
  values.verbose ||= process.argv.includes('--verbose');
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1)) throw new CliError(`--workers needs a whole number ≥ 1, got '${values.workers}'`, 'E_USAGE');
  const [pipelineArg, ...only] = positionals;
  const { pipeline, file } = await openPipeline(pipelineArg);
  const params = parseParams(values.param, pipeline);

  const tty = process.stderr.isTTY && !values.json;
  const progress = tty ? new ProgressLine((s) => process.stderr.write(s)) : undefined;
  const ticker = progress ? setInterval(() => progress.tick(), 120) : undefined;
  ticker?.unref();
  const stacks = new Map<string, string>();
  const onEvent = (e: RunEvent) => {
    if (e.kind === 'task-failed' && e.stack) stacks.set(e.task, e.stack);
    if (values.json) return;
    if (progress) progress.update(e);
    else {
      const line = formatEvent(e, values.verbose);
      if (line) process.stderr.write(line + '\n');
    }
  };

  let outcome;
  try {
    outcome = await runPipeline({
      pipeline,
      pipelineFile: file,
      params,
      workers,
      rerun: values.rerun,
      only,
      keepGoing: values['keep-going'],
      dryRun: values['dry-run'],
      workspace: values.workspace,
      workdir: values.workdir,
      runner: values['in-process'] ? 'in-process' : 'worker',
      onEvent,
    });
  } catch (error) {
    throw toCliError(error);
  } finally {
    if (ticker) clearInterval(ticker);
  }
  const { prepared, result } = outcome;
  if (!result) {
    // Warehouse cost guard: bytes each task's SQL would process (BigQuery dry runs).
    const { estimatePlan, formatEstimates } = await import('../../runtime/warehouse/tasks/estimate.js');
    const estimates = await estimatePlan(prepared.graph, prepared.plan).catch((e: unknown) => [{ task: '*', bytes: null, queries: 0, note: (e as Error).message }]);
    if (values.json) {
      const tasks = prepared.plan.entries.map((e) => ({ name: e.name, action: e.action, key: e.key.value, reason: e.reason }));
      console.log(JSON.stringify({ ok: true, dryRun: true, tasks, estimates }));
    } else {
      console.log(formatPlan(prepared.plan));
      const lines = formatEstimates(estimates);
      if (lines) console.log(lines);
    }
    return EXIT.ok;
  }
  // Name the notebook cell and line each failure came from (stack frame → generated module → cell).
  for (const t of result.ok ? [] : result.tasks) {
    const stack = t.status === 'failed' ? stacks.get(t.name) : undefined;
    const task = stack ? prepared.graph.byName.get(t.name)?.task : undefined;
    const location = task && failureLocation(task, stack!);
    if (location) t.location = location;
  }
  if (values.json) console.log(resultJson(result));
  else {
    console.log(formatSummary(result));
    if (values.verbose) {
      const stages = Object.entries(prepared.timings).map(([k, v]) => `${k} ${v}ms`).join(', ');
      console.log(`workspace: ${prepared.options.workspace}\nstages: ${stages}, execute ${result.durationMs}ms`);
    }
  }
  return result.ok ? EXIT.ok : EXIT.failure;
}
