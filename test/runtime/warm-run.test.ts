// The warm path of `cellar run <notebook>.ipynb`: the compile's freshness is answered from content
// stamps (cli/compile-stamps.ts) instead of the compile cache. Each test pins something the
// shortcut must still see: an edited notebook (also a same-size edit whose mtime was put back),
// a generated file edited or deleted by hand, a stray generated file, another compiler, a new
// fixture, and `cellar run generated/…/pipeline.ts` warning about an edited notebook.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureCompiled } from '../../cli/commands/compile.js';
import { stampsPath } from '../../cli/compile-stamps.js';
import { HEADER } from '../../compiler/emit/module.js';
import { stampLimits } from '../../runtime/key/filestamp.js';
import { notebookText } from '../compiler/notebook.js';
import { root, runCli, runJson } from './helpers.js';
import { editKeepingMtimeAndSize } from '../support/edit.js';

const base = join(root, 'test', '.tmp', 'runtime', `warm-${process.pid}`);
let project = '';
let n = 0;
let nb = '';
const cacheFile = () => join(project, '.cellar', 'compile', 'notebooks_demo.ipynb.json');
const generated = (file: string) => join(project, 'generated', 'demo', file);

const cells = (total: number) => [
  '//| params\nconst factor = 2;',
  `//| task: numbers\nconst xs: number[] = [1, 2, ${total}];`,
  '//| task: scaled\nconst ys = xs.map((x) => x * factor);',
];

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});
beforeEach(() => {
  project = join(base, `p${++n}`);
  mkdirSync(join(project, 'notebooks'), { recursive: true });
  writeFileSync(join(project, 'package.json'), '{"name":"scratch","type":"module"}\n');
  nb = join(project, 'notebooks', 'demo.ipynb');
  writeFileSync(nb, notebookText(cells(3)));
  // Trust stamps at once, so the stat shortcut (not a content read) decides below.
  stampLimits.racyMs = 0;
});
afterEach(() => {
  stampLimits.racyMs = 3000;
});

describe('compile freshness by content stamps (ensureCompiled)', () => {
  it('a fresh compile is answered from the stamps: the compile cache is not consulted', async () => {
    const pipeline = await ensureCompiled(nb);
    expect(existsSync(stampsPath(project, nb))).toBe(true);
    rmSync(cacheFile());
    // The compile path would recompile and write the cache again; the stamps answer alone.
    expect(await ensureCompiled(nb)).toBe(pipeline);
    expect(existsSync(cacheFile())).toBe(false);
  });

  it('a notebook edited after the compile is compiled again, even a same-size edit with its mtime put back', async () => {
    await ensureCompiled(nb);
    editKeepingMtimeAndSize(nb, '[1, 2, 3]', '[1, 2, 7]');
    await ensureCompiled(nb);
    expect(readFileSync(generated('numbers.ts'), 'utf8')).toContain('[1, 2, 7]');
  });

  it('a generated module edited (same size, mtime put back) or deleted by hand is written again', async () => {
    await ensureCompiled(nb);
    const original = readFileSync(generated('numbers.ts'), 'utf8');
    editKeepingMtimeAndSize(generated('numbers.ts'), '[1, 2, 3]', '[9, 2, 3]');
    await ensureCompiled(nb);
    expect(readFileSync(generated('numbers.ts'), 'utf8')).toBe(original);
    rmSync(generated('scaled.ts'));
    await ensureCompiled(nb);
    expect(existsSync(generated('scaled.ts'))).toBe(true);
  });

  it('a stray generated module (ours, not written by this compile) is removed as before', async () => {
    await ensureCompiled(nb);
    writeFileSync(generated('old.ts'), `// ${HEADER} from notebooks/demo.ipynb\nexport {};\n`);
    await ensureCompiled(nb);
    expect(existsSync(generated('old.ts'))).toBe(false);
  });

  it('another compiler, or a fixture recorded since, compiles again', async () => {
    await ensureCompiled(nb);
    const stamps = JSON.parse(readFileSync(stampsPath(project, nb), 'utf8'));
    writeFileSync(stampsPath(project, nb), JSON.stringify({ ...stamps, compiler: 'other:0' }));
    rmSync(cacheFile());
    await ensureCompiled(nb);
    expect(existsSync(cacheFile())).toBe(true);

    mkdirSync(generated('__fixtures__'));
    writeFileSync(generated('__fixtures__/numbers.fixture.json'), '{}\n');
    rmSync(cacheFile());
    await ensureCompiled(nb);
    expect(existsSync(cacheFile())).toBe(true);
    expect(existsSync(generated('numbers.replay.test.ts'))).toBe(true);
  });

  it('a damaged stamps record only costs the compile path', async () => {
    const pipeline = await ensureCompiled(nb);
    writeFileSync(stampsPath(project, nb), '{"version": 1, "files": ');
    expect(await ensureCompiled(nb)).toBe(pipeline);
    expect(JSON.parse(readFileSync(stampsPath(project, nb), 'utf8')).version).toBe(3);
  });

  it('a local module the notebook imports is an input too: edited to keep state, the compile refuses it', async () => {
    // Before, the stamps held the notebook and generated/ only: `cellar run` kept answering
    // "fresh" (and serving results) while `cellar compile` refused the module (E_MODULE_STATE).
    mkdirSync(join(project, 'notebooks', 'lib'));
    const lib = join(project, 'notebooks', 'lib', 'pure.ts');
    writeFileSync(lib, 'let n = 0;\nexport function next(k: string) { return k.length + n; }\n');
    writeFileSync(
      nb,
      notebookText([
        "import { next } from './lib/pure.js';",
        "//| task: one\nconst a = next('a');",
        "//| task: two\nconst b = next('bb');",
      ]),
    );
    const pipeline = await ensureCompiled(nb);
    expect(await ensureCompiled(nb)).toBe(pipeline);
    // Same size, mtime put back: only the content says it changed.
    editKeepingMtimeAndSize(lib, 'return k.length + n;', 'n += 1; return n;   ');
    await expect(ensureCompiled(nb)).rejects.toMatchObject({
      code: 'E_COMPILE',
      message: expect.stringContaining('E_MODULE_STATE'),
    });
    // The real command as users meet it, on the warm path's stamps.
    writeFileSync(lib, 'let n = 0;\nexport function next(k: string) { return k.length + n; }\n');
    const ws = join(project, 'ws');
    expect((await runJson(['run', nb, '--workspace', ws])).status).toEqual({
      one: 'ran',
      two: 'ran',
    });
    writeFileSync(lib, 'let n = 0;\nexport function next(k: string) { n += 1; return n; }\n');
    const refused = await runCli(['run', nb, '--workspace', ws]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('E_MODULE_STATE');
  });
});

describe('cellar run, warm, by notebook and by pipeline path (real processes)', () => {
  it('a warm run is all cached; an edited notebook re-runs the edited task and its downstream', async () => {
    const args = ['run', nb, '--workspace', join(project, 'ws')];
    expect((await runJson(args)).status).toEqual({ numbers: 'ran', scaled: 'ran' });
    expect((await runJson(args)).status).toEqual({ numbers: 'cached', scaled: 'cached' });
    writeFileSync(nb, notebookText(cells(4)));
    expect((await runJson(args)).status).toEqual({ numbers: 'ran', scaled: 'ran' });
    writeFileSync(nb, notebookText(cells(4)).replace('factor = 2', 'factor = 5'));
    expect((await runJson(args)).status).toEqual({ numbers: 'cached', scaled: 'ran' });
  });

  it('running the generated pipeline.ts after the notebook was edited still warns', async () => {
    const ws = join(project, 'ws');
    expect((await runJson(['run', nb, '--workspace', ws])).code).toBe(0);
    const quiet = await runCli(['run', generated('pipeline.ts'), '--workspace', ws]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/warning/);
    writeFileSync(nb, notebookText(cells(6)));
    const warned = await runCli(['run', generated('pipeline.ts'), '--workspace', ws]);
    expect(warned.stderr).toMatch(
      /warning: notebooks\/demo\.ipynb has changed since .*pipeline\.ts was compiled/,
    );
  });
});
