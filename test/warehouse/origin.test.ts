// A failed query carries the line that wrote it and the line inside its SQL the warehouse
// complained about (runtime/warehouse/origin.ts), on both adapters: DuckDB's `LINE n:` and caret,
// BigQuery's `[line:col]` and its `Not found: Table p:ds.t`. The CLI turns this into a notebook
// cell and line (test/acceptance/warehouse-locations.test.ts drives that end to end).
import { describe, expect, it } from 'vitest';
import { sql, WarehouseError } from 'cellar';
import {
  attachCheck,
  keepTrail,
  readOrigin,
  sqlLineOf,
} from '../../runtime/warehouse/tasks/origin.js';
import { useEventsWarehouse, type AdapterFixture } from './fixtures.js';

const template = (text: string): readonly string[] =>
  Object.assign(text.split('${}'), { raw: text.split('${}') });

async function failure(run: () => Promise<unknown>): Promise<WarehouseError> {
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(WarehouseError);
    return e as WarehouseError;
  }
  throw new Error('expected the query to fail');
}

describe('sqlLineOf', () => {
  it("takes BigQuery's [line:col] when the text sent has the template's lines", () => {
    const e = new WarehouseError(
      'E_WH_QUERY',
      'BigQuery job j1 failed: Syntax error: Unexpected identifier "FORM" at [3:3]',
      { sql: 'SELECT a\nFROM t\n  FORM x' },
    );
    expect(sqlLineOf(e, template('SELECT a\nFROM t\n  FORM x'))).toBe(3);
  });

  it("finds the word at DuckDB's caret when translation joined the lines", () => {
    const message =
      'DuckDB: Catalog Error: Table with name nosuch does not exist!\n\nLINE 1: SELECT n FROM "ds"."nosuch" WHERE n > $1\n                      ^';
    const e = new WarehouseError('E_WH_QUERY', message, {
      sql: 'SELECT n FROM "ds"."nosuch" WHERE n > $1',
    });
    expect(sqlLineOf(e, template('SELECT n\n  FROM `ds.nosuch`\n  WHERE n > ${}'))).toBe(2);
  });

  it('names the line of a refused construct, and none when nothing points anywhere', () => {
    const refused = new WarehouseError(
      'E_WH_DIALECT',
      'BigQuery construct FARM_FINGERPRINT is not supported on DuckDB',
      { construct: 'FARM_FINGERPRINT' },
    );
    expect(sqlLineOf(refused, template('SELECT\n  farm_fingerprint(x)\nFROM t'))).toBe(2);
    expect(
      sqlLineOf(
        new WarehouseError('E_WH_QUERY', 'DuckDB: out of memory'),
        template('SELECT 1\nFROM t'),
      ),
    ).toBeUndefined();
  });

  it('keeps the trail when a message is rewritten, and reads back a check', () => {
    const inner = attachCheck(
      new WarehouseError('E_WH_CHECK', '1 data check failed'),
      'rows >= 5',
    ) as WarehouseError;
    const outer = keepTrail(new WarehouseError('E_WH_CHECK', 'task t: 1 data check failed'), inner);
    expect(outer.stack).toMatch(/^WarehouseError: task t: 1 data check failed\n/);
    expect(readOrigin(outer.stack!)).toEqual({ check: 'rows >= 5' });
  });
});

describe.each(['duckdb', 'bigquery'] as const)('a failed query on %s', (name) => {
  let fx: AdapterFixture;
  useEventsWarehouse(name, (opened) => (fx = opened));

  it('carries the line that wrote the template and the SQL line of the missing table', async () => {
    const here = new Error().stack!.split('\n')[1]!.match(/:(\d+):\d+\)?$/)![1]!;
    const e = await failure(() =>
      sql`SELECT id
      FROM src.events
      JOIN src.nosuch USING (id)`.rows(),
    );
    const origin = readOrigin(e.stack!);
    expect(origin.sqlLine).toBe(3);
    // The first frame is this file, at the line of the template (two below `here`).
    expect(origin.sqlFrames![0]).toContain(`origin.test.ts:${Number(here) + 2}:`);
  });

  it('marks streamed queries too, and only once', async () => {
    const e = await failure(async () => {
      for await (const _ of sql`SELECT nocol FROM src.nosuch`.stream()) void _;
    });
    expect(readOrigin(e.stack!).sqlFrames?.[0]).toContain('origin.test.ts:');
    expect(e.stack!.match(/-- sql`` written at/g)).toHaveLength(1);
  });
});
