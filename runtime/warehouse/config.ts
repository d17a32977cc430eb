// Where the warehouse settings live: `cellar.config.json` at the project root, then environment
// overrides. Normalised once into `WarehouseConfig`, which has no optional fields.
//
// Why JSON and not `cellar.config.ts`: the config is read by every notebook kernel and every
// `cellar run` on import of 'cellar'; a TypeScript config would need a transpiler on that path.
// JSON costs one small read. The project root is the runtime's one rule (runtime/project.ts): the
// nearest folder holding `cellar.config.json` (or else `package.json`), from the project a run
// named (warehouse/project-root.ts) or else the working directory up, so a notebook running in
// notebooks/ and a pipeline run from anywhere find the same file. Env vars win over the file:
//
//   CELLAR_WAREHOUSE=duckdb|bigquery   CELLAR_DIALECT=bigquery|duckdb   CELLAR_DUCKDB_PATH=…
//   CELLAR_BQ_PROJECT  CELLAR_BQ_LOCATION  CELLAR_BQ_DATASET  CELLAR_BQ_ENDPOINT
//   CELLAR_MAX_BYTES_BILLED=<bytes>     CELLAR_SEED=0 (skip loading the example tables)
//   CELLAR_PROJECT_ROOT=<dir> (skip the search)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { SqlDialect } from '../task.js';
import { CONFIG_FILE, findProjectRoot } from '../project.js';
import { WarehouseError } from './types.js';

export { CONFIG_FILE };

/** The file format of `cellar.config.json` (every field optional). */
export interface CellarConfigFile {
  warehouse?: {
    /** Which adapter runs queries. Default 'duckdb'. */
    kind?: 'duckdb' | 'bigquery';
    /** The dialect notebook SQL is written in (`//| dialect:` overrides per cell). Default 'bigquery'. */
    dialect?: SqlDialect;
    /** Stop any BigQuery job that would bill more bytes than this. Default: no limit. */
    maxBytesBilled?: number;
    duckdb?: {
      path?: string;
      fingerprint?: 'catalog' | 'content';
      seed?: boolean;
      threads?: number;
    };
    bigquery?: {
      project?: string;
      location?: string;
      /** Dataset for unqualified table names and for materialised tables without one. */
      dataset?: string;
      /** Only for tests and emulators: talk to this endpoint with no credentials. */
      apiEndpoint?: string;
    };
  };
}

export interface WarehouseConfig {
  kind: 'duckdb' | 'bigquery';
  dialect: SqlDialect;
  maxBytesBilled: number | null;
  projectRoot: string;
  /** Where the config came from, for messages. */
  source: string;
  duckdb: { path: string; fingerprint: 'catalog' | 'content'; seed: boolean; threads: number };
  bigquery: { project: string; location: string; dataset: string; apiEndpoint: string | null };
}

/** Read and normalise the config. `env` and `cwd` are parameters so tests need no globals. */
export function loadWarehouseConfig(
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): WarehouseConfig {
  const root = findProjectRoot(cwd, env);
  const file = join(root, CONFIG_FILE);
  let parsed: CellarConfigFile = {};
  let source = 'defaults';
  if (existsSync(file)) {
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as CellarConfigFile;
      source = file;
    } catch (e) {
      throw new WarehouseError('E_WH_CONFIG', `${file}: not valid JSON (${(e as Error).message})`);
    }
  }
  const w = parsed.warehouse ?? {};
  const kind = (env.CELLAR_WAREHOUSE ?? w.kind ?? 'duckdb') as WarehouseConfig['kind'];
  if (kind !== 'duckdb' && kind !== 'bigquery')
    throw new WarehouseError(
      'E_WH_CONFIG',
      `warehouse kind must be 'duckdb' or 'bigquery', got ${JSON.stringify(kind)} (from ${env.CELLAR_WAREHOUSE ? 'CELLAR_WAREHOUSE' : source})`,
    );
  const dialect = (env.CELLAR_DIALECT ?? w.dialect ?? 'bigquery') as SqlDialect;
  if (dialect !== 'duckdb' && dialect !== 'bigquery')
    throw new WarehouseError(
      'E_WH_CONFIG',
      `dialect must be 'bigquery' or 'duckdb', got ${JSON.stringify(dialect)}`,
    );
  const maxRaw = env.CELLAR_MAX_BYTES_BILLED ?? w.maxBytesBilled;
  const maxBytesBilled = maxRaw === undefined || maxRaw === '' ? null : Number(maxRaw);
  if (maxBytesBilled !== null && !(maxBytesBilled > 0))
    throw new WarehouseError(
      'E_WH_CONFIG',
      `maxBytesBilled must be a positive number of bytes, got ${JSON.stringify(maxRaw)}`,
    );
  const dPath = env.CELLAR_DUCKDB_PATH ?? w.duckdb?.path ?? '.cellar/warehouse.duckdb';
  const bq = w.bigquery ?? {};
  const project = env.CELLAR_BQ_PROJECT ?? bq.project ?? '';
  if (kind === 'bigquery' && !project)
    throw new WarehouseError(
      'E_WH_CONFIG',
      `BigQuery needs a project: set warehouse.bigquery.project in ${join(root, CONFIG_FILE)} or CELLAR_BQ_PROJECT`,
    );
  return {
    kind,
    dialect,
    maxBytesBilled,
    projectRoot: root,
    source,
    duckdb: {
      path: dPath === ':memory:' || isAbsolute(dPath) ? dPath : join(root, dPath),
      fingerprint: w.duckdb?.fingerprint ?? 'content',
      seed: env.CELLAR_SEED !== undefined ? env.CELLAR_SEED !== '0' : (w.duckdb?.seed ?? true),
      threads: w.duckdb?.threads ?? 2,
    },
    bigquery: {
      project,
      location: env.CELLAR_BQ_LOCATION ?? bq.location ?? 'US',
      dataset: env.CELLAR_BQ_DATASET ?? bq.dataset ?? 'cellar',
      apiEndpoint: env.CELLAR_BQ_ENDPOINT ?? bq.apiEndpoint ?? null,
    },
  };
}
