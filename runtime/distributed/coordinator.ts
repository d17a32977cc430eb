// The coordinator's side of a distributed run: a TaskRunner that runs each attempt as a BullMQ
// job instead of on a local thread. The scheduler (run/execute.ts) is unchanged: it still walks
// the DAG, starts a task once its upstream is done, emits the RunEvents the summary and progress
// line are made of, retries, and stops on failure; this runner only carries one attempt to a
// worker and its result back. So a distributed run prints and exits exactly like a local one.
//
// The DAG is never handed to BullMQ (its flows model trees: a diamond's shared child waited
// forever, bullmq #1021, #2453); jobs are independent, added only when their inputs exist.
// Job ids are `<task>.<key>`, so duplicate adds collapse. A job found finished under that id is
// history (the store, not Redis, says what is done) and is cleared before the add.
//
// The runner `commits`: the worker takes the store's lock on task+key, reuses a result another
// worker finished, and writes the manifest itself, so the lock is held where the outputs are
// written and a job retaken after a stall cannot be computed twice.
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobResult, TaskRunner } from '../run/execute.js';
import type { TaskJob } from '../run/perform.js';
import type { StoreChoice } from '../store/open.js';
import type { RecordedRunReads } from '../key/run-reads.js';
import {
  checkRedisUrl,
  encodeReadsRecords,
  jobId,
  queueName,
  READS_RECORDS_TTL_S,
  readsRecordsKey,
  type DistributedJobData,
} from './queue.js';
import { checkRedisReachable } from './redis.js';

export interface BullmqRunnerOptions {
  redis: string;
  /** The pipeline's name: the queue is `cellar-<name>`. */
  pipeline: string;
  params: Record<string, unknown>;
  store: Pick<StoreChoice, 'spec' | 'gcs'>;
  /**
   * Called once when jobs have waited `waitNoticeMs` and no worker has taken any job of the queue
   * yet (none is running, or none for this pipeline): the run would otherwise wait in silence.
   */
  onNoWorker?: (waitedMs: number) => void;
  /** Default CELLAR_WORKER_WAIT_MS, else 10 s. */
  waitNoticeMs?: number;
}

export class BullmqRunner implements TaskRunner {
  readonly commits = true;
  private readonly connection: Redis;
  private readonly eventsConnection: Redis;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly ready: Promise<unknown>;
  /** Digest of the records the run keyed with (absent: none). */
  private reads: string | undefined;
  /** Jobs added and not finished. */
  private waiting = 0;
  /** Until a worker takes a job: the timer of the no-worker notice (`onNoWorker`). */
  private noWorkerTimer: NodeJS.Timeout | undefined;
  /** A worker took a job of the queue, or the notice was given: no notice (again). */
  private workerSeen = false;

  /**
   * A runner on the Redis at `options.redis`, once it answers a PING: else CellarError
   * E_REDIS_UNREACHABLE within seconds (redis.ts), where the connections BullMQ uses would retry
   * for ever.
   */
  static async connect(options: BullmqRunnerOptions): Promise<BullmqRunner> {
    await checkRedisReachable(checkRedisUrl(options.redis));
    return new BullmqRunner(options);
  }

  constructor(private readonly options: BullmqRunnerOptions) {
    const url = checkRedisUrl(options.redis);
    this.connection = new Redis(url, { maxRetriesPerRequest: null });
    this.eventsConnection = new Redis(url, { maxRetriesPerRequest: null });
    const name = queueName(options.pipeline);
    this.queue = new Queue(name, { connection: this.connection });
    // Each waiting job listens for the queue closing: a wide fan-out is not a listener leak.
    this.queue.setMaxListeners(0);
    this.events = new QueueEvents(name, { connection: this.eventsConnection });
    this.events.setMaxListeners(0);
    const seen = () => {
      this.workerSeen = true;
      clearTimeout(this.noWorkerTimer);
    };
    for (const event of ['active', 'completed', 'failed'] as const) this.events.on(event, seen);
    this.ready = Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** Resolves once Redis answers; rejects after `timeoutMs` with a message naming the URL. */
  async reachable(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `cannot reach Redis at ${this.options.redis} (no answer in ${timeoutMs / 1000} s)`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Store the run's read records in Redis under their digest; jobs name the digest. */
  async beginRun(records: ReadonlyMap<string, RecordedRunReads>): Promise<void> {
    if (records.size === 0) return;
    await this.ready;
    const { digest, json } = encodeReadsRecords(records);
    const key = readsRecordsKey(queueName(this.options.pipeline), digest);
    await this.connection.set(key, json, 'EX', READS_RECORDS_TTL_S);
    this.reads = digest;
  }

  async run(job: TaskJob): Promise<JobResult> {
    await this.ready;
    const id = jobId(job.task, job.key);
    const previous = await this.queue.getJob(id);
    if (previous) {
      const state = await previous.getState();
      if (state === 'completed' || state === 'failed')
        await previous.remove().catch(() => undefined);
    }
    const data: DistributedJobData = {
      pipeline: this.options.pipeline,
      params: this.options.params,
      store: this.options.store,
      job,
      ...(this.reads ? { reads: this.reads } : {}),
    };
    // One BullMQ attempt per scheduler attempt: retries and their backoff stay the scheduler's,
    // so they show in the run's events as in a local run. Finished jobs are kept an hour.
    const added = await this.queue.add(job.task, data, {
      jobId: id,
      attempts: 1,
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
    });
    this.waiting++;
    this.noticeLater();
    try {
      return (await added.waitUntilFinished(this.events)) as JobResult;
    } catch (error) {
      // The worker's error, with its stack (the CLI maps its frames to the notebook cell).
      const failed = await Job.fromId(this.queue, id).catch(() => undefined);
      const out = new Error(failed?.failedReason || (error as Error).message);
      const stack = failed?.stacktrace?.at(-1);
      if (stack) out.stack = stack;
      throw out;
    } finally {
      this.waiting--;
    }
  }

  /** Arms the no-worker notice (`onNoWorker`) unless a worker was seen or it is armed. */
  private noticeLater(): void {
    if (!this.options.onNoWorker || this.workerSeen || this.noWorkerTimer) return;
    const env = Number(process.env.CELLAR_WORKER_WAIT_MS);
    const ms = this.options.waitNoticeMs ?? (Number.isFinite(env) && env > 0 ? env : 10_000);
    this.noWorkerTimer = setTimeout(() => {
      if (this.workerSeen || this.waiting === 0) {
        this.noWorkerTimer = undefined;
        return;
      }
      this.workerSeen = true;
      this.options.onNoWorker?.(ms);
    }, ms);
    // The notice never keeps a process alive.
    this.noWorkerTimer.unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.noWorkerTimer);
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    this.connection.disconnect();
    this.eventsConnection.disconnect();
  }
}
