// A `${…}` inside a SQL comment (a filter commented out while exploring) is dropped, as any SQL
// client drops the comment, and the compiler warns on its cell and line (issue 9, item 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, sql, useWarehouse, type Warehouse } from 'cellar';
import { compose, gapContexts } from '../../runtime/warehouse/sql/compose.js';
import { sqlFacts } from '../../compiler/analyze/sql.js';
import { compileNotebook } from '../../compiler/program.js';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { notebookText } from '../compiler/notebook.js';

describe('interpolations inside SQL comments', () => {
  it('drops a value in a -- line comment and binds the others', () => {
    const min = 15;
    const c = compose(
      sql`SELECT id FROM shop.orders\n  -- WHERE amount > ${min}\n  WHERE id > ${0}`,
      'bigquery',
    );
    expect(c.params.map((p) => p.value)).toEqual([0]);
    expect(c.text).toBe(
      'SELECT id FROM shop.orders\n  -- WHERE amount > ${…}\n  WHERE id > __cellar_p0__',
    );
  });

  it('drops values in /* block */ and # comments, never a nested query spliced into a comment', () => {
    const inner = sql`SELECT 1 AS x\nUNION ALL SELECT 2`;
    const c = compose(
      sql`SELECT * FROM t /* WHERE a = ${1}\n AND b IN ${inner} */ WHERE c = ${2} # AND d = ${3}\n`,
      'bigquery',
    );
    expect(c.params.map((p) => p.value)).toEqual([2]);
    expect(c.text).not.toContain('UNION');
  });

  it('does not take comment markers inside strings or quoted names for comments', () => {
    const c = compose(
      sql`SELECT '--' AS a, "/*" AS b, \`x--y\` AS c FROM t WHERE d = ${1} -- ${2}`,
      'bigquery',
    );
    expect(c.params.map((p) => p.value)).toEqual([1]);
    const d = compose(
      sql.dialect('duckdb')`SELECT 'it''s -- not a comment' AS a WHERE b = ${1}`,
      'duckdb',
    );
    expect(d.params.map((p) => p.value)).toEqual([1]);
    // DuckDB's dollar-quoted strings: `--` and `/*` inside them are text, and a `$$` in BigQuery
    // SQL is no string (it has none).
    const dollar = compose(
      sql.dialect('duckdb')`SELECT $$--$$ AS a, $q$/*$q$ AS b WHERE c = ${1} AND d = ${2}`,
      'duckdb',
    );
    expect(dollar.params.map((p) => p.value)).toEqual([1, 2]);
    expect(dollar.text).not.toContain('${…}');
  });

  it('the compiler does not warn on a ${…} after a dollar-quoted string holding a comment marker', async () => {
    const text = notebookText([
      "import { sql } from 'cellar';",
      '//| task: dq\n//| dialect: duckdb\nconst rows = await sql`SELECT $$--$$ AS a, ${1} AS b`;',
    ]);
    const result = await compileNotebook('notebooks/dq.ipynb', text, {
      workdir: '../../notebooks',
      format: false,
    });
    expect(result.diagnostics.filter((d) => d.code === 'W_SQL_COMMENT_PARAM')).toEqual([]);
  }, 600_000);

  describe('on DuckDB', () => {
    let w: Warehouse;
    beforeAll(async () => {
      w = await openDuckDB({ path: ':memory:' });
      useWarehouse(w, { dialect: 'bigquery' });
      await sql.dialect('duckdb')`CREATE SCHEMA shop`;
      await sql.dialect(
        'duckdb',
      )`CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)`;
    });
    afterAll(async () => {
      useWarehouse(null);
      await w.close();
    });

    it('runs the query without the commented-out filter, as a SQL client would', async () => {
      const minAmount = 15;
      const lineComment = await sql<{ id: number }>`
        SELECT id, amount
        FROM shop.orders
        -- WHERE amount > ${minAmount}
        ORDER BY id`;
      const blockComment = await sql<{ id: number }>`
        SELECT id, amount
        FROM shop.orders
        /* WHERE amount > ${minAmount} */
        ORDER BY id`;
      expect(lineComment).toEqual([
        { id: 1, amount: 10 },
        { id: 2, amount: 20 },
      ]);
      expect(blockComment).toEqual(lineComment);
    });
  });

  it('the compiler warns on the cell and line of the commented-out ${…}', async () => {
    const NB = 'notebooks/comments.ipynb';
    const text = notebookText([
      "import { sql } from 'cellar';",
      '//| params\nconst minAmount = 15;',
      '//| task: all_orders\nconst rows = await sql<{ id: number }>`\n  SELECT id, amount\n  FROM shop.orders\n  -- WHERE amount > ${minAmount}\n  ORDER BY id`;',
      '//| task: block\nconst rows2 = await sql<{ id: number }>`SELECT id FROM shop.orders /* WHERE amount > ${minAmount} */`;',
    ]);
    const result = await compileNotebook(NB, text, { workdir: '../../notebooks', format: false });
    const warnings = result.diagnostics.filter((d) => d.code === 'W_SQL_COMMENT_PARAM');
    expect(warnings.map((d) => [d.severity, d.cell, d.line])).toEqual([
      ['warning', 3, 5],
      ['warning', 4, 2],
    ]);
    expect(formatDiagnostic(warnings[0]!)).toContain(`${NB}, cell 3 (id c3), line 5`);
    expect(warnings[0]!.message).toContain('dropped');
    expect(result.files.length).toBeGreaterThan(0); // a warning: the notebook still compiles
  }, 600_000); // compiling loads TypeScript and the SQL parser: no speed assumption

  it('the compiler refuses a ${…} inside a quoted string, name or dollar-quoted string, on its line', async () => {
    const NB = 'notebooks/quoted.ipynb';
    const text = notebookText([
      "import { sql } from 'cellar';",
      '//| params\nconst pat = "1";',
      "//| task: like\n//| dialect: duckdb\nconst q1 = await sql`SELECT COUNT(*) AS n\n  FROM shop.orders WHERE CAST(id AS STRING) LIKE '${pat}%'`;",
      '//| task: named\n//| dialect: duckdb\nconst q3 = await sql`SELECT \'a\' AS "col_${pat}"`;',
      '//| task: dollar\n//| dialect: duckdb\nconst q5 = await sql`SELECT $$x${pat}y$$ AS s`;',
      // Not quoted: a value after a string, and BigQuery's `\'` escape, stay parameters.
      "//| task: fine\nconst q6 = await sql`SELECT 'it\\\\'s' AS a, ${pat} || '%' AS b`;",
      // Text the user wrote that reads like a placeholder is not one: before, beside and after
      // a real one, in a string, a name and a comment.
      "//| task: email\n//| dialect: duckdb\nconst q7 = await sql`SELECT 'x@p2p.com' AS e, ${pat} AS p, '@p0' AS \"@p1\" -- @p0\n  , 'y@p1' AS f`;",
    ]);
    const result = await compileNotebook(NB, text, { workdir: '../../notebooks', format: false });
    const errors = result.diagnostics.filter((d) => d.code === 'E_SQL_QUOTED_PARAM');
    expect(errors.map((d) => [d.severity, d.cell, d.line])).toEqual([
      ['error', 3, 4],
      ['error', 4, 3],
      ['error', 5, 3],
    ]);
    expect(formatDiagnostic(errors[0]!)).toContain(`${NB}, cell 3 (id c3), line 4`);
    expect(errors[0]!.message).toContain('quoted SQL string');
    expect(errors[0]!.hint).toContain("LIKE ${pat} || '%'");
    expect(errors[0]!.snippet).toContain("LIKE '${pat}%'");
    expect(errors[1]!.message).toContain('quoted name');
    expect(errors[1]!.hint).toContain('ident(name)');
    expect(errors[2]!.message).toContain('quoted SQL string');
    expect(result.diagnostics.filter((d) => d.code === 'W_SQL_COMMENT_PARAM')).toEqual([]);
  }, 600_000);

  describe('a ${…} inside quotes at run time, on DuckDB', () => {
    let w: Warehouse;
    beforeAll(async () => {
      w = await openDuckDB({ path: ':memory:' });
      useWarehouse(w, { dialect: 'duckdb' });
      await sql`CREATE SCHEMA shop`;
      await sql`CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (12, 20.0)) t(id, amount)`;
    });
    afterAll(async () => {
      useWarehouse(null);
      await w.close();
    });

    // As from a helper module the compiler does not analyse: the runtime names the placeholder
    // and the quotes instead of DuckDB's "Can not bind to parameter number 1".
    it('is refused with the placeholder number and the fix, not a bind error', async () => {
      const pat = '1';
      const refused = async (run: () => PromiseLike<unknown>) => {
        const error = await Promise.resolve(run()).then(
          () => undefined,
          (e: unknown) => e as Error & { code?: string },
        );
        expect(error?.code).toBe('E_WH_PARAM');
        expect(error?.message).not.toMatch(/Can not bind/);
        return error!.message;
      };
      const like = await refused(
        () =>
          sql`SELECT COUNT(*) AS n FROM shop.orders WHERE id > ${0} AND CAST(id AS STRING) LIKE '${pat}%'`,
      );
      expect(like).toContain('value #2');
      expect(like).toContain("LIKE '${…}%'");
      expect(like).toContain('quoted SQL string literal');
      expect(like).toContain("LIKE ${pat} || '%'");
      const named = await refused(() => sql`SELECT 'a' AS "col_${pat}"`);
      expect(named).toContain('value #1');
      expect(named).toContain('quoted name');
      expect(named).toContain('ident(name)');
      expect(await refused(() => sql`SELECT $$x${pat}y$$ AS s`)).toContain('quoted SQL string');
    });

    it('the fix the message gives runs', async () => {
      const pat = '1';
      const rows = await sql<{ n: number }>`
        SELECT COUNT(*)::INT AS n FROM shop.orders WHERE CAST(id AS STRING) LIKE ${pat} || '%'`;
      expect(rows).toEqual([{ n: 2 }]);
    });
  });

  // A tester's finding: DuckDB nests block comments (`/* a /* b */ c */` is one comment) and has
  // escape strings (`E'it\'s'`); both lexers ended the comment at the first `*/` and the string at
  // `\'`, so the `${…}` after them was bound as a parameter: no W_SQL_COMMENT_PARAM, no
  // E_SQL_QUOTED_PARAM, and at run time DuckDB's raw "Can not bind to parameter number 1".
  describe('DuckDB nested block comments and E-strings, in both lexers', () => {
    const nested = (x: unknown) =>
      sql.dialect(
        'duckdb',
      )`SELECT id FROM shop.orders /* outer /* inner */ WHERE amount > ${x} */ WHERE id > ${0}`;
    const eString = (x: unknown) => sql.dialect('duckdb')`SELECT E'it\\'s ${x}' AS s, ${1} AS b`;

    it("the runtime's lexer: in a nested comment the value is dropped; in E'…' it is in a string", () => {
      const c = compose(nested(15), 'duckdb');
      expect(c.params.map((p) => p.value)).toEqual([0]);
      expect(c.text).toContain('WHERE amount > ${…} */ WHERE id > __cellar_p0__');
      expect(gapContexts(["E'it\\'s ", "' AS s, ", ' AS b'], 'duckdb')).toEqual(['string', 'code']);
      // `e'…'` too, but not a word ending in e (`type'…'` is no escape string: `\` is text there).
      expect(gapContexts(["SELECT e'a\\'", "'"], 'duckdb')).toEqual(['string']);
      expect(gapContexts(["SELECT 'a\\'", "'"], 'duckdb')).toEqual(['code']);
      // BigQuery does not nest: its comment ends at the first `*/`.
      expect(gapContexts(['/* a /* b */ ', ' */'], 'bigquery')).toEqual(['code']);
      expect(gapContexts(['/* a /* b */ ', ' */'], 'duckdb')).toEqual(['comment']);
    });

    it("the compiler's lexer agrees with the runtime's, template by template", async () => {
      const cases: [string[], 'duckdb' | 'bigquery'][] = [
        [['SELECT 1 /* outer /* inner */ WHERE a > ', ' */ WHERE b > ', ''], 'duckdb'],
        [['SELECT 1 /* a /* b /* c */ */ ', ' */ ', ''], 'duckdb'],
        [['/* a /* b */ ', ' */'], 'bigquery'],
        [["SELECT E'it\\'s ", "' AS s, ", ' AS b'], 'duckdb'],
        [["SELECT E'a\\\\' AS s, ", ' AS b'], 'duckdb'],
        [["SELECT 'a\\' AS s, ", ' AS b'], 'duckdb'],
      ];
      for (const [parts, dialect] of cases) {
        // Each gap on a line of its own, so the compiler's problems (by line) say which gap.
        const strings = parts.map(
          (x, k) => (k > 0 ? '\n' : '') + x + (k < parts.length - 1 ? '\n' : ''),
        );
        const text = strings.reduce((t, x, k) => (k === 0 ? x : `${t}@p${k - 1}${x}`));
        const { problems } = await sqlFacts([text], dialect);
        const compiler = strings.slice(1).map((_, k) => {
          const line = text.slice(0, text.indexOf(`@p${k}`)).split('\n').length;
          const kind = problems.find((x) => x.line === line)?.kind;
          return kind === 'comment-param' ? 'comment' : kind === 'quoted-param' ? 'quoted' : 'code';
        });
        const runtime = gapContexts(strings, dialect).map((g) =>
          g === 'string' || g === 'identifier' ? 'quoted' : g,
        );
        expect({ text, dialect, compiler }).toEqual({ text, dialect, compiler: runtime });
      }
    }, 600_000);

    it('the compiler warns on the nested comment and refuses the E-string, on their lines', async () => {
      const text = notebookText([
        "import { sql } from 'cellar';",
        '//| params\nconst minAmount = 15;\nconst key = "k";',
        '//| task: nested\n//| dialect: duckdb\nconst rows = await sql`SELECT id\n  FROM shop.orders /* outer /* inner */ WHERE amount > ${minAmount} */`;',
        "//| task: estr\n//| dialect: duckdb\nconst rows2 = await sql`SELECT\n  E'it\\\\'s ${key}' AS s`;",
      ]);
      const result = await compileNotebook('notebooks/nested.ipynb', text, {
        workdir: '../../notebooks',
        format: false,
      });
      const pick = (code: string) =>
        result.diagnostics.filter((d) => d.code === code).map((d) => [d.cell, d.line]);
      expect(pick('W_SQL_COMMENT_PARAM')).toEqual([[3, 4]]);
      expect(pick('E_SQL_QUOTED_PARAM')).toEqual([[4, 4]]);
    }, 600_000);

    describe('at run time on DuckDB', () => {
      let w: Warehouse;
      beforeAll(async () => {
        w = await openDuckDB({ path: ':memory:' });
        useWarehouse(w, { dialect: 'duckdb' });
        await sql`CREATE SCHEMA shop`;
        await sql`CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (12, 20.0)) t(id, amount)`;
      });
      afterAll(async () => {
        useWarehouse(null);
        await w.close();
      });

      it('runs the nested-comment query without the filter, and refuses the E-string with E_WH_PARAM', async () => {
        expect(await nested(15)).toEqual([{ id: 1 }, { id: 12 }]);
        const error = await Promise.resolve(eString('k')).then(
          () => undefined,
          (e: unknown) => e as Error & { code?: string },
        );
        expect(error?.code).toBe('E_WH_PARAM');
        expect(error?.message).not.toMatch(/Can not bind/);
        expect(error?.message).toContain('value #1');
        // An E-string without a value inside still runs, and the value after it binds.
        expect(await sql<{ s: string; b: number }>`SELECT E'it\\'s' AS s, ${2}::INT AS b`).toEqual([
          { s: "it's", b: 2 },
        ]);
      });
    });
  });
});
