// A task whose code (or the runtime for it: DuckDB, the SQL translator) loads a package that is
// not installed: the run says which package, which task needs it and where to `npm install` it,
// and exits 2 (the machine's install is at fault, not the pipeline), not Node's message with a
// chunk's path (a built folder's `npm ci --omit=dev` on Node 20 left @polyglot-sql/sdk out).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { root, runCli } from '../runtime/helpers.js';

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

it('names the missing package, the task and the fix; exit 2', async () => {
  // Inside the project, so its `import 'cellar'` resolves.
  const dir = join(root, 'test', '.tmp', 'cli', `missing-package-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pipeline.ts'),
    `import { createRequire } from 'node:module';
import { defineTask, definePipeline } from 'cellar';

export const loadTask = defineTask({
  name: 'load',
  module: import.meta.url,
  params: {},
  inputs: {},
  outputs: { x: {} },
  run() {
    // Out of the bundler's sight, as the runtime's own loads of DuckDB and the translator.
    createRequire(import.meta.url)('cellar-no-such-package');
    return { x: 1 };
  },
});

export default definePipeline({ name: 'missing', tasks: [loadTask] });
`,
  );
  const r = await runCli(['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')]);
  expect(r.code, r.stdout + r.stderr).toBe(2);
  expect(r.stdout + r.stderr).toContain(
    "load: package 'cellar-no-such-package' is not installed, and task load needs it: run `npm install cellar-no-such-package` in ",
  );
  expect(r.stdout + r.stderr).toContain('(E_PACKAGE_MISSING)');
}, 120_000);
