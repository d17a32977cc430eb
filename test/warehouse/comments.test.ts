// A `${…}` inside a SQL comment (a filter commented out while exploring) is dropped, as any SQL
// client drops the comment, and the compiler warns on its cell and line (issue 9, item 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, sql, useWarehouse, type Warehouse } from 'cellar';
import { compose } from '../../runtime/warehouse/sql/compose.js';
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
});
