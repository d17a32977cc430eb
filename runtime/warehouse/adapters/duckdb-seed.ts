// Loads the example datasets into the embedded DuckDB warehouse, so the example notebooks query
// `cellar-examples.vega.flights` / `.penguins` with BigQuery SQL exactly as they would in the cloud.
//
// Idempotent and cheap when done: `_cellar.seeds` remembers each source file's size and mtime;
// when they match and the table exists, seeding costs one query. A reload replaces the table in
// one statement (atomic) and bumps the table's version, so tasks reading it re-run.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DuckDBWarehouse } from './duckdb.js';
import { WarehouseError } from '../types.js';

export interface SeedTable {
  /** The DuckDB table (`schema.table`); BigQuery name `cellar-examples.<schema>.<table>`. */
  table: string;
  file: string;
  /** SELECT list over the file (renames to snake_case, types). */
  select: string;
  reader: 'parquet' | 'json';
}

export const SEEDS: SeedTable[] = [
  {
    table: 'vega.flights',
    file: 'flights-3m.parquet',
    reader: 'parquet',
    select: 'date, delay, distance, origin, destination',
  },
  {
    table: 'vega.penguins',
    file: 'penguins.json',
    reader: 'json',
    select: `"Species" AS species, "Island" AS island, "Beak Length (mm)"::DOUBLE AS beak_length_mm,
      "Beak Depth (mm)"::DOUBLE AS beak_depth_mm, "Flipper Length (mm)"::BIGINT AS flipper_length_mm,
      "Body Mass (g)"::BIGINT AS body_mass_g, "Sex" AS sex`,
  },
];

/** The folder holding vega-datasets' files, from the project or from cellar's own install. */
export function vegaDataDir(projectRoot: string): string {
  const local = join(projectRoot, 'node_modules', 'vega-datasets', 'data');
  if (existsSync(local)) return local;
  try {
    const req = createRequire(join(projectRoot, 'package.json'));
    return join(dirname(req.resolve('vega-datasets/package.json')), 'data');
  } catch {
    const req = createRequire(import.meta.url);
    return join(dirname(req.resolve('vega-datasets/package.json')), 'data');
  }
}

export interface SeedReport {
  loaded: string[];
  skipped: string[];
}

export async function seedExamples(
  w: DuckDBWarehouse,
  projectRoot: string,
  seeds: SeedTable[] = SEEDS,
): Promise<SeedReport> {
  let dir: string;
  try {
    dir = vegaDataDir(projectRoot);
  } catch {
    // No example data installed: nothing to seed, and nothing in the examples will work; say so
    // only when a query fails on a missing table, not on every start.
    return { loaded: [], skipped: seeds.map((s) => s.table) };
  }
  const report: SeedReport = { loaded: [], skipped: [] };
  await w.withConnection(async (c) => {
    await c.run(
      'CREATE TABLE IF NOT EXISTS _cellar.seeds (name VARCHAR PRIMARY KEY, stamp VARCHAR NOT NULL)',
    );
    for (const s of seeds) {
      const path = join(dir, s.file);
      if (!existsSync(path)) throw new WarehouseError('E_WH_SEED', `seed file missing: ${path}`);
      const st = statSync(path);
      const stamp = `${s.file}:${st.size}:${Math.floor(st.mtimeMs)}`;
      const [schema, name] = s.table.split('.');
      const have = await c.runAndReadAll(
        `SELECT (SELECT stamp FROM _cellar.seeds WHERE name = $1) AS stamp,
                EXISTS (SELECT 1 FROM duckdb_tables() WHERE schema_name = $2 AND table_name = $3) AS present`,
        [s.table, schema!, name!],
      );
      const row = have.getRowObjectsJson()[0] as { stamp: string | null; present: boolean };
      if (row.stamp === stamp && row.present) {
        report.skipped.push(s.table);
        continue;
      }
      const source =
        s.reader === 'parquet'
          ? `read_parquet('${path.replace(/'/g, "''")}')`
          : `read_json_auto('${path.replace(/'/g, "''")}')`;
      await c.run(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await c.run(
        `CREATE OR REPLACE TABLE "${schema}"."${name}" AS SELECT ${s.select} FROM ${source}`,
      );
      await c.run(
        `INSERT INTO _cellar.seeds VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp`,
        [s.table, stamp],
      );
      report.loaded.push(s.table);
    }
  });
  await w.bump(report.loaded);
  return report;
}
