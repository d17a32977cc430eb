// A check naming a column the table lacks says so (task, check, column, the table's columns)
// instead of DuckDB's Binder Error on Cellar's generated COUNT query (a tester's finding).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, sql, useWarehouse, type Warehouse } from 'cellar';
import { checkTable, runChecks } from '../../runtime/warehouse/tasks/checks.js';

describe('a check on a column the table does not have (real DuckDB file)', () => {
  let dir: string;
  let w: Warehouse;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-checkcols-'));
    w = await openDuckDB({ path: join(dir, 'w.duckdb'), idleMs: 50 });
    useWarehouse(w, { dialect: 'duckdb' });
    await sql`CREATE SCHEMA shop`;
    await sql`CREATE TABLE shop.t AS SELECT * FROM (VALUES (1, 'a'), (2, NULL)) v(id, Label)`;
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );

  it('not_null, unique and partition name the check, the column and the columns there are', async () => {
    for (const check of [
      'not_null nosuchcol',
      'unique id, nosuchcol',
      "partition nosuchcol = '1'",
    ]) {
      const e = await failure(checkTable('shop.t', [check]));
      expect(e?.code).toBe('E_WH_CHECK');
      expect(e?.message).toContain(`check "${check}"`);
      expect(e?.message).toContain('nosuchcol does not exist in table shop.t');
      expect(e?.message).toContain('its columns: id, Label');
      expect(e?.message).not.toMatch(/Binder Error/);
    }
  });

  it('names the task given as `where`, and still runs checks on columns in any case', async () => {
    const e = await failure(
      runChecks(
        ['not_null nosuchcol'],
        { label: 'table shop.t', table: { kind: 'cellar.table', name: 'shop.t' } },
        {},
        'task mk (notebooks/x.ipynb, cell 2): ',
      ),
    );
    expect(e?.message).toMatch(
      /^task mk \(notebooks\/x\.ipynb, cell 2\): check "not_null nosuchcol"/,
    );
    // `label` as DuckDB matches it (case-insensitive): the check runs, and fails on its NULL.
    const nulls = await failure(checkTable('shop.t', ['not_null id, label']));
    expect(nulls?.message).toContain('label has 1 NULL');
  });

  it('on rows in Node, too (names match exactly there)', async () => {
    const e = await failure(
      runChecks(['not_null ID'], { label: 'output rows of task r', rows: [{ id: 1 }] }, {}),
    );
    expect(e?.message).toContain('ID does not exist in output rows of task r (its columns: id)');
  });
});
