// Worker-thread body for lease.test.ts: opens the same DuckDB file as the main thread (as the
// runtime's task workers do) and appends rows through cellar, one statement at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { openDuckDB } from '../../runtime/warehouse/adapters/open.js';

const { path, n, tag } = workerData as { path: string; n: number; tag: string };
const w = await openDuckDB({ path, idleMs: 1 });
for (let i = 0; i < n; i++) await w.insertRows('t.log', [{ who: tag, i }]);
await w.close();
parentPort!.postMessage('done');
