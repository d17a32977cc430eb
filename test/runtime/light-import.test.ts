// Every pipeline module imports 'cellar', so whatever 'cellar' loads at import time is paid by every
// `cellar run`, warm or cold, and by every worker thread. Adapters for services a pipeline may never
// use (DuckDB's native binding, BigQuery, Cloud Storage, BullMQ, the SQL translator, TypeScript)
// must be loaded when first used, not at import. A static import slipped in once (the fixture
// replay's in-memory DuckDB) and added ~100 ms of native loading to every warm run.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
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
