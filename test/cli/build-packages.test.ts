// Which packages a built folder installs (cli/build/build.ts `runtimePackages`), and where their
// versions come from (runtime/project.ts `installedPackageVersion`, the same walk the code hash
// uses). Real folders with real package.json files.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleExternals, runtimePackages } from '../../cli/build/build.js';
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
