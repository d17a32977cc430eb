// What a DuckDB statement reads without naming it in its own text: the files and tables of a
// macro's body (a table macro in FROM, a scalar macro anywhere) and the argument of
// `query_table('…')` / `query('…')`. The task's key must follow them as it follows a view's base
// tables: an edited CSV under a macro, or a new row in a table named inside `query('…')`, re-runs
// the task. Real DuckDB file, real CSV files, the in-process runner (as helper-reads.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  definePipeline,
  defineTask,
  MemoryStore,
  openDuckDB,
  sql,
  useWarehouse,
  type Warehouse,
} from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';

const duck = sql.dialect('duckdb');
const one = async (q: PromiseLike<Record<string, unknown>[]>) => Number((await q)[0]!.v);

function sqlTask(name: string, query: () => PromiseLike<Record<string, unknown>[]>) {
  return defineTask({
    name,
    params: {},
    inputs: {},
    outputs: { v: {} },
    warehouse: { reads: [] },
    run: async () => ({ v: await one(query()) }),
  });
}

describe('reads hidden behind macros, query_table() and query()', () => {
  let dir: string;
  let w: Warehouse;
  const store = new MemoryStore();
  const tasks = [
    sqlTask('table_macro', () => duck`SELECT SUM(v) AS v FROM shop.tm_x()`),
    sqlTask('scalar_macro', () => duck`SELECT shop.cnt() AS v`),
    sqlTask('via_query_table', () => duck`SELECT SUM(v) AS v FROM query_table('shop.nums')`),
    sqlTask('via_query', () => duck`SELECT SUM(v) AS v FROM query('SELECT * FROM shop.nums')`),
    sqlTask('via_query_file', () => {
      const text = `SELECT * FROM read_csv('${join(dir, 'q.csv')}')`;
      return duck`SELECT SUM(v) AS v FROM query(${text})`;
    }),
  ];
  const run = async (only?: string) => {
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: `indirect-${process.pid}`, tasks }),
      store,
      runner: 'in-process',
      workers: 1,
      codeAware: false,
      ...(only ? { only: [only] } : {}),
    });
    return result!;
  };
  const statuses = async () => {
    const r = await run();
    expect(r.ok, JSON.stringify(r.tasks)).toBe(true);
    return Object.fromEntries(r.tasks.map((t) => [t.name, t.status]));
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-indirect-'));
    writeFileSync(join(dir, 'x.csv'), 'v\n1\n2\n');
    writeFileSync(join(dir, 'y.csv'), 'v\n1\n2\n');
    writeFileSync(join(dir, 'q.csv'), 'v\n5\n');
    w = await openDuckDB({ path: join(dir, 'warehouse.duckdb'), idleMs: 50 });
    useWarehouse(w, { dialect: 'duckdb' });
    await duck`CREATE SCHEMA shop`;
    await duck`CREATE TABLE shop.nums AS SELECT 1 AS v`;
    await w.execute({
      text: `CREATE MACRO shop.tm_x() AS TABLE SELECT * FROM read_csv('${join(dir, 'x.csv')}')`,
      params: [],
      tables: [],
    });
    await w.execute({
      text: `CREATE MACRO shop.cnt() AS (SELECT count(*) FROM read_csv('${join(dir, 'y.csv')}'))`,
      params: [],
      tables: [],
    });
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an edited CSV read through a table macro or a scalar macro re-runs the task', async () => {
    await statuses(); // discovers the reads (the one extra run a recorded read costs)
    await statuses();
    expect(Object.values(await statuses())).toEqual(tasks.map(() => 'cached'));
    writeFileSync(join(dir, 'x.csv'), 'v\n1\n2\n100\n');
    expect(await statuses()).toMatchObject({ table_macro: 'ran', scalar_macro: 'cached' });
    writeFileSync(join(dir, 'y.csv'), 'v\n1\n2\n3\n');
    expect(await statuses()).toMatchObject({ table_macro: 'cached', scalar_macro: 'ran' });
  });

  it('a new row in a table named by query_table() or inside query() re-runs the task; so does a CSV read inside query()', async () => {
    await duck`INSERT INTO shop.nums VALUES (2)`;
    expect(await statuses()).toMatchObject({
      via_query_table: 'ran',
      via_query: 'ran',
      via_query_file: 'cached',
    });
    writeFileSync(join(dir, 'q.csv'), 'v\n5\n6\n');
    expect(await statuses()).toMatchObject({ via_query: 'cached', via_query_file: 'ran' });
  });

  it('refuses query_table() whose table name is computed inside the SQL, naming the function', async () => {
    const computed = defineTask({
      name: 'computed',
      params: {},
      inputs: {},
      outputs: { v: {} },
      warehouse: { reads: [] },
      run: async () => ({
        v: await one(duck`SELECT SUM(v) AS v FROM query_table('shop.' || 'nums')`),
      }),
    });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: `indirect-dyn-${process.pid}`, tasks: [computed] }),
      store,
      runner: 'in-process',
      workers: 1,
      codeAware: false,
    });
    expect(result!.ok).toBe(false);
    expect(JSON.stringify(result!.tasks)).toMatch(
      /E_WH_DYNAMIC_READ|query_table\(…\) with a table name computed/,
    );
  });
});
