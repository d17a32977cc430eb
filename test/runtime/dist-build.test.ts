// scripts/build.mjs rebuilds Cellar's dist/ and prunes its own chunks no build has written for an
// hour. dist/ is also where `cellar build` puts a user's built pipelines (dist/penguins/,
// dist/functions/): the pruning must leave those alone, and a folder must not crash it (it did,
// with ERR_FS_EISDIR, once the folders were an hour old).
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers.js';

const copy = mkdtempSync(join(tmpdir(), 'cellar-dist-build-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('scripts/build.mjs', () => {
  it('prunes its own old chunks and nothing else in dist/, folders included', () => {
    // A copy of the checkout's sources, so this build never races other tests for the real dist/.
    for (const dir of ['compiler', 'runtime', 'cli', 'scripts'])
      cpSync(join(root, dir), join(copy, dir), { recursive: true });
    for (const file of ['package.json', 'tsconfig.json'])
      cpSync(join(root, file), join(copy, file));
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const build = () =>
      execFileSync(process.execPath, [join(copy, 'scripts', 'build.mjs')], {
        cwd: copy,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    build();

    const dist = join(copy, 'dist');
    // What `cellar build notebooks/penguins.ipynb --function features` leaves there, and a file
    // of the user's own, next to a chunk an older build wrote.
    mkdirSync(join(dist, 'penguins'));
    writeFileSync(join(dist, 'penguins', 'run.mjs'), '');
    mkdirSync(join(dist, 'functions'));
    writeFileSync(join(dist, 'functions', 'features.mjs'), '');
    writeFileSync(join(dist, 'notes.txt'), 'mine');
    writeFileSync(join(dist, 'chunk-OLD00000.js'), '');
    writeFileSync(join(dist, 'chunk-OLD00000.js.map'), '');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const name of [
      'penguins',
      'functions',
      'notes.txt',
      'chunk-OLD00000.js',
      'chunk-OLD00000.js.map',
    ])
      utimesSync(join(dist, name), twoHoursAgo, twoHoursAgo);

    build();
    expect(existsSync(join(dist, 'penguins', 'run.mjs'))).toBe(true);
    expect(existsSync(join(dist, 'functions', 'features.mjs'))).toBe(true);
    expect(existsSync(join(dist, 'notes.txt'))).toBe(true);
    expect(existsSync(join(dist, 'chunk-OLD00000.js'))).toBe(false);
    expect(existsSync(join(dist, 'chunk-OLD00000.js.map'))).toBe(false);
    expect(existsSync(join(dist, 'cli.js'))).toBe(true);
  });
});
