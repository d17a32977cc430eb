// SQL run through a helper (a setup-cell function, a local module) is tracked: the tables a task
// actually read are recorded when it runs, and from then on their versions are in its key, so a
// new row re-runs it like a task whose query is inline (issue 8, item 3).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  definePipeline,
  defineTask,
  MemoryStore,
  openDuckDB,
  output,
  sql,
  useWarehouse,
  type Warehouse,
} from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from '../compiler/notebook.js';

// What a setup-cell helper compiles to: a function the task calls; the compiler sees no template
// in the task's own cells, so `warehouse.reads` is empty.
async function bigOrders(min: number) {
  return await sql<{ id: number }>`SELECT id FROM shop.orders WHERE amount > ${min} ORDER BY id`;
}
// A helper that names its table at run time (no compiler could know it).
async function countOf(table: string) {
  return (await sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql.table(table)}`)[0]!.n;
}

const viaHelper = defineTask({
  name: 'via_helper',
  params: {},
  inputs: {},
  outputs: { ids: {} },
  warehouse: { reads: [] },
  run: async () => ({ ids: (await bigOrders(15)).map((r) => r.id) }),
});
const inline = defineTask({
  name: 'inline',
  params: {},
  inputs: {},
  outputs: { ids: {} },
  warehouse: { reads: ['shop.orders'] },
  run: async () => ({
    ids: (
      await sql<{ id: number }>`SELECT id FROM shop.orders WHERE amount > ${15} ORDER BY id`
    ).map((r) => r.id),
  }),
});
const counted = defineTask({
  name: 'counted',
  params: {},
  inputs: {},
  outputs: { n: {} },
  warehouse: { reads: [] },
  run: async () => ({ n: await countOf(['shop', 'returns'].join('.')) }),
});
const downstream = defineTask({
  name: 'downstream',
  params: {},
  inputs: { ids: output(viaHelper, 'ids') },
  outputs: { last: {} },
  run: ({ ids }: { ids: number[] }) => ({ last: ids[ids.length - 1] }),
});

describe('tables read through helpers', () => {
  let dir: string;
  let w: Warehouse;
  const store = new MemoryStore();
  const run = async () => {
    const { result } = await runPipeline({
      pipeline: definePipeline({
        name: `helpers-${process.pid}`,
        tasks: [viaHelper, inline, counted, downstream],
      }),
      store,
      runner: 'in-process',
      workers: 1,
      codeAware: false,
    });
    expect(result!.ok, JSON.stringify(result!.tasks)).toBe(true);
    return Object.fromEntries(result!.tasks.map((t) => [t.name, t.status]));
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-helpers-'));
    w = await openDuckDB({ path: join(dir, 'warehouse.duckdb'), idleMs: 50 });
    useWarehouse(w, { dialect: 'bigquery' });
    await sql.dialect('duckdb')`CREATE SCHEMA shop`;
    await sql.dialect(
      'duckdb',
    )`CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)`;
    await sql.dialect('duckdb')`CREATE TABLE shop.returns AS SELECT 1 AS id`;
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new row re-runs the task whose query lives in a helper, and its downstream', async () => {
    await run(); // discovers the helper's table
    await run(); // its key now holds the table (the one extra run the record costs)
    expect(await run()).toEqual({
      via_helper: 'cached',
      inline: 'cached',
      counted: 'cached',
      downstream: 'cached',
    });
    await sql.dialect('duckdb')`INSERT INTO shop.orders VALUES (3, 50.0)`;
    expect(await run()).toEqual({
      via_helper: 'ran',
      inline: 'ran',
      counted: 'cached',
      downstream: 'ran',
    });
  });

  // Variant: the table's name is computed at run time; a change outside cellar (same row count is
  // not needed here, but goes around cellar's registry) is seen through the recorded read.
  it('a table named at run time is tracked too, even when changed outside cellar', async () => {
    await (
      w as unknown as {
        withConnection(
          fn: (c: { run(s: string): Promise<unknown> }) => Promise<unknown>,
        ): Promise<unknown>;
      }
    ).withConnection((c) => c.run('UPDATE shop.returns SET id = 2'));
    expect(await run()).toMatchObject({ counted: 'ran', via_helper: 'cached' });
  });
});

describe('the compiler marks tasks calling a setup helper that runs sql as warehouse tasks', () => {
  it('so the runtime watches what they read', async () => {
    const text = notebookText([
      "import { sql } from 'cellar';\n\nasync function bigOrders(min: number) {\n  return await sql<{ id: number }>`SELECT id FROM shop.orders WHERE amount > ${min}`;\n}",
      '//| task: via_helper\nconst viaHelper = await bigOrders(15);',
      '//| task: plain\nconst n = 1 + 1;',
    ]);
    const result = await compileNotebook('notebooks/helpers.ipynb', text, {
      workdir: '../../notebooks',
      format: false,
    });
    const file = (name: string) =>
      result.files.find((f) => f.path.endsWith(`/${name}.ts`))!.contents;
    expect(file('via_helper')).toMatch(/warehouse: \{/);
    expect(file('plain')).not.toMatch(/warehouse:/);
  }, 600_000); // compiling loads TypeScript: no speed assumption
});
