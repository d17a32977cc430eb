// What the workspace remembers about a pipeline's runs, read for the docs site: the run logs
// (`<workspace>/<pipeline>/_runs/<run-id>.jsonl`, one RunEvent per line, written by every
// `cellar run`) and the manifests their keys name (`<workspace>/<pipeline>/<task>/<key>.manifest.json`:
// key inputs, schemas, statistics, timing). Read-only, and tolerant: a torn last line or a pruned
// manifest loses that fact only.
//
// Task names are only unique within a pipeline (penguins and flights both have a `features`), so
// results live in the pipeline's own folder (runtime/store/store.ts `pipelineFolder`, the same
// rule LocalStore.forPipeline uses), and a task's last run is found through its own pipeline's
// run logs, never through "the newest manifest in the folder".
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipelineFolder } from '../../runtime/store/store.js';
import type { Manifest, NotRunReason, RunEvent } from '../../runtime/types.js';
import type { RunRecord } from './model.js';
import { logEvents, type TasksCachedLine } from '../../runtime/run/warm-record.js';

export interface PipelineHistory {
  runs: RunRecord[];
  /** Task → the key and time of the last run that ran or reused it, and the manifest. */
  last: Map<string, { manifest: Manifest; at: string }>;
  /** Task → the last failure recorded (after its last success), for checks' last result. */
  failures: Map<string, { at: string; error: string }>;
  /** Task → the last run that left it out because of a failure (after its last success). */
  skipped: Map<string, { at: string; why: string }>;
}

/**
 * Runs recorded for `pipeline` in `workspace` that ran or failed a task, oldest first (one that
 * served every task from the cache is left out), with each task's last manifest.
 */
export function readHistory(workspace: string, pipeline: string): PipelineHistory {
  const root = join(workspace, pipelineFolder(pipeline));
  const manifests = new ManifestReader(root);
  const runs: RunRecord[] = [];
  const last = new Map<string, { manifest: Manifest; at: string }>();
  const failures = new Map<string, { at: string; error: string }>();
  const skipped = new Map<string, { at: string; why: string }>();
  const dir = join(root, '_runs');
  const logs = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n.endsWith('.jsonl'))
        .sort()
    : [];
  for (const log of logs) {
    const events = readEvents(join(dir, log));
    const start = events[0];
    if (!start || start.kind !== 'run-start' || start.pipeline !== pipeline) continue;
    const run: RunRecord = {
      id: log.replace(/\.jsonl$/, ''),
      startedAt: new Date(start.at).toISOString(),
      // What the run was started with (logged since failed runs showed none); the manifests of the
      // tasks it ran or reused fill in older logs.
      params: { ...(start.params ?? {}) },
      tasks: [],
      metrics: {},
    };
    const byTask = new Map<string, RunRecord['tasks'][number]>();
    const keys = new Map<string, string>();
    for (const e of events) {
      switch (e.kind) {
        case 'task-planned':
          keys.set(e.task, e.key);
          break;
        case 'task-cached':
          keys.set(e.task, e.filed ?? e.key);
          byTask.set(e.task, { name: e.task, status: 'cached' });
          break;
        case 'task-done':
          // (Where its result is: a run that discovered a read files it under the next key.)
          keys.set(e.task, e.filed ?? e.key);
          byTask.set(e.task, { name: e.task, status: 'ran', durationMs: e.durationMs });
          break;
        case 'task-failed':
          byTask.set(e.task, {
            name: e.task,
            status: 'failed',
            durationMs: e.durationMs,
            error: e.error,
          });
          failures.set(e.task, { at: new Date(e.at).toISOString(), error: e.error });
          break;
        case 'task-not-run': {
          // Logs written before NotRunReason became an object said 'not requested', 'fail-fast' or the task.
          const because = e.because as NotRunReason | string;
          const why =
            typeof because === 'string'
              ? because
              : because.kind === 'upstream-failed'
                ? because.task
                : because.kind;
          if (why !== 'not requested' && why !== 'not-requested') {
            const error =
              why === 'fail-fast' ? 'the run stopped after a failure' : `upstream ${why} failed`;
            byTask.set(e.task, { name: e.task, status: 'not-run', error });
            skipped.set(e.task, { at: new Date(e.at).toISOString(), why: error });
          }
          break;
        }
        case 'run-end':
          run.durationMs = e.durationMs;
          run.ok = e.ok;
          break;
        default:
          break;
      }
    }
    for (const [task, entry] of [...byTask].sort((a, b) => a[0].localeCompare(b[0]))) {
      run.tasks.push(entry);
      const key = keys.get(task);
      if (entry.status !== 'ran' && entry.status !== 'cached') continue;
      const manifest = key ? manifests.read(task, key) : undefined;
      if (!manifest) continue;
      last.set(task, { manifest, at: manifest.finishedAt });
      failures.delete(task);
      skipped.delete(task);
      for (const [name, value] of Object.entries(manifest.inputs.params))
        run.params[name] ??= value;
      for (const [output, stored] of Object.entries(manifest.outputs)) {
        for (const [field, value] of Object.entries(stored.stats?.scalars ?? {}))
          run.metrics[`${task}.${output}.${field}`] = value;
      }
    }
    // A run that served every task from the cache computed nothing the history does not hold
    // already; listed, each `cellar run` would add a row (and rebuild the site, stamp.ts).
    if (run.ok !== false && run.tasks.length > 0 && run.tasks.every((t) => t.status === 'cached'))
      continue;
    run.params = sortKeys(run.params);
    run.metrics = sortKeys(run.metrics);
    runs.push(run);
  }
  return { runs, last, failures, skipped };
}

function readEvents(path: string): RunEvent[] {
  const out: RunEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      // A run answered by the warm-run record logs its cached tasks as one line (100,000 events
      // at scale: appended one by one, too many for a spread's arguments).
      for (const e of logEvents(JSON.parse(line) as RunEvent | TasksCachedLine)) out.push(e);
    } catch {
      // A run killed mid-write leaves a torn last line: the events before it still count.
    }
  }
  return out;
}

/** Manifests by task and key, each file read once per build. */
class ManifestReader {
  private readonly cache = new Map<string, Manifest | undefined>();
  constructor(private readonly workspace: string) {}
  read(task: string, key: string): Manifest | undefined {
    const id = `${task}/${key}`;
    if (!this.cache.has(id)) {
      let m: Manifest | undefined;
      try {
        m = JSON.parse(
          readFileSync(join(this.workspace, task, `${key}.manifest.json`), 'utf8'),
        ) as Manifest;
      } catch {
        m = undefined; // pruned, or never finished
      }
      this.cache.set(id, m);
    }
    return this.cache.get(id);
  }
}

function sortKeys<V>(o: Record<string, V>): Record<string, V> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]!]),
  );
}
