// The code fingerprint behind code-aware keys, on real files: normalised syntax, the transitive
// closure of local imports, package versions, and the (mtime, size) memo.
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CodeHasher } from '../../runtime/key/codehash.js';
import { root } from './helpers.js';

function project() {
  const dir = join(root, 'test', '.tmp', 'runtime', `codehash-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'task.ts'), [
    "import { helper } from './lib/helper.js';",
    "import type { Shape } from './lib/types.js';",
    "import { RandomForestClassifier } from 'ml-random-forest';",
    "import { readFileSync } from 'node:fs';",
    'export const run = (s: Shape) => helper(s.n) + String(RandomForestClassifier) + String(readFileSync);',
  ].join('\n'));
  writeFileSync(join(dir, 'lib', 'helper.ts'), "import { deep } from './deep';\nexport const helper = (n: number) => deep(n) * 2;\n");
  writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n + 1;\n');
  writeFileSync(join(dir, 'lib', 'types.ts'), 'export interface Shape { n: number }\n');
  return dir;
}

const fingerprint = (dir: string, memo?: string) => new CodeHasher(memo).fingerprint(pathToFileURL(join(dir, 'task.ts')).href + '?tsx-namespace=123');

describe('code fingerprint', () => {
  it('covers the module, its local imports transitively, and imported package versions', async () => {
    const dir = project();
    const fp = await fingerprint(dir);
    // types.ts is imported for types only: it cannot change what the task computes.
    expect(Object.keys(fp.files)).toEqual(['lib/deep.ts', 'lib/helper.ts', 'task.ts']);
    const version = JSON.parse(readFileSync(join(root, 'node_modules', 'ml-random-forest', 'package.json'), 'utf8')).version;
    expect(fp.packages).toEqual({ 'ml-random-forest': version });
  });

  it('ignores comments and formatting, sees code changes, including deep in a helper', async () => {
    const dir = project();
    const before = await fingerprint(dir);
    writeFileSync(join(dir, 'lib', 'deep.ts'), '// why: one more\nexport const deep = (n: number) =>\n  n + 1; /* same */\n');
    expect(await fingerprint(dir)).toEqual(before);
    writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n + 2;\n');
    const after = await fingerprint(dir);
    expect(after.files['lib/deep.ts']).not.toBe(before.files['lib/deep.ts']);
    expect(after.files['task.ts']).toBe(before.files['task.ts']);
  });

  it('memoises per file by mtime and size across hashers', async () => {
    const dir = project();
    const memo = join(dir, 'memo.json');
    const hasher = new CodeHasher(memo);
    const first = await hasher.fingerprint(pathToFileURL(join(dir, 'task.ts')).href);
    hasher.save();
    const saved = JSON.parse(readFileSync(memo, 'utf8'));
    expect(Object.keys(saved.files)).toHaveLength(3);
    // Poison the memo: an unchanged file must be served from it (no re-hash) ...
    const deepPath = join(dir, 'lib', 'deep.ts');
    saved.files[deepPath].hash = 'from-the-memo';
    writeFileSync(memo, JSON.stringify(saved));
    expect((await new CodeHasher(memo).fingerprint(pathToFileURL(join(dir, 'task.ts')).href)).files['lib/deep.ts']).toBe('from-the-memo');
    // ... and a touched file is hashed again.
    utimesSync(deepPath, new Date(), new Date(Date.now() + 5000));
    expect((await new CodeHasher(memo).fingerprint(pathToFileURL(join(dir, 'task.ts')).href)).files['lib/deep.ts']).toBe(first.files['lib/deep.ts']);
  });
});

describe('cache modes in keys', () => {
  it("cache: 'params' keys without code, so a code edit keeps the key; 'code' changes it", async () => {
    const { defineTask } = await import('cellar');
    const { buildGraph } = await import('../../runtime/run/graph.js');
    const { computeKeys } = await import('../../runtime/key/keys.js');
    const dir = project();
    const module = pathToFileURL(join(dir, 'task.ts')).href;
    const make = (cache: 'code' | 'params') =>
      defineTask({ name: `t_${cache}`, module, cache, params: { n: { type: 'number', default: 1 } }, inputs: {}, outputs: { v: {} }, run: () => ({ v: 1 }) });
    const keysOf = async () => {
      const { graph } = buildGraph([make('code'), make('params')]);
      const keys = await computeKeys(graph!, { hasher: new CodeHasher() });
      return { code: keys.get('t_code')!, params: keys.get('t_params')! };
    };
    const before = await keysOf();
    expect(before.params.inputs.code).toBeUndefined();
    expect(before.code.inputs.code!.files['task.ts']).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n * 3;\n');
    const after = await keysOf();
    expect(after.params.value).toBe(before.params.value);
    expect(after.code.value).not.toBe(before.code.value);
  });
});
