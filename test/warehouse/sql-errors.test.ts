// A SQL syntax error at run time points at the faulty line of the template (so the CLI names the
// notebook cell's line) and speaks the user's names, never `__cellar_t0__` / `__cellar_p0__`
// (issue 9, item 7, the SQL half). Real DuckDB, BigQuery SQL through the translator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, sql, useWarehouse, type Warehouse } from 'cellar';
import { readOrigin } from '../../runtime/warehouse/tasks/origin.js';

async function failure(q: PromiseLike<unknown>): Promise<Error> {
  return q.then(
    () => {
      throw new Error('expected the query to fail');
    },
    (e: unknown) => e as Error,
  ) as Promise<Error>;
}

describe('SQL syntax errors in the user’s terms', () => {
  let w: Warehouse;
  beforeAll(async () => {
    w = await openDuckDB({ path: ':memory:' });
    useWarehouse(w, { dialect: 'bigquery' });
    await sql.dialect('duckdb')`CREATE SCHEMA shop`;
    await sql.dialect('duckdb')`CREATE TABLE shop.orders AS SELECT 1 AS id, 10.0 AS amount`;
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
  });

  it('names the faulty line of the template, not its first', async () => {
    const min = 5;
    const e = await failure(sql`SELECT id, amount
      FROM shop.orders
      WHERE amount > ${min}
      ORDER BY id DESK LIMIT`);
    expect(readOrigin(e.stack!).sqlLine).toBe(4);
    expect(e.message).toMatch(/line 4/);
  });

  it('shows the table as written and ${…} for values, never internal markers', async () => {
    const min = 5;
    const e = await failure(sql`SELECT id
      FROM shop.orders
      WHERE amount >> ${min} AND`);
    expect(e.message).not.toMatch(/__cellar_/);
    expect(e.stack).not.toMatch(/__cellar_/);
    expect(e.message).toContain('`shop`.`orders`');
    expect(e.message).toContain('amount >> ${…}');
    expect(readOrigin(e.stack!).sqlLine).toBe(3);
  });

  // Variant: a misspelled keyword on a middle line, and a rewritten function (REGEXP_CONTAINS goes
  // through our own pre-translation rename) in the same query.
  it('a misspelled keyword on a middle line, with a function cellar rewrites, keeps the user’s names', async () => {
    const e = await failure(sql`SELECT id,
      REGEXP_CONTAINS(CAST(id AS STRING), r'1') AS one
      FORM shop.orders`);
    expect(readOrigin(e.stack!).sqlLine).toBe(3);
    expect(e.message).not.toMatch(/__cellar_/);
    expect(e.message).toContain('REGEXP_CONTAINS');
  });
});
