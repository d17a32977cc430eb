// The example notebooks run top to bottom in the real tslab kernel, as a data scientist runs
// them in JupyterLab, and produce the results their markdown promises.
//
// Why this matters: the compiler turns these notebooks into pipelines, so a notebook that no
// longer runs in its own kernel would make every compiled result meaningless. Each notebook gets
// a fresh kernel started with the notebook's folder as working directory (as JupyterLab does),
// every code cell runs in order, and the test asserts no cell failed plus specific outputs.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { describeFailures, readCodeCells, repoRoot, runNotebookCells, startJupyter, type ExecutedCell, type JupyterServer } from '../support/jupyter.js';
import { prepareCellarForTslab } from '../support/tslab.js';

let server: JupyterServer;

beforeAll(async () => {
  await prepareCellarForTslab();
  server = await startJupyter();
});
afterAll(async () => {
  await server?.stop();
});

function byId(cells: ExecutedCell[], id: string): ExecutedCell {
  const cell = cells.find((c) => c.id === id);
  if (!cell) throw new Error(`no executed cell with id ${id}`);
  return cell;
}

describe('example notebooks in the tslab kernel', () => {
  test('penguins.ipynb runs top to bottom and the forest classifies unseen birds', async () => {
    const path = join(repoRoot, 'notebooks/penguins.ipynb');
    const kernel = await server.openKernel(path);
    const cells = await runNotebookCells(kernel, path);
    expect(describeFailures('notebooks/penguins.ipynb', cells)).toBe('');
    expect(cells.map((c) => c.status).every((s) => s === 'ok')).toBe(true);
    expect(cells.length).toBe(readCodeCells(path).length);

    // The data is read relative to the notebook's folder, as the compiled pipeline reads it.
    expect(byId(cells, 'load').stdout.trim()).toBe('344');
    expect(byId(cells, 'features').stdout).toContain('342 of 344 birds kept; species: Adelie, Chinstrap, Gentoo');
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
    const metrics = JSON.parse(first.stdout) as { accuracy: number; confusion: number[][]; nTest: number };
    expect(metrics.accuracy).toBeCloseTo(accuracy, 3);
    expect(metrics.confusion.flat().reduce((a, b) => a + b, 0)).toBe(metrics.nTest);
    expect(second.stdout).toBe(first.stdout);

    // The explore cell renders HTML through tslab's display API and predicts a new bird.
    const explore = byId(cells, 'explore');
    expect(String(explore.displays[0]?.['text/html'])).toContain('<th>Chinstrap</th>');
    expect(explore.stdout).toContain('5.6 kg male: Gentoo');
    await kernel.shutdown();
  });
});
