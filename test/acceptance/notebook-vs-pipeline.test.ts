// The promise under everything: the pipeline computes what the notebook computed. The fixture
// notebook runs top to bottom in the real tslab kernel (as "Run All" in JupyterLab), then through
// `cellar run`, and the values are compared. The same kernel also confirms the tslab behaviour the
// compiler's diagnostics describe, so a tslab upgrade that changes it fails here, not in a user's
// notebook: `{ seed }` naming another cell's variable throws, and `let df = [...df]` is refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeFailures,
  jupyterAvailable,
  runNotebookCells,
  startJupyter,
  type JupyterServer,
  type TslabKernel,
} from '../support/jupyter.js';
import { prepareCellarForTslab } from '../support/tslab.js';
import { type Project, fixtures, project, removeProjects } from './harness.js';

let p: Project;
let server: JupyterServer | undefined;
let kernel: TslabKernel | undefined;

describe.skipIf(!jupyterAvailable())(
  'the notebook in tslab and the compiled pipeline agree',
  () => {
    beforeAll(async () => {
      await prepareCellarForTslab();
      p = project('sales.ipynb');
      server = await startJupyter({ rootDir: p.dir });
      kernel = await server.openKernel('notebooks/sales.ipynb');
    }, 600_000);
    afterAll(async () => {
      await kernel?.shutdown();
      await server?.stop();
      removeProjects();
    });

    it('same totals and report, cell by cell in the kernel and task by task in the pipeline', async () => {
      const cells = await runNotebookCells(kernel!, join(p.dir, 'notebooks', 'sales.ipynb'));
      expect(describeFailures('notebooks/sales.ipynb', cells)).toBe('');
      // The display-only statements the compiler drops are exactly what showed values here.
      expect(cells.find((c) => c.id === 'generate')!.stdout.trim()).toBe('90');
      const inNotebook = await kernel!.execute(
        'console.log(JSON.stringify({ df: df, meta: meta }))',
      ); // not `{ df, meta }`: see the next test;
      expect(inNotebook.status, inNotebook.stderr).toBe('ok');
      const notebook = JSON.parse(inNotebook.stdout);
      expect(notebook.df).toHaveLength(3);
      expect(notebook.meta).toMatchObject({ seed: 7, days: 30 });

      // The CLI runs beside the open kernel: cellarAsync keeps its connection answered.
      const run = await p.cellarAsync('run', 'notebooks/sales.ipynb');
      expect(run.code, run.stderr).toBe(0);
      const totals = JSON.parse(
        (await p.cellarAsync('show', 'notebooks/sales.ipynb', 'totals', 'df', '--json')).stdout,
      );
      const report = JSON.parse(
        (await p.cellarAsync('show', 'notebooks/sales.ipynb', 'report', 'meta', '--json')).stdout,
      );
      expect(unwrap(totals, 'df')).toEqual(notebook.df);
      expect(unwrap(report, 'meta')).toEqual(notebook.meta);
    });

    it('tslab throws on `{ seed }` from another cell (W_TSLAB_SHORTHAND) and refuses `let df = [...df]` (E_USED_BEFORE_DECLARATION)', async () => {
      const shorthand = await kernel!.execute('const tryMeta = { seed, days: days };');
      expect(shorthand.status).toBe('error');
      expect(shorthand.stderr).toContain('ReferenceError: seed is not defined');
      const explicit = await kernel!.execute(
        'const tryMeta2 = { seed: seed };\nconsole.log(tryMeta2.seed);',
      );
      expect(explicit.stdout.trim()).toBe('7');
      const tdz = await kernel!.execute('let df = [...df];');
      expect(tdz.status).toBe('error');
      expect(tdz.stderr).toContain("Block-scoped variable 'df' used before its declaration");
      // And the compiler says so before anyone runs the cell.
      const fixture = readFileSync(join(fixtures, 'sales.ipynb'), 'utf8');
      p.write(
        'notebooks/sales.ipynb',
        fixture.replace('{ seed: seed, days: days,', '{ seed, days: days,'),
      );
      expect((await p.cellarAsync('compile')).stderr).toContain('W_TSLAB_SHORTHAND');
    });
  },
);

/** `cellar show --json` prints the value, or an object holding it under the output's name. */
function unwrap(shown: unknown, name: string): unknown {
  if (shown && typeof shown === 'object' && !Array.isArray(shown) && name in shown)
    return (shown as Record<string, unknown>)[name];
  return shown;
}
