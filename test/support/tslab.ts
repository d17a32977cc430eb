// Makes `import ... from 'cellar'` resolve inside the tslab kernel, before a Jupyter test runs.
//
// tslab loads cells through CommonJS `require` with its own TypeScript 5.0.4 and node10
// resolution, which ignores package "exports". What it needs: dist/ built (what `require`
// loads; Node 20.19+ can require an ES module) and node_modules/cellar linked to the checkout
// (scripts/link-self.mjs, also run by `postinstall`; `npm install <pkg>` prunes the link).
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { repoRoot } from './jupyter.js';

export async function prepareCellarForTslab(): Promise<void> {
  // Dynamic imports of plain .mjs scripts: they have no type declarations, and need none here.
  const build = (await import(pathToFileURL(join(repoRoot, 'scripts/build.mjs')).href)) as {
    ensureBuilt(): Promise<void>;
  };
  const link = (await import(pathToFileURL(join(repoRoot, 'scripts/link-self.mjs')).href)) as {
    linkSelf(): boolean;
  };
  await build.ensureBuilt();
  link.linkSelf();
}
