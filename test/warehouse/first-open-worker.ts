// Worker-thread body for first-open.test.ts, playing a task worker of `cellar run`:
// - `{ kind: 'seed', path, root }`: open the warehouse file (maybe not there yet), seed the
//   penguins table, count its rows, close; replies `{ rows }` or `{ error }`.
// - `{ kind: 'wait', path, flag }`: take the file's lease with a 20 ms heartbeat staleness, then
//   set `flag[0] = 1` (shared memory, so the main thread sees it even while its event loop is
//   blocked) and release; replies `{ acquired: true }`.
// - `{ kind: 'hold', path }`: take the lease and keep it (the test then ends this thread);
//   replies `{ held: true }`.
import { parentPort } from 'node:worker_threads';
import { openDuckDB } from '../../runtime/warehouse/adapters/open.js';
import { SEEDS, seedExamples } from '../../runtime/warehouse/adapters/duckdb-seed.js';
import { DuckDBLease } from '../../runtime/warehouse/adapters/duckdb-lease.js';

type Job =
  | { kind: 'seed'; path: string; root: string }
  | { kind: 'wait'; path: string; flag: Int32Array }
  | { kind: 'hold'; path: string };

parentPort!.on('message', (job: Job) => {
  void (async () => {
    try {
      if (job.kind === 'hold') {
        await new DuckDBLease({ path: job.path, threads: 1, idleMs: 600_000 }).acquire();
        parentPort!.postMessage({ held: true });
        return;
      }
      if (job.kind === 'wait') {
        parentPort!.postMessage({ waiting: true });
        const lease = new DuckDBLease({ path: job.path, threads: 1, staleMs: 20 });
        await lease.acquire();
        Atomics.store(job.flag, 0, 1);
        Atomics.notify(job.flag, 0);
        lease.release();
        lease.close();
        parentPort!.postMessage({ acquired: true });
        return;
      }
      const w = await openDuckDB({ path: job.path, idleMs: 1 });
      await seedExamples(
        w,
        job.root,
        SEEDS.filter((s) => s.table === 'vega.penguins'),
      );
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
      parentPort!.postMessage({ rows });
    } catch (e) {
      parentPort!.postMessage({ error: (e as Error).message });
    }
  })();
});
