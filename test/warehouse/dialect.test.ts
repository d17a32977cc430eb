// The dialect suite: BigQuery queries with known answers, run on embedded DuckDB through the
// translation layer; and the constructs we refuse, each with an error naming it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dialect, transpile } from '@polyglot-sql/sdk';
import {
  defineTask,
  definePipeline,
  MemoryStore,
  openDuckDB,
  sql,
  useWarehouse,
  WarehouseError,
  type Warehouse,
} from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REFUSED, TRAPS, TRANSLATION_ID, translate } from '../../runtime/warehouse/sql/dialect.js';
import { CASES, REFUSALS } from './dialect-cases.js';

const run = (text: string) =>
  sql(Object.assign([text], { raw: [text] }) as unknown as TemplateStringsArray);

describe('BigQuery SQL on DuckDB: known answers', () => {
  let w: Warehouse;
  beforeAll(async () => {
    w = await openDuckDB({ path: ':memory:' });
    useWarehouse(w, { dialect: 'bigquery' });
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    expect(await run(c.sql)).toEqual(c.expected);
  });

  it.each(REFUSALS.map((r) => [r.construct, r] as const))(
    'refuses %s with a message naming it',
    async (construct, r) => {
      const err = await run(r.sql).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WarehouseError);
      expect((err as WarehouseError).code).toBe('E_WH_DIALECT');
      expect((err as Error).message).toContain(construct);
    },
  );

  it('covers every refused construct with a case, and documents every fixed trap', () => {
    expect(new Set(REFUSALS.map((r) => r.construct))).toEqual(
      new Set(REFUSED.map((r) => r.construct)),
    );
    expect(TRAPS.length).toBeGreaterThanOrEqual(8);
  });

  it('needs the fix: the bare translator turns REGEXP_CONTAINS into a full match', async () => {
    // If the translator ever fixes this, the workaround in dialect.ts can go.
    const raw = transpile(`SELECT REGEXP_CONTAINS(s, r'ab')`, Dialect.BigQuery, Dialect.DuckDB);
    expect(raw.sql?.[0]).toContain('REGEXP_FULL_MATCH');
    expect(await translate(`SELECT REGEXP_CONTAINS(s, r'ab')`, 'bigquery', 'duckdb')).toContain(
      'regexp_matches(',
    );
  });

  it('keys cached translations by the installed translator version', () => {
    const pkg = JSON.parse(
      readFileSync(
        new URL('../../node_modules/@polyglot-sql/sdk/package.json', import.meta.url),
        'utf8',
      ),
    ) as { version: string };
    expect(TRANSLATION_ID.startsWith(`polyglot-${pkg.version}+`)).toBe(true);
  });

  it('remembers translations in the DuckDB file, so another process need not load the translator', async () => {
    const text = `SELECT COUNTIF(x > 1) AS n FROM UNNEST([1, 2, 3]) AS x -- remembered`;
    await run(text);
    const rows = await (
      w as unknown as {
        withConnection<T>(
          f: (c: {
            runAndReadAll(s: string): Promise<{ getRowObjectsJson(): unknown[] }>;
          }) => Promise<T>,
        ): Promise<T>;
      }
    ).withConnection(async (c) =>
      (
        await c.runAndReadAll(
          `SELECT sql FROM _cellar.translations WHERE sql LIKE '%remembered%' OR sql LIKE '%COUNT_IF%'`,
        )
      ).getRowObjectsJson(),
    );
    expect(rows.length).toBeGreaterThan(0);
  });

  it('caches one translation per query shape, whatever the physical tables are called', async () => {
    const conn = w as unknown as {
      withConnection<T>(
        f: (c: {
          run(s: string): Promise<unknown>;
          runAndReadAll(s: string): Promise<{ getRowObjectsJson(): unknown[] }>;
        }) => Promise<T>,
      ): Promise<T>;
    };
    await conn.withConnection(async (c) =>
      c.run(
        'CREATE SCHEMA IF NOT EXISTS mart; CREATE TABLE mart.a_1 AS SELECT 1 AS x; CREATE TABLE mart.a_2 AS SELECT 2 AS x',
      ),
    );
    expect(await sql`SELECT COUNTIF(x > 0) AS n FROM ${sql.table('mart.a_1')}`).toEqual([{ n: 1 }]);
    expect(await sql`SELECT COUNTIF(x > 0) AS n FROM ${sql.table('mart.a_2')}`).toEqual([{ n: 1 }]);
    const cached = await conn.withConnection(async (c) =>
      (
        await c.runAndReadAll(
          `SELECT sql FROM _cellar.translations WHERE sql LIKE '%COUNT_IF(x > 0)%'`,
        )
      ).getRowObjectsJson(),
    );
    expect(cached).toEqual([{ sql: 'SELECT COUNT_IF(x > 0) AS n FROM __cellar_t0__' }]);
  });

  it('translates in a helper process with the same result as in-process', async () => {
    const { helperTranspile, stopTranslator } =
      await import('../../runtime/warehouse/sql/translator.js');
    const text = `SELECT COUNTIF(x > 1) AS n, SAFE_CAST(y AS INT64) AS m FROM t`;
    // Different texts (a trailing space) so neither answer comes from the other's memo.
    const [viaHelper, inProcess] = await Promise.all([
      translate(text + ' ', 'bigquery', 'duckdb', helperTranspile),
      translate(text, 'bigquery', 'duckdb'),
    ]);
    expect(viaHelper).toBe(inProcess);
    const broken = await helperTranspile('SELECT FROM WHERE (', 'bigquery', 'duckdb');
    expect(broken.success).toBe(false);
    stopTranslator();
  });

  it('leaves string literals alone when fixing functions', async () => {
    expect(await run(`SELECT 'CONCAT(a, NULL) and REGEXP_CONTAINS(' AS s`)).toEqual([
      { s: 'CONCAT(a, NULL) and REGEXP_CONTAINS(' },
    ]);
  });

  it("names the task and notebook cell when a task's SQL is refused", async () => {
    // source.cells holds cell ids; the message resolves them to numbers in the notebook as it is.
    const dir = mkdtempSync(join(tmpdir(), 'cellar-dialect-'));
    writeFileSync(join(dir, 'package.json'), '{}');
    mkdirSync(join(dir, 'notebooks'));
    const cell = (id: string, source: string) => ({
      cell_type: 'code',
      id,
      metadata: {},
      outputs: [],
      execution_count: null,
      source,
    });
    writeFileSync(
      join(dir, 'notebooks', 'demo.ipynb'),
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [cell('a', '1'), cell('b', '2'), cell('weeks-sql', '//| task: weeks')],
      }),
    );
    const weeks = defineTask({
      name: 'weeks',
      module: pathToFileURL(join(dir, 'weeks.ts')).href,
      source: { notebook: 'notebooks/demo.ipynb', cells: ['weeks-sql'] },
      params: {},
      inputs: {},
      outputs: { rows: {} },
      warehouse: { reads: [] },
      run: async () => ({ rows: await sql`SELECT EXTRACT(WEEK FROM DATE '2024-01-01') AS w` }),
    });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: 'weeks', tasks: [weeks] }),
      store: new MemoryStore(),
      runner: 'in-process',
      workers: 1,
      codeAware: false,
      backoffScale: 0,
    });
    expect(result!.tasks[0]!.error).toMatch(
      /^task weeks \(notebooks\/demo\.ipynb, cell 3\): BigQuery construct EXTRACT\(WEEK\) is not supported on DuckDB/,
    );
  });

  it('runs a DuckDB-dialect query untranslated', async () => {
    expect(await sql.dialect('duckdb')`SELECT list_sum([1, 2, 3]) AS s, ${2} AS p`).toEqual([
      { s: 6, p: 2 },
    ]);
  });
});
