// Every pipeline module imports 'cellar', so whatever 'cellar' loads at import time is paid by every
// `cellar run`, warm or cold, and by every worker thread. Adapters for services a pipeline may never
// use (DuckDB's native binding, BigQuery, Cloud Storage, BullMQ, the SQL translator, TypeScript)
// must be loaded when first used, not at import. A static import slipped in once (the fixture
// replay's in-memory DuckDB) and added ~100 ms of native loading to every warm run.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './helpers.js';

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
