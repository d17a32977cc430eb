// JavaScript-kernel notebooks (tslab's jslab, ijavascript; issue 14 item 4), compiled and run for
// real through the CLI: their modules are .js (typed by JSDoc, checked as JavaScript with the
// tsconfig.json emitted beside them: test/compiler/typecheck.test.ts), and they run like any
// pipeline. Implicit globals stay an error naming cell and line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects, repo } from './harness.js';

afterAll(removeProjects);

const jslab = readFileSync(
  join(repo, 'test', 'compiler', 'fixtures', 'jslab', 'input.ipynb'),
  'utf8',
);

describe('a jslab notebook reading a CSV with fs', () => {
  it('compiles to .js modules with a tsconfig.json, runs, and a code edit re-runs only its task', () => {
    const p = project();
    p.write('notebooks/scores.ipynb', jslab);
    p.write('notebooks/scores.csv', 'name,score\nada,91\nbob,42\ncy,77\n');
    const compile = p.cellar('compile');
    expect(compile.code, compile.stderr).toBe(0);
    expect(p.read('generated/scores/stats.js')).toContain(
      'export function stats({ rows }, { minScore }) {',
    );
    expect(p.read('generated/scores/tsconfig.json')).toContain('"checkJs": true');
    expect(p.cellar('compile', '--check').code).toBe(0);

    const run = p.cellar('run', 'notebooks/scores.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = p.cellar('show', 'notebooks/scores.ipynb', 'stats', 'summary', '--json');
    expect(JSON.parse(summary.stdout.trim())).toEqual({ best: 'ada', avg: 84 });

    // The code hash follows the .js modules: a changed stats cell re-runs stats, not load.
    p.write(
      'notebooks/scores.ipynb',
      jslab.replace('summary.avg = avg;', 'summary.avg = Math.round(avg);'),
    );
    const again = p.cellar('run', 'notebooks/scores.ipynb', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(
      JSON.parse(again.stdout).tasks.map(
        (t: { name: string; status: string }) => `${t.name}:${t.status}`,
      ),
    ).toEqual(['load:cached', 'stats:ran']);
  });
});

describe('an ijavascript notebook assigning an undeclared name', () => {
  it('is E_IMPLICIT_GLOBAL on its cell and line, with let/const as the fix', () => {
    const p = project();
    p.write(
      'notebooks/sloppy.ipynb',
      notebookText(['//| task: count\nconst xs = [1, 2];\ntotal = xs.length;'], {
        name: 'javascript',
        language: 'javascript',
      }),
    );
    const compile = p.cellar('compile');
    expect(compile.code).toBe(1);
    expect(compile.stderr).toContain(
      'notebooks/sloppy.ipynb, cell 1 (id c1), line 3, column 1: error E_IMPLICIT_GLOBAL: `total` is assigned but never declared (an implicit global)',
    );
    expect(compile.stderr).toContain('declare it with let or const: `let total = ...`');
  });
});
