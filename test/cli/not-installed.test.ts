// `cellar` in a fresh clone before `npm install`: one line naming the missing package and the
// fix, exit 2, not Node's ERR_MODULE_NOT_FOUND stack trace (a newcomer's finding, stop 35).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const clone = mkdtempSync(join(tmpdir(), 'cellar-uninstalled-'));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

it('names the package that is not installed and says to run npm install', () => {
  // What a clone holds before `npm install`: the sources, no node_modules, no dist/.
  for (const f of ['package.json', 'bin', 'scripts'])
    cpSync(join(root, f), join(clone, f), { recursive: true });
  const r = spawnSync(process.execPath, [join(clone, 'bin', 'cellar.mjs'), '--help'], {
    cwd: clone,
    encoding: 'utf8',
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(
    /^cellar: esbuild is not installed: run `npm install` in .+ first \(E_NOT_INSTALLED\)\n$/,
  );
  expect(r.stderr).not.toMatch(/\n\s+at /);
});
