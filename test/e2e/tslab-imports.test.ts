// Which relative import forms the real tslab kernel loads, against what the compiler warns about
// (compiler/analyze/tslab-imports.ts): for every form, the kernel refuses the cell exactly when
// the compiler warns, and `cellar run` loads them all. Real Jupyter, real tslab, real CLI.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compileNotebook } from '../../compiler/program.js';
import { project, removeProjects, type Project } from '../acceptance/harness.js';
import { notebookText } from '../compiler/notebook.js';
import { jupyterAvailable, startJupyter, type JupyterServer } from '../support/jupyter.js';
import { prepareCellarForTslab } from '../support/tslab.js';

/**
 * Each form, the name it binds, and the warning the compiler gives (none: tslab loads it). Not
 * here: `./lib/more.mjs` for the `.mts` module, which tslab type-checks and then cannot `require`;
 * the compiler cannot tell it from a real `.mjs` file (compiler/analyze/tslab-imports.ts).
 */
const FORMS: { spec: string; name: string; warns: string[] }[] = [
  { spec: './lib/consts.ts', name: 'a', warns: ['W_TSLAB_IMPORT_EXTENSION'] },
  { spec: './lib/consts.js', name: 'b', warns: [] },
  { spec: './lib/consts', name: 'c', warns: [] },
  { spec: './lib/more.mts', name: 'd', warns: ['W_TSLAB_IMPORT_EXTENSION'] },
  { spec: '../notebooks/lib/consts.js', name: 'f', warns: [] },
  {
    spec: '../lib/outside.ts',
    name: 'g',
    warns: ['W_TSLAB_IMPORT_EXTENSION', 'W_TSLAB_IMPORT_OUTSIDE'],
  },
  { spec: '../lib/outside.js', name: 'h', warns: ['W_TSLAB_IMPORT_OUTSIDE'] },
  { spec: '../lib/outside', name: 'i', warns: ['W_TSLAB_IMPORT_OUTSIDE'] },
];
const NB = 'notebooks/forms.ipynb';

/** `import { one as b } from './lib/consts.js';`: the module's export under the form's name. */
function importLine(form: (typeof FORMS)[number]): string {
  const fn = form.spec.includes('outside') ? 'three' : form.spec.includes('more') ? 'two' : 'one';
  return `import { ${fn} as ${form.name} } from '${form.spec}';`;
}

let p: Project;
let server: JupyterServer;

describe.skipIf(!jupyterAvailable())('relative import forms in tslab and in cellar run', () => {
  beforeAll(async () => {
    await prepareCellarForTslab();
    p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    mkdirSync(join(p.dir, 'lib'), { recursive: true });
    p.write('notebooks/lib/consts.ts', 'export const one = (x: number): number => x + 1;\n');
    p.write('notebooks/lib/more.mts', 'export const two = (x: number): number => x + 2;\n');
    p.write('lib/outside.ts', 'export const three = (x: number): number => x + 3;\n');
    p.write(
      NB,
      notebookText([
        ...FORMS.map(importLine),
        `//| task: t\nconst total = ${FORMS.map((f) => `${f.name}(0)`).join(' + ')};`,
      ]),
    );
    server = await startJupyter({ rootDir: p.dir });
  });
  afterAll(async () => {
    await server?.stop();
    removeProjects();
  });

  test('the kernel refuses a cell exactly when the compiler warns on it; cellar run loads every form', async () => {
    const compiled = await compileNotebook(NB, p.read(NB), { workdir: '../../notebooks' });
    const warned = (cell: number) =>
      compiled.diagnostics.filter((d) => d.cell === cell).map((d) => d.code);
    const kernel = await server.openKernel(join(p.dir, NB));
    const seen: { spec: string; kernel: string; warns: string[] }[] = [];
    for (const [i, form] of FORMS.entries()) {
      const run = await kernel.execute(`${importLine(form)}\n${form.name}(0)`);
      seen.push({
        spec: form.spec,
        kernel: run.status === 'ok' ? 'ok' : `refused: ${run.stderr}`,
        warns: warned(i + 1),
      });
    }
    // What tslab said, next to what the compiler says: refused ⇔ warned.
    for (const s of seen) expect(s.kernel === 'ok', JSON.stringify(s)).toBe(s.warns.length === 0);
    expect(seen.map((s) => s.warns)).toEqual(FORMS.map((f) => f.warns));
    expect(seen.find((s) => s.spec === './lib/consts.ts')!.kernel).toContain(
      "An import path can only end with a '.ts' extension",
    );
    expect(seen.find((s) => s.spec === '../lib/outside.js')!.kernel).toContain(
      "is not under 'rootDir'",
    );

    const r = await p.cellarAsync('run', NB, '--json');
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(JSON.parse(r.stdout).tasks.map((t: { status: string }) => t.status)).toEqual(['ran']);
  });
});
