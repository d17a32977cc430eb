// Loads the example datasets into the embedded DuckDB warehouse, so the example notebooks query
// `cellar-examples.vega.flights` / `.penguins` with BigQuery SQL exactly as they would in the cloud.
//
// Idempotent and cheap when done: `_cellar.seeds` remembers each source file's size and mtime;
// when they match and the table exists, seeding costs one query. A reload replaces the table in
// one statement (atomic) and bumps the table's version, so tasks reading it re-run.
import { existsSync, readFileSync, statSync } from 'node:fs';
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

/**
 * The folder holding vega-datasets' files, from the project or from cellar's own install; null
 * when neither has the package. The package's `exports` hides its package.json (resolving
 * `vega-datasets/package.json` throws ERR_PACKAGE_PATH_NOT_EXPORTED), so this resolves its main
 * entry and walks up to the folder whose package.json names it.
 */
export function vegaDataDir(
  projectRoot: string,
  cellarFrom: string = import.meta.url,
): string | null {
  const local = join(projectRoot, 'node_modules', 'vega-datasets', 'data');
  if (existsSync(local)) return local;
  for (const from of [join(projectRoot, 'package.json'), cellarFrom]) {
    let entry: string;
    try {
      entry = createRequire(from).resolve('vega-datasets');
    } catch {
      continue;
    }
    for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'vega-datasets')
        return join(dir, 'data');
    }
  }
  return null;
}

/** Why the example tables are missing, added to a query's error when it names their schema. */
export const EXAMPLES_MISSING =
  'the example tables (cellar-examples.vega.*) are loaded from the vega-datasets package, ' +
  'which is not installed: run `npm install vega-datasets` in the project';

export interface SeedReport {
  loaded: string[];
  skipped: string[];
}

export async function seedExamples(
  w: DuckDBWarehouse,
  projectRoot: string,
  seeds: SeedTable[] = SEEDS,
  dir: string | null = vegaDataDir(projectRoot),
): Promise<SeedReport> {
  if (dir === null) {
    // No example data installed: nothing to seed, and nothing in the examples will work; say so
    // only when a query fails on a missing example table, not on every start.
    w.missingSchemas = {
      schemas: [...new Set(seeds.map((s) => s.table.split('.')[0]!))],
      why: EXAMPLES_MISSING,
    };
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
