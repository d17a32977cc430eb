// A notebook's setup cell that reads a data file at its top level (`const config =
// JSON.parse(readFileSync('../data/config.json'))`), as notebooks commonly do: in Jupyter the
// path resolves from the notebook's folder, so the pipeline evaluates its module there too, on
// every thread and from whatever folder `cellar` is started in.
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects, runStatuses as run, showOutput as show } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/cfg.ipynb';
const SETUP =
  "import { readFileSync } from 'node:fs';\nconst config = JSON.parse(readFileSync('../data/config.json', 'utf8'));";
const SCALED = '//| task: scaled\nconst scaled = 21 * config.factor;';

describe("a setup cell reading a file at its top level, by a path relative to the notebook's folder", () => {
  it('loads as in Jupyter: by notebook, by pipeline.ts from another folder, in process, and for show', () => {
    const p = project();
    p.run('mkdir', ['-p', 'data']);
    p.write('data/config.json', '{"factor": 2}');
    p.write(NB, notebookText([SETUP, SCALED]));
    expect(run(p, NB)).toEqual({ scaled: 'ran' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(42);
    // The same module, loaded from elsewhere and on the main thread only.
    const fromSub = p.cellarIn('notebooks', 'run', '../generated/cfg/pipeline.ts', '--in-process');
    expect(fromSub.code, fromSub.stderr).toBe(0);
    const tree = p.cellar('tree', 'generated/cfg/pipeline.ts');
    expect(tree.code, tree.stderr).toBe(0);
  });
});
