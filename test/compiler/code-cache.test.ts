// requireWithCodeCache (compiler/host.ts): TypeScript's 9 MB loads through V8's code cache, kept
// in node_modules/.cache/cellar/. The cache may only ever cost time: a first load writes it, a
// later load uses it, and damaged data is rejected by V8 and rewritten, with the same exports.
// Each load is a fresh process, as each compile is (V8 keeps compiled code per process too).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const host = pathToFileURL(join(import.meta.dirname, '..', '..', 'compiler', 'host.ts')).href;

/**
 * What `requireWithCodeCache(file)` exports, loaded in a fresh Node process; `warm`: then calls
 * `warmCodeCache(file)` once the export has been used.
 */
function loadFresh(file: string, warm = false): { answer: number; file: string; self: boolean } {
  const code = `const { requireWithCodeCache, warmCodeCache } = await import(${JSON.stringify(host)});
const lib = requireWithCodeCache(${JSON.stringify(file)});
const answer = lib.answer(20);
${warm ? `warmCodeCache(${JSON.stringify(file)});` : ''}
console.log(JSON.stringify({ answer, file: lib.file, self: lib.self }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { answer: number; file: string; self: boolean };
}

const base = join(import.meta.dirname, '..', '.tmp', `code-cache-${process.pid}`);
afterAll(() => rmSync(base, { recursive: true, force: true }));

const source = `'use strict';
const { basename } = require('node:path');
exports.answer = (x) => x * 2 + 1;
exports.file = basename(__filename);
module.exports.self = module.exports === exports;
`;

describe('requireWithCodeCache', () => {
  it('writes a cache on first load, uses it next, and survives damaged data', () => {
    const pkg = join(base, 'project', 'node_modules', 'lib');
    mkdirSync(pkg, { recursive: true });
    const file = join(pkg, 'index.js');
    writeFileSync(file, source);
    const cacheDir = join(base, 'project', 'node_modules', '.cache', 'cellar');
    const works = { answer: 41, file: 'index.js', self: true };

    expect(loadFresh(file)).toEqual(works);
    const [cached] = readdirSync(cacheDir);
    expect(cached).toMatch(/^v8-[0-9a-f]{24}\.bin$/);
    const written = readFileSync(join(cacheDir, cached!));
    expect(written.length).toBeGreaterThan(0);

    expect(loadFresh(file)).toEqual(works); // from the cache: nothing rewritten
    expect(readFileSync(join(cacheDir, cached!))).toEqual(written);

    writeFileSync(join(cacheDir, cached!), Buffer.from('not V8 code cache data at all'));
    expect(loadFresh(file)).toEqual(works); // rejected by V8, compiled as usual, rewritten
    expect(readFileSync(join(cacheDir, cached!)).length).toBeGreaterThan(100);
  }, 600_000);

  it('writes a warm cache once the code has run, prefers it, and drops it when damaged', () => {
    const pkg = join(base, 'warm', 'node_modules', 'lib');
    mkdirSync(pkg, { recursive: true });
    const file = join(pkg, 'index.js');
    writeFileSync(file, source);
    const cacheDir = join(base, 'warm', 'node_modules', '.cache', 'cellar');
    const works = { answer: 41, file: 'index.js', self: true };
    const names = () => readdirSync(cacheDir).sort();

    expect(loadFresh(file, true)).toEqual(works); // no cache: the plain one, then the warm one
    const [plain, warm] = names();
    expect(plain).toMatch(/^v8-[0-9a-f]{24}\.bin$/);
    expect(warm).toBe(plain!.replace(/\.bin$/, '.warm.bin'));
    const written = readFileSync(join(cacheDir, warm!));
    const plainWritten = readFileSync(join(cacheDir, plain!));

    expect(loadFresh(file, true)).toEqual(works); // from the warm cache: nothing rewritten
    expect(readFileSync(join(cacheDir, warm!))).toEqual(written);
    expect(readFileSync(join(cacheDir, plain!))).toEqual(plainWritten);

    writeFileSync(join(cacheDir, warm!), Buffer.from('not V8 code cache data at all'));
    expect(loadFresh(file)).toEqual(works); // rejected by V8 and removed, not tried again
    expect(names()).toEqual([plain]);
    expect(loadFresh(file, true)).toEqual(works); // from the plain cache, then warmed again
    expect(readFileSync(join(cacheDir, warm!)).length).toBeGreaterThan(100);
  }, 600_000);

  it('loads a file outside any node_modules folder without a cache', () => {
    const dir = join(base, 'plain');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'lib.cjs');
    writeFileSync(file, source);
    expect(loadFresh(file)).toEqual({ answer: 41, file: 'lib.cjs', self: true });
    expect(readdirSync(dir)).toEqual(['lib.cjs']);
  }, 600_000);
});
