// What a DuckDB statement reads without naming it in its own text: the files and tables of a
// macro's body (a table macro in FROM, a scalar macro anywhere) and the argument of
// `query_table('…')` / `query('…')`. The task's key must follow them as it follows a view's base
// tables: an edited CSV under a macro, or a new row in a table named inside `query('…')`, re-runs
// the task. Real DuckDB file, real CSV files, the in-process runner (as helper-reads.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe('a path under ~', () => {
  // DuckDB opens `~/x.csv` under HOME: the key names the file it expands to, so a run with another
  // HOME reads (and is keyed on) the other file instead of serving the first one's result.
  it("read_csv('~/x.csv') with HOME moved re-runs the task, with the other file's rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-home-'));
    const home = process.env.HOME;
    for (const [h, n] of [
      ['h1', 1],
      ['h2', 50],
    ] as const) {
      mkdirSync(join(dir, h));
      writeFileSync(join(dir, h, 'x.csv'), `v\n${n}\n`);
    }
    const w = await openDuckDB({ path: join(dir, 'warehouse.duckdb'), idleMs: 50 });
    useWarehouse(w, { dialect: 'duckdb' });
    const fromHome = defineTask({
      name: 'from_home',
      params: {},
      inputs: {},
      outputs: { v: {} },
      // What the compiler lists for the literal path in the task's own template.
      warehouse: { files: ['~/x.csv'] },
      run: async () => ({ v: await one(duck`SELECT SUM(v) AS v FROM read_csv('~/x.csv')`) }),
    });
    const store = new MemoryStore();
    const run = async () => {
      const { result } = await runPipeline({
        pipeline: definePipeline({ name: `home-${process.pid}`, tasks: [fromHome] }),
        store,
        runner: 'in-process',
        workers: 1,
        codeAware: false,
      });
      expect(result!.ok, JSON.stringify(result!.tasks)).toBe(true);
      return result!.tasks[0]!.status;
    };
    try {
      process.env.HOME = join(dir, 'h1');
      await run();
      expect(await run()).toBe('cached');
      process.env.HOME = join(dir, 'h2');
      expect(await run()).toBe('ran');
      expect(await one(duck`SELECT SUM(v) AS v FROM read_csv('~/x.csv')`)).toBe(50);
      expect(await run()).toBe('cached');
    } finally {
      if (home === undefined) delete process.env.HOME;
      else process.env.HOME = home;
      useWarehouse(null);
      await w.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
