// An incremental compile (the on-disk cache of .cellar/compile/, or the warm memory of
// `--watch`) writes exactly the bytes a cold compile writes: the pinning test of the compile
// speed-ups (docs/design/compiler.md, "Performance"), which reuse cell analyses and formatted
// modules and redo on a large stack only the pieces that ran out of it.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAnalyzer, type CellInput } from '../../compiler/analyze/cell.js';
import { compileFile, hostLimits, writeOutcome, type HostOptions } from '../../compiler/host.js';
import { compileNotebook, newMemory } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const base = join(import.meta.dirname, '..', '.tmp', `incremental-${process.pid}`);
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A project folder with one notebook; returns its path and the host options. */
function project(name: string, cells: string[]): { nb: string; opts: HostOptions } {
  const dir = join(base, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "name": "incremental", "type": "module" }\n');
  const nb = join(dir, 'notebooks', 'nb.ipynb');
  writeFileSync(nb, notebookText(cells));
  return { nb, opts: { root: dir, outDir: join(dir, 'generated') } };
}

/** Every file under generated/, by path relative to it. */
function tree(opts: HostOptions): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files[relative(opts.outDir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(opts.outDir);
  return files;
}

async function compileAndWrite(nb: string, opts: HostOptions) {
  const outcome = await compileFile(nb, opts);
  expect(outcome.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  writeOutcome(outcome, opts.outDir);
  return outcome;
}

/** Leaves, a task reading several, a helper, a reassignment, a test: most of what emission does. */
const leaves = (n: number, changed = -1) =>
  Array.from(
    { length: n },
    (_, i) => `//| task: leaf${i}\nconst v_${i} = ${i} + salt${i === changed ? ' * 2' : ''};`,
  );
const before = [
  "import assert from 'node:assert';",
  '//| params\nconst salt = 1;',
  ...leaves(6),
  '//| task: helpers\nconst double = (x: number) => x * 2;\nlet df = [v_0, v_1];',
  '//| task: total\ndf = df.map(double);\nconst total = v_0 + v_1 + v_2 + v_3 + v_4 + v_5 + df.length;',
  '//| test: total\nassert.ok(total > 0);',
];

/** Edits of each kind: a leaf's code, a new upstream, a removed cell, a renamed output. */
const edits: Record<string, string[]> = {
  "a leaf's code": [...before.slice(0, 2), ...leaves(6, 3), ...before.slice(8)],
  'a new upstream of the total': [
    ...before.slice(0, 8),
    '//| task: extra\nconst extra = salt + 10;',
    before[8]!,
    before[9]!.replace('df.length;', 'df.length + extra;'),
    before[10]!,
  ],
  'a removed leaf': [
    ...before.slice(0, 7),
    before[8]!,
    before[9]!.replace(' + v_5', ''),
    before[10]!,
  ],
  'a renamed value read downstream': before.map((c) => c.replaceAll('v_2', 'w_2')),
  'a removed dependency (the leaf stays)': [
    ...before.slice(0, 9),
    before[9]!.replace(' + v_5', ''),
    before[10]!,
  ],
  'a moved cell': [...before.slice(0, 2), before[4]!, before[2]!, before[3]!, ...before.slice(5)],
  'the params': [before[0]!, '//| params\nconst salt = 2;\nconst scale = 3;', ...before.slice(2)],
  "a param's type": [before[0]!, "//| params\nconst salt = 'x';", ...before.slice(2)],
  'a setup import the tasks read': [
    "import assert from 'node:assert';\nimport { join } from 'node:path';",
    before[1]!,
    before[2]!.replace('0 + salt', "join('a', 'b').length + salt"),
    ...before.slice(3),
  ],
  'a setup helper': [
    "import assert from 'node:assert';\nconst bump = (x: number) => x + 1;",
    before[1]!,
    ...before.slice(2, 7),
    before[7]!.replace('5 + salt', 'bump(5) + salt'),
    ...before.slice(8),
  ],
  'a helper that becomes shared (it no longer reads a task value)': before.map((c) =>
    c.replace(
      'const double = (x: number) => x * 2;',
      'function double(x: number) {\n  return x * 2;\n}',
    ),
  ),
  'a type declared in one task and used in another': [
    ...before.slice(0, 8),
    before[8]!.replace(
      'let df = [v_0, v_1];',
      'interface Row {\n  n: number;\n}\nlet df = [v_0, v_1];\nconst rows: Row[] = df.map((n) => ({ n }));',
    ),
    before[9]!.replace('df.length;', 'df.length + rows.length;'),
    before[10]!,
  ],
  "a task's directive options": before.map((c) =>
    c.replace('//| task: leaf4', '//| task: leaf4\n//| rerun'),
  ),
  'a reassignment removed': [
    ...before.slice(0, 9),
    before[9]!
      .replace('df = df.map(double);\n', 'const dd = df.map(double);\n')
      .replace('df.length', 'dd.length'),
    before[10]!,
  ],
};

/** A notebook with prose: the markdown above a task is its TSDoc. */
const withProse = [...before.slice(0, 9), 'md: The total of every leaf.', ...before.slice(9)];
/** Edits that start from `withProse`. */
const proseEdits: Record<string, string[]> = {
  'the markdown above a task': withProse.map((c) =>
    c.startsWith('md:') ? 'md: The sum of every leaf, and the helper rows.' : c,
  ),
  'a markdown cell removed': before,
};

describe('incremental compile', () => {
  const cases = [
    ...Object.entries(edits).map(([what, after]) => [what, before, after] as const),
    ...Object.entries(proseEdits).map(([what, after]) => [what, withProse, after] as const),
  ];
  for (const [what, start, after] of cases) {
    it(`after changing ${what}, writes the bytes a cold compile writes`, async () => {
      const warm = project('warm', start);
      await compileAndWrite(warm.nb, warm.opts);
      writeFileSync(warm.nb, notebookText(after));
      const second = await compileAndWrite(warm.nb, warm.opts);
      expect(second.cached).toBe(false);

      const cold = project('cold', after);
      await compileAndWrite(cold.nb, { ...cold.opts, noCache: true });
      expect(tree(warm.opts)).toEqual(tree(cold.opts));
    });
  }

  it("re-analyses only the changed cell, in a fresh process's cache and in --watch's memory", async () => {
    const disk = project('disk', before);
    expect((await compileAndWrite(disk.nb, disk.opts)).stats?.analyzed).toBe(before.length);
    writeFileSync(disk.nb, notebookText(edits["a leaf's code"]!));
    const changed = await compileAndWrite(disk.nb, disk.opts);
    expect(changed.stats?.analyzed).toBe(1);
    // Only the changed leaf's module is emitted again; the others come back as written.
    expect(changed.stats?.emitted).toBe(1);

    const memory = newMemory();
    const watch = project('watch', before);
    await compileAndWrite(watch.nb, { ...watch.opts, memory });
    writeFileSync(watch.nb, notebookText(edits["a leaf's code"]!));
    const again = await compileAndWrite(watch.nb, { ...watch.opts, memory });
    expect(again.stats?.analyzed).toBe(1);
    expect(again.stats?.emitted).toBe(1);
    expect(tree(watch.opts)).toEqual(tree(disk.opts));
  });

  it('does not reuse a task module emitted for another output folder (its relative imports differ)', async () => {
    // One --watch memory, two output folders at different depths: the task's import of a file
    // beside the notebook is written relative to each folder.
    const cells = [
      ...before.slice(0, 2),
      "//| task: local\nimport { offset } from './lib/offset.js';\nconst shifted = salt + offset;",
      ...before.slice(2),
    ];
    const memory = newMemory();
    const warm = project('outdirs', cells);
    mkdirSync(join(warm.opts.root, 'notebooks', 'lib'), { recursive: true });
    writeFileSync(
      join(warm.opts.root, 'notebooks', 'lib', 'offset.ts'),
      'export const offset = 1;\n',
    );
    await compileAndWrite(warm.nb, { ...warm.opts, memory });
    const deeper = { ...warm.opts, outDir: join(warm.opts.root, 'build', 'gen'), memory };
    await compileAndWrite(warm.nb, deeper);
    const cold = await compileFile(warm.nb, { ...deeper, memory: undefined, noCache: true });
    const local = (files: { path: string; contents: string }[]) =>
      files.find((f) => f.path === 'nb/local.ts')!.contents;
    expect(local(cold.files)).toContain("from '../../../notebooks/lib/offset.js'");
    expect(tree(deeper)).toEqual(Object.fromEntries(cold.files.map((f) => [f.path, f.contents])));
  });

  it('writes nothing when the notebook has not changed, whether the cache answers or compiles', async () => {
    const { nb, opts } = project('unchanged', before);
    await compileAndWrite(nb, opts);
    const again = await compileFile(nb, opts);
    expect(again.cached).toBe(true);
    expect(writeOutcome(again, opts.outDir)).toEqual({ written: [], removed: [] });
    // Another compiler fingerprint would miss the full hit; so does a changed fixture list.
    // Here: the same bytes re-saved (a new mtime), and the cache record of files gone stale.
    const record = join(opts.root, '.cellar', 'compile', 'notebooks_nb.ipynb.json');
    const parsed = JSON.parse(readFileSync(record, 'utf8')) as { notebookHash: string };
    writeFileSync(record, JSON.stringify({ ...parsed, notebookHash: 'other' }));
    const recompiled = await compileFile(nb, opts);
    expect(recompiled.cached).toBe(false);
    expect(recompiled.stats?.analyzed).toBe(0);
    expect(recompiled.stats?.formatted).toBe(0); // every module read back from generated/
    expect(writeOutcome(recompiled, opts.outDir)).toEqual({ written: [], removed: [] });
  });

  it('misses the cache when a local module changes: E_MODULE_STATE depends on its text', async () => {
    const { nb, opts } = project('module-state', [
      "import { next } from './lib/counter.js';",
      '//| task: t1\nconst c1 = next();',
      '//| task: t2\nconst c2 = next();',
    ]);
    const lib = join(opts.root, 'notebooks', 'lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(
      join(lib, 'counter.ts'),
      'let n = 0;\nexport function next(): number { return n + 1; }\n',
    );
    await compileAndWrite(nb, opts);
    expect((await compileFile(nb, opts)).cached).toBe(true);
    // The same notebook bytes, but `next` now changes the module's `n`: not the recorded verdict.
    writeFileSync(
      join(lib, 'counter.ts'),
      'let n = 0;\nexport function next(): number { n += 1; return n; }\n',
    );
    const stateful = await compileFile(nb, opts);
    expect(stateful.cached).toBe(false);
    expect(stateful.diagnostics.map((d) => [d.code, d.cell, d.line])).toEqual([
      ['E_MODULE_STATE', 2, 2],
      ['E_MODULE_STATE', 3, 2],
    ]);
    expect(stateful.diagnostics[0]!.message).toContain('notebooks/lib/counter.ts (line 2)');
  });

  it("misses the cache under another Node: a compile's verdict depends on its built-in modules", async () => {
    const { nb, opts } = project('node', before);
    await compileAndWrite(nb, opts);
    const record = join(opts.root, '.cellar', 'compile', 'notebooks_nb.ipynb.json');
    const parsed = JSON.parse(readFileSync(record, 'utf8')) as { fingerprint: string };
    expect(parsed.fingerprint.endsWith(`:node${process.versions.node}`)).toBe(true);
    expect((await compileFile(nb, opts)).cached).toBe(true);
    const other = parsed.fingerprint.replace(/:node[\d.]+$/, ':node18.0.0');
    writeFileSync(record, JSON.stringify({ ...parsed, fingerprint: other }));
    expect((await compileFile(nb, opts)).cached).toBe(false);
  });

  it("reads a local module's clock from the disk, and is no full hit once that module changed", async () => {
    const { nb, opts } = project('clock', [
      "import { today } from './lib/time.js';",
      '//| task: daily\nconst day = today();',
    ]);
    const lib = join(opts.root, 'notebooks', 'lib');
    mkdirSync(lib);
    writeFileSync(join(lib, 'time.ts'), 'export const today = () => new Date().toISOString();\n');
    const clock = (o: { diagnostics: { code: string; message: string }[] }) =>
      o.diagnostics.filter((d) => d.code === 'W_TASK_READS_CLOCK').map((d) => d.message);
    const first = await compileAndWrite(nb, opts);
    expect(clock(first)).toHaveLength(1);
    expect(clock(first)[0]).toContain('`new Date()` at notebooks/lib/time.ts, line 1');
    expect((await compileFile(nb, opts)).cached).toBe(true);
    writeFileSync(join(lib, 'time.ts'), "export const today = () => '2026-01-31';\n");
    const fixed = await compileAndWrite(nb, opts);
    expect(fixed.cached).toBe(false);
    expect(clock(fixed)).toEqual([]);
    expect((await compileFile(nb, opts)).cached).toBe(true);
  });

  it('compiles again after a compile that failed inside (E_INTERNAL), rather than repeat it', async () => {
    const { nb, opts } = project('internal', before);
    await compileAndWrite(nb, opts);
    const record = join(opts.root, '.cellar', 'compile', 'notebooks_nb.ipynb.json');
    const parsed = JSON.parse(readFileSync(record, 'utf8')) as { diagnostics: unknown[] };
    const failed = { severity: 'error', code: 'E_INTERNAL', notebook: 'notebooks/nb.ipynb' };
    writeFileSync(record, JSON.stringify({ ...parsed, diagnostics: [failed] }));
    const again = await compileFile(nb, opts);
    expect(again.cached).toBe(false);
    expect(again.diagnostics).toEqual([]);
    expect((await compileFile(nb, opts)).cached).toBe(true);
  });

  it('does not trust a generated module edited by hand: it is formatted again and rewritten', async () => {
    const { nb, opts } = project('tampered', before);
    await compileAndWrite(nb, opts);
    const cold = tree(opts);
    const leaf = join(opts.outDir, 'nb', 'leaf1.ts');
    writeFileSync(leaf, readFileSync(leaf, 'utf8').replace('1 + salt', '100 + salt'));
    writeFileSync(nb, notebookText(edits["a leaf's code"]!));
    const second = await compileAndWrite(nb, opts);
    expect(second.stats?.formatted).toBeGreaterThanOrEqual(2); // leaf3 (edited) and leaf1
    writeFileSync(nb, notebookText(before));
    await compileAndWrite(nb, opts);
    expect(tree(opts)).toEqual(cold);
  });

  it('reuses the large-stack results of a deep cell, and writes what a cold compile writes', async () => {
    // 900 nested parentheses exhaust the default stack in TypeScript's parser: the cell is
    // analysed on the large-stack thread once, then found in the cache while another cell changes.
    const deep = '//| task: deep\nconst p = ' + '('.repeat(900) + 'salt' + ')'.repeat(900) + ';';
    const cells = [...before.slice(0, 10), deep];
    const changed = [...edits["a leaf's code"]!.slice(0, 10), deep];
    const warm = project('deep-warm', cells);
    const first = await compileAndWrite(warm.nb, warm.opts);
    expect(first.files.some((f) => f.path === 'nb/deep.ts')).toBe(true);
    writeFileSync(warm.nb, notebookText(changed));
    expect((await compileAndWrite(warm.nb, warm.opts)).stats?.analyzed).toBe(1);

    const cold = project('deep-cold', changed);
    await compileAndWrite(cold.nb, { ...cold.opts, noCache: true });
    expect(tree(warm.opts)).toEqual(tree(cold.opts));
  }, 600_000);
});

// A big notebook (host.ts `hostLimits.helperChars`) is compiled with a helper thread that loads
// TypeScript while this one reads the cache, analyses the changed cells, reads back part of the
// recorded modules and formats the changed ones; and, cold, analyses half the cells. Taken here
// with the small notebook above, the limit set to 0: the bytes are the same thread's bytes.
describe("a big notebook's compile, with the helper thread", () => {
  const limit = hostLimits.helperChars;
  beforeEach(() => {
    hostLimits.helperChars = 0;
  });
  afterEach(() => {
    hostLimits.helperChars = limit;
  });
  const coldTree = async (cells: string[]) => {
    hostLimits.helperChars = limit;
    const cold = project('helper-cold', cells);
    await compileAndWrite(cold.nb, { ...cold.opts, noCache: true });
    hostLimits.helperChars = 0;
    return tree(cold.opts);
  };

  for (const what of ["a leaf's code", 'a removed leaf', 'the params']) {
    it(`after changing ${what}, writes the bytes a one-thread cold compile writes`, async () => {
      const warm = project('helper-warm', before);
      const first = await compileAndWrite(warm.nb, warm.opts);
      expect(tree(warm.opts)).toEqual(await coldTree(before));
      expect(first.stats?.analyzed).toBe(before.length);
      writeFileSync(warm.nb, notebookText(edits[what]!));
      const second = await compileAndWrite(warm.nb, warm.opts);
      expect(second.cached).toBe(false);
      expect(tree(warm.opts)).toEqual(await coldTree(edits[what]!));
      if (what === "a leaf's code") {
        // The changed cell analysed (there), its module emitted and formatted (there), the
        // others read back as recorded and not written.
        expect(second.stats?.analyzed).toBe(1);
        expect(second.stats?.emitted).toBe(1);
        expect(second.stats?.formatted).toBe(1);
        expect(second.onDisk?.paths.size).toBe(second.files.length - 1);
      }
    }, 60_000);
  }

  it('rewrites a module edited by hand, and a full hit gives the plan the compile made', async () => {
    const { nb, opts } = project('helper-tampered', before);
    const first = await compileAndWrite(nb, opts);
    const hit = await compileFile(nb, opts);
    expect(hit.cached).toBe(true);
    expect(hit.plan).toEqual(first.plan);
    const cold = tree(opts);
    const leaf = join(opts.outDir, 'nb', 'leaf1.ts');
    writeFileSync(leaf, readFileSync(leaf, 'utf8').replace('1 + salt', '100 + salt'));
    writeFileSync(nb, notebookText(edits["a leaf's code"]!));
    const second = await compileAndWrite(nb, opts);
    expect(second.stats?.formatted).toBe(2); // leaf3 (changed) and leaf1 (edited by hand)
    writeFileSync(nb, notebookText(before));
    await compileAndWrite(nb, opts);
    expect(tree(opts)).toEqual(cold);
  }, 60_000);

  it('is no full hit when the plan beside the cache record is not the one it names', async () => {
    const { nb, opts } = project('helper-plan', before);
    const first = await compileAndWrite(nb, opts);
    const planFile = join(opts.root, '.cellar', 'compile', 'notebooks_nb.ipynb.plan.json');
    const plan = readFileSync(planFile, 'utf8');
    expect(JSON.parse(plan)).toEqual(first.plan);
    writeFileSync(planFile, plan.replace('"leaf1"', '"leafX"'));
    const again = await compileAndWrite(nb, opts);
    expect(again.cached).toBe(false);
    expect(again.plan).toEqual(first.plan);
    expect(readFileSync(planFile, 'utf8')).toBe(plan); // written back
    rmSync(planFile);
    expect((await compileFile(nb, opts)).cached).toBe(false);
    expect((await compileFile(nb, opts)).cached).toBe(true);
  }, 60_000);
});

describe('cell analyses split between two threads', () => {
  it('by whole programs of 500 cells, giving the compile one thread gives', async () => {
    const cells = [
      "import assert from 'node:assert';",
      '//| params\nconst salt = 1;',
      '//| task: shared\nconst double = (x: number) => x * 2;',
      ...leaves(1_000).map((c, i) => (i % 7 ? c : `${c}\nconst d_${i} = double(v_${i});`)),
      `//| task: total\nconst total = ${Array.from({ length: 1_000 }, (_, i) => `v_${i}`).join(' + ')};`,
    ];
    const text = notebookText(cells);
    const options = { workdir: '../../notebooks', format: false } as const;
    const alone = await compileNotebook('notebooks/nb.ipynb', text, options);
    const asked: CellInput[][] = [];
    const split = await compileNotebook('notebooks/nb.ipynb', text, {
      ...options,
      analyzeElsewhere: async (inputs) => {
        asked.push(inputs);
        return (await loadAnalyzer()).analyzeCells(inputs);
      },
    });
    expect(alone.diagnostics).toEqual([]);
    // 1,004 cells to analyse: the first 500 here, the rest there.
    expect(asked.map((a) => [a.length, a[0]!.index])).toEqual([[504, 500]]);
    expect(split.diagnostics).toEqual(alone.diagnostics);
    expect(split.files).toEqual(alone.files);
    expect(split.plan).toEqual(alone.plan);
  }, 60_000);
});
