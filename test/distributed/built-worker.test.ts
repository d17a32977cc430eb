// `cellar worker <built folder>` (README: workers may run a `cellar build` folder) on a real
// redis-server. Before, the worker loaded the folder's pipeline.js but never registered the code
// fingerprints manifest.json records (only `node run.mjs` did), so every task failed: "no
// recorded code fingerprint for cellar-build:generated/…/load.ts". Now its tasks run, read the
// data of the notebook's folder (the build's workdir), and are keyed as a run from the sources.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects, runStatuses, showOutput } from '../acceptance/harness.js';
import { startCli } from '../runtime/helpers.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { until } from './helpers.js';

let redis: RedisServer;
let worker: ReturnType<typeof startCli> | undefined;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  if (worker?.child.pid) {
    try {
      process.kill(worker.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await redis?.stop();
  removeProjects();
});

const NB = 'notebooks/shop.ipynb';

describe('cellar worker <built folder>', () => {
  it('runs the tasks of a freshly built bundle, reading the workdir, keyed as the sources', async () => {
    const p = project();
    p.write('notebooks/prices.json', '[3, 4, 5]\n');
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        "//| task: load\n//| output: prices=json\nconst prices: number[] = JSON.parse(readFileSync('prices.json', 'utf8'));",
        '//| task: total\n//| output: sum=json\nconst sum = prices.reduce((a, b) => a + b, 0);',
      ]),
    );
    const b = p.cellar('build', NB, '--out', 'dist', '--no-lockfile');
    expect(b.code, b.stderr).toBe(0);

    const ws = join(p.dir, 'ws');
    // No --workdir: the build's own (the notebook's folder), as `node run.mjs` takes it.
    worker = startCli(
      [
        'worker',
        join(p.dir, 'dist'),
        '--redis',
        redis.url,
        '--workspace',
        ws,
        '--concurrency',
        '1',
      ],
      { cwd: p.dir },
    );
    let log = '';
    worker.child.stderr!.on('data', (d) => (log += d));
    await until(() => log.includes('queue cellar-'), 'the worker to start');

    const run = await p.cellarAsync(
      'run',
      NB,
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      ws,
      '--json',
    );
    expect(run.code, `${run.stderr}\n${run.stdout}\nworker: ${log}`).toBe(0);
    const statuses = Object.fromEntries(
      JSON.parse(run.stdout).tasks.map((t: { name: string; status: string }) => [t.name, t.status]),
    );
    expect(statuses).toEqual({ load: 'ran', total: 'ran' });
    expect(showOutput(p, NB, 'total', 'sum', '--workspace', 'ws')).toBe(12);
    // The worker's keys are the sources' keys: a local run from the notebook is all cached.
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ load: 'cached', total: 'cached' });
  });
});
