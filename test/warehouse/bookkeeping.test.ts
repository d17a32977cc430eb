// Cellar's own bookkeeping in the DuckDB file (the translation cache, the table-version
// registry) never fails a user's query, however many queries run at once (issue 9, item 2).
// A real DuckDB file, fresh for each test: the fault showed only on a first run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDuckDB, sql, useWarehouse } from 'cellar';
import type { DuckDBWarehouse } from '../../runtime/warehouse/adapters/duckdb.js';

describe('bookkeeping under concurrent queries (fresh DuckDB file)', () => {
  let dir: string;
  let w: DuckDBWarehouse;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-bk-'));
    w = (await openDuckDB({ path: join(dir, 'fresh.duckdb'), idleMs: 50 })) as DuckDBWarehouse;
    await w.withConnection(async (c) => {
      await c.run(
        'CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)',
      );
    });
    useWarehouse(w, { dialect: 'bigquery' });
  });
  afterEach(async () => {
    useWarehouse(null);
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three same-text queries started together all succeed (the translation is cached once)', async () => {
    const bands = [
      [0, 15],
      [15, 30],
      [30, 100],
    ];
    const counts = await Promise.all(
      bands.map(
        ([lo, hi]) =>
          sql<{
            n: number;
          }>`SELECT COUNT(*) AS n FROM shop.orders WHERE amount >= ${lo} AND amount < ${hi}`,
      ),
    );
    expect(counts.map((r) => r[0]!.n)).toEqual([1, 1, 0]);
    const cached = await w.withConnection(async (c) =>
      (
        await c.runAndReadAll('SELECT count(*)::INTEGER AS n FROM _cellar.translations')
      ).getRowObjectsJson(),
    );
    expect(cached).toEqual([{ n: 1 }]);
  });

  it('ten different queries started together all succeed', async () => {
    const rows = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => sql<{ n: number }>`SELECT COUNT(*) + ${i} AS n FROM shop.orders WHERE id > ${0}`,
      ),
    );
    expect(rows.map((r) => r[0]!.n)).toEqual(Array.from({ length: 10 }, (_, i) => 2 + i));
  });

  // Variant: concurrent writes to one table each bump its version counter; none conflicts and
  // none is lost.
  it('concurrent writes to one table all land and each bumps its version', async () => {
    const before = (await w.tableVersion('shop.orders'))!;
    await Promise.all(
      [3, 4, 5, 6].map((id) => sql.dialect('duckdb')`INSERT INTO shop.orders VALUES (${id}, 50.0)`),
    );
    const rows = await sql.dialect('duckdb')<{
      n: number;
    }>`SELECT count(*)::INTEGER AS n FROM shop.orders`;
    expect(rows[0]!.n).toBe(6);
    const registered = await w.withConnection(async (c) =>
      (
        await c.runAndReadAll(
          `SELECT version::INTEGER AS v FROM _cellar.table_versions WHERE name = 'shop.orders'`,
        )
      ).getRowObjectsJson(),
    );
    expect(registered).toEqual([{ v: 4 }]);
    expect((await w.tableVersion('shop.orders'))!.version).not.toBe(before.version);
  });
});
