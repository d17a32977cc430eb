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
      message: `expected opts.k to be a number, got "x"`,
    },
    {
      arg: 'opts=[1]',
      message: `expected opts to be an object, got [1]`,
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
      message: `expected xs[1] to be a number, got "a"`,
    },
    { arg: 'n=abc', message: `param 'n' is a number, got 'abc'` },
  ])('$arg is refused naming the param, what it expects and what it got', ({ arg, message }) => {
    const r = p.cellar('run', 'notebooks/knobs.ipynb', '--param', arg);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('(E_BAD_PARAM)');
    expect(r.stdout).not.toContain('start');
  });

  it('a value of the right shape runs (empty arrays are fine)', () => {
    const r = p.cellar(
      'run',
      'notebooks/knobs.ipynb',
      '--param',
      'opts={"k":2,"tags":[]}',
      '--param',
      'xs=[]',
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

// B7: `cellar run --param` accepted values `cellar exec -p` refused (E_BAD_PARAM) for the same
// params cell: both now type a JSON param by one check, the TypeScript compiler against the
// declared type (cli/exec/params.ts), the shape of the default naming the path when it can.
describe('a JSON param value: cellar run and cellar exec accept and refuse the same', () => {
  const p = project();
  p.write(
    'notebooks/weights.ipynb',
    notebookText([
      codeCell(
        'params',
        [
          '//| params',
          'const weights = { b: 2, a: 1 };',
          "const opts: { mode: 'fast' | 'exact'; tags?: string[] } = { mode: 'fast' };",
          'const scores: Record<string, number> = { x: 1 };',
          "const level: 'low' | 'high' = 'low';",
          'const k: 1 | 2 = 1;',
        ].join('\n'),
      ),
      codeCell('order', '//| task: order\nconst firstKey = Object.keys(weights)[0];'),
      codeCell('pick', "//| task: pick\nconst cost = (level === 'low' ? 10 : 1000) * k;"),
      codeCell(
        'use',
        '//| task: use\nconst used = { mode: opts.mode, n: Object.keys(scores).length };',
      ),
    ]),
  );
  const exec = (name: string, value: string) =>
    p.cellar('exec', 'notebooks/weights.ipynb', '-p', name, value, '-o', 'out.ipynb');

  it.each([
    {
      name: 'weights',
      value: '{"a":"x"}',
      says: `parameter 'weights' is { b: number; a: number } (notebooks/weights.ipynb cell 1 (id params), line 2)`,
    },
    { name: 'weights', value: '{"b":2,"a":1,"c":"x"}', says: `'"c"' does not exist in type` },
    // Variants the shape of the default cannot see: a union of strings, an optional field's type.
    {
      name: 'opts',
      value: '{"mode":"slow"}',
      says: `Type '"slow"' is not assignable to type '"exact" | "fast"'`,
    },
    { name: 'opts', value: '{"mode":"fast","tags":[1]}', says: `parameter 'opts'` },
    // A string or number param narrowed to literals (a tester's finding: `--param level=hgih` ran,
    // and the task silently took the other branch).
    {
      name: 'level',
      value: 'hgih',
      says: `parameter 'level' is 'low' | 'high' (notebooks/weights.ipynb cell 1 (id params), line 5), got 'hgih'`,
    },
    { name: 'k', value: '3', says: `parameter 'k' is 1 | 2` },
  ])(
    '$name=$value is E_BAD_PARAM in both, naming the params cell and line',
    ({ name, value, says }) => {
      const run = p.cellar('run', 'notebooks/weights.ipynb', '--param', `${name}=${value}`);
      expect(run.code, run.stdout + run.stderr).toBe(2);
      expect(run.stderr).toContain('(E_BAD_PARAM)');
      expect(run.stderr).toContain(says);
      expect(run.stdout).not.toContain('start');
      const refused = exec(name, value);
      expect(refused.code, refused.stdout + refused.stderr).toBe(2);
      expect(refused.stderr).toContain('(E_BAD_PARAM)');
      expect(refused.stderr).toContain(says);
    },
  );

  it('a value its declared type allows runs, though the default has other keys (Record)', () => {
    const r = p.cellar(
      'run',
      'notebooks/weights.ipynb',
      '--param',
      'scores={"y":2,"z":3}',
      '--param',
      'opts={"mode":"exact"}',
      '--param',
      'level=high',
      '--param',
      'k=2',
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe('a param typed by a setup cell alias', () => {
  it("is checked against the alias in run and exec: --param mode=zz for `type Mode = 'fast' | 'slow'` is E_BAD_PARAM", () => {
    // A tester's finding: the params cell check could not see the setup's `type Mode`, and took
    // any value.
    const p = project();
    p.write(
      'notebooks/alias.ipynb',
      notebookText([
        codeCell('setup', "type Mode = 'fast' | 'slow';\ninterface Opts {\n  mode: Mode;\n}"),
        codeCell(
          'params',
          "//| params\nconst mode: Mode = 'fast';\nconst opts: Opts = { mode: 'fast' };",
        ),
        codeCell('a', '//| task: a\nconst s = `${mode}-${opts.mode}`;'),
      ]),
    );
    for (const [arg, says] of [
      [
        'mode=zz',
        `parameter 'mode' is Mode (notebooks/alias.ipynb cell 2 (id params), line 2), got 'zz'`,
      ],
      ['opts={"mode":"zz"}', `Type '"zz"' is not assignable to type 'Mode'`],
    ]) {
      const r = p.cellar('run', 'notebooks/alias.ipynb', '--param', arg!, '--dry-run');
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('(E_BAD_PARAM)');
    }
    const exec = p.cellar('exec', 'notebooks/alias.ipynb', '-p', 'mode', 'zz', '--prepare-only');
    expect(exec.code, exec.stdout + exec.stderr).toBe(2);
    expect(exec.stderr).toContain(`parameter 'mode' is Mode`);
    const ok = p.cellar(
      'run',
      'notebooks/alias.ipynb',
      '--param',
      'mode=slow',
      '--param',
      'opts={"mode":"slow"}',
    );
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });
});

describe('a --param the params cell declares but no task reads', () => {
  it('is refused saying so, with its cell and line, not as unknown; a misspelt name is still unknown', () => {
    // A newcomer's finding: "unknown param 'mode' (pipeline params: n)" for a declared param.
    const p = project();
    p.write(
      'notebooks/unread.ipynb',
      notebookText([
        codeCell('params', "//| params\nconst n = 3;\nconst mode = 'fast';"),
        codeCell('a', '//| task: a\nconst twice = n * 2;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/unread.ipynb', '--param', 'mode=slow', '--dry-run');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(
      "param 'mode' is declared in notebooks/unread.ipynb, cell 1 (id params), line 3, but no task reads it",
    );
    expect(r.stderr).toContain('(E_UNKNOWN_PARAM)');
    const typo = p.cellar('run', 'notebooks/unread.ipynb', '--param', 'mdoe=slow', '--dry-run');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown param 'mdoe'");
    // A value of the wrong kind names the params cell too, as `cellar exec -p` does.
    const bad = p.cellar('run', 'notebooks/unread.ipynb', '--param', 'n=abc', '--dry-run');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "param 'n' is a number, got 'abc' (declared in notebooks/unread.ipynb, cell 1 (id params), line 2) (E_BAD_PARAM)",
    );
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
