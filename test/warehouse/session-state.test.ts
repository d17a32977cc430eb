// A task's DuckDB session state ends with the task (`endTaskSession`): `SET x = …`, `PRAGMA x`
// and `ATTACH` are global to the open instance, so they reached the next task in the thread, whose
// result is keyed without them. A real DuckDB file; the instance is held open across the calls
// (as it is between two tasks run back to back), so nothing is reset by closing it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDB } from 'cellar';
import type { DuckDBWarehouse } from '../../runtime/warehouse/adapters/duckdb.js';

describe('endTaskSession (real DuckDB file)', () => {
  let dir: string;
  let w: DuckDBWarehouse;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-session-'));
    const other = await DuckDBInstance.create(join(dir, 'other.duckdb'));
    const c = await other.connect();
    await c.run('CREATE TABLE t AS SELECT 1 AS x');
    c.closeSync();
    other.closeSync();
    w = (await openDuckDB({ path: join(dir, 'main.duckdb'), idleMs: 50 })) as DuckDBWarehouse;
  });
  afterEach(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One statement on its own connection; the first value of its first row, if any. */
  const one = (sqlText: string) =>
    w.withConnection(async (c) => {
      const row = (await c.runAndReadAll(sqlText)).getRowObjectsJson()[0];
      return row ? String(Object.values(row)[0]) : '';
    });

  it("puts back settings (cellar's UTC and thread count included) and detaches what the task attached", async () => {
    await w.withConnection(async () => {
      // The task's statements, each on its own connection, as cellar runs them.
      await one("SET default_null_order = 'nulls_first'");
      await one("SET GLOBAL TimeZone = 'America/New_York'");
      await one('PRAGMA threads = 1');
      await one("SET memory_limit = '1GB'");
      await one(`ATTACH '${join(dir, 'other.duckdb')}' AS o (READ_ONLY)`);
      // Within the task they hold.
      expect(await one("SELECT current_setting('default_null_order')")).toBe('NULLS_FIRST');
      expect(await one('SELECT count(*) FROM o.t')).toBe('1');
      const undone = await w.endTaskSession('setter');
      expect(undone.detached).toEqual(['o']);
      expect(undone.settings).toEqual(
        expect.arrayContaining(['default_null_order', 'TimeZone', 'threads', 'memory_limit']),
      );
      // The next task, on the same open instance, starts from the opening state.
      expect(await one("SELECT current_setting('default_null_order')")).toBe('NULLS_LAST');
      expect(await one("SELECT current_setting('TimeZone')")).toBe('UTC');
      expect(await one("SELECT current_setting('threads')")).toBe('2');
      expect(await one("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'o'")).toBe(
        '0',
      );
      await expect(
        w.query({ text: 'SELECT count(*) AS n FROM o.t', params: [], tables: [] }),
      ).rejects.toThrow(/attached while task setter ran/);
      // Nothing changed: nothing to undo.
      expect(await w.endTaskSession('plain')).toEqual({ settings: [], detached: [] });
    });
  });
});
