// The example notebooks run top to bottom in the real tslab kernel, as a data scientist runs
// them in JupyterLab, and produce the results their markdown promises.
//
// Why this matters: the compiler turns these notebooks into pipelines, so a notebook that no
// longer runs in its own kernel would make every compiled result meaningless. Each notebook gets
// a fresh kernel started with the notebook's folder as working directory (as JupyterLab does),
// every code cell runs in order, and the test asserts no cell failed plus specific outputs.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  describeFailures,
  readCodeCells,
  repoRoot,
  runNotebookCells,
  startJupyter,
  type ExecutedCell,
  type JupyterServer,
} from '../support/jupyter.js';
import { cellarAsync, type CliResult } from '../support/cellar-cli.js';
import { prepareCellarForTslab } from '../support/tslab.js';

let server: JupyterServer;
let scratch: string;

beforeAll(async () => {
  await prepareCellarForTslab();
  mkdirSync(join(repoRoot, 'test/.tmp'), { recursive: true });
  scratch = mkdtempSync(join(repoRoot, 'test/.tmp/notebooks-'));
  // A private DuckDB file: the flights notebook seeds it on first query, and no other process
  // (a developer's kernel, another test) holds its lock.
  server = await startJupyter({ env: { CELLAR_DUCKDB_PATH: join(scratch, 'warehouse.duckdb') } });
});
afterAll(async () => {
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/**
 * Run the `cellar` CLI as a user would in a terminal next to an open notebook: its own workspace,
 * the same warehouse file as the kernel (the warehouse leases the DuckDB file between queries, so
 * a live kernel does not block a pipeline). Returns stdout.
 */
async function cellarCli(args: string[]): Promise<string> {
  const result = await cellarCliResult(args);
  if (result.code !== 0)
    throw new Error(
      `cellar ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`,
    );
  return result.stdout;
}

/** `cellar <args>` beside the open kernel (not blocking it), with the tests' workspace and warehouse. */
function cellarCliResult(args: string[]): Promise<CliResult> {
  return cellarAsync([...args, '--workspace', join(scratch, 'workspace')], {
    cwd: repoRoot,
    env: { ...process.env, CELLAR_DUCKDB_PATH: join(scratch, 'warehouse.duckdb') },
  });
}

interface RunSummary {
  ok: boolean;
  tasks: { name: string; status: string }[];
}

function byId(cells: ExecutedCell[], id: string): ExecutedCell {
  const cell = cells.find((c) => c.id === id);
  if (!cell) throw new Error(`no executed cell with id ${id}`);
  return cell;
}

describe('example notebooks in the tslab kernel', () => {
  test('penguins.ipynb runs top to bottom in tslab, classifies unseen birds, and its compiled pipeline gets the same metrics', async () => {
    const path = join(repoRoot, 'notebooks/penguins.ipynb');
    const kernel = await server.openKernel(path);
    const cells = await runNotebookCells(kernel, path);
    expect(describeFailures('notebooks/penguins.ipynb', cells)).toBe('');
    expect(cells.map((c) => c.status).every((s) => s === 'ok')).toBe(true);
    expect(cells.length).toBe(readCodeCells(path).length);

    // The data is read relative to the notebook's folder, as the compiled pipeline reads it.
    expect(byId(cells, 'load').stdout.trim()).toBe('344');
    expect(byId(cells, 'features').stdout).toContain(
      '342 of 344 birds kept; species: Adelie, Chinstrap, Gentoo',
    );
    expect(byId(cells, 'split').stdout).toContain('train 256, test 86');

    const accuracyLine = byId(cells, 'evaluate').stdout;
    const accuracy = Number(/accuracy (\d\.\d+)/.exec(accuracyLine)?.[1]);
    expect(accuracy).toBeGreaterThan(0.9);

    // Seeded split and forest: running split, train and evaluate again gives identical metrics.
    const first = await kernel.execute('JSON.stringify(metrics)');
    for (const id of ['split', 'train', 'evaluate']) {
      const rerun = await kernel.execute(byId(cells, id).source);
      expect(rerun.stderr).toBe('');
    }
    const second = await kernel.execute('JSON.stringify(metrics)');
    const metrics = JSON.parse(first.stdout) as {
      accuracy: number;
      confusion: number[][];
      nTest: number;
    };
    expect(metrics.accuracy).toBeCloseTo(accuracy, 3);
    expect(metrics.confusion.flat().reduce((a, b) => a + b, 0)).toBe(metrics.nTest);
    expect(second.stdout).toBe(first.stdout);

    // The explore cell renders HTML through tslab's display API and predicts a new bird.
    const explore = byId(cells, 'explore');
    expect(String(explore.displays[0]?.['text/html'])).toContain('<th>Chinstrap</th>');
    expect(explore.stdout).toContain('5.6 kg male: Gentoo');

    // The compiled pipeline computes exactly what the notebook computed.
    const run = JSON.parse(
      await cellarCli(['run', 'notebooks/penguins.ipynb', '--json']),
    ) as RunSummary;
    expect(run.ok).toBe(true);
    expect(run.tasks.map((t) => t.name).sort()).toEqual([
      'evaluate',
      'features',
      'load',
      'split',
      'train',
    ]);
    const pipelineMetrics = JSON.parse(
      await cellarCli(['show', 'notebooks/penguins.ipynb', 'evaluate', 'metrics', '--json']),
    );
    expect(pipelineMetrics).toEqual(JSON.parse(first.stdout));
    await kernel.shutdown();
  }, 600_000); // a cold kernel, tslab type-checking, then a cold compile and run: slow on a busy 2-core machine

  test('flights.ipynb runs its BigQuery SQL on the embedded DuckDB, the score ranks flights, the pipeline matches, caches and enforces its checks', async () => {
    const path = join(repoRoot, 'notebooks/flights.ipynb');
    const kernel = await server.openKernel(path);
    const cells = await runNotebookCells(kernel, path);
    expect(describeFailures('notebooks/flights.ipynb', cells)).toBe('');
    expect(cells.length).toBe(readCodeCells(path).length);

    // 20.6% of the 1,978,941 flights before May 2001 arrived 15+ minutes late (checked by hand in DuckDB).
    expect(byId(cells, 'baseline').stdout).toContain(
      '20.6% of 1978941 flights before 2001-05-01 were delayed',
    );

    // The calibration task pulls ten deciles into Node; the score must rank flights.
    const calibration = byId(cells, 'calibration').stdout;
    const lift = Number(/lift (\d+\.\d+)/.exec(calibration)?.[1]);
    expect(lift).toBeGreaterThan(1.5);
    const deciles = await kernel.execute('JSON.stringify(calibration)');
    const rows = JSON.parse(deciles.stdout) as {
      decile: number;
      flights: number;
      delayed_share: number;
    }[];
    expect(rows.map((r) => r.decile)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(rows.reduce((n, r) => n + r.flights, 0)).toBe(1021059); // every flight from 2001-05-01 on
    expect(rows[9]!.delayed_share).toBeGreaterThan(4 * rows[0]!.delayed_share);

    // Explore: a materialise-tagged query nests as a subquery in the notebook.
    const explore = byId(cells, 'explore');
    expect(explore.stdout).toContain('BOS → JFK');

    // The compiled pipeline materialises the mart tables and gets the notebook's numbers; a
    // second run reuses everything.
    const run = JSON.parse(
      await cellarCli(['run', 'notebooks/flights.ipynb', '--json']),
    ) as RunSummary;
    expect(run.ok).toBe(true);
    expect(run.tasks.map((t) => t.name).sort()).toEqual([
      'baseline',
      'calibration',
      'features',
      'hour_rates',
      'route_rates',
    ]);
    const pipelineRows = JSON.parse(
      await cellarCli(['show', 'notebooks/flights.ipynb', 'calibration', 'calibration', '--json']),
    ) as typeof rows;
    expect(
      pipelineRows.map(({ decile, flights, delayed_share }) => ({
        decile,
        flights,
        delayed_share,
      })),
    ).toEqual(
      rows.map(({ decile, flights, delayed_share }) => ({ decile, flights, delayed_share })),
    );
    const pipelineLift = JSON.parse(
      await cellarCli(['show', 'notebooks/flights.ipynb', 'calibration', 'lift', '--json']),
    ) as number;
    expect(pipelineLift).toBeCloseTo(lift, 2); // the notebook printed lift with 2 decimals
    const again = JSON.parse(
      await cellarCli(['run', 'notebooks/flights.ipynb', '--json']),
    ) as RunSummary;
    expect(again.tasks.map((t) => t.status)).toEqual([
      'cached',
      'cached',
      'cached',
      'cached',
      'cached',
    ]);

    // The notebook's `//| check: rows >= 100000` stops the pipeline when the features table comes
    // out empty (no flights after July 2001), naming the check, the table and the actual value.
    const empty = await cellarCliResult([
      'run',
      'notebooks/flights.ipynb',
      '--param',
      'trainEnd=2001-07-02',
    ]);
    expect(empty.code).not.toBe(0);
    const report = empty.stdout + empty.stderr;
    expect(report).toMatch(
      /check "rows >= 100000" failed on table mart\.flight_features_\w+ \(mart\.flight_features\): actual 0 rows/,
    );
    expect(report).toContain('calibration (upstream features failed)');

    // The kernel still queries the shared warehouse file after the pipeline used it.
    const rerun = await kernel.execute(byId(cells, 'calibration').source);
    expect(rerun).toMatchObject({ status: 'ok', stdout: byId(cells, 'calibration').stdout });
    await kernel.shutdown();
  }, 1_200_000); // seeds 3 M rows twice (the kernel's warehouse and the pipeline's) and scans them a few times
});
