// A dynamic import of a relative prefix and a name known only at run time
// (`import('./plugins/' + name)`) loads from Cellar's bundle what a static import of the same
// name would (a red team's notebook): 'p1' and 'p1.js' are p1.ts, as in the notebook (tslab, tsx)
// and in TypeScript. esbuild's own lookup took the string as an exact file name, failing with
// "Module not found in bundle", and a `.js` written in the template globbed `*.js` only, leaving
// the .ts plugins out of bundle and key. Real esbuild bundles of real files (load/bundle.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvingGlobImports } from '../../runtime/key/dynamic-imports.js';
import { importBundled } from '../../runtime/load/bundle.js';

const dir = mkdtempSync(join(tmpdir(), 'cellar-dynamic-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

type Loader = (name: string) => Promise<number>;

describe('a dynamic import of a folder prefix and a run-time name, from the bundle', () => {
  write('package.json', '{ "name": "dyn", "private": true, "type": "module" }\n');
  write('plugins/p1.ts', 'export const v = 1;\n');
  write('plugins/p2.mts', 'export const v = 2;\n');
  write('plugins/sub/index.ts', 'export const v = 3;\n');
  write('plugins/p4.js', 'export const v = 4;\n');
  write('plugins/both.js', 'export const v = 50;\n');
  write('plugins/both.ts', 'export const v = 5;\n');
  // Not a module: an extension-less glob took every file of the folder, and esbuild has no
  // loader for this one, so the whole bundle failed.
  write('plugins/README.md', '# plugins\n');
  write(
    'main.ts',
    [
      "export const plain = async (name: string) => (await import('./plugins/' + name)).v;",
      'export const js = async (name: string) => (await import(`./plugins/${name}.js`)).v;',
      'export const ts = async (name: string) =>',
      '  (await import(`./plugins/${name}.ts`)).v;',
      'export const caught = (name: string) =>',
      "  import('./plugins/' + name).then((m) => m.v, (e: Error) => e.message);",
      '',
    ].join('\n'),
  );
  const load = async () =>
    (await importBundled(join(dir, 'main.ts'))) as Record<string, Loader> | undefined;

  it('finds a name as a static import would: as written, .js → .ts, an added extension, an index file', async () => {
    const m = (await load())!;
    expect(m).toBeDefined();
    expect(await m.plain!('p1')).toBe(1);
    expect(await m.plain!('p1.js')).toBe(1);
    expect(await m.plain!('p1.ts')).toBe(1);
    expect(await m.plain!('p2.mjs')).toBe(2);
    expect(await m.plain!('sub')).toBe(3);
    expect(await m.plain!('p4')).toBe(4);
    expect(await m.js!('p1')).toBe(1);
    expect(await m.js!('p4')).toBe(4);
    expect(await m.ts!('p1')).toBe(1);
    // Both exist: the file named as written, as esbuild resolves a static './plugins/both.js'.
    expect(await m.plain!('both.js')).toBe(50);
    expect(await m.plain!('both')).toBe(5);
  });

  it('a name no file answers is refused naming the import, its file and line, and every file looked for', async () => {
    const m = (await load())!;
    await expect(m.plain!('p9')).rejects.toThrow(
      'import("./plugins/p9") at main.ts:1 found no module among the files under plugins/ bundled with the pipeline: looked for plugins/p9{.ts,.tsx,.js,.jsx,.mts,.mjs,.cts,.cjs,.json}, plugins/p9/index{.ts,.tsx,.js,.jsx,.mts,.mjs,.cts,.cjs,.json}',
    );
    await expect(m.js!('p9')).rejects.toThrow(
      /^import\("\.\/plugins\/p9\.js"\) at main\.ts:2 found no module .*looked for plugins\/p9\{\.js,\.ts,\.tsx\}, plugins\/p9\.js\{\.ts,/,
    );
    // Rejected as the import's own failure is, so `.catch` sees it.
    expect(await m.caught!('README.md')).toMatch(
      /^import\("\.\/plugins\/README\.md"\) at main\.ts:6 /,
    );
  });
});

describe('which dynamic imports are rewritten', () => {
  const rewrites = (code: string) => resolvingGlobImports(code, join(dir, 'm.ts'), dir) !== code;
  it('a relative prefix with a run-time rest, written with no extension or a JavaScript one', () => {
    expect(rewrites("await import('./plugins/' + name);")).toBe(true);
    expect(rewrites('await import(`./plugins/${name}`);')).toBe(true);
    expect(rewrites('await import(`../plugins/${name}.js`);')).toBe(true);
    expect(rewrites("await import('./plugins/' + kind + '.mjs');")).toBe(true);
    expect(rewrites("await import('./plugins/' + pick(names[0], 'x.ts'));")).toBe(true);
  });
  it('not a literal, another extension, import options, a package, or no import call', () => {
    expect(rewrites("await import('./plugins/p1.ts');")).toBe(false);
    expect(rewrites('await import(`./plugins/p1.js`);')).toBe(false);
    expect(rewrites('await import(`./plugins/${name}.ts`);')).toBe(false);
    expect(rewrites("await import('./data/' + name + '.json');")).toBe(false);
    expect(rewrites("await import('./plugins/' + name, { with: { type: 'json' } });")).toBe(false);
    expect(rewrites("await import('pkg/' + name);")).toBe(false);
    expect(rewrites('await import(name);')).toBe(false);
    expect(rewrites("x.import('./plugins/' + name); reimport('./plugins/' + name);")).toBe(false);
    expect(
      rewrites("// import('./plugins/' + name)\nconst s = \"import('./plugins/' + x)\";"),
    ).toBe(false);
  });
  it('keeps every line where it was', () => {
    const code = "const a = 1;\nawait import(\n  './plugins/' +\n    name\n);\nconst b = 2;\n";
    const out = resolvingGlobImports(code, join(dir, 'm.ts'), dir);
    expect(out.split('\n').slice(0, 6)).toEqual([
      'const a = 1;',
      'await __cellarGlobImport(',
      "  './plugins/' +",
      '    name',
      expect.stringMatching(/^, "\.\/plugins\/", "plugins\/", "m\.ts:2", \[\["\.ts", /),
      'const b = 2;',
    ]);
  });
});
