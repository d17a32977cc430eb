// What the coordinator and the workers of a distributed run agree on: the queue's name, the job
// id, what a job carries, and how to connect. Plain data both sides import; no BullMQ here.
import { canonicalJson, sha256 } from '../key/hash.js';
import type { RecordedRunReads } from '../key/run-reads.js';
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
  /**
   * The digest of the run-time read records the coordinator keyed with (`readsRecordsKey`), when
   * it had any: the worker keys with those records, not with what it finds later (records grow
   * while a run goes on, and a task's key moves with its upstream's records).
   */
  reads?: string;
}

/** Records of a run as canonical JSON and their digest (the same records give the same digest). */
export function encodeReadsRecords(records: ReadonlyMap<string, RecordedRunReads>): {
  digest: string;
  json: string;
} {
  const json = canonicalJson(Object.fromEntries(records));
  return { digest: sha256(json).slice(0, 32), json };
}

/** Records back from `encodeReadsRecords`' JSON. */
export function decodeReadsRecords(json: string): Map<string, RecordedRunReads> {
  return new Map(Object.entries(JSON.parse(json) as Record<string, RecordedRunReads>));
}

/** The Redis key holding a run's records (JSON), by digest; kept a week after its last run. */
export function readsRecordsKey(queue: string, digest: string): string {
  return `cellar:${queue}:reads:${digest}`;
}

/** How long (s) a run's records stay in Redis after the run that stored them last. */
export const READS_RECORDS_TTL_S = 7 * 24 * 3600;

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
