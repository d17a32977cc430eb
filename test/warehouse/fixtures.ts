// Opens each adapter for the shared suite: DuckDB on a temporary database file, and the real
// BigQuery client talking to the local stand-in (test/support/bigquery-standin, a test double)
// with an auth client that sends no credentials. `exec` runs DuckDB SQL directly on the backing
// database, the way a table would change outside cellar (another loader, another team).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openBigQuery, openDuckDB, useWarehouse, type Warehouse } from 'cellar';
import { startStandIn, type StandIn } from '../support/bigquery-standin/server.js';
import type { DuckDBWarehouse } from '../../runtime/warehouse/adapters/duckdb.js';

export interface AdapterFixture {
  name: 'duckdb' | 'bigquery';
  warehouse: Warehouse;
  /** DuckDB SQL run directly on the backing database, behind cellar's back. */
  exec(sqlText: string): Promise<void>;
  standIn: StandIn | null;
  close(): Promise<void>;
}

export async function openFixture(name: 'duckdb' | 'bigquery'): Promise<AdapterFixture> {
  if (name === 'duckdb') {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-wh-'));
    const w = (await openDuckDB({
      path: join(dir, 'warehouse.duckdb'),
      idleMs: 50,
    })) as DuckDBWarehouse;
    return {
      name,
      warehouse: w,
      standIn: null,
      exec: (text) => w.withConnection(async (c) => void (await c.run(text))),
      async close() {
        await w.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const standIn = await startStandIn();
  const w = await openBigQuery({
    project: 'cellar-test',
    location: 'US',
    dataset: 'cellar',
    apiEndpoint: standIn.url,
  });
  return {
    name,
    warehouse: w,
    standIn,
    exec: (text) => standIn.exec(text),
    async close() {
      await w.close();
      await standIn.close();
    },
  };
}

/** The same small source table on either warehouse (DuckDB SQL on the backing database). */
export const EVENTS_DDL = `
  CREATE SCHEMA IF NOT EXISTS src;
  CREATE OR REPLACE TABLE src.events AS
  SELECT range AS id,
         'user' || (range % 7) AS name,
         (range % 10) * 1.5 AS score,
         range % 2 = 0 AS ok,
         TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (range) HOUR AS ts,
         DATE '2024-01-01' + (range // 24)::INTEGER AS d
  FROM range(95);
  CREATE OR REPLACE TABLE src.other AS SELECT range AS x FROM range(5);`;

/**
 * For the enclosing describe block: open `name`'s fixture, create the events table, and make it
 * the warehouse `sql` uses (BigQuery dialect); close it afterwards. `opened` receives the fixture.
 */
export function useEventsWarehouse(
  name: 'duckdb' | 'bigquery',
  opened: (fx: AdapterFixture) => void,
): void {
  let fx: AdapterFixture;
  beforeAll(async () => {
    fx = await openFixture(name);
    await fx.exec(EVENTS_DDL);
    useWarehouse(fx.warehouse, { dialect: 'bigquery' });
    opened(fx);
  });
  afterAll(async () => {
    useWarehouse(null);
    await fx.close();
  });
}
