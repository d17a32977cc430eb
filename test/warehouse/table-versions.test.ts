// A cached result is never served for another warehouse, nor after the data under it changed
// (issue 8, item 2). Real DuckDB files; BigQuery through its real client against the stand-in.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  definePipeline,
  defineTask,
  MemoryStore,
  openBigQuery,
  openDuckDB,
  sql,
  useWarehouse,
  type Warehouse,
} from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import { startStandIn, type StandIn } from '../support/bigquery-standin/server.js';

const total = defineTask({
  name: 'order_total',
  params: {},
  inputs: {},
  outputs: { total: {} },
  warehouse: { reads: ['shop.orders'] },
  run: async () => ({
    total: (await sql<{ total: number }>`SELECT SUM(amount) AS total FROM shop.orders`)[0]!.total,
  }),
});
const pipeline = definePipeline({ name: 'orders', tasks: [total] });

/**
 * The keys a next run computes: a run's own key when its result is stored there, else the next
 * one (the BigQuery client reads proxy variables by a computed name, which the first run's key
 * could not hold, so that run's result is filed under the next key: run/adopt-reads.ts).
 */
async function storedKeys(
  p: typeof pipeline,
  store: MemoryStore,
  keys: Map<string, { value: string }>,
): Promise<Map<string, { value: string }>> {
  const { prepared } = await runPipeline({
    pipeline: p,
    store,
    runner: 'in-process',
    workers: 1,
    codeAware: false,
    dryRun: true,
  });
  return prepared.keys.size > 0 ? prepared.keys : keys;
}

/** Run the pipeline on `w` against `store`; the task's status and its stored total. */
async function runOn(w: Warehouse, store: MemoryStore): Promise<{ status: string; total: number }> {
  useWarehouse(w, { dialect: 'bigquery' });
  try {
    const { result, prepared } = await runPipeline({
      pipeline,
      store,
      runner: 'in-process',
      workers: 1,
      codeAware: false,
    });
    expect(result!.ok, JSON.stringify(result!.tasks)).toBe(true);
    const key = (await storedKeys(pipeline, store, prepared.keys)).get('order_total')!.value;
    // Results live in the pipeline's own part of the store.
    const own = store.forPipeline(pipeline.name);
    const stored = (await own.readManifest('order_total', key))!.outputs.total!;
    const bytes = await own.readOutput('order_total', stored.file);
    return { status: result!.tasks[0]!.status, total: Number(new TextDecoder().decode(bytes)) };
  } finally {
    useWarehouse(null);
  }
}

/** A DuckDB file with shop.orders (amounts 10 and 20, times `scale`), made by DuckDB itself. */
async function makeShop(path: string, scale: number): Promise<void> {
  await outside(
    path,
    `CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0 * ${scale}), (2, 20.0 * ${scale})) t(id, amount)`,
  );
}

/** Another program writing the file (its own DuckDB instance, cellar's warehouse closed). */
async function outside(path: string, text: string): Promise<void> {
  const db = await DuckDBInstance.create(path);
  const c = await db.connect();
  await c.run(text);
  c.closeSync();
  db.closeSync();
}

describe('DuckDB: the file and its content are in the key', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-versions-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('never serves one file’s result for another file built the same way', async () => {
    const store = new MemoryStore();
    await makeShop(join(dir, 'dev.duckdb'), 1);
    await makeShop(join(dir, 'prod.duckdb'), 10);
    for (const [file, expected] of [
      ['dev.duckdb', { status: 'ran', total: 30 }],
      ['prod.duckdb', { status: 'ran', total: 300 }],
      ['dev.duckdb', { status: 'cached', total: 30 }],
    ] as const) {
      const w = await openDuckDB({ path: join(dir, file), idleMs: 50 });
      expect(await runOn(w, store), file).toEqual(expected);
      await w.close();
    }
  });

  it('re-runs the readers when another program updates values in place (same rows, same schema)', async () => {
    const store = new MemoryStore();
    const path = join(dir, 'inplace.duckdb');
    await makeShop(path, 1);
    let w = await openDuckDB({ path, idleMs: 50 });
    expect(await runOn(w, store)).toEqual({ status: 'ran', total: 30 });
    expect(await runOn(w, store)).toEqual({ status: 'cached', total: 30 });
    await w.close();
    await outside(path, 'UPDATE shop.orders SET amount = 25.0 WHERE id = 2');
    w = await openDuckDB({ path, idleMs: 50 });
    expect(await runOn(w, store)).toEqual({ status: 'ran', total: 35 });
    await w.close();
  });

  // Variant: a copied file carries the original's id (same data, same results: right), and
  // diverges as soon as either copy's data changes, outside cellar and keeping the row count.
  it('a copy of the file shares results until its data changes', async () => {
    const store = new MemoryStore();
    const a = join(dir, 'a.duckdb');
    const b = join(dir, 'b.duckdb');
    await makeShop(a, 1);
    let w = await openDuckDB({ path: a, idleMs: 50 });
    expect(await runOn(w, store)).toEqual({ status: 'ran', total: 30 });
    await w.close();
    copyFileSync(a, b);
    w = await openDuckDB({ path: b, idleMs: 50 });
    expect(await runOn(w, store)).toEqual({ status: 'cached', total: 30 });
    await w.close();
    await outside(b, 'UPDATE shop.orders SET amount = amount * 3');
    w = await openDuckDB({ path: b, idleMs: 50 });
    expect(await runOn(w, store)).toEqual({ status: 'ran', total: 90 });
    await w.close();
  });

  it('an unchanged file is not rescanned: the content hash comes from the memo while the file stamp holds', async () => {
    const path = join(dir, 'memo.duckdb');
    await makeShop(path, 1);
    const w = await openDuckDB({ path, idleMs: 50 });
    const v1 = (await w.tableVersion('shop.orders'))!.version;
    const memoPath = `${path}.fingerprints.json`;
    const memo = JSON.parse(readFileSync(memoPath, 'utf8')) as {
      stamp: string;
      tables: Record<string, string>;
    };
    expect(Object.keys(memo.tables)).toEqual(['shop.orders']);
    // Prove the memo is what answers: a marked entry under the same stamp comes back as is.
    writeFileSync(memoPath, JSON.stringify({ ...memo, tables: { 'shop.orders': 'from-memo' } }));
    expect((await w.tableVersion('shop.orders'))!.version).toMatch(/:cfrom-memo$/);
    await w.close();
    // Any write changes the file's stamp: the memo no longer applies, the scan runs again.
    await outside(path, 'UPDATE shop.orders SET amount = amount');
    const again = await openDuckDB({ path, idleMs: 50 });
    expect((await again.tableVersion('shop.orders'))!.version).toBe(v1);
    await again.close();
  });
});

/** A task summing `amount` over `relation` (a table or a view). */
function totalOf(relation: string) {
  const task = defineTask({
    name: 'view_total',
    params: {},
    inputs: {},
    outputs: { total: {} },
    warehouse: { reads: [relation] },
    run: async () => ({
      total: (
        await sql<{ total: number }>`SELECT SUM(amount) AS total FROM ${sql.table(relation)}`
      )[0]!.total,
    }),
  });
  return definePipeline({ name: `over_${relation.replace(/\W/g, '_')}`, tasks: [task] });
}

/** Run a one-task pipeline on `w`: the task's status and its stored total. */
async function runTotal(
  w: Warehouse,
  store: MemoryStore,
  p: ReturnType<typeof totalOf>,
): Promise<{ status: string; total: number }> {
  useWarehouse(w, { dialect: 'bigquery' });
  try {
    const { result, prepared } = await runPipeline({
      pipeline: p,
      store,
      runner: 'in-process',
      workers: 1,
      codeAware: false,
    });
    expect(result!.ok, JSON.stringify(result!.tasks)).toBe(true);
    const key = (await storedKeys(p, store, prepared.keys)).get('view_total')!.value;
    const own = store.forPipeline(p.name);
    const stored = (await own.readManifest('view_total', key))!.outputs.total!;
    const bytes = await own.readOutput('view_total', stored.file);
    return { status: result!.tasks[0]!.status, total: Number(new TextDecoder().decode(bytes)) };
  } finally {
    useWarehouse(null);
  }
}

// A task reading a VIEW must see the data under it change (issue 8 item 2's kind): the view's
// own catalog entry does not move when an outside program writes its base tables.
describe('DuckDB: a view’s version follows the data under it', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-view-versions-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Run `relation`'s total on `path` with a fresh warehouse (as separate `cellar run`s do). */
  async function runFile(path: string, store: MemoryStore, relation: string) {
    const w = await openDuckDB({ path, idleMs: 50 });
    try {
      return await runTotal(w, store, totalOf(relation));
    } finally {
      await w.close();
    }
  }

  it('re-runs a view’s reader when an outside program inserts a row into the base table', async () => {
    const path = join(dir, 'insert.duckdb');
    await makeShop(path, 1);
    await outside(path, 'CREATE VIEW shop.v_orders AS SELECT * FROM shop.orders');
    const store = new MemoryStore();
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'ran', total: 30 });
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'cached', total: 30 });
    await outside(path, 'INSERT INTO shop.orders VALUES (3, 5.0)');
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'ran', total: 35 });
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'cached', total: 35 });
  });

  it('re-runs a view’s reader when a value under it changes and the row count stays', async () => {
    const path = join(dir, 'update.duckdb');
    await makeShop(path, 1);
    // Unqualified, as people write it: DuckDB binds `orders` in the view's own schema.
    await outside(path, 'CREATE VIEW shop.v_orders AS SELECT * FROM orders');
    const store = new MemoryStore();
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'ran', total: 30 });
    await outside(path, 'UPDATE shop.orders SET amount = 25.0 WHERE id = 2');
    expect(await runFile(path, store, 'shop.v_orders')).toEqual({ status: 'ran', total: 35 });
  });

  it('follows a view over another view, and a view joining two tables, to every base table', async () => {
    const path = join(dir, 'nested.duckdb');
    await makeShop(path, 1);
    await outside(
      path,
      `CREATE TABLE shop.rates AS SELECT * FROM (VALUES (1, 1.0), (2, 1.0)) t(id, rate);
       CREATE VIEW shop.v_orders AS SELECT * FROM shop.orders;
       CREATE VIEW shop.v_priced AS SELECT o.id, o.amount * r.rate AS amount FROM shop.v_orders o JOIN shop.rates r USING (id)`,
    );
    const store = new MemoryStore();
    expect(await runFile(path, store, 'shop.v_priced')).toEqual({ status: 'ran', total: 30 });
    expect(await runFile(path, store, 'shop.v_priced')).toEqual({ status: 'cached', total: 30 });
    // A change to the table behind the inner view…
    await outside(path, 'UPDATE shop.orders SET amount = 11.0 WHERE id = 1');
    expect(await runFile(path, store, 'shop.v_priced')).toEqual({ status: 'ran', total: 31 });
    // …and to the other side of the join, keeping its row count.
    await outside(path, 'UPDATE shop.rates SET rate = 2.0 WHERE id = 2');
    expect(await runFile(path, store, 'shop.v_priced')).toEqual({ status: 'ran', total: 51 });
  });

  it('re-runs the reader of a view over a view when the inner view alone is redefined (same base table)', async () => {
    // A tester's finding: v1 → v2 → orders; `CREATE OR REPLACE VIEW v2` by another program moved
    // neither v1's DDL nor its base tables, and the reader stayed cached on v2's old definition.
    const path = join(dir, 'inner-ddl.duckdb');
    await makeShop(path, 1);
    await outside(
      path,
      `CREATE VIEW shop.v2 AS SELECT * FROM shop.orders;
       CREATE VIEW shop.v1 AS SELECT * FROM shop.v2`,
    );
    const store = new MemoryStore();
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'ran', total: 30 });
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'cached', total: 30 });
    await outside(
      path,
      'CREATE OR REPLACE VIEW shop.v2 AS SELECT id, amount * 7 AS amount FROM shop.orders',
    );
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'ran', total: 210 });
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'cached', total: 210 });
    // Three deep, unqualified in the view's own schema: the innermost view is followed too.
    await outside(
      path,
      `CREATE OR REPLACE VIEW shop.v3 AS SELECT * FROM orders;
       CREATE OR REPLACE VIEW shop.v2 AS SELECT * FROM v3`,
    );
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'ran', total: 30 });
    await outside(
      path,
      'CREATE OR REPLACE VIEW shop.v3 AS SELECT id, amount * 2 AS amount FROM orders',
    );
    expect(await runFile(path, store, 'shop.v1')).toEqual({ status: 'ran', total: 60 });
  });

  it('names the base tables in a view’s version, each memoised like a table (no scan of the view)', async () => {
    const path = join(dir, 'readable.duckdb');
    await makeShop(path, 1);
    await outside(path, 'CREATE VIEW shop.v_orders AS SELECT * FROM orders');
    const w = await openDuckDB({ path, idleMs: 50 });
    const table = (await w.tableVersion('shop.orders'))!.version;
    const view = (await w.tableVersion('shop.v_orders'))!;
    expect(view.source).toBe('duckdb.view');
    expect(view.version).toContain(`shop.orders=${table}`);
    // The base table's content hash comes from the file-stamp memo: only tables are memoised.
    const memo = JSON.parse(readFileSync(`${path}.fingerprints.json`, 'utf8')) as {
      tables: Record<string, string>;
    };
    expect(Object.keys(memo.tables)).toEqual(['shop.orders']);
    await w.close();
  });

  it('a view whose base table was dropped still has a version, which changes when the table is back', async () => {
    const path = join(dir, 'unbound.duckdb');
    await makeShop(path, 1);
    await outside(path, 'CREATE VIEW shop.v_orders AS SELECT * FROM shop.orders');
    let w = await openDuckDB({ path, idleMs: 50 });
    const bound = (await w.tableVersion('shop.v_orders'))!.version;
    await w.close();
    await outside(path, 'DROP TABLE shop.orders');
    w = await openDuckDB({ path, idleMs: 50 });
    // Keys are computed; the reading task's own query is what fails, located in its cell.
    const unbound = (await w.tableVersion('shop.v_orders'))!.version;
    expect(unbound).toMatch(/:unbound$/);
    await w.close();
    await outside(
      path,
      'CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)',
    );
    w = await openDuckDB({ path, idleMs: 50 });
    const back = (await w.tableVersion('shop.v_orders'))!.version;
    expect(back).not.toBe(unbound);
    expect(back).toContain('shop.orders=');
    expect(bound).toContain('shop.orders=');
    await w.close();
  });

  // Variant: a view reading something outside this file's tables (here a CSV file) has no base
  // table to follow; its rows are hashed on every version (not memoised: the file's stamp says
  // nothing about the CSV).
  it('a view over a file outside the database re-runs its reader when the file changes', async () => {
    const path = join(dir, 'csv.duckdb');
    const csv = join(dir, 'amounts.csv');
    writeFileSync(csv, 'id,amount\n1,10\n2,20\n');
    await outside(path, `CREATE VIEW main.v_csv AS SELECT * FROM read_csv('${csv}')`);
    const store = new MemoryStore();
    expect(await runFile(path, store, 'main.v_csv')).toEqual({ status: 'ran', total: 30 });
    expect(await runFile(path, store, 'main.v_csv')).toEqual({ status: 'cached', total: 30 });
    writeFileSync(csv, 'id,amount\n1,10\n2,21\n');
    expect(await runFile(path, store, 'main.v_csv')).toEqual({ status: 'ran', total: 31 });
  });
});

describe('BigQuery: the project and lastModifiedTime are in the key', () => {
  let standIn: StandIn;
  beforeAll(async () => {
    standIn = await startStandIn();
    await standIn.exec(
      `CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)`,
    );
  });
  afterAll(async () => standIn.close());

  const open = (project: string) =>
    openBigQuery({ project, location: 'US', dataset: 'cellar', apiEndpoint: standIn.url });

  it('never serves one project’s result for another, and re-runs after an in-place update', async () => {
    const store = new MemoryStore();
    const dev = await open('shop-dev');
    const prod = await open('shop-prod'); // the stand-in serves the same tables to both projects
    expect(await runOn(dev, store)).toEqual({ status: 'ran', total: 30 });
    expect(await runOn(prod, store)).toEqual({ status: 'ran', total: 30 });
    expect(await runOn(dev, store)).toEqual({ status: 'cached', total: 30 });
    await standIn.exec('UPDATE shop.orders SET amount = 25.0 WHERE id = 2');
    expect(await runOn(dev, store)).toEqual({ status: 'ran', total: 35 });
    await dev.close();
    await prod.close();
  });

  // A view's lastModifiedTime moves only when its definition does (BigQuery's tables.get):
  // its version must follow the tables the query really reads.
  it('re-runs a view’s reader when the view’s base table gains rows', async () => {
    await standIn.exec(
      `CREATE TABLE shop.items AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount);
       CREATE VIEW shop.v_items AS SELECT * FROM shop.items`,
    );
    const store = new MemoryStore();
    const w = await open('shop-dev');
    const before = (await w.tableVersion('shop.v_items'))!;
    expect(before.version).toContain('shop-dev.shop.items=m');
    expect(await runTotal(w, store, totalOf('shop.v_items'))).toEqual({ status: 'ran', total: 30 });
    expect(await runTotal(w, store, totalOf('shop.v_items'))).toEqual({
      status: 'cached',
      total: 30,
    });
    await standIn.exec('INSERT INTO shop.items VALUES (3, 5.0)');
    expect(await runTotal(w, store, totalOf('shop.v_items'))).toEqual({ status: 'ran', total: 35 });
    await w.close();
  });

  it('a view whose base table was dropped still has a version (the task’s query is what fails)', async () => {
    await standIn.exec(
      `CREATE TABLE shop.gone AS SELECT 1 AS id, 1.0 AS amount;
       CREATE VIEW shop.v_gone AS SELECT * FROM shop.gone`,
    );
    const w = await open('shop-dev');
    expect((await w.tableVersion('shop.v_gone'))!.version).toContain('shop-dev.shop.gone=m');
    await standIn.exec('DROP TABLE shop.gone');
    expect((await w.tableVersion('shop.v_gone'))!.version).toMatch(/:unbound$/);
    await w.close();
  });
});
