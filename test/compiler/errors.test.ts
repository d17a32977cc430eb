// One test per bad input: each asserts the stable code and that the message names the notebook,
// the cell (1-based position and id) and the line, as the CLI prints it.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileNotebook, newMemory } from '../../compiler/program.js';
import type { Diagnostic } from '../../compiler/types.js';
import { codeCell, notebookText, tslabNotebook } from './notebook.js';

const NB = 'notebooks/bad.ipynb';

async function diagnosticsOf(cellsOrText: string[] | string) {
  const text = typeof cellsOrText === 'string' ? cellsOrText : notebookText(cellsOrText);
  const result = await compileNotebook(NB, text, { workdir: '../../notebooks', format: false });
  return result;
}

/** The one diagnostic with this code, checked to point at notebook, cell and line. */
async function expectError(
  cells: string[],
  code: string,
  where: { cell: number; line: number; column?: number },
): Promise<Diagnostic> {
  const result = await diagnosticsOf(cells);
  const found = result.diagnostics.filter((d) => d.code === code);
  expect(
    found.map(formatDiagnostic),
    `diagnostics: ${result.diagnostics.map(formatDiagnostic).join('\n')}`,
  ).toHaveLength(1);
  const d = found[0]!;
  expect(d.severity).toBe('error');
  expect(d).toMatchObject({
    notebook: NB,
    cell: where.cell,
    cellId: `c${where.cell}`,
    line: where.line,
  });
  if (where.column !== undefined) expect(d.column).toBe(where.column);
  const printed = formatDiagnostic(d);
  expect(printed).toContain(`${NB}, cell ${where.cell} (id c${where.cell}), line ${where.line}`);
  expect(printed).toContain(code);
  expect(result.files).toEqual([]); // errors stop emission: no half pipeline
  return d;
}

/**
 * A task whose last cell (`//| task: t` then `task`) calls into setup state: E_SETUP_STATE at that
 * call (line 2, column 11 of the task cell), saying `says`, with a hint matching `hint`.
 */
async function expectRefusedAtCall(
  cells: string[],
  task: string,
  says: string,
  hint: RegExp,
): Promise<void> {
  const d = await expectError(cells, 'E_SETUP_STATE', { cell: cells.length, line: 2, column: 11 });
  expect(d.message).toContain(says);
  expect(d.snippet).toBe(task);
  expect(d.hint).toMatch(hint);
}

describe('the notebook file', () => {
  it('is not JSON', async () => {
    const r = await diagnosticsOf('{"cells": [');
    expect(r.diagnostics).toMatchObject([
      { code: 'E_NOTEBOOK_JSON', notebook: NB, severity: 'error' },
    ]);
    expect(formatDiagnostic(r.diagnostics[0]!)).toMatch(
      /^notebooks\/bad\.ipynb: error E_NOTEBOOK_JSON: not valid JSON/,
    );
  });

  it('is not JSON: the error names the line and column, not only the character offset', async () => {
    const r = await diagnosticsOf('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}');
    expect(r.diagnostics[0]!.message).toMatch(/\(line 3, column \d+\)/);
  });

  it('starts with a byte-order mark: said in words, with the fix', async () => {
    const r = await diagnosticsOf(
      '\ufeff{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
    );
    expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_JSON', notebook: NB }]);
    expect(r.diagnostics[0]!.message).toContain('byte-order mark (BOM)');
    expect(r.diagnostics[0]!.hint).toContain('without one');
  });

  it('is not nbformat 4', async () => {
    const r = await diagnosticsOf(JSON.stringify({ nbformat: 3, worksheets: [] }));
    expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_FORMAT', notebook: NB }]);
    expect(r.diagnostics[0]!.message).toContain('nbformat 3');
  });

  it('has a Python kernel', async () => {
    const r = await diagnosticsOf(notebookText(['x = 1'], { language: 'python', name: 'python3' }));
    expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_LANGUAGE', notebook: NB }]);
    expect(r.diagnostics[0]!.message).toContain('"python"');
  });

  it('has a cell with no source', async () => {
    const text = JSON.stringify({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{ cell_type: 'code', id: 'x', source: 42 }],
    });
    const r = await diagnosticsOf(text);
    expect(r.diagnostics).toMatchObject([{ code: 'E_NOTEBOOK_FORMAT', cell: 1, cellId: 'x' }]);
  });
});

describe('directives', () => {
  it('unknown directive, with "did you mean"', async () => {
    const d = await expectError(
      ['const a = 1;', '//| taks: load\nconst b = a;'],
      'E_UNKNOWN_DIRECTIVE',
      { cell: 2, line: 1 },
    );
    expect(d.hint).toBe('did you mean `task`?');
  });

  it("a cell tag one typo from a directive (`tsak:second`) is an unknown directive, not skipped; other tools' tags are left alone", async () => {
    const text = JSON.stringify({
      ...tslabNotebook([
        '//| task: first\nconst a = 1;',
        { ...codeCell('c2', 'const b = a + 1;'), metadata: { tags: ['tsak:second'] } },
        {
          ...codeCell('c3', 'const c = a + 2;'),
          metadata: { tags: ['hide-input', 'slideshow:skip', 'parameters-x', 'tags:x'] },
        },
      ]),
    });
    const r = await diagnosticsOf(text);
    const d = r.diagnostics.filter((x) => x.code === 'E_UNKNOWN_DIRECTIVE');
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ cell: 2, cellId: 'c2', hint: 'did you mean `task`?' });
    expect(formatDiagnostic(d[0]!)).toContain('tag tsak:second');
  });

  it('malformed value', async () => {
    const d = await expectError(
      ['//| task: load\n//| version: two\nconst b = 1;'],
      'E_DIRECTIVE_VALUE',
      { cell: 1, line: 2 },
    );
    expect(d.message).toContain('"two"');
  });

  it('a task name with spaces suggests the allowed spelling', async () => {
    const d = await expectError(['//| task: make data\nconst b = 1;'], 'E_DIRECTIVE_VALUE', {
      cell: 1,
      line: 1,
    });
    expect(d.hint).toBe('write `//| task: make_data`');
  });

  it('a task name with accented letters suggests their base letters, not dropping them', async () => {
    const d = await expectError(['//| task: étape_deux\nconst b = 1;'], 'E_DIRECTIVE_VALUE', {
      cell: 1,
      line: 1,
    });
    expect(d.hint).toBe('write `//| task: etape_deux`');
  });

  it('two roles on one cell', async () => {
    await expectError(['//| task: load\n//| explore\nconst b = 1;'], 'E_DIRECTIVE_CONFLICT', {
      cell: 1,
      line: 1,
    });
  });

  it('two tasks with the same name', async () => {
    const d = await expectError(
      [
        '//| task: load\nconst a = 1;',
        '//| task: other\nconst b = a;',
        '//| task: load\nconst c = b;',
      ],
      'E_DUPLICATE_TASK',
      { cell: 3, line: 1 },
    );
    expect(d.message).toContain('cell 1');
  });

  it('a test naming a task that does not exist', async () => {
    const d = await expectError(
      ['//| task: train\nconst acc = 1;', '//| test: trian\nif (acc < 0) throw new Error();'],
      'E_UNKNOWN_TASK',
      { cell: 2, line: 1 },
    );
    expect(d.hint).toBe('did you mean `train`?');
  });

  it('an output the task does not declare', async () => {
    await expectError(
      ['//| task: train\n//| output: modle=json\nconst model = {};'],
      'E_UNKNOWN_OUTPUT',
      { cell: 1, line: 1 },
    );
  });
});

describe('names and dependencies', () => {
  it('a name used but never declared', async () => {
    const d = await expectError(
      [
        '//| task: load\nconst rows = [1, 2];',
        '//| task: sum\nconst n = rows.length;\nconst total = rowz.length + n;',
      ],
      'E_UNDECLARED_NAME',
      { cell: 2, line: 3, column: 15 },
    );
    expect(d.message).toContain('`rowz`');
    expect(d.hint).toBe('did you mean `rows`?');
    expect(formatDiagnostic(d)).toContain('const total = rowz.length + n;');
  });

  it('a name declared only in an explore cell', async () => {
    const d = await expectError(
      ['//| explore\nconst sample = [1];', '//| task: t\nconst n = sample.length;'],
      'E_UNDECLARED_NAME',
      { cell: 2, line: 2 },
    );
    expect(d.hint).toContain('//| explore');
  });

  it('a name declared only further down', async () => {
    const d = await expectError(
      ['//| task: a\nconst n = later + 1;', '//| task: b\nconst later = 2;'],
      'E_UNDECLARED_NAME',
      { cell: 1, line: 2 },
    );
    expect(d.hint).toContain('declared later, in cell 2');
  });

  it('a dependency cycle through materialised tables, listed', async () => {
    const d = await expectError(
      [
        "import { sql } from 'cellar';",
        '//| task: a\n//| materialize: mart.a\nconst fromB = sql`SELECT * FROM mart.b`;',
        '//| task: b\n//| materialize: mart.b\nconst q = fromB;',
      ],
      'E_DEPENDENCY_CYCLE',
      { cell: 2, line: 1 },
    );
    expect(d.message).toContain('a → b → a');
  });

  it('a function declared in one task and used by another', async () => {
    // It reads the task's `k`: a helper reading nothing a task computes is shared (habits.test.ts).
    const d = await expectError(
      [
        '//| task: a\nconst k = 2;\nfunction double(x: number) { return k * x; }',
        '//| task: b\nconst four = double(2);',
      ],
      'E_FUNCTION_CROSSES_TASK',
      { cell: 2, line: 2, column: 14 },
    );
    expect(d.hint).toContain('take `k` as an argument');
  });
});

describe("mutating another task's value", () => {
  const upstream =
    '//| task: load\nconst xs = [3, 1, 2];\nconst m = new Map<string, number>();\nconst cfg = { depth: 1 };\nlet count = 0;';
  it.each([
    ['a mutating method (push)', 'xs.push(4);', 'calls `xs.push(...)`'],
    ['a mutating method (Map.set)', "m.set('a', 1);", 'calls `m.set(...)`'],
    ['a property assignment', 'cfg.depth = 2;', 'assigns to `cfg.depth`'],
    ['an in-place sort', 'const sorted = xs.sort();', 'calls `xs.sort(...)`'],
    ['a destructuring assignment', '[count] = [2];', 'assigns to `count`'],
    ['Object.assign', 'Object.assign(cfg, { depth: 3 });', 'calls `Object.assign(...)` on'],
    ['a borrowed mutator', 'Array.prototype.push.call(xs, 4);', 'calls `xs.push(...)`'],
    ['through a type assertion', '(xs as number[]).push(4);', 'calls `xs.push(...)`'],
    ['through a non-null assertion', 'cfg!.depth = 2;', 'assigns to `cfg!.depth`'],
    ['a bound mutator', 'const add = xs.push.bind(xs);\nadd(4);', 'calls `xs.push(...)`'],
    ['Reflect.set', "Reflect.set(cfg, 'depth', 2);", 'calls `Reflect.set(...)` on'],
    [
      'Object.defineProperty',
      "Object.defineProperty(cfg, 'depth', { value: 2 });",
      'calls `Object.defineProperty(...)` on',
    ],
    ['a local alias in a block', '{ const l = xs; l.push(4); }', 'calls `xs.push(...)`'],
    [
      'a local alias in a function',
      'const flip = () => { const l = m; l.clear(); };\nflip();',
      'calls `m.clear(...)`',
    ],
  ])('%s', async (_, code, words) => {
    const d = await expectError([upstream, `//| task: change\n${code}`], 'E_MUTATES_UPSTREAM', {
      cell: 2,
      line: 2,
    });
    expect(d.message).toContain(words);
    expect(d.message).toContain('task `load`');
    // Rebinding the name needs a new name, not a copy; changing the object needs a copy.
    expect(d.hint).toContain(
      words.startsWith('assigns to `count`') ? 'its own name' : 'copy it first',
    );
  });

  it.each([
    ['a for-of loop variable', 'for (const x of objs) x.n = 0;', 1, 23, '`x.n`'],
    [
      'a forEach callback',
      'objs.forEach((o) => {\n  o.tags.push(1);\n});',
      2,
      3,
      '`o.tags.push(...)`',
    ],
    [
      'a reduce callback (its second parameter)',
      'const total = objs.reduce((s, o) => s + (o.n += 1), 0);',
      1,
      42,
      '`o.n`',
    ],
    [
      'a loop over a same-cell alias',
      'const same = objs;\nfor (const x of same) delete x.n;',
      2,
      30,
      '`x.n`',
    ],
  ])('an element changed through %s', async (_, code, line, column, element) => {
    const d = await expectError(
      ['//| task: load\nconst objs = [{ n: 1, tags: [0] }];', `//| task: change\n${code}`],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: line + 1, column },
    );
    expect(d.message).toContain(`changes ${element}, an element of \`objs\``);
    expect(d.hint).toContain('structuredClone(objs)');
  });

  it("elements of a task's own value, or copies, may change", async () => {
    const r = await diagnosticsOf([
      '//| task: load\nconst objs = [{ n: 1 }];',
      '//| task: change\nconst mine = structuredClone(objs);\nfor (const x of mine) x.n = 0;\nconst fresh = objs.map((o) => ({ ...o, n: 2 }));\nfor (const o of objs) { const c = { ...o }; c.n = 3; }',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });

  // A setup value is not frozen while a task runs: a change through an alias the compiler missed
  // leaked into the next task run in the same worker (30 after a full run, 0 after `--rerun b`).
  it.each([
    ['.at()', 'const h = holder.at(0)!;\nh.n = 30;', 'h.n'],
    ['.at() written inline', 'const k = 0;\nholder.at(0)!.n = 30;', 'holder.at(0)!.n'],
    ['.find()', 'const h = holder.find((x) => x.n === 0)!;\nh.n = 30;', 'h.n'],
    ['.findLast()', 'const h = holder.findLast(() => true)!;\nh.tags.push(1);', 'holder.tags.push'],
    ['Object.values()', 'const h = Object.values(cfg)[0]!;\nh.n = 30;', 'h.n'],
    ['Object.entries()', 'const e = Object.entries(cfg);\ne[0]![1].n = 30;', 'e[0]![1].n'],
    ['Array.from()', 'const h = Array.from(holder)[0]!;\nh.n = 30;', 'h.n'],
    ['.filter() elements', 'const [h] = holder.filter(() => true);\nh!.n = 30;', 'h!.n'],
    ['.slice() elements', 'const h = holder.slice()[0]!;\nh.n = 30;', 'h.n'],
    ['a spread copy', 'const h = [...holder][0]!;\nh.n = 30;', 'h.n'],
    ['a spread copy kept by name', 'const copy = [...holder];\ncopy[0]!.n = 30;', 'copy[0]!.n'],
    ['an object spread', 'const { a } = { ...cfg };\na.n = 30;', 'a.n'],
    ["a Map's .get()", "const h = byKey.get('k')!;\nh.n = 30;", 'h.n'],
    ['Reflect.get', 'const h = Reflect.get(holder, 0);\nh.n = 30;', 'h.n'],
    ['a rest element', 'const [, ...rest] = [0, ...holder];\nrest[0]!.n = 30;', 'rest[0]!.n'],
    ['an unknown method (it may hand out a part)', 'const h = reg.lookup(0);\nh.n = 30;', 'h.n'],
    ['a local alias in a block', '{\n  const h = holder.at(-1)!; h.n = 30; }', 'h.n'],
  ])(
    'a task changing a setup value through an alias taken with %s is E_MUTATES_UPSTREAM',
    async (_, code, words) => {
      const setup =
        "const holder = [{ n: 0, tags: [] as number[] }];\nconst cfg = { a: { n: 0 } };\nconst byKey = new Map([['k', { n: 0 }]]);\nconst reg = { items: holder, lookup(i: number) { return this.items[i]!; } };";
      const d = await expectError(
        [
          setup,
          `//| task: a\n${code}\nconst aOut = 1;`,
          '//| task: b\nconst seen = holder[0]!.n + aOut;',
        ],
        'E_MUTATES_UPSTREAM',
        { cell: 2, line: 3 },
      );
      expect(d.message).toContain(words);
      expect(d.message).toContain('a setup cell');
      expect(d.hint).toContain('structuredClone');
    },
  );

  it('reading through those, and changing copies of the container only, compile', async () => {
    const r = await diagnosticsOf([
      "const holder = [{ n: 0 }];\nconst cfg = { a: { n: 0 } };\nconst byKey = new Map([['k', { n: 0 }]]);",
      "//| task: a\nconst x = holder.at(0)!.n + 1 + Object.values(cfg).length + byKey.get('k')!.n;\nconst copy = [...holder];\ncopy.push({ n: 1 });\ncopy.sort((p, q) => p.n - q.n);\nconst vs = Object.values(cfg);\nvs.push({ n: 2 });\nconst fresh = holder.map((h) => ({ ...h, n: 2 }));\nfresh[0]!.n = 3;\nconst c = structuredClone(holder.at(0)!);\nc.n = 4;\nconst mine = new Map(byKey);\nmine.set('z', { n: 1 });\nconst keys = Object.keys(cfg);\nkeys.push('z');\nconst own = { ...cfg };\nown.a = { n: 5 };",
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });

  it("a built-in's static method makes a new value, no part of the built-in (Object.create(null), JSON.parse)", async () => {
    const r = await diagnosticsOf([
      "//| task: count\nconst counts: Record<string, number> = Object.create(null);\nfor (const w of ['a', 'b', 'a']) counts[w] = (counts[w] ?? 0) + 1;\nconst parsed = JSON.parse('{\"n\":1}');\nparsed.n = 2;\nconst buf = Buffer.from('ab');\nbuf[0] = 1;\nconst arr = Array.from({ length: 2 }, () => ({ n: 0 }));\narr[0]!.n = 1;",
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });

  it('a mutating method through an alias', async () => {
    const d = await expectError(
      [upstream, '//| task: change\nconst same = xs;\nsame.push(4);'],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: 3, column: 1 },
    );
    expect(d.message).toContain('calls `xs.push(...)`');
  });

  it('reading and copying is fine', async () => {
    const r = await diagnosticsOf([
      upstream,
      '//| task: copy\nconst mine = [...xs];\nmine.push(4);\nconst sorted = [...xs].sort();\nconst n = xs.length + count + cfg.depth + m.size;',
    ]);
    expect(r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('code the analyser does not support', () => {
  it('an implicit global from require', async () => {
    const d = await expectError(["//| task: t\nfs = require('node:fs');"], 'E_IMPLICIT_GLOBAL', {
      cell: 1,
      line: 2,
    });
    expect(d.hint).toContain('import');
  });

  it('require without assignment', async () => {
    const d = await expectError(
      ["//| task: t\nconst fs = require('node:fs');"],
      'E_UNDECLARED_NAME',
      { cell: 1, line: 2 },
    );
    expect(d.hint).toContain('ES modules');
  });

  it('JSX', async () => {
    await expectError(
      ['//| task: t\nconst el = <div className="x">hi</div>;'],
      'E_UNSUPPORTED_JSX',
      { cell: 1, line: 2 },
    );
  });

  it('a name declared only inside a `{ ... }` block cell, read by a later cell', async () => {
    // The block compiles (habits.test.ts); its names stay its own, as in the kernel.
    const d = await expectError(
      ['//| task: t\n{\n  const hidden = 1;\n}', '//| task: u\nconst seen = hidden + 1;'],
      'E_UNDECLARED_NAME',
      { cell: 2, line: 2 },
    );
    expect(d.message).toContain('hidden');
  });

  it("reassigning another task's value inside a function still changes that value", async () => {
    // Only a top-level `x = …` is a new version; inside a function it rebinds the upstream name.
    const d = await expectError(
      ['//| task: a\nlet n = 1;', '//| task: b\nconst bump = () => { n = n + 1; };\nbump();'],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: 2 },
    );
    expect(d.message).toContain('assigns to `n`');
  });

  it('a helper closing over a task value still crosses tasks, and the hint says what to pass', async () => {
    const d = await expectError(
      [
        '//| task: a\nconst rate = 0.5;\nconst scale = (x: number) => x * rate;',
        '//| task: b\nconst y = scale(2);',
      ],
      'E_FUNCTION_CROSSES_TASK',
      { cell: 2, line: 2 },
    );
    expect(d.message).toContain('reads `rate` of task `a`');
    expect(d.hint).toContain('make `scale` take `rate` as an argument');
  });

  it("a compound assignment to another task's value (`n += 1`)", async () => {
    await expectError(['//| task: a\nlet n = 1;', '//| task: b\nn += 1;'], 'E_MUTATES_UPSTREAM', {
      cell: 2,
      line: 2,
    });
  });

  it('a syntax error', async () => {
    await expectError(['//| task: t\nconst ok = 1;\nconst broken = (1 + ;'], 'E_SYNTAX', {
      cell: 1,
      line: 3,
    });
  });

  it('a Deno API the pipeline does not map, named with its Node equivalent', async () => {
    const d = await expectError(
      [
        "//| task: t\nconst text = await Deno.readTextFile('a.txt');\nconst st = await Deno.stat('a.txt');",
      ],
      'E_DENO_API',
      { cell: 1, line: 3, column: 18 },
    );
    expect(d.message).toContain('`Deno.stat`');
    expect(d.hint).toContain('`stat` from node:fs/promises');
  });

  it('`Deno` passed around as a value (its APIs can no longer be told apart)', async () => {
    const d = await expectError(
      ['//| task: t\nconst runtime = Deno;\nconst cwd = runtime.cwd();'],
      'E_DENO_API',
      { cell: 1, line: 2, column: 17 },
    );
    expect(d.message).toContain('`Deno` used as a value');
  });

  it('a jsr: import, naming what Node has instead', async () => {
    const d = await expectError(
      ["import { assert } from 'jsr:@std/assert';", '//| task: t\nassert(true);'],
      'E_DENO_IMPORT',
      { cell: 1, line: 1 },
    );
    expect(d.hint).toBe("Node has it built in: import from 'node:assert'");
  });

  it('a URL import from an npm CDN, naming the npm package and version', async () => {
    const d = await expectError(
      [
        "import * as d3 from 'https://esm.sh/d3-array@3.2.4';",
        '//| task: t\nconst m = d3.max([1, 2]);',
      ],
      'E_DENO_IMPORT',
      { cell: 1, line: 1 },
    );
    expect(d.hint).toContain('`npm install d3-array@3.2.4`');
  });

  it('a params cell with computed values', async () => {
    const d = await expectError(
      ['//| params\nconst n = 10;\nconst twice = n * 2;', '//| task: t\nconst m = n + twice;'],
      'E_PARAM_NOT_LITERAL',
      { cell: 1, line: 3 },
    );
    expect(d.message).toContain('twice');
  });

  it('a params cell with `let`: the keyword is named, not the literal value', async () => {
    const d = await expectError(
      ['//| params\nlet count = 3;', '//| task: t\nconst m = count + 1;'],
      'E_PARAM_NOT_LITERAL',
      { cell: 1, line: 2 },
    );
    expect(d.message).toBe('params are `const` declarations; `count` is declared with `let`');
    expect(d.hint).toContain('`const count = …`');
  });

  it('a setup cell reading a param', async () => {
    await expectError(
      ['//| params\nconst n = 10;', 'const doubled = n * 2;', '//| task: t\nconst m = doubled;'],
      'E_PARAM_IN_SETUP',
      { cell: 2, line: 1, column: 17 },
    );
  });

  it('a notebook with no directives compiles to nothing, with a note on how to tag', async () => {
    const r = await diagnosticsOf(['const a = 1;', 'console.log(a);']);
    expect(r.files).toEqual([]);
    expect(r.diagnostics).toMatchObject([
      { code: 'W_NO_DIRECTIVES', severity: 'note', notebook: NB },
    ]);
    expect(r.diagnostics[0]!.hint).toContain('//| task:');
  });
});

describe('notebook habits tslab itself trips on', () => {
  it('a cell reading a name before its own `let` of it', async () => {
    const d = await expectError(
      [
        '//| task: a\nlet df = [3, 1, 2];',
        '//| task: b\nconst n = 1;\nlet df = df.filter((x) => x > n);',
      ],
      'E_USED_BEFORE_DECLARATION',
      { cell: 2, line: 3, column: 10 },
    );
    expect(d.message).toContain('`df` is read before this cell declares it (line 3)');
    expect(d.hint).toContain('const df2');
  });

  it('a read earlier in the cell than the redeclaration, but not one inside a function', async () => {
    await expectError(
      [
        '//| task: a\nlet df = [1];',
        '//| task: b\nconst f = () => df.length;\nconst n = df.length;\nconst df = [2];',
      ],
      'E_USED_BEFORE_DECLARATION',
      { cell: 2, line: 3, column: 11 },
    );
    const fine = await diagnosticsOf([
      '//| task: a\nlet df = [1];',
      '//| task: b\nconst f = () => df.length;\nconst df = [2];\nconst n = f();\nclass One { static only = new One(); }\nconst one = One.only;',
    ]);
    expect(fine.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual(
      [],
    );
  });

  it('a cell declaring one name twice, naming both lines (a newcomer found it compiled, then failed to load naming generated/)', async () => {
    const d = await expectError(
      ['//| task: summary\nconst total = 3;\nconst shown = total;\nconst total = 5;'],
      'E_DUPLICATE_DECLARATION',
      { cell: 1, line: 4, column: 7 },
    );
    expect(d.message).toContain('`total` is declared twice in this cell (lines 2 and 4)');
    await expectError(
      ['//| task: t\nlet f = 1;\nfunction f() { return 2; }'],
      'E_DUPLICATE_DECLARATION',
      { cell: 1, line: 3 },
    );
    // What a module allows stays allowed: overloads, `var` twice, merged enums and interfaces.
    const fine = await diagnosticsOf([
      '//| task: t\nfunction g(a: string): string;\nfunction g(a: number): number;\nfunction g(a: any) { return a; }\nvar v = 1;\nvar v = 2;\ninterface I { a: number }\ninterface I { b: number }\nenum E { A }\nenum E { B = 1 }\nconst out = [g(1), v, E.B];',
    ]);
    expect(fine.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual(
      [],
    );
  });

  it('a class used above its declaration', async () => {
    await expectError(
      ['//| task: t\nconst k = new K();\nclass K {}'],
      'E_USED_BEFORE_DECLARATION',
      { cell: 1, line: 2, column: 15 },
    );
  });

  it("`{ seed }` naming another cell's variable warns (tslab throws ReferenceError) but still compiles", async () => {
    const r = await diagnosticsOf([
      '//| params\nconst seed = 42;',
      '//| task: t\nconst local = 1;\nconst cfg = { seed, local, n: seed };',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const ws = r.diagnostics.filter((x) => x.code === 'W_TSLAB_SHORTHAND');
    expect(ws).toHaveLength(1); // `local` is this cell's own: tslab is fine with it
    expect(ws[0]).toMatchObject({
      severity: 'warning',
      notebook: NB,
      cell: 2,
      cellId: 'c2',
      line: 3,
      column: 15,
    });
    expect(ws[0]!.hint).toContain('`seed: seed`');
    expect(formatDiagnostic(ws[0]!)).toContain('ReferenceError');
  });

  it("Deno notebooks get no shorthand warning (Deno's kernel resolves `{ seed }`)", async () => {
    const text = notebookText(
      ['//| params\nconst seed = 42;', '//| task: t\nconst cfg = { seed };'],
      { name: 'deno' },
    );
    const r = await diagnosticsOf(text);
    expect(r.diagnostics.filter((x) => x.code === 'W_TSLAB_SHORTHAND')).toEqual([]);
  });

  it('a misspelt name in a display-only statement is still reported', async () => {
    await expectError(['//| task: t\nconst rows = [1, 2];\nrwos.length;'], 'E_UNDECLARED_NAME', {
      cell: 1,
      line: 3,
      column: 1,
    });
  });

  it("a destructuring reassignment of another task's value suggests a new name, not a copy", async () => {
    // A plain `df = …` is a new version (habits.test.ts); a pattern assignment is not (yet).
    const d = await expectError(
      ['//| task: a\nlet df = [1, 2];', '//| task: b\n[df] = [df.filter((x) => x > 1)];'],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: 2, column: 2 },
    );
    expect(d.hint).toContain('const df2 = …');
  });
});

describe('display-only cells', () => {
  it('a task that only shows values warns that it computes nothing', async () => {
    const r = await diagnosticsOf([
      '//| task: load\nconst df = [1, 2];',
      '//| task: peek\n// how many?\ndf.length;\n`${df.length} rows`;',
      '//| task: after\nconst n = df.length + 1;',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const w = r.diagnostics.filter((d) => d.code === 'W_EMPTY_TASK');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', cell: 2, line: 1 });
    expect(w[0]!.message).toContain('task `peek` only shows values');
    expect(w[0]!.hint).toContain('//| explore');
  });
});

describe("reads of the current time (cached with the first run's)", () => {
  const clockWarnings = (r: { diagnostics: Diagnostic[] }) =>
    r.diagnostics.filter((d) => d.code === 'W_TASK_READS_CLOCK');
  /** Each warning's cell, line and what it says the task reads. */
  const clockSays = (r: { diagnostics: Diagnostic[] }) =>
    clockWarnings(r).map((d) => [d.cell, d.line, d.message.match(/current time \((.*?)\): /)![1]]);

  it('`Date.now()`, `new Date()` and `Date()` in a task warn once, at the first read, naming every call', async () => {
    const r = await diagnosticsOf([
      '//| params\nconst days = 7;',
      '//| task: window\nconst n = 1;\nconst since = new Date(Date.now() - days * 86400e3);',
      'const label = `${Date()} ${new Date}`;',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const w = clockWarnings(r);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', cell: 2, cellId: 'c2', line: 3, column: 24 });
    expect(w[0]!.message).toContain('task `window` reads the current time');
    expect(w[0]!.message).toContain('`Date.now()`, `Date()`, `new Date()`');
    expect(w[0]!.hint).toContain('--param');
    expect(w[0]!.hint).toContain('//| rerun');
  });

  it('a date computed from arguments, a local `Date`, a setup helper and a `//| rerun` task do not warn', async () => {
    const r = await diagnosticsOf([
      'const stamp = () => Date.now();',
      "//| task: fixed\nconst a = new Date('2024-01-01').getTime() + Date.UTC(2024, 0, 1) + new Date(0).getTime();",
      '//| task: shadow\nconst b = (() => { const Date = { now: () => 1 }; return Date.now(); })();',
      '//| task: always\n//| rerun\nconst c = Date.now();',
      "//| task: text\nconst d = 'Date.now()'; // new Date()",
    ]);
    expect(clockWarnings(r)).toEqual([]);
  });

  it('a task calling a setup helper that reads the clock warns at the call, naming the helper and its read', async () => {
    const r = await diagnosticsOf([
      'function today() {\n  return new Date().toISOString().slice(0, 10);\n}\nconst plain = (x: number) => x + 1;',
      '//| task: stamped\nconst n = plain(1);\nconst day = today();',
      '//| task: untouched\nconst m = plain(2);',
      '//| task: always\n//| rerun\nconst d = today();',
    ]);
    const w = clockWarnings(r);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', cell: 2, line: 3, column: 13 });
    expect(w[0]!.message).toContain(
      'task `stamped` reads the current time (`today`, a setup helper calling `new Date()` at cell 1, line 2)',
    );
  });

  it("SQL's clock in a sql`` template warns on its line; in a string or a comment it does not", async () => {
    const r = await diagnosticsOf([
      "import { sql } from 'cellar';",
      "//| task: recent\n//| dialect: duckdb\nconst rows = await sql`SELECT 'now()' AS s -- current_date\n  FROM sales\n  WHERE day > CURRENT_DATE - 7`;",
      "//| task: quoted\n//| dialect: duckdb\nconst q = await sql`SELECT 'current_timestamp' AS s, localtime_zone FROM t /* now() */`;",
      '//| task: bq\nconst b = await sql`SELECT * FROM d.t WHERE ts > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)`;',
    ]);
    const w = clockWarnings(r);
    expect(w.map((d) => [d.cell, d.line])).toEqual([
      [2, 5],
      [4, 2],
    ]);
    expect(w[0]!.message).toContain('task `recent` reads the current time (`current_date`)');
    expect(w[1]!.message).toContain('`current_timestamp()`');
  });

  it('a setup value computed with the clock warns on each task reading it, directly or through a helper or value using it', async () => {
    const r = await diagnosticsOf([
      'const YEAR = new Date().getFullYear();\nconst LABEL = `FY${YEAR}`;\nconst plain = 2;',
      'const STAMP = Date.now();\nfunction label() {\n  return LABEL;\n}',
      '//| task: yearly\nconst n = plain;\nconst y = YEAR + 1;',
      '//| task: labelled\nconst l = label();',
      '//| task: stamped\nconst s = STAMP;',
      '//| task: untouched\nconst m = plain + 1;',
      '//| task: always\n//| rerun\nconst a = STAMP + YEAR;',
    ]);
    const w = clockWarnings(r);
    expect(w.map((d) => [d.cell, d.line, d.column])).toEqual([
      [3, 3, 11],
      [4, 2, 11],
      [5, 2, 11],
    ]);
    expect(w[0]!.message).toContain(
      'task `yearly` reads the current time (`YEAR`, a setup value computed with `new Date()` at cell 1, line 1)',
    );
    expect(w[1]!.message).toContain(
      '(`label`, a setup helper using `LABEL` (`new Date()` at cell 1, line 1))',
    );
    expect(w[2]!.message).toContain(
      '(`STAMP`, a setup value computed with `Date.now()` at cell 2, line 1)',
    );
  });

  it('`Date.now` taken as a value, `Reflect.construct(Date, [])` and `Intl.DateTimeFormat().format()` warn', async () => {
    const r = await diagnosticsOf([
      '//| task: alias\nconst nowFn = Date.now;\nconst t = nowFn();',
      '//| task: destructured\nconst { now } = Date;\nconst t2 = now();',
      "//| task: indexed\nconst t3 = Date['now']();",
      '//| task: reflected\nconst d = Reflect.construct(Date, []);',
      "//| task: formatted\nconst s = new Intl.DateTimeFormat('en-US').format();\nconst p = Intl.DateTimeFormat().formatToParts();",
    ]);
    expect(clockWarnings(r).map((d) => d.message.match(/current time \((.*?)\):/)![1])).toEqual([
      '`Date.now`',
      '`Date.now`',
      '`Date.now()`',
      '`Reflect.construct(Date, [])`',
      '`Intl.DateTimeFormat().format()`, `Intl.DateTimeFormat().formatToParts()`',
    ]);
  });

  it('a date formatted or parsed from an argument, a duration and a setup class do not warn', async () => {
    const r = await diagnosticsOf([
      'class Log {\n  stamp() {\n    return Date.now();\n  }\n}',
      "//| task: given\nconst s = new Intl.DateTimeFormat('en-US').format(new Date(0));\nconst p = Date.parse('2020-01-01') + Date.UTC(2020, 0);\nconst d = Reflect.construct(Date, [0]);",
      '//| task: shadow\nconst q = (() => {\n  const Date = { now: 1 };\n  return Date.now;\n})();',
      '//| task: timed\nconst t0 = performance.now();\nconst ms = performance.now() - t0;',
      '//| task: logged\nconst log = new Log();',
    ]);
    expect(clockWarnings(r)).toEqual([]);
  });

  // Local modules as the host reads them (host.ts localModuleReader), from memory: the notebook is
  // notebooks/bad.ipynb, so `./lib/time.js` is notebooks/lib/time.ts.
  const withModules = (cells: string[], modules: Record<string, string>) =>
    compileNotebook(NB, notebookText(cells), {
      workdir: '../../notebooks',
      format: false,
      readModule: (from, spec) => {
        const parts: string[] = [];
        for (const p of `${from ? from.replace(/\/[^/]*$/, '') : 'notebooks'}/${spec}`.split('/'))
          if (p === '..') parts.pop();
          else if (p !== '.') parts.push(p);
        const path = parts.join('/').replace(/\.js$/, '.ts');
        return modules[path] === undefined ? undefined : { path, text: modules[path] };
      },
    });
  const timeModules = {
    'notebooks/lib/time.ts': [
      "// Date.now() in a comment, 'new Date()' in a string",
      "import { base } from './base.js';",
      "export const label = 'new Date()';",
      'export const today = () => new Date().toISOString().slice(0, 10);',
      'export function fixed(x: number) {',
      '  return new Date(x).getTime() + Date.UTC(2020, 0) + Date.parse(`${x}`);',
      '}',
      'export function stamp() {',
      '  return base();',
      '}',
      "export const recent = (sql: any) => sql`SELECT * FROM t WHERE CURRENT_DATE() > DATE '2020-01-01'`;",
      "export const quoted = (sql: any) => sql`SELECT 'now()' AS s -- current_date`;",
    ].join('\n'),
    'notebooks/lib/base.ts':
      'export function base() {\n  const t = `at ${Date.now()}`;\n  return t;\n}',
  };

  it("a task calling a local module's helper that reads the clock warns at the call, naming the module's file and line", async () => {
    const r = await withModules(
      [
        "import { today, fixed, stamp, recent, quoted, label } from './lib/time.js';\nconst dayOf = () => today();",
        '//| task: daily\nconst n = 1;\nconst day = today();',
        '//| task: stamped\nconst s = stamp();',
        '//| task: windowed\nconst rows = recent(1);',
        '//| task: viasetup\nconst d2 = dayOf();',
        "//| task: own\nimport { today as t2 } from './lib/time.js';\nconst d3 = t2();",
        '//| task: untouched\nconst f = fixed(1);\nconst l = label;\nconst q = quoted(1);',
        "//| task: split\nimport { stamp as s2 } from './lib/time.js';\nconst k = 1;",
        'const split2 = s2();',
        '//| task: always\n//| rerun\nconst d4 = today();',
      ],
      timeModules,
    );
    const w = clockWarnings(r);
    expect(w.map((d) => [d.cell, d.line, d.column])).toEqual([
      [2, 3, 13],
      [3, 2, 11],
      [4, 2, 14],
      [5, 2, 12],
      [6, 3, 12],
      [9, 1, 16],
    ]);
    expect(w.map((d) => d.message.match(/current time \((.*)\): its/)![1])).toEqual([
      "`today`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 4",
      "`stamp`, a local module's helper reading `Date.now()` at notebooks/lib/base.ts, line 2",
      "`recent`, a local module's helper reading `current_date()` at notebooks/lib/time.ts, line 11",
      '`dayOf`, a setup helper using `today` (`new Date()` at notebooks/lib/time.ts, line 4)',
      "`t2`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 4",
      "`s2`, a local module's helper reading `Date.now()` at notebooks/lib/base.ts, line 2",
    ]);
  });

  it("a sql`` template with type arguments or `sql.dialect(…)`, and a class's static method, in a local module warn (a tester's variants, stop 35)", async () => {
    const r = await withModules(
      [
        "import { today, since, Clock, Log } from './lib/clock.js';",
        '//| task: typed\nconst rows = await today();',
        '//| task: dialected\nconst rows2 = await since();',
        '//| task: statics\nconst at = Clock.now();',
        // An instance method that logs with the time does not date the result: not warned.
        '//| task: logged\nconst l = new Log().size();',
      ],
      {
        'notebooks/lib/clock.ts': [
          "import { sql } from 'cellar';",
          'export async function today() {',
          '  return await sql<{ d: string; n: Array<{ x: number }> }>`SELECT CURRENT_DATE() AS d`;',
          '}',
          "export const since = () => sql.dialect('duckdb')<{ d: string }>`SELECT now() AS d`;",
          'export class Clock {',
          '  static zone = "UTC";',
          '  static now(): string { return new Date().toISOString(); }',
          '}',
          'export class Log {',
          '  size(): number { return 1; }',
          '  stamp(): string { return new Date().toISOString(); }',
          '}',
        ].join('\n'),
      },
    );
    expect(
      clockWarnings(r).map((d) => [d.cell, d.message.match(/current time \((.*)\): its/)![1]]),
    ).toEqual([
      [
        2,
        "`today`, a local module's helper reading `current_date()` at notebooks/lib/clock.ts, line 3",
      ],
      [3, "`since`, a local module's helper reading `now()` at notebooks/lib/clock.ts, line 5"],
      [
        4,
        "`Clock.now`, a local module's helper reading `new Date()` at notebooks/lib/clock.ts, line 8",
      ],
    ]);
  });

  it("`Temporal.Now.*()` (global or a polyfill's, any member, taken whole) and a held formatter's `format()` warn", async () => {
    const r = await diagnosticsOf([
      "import { Temporal as T } from 'temporal-polyfill';\nfunction stamp() {\n  return T.Now.instant().toString();\n}",
      '//| task: instant\nconst i = Temporal.Now.instant();',
      '//| task: zoned\nconst z = Temporal.Now.zonedDateTimeISO().hour + Temporal.Now.plainDateISO().day;',
      '//| task: whole\nconst { Now } = Temporal;\nconst d = Now.plainDateTimeISO();',
      "//| task: polyfill\nimport { Temporal as P } from '@js-temporal/polyfill';\nconst tz = P.Now.timeZoneId();",
      '//| task: viahelper\nconst s = stamp();',
      "//| task: held\nconst fmt = new Intl.DateTimeFormat('en-GB', { dateStyle: 'short' });\nconst same = fmt;\nconst s1 = same.format();",
      "//| task: parts\nconst f2 = Intl.DateTimeFormat('en') as Intl.DateTimeFormat;\nconst p = f2.formatToParts();",
      '//| task: locale\nconst l = new Date().toLocaleDateString();',
    ]);
    expect(clockSays(r)).toEqual([
      [2, 2, '`Temporal.Now.instant()`'],
      [3, 2, '`Temporal.Now.zonedDateTimeISO()`, `Temporal.Now.plainDateISO()`'],
      [4, 2, '`Temporal.Now`'],
      [5, 3, '`P.Now.timeZoneId()`'],
      [6, 2, '`stamp`, a setup helper calling `T.Now.instant()` at cell 1, line 3'],
      [7, 4, '`Intl.DateTimeFormat().format()`'],
      [8, 3, '`Intl.DateTimeFormat().formatToParts()`'],
      [9, 2, '`new Date()`'],
    ]);
  });

  it("a setup cell's formatter called with no date in a task, or in another setup cell's helper, warns", async () => {
    const r = await diagnosticsOf([
      "const fmt = new Intl.DateTimeFormat('en-GB');\nconst nf = new Intl.NumberFormat('en');",
      'function stamp() {\n  return fmt.formatToParts();\n}',
      '//| task: direct\nconst d = fmt.format();',
      '//| task: helper\nconst h = stamp();',
      '//| task: given\nconst g = fmt.format(new Date(0)) + nf.format(2);',
      "//| task: own\nconst fmt2 = { format: () => 'x' };\nconst o = fmt2.format();",
    ]);
    expect(clockSays(r)).toEqual([
      [3, 2, '`Intl.DateTimeFormat().format()`'],
      [
        4,
        2,
        '`stamp`, a setup helper calling `Intl.DateTimeFormat().formatToParts()` at cell 2, line 2',
      ],
    ]);
  });

  it('`Temporal.Now` in a string or a comment, a local `Temporal` or `Date`, and a formatter given a date do not warn', async () => {
    const r = await diagnosticsOf([
      'const x = 1;',
      "//| task: text\nconst s = 'Temporal.Now.instant()'; // Temporal.Now.plainDateISO()\nconst t = `Temporal.Now ${x}`; /* Date.now() */",
      '//| task: shadowT\nconst Temporal = { Now: { instant: () => 0 } };\nconst i = Temporal.Now.instant();',
      '//| task: shadowD\nconst Date = { now: () => 1 };\nconst n = Date.now();',
      '//| task: inner\nconst k = ((Temporal: { Now: { instant(): number } }) => Temporal.Now.instant())({ Now: { instant: () => 1 } });',
      "//| task: given\nconst fmt = new Intl.DateTimeFormat('en');\nconst g = fmt.format(0) + fmt.formatToParts(new Date(0)).length;",
      "//| task: other\nconst nf = new Intl.NumberFormat('en');\nconst h = nf.format(1);",
    ]);
    expect(clockWarnings(r)).toEqual([]);
  });

  it('a local module read through a namespace import, a re-export, `export *` or a default export warns', async () => {
    const modules = {
      'notebooks/lib/time.ts': [
        "// Temporal.Now.instant() in a comment, 'Temporal.Now' in a string",
        'export const today = () => new Date().toISOString().slice(0, 10);',
        "export const label = 'Temporal.Now';",
        'export const fixed = (x: number) => new Date(x);',
        "const fmt = new Intl.DateTimeFormat('en');",
        'export function pretty() {',
        '  return fmt.format();',
        '}',
        'export const instant = () => Temporal.Now.instant();',
        "export const given = (d: Date) => new Intl.DateTimeFormat('en').format(d) + fmt.format(d);",
      ].join('\n'),
      'notebooks/lib/index.ts': [
        "export { today, fixed as fixed2 } from './time.js';",
        "export * from './time.js';",
        "export * as t from './time.js';",
      ].join('\n'),
      'notebooks/lib/ns.ts': [
        "import * as time from './time.js';",
        'export function day() {',
        '  return time.today();',
        '}',
        'export function plain() {',
        '  return time.fixed(1);',
        '}',
      ].join('\n'),
      'notebooks/lib/dflt.ts': 'export default function stamp() {\n  return Date.now();\n}',
      'notebooks/lib/anon.ts': 'export default () => new Date();',
      'notebooks/lib/own.ts': [
        'export function fake() {',
        '  const Date = { now: () => 1 };',
        '  return Date.now() + new Date();',
        '}',
        'export function real() {',
        '  return Date.now();',
        '}',
        'export function alsoFake() {',
        '  class Temporal { static Now = { instant: () => 0 }; }',
        '  return Temporal.Now.instant();',
        '}',
      ].join('\n'),
      'notebooks/lib/named.ts':
        'const now = () => Temporal.Now.plainDateISO();\nexport default now;',
      'notebooks/lib/uses.ts':
        "import stampIt from './dflt.js';\nexport const twice = () => stampIt() * 2;",
    };
    const r = await withModules(
      [
        "import * as tm from './lib/time.js';\nimport { today as td, fixed2, pretty, label, t } from './lib/index.js';\nimport { day, plain } from './lib/ns.js';\nimport stamp from './lib/dflt.js';\nimport anon from './lib/anon.js';\nimport named from './lib/named.js';\nimport { twice } from './lib/uses.js';\nimport { given } from './lib/time.js';\nconst viaNs = () => [1].map(tm.today);",
        '//| task: ns\nconst a = tm.today();',
        '//| task: reexport\nconst b = td();',
        '//| task: star\nconst c = pretty();',
        '//| task: starAs\nconst d = t.instant();',
        '//| task: nsInModule\nconst e = day();',
        '//| task: dflt\nconst f = stamp();',
        '//| task: anon\nconst g = anon();',
        '//| task: named\nconst h = named();',
        '//| task: uses\nconst i = twice();',
        '//| task: setupNs\nconst k = viaNs();',
        '//| task: takenApart\nconst { fixed: fx, today: td2 } = tm;\nconst l = td2() + fx(1);',
        "//| task: ownDate\nimport { fake, real, alsoFake } from './lib/own.js';\nconst m = fake() + alsoFake();\nconst o = real();",
        '//| task: untouched\nconst j = tm.fixed(1) + fixed2(2) + plain() + label + t.label + given(new Date(0)) + tm.label;',
      ],
      modules,
    );
    expect(
      clockWarnings(r).map((d) => [d.cell, d.message.match(/current time \((.*)\): its/)![1]]),
    ).toEqual([
      [
        2,
        "`tm.today`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 2",
      ],
      [3, "`td`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 2"],
      [
        4,
        "`pretty`, a local module's helper reading `Intl.DateTimeFormat().format()` at notebooks/lib/time.ts, line 7",
      ],
      [
        5,
        "`t.instant`, a local module's helper reading `Temporal.Now.instant()` at notebooks/lib/time.ts, line 9",
      ],
      [6, "`day`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 2"],
      [7, "`stamp`, a local module's helper reading `Date.now()` at notebooks/lib/dflt.ts, line 2"],
      [8, "`anon`, a local module's helper reading `new Date()` at notebooks/lib/anon.ts, line 1"],
      [
        9,
        "`named`, a local module's helper reading `Temporal.Now.plainDateISO()` at notebooks/lib/named.ts, line 1",
      ],
      [
        10,
        "`twice`, a local module's helper reading `Date.now()` at notebooks/lib/dflt.ts, line 2",
      ],
      [
        11,
        '`viaNs`, a setup helper using `tm.today` (`new Date()` at notebooks/lib/time.ts, line 2)',
      ],
      [
        12,
        "`tm.today`, a local module's helper reading `new Date()` at notebooks/lib/time.ts, line 2",
      ],
      [13, "`real`, a local module's helper reading `Date.now()` at notebooks/lib/own.ts, line 6"],
    ]);
  });

  it('local modules importing each other in a cycle, or missing, are read once and warn on nothing new', async () => {
    const r = await withModules(
      [
        "import { a } from './lib/a.js';\nimport { gone } from './lib/gone.js';",
        '//| task: t\nconst x = a() + gone;',
      ],
      {
        'notebooks/lib/a.ts': "import { b } from './b.js';\nexport const a = () => b();",
        'notebooks/lib/b.ts': "import { a } from './a.js';\nexport const b = (): number => a();",
      },
    );
    expect(clockWarnings(r)).toEqual([]);
  });

  it("DuckDB's local-time functions and `ago(…)` in a sql`` template warn; in a string they do not", async () => {
    const r = await diagnosticsOf([
      "import { sql } from 'cellar';",
      "//| task: local\n//| dialect: duckdb\nconst rows = await sql`SELECT current_localtimestamp(), current_localtime(), 'ago(' AS s\n  FROM t WHERE ts > ago(INTERVAL 7 DAY)`;",
      '//| task: bq\nconst b = await sql`SELECT CURRENT_DATETIME() AS at, LOCALTIMESTAMP AS l`;',
    ]);
    const w = clockWarnings(r);
    expect(w.map((d) => [d.cell, d.line])).toEqual([
      [2, 3],
      [3, 2],
    ]);
    expect(w[0]!.message).toContain(
      '(`current_localtimestamp()`, `current_localtime()`, `ago(…)`)',
    );
    expect(w[1]!.message).toContain('(`current_datetime()`, `localtimestamp`)');
  });
});

describe('generated code a reviewer accepts as hand-written', () => {
  // Formatted, as `cellar compile` writes them.
  const compiled = (cellsOrText: string[] | string) =>
    compileNotebook(
      'notebooks/n.ipynb',
      typeof cellsOrText === 'string' ? cellsOrText : notebookText(cellsOrText),
      { workdir: '../../notebooks' },
    );
  const taskModule = async (cells: string[], task: string) => {
    const r = await compiled(cells);
    return r.files.find((f) => f.path === `n/${task}.ts`)!.contents;
  };

  it('display statements that format with side-effect-free methods are left out', async () => {
    const text = await taskModule(
      [
        '//| task: t\nconst xs = [1.25, 2];\nconst m = { acc: 0.5 };\n`accuracy ${m.acc.toFixed(3)}`;\n`${xs.length} kept: ${xs.join(", ")}`;\nMath.round(m.acc);',
      ],
      't',
    );
    expect(text).not.toContain('toFixed');
    expect(text).not.toContain('join');
    expect(text).not.toContain('Math.round');
  });

  it('a call that may have an effect stays, even in a template or behind a pure-looking method', async () => {
    const text = await taskModule(
      [
        '//| task: t\nconst xs = [2, 1];\n`${xs.sort().join(",")}`;\nxs.map((x) => console.log(x)).join();\nconsole.log(xs.length);',
      ],
      't',
    );
    expect(text).toContain("`${xs.sort().join(',')}`;");
    expect(text).toContain('xs.map((x) => console.log(x)).join();');
    expect(text).toContain('console.log(xs.length);');
  });

  it('defineTask states only what differs from the defaults, and the function takes only what it reads', async () => {
    const plain = await taskModule(['//| task: make\nconst xs = [1];'], 'make');
    expect(plain).toContain('export function make() {');
    expect(plain).not.toMatch(
      /params: \{\}|inputs: \{\}|version: 0|rerun: false|cache: 'code'|_params|_inputs/,
    );
    expect(plain).not.toContain('Pure');
    const tuned = await taskModule(
      [
        '//| params\nconst k = 2;',
        '//| task: make\n//| version: 3\n//| rerun\n//| cache: params\nconst xs = [k];',
        '//| task: use\nconst ys = xs.map((x) => x + 1);',
      ],
      'make',
    );
    expect(tuned).toContain('version: 3');
    expect(tuned).toContain('rerun: true');
    expect(tuned).toContain("cache: 'params'");
    expect(tuned).toContain("params: { k: { type: 'number', default: 2 } }");
    const reader = await taskModule(
      ['//| task: make\nconst xs = [1];', '//| task: use\nconst ys = xs.map((x) => x + 1);'],
      'use',
    );
    expect(reader).toMatch(
      /export function use\(\{ xs \}: \{ xs: TaskOutputs<typeof makeTask>\['xs'\] \}\) \{/,
    );
  });

  it('task names with `_`, `-` and `.` become camel-case identifiers', async () => {
    const r = await compiled([
      '//| task: hour_rates\nconst a = [1];',
      '//| task: route-rates\nconst b = a.length;',
      '//| task: by.day\nconst c = b + 1;',
    ]);
    const pipeline = r.files.find((f) => f.path === 'n/pipeline.ts')!.contents;
    expect(pipeline).toContain('tasks: [hourRatesTask, routeRatesTask, byDayTask]');
    expect(r.files.find((f) => f.path === 'n/hour_rates.ts')!.contents).toContain(
      'export function hourRates()',
    );
  });

  it('pipeline.ts imports setup.ts only for setup statements that must run first', async () => {
    const pipelineOf = async (cells: string[]) =>
      (await compiled(cells)).files.find((f) => f.path === 'n/pipeline.ts')!.contents;
    expect(
      await pipelineOf([
        'interface Row { n: number }\nconst half = (x: number) => x / 2;',
        '//| task: t\nconst rows: Row[] = [{ n: half(2) }];',
      ]),
    ).not.toContain("import './setup.js'");
    expect(
      await pipelineOf([
        'const seen: string[] = [];\nseen.push("setup");',
        '//| task: t\nconst n = 1;',
      ]),
    ).toContain(
      "// Setup's top-level statements run first, as in the notebook.\nimport './setup.js';",
    );
  });

  it('headers and labels name cells by id: a cell added above changes no generated file', async () => {
    const text = notebookText([
      '//| task: t\nconst xs = [1];',
      'const n = xs.length;',
      '//| test: t\nif (n !== 1) throw new Error("n");',
    ]);
    const nb = JSON.parse(text);
    nb.cells.unshift({
      cell_type: 'code',
      id: 'peek',
      metadata: {},
      execution_count: null,
      outputs: [],
      source: '//| explore\n1 + 1;',
    });
    const before = (await compiled(text)).files;
    const after = (await compiled(JSON.stringify(nb))).files;
    expect(after.map((f) => f.contents)).toEqual(before.map((f) => f.contents));
    expect(before.find((f) => f.path === 'n/t.ts')!.contents).toMatch(
      /from notebooks\/n\.ipynb, cells `c1`, `c2`\.\n[\s\S]*\/\/ notebook cell `c1`\n[\s\S]*\/\/ notebook cell `c2`\n/,
    );
  });
});

describe('aliases made in one cell and changed in another', () => {
  it('`const data = xs` in one cell of a task, `data.sort()` in the next', async () => {
    const d = await expectError(
      ['//| task: load\nconst xs = [3, 1, 2];', '//| task: use\nconst data = xs;', 'data.sort();'],
      'E_MUTATES_UPSTREAM',
      { cell: 3, line: 1, column: 1 },
    );
    expect(d.message).toContain(
      'calls `data.sort(...)` on `data`, which is `xs` from task `load` (cell 1) under another name (cell 2)',
    );
    expect(d.hint).toContain('in cell 2: `const data = structuredClone(xs)`');
  });

  it('through a chain of aliases and a loop variable', async () => {
    const d = await expectError(
      [
        '//| task: load\nconst rows = [{ n: 1 }];',
        '//| task: use\nconst a = rows;\nconst b = a;',
        'for (const r of b) r.n = 2;',
      ],
      'E_MUTATES_UPSTREAM',
      { cell: 3, line: 1, column: 20 },
    );
    expect(d.message).toContain(
      'changes `r.n`, an element of `b`, which is `rows` from task `load`',
    );
  });

  it('rebinding the alias, or changing a copy, is fine', async () => {
    const r = await diagnosticsOf([
      '//| task: load\nconst xs = [3, 1, 2];',
      '//| task: use\nlet data = xs;\nconst copy = [...xs];',
      'data = data.filter((x) => x > 1);\ncopy.sort();',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('SQL that does not parse', () => {
  it('warns on the cell and the line the query is on, and still compiles', async () => {
    const r = await diagnosticsOf([
      "import { sql } from 'cellar';",
      '//| task: q\n//| dialect: duckdb\nconst good = sql`SELECT 1 AS one`;\nconst bad = sql`\n  SELECT origin\n  FROM flights\n  WHERE delay >> 3 AND`;',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const w = r.diagnostics.filter((d) => d.code === 'W_SQL_SYNTAX');
    expect(w.map(formatDiagnostic)).toHaveLength(1);
    expect(w[0]).toMatchObject({ severity: 'warning', notebook: NB, cell: 2, cellId: 'c2' });
    expect(w[0]!.line).toBeGreaterThanOrEqual(4); // inside the bad template, not the good one on line 3
    expect(w[0]!.message).toContain('does not parse as duckdb SQL');
  });

  it('names the default dialect and suggests the directive when none is set', async () => {
    const r = await diagnosticsOf([
      "import { sql } from 'cellar';",
      '//| task: q\nconst bad = sql`SELEC origin FROM t`;',
    ]);
    const w = r.diagnostics.find((d) => d.code === 'W_SQL_SYNTAX')!;
    expect(w).toMatchObject({ cell: 2, line: 2 });
    expect(w.message).toContain('BigQuery (the default)');
    expect(w.hint).toContain('//| dialect: duckdb');
  });
});

describe('a test cell in the middle of its task', () => {
  it('warns when a later cell of the task changes what the test checks', async () => {
    const r = await diagnosticsOf([
      '//| task: a\nlet df = [1, 2];\nconst label = "x";',
      "//| test: a\nimport assert from 'node:assert';\nassert.equal(df.length, 2);\nassert.equal(label, 'x');",
      'df = [...df, 3];',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const w = r.diagnostics.filter((d) => d.code === 'W_TEST_SEES_LATER_VALUE');
    expect(w.map(formatDiagnostic)).toHaveLength(1); // `label` is not changed later
    expect(w[0]).toMatchObject({ severity: 'warning', cell: 2, cellId: 'c2', line: 3, column: 14 });
    expect(w[0]!.message).toContain('cell 3 changes it afterwards');
    expect(w[0]!.hint).toContain('move this test below cell 3');
  });

  it("says nothing for a test after the task's last cell", async () => {
    const r = await diagnosticsOf([
      '//| task: a\nlet df = [1, 2];',
      'df = [...df, 3];',
      "//| test: a\nimport assert from 'node:assert';\nassert.equal(df.length, 3);",
    ]);
    expect(r.diagnostics.filter((d) => d.code === 'W_TEST_SEES_LATER_VALUE')).toEqual([]);
  });
});

describe('output codecs', () => {
  it('an unknown codec warns with the built-in one people mean', async () => {
    const r = await diagnosticsOf([
      '//| task: t\n//| output: rows=parquet\nconst rows = [{ a: 1 }];',
    ]);
    expect(r.files.length).toBeGreaterThan(0);
    const w = r.diagnostics.find((d) => d.code === 'W_UNKNOWN_CODEC')!;
    expect(w).toMatchObject({ severity: 'warning', cell: 1, line: 2 });
    expect(w.hint).toBe('did you mean `rows=table`?');
    expect(formatDiagnostic(w)).toContain('2 | //| output: rows=parquet');
    const typo = await diagnosticsOf(['//| task: t\n//| output: rows=jsno\nconst rows = [1];']);
    expect(typo.diagnostics.find((d) => d.code === 'W_UNKNOWN_CODEC')!.hint).toBe(
      'did you mean `rows=json`?',
    );
  });

  it("the compiler's list of built-in codecs is the runtime's", async () => {
    const { BUILTIN_CODECS } = await import('../../compiler/notebook/directives.js');
    const { getCodec, hasCodec } = await import('../../runtime/codecs/index.js');
    for (const id of BUILTIN_CODECS) expect(hasCodec(id), id).toBe(true);
    const known = /known: ([^)]*)\)/
      .exec(
        (() => {
          try {
            getCodec('no-such-codec');
            return '';
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      )![1]!
      .split(', ');
    expect(['auto', ...known].sort()).toEqual([...BUILTIN_CODECS].sort());
  });
});

describe('functions held in consts', () => {
  it('`const double = (x) => …` in one task, used by another, is a function crossing tasks', async () => {
    const d = await expectError(
      [
        '//| task: a\nconst xs = [1];\nconst double = (x: number) => 2 * x * xs.length;',
        '//| task: b\nconst ys = xs.map(double);',
      ],
      'E_FUNCTION_CROSSES_TASK',
      { cell: 2, line: 2, column: 19 },
    );
    expect(d.message).toContain('uses function `double`');
  });

  it('a leaf task does not store its function consts as results', async () => {
    const r = await diagnosticsOf([
      '//| task: a\nconst f = (x: number) => x * 2;\nconst K = class {};\nconst ys = [1, 2].map(f);',
    ]);
    const module = r.files.find((f) => f.path === 'bad/a.ts')!.contents;
    expect(module).toContain('return { ys };');
    expect(module).toMatch(/outputs: \{ ys: \{\} \}/);
  });
});

describe('E_GLOBAL_STATE', () => {
  it.each([
    ['a global property', 'globalThis.factor = 5;'],
    ['Object.assign on globalThis', 'Object.assign(globalThis, { factor: 5 });'],
    ['a built-in prototype', '(Array.prototype as any).total = function () { return 0; };'],
    ['inside a helper of the task', 'const set = () => { (global as any).factor = 5; };\nset();'],
    [
      'Object.defineProperty on a prototype',
      "Object.defineProperty(Array.prototype, 'total', { value: 1 });",
    ],
    ['the console', 'console.log = () => {};'],
  ])('a task changing %s is refused at its line', async (_, code) => {
    const d = await expectError([`//| task: a\n${code}\nconst k = 1;`], 'E_GLOBAL_STATE', {
      cell: 1,
      line: 2,
    });
    expect(d.message).toContain('a global every task in the process shares');
  });

  it('a setup helper a task calls is refused at the call; setup changing a global as it loads, and reads, pass', async () => {
    const d = await expectError(
      [
        'function setFactor(f: number): void { (globalThis as any).factor = f; }',
        '//| task: a\nsetFactor(5);\nconst k = 1;',
      ],
      'E_GLOBAL_STATE',
      { cell: 2, line: 2, column: 1 },
    );
    expect(d.message).toContain('task `a` calls `setFactor`');
    const ok = await diagnosticsOf([
      '(globalThis as any).factor = 5;\nconst fmt = new Intl.NumberFormat("en");',
      '//| task: a\nconst f = (globalThis as any).factor as number;\nconst s = Reflect.set({}, "a", 1);\nconsole.clear();\nconst n = Math.max(f, 1);',
    ]);
    expect(ok.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_RESERVED_NAME', () => {
  it("a task's `__proto__` is refused at its line (in the pipeline it would set a prototype)", async () => {
    const d = await expectError(
      [
        '//| task: a\nconst k = 1;\nconst __proto__ = { a: 1 };',
        '//| task: b\nconst n = __proto__.a + k;',
      ],
      'E_RESERVED_NAME',
      { cell: 1, line: 3 },
    );
    expect(d.message).toContain('`__proto__` cannot name a task');
    expect(d.snippet).toBe('const __proto__ = { a: 1 };');
  });

  it('a task named `__proto__` is refused at its directive', async () => {
    const d = await expectError(['//| task: __proto__\nconst k = 1;'], 'E_RESERVED_NAME', {
      cell: 1,
      line: 1,
    });
    expect(d.message).toContain('`__proto__` cannot name a task');
  });

  it("a task named for the store's own entries (`_runs`, `_source.json`, any case) is refused at its directive", async () => {
    // A tester's finding: `_source.json` compiled, then failed at run time with ENOTDIR;
    // `_runs` stored its outputs among the run logs.
    for (const [name, says] of [
      ['_runs', 'the store keeps its run logs in the folder `_runs`'],
      ['_source.json', 'the store keeps the file `_source.json`'],
      ['_RUNS', 'the store keeps its run logs'],
    ] as const) {
      const d = await expectError([`//| task: ${name}\nconst k = 1;`], 'E_RESERVED_NAME', {
        cell: 1,
        line: 1,
      });
      expect(d.message).toContain(`\`${name}\` cannot name a task: ${says}`);
    }
    // Other names with a leading `_` are task names as before.
    const ok = await diagnosticsOf([
      '//| task: _runs2\nconst k = 1;',
      '//| task: _src\nconst j = 1;',
    ]);
    expect(ok.diagnostics.filter((x) => x.severity === 'error')).toEqual([]);
  });
});

describe('E_SETUP_STATE: a setup helper called only while the setup loads', () => {
  // `register` pushes onto setup state; a task reads that state. Called only at the top level of
  // setup cells, the change happens once, before any task, in every process: allowed. Any other
  // use may run it later, in whatever task runs first: refused.
  const helper =
    "const registered: string[] = [];\nfunction register(name: string): void { registered.push(name); }\nregister('a');";
  const reader = '//| task: t\nconst n = registered.length;';
  const setupState = async (cells: string[]) =>
    (await diagnosticsOf(cells)).diagnostics.filter((d) => d.code === 'E_SETUP_STATE');

  it('passes when every use is a top-level call in a setup cell (this one or another)', async () => {
    expect(await setupState([helper, "register('b');", reader])).toEqual([]);
  });

  it("is refused when a task calls it too, named at the task's call with the helper's line", async () => {
    const d = await expectError(
      [helper, "//| task: t\nregister('x');\nconst n = registered.length;"],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 1 },
    );
    expect(d.message).toMatch(
      /^task `t` calls `register`, a setup helper that calls `registered\.push\(\.\.\.\)` on `registered` \(declared in setup, cell 1; the change is in cell 1, line 2\)/,
    );
    expect(d.snippet).toBe("register('x');");
  });

  it('variant: an append by index (`names[names.length] = n`) is a change, not a memo key', async () => {
    const append =
      'const names: string[] = [];\nfunction register(n: string): void { names[names.length] = n; }';
    const d = await expectError(
      [append, "//| task: t\nregister('x');\nconst n = names.length;"],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 1 },
    );
    expect(d.message).toContain('assigns to `names[names.length]` of `names`');
    // A key from elsewhere is the plain-object memo, as before.
    const memo =
      'const memo: Record<number, number> = {};\nfunction fib(n: number): number { return n < 2 ? n : (memo[n] ??= fib(n - 1) + fib(n - 2)); }\nfunction square(n: number): number { memo[n] = n * n; return memo[n]; }';
    expect(await setupState([memo, '//| task: t\nconst f = fib(10) + square(3);'])).toEqual([]);
  });

  it('names the first task calling it, in notebook order', async () => {
    const d = await expectError(
      [helper, reader, "//| task: u\nconst k = 1;\nregister('y');", "//| task: w\nregister('z');"],
      'E_SETUP_STATE',
      { cell: 3, line: 3, column: 1 },
    );
    expect(d.message).toContain('task `u` calls `register`');
  });

  it('variant: a change through a local alias, a borrowed mutator or a reflective setter', async () => {
    const cases: [string, string][] = [
      [
        'function register(n: string): void { const l = names; l.push(n); }',
        'calls `names.push(...)` on `names`',
      ],
      [
        'function register(n: string): void { const a = names; const b = a; b.splice(0, 0, n); }',
        'calls `names.splice(...)` on `names`',
      ],
      [
        'function register(n: string): void { Array.prototype.push.call(names, n); }',
        'calls `names.push(...)` on `names`',
      ],
      [
        'function register(n: string): void { [].push.apply(names, [n] as never[]); }',
        'calls `names.push(...)` on `names`',
      ],
      [
        'function register(n: string): void { Reflect.apply(Array.prototype.unshift, names, [n]); }',
        'calls `names.unshift(...)` on `names`',
      ],
      ['const register = names.push.bind(names);', 'calls `names.push(...)` on `names`'],
      ['const register = Array.prototype.push.bind(names);', 'calls `names.push(...)` on `names`'],
      [
        'function register(n: string): void { Reflect.set(names, names.length, n); }',
        'calls `Reflect.set(...)` on `names`',
      ],
      [
        'function register(n: string): void { Object.defineProperty(names, String(names.length), { value: n, enumerable: true }); }',
        'calls `Object.defineProperty(...)` on `names`',
      ],
    ];
    for (const [body, says] of cases) {
      const setup = `const names: string[] = [];\n${body}`;
      const d = await expectError(
        [setup, "//| task: t\nregister('x');\nconst n = names.length;"],
        'E_SETUP_STATE',
        { cell: 2, line: 2, column: 1 },
      );
      expect(d.message, body).toContain(says);
    }
    // Reassigning the local alias, or reading through it, changes nothing shared.
    const reads =
      'const names: string[] = [];\nfunction count(): number { let l = names; const k = l.length; l = []; return k + l.length; }';
    expect(await setupState([reads, '//| task: t\nconst n = count();'])).toEqual([]);
    // A Map memo filled through a borrowed `set` is still the memo idiom.
    const memo =
      'const memo = new Map<number, number>();\nfunction sq(n: number): number { Map.prototype.set.call(memo, n, n * n); return memo.get(n)!; }';
    expect(await setupState([memo, '//| task: t\nconst f = sq(3);'])).toEqual([]);
  });

  it('names the real receiver of a method called on a part of the value (`cfg.list.splice`)', async () => {
    const cases: [string, string][] = [
      ['function drop(): void { cfg.list.splice(0, 1); }', 'calls `cfg.list.splice(...)` on `cfg`'],
      ["function drop(): void { cfg.by['k'].pop(); }", "calls `cfg.by['k'].pop(...)` on `cfg`"],
      ['function drop(): void { cfg!.list.reverse(); }', 'calls `cfg.list.reverse(...)` on `cfg`'],
      [
        'function drop(): void { const c = cfg; c.list.sort(); }',
        'calls `cfg.list.sort(...)` on `cfg`',
      ],
      [
        'function drop(): void { empty(cfg); }\nfunction empty(o: typeof cfg) { o.list.shift(); }',
        'calls `cfg.list.shift(...)` on `cfg`',
      ],
    ];
    for (const [body, says] of cases) {
      const setup = `const cfg = { list: [1, 2, 3], by: { k: [1] } };\n${body}`;
      const d = await expectError(
        [setup, '//| task: t\ndrop();\nconst n = cfg.list.length + cfg.by.k.length;'],
        'E_SETUP_STATE',
        { cell: 2, line: 2, column: 1 },
      );
      expect(d.message, body).toContain(says);
    }
  });

  it('is refused when the setup calls it later (a timer) or hands it on as a value', async () => {
    for (const later of [
      'setTimeout(() => register("late"), 0);',
      "['x'].forEach(register);",
      'const again = () => register("y");\nagain();',
    ])
      expect(await setupState([`${helper}\n${later}`, reader]), later).toHaveLength(1);
  });
});

describe('changes reaching another value through destructuring, a part, a literal or an IIFE parameter', () => {
  const errors = async (cells: string[]) =>
    (await diagnosticsOf(cells)).diagnostics.filter((d) => d.severity === 'error');

  it.each([
    ['object destructuring', 'const { items } = state;\nitems.push(1);', 'state'],
    ['array destructuring', 'const [first] = lists;\nfirst.push(1);', 'lists'],
    ['a nested pattern', 'const { deep: { inner } } = state;\ninner.push(1);', 'state'],
    ['a part taken by name', 'const items = state.items;\nitems.push(1);', 'state'],
    ['an array literal taken apart', 'const k = 0;\n[cfg][0].x = 1;', 'cfg'],
    ['an object literal taken apart', 'const k = 0;\n({ c: cfg }).c.x = 1;', 'cfg'],
    ['an IIFE parameter', 'const k = 0;\n((s: string[]) => s.push("a"))(names);', 'names'],
    [
      'a `let` alias in a block',
      'const k = 0;\nif (k === 0) { let l = names; l.push("a"); }',
      'names',
    ],
    [
      'a destructured loop variable',
      'const k = 0;\nfor (const { tags } of rows) tags.push("a");',
      'rows',
    ],
    [
      'a destructured callback parameter',
      'const k = 0;\nrows.forEach(({ tags }) => tags.push("a"));',
      'rows',
    ],
    [
      'a destructured IIFE parameter',
      'const k = 0;\n(({ items }: { items: number[] }) => items.push(1))(state);',
      'state',
    ],
  ])(
    'a task changing setup state through %s is E_MUTATES_UPSTREAM at its line',
    async (_, code, root) => {
      const setup =
        'const state = { items: [] as number[], deep: { inner: [] as number[] } };\nconst lists = [[1], [2]];\nconst cfg = { x: 0 };\nconst names: string[] = [];\nconst rows = [{ tags: [] as string[] }];';
      const d = await expectError(
        [setup, `//| task: t\n${code}\nconst n = 1;`],
        'E_MUTATES_UPSTREAM',
        { cell: 2, line: 3 },
      );
      expect(d.message).toContain(`\`${root}\``);
      expect(d.message).toContain('a setup cell');
    },
  );

  it.each([
    ['destructuring', 'const { items } = state;\n  items.push(x);'],
    ['array destructuring', 'const [first] = lists;\n  first.push(x);'],
    ['an array literal taken apart', '[state][0].items.push(x);'],
    ['an IIFE parameter', '((s: number[]) => s.push(x))(state.items);'],
    ['a reassignment reading itself', 'count = count + x;'],
    ['a `let` alias', 'let l = state.items;\n  l.push(x);'],
  ])(
    'a setup helper a task calls changing setup state through %s is E_SETUP_STATE at the call',
    async (_, body) => {
      const setup = `const state = { items: [] as number[] };\nconst lists = [[1], [2]];\nlet count = 0;\nfunction add(x: number): void {\n  ${body}\n}\nfunction size(): number { return state.items.length + lists[0]!.length + count; }`;
      const d = await expectError(
        [setup, '//| task: t\nadd(1);\nconst n = size();'],
        'E_SETUP_STATE',
        { cell: 2, line: 2, column: 1 },
      );
      expect(d.message).toContain('task `t` calls `add`, a setup helper that');
      expect(d.message).toMatch(/declared in setup, cell 1; the change is in cell 1, line [56]\)/);
    },
  );

  it('ordinary code still compiles: local arrays, copies, a lazy singleton, a setter, a Map memo', async () => {
    expect(
      (
        await errors([
          'const state = { items: [1] };\nconst lists = [[1]];\nconst memo = new Map<number, number>();\nfunction sq(n: number): number { if (!memo.has(n)) memo.set(n, n * n); return memo.get(n)!; }\nlet db: { n: number } | undefined;\nfunction open(): { n: number } { if (!db) db = { n: 1 }; return db; }',
          '//| task: t\nconst xs: number[] = [];\nxs.push(1);\nconst { items } = structuredClone(state);\nitems.push(2);\nconst [first] = lists.map((l) => [...l]);\nfirst!.push(3);\nconst [a] = [[1]];\na!.push(2);\nconst { length } = xs;\n[xs][0]!.push(4);\nconst out = ((s: number[]) => { s.push(5); return s; })([...state.items]);\nif (out.length) { let l = lists; l = [[0]]; l[0]!.push(1); }\nconst n = length + sq(3) + open().n + out.length;',
        ])
      ).map(formatDiagnostic),
    ).toEqual([]);
  });
});

describe('E_GLOBAL_STATE through a prototype alias', () => {
  it.each([
    ['Array.prototype', 'const AP: any = Array.prototype;\nAP.sum = () => 0;'],
    ['Object.getPrototypeOf([])', 'const AP: any = Object.getPrototypeOf([]);\nAP.sum = () => 0;'],
    ['a destructured prototype', 'const { prototype: SP }: any = String;\nSP.shout = () => 0;'],
    ['Object.getPrototypeOf itself', 'const k0 = 0;\n(Object.getPrototypeOf([]) as any).sum = 1;'],
    [
      'a local alias in a helper',
      'const k0 = 0;\nconst f = () => { const AP: any = Array.prototype; AP.sum = 1; };\nf();',
    ],
  ])('a task changing %s under another name is refused at its line', async (_, code) => {
    const d = await expectError([`//| task: a\n${code}\nconst k = 1;`], 'E_GLOBAL_STATE', {
      cell: 1,
      line: 3,
    });
    expect(d.message).toContain('a global every task in the process shares');
  });

  it.each([
    [
      'a setup alias',
      'const AP: any = Array.prototype;\nfunction install(): void { AP.sum = () => 0; }',
    ],
    [
      'Object.getPrototypeOf in the helper',
      'function install(): void { const AP = Object.getPrototypeOf([]); AP.sum = () => 0; }',
    ],
  ])(
    'a setup helper changing a prototype through %s is refused at the task call',
    async (_, setup) => {
      const d = await expectError(
        [setup, '//| task: a\ninstall();\nconst k = 1;'],
        'E_GLOBAL_STATE',
        { cell: 2, line: 2, column: 1 },
      );
      expect(d.message).toContain('task `a` calls `install`');
    },
  );
});

describe('a task handing a value to a function that changes its parameter', () => {
  const helpers =
    'const names: string[] = [];\nconst state = { items: [] as number[] };\nfunction addTo(list: string[], x: string): void { list.push(x); }\nconst setFirst = (o: { items: number[] }, n: number) => { const { items } = o; items[0] = n; };\nfunction copyAdd(list: string[], x: string): string[] { list = [...list]; list.push(x); return list; }';

  it.each([
    [
      'a setup value',
      'addTo(names, "a");',
      2,
      'task `t` hands `names` to `addTo`, which calls `list.push(...)` on its parameter (cell 1, line 3)',
    ],
    [
      'a setup value under another name',
      'const l = names;\naddTo(l, "a");',
      3,
      'hands `names` to `addTo`',
    ],
    [
      'a setup value to a destructuring helper',
      'setFirst(state, 1);',
      2,
      'hands `state` to `setFirst`',
    ],
  ])('%s: E_MUTATES_UPSTREAM at the call', async (_, code, line, says) => {
    const d = await expectError(
      [helpers, `//| task: t\n${code}\nconst n = 1;`],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line, column: 1 },
    );
    expect(d.message).toContain(says);
    expect(d.message).toContain('what a setup cell produced (cell 1)');
  });

  it("another task's value, and a function of the task itself", async () => {
    const d = await expectError(
      [
        '//| task: load\nconst rows = [{ n: 1 }];',
        '//| task: use\nfunction bump(rs: { n: number }[]): void { for (let i = 0; i < rs.length; i++) rs[i]!.n++; }\nbump(rows);\nconst k = rows.length;',
      ],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: 3, column: 1 },
    );
    expect(d.message).toContain('hands `rows` to `bump`');
    expect(d.message).toContain('task `load` produced');
  });

  it('its own values, copies, and a helper that rebinds its parameter first, compile', async () => {
    const r = await diagnosticsOf([
      helpers,
      '//| task: t\nconst mine: string[] = [];\naddTo(mine, "a");\naddTo([...names], "b");\nsetFirst(structuredClone(state), 2);\nconst more = copyAdd(names, "c");\nconst n = mine.length + more.length;',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('a Date changed in place', () => {
  it("a task calling a Date setter on another task's Date is E_MUTATES_UPSTREAM at its line", async () => {
    const d = await expectError(
      [
        '//| task: load\nconst since = new Date(0);',
        '//| task: shift\nsince.setDate(2);\nconst day = since.getDate();',
      ],
      'E_MUTATES_UPSTREAM',
      { cell: 2, line: 2, column: 1 },
    );
    expect(d.message).toContain('calls `since.setDate(...)` on `since`');
    const ok = await diagnosticsOf([
      '//| task: load\nconst since = new Date(0);',
      '//| task: shift\nconst next = new Date(since);\nnext.setDate(2);\nconst day = next.getDate();',
    ]);
    expect(ok.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: a setup helper handing setup state to a function that changes its parameter', () => {
  const base =
    'const names: string[] = [];\nfunction addTo(list: string[], x: string): void { list.push(x); }\nconst memo = new Map<string, number>();\nfunction put(m: Map<string, number>, k: string): void { m.set(k, k.length); }';

  it("is refused at the task's call, naming the helper and the value", async () => {
    const d = await expectError(
      [
        `${base}\nfunction register(x: string): void { addTo(names, x); }`,
        "//| task: t\nregister('a');\nconst n = names.length;",
      ],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 1 },
    );
    expect(d.message).toMatch(
      /^task `t` calls `register`, a setup helper that calls `names\.push\(\.\.\.\)` on `names` \(declared in setup, cell 1; the change is in cell 1, line 5\)/,
    );
  });

  it('passes for a Map memo filled that way, and for a helper only called while the setup loads', async () => {
    const r = await diagnosticsOf([
      `${base}\nfunction sq(k: string): number { put(memo, k); return memo.get(k)!; }\nfunction register(x: string): void { addTo(names, x); }\nregister('a');`,
      "//| task: t\nconst n = names.length + sq('abc');",
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: state kept by a setup class instance, a closure, or a part alias', () => {
  const errors = async (cells: string[]) =>
    (await diagnosticsOf(cells)).diagnostics.filter((d) => d.severity === 'error');

  it.each([
    [
      'a method changing `this.n` (the repro: klass.ipynb)',
      'class Counter { n = 0; inc() { this.n++; return this.n; } }\nconst counter = new Counter();',
      'const a = counter.inc();',
      'task `t` calls `counter.inc`, a method of setup class `Counter` that assigns to `this.n` (`counter` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
    [
      'a closure an IIFE made (the repro: closure.ipynb)',
      'const next = (() => { let n = 0; return () => ++n; })();',
      'const a = next();',
      'task `t` calls `next`, a setup closure that changes `n`, a variable it keeps between calls (`next` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
    [
      'a closure a factory made (the repro: closure2.ipynb)',
      'function makeCounter() { let n = 0; return { inc: () => ++n }; }\nconst ctr = makeCounter();',
      'const a = ctr.inc();',
      'task `t` calls `ctr.inc`, a closure made by setup function `makeCounter` that changes `n`, a variable it keeps between calls (`ctr` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
    [
      'a change through a top-level part alias (the repro: alias2.ipynb)',
      'const state = { items: [] as number[] };\nconst items = state.items;\nfunction add(x: number) { items.push(x); return state.items.length; }',
      'const a = add(1);',
      'task `t` calls `add`, a setup helper that calls `items.push(...)` on `items` (declared in setup, cell 1; the change is in cell 1, line 3)',
    ],
    [
      'an arrow-function property pushing onto `this.items`',
      'class Log { items: string[] = []; add = (x: string) => { this.items.push(x); return this.items.length; }; }\nconst log = new Log();',
      'const a = log.add("x");',
      'a method of setup class `Log` that calls `this.items.push(...)`',
    ],
    [
      'a getter changing `this`',
      'class Seq { private n = 0; get next(): number { return ++this.n; } }\nconst seq = new Seq();',
      'const a = seq.next;',
      'task `t` calls `seq.next`, a method of setup class `Seq` that assigns to `this.n`',
    ],
    [
      'a static method changing the class through `this`',
      'class Reg { static all: string[] = []; static put(x: string) { this.all.push(x); return this.all.length; } }',
      'const a = Reg.put("x");',
      'a static member of setup class `Reg` that calls `this.all.push(...)`',
    ],
    [
      'a factory returning a function it declares by name',
      'function makeLog() { const seen: string[] = []; function add(x: string) { seen.push(x); return seen.length; } return { add }; }\nconst log = makeLog();',
      'const a = log.add("x");',
      'task `t` calls `log.add`, a closure made by setup function `makeLog` that calls `seen.push(...)`',
    ],
    [
      'an instance made in another setup cell',
      ['class Counter { n = 0; inc() { return ++this.n; } }', 'const counter = new Counter();'],
      'const a = counter.inc();',
      '(`counter` declared in setup, cell 2; the change is in cell 1, line 1)',
    ],
    [
      'an instance of a subclass, declared in another setup cell',
      [
        'class Counter { n = 0; inc() { return ++this.n; } }',
        'class Tally extends Counter {}\nconst tally = new Tally();',
      ],
      'const a = tally.inc();',
      'task `t` calls `tally.inc`, a method of setup class `Counter` that assigns to `this.n` (`tally` declared in setup, cell 2; the change is in cell 1, line 1)',
    ],
  ])('%s: refused at the task call', async (_, setup, task, says) => {
    const cells = [...(typeof setup === 'string' ? [setup] : setup), `//| task: t\n${task}`];
    await expectRefusedAtCall(cells, task, says, /^have the (method|function|helper) return a new/);
  });

  it('the repro of the second task is not reported twice (one error per setup value)', async () => {
    const found = (
      await diagnosticsOf([
        'class Counter { n = 0; inc() { this.n++; return this.n; } }\nconst counter = new Counter();',
        '//| task: a\nconst a = counter.inc();',
        '//| task: b\nconst b = counter.inc();',
      ])
    ).diagnostics.filter((d) => d.code === 'E_SETUP_STATE');
    expect(found.map((d) => [d.cell, d.line])).toEqual([[2, 2]]);
  });

  it('a setup cell calling the method later (a timer) is refused at the change', async () => {
    const d = await expectError(
      [
        'class Counter { n = 0; inc() { this.n++; return this.n; } }\nconst counter = new Counter();\nsetTimeout(() => counter.inc(), 0);',
        '//| task: t\nconst a = counter.n;',
      ],
      'E_SETUP_STATE',
      { cell: 1, line: 1, column: 32 },
    );
    expect(d.message).toMatch(
      /^a method of setup class `Counter` that assigns to `this\.n` when it is called \(`counter` declared in setup, cell 1; `counter\.inc` is used in cell 1, line 3/,
    );
  });

  it('ordinary classes and closures compile clean', async () => {
    const setup = [
      // Methods only reading `this`, or building and returning new objects.
      'class Scale { constructor(public f: number) {} apply(x: number): number { return x * this.f; } }',
      'const scale = new Scale(2);',
      'class Pt { constructor(public x = 0) {} moved(d: number): Pt { return new Pt(this.x + d); } with(k: string) { return { ...this, k }; } }',
      'const origin = new Pt();',
      // A constructor initialising (pushing onto its own field) is no kept change.
      'class Bag { items: number[] = []; constructor() { this.items.push(1); this.items = [...this.items, 2]; } size(): number { return this.items.length; } }',
      'const bag = new Bag();',
      // Closures only reading what they captured.
      'const scaleBy = (() => { const f = 2; return (x: number) => x * f; })();',
      'function makeScaler(f: number) { return { apply: (x: number) => x * f }; }',
      'const sc = makeScaler(3);',
      // The memo idiom, in a class and in a closure; a lazy initialisation.
      'class Memo { cache = new Map<number, number>(); sq(n: number): number { if (!this.cache.has(n)) this.cache.set(n, n * n); return this.cache.get(n)!; } }',
      'const memo = new Memo();',
      'const cube = (() => { const m = new Map<number, number>(); return (n: number) => { m.set(n, n ** 3); return m.get(n)!; }; })();',
      'function makeDb() { let db: { n: number } | undefined; return { open: () => (db ??= { n: 1 }) }; }',
      'const dbs = makeDb();',
      // Counters nothing reads.
      'class Hits { n = 0; hit(): void { this.n++; } }',
      'const hits = new Hits();',
      'const tick = (() => { let n = 0; return () => { n++; }; })();',
      // Called only while the setup loads; tasks read the result.
      'class Counter { n = 0; inc() { this.n++; return this.n; } }',
      'const counter = new Counter();',
      'counter.inc();',
      'const next = (() => { let n = 0; return () => ++n; })();',
      'const first = next();',
      // A callback run inside the maker keeps nothing.
      'const total = (() => { let t = 0; [1, 2].forEach((x) => { t += x; }); return t; })();',
    ].join('\n');
    const task = [
      '//| task: t',
      'const a = scale.apply(1) + origin.moved(1).x + origin.with("k").x + bag.size() + scaleBy(2) + sc.apply(1);',
      'const b = memo.sq(3) + cube(2) + dbs.open().n + counter.n + first + total;',
      'hits.hit();',
      'tick();',
      // State local to the task: a class and closures made and used in this cell.
      'class Local { n = 0; inc(): number { return ++this.n; } }',
      'const local = new Local();',
      'const own = (() => { let n = 0; return () => ++n; })();',
      'function makeOwn() { let n = 0; return { inc: () => ++n }; }',
      'const mine = makeOwn();',
      'const c = local.inc() + local.inc() + own() + own() + mine.inc();',
    ].join('\n');
    expect((await errors([setup, task])).map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: a class member reaching a changing one through `this`', () => {
  it('a public method calling a private one that changes `this` is refused at the task call', async () => {
    const d = await expectError(
      [
        'class Counter { #n = 0; #bump(): void { this.#n++; } inc(): number { this.#bump(); return this.#n; } }\nconst counter = new Counter();',
        '//| task: t\nconst a = counter.inc();',
      ],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 11 },
    );
    expect(d.message).toContain(
      'task `t` calls `counter.inc`, a method of setup class `Counter` that assigns to `this.#n`',
    );
  });

  it('a task calling only members that reach no change compiles', async () => {
    const r = await diagnosticsOf([
      'class Counter { n = 0; inc(): number { return ++this.n; } value(): number { return this.n; } }\nconst counter = new Counter();',
      '//| task: t\nconst a = counter.value() + counter.n;',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: kept state reached through a setup helper', () => {
  const counter =
    'class Counter { n = 0; inc(): number { return ++this.n; } }\nconst counter = new Counter();';

  it("a task calling a setup helper that calls the method is refused at the task's call", async () => {
    const d = await expectError(
      [
        `${counter}\nfunction step(): number { return counter.inc(); }`,
        '//| task: t\nconst a = step();',
      ],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 11 },
    );
    expect(d.message).toContain(
      'task `t` calls `step`, a setup helper that calls `counter.inc` (cell 1, line 3), a method of setup class `Counter`',
    );
  });

  it('a helper only called while the setup loads, or never, keeps nothing', async () => {
    const r = await diagnosticsOf([
      `${counter}\nfunction warm(): number { return counter.inc(); }\nwarm();\nfunction unused(): number { return counter.inc(); }`,
      '//| task: t\nconst a = counter.n;',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: kept state and the analysis cache', () => {
  it('a cell analysed as a task continuation first is judged again as setup', async () => {
    // The same text (directive lines are blanked) as a task's second cell, then as setup, in one
    // memory (as --watch keeps): the setup cell's kept state is not the task cell's analysis.
    const counter =
      'class Counter { n = 0; inc(): number { return ++this.n; } }\nconst counter = new Counter();';
    const memory = newMemory();
    const opts = { workdir: '../../notebooks', format: false, memory };
    const first = await compileNotebook(
      NB,
      notebookText(['//| task: t\nconst k = 1;', counter]),
      opts,
    );
    expect(first.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const second = await compileNotebook(
      NB,
      notebookText([counter, '//| task: t\nconst a = counter.inc();']),
      opts,
    );
    expect(second.diagnostics.map((d) => [d.code, d.cell, d.line])).toEqual([
      ['E_SETUP_STATE', 2, 2],
    ]);
  });
});

describe('E_SETUP_STATE: a setup value holding kept state handed on whole', () => {
  it.each([
    [
      'class Counter { n = 0; inc(): number { return ++this.n; } }\nconst counter = new Counter();',
      'const c = counter;',
      'task `t` uses `counter`, an instance of setup class `Counter` whose method `inc` assigns to `this.n`',
    ],
    [
      'function makeCounter() { let n = 0; return { inc: () => ++n }; }\nconst ctr = makeCounter();',
      'const c = ctr;',
      'task `t` uses `ctr`, a value made by setup function `makeCounter` whose closure `inc` changes `n`, a variable it keeps between calls',
    ],
  ])('%#: refused where the task takes it', async (setup, task, says) => {
    const d = await expectError(
      [setup, `//| task: t\n${task}\nconst a = c.inc();`],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 11 },
    );
    expect(d.message).toContain(says);
  });
});

describe('E_SETUP_STATE: a setup object whose methods change it through `this`', () => {
  it('is refused at the task call', async () => {
    const d = await expectError(
      [
        'const tally = { n: 0, inc() { return ++this.n; } };',
        '//| task: t\nconst a = tally.inc();',
      ],
      'E_SETUP_STATE',
      { cell: 2, line: 2, column: 11 },
    );
    expect(d.message).toContain(
      'task `t` calls `tally.inc`, a method of setup object `tally` that assigns to `this.n` (`tally` declared in setup, cell 1; the change is in cell 1, line 1)',
    );
  });

  it('methods only reading `this`, and arrow functions (whose `this` is not the object), compile', async () => {
    const r = await diagnosticsOf([
      'const cfg = { f: 2, scale(x: number) { return x * this.f; }, twice: (x: number) => x * 2 };',
      '//| task: t\nconst a = cfg.scale(1) + cfg.twice(2);',
    ]);
    expect(r.diagnostics.filter((x) => x.severity === 'error').map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_SETUP_STATE: kept state held in a destructured, nested or chained setup value', () => {
  const errors = async (cells: string[]) =>
    (await diagnosticsOf(cells)).diagnostics.filter((d) => d.severity === 'error');
  const counter =
    'class Counter { n = 0; inc() { return ++this.n; } reset() { this.n = 0; return this; } }';
  const factory = 'function makeCounter() { let n = 0; return { inc: () => ++n, get: () => n }; }';

  it.each([
    [
      'a closure destructured from a factory',
      `${factory}\nconst { inc } = makeCounter();`,
      'const a = inc();',
      'task `t` calls `inc`, a closure made by setup function `makeCounter` that changes `n`, a variable it keeps between calls (`inc` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
    [
      'a closure destructured under another name',
      `${factory}\nconst { inc: bump } = makeCounter();`,
      'const a = bump();',
      'task `t` calls `bump`, a closure made by setup function `makeCounter`',
    ],
    [
      'a closure taken from an array literal',
      `${factory}\nconst [next] = [makeCounter().inc];`,
      'const a = next();',
      'task `t` calls `next`, a closure made by setup function `makeCounter`',
    ],
    [
      'an instance held in an object',
      `${counter}\nconst registry = { c: new Counter() };`,
      'const a = registry.c.inc();',
      'task `t` calls `registry.c.inc`, a method of setup class `Counter` that assigns to `this.n` (`registry` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
    [
      'an instance held in an array',
      `${counter}\nconst counters = [new Counter()];`,
      'const a = counters[0].inc();',
      'task `t` calls `counters[0].inc`, a method of setup class `Counter`',
    ],
    [
      'an instance at a computed index of an array',
      `${counter}\nconst counters = [new Counter()];`,
      'const a = counters[a0].inc();',
      'task `t` uses `counters`, a value holding (at `counters[0]`) an instance of setup class `Counter` whose method `inc` assigns to `this.n`',
    ],
    [
      'a factory value held in an object',
      `${factory}\nconst registry = { ctr: makeCounter() };`,
      'const a = registry.ctr.inc();',
      'task `t` calls `registry.ctr.inc`, a closure made by setup function `makeCounter`',
    ],
    [
      'an instance made through a method returning `this`',
      `${counter}\nconst q = new Counter().reset();`,
      'const a = q.inc();',
      'task `t` calls `q.inc`, a method of setup class `Counter` that assigns to `this.n` (`q` declared in setup, cell 1; the change is in cell 1, line 1)',
    ],
  ])('%s: refused at the task call', async (_, setup, task, says) => {
    // `a0`: an index the setup declares, which the analysis cannot follow.
    const cells = [setup, `//| task: t\n${task}`];
    if (task.includes('a0')) cells.unshift('const a0 = 0;');
    await expectRefusedAtCall(cells, task, says, /^have the (method|function) return a new/);
  });

  it('read-only closures and methods, other parts, memos and load-time calls compile clean', async () => {
    const setup = [
      `${factory}`,
      'class Scale { constructor(public f = 2) {} apply(x: number): number { return x * this.f; } self() { return this; } }',
      counter,
      // Destructured closures only reading what they captured.
      'const { get } = makeCounter();',
      'function makeScaler(f: number) { return { apply: (x: number) => x * f }; }',
      'const { apply } = makeScaler(3);',
      'const [read] = [makeCounter().get];',
      // Instances whose methods only read `this`, inside an object and an array, or chained.
      'const tools = { s: new Scale() };',
      'const scales = [new Scale(3)];',
      'const chained = new Scale().self();',
      // A method not returning `this`: the value is not the instance.
      'const total = new Counter().inc();',
      // A changing instance only its other parts are read of, or only changed while loading.
      'const reg = { c: new Counter(), label: "x" };',
      'const boot = { c: new Counter() };',
      'boot.c.inc();',
      // The memo idiom held in an object.
      'class Memo { cache = new Map<number, number>(); sq(n: number): number { this.cache.set(n, n * n); return this.cache.get(n)!; } }',
      'const memos = { m: new Memo() };',
    ].join('\n');
    const task = [
      '//| task: t',
      'const a = get() + apply(1) + read() + tools.s.apply(2) + scales[0].apply(1) + chained.apply(1) + total;',
      'const b = reg.label.length + boot.c.n + memos.m.sq(2);',
    ].join('\n');
    expect((await errors([setup, task])).map(formatDiagnostic)).toEqual([]);
  });
});

describe('E_MODULE_STATE: state of a local module tasks share in a worker thread', () => {
  const COUNTER = [
    'let n = 0;',
    'export function next(): number { n += 1; return n; }',
    'export const registry: string[] = [];',
  ].join('\n');
  /**
   * Compile with these local modules, by project-relative path, read as the host reads them
   * (host.ts moduleTextReader): from the notebook's folder (notebooks/), or the importing
   * module's; `./x.js` is x.js, else x.ts.
   */
  const withModules = async (cells: string[], modules: Record<string, string>) =>
    (
      await compileNotebook(NB, notebookText(cells), {
        workdir: '../../notebooks',
        format: false,
        readModule: (from, spec) => {
          const parts: string[] = [];
          for (const p of `${from ? from.replace(/\/[^/]*$/, '') : 'notebooks'}/${spec}`.split('/'))
            if (p === '..') parts.pop();
            else if (p !== '.') parts.push(p);
          const path = parts.join('/');
          for (const file of [path, path.replace(/\.js$/, '.ts')])
            if (modules[file] !== undefined) return { path: file, text: modules[file] };
          return undefined;
        },
      })
    ).diagnostics;
  const moduleState = (ds: Diagnostic[]) => ds.filter((d) => d.code === 'E_MODULE_STATE');

  it("refuses a task pushing to a local module's array, at each task, naming it and the module", async () => {
    const cells = [
      "import { registry, next } from './lib/counter.js';",
      "//| task: s2a\nregistry.push('a');\nconst na = registry.length;",
      "//| task: s2b\nregistry.push('b');\nconst nb = registry.length;",
    ];
    const found = moduleState((await diagnosticsOf(cells)).diagnostics);
    expect(found.map((d) => [d.cell, d.line, d.column])).toEqual([
      [2, 2, 1],
      [3, 2, 1],
    ]);
    expect(found[0]!.message).toContain('task `s2a` calls `registry.push(...)` on `registry`');
    expect(found[0]!.message).toContain('the local module `./lib/counter.js` (cell 1)');
    expect(found[0]!.message).toContain('--workers');
    expect(found[0]!.hint).toContain('const myRegistry = [...registry]');
    await expectError(cells.slice(0, 2), 'E_MODULE_STATE', { cell: 2, line: 2, column: 1 });
  });

  it.each([
    ['a property assignment', 'cfg.factor = 3;'],
    ['an increment of a property', 'cfg.hits++;'],
    ['a delete', 'delete cfg.factor;'],
    ['Object.assign onto it', 'Object.assign(cfg, { factor: 2 });'],
    ['a mutating method on a part of it', 'cfg.names.sort();'],
    ['a local alias', 'const c = cfg;\nc.factor = 3;'],
    ['a setup helper changing its parameter', 'setFactor(cfg, 3);'],
  ])('refuses a task changing an imported local value through %s', async (_, change) => {
    const cells = [
      "import { cfg } from '../lib/config.ts';\nfunction setFactor(o: { factor: number }, f: number) { o.factor = f; }",
      `//| task: t\n${change}\nconst f = cfg.factor;`,
    ];
    const found = moduleState((await diagnosticsOf(cells)).diagnostics);
    expect(found.map(formatDiagnostic)).toHaveLength(1);
    expect(found[0]!.message).toContain('`../lib/config.ts`');
  });

  it("lets a task change its own copy, read the value, or change a package's export", async () => {
    const cells = [
      "import { registry } from './lib/counter.js';\nimport { names } from 'some-package';",
      "//| task: t\nconst mine = [...registry];\nmine.push('a');\nconst n = registry.length + mine.length;\nnames.push('x');",
    ];
    expect(moduleState((await diagnosticsOf(cells)).diagnostics)).toEqual([]);
  });

  it('refuses each task calling a function that changes a module-level `let`, naming file, line and variable', async () => {
    const cells = [
      "import { next } from './lib/counter.js';",
      '//| task: t1\nconst c1 = next();',
      '//| task: t2\nconst c2 = next();',
      '//| task: t3\nconst c3 = [1].map(next);',
    ];
    const found = moduleState(await withModules(cells, { 'notebooks/lib/counter.js': COUNTER }));
    expect(found.map((d) => [d.cell, d.line, d.column])).toEqual([
      [2, 2, 12],
      [3, 2, 12],
      [4, 2, 20],
    ]);
    expect(found[0]!.severity).toBe('error');
    expect(found[0]!.message).toContain(
      'task `t1` calls `next` from the local module `./lib/counter.js`, which assigns to `n`, a top-level variable of notebooks/lib/counter.js (line 2)',
    );
    expect(found[0]!.hint).toContain('return a new value');
  });

  it.each([
    [
      'through another function of the module',
      'let n = 0;\nfunction bump() { n++; }\nexport function next() { bump(); return n; }',
      'which (through `next` → `bump`) assigns to `n`',
    ],
    [
      'by an increment whose value it returns (the only read of the state)',
      'let n = 0;\nexport function next() { return ++n; }',
      'assigns to `n`',
    ],
    [
      'by a rebinding computed from the old value',
      'let n = 0;\nexport function next() { n = n + 1; return n; }',
      'assigns to `n`',
    ],
    [
      'pushing to a module-level array',
      'const seen: string[] = [];\nexport const note = (x: string) => { seen.push(x); return seen.length; };\nexport { note as next };',
      'calls `push(...)` on `seen`',
    ],
    [
      'setting a property of a module-level object',
      'const tally = { n: 0 };\nexport default function next() { tally.n += 1; return tally.n; }\nexport { next };',
      'assigns to `tally.n` of `tally`',
    ],
    [
      'a Map changed other than as a memo, through a part',
      'const m = { byKey: new Map<string, number>() };\nexport function next() { m.byKey.set("k", m.byKey.size); return m.byKey.size; }',
      'calls `set(...)` on `m`',
    ],
    // A tester's variants (stop 35): each passed before.
    [
      'through Object.defineProperty',
      'export const bag: Record<string, number> = {};\nexport function next() { Object.defineProperty(bag, "k", { value: 7, enumerable: true, configurable: true }); return 1; }',
      'calls `Object.defineProperty(...)` on `bag`',
    ],
    [
      'through Reflect.set',
      'const bag: Record<string, number> = {};\nexport function next() { Reflect.set(bag, "k", 7); return bag.k; }',
      'calls `Reflect.set(...)` on `bag`',
    ],
    [
      'through a borrowed push',
      'const seen: string[] = [];\nexport function next() { Array.prototype.push.call(seen, "x"); return seen.length; }',
      'calls `push(...)` on `seen`',
    ],
    [
      'by emptying an array (`length = 0`)',
      'export const list: number[] = [1, 2, 3];\nexport function next() { list.length = 0; return 0; }',
      'assigns to `list.length` of `list`',
    ],
    [
      'filling an exported Map other modules read (a registry, not a private memo)',
      'export const reg = new Map<string, number>();\nexport function next() { reg.set("k", 5); return 1; }',
      'calls `set(...)` on `reg`',
    ],
    [
      'setting a property of the global object',
      'export function next() { (globalThis as any).g28 = 5; return 1; }',
      'assigns to `(globalThis as any).g28` in notebooks/lib/state.ts (line 1), a property of the global object',
    ],
  ])('refuses a task calling a module function changing state %s', async (_, source, says) => {
    const cells = ["import { next } from './lib/state.ts';", '//| task: t\nconst c = next();'];
    const found = moduleState(await withModules(cells, { 'notebooks/lib/state.ts': source }));
    expect(found.map(formatDiagnostic)).toHaveLength(1);
    expect(found[0]!.message).toContain(says);
  });

  it('follows a namespace import and a task importing the module itself', async () => {
    const cells = [
      "import * as counter from './lib/counter.js';",
      '//| task: t\nconst c = counter.next();',
      "//| task: u\nimport { next as step } from './lib/counter.js';\nconst d = step();",
      '//| task: v\nconst { next: go } = counter;\nconst e = go();',
    ];
    const found = moduleState(await withModules(cells, { 'notebooks/lib/counter.js': COUNTER }));
    expect(found.map((d) => [d.cell, d.line])).toEqual([
      [2, 2],
      [3, 3],
      [4, 2],
    ]);
    expect(found[0]!.message).toContain('calls `counter.next`');
    expect(found[2]!.message).toContain('calls `counter.next`');
  });

  it('passes pure module functions: new values, shadowing locals, instances made inside, memos, a write-only log', async () => {
    const source = [
      'let n = 0;',
      'const items: number[] = [];',
      'const cache = new Map<number, number>();',
      'let config: { f: number } | undefined;',
      'const log: string[] = [];',
      'class Acc { items: number[] = []; add(x: number) { this.items.push(x); return this; } }',
      'export function build(xs: number[]): number[] { const out: number[] = []; for (const x of xs) out.push(x * 2); return out; }',
      'export function shadow(): number { let n = 1; n++; const items = [n]; items.push(n); return items.length; }',
      'export function param(items: number[]): number { return items.length; }',
      'export function acc(xs: number[]): number[] { const a = new Acc(); for (const x of xs) a.add(x); return a.items; }',
      'export function square(k: number): number { if (!cache.has(k)) cache.set(k, k * k); return cache.get(k)!; }',
      'export function settings() { config ??= { f: 2 }; return config; }',
      'let db: { q: number } | undefined;',
      'export function connect() { if (!db) db = { q: 1 }; return db; }',
      "export function traced(x: number): number { log.push('called'); return x + n + items.length; }",
      // A module's own `self` is no global object.
      'const self = { hits: 0 };',
      'export function own(): number { const self = { hits: 0 }; self.hits++; return self.hits; }',
    ].join('\n');
    const cells = [
      "import { build, shadow, param, acc, square, settings, traced, connect, own } from './lib/pure.ts';",
      '//| task: t\nconst v = build([1]).length + shadow() + param([2]) + acc([3]).length + square(4) + settings().f + traced(5) + connect().q + own();',
    ];
    expect(moduleState(await withModules(cells, { 'notebooks/lib/pure.ts': source }))).toEqual([]);
  });

  it.each([
    [
      "an exported object's method changing it through `this`",
      'export const counter = { n: 0, bump() { this.n++; return this.n; } };',
      "import { counter } from './lib/obj.ts';",
      'const c = counter.bump();',
      'calls `counter.bump` from the local module `./lib/obj.ts`, which assigns to `this.n` of `counter`',
    ],
    [
      "an object's function property changing module state",
      'let n = 0;\nexport const api = { next: () => ++n, peek: () => n };',
      "import { api } from './lib/obj.ts';",
      'const c = api.next();',
      'calls `api.next` from the local module `./lib/obj.ts`, which assigns to `n`',
    ],
    [
      'a method reaching a changing one through `this`',
      'const tally = { n: 0, add() { this.n += 1; }, next() { this.add(); return this.n; } };\nexport { tally as t };',
      "import { t } from './lib/obj.ts';",
      'const c = [1].map(t.next);',
      'calls `t.next` from the local module `./lib/obj.ts`, which (through `tally.next` → `tally.add`) assigns to `this.n` of `tally`',
    ],
    [
      "a default-exported object's method",
      'export default { n: 0, bump() { this.n++; return this.n; } };',
      "import tally from './lib/obj.ts';",
      'const c = tally.bump();',
      'calls `tally.bump` from the local module `./lib/obj.ts`, which assigns to `this.n` of `default`',
    ],
    [
      "a class's static method changing a static field",
      'export class Counter {\n  static n = 0;\n  static bump() { Counter.n += 1; return Counter.n; }\n}',
      "import { Counter } from './lib/obj.ts';",
      'const c = Counter.bump();',
      'calls `Counter.bump` from the local module `./lib/obj.ts`, which assigns to `Counter.n` of `Counter`',
    ],
    [
      "a class's static method changing `this`",
      'export default class Ids {\n  static #last = 0;\n  static take() { return ++this.#last; }\n}',
      "import Ids from './lib/obj.ts';",
      'const c = Ids.take();',
      'calls `Ids.take` from the local module `./lib/obj.ts`, which assigns to `this.#last` of `Ids`',
    ],
    [
      'a method of a top-level instance',
      'class Queue {\n  items: number[] = [];\n  enqueue(x: number) { this.items.push(x); return this.items.length; }\n}\nexport const queue = new Queue();',
      "import * as q from './lib/obj.ts';",
      'const c = q.queue.enqueue(1);',
      'calls `q.queue.enqueue` from the local module `./lib/obj.ts`, which calls `push(...)` on `queue`',
    ],
    [
      'a top-level alias of the state',
      'const state: string[] = [];\nconst s = state;\nexport function add(x: string) { s.push(x); return state.length; }',
      "import { add } from './lib/obj.ts';",
      "const c = add('a');",
      'calls `add` from the local module `./lib/obj.ts`, which calls `push(...)` on `state`',
    ],
    [
      'a local alias of a part of the state',
      'const state = { items: [] as string[] };\nexport function add(x: string) { const items = state.items; items.push(x); return items.length; }',
      "import { add } from './lib/obj.ts';",
      "const c = add('a');",
      'calls `push(...)` on `state`',
    ],
  ])('refuses a task calling %s', async (_, source, imp, use, says) => {
    const found = moduleState(
      await withModules([imp, `//| task: t\n${use}`], { 'notebooks/lib/obj.ts': source }),
    );
    expect(found.map((d) => [d.cell, d.line])).toEqual([[2, 2]]);
    expect(found[0]!.message).toContain(says);
    expect(found[0]!.message).toContain('notebooks/lib/obj.ts (line');
  });

  it('follows a function of a second local module the first imports, re-exports or reaches by namespace', async () => {
    const modules = {
      'notebooks/lib/store.ts':
        'let n = 0;\nexport function bump() { n += 1; return n; }\nexport const peek = () => n;',
      'notebooks/lib/api.ts': [
        "import { bump as inc, peek } from './store.js';",
        "import * as store from './store.js';",
        'export function next() { return inc(); }',
        'export const viaNs = () => store.bump();',
        'export const read = () => peek() + store.peek();',
        "export { bump } from './store.js';",
      ].join('\n'),
      'notebooks/lib/all.ts': "export * from './store.js';",
      'notebooks/lib/tick.ts': 'let n = 0;\nexport default function tick() {\n  return ++n;\n}',
      'notebooks/lib/clock.ts':
        "import tock from './tick.js';\nexport const viaDefault = () => tock();",
    };
    const cells = [
      "import { next, viaNs, read, bump } from './lib/api.ts';\nimport * as all from './lib/all.ts';",
      '//| task: t1\nconst a = next();',
      '//| task: t2\nconst b = viaNs();',
      '//| task: t3\nconst c = bump();',
      '//| task: t4\nconst d = all.bump();',
      '//| task: t5\nconst e = read() + all.peek();',
      "//| task: t6\nimport { viaDefault } from './lib/clock.js';\nconst f = viaDefault();",
    ];
    const found = moduleState(await withModules(cells, modules));
    expect(found.map((d) => [d.cell, d.line])).toEqual([
      [2, 2],
      [3, 2],
      [4, 2],
      [5, 2],
      [7, 3],
    ]);
    expect(found[4]!.message).toContain(
      'assigns to `n`, a top-level variable of notebooks/lib/tick.ts (line 3)',
    );
    expect(found[0]!.message).toContain(
      'calls `next` from the local module `./lib/api.ts`, which (through `next` → `bump`) assigns to `n`, a top-level variable of notebooks/lib/store.ts (line 2)',
    );
    expect(found[3]!.message).toContain('calls `all.bump` from the local module `./lib/all.ts`');
  });

  it("passes an object's or class's methods that change nothing shared", async () => {
    const source = [
      'export const fmt = { unit: "kg", label(x: number) { return `${x} ${this.unit}`; }, reset() { const self = { n: 0 }; self.n++; return self; } };',
      'export class Maths {\n  static twice(x: number) { return x * 2; }\n  n = 0;\n  inc() { this.n++; return this.n; }\n}',
      'export function fresh() { const m = new Maths(); return m.inc(); }',
      'export class Squares {\n  static #cache = new Map<number, number>();\n  static of(k: number) { if (!this.#cache.has(k)) this.#cache.set(k, k * k); return this.#cache.get(k)!; }\n}',
    ].join('\n');
    const cells = [
      "import { fmt, Maths, fresh, Squares } from './lib/pure2.ts';",
      '//| task: t\nconst v = fmt.label(1) + fmt.reset().n + Maths.twice(2) + fresh() + new Maths().inc() + Squares.of(3);',
    ];
    expect(moduleState(await withModules(cells, { 'notebooks/lib/pure2.ts': source }))).toEqual([]);
  });

  it('leaves a module function used only by setup, and one of a module it cannot read, alone', async () => {
    const cells = [
      "import { next } from './lib/counter.js';\nimport { other } from './lib/missing.js';\nconst first = next();",
      '//| task: t\nconst c = first + other();',
    ];
    expect(moduleState(await withModules(cells, { 'notebooks/lib/counter.js': COUNTER }))).toEqual(
      [],
    );
  });
});

describe('E_MODULE_STATE: a setup helper changing a local module value', () => {
  it('is refused at the task calling it', async () => {
    const cells = [
      "import { registry } from './lib/counter.js';\nfunction note(x: string) { registry.push(x); return registry.length; }",
      "//| task: t\nconst n = note('a');",
    ];
    const d = await expectError(cells, 'E_MODULE_STATE', { cell: 2, line: 2, column: 11 });
    expect(d.message).toContain('imported from the local module `./lib/counter.js` in cell 1');
  });
});

describe('E_SETUP_STATE / E_MODULE_STATE: a memo or lazy initialisation kept as state', () => {
  // A Map or Set memo passes when it stores under a key a value of that key alone and hands
  // back the stored value on a hit; a lazy `x ??= load()` when the load uses no argument. A count,
  // a first-time flag, a registry or a lazy value from the first caller's argument is state.
  const setupState = async (cells: string[]) =>
    (await diagnosticsOf(cells)).diagnostics.filter((d) => d.code === 'E_SETUP_STATE');
  const withModules = async (cells: string[], modules: Record<string, string>) =>
    (
      await compileNotebook(NB, notebookText(cells), {
        workdir: '../../notebooks',
        format: false,
        readModule: (from, spec) => {
          const parts: string[] = [];
          for (const p of `${from ? from.replace(/\/[^/]*$/, '') : 'notebooks'}/${spec}`.split('/'))
            if (p === '..') parts.pop();
            else if (p !== '.') parts.push(p);
          const path = parts.join('/');
          for (const file of [path, path.replace(/\.js$/, '.ts')])
            if (modules[file] !== undefined) return { path: file, text: modules[file] };
          return undefined;
        },
      })
    ).diagnostics.filter((d) => d.code === 'E_MODULE_STATE');

  const refused: [string, string, string, string][] = [
    [
      'a count kept in a Map',
      'const seenMap = new Map<string, number>();\nfunction nextId(k: string) { const v = (seenMap.get(k) ?? 0) + 1; seenMap.set(k, v); return v; }',
      "nextId('k')",
      'stores a value computed from what it read from the same collection',
    ],
    [
      'a count kept in a Map, in one expression',
      'const counts = new Map<string, number>();\nfunction bump(k: string) { counts.set(k, (counts.get(k) ?? 0) + 1); return counts.get(k)!; }',
      "bump('k')",
      'stores a value computed from what it read from the same collection',
    ],
    [
      'a Set deciding a first-time flag',
      'const seen = new Set<string>();\nfunction firstTime(k: string) { if (seen.has(k)) return false; seen.add(k); return true; }',
      "firstTime('k')",
      'returns `false` rather than the stored value',
    ],
    [
      'a Set membership handed on as a value',
      'const seen = new Set<string>();\nfunction isNew(k: string) { const fresh = !seen.has(k); seen.add(k); return fresh; }',
      "isNew('k')",
      'decides a value by whether an earlier call stored the key',
    ],
    [
      "a Set's size",
      'const seen = new Set<string>();\nfunction mark(k: string) { seen.add(k); return seen.size; }',
      "mark('k')",
      'reads `seen.size`',
    ],
    [
      'a registry storing what its key does not determine',
      'const reg = new Map<string, number>();\nfunction put(k: string, v: number) { reg.set(k, v); return reg.get(k)!; }',
      "put('k', 2)",
      'which its key `k` does not determine',
    ],
    [
      'a lookup with a default on a miss',
      'const reg = new Map<string, number>();\nfunction put(k: string) { reg.set(k, k.length); }\nfunction look(k: string) { return reg.get(k) ?? 0; }',
      "look('k')",
      'on a miss of `reg.get(k)` neither stores the key',
    ],
    [
      "a lazy value from the caller's argument",
      'let cached: { size: number } | undefined;\nfunction getModel(size: number) { cached ??= { size }; return cached; }',
      'getModel(5).size',
      "keeps the first call's value, computed from its parameter `size`",
    ],
    [
      "a lazy `if (!x) x = …` from the caller's argument",
      'let model: { size: number } | undefined;\nfunction getModel(size: number) { if (!model) model = { size: size * 2 }; return model; }',
      'getModel(5).size',
      'computed from its parameter `size`',
    ],
  ];

  it.each(refused)(
    'refuses a setup helper with %s, at the task, with a hint',
    async (_, setup, call, says) => {
      const found = await setupState([setup, `//| task: t\nconst r = ${call};`]);
      expect(found).toHaveLength(1);
      const d = found[0]!;
      expect([d.cell, d.line, d.column]).toEqual([2, 2, 11]);
      expect(d.message).toContain('task `t` calls');
      expect(d.message).toContain(says);
      const line = setup.split('\n').length;
      expect(d.message).toContain(
        `declared in setup, cell 1; the change is in cell 1, line ${line}`,
      );
      expect(d.hint).toContain(
        'a memo may store under a key only a value computed from that key alone',
      );
    },
  );

  it.each(refused)(
    'refuses a local module function with %s, naming the module file and line',
    async (_, setup, call, says) => {
      const fn = /function (\w+)/.exec(setup.split('\n').at(-1)!)![1]!;
      const module = setup.replace(/^function /gm, 'export function ');
      const found = await withModules(
        [`import { ${fn} } from './lib/m.js';`, `//| task: t\nconst r = ${call};`],
        { 'notebooks/lib/m.ts': module },
      );
      expect(found).toHaveLength(1);
      const d = found[0]!;
      expect([d.cell, d.line, d.column]).toEqual([2, 2, 11]);
      expect(d.message).toContain(`calls \`${fn}\` from the local module \`./lib/m.js\``);
      expect(d.message).toContain(says);
      const line = setup.split('\n').length;
      expect(d.message).toContain(`a top-level variable of notebooks/lib/m.ts (line ${line})`);
      expect(d.hint).toContain(
        'a memo may store under a key only a value computed from that key alone',
      );
    },
  );

  const allowed: [string, string, string][] = [
    [
      'a memo filled when missing, read back',
      'const memo = new Map<number, number>();\nfunction sq(n: number) { if (!memo.has(n)) memo.set(n, n * n); return memo.get(n)!; }',
      'sq(3)',
    ],
    [
      'a memo returning a hit early',
      'const memo = new Map<number, number>();\nfunction sq(n: number) { const hit = memo.get(n); if (hit !== undefined) return hit; const v = n * n; memo.set(n, v); return v; }',
      'sq(3)',
    ],
    [
      'a memo checked with has, then computed',
      'const memo = new Map<number, number>();\nfunction sq(n: number) { if (memo.has(n)) return memo.get(n)!; const v = n * n; memo.set(n, v); return v; }',
      'sq(3)',
    ],
    [
      'a memo through a `let` filled on a miss',
      'const memo = new Map<number, number>();\nfunction sq(n: number) { let v = memo.get(n); if (v === undefined) { v = n * n; memo.set(n, v); } return v; }',
      'sq(3)',
    ],
    [
      'a memo keyed by two arguments',
      'const memo = new Map<string, number>();\nfunction area(w: number, h: number) { const k = `${w}x${h}`; if (!memo.has(k)) memo.set(k, w * h); return memo.get(k)!; }',
      'area(2, 3)',
    ],
    [
      'a Set doing something once, returning nothing',
      'const warned = new Set<string>();\nfunction warnOnce(m: string): void { if (warned.has(m)) return; warned.add(m); console.warn(m); }',
      "(warnOnce('x'), 1)",
    ],
    [
      'a lazy load',
      'let rows: number[] | undefined;\nfunction load() { return (rows ??= [1, 2, 3]); }',
      'load().length',
    ],
    [
      'a lazy `if (!x) x = …` load',
      "let db: { name: string } | undefined;\nfunction open() { if (!db) db = { name: 'main' }; return db; }",
      'open().name',
    ],
  ];

  it.each(allowed)('passes a setup helper with %s', async (_, setup, call) => {
    expect(await setupState([setup, `//| task: t\nconst r = ${call};`])).toEqual([]);
  });

  it.each(allowed)('passes a local module function with %s', async (_, setup, call) => {
    const fn = /function (\w+)/.exec(setup.split('\n').at(-1)!)![1]!;
    const module = setup.replace(/^function /gm, 'export function ');
    expect(
      await withModules(
        [`import { ${fn} } from './lib/m.js';`, `//| task: t\nconst r = ${call};`],
        {
          'notebooks/lib/m.ts': module,
        },
      ),
    ).toEqual([]);
  });
});
