// `cellar worker`: one machine's share of a distributed run. It takes jobs from the pipeline's
// BullMQ queue and runs each like the local executor would: task bodies on worker threads (the
// same WorkerPool `cellar run` uses, so CPU-bound code never blocks the BullMQ lock renewals on
// this event loop), inputs read from and outputs written to the shared store.
//
// Per job: check that this worker's code gives the job's cache key (a worker with other code or
// package versions would write outputs under a key they do not belong to); take the store's lock
// on task+key; if a manifest is already there (another worker finished it: a stalled job retaken,
// two coordinators) reuse it; else compute, then commit the manifest, then release. A worker
// killed mid-task leaves no manifest and a lock whose owner is gone; BullMQ moves the job back to
// the queue after `lockDurationMs` (checked every `stalledIntervalMs`) and another worker takes it.
import { dirname, resolve } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { CodeHasher } from '../key/codehash.js';
import { computeKeys } from '../key/keys.js';
import { canonicalJson } from '../key/hash.js';
import {
  loadReadFacts,
  loadReadsOf,
  RunReadStamps,
  type RecordedRunReads,
} from '../key/run-reads.js';
import { findProjectRoot } from '../project.js';
import { useProjectWarehouse } from '../warehouse/project-root.js';
import { loadPipeline } from '../load/loader.js';
import type { JobResult } from '../run/execute.js';
import { buildGraph } from '../run/graph.js';
import { openStore, type StoreChoice } from '../store/open.js';
import type { Store } from '../store/store.js';
import { LocalStore } from '../store/local.js';
import type { CacheKey, Manifest } from '../types.js';
import { WorkerPool } from '../workers/pool.js';
import {
  checkRedisUrl,
  decodeReadsRecords,
  queueName,
  readsRecordsKey,
  type DistributedJobData,
  type StallTiming,
} from './queue.js';
import { checkRedisReachable } from './redis.js';

export interface WorkerOptions extends StallTiming {
  pipelineFile: string;
  redis: string;
  /** Jobs run at once on this machine (worker threads). */
  concurrency: number;
  /** The local workspace, for a local store and the code-hash memo. */
  workspace: string;
  /** Where this worker expects the store; a job naming another store is refused. */
  store: Pick<StoreChoice, 'spec' | 'gcs'>;
  /** Folder tasks run in (moved data); default the pipeline's own workdir, relative to its file. */
  workdir?: string;
  /** One line per job event, for the worker's log. */
  onLog?: (line: string) => void;
}

export interface RunningWorker {
  /** Finish the jobs in hand, then stop. */
  close(): Promise<void>;
  queue: string;
}

const time = () => new Date().toISOString().slice(11, 19);

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const log = options.onLog ?? (() => {});
  // First, before loading anything: a Redis that is not there is one line within seconds, not
  // BullMQ waiting for ever while ioredis retries (redis.ts).
  await checkRedisReachable(checkRedisUrl(options.redis));
  const { pipeline, file } = await loadPipeline(
    options.pipelineFile,
    options.workdir ? { workdir: options.workdir } : {},
  );
  // Tasks read relative paths from the pipeline's workdir, as in a local run (pool.ts).
  process.chdir(
    options.workdir ? resolve(options.workdir) : resolve(dirname(file), pipeline.workdir ?? '.'),
  );
  // The pipeline's own view: the coordinator reads and writes the same one (run.ts).
  const store: Store = (await openStore(options.store)).forPipeline(pipeline.name);
  // A writer of a local (or NFS) workspace: if this process dies mid-write, the next run's sweep
  // must know to look for its leftovers (LocalStore.sweepLeftovers).
  if (store instanceof LocalStore) store.registerWriter();
  const hasher = new CodeHasher();
  const prepared = new Map<string, Promise<Map<string, CacheKey>>>();
  /** When each params' keys were computed (epoch ms, before): what keyed reads are checked against. */
  const keyedAt = new Map<string, number>();
  const pools = new Map<string, WorkerPool>();
  const name = queueName(pipeline.name);
  const connection = new Redis(checkRedisUrl(options.redis), { maxRetriesPerRequest: null });
  // Keyed as the coordinator keyed (run.ts): with the run-time read records it keyed with (the
  // job names them by digest; they sit in Redis), so records written since, by this very run's
  // tasks, do not move this worker's keys away from the coordinator's.
  const root = findProjectRoot(options.workdir ? process.cwd() : dirname(file));
  // The keys here and the tasks on this worker's threads query the project's warehouse, as the
  // coordinator's (run.ts), whatever folder the worker was started in.
  useProjectWarehouse(root);
  const readsAt = { root, pipeline: pipeline.name, workspace: options.workspace };
  // What the pipeline's module read while this worker loaded it (a setup cell's top-level
  // readFileSync): the module keeps what it computed from it, so once that data changes this
  // worker would compute with the old values under the coordinator's new keys. It refuses instead.
  const loadReads = loadReadsOf(pipeline);
  // (In-memory stamps: after the first job a file costs a stat, as in keying.)
  const loadStamps = new RunReadStamps();
  const loadedWith = loadReads && loadReadFacts(loadReads, loadStamps);
  const checkLoadReads = () => {
    if (!loadReads || Object.keys(loadedWith!).length === 0) return;
    const now = loadReadFacts(loadReads, loadStamps);
    if (canonicalJson(now) === canonicalJson(loadedWith)) return;
    const moved = Object.keys({ ...now, ...loadedWith }).filter((k) => now[k] !== loadedWith![k]);
    throw new Error(
      `the pipeline module ${file} read ${moved.join(', ')} while this worker loaded it, and it has changed since: restart the worker (cellar worker) so it loads the module with the data the coordinator keyed`,
    );
  };
  const recordsOf = async (digest: string | undefined) => {
    if (!digest) return new Map<string, RecordedRunReads>();
    const json = await connection.get(readsRecordsKey(name, digest));
    if (json === null)
      throw new Error(
        `the run-time read records ${digest} the coordinator keyed with are gone from Redis (expired or flushed): run the pipeline again`,
      );
    return decodeReadsRecords(json);
  };
  /** One keying per params and read records (the job's digest). */
  const keyingId = (params: Record<string, unknown>, reads: string | undefined) =>
    `${JSON.stringify(params)}\u0000${reads ?? ''}`;
  const keysFor = (
    params: Record<string, unknown>,
    reads: string | undefined,
  ): Promise<Map<string, CacheKey>> => {
    const id = keyingId(params, reads);
    let p = prepared.get(id);
    if (!p) {
      p = (async () => {
        const { graph, diagnostics } = buildGraph(pipeline, params);
        if (!graph)
          throw new Error(
            `this worker cannot build ${pipeline.name} with params ${JSON.stringify(params)}: ${diagnostics.map((d) => d.message).join('; ')}`,
          );
        keyedAt.set(id, Date.now());
        const records = await recordsOf(reads);
        return computeKeys(graph, {
          hasher,
          workdir: process.cwd(),
          reads: { ...readsAt, stamps: RunReadStamps.forProject(root), records },
        });
      })();
      // A failed lookup (records gone) is tried again on the next job, not remembered.
      p.catch(() => prepared.delete(id));
      prepared.set(id, p);
    }
    return p;
  };
  // A pool per distinct params: its threads build the graph once, with those params.
  const poolFor = (params: Record<string, unknown>): WorkerPool => {
    const id = JSON.stringify(params);
    let pool = pools.get(id);
    if (!pool) {
      pool = new WorkerPool(options.concurrency, {
        pipelineFile: file,
        workspace: options.workspace,
        params,
        store: options.store,
        projectRoot: root,
      });
      pools.set(id, pool);
    }
    return pool;
  };

  const process1 = async (job: Job<DistributedJobData, JobResult>): Promise<JobResult> => {
    const { job: attempt, params } = job.data;
    const { task, key } = attempt;
    if (job.data.pipeline !== pipeline.name)
      throw new Error(
        `job for pipeline '${job.data.pipeline}' reached a worker of '${pipeline.name}'`,
      );
    if (job.data.store.spec !== options.store.spec) {
      throw new Error(
        `the coordinator uses the store ${job.data.store.spec}, this worker ${options.store.spec}: start the worker with --store ${job.data.store.spec}`,
      );
    }
    checkLoadReads();
    const mine = (await keysFor(params, job.data.reads)).get(task);
    if (!mine) throw new Error(`task '${task}' is not in this worker's pipeline ${file}`);
    if (mine.value !== key) {
      throw new Error(
        `this worker's code gives task '${task}' the key ${mine.value}, the coordinator's ${key}: the worker runs other code or package versions, or a file a task reads differs on this machine (deploy the same build and data everywhere)`,
      );
    }
    const commit = attempt.commit;
    if (!commit)
      throw new Error(
        `job ${job.id} carries no commit record (coordinator and worker are different Cellar versions)`,
      );
    const lock = await store.lock(task, key, (holder) =>
      log(`${time()} waiting ${task}: ${holder} holds it`),
    );
    try {
      const existing: Manifest | undefined = (await store.isDone(task, key))
        ? await store.readManifest(task, key)
        : undefined;
      // A forced task reuses only a result committed for this very job (a stalled copy of it).
      if (existing && (!commit.forced || Date.parse(existing.finishedAt) >= job.timestamp)) {
        log(`${time()} reused  ${task} (already in the store)`);
        return { outputs: existing.outputs, durationMs: existing.durationMs, reused: true };
      }
      log(`${time()} start   ${task} (job ${job.id})`);
      // Keyed reads are checked against when this machine keyed them (its clock, its files).
      const since = keyedAt.get(keyingId(params, job.data.reads));
      const run =
        attempt.keyed && since !== undefined
          ? { ...attempt, keyed: { ...attempt.keyed, sinceMs: since } }
          : attempt;
      const result = await poolFor(params).run(run);
      // Not committed, as in a local run (execute.ts): a keyed file changed while the task ran,
      // or an upstream result of this run was not committed.
      const notCached = commit.notCached ?? result.notCached;
      if (notCached) {
        log(`${time()} done    ${task} (not cached: ${notCached})`);
        return { ...result, notCached };
      }
      // Read an input its key lacks (or an upstream of this run did): the coordinator's read
      // adopter files it under the key that holds the input (execute.ts `unkeyed`).
      if (result.unkeyed) {
        log(`${time()} done    ${task} (its key lacked a read it made: filed under the next)`);
        return { ...result, unkeyed: true };
      }
      await store.writeManifest({
        task,
        key,
        inputs: commit.inputs,
        outputs: result.outputs,
        durationMs: result.durationMs,
        finishedAt: new Date().toISOString(),
        ...(result.written ? { written: result.written } : {}),
      });
      log(`${time()} done    ${task}`);
      return result;
    } catch (error) {
      log(`${time()} FAILED  ${task}: ${(error as Error).message.split('\n')[0]}`);
      throw error;
    } finally {
      await lock.release();
    }
  };

  const worker = new Worker<DistributedJobData, JobResult>(name, process1, {
    connection,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
  });
  worker.on('error', (error) => log(`${time()} worker error: ${error.message}`));
  await worker.waitUntilReady();
  log(
    `${time()} worker for ${pipeline.name}: queue ${name}, concurrency ${options.concurrency}, store ${store.location}`,
  );
  return {
    queue: name,
    close: async () => {
      await worker.close();
      await Promise.all([...pools.values()].map((p) => p.close()));
      await store.close?.();
      connection.disconnect();
    },
  };
}
