// A stored output whose file is gone from the workspace while its manifest stays (deleted by
// hand, a damaged workspace; a newcomer's finding) is not a complete result: as Luigi re-runs a
// task whose target is missing, the plan says the task runs and why (naming the output), the run
// re-makes it, and its downstream re-runs only when the re-made output differs. This holds on the
// warm-run record's fast path too, and `cellar show` says the output is missing and that the next
// run re-makes it. Before: `--dry-run` said 0 to run and the reader failed with E_OUTPUT_MISSING.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects, runStatuses as run } from './harness.js';
import type { Project } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/scores.ipynb';

function scores(): Project {
  const p = project();
  p.write(
    NB,
    notebookText([
      '//| params\nconst threshold = 5;',
      '//| task: scaled\nconst scaledRows = [1, 4, 9, 16].map((x) => x * 2);',
      '//| task: summary\nconst above = scaledRows.filter((x) => x > threshold).length;',
    ]),
  );
  return p;
}

/** The one stored file of `task` in pipeline `pipeline` whose name starts with `output`_. */
function storedFile(p: Project, pipeline: string, task: string, output: string): string {
  const folder = join(p.dir, '.cellar', 'workspace', pipeline, task);
  const files = readdirSync(folder).filter((f) => f.startsWith(`${output}_`));
  expect(files).toHaveLength(1);
  return join(folder, files[0]!);
}

const warmRecords = (p: Project) => {
  const dir = join(p.dir, '.cellar', 'cache', 'warm');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('a stored output whose file was deleted', () => {
  it('is not stored: --dry-run says its task runs because the output is missing, and the run re-makes it; the downstream stays cached when the output comes out the same', () => {
    const p = scores();
    expect(run(p, NB)).toEqual({ scaled: 'ran', summary: 'ran' });
    const file = storedFile(p, 'scores', 'scaled', 'scaledRows');
    rmSync(file);

    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /would run\s+scaled\s+\w+\s+its stored output 'scaledRows' is missing \(scaled\/scaledRows_\w+\.json\): re-run to make it again/,
    );
    expect(run(p, NB)).toEqual({ scaled: 'ran', summary: 'cached' });
    // Made again, as the output's one file (named as a re-run's: store.ts `replacementFileKey`).
    expect(existsSync(storedFile(p, 'scores', 'scaled', 'scaledRows'))).toBe(true);
    const shown = p.cellar('show', NB, 'summary', 'above', '--json');
    expect(JSON.parse(shown.stdout)).toBe(3);
  });

  it('is seen by a warm run answered from the warm-run record: the task runs again instead of "all cached"', () => {
    const p = scores();
    expect(run(p, NB)).toEqual({ scaled: 'ran', summary: 'ran' });
    // All cached: answered by the warm-run record the first run wrote.
    expect(run(p, NB)).toEqual({ scaled: 'cached', summary: 'cached' });
    expect(warmRecords(p)).not.toEqual([]);
    rmSync(storedFile(p, 'scores', 'scaled', 'scaledRows'));
    expect(run(p, NB)).toEqual({ scaled: 'ran', summary: 'cached' });
    // And once re-made, the next run is all cached again (a new record).
    expect(run(p, NB)).toEqual({ scaled: 'cached', summary: 'cached' });
  });

  it('re-runs the downstream when the re-made output differs from the lost one', () => {
    const p = project();
    p.write(
      'notebooks/draws.ipynb',
      notebookText([
        '//| task: draw\nconst draws = [Math.random(), Math.random()];',
        '//| task: total\nconst sum = draws[0]! + draws[1]!;',
      ]),
    );
    expect(run(p, 'notebooks/draws.ipynb')).toEqual({ draw: 'ran', total: 'ran' });
    rmSync(storedFile(p, 'draws', 'draw', 'draws'));
    expect(run(p, 'notebooks/draws.ipynb')).toEqual({ draw: 'ran', total: 'ran' });
  });

  it('any output of a task (a table stored as Arrow, beside a text output): cellar show says it is missing and the next run re-makes it', () => {
    const p = project();
    const nb = 'notebooks/shop.ipynb';
    p.write(
      nb,
      notebookText([
        "//| task: load\nconst orders = [{ id: 1, total: 9.5 }, { id: 2, total: 20 }];\nconst label = 'shop';",
        '//| task: report\nconst line = `${label}: ${orders.length} orders`;',
      ]),
    );
    expect(run(p, nb)).toEqual({ load: 'ran', report: 'ran' });
    const table = storedFile(p, 'shop', 'load', 'orders');
    expect(table).toMatch(/\.arrow$/);
    rmSync(table);

    const show = p.cellar('show', nb, 'load', 'label');
    expect(show.code).not.toBe(0);
    const text = show.stdout + show.stderr;
    expect(text).toContain('E_NOT_CACHED');
    expect(text).toMatch(
      /its stored output 'orders' is missing from the workspace \(load\/orders_\w+\.arrow\)/,
    );
    expect(text).toContain("The next `cellar run` of the pipeline computes task 'load' again");
    expect(text).not.toMatch(/ENOENT|E_UNEXPECTED/);

    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toMatch(/would run\s+load\s+\w+\s+its stored output 'orders' is missing/);
    expect(run(p, nb)).toEqual({ load: 'ran', report: 'cached' });
    expect(JSON.parse(p.cellar('show', nb, 'load', 'orders', '--json').stdout)).toEqual([
      { id: 1, total: 9.5 },
      { id: 2, total: 20 },
    ]);
  });
});
