// Every pipeline module imports 'cellar', so whatever 'cellar' loads at import time is paid by every
// `cellar run`, warm or cold, and by every worker thread. Adapters for services a pipeline may never
// use (DuckDB's native binding, BigQuery, Cloud Storage, BullMQ, the SQL translator, TypeScript)
// must be loaded when first used, not at import. A static import slipped in once (the fixture
// replay's in-memory DuckDB) and added ~100 ms of native loading to every warm run.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './helpers.js';
import { notebookText } from '../compiler/notebook.js';

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

const heavy = [
  '@duckdb/',
  '@google-cloud/bigquery',
  '@google-cloud/storage',
  'bullmq',
  'ioredis',
  '@polyglot-sql/',
  'typescript',
  'typedoc',
];

describe("importing 'cellar'", () => {
  it('loads no warehouse, queue, translator or compiler package', () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('cellar');",
      'console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));',
    ].join('\n');
    const loaded: string[] = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: root,
        encoding: 'utf8',
      }),
    );
    const offenders = loaded.filter((file) =>
      heavy.some((name) => file.includes(`/node_modules/${name}`)),
    );
    expect(offenders).toEqual([]);
  });
});

describe('`cellar run` of a notebook', () => {
  // The run command imports the compile command's freshness check (ensureCompiled); a static
  // import there of `--typecheck`'s module, which loads TypeScript, once cost every `cellar run`
  // ~1 s of CPU. The compiler itself loads only when a notebook is stale.
  it('loads no compiler or docs package when the notebook is already compiled', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-light-'));
    try {
      const listing = join(dir, 'loaded.json');
      const hook = join(dir, 'hook.mjs');
      writeFileSync(
        hook,
        [
          "import { createRequire } from 'node:module';",
          "import { writeFileSync } from 'node:fs';",
          'const require = createRequire(import.meta.url);',
          `process.on('exit', () => writeFileSync(${JSON.stringify(listing)}, JSON.stringify(Object.keys(require.cache))));`,
        ].join('\n'),
      );
      execFileSync(
        process.execPath,
        [
          '--import',
          pathToFileURL(hook).href,
          join(root, 'bin', 'cellar.mjs'),
          'run',
          'notebooks/penguins.ipynb',
          '--dry-run',
          '--workspace',
          join(dir, 'ws'),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      const loaded: string[] = JSON.parse(readFileSync(listing, 'utf8'));
      expect(loaded.length).toBeGreaterThan(0);
      const offenders = loaded.filter((file) =>
        ['typescript', 'typedoc', 'ts-morph', 'prettier'].some((name) =>
          file.includes(`/node_modules/${name}/`),
        ),
      );
      expect(offenders).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a warm `cellar run` answered by the warm-run record', () => {
  // The warm path is one module, dist/warm.js (cli/warm-entry.ts, bundled without splitting):
  // the run command's chunk and the twenty-odd chunks it shares with the rest of Cellar cost
  // Node's ESM loader a resolve, a read, a compile and a link each in every fresh process, about
  // three times the one file (docs/design/warm-path.md, stop 30). Anything the warm path imports
  // outside that file shows here.
  it('loads from dist/ only what `cellar --version` loads, and dist/warm.js', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-warm-light-'));
    try {
      const listing = join(dir, 'loaded.txt');
      writeFileSync(
        join(dir, 'hooks.mjs'),
        [
          "import { appendFileSync } from 'node:fs';",
          'export async function resolve(specifier, context, next) {',
          '  const r = await next(specifier, context);',
          `  if (r.url.startsWith('file:')) appendFileSync(${JSON.stringify(listing)}, r.url + '\\n');`,
          '  return r;',
          '}',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'register.mjs'),
        "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
      );
      const project = join(dir, 'p');
      mkdirSync(join(project, 'notebooks'), { recursive: true });
      writeFileSync(join(project, 'package.json'), '{"name":"p","private":true,"type":"module"}\n');
      writeFileSync(
        join(project, 'notebooks', 'w.ipynb'),
        notebookText([
          '//| params\nconst salt = 1;',
          '//| task: a\nconst a = 1 + salt;',
          '//| task: b\nconst b = a + 1;',
        ]),
      );
      const cellar = (args: string[], hooked = false) =>
        execFileSync(
          process.execPath,
          [
            ...(hooked ? ['--import', pathToFileURL(join(dir, 'register.mjs')).href] : []),
            join(root, 'bin', 'cellar.mjs'),
            ...args,
          ],
          { cwd: project, encoding: 'utf8' },
        );
      const distLoaded = (args: string[]) => {
        rmSync(listing, { force: true });
        const out = cellar(args, true);
        const urls = readFileSync(listing, 'utf8').trim().split('\n');
        const dist = pathToFileURL(join(root, 'dist')).href + '/';
        return {
          out,
          files: [
            ...new Set(urls.filter((u) => u.startsWith(dist)).map((u) => u.slice(dist.length))),
          ],
        };
      };
      const run = ['run', 'notebooks/w.ipynb', '--json'];
      cellar(run);
      cellar(run);
      const warm = distLoaded(run);
      expect(JSON.parse(warm.out).tasks.map((t: { status: string }) => t.status)).toEqual([
        'cached',
        'cached',
      ]);
      const version = distLoaded(['--version']);
      expect(version.files).toContain('cli.js');
      expect(warm.files.filter((f) => !version.files.includes(f))).toEqual(['warm.js']);
      // A dry run too; the full path (the record removed) still loads the run command.
      expect(distLoaded(['run', 'notebooks/w.ipynb', '--dry-run']).files.length).toBe(
        warm.files.length,
      );
      rmSync(join(project, '.cellar', 'cache', 'warm'), { recursive: true });
      expect(distLoaded(run).files.some((f) => /^run-\w+\.js$/.test(f))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
