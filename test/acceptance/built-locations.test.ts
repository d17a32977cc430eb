// A local module finding files by its own location (`fileURLToPath(import.meta.url)`,
// `import.meta.dirname`, `new URL('../data/x.txt', import.meta.url)`) in a built folder, which
// holds no module files: there each module is located where it would sit under the run's
// working directory (`--workdir`), as if the sources were there, so the task reads the workdir's
// data as the source run reads the notebook folder's, under the same key. Before, a bundled
// module's `import.meta.url` was its `cellar-build:` identity ("The URL must be of scheme file" at
// load) and `import.meta.dirname` the built folder's. See docs/design/build.md.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  project,
  removeProjects,
  repo,
  runBuilt,
  runStatuses,
  showOutput as show,
} from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/rd.ipynb';

/** A project whose notebook's task `t` returns `call` of a helper in notebooks/lib/rd.ts. */
function locatingProject(module: string, imported: string, call: string): Project {
  const p = project();
  mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
  mkdirSync(join(p.dir, 'notebooks', 'data'), { recursive: true });
  p.write('notebooks/lib/rd.ts', module);
  p.write(
    NB,
    notebookText([
      `import { ${imported} } from './lib/rd.js';`,
      `//| task: t\n//| output: ub=json\nconst ub = ${call};`,
    ]),
  );
  return p;
}

/** The newcomer's module: the folder of its own file, from import.meta.url, at load. */
const VIA_DIR =
  "import { readFileSync } from 'node:fs';\nimport { dirname, join } from 'node:path';\nimport { fileURLToPath } from 'node:url';\nconst here = dirname(fileURLToPath(import.meta.url));\nexport function viaDir() { return readFileSync(join(here, '..', 'data', 'x.txt'), 'utf8').trim(); }\n";

const value = (p: Project) => show(p, NB, 't', 'ub', '--workspace', 'ws');

describe('a module finding files by its own location, in a built folder', () => {
  it("the newcomer's repro (dirname(fileURLToPath(import.meta.url))): reads the workdir's data, keyed as from the sources", () => {
    const p = locatingProject(VIA_DIR, 'viaDir', 'viaDir()');
    p.write('notebooks/data/x.txt', 'one\n');
    expect(runStatuses(p, NB)).toEqual({ t: 'ran' });
    const b = p.cellar('build', NB, '--out', 'dist', '--no-lockfile');
    expect(b.code, b.stderr).toBe(0);
    // On worker threads (the default) and on the main thread, where the module loads again.
    for (const mode of [[], ['--in-process']]) {
      p.write('notebooks/data/x.txt', `one ${mode.length}\n`);
      expect(runBuilt(p, 'dist/run.mjs', ...mode)).toEqual({ t: 'ran' });
      expect(value(p)).toBe(`one ${mode.length}`);
      expect(runBuilt(p, 'dist/run.mjs', ...mode)).toEqual({ t: 'cached' });
      p.write('notebooks/data/x.txt', `two ${mode.length}\n`);
      expect(runBuilt(p, 'dist/run.mjs', ...mode)).toEqual({ t: 'ran' });
      expect(value(p)).toBe(`two ${mode.length}`);
      // The sources agree on that workspace: the same key.
      expect(runStatuses(p, NB, '--workspace', 'ws', ...mode)).toEqual({ t: 'cached' });
    }
  });

  it('variant: import.meta.dirname, import.meta.filename and new URL of a run-time name', () => {
    const p = locatingProject(
      "import { readFileSync } from 'node:fs';\nimport { dirname, join } from 'node:path';\n" +
        "export const viaDirname = () => readFileSync(join(import.meta.dirname, '..', 'data', 'x.txt'), 'utf8').trim();\n" +
        "export const viaFilename = () => readFileSync(join(dirname(import.meta.filename), '..', 'data', 'y.txt'), 'utf8').trim();\n" +
        "const name = 'z';\nexport const viaUrl = () => readFileSync(new URL(`../data/${name}.txt`, import.meta.url), 'utf8').trim();\n",
      'viaDirname, viaFilename, viaUrl',
      '[viaDirname(), viaFilename(), viaUrl()].join(" ")',
    );
    for (const f of ['x', 'y', 'z']) p.write(`notebooks/data/${f}.txt`, `${f}1\n`);
    expect(p.cellar('build', NB, '--out', 'dist', '--no-lockfile').code).toBe(0);
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(value(p)).toBe('x1 y1 z1');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'cached' });
    for (const f of ['x', 'y', 'z']) {
      p.write(`notebooks/data/${f}.txt`, `${f}2\n`);
      expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    }
    expect(value(p)).toBe('x2 y2 z2');
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ t: 'cached' });
  });

  it('the words import.meta.url in a string, a template or a comment stay as written; the expression beside them is located', () => {
    // Before, a text replacement turned the string 'import.meta.url' into `__cellarLocated().url`.
    const p = locatingProject(
      `${VIA_DIR}// import.meta.url in a comment\n` +
        "export const words = () => ['import.meta.url', \"import.meta.dirname\", `import.meta.filename ${viaDir()}`].join('|');\n",
      'words',
      'words()',
    );
    p.write('notebooks/data/x.txt', 'one\n');
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ t: 'ran' });
    const expected = 'import.meta.url|import.meta.dirname|import.meta.filename one';
    expect(value(p)).toBe(expected);
    expect(p.cellar('build', NB, '--out', 'dist', '--no-lockfile').code).toBe(0);
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'cached' });
    p.write('notebooks/data/x.txt', 'two\n');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(value(p)).toBe(expected.replace('one', 'two'));
  });

  it('variant: the built folder moved elsewhere and run with --workdir reads that folder’s data', () => {
    const p = locatingProject(VIA_DIR, 'viaDir', 'viaDir()');
    p.write('notebooks/data/x.txt', 'one\n');
    expect(p.cellar('build', NB, '--out', 'dist', '--no-lockfile').code).toBe(0);
    // Out of the project (Node still finds the packages above it, as `npm ci` would beside it).
    const moved = `${p.dir}-shipped`;
    renameSync(join(p.dir, 'dist'), moved);
    expect(runBuilt(p, join(moved, 'run.mjs'), '--workdir', 'notebooks')).toEqual({ t: 'ran' });
    expect(value(p)).toBe('one');
    expect(runBuilt(p, join(moved, 'run.mjs'), '--workdir', 'notebooks')).toEqual({ t: 'cached' });
    p.write('notebooks/data/x.txt', 'two\n');
    expect(runBuilt(p, join(moved, 'run.mjs'), '--workdir', 'notebooks')).toEqual({ t: 'ran' });
    expect(value(p)).toBe('two');
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ t: 'cached' });
    // Another workdir: its own data, under another key.
    cpSync(join(p.dir, 'notebooks', 'data'), join(p.dir, 'batch', 'data'), { recursive: true });
    p.write('batch/data/x.txt', 'batch\n');
    expect(runBuilt(p, join(moved, 'run.mjs'), '--workdir', 'batch')).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'ub', '--workspace', 'ws', '--workdir', 'batch')).toBe('batch');
    expect(runBuilt(p, join(moved, 'run.mjs'), '--workdir', 'batch')).toEqual({ t: 'cached' });
  });
});

describe("Cellar's own code is never named as the throw site", () => {
  it("penguins.ipynb built from Cellar's checkout: a missing data file is the load cell's line, not runtime/run/read-record.ts", () => {
    // In Cellar's own checkout the bundled runtime's sources map inside the project root, and
    // before, the frame of the fs patch (runtime/run/read-record.ts) was appended as `; thrown at`.
    const out = join(repo, 'test', '.tmp', `built-penguins-${process.pid}`);
    try {
      const b = spawnSync(
        process.execPath,
        [
          join(repo, 'bin', 'cellar.mjs'),
          'build',
          'notebooks/penguins.ipynb',
          '--out',
          out,
          '--no-lockfile',
        ],
        { cwd: repo, encoding: 'utf8' },
      );
      expect(b.status, b.stderr).toBe(0);
      const r = spawnSync(
        process.execPath,
        [
          join(out, 'run.mjs'),
          'load',
          '--workdir',
          join(repo, 'notebooks'),
          '--workspace',
          join(out, 'ws'),
          '--param',
          'dataPath=missing.json',
          '--json',
        ],
        { cwd: out, encoding: 'utf8' },
      );
      expect(r.status).not.toBe(0);
      const load = JSON.parse(r.stdout).tasks.find((t: { name: string }) => t.name === 'load');
      expect(load.location).toBe('notebooks/penguins.ipynb, cell 8 (id load), line 2');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
