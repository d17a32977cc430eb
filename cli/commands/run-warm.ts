// The part of `cellar run` a warm run needs: its options, their checks, the event reporter, the
// dry-run plan's printing, and the answer from a checked warm-run record (cli/warm-run.ts).
//
// Why apart from run.ts: a built `cellar run` first asks dist/warm.js (cli/warm-entry.ts), one
// module bundled from this file and what it imports, and loads run.ts and its chunks only when
// the record does not answer. Node's ESM loader pays per module (resolve, an async read, compile,
// link): the twenty-odd chunks of run.ts's warm path cost about three times the one bundled file
// in a fresh process (docs/design/warm-path.md, stop 30). So this module imports nothing the
// full path alone needs (no run stages, no warehouse, no dynamic import).
import { availableParallelism } from 'node:os';
import type { ParseArgsConfig } from 'node:util';
import { countPlan, planOutlook } from '../../runtime/run/plan.js';
import type { LastRun } from '../../runtime/run/last-run.js';
import {
  formatEvent,
  formatPlan,
  PLAN_LIST_LIMIT,
  type SummaryGroups,
  formatSummaryOf,
  LIST_LIMIT,
  ProgressLine,
  resultJsonParts,
} from '../../runtime/run/summary.js';
import type { CacheKey, RunEvent, RunPlan, TaskResult } from '../../runtime/types.js';
import type { PlanEstimate } from '../../runtime/warehouse/tasks/estimate.js';
import {
  cachedResults,
  reportCachedRun,
  warmTasks,
  type WarmRecord,
} from '../../runtime/run/warm-record.js';
import type { CommandInput } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { warmRun, type RunRequest } from '../warm-run.js';

/** `cellar run`'s options, as `node:util` parseArgs declares them. */
export const RUN_OPTIONS = {
  param: { type: 'string', multiple: true, default: [] },
  workers: { type: 'string' },
  rerun: { type: 'string', multiple: true, default: [] },
  'dry-run': { type: 'boolean', default: false },
  'keep-going': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  workspace: { type: 'string' },
  workdir: { type: 'string' },
  'in-process': { type: 'boolean', default: false },
  store: { type: 'string' },
  executor: { type: 'string', default: 'local' },
  redis: { type: 'string' },
  notify: { type: 'string' },
  'notify-on-success': { type: 'boolean', default: false },
} satisfies NonNullable<ParseArgsConfig['options']>;

export type RunValues = CommandInput<typeof RUN_OPTIONS>['values'];

/**
 * The options checked (a CliError E_USAGE for a bad combination) and the request the warm-run
 * record is matched against. `workers`: `--workers` as a number, undefined when not given.
 */
export function checkedRequest(
  values: RunValues,
  positionals: string[],
  verbose: boolean,
): { workers: number | undefined; request: RunRequest & { executor: 'local' | 'bullmq' } } {
  const workers = values.workers === undefined ? undefined : Number(values.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1))
    throw new CliError(`--workers needs a whole number ≥ 1, got '${values.workers}'`, 'E_USAGE');
  const executor = values.executor;
  if (executor !== 'local' && executor !== 'bullmq')
    throw new CliError(`--executor is 'local' or 'bullmq', got '${executor}'`, 'E_USAGE');
  if (executor === 'bullmq' && !values.redis)
    throw new CliError(
      '--executor bullmq needs --redis <url>, e.g. --redis redis://127.0.0.1:6379',
      'E_USAGE',
    );
  if (executor !== 'bullmq' && values.redis)
    throw new CliError('--redis is for --executor bullmq', 'E_USAGE');
  if (executor === 'bullmq' && values['in-process'])
    throw new CliError('--in-process and --executor bullmq exclude each other', 'E_USAGE');
  if (values['notify-on-success'] && !values.notify)
    throw new CliError('--notify-on-success needs --notify <url>', 'E_USAGE');
  if (values.notify && !/^https?:\/\//.test(values.notify))
    throw new CliError(`--notify needs an http(s) URL, got '${values.notify}'`, 'E_USAGE');
  const [pipelineArg, ...only] = positionals;
  return {
    workers,
    request: {
      arg: pipelineArg ?? '',
      only,
      params: values.param,
      workdir: values.workdir,
      workspace: values.workspace,
      store: values.store,
      rerun: values.rerun,
      executor,
      verbose,
      notify: values.notify !== undefined,
    },
  };
}

/**
 * Every task cached and nothing moved since the last run: print what the full path prints (the
 * events, the run log, the summary, `--json` or `--dry-run`) from the checked warm-run record and
 * resolve to the exit code; undefined when the record does not answer (the full path runs).
 */
export async function answerWarm(
  request: RunRequest,
  values: RunValues,
  workers: number | undefined,
): Promise<number | undefined> {
  const warm = request.arg ? warmRun(request) : undefined;
  if (!warm) return undefined;
  if (values['dry-run']) {
    printDryRunPlan(cachedPlan(warm), [], values.json, request.verbose);
    return EXIT.ok;
  }
  const reporter = eventReporter({ json: values.json, verbose: request.verbose });
  const options = {
    workers: Math.max(1, workers ?? availableParallelism()),
    onEvent: reporter.onEvent,
    perTask: reporter.perTask,
  };
  let durationMs: number;
  try {
    durationMs = reportCachedRun(warm, options);
  } finally {
    reporter.stop();
  }
  const run = { ok: true, pipeline: warm.pipeline, durationMs };
  // --json makes and prints the results a part at a time; the summary needs no result per
  // task: it is made from the record's counts.
  if (values.json)
    await printLikeConsole(
      resultJsonParts(run, warm.tasks.names.length, (from, to) => cachedResults(warm, from, to)),
    );
  else console.log(formatSummaryOf(run, cachedSummaryGroups(warm)));
  return EXIT.ok;
}

/**
 * `console.log` of the parts' concatenation, written a part at a time: what stdout receives is
 * the same bytes, and as with `console.log`, a failed write (a reader that closed the pipe,
 * `cellar run --json | head`) is swallowed rather than thrown or left an unhandled 'error'
 * (Node's console adds a no-op listener around each write and from each write's callback).
 * When the reader is slower than the writer (a pipe), the next part waits until the last is
 * written, rather than queueing every part behind it.
 */
export async function printLikeConsole(parts: Iterable<string>): Promise<void> {
  const out = process.stdout;
  const noop = () => {};
  const swallow = (error: Error | null | undefined) => {
    if (error && out.listenerCount('error') === 0) out.once('error', noop);
  };
  const write = (text: string): boolean => {
    if (out.listenerCount('error') === 0) out.once('error', noop);
    try {
      return out.write(text, swallow);
    } catch {
      return true; // as console.log: nothing to report a failed print to
    } finally {
      out.removeListener('error', noop);
    }
  };
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  for (const part of parts) if (!write(part) && !out.destroyed) await drained();
  write('\n');
}

/** Events to stderr while the run goes: a progress line on a terminal, plain lines otherwise,
 *  nothing with --json. Keeps each failed task's stack for `locateFailures`. */
export function eventReporter(o: { json: boolean; verbose: boolean }) {
  // --json first: asking stderr whether it is a terminal makes the stream, which a warm --json
  // run otherwise never needs.
  const tty = !o.json && process.stderr.isTTY;
  const progress = tty ? new ProgressLine((s) => process.stderr.write(s)) : undefined;
  const ticker = progress ? setInterval(() => progress.tick(), 120) : undefined;
  ticker?.unref();
  const stacks = new Map<string, string>();
  const tally: RunTally = { running: new Set(), stored: 0, failed: 0 };
  const onEvent = (e: RunEvent) => {
    if (e.kind === 'task-failed' && e.stack) stacks.set(e.task, e.stack);
    tallyEvent(tally, e);
    if (o.json) return;
    if (progress) progress.update(e);
    else {
      const line = formatEvent(e, o.verbose);
      if (line) process.stderr.write(line + '\n');
    }
  };
  // Whether each task's events matter to this reporter beyond a run that runs nothing: the
  // progress line counts them; --json and plain lines print nothing for a task this run found cached.
  const perTask = progress !== undefined || o.verbose;
  return { onEvent, stacks, tally, perTask, stop: () => ticker && clearInterval(ticker) };
}

/** What a run has done so far, for the line an interrupt prints (run.ts `reportInterrupts`). */
export interface RunTally {
  /** Tasks started and not yet finished, in start order. */
  running: Set<string>;
  /** Tasks that ran to the end in this run and whose results are stored. */
  stored: number;
  failed: number;
}

function tallyEvent(tally: RunTally, e: RunEvent): void {
  if (e.kind === 'task-start') tally.running.add(e.task);
  else if (e.kind === 'task-done') {
    tally.running.delete(e.task);
    if (!e.notCached) tally.stored++;
  } else if (e.kind === 'task-failed') {
    tally.running.delete(e.task);
    tally.failed++;
  }
}

/**
 * `--dry-run`'s plan: with `json`, one JSON object (the tasks, their counts, `estimates`); else
 * the plan with reasons (the first PLAN_LIST_LIMIT tasks, then counts by reason, unless
 * `verbose`). run.ts prints the warehouse's estimates and notes after the text form.
 */
export function printDryRunPlan(
  plan: RunPlan,
  estimates: PlanEstimate[],
  json: boolean,
  verbose: boolean,
  last: ReadonlyMap<string, LastRun> = new Map(),
): void {
  if (json) {
    // `action` is the entry's outlook: `may-run` for a task that runs only if a forced upstream's
    // output changes, as the text plan labels it and `counts` counts it.
    const tasks = plan.entries.map((e) => ({
      name: e.name,
      action: planOutlook(e),
      key: e.key.value,
      reason: e.reason,
      ...(last.has(e.name) ? { lastRun: last.get(e.name) } : {}),
    }));
    const counts = countPlan(plan);
    console.log(JSON.stringify({ ok: true, dryRun: true, tasks, counts, estimates }));
  } else console.log(formatPlan(plan, { ...(verbose ? {} : { limit: PLAN_LIST_LIMIT }), last }));
}

/**
 * The plan a checked warm record stands for: every task cached, or not requested. Its keys carry
 * no inputs (the record holds none): only `--dry-run`'s printing reads this plan, and an
 * all-cached plan prints no key diffs.
 */
function cachedPlan(record: WarmRecord): RunPlan {
  return {
    entries: Array.from(warmTasks(record.tasks), (t) => ({
      name: t.name,
      action: t.cached ? 'cached' : 'not-run',
      key: { value: t.key } as CacheKey,
      reason: t.cached ? { kind: 'cached' } : { kind: 'not-requested' },
    })),
  };
}

/**
 * The summary's groups (summary.ts `formatSummaryOf`) of the all-cached run a checked record
 * stands for, as `summaryGroups` finds them in `cachedRunResult`'s tasks: the cached and the not
 * requested, counted, with the first LIST_LIMIT of each made as results.
 */
export function cachedSummaryGroups(record: WarmRecord): SummaryGroups {
  const { names, keys, notRequested } = record.tasks;
  const key = (i: number) => keys.slice(16 * i, 16 * i + 16);
  const cachedFirst: TaskResult[] = [];
  for (let i = 0, skip = 0; i < names.length && cachedFirst.length < LIST_LIMIT; i++) {
    if (notRequested[skip] === i) skip++;
    else cachedFirst.push({ name: names[i]!, status: 'cached', key: key(i), durationMs: 0 });
  }
  return {
    ran: { count: 0, first: [] },
    cached: { count: names.length - notRequested.length, first: cachedFirst },
    failed: { count: 0, first: [] },
    'not-run': {
      count: notRequested.length,
      first: notRequested.slice(0, LIST_LIMIT).map((i) => ({
        name: names[i]!,
        status: 'not-run',
        key: key(i),
        durationMs: 0,
        because: { kind: 'not-requested' },
      })),
    },
  };
}
