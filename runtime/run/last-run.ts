// What each task's last run came to, read back from the run logs (`<pipeline>/_runs/*.jsonl`, one
// RunEvent per line, written by every run), for `cellar tree` and `cellar run --dry-run`. Without
// it, a task that failed has no stored result and the plan's reason for it is `never-run`: the
// two views told a user who had just watched it fail that it was "never run". Read only for the
// tasks the plan does not serve from the cache (a failure never makes a task look cached), newest
// log first, stopping once each of them is found: usually the newest log answers for all.
import type { Store } from '../store/store.js';
import type { NotRunReason, RunEvent, RunPlan } from '../types.js';
import { logEvents, type TasksCachedLine } from './warm-record.js';

/**
 * A task's last run, when it did not end done:
 * - `failed`: it failed at `at` (epoch ms) with `error` (the failure's message), under `key`
 *   (the key its attempt ran under, when the log says so);
 * - `not-run`: it was left out at `at` because `upstream` failed (`failFast`: not its upstream,
 *   the run stopped starting tasks after `upstream` failed; `upstream` absent when the log does
 *   not say which task failed);
 * - `started`: it started at `at` under `key` and never ended: that run was killed or
 *   interrupted (Ctrl-C) before the task ended (its lock is left with no live holder, or its log
 *   says no more of it);
 * - `running`: another process (`holder`, `pid 123 on vm`) holds its lock under its key now,
 *   since `at`: it is being computed by a run still going.
 */
export type LastRun =
  | { kind: 'failed'; at: number; error: string; key?: string }
  | { kind: 'not-run'; at: number; upstream?: string; failFast: boolean }
  | { kind: 'started'; at: number; key: string }
  | { kind: 'running'; at: number; holder: string };

/** A task's last event in one log: its outcome, or `done` for one that ended done or cached. */
type Seen = LastRun | { kind: 'done' };

/** How many run logs are read at most (newest first) for tasks no newer log mentions. */
export const RUN_LOGS_READ = 20;

/**
 * The last run of each task of `plan` that is not served from the cache, when that run failed it,
 * left it out because of a failure, or started it and ended (killed, Ctrl-C) before it did, or
 * when a run still going is computing it; tasks whose last run ended done (or that no log names)
 * are absent. A store without `recentLogs` answers from task locks alone.
 */
export function lastRuns(store: Store, plan: RunPlan): Map<string, LastRun> {
  const found = new Map<string, LastRun>();
  if (plan.entries.every((e) => e.action === 'cached')) return found;
  // A lock under the task's key now says more than any log: the run logs are flushed every
  // 200 ms, so a run killed mid-task may have logged nothing of it, but its lock is on disk
  // before the task starts. Only task folders that exist are looked in (none in a pipeline never
  // run, at 100k tasks).
  const folders = store.lockHolder ? store.storedTasks?.() : undefined;
  if (folders && folders.size > 0) {
    for (const e of plan.entries) {
      if (e.action === 'cached' || !folders.has(e.name)) continue;
      const held = store.lockHolder!(e.name, e.key.value);
      if (!held) continue;
      found.set(
        e.name,
        held.stale
          ? { kind: 'started', at: held.since, key: e.key.value }
          : { kind: 'running', at: held.since, holder: held.holder },
      );
    }
  }
  if (!store.recentLogs) return found;
  // The set of open tasks is made once a log is there to read: a pipeline never run (no logs) at
  // 100k tasks made a 100k-name set for nothing on every `--dry-run`.
  let open: Set<string> | undefined;
  let read = 0;
  for (const text of store.recentLogs()) {
    if (!open) {
      open = new Set();
      for (const e of plan.entries)
        if (e.action !== 'cached' && !found.has(e.name)) open.add(e.name);
    }
    const seen = eventsOfLog(text);
    for (const [task, s] of seen) {
      if (!open.has(task)) continue;
      open.delete(task);
      if (s.kind !== 'done') found.set(task, s);
    }
    if (open.size === 0 || ++read >= RUN_LOGS_READ) break;
  }
  return found;
}

/** Each task's last event in one run log (a torn or foreign line is skipped). */
function eventsOfLog(text: string): Map<string, Seen> {
  const seen = new Map<string, Seen>();
  let firstFailed: string | undefined;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let parsed: RunEvent | TasksCachedLine;
    try {
      parsed = JSON.parse(line) as RunEvent | TasksCachedLine;
    } catch {
      continue;
    }
    for (const e of logEvents(parsed)) {
      switch (e.kind) {
        case 'task-start':
          seen.set(e.task, { kind: 'started', at: e.at, key: e.key });
          break;
        case 'task-done':
        case 'task-cached':
          seen.set(e.task, { kind: 'done' });
          break;
        case 'task-failed': {
          const before = seen.get(e.task);
          firstFailed ??= e.task;
          seen.set(e.task, {
            kind: 'failed',
            at: e.at,
            error: e.error,
            ...(before?.kind === 'started' ? { key: before.key } : {}),
          });
          break;
        }
        case 'task-not-run': {
          // Logs written before NotRunReason became an object said 'fail-fast' or the task.
          const because = e.because as NotRunReason | string;
          const kind = typeof because === 'string' ? because : because.kind;
          if (kind === 'not-requested' || kind === 'not requested') break;
          const failFast = kind === 'fail-fast';
          const upstream = failFast
            ? firstFailed
            : typeof because === 'string'
              ? because
              : because.kind === 'upstream-failed'
                ? because.task
                : undefined;
          seen.set(e.task, {
            kind: 'not-run',
            at: e.at,
            failFast,
            ...(upstream !== undefined ? { upstream } : {}),
          });
          break;
        }
        default:
          break;
      }
    }
  }
  return seen;
}

/** `2026-12-03 13:01:26 UTC`: when, in the words of `cellar tree` and `--dry-run`. */
function when(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * A task's last run in words, as `cellar tree` and `--dry-run` print it: `failed in its last run
 * (2026-12-03 13:01:26 UTC): bad row 3`, `not run in its last run (…): upstream train failed`,
 * `started in its last run (…) but did not finish: …`.
 * `key`: the task's key now; a failure under another key says its inputs changed since.
 */
export function describeLastRun(last: LastRun, key?: string): string {
  if (last.kind === 'running') {
    return `being computed now by another run (${last.holder}, since ${when(last.at)})`;
  }
  const changed =
    last.kind !== 'not-run' && key !== undefined && last.key !== undefined && last.key !== key
      ? `; its inputs changed since (key ${last.key} then)`
      : '';
  if (last.kind === 'failed') {
    return `failed in its last run (${when(last.at)}): ${last.error.split('\n')[0]}${changed}`;
  }
  if (last.kind === 'started') {
    return `started in its last run (${when(last.at)}) but did not finish: that run was killed or interrupted, or is still going; nothing of it is stored${changed}`;
  }
  const why =
    last.upstream === undefined
      ? 'the run stopped after a failure'
      : last.failFast
        ? `the run stopped after ${last.upstream} failed`
        : `upstream ${last.upstream} failed`;
  return `not run in its last run (${when(last.at)}): ${why}`;
}
