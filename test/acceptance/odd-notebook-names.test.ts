// A notebook whose file name has spaces, `<`, `>` and `&` (`My Odd-Name <x>&y.ipynb`): its
// generated folder keeps the name as is, so every path built from it must stay a file path.
// Before, `cellar build --function` handed esbuild a file URL's pathname
// (`generated/My%20Odd-Name%20%3Cx%3E&y/make_rows.ts`), which names no file: E_BUILD.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/My Odd-Name <x>&y.ipynb';

describe('a notebook named with spaces, < > and &', () => {
  it('cellar build --function bundles its task, and the function gives the rows', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        'const double = (n: number) => n * 2;',
        '//| task: make_rows\n//| output: rows=json\nconst rows = [1, 2, 3].map(double);',
      ]),
    );
    const b = p.cellar('build', NB, '--function', 'make_rows', '--out', 'fn');
    expect(b.code, b.stderr).toBe(0);
    p.write(
      'serve.mjs',
      "import { makeRows } from './fn/make_rows.mjs';\nprocess.stdout.write(JSON.stringify(makeRows({}, {})));\n",
    );
    const served = p.run(process.execPath, [join(p.dir, 'serve.mjs')]);
    expect(served.code, served.stderr).toBe(0);
    expect(JSON.parse(served.stdout)).toEqual({ rows: [2, 4, 6] });
  });

  it('a built folder names the failing cell and line, as the run from the sources does', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        '//| task: boom\n//| output: z=json\nconst a = 1;\nif (a) throw new Error("kaput");\nconst z = a;',
      ]),
    );
    const located = (r: { code: number; stdout: string; stderr: string }) => {
      expect(r.code, r.stderr).not.toBe(0);
      const tasks: { name: string; location?: string }[] = JSON.parse(r.stdout).tasks;
      return tasks.find((t) => t.name === 'boom')?.location;
    };
    const fromSources = located(p.cellar('run', NB, '--json', '--workspace', 'ws1'));
    expect(fromSources).toBe('notebooks/My Odd-Name <x>&y.ipynb, cell 1 (id c1), line 4');
    const b = p.cellar('build', NB, '--out', 'dist', '--no-lockfile');
    expect(b.code, b.stderr).toBe(0);
    // Before: `…, cell 1 (id c1)` alone: the bundle's source map percent-encodes `<` and `>`.
    const built = located(
      p.run(process.execPath, ['dist/run.mjs', '--json', '--workspace', 'ws2']),
    );
    expect(built).toBe(fromSources);
  });
});
