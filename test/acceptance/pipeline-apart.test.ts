// Results belong to their pipeline (issue 8, item 5), through the real CLI: two notebooks that
// both have a task `load` keep their outputs and manifests apart, `cellar show` gives each its
// own, and `--dry-run` explains a stale task against the closest stored run of the same task of
// the same pipeline, never against another pipeline's manifest.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Project, project, removeProjects, runStatuses } from './harness.js';

afterAll(removeProjects);

const notebook = (cells: { id: string; source: string }[]) =>
  JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c) => ({
      cell_type: 'code',
      metadata: {},
      execution_count: null,
      outputs: [],
      ...c,
    })),
  });

/** Notebook `a`: task `load` scales three numbers by the param `scale`. */
const notebookA = (values = '[1, 2, 3]') =>
  notebook([
    { id: 'params', source: '//| params\nconst scale = 2;' },
    {
      id: 'load',
      source: `//| task: load\nconst total = ${values}.map((x) => x * scale).reduce((a, b) => a + b, 0);`,
    },
  ]);

/** Notebook `b`: another task `load`, other code, another param. */
const notebookB = notebook([
  { id: 'params', source: '//| params\nconst offset = 10;' },
  { id: 'load', source: '//| task: load\nconst total = 100 + offset;' },
]);

function show(p: Project, nb: string, ...args: string[]): unknown {
  const r = p.cellar('show', nb, 'load', 'total', '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

function dryRun(p: Project, nb: string, ...args: string[]): string {
  const r = p.cellar('run', nb, '--dry-run', ...args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const manifests = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.manifest.json')) : [];

describe('outputs and manifests belong to their pipeline', () => {
  it('two notebooks with a task `load` store apart, show their own values, and dry-run explains against their own run', () => {
    const p = project();
    p.write('notebooks/b.ipynb', notebookB);
    p.write('notebooks/a.ipynb', notebookA());
    // b first, then a: a's manifest is the newest `load` anywhere in the workspace.
    expect(runStatuses(p, 'notebooks/b.ipynb')).toEqual({ load: 'ran' });
    expect(runStatuses(p, 'notebooks/a.ipynb')).toEqual({ load: 'ran' });

    const ws = join(p.dir, '.cellar', 'workspace');
    expect(manifests(join(ws, 'a', 'load'))).toHaveLength(1);
    expect(manifests(join(ws, 'b', 'load'))).toHaveLength(1);
    expect(existsSync(join(ws, 'load'))).toBe(false);
    expect(readdirSync(join(ws, 'a', 'load')).filter((f) => f.startsWith('total_'))).toHaveLength(
      1,
    );
    expect(readdirSync(join(ws, 'b', 'load')).filter((f) => f.startsWith('total_'))).toHaveLength(
      1,
    );

    expect(show(p, 'notebooks/a.ipynb')).toBe(12);
    expect(show(p, 'notebooks/b.ipynb')).toBe(110);

    // A param change of b is explained against b's own run: only b's param, nothing of a's.
    const out = dryRun(p, 'notebooks/b.ipynb', '--param', 'offset=20');
    expect(out).toMatch(/would run\s+load/);
    expect(out).toContain('params.offset: 10 → 20');
    expect(out).not.toContain('scale');
    expect(out).not.toMatch(/never run/);
    // Both are still cached as they were: neither run disturbed the other.
    expect(runStatuses(p, 'notebooks/a.ipynb')).toEqual({ load: 'cached' });
    expect(runStatuses(p, 'notebooks/b.ipynb')).toEqual({ load: 'cached' });
  });

  it('variant: a pipeline run with two param sets explains a code edit against the run with the same params', () => {
    const p = project();
    p.write('notebooks/a.ipynb', notebookA());
    runStatuses(p, 'notebooks/a.ipynb', '--param', 'scale=2');
    runStatuses(p, 'notebooks/a.ipynb', '--param', 'scale=3'); // the newest run of `load`
    expect(show(p, 'notebooks/a.ipynb', '--param', 'scale=2')).toBe(12);
    expect(show(p, 'notebooks/a.ipynb', '--param', 'scale=3')).toBe(18);
    p.write('notebooks/a.ipynb', notebookA('[1, 2, 4]'));

    // At scale=2 the closest stored run is the scale=2 one: the code changed, the params did not.
    const same = dryRun(p, 'notebooks/a.ipynb', '--param', 'scale=2');
    expect(same).toMatch(/would run\s+load/);
    expect(same).toMatch(/code\.files/);
    expect(same).not.toContain('params.scale');
    // At scale=3 it is the scale=3 one.
    expect(dryRun(p, 'notebooks/a.ipynb', '--param', 'scale=3')).not.toContain('params.scale');
    // No stored run has scale=5: the diff names the param, against the newest run (scale=3).
    expect(dryRun(p, 'notebooks/a.ipynb', '--param', 'scale=5')).toContain('params.scale: 3 → 5');
  });
});
