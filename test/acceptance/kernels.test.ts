// Notebooks that are not written with `//|` lines for tslab: JupyterLab cell tags instead of
// comments, and Deno-kernel notebooks with `npm:` specifiers, a JSON import (which Node loads only
// `with { type: 'json' }`) and a helper module next to the notebook (imported relatively, so the
// generated module must reach it from generated/<notebook>/). Each is compiled and run for real.
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects } from './harness.js';

afterAll(removeProjects);

describe('Jupyter cell tags', () => {
  it("tags work like `//|` lines: params, tasks, version, tests; other tools' tags are ignored", () => {
    const p = project('words.ipynb');
    const compile = p.cellar('compile');
    expect(compile.code, compile.stderr).toBe(0);
    const plan = JSON.parse(p.cellar('plan', 'notebooks/words.ipynb', '--json').stdout);
    expect(plan.tasks).toEqual([
      {
        name: 'count',
        params: ['text'],
        upstream: [],
        cells: [3],
        cellIndexes: [3],
        cellNumbers: [4],
        outputs: ['counts'],
      },
      {
        name: 'rank',
        params: ['top'],
        upstream: ['count'],
        cells: [4],
        cellIndexes: [4],
        cellNumbers: [5],
        outputs: ['ranked'],
      },
    ]);
    expect(p.read('generated/words/rank.ts')).toContain('version: 2,');

    const run = p.cellar('run', 'notebooks/words.ipynb', '--param', 'top=1');
    expect(run.code, run.stderr).toBe(0);
    const show = p.cellar('show', 'notebooks/words.ipynb', 'rank', 'ranked', '--param', 'top=1');
    expect(show.code, show.stderr).toBe(0);
    // `cellar show` prints values as util.inspect does (single quotes).
    expect(show.stdout.replace(/\s+/g, '')).toContain("[['the',3]]");
  });
});

describe('a Deno-kernel notebook', () => {
  it('compiles npm: imports to package names, keeps the JSON import attribute, rebases relative imports, and runs', () => {
    const p = project('deno.ipynb', 'measurements.json', 'stats.ts');
    const compile = p.cellar('compile');
    expect(compile.code, compile.stderr).toBe(0);
    expect(compile.stderr).not.toContain('W_TSLAB_SHORTHAND'); // a tslab quirk, not Deno's

    const prep = p.read('generated/deno/prep.ts');
    expect(prep).toContain(
      "import measurements from '../../notebooks/measurements.json' with { type: 'json' };",
    );
    expect(prep).toContain("import { mean } from '../../notebooks/stats.ts';");
    expect(prep).toContain("import * as path from 'node:path';");
    expect(prep).not.toMatch(/^\s*X\.length;?$/m); // the cell's display value
    expect(p.read('generated/deno/fit.ts')).toContain(
      "import { tableFromArrays } from 'apache-arrow';",
    );

    const run = p.cellar('run', 'notebooks/deno.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'ran',
      'ran',
    ]);
    const accuracy = p.cellar('show', 'notebooks/deno.ipynb', 'fit', 'accuracy');
    expect(accuracy.code, accuracy.stderr).toBe(0);
    expect(Number(accuracy.stdout.trim().split('\n').pop())).toBeGreaterThan(0.9);
  });
});
