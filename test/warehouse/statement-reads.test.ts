// The tables a DuckDB statement reads, from DuckDB's own parse (sql/parsed-reads.ts through
// DuckDBWarehouse.statementReads), on a real in-memory DuckDB. The acceptance tests in
// test/acceptance/warehouse-trust.test.ts show the same through the CLI and an outside writer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB } from '../../runtime/warehouse/adapters/duckdb.js';
import type { Warehouse } from '../../runtime/warehouse/types.js';

let w: Warehouse;
beforeAll(async () => {
  w = await openDuckDB({ path: ':memory:' });
  for (const text of [
    'CREATE TABLE m AS SELECT 1 AS x',
    'CREATE SCHEMA other',
    'CREATE TABLE other.n AS SELECT 2 AS x',
    'CREATE MACRO tm() AS TABLE SELECT * FROM m',
    'CREATE MACRO tm2() AS TABLE SELECT * FROM tm() UNION ALL SELECT * FROM other.n',
  ])
    await w.execute({ text, params: [], tables: [] });
});
afterAll(() => w.close());

const reads = (text: string) => w.statementReads!(text);

describe('statementReads', () => {
  it('names every table of comma joins, joins of every kind, subqueries, quoted and qualified names', async () => {
    expect(
      await reads(
        `SELECT * FROM a, "G" LEFT JOIN s.b USING (id) CROSS JOIN (SELECT * FROM c) x WHERE id IN (SELECT id FROM d) AND EXISTS (SELECT 1 FROM e) AND v = $1`,
      ),
    ).toEqual(['G', 'a', 'c', 'd', 'e', 's.b']);
    expect(await reads('FROM f SELECT count(*)')).toEqual(['f']);
  });

  it('leaves out the names a WITH clause defines, in its own scope only', async () => {
    expect(await reads('WITH p AS (SELECT * FROM t) SELECT * FROM p, (SELECT * FROM q) s')).toEqual(
      ['q', 't'],
    );
    // `p` outside the WITH's scope is a table.
    expect(await reads('SELECT * FROM (WITH p AS (SELECT 1) SELECT * FROM p) x, p')).toEqual(['p']);
  });

  it('follows table macros to the tables their bodies read, through a macro calling a macro', async () => {
    expect(await reads('SELECT count(*) FROM tm()')).toEqual(['m']);
    expect(await reads('SELECT count(*) FROM tm2()')).toEqual(['m', 'other.n']);
  });

  it('records a catalog read as information_schema.tables, whose version moves with a new table', async () => {
    expect(await reads(`SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw'`)).toEqual([
      'information_schema.tables',
    ]);
    expect(await reads('SELECT * FROM information_schema.columns')).toContain(
      'information_schema.columns',
    );
    const before = (await w.tableVersion('information_schema.tables'))!.version;
    expect((await w.tableVersion('information_schema.columns'))!.version).toBe(before);
    await w.execute({ text: 'CREATE TABLE brand_new AS SELECT 1 AS x', params: [], tables: [] });
    expect((await w.tableVersion('information_schema.tables'))!.version).not.toBe(before);
  });

  it('leaves out a file read by replacement scan (keyed as a file), unless a table has that name', async () => {
    expect(
      await reads(`SELECT * FROM 'data/sales.csv', 'parts/*.csv', 's3://b/x.parquet', m`),
    ).toEqual(['m']);
    await w.execute({ text: 'CREATE TABLE "odd.name" AS SELECT 1 AS x', params: [], tables: [] });
    expect(await reads(`SELECT * FROM "odd.name"`)).toEqual(['odd.name']);
  });

  it('gives null for a statement DuckDB does not serialise (the caller scans the text)', async () => {
    expect(await reads('INSERT INTO m SELECT * FROM z')).toBeNull();
  });
});
