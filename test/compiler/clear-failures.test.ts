// Issue 9, compile side: malformed input is a coded diagnostic naming the notebook, the cell and
// the line, never a silently dropped task, a raw JavaScript error or half a pipeline. One test per
// behaviour; the wording users read is in test/compiler/fixtures/errors/*/expected (golden.test.ts).
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { WriteError, writeOutcome, type NotebookOutcome } from '../../compiler/host.js';
import { HEADER } from '../../compiler/emit/module.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const NB = 'notebooks/bad.ipynb';
const compile = (text: string) =>
  compileNotebook(NB, text, { workdir: '../../notebooks', format: false });
const compileCells = (cells: string[]) => compile(notebookText(cells));
const errorsOf = async (cells: string[] | string) =>
  (await (typeof cells === 'string' ? compile(cells) : compileCells(cells))).diagnostics.filter(
    (d) => d.severity === 'error',
  );

describe('directives anywhere in the leading comment block are read (9.5)', () => {
  it('a directive below an ordinary comment line starts its task (bug16)', async () => {
    const r = await compileCells([
      '//| task: load\nconst xs = [1];',
      '// Step 2: summarise\n//| task: summary\n//| version: 2\nconst n = xs.length;',
    ]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.plan!.tasks.map((t) => [t.name, t.version])).toEqual([
      ['load', 0],
      ['summary', 2],
    ]);
  });

  it('blank lines and several comments before and between directives are part of the block', async () => {
    const r = await compileCells([
      '\n// loads the data\n\n//| task: load\n// (from disk)\n//| rerun\nconst xs = [1];',
    ]);
    expect(r.plan!.tasks).toMatchObject([{ name: 'load', rerun: true }]);
  });

  for (const [line, fix] of [
    ['// | task: x', '//| task: x'],
    ['//  |  task: x', '//| task: x'],
    ['//|task x', '//| task: x'],
    ['//| version 2', '//| version: 2'],
  ] as const) {
    it(`\`${line}\` is an error with the right spelling, not an ordinary comment`, async () => {
      const errors = await errorsOf([
        '//| task: a\nconst a = 1;',
        `// note\n${line}\nconst b = 1;`,
      ]);
      expect(errors).toMatchObject([
        {
          code: 'E_DIRECTIVE_SYNTAX',
          notebook: NB,
          cell: 2,
          cellId: 'c2',
          line: 2,
          hint: `write \`${fix}\``,
        },
      ]);
    });
  }

  it('`// |` alone and `//|` alone are errors naming the cell and line', async () => {
    const errors = await errorsOf([
      '//| task: a\nconst a = 1;',
      '// |\nconst b = 1;',
      '//|\nconst c = 1;',
    ]);
    expect(errors.map((d) => [d.code, d.cell, d.line])).toEqual([
      ['E_DIRECTIVE_SYNTAX', 2, 1],
      ['E_DIRECTIVE_SYNTAX', 3, 1],
    ]);
  });

  it('a directive below the first line of code is an error, not ignored', async () => {
    const errors = await errorsOf(['//| task: a\nconst a = 1;', 'const b = 1;\n//| task: b']);
    expect(errors).toMatchObject([{ code: 'E_DIRECTIVE_SYNTAX', cell: 2, line: 2 }]);
    expect(errors[0]!.hint).toContain('move `//| task: b` up');
  });

  it('an unknown directive after a comment is still reported with "did you mean"', async () => {
    const errors = await errorsOf(['// about\n//| tsk: a\nconst a = 1;']);
    expect(errors).toMatchObject([
      { code: 'E_UNKNOWN_DIRECTIVE', cell: 1, line: 2, hint: 'did you mean `task`?' },
    ]);
  });

  it('ordinary comments, a markdown-table comment and `//|` inside code are left alone', async () => {
    const r = await compileCells([
      '//| task: a\n// | col | col |\nconst a = `\n//| not a directive: inside a string`;',
    ]);
    // The table comment has the shape of no directive; the string line is below code, so it is reported.
    expect(
      r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.line]),
    ).toEqual([['E_DIRECTIVE_SYNTAX', 4]]);
  });
});

describe('malformed notebooks and cells are coded errors at compile time (9.6)', () => {
  const raw = (cells: unknown[]) =>
    JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
  const task = { cell_type: 'code', id: 'ok', metadata: {}, source: '//| task: ok\nconst ok = 1;' };

  for (const [what, source] of [
    ['null', null],
    ['missing', undefined],
    ['a number', 42],
    ['an object', { a: 1 }],
    ['a list holding null', ['x', null]],
  ] as const) {
    it(`a code cell whose source is ${what} is an error naming the cell, not a vanished task`, async () => {
      const cell: Record<string, unknown> = { cell_type: 'code', id: 'bad', metadata: {} };
      if (source !== undefined) cell.source = source;
      const r = await compile(raw([task, cell]));
      expect(r.diagnostics).toMatchObject([
        { code: 'E_NOTEBOOK_FORMAT', severity: 'error', notebook: NB, cell: 2, cellId: 'bad' },
      ]);
      expect(formatDiagnostic(r.diagnostics[0]!)).toContain(`${NB}, cell 2 (id bad)`);
      expect(r.files).toEqual([]);
    });
  }

  it('a markdown cell with no source reads as empty prose (harmless)', async () => {
    const r = await compile(raw([{ cell_type: 'markdown', metadata: {} }, task]));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('a cell of unknown type is an error naming it', async () => {
    const r = await compile(raw([task, { cell_type: 'sql', id: 'q', source: 'select 1' }]));
    expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_FORMAT', cell: 2, cellId: 'q' }]);
    expect(r.diagnostics[0]!.message).toContain('"sql"');
  });

  for (const [what, json, says] of [
    ['no "cells"', { nbformat: 4, metadata: {} }, 'no "cells" list'],
    ['"cells" that is not a list', { nbformat: 4, cells: { a: 1 } }, '"cells" is an object'],
    ['a top-level array', [1, 2], 'an array'],
    ['a top-level null', null, 'null'],
  ] as const) {
    it(`a file with ${what} is E_NOTEBOOK_FORMAT saying so`, async () => {
      const r = await compile(JSON.stringify(json));
      expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_FORMAT', notebook: NB }]);
      expect(r.diagnostics[0]!.message).toContain(says);
    });
  }

  it('two different `//| task:` lines in one cell are a conflict, not "the last wins"', async () => {
    const errors = await errorsOf(['//| task: load\n//| task: other\nconst xs = [1];']);
    expect(errors).toMatchObject([{ code: 'E_DIRECTIVE_CONFLICT', cell: 1, line: 2 }]);
    expect(errors[0]!.message).toContain('//| task: load on line 1');
  });

  it('a tag and a line saying the same thing are not a conflict; saying different versions is', async () => {
    expect(await errorsOf(['//| task: a\n//| task: a\nconst a = 1;'])).toEqual([]);
    expect(
      await errorsOf(['//| task: a\n//| version: 1\n//| version: 2\nconst a = 1;']),
    ).toMatchObject([{ code: 'E_DIRECTIVE_CONFLICT', line: 3 }]);
  });

  for (const check of [
    'rows >= abc',
    'rows >= 1.5',
    'columns id:float',
    'not_null a b',
    'partition ds = today',
    'row >= 3',
  ]) {
    it(`\`//| check: ${check}\` is refused at compile time, on its line`, async () => {
      const errors = await errorsOf([`//| task: t\n//| check: ${check}\nconst rows = [1];`]);
      expect(errors).toMatchObject([{ code: 'E_DIRECTIVE_VALUE', cell: 1, line: 2 }]);
    });
  }

  it('valid checks still compile and reach the plan as written', async () => {
    const r = await compileCells([
      '//| task: t\n//| check: rows >= 1_000\n//| check: columns id:number, name\n//| check: partition ds = @run_date\nconst rows = [1];',
    ]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.plan!.tasks[0]!.checks).toEqual([
      'rows >= 1_000',
      'columns id:number, name',
      'partition ds = @run_date',
    ]);
  });
});

describe('task names that cannot become file names are refused at compile time (9.8)', () => {
  for (const [what, cells, line] of [
    ['300 characters', [`// long\n//| task: ${'a'.repeat(300)}\nconst a = 1;`], 2],
    ['101 characters', [`//| task: ${'b'.repeat(101)}\nconst a = 1;`], 1],
    ['a Windows device name', ['//| task: nul\nconst a = 1;'], 1],
    ['a Windows device name with a dot', ['//| task: COM1.data\nconst a = 1;'], 1],
  ] as const) {
    it(`a task name of ${what} is E_TASK_FILE_NAME on its directive line`, async () => {
      const errors = await errorsOf([...cells]);
      expect(errors).toMatchObject([{ code: 'E_TASK_FILE_NAME', notebook: NB, cell: 1, line }]);
    });
  }

  it('a name of exactly 100 characters compiles', async () => {
    expect(await errorsOf([`//| task: ${'c'.repeat(100)}\nconst a = 1;`])).toEqual([]);
  });

  it('two tasks differing only in case collide on macOS and Windows', async () => {
    const errors = await errorsOf(['//| task: Load\nconst a = 1;', '//| task: load\nconst b = 1;']);
    expect(errors).toMatchObject([{ code: 'E_TASK_FILE_NAME', cell: 2, line: 1 }]);
    expect(errors[0]!.message).toContain('task `Load` (cell 1)');
  });

  it("a task whose module would be another task's test file (`x.test`) collides", async () => {
    const errors = await errorsOf(['//| task: x\nconst a = 1;', '//| task: x.test\nconst b = 1;']);
    expect(errors).toMatchObject([{ code: 'E_TASK_FILE_NAME', cell: 2 }]);
  });
});

describe('a failed write leaves nothing behind (9.8)', () => {
  it('when one file cannot be written, no file is, and no temp file stays', () => {
    const out = mkdtempSync(join(tmpdir(), 'cellar-write-'));
    const outcome: NotebookOutcome = {
      notebook: NB,
      stem: 'nb',
      diagnostics: [],
      cached: false,
      notebookHash: '',
      fixtures: [],
      files: [
        { path: 'nb/pipeline.ts', contents: "import './a.js';\n" },
        { path: 'nb/a.ts', contents: 'export {};\n' },
        { path: `nb/${'z'.repeat(300)}.ts`, contents: 'export {};\n' },
      ],
    };
    try {
      expect(() => writeOutcome(outcome, out)).toThrow(WriteError);
      expect(() => writeOutcome(outcome, out)).toThrow(
        /could not write .*z{10}.*nothing was written/,
      );
      expect(existsSync(join(out, 'nb', 'pipeline.ts'))).toBe(false);
      expect(readdirSync(join(out, 'nb'))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('a file the compile did not write is never written over', () => {
  it('a hand-written module where a generated one goes (--out notebooks) is refused, and nothing is written', () => {
    // A tester's data loss: `cellar compile notebooks/lib.ipynb --out notebooks` replaced the
    // user's own notebooks/lib/a.ts and lib/pipeline.ts with generated modules.
    const out = mkdtempSync(join(tmpdir(), 'cellar-foreign-'));
    mkdirSync(join(out, 'lib'));
    writeFileSync(join(out, 'lib', 'a.ts'), 'export const mine = 1;\n');
    writeFileSync(join(out, 'lib', 'pipeline.ts'), '// my own\n');
    const generated = (body: string) => `// ${HEADER} from notebooks/lib.ipynb.\n${body}`;
    const outcome: NotebookOutcome = {
      notebook: 'notebooks/lib.ipynb',
      stem: 'lib',
      diagnostics: [],
      cached: false,
      notebookHash: '',
      fixtures: [],
      files: [
        { path: 'lib/pipeline.ts', contents: generated("import './a.js';\n") },
        { path: 'lib/a.ts', contents: generated('export {};\n') },
        { path: 'lib/b.ts', contents: generated('export {};\n') },
      ],
    };
    try {
      expect(() => writeOutcome(outcome, out)).toThrow(
        /could not write .*lib\/pipeline\.ts \(it is not a file `cellar compile` wrote .*nor are 1 more there.*choose another --out folder, or move it\); nothing was written/,
      );
      expect(readFileSync(join(out, 'lib', 'a.ts'), 'utf8')).toBe('export const mine = 1;\n');
      expect(readFileSync(join(out, 'lib', 'pipeline.ts'), 'utf8')).toBe('// my own\n');
      expect(existsSync(join(out, 'lib', 'b.ts'))).toBe(false);
      // Its own files from an earlier compile are replaced as before.
      rmSync(join(out, 'lib'), { recursive: true });
      mkdirSync(join(out, 'lib'));
      writeFileSync(join(out, 'lib', 'a.ts'), generated('export const old = 1;\n'));
      expect(writeOutcome(outcome, out).written.sort()).toEqual([
        'lib/a.ts',
        'lib/b.ts',
        'lib/pipeline.ts',
      ]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('one cell-number convention for people (9.12)', () => {
  it('plan text and JSON cellNumbers count from 1; cellIndexes (and the old cells) from 0', async () => {
    const { planJson, planText } = await import('../../compiler/plan/json.js');
    const r = await compileCells([
      'md: # Title',
      '//| task: a\nconst xs = [1];',
      '//| task: b\nconst n = xs.length;',
    ]);
    const json = planJson(r.plan!);
    expect(json.tasks.map((t) => [t.cellNumbers, t.cellIndexes, t.cells])).toEqual([
      [[2], [1], [1]],
      [[3], [2], [2]],
    ]);
    expect(planText(r.plan!)).toContain('task b (cell 3)');
  });

  it("the README's cell citations name the cell that holds that id", async () => {
    const { readFileSync } = await import('node:fs');
    const root = join(import.meta.dirname, '..', '..');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const cited = [...readme.matchAll(/(notebooks\/[\w-]+\.ipynb), cell (\d+) \(id ([\w-]+)\)/g)];
    expect(cited.length).toBeGreaterThan(0);
    for (const [, notebook, n, id] of cited) {
      const cells = (
        JSON.parse(readFileSync(join(root, notebook!), 'utf8')) as { cells: { id?: string }[] }
      ).cells;
      expect(cells[Number(n) - 1]?.id, `${notebook}, cell ${n} (id ${id})`).toBe(id);
    }
  });
});
