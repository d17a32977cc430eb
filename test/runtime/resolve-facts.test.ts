// How an import resolved, as facts a later check compares (runtime/key/resolve-facts.ts): a
// folder's entries that could answer the lookup of a stem. Pins which entries count, through the
// per-folder index `hashOf` uses (a folder of 1,000 generated modules is asked for each stem).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { checkResolveFacts, ResolveRecorder } from '../../runtime/key/resolve-facts.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A folder whose task.ts imports './lib/util' beside many other modules; the facts its build took. */
async function factsOfBuild() {
  const dir = mkdtempSync(join(tmpdir(), 'cellar-resolve-facts-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'lib', 'util.ts'), 'export const util = 1;\n');
  for (let i = 0; i < 200; i++)
    writeFileSync(join(dir, 'lib', `m${i}.ts`), `export const m = ${i};\n`);
  writeFileSync(join(dir, 'lib', 'utility.ts'), 'export const utility = 2;\n');
  writeFileSync(join(dir, 'task.ts'), "import { util } from './lib/util';\nexport default util;\n");
  const recorder = new ResolveRecorder();
  await build({
    entryPoints: [join(dir, 'task.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    logLevel: 'silent',
    plugins: [recorder.plugin()],
  });
  recorder.settle();
  return { dir, facts: recorder.all() };
}

describe('resolve facts of a folder with many entries', () => {
  it.each([
    ['util.tsx', false],
    ['util.js', false],
    ['util.d.ts', false],
    ['util', false],
    ['utility.js', true],
    ['m7.js', true],
    ['xutil.ts', true],
  ])('adding lib/%s: the facts still hold is %s', async (name, holds) => {
    const { dir, facts } = await factsOfBuild();
    expect(checkResolveFacts(structuredClone(facts)).same).toBe(true);
    if (name === 'util') mkdirSync(join(dir, 'lib', name));
    else writeFileSync(join(dir, 'lib', name), 'export const x = 0;\n');
    expect(checkResolveFacts(structuredClone(facts)).same).toBe(holds);
  });
});
