// The DuckDB file lease: worker threads of one process (which DuckDB does not lock against each
// other) and other processes take turns on the database file instead of corrupting it.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDB } from '../../runtime/warehouse/adapters/open.js';
import { DuckDBLease } from '../../runtime/warehouse/adapters/duckdb-lease.js';
import { currentProcess } from '../../runtime/store/owner.js';

mkdirSync(fileURLToPath(new URL('../.tmp/', import.meta.url)), { recursive: true });
// Inside the project, so the bundled worker resolves @duckdb/node-api from node_modules.
const dir = mkdtempSync(join(fileURLToPath(new URL('../.tmp/', import.meta.url)), 'lease-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DuckDB lease', () => {
  it('lets worker threads and the main thread write the same file in turn', async () => {
    const path = join(dir, 'shared.duckdb');
    // Worker threads cannot load TypeScript here: bundle the worker body with esbuild first.
    const workerFile = join(dir, 'lease-worker.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./lease-worker.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: workerFile,
      external: ['@duckdb/*', '@polyglot-sql/*', '@google-cloud/*', 'google-auth-library'],
      logLevel: 'silent',
    });
    const w = await openDuckDB({ path, idleMs: 1 });
    await w.withConnection(
      async (c) =>
        void (await c.run('CREATE SCHEMA t; CREATE TABLE t.log (who VARCHAR, i INTEGER)')),
    );
    const worker = (tag: string) =>
      new Promise<void>((resolve, reject) => {
        const wk = new Worker(workerFile, { workerData: { path, n: 25, tag } });
        wk.on('message', () => resolve());
        wk.on('error', reject);
      });
    const mine = (async () => {
      for (let i = 0; i < 25; i++) await w.insertRows('t.log', [{ who: 'main', i }]);
    })();
    await Promise.all([worker('a'), worker('b'), mine]);
    const counts = await w.withConnection(async (c) =>
      (
        await c.runAndReadAll(
          'SELECT who, COUNT(*)::INTEGER AS n FROM t.log GROUP BY who ORDER BY who',
        )
      ).getRowObjectsJson(),
    );
    expect(counts).toEqual([
      { who: 'a', n: 25 },
      { who: 'b', n: 25 },
      { who: 'main', n: 25 },
    ]);
    // Every write went through cellar, so the registry counted all 75 (+1 for none at creation).
    expect((await w.tableVersion('t.log'))!.version).toMatch(/^r75:/);
    await w.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const path = join(dir, 'stale.duckdb');
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({ pid: 2 ** 22 + 12345, thread: 0, since: '2020-01-01T00:00:00Z' }),
    );
    const w = await openDuckDB({ path });
    expect(await w.tableExists('main.nothing')).toBe(false);
    await w.close();
  });

  it('takes over at once a lease left by an earlier process with this very PID (PID reuse)', async () => {
    const path = join(dir, 'reused.duckdb');
    const me = currentProcess();
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({ ...me, start: me.start! - 1, thread: 0, since: '2020-01-01T00:00:00Z' }),
    );
    // waitMs 0: a lease judged alive fails at once with "in use by"; a dead one is taken over.
    const lease = new DuckDBLease({ path, threads: 1, waitMs: 0 });
    await lease.acquire();
    lease.release();
    lease.close();
  });

  it('names the holder when the file stays busy', async () => {
    const path = join(dir, 'busy.duckdb');
    const holder = new DuckDBLease({ path, threads: 1, idleMs: 60_000 });
    await holder.acquire();
    const waiter = new DuckDBLease({ path, threads: 1, waitMs: 200 });
    await expect(waiter.acquire()).rejects.toThrow(
      new RegExp(`in use by process ${process.pid} \\(thread \\d+\\)`),
    );
    holder.release();
    holder.close();
  });
});
