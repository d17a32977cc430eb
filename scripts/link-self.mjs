// Links node_modules/cellar → the checkout, so `import ... from 'cellar'` works inside tslab.
//
// Why: tslab compiles notebook cells with its own TypeScript 5.0.4 and `node10` module
// resolution, which ignores package.json "exports" and so cannot resolve the package's
// self-reference that tsc, tsx and Node use. A relative symlink (what `npm link` makes) lets
// tslab find package.json, whose top-level "types" (runtime/index.ts) and "main"
// (dist/index.js) it does read. The link is relative, so a fresh clone anywhere works.
// Runs from `postinstall`; the Jupyter test harness calls it too, because `npm install <pkg>`
// prunes the link as extraneous.
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function linkSelf() {
  const link = join(root, 'node_modules', 'cellar');
  try {
    const stat = lstatSync(link);
    if (stat.isSymbolicLink() && readlinkSync(link) === '..') return false;
    rmSync(link, { recursive: true, force: true });
  } catch {
    // no link yet
  }
  mkdirSync(join(root, 'node_modules'), { recursive: true });
  symlinkSync('..', link, 'dir');
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) linkSelf();
