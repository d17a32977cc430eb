// A shared store in a Google Cloud Storage bucket (`gs://bucket/prefix`), so workers on many
// machines, a batch machine and a laptop share one cache. Same contract as LocalStore, built on
// the bucket's generation preconditions instead of rename and O_EXCL. A run works on the view of
// its pipeline (`forPipeline`), whose prefix is `<prefix>/<pipeline>`:
//
//   <prefix>/<pipeline>/<task>/<sha256>.<ext>        an output: immutable, named by its content,
//                                                    created with ifGenerationMatch=0 (an equal blob is kept)
//   <prefix>/<pipeline>/<task>/<key>.manifest.json   the "done" marker: created only if absent (the commit)
//   <prefix>/<pipeline>/<task>/<key>.lease           the writer's lease on task+key while it computes
//   <prefix>/<pipeline>/_runs/<run-id>.jsonl         the run log, uploaded when the run ends
//
// Writers take the lease with ifGenerationMatch=0 and renew it (a rewrite conditioned on their
// generation) every `heartbeatMs`; a lease is stale when its generation has not changed for
// `leaseMs` as measured by the waiter's own clock (no clock comparison across machines), or at
// once when it was taken on this host and boot by a process that is gone. A stale lease is
// deleted with ifGenerationMatch=<the generation judged stale>, so two breakers cannot remove a
// fresh lease. Readers never lock: a manifest exists only once every output it names is in place,
// and outputs are never overwritten. A writer whose lease was broken (it stalled past the lease)
// still cannot clobber the winner: its outputs are new immutable blobs and its manifest create
// fails with 412, so the first commit stands. A forced rerun (`--rerun`) by the lease holder
// replaces the manifest with ifGenerationMatch=<the old generation>.
//
// Why content-addressed outputs rather than `<output>_<key>` names: two writers of one key (a
// stalled worker and its replacement) may produce different bytes (a clock in the output); with
// immutable names neither can tear the other's file, and the manifest picks one set whole.
import { sha256 } from '../key/hash.js';
import { hostname } from 'node:os';
import type { Bucket } from '@google-cloud/storage';
import type { Manifest } from '../types.js';
import { bootId, isPidAlive } from './lock.js';
import { currentProcess } from './owner.js';
import { checkRescope, pipelineFolder, type Store, type TaskLock } from './store.js';

export interface GcsStoreOptions {
  /** A lease unrenewed for this long is stale (ms). Default CELLAR_LOCK_LEASE_MS or 30 s. */
  leaseMs?: number;
  /** How often a holder renews its lease (ms). Default a third of the lease. */
  heartbeatMs?: number;
  /** Outputs at least this big go up as resumable uploads (bytes). Default 8 MiB. */
  resumableFromBytes?: number;
  /** Who this process is (tests play two hosts in one process). */
  identity?: { host: string; boot?: string };
}

interface LeaseRecord {
  host: string;
  boot?: string;
  pid: number;
  /** The holder's start time (owner.ts): a reused PID is not the holder. */
  start?: number;
  token: string;
  since: string;
}

interface HeldLease {
  generation: number;
  lost: boolean;
}

/** `gs://bucket/some/prefix` → { bucket, prefix } (prefix without slashes at either end). */
export function parseGcsUri(uri: string): { bucket: string; prefix: string } {
  const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m)
    throw new Error(
      `not a Cloud Storage location: '${uri}' (expected gs://bucket or gs://bucket/prefix)`,
    );
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

function status(error: unknown): number | undefined {
  const e = error as { code?: unknown; response?: { status?: number } };
  return typeof e.code === 'number' ? e.code : e.response?.status;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GcsStore implements Store {
  readonly location: string;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly resumableFromBytes: number;
  private readonly identity: { host: string; boot?: string };
  /** Leases this store holds, by `<task>/<key>`: a manifest may be replaced only under one. */
  private readonly held = new Map<string, HeldLease>();
  private readonly logs = new Map<string, string[]>();

  constructor(
    private readonly bucket: Bucket,
    private readonly prefix: string,
    private readonly options: GcsStoreOptions = {},
    readonly pipeline?: string,
  ) {
    this.location = `gs://${bucket.name}${prefix ? `/${prefix}` : ''}`;
    const env = Number(process.env.CELLAR_LOCK_LEASE_MS);
    this.leaseMs = options.leaseMs ?? (Number.isFinite(env) && env > 0 ? env : 30_000);
    this.heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    this.resumableFromBytes = options.resumableFromBytes ?? 8 * 2 ** 20;
    this.identity = options.identity ?? { host: hostname(), boot: bootId() };
  }

  /**
   * Open `gs://bucket/prefix` with the real client. `apiEndpoint` (or CELLAR_GCS_ENDPOINT) points
   * it elsewhere (tests: the stand-in); credentials come from the environment as usual (ADC).
   */
  static async open(
    uri: string,
    options: GcsStoreOptions & { apiEndpoint?: string; projectId?: string } = {},
  ): Promise<GcsStore> {
    const { bucket, prefix } = parseGcsUri(uri);
    const { Storage } = await import('@google-cloud/storage');
    const apiEndpoint = options.apiEndpoint ?? process.env.CELLAR_GCS_ENDPOINT;
    const storage = new Storage({
      ...(apiEndpoint ? { apiEndpoint } : {}),
      ...(options.projectId ? { projectId: options.projectId } : {}),
    });
    return new GcsStore(storage.bucket(bucket), prefix, options);
  }

  forPipeline(pipeline: string): GcsStore {
    if (checkRescope(this.pipeline, pipeline) === 'same') return this;
    const folder = pipelineFolder(pipeline);
    return new GcsStore(
      this.bucket,
      this.prefix ? `${this.prefix}/${folder}` : folder,
      this.options,
      pipeline,
    );
  }

  private name(rel: string): string {
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  private manifestName(task: string, key: string): string {
    return this.name(`${task}/${key}.manifest.json`);
  }

  outputPath(_task: string, file: string): string {
    return `${this.location}/${file}`;
  }

  async isDone(task: string, key: string): Promise<boolean> {
    const [exists] = await this.bucket.file(this.manifestName(task, key)).exists();
    return exists;
  }

  async readManifest(task: string, key: string): Promise<Manifest | undefined> {
    try {
      const [bytes] = await this.bucket.file(this.manifestName(task, key)).download();
      return JSON.parse(bytes.toString('utf8')) as Manifest;
    } catch (error) {
      if (status(error) === 404) return undefined;
      throw error;
    }
  }

  async latestManifest(task: string): Promise<Manifest | undefined> {
    return (await this.recentManifests(task, 1))[0];
  }

  async recentManifests(task: string, limit: number): Promise<Manifest[]> {
    // `delimiter` keeps the listing to this task's own folder.
    const [files] = await this.bucket.getFiles({ prefix: this.name(`${task}/`), delimiter: '/' });
    const found = files
      .filter((f) => f.name.endsWith('.manifest.json'))
      .sort(
        (a, b) => Date.parse(String(b.metadata.updated)) - Date.parse(String(a.metadata.updated)),
      );
    const out: Manifest[] = [];
    for (const f of found.slice(0, limit)) {
      try {
        const [bytes] = await f.download();
        out.push(JSON.parse(bytes.toString('utf8')) as Manifest);
      } catch (error) {
        if (status(error) !== 404) throw error; // 404: replaced meanwhile
      }
    }
    return out;
  }

  /** Uploads to `<task>/<sha256>.<ext>` unless that blob exists; returns that name. */
  async writeOutput(task: string, file: string, bytes: Uint8Array): Promise<string> {
    const base = file.slice(file.lastIndexOf('/') + 1);
    const ext = base.includes('.') ? base.slice(base.indexOf('.')) : '';
    const rel = `${task}/${sha256(bytes)}${ext}`;
    try {
      await this.bucket
        .file(this.name(rel))
        .save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
          resumable: bytes.byteLength >= this.resumableFromBytes,
          contentType: 'application/octet-stream',
          preconditionOpts: { ifGenerationMatch: 0 },
        });
    } catch (error) {
      // 412: the very same bytes are already there (the name is their hash).
      if (status(error) !== 412) throw error;
    }
    return rel;
  }

  async readOutput(_task: string, file: string): Promise<Uint8Array> {
    try {
      const [bytes] = await this.bucket.file(this.name(file)).download();
      return bytes;
    } catch (error) {
      // ENOENT, as a local file: readers say whose output is missing (E_OUTPUT_MISSING) and the
      // run makes it again (perform.ts readOutput, execute.ts remakeInput).
      if (status(error) !== 404) throw error;
      throw Object.assign(new Error(`no stored object ${this.name(file)}`), { code: 'ENOENT' });
    }
  }

  /**
   * The commit: create the manifest only if absent. If one exists, a lease holder replaces it
   * (a forced rerun, conditioned on the generation it read); anyone else lost a race and the
   * first commit stands.
   */
  async dropManifest(task: string, key: string): Promise<void> {
    await this.bucket.file(this.manifestName(task, key)).delete({ ignoreNotFound: true });
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    const file = this.bucket.file(this.manifestName(manifest.task, manifest.key));
    const text = JSON.stringify(manifest, null, 2) + '\n';
    const save = (generation: number) =>
      file.save(text, {
        resumable: false,
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch: generation },
      });
    try {
      await save(0);
      return;
    } catch (error) {
      if (status(error) !== 412) throw error;
    }
    const lease = this.held.get(`${manifest.task}/${manifest.key}`);
    if (!lease || lease.lost) return;
    for (let tries = 0; tries < 5; tries++) {
      try {
        const [meta] = await file.getMetadata();
        await save(Number(meta.generation));
        return;
      } catch (error) {
        const code = status(error);
        if (code === 404) {
          try {
            await save(0);
            return;
          } catch (again) {
            if (status(again) !== 412) throw again;
          }
        } else if (code !== 412) throw error;
      }
    }
    throw new Error(
      `could not replace the manifest of ${manifest.task} (key ${manifest.key}) at ${this.location}: it kept changing`,
    );
  }

  async lock(task: string, key: string, onWait?: (holder: string) => void): Promise<TaskLock> {
    const file = this.bucket.file(this.name(`${task}/${key}.lease`));
    const me: LeaseRecord = {
      host: this.identity.host,
      ...(this.identity.boot ? { boot: this.identity.boot } : {}),
      pid: process.pid,
      ...(currentProcess().start !== undefined ? { start: currentProcess().start } : {}),
      token: Math.random().toString(36).slice(2),
      since: new Date().toISOString(),
    };
    const write = async (ifGenerationMatch: number): Promise<number> => {
      // A File object per write: the client records the new object's metadata (its generation) on it.
      const target = this.bucket.file(file.name);
      await target.save(JSON.stringify(me), {
        resumable: false,
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch },
      });
      return Number(target.metadata.generation);
    };
    let told = false;
    let delay = 50;
    // The generation we saw the holder at, and when (our clock): unchanged for leaseMs → stale.
    let watched: { generation: number; since: number } | undefined;
    for (;;) {
      try {
        const generation = await write(0);
        const id = `${task}/${key}`;
        const lease: HeldLease = { generation, lost: false };
        this.held.set(id, lease);
        // One renewal at a time: each is conditioned on the generation the last one made, so a
        // beat started while the previous write is still out (a slow request) would fail with
        // 412 and mark a live lease lost for good (release then left the lease behind).
        let renewing: Promise<void> | undefined;
        const beat = setInterval(() => {
          if (renewing || lease.lost) return;
          renewing = write(lease.generation).then(
            (g) => {
              lease.generation = g;
              renewing = undefined;
            },
            (error) => {
              if (status(error) === 412 || status(error) === 404) lease.lost = true;
              renewing = undefined;
            },
          );
        }, this.heartbeatMs);
        beat.unref();
        return {
          release: async () => {
            clearInterval(beat);
            await renewing; // the generation to delete at is the one it makes
            if (this.held.get(id) === lease) this.held.delete(id);
            if (lease.lost) return;
            await file.delete({ ifGenerationMatch: lease.generation }).catch(() => undefined);
          },
        };
      } catch (error) {
        if (status(error) !== 412) throw error;
      }
      let holder: LeaseRecord | undefined;
      let generation: number;
      try {
        const [meta] = await file.getMetadata();
        generation = Number(meta.generation);
        const [bytes] = await file.download();
        try {
          holder = JSON.parse(bytes.toString('utf8')) as LeaseRecord;
        } catch {
          holder = undefined; // not ours to read: judged by its heartbeat alone
        }
      } catch (error) {
        if (status(error) === 404) continue; // released meanwhile: try again now
        throw error;
      }
      if (!watched || watched.generation !== generation)
        watched = { generation, since: Date.now() };
      const sameMachine =
        holder &&
        holder.host === this.identity.host &&
        (!holder.boot || !this.identity.boot || holder.boot === this.identity.boot);
      const dead = holder && sameMachine && !isPidAlive(holder.pid, holder.start);
      const rebooted =
        holder &&
        holder.host === this.identity.host &&
        holder.boot &&
        this.identity.boot &&
        holder.boot !== this.identity.boot;
      if (dead || rebooted || Date.now() - watched.since > this.leaseMs) {
        await file.delete({ ifGenerationMatch: generation }).catch(() => undefined);
        watched = undefined;
        continue;
      }
      if (!told && onWait) {
        told = true;
        onWait(
          holder ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : 'another process',
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 1000);
    }
  }

  /** Lines are kept in memory and uploaded as one object when the run ends (`close`). */
  appendLog(runId: string, line: string): void {
    const lines = this.logs.get(runId) ?? [];
    lines.push(line);
    this.logs.set(runId, lines);
  }

  async close(): Promise<void> {
    for (const [runId, lines] of this.logs) {
      await this.bucket
        .file(this.name(`_runs/${runId}.jsonl`))
        .save(lines.join('\n') + '\n', { resumable: false, contentType: 'application/x-ndjson' });
    }
    this.logs.clear();
  }
}
