// Which host facts an installed package's code may depend on (runtime/key/package-facts.ts):
// real package folders on disk, resolved as Node resolves them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageFolder, scanPackageHostFacts } from '../../runtime/key/package-facts.js';

const root = mkdtempSync(join(tmpdir(), 'cellar-package-facts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A package in `root/node_modules/<name>` with one file of code per entry of `files`. */
function pkg(name: string, files: Record<string, string>, deps: string[] = []): string {
  const dir = join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name,
      version: '1.0.0',
      dependencies: Object.fromEntries(deps.map((d) => [d, '*'])),
    }),
  );
  for (const [file, code] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), code);
  }
  return packageFolder(root, name)!;
}

describe('host facts of a package', () => {
  it('local-time getters, date parsing and zone offsets count the time zone', () => {
    expect(scanPackageHostFacts(pkg('tz-a', { 'index.js': 'd.getHours()' }))).toEqual([
      '@timeZone',
    ]);
    expect(
      scanPackageHostFacts(pkg('tz-b', { 'lib/parse.cjs': "new Date('2024-03-10 02:30')" })),
    ).toEqual(['@timeZone']);
    expect(scanPackageHostFacts(pkg('tz-c', { 'esm/off.mjs': 'x.getTimezoneOffset()' }))).toEqual([
      '@timeZone',
    ]);
  });

  it('Intl counts both; localeCompare and toLocaleUpperCase count the locale', () => {
    expect(scanPackageHostFacts(pkg('loc-a', { 'index.js': 'new Intl.Collator()' }))).toEqual([
      '@locale',
      '@timeZone',
    ]);
    expect(scanPackageHostFacts(pkg('loc-b', { 'index.js': 'a.localeCompare(b)' }))).toEqual([
      '@locale',
    ]);
    expect(scanPackageHostFacts(pkg('loc-c', { 'index.js': 's.toLocaleUpperCase()' }))).toEqual([
      '@locale',
    ]);
  });

  it('the instant (Date.now, new Date(), UTC getters) and type declarations do not count', () => {
    expect(
      scanPackageHostFacts(
        pkg('plain', {
          'index.js': 'const t = Date.now(); const d = new Date(); d.getUTCHours(); d.getTime();',
          'index.d.ts': 'declare function f(d: Date): string; // d.getHours() toLocaleString',
        }),
      ),
    ).toEqual([]);
  });

  it("a dependency's code counts for the package that depends on it, transitively", () => {
    pkg('deep-core', { 'index.js': 'export const h = (t) => new Date(t).getHours();' });
    pkg('middle', { 'index.js': "export * from 'deep-core';" }, ['deep-core']);
    const top = pkg('top', { 'index.js': "export * from 'middle';" }, ['middle', 'not-installed']);
    expect(scanPackageHostFacts(top)).toEqual(['@timeZone']);
  });

  it('a package it imports without declaring it (a hoisted "phantom" dependency) counts too', () => {
    pkg('phantom-core', { 'index.js': 'export const h = (t) => new Date(t).getHours();' });
    const user = pkg('phantom-user', {
      'index.cjs': "const { h } = require('phantom-core/sub.js');\nmodule.exports = { h };",
    });
    expect(scanPackageHostFacts(user)).toEqual(['@timeZone']);
  });

  it('a package whose folder cannot be read answers both facts (a key too fine, never too coarse)', () => {
    expect(scanPackageHostFacts(join(root, 'node_modules', 'no-such-package'))).toEqual([
      '@locale',
      '@timeZone',
    ]);
  });
});
