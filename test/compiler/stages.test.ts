// Each compile stage on its own: reader, directives, analysis, linking, emission helpers, plan
// JSON. Data in, data out; no disk.
import { describe, expect, it } from 'vitest';
import { loadAnalyzer, mapSpecifier } from '../../compiler/analyze/cell.js';
import { sqlFacts, sqlReads } from '../../compiler/analyze/sql.js';
import { ImportSet, NameAllocator, identifierFor } from '../../compiler/emit/module.js';
import { fromNotebook } from '../../compiler/emit/task.js';
import { locateInNotebook } from '../../runtime/load/locate.js';
import { parseNotebook } from '../../compiler/notebook/parse.js';
import { tagCells } from '../../compiler/notebook/directives.js';
import { planJson } from '../../compiler/plan/json.js';
import { linkCells } from '../../compiler/plan/link.js';
import { compileNotebook } from '../../compiler/program.js';
import type { CellAnalysis } from '../../compiler/types.js';
import { notebookText } from './notebook.js';

describe('parseNotebook', () => {
  it('reads source as a string or a list of lines, with ids and tags', () => {
    const text = JSON.stringify({
      nbformat: 4,
      nbformat_minor: 4,
      metadata: { kernelspec: { name: 'tslab', language: 'typescript' } },
      cells: [
        {
          cell_type: 'code',
          source: ['const a = 1;\n', 'const b = 2;'],
          metadata: { tags: ['task:x'] },
          outputs: [],
        },
        { cell_type: 'markdown', id: 'm1', source: '# Title\r\nText', metadata: {} },
      ],
    });
    const { notebook, diagnostics } = parseNotebook('nb/demo.ipynb', text);
    expect(diagnostics).toEqual([]);
    expect(notebook).toMatchObject({ path: 'nb/demo.ipynb', stem: 'demo', kernel: 'tslab' });
    expect(notebook!.cells).toEqual([
      {
        index: 0,
        id: undefined,
        type: 'code',
        source: 'const a = 1;\nconst b = 2;',
        tags: ['task:x'],
      },
      { index: 1, id: 'm1', type: 'markdown', source: '# Title\nText', tags: [] },
    ]);
  });

  it("accepts Deno's kernel (language typescript)", () => {
    const { notebook } = parseNotebook('a.ipynb', notebookText(['1'], { name: 'deno' }));
    expect(notebook?.kernel).toBe('deno');
  });
});

describe('tagCells', () => {
  const tag = (cells: string[]) =>
    tagCells(parseNotebook('n.ipynb', notebookText(cells)).notebook!);

  it('gives roles in reading order: setup, params, task and its continuations, test, explore', () => {
    const { cells, diagnostics, hasDirectives } = tag([
      "import x from 'x';",
      '//| params\nconst n = 1;',
      'md: Docs',
      '//| task: a\nconst a = 1;',
      'const b = 2;',
      '//| explore\nconsole.log(b);',
      'const c = 3;',
      '//| test: a\nif (!a) throw new Error();',
      '//| task: b\n//| version: 2\n//| rerun\n//| cache: params\n//| output: m=json\n//| dialect: duckdb\n//| materialize: mart.t\n//| check: rows >= 1\n//| check: not_null x\nconst m = 1;',
    ]);
    expect(diagnostics).toEqual([]);
    expect(hasDirectives).toBe(true);
    expect(cells.map((c) => [c.role, c.task ?? null])).toEqual([
      ['setup', null],
      ['params', null],
      ['markdown', null],
      ['task', 'a'],
      ['task', 'a'],
      ['explore', null],
      ['task', 'a'],
      ['test', 'a'],
      ['task', 'b'],
    ]);
    expect(cells[8]!.directives).toEqual({
      task: 'b',
      version: 2,
      rerun: true,
      cache: 'params',
      outputs: [{ name: 'm', codec: 'json' }],
      dialect: 'duckdb',
      materialize: 'mart.t',
      checks: ['rows >= 1', 'not_null x'],
    });
    // Directive lines are blanked, not removed: line numbers stay true.
    expect(cells[3]!.code).toBe('\nconst a = 1;');
  });

  it("reads Jupyter cell tags like directives and ignores other tools' tags", () => {
    const nb = parseNotebook('n.ipynb', notebookText(['const a = 1;'])).notebook!;
    nb.cells[0]!.tags = ['task: load', 'version=3', 'hide-input'];
    const { cells, diagnostics } = tagCells(nb);
    expect(diagnostics).toEqual([]);
    expect(cells[0]).toMatchObject({ role: 'task', task: 'load', directives: { version: 3 } });
  });
});

describe('analyzeCells', () => {
  const analyze = async (code: string, role: 'task' | 'params' = 'task'): Promise<CellAnalysis> =>
    (await loadAnalyzer()).analyzeCells([{ index: 0, role, code }])[0]!;

  it('finds top-level declarations (destructuring too) and free names, not locals or properties', async () => {
    const a = await analyze(
      'const { a, b: [c] } = src;\nfunction f(x: Row) { const local = 1; return x.y + local + g; }\nconst o = { key: a, a };',
    );
    expect(a.declarations.map((d) => [d.name, d.kind])).toEqual([
      ['a', 'const'],
      ['c', 'const'],
      ['f', 'function'],
      ['o', 'const'],
    ]);
    expect(a.declarations[0]!.sites[0]).toMatchObject({ shorthandBinding: true });
    const free = a.references.filter((r) => !r.own).map((r) => [r.name, r.meaning]);
    expect(free).toEqual([
      ['src', 'value'],
      ['Row', 'type'],
      ['g', 'value'],
    ]);
    expect(a.references.filter((r) => r.own && r.shorthand).map((r) => r.name)).toEqual(['a']);
  });

  it('records mutations of free names only', async () => {
    const a = await analyze(
      'xs.push(1);\nm.a.b = 2;\nn++;\nconst mine: number[] = [];\nmine.push(1);\nys.map((y) => y).sort();',
    );
    expect(a.mutations.map((m) => [m.name, m.kind, m.detail, m.line])).toEqual([
      ['xs', 'method', 'push', 1],
      ['m', 'property', 'm.a.b', 2],
      ['n', 'assign', 'n', 3],
    ]);
  });

  it('notices top-level await, sql templates, and maps Deno specifiers', async () => {
    const a = await analyze(
      "import { sql } from 'cellar';\nimport _ from 'npm:lodash@4/fp';\nconst r = await sql`SELECT * FROM t WHERE a > ${1} AND b = ${'x'}`;\nasync function later() { await r; }",
    );
    expect(a.topLevelAwait).toBe(true);
    expect(a.sqlTemplates).toEqual(['SELECT * FROM t WHERE a > @p0 AND b = @p1']);
    expect(a.imports.map((i) => i.module)).toEqual(['cellar', 'lodash/fp']);
    expect(mapSpecifier('npm:@scope/pkg@1.2.3')).toEqual({
      module: '@scope/pkg',
      version: '1.2.3',
    });
    expect(mapSpecifier('npm:csv-parse@5/sync')).toEqual({
      module: 'csv-parse/sync',
      version: '5',
    });
    expect(mapSpecifier('npm:d3')).toEqual({ module: 'd3' });
    expect(mapSpecifier('node:fs')).toEqual({ module: 'node:fs' });
    // Deno-only imports name the npm package (or builtin) to use where a well-known one exists.
    expect(mapSpecifier('jsr:@std/assert')).toEqual({
      error: 'jsr:@std/assert',
      npm: 'node:assert',
    });
    expect(mapSpecifier('jsr:@std/csv@1/parse')).toEqual({
      error: 'jsr:@std/csv@1/parse',
      npm: 'csv-parse',
    });
    expect(mapSpecifier('jsr:@oak/oak')).toEqual({ error: 'jsr:@oak/oak' });
    expect(mapSpecifier('https://cdn.jsdelivr.net/npm/d3-array@3/+esm')).toEqual({
      error: 'https://cdn.jsdelivr.net/npm/d3-array@3/+esm',
      npm: 'd3-array@3',
    });
    expect(mapSpecifier('https://deno.land/x/oak/mod.ts')).toEqual({
      error: 'https://deno.land/x/oak/mod.ts',
    });
  });

  it('types params from their literal defaults', async () => {
    const a = await analyze(
      'const n = 5;\nconst neg = -1.5;\nconst s = "a";\nconst on = true;\nconst xs = [1, "a"];\nconst o = { k: [true] };\nconst picked: string | null = null;',
      'params',
    );
    expect(a.diagnostics).toEqual([]);
    expect(a.params.map((p) => [p.name, p.type, p.paramType, p.default])).toEqual([
      ['n', 'number', 'number', 5],
      ['neg', 'number', 'number', -1.5],
      ['s', 'string', 'string', 'a'],
      ['on', 'boolean', 'boolean', true],
      ['xs', '(number | string)[]', 'json', [1, 'a']],
      ['o', '{ k: boolean[] }', 'json', { k: [true] }],
      ['picked', 'string | null', 'json', null],
    ]);
  });
});

describe('sqlReads', () => {
  it('lists base tables, not CTEs or interpolated upstream queries; bad SQL gives nothing', async () => {
    expect(
      await sqlReads(
        [
          'WITH a AS (SELECT * FROM `p.raw.events`) SELECT * FROM a JOIN mart.x ON a.id = x.id',
          'SELECT * FROM @p0 AS up',
        ],
        'bigquery',
      ),
    ).toEqual(['mart.x', 'p.raw.events']);
    expect(await sqlReads(['SELEC nonsense FROM'], 'bigquery')).toEqual([]);
  });

  it('reports syntax errors as problems, but not valid SQL the analyser does not handle', async () => {
    const facts = await sqlFacts(
      [
        'SELECT 1 AS ok',
        'SELECT a\nFROM t\nWHERE a >> 1 AND',
        'CREATE TEMP FUNCTION f(x INT64) AS (x + 1); SELECT f(1)',
      ],
      'bigquery',
    );
    expect(facts.problems).toMatchObject([
      { template: 1, message: expect.stringMatching(/^Parse error/) },
    ]);
    expect(
      (await sqlFacts(['PIVOT t ON year USING sum(x)', 'FROM t SELECT a'], 'duckdb')).problems,
    ).toEqual([]);
  });
});

describe('linkCells', () => {
  async function link(cells: string[]) {
    const nb = parseNotebook('n.ipynb', notebookText(cells)).notebook!;
    const tagged = tagCells(nb);
    const analyzer = await loadAnalyzer();
    const compiled = tagged.cells.filter((c) => c.role !== 'markdown' && c.role !== 'explore');
    const analyses = new Map(
      analyzer
        .analyzeCells(compiled.map((c) => ({ index: c.index, role: c.role, code: c.code })))
        .map((a) => [a.index, a]),
    );
    return linkCells({ notebook: 'n.ipynb', stem: 'n', cells: tagged.cells, analyses });
  }

  it('gives each reader the latest version declared before it (let df in three cells)', async () => {
    const { plan, diagnostics } = await link([
      '//| task: a\nlet df = [1];',
      '//| task: b\nlet df = df0();\nfunction df0() { return [2]; }',
      '//| task: c\nconst n = df.length;',
      '//| task: d\nlet df = [3];\nconst m = df.length;',
      '//| task: e\nconst k = df.length;',
    ]);
    expect(diagnostics).toEqual([]);
    const inputs = Object.fromEntries(
      plan!.tasks.map((t) => [t.name, t.inputs.map((i) => `${i.name}<-${i.fromTask}`)]),
    );
    expect(inputs).toEqual({ a: [], b: [], c: ['df<-b'], d: [], e: ['df<-d'] });
  });

  it('passes each task exactly the params it reads, and orders tasks topologically', async () => {
    const { plan } = await link([
      '//| params\nconst p = 1;\nconst q = 2;',
      '//| task: x\nconst a = p;',
      '//| task: y\nconst b = a + q;',
      '//| task: z\nconst c = 0;',
    ]);
    expect(plan!.tasks.map((t) => [t.name, t.params, t.upstream])).toEqual([
      ['x', ['p'], []],
      ['y', ['q'], ['x']],
      ['z', [], []],
    ]);
    expect(plan!.tasks.map((t) => t.outputs.map((o) => o.name))).toEqual([['a'], ['b'], ['c']]);
  });
});

describe('emission helpers', () => {
  it('merges, sorts and type-marks imports', () => {
    const s = new ImportSet();
    s.add('cellar', 'defineTask', 'defineTask', false);
    s.add('./a.js', 'aTask', 'aTask', false);
    s.add('cellar', 'TaskOutputs', 'TaskOutputs', true);
    s.add('node:fs', 'readFileSync', 'readFileSync', false);
    s.add('x', 'default', 'X', false);
    s.add('x', 'T', 'T', true);
    s.add('y', '*', 'y', false);
    s.add('z', 'A', 'A', true);
    s.addSideEffect('./setup.js');
    expect(s.print().split('\n')).toEqual([
      "import { readFileSync } from 'node:fs';",
      "import { type TaskOutputs, defineTask } from 'cellar';",
      "import X, { type T } from 'x';",
      "import * as y from 'y';",
      "import type { A } from 'z';",
      "import { aTask } from './a.js';",
      "import './setup.js';",
    ]);
  });

  it("invents names that avoid the module's own", () => {
    const names = new NameAllocator(['df', 'df_2', 'output']);
    expect([names.fresh('df'), names.fresh('output'), names.fresh('defineTask')]).toEqual([
      'df_3',
      'output_2',
      'defineTask',
    ]);
    expect(identifierFor('load-data.v2')).toBe('loadDataV2');
    expect(identifierFor('delete')).toBe('runDelete');
    expect(identifierFor('2nd')).toBe('_2nd');
  });
});

describe('planJson', () => {
  it('has exactly the documented shape', async () => {
    const r = await compileNotebook(
      'nb.ipynb',
      notebookText([
        '//| params\nconst k = 3;',
        '//| task: a\nconst xs = [k];',
        '//| task: b\nconst n = xs.length;',
      ]),
      { workdir: '.', format: false },
    );
    expect(planJson(r.plan!)).toEqual({
      notebook: 'nb.ipynb',
      tasks: [
        {
          name: 'a',
          params: ['k'],
          upstream: [],
          cellNumbers: [2],
          cellIndexes: [1],
          cells: [1],
          outputs: ['xs'],
        },
        {
          name: 'b',
          params: [],
          upstream: ['a'],
          cellNumbers: [3],
          cellIndexes: [2],
          cells: [2],
          outputs: ['n'],
        },
      ],
      params: [{ name: 'k', type: 'number', default: 3 }],
    });
  });
});

describe('formatting', () => {
  it('formats a batch of modules exactly as it formats each alone', async () => {
    const { formatBatch, formatTypeScript } = await import('../../compiler/emit/print.js');
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = join(import.meta.dirname, '..', '..', 'generated', 'penguins');
    // Re-indent to make Prettier do real work, then compare batch with one-by-one.
    const texts = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .sort()
      .map((f) =>
        readFileSync(join(dir, f), 'utf8').replace(/^ +/gm, '').replace(/\n\n/g, '\n\n\n'),
      );
    expect(texts.length).toBeGreaterThan(3);
    const alone = await Promise.all(texts.map(formatTypeScript));
    expect(await formatBatch(texts)).toEqual(alone);
  });

  it("formats a batch as each alone when a module holds the batch's own marker text", async () => {
    // A red team's case: a task's template literal (or a setup cell's comment) holding the line
    // that separates modules in a batch, at column 0, split the batch there: a cold compile
    // (everything in one batch) wrote a truncated module and another module's tail in its place.
    const { formatBatch, formatTypeScript } = await import('../../compiler/emit/print.js');
    const texts = [
      'export const a   = [1,2];\n',
      'export const s = `\n// @cellar-emitted-file 0\nhello\n`;\nexport const n =  s.length;\n',
      'export const base = 1;\n// @cellar-emitted-file 2\nexport const other   = 2;\n',
      'export const t = `\n// @cellar-emitted-file-0 1\n`;\n',
      'export function f(x:number){return x*2}\n',
    ];
    const alone = await Promise.all(texts.map(formatTypeScript));
    expect(await formatBatch(texts)).toEqual(alone);
  });

  it('shares a big formatting job with another thread batch by batch, with the same bytes', async () => {
    const { formatBatch } = await import('../../compiler/emit/print.js');
    // Enough text (over 500,000 characters) for the two threads to take batches off one queue,
    // and one module over 20,000 characters (not deep: this thread's stack is the default),
    // which always goes to the other thread.
    const leaf = (i: number) =>
      `export function t${i}(  x:number){\nconst   v_${i}=x+${i}\nreturn {v_${i}}}\n` +
      `export const t${i}Task = define({name:'t${i}',params:{salt:{type:'number',default:1}},outputs:{v_${i}:{}},run:t${i}})\n`.repeat(
        3,
      );
    const texts = Array.from({ length: 1_600 }, (_, i) => leaf(i));
    texts.splice(
      7,
      0,
      Array.from({ length: 1_500 }, (_, i) => `export const  a${i}= ${i}\n`).join(''),
    );
    expect(texts.reduce((n, t) => n + t.length, 0)).toBeGreaterThan(500_000);
    const sent: string[][] = [];
    const elsewhere = async (batch: string[]) => {
      sent.push(batch);
      await new Promise((resolve) => setTimeout(resolve, 5)); // answers arrive later, as from a thread
      return formatBatch(batch);
    };
    const shared = await formatBatch(texts, elsewhere);
    expect(shared).toEqual(await formatBatch(texts));
    expect(sent[0]).toEqual([texts[7]]); // the big module first
    expect(sent.length).toBeGreaterThan(2); // then batches, as the other thread asked for more
    expect(sent.flat().length).toBeLessThan(texts.length); // and this thread formatted the rest
  }, 600_000);
});

describe('fromNotebook: relative imports reach the same file from generated/<stem>/', () => {
  it.each([
    ['../../notebooks', './lib.js', '../../notebooks/lib.js'],
    ['../../notebooks', '../data/x.json', '../../data/x.json'],
    ['../..', './lib.js', '../../lib.js'],
    ['../../notebooks/deep', '../../shared/u.js', '../../shared/u.js'],
    ['.', './lib.js', './lib.js'],
    ['../../notebooks', 'node:fs', 'node:fs'],
    ['../../notebooks', 'ml-random-forest', 'ml-random-forest'],
  ])('workdir %s, %s → %s', (workdir, spec, expected) => {
    expect(fromNotebook(workdir, spec)).toBe(expected);
  });
});

describe('locateInNotebook: a generated line back to its cell', () => {
  it('finds the cell of a failing line in a real generated task module and test file', async () => {
    const text = notebookText([
      '//| params\nconst n = 3;',
      '//| task: t\nconst xs = [1, 2, n];',
      'if (xs.length > 2) throw new Error("boom");\nconst ys = xs;',
      "//| test: t\nimport assert from 'node:assert';\nassert.equal(ys.length, 3);",
    ]);
    const result = await compileNotebook('notebooks/n.ipynb', text, { workdir: '../../notebooks' });
    const module = result.files.find((f) => f.path === 'n/t.ts')!.contents;
    const lines = module.split('\n');
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    expect(locateInNotebook(module, at('throw new Error'))).toEqual({ cellId: 'c3', codeLine: 1 });
    expect(locateInNotebook(module, at('const ys = xs'))).toEqual({ cellId: 'c3', codeLine: 2 });
    expect(locateInNotebook(module, at('const xs = [1, 2, n]'))).toEqual({
      cellId: 'c2',
      codeLine: 1,
    });
    expect(locateInNotebook(module, at("name: 't'"))).toBeUndefined();
    expect(locateInNotebook(module, at("from 'cellar'"))).toBeUndefined();
    expect(locateInNotebook(module, 0)).toBeUndefined();
    const testFile = result.files.find((f) => f.path === 'n/t.test.ts')!.contents;
    const testLine =
      testFile.split('\n').findIndex((l) => l.includes('assert.equal(ys.length')) + 1;
    expect(locateInNotebook(testFile, testLine)).toEqual({ cellId: 'c4', codeLine: 1 });
  });

  it('names the cell by number in a notebook without cell ids, and reads labels of older compiles', () => {
    const module = [
      'export function t() {',
      '  // notebook cell 4',
      '  const a = 1;',
      '  throw new Error("x");',
      '}',
    ].join('\n');
    expect(locateInNotebook(module, 4)).toEqual({ cell: 4, codeLine: 2 });
    const older = [
      'export function t() {',
      '  // notebook cell 4 (id c4)',
      '  throw new Error("x");',
      '}',
    ].join('\n');
    expect(locateInNotebook(older, 3)).toEqual({ cell: 4, cellId: 'c4', codeLine: 1 });
  });

  it('a setup-cell helper written with `export` is exported from setup.ts, where tasks import it', async () => {
    const text = notebookText([
      "export function lineCount(s: string): number {\n  return s.split('\\n').length;\n}\nexport const LIMIT = 3;\nexport type Row = { n: number };",
      '//| task: t\nconst row: Row = { n: lineCount("a\\nb") + LIMIT };',
    ]);
    const result = await compileNotebook('notebooks/n.ipynb', text, { workdir: '../../notebooks' });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const setup = result.files.find((f) => f.path === 'n/setup.ts')!.contents;
    expect(setup).toMatch(/^export function lineCount\(/m);
    expect(setup).toMatch(/^export const LIMIT = 3;/m);
    expect(setup).toMatch(/^export type Row = /m);
    const task = result.files.find((f) => f.path === 'n/t.ts')!.contents;
    expect(task).toMatch(/import \{[^}]*lineCount[^}]*\} from '\.\/setup\.js'/);
  });

  it('finds the setup cell of a failing line in an exported helper of setup.ts', async () => {
    const text = notebookText([
      'function check(n: number): number {\n  if (n > 2) throw new Error("big");\n  return n;\n}',
      '//| task: t\nconst y = check(3);',
    ]);
    const result = await compileNotebook('notebooks/n.ipynb', text, { workdir: '../../notebooks' });
    const setup = result.files.find((f) => f.path === 'n/setup.ts')!.contents;
    const line = setup.split('\n').findIndex((l) => l.includes('throw new Error')) + 1;
    expect(locateInNotebook(setup, line)).toEqual({ cellId: 'c1', codeLine: 2 });
  });
});

describe('diagnostic codes', () => {
  it('every code is in the table of docs/design/compiler.md, and the table has no stale ones', async () => {
    const { readFileSync } = await import('node:fs');
    const { CODES } = await import('../../compiler/diagnostics.js');
    const doc = readFileSync(new URL('../../docs/design/compiler.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([EWN]_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(CODES).sort());
  });
});
