// The first open of a fresh warehouse file, as `cellar run --workers 2` does it: the main thread
// and worker threads open (and seed) the same new DuckDB file at once. DuckDB does not lock a
// file against other threads of its own process, so only the lease (duckdb-lease.ts) keeps two
// instances from having it open together; a worker that took the lease from a main thread
// blocked in DuckDB's checkpoint opened a half-written file ("Could not read enough bytes").
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB } from '../../runtime/warehouse/adapters/open.js';
import { SEEDS, seedExamples } from '../../runtime/warehouse/adapters/duckdb-seed.js';
import { DuckDBLease } from '../../runtime/warehouse/adapters/duckdb-lease.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
mkdirSync(join(root, 'test/.tmp'), { recursive: true });
// Inside the project, so the bundled worker resolves @duckdb/node-api from node_modules.
const dir = mkdtempSync(join(root, 'test/.tmp/first-open-'));
const workerFile = join(dir, 'first-open-worker.mjs');
const workers: Worker[] = [];

beforeAll(async () => {
  // Worker threads cannot load TypeScript here: bundle the worker body with esbuild first.
  await build({
    entryPoints: [fileURLToPath(new URL('./first-open-worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: workerFile,
    external: ['@duckdb/*', '@polyglot-sql/*', '@google-cloud/*', 'google-auth-library'],
    logLevel: 'silent',
  });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
  rmSync(dir, { recursive: true, force: true });
});

function startWorker(): Worker {
  const w = new Worker(workerFile);
  workers.push(w);
  return w;
}

/** The next reply of `w` that has `key`, or its error. */
function reply<T>(w: Worker, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m) && !('error' in m)) return;
      w.off('message', onMessage).off('error', reject);
      resolve(m as T);
    };
    w.on('message', onMessage).once('error', reject);
  });
}

describe('first open of a fresh warehouse file', () => {
  it('main thread and two worker threads open and seed a new file at once, 8 times over', async () => {
    const pool = [startWorker(), startWorker()];
    const penguins = SEEDS.filter((s) => s.table === 'vega.penguins');
    for (let round = 0; round < 8; round++) {
      const path = join(dir, `fresh-${round}`, 'warehouse.duckdb'); // folder not there yet
      const inMain = (async () => {
        const w = await openDuckDB({ path, idleMs: 1 });
        await seedExamples(w, root, penguins);
        const rows = await w.withConnection(async (c) =>
          Number(
            (
              (
                await c.runAndReadAll('SELECT count(*)::INTEGER AS n FROM vega.penguins')
              ).getRowObjectsJson()[0] as { n: number }
            ).n,
          ),
        );
        await w.close();
        return { rows };
      })().catch((e: Error) => ({ error: e.message }));
      const results = await Promise.all([
        inMain,
        ...pool.map((w) => {
          const r = reply<{ rows?: number; error?: string }>(w, 'rows');
          w.postMessage({ kind: 'seed', path, root });
          return r;
        }),
      ]);
      expect(results, `round ${round}`).toEqual([{ rows: 344 }, { rows: 344 }, { rows: 344 }]);
    }
  });

  it('a holder whose event loop is blocked keeps the lease: a worker waits, it does not take over', async () => {
    const path = join(dir, 'blocked.duckdb');
    const holder = new DuckDBLease({ path, threads: 1, idleMs: 60_000 });
    await holder.acquire(); // the file is open in this thread, as during a checkpoint on close
    const worker = startWorker();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const waiting = reply(worker, 'waiting');
    const acquired = reply<{ acquired?: boolean; error?: string }>(worker, 'acquired');
    worker.postMessage({ kind: 'wait', path, flag });
    await waiting;
    // Block this thread's event loop (no heartbeat can run) well past the waiter's 20 ms
    // staleness. Atomics.wait returns 'ok' the moment the worker holds the lease: it must not.
    expect(Atomics.wait(flag, 0, 0, 2_000)).toBe('timed-out');
    holder.release();
    holder.close();
    expect(await acquired).toEqual({ acquired: true }); // and once released, the waiter gets it
  });

  it('a lease left by a worker thread that has ended is taken over at once', async () => {
    const path = join(dir, 'ended.duckdb');
    const worker = startWorker();
    const held = reply(worker, 'held');
    worker.postMessage({ kind: 'hold', path });
    expect(await held).toEqual({ held: true });
    await worker.terminate(); // no cleanup runs in the thread: its lock file stays
    // waitMs 0: a holder judged alive fails at once with "in use by"; an ended thread's lease,
    // although its heartbeat is fresh, is taken over.
    const lease = new DuckDBLease({ path, threads: 1, waitMs: 0 });
    await lease.acquire();
    lease.release();
    lease.close();
  });
});
