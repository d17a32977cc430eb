// `cellar build --out DIR` and `cellar docs --out DIR` replace DIR as a whole. A red team pointed
// them at a folder of results (`--out mydata`), at `notebooks/` and at the project (`--out .`):
// each was deleted without a word. Now a folder holding anything Cellar did not write there, or
// holding the project or a notebook, is refused before anything changes, naming it; an earlier
// output of the same command is replaced as before. Real CLI processes, real files.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects, type Project } from './harness.js';
import { codeCell, notebookText } from '../compiler/notebook.js';

afterAll(removeProjects);

const notebook = notebookText([codeCell('c1', '//| task: counts\nconst counts = [1, 2, 3];')]);

function withResults(): Project {
  const p = project();
  p.write('notebooks/nums.ipynb', notebook);
  mkdirSync(join(p.dir, 'mydata'));
  p.write('mydata/results.csv', 'precious\n');
  return p;
}

/** Every file under `dir` (relative paths) but Cellar's caches, to show nothing was touched. */
const listing = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => !f.startsWith('.cellar'))
    .sort();

describe('an --out folder that holds the user’s files or the project', () => {
  it('cellar build refuses it, names it, and changes nothing; its own earlier build is replaced', () => {
    const p = withResults();
    expect(p.cellar('compile', 'notebooks/nums.ipynb').code).toBe(0);
    const before = listing(p.dir);
    for (const [out, says] of [
      ['mydata', '--out mydata already holds files Cellar did not write (results.csv)'],
      ['notebooks', '--out notebooks already holds files Cellar did not write (nums.ipynb)'],
      ['.', '--out . is the project ('],
      ['..', '--out .. holds the project ('],
    ] as const) {
      const r = p.cellar('build', 'notebooks/nums.ipynb', '--out', out, '--no-lockfile');
      expect(r.code, out).toBe(2);
      expect(r.stderr, out).toContain(says);
      expect(r.stderr, out).toContain('(E_OUT_FOLDER)');
    }
    // The generated folder holds the pipeline being built.
    const gen = p.cellar('build', 'generated/nums/pipeline.ts', '--out', 'generated/nums');
    expect(gen.stderr).toContain('--out generated/nums holds the pipeline being built');
    expect(listing(p.dir)).toEqual(before);
    expect(p.read('mydata/results.csv')).toBe('precious\n');
    // A new folder, then the same folder again: the earlier build is Cellar's to replace.
    for (let i = 0; i < 2; i++) {
      const r = p.cellar('build', 'notebooks/nums.ipynb', '--out', 'dist/nums', '--no-lockfile');
      expect(r.code, r.stderr).toBe(0);
    }
    expect(existsSync(join(p.dir, 'dist', 'nums', 'run.mjs'))).toBe(true);
    // A file added to that build is not the build's to delete.
    p.write('dist/nums/notes.txt', 'mine\n');
    const again = p.cellar('build', 'notebooks/nums.ipynb', '--out', 'dist/nums', '--no-lockfile');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      '--out dist/nums already holds files Cellar did not write (notes.txt)',
    );
    expect(p.read('dist/nums/notes.txt')).toBe('mine\n');
    // A task's function is one file written beside what the folder holds: nothing is replaced.
    const fn = p.cellar('build', 'notebooks/nums.ipynb', '--function', 'counts', '--out', 'mydata');
    expect(fn.code, fn.stderr).toBe(0);
    expect(existsSync(join(p.dir, 'mydata', 'counts.mjs'))).toBe(true);
    expect(p.read('mydata/results.csv')).toBe('precious\n');
  });

  it('cellar docs refuses it too; a site it built (marked) is rebuilt in place', () => {
    const p = withResults();
    const before = listing(join(p.dir, 'mydata'));
    const r = p.cellar('docs', '--out', 'mydata', '--no-api');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'cellar docs: --out mydata already holds files Cellar did not write (results.csv)',
    );
    expect(listing(join(p.dir, 'mydata'))).toEqual(before);
    const nb = p.cellar('docs', '--out', 'notebooks', '--no-api');
    expect(nb.code).toBe(2);
    expect(nb.stderr).toContain('--out notebooks holds a notebook (');
    expect(existsSync(join(p.dir, 'notebooks', 'nums.ipynb'))).toBe(true);
    for (const force of [[], ['--force']]) {
      const ok = p.cellar('docs', '--out', 'site', '--no-api', ...force);
      expect(ok.code, ok.stderr).toBe(0);
    }
    expect(readFileSync(join(p.dir, 'site', '.cellar-site'), 'utf8')).toContain('cellar docs');
    expect(existsSync(join(p.dir, 'site', 'index.html'))).toBe(true);
    // A CNAME added to the site (GitHub Pages) and a report in a folder of it: kept while the
    // site is up to date, refused by name when a build would replace the folder.
    p.write('site/CNAME', 'docs.example.com\n');
    mkdirSync(join(p.dir, 'site', 'extra'));
    p.write('site/extra/report.pdf', '%PDF');
    expect(p.cellar('docs', '--out', 'site', '--no-api').stdout).toContain('up to date');
    const forced = p.cellar('docs', '--out', 'site', '--no-api', '--force');
    expect(forced.code).toBe(2);
    expect(forced.stderr).toContain(
      '--out site already holds files Cellar did not write (CNAME, extra/report.pdf)',
    );
    expect(p.read('site/CNAME')).toBe('docs.example.com\n');
    expect(existsSync(join(p.dir, 'site', 'index.html'))).toBe(true);
  });
});
