// The names the compiler invents for generated files and identifiers never take a name the
// notebook or another task already holds: a setup value named like a task's const (`loadTask`),
// tasks whose names differ only in `-`, `_`, `.`, a task whose file is one the compiler writes
// itself (`pipeline.test`). And a failed write leaves no temp file behind, which `--check` would
// not have seen.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  WriteError,
  checkOutcome,
  compileFile,
  writeAtomic,
  writeOutcome,
  type NotebookOutcome,
} from '../../compiler/host.js';
import { compileNotebook, newMemory } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const NB = 'notebooks/names.ipynb';
const compile = (cells: string[]) =>
  compileNotebook(NB, notebookText(cells), { workdir: '../../notebooks', format: false });
const errorsOf = async (cells: string[]) =>
  (await compile(cells)).diagnostics.filter((d) => d.severity === 'error');

/** The compile's files by name in generated/names/, which must compile without errors. */
async function filesOf(cells: string[]): Promise<Record<string, string>> {
  const r = await compile(cells);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return Object.fromEntries(r.files.map((f) => [f.path.replace(/^names\//, ''), f.contents]));
}

/** The names a module imports from `from` (`a as b` as `b`) and the consts it exports. */
const importedFrom = (text: string, from: string) =>
  [...text.matchAll(new RegExp(`import \\{ ([^}]*) \\} from '${from.replace(/\./g, '\\.')}'`, 'g'))]
    .flatMap((m) => m[1]!.split(',').map((n) => n.trim().split(' as ').pop()!))
    .filter(Boolean);
const exportedConsts = (text: string) =>
  [...text.matchAll(/^export const (\w+)/gm)].map((m) => m[1]!);

describe("a task's const never takes a name user code holds", () => {
  const cells = [
    'const loadTask = 5;\nfunction run() { return 7; }',
    '//| task: load\nconst a = loadTask + run();',
    '//| task: next\nconst b = a + 1;',
  ];

  it('a setup value named `loadTask` keeps its name; the task const is renamed, everywhere', async () => {
    const files = await filesOf(cells);
    expect(importedFrom(files['load.ts']!, './setup.js')).toEqual(['loadTask', 'run']);
    expect(exportedConsts(files['load.ts']!)).toEqual(['loadTask_2']);
    expect(files['load.ts']).toContain('const a = loadTask + run();');
    expect(importedFrom(files['next.ts']!, './load.js')).toEqual(['loadTask_2']);
    expect(files['next.ts']).toContain('inputs: { a: output(loadTask_2, "a") }');
    expect(importedFrom(files['pipeline.ts']!, './load.js')).toEqual(['loadTask_2']);
    expect(files['pipeline.ts']).toContain('tasks: [loadTask_2, nextTask]');
  });

  it('nor an import, a shared helper or a type a module may import at its top level', async () => {
    const files = await filesOf([
      "import { join as nextTask } from 'node:path';\ntype loadTask = { n: number };",
      '//| task: load\nconst a: loadTask = { n: nextTask("x").length };',
      '//| task: next\nconst b = a.n + 1;',
    ]);
    expect(exportedConsts(files['load.ts']!)).toEqual(['loadTask_2']);
    expect(exportedConsts(files['next.ts']!)).toEqual(['nextTask_2']);
    expect(files['pipeline.ts']).toContain('tasks: [loadTask_2, nextTask_2]');
  });

  it('a task named `define` does not export `defineTask` beside the import of it', async () => {
    const files = await filesOf(['//| task: define\nconst a = 1;']);
    expect(importedFrom(files['define.ts']!, 'cellar')).toEqual(['defineTask']);
    expect(exportedConsts(files['define.ts']!)).toEqual(['defineTask_2']);
  });

  it("an input's type does not name a cell's own value (parameter types see the body)", async () => {
    const files = await filesOf([
      '//| task: load\nconst a = 1;',
      '//| task: next\nconst loadTask = "shadow";\nconst TaskOutputs = 0;\nconst b = a + TaskOutputs;',
    ]);
    expect(files['next.ts']).toContain("a: TaskOutputs_2<typeof loadTask_2>['a']");
    expect(importedFrom(files['next.ts']!, './load.js')).toEqual(['loadTask_2']);
    // Module level needs no rename: the import of `load` keeps its exported name there.
    expect(files['next.ts']).toContain("import { loadTask as loadTask_2 } from './load.js';");
  });
});

describe('tasks whose names share a camel-case form get one const each', () => {
  const cells = [
    '//| task: x-y\nconst a = 1;',
    '//| task: x_y\nconst b = 2;',
    '//| task: x.y\nconst c = 3;',
    '//| task: sum\nconst total = a + b + c;',
  ];

  it('pipeline.ts imports and lists every task once, under its own name', async () => {
    const files = await filesOf(cells);
    const pipeline = files['pipeline.ts']!;
    expect(['x-y', 'x.y', 'x_y'].map((t) => importedFrom(pipeline, `./${t}.js`))).toEqual([
      ['xYTask'],
      ['xYTask_2'],
      ['xYTask_3'],
    ]);
    expect(pipeline).toContain('tasks: [xYTask, xYTask_3, xYTask_2, sumTask]');
    expect(files['sum.ts']).toContain('inputs: { a: output(xYTask, ');
    expect(files['sum.ts']).toContain('b: output(xYTask_3, ');
    expect(files['sum.ts']).toContain('c: output(xYTask_2, ');
    expect(exportedConsts(files['x.y.ts']!)).toEqual(['xYTask_2']);
  });

  it('the suffixes go by task name, not by where the cells are', async () => {
    const moved = await filesOf([cells[2]!, cells[0]!, cells[1]!, cells[3]!]);
    const files = await filesOf(cells);
    for (const f of ['x-y.ts', 'x_y.ts', 'x.y.ts'])
      expect(exportedConsts(moved[f]!)).toEqual(exportedConsts(files[f]!));
  });

  it('`load-data` and `loadData` too, and each compile gives the same bytes', async () => {
    const two = ['//| task: loadData\nconst a = 1;', '//| task: load-data\nconst b = a + 1;'];
    const files = await filesOf(two);
    expect(exportedConsts(files['load-data.ts']!)).toEqual(['loadDataTask']);
    expect(exportedConsts(files['loadData.ts']!)).toEqual(['loadDataTask_2']);
    expect(await filesOf(two)).toEqual(files);
  });

  it('a task module reused from an earlier compile follows a const renamed since', async () => {
    const base = mkdtempSync(join(tmpdir(), 'cellar-names-'));
    try {
      const write = (name: string, cells: string[]) => {
        const dir = join(base, name);
        mkdirSync(join(dir, 'notebooks'), { recursive: true });
        writeFileSync(join(dir, 'package.json'), '{ "name": "n", "type": "module" }\n');
        writeFileSync(join(dir, 'notebooks', 'nb.ipynb'), notebookText(cells));
        return {
          nb: join(dir, 'notebooks', 'nb.ipynb'),
          opts: { root: dir, outDir: join(dir, 'generated') },
        };
      };
      const tree = (outDir: string) =>
        Object.fromEntries(
          readdirSync(join(outDir, 'nb'))
            .sort()
            .map((f) => [f, readFileSync(join(outDir, 'nb', f), 'utf8')]),
        );
      const compileWrite = async (p: ReturnType<typeof write>, extra = {}) => {
        const outcome = await compileFile(p.nb, { ...p.opts, ...extra });
        expect(outcome.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
        writeOutcome(outcome, p.opts.outDir);
      };
      const before = ['//| task: x.y\nconst c = 3;', '//| task: sum\nconst total = c + 1;'];
      // `x-y` sorts before `x.y`, so `x.y`'s const becomes xYTask_2 (and `sum`'s import with it),
      // though no value of the plan changed: the new task declares none, and comes last.
      const after = [...before, '//| task: x-y\nconsole.log(1);'];
      const memory = newMemory();
      const warm = write('warm', before);
      await compileWrite(warm, { memory });
      writeFileSync(warm.nb, notebookText(after));
      await compileWrite(warm, { memory });
      const cold = write('cold', after);
      await compileWrite(cold, { noCache: true });
      expect(tree(warm.opts.outDir)).toEqual(tree(cold.opts.outDir));
      expect(exportedConsts(tree(warm.opts.outDir)['x.y.ts']!)).toEqual(['xYTask_2']);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('a task whose file is one the compiler writes is E_TASK_FILE_NAME, not a crash', () => {
  for (const [task, file] of [
    ['pipeline.test', 'pipeline.test.ts'],
    ['Pipeline.Test', 'pipeline.test.ts'],
    ['Shared', 'shared.ts'],
  ] as const) {
    it(`\`${task}\` names the notebook, the cell and the line, and the file`, async () => {
      const errors = await errorsOf([
        '//| task: first\nconst a = 1;',
        `// the graph\n//| task: ${task}\nconst b = a + 1;`,
      ]);
      expect(errors).toMatchObject([
        { code: 'E_TASK_FILE_NAME', notebook: NB, cell: 2, cellId: 'c2', line: 2 },
      ]);
      expect(errors[0]!.message).toContain(`the pipeline's own \`${file}\``);
    });
  }

  it('`setup`, `shared` and `pipeline` themselves still compile, to `<name>_task.ts`', async () => {
    const files = await filesOf([
      '//| task: setup\nconst a = 1;',
      '//| task: shared\nconst b = a;',
      '//| task: pipeline\nconst c = b;',
    ]);
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining(['setup_task.ts', 'shared_task.ts', 'pipeline_task.ts']),
    );
  });

  it("a task whose file is another task's replay test (`a.replay.test`) names both cells", async () => {
    const errors = await errorsOf([
      '//| task: a\nconst a = 1;',
      '//| task: a.replay.test\nconst b = a + 1;',
    ]);
    expect(errors).toMatchObject([{ code: 'E_TASK_FILE_NAME', cell: 2, line: 1 }]);
    expect(errors[0]!.message).toContain('task `a` (cell 1)');
  });
});

describe('a failed write leaves no temp file, and --check sees one left before', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const outDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'cellar-names-write-'));
    dirs.push(d);
    return d;
  };
  const outcome = (files: { path: string; contents: string }[]): NotebookOutcome => ({
    notebook: NB,
    stem: 'nb',
    diagnostics: [],
    cached: false,
    notebookHash: '',
    fixtures: [],
    files,
  });
  const HEAD = '// Generated by `cellar compile` from notebooks/names.ipynb.\n';
  /** A pid no process holds now: a shell that has exited. */
  const deadPid = () => Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout);

  it('two files of one path: a WriteError naming it, before anything is written', () => {
    const out = outDir();
    const o = outcome([
      { path: 'nb/a.ts', contents: `${HEAD}export {};\n` },
      { path: 'nb/pipeline.test.ts', contents: `${HEAD}// the task\n` },
      { path: 'nb/pipeline.test.ts', contents: `${HEAD}// the graph test\n` },
      { path: 'nb/pipeline.ts', contents: `${HEAD}import './a.js';\n` },
    ]);
    expect(() => writeOutcome(o, out)).toThrow(WriteError);
    expect(() => writeOutcome(o, out)).toThrow(/pipeline\.test\.ts \(two generated files/);
    expect(existsSync(join(out, 'nb'))).toBe(false);
  });

  it('a rename refused midway (a folder where the file goes): the rest is not written, no temp file stays', () => {
    const out = outDir();
    mkdirSync(join(out, 'nb', 'b.ts'), { recursive: true });
    const o = outcome([
      { path: 'nb/a.ts', contents: `${HEAD}export {};\n` },
      { path: 'nb/b.ts', contents: `${HEAD}export {};\n` },
      { path: 'nb/c.ts', contents: `${HEAD}export {};\n` },
      { path: 'nb/pipeline.ts', contents: `${HEAD}import './a.js';\n` },
    ]);
    let error: unknown;
    try {
      writeOutcome(o, out);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WriteError);
    expect((error as WriteError).message).toMatch(
      /could not write .*nb\/b\.ts .*1 other file was written before it/,
    );
    expect(readdirSync(join(out, 'nb')).sort()).toEqual(['a.ts', 'b.ts']);
    expect(existsSync(join(out, 'nb', 'pipeline.ts'))).toBe(false);
  });

  it('writeAtomic removes its temp file when the rename fails', () => {
    const out = outDir();
    mkdirSync(join(out, 'target.json'));
    expect(() => writeAtomic(join(out, 'target.json'), '{}')).toThrow();
    expect(readdirSync(out)).toEqual(['target.json']);
  });

  it('--check reports a temp file a crashed compile left; compiling removes it', () => {
    const out = outDir();
    const o = outcome([
      { path: 'nb/a.ts', contents: `${HEAD}export {};\n` },
      { path: 'nb/pipeline.ts', contents: `${HEAD}import './a.js';\n` },
    ]);
    writeOutcome(o, out);
    expect(checkOutcome(o, out)).toEqual([]);
    const stray = `pipeline.ts.${deadPid()}.tmp`;
    writeFileSync(join(out, 'nb', stray), 'half a module');
    // Someone's write under way (this process's parent is running) is no stray.
    const live = `a.ts.${process.ppid}.tmp`;
    writeFileSync(join(out, 'nb', live), 'being written');
    expect(checkOutcome(o, out)).toEqual([`stray nb/${stray}`]);
    expect(writeOutcome(o, out).removed).toEqual([`nb/${stray}`]);
    expect(readdirSync(join(out, 'nb')).sort()).toEqual(['a.ts', live, 'pipeline.ts']);
    expect(checkOutcome(o, out)).toEqual([]);
  });
});
