// The tables a DuckDB statement reads, from DuckDB's own parse (sql/parsed-reads.ts through
// DuckDBWarehouse.statementReads), on a real in-memory DuckDB. The acceptance tests in
// test/acceptance/warehouse-trust.test.ts show the same through the CLI and an outside writer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB } from '../../runtime/warehouse/adapters/duckdb.js';
import type { Warehouse } from '../../runtime/warehouse/types.js';
import { fileReads } from '../../runtime/warehouse/sql/files.js';

let w: Warehouse;
// Macro bodies bind when created: the files they read must exist.
const dir = mkdtempSync(join(tmpdir(), 'cellar-stmt-reads-'));
const X = join(dir, 'x.csv');
const Y = join(dir, 'y.csv');
writeFileSync(X, 'v\n1\n');
writeFileSync(Y, 'v\n1\n');
beforeAll(async () => {
  w = await openDuckDB({ path: ':memory:' });
  for (const text of [
    'CREATE TABLE m AS SELECT 1 AS x',
    'CREATE SCHEMA other',
    'CREATE TABLE other.n AS SELECT 2 AS x',
    'CREATE MACRO tm() AS TABLE SELECT * FROM m',
    'CREATE MACRO tm2() AS TABLE SELECT * FROM tm() UNION ALL SELECT * FROM other.n',
    `CREATE MACRO other.tm_x() AS TABLE SELECT * FROM read_csv('${X}')`,
    `CREATE MACRO other.cnt() AS (SELECT count(*) FROM read_csv('${Y}') JOIN other.n ON true)`,
    'CREATE MACRO twice(v) AS other.cnt() * v',
  ])
    await w.execute({ text, params: [], tables: [] });
});
afterAll(async () => {
  await w.close();
  rmSync(dir, { recursive: true, force: true });
});

const reads = async (text: string) => (await w.statementReads!(text))?.tables ?? null;
const files = async (text: string, params: unknown[] = []) =>
  (await w.statementReads!(text, params))!.texts.flatMap((t) =>
    fileReads(t, 'duckdb').reads.map((r) => r.path),
  );

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

  it('follows table and scalar macros to the files and tables their bodies read', async () => {
    expect(await files('SELECT sum(v) FROM other.tm_x()')).toEqual([X]);
    expect(await files('SELECT other.cnt() AS n')).toEqual([Y]);
    expect(await reads('SELECT other.cnt() AS n')).toEqual(['other.n']);
    // A scalar macro calling another, in a WHERE clause.
    expect(await files('SELECT 1 WHERE twice(2) > 0')).toEqual([Y]);
    // A built-in function of the same name as nothing user-defined reads nothing.
    expect(await files('SELECT count(*), lower(x) FROM m')).toEqual([]);
  });

  it('reads the literal argument of query_table() as a table and of query() as SQL', async () => {
    expect(await reads(`SELECT * FROM query_table('other.n')`)).toEqual(['other.n']);
    expect(await reads(`SELECT * FROM query_table(['m', 'other.n'])`)).toEqual(['m', 'other.n']);
    expect((await w.statementReads!('SELECT * FROM query_table($1)', ['m']))!.tables).toEqual([
      'm',
    ]);
    expect(await reads(`SELECT * FROM query('SELECT * FROM other.n, tm()')`)).toEqual([
      'm',
      'other.n',
    ]);
    expect(await files(`SELECT * FROM query('SELECT * FROM read_csv(''data/x.csv'')')`)).toEqual([
      'data/x.csv',
    ]);
  });

  it('refuses query() and query_table() whose argument is computed in the SQL', async () => {
    await expect(reads(`SELECT * FROM query_table('other' || '.n')`)).rejects.toMatchObject({
      code: 'E_WH_DYNAMIC_READ',
    });
    await expect(reads(`SELECT * FROM query(concat('SELECT * FROM ', 'm'))`)).rejects.toThrow(
      /query\(…\) with a SQL text computed inside the SQL/,
    );
  });

  it('gives null for a statement DuckDB does not serialise (the caller scans the text)', async () => {
    expect(await reads('INSERT INTO m SELECT * FROM z')).toBeNull();
  });
});
