// The flights example end to end on the embedded default: the compiled pipeline (BigQuery SQL,
// generated from notebooks/flights.ipynb) pushes its heavy SQL into DuckDB as materialised
// tables, a second run reuses them without running anything, and new data in the source table
// re-runs the tasks that read it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryStore,
  openDuckDB,
  physicalTableName,
  sql,
  useWarehouse,
  type TableRef,
} from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import type { Pipeline } from '../../runtime/task.js';
import { seedExamples, vegaDataDir } from '../../runtime/warehouse/adapters/duckdb-seed.js';
import type { DuckDBWarehouse } from '../../runtime/warehouse/adapters/duckdb.js';

const root = join(import.meta.dirname, '..', '..');

describe('flights example on embedded DuckDB', () => {
  let dir: string;
  let w: DuckDBWarehouse;
  let pipeline: Pipeline;
  const store = new MemoryStore();
  const run = async () => {
    const { result, prepared } = await runPipeline({
      pipeline,
      store,
      runner: 'in-process',
      workers: 2,
    });
    expect(result!.ok, JSON.stringify(result!.tasks.filter((t) => t.error))).toBe(true);
    return {
      statuses: Object.fromEntries(result!.tasks.map((t) => [t.name, t.status])),
      keys: prepared.keys,
    };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cellar-flights-'));
    w = (await openDuckDB({
      path: join(dir, 'warehouse.duckdb'),
      idleMs: 2000,
    })) as DuckDBWarehouse;
    const seeded = await seedExamples(w, root);
    expect(seeded.loaded).toEqual(['vega.flights', 'vega.penguins']);
    expect((await seedExamples(w, root)).skipped).toEqual(['vega.flights', 'vega.penguins']);
    useWarehouse(w, { dialect: 'bigquery' });
    pipeline = (await import('../../generated/flights/pipeline.js')).default;
  });
  afterAll(async () => {
    useWarehouse(null);
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('materialises the heavy queries as tables named by key, and a re-run reuses them', async () => {
    const first = await run();
    expect(Object.values(first.statuses).every((s) => s === 'ran')).toBe(true);
    const materialised = pipeline.tasks.filter((t) => t.warehouse?.materialize);
    expect(materialised.length).toBeGreaterThanOrEqual(2);
    for (const t of materialised) {
      const physical = physicalTableName(t.warehouse!.materialize!, first.keys.get(t.name)!.value);
      expect(await w.tableExists(physical), physical).toBe(true);
    }
    // The million-row feature table stayed in the warehouse: Node only ever held its name.
    if (pipeline.tasks.some((t) => t.warehouse?.materialize === 'mart.flight_features')) {
      const [row] = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM mart.flight_features`;
      expect(row!.n).toBeGreaterThan(100_000);
    }

    const second = await run();
    expect(
      Object.values(second.statuses).every((s) => s === 'cached'),
      JSON.stringify(second.statuses),
    ).toBe(true);
  }, 600_000); // 3M rows on a shared machine: no speed assumption

  it('re-runs the readers of the source table after new data lands in it', async () => {
    await sql`INSERT INTO \`cellar-examples.vega.flights\` (date, delay, distance, origin, destination)
      VALUES (TIMESTAMP '2001-06-30 23:59:00', 5, 300, 'SFO', 'LAX')`;
    const third = await run();
    const readers = pipeline.tasks
      .filter((t) => (t.warehouse?.reads ?? []).includes('cellar-examples.vega.flights'))
      .map((t) => t.name);
    expect(readers.length).toBeGreaterThan(0);
    for (const name of readers) expect(third.statuses[name], name).toBe('ran');
    const ref: TableRef = {
      kind: 'cellar.table',
      name: physicalTableName('mart.flight_features', third.keys.get('features')?.value ?? ''),
    };
    if (third.keys.get('features')) expect(await w.tableExists(ref.name)).toBe(true);
  }, 600_000);
});

describe('where the example data comes from', () => {
  it("finds vega-datasets through cellar's own install when the project has none", () => {
    // A user's project with cellar installed from a folder: vega-datasets sits in cellar's
    // node_modules, and its `exports` hides its package.json from require.resolve.
    const project = mkdtempSync(join(tmpdir(), 'cellar-project-'));
    try {
      const dir = vegaDataDir(project);
      expect(dir).toBe(join(root, 'node_modules', 'vega-datasets', 'data'));
      expect(existsSync(join(dir!, 'flights-3m.parquet'))).toBe(true);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('a query of the example tables names the missing package when it is not installed', async () => {
    const project = mkdtempSync(join(tmpdir(), 'cellar-project-'));
    const w = (await openDuckDB({
      path: join(project, 'warehouse.duckdb'),
      idleMs: 1,
    })) as DuckDBWarehouse;
    try {
      const nowhere = join(project, 'nowhere.js'); // resolves nothing: no node_modules above
      expect(vegaDataDir(project, nowhere)).toBeNull();
      expect((await seedExamples(w, project, undefined, null)).loaded).toEqual([]);
      useWarehouse(w, { dialect: 'bigquery' });
      const failed = await sql`SELECT COUNT(*) AS n FROM \`cellar-examples.vega.flights\``.then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(failed?.message).toContain('npm install vega-datasets');
      // Other missing tables keep DuckDB's own message.
      const other = await sql`SELECT 1 FROM \`p.mart.nosuch\``.then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(other?.message).not.toContain('vega-datasets');
    } finally {
      useWarehouse(null);
      await w.close();
      rmSync(project, { recursive: true, force: true });
    }
  });
});
