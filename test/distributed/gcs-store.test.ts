// The Cloud Storage store with the real @google-cloud/storage client against the GCS stand-in
// (test/support/gcs-standin: a test double of the JSON API; its header says what it covers).
// The store contract (done marker, immutable content-addressed outputs, readers without locks),
// the lease (waits on a live holder, breaks a stale one, heartbeats keep it), and two concurrent
// `cellar run --store gs://…` processes on one task: one computes, the other reuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { GcsStandin, crc32c } from '../support/gcs-standin/server.js';
import { GcsStore, parseGcsUri } from '../../runtime/store/gcs.js';
import type { Manifest } from '../../runtime/types.js';
import { completions, copyShapes, root } from './helpers.js';

let standin: GcsStandin;
let storage: Storage;

beforeAll(async () => {
  standin = new GcsStandin(['cellar-test']);
  storage = new Storage({ apiEndpoint: await standin.start(), projectId: 'test' });
});

afterAll(async () => {
  await standin?.stop();
});

let prefixCounter = 0;
const store = (
  options: ConstructorParameters<typeof GcsStore>[2] = {},
  prefix = `p${prefixCounter++}`,
) => new GcsStore(storage.bucket('cellar-test'), prefix, options);
const manifest = (task: string, key: string, outputs: Manifest['outputs'] = {}): Manifest => ({
  task,
  key,
  inputs: { task, version: 0, cache: 'params', params: {}, upstream: {}, codecs: {} },
  outputs,
  durationMs: 1,
  finishedAt: new Date().toISOString(),
});
const bytes = (s: string) => new TextEncoder().encode(s);

describe('the GCS stand-in (test double) itself', () => {
  it('computes CRC32C as Cloud Storage does, and a wrong hash in its answer makes the real client reject the upload', async () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
    standin.corruptNextHash = true;
    await expect(
      storage.bucket('cellar-test').file('probe/x').save('data', { resumable: false }),
    ).rejects.toThrow(/did not match/);
    // The client deleted what it judged corrupt.
    expect(standin.read('cellar-test', 'probe/x')).toBeUndefined();
  });

  it('takes chunked resumable uploads (308 until the last chunk) and refuses a create over a live object (412)', async () => {
    const big = Buffer.alloc(600 * 1024, 3);
    big[12345] = 9;
    const file = storage.bucket('cellar-test').file('probe/chunked');
    await file.save(big, {
      resumable: true,
      chunkSize: 256 * 1024,
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    expect(standin.read('cellar-test', 'probe/chunked')!.equals(big)).toBe(true);
    expect(
      standin.requests.filter((r) => r.method === 'PUT' && r.status === 308).length,
    ).toBeGreaterThanOrEqual(2);
    await expect(
      file.save('other', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    ).rejects.toMatchObject({ code: 412 });
  });
});

describe('GcsStore', () => {
  it('parses gs:// locations and refuses others', () => {
    expect(parseGcsUri('gs://bucket-1/a/b/')).toEqual({ bucket: 'bucket-1', prefix: 'a/b' });
    expect(parseGcsUri('gs://bucket-1')).toEqual({ bucket: 'bucket-1', prefix: '' });
    expect(() => parseGcsUri('s3://x/y')).toThrow(/gs:\/\/bucket/);
  });

  it('is done only once the manifest exists; outputs are content-addressed and never overwritten', async () => {
    const s = store({}, 'contract');
    const name = await s.writeOutput('t', 't/rows_k1.json', bytes('[1,2]'));
    expect(name).toMatch(/^t\/[0-9a-f]{64}\.json$/);
    expect(await s.isDone('t', 'k1')).toBe(false);
    // The same bytes again: the same name, no error (the blob stays as it was).
    const generation = (
      await storage.bucket('cellar-test').file(`contract/${name}`).getMetadata()
    )[0].generation;
    expect(await s.writeOutput('t', 't/rows_k1.json', bytes('[1,2]'))).toBe(name);
    expect(
      (await storage.bucket('cellar-test').file(`contract/${name}`).getMetadata())[0].generation,
    ).toBe(generation);
    await s.writeManifest(
      manifest('t', 'k1', {
        rows: {
          codec: 'json',
          codecVersion: 1,
          file: name,
          bytes: 5,
          schema: { kind: 'json', type: 'array', length: 2 },
        },
      }),
    );
    expect(await s.isDone('t', 'k1')).toBe(true);
    expect((await s.readManifest('t', 'k1'))!.outputs.rows!.file).toBe(name);
    expect(new TextDecoder().decode(await s.readOutput('t', name))).toBe('[1,2]');
    expect((await s.latestManifest('t'))!.key).toBe('k1');
    expect(await s.readManifest('t', 'nope')).toBeUndefined();
    // Big outputs go up as resumable uploads.
    const big = store({ resumableFromBytes: 1024 }, 'contract');
    const before = standin.requests.filter((r) => r.uploadType === 'resumable').length;
    await big.writeOutput('t', 't/blob_k1.bin', new Uint8Array(4096).fill(1));
    expect(standin.requests.filter((r) => r.uploadType === 'resumable').length).toBeGreaterThan(
      before,
    );
  });

  it('commits by creating the manifest if absent: a second writer without the lease does not replace it', async () => {
    const a = store({}, 'commit');
    const b = store({}, 'commit');
    const first = manifest('t', 'k', {});
    first.durationMs = 111;
    await a.writeManifest(first);
    const second = manifest('t', 'k', {});
    second.durationMs = 222;
    await b.writeManifest(second); // lost the race: theirs stands
    expect((await a.readManifest('t', 'k'))!.durationMs).toBe(111);
    // The lease holder (a forced rerun) replaces it.
    const lock = await b.lock('t', 'k');
    await b.writeManifest(second);
    await lock.release();
    expect((await a.readManifest('t', 'k'))!.durationMs).toBe(222);
  });

  it('a live lease makes a writer on another host wait (heartbeats keep it past the lease time); release lets it in', async () => {
    // The lease is long beside the heartbeat and the waiter's polls (at most a second apart): the
    // holder's renewals, the waiter and the stand-in share this process, and the waiter breaks a
    // lease whose generation it saw unchanged for the lease time, so only a pause of the whole
    // process for about that long could make it break a live holder (a lease of a second let a
    // loaded machine's pause do it).
    const leaseMs = 10_000;
    const timing = { leaseMs, heartbeatMs: 250 };
    const holder = store({ ...timing, identity: { host: 'host-a' } }, 'lease');
    const other = store({ ...timing, identity: { host: 'host-b' } }, 'lease');
    const held = await holder.lock('t', 'k');
    let waitedFor = '';
    let got = false;
    const taken = other.lock('t', 'k', (h) => (waitedFor = h)).then((l) => ((got = true), l));
    // Past the lease time (a holder that stopped renewing is broken within it and a poll); the
    // heartbeat keeps renewing, so the other host keeps waiting.
    const until = Date.now() + 1.5 * leaseMs;
    while (!got && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe(false);
    expect(waitedFor).toContain('host-a');
    await held.release();
    await (await taken).release();
    expect(got).toBe(true);
  });

  it('renewals never overlap: a heartbeat faster than a write keeps the lease, and release removes it', async () => {
    // Each renewal is conditioned on the generation the previous one made: one started while the
    // previous is out failed with 412 and marked the live lease lost, so release left it behind.
    const s = store({ leaseMs: 10_000, heartbeatMs: 1, identity: { host: 'host-d' } }, 'beats');
    const lock = await s.lock('t', 'k');
    const first = Number(
      (await storage.bucket('cellar-test').file('beats/t/k.lease').getMetadata())[0].generation,
    );
    // Renewed meanwhile (each write takes longer than the 1 ms beat).
    for (let g = first; g === first;) {
      await new Promise((r) => setTimeout(r, 20));
      g = Number(
        (await storage.bucket('cellar-test').file('beats/t/k.lease').getMetadata())[0].generation,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
    // Still the holder: a forced rerun's manifest replaces the one there.
    const old = manifest('t', 'k');
    old.durationMs = 1;
    await s.writeManifest(old);
    const replaced = manifest('t', 'k');
    replaced.durationMs = 2;
    await s.writeManifest(replaced);
    expect((await s.readManifest('t', 'k'))!.durationMs).toBe(2);
    await lock.release();
    expect(standin.read('cellar-test', 'beats/t/k.lease')).toBeUndefined();
  });

  it('a lease whose holder stopped renewing (another host) is broken after the lease time; a dead local holder at once', async () => {
    const bucket = storage.bucket('cellar-test');
    await bucket
      .file('stale/t/k.lease')
      .save(JSON.stringify({ host: 'gone-host', pid: 1, token: 'x', since: 'then' }), {
        resumable: false,
      });
    const s = store({ leaseMs: 200, identity: { host: 'host-c' } }, 'stale');
    let waited = false;
    const lock = await s.lock('t', 'k', () => (waited = true));
    expect(waited).toBe(true);
    await lock.release();

    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    const { hostname } = await import('node:os');
    const { bootId } = await import('../../runtime/store/lock.js');
    await bucket.file('stale/t/k2.lease').save(
      JSON.stringify({
        host: hostname(),
        boot: bootId(),
        pid: child.pid,
        token: 'y',
        since: 'then',
      }),
      { resumable: false },
    );
    let waited2 = false;
    const long = store({ leaseMs: 3_600_000 }, 'stale');
    const lock2 = await long.lock('t', 'k2', () => (waited2 = true));
    expect(waited2).toBe(false); // a dead PID on this host and boot: no lease wait
    await lock2.release();
  });
});

describe('cellar run --store gs://… (two processes at once)', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
  });

  it('two concurrent runs of the same pipeline: each task computed once, the other run reuses it', async () => {
    const dir = copyShapes();
    const pipeline = join(dir, 'diamond.ts');
    const env = { ...process.env, CELLAR_GCS_ENDPOINT: standin.endpoint, CELLAR_WORKSPACE: '' };
    const { writeFileSync } = await import('node:fs');
    // `left` holds until released, so both runs are surely inside it at once.
    writeFileSync(join(dir, 'data', 'hold-left'), '');
    const start = () => {
      const child = spawn(
        process.execPath,
        [
          join(root, 'bin', 'cellar.mjs'),
          'run',
          pipeline,
          '--store',
          'gs://cellar-test/shared',
          '--workspace',
          join(dir, 'ws'),
          '--json',
        ],
        { env },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      return new Promise<{ code: number | null; stdout: string; stderr: string }>((r) =>
        child.on('close', (code) => r({ code, stdout, stderr })),
      );
    };
    const one = start();
    const two = start();
    const { until, executions } = await import('./helpers.js');
    await until(
      () => executions(dir).some((e) => e.task === 'left' && e.what === 'start'),
      'left to start',
    );
    // The second run is now waiting on the lease of `left` (or has not reached it): release.
    writeFileSync(join(dir, 'data', 'release-left'), '');
    const [r1, r2] = await Promise.all([one, two]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    expect(completions(dir)).toEqual({ top: 1, left: 1, right: 1, bottom: 1 });
    const statuses = [r1, r2].map(
      (r) =>
        (
          JSON.parse(r.stdout.trim().split('\n').pop()!) as {
            tasks: { name: string; status: string }[];
          }
        ).tasks,
    );
    for (const name of ['top', 'left', 'right', 'bottom']) {
      const s = statuses.map((tasks) => tasks.find((t) => t.name === name)!.status).sort();
      expect(s, name).toEqual(['cached', 'ran']);
    }
    // Everything lives in the bucket, under the pipeline's prefix: manifests, content-addressed outputs, no lease left behind.
    const names = standin.names('cellar-test').filter((n) => n.startsWith('shared/'));
    expect(names.filter((n) => n.endsWith('.manifest.json'))).toHaveLength(4);
    expect(names.filter((n) => n.endsWith('.lease'))).toEqual([]);
    expect(names.some((n) => /^shared\/diamond\/bottom\/[0-9a-f]{64}\.arrow$/.test(n))).toBe(true);
  }, 600_000);
});
