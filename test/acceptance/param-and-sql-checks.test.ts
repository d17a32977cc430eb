// Two checks that were off, through the real CLI. A `--param` value of the wrong shape for a JSON
// param (an array where the params cell's default is an object, a string field where it holds a
// number, a missing field, a bad element) passed and failed later inside a task: it is E_BAD_PARAM
// naming the param, the place, the kind expected and the value given, and no task runs. And a
// DuckDB cast of an interpolated value (`${k}::INT`, with spaces, to an array type, in date
// arithmetic) drew a false W_SQL_SYNTAX warning, while a real syntax error still warns on its cell
// and line.
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

describe('a --param value of the wrong shape', () => {
  const p = project();
  p.write(
    'notebooks/knobs.ipynb',
    notebookText([
      codeCell(
        'params',
        "//| params\nconst n = 3;\nconst opts = { k: 1, tags: ['x'] };\nconst xs = [1, 2];",
      ),
      codeCell('echo', '//| task: echo\nconst echoed = { n, k: opts.k, tags: opts.tags, xs };'),
    ]),
  );

  it.each([
    {
      arg: 'opts={"k":"x","tags":[]}',
      message: `param 'opts' is JSON shaped like its default {"k":1,"tags":["x"]}: expected opts.k to be a number, got "x" (the value given: '{"k":"x","tags":[]}')`,
    },
    {
      arg: 'opts=[1]',
      message: `param 'opts' is JSON shaped like its default {"k":1,"tags":["x"]}: expected opts to be an object, got [1]`,
    },
    {
      arg: 'opts={"k":2}',
      message: `expected opts.tags (an array), got nothing (the field is missing)`,
    },
    {
      arg: 'opts={"k":2,"tags":["a",3]}',
      message: `expected opts.tags[1] to be a string, got 3`,
    },
    {
      arg: 'xs=[1,"a"]',
      message: `param 'xs' is JSON shaped like its default [1,2]: expected xs[1] to be a number, got "a"`,
    },
    { arg: 'n=abc', message: `param 'n' is a number, got 'abc'` },
  ])('$arg is refused naming the param, what it expects and what it got', ({ arg, message }) => {
    const r = p.cellar('run', 'notebooks/knobs.ipynb', '--param', arg);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('(E_BAD_PARAM)');
    expect(r.stdout).not.toContain('start');
  });

  it('a value of the right shape runs (extra fields and empty arrays are fine)', () => {
    const r = p.cellar(
      'run',
      'notebooks/knobs.ipynb',
      '--param',
      'opts={"k":2,"tags":[],"note":"x"}',
      '--param',
      'xs=[]',
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('a DuckDB cast of an interpolated value', () => {
  it('draws no W_SQL_SYNTAX, with or without a dialect directive; a real syntax error still warns', () => {
    const p = project();
    const casts =
      'const rows = await sql<{ v: number }>`SELECT ${k}::INT AS v, ${k} :: BIGINT AS w, ${[k]}::INT[] AS xs, ${day}::DATE - INTERVAL 1 DAY AS d`;';
    p.write(
      'notebooks/casts.ipynb',
      notebookText([
        codeCell('setup', "import { sql } from 'cellar';"),
        codeCell('params', "//| params\nconst k = 3;\nconst day = '2024-01-02';"),
        codeCell('q', `//| task: q\n//| dialect: duckdb\n${casts}\nconst v = Number(rows[0].v);`),
        codeCell('plain', `//| task: plain\n${casts.replace('rows', 'rows2')}`),
        codeCell(
          'bad',
          '//| task: bad\n//| dialect: duckdb\nconst r2 = await sql<{ v: number }>`SELEC ${k}::INT AS v`;',
        ),
      ]),
    );
    const r = p.cellar('compile');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('W_SQL_SYNTAX'));
    expect(warnings).toEqual([
      'notebooks/casts.ipynb, cell 5 (id bad), line 3: warning W_SQL_SYNTAX: this sql`…` does not parse as duckdb SQL: Parse error at line 1, column 11: Invalid expression / Unexpected token',
    ]);
  });
});
