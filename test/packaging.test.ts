// What Cellar imports at run time is installed with it: every package the built CLI and runtime
// import (esbuild's metafile of the dist build's entry points) is a production dependency in
// package.json. A devDependency used at run time works in this checkout and from `npm install
// <folder>` (a symlink into a checkout that ran `npm install`), but not from a copy (`npm install
// --install-links`, a packed tarball), where it fails with E_INTERNAL on the first compile
// (prettier, before it moved to dependencies).
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './runtime/helpers.js';

/**
 * Imported on behalf of the user's project, which installs it (a model codec for the project's
 * own `ml-random-forest` models, runtime/codecs/model.ts): not Cellar's to install.
 */
const THE_PROJECTS_OWN = new Set(['ml-random-forest']);

const packageOf = (spec: string) =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;

describe('packaging', () => {
  it('every package the built CLI and runtime import is a production dependency', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      absWorkingDir: root,
      write: false,
      outdir: join(root, 'test', '.tmp', 'packaging'),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
      splitting: true,
      entryPoints: {
        index: 'runtime/index.ts',
        cli: 'cli/main.ts',
        worker: 'runtime/workers/thread.ts',
        'worker-reads': 'runtime/run/worker-reads.ts',
        warm: 'cli/warm-entry.ts',
      },
    });
    const imported = new Set<string>();
    for (const output of Object.values(result.metafile.outputs))
      for (const { path, external } of output.imports)
        if (external && !path.startsWith('.') && !isBuiltin(path)) imported.add(packageOf(path));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    // The build sees the imports (a canary: an empty set would pass anything).
    expect(imported).toContain('esbuild');
    expect(imported).toContain('prettier');
    const missing = [...imported]
      .filter((name) => name !== 'cellar' && !THE_PROJECTS_OWN.has(name))
      .filter((name) => !Object.hasOwn(pkg.dependencies, name))
      .sort();
    expect(missing).toEqual([]);
  });
});
