// `cellar docs` keeps a site built from the same inputs as it is (`npm start`'s docs step spent
// its time rebuilding an unchanged site), and builds again when anything it shows moved: the
// notebook's prose, the run facts, a page of the site itself. Real CLI, real TypeDoc, a project
// of its own (its own warm-run record, which the pages' "Up to date" sentence is read from).
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, markdownCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

/** A pasted image (a cell attachment) as Jupyter stores it: base64 under its MIME type. */
const svg = (colour: string) =>
  Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="${colour}"/></svg>`,
  ).toString('base64');

const notebook = (why: string, pasted = 'red') => {
  const text = notebookText([
    codeCell('setup', "import type { Item } from '../lib/types.js';"),
    codeCell('params', '//| params\nconst n = 3;'),
    markdownCell(
      'why',
      `## Counts\n\n${why}\n\n![chart](chart.svg) ![pasted](attachment:image.svg)`,
    ),
    codeCell(
      'counts',
      '//| task: counts\nconst counts: Item[] = Array.from({ length: n }, (_, i) => ({ id: i }));',
    ),
    codeCell('total', '//| task: total\nconst total = counts.reduce((a, b) => a + b.id, 0);'),
  ]);
  const nb = JSON.parse(text);
  nb.cells[2].attachments = { 'image.svg': { 'image/svg+xml': svg(pasted) } };
  return JSON.stringify(nb, null, 1);
};

/** A project with the notebook run once, its lib/ and its linked image in place. */
function builtProject() {
  const p = project();
  const page = join(p.dir, 'docs', 'site', 'tasks', 'nums', 'counts.html');
  const docs = (...args: string[]) => {
    const r = p.cellar('docs', ...args);
    expect(r.code, r.stderr).toBe(0);
    // The prose's image is found from the API copies too (TypeDoc warned "is not a file").
    expect(r.stderr).not.toContain('is not a file');
    return r.stdout;
  };
  p.write('notebooks/chart.svg', Buffer.from(svg('green'), 'base64').toString());
  mkdirSync(join(p.dir, 'lib'), { recursive: true });
  p.write('lib/types.ts', 'export interface Item {\n  id: number;\n}\n');
  p.write('notebooks/nums.ipynb', notebook('Counting is why we are here.'));
  expect(p.cellar('run', 'notebooks/nums.ipynb').code).toBe(0);
  const first = docs();
  expect(first).toMatch(/^docs: 1 pipeline, 2 tasks, \d+ pages in /);
  const pages = Number(/(\d+) pages/.exec(first)![1]);
  return { p, page, docs, pages };
}

describe('cellar docs when nothing changed', () => {
  it('keeps the site as it is, also after a run that served all from the cache; a page edited or gone, or --force, builds again', () => {
    const { p, page, docs, pages } = builtProject();
    const built = statSync(page).mtimeMs;
    // The kept site's figures are read from the stamp's listing: the same page count as the build.
    expect(docs()).toMatch(
      new RegExp(
        `^docs: up to date \\(1 pipeline, 2 tasks, ${pages} pages; notebooks, code and run facts unchanged since the last build\\)`,
      ),
    );
    expect(statSync(page).mtimeMs).toBe(built);
    // A run that serves every task from the cache adds nothing the site shows.
    expect(p.cellar('run', 'notebooks/nums.ipynb').code).toBe(0);
    expect(docs()).toContain('up to date');
    // A page of the site edited by hand to the same size, then one gone.
    const text = readFileSync(page, 'utf8');
    p.write('docs/site/tasks/nums/counts.html', text.replace('Counting', 'Cxunting'));
    expect(docs()).not.toContain('up to date');
    expect(readFileSync(page, 'utf8')).toContain('Counting');
    rmSync(page);
    expect(docs()).not.toContain('up to date');
    expect(statSync(page).isFile()).toBe(true);
    expect(docs('--force')).not.toContain('up to date');
  });

  it("builds again when the notebook's prose, an image it links to or a pasted image changed", () => {
    const { p, page, docs } = builtProject();
    p.write('notebooks/nums.ipynb', notebook('Counting, now with a reason.'));
    expect(docs()).not.toContain('up to date');
    expect(readFileSync(page, 'utf8')).toContain('Counting, now with a reason.');
    // Redrawn under its name; replaced under its name (Jupyter keeps `image.svg` on a new paste).
    p.write('notebooks/chart.svg', Buffer.from(svg('blue'), 'base64').toString());
    expect(docs()).not.toContain('up to date');
    p.write('notebooks/nums.ipynb', notebook('Counting, now with a reason.', 'yellow'));
    expect(docs()).not.toContain('up to date');
  });

  it('builds again when a lib/ type a module imports, or the run facts, changed', () => {
    const { p, docs } = builtProject();
    p.write('lib/types.ts', 'export interface Item {\n  id: number;\n  label?: string;\n}\n');
    expect(docs()).not.toContain('up to date');
    expect(docs()).toContain('up to date');
    // A run with another param adds a run to the history.
    expect(p.cellar('run', 'notebooks/nums.ipynb', '--param', 'n=5').code).toBe(0);
    expect(docs()).not.toContain('up to date');
  });
});
