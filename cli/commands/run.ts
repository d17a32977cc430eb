// `cellar run <pipeline> [task...]`: run a compiled pipeline (or a notebook, compiled first when
// stale) as a cached DAG and print a Luigi-style summary. Exit 0 when every task ran or was
// cached, 1 when a task failed, 2 for bad usage or a pipeline that cannot be built.
import { constants, hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { TaskRunner } from '../../runtime/run/execute.js';
import type { PreparedRun } from '../../runtime/run/run.js';
import { lastRuns, type LastRun } from '../../runtime/run/last-run.js';
import { chooseStore, openStore } from '../../runtime/store/open.js';
import type { Store } from '../../runtime/store/store.js';
import { resolveWorkspace } from '../../runtime/store/workspace.js';
import { formatSummary, resultJson } from '../../runtime/run/summary.js';
import type { RunPlan, RunResult } from '../../runtime/types.js';
import type { PlanEstimate } from '../../runtime/warehouse/tasks/estimate.js';
import { defineCommand } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { CellarError } from '../../runtime/errors.js';
import { onStopSignal } from '../signals.js';
import { recordWarmRun } from '../warm-run.js';
import {
  checkedRequest,
  eventReporter,
  printDryRunPlan,
  RUN_OPTIONS,
  type RunTally,
} from './run-warm.js';

const USAGE = `usage: cellar run <pipeline.ts|notebook.ipynb|folder> [task...] [options]

  --param k=v        set a pipeline param (repeatable)
  --workers N        run up to N tasks at once (default: CPU count)
  --rerun SEL        force tasks: 'train', 'train+' (and downstream), '+train' (and upstream)
  --dry-run          print what would run and why, run nothing (the first 50 tasks and
                     counts of the rest; with --verbose, every task); a stale notebook is
                     still compiled first, as for a run
  --keep-going       after a failure, still run what does not depend on it
  --json             print one JSON object at the end
  --workspace DIR    where outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --workdir DIR      where tasks run: relative data paths resolve from it (default: the notebook's folder)
  --store SPEC       a shared store: gs://bucket/prefix or a folder (NFS); default: the workspace,
                     or \`store\` in cellar.config.json, or $CELLAR_STORE
  --executor KIND    local (default) or bullmq: enqueue each ready task on Redis for \`cellar worker\`s
  --redis URL        the Redis of --executor bullmq, e.g. redis://127.0.0.1:6379
  --notify URL       post the summary to this webhook (Slack JSON) when the run fails
  --notify-on-success  post it when the run succeeds too
  --in-process       run task code on the main thread (debugging)
  --verbose          print every event, and stack traces

With --executor bullmq, --workers is how many jobs may be queued at once (default 100).`;

export const run = defineCommand({
  usage: USAGE,
  options: RUN_OPTIONS,
  async run({ values, positionals, verbose }) {
    const { workers, request } = checkedRequest(values, positionals, verbose);
    const executor = request.executor;
    const pipelineArg = positionals[0];
    // A run the warm-run record answers never gets here: cli/main.ts asked dist/warm.js first
    // (cli/warm-entry.ts, run-warm.ts `answerWarm`), which declined. Records are written and
    // trusted only by the build (runtime/run/warm-record.ts `cellarBuildId`), so running from
    // sources has no warm answer to miss. The full path's stages are loaded only now: the run
    // stages, the pipeline loader, the failure locator.
    const [{ runPipeline }, { openPipeline, parseParams, toCliError }] = await Promise.all([
      import('../../runtime/run/run.js'),
      import('../pipeline-args.js'),
    ]);
    // Task code runs on worker threads (each loads the pipeline with source maps) unless
    // --in-process; --verbose prints stacks of load errors, which then point at the sources.
    const { pipeline, file } = await openPipeline(pipelineArg, {
      sourceMaps: values['in-process'] || verbose,
      ...(values.workdir !== undefined ? { workdir: values.workdir } : {}),
    });
    const params = await parseParams(values.param, pipeline, file);
    // The store: --store, $CELLAR_STORE, `store` in cellar.config.json, else the local workspace.
    const workspace = resolveWorkspace({ explicit: values.workspace, near: dirname(file) });
    let storeChoice;
    let store: Store | undefined;
    try {
      storeChoice = chooseStore({ explicit: values.store, workspace, near: dirname(file) });
      if (storeChoice.source !== 'workspace') store = await openStore(storeChoice);
    } catch (error) {
      throw new CliError(`cannot open the store: ${(error as Error).message}`, 'E_STORE');
    }
    let runner: TaskRunner | 'worker' | 'in-process' = values['in-process']
      ? 'in-process'
      : 'worker';
    if (executor === 'bullmq' && !values['dry-run']) {
      const { BullmqRunner } = await import('../../runtime/distributed/coordinator.js');
      let bull;
      try {
        bull = await BullmqRunner.connect({
          redis: values.redis!,
          pipeline: pipeline.name,
          params,
          store: storeChoice,
          onNoWorker: (ms) =>
            process.stderr.write(
              `cellar run: waiting for a worker: none has taken a job of pipeline ${pipeline.name} for ${ms / 1000} s; start one with \`${workerCommand(file)} --redis ${values.redis}\`\n`,
            ),
        });
        await bull.reachable(10_000);
      } catch (error) {
        await bull?.close();
        if (error instanceof CellarError) throw toCliError(error);
        throw new CliError((error as Error).message, 'E_USAGE');
      }
      runner = bull;
    }
    const reporter = eventReporter({ json: values.json, verbose });
    // Ctrl-C on worker threads: say what the run leaves before ending as the signal would. (In
    // process, task code may hold the thread: the signal keeps its default, immediate end.)
    const interrupts = runner === 'in-process' ? undefined : reportInterrupts(reporter.tally);
    let outcome;
    try {
      outcome = await runPipeline({
        pipeline,
        pipelineFile: file,
        params,
        workers: workers ?? (executor === 'bullmq' ? 100 : undefined),
        rerun: values.rerun,
        only: request.only,
        keepGoing: values['keep-going'],
        dryRun: values['dry-run'],
        workspace,
        workdir: values.workdir,
        ...(store ? { store, storeChoice } : {}),
        runner,
        onEvent: reporter.onEvent,
      });
    } catch (error) {
      throw toCliError(error);
    } finally {
      reporter.stop();
      interrupts?.stop();
    }
    const { prepared, result } = outcome;
    const notRecorded = await recordWarmRun(request, prepared, result, await compileFacts(file));
    // Why the next run cannot take the warm shortcut (it then loads, keys and probes again).
    if (notRecorded && verbose)
      process.stderr.write(`cellar: no warm-run record: ${notRecorded}\n`);
    if (!result) {
      const { estimatePlan } = await import('../../runtime/warehouse/tasks/estimate.js');
      const estimates = await estimatePlan(prepared.graph, prepared.plan).catch(
        (e: unknown): PlanEstimate[] => [
          { task: '*', bytes: null, queries: 0, note: (e as Error).message },
        ],
      );
      // What the last runs said of the tasks that would run: a task that failed is not "never run".
      const last = lastRuns(prepared.options.store, prepared.plan);
      return printDryRun(prepared.plan, estimates, values.json, verbose, last);
    }
    await locateFailures(result, prepared, reporter.stacks);
    if (values.json) console.log(resultJson(result));
    else {
      console.log(formatSummary(result));
      if (verbose) {
        const stages = Object.entries(prepared.timings)
          .map(([k, v]) => `${k} ${v}ms`)
          .join(', ');
        console.log(
          `workspace: ${prepared.options.workspace}\nstages: ${stages}, execute ${result.durationMs}ms`,
        );
      }
    }
    if (values.notify) {
      const { notifyWebhook } = await import('../../runtime/run/notify.js');
      const sent = await notifyWebhook(values.notify, result, {
        onSuccess: values['notify-on-success'],
        host: hostname(),
      });
      if (typeof sent === 'object')
        process.stderr.write(
          `warning: could not post the summary to ${values.notify}: ${sent.error}\n`,
        );
    }
    if (runner === 'in-process') endWithTheRun();
    // A package not installed is the machine's fault, not the pipeline's: a usage exit, as when
    // the runtime itself misses one (cli/main.ts).
    if (result.tasks.some((t) => t.status === 'failed' && t.error?.endsWith('(E_PACKAGE_MISSING)')))
      return EXIT.usage;
    return result.ok ? EXIT.ok : EXIT.failure;
  },
});

/** The command that starts a worker for the pipeline `file`: a built folder's run.mjs, or cellar's. */
function workerCommand(file: string): string {
  const dir = dirname(file);
  const shown = (path: string) => relative(process.cwd(), path) || path;
  return existsSync(join(dir, 'run.mjs')) && existsSync(join(dir, 'manifest.json'))
    ? `node ${shown(join(dir, 'run.mjs'))} worker`
    : `cellar worker ${shown(file)}`;
}

/**
 * An in-process run ends its process when it is done, as a worker-thread run ends its threads:
 * an interval, a server or a connection task code left open kept `cellar run --in-process` alive
 * for ever after its summary. Said when task code left timers (the common case); bin/cellar.mjs
 * exits once the command has returned its code.
 */
function endWithTheRun(): void {
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  if (timers > 0)
    process.stderr.write(
      `cellar: note: task code left ${timers} timer${timers === 1 ? '' : 's'} pending when the run ended; ${timers === 1 ? 'it is' : 'they are'} stopped with the run (as on worker threads), so a callback that has not fired never runs\n`,
    );
  (globalThis as { __cellarExitWhenDone?: boolean }).__cellarExitWhenDone = true;
}

/**
 * Until `stop()`: on SIGINT or SIGTERM, print what the run leaves (the results stored so far are
 * kept and the next run resumes from them; the tasks running are stopped, nothing of theirs is
 * stored: outputs are written to temporary files and the manifest last) and end the process as
 * the signal would (re-raised with Node's default handling: exit status 128 + signal number).
 * Without it the run ended silently.
 */
function reportInterrupts(tally: RunTally): { stop: () => void } {
  const stop = onStopSignal(['SIGINT', 'SIGTERM'], (signal) => {
    const running = [...tally.running];
    const names =
      running.length === 0
        ? ''
        : ` (${running.slice(0, 5).join(', ')}${running.length > 5 ? `, and ${running.length - 5} more` : ''})`;
    process.stderr.write(
      `cellar: interrupted (${signal}): ${tally.stored} task${tally.stored === 1 ? '' : 's'} ran to the end in this run and ${tally.stored === 1 ? 'is' : 'are'} stored; ${running.length} running ${running.length === 1 ? 'was' : 'were'} stopped and nothing of ${running.length === 1 ? 'it' : 'theirs'} is stored${names}. Run the same command again to resume: stored results are not computed again.\n`,
    );
    // Another listener would keep the process alive past the signal sent again: end it as the
    // signal's default would.
    setImmediate(() => process.exit(128 + (constants.signals[signal] ?? 2)));
  });
  return { stop };
}

/** `--dry-run`: the plan with reasons (run-warm.ts `printDryRunPlan`), and after the text form the
 *  warehouse cost guard (bytes each task's SQL would process, from BigQuery dry runs) and notes on
 *  remote reads. */
async function printDryRun(
  plan: RunPlan,
  estimates: PlanEstimate[],
  json: boolean,
  verbose: boolean,
  last: ReadonlyMap<string, LastRun> = new Map(),
): Promise<number> {
  printDryRunPlan(plan, estimates, json, verbose, last);
  if (json) return EXIT.ok;
  if (estimates.length > 0) {
    const { formatEstimates } = await import('../../runtime/warehouse/tasks/estimate.js');
    const lines = formatEstimates(estimates);
    if (lines) console.log(lines);
  }
  // Remote reads (keyed by URL only) are noted; the warm path's plan has no warehouse inputs,
  // and loads nothing of the warehouse.
  if (plan.entries.some((e) => e.key.inputs?.hooks?.warehouse)) {
    const { remoteReadNotes } = await import('../../runtime/warehouse/tasks/files.js');
    for (const note of remoteReadNotes(plan)) console.log(note);
  }
  return EXIT.ok;
}

/**
 * For the warm record: the compiler fingerprint and the notebook whose compile freshness the
 * run checked (a notebook argument, or the notebook a compiled pipeline.ts names), else null.
 */
async function compileFacts(
  pipelineFile: string,
): Promise<{ compiler: string; notebook: string } | null> {
  const { namedNotebook } = await import('../../runtime/load/source.js');
  const notebook = namedNotebook(pipelineFile);
  if (!notebook) return null;
  const { compilerFingerprint } = await import('../../compiler/host.js');
  return { compiler: compilerFingerprint(), notebook };
}

/** Name the notebook cell and line each failure came from (stack frame → generated module → cell). */
/** The first stack line of Cellar's error for an upstream output it could not serve. */
const UPSTREAM_OUTPUT_FAULT = /^CellarError: .*\((?:E_OUTPUT_DAMAGED|E_OUTPUT_MISSING)\)$/;

async function locateFailures(
  result: RunResult,
  prepared: PreparedRun,
  stacks: Map<string, string>,
): Promise<void> {
  if (result.ok) return;
  const { failureLocation, thrownValueLocation } = await import('../failure-location.js');
  for (const t of result.tasks) {
    if (t.status !== 'failed') continue;
    const task = prepared.graph.byName.get(t.name)?.task;
    if (!task) continue;
    const stack = stacks.get(t.name);
    // An upstream's stored output found missing or damaged while this task's inputs were read:
    // no line of this task's cell is at fault (the message names the upstream task and file).
    if (stack && UPSTREAM_OUTPUT_FAULT.test(stack.split('\n', 1)[0]!)) continue;
    // A thrown non-Error value has no frames: find its throw in the task's code instead.
    const location =
      (stack && failureLocation(task, stack)) ||
      (t.error !== undefined ? await thrownValueLocation(task, t.error) : undefined);
    if (location) t.location = location;
  }
}
