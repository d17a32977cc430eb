// A notebook's setup cell that reads a data file at its top level (`const config =
// JSON.parse(readFileSync('../data/config.json'))`), as notebooks commonly do: in Jupyter the
// path resolves from the notebook's folder, so the pipeline evaluates its module there too, on
// every thread and from whatever folder `cellar` is started in.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

  it("is in every task's key: an edit keeping size and mtime re-runs with the new value; unchanged stays cached", () => {
    const p = project();
    p.run('mkdir', ['-p', 'data']);
    p.write('data/config.json', '{"factor": 2}');
    p.write(NB, notebookText([SETUP, SCALED, '//| task: plain\nconst plain = 1 + 1;']));
    expect(run(p, NB)).toEqual({ scaled: 'ran', plain: 'ran' });
    expect(run(p, NB)).toEqual({ scaled: 'cached', plain: 'cached' });
    const file = join(p.dir, 'data', 'config.json');
    execFileSync('cp', ['-p', file, `${file}.saved`]);
    p.write('data/config.json', '{"factor": 3}');
    execFileSync('touch', ['-r', `${file}.saved`, file]);
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/reads\.data\/config\.json: \w+ → \w+/);
    // Any task may use what the setup cell computed from the file: all re-run (over-inclusion).
    expect(run(p, NB)).toEqual({ scaled: 'ran', plain: 'ran' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(63);
    expect(run(p, NB)).toEqual({ scaled: 'cached', plain: 'cached' });
  });

  it("a notebook whose module reads nothing records nothing (Cellar's own loading is not a read)", () => {
    const p = project();
    p.write('notebooks/plain.ipynb', notebookText(['//| task: plain\nconst plain = 1 + 1;']));
    expect(run(p, 'notebooks/plain.ipynb')).toEqual({ plain: 'ran' });
    expect(p.cellar('show', 'notebooks/plain.ipynb', 'plain', 'plain').code).toBe(0);
    expect(existsSync(join(p.dir, '.cellar', 'run-reads'))).toBe(false);
  });
});
