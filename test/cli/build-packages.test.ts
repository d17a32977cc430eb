// Which packages a built folder installs (cli/build/build.ts `runtimePackages`), and where their
// versions come from (runtime/project.ts `installedPackageVersion`, the same walk the code hash
// uses). Real folders with real package.json files.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleExternals, neededPackages, runtimePackages } from '../../cli/build/build.js';
import { missingBuiltPackages } from '../../cli/build/built-folder.js';
import type { BuildManifest } from '../../cli/build/run-entry.js';
import { missingPackage, missingPackageError } from '../../runtime/missing-package.js';
import { definePipeline, defineTask } from '../../runtime/task.js';
import { installedPackageVersion } from '../../runtime/project.js';

const scratch = mkdtempSync(join(tmpdir(), 'cellar-build-packages-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writePackage(dir: string, pkg: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
}

const repo = join(import.meta.dirname, '..', '..');
const repoVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

describe('the packages a built folder installs', () => {
  it('leaves out every Node builtin, with or without node:, not only a listed few', () => {
    const project = join(scratch, 'builtins');
    writePackage(project, { name: 'p' });
    expect(
      runtimePackages(['http', 'assert', 'node:fs', 'fs/promises', 'readline', 'dns'], project),
    ).toEqual({});
  });

  it("takes a package's version from the nearest node_modules at or above the project", () => {
    const outer = join(scratch, 'outer');
    writePackage(join(outer, 'node_modules', 'left-pad'), { name: 'left-pad', version: '1.3.0' });
    const project = join(outer, 'apps', 'p');
    writePackage(project, { name: 'p' });
    expect(runtimePackages(['left-pad'], project)).toEqual({ 'left-pad': '1.3.0' });
    expect(installedPackageVersion(project, 'left-pad')).toBe('1.3.0');
  });

  it("falls back to Cellar's own install for a package the project does not have", () => {
    const project = join(scratch, 'bare');
    writePackage(project, { name: 'p' });
    expect(runtimePackages(['apache-arrow'], project)).toEqual({
      'apache-arrow': repoVersion('apache-arrow'),
    });
  });

  it('names a package installed nowhere (E_BUILD_PACKAGE)', () => {
    const project = join(scratch, 'missing');
    writePackage(project, { name: 'p' });
    expect(() => runtimePackages(['no-such-package-xyz'], project)).toThrow(
      expect.objectContaining({
        code: 'E_BUILD_PACKAGE',
        message: expect.stringContaining("'no-such-package-xyz', which is not installed"),
      }),
    );
  });

  it('reads a package importing itself by name from its own package.json', () => {
    const project = join(scratch, 'self');
    writePackage(project, { name: 'selfish', version: '2.0.1' });
    expect(installedPackageVersion(join(project, 'src'), 'selfish')).toBe('2.0.1');
    expect(installedPackageVersion(project, 'other')).toBeUndefined();
  });
});

// Docs item C: a pipeline importing no package got 9 dependencies (BigQuery, Cloud Storage,
// BullMQ, …): every package any chunk of the runtime may load. Only what a run loads from the
// entry points through static imports is a dependency; what sits behind a dynamic import()
// (loaded when a run uses that feature) is an optional one.
describe('the packages of a bundle, from its metafile', () => {
  const out = (
    imports: { path: string; kind: string; external?: boolean }[],
    entryPoint?: string,
  ) => ({
    imports,
    ...(entryPoint ? { entryPoint } : {}),
  });
  const outputs = {
    'dist/cellar-run.js': out(
      [
        { path: 'dist/chunk-A.js', kind: 'import-statement' },
        { path: 'dist/chunk-Q.js', kind: 'dynamic-import' },
      ],
      'cli/build/run-entry.ts',
    ),
    'dist/pipeline.js': out(
      [{ path: 'ml-random-forest', kind: 'import-statement', external: true }],
      'p.ts',
    ),
    'dist/worker.js': out([{ path: 'dist/chunk-A.js', kind: 'import-statement' }], 'thread.ts'),
    'dist/chunk-A.js': out([
      { path: 'node:fs', kind: 'import-statement', external: true },
      { path: 'apache-arrow/Arrow.node', kind: 'import-statement', external: true },
      { path: 'dist/chunk-D.js', kind: 'dynamic-import' },
    ]),
    // A dynamic import() target is an output with an entryPoint too, but no run starts there.
    'dist/chunk-D.js': out(
      [
        { path: '@google-cloud/storage', kind: 'import-statement', external: true },
        { path: 'dist/chunk-Q.js', kind: 'import-statement' },
      ],
      'runtime/store/gcs.ts',
    ),
    'dist/chunk-Q.js': out([{ path: 'bullmq', kind: 'import-statement', external: true }], 'q.ts'),
  };

  it('lists statically reached packages as always loaded, packages only behind import() as on demand', () => {
    const { always, onDemand } = bundleExternals(outputs, [
      'dist/cellar-run.js',
      'dist/pipeline.js',
      'dist/worker.js',
    ]);
    expect([...always].sort()).toEqual(['apache-arrow', 'ml-random-forest']);
    expect([...onDemand].sort()).toEqual(['@google-cloud/storage', 'bullmq']);
  });
});

// The warehouse's packages are loaded on demand (import()), but by every run of a task with SQL:
// a built folder lists them as regular dependencies, or `npm ci --omit=dev` on Node 20 left the
// SQL translator out (its engines say Node >= 22) and every SQL task failed with a chunk's path.
describe('the packages a pipeline needs beyond its static imports', () => {
  const task = (name: string, warehouse?: object) =>
    defineTask({
      name,
      params: {},
      inputs: {},
      outputs: { x: {} },
      ...(warehouse ? { warehouse } : {}),
      run: () => ({ x: 1 }),
    });

  it('are the warehouse engine and the SQL translator, naming the tasks with SQL', () => {
    const pipeline = definePipeline({
      name: 'p',
      tasks: [task('load'), task('baseline', { reads: ['proj.ds.t'] })],
    });
    const needs = neededPackages(pipeline);
    expect(Object.keys(needs).sort()).toEqual(['@duckdb/node-api', '@polyglot-sql/sdk']);
    expect(needs['@polyglot-sql/sdk']).toMatch(/^task baseline \(the SQL translator/);
  });

  it('are none for a pipeline without SQL', () => {
    expect(neededPackages(definePipeline({ name: 'p', tasks: [task('load')] }))).toEqual({});
  });

  it('are checked before a built run starts: each missing one named, with what needs it and the fix', () => {
    const dir = join(scratch, 'built-without-duckdb');
    writePackage(dir, { name: 'p-pipeline' });
    writePackage(join(dir, 'node_modules', 'apache-arrow'), { name: 'apache-arrow', version: '1' });
    const manifest = {
      packages: { 'apache-arrow': '1', '@duckdb/node-api': '1', '@polyglot-sql/sdk': '1' },
      needs: { '@duckdb/node-api': 'task baseline (the DuckDB warehouse engine)' },
    } as unknown as BuildManifest;
    const error = missingBuiltPackages(dir, manifest)!;
    expect(error.code).toBe('E_PACKAGE_MISSING');
    expect(error.message).toContain(`are not installed in ${dir}: run \`npm ci --omit=dev\``);
    expect(error.message).toContain('npm install @duckdb/node-api @polyglot-sql/sdk');
    expect(error.message).toContain('@duckdb/node-api: needed by task baseline');
    expect(error.message).toContain('@polyglot-sql/sdk: needed by the SQL translator');
    expect(error.message).not.toContain('apache-arrow');
    writePackage(join(dir, 'node_modules', '@duckdb', 'node-api'), { name: 'x', version: '1' });
    writePackage(join(dir, 'node_modules', '@polyglot-sql', 'sdk'), { name: 'y', version: '1' });
    expect(missingBuiltPackages(dir, manifest)).toBeUndefined();
  });
});

describe("Node's error for a package it cannot find, as Cellar says it", () => {
  it('names the package, what needs it and the folder to install it in (ESM and require)', () => {
    const built = join(scratch, 'folder');
    writePackage(built, { name: 'f' });
    const esm = Object.assign(
      new Error(
        `Cannot find package '@duckdb/node-api' imported from ${join(built, 'chunk-K6RF23HJ.js')}`,
      ),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
    expect(missingPackageError(esm)?.message).toBe(
      `package '@duckdb/node-api' is not installed, and the DuckDB warehouse engine of sql\`…\` queries needs it: run \`npm install @duckdb/node-api\` in ${built} (E_PACKAGE_MISSING)`,
    );
    const cjs = `Cannot find module '@polyglot-sql/sdk'\nRequire stack:\n- ${join(built, 'chunk-Y.js')}`;
    expect(missingPackageError(cjs, 'baseline')?.message).toBe(
      `package '@polyglot-sql/sdk' is not installed, and task baseline needs it (the SQL translator of sql\`…\` queries): run \`npm install @polyglot-sql/sdk\` in ${built} (E_PACKAGE_MISSING)`,
    );
    // Installed as a dependency of a project: installed in the project.
    const nested = `Cannot find package 'bullmq' imported from ${join('/app', 'node_modules', 'cellar', 'dist', 'x.js')}`;
    expect(missingPackage(nested)).toEqual({
      name: 'bullmq',
      importer: join('/app', 'node_modules', 'cellar', 'dist', 'x.js'),
    });
    expect(missingPackageError(nested)?.message).toContain('`npm install bullmq` in /app');
    // A missing file of the project is no package.
    expect(missingPackage(`Cannot find module '/x/lib/a.js' imported from /x/b.js`)).toBe(
      undefined,
    );
    expect(missingPackage(new Error('something else'))).toBe(undefined);
  });
});
