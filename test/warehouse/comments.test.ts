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
});
