// What the coordinator and the workers of a distributed run agree on: the queue's name, the job
// id, what a job carries, and how to connect. Plain data both sides import; no BullMQ here.
import type { JobResult } from '../run/execute.js';
import type { TaskJob } from '../run/perform.js';
import type { StoreChoice } from '../store/open.js';

/** One BullMQ job: everything a worker needs to run one attempt of one task. */
export interface DistributedJobData {
  /** The pipeline's name (a worker refuses jobs of another pipeline). */
  pipeline: string;
  /** The run's pipeline params: the worker builds its graph and keys with them to check the key. */
  params: Record<string, unknown>;
  /** The store the coordinator uses (the worker must write where the coordinator reads). */
  store: Pick<StoreChoice, 'spec' | 'gcs'>;
  /** The attempt itself, with `commit` set (the worker locks, reuses or computes, commits). */
  job: TaskJob;
}

export type DistributedJobResult = JobResult;

/** One queue per pipeline: workers of different pipelines can share a Redis. */
export function queueName(pipeline: string): string {
  // BullMQ keys are `<prefix>:<queue>:…`, so a colon cannot appear in a queue name.
  return `cellar-${pipeline.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

/**
 * The job id of task+key: two adds of the same attempt (two coordinators, or a restarted one)
 * collapse onto one job, as BullMQ ignores an add whose id exists.
 */
export function jobId(task: string, key: string): string {
  return `${task}.${key}`;
}

/** Timing of BullMQ's stalled-job recovery (ms): how soon a killed worker's job is retaken. */
export interface StallTiming {
  /** How long a worker's lock on a job lasts unless renewed (renewed every half of it). Default 30 s. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired. Default 30 s. */
  stalledIntervalMs?: number;
  /** How many times a job may stall before it fails. Default 2. */
  maxStalledCount?: number;
}

/** `redis://host:port/db`, checked early so a typo is a usage error, not a hang. */
export function checkRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--redis needs a URL like redis://127.0.0.1:6379, got '${url}'`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new Error(`--redis needs a redis:// or rediss:// URL, got '${url}'`);
  return url;
}
