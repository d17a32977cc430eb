// Whatever a task's code loads, by any import, is in its key (issue 8 item 1): a dynamic
// `import()` in a task cell, a setup cell or a local module; a `require` through `createRequire`;
// and the key does not depend on which loader ran the pipeline. Real CLI on real tslab notebook
// files; each edit keeps the file's size and mtime (`cp -p` + `touch -r`), so only content can
// tell. See docs/design/cache-key.md ("Code-aware by default", "Dynamic imports").
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  editKeepingMtimeAndSize,
  project,
  removeProjects,
  runStatuses as run,
  showOutput as show,
} from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/loads.ipynb';

/** A project with notebooks/lib/x.ts and two plugins under notebooks/plugins/. */
function withModules(): Project {
  const p = project();
  mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
  mkdirSync(join(p.dir, 'notebooks', 'plugins'), { recursive: true });
  p.write('notebooks/lib/x.ts', 'export const bonus = 10;\n');
  p.write('notebooks/plugins/double.ts', 'export const factor = 2;\n');
  p.write('notebooks/plugins/triple.ts', 'export const factor = 3;\n');
  return p;
}

/** `cellar run <nb> --json` (or `--dry-run --json`) with `env`: each task's key and status. */
function keyed(
  p: Project,
  flags: string[],
  env: Record<string, string | undefined> = {},
): Record<string, { key: string; status: string }> {
  for (const [k, v] of Object.entries(env)) p.setEnv(k, v);
  try {
    const r = p.cellar('run', NB, '--json', ...flags);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    return Object.fromEntries(
      JSON.parse(r.stdout).tasks.map(
        (t: { name: string; key: string; status?: string; action?: string }) => [
          t.name,
          { key: t.key, status: t.status ?? t.action! },
        ],
      ),
    );
  } finally {
    for (const k of Object.keys(env)) p.setEnv(k, undefined);
  }
}

describe('a dynamic import() is keyed by the content of every file it may load', () => {
  it('a relative literal import() in a task cell resolves from the notebook folder and an edit of the file re-runs the task', () => {
    const p = withModules();
    p.write(
      NB,
      notebookText([
        "//| task: bonused\nconst { bonus } = await import('./lib/x.ts');\nconst bonused = 1 + bonus;",
        '//| task: plain\nconst plain = 2;',
      ]),
    );
    expect(run(p, NB)).toEqual({ bonused: 'ran', plain: 'ran' });
    expect(show(p, NB, 'bonused', 'bonused')).toBe(11);
    expect(run(p, NB)).toEqual({ bonused: 'cached', plain: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'x.ts'), '10', '20');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/code\.files\.\.\.\/\.\.\/notebooks\/lib\/x\.ts: \w+ → \w+/);
    expect(run(p, NB)).toEqual({ bonused: 'ran', plain: 'cached' });
    expect(show(p, NB, 'bonused', 'bonused')).toBe(21);
  });

  it('a template literal or a + concatenation with a folder prefix keys every plugin of the folder', () => {
    const p = withModules();
    p.write(
      NB,
      notebookText([
        "const kind = 'double';",
        '//| task: scaled\nconst { factor } = await import(`./plugins/${kind}.ts`);\nconst scaled = 5 * factor;',
        "//| task: joined\nconst { factor: f } = await import('./plugins/' + kind + '.ts');\nconst joined = 7 * f;",
        '//| task: plain\nconst plain = 2;',
      ]),
    );
    expect(run(p, NB)).toEqual({ scaled: 'ran', joined: 'ran', plain: 'ran' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(10);
    expect(run(p, NB)).toEqual({ scaled: 'cached', joined: 'cached', plain: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'plugins', 'double.ts'), '2', '4');
    expect(run(p, NB)).toEqual({ scaled: 'ran', joined: 'ran', plain: 'cached' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(20);
    expect(show(p, NB, 'joined', 'joined')).toBe(28);
    // Every file the import may load is in the key (which one it loads is known only at run time).
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'plugins', 'triple.ts'), '3', '6');
    expect(run(p, NB)).toEqual({ scaled: 'ran', joined: 'ran', plain: 'cached' });
  });

  it('a name without its .ts, or with .js, loads the .ts plugin as in the notebook; a name no file answers names the cell and the files looked for', () => {
    // A red team's notebook: `import('./plugins/' + name)` with 'p1' (or `${name}.js`) failed
    // with "Module not found in bundle" where tslab loaded plugins/p1.ts, and the `.js` form
    // left the .ts plugins out of the key. A README.md in the folder is no module to bundle.
    const p = withModules();
    p.write('notebooks/plugins/README.md', '# plugins\n');
    p.write(
      NB,
      notebookText([
        "//| params\nconst kind = 'double';",
        "//| task: plain\nconst { factor } = await import('./plugins/' + kind);\nconst plain = 5 * factor;",
        '//| task: js\nconst { factor: f } = await import(`./plugins/${kind}.js`);\nconst js = 7 * f;',
      ]),
    );
    expect(run(p, NB)).toEqual({ plain: 'ran', js: 'ran' });
    expect(show(p, NB, 'plain', 'plain')).toBe(10);
    expect(show(p, NB, 'js', 'js')).toBe(14);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'plugins', 'double.ts'), '2', '4');
    expect(run(p, NB)).toEqual({ plain: 'ran', js: 'ran' });
    expect(show(p, NB, 'js', 'js')).toBe(28);
    const r = p.cellar('run', NB, '--param', 'kind=quad');
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toContain(
      'FAILED  plain: import("../../notebooks/plugins/quad") at generated/loads/plain.ts:',
    );
    expect(out).toContain(
      '(notebooks/loads.ipynb, cell `c2`) found no module among the files under notebooks/plugins/ bundled with the pipeline: looked for notebooks/plugins/quad{.ts,.tsx,.js,.jsx,.mts,.mjs,.cts,.cjs,.json}, notebooks/plugins/quad/index{',
    );
    expect(out).toContain('looked for notebooks/plugins/quad{.js,.ts,.tsx}');
    expect(out).toContain('at notebooks/loads.ipynb, cell 2 (id c2), line 2');
  });

  it('a plugin added to the folder later is loadable by a param at once, and in the key', () => {
    const p = withModules();
    p.write(
      NB,
      notebookText([
        "//| params\nconst kind = 'double';",
        '//| task: scaled\nconst { factor } = await import(`./plugins/${kind}.ts`);\nconst scaled = 5 * factor;',
      ]),
    );
    expect(run(p, NB)).toEqual({ scaled: 'ran' });
    p.write('notebooks/plugins/quad.ts', 'export const factor = 4;\n');
    const r = p.cellar('run', NB, '--param', 'kind=quad', '--json');
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(JSON.parse(r.stdout).tasks.map((t: { status: string }) => t.status)).toEqual(['ran']);
    const shown = p.cellar('show', NB, 'scaled', 'scaled', '--param', 'kind=quad', '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toBe(20);
    // The default's key moved too: the bundle it runs holds the new plugin.
    expect(run(p, NB)).toEqual({ scaled: 'ran' });
  });

  it('a plugin added after an all-cached run is seen by the next run, not answered "cached" by the warm-run record', () => {
    const p = withModules();
    p.write(
      NB,
      notebookText([
        "//| params\nconst kind = 'double';",
        '//| task: scaled\nconst { factor } = await import(`./plugins/${kind}.ts`);\nconst scaled = 5 * factor;',
      ]),
    );
    const first = keyed(p, []).scaled!;
    expect(first.status).toBe('ran');
    // All cached: the warm-run record is written, and the next all-cached run is answered by it.
    expect(keyed(p, []).scaled).toEqual({ key: first.key, status: 'cached' });
    expect(readdirSync(join(p.dir, '.cellar', 'cache', 'warm'))).not.toEqual([]);
    expect(keyed(p, []).scaled).toEqual({ key: first.key, status: 'cached' });
    p.write('notebooks/plugins/quad.ts', 'export const factor = 4;\n');
    // The bundle now holds quad.ts, so the key moved: the full path runs the task again.
    const added = keyed(p, []).scaled!;
    expect(added.status).toBe('ran');
    expect(added.key).not.toBe(first.key);
    expect(keyed(p, []).scaled).toEqual({ key: added.key, status: 'cached' });
    expect(keyed(p, []).scaled).toEqual({ key: added.key, status: 'cached' });
    // A plugin removed is seen the same way: the key is the first run's again (whose result is
    // still stored, so cached), not the record's.
    rmSync(join(p.dir, 'notebooks/plugins/quad.ts'));
    expect(keyed(p, []).scaled).toEqual({ key: first.key, status: 'cached' });
  });

  it("a local module's glob import, called by a task at run time, is in the task's key", () => {
    const p = withModules();
    mkdirSync(join(p.dir, 'notebooks', 'lib', 'rules'), { recursive: true });
    p.write('notebooks/lib/rules/cap.ts', 'export const limit = 40;\n');
    p.write(
      'notebooks/lib/rules.ts',
      'export async function rule(name: string): Promise<{ limit: number }> {\n  return import(`./rules/${name}.ts`);\n}\n',
    );
    p.write(
      NB,
      notebookText([
        "import { rule } from './lib/rules';",
        "//| task: capped\nconst { limit } = await rule('cap');\nconst capped = Math.min(100, limit);",
      ]),
    );
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(run(p, NB)).toEqual({ capped: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'rules', 'cap.ts'), '40', '70');
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(show(p, NB, 'capped', 'capped')).toBe(70);
  });

  it('import(name) in a task cell is refused at compile time, naming the notebook, cell and line and the fix', () => {
    const p = withModules();
    p.write(
      NB,
      notebookText([
        '//| task: plain\nconst plain = 2;',
        "//| task: loaded\nconst name = './lib/x.ts';\nconst { bonus } = await import(name);\nconst loaded = bonus;",
      ]),
    );
    const r = p.cellar('run', NB);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/notebooks\/loads\.ipynb, cell 2 \(id c2\), line 3/);
    expect(r.stdout + r.stderr).toContain('E_DYNAMIC_IMPORT');
    expect(r.stdout + r.stderr).toContain('template literal with a folder prefix');
    expect(r.stdout + r.stderr).not.toMatch(/\bdone\b|\bran\b/);
  });

  it.each([['default'], ['tsx']])(
    'import(name) in a local module is refused before any task runs, naming the file and line (%s loader)',
    (loader) => {
      const p = withModules();
      p.write(
        'notebooks/lib/load.ts',
        "export async function load(file: string): Promise<{ bonus: number }> {\n  const spec = './' + file;\n  return import(spec);\n}\n",
      );
      p.write(
        NB,
        notebookText([
          "import { load } from './lib/load';",
          "//| task: loaded\nconst { bonus } = await load('x.ts');\nconst loaded = bonus;",
        ]),
      );
      p.setEnv('CELLAR_LOADER', loader === 'tsx' ? 'tsx' : undefined);
      try {
        const r = p.cellar('run', NB);
        expect(r.code, r.stdout).toBe(2);
        expect(r.stderr).toContain('E_DYNAMIC_IMPORT');
        expect(r.stderr).toContain('notebooks/lib/load.ts:3:10: return import(spec);');
        expect(r.stderr).toContain('template literal with a folder prefix');
        expect(r.stderr).not.toMatch(/start\s+loaded/);
      } finally {
        p.setEnv('CELLAR_LOADER', undefined);
      }
    },
  );
});

// B5: `createRequire(import.meta.url)('./cfg-' + variant + '.json')` in a cell failed at run time
// with "Cannot find module … Require stack: generated/…": `import.meta` in a cell is the compiled
// module's. It is refused at compile time (E_IMPORT_META) naming the notebook, cell, line and fix.
describe("setup's side-effect imports", () => {
  it("`import './lib/register'` in setup runs before every task, as in the notebook, and its code is in their keys", () => {
    // A red team's notebook: setup held only imports, so there was no setup module and the bare
    // import was dropped from the generated code: the registry stayed empty (10, not 20).
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/registry.ts',
      'export const registry = new Map<string, (x: number) => number>();\n',
    );
    p.write(
      'notebooks/lib/register.ts',
      "import { registry } from './registry';\nregistry.set('f', (x) => x * 2);\n",
    );
    p.write(
      NB,
      notebookText([
        "import './lib/register';\nimport { registry } from './lib/registry';",
        "//| task: doubled\nconst doubled = (registry.get('f') ?? ((x: number) => x))(10);",
      ]),
    );
    expect(run(p, NB)).toEqual({ doubled: 'ran' });
    expect(show(p, NB, 'doubled', 'doubled')).toBe(20);
    expect(p.read('generated/loads/doubled.ts')).toContain(
      "import '../../notebooks/lib/register';",
    );
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'register.ts'), 'x * 2', 'x * 3');
    expect(run(p, NB)).toEqual({ doubled: 'ran' });
    expect(show(p, NB, 'doubled', 'doubled')).toBe(30);
  });

  // The same registry filled by a module setup imports for a value no task uses
  // (`import { PLUGINS } from './lib/register'`): the generated tasks imported only what they
  // used, so the module never loaded and the registry stayed empty (10, not 20). Through a
  // module's value directly, through setup's own value, and with the module's types used.
  const registryProject = (setup: string, task: string): Project => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/registry.ts',
      'export const registry = new Map<string, (x: number) => number>();\nexport const lookup = (name: string) => registry.get(name) ?? ((x: number) => x);\n',
    );
    p.write(
      'notebooks/lib/register.ts',
      "import { registry } from './registry';\nexport type Fn = (x: number) => number;\nexport const PLUGINS = ['f'];\nregistry.set('f', (x) => x * 2);\n",
    );
    p.write('notebooks/lib/other.ts', 'export const unrelated = 5;\n');
    p.write(NB, notebookText([setup, task, '//| task: plain\nconst plain = 1 + 2;']));
    return p;
  };
  it.each([
    [
      "a module's value",
      "import { PLUGINS } from './lib/register';\nimport { registry } from './lib/registry';",
      "//| task: doubled\nconst doubled = (registry.get('f') ?? ((x: number) => x))(10);",
      'cached',
    ],
    [
      "setup's own value",
      "import { PLUGINS } from './lib/register';\nimport { lookup } from './lib/registry';\nconst f = lookup('f');",
      '//| task: doubled\nconst doubled = f(10);',
      // Setup has statements, which ran before every cell: every task loads setup.js, and
      // setup's modules with it (as an edit of lib/registry.ts, which setup calls, re-runs all).
      'ran',
    ],
    [
      'a type of the module, a value of another',
      "import { PLUGINS, type Fn } from './lib/register';\nimport { registry } from './lib/registry';",
      "//| task: doubled\nconst doubled = ((registry.get('f') as Fn | undefined) ?? ((x: number) => x))(10);",
      'cached',
    ],
  ])(
    'a local module setup imports for a value no task uses is loaded as in the notebook: %s',
    (_, setup, task, plainAfterEdit) => {
      const p = registryProject(setup, task);
      expect(run(p, NB)).toEqual({ doubled: 'ran', plain: 'ran' });
      expect(show(p, NB, 'doubled', 'doubled')).toBe(20);
      // Its code is in the key of the task that reads the registry; a task reading no module's
      // value is not re-run by its edit (unless it loads setup.js, below).
      editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'register.ts'), 'x * 2', 'x * 3');
      expect(run(p, NB)).toEqual({ doubled: 'ran', plain: plainAfterEdit });
      expect(show(p, NB, 'doubled', 'doubled')).toBe(30);
    },
  );
});

describe('a task cell importing a local module for a value its code never reads', () => {
  it('is loaded by the task as the cell loaded it in the notebook, and its code is in the key', () => {
    // A red team's notebook: `import { PLUGINS } from './lib/plugins'` in the task cell, the
    // module filling the registry the task sums as it loads, was cut from the task module: the
    // pipeline's total was 0 where the notebook's was 3 (and the downstream task's 0, not 6).
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write('notebooks/lib/registry.ts', 'export const REGISTRY = new Map<string, number>();\n');
    p.write(
      'notebooks/lib/plugins.ts',
      "import { REGISTRY } from './registry';\nREGISTRY.set('a', 1);\nREGISTRY.set('b', 2);\nexport const PLUGINS = ['a', 'b'];\n",
    );
    p.write(
      NB,
      notebookText([
        "import { REGISTRY } from './lib/registry';",
        "//| task: total\nimport { PLUGINS } from './lib/plugins';\nconst total = [...REGISTRY.values()].reduce((a, b) => a + b, 0);",
        '//| task: twice\nconst doubled = total * 2;',
      ]),
    );
    expect(run(p, NB)).toEqual({ total: 'ran', twice: 'ran' });
    expect(show(p, NB, 'total', 'total')).toBe(3);
    expect(show(p, NB, 'twice', 'doubled')).toBe(6);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'plugins.ts'), "'b', 2", "'b', 5");
    expect(run(p, NB)).toEqual({ total: 'ran', twice: 'ran' });
    expect(show(p, NB, 'twice', 'doubled')).toBe(12);
  });
});

describe('subpath imports (`#lib/x`, the `imports` field of package.json)', () => {
  it('a mapped one compiles, runs and is keyed by the file; an unmapped one names the imports field, not npm install', () => {
    const p = project();
    p.write(
      'package.json',
      JSON.stringify({
        name: 'acceptance-project',
        private: true,
        type: 'module',
        imports: { '#lib/*': './notebooks/lib/*' },
      }),
    );
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write('notebooks/lib/factor.ts', 'export const factor = 3;\n');
    p.write(
      NB,
      notebookText([
        "import { factor } from '#lib/factor.ts';",
        '//| task: scaled\nconst scaled = factor * 2;',
      ]),
    );
    expect(run(p, NB)).toEqual({ scaled: 'ran' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(6);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'factor.ts'), '3', '4');
    expect(run(p, NB)).toEqual({ scaled: 'ran' });
    expect(show(p, NB, 'scaled', 'scaled')).toBe(8);
    p.write(
      NB,
      notebookText(["import { factor } from '#nope/factor.ts';", '//| task: t\nconst t = factor;']),
    );
    const r = p.cellar('compile', NB);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      "`#nope/factor.ts` is a subpath import, and no entry of the `imports` field of the project's package.json maps it",
    );
    expect(r.stdout + r.stderr).not.toContain('npm install');
  });
});

describe('import.meta in a notebook cell', () => {
  it.each([
    [
      "const req = createRequire(import.meta.url);\nconst cfg = req('./cfg-' + variant + '.json');",
      27,
    ],
    // Variants: a URL built from it, and import.meta.dirname (the one __dirname's hint once named).
    [
      "const cfg = JSON.parse(readFileSync(new URL('./cfg-' + variant + '.json', import.meta.url), 'utf8'));",
      75,
    ],
    [
      "const cfg = JSON.parse(readFileSync(import.meta.dirname + '/cfg-' + variant + '.json', 'utf8'));",
      37,
    ],
  ])(
    'is refused at compile time naming the notebook, cell, line and the fix: %s',
    (code, column) => {
      const p = project();
      p.write('notebooks/cfg-a.json', '{ "rate": 3 }\n');
      p.write(
        NB,
        notebookText([
          "import { createRequire } from 'node:module';\nimport { readFileSync } from 'node:fs';",
          "//| params\nconst variant = 'a';",
          `//| task: creq\n${code}\nconst rate: number = cfg.rate;`,
        ]),
      );
      const r = p.cellar('run', NB);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      const at = `notebooks/loads.ipynb, cell 3 (id c3), line 2, column ${column}: error E_IMPORT_META`;
      expect(r.stderr).toContain(at);
      expect(r.stderr).toContain(
        "tasks run in the notebook's folder: give a relative path as it is",
      );
      expect(r.stdout).not.toContain('start');
    },
  );

  it('the fix the hint gives, a relative path as it is, reads the file next to the notebook', () => {
    const p = project();
    p.write('notebooks/cfg-a.json', '{ "rate": 3 }\n');
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        "//| params\nconst variant = 'a';",
        "//| task: creq\nconst cfg = JSON.parse(readFileSync('./cfg-' + variant + '.json', 'utf8'));\nconst rate: number = cfg.rate;",
      ]),
    );
    expect(run(p, NB)).toEqual({ creq: 'ran' });
    expect(show(p, NB, 'creq', 'rate')).toBe(3);
  });
});

describe('what require() loads through createRequire is keyed by content', () => {
  it('a local JSON required at load by a helper module: an edit keeping size and mtime re-runs with the new value', () => {
    const p = withModules();
    p.write('notebooks/lib/limits.json', '{"max": 40}');
    p.write(
      'notebooks/lib/limits.ts',
      "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const limits: { max: number } = require('./limits.json');\n",
    );
    p.write(
      NB,
      notebookText([
        "import { limits } from './lib/limits';",
        '//| task: capped\nconst capped = [5, 50, 500].map((x) => Math.min(x, limits.max));',
      ]),
    );
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(run(p, NB)).toEqual({ capped: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'limits.json'), '40', '70');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/reads\.notebooks\/lib\/limits\.json: \w+ → \w+/);
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(show(p, NB, 'capped', 'capped')).toEqual([5, 50, 70]);
  });

  it('a local .cjs required at run time, and the JSON it requires itself: an edit of either re-runs its caller only', () => {
    const p = withModules();
    p.write('notebooks/lib/rates.json', '{"base": 2}');
    p.write(
      'notebooks/lib/rates.cjs',
      "const { base } = require('./rates.json');\nmodule.exports = { rate: base * 10 };\n",
    );
    p.write(
      'notebooks/lib/rate.ts',
      "import { createRequire } from 'node:module';\nexport function rate(): number {\n  return createRequire(import.meta.url)('./rates.cjs').rate;\n}\n",
    );
    p.write(
      NB,
      notebookText([
        "import { rate } from './lib/rate';",
        '//| task: priced\nconst priced = 3 * rate();',
        '//| task: plain\nconst plain = 2;',
      ]),
    );
    expect(run(p, NB)).toEqual({ priced: 'ran', plain: 'ran' });
    expect(show(p, NB, 'priced', 'priced')).toBe(60);
    expect(run(p, NB)).toEqual({ priced: 'cached', plain: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'rates.json'), '2', '5');
    expect(run(p, NB)).toEqual({ priced: 'ran', plain: 'cached' });
    expect(show(p, NB, 'priced', 'priced')).toBe(150);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'lib', 'rates.cjs'), '10', '20');
    expect(run(p, NB)).toEqual({ priced: 'ran', plain: 'cached' });
    expect(show(p, NB, 'priced', 'priced')).toBe(300);
  });
});

describe('the same pipeline gets the same keys whatever loads it', () => {
  // A warehouse query (the warehouse's hooks and codec enter the key), a setup helper and a
  // glob import: everything that differed when tsx loaded a second copy of the runtime.
  const cells = [
    "import { sql } from 'cellar';\nconst kind = 'double';",
    '//| task: totals\nconst totals = await sql`SELECT 1 AS n UNION ALL SELECT 2`;',
    '//| task: scaled\nconst { factor } = await import(`./plugins/${kind}.ts`);\nconst scaled = totals.length * factor;',
  ];

  it('run with the default loader, then CELLAR_LOADER=tsx --dry-run: all cached under the same keys', () => {
    const p = withModules();
    p.write(NB, notebookText(cells));
    const ran = keyed(p, []);
    expect(Object.values(ran).map((t) => t.status)).toEqual(['ran', 'ran']);
    const tsx = keyed(p, ['--dry-run'], { CELLAR_LOADER: 'tsx' });
    expect(tsx).toEqual({
      totals: { key: ran.totals!.key, status: 'cached' },
      scaled: { key: ran.scaled!.key, status: 'cached' },
    });
  });

  it('run with CELLAR_LOADER=tsx, then the default loader --dry-run: all cached under the same keys', () => {
    const p = withModules();
    p.write(NB, notebookText(cells));
    const ran = keyed(p, [], { CELLAR_LOADER: 'tsx' });
    expect(Object.values(ran).map((t) => t.status)).toEqual(['ran', 'ran']);
    expect(show(p, NB, 'scaled', 'scaled')).toBe(4);
    const bundled = keyed(p, ['--dry-run']);
    expect(bundled).toEqual({
      totals: { key: ran.totals!.key, status: 'cached' },
      scaled: { key: ran.scaled!.key, status: 'cached' },
    });
  });
});

describe('x.ts and x.js side by side (tsc output beside its source): one file runs whatever loads it', () => {
  // `import … from './lib/dual.js'` with both files: esbuild (the bundle, and the key, which
  // follows esbuild's resolution) and Node (tslab) take dual.js; tsx took dual.ts. Under
  // CELLAR_LOADER=tsx, edits to the dual.ts that ran kept the task cached, and a result of one
  // loader was served to the other under the same key.
  const dualProject = () => {
    const p = withModules();
    p.write('notebooks/lib/dual.ts', "export const which = (): string => 'ts1';\n");
    p.write('notebooks/lib/dual.js', "export const which = () => 'js1';\n");
    p.write(
      NB,
      notebookText([
        "import { which } from './lib/dual.js';",
        '//| task: t\n//| output: r=json\nconst r = which();',
      ]),
    );
    return p;
  };

  it.each([['tsx'], ['the bundle']])(
    'run by %s first: both loaders run dual.js under one key, and an edit of it re-runs under either',
    (first) => {
      const p = dualProject();
      const tsx = { CELLAR_LOADER: 'tsx' };
      const [a, b] = first === 'tsx' ? [tsx, {}] : [{}, tsx];
      const ran = keyed(p, [], a);
      expect(ran.t!.status).toBe('ran');
      expect(show(p, NB, 't', 'r')).toBe('js1');
      // The other loader: the same key, cached, and forced it computes the same value.
      expect(keyed(p, ['--dry-run'], b)).toEqual({ t: { key: ran.t!.key, status: 'cached' } });
      expect(keyed(p, ['--rerun', 't'], b).t!.key).toBe(ran.t!.key);
      expect(show(p, NB, 't', 'r')).toBe('js1');
      p.write('notebooks/lib/dual.js', "export const which = () => 'js2';\n");
      expect(keyed(p, [], a).t!.status).toBe('ran');
      expect(show(p, NB, 't', 'r')).toBe('js2');
    },
  );
});
