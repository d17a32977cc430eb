// A notebook `cellar exec -p` wrote (papermill-style: an `injected-parameters` cell after the
// params cell) is compiled with papermill's meaning: the injected values are the params' defaults.
// Before, the cell compiled as setup code that shadowed the params: `cellar plan` listed the old
// default while the pipeline ran the injected value, and `--param` was refused with
// E_UNKNOWN_PARAM ("declared … but no task reads it").
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText } from '../compiler/notebook.js';
import { project, removeProjects, runStatuses, showOutput } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/scale.ipynb';
const OUT = 'notebooks/scale-200.ipynb';
const OUT2 = 'notebooks/scale-200-3.ipynb';

function scaleProject() {
  const p = project();
  p.write(
    NB,
    notebookText([
      {
        ...codeCell('p', 'const nTrees = 50;\nconst seed = 1;'),
        metadata: { tags: ['parameters'] },
      },
      '//| task: fit\n//| output: model=json\nconst model = { trees: nTrees, seed };',
    ]),
  );
  return p;
}

describe('a notebook written by cellar exec -p', () => {
  it('plans and runs with the injected values as defaults; --param still overrides them', () => {
    const p = scaleProject();
    const e = p.cellar('exec', NB, '-p', 'nTrees', '200', '--prepare-only', '-o', OUT);
    expect(e.code, e.stderr).toBe(0);
    const plan = p.cellar('plan', OUT);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('param nTrees: number = 200');
    expect(plan.stdout).toContain('param seed: number = 1');
    // No setup const shadowing the param (before: `export const nTrees: number = 200;`).
    const setup = join(p.dir, 'generated', 'scale-200', 'setup.ts');
    expect(existsSync(setup) && readFileSync(setup, 'utf8').includes('nTrees')).toBe(false);

    expect(runStatuses(p, OUT)).toEqual({ fit: 'ran' });
    expect(showOutput(p, OUT, 'fit', 'model')).toEqual({ trees: 200, seed: 1 });
    expect(runStatuses(p, OUT, '--param', 'nTrees=7')).toEqual({ fit: 'ran' });
    expect(showOutput(p, OUT, 'fit', 'model', '--param', 'nTrees=7')).toEqual({
      trees: 7,
      seed: 1,
    });

    // A second exec of the written notebook starts from its injected values.
    const again = p.cellar('exec', OUT, '-p', 'seed', '3', '--prepare-only', '-o', OUT2);
    expect(again.code, again.stderr).toBe(0);
    const plan2 = p.cellar('plan', OUT2).stdout;
    expect(plan2).toContain('param nTrees: number = 200');
    expect(plan2).toContain('param seed: number = 3');
  });

  it('an injected name the params cell does not declare is a compile error naming the cell and line', () => {
    const p = scaleProject();
    const nb = JSON.parse(p.read(NB));
    nb.cells.splice(1, 0, {
      ...codeCell(
        'injected-parameters',
        '// Parameters (injected by cellar exec)\nconst nTres: number = 200;',
      ),
      metadata: { tags: ['injected-parameters'] },
    });
    p.write(OUT, JSON.stringify(nb));
    const plan = p.cellar('plan', OUT);
    expect(plan.code).not.toBe(0);
    expect(plan.stderr).toContain('E_INJECTED_PARAM');
    expect(plan.stderr).toContain('notebooks/scale-200.ipynb');
    expect(plan.stderr).toMatch(/cell 2 \(id injected-parameters\), line 2/);
    expect(plan.stderr).toContain('the injected-parameters cell sets `nTres`');
  });
});
