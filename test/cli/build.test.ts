// `cellar build`: the penguins pipeline bundled, copied out of the repository, installed with
// `npm ci --omit=dev` (from npm's cache: the project's own install put the same versions there),
// and run by plain Node; and one task's function bundled and imported by a plain script.
// Real esbuild, real npm, real worker threads, real files: nothing mocked.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';

const repo = join(import.meta.dirname, '..', '..');
const cli = join(repo, 'bin', 'cellar.mjs');
// Outside the repository on purpose: nothing there can resolve the checkout's node_modules.
const scratch = mkdtempSync(join(tmpdir(), 'cellar-build-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd = repo) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: 580_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const cellar = (...args: string[]) => sh(process.execPath, [cli, ...args]);

interface RunJson {
  ok: boolean;
  tasks: { name: string; status: string; key: string }[];
}
const keysOf = (r: RunJson) => Object.fromEntries(r.tasks.map((t) => [t.name, t.key]));
const statusesOf = (r: RunJson) => Object.fromEntries(r.tasks.map((t) => [t.name, t.status]));

describe('cellar build: a pipeline for a machine with only Node', () => {
  const built = join(scratch, 'shipped', 'penguins');
  const devStore = join(scratch, 'dev-store');
  let sourceRun: RunJson;

  beforeAll(() => {
    const b = cellar(
      'build',
      'notebooks/penguins.ipynb',
      '--out',
      join(scratch, 'dist', 'penguins'),
    );
    expect(b.code, b.stderr).toBe(0);
    // "Copied to a machine": another folder, then the production install only.
    mkdirSync(join(scratch, 'shipped'), { recursive: true });
    cpSync(join(scratch, 'dist', 'penguins'), built, { recursive: true });
    const install = sh(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'],
      built,
    );
    expect(install.code, install.stderr).toBe(0);
    const s = cellar('run', 'notebooks/penguins.ipynb', '--workspace', devStore, '--json');
    expect(s.code, s.stderr).toBe(0);
    sourceRun = JSON.parse(s.stdout);
  }, 600_000);

  it('holds a bundle, a manifest and a package.json of run-time packages only: no TypeScript, no compiler, no notebooks', () => {
    const files = readdirSync(built);
    expect(files).toEqual(
      expect.arrayContaining([
        'run.mjs',
        'pipeline.js',
        'worker.js',
        'manifest.json',
        'package.json',
        'package-lock.json',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('.ipynb'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(built, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toEqual(
      expect.arrayContaining(['ml-random-forest', 'apache-arrow']),
    );
    for (const dev of ['typescript', 'ts-morph', 'esbuild', 'tsx', 'prettier', 'cellar', 'vitest'])
      expect(pkg.dependencies).not.toHaveProperty(dev);
    expect(existsSync(join(built, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(built, 'node_modules', 'ts-morph'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(built, 'manifest.json'), 'utf8'));
    expect(manifest.pipeline).toBe('penguins');
    expect(manifest.tasks.map((t: { name: string }) => t.name)).toEqual([
      'load',
      'features',
      'split',
      'train',
      'evaluate',
    ]);
    expect(manifest.tasks.find((t: { name: string }) => t.name === 'features').upstream).toEqual([
      'load',
    ]);
    expect(manifest.params.dataPath).toMatchObject({ type: 'string', tasks: ['load'] });
    for (const t of manifest.tasks) expect(t.codeHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('runs with plain node, computing the same keys as the run from the sources', () => {
    const r = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        '--workspace',
        join(scratch, 'batch-store'),
        '--workdir',
        join(repo, 'notebooks'),
        '--json',
      ],
      scratch,
    );
    expect(r.code, r.stderr).toBe(0);
    const batch = JSON.parse(r.stdout) as RunJson;
    expect(Object.values(statusesOf(batch))).toEqual(['ran', 'ran', 'ran', 'ran', 'ran']);
    expect(keysOf(batch)).toEqual(keysOf(sourceRun));
  });

  it('on the store development used, serves every task from cache (and development then reuses the batch run)', () => {
    const r = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        '--workspace',
        devStore,
        '--workdir',
        join(repo, 'notebooks'),
        '--json',
      ],
      scratch,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(statusesOf(JSON.parse(r.stdout)))).toEqual([
      'cached',
      'cached',
      'cached',
      'cached',
      'cached',
    ]);
    // A param change computed on the batch machine is reused by the source run.
    const batch = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        'split',
        '--param',
        'testFraction=0.3',
        '--workspace',
        devStore,
        '--workdir',
        join(repo, 'notebooks'),
        '--json',
      ],
      scratch,
    );
    expect(batch.code, batch.stderr).toBe(0);
    expect(statusesOf(JSON.parse(batch.stdout)).split).toBe('ran');
    const dev = cellar(
      'run',
      'notebooks/penguins.ipynb',
      'split',
      '--param',
      'testFraction=0.3',
      '--workspace',
      devStore,
      '--json',
    );
    expect(dev.code, dev.stderr).toBe(0);
    expect(statusesOf(JSON.parse(dev.stdout)).split).toBe('cached');
  });

  it('reports a failing task with its summary where TypeScript is not installed (no crash)', () => {
    // A tester's finding: the failure's locator imported TypeScript, which the built folder's
    // production install does not have: ERR_MODULE_NOT_FOUND, no summary, no --json, no notify.
    const r = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        '--workspace',
        join(scratch, 'failing-store'),
        '--workdir',
        join(repo, 'notebooks'),
        '--param',
        'dataPath=data/no-such-file.csv',
        '--json',
      ],
      scratch,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
    const summary = JSON.parse(r.stdout) as {
      ok: boolean;
      tasks: { name: string; status: string; key: string; error?: string }[];
    };
    expect(summary.ok).toBe(false);
    expect(statusesOf(summary).load).toBe('failed');
    expect(summary.tasks.find((t) => t.name === 'load')!.error).toContain('no-such-file.csv');
  });

  it('names the failing cell and line as the run from the sources does, with no notebook or TypeScript there', () => {
    // The batch machine has neither the notebook nor the generated sources: the bundle's source
    // maps carry the generated module, and cells.json the notebook's cells.
    expect(readdirSync(built)).toContain('cells.json');
    const args = ['--param', 'dataPath=data/no-such-file.csv'];
    const fromBuild = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        '--workspace',
        join(scratch, 'failing-store-2'),
        '--workdir',
        join(repo, 'notebooks'),
        ...args,
      ],
      scratch,
    );
    const fromSources = cellar(
      'run',
      'notebooks/penguins.ipynb',
      '--workspace',
      join(scratch, 'failing-store-3'),
      ...args,
    );
    const location = (out: string) =>
      /at (notebooks\/penguins\.ipynb, cell \d+ \(id load\), line \d+)/.exec(out)?.[1];
    expect(fromSources.code).toBe(1);
    expect(fromBuild.code).toBe(1);
    expect(location(fromSources.stdout + fromSources.stderr)).toBeDefined();
    expect(location(fromBuild.stdout + fromBuild.stderr)).toBe(
      location(fromSources.stdout + fromSources.stderr),
    );
  });

  it('names --workdir when the data folder it expects is not there', () => {
    // Moved one level deeper: the notebook folder, found relative to the build, is gone.
    const moved = join(scratch, 'deeper', 'still', 'penguins');
    cpSync(built, moved, { recursive: true });
    const r = sh(
      process.execPath,
      [join(moved, 'run.mjs'), '--workspace', join(scratch, 'x-store')],
      scratch,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_NO_WORKDIR');
    expect(r.stderr).toContain('--workdir');
  });

  it('prints its help wherever it is, working folder or not', () => {
    const moved = join(scratch, 'elsewhere', 'deep', 'penguins');
    cpSync(built, moved, { recursive: true });
    for (const flag of ['--help', '-h']) {
      const r = sh(process.execPath, [join(moved, 'run.mjs'), flag], scratch);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('node run.mjs [task...] [options]');
      expect(r.stdout).toContain('--workdir');
      expect(r.stderr).toBe('');
    }
  });
});

describe('a built folder names each failure as the run from the sources does', () => {
  // A tester's table: with no TypeScript and no generated sources on the batch machine, a built
  // folder gave a setup helper's and a stack overflow's line off by one (counted from the cell's
  // marker in Prettier's reflowed module), no location for `throw null` / `throw {code: 42}` or a
  // codec's refusal, and not the project module a helper threw in.
  const project = join(scratch, 'failing-project');
  const built = join(scratch, 'shipped', 'e');
  let fromSources = '';
  let fromBuild = '';

  beforeAll(() => {
    mkdirSync(join(project, 'notebooks', 'lib'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{"name":"p","type":"module","private":true}\n');
    writeFileSync(
      join(project, 'notebooks', 'lib', 'boom.ts'),
      "// A helper that throws.\nexport function boom(): number {\n  throw new Error('boom from lib');\n}\n",
    );
    writeFileSync(
      join(project, 'notebooks', 'e.ipynb'),
      notebookText([
        'import { boom } from "./lib/boom.ts";\nfunction setupHelper(x: number): number {\n  if (x > 0) throw new Error("setup helper says no");\n  return x;\n}',
        '//| task: a\nconst a = setupHelper(1);',
        '//| task: b\nconst n = 1;\nthrow null;',
        '//| task: c\nconst m = 2;\nthrow { code: 42 };',
        '//| task: d\nconst q = 1;\nconst v = boom();',
        '//| task: e\nfunction rec(n: number): number { return rec(n + 1) + 1; }\nconst r = rec(0);',
        '//| task: f\nconst o = { k: 1, f: () => 1 };',
      ]),
    );
    const b = sh(
      process.execPath,
      [cli, 'build', 'notebooks/e.ipynb', '--out', join(scratch, 'dist', 'e')],
      project,
    );
    expect(b.code, b.stderr).toBe(0);
    cpSync(join(scratch, 'dist', 'e'), built, { recursive: true });
    const install = sh(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'],
      built,
    );
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(built, 'node_modules', 'typescript'))).toBe(false);
    const s = sh(
      process.execPath,
      [cli, 'run', 'notebooks/e.ipynb', '--keep-going', '--workspace', join(scratch, 'e-src')],
      project,
    );
    fromSources = s.stdout + s.stderr;
    const r = sh(
      process.execPath,
      [
        join(built, 'run.mjs'),
        '--keep-going',
        '--workspace',
        join(scratch, 'e-built'),
        '--workdir',
        join(project, 'notebooks'),
      ],
      scratch,
    );
    fromBuild = r.stdout + r.stderr;
    expect(s.code, fromSources).toBe(1);
    expect(r.code, fromBuild).toBe(1);
  }, 600_000);

  /** Each failed task's location line in the summary (`- b: …` then `at …`). */
  const locations = (out: string) =>
    Object.fromEntries(
      [...out.matchAll(/^\s+- (\w+): .*\n\s+at (.+)$/gm)].map((m) => [m[1]!, m[2]!]),
    );

  it.each([
    ['a', 'a setup helper throwing (line 3 of the setup cell)', 'cell 1 (id c1), line 3'],
    ['b', '`throw null`', 'cell 3 (id c3), line 3'],
    ['c', '`throw { code: 42 }`', 'cell 4 (id c4), line 3'],
    ['d', 'a project module throwing', 'line 3; thrown at notebooks/lib/boom.ts, line 3'],
    ['e', 'a stack overflow', 'cell 6 (id c6), line 2'],
    ['f', "a codec's refusal (a function in the output)", 'cell 7 (id c7)'],
  ])('task %s, %s: %s', (task, _what, expected) => {
    const source = locations(fromSources)[task];
    expect(source, fromSources).toContain(expected);
    expect(locations(fromBuild)[task], fromBuild).toBe(source);
  });
});

describe('cellar build --function: one task for online serving', () => {
  it('writes one ESM file a plain Node script imports, giving the output the pipeline stored', () => {
    const out = join(scratch, 'functions');
    const b = cellar('build', 'notebooks/penguins.ipynb', '--function', 'features', '--out', out);
    expect(b.code, b.stderr).toBe(0);
    const bundle = readFileSync(join(out, 'features.mjs'), 'utf8');
    // The function and the setup helpers, not the task wiring nor the upstream task's code.
    expect(bundle).not.toMatch(/defineTask|loadTask|readFileSync/);
    // The pipeline's own result for the same input, from a run in a fresh store.
    const store = join(scratch, 'fn-store');
    const run = cellar(
      'run',
      'notebooks/penguins.ipynb',
      'features',
      '--workspace',
      store,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const shown = cellar(
      'show',
      'notebooks/penguins.ipynb',
      'features',
      'penguins',
      '--workspace',
      store,
      '--json',
    );
    expect(shown.code, shown.stderr).toBe(0);
    const serving = join(scratch, 'serving');
    mkdirSync(serving, { recursive: true });
    cpSync(join(out, 'features.mjs'), join(serving, 'features.mjs'));
    writeFileSync(
      join(serving, 'serve.mjs'),
      `import { readFileSync } from 'node:fs';
import { features, featureVector } from './features.mjs';
const raw = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { penguins } = features({ raw }, {});
process.stdout.write(JSON.stringify({ penguins, vector: typeof featureVector }));
`,
    );
    const served = sh(
      process.execPath,
      ['serve.mjs', join(repo, 'node_modules', 'vega-datasets', 'data', 'penguins.json')],
      serving,
    );
    expect(served.code, served.stderr).toBe(0);
    const result = JSON.parse(served.stdout);
    expect(result.vector).toBe('function');
    expect(result.penguins).toHaveLength(342);
    expect(result.penguins).toEqual(JSON.parse(shown.stdout));
  });

  it('refuses a task the pipeline does not have, listing the ones it has', () => {
    const r = cellar(
      'build',
      'notebooks/penguins.ipynb',
      '--function',
      'nosuch',
      '--out',
      join(scratch, 'none'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_UNKNOWN_TASK');
    expect(r.stderr).toContain('load, features, split, train, evaluate');
  });
});
