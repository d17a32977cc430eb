// A notebook task reading a DuckDB VIEW follows the data under the view: an outside program
// (its own DuckDB instance, not cellar) that inserts a row into the view's base table, or changes
// a value keeping the row count, re-runs the task and its downstream with the new value; nothing
// changed keeps them cached. The real CLI runs a real notebook on a real DuckDB file.
import { afterAll, describe, expect, it } from 'vitest';
import {
  codeCell,
  markdownCell,
  project,
  removeProjects,
  runStatuses,
  showOutput,
  tslabNotebook,
  type Project,
} from './harness.js';

afterAll(removeProjects);

const NOTEBOOK = tslabNotebook([
  markdownCell('intro', '# Orders through a view'),
  codeCell('setup', "import { sql } from 'cellar';"),
  codeCell(
    'total',
    '//| task: view_total\nconst viewTotal = (await sql<{ total: number }>`SELECT SUM(amount) AS total FROM shop.v_orders`)[0]!.total;',
  ),
  codeCell('report', '//| task: report\nconst report = `orders total ${viewTotal}`;'),
]);

/** Another program writing the warehouse file: DuckDB's own Node client, no cellar involved. */
const OUTSIDE = `import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(process.argv[2]);
const c = await db.connect();
await c.run(process.argv[3]);
c.closeSync();
db.closeSync();
`;

function outside(p: Project, sqlText: string): void {
  const r = p.run(process.execPath, ['outside.mjs', 'warehouse.duckdb', sqlText]);
  expect(r.code, r.stderr).toBe(0);
}

describe('a task reading a DuckDB view', () => {
  it('re-runs with its downstream when an outside program changes the table under the view', () => {
    const p = project();
    p.write('notebooks/orders.ipynb', JSON.stringify(NOTEBOOK, null, 1));
    p.write('outside.mjs', OUTSIDE);
    p.setEnv('CELLAR_DUCKDB_PATH', 'warehouse.duckdb');
    p.setEnv('CELLAR_SEED', '0');
    outside(
      p,
      `CREATE SCHEMA shop;
       CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount);
       CREATE VIEW shop.v_orders AS SELECT * FROM shop.orders`,
    );
    const nb = 'notebooks/orders.ipynb';
    const report = () => showOutput(p, nb, 'report', 'report');

    expect(runStatuses(p, nb)).toEqual({ view_total: 'ran', report: 'ran' });
    expect(report()).toBe('orders total 30');
    // Nothing changed: cached, twice.
    expect(runStatuses(p, nb)).toEqual({ view_total: 'cached', report: 'cached' });
    expect(runStatuses(p, nb)).toEqual({ view_total: 'cached', report: 'cached' });

    // A new row in the base table.
    outside(p, 'INSERT INTO shop.orders VALUES (3, 5.0)');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    // The plan names the view whose data changed.
    expect(dry.stdout).toMatch(/would run\s+view_total/);
    expect(dry.stdout).toContain('hooks.warehouse.table:shop.v_orders');
    expect(runStatuses(p, nb)).toEqual({ view_total: 'ran', report: 'ran' });
    expect(report()).toBe('orders total 35');

    // A value changed, the row count kept.
    outside(p, 'UPDATE shop.orders SET amount = 15.0 WHERE id = 3');
    expect(runStatuses(p, nb)).toEqual({ view_total: 'ran', report: 'ran' });
    expect(report()).toBe('orders total 45');
    expect(runStatuses(p, nb)).toEqual({ view_total: 'cached', report: 'cached' });
    // A hang guard only: ten CLI runs, on a machine that may be shared.
  }, 1_800_000);
});
