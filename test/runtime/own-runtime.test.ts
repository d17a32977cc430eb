// A pipeline outside any project with cellar installed imports 'cellar', and `cellar run` maps
// that import to its own runtime in the cached bundle (runtime/load/bundle.ts `ownRuntime`). The
// cached bundle must not outlive that choice: once the project installs cellar, the next load
// bundles again and uses the project's cellar, as Node would from the sources (before, the stale
// bundle kept importing the CLI's own runtime, so two Cellars could serve one project).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, runCli, runJson } from './helpers.js';

// Outside the repository: under it, 'cellar' resolves through the repository's own link.
const outside = mkdtempSync(join(tmpdir(), 'cellar-own-runtime-'));
afterAll(() => rmSync(outside, { recursive: true, force: true }));
beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

const PIPELINE = `import { defineTask, definePipeline } from 'cellar';
const one = defineTask({ name: 'one', module: import.meta.url, outputs: { v: {} }, run: () => ({ v: 1 }) });
export default definePipeline({ name: 'own', tasks: [one] });
`;

describe("'cellar' mapped to the running runtime in a cached bundle", () => {
  it('bundles again with the mapping once the project removes cellar (not stuck until a source edit)', async () => {
    const dir = join(outside, 'removed');
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"removed","type":"module"}\n');
    writeFileSync(join(dir, 'pipeline.ts'), PIPELINE);
    symlinkSync(root, join(dir, 'node_modules', 'cellar'));
    const installed = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(installed.code, installed.stderr).toBe(0);
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    const removed = await runJson(['run', 'pipeline.ts', '--rerun', 'one'], { cwd: dir });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.status).toEqual({ one: 'ran' });
  });

  it("maps 'cellar' that only CommonJS would find (NODE_PATH), or only the sources' folder would (not the cache's)", async () => {
    // NODE_PATH: require.resolve finds it, the ES module loader does not.
    const global = join(outside, 'global');
    mkdirSync(global, { recursive: true });
    symlinkSync(root, join(global, 'cellar'));
    const viaNodePath = join(outside, 'node-path');
    mkdirSync(viaNodePath, { recursive: true });
    writeFileSync(join(viaNodePath, 'pipeline.ts'), PIPELINE);
    const run = spawnSync(
      process.execPath,
      [join(root, 'bin', 'cellar.mjs'), 'run', 'pipeline.ts'],
      {
        cwd: viaNodePath,
        env: { ...process.env, NODE_PATH: global, CELLAR_WORKSPACE: '' },
        encoding: 'utf8',
      },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/1 ran successfully/);

    // cellar installed in sub/ only, the project's package.json above it: the bundle is imported
    // from <project>/.cellar/cache/pipelines/, where Node does not find sub/node_modules.
    const project = join(outside, 'sub-install');
    mkdirSync(join(project, 'sub', 'node_modules'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{"name":"sub-install","type":"module"}\n');
    symlinkSync(root, join(project, 'sub', 'node_modules', 'cellar'));
    writeFileSync(join(project, 'sub', 'pipeline.ts'), PIPELINE);
    const sub = await runJson(['run', join('sub', 'pipeline.ts')], { cwd: project });
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.status).toEqual({ one: 'ran' });
  });

  it("maps 'cellar' though a tsconfig aliases it (to a checkout, or to local files): one runtime, as Node would load", async () => {
    // baseUrl '.' beside a symlink to a Cellar checkout: esbuild would bundle the checkout's
    // sources; the mapping is asked first, so the run uses the one runtime (its class registry).
    const dir = join(outside, 'aliased');
    mkdirSync(dir, { recursive: true });
    symlinkSync(root, join(dir, 'cellar'));
    writeFileSync(join(dir, 'tsconfig.json'), '{ "compilerOptions": { "baseUrl": "." } }\n');
    writeFileSync(
      join(dir, 'pipeline.ts'),
      `import { defineTask, definePipeline } from 'cellar';
export class Pt { constructor(public x: number) {} twice() { return this.x * 2; } }
const make = defineTask({ name: 'make', module: import.meta.url, outputs: { p: {} }, run: () => ({ p: new Pt(21) }) });
const use = defineTask({ name: 'use', module: import.meta.url, inputs: { p: output(make, 'p') }, outputs: { r: {} }, run: ({ p }: { p: Pt }) => ({ r: p.twice() }) });
export default definePipeline({ name: 'aliased', tasks: [make, use] });
`.replace('{ defineTask, definePipeline }', '{ defineTask, definePipeline, output }'),
    );
    const run = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.status).toEqual({ make: 'ran', use: 'ran' });

    // baseUrl '.' and a local folder named cellar: not what Node loads for 'cellar' here, so the
    // run does not bundle it either (it would run code no key holds).
    const local = join(outside, 'local-cellar');
    mkdirSync(join(local, 'cellar'), { recursive: true });
    writeFileSync(join(local, 'tsconfig.json'), '{ "compilerOptions": { "baseUrl": "." } }\n');
    writeFileSync(join(local, 'cellar', 'index.ts'), 'export const rate = () => 2;\n');
    writeFileSync(
      join(local, 'pipeline.ts'),
      PIPELINE.replace(
        "import { defineTask, definePipeline } from 'cellar';",
        "import { defineTask, definePipeline, rate } from 'cellar';",
      ).replace('v: 1', 'v: rate()'),
    );
    const refused = await runCli(['run', 'pipeline.ts'], { cwd: local });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/does not provide an export named 'rate'/);
  });

  it('bundles again once the project installs cellar, and loads the project’s cellar', async () => {
    const dir = join(outside, 'project');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name":"own","type":"module"}\n');
    writeFileSync(join(dir, 'pipeline.ts'), PIPELINE);
    const first = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.status).toEqual({ one: 'ran' });
    // An edit bundles again, mapping 'cellar' at once (the record says the last bundle did).
    writeFileSync(join(dir, 'pipeline.ts'), PIPELINE.replace('v: 1', 'v: 2'));
    const edited = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.status).toEqual({ one: 'ran' });
    const record = readdirSync(join(dir, '.cellar', 'cache', 'pipelines')).find((f) =>
      f.endsWith('.json'),
    )!;
    const saved = JSON.parse(
      readFileSync(join(dir, '.cellar', 'cache', 'pipelines', record), 'utf8'),
    ) as { ownRuntime?: { entry: string } };
    expect(saved.ownRuntime?.entry).toBe(join(root, 'dist', 'index.js'));

    // The project installs cellar: a package that says when it is loaded, then is the real one.
    const pkg = join(dir, 'node_modules', 'cellar');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      '{"name":"cellar","version":"0.1.0","type":"module","exports":"./index.js"}\n',
    );
    const log = join(dir, 'project-cellar-loaded.log');
    writeFileSync(
      join(pkg, 'index.js'),
      `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, 'loaded\\n');\n` +
        `export * from ${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)};\n`,
    );
    // Forced, so the pipeline is loaded (a warm run answers without loading it).
    const second = await runJson(['run', 'pipeline.ts', '--rerun', 'one'], { cwd: dir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.status).toEqual({ one: 'ran' });
    expect(existsSync(log), "the stale bundle imported the CLI's own runtime").toBe(true);
  });
});
