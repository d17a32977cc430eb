// `cellar docs` keeps a site built from the same inputs as it is (`npm start`'s docs step spent
// its time rebuilding an unchanged site), and builds again when anything it shows moved: the
// notebook's prose, the run facts, a page of the site itself. Real CLI, real TypeDoc, a project
// of its own (its own warm-run record, which the pages' "Up to date" sentence is read from).
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, markdownCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

const notebook = (why: string) =>
  notebookText([
    codeCell('params', '//| params\nconst n = 3;'),
    markdownCell('why', `## Counts\n\n${why}`),
    codeCell('counts', '//| task: counts\nconst counts = Array.from({ length: n }, (_, i) => i);'),
    codeCell('total', '//| task: total\nconst total = counts.reduce((a, b) => a + b, 0);'),
  ]);

describe('cellar docs when nothing changed', () => {
  const p = project();
  p.write('notebooks/nums.ipynb', notebook('Counting is why we are here.'));
  const page = join(p.dir, 'docs', 'site', 'tasks', 'nums', 'counts.html');
  const docs = (...args: string[]) => {
    const r = p.cellar('docs', ...args);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  it('keeps the site as it is, and builds again when the prose, the run facts or a page moved', () => {
    expect(p.cellar('run', 'notebooks/nums.ipynb').code).toBe(0);
    expect(docs()).toMatch(/^docs: 1 pipeline, 2 tasks, \d+ pages in /);
    const built = statSync(page).mtimeMs;
    expect(docs()).toMatch(
      /^docs: up to date \(1 pipeline, 2 tasks, \d+ pages; notebooks, code and run facts unchanged since the last build\)/,
    );
    expect(statSync(page).mtimeMs).toBe(built);

    // The notebook's prose.
    p.write('notebooks/nums.ipynb', notebook('Counting, now with a reason.'));
    expect(docs()).not.toContain('up to date');
    expect(readFileSync(page, 'utf8')).toContain('Counting, now with a reason.');
    expect(docs()).toContain('up to date');

    // The run facts: a run with another param adds a run to the history.
    expect(p.cellar('run', 'notebooks/nums.ipynb', '--param', 'n=5').code).toBe(0);
    expect(docs()).not.toContain('up to date');

    // A page of the site, gone.
    rmSync(page);
    expect(docs()).not.toContain('up to date');
    expect(statSync(page).isFile()).toBe(true);

    // --force builds whatever the stamp says.
    expect(docs()).toContain('up to date');
    expect(docs('--force')).not.toContain('up to date');
  });
});
