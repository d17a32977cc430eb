// `cellar compile --typecheck`: the generated modules through TypeScript's checker, each error
// named by its notebook cell and line. Before, a type error in a cell reached no one before the
// run (the compile strips types; tslab shows it only when the cell runs in Jupyter).
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/ty.ipynb';

describe('cellar compile --typecheck', () => {
  it('names the cell and line of a type error, also one across tasks, and fails; a fixed notebook passes', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        'const base: number = 2;',
        '//| task: make\nconst j = { z: base };\nconst n: string = j.z;',
        '//| task: use\nconst m: number = n.toUpperCase();',
      ]),
    );
    const r = p.cellar('compile', NB, '--typecheck');
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.includes('error TS'));
    expect(lines).toEqual([
      "notebooks/ty.ipynb, cell 2 (id c2), line 3: error TS2322: Type 'number' is not assignable to type 'string'.",
      "notebooks/ty.ipynb, cell 3 (id c3), line 2: error TS2322: Type 'string' is not assignable to type 'number'.",
    ]);
    expect(r.stderr).toContain('✗ notebooks/ty.ipynb: 2 type errors in generated/ty/');
    // Without the flag the compile passes, as before: types are checked only when asked.
    expect(p.cellar('compile', NB).code).toBe(0);
    p.write(
      NB,
      notebookText([
        'const base: number = 2;',
        '//| task: make\nconst j = { z: base };\nconst n: string = String(j.z);',
        '//| task: use\nconst m: number = n.length;',
      ]),
    );
    const fixed = p.cellar('compile', NB, '--typecheck');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain('✓ notebooks/ty.ipynb: generated/ty/ type-checks');
    // With --check, the folder on disk is checked.
    expect(p.cellar('compile', NB, '--check', '--typecheck').code).toBe(0);
  });

  it('a param typed by a setup type alias: the task module imports the type, and type-checks', () => {
    // A tester's finding: `mode: Mode` in a task's params, with no import of Mode (TS2304).
    const p = project();
    p.write(
      'notebooks/alias.ipynb',
      notebookText([
        "type Mode = 'fast' | 'slow';\ninterface Opts {\n  mode: Mode;\n}",
        "//| params\nconst mode: Mode = 'fast';\nconst opts: Opts = { mode: 'slow' };",
        '//| task: a\nconst s = `${mode}-${opts.mode}`;',
      ]),
    );
    const r = p.cellar('compile', 'notebooks/alias.ipynb', '--typecheck');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(p.read('generated/alias/a.ts')).toContain(
      "import type { Mode, Opts } from './setup.js';",
    );
  });
});
