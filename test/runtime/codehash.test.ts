// The code fingerprint behind code-aware keys, on real files: normalised syntax, the transitive
// closure of local imports, package versions, the content-checked memo, and keys per setup declaration.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  mkdirSync,
  mkdtempSync,
  writeFileSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BARE_IMPORT_TO_CHECK,
  CodeHasher,
  mayAliasBareImports,
} from '../../runtime/key/codehash.js';
import { checkStamp, readWithStamp, stampLimits } from '../../runtime/key/filestamp.js';
import { editKeepingMtimeAndSize } from '../support/edit.js';
import { root } from './helpers.js';

/** A fresh folder under test/.tmp/runtime/ (`codehash-<name>-…`), for a test's modules. */
function scratchDir(name?: string): string {
  const dir = join(
    root,
    'test',
    '.tmp',
    'runtime',
    `codehash-${name ? `${name}-` : ''}${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  mkdirSync(dir, { recursive: true });
  return dir;
}

function project() {
  const dir = scratchDir();
  mkdirSync(join(dir, 'lib'));
  writeFileSync(
    join(dir, 'task.ts'),
    [
      "import { helper } from './lib/helper.js';",
      "import type { Shape } from './lib/types.js';",
      "import { RandomForestClassifier } from 'ml-random-forest';",
      "import { readFileSync } from 'node:fs';",
      'export const run = (s: Shape) => helper(s.n) + String(RandomForestClassifier) + String(readFileSync);',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'lib', 'helper.ts'),
    "import { deep } from './deep';\nexport const helper = (n: number) => deep(n) * 2;\n",
  );
  writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n + 1;\n');
  writeFileSync(join(dir, 'lib', 'types.ts'), 'export interface Shape { n: number }\n');
  return dir;
}

const fingerprint = (dir: string, memo?: string) =>
  new CodeHasher(memo).fingerprint(pathToFileURL(join(dir, 'task.ts')).href + '?tsx-namespace=123');

describe('code fingerprint', () => {
  it('covers the module, its local imports transitively, and imported package versions', async () => {
    const dir = project();
    const fp = await fingerprint(dir);
    // types.ts is imported for types only: it cannot change what the task computes.
    // The package's entry file is keyed by content beside its version (`<package:…>`), and the
    // versions of the packages it depends on, transitively, by one hash (`<package-deps:…>`).
    expect(Object.keys(fp.files)).toEqual([
      '<package-deps:ml-random-forest>',
      '<package:ml-random-forest>',
      'lib/deep.ts',
      'lib/helper.ts',
      'task.ts',
    ]);
    const version = JSON.parse(
      readFileSync(join(root, 'node_modules', 'ml-random-forest', 'package.json'), 'utf8'),
    ).version;
    expect(fp.packages).toEqual({ 'ml-random-forest': version });
  });

  it("asks about every bare import but exactly 'cellar' and node: builtins (esbuild leaves those external)", () => {
    const asked = (spec: string) => BARE_IMPORT_TO_CHECK.test(spec);
    for (const spec of ['cellar', 'node:fs', 'node:fs/promises', 'node:'])
      expect(asked(spec), spec).toBe(false);
    for (const spec of [
      'cellar/sub',
      'cellarx',
      'cella',
      'c',
      'ml-random-forest',
      'node',
      'nodejs',
      'nod',
      'n',
      'fs',
      '@scope/pkg',
      'lodash/fp',
    ])
      expect(asked(spec), spec).toBe(true);
    // Relative and absolute paths are the resolve-facts plugin's, not this one's.
    for (const spec of ['./x.js', '../x.js', '/abs/x.js']) expect(asked(spec), spec).toBe(false);
  });

  it("keys 'cellar' by its version and its engines' versions, node: builtins not at all: no runtime code in the hash", async () => {
    const dir = scratchDir();
    const write = (body: string) =>
      writeFileSync(
        join(dir, 'task.ts'),
        "import { defineTask } from 'cellar';\nimport { readFileSync } from 'node:fs';\n" + body,
      );
    write('export const run = () => String(defineTask) + String(readFileSync) + 1;\n');
    const fp = await fingerprint(dir);
    // `<package-deps:cellar>`: DuckDB, the SQL translator and Arrow as installed (package-closure.ts).
    expect(Object.keys(fp.files)).toEqual(['<package-deps:cellar>', 'task.ts']);
    expect(Object.keys(fp.packages)).toEqual(['cellar']);
    write('export const run = () => String(defineTask) + String(readFileSync) + 2;\n');
    expect((await fingerprint(dir)).files['task.ts']).not.toBe(fp.files['task.ts']);
  });

  it("a task importing 'cellar' is keyed on the installed versions of Cellar's engines (DuckDB, the SQL translator, Arrow)", async () => {
    // A project with its own installed 'cellar' (a copy of the package.json only, which is all the
    // closure reads) and its own engines: moving DuckDB's version moves the key, though Cellar's
    // own version (a checkout's 0.1.0 through a git pull) stays the same.
    const dir = mkdtempSync(join(tmpdir(), 'cellar-codehash-engines-'));
    try {
      const pkg = (name: string, version: string, deps: Record<string, string> = {}) => {
        mkdirSync(join(dir, 'node_modules', name), { recursive: true });
        writeFileSync(
          join(dir, 'node_modules', name, 'package.json'),
          JSON.stringify({ name, version, dependencies: deps }),
        );
      };
      pkg('cellar', '0.1.0', { '@duckdb/node-api': '*', 'left-out': '*' });
      pkg('@duckdb/node-api', '1.5.5');
      pkg('@polyglot-sql/sdk', '0.12.1');
      pkg('apache-arrow', '21.2.0');
      pkg('left-out', '1.0.0');
      writeFileSync(
        join(dir, 'task.ts'),
        "import { defineTask } from 'cellar';\nexport const run = () => String(defineTask);\n",
      );
      const before = await fingerprint(dir);
      expect(before.packages).toEqual({ cellar: '0.1.0' });
      pkg('left-out', '2.0.0'); // not an engine: computes no task's value
      expect(await fingerprint(dir)).toEqual(before);
      pkg('@duckdb/node-api', '1.5.6');
      const after = await fingerprint(dir);
      expect(after.packages).toEqual({ cellar: '0.1.0' });
      expect(after.files['<package-deps:cellar>']).not.toBe(before.files['<package-deps:cellar>']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keys the running Cellar's version where 'cellar' is not installed (the run maps it to that runtime)", async () => {
    // Outside the repository and any project: no node_modules/cellar above it. Before, the key
    // said `unresolved`, so results made by one Cellar were served to another.
    const dir = mkdtempSync(join(tmpdir(), 'cellar-codehash-unresolved-'));
    try {
      writeFileSync(
        join(dir, 'task.ts'),
        "import { defineTask } from 'cellar';\nexport const run = () => String(defineTask);\n",
      );
      const running = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
      expect(running).toMatch(/^\d+\.\d+\.\d+/);
      expect((await fingerprint(dir)).packages).toEqual({ cellar: running });
      // The same as where the project installs this Cellar: the same runtime runs the task.
      const inside = scratchDir('installed');
      writeFileSync(join(inside, 'task.ts'), readFileSync(join(dir, 'task.ts')));
      expect((await fingerprint(inside)).packages).toEqual({ cellar: running });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keys local code a tsconfig alias of 'cellar' or 'cellar/*' reaches (the run bundles and runs it)", async () => {
    for (const [config, spec, file] of [
      ['{ "compilerOptions": { "baseUrl": "." } }', 'cellar', join('cellar', 'index.ts')],
      [
        '{\n  // types from a shim\n  "compilerOptions": { "paths": { "cellar/*": ["./shim/*"] } }\n}',
        'cellar/rates',
        join('shim', 'rates.ts'),
      ],
    ] as const) {
      const dir = scratchDir('alias');
      writeFileSync(join(dir, 'tsconfig.json'), config);
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), 'export const rate = () => 2;\n');
      writeFileSync(
        join(dir, 'task.ts'),
        `import { rate } from '${spec}';\nexport const run = () => 10 * rate();\n`,
      );
      const before = await fingerprint(dir);
      expect(Object.keys(before.files), config).toContain(file.split('\\').join('/'));
      writeFileSync(join(dir, file), 'export const rate = () => 3;\n');
      expect(await fingerprint(dir), config).not.toEqual(before);
    }
  });

  it('reads a tsconfig as able to alias bare imports when it names paths or baseUrl, or extends a package', () => {
    const dir = scratchDir('tsconfigs');
    const config = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const plain = config('plain.json', '{ "compilerOptions": { "strict": true } }');
    const relative = config('relative.json', '{ "extends": "./plain.json" }');
    expect(mayAliasBareImports([plain, relative])).toBe(false);
    expect(mayAliasBareImports([config('paths.json', '{"compilerOptions":{"paths":{}}}')])).toBe(
      true,
    );
    expect(
      mayAliasBareImports([config('base.json', '{ "compilerOptions": { "baseUrl" : "." } }')]),
    ).toBe(true);
    expect(mayAliasBareImports([config('pkg.json', '{ "extends": "@tsconfig/node20" }')])).toBe(
      true,
    );
    expect(mayAliasBareImports([config('list.json', '{ "extends": ["./plain.json"] }')])).toBe(
      true,
    );
    expect(mayAliasBareImports([join(dir, 'missing.json')])).toBe(true);
  });

  it('ignores comments and formatting, sees code changes, including deep in a helper', async () => {
    const dir = project();
    const before = await fingerprint(dir);
    writeFileSync(
      join(dir, 'lib', 'deep.ts'),
      '// why: one more\nexport const deep = (n: number) =>\n  n + 1; /* same */\n',
    );
    expect(await fingerprint(dir)).toEqual(before);
    writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n + 2;\n');
    const after = await fingerprint(dir);
    expect(after.files['lib/deep.ts']).not.toBe(before.files['lib/deep.ts']);
    expect(after.files['task.ts']).toBe(before.files['task.ts']);
  });

  it('ignores comments esbuild keeps in its output (a trailing comment inside an object literal)', async () => {
    const dir = project();
    writeFileSync(
      join(dir, 'lib', 'deep.ts'),
      'const opts = {\n  step: 1,\n  replace: false,\n};\nexport const deep = (n: number) => n + opts.step;\n',
    );
    const before = await fingerprint(dir);
    writeFileSync(
      join(dir, 'lib', 'deep.ts'),
      'const opts = {\n  step: 1,\n  replace: false, // a comment only\n  /* and a block */\n};\nexport const deep = (n: number) => n + opts.step;\n',
    );
    expect(await fingerprint(dir)).toEqual(before);
    writeFileSync(
      join(dir, 'lib', 'deep.ts'),
      'const opts = {\n  step: 2,\n  replace: false, // a comment only\n};\nexport const deep = (n: number) => n + opts.step;\n',
    );
    expect((await fingerprint(dir)).files['lib/deep.ts']).not.toBe(before.files['lib/deep.ts']);
  });

  it('memoises per task module by content: an unchanged tree is served from the memo', async () => {
    const dir = project();
    const memo = join(dir, 'memo.json');
    const url = pathToFileURL(join(dir, 'task.ts')).href;
    const hasher = new CodeHasher(memo);
    const first = await hasher.fingerprint(url);
    hasher.save();
    const saved = JSON.parse(readFileSync(memo, 'utf8'));
    const entry = saved.entries[join(dir, 'task.ts')];
    expect(Object.keys(entry.inputs).sort()).toEqual([
      join(dir, 'lib', 'deep.ts'),
      join(dir, 'lib', 'helper.ts'),
      join(dir, 'task.ts'),
    ]);
    // Poison the memo: unchanged files must be served from it (no esbuild call) ...
    entry.files['lib/deep.ts'] = 'from-the-memo';
    writeFileSync(memo, JSON.stringify(saved));
    expect((await new CodeHasher(memo).fingerprint(url)).files['lib/deep.ts']).toBe(
      'from-the-memo',
    );
    // ... a touched file with the same bytes too (its content is re-checked, not its mtime) ...
    utimesSync(join(dir, 'lib', 'deep.ts'), new Date(), new Date(Date.now() + 5000));
    expect((await new CodeHasher(memo).fingerprint(url)).files['lib/deep.ts']).toBe(
      'from-the-memo',
    );
    // ... and a changed one is bundled again.
    writeFileSync(join(dir, 'lib', 'deep.ts'), 'export const deep = (n: number) => n + 7;\n');
    const changed = await new CodeHasher(memo).fingerprint(url);
    expect(changed.files['lib/deep.ts']).not.toBe('from-the-memo');
    expect(changed.files['lib/deep.ts']).not.toBe(first.files['lib/deep.ts']);
  });

  describe('freshness is decided by content, whatever mtime and size say (shared case bug05)', () => {
    let racy: number;
    beforeEach(() => {
      // Trust stat facts at once (the real window is 3 s): the shortcut itself is under test.
      racy = stampLimits.racyMs;
      stampLimits.racyMs = 0;
    });
    afterEach(() => {
      stampLimits.racyMs = racy;
    });

    it('an edit to a helper module that keeps size and mtime changes the fingerprint', async () => {
      const dir = project();
      writeFileSync(
        join(dir, 'lib', 'round.ts'),
        'export function roundCents(x: number): number {\n  return Math.round(x * 100) / 100;\n}\n',
      );
      writeFileSync(
        join(dir, 'lib', 'helper.ts'),
        "import { roundCents } from './round';\nexport const helper = (n: number) => roundCents(n) * 2;\n",
      );
      const memo = join(dir, 'memo.json');
      const url = pathToFileURL(join(dir, 'task.ts')).href;
      const h1 = new CodeHasher(memo);
      const before = await h1.fingerprint(url);
      h1.save();
      editKeepingMtimeAndSize(join(dir, 'lib', 'round.ts'), 'Math.round', 'Math.floor');
      const after = await new CodeHasher(memo).fingerprint(url);
      expect(after.files['lib/round.ts']).not.toBe(before.files['lib/round.ts']);
      expect(after.files['task.ts']).toBe(before.files['task.ts']);
    });

    it('an imported JSON file is part of the fingerprint, by content (shared case bug06)', async () => {
      const dir = project();
      writeFileSync(join(dir, 'limits.json'), '{ "maxSpeed": 120, "minSpeed": 30 }\n');
      writeFileSync(
        join(dir, 'task.ts'),
        "import limits from './limits.json' with { type: 'json' };\nexport const flagged = (s: number[]) => s.filter((x) => x > limits.maxSpeed);\n",
      );
      const memo = join(dir, 'memo.json');
      const url = pathToFileURL(join(dir, 'task.ts')).href;
      const h1 = new CodeHasher(memo);
      const before = await h1.fingerprint(url);
      h1.save();
      expect(Object.keys(before.files)).toEqual(['limits.json', 'task.ts']);
      // Variant: the `with` syntax, and a same-size edit with the mtime put back.
      editKeepingMtimeAndSize(join(dir, 'limits.json'), '120', '100');
      const after = await new CodeHasher(memo).fingerprint(url);
      expect(after.files['limits.json']).not.toBe(before.files['limits.json']);
    });

    it('a helper read by two task modules, edited keeping size and mtime, re-keys both (each file is checked once per run)', async () => {
      const dir = project();
      writeFileSync(
        join(dir, 'other.ts'),
        "import { helper } from './lib/helper.js';\nexport const run = () => helper(3);\n",
      );
      const memo = join(dir, 'memo.json');
      const urls = ['task.ts', 'other.ts'].map((f) => pathToFileURL(join(dir, f)).href);
      const h1 = new CodeHasher(memo);
      await h1.prepare(urls);
      const before = urls.map((u) => h1.computed(u)!);
      h1.save();
      editKeepingMtimeAndSize(join(dir, 'lib', 'deep.ts'), 'n + 1', 'n - 1');
      const h2 = new CodeHasher(memo);
      await h2.prepare(urls);
      for (const [i, url] of urls.entries()) {
        expect(h2.computed(url)!.files['lib/deep.ts']).not.toBe(before[i]!.files['lib/deep.ts']);
      }
      // Unchanged again: both served from the memo, and equal to a fresh hasher's answer.
      h2.save();
      const h3 = new CodeHasher(memo);
      await h3.prepare(urls);
      const fresh = new CodeHasher();
      await fresh.prepare(urls);
      for (const url of urls) expect(h3.computed(url)).toEqual(fresh.computed(url));
    });

    it('the stat shortcut is only taken for a stamp of a file that had been quiet', () => {
      const dir = project();
      const file = join(dir, 'lib', 'deep.ts');
      stampLimits.racyMs = 60_000;
      const { stamp } = readWithStamp(file);
      expect(stamp.trusted).toBe(false); // just written: its next check reads the content
      writeFileSync(file, readFileSync(file, 'utf8').replace('n + 1', 'n + 2'));
      expect(checkStamp(file, stamp).same).toBe(false);
    });
  });
});

describe('a task is keyed on the setup declarations it uses, transitively', () => {
  function compiledLike() {
    const dir = scratchDir('setup');
    writeFileSync(
      join(dir, 'setup.ts'),
      [
        'export interface Row { n: number }',
        'function base(n: number): number { return n + 1; }',
        'export function double(n: number): number { return base(n) * 2; }',
        'export function label(n: number): string { return `#${n}`; }',
        'export const THRESHOLD = 10;',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'a.ts'),
      "import { double, type Row } from './setup.js';\nexport const a = (r: Row) => double(r.n);\n",
    );
    writeFileSync(
      join(dir, 'b.ts'),
      "import { label, THRESHOLD } from './setup.js';\nexport const b = (n: number) => (n > THRESHOLD ? label(n) : '');\n",
    );
    return dir;
  }
  const both = async (dir: string) => {
    const h = new CodeHasher();
    const a = pathToFileURL(join(dir, 'a.ts')).href;
    const b = pathToFileURL(join(dir, 'b.ts')).href;
    await h.prepare([a, b]);
    return { a: h.computed(a)!, b: h.computed(b)! };
  };
  const edit = (dir: string, from: string, to: string) => {
    const text = readFileSync(join(dir, 'setup.ts'), 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(dir, 'setup.ts'), text.replace(from, to));
  };

  it('editing a helper re-keys only the tasks that reach it', async () => {
    const dir = compiledLike();
    const before = await both(dir);
    edit(dir, 'return `#${n}`', 'return `No. ${n}`');
    const after = await both(dir);
    expect(after.a).toEqual(before.a);
    expect(after.b).not.toEqual(before.b);
  });

  it('a helper used through another helper counts (transitively); unused additions and types do not', async () => {
    const dir = compiledLike();
    const before = await both(dir);
    edit(dir, 'return n + 1;', 'return n + 3;'); // base: reached by a only, through double
    const mid = await both(dir);
    expect(mid.a).not.toEqual(before.a);
    expect(mid.b).toEqual(before.b);
    edit(
      dir,
      'export const THRESHOLD',
      'export function unused(s: string) { return s.trim(); }\nexport interface Extra { x: string }\nexport const THRESHOLD',
    );
    const after = await both(dir);
    expect(after).toEqual(mid);
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
      defineTask({
        name: `t_${cache}`,
        module,
        cache,
        params: { n: { type: 'number', default: 1 } },
        inputs: {},
        outputs: { v: {} },
        run: () => ({ v: 1 }),
      });
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

describe('many task modules keyed at once (esbuild builds in groups)', () => {
  function manyModules(n: number) {
    const dir = scratchDir('many');
    writeFileSync(
      join(dir, 'setup.ts'),
      'export const twice = (n: number) => n * 2;\nexport const thrice = (n: number) => n * 3;\n',
    );
    for (let i = 0; i < n; i++)
      writeFileSync(
        join(dir, `leaf${i}.ts`),
        `import { ${i % 2 ? 'twice' : 'thrice'} } from './setup.js';\n// leaf ${i}\nexport const v${i} = () => ${i % 2 ? 'twice' : 'thrice'}(${i});\n`,
      );
    // A fan-in module: it imports every leaf, as a compiled notebook's summing task does.
    writeFileSync(
      join(dir, 'total.ts'),
      [
        ...Array.from({ length: n }, (_, i) => `import { v${i} } from './leaf${i}.js';`),
        `export const total = () => ${Array.from({ length: n }, (_, i) => `v${i}()`).join(' + ')};`,
      ].join('\n'),
    );
    const urls = [
      ...Array.from({ length: n }, (_, i) => pathToFileURL(join(dir, `leaf${i}.ts`)).href),
      pathToFileURL(join(dir, 'total.ts')).href,
    ];
    return { dir, urls };
  }
  // More modules than one esbuild build takes (ENTRIES_PER_BUILD, 64), so they span groups.
  const N = 150;

  it('gives each module the fingerprint it has when keyed alone (batch and single builds agree)', async () => {
    const { urls } = manyModules(N);
    const batch = new CodeHasher();
    await batch.prepare(urls);
    for (const url of [urls[0]!, urls[1]!, urls[70]!, urls[N - 1]!, urls[N]!]) {
      const alone = await new CodeHasher().fingerprint(url);
      expect(batch.computed(url)).toEqual(alone);
    }
    // Reversed order puts the modules in other groups: the same fingerprints.
    const reversed = new CodeHasher();
    await reversed.prepare([...urls].reverse());
    for (const url of urls) expect(reversed.computed(url)).toEqual(batch.computed(url));
    // The fan-in module's fingerprint names every module it reaches.
    expect(Object.keys(batch.computed(urls[N]!)!.files)).toHaveLength(N + 2);
  });

  it('an edit to one leaf re-keys exactly that leaf and the fan-in module, across groups', async () => {
    const { dir, urls } = manyModules(N);
    const before = new CodeHasher();
    await before.prepare(urls);
    const changed = 97; // in the second group
    const file = join(dir, `leaf${changed}.ts`);
    writeFileSync(file, readFileSync(file, 'utf8').replace(`(${changed})`, `(${changed} + 1)`));
    const after = new CodeHasher();
    await after.prepare(urls);
    const rekeyed = urls.filter(
      (u) => JSON.stringify(after.computed(u)) !== JSON.stringify(before.computed(u)),
    );
    expect(rekeyed).toEqual([urls[changed], urls[N]]);
    expect(after.computed(urls[N]!)!.files[`leaf${changed}.ts`]).not.toBe(
      before.computed(urls[N]!)!.files[`leaf${changed}.ts`],
    );
    // A shared helper edit re-keys exactly its users: `thrice` is used by the even leaves.
    writeFileSync(
      join(dir, 'setup.ts'),
      'export const twice = (n: number) => n * 2;\nexport const thrice = (n: number) => n * 3 + 0;\n',
    );
    const helper = new CodeHasher();
    await helper.prepare(urls);
    const users = urls.filter(
      (u) => JSON.stringify(helper.computed(u)) !== JSON.stringify(after.computed(u)),
    );
    expect(users).toEqual([...urls.filter((_, i) => i < N && i % 2 === 0), urls[N]]);
  });

  it('a module esbuild cannot build leaves the other modules of its group keyed as before', async () => {
    const { dir, urls } = manyModules(10);
    const good = new CodeHasher();
    await good.prepare(urls);
    // A syntax error: esbuild fails the whole build of its group.
    writeFileSync(join(dir, 'broken.ts'), 'export const broken = (;\n');
    const broken = pathToFileURL(join(dir, 'broken.ts')).href;
    const mixed = new CodeHasher();
    await mixed.prepare([...urls, broken]);
    for (const url of urls) expect(mixed.computed(url)).toEqual(good.computed(url));
    // The broken module is still keyed (file by file, by its text).
    expect(Object.keys(mixed.computed(broken)!.files)).toEqual(['broken.ts']);
  });
});

describe('the order of a module’s code is in its fingerprint', () => {
  it('swapping two side-effect imports re-keys the task (the same code, run in another order)', async () => {
    const dir = scratchDir('order');
    writeFileSync(join(dir, 'log.ts'), 'export const seen: string[] = [];\n');
    writeFileSync(join(dir, 'a.ts'), "import { seen } from './log.js';\nseen.push('a');\n");
    writeFileSync(join(dir, 'b.ts'), "import { seen } from './log.js';\nseen.push('b');\n");
    const task = (first: string, second: string) =>
      writeFileSync(
        join(dir, 'task.ts'),
        `import './${first}.js';\nimport './${second}.js';\nimport { seen } from './log.js';\nexport const run = () => seen.join(',');\n`,
      );
    const url = pathToFileURL(join(dir, 'task.ts')).href;
    task('a', 'b');
    const ab = await new CodeHasher().fingerprint(url);
    task('b', 'a');
    const ba = await new CodeHasher().fingerprint(url);
    // Each file's own code is the same; the bundle runs it in the other order.
    expect(ba.files['a.ts']).toBe(ab.files['a.ts']);
    expect(ba.files['b.ts']).toBe(ab.files['b.ts']);
    expect(ba).not.toEqual(ab);
    expect(ba.files['task.ts']).not.toBe(ab.files['task.ts']);
  });
});

describe('a setup module’s effects in a compiled task’s fingerprint', () => {
  it('a task module gets the same fingerprint built alone or in a group with the task it imports', async () => {
    const dir = scratchDir('setup');
    const header = '// Generated by `cellar compile` from notebooks/x.ipynb, cell `c`.\n';
    // The setup module runs before every task: its statement with an effect keys all of them.
    writeFileSync(
      join(dir, 'setup.ts'),
      'export const rate = (n: number) => n * 2;\n(globalThis as any).RATE = 2;\n',
    );
    // `load` imports nothing from setup; `split` imports load's task and a setup helper, as
    // compiled modules do. In one build both are entry points.
    writeFileSync(join(dir, 'load.ts'), `${header}export const load = () => [1, 2, 3];\n`);
    writeFileSync(
      join(dir, 'split.ts'),
      `${header}import { load } from './load.js';\nimport { rate } from './setup.js';\nexport const split = () => load().map(rate);\n`,
    );
    const urls = ['load.ts', 'split.ts'].map((f) => pathToFileURL(join(dir, f)).href);
    const group = new CodeHasher();
    await group.prepare(urls);
    for (const url of urls)
      expect(group.computed(url)).toEqual(await new CodeHasher().fingerprint(url));
    // Both are keyed on the setup module's effect, `load` too.
    expect(Object.keys(group.computed(urls[0]!)!.files)).toContain('setup.ts');
  });
});

describe('how a local import resolved is in the memo (a new file ahead, a re-pointed link)', () => {
  const url = (dir: string, file = 'task.ts') => pathToFileURL(join(dir, file)).href;

  it('a file added ahead of the one an import resolved to re-keys the task', async () => {
    // task.ts imports './lib/helper.js' (helper.ts, as no helper.js exists) and helper.ts
    // imports './deep' (deep.ts: esbuild would try deep.tsx first).
    const dir = project();
    const memo = join(dir, 'memo.json');
    const h1 = new CodeHasher(memo);
    const before = await h1.fingerprint(url(dir));
    h1.save();
    // A stray tsc output beside the source: `./lib/helper.js` now loads it.
    writeFileSync(join(dir, 'lib', 'helper.js'), 'export const helper = (n) => n * 7;\n');
    const withJs = await new CodeHasher(memo).fingerprint(url(dir));
    expect(Object.keys(withJs.files)).toEqual([
      '<package-deps:ml-random-forest>',
      '<package:ml-random-forest>',
      'lib/helper.js',
      'task.ts',
    ]);
    expect(withJs).toEqual(await new CodeHasher().fingerprint(url(dir)));
    new CodeHasher(memo).save();
    // A .tsx beside the .ts an extensionless import picked.
    rmSync(join(dir, 'lib', 'helper.js'));
    const h2 = new CodeHasher(memo);
    expect(await h2.fingerprint(url(dir))).toEqual(before);
    h2.save();
    writeFileSync(join(dir, 'lib', 'deep.tsx'), 'export const deep = (n: number) => n + 9;\n');
    const withTsx = await new CodeHasher(memo).fingerprint(url(dir));
    expect(Object.keys(withTsx.files)).toEqual([
      '<package-deps:ml-random-forest>',
      '<package:ml-random-forest>',
      'lib/deep.tsx',
      'lib/helper.ts',
      'task.ts',
    ]);
    expect(withTsx).toEqual(await new CodeHasher().fingerprint(url(dir)));
  });

  it('a symlinked folder re-pointed, directly or through a link to a link, re-keys the task', async () => {
    const dir = scratchDir('symlink');
    for (const [v, k] of [
      ['v1', 2],
      ['v2', 9],
      ['v3', 5],
    ] as const) {
      mkdirSync(join(dir, 'shared', v), { recursive: true });
      writeFileSync(
        join(dir, 'shared', v, 'util.ts'),
        `export const scale = (x: number) => x * ${k};\n`,
      );
    }
    mkdirSync(join(dir, 'notebooks'));
    writeFileSync(
      join(dir, 'notebooks', 'task.ts'),
      "import { scale } from './lib/util';\nexport const run = () => scale(10);\n",
    );
    symlinkSync(join('..', 'shared', 'v1'), join(dir, 'notebooks', 'lib'));
    const memo = join(dir, 'memo.json');
    const task = url(join(dir, 'notebooks'));
    const h1 = new CodeHasher(memo);
    const first = await h1.fingerprint(task);
    h1.save();
    const repoint = (link: string, target: string) => {
      rmSync(link);
      symlinkSync(target, link);
    };
    repoint(join(dir, 'notebooks', 'lib'), join('..', 'shared', 'v2'));
    const h2 = new CodeHasher(memo);
    const second = await h2.fingerprint(task);
    h2.save();
    expect(second).not.toEqual(first);
    expect(second).toEqual(await new CodeHasher().fingerprint(task));
    // A link to a link: notebooks/lib -> ../shared/current -> v2, then current -> v3.
    symlinkSync('v2', join(dir, 'shared', 'current'));
    repoint(join(dir, 'notebooks', 'lib'), join('..', 'shared', 'current'));
    const h3 = new CodeHasher(memo);
    expect(await h3.fingerprint(task)).toEqual(second);
    h3.save();
    repoint(join(dir, 'shared', 'current'), 'v3');
    const third = await new CodeHasher(memo).fingerprint(task);
    expect(third).not.toEqual(second);
    expect(third).toEqual(await new CodeHasher().fingerprint(task));
  });

  it('re-pointing a package.json `imports` entry (#lib/*) re-keys the task; an edit steering nothing keeps its key', async () => {
    const dir = scratchDir('subpath');
    for (const [v, k] of [
      ['v1', 2],
      ['v2', 9],
    ] as const) {
      mkdirSync(join(dir, v));
      writeFileSync(join(dir, v, 'util.ts'), `export const scale = (n: number) => n * ${k};\n`);
    }
    const pkg = (imports: Record<string, string>) =>
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'subpath', type: 'module', imports }) + '\n',
      );
    pkg({ '#lib/*': './v1/*' });
    writeFileSync(
      join(dir, 'task.ts'),
      "import { scale } from '#lib/util.ts';\nexport const run = () => scale(10);\n",
    );
    const memo = join(scratchDir('memo'), 'memo.json');
    const h1 = new CodeHasher(memo);
    const before = await h1.fingerprint(url(dir));
    expect(Object.keys(before.files)).toEqual(['task.ts', 'v1/util.ts']);
    h1.save();
    // Same size, same folder entries: only the file's content tells.
    pkg({ '#lib/*': './v2/*' });
    const after = await new CodeHasher(memo).fingerprint(url(dir));
    expect(Object.keys(after.files)).toEqual(['task.ts', 'v2/util.ts']);
    expect(after).toEqual(await new CodeHasher().fingerprint(url(dir)));
    const h2 = new CodeHasher(memo);
    await h2.fingerprint(url(dir));
    h2.save();
    pkg({ '#lib/*': './v2/*', '#unused/*': './v1/*' });
    expect(await new CodeHasher(memo).fingerprint(url(dir))).toEqual(after);
  });

  it('an unchanged tree checks how imports resolved by a stat per folder, listing none', async () => {
    const racy = stampLimits.racyMs;
    stampLimits.racyMs = 0; // trust stat facts at once: the shortcut itself is under test
    try {
      const dir = project();
      // Outside the project: writing it moves the project folder's stat facts.
      const memo = join(scratchDir('memo'), 'memo.json');
      const h1 = new CodeHasher(memo);
      await h1.fingerprint(url(dir));
      h1.save();
      // Poison the recorded entries' hashes: served from the memo only if no folder is listed.
      const saved = JSON.parse(readFileSync(memo, 'utf8'));
      const entry = saved.entries[join(dir, 'task.ts')];
      // Folder and name of each lookup: lib/ in dir/, helper.* in lib/, deep.* in lib/; beside
      // them, the config files that steer resolution (package.json, tsconfig.json) of each folder
      // up to the nearest ones, and their content (the repository's, above the scratch folder).
      // (The memo keeps each fact once, in `facts`; an entry names its list of keys in `sets`.)
      const keys: string[] = saved.sets[entry.resolvedSet];
      const config = (k: string) => /\0(?:package|tsconfig|jsconfig)\.json$|\0\0content$/.test(k);
      expect(keys.filter((k) => !config(k)).sort()).toEqual(
        [`${dir}\0lib`, `${join(dir, 'lib')}\0deep`, `${join(dir, 'lib')}\0helper`].sort(),
      );
      expect(keys).toContain(`${join(dir, 'lib')}\0package.json`);
      expect(keys.filter((k) => k.endsWith('\0\0content')).length).toBeGreaterThan(0);
      for (const k of keys) saved.facts[k].hash = 'x';
      entry.files['lib/deep.ts'] = 'from-the-memo';
      writeFileSync(memo, JSON.stringify(saved));
      expect((await new CodeHasher(memo).fingerprint(url(dir))).files['lib/deep.ts']).toBe(
        'from-the-memo',
      );
    } finally {
      stampLimits.racyMs = racy;
    }
  });
});

describe("a worker thread's script is in the key", () => {
  /** task.ts → lib/par.ts, which starts `start(…)` as a worker thread; work.mjs imports util.mjs. */
  function workerProject(start: string): string {
    const dir = scratchDir('worker');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(
      join(dir, 'task.ts'),
      "import { inWorker } from './lib/par.js';\nexport const run = () => inWorker(2);\n",
    );
    writeFileSync(
      join(dir, 'lib', 'par.ts'),
      [
        "import { Worker } from 'node:worker_threads';",
        'export const inWorker = (x: number, script = process.env.SCRIPT ?? "") =>',
        `  new Promise((res) => new Worker(${start}, { workerData: x }).once('message', res));`,
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'lib', 'work.mjs'),
      "import { parentPort, workerData } from 'node:worker_threads';\nimport { k } from './util.mjs';\nparentPort.postMessage(workerData * k);\n",
    );
    writeFileSync(join(dir, 'lib', 'util.mjs'), 'export const k = 2;\n');
    return dir;
  }

  it("new Worker(new URL('./work.mjs', import.meta.url)): the script and what it imports are keyed, an edit seen through the memo", async () => {
    const dir = workerProject("new URL('./work.mjs', import.meta.url)");
    const memo = join(dir, 'memo.json');
    const hasher = new CodeHasher(memo);
    const before = await hasher.fingerprint(pathToFileURL(join(dir, 'task.ts')).href);
    hasher.save();
    expect(Object.keys(before.files)).toEqual(
      expect.arrayContaining(['lib/par.ts', 'lib/work.mjs', 'lib/util.mjs']),
    );
    // Same size and mtime: only the content says it changed.
    editKeepingMtimeAndSize(join(dir, 'lib', 'util.mjs'), 'k = 2', 'k = 3');
    const after = await fingerprint(dir, memo);
    expect(after.files['lib/util.mjs']).not.toBe(before.files['lib/util.mjs']);
    editKeepingMtimeAndSize(join(dir, 'lib', 'work.mjs'), 'workerData * k', 'workerData + k');
    const again = await fingerprint(dir, memo);
    expect(again.files['lib/work.mjs']).not.toBe(after.files['lib/work.mjs']);
  });

  it('a worker script named only at run time is warned about, naming the call', async () => {
    const dir = workerProject('script');
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await fingerprint(dir);
    } finally {
      process.stderr.write = original;
    }
    const warning = written.join('');
    expect(warning).toContain('a worker thread whose script is named only at run time');
    expect(warning).toMatch(/lib\/par\.ts:3: .*new Worker\(script/);
  });
});

describe('a package edited in place, its version unchanged, is keyed by the files the task loads of it', () => {
  it('an edit to the entry file (patch-package style, same size and mtime) changes the fingerprint; the version stays', async () => {
    const dir = scratchDir('pkgpatch');
    mkdirSync(join(dir, 'node_modules', 'taxcalc', 'lib'), { recursive: true });
    writeFileSync(
      join(dir, 'node_modules', 'taxcalc', 'package.json'),
      JSON.stringify({ name: 'taxcalc', version: '1.0.0', type: 'module', main: 'index.js' }),
    );
    writeFileSync(
      join(dir, 'node_modules', 'taxcalc', 'index.js'),
      'export const rate = (x) => x * 0.10;\n',
    );
    writeFileSync(
      join(dir, 'node_modules', 'taxcalc', 'lib', 'unused.js'),
      'export const u = 1;\n',
    );
    writeFileSync(
      join(dir, 'task.ts'),
      "import { rate } from 'taxcalc';\nexport const run = () => rate(100);\n",
    );
    const memo = join(dir, 'memo.json');
    const hasher = new CodeHasher(memo);
    const before = await hasher.fingerprint(pathToFileURL(join(dir, 'task.ts')).href);
    hasher.save();
    expect(before.packages).toEqual({ taxcalc: '1.0.0' });
    expect(before.files['<package:taxcalc>']).toMatch(/^[0-9a-f]{16}$/);
    // A file of the package the task does not load: not read, not keyed.
    writeFileSync(
      join(dir, 'node_modules', 'taxcalc', 'lib', 'unused.js'),
      'export const u = 2;\n',
    );
    const untouched = new CodeHasher(memo);
    expect(await untouched.fingerprint(pathToFileURL(join(dir, 'task.ts')).href)).toEqual(before);
    untouched.save();
    editKeepingMtimeAndSize(join(dir, 'node_modules', 'taxcalc', 'index.js'), '0.10', '0.20');
    const after = await fingerprint(dir, memo);
    expect(after.packages).toEqual({ taxcalc: '1.0.0' });
    expect(after.files['<package:taxcalc>']).not.toBe(before.files['<package:taxcalc>']);
  });
});
