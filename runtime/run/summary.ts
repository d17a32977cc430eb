// How a run reads to a person: one formatter per RunEvent kind (plain lines for logs and pipes),
// a one-line progress display for terminals, the plan with reasons for `--dry-run`, and the
// Luigi-style execution summary at the end. Pure string functions; the CLI decides where they go.
import { countPlan, planOutlook, type PlanOutlook } from './plan.js';
import { describeLastRun, type LastRun } from './last-run.js';
import type {
  KeyChange,
  NotRunReason,
  OutputSchema,
  PlanEntry,
  PlanReason,
  RunEvent,
  RunPlan,
  RunResult,
  TaskResult,
} from '../types.js';

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

const time = (at: number) => new Date(at).toISOString().slice(11, 19);

/** One plain line per event, or undefined for events not worth a line (cached, by default). */
export function formatEvent(e: RunEvent, verbose = false): string | undefined {
  switch (e.kind) {
    case 'run-start':
      return `${time(e.at)} run ${e.pipeline}: ${e.toRun} to run${e.mayRun ? `, ${e.mayRun.count} more ${ifOutputChanges(e.mayRun.forced)}` : ''}, ${e.cached} cached, ${e.workers} worker${e.workers === 1 ? '' : 's'}`;
    case 'task-planned':
      return verbose
        ? `${time(e.at)} plan    ${e.task}: ${describeReason(e.reason)}${e.reason.kind === 'inputs-changed' ? ` (${e.reason.changes.map((c) => c.path).join(', ')})` : ''}`
        : undefined;
    case 'task-start':
      return `${time(e.at)} start   ${e.task}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
    case 'task-waiting':
      return `${time(e.at)} waiting ${e.task}: another run is computing it (${e.holder})`;
    case 'task-cached':
      return e.byOtherRun
        ? `${time(e.at)} cached  ${e.task} (computed by another run)`
        : verbose
          ? `${time(e.at)} cached  ${e.task}`
          : undefined;
    case 'task-done':
      return `${time(e.at)} done    ${e.task} (${formatDuration(e.durationMs)})${e.notCached ? `, not cached: ${e.notCached}` : ''}`;
    case 'task-retry':
      return `${time(e.at)} retry   ${e.task} after attempt ${e.attempt} failed: ${firstLine(e.error)} (waiting ${formatDuration(e.delayMs)})`;
    case 'task-failed':
      return `${time(e.at)} FAILED  ${e.task}: ${verbose && e.stack ? e.stack : e.error}`;
    case 'task-not-run':
      return `${time(e.at)} skip    ${e.task} (${describeNotRun(e.because)})`;
    case 'task-remake':
      return `${time(e.at)} remake  ${e.task}: ${describeRemake(e.reason, e.reader)}; making it again in this run, then ${e.reader} again`;
    case 'run-end':
      return undefined;
  }
}

/**
 * Why a task was made again in a run, found by `reader`: `its stored output 'j' was changed since
 * it was written: make/j_….json (SHA-256 …, recorded …), found by use reading it`.
 */
export function describeRemake(reason: PlanReason, reader: string): string {
  const why = describeReason(reason).replace(/: re-run to make it again$/, '');
  return `${why}, found by ${reader} reading it`;
}

/** A terminal progress line, redrawn in place: counts and what is running now. */
export class ProgressLine {
  private total = 0;
  private finished = 0;
  private readonly running = new Set<string>();
  private readonly frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  private frame = 0;

  constructor(private readonly write: (s: string) => void) {}

  /** Update from an event; returns a permanent line to print above the progress line, if any. */
  update(e: RunEvent): string | undefined {
    switch (e.kind) {
      case 'run-start':
        this.total = e.toRun + (e.mayRun?.count ?? 0) + e.cached;
        this.finished = e.cached;
        break;
      case 'task-start':
        this.running.add(e.task);
        break;
      case 'task-remake':
        // Finished once already (cached): it finishes again.
        this.total++;
        break;
      case 'task-cached':
        if (e.byOtherRun) this.finished++;
        this.running.delete(e.task);
        break;
      case 'task-done':
      case 'task-failed':
      case 'task-not-run':
        this.running.delete(e.task);
        this.finished++;
        break;
      case 'task-planned':
        // A task found in this run to have been computed from an upstream's old output (cached,
        // or finished already): it finishes again.
        if (e.reason.kind === 'upstream-remade') this.total++;
        break;
      case 'task-waiting':
      case 'task-retry':
      case 'run-end':
        break;
    }
    const line =
      (e.kind === 'task-cached' && !e.byOtherRun) ||
      e.kind === 'task-start' ||
      e.kind === 'task-planned'
        ? undefined
        : formatEvent(e);
    this.write(`\r\x1b[2K${line ? `${line}\n` : ''}${e.kind === 'run-end' ? '' : this.render()}`);
    return line;
  }

  /** Redraw (the CLI calls this on a timer so the spinner and running names stay live). */
  tick(): void {
    if (this.total > 0 && this.finished < this.total) this.write(`\r\x1b[2K${this.render()}`);
  }

  private render(): string {
    const names = [...this.running];
    const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` +${names.length - 3}` : '');
    return `${this.frames[this.frame++ % this.frames.length]} ${this.finished}/${this.total} done${shown ? ` · running ${shown}` : ''}`;
  }
}

/** The words of `describeLastRun`, without the details: the plan's counts of hidden tasks. */
const lastRunKindText: Record<LastRun['kind'], string> = {
  failed: 'failed in its last run',
  'not-run': 'not run in its last run',
  started: 'started in its last run but did not finish',
  running: 'being computed now by another run',
};

export function describeReason(reason: PlanReason): string {
  switch (reason.kind) {
    case 'cached':
      return 'output is up to date';
    case 'never-run':
      return 'never run';
    case 'inputs-changed':
      return `inputs changed since key ${reason.previousKey}`;
    case 'rerun-flag':
      return 'forced (rerun)';
    case 'rerun-selector':
      return `forced by --rerun ${reason.selector}`;
    case 'cache-invalid':
      return `cached result rejected by ${reason.hook}`;
    case 'upstream-forced':
      return reason.via === undefined
        ? `depends on ${reason.task}, which re-runs first: cached unless the output of ${reason.task} changes`
        : `depends on ${reason.task} through ${reason.via}: ${reason.task} re-runs first; cached unless the output of ${reason.via} changes`;
    case 'written-changed':
      return `${reason.path}, which it wrote, ${reason.missing ? 'is missing' : 'changed since'}: re-run to write it again`;
    case 'output-missing':
      return `its stored output '${reason.output}' is missing (${reason.file}): re-run to make it again`;
    case 'output-damaged':
      return reason.output === ''
        ? `its manifest was changed since it was written: ${reason.file} (${reason.found}): re-run to make it again`
        : `its stored output '${reason.output}' was changed since it was written: ${reason.file} (${reason.found}): re-run to make it again`;
    case 'upstream-remade':
      return `its stored result was computed from the old output of ${reason.task}, made again in this run with another output`;
    case 'not-requested':
      return 'not requested';
  }
}

/**
 * Why a task is not served from the cache, with what its last run came to when that run failed it
 * or left it out (last-run.ts): `never run` is not said of a task that failed, only what happened.
 */
export function describeStale(reason: PlanReason, last: LastRun | undefined, key?: string): string {
  if (!last || reason.kind === 'cached') return describeReason(reason);
  const then = describeLastRun(last, key);
  return reason.kind === 'never-run' ? then : `${describeReason(reason)}; ${then}`;
}

/** One key difference as `--dry-run` prints it: `params.n: 3 → 4`. */
export function formatChange(c: KeyChange): string {
  const show = (v: unknown) =>
    v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
  return `${c.path}: ${show(c.before)} → ${show(c.after)}`;
}

/** Tasks `cellar run --dry-run` lists one by one before it sums the rest up (unless --verbose). */
export const PLAN_LIST_LIMIT = 50;

/**
 * The plan as `--dry-run` prints it: what would run and why, with the key diff, in plan
 * (topological) order, so the first stale cause comes first. With `limit`, only the first
 * `limit` tasks are listed and the rest are counted by reason (a 100,000-task pipeline's plan is
 * a digest, not 100,000 lines); the last line is always the totals.
 */
export function formatPlan(
  plan: RunPlan,
  options: { showCached?: boolean; limit?: number; last?: ReadonlyMap<string, LastRun> } = {},
): string {
  const shown = options.showCached
    ? plan.entries
    : plan.entries.filter((e) => e.action !== 'cached');
  const limit = options.limit ?? Infinity;
  const listed = shown.length > limit ? shown.slice(0, limit) : shown;
  let width = 4;
  for (const e of listed) if (e.name.length > width) width = e.name.length;
  const lines: string[] = [];
  const label = (e: PlanEntry) => outlookLabel[planOutlook(e)];
  for (const e of listed) {
    const last = options.last?.get(e.name);
    lines.push(
      `${label(e)}  ${e.name.padEnd(width)}  ${e.key.value}  ${describeStale(e.reason, last, e.key.value)}`,
    );
    if (e.reason.kind === 'inputs-changed')
      for (const c of e.reason.changes) lines.push(`${' '.repeat(13 + width)}${formatChange(c)}`);
  }
  if (listed.length < shown.length) {
    // Counted by (outlook, reason text), each pair's words made once (`whatOf`), not per task:
    // at 100k tasks a string per task was most of the digest's time.
    const byReason = new Map<string, number>();
    const words = new Map<string, Map<string, string>>();
    const whatOf = (outlook: string, kind: string): string => {
      let inner = words.get(outlook);
      if (!inner) words.set(outlook, (inner = new Map()));
      let what = inner.get(kind);
      if (what === undefined) inner.set(kind, (what = `${outlook.trim()}: ${kind}`));
      return what;
    };
    const last = options.last;
    for (let i = listed.length; i < shown.length; i++) {
      const e = shown[i]!;
      const lastRun = last && last.size > 0 ? last.get(e.name) : undefined;
      const kind =
        lastRun && e.reason.kind === 'never-run'
          ? lastRunKindText[lastRun.kind]
          : reasonKindText[e.reason.kind];
      const what = whatOf(label(e), kind);
      byReason.set(what, (byReason.get(what) ?? 0) + 1);
    }
    const rest = [...byReason].map(([what, n]) => `${n} ${what}`).join(', ');
    lines.push(
      `... and ${shown.length - listed.length} more (${rest}); --verbose lists every task`,
    );
  }
  const { run, mayRun, cached } = countPlan(plan);
  const maybe = mayRun.count > 0 ? `, ${mayRun.count} more ${ifOutputChanges(mayRun.forced)}` : '';
  lines.push(`${run} task${run === 1 ? '' : 's'} would run${maybe}, ${cached} cached.`);
  return lines.join('\n');
}

/** The label `--dry-run` prints in front of each task (one width, so the names line up). */
const outlookLabel: Record<PlanOutlook, string> = {
  run: 'would run',
  'may-run': 'may run  ',
  cached: 'cached   ',
  'not-run': 'not run  ',
};

/** `if the output of load changes`, `if the output of load or fetch changes`. */
function ifOutputChanges(forced: string[]): string {
  if (forced.length === 1) return `if the output of ${forced[0]} changes`;
  if (forced.length === 0 || forced.length > 3) return 'if the output of a forced task changes';
  return `if the output of ${forced.slice(0, -1).join(', ')} or ${forced.at(-1)} changes`;
}

/** A plan reason's kind in words, for the digest of the tasks not listed one by one. */
const reasonKindText: Record<PlanReason['kind'], string> = {
  cached: 'up to date',
  'never-run': 'never run',
  'inputs-changed': 'inputs changed',
  'rerun-flag': 'forced',
  'rerun-selector': 'forced by --rerun',
  'cache-invalid': 'cached result rejected',
  'upstream-forced': 'upstream re-runs first',
  'written-changed': 'a file it wrote moved',
  'output-missing': 'a stored output is missing',
  'output-damaged': 'a stored output was changed',
  'upstream-remade': 'an upstream was made again',
  'not-requested': 'not requested',
};

/** How many tasks of each status the summary lists by name; the rest are counted. */
export const LIST_LIMIT = 12;

/**
 * What the summary prints of a run's tasks: per status, how many, and the first LIST_LIMIT of
 * them in plan order. `summaryGroups` takes it from a RunResult's tasks; a run answered by the
 * warm-run record takes it from the record without a result object per task (warm-record.ts
 * `cachedSummaryGroups`).
 */
export type SummaryGroups = Record<TaskResult['status'], { count: number; first: TaskResult[] }>;

/** The summary's groups of `tasks`, in one pass. */
export function summaryGroups(tasks: readonly TaskResult[]): SummaryGroups {
  const groups: SummaryGroups = {
    ran: { count: 0, first: [] },
    cached: { count: 0, first: [] },
    failed: { count: 0, first: [] },
    'not-run': { count: 0, first: [] },
  };
  for (const t of tasks) {
    const g = groups[t.status];
    if (g.count++ < LIST_LIMIT) g.first.push(t);
  }
  return groups;
}

/** The Luigi-style execution summary. */
export function formatSummary(result: RunResult): string {
  return formatSummaryOf(result, summaryGroups(result.tasks));
}

/** The summary of a run (`ok`, `pipeline`, `durationMs`) whose tasks are `groups`. */
export function formatSummaryOf(run: Omit<RunResult, 'tasks'>, groups: SummaryGroups): string {
  const titles: [TaskResult['status'], string][] = [
    ['ran', 'ran successfully'],
    ['cached', 'were cached (complete)'],
    ['failed', 'failed'],
    ['not-run', 'were not run'],
  ];
  const total = titles.reduce((n, [status]) => n + groups[status].count, 0);
  const lines = [
    '===== Cellar Execution Summary =====',
    '',
    `Scheduled ${total} task${total === 1 ? '' : 's'} of ${run.pipeline}, of which:`,
  ];
  for (const [status, title] of titles) {
    const { count, first } = groups[status];
    if (count === 0) continue;
    lines.push(`* ${count} ${count === 1 ? title.replace(/^were /, 'was ') : title}:`);
    for (const t of first.slice(0, LIST_LIMIT)) {
      lines.push(`    - ${t.name}${detail(t)}`);
      if (t.location) lines.push(`        at ${t.location}`);
    }
    if (count > LIST_LIMIT) lines.push(`    ... and ${count - LIST_LIMIT} more`);
  }
  lines.push('');
  const failed = groups.failed.count;
  lines.push(
    failed === 0 && run.ok
      ? `This run looks :) because there were no failed tasks (${formatDuration(run.durationMs)})`
      : `This run looks :( because ${failed} task${failed === 1 ? '' : 's'} failed (${formatDuration(run.durationMs)})`,
  );
  lines.push('', '===== Cellar Execution Summary =====');
  return lines.join('\n');
}

function detail(t: TaskResult): string {
  switch (t.status) {
    case 'ran':
      return ` (${formatDuration(t.durationMs)}${t.notCached ? `; ran, not cached: ${t.notCached}` : ''}${t.remade ? `; made again in this run: ${describeRemake(t.remade.reason, t.remade.reader)}` : ''}${t.staleFrom ? `; ran again: its stored result was computed from the old output of ${t.staleFrom}, made again in this run` : ''})`;
    case 'cached':
      return '';
    case 'failed':
      return `: ${firstLine(t.error ?? 'failed')}`;
    case 'not-run':
      return ` (${describeNotRun(t.because)})`;
  }
}

/** Why a task did not run, as the summary and the event lines say it. */
export function describeNotRun(reason: NotRunReason): string {
  switch (reason.kind) {
    case 'upstream-failed':
      return `upstream ${reason.task} failed`;
    case 'fail-fast':
      return 'stopped after a failure';
    case 'not-requested':
      return 'not requested';
  }
}

/** What `--json` prints: one object, stable field order. */
export function resultJson(result: RunResult): string {
  const tasks = result.tasks.map(jsonTask);
  return JSON.stringify({ ok: result.ok, durationMs: result.durationMs, tasks });
}

/**
 * `resultJson` of a run of `count` tasks, in parts whose concatenation is its text: the head,
 * then the tasks `tasksAt(from, to)` gives, `perPart` at a time, then the tail. For printing
 * a large result without holding it whole: at 100,000 tasks the one 7.9 MB string, its UTF-8
 * copy and the 100,000 task objects kept alive for it cost about twice what parts of 2,000 do
 * (docs/design/performance.md, h31).
 */
export function* resultJsonParts(
  run: Omit<RunResult, 'tasks'>,
  count: number,
  tasksAt: (from: number, to: number) => readonly TaskResult[],
  perPart = 2000,
): Generator<string> {
  // The head as JSON.stringify writes it for an empty list, without its closing `]}`.
  const empty = JSON.stringify({ ok: run.ok, durationMs: run.durationMs, tasks: [] });
  let part = empty.slice(0, -2);
  for (let from = 0; from < count; from += perPart) {
    const text = JSON.stringify(tasksAt(from, Math.min(count, from + perPart)).map(jsonTask));
    yield `${part}${from === 0 ? '' : ','}${text.slice(1, -1)}`;
    part = '';
  }
  yield `${part}]}`;
}

/** A task as `--json` prints it. */
function jsonTask(t: TaskResult): unknown {
  // A result of exactly these four members, in this order, prints as its copy would: printed
  // as is (a warm run of 100k cached tasks copied 100k objects only to print them).
  if (plainResult(t)) return t;
  const o: Record<string, unknown> = {
    name: t.name,
    status: t.status,
    key: t.key,
    durationMs: t.durationMs,
  };
  if (t.error) o.error = t.location ? `${t.error}\n  at ${t.location}` : t.error;
  if (t.location) o.location = t.location;
  if (t.status === 'not-run') o.because = t.because;
  if (t.notCached) o.notCached = t.notCached;
  if (t.remade) o.remade = t.remade;
  return o;
}

/** The members, in order, of a task result `resultJson` prints without a copy. */
const PLAIN_RESULT = ['name', 'status', 'key', 'durationMs'];
/** True when `t` has exactly PLAIN_RESULT's own members in that order (and no inherited
 *  enumerable ones): then `JSON.stringify(t)` is the text of resultJson's copy of it. */
function plainResult(t: TaskResult): boolean {
  if (t.status === 'not-run') return false;
  let i = 0;
  for (const name in t) if (name !== PLAIN_RESULT[i++]) return false;
  return i === PLAIN_RESULT.length;
}

/**
 * A stored output's shape in one line, for `cellar tree` and `cellar show`. `codec`: the codec
 * that stored it (the manifest's `codec`), which tells a JSON file from a structured-clone one.
 */
export function describeSchema(s: OutputSchema, codec?: string): string {
  switch (s.kind) {
    case 'table':
      return `table ${s.rows} rows × ${s.columns.length} columns: ${s.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`;
    case 'json': {
      // A value stored by the structured codec (.v8: a Map, a Date, a bigint, project-class
      // instances) is no JSON: say what it holds.
      const count =
        s.length === undefined
          ? ''
          : `, ${s.length} ${s.type === 'Map' ? (s.length === 1 ? 'entry' : 'entries') : s.length === 1 ? 'item' : 'items'}`;
      const shape = `${s.type}${count}`;
      if (s.classes && s.classes.length > 0)
        return `${shape} (structured clone, instances of ${s.classes.join(', ')})`;
      return codec !== undefined && codec !== 'json'
        ? `${shape} (${codec === 'structured' ? 'structured clone' : codec})`
        : `json ${shape}`;
    }
    case 'text':
      return `text, ${s.chars} chars`;
    case 'binary':
      return `binary, ${s.bytes} bytes`;
    case 'model':
      return `model (${s.format})`;
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}
