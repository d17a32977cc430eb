// A package Cellar loads only for a feature (the warehouse, the distributed executor, a cloud
// store), missing where Node looks for it: one error naming the package, what needs it and the
// fix, instead of Node's `Cannot find package 'x' imported from …/chunk-K6RF23HJ.js`.
import { dirname, join, sep } from 'node:path';
import { existsSync } from 'node:fs';
import { CellarError } from './errors.js';

/** What needs each package a run loads on demand (the warehouse, the executor, a store, a codec). */
export const FEATURE_PACKAGES: Readonly<Record<string, string>> = {
  '@duckdb/node-api': 'the DuckDB warehouse engine of sql`…` queries',
  '@polyglot-sql/sdk': 'the SQL translator of sql`…` queries',
  '@google-cloud/bigquery': 'the BigQuery warehouse',
  'google-auth-library': 'the BigQuery warehouse',
  '@google-cloud/storage': 'a gs:// store',
  bullmq: 'the distributed executor of `cellar run --executor bullmq` and `cellar worker`',
  ioredis: 'the distributed executor of `cellar run --executor bullmq` and `cellar worker`',
  'apache-arrow': 'the Arrow codec of table outputs',
  'ml-random-forest': 'random-forest model outputs',
};

/** The warehouse's packages: every run of a task with SQL loads both (DuckDB, or the translator). */
export const WAREHOUSE_PACKAGES = ['@duckdb/node-api', '@polyglot-sql/sdk'] as const;

/**
 * The package an error (or an error's text: task failures cross threads as text) says Node could
 * not find, with the file that imported it when Node names it; undefined for any other error,
 * and for a missing relative or absolute file (not a package).
 */
export function missingPackage(
  error: unknown,
): { name: string; importer: string | undefined } | undefined {
  const text =
    typeof error === 'string' ? error : error instanceof Error ? error.message : undefined;
  if (text === undefined) return undefined;
  const m = /^(?:Error: )?Cannot find (?:package|module) '([^']+)'/m.exec(text);
  if (!m) return undefined;
  const spec = m[1]!;
  if (/^(?:[./]|file:|node:|[A-Za-z]:\\)/.test(spec)) return undefined;
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  // ESM: "… imported from /x/chunk.js"; CommonJS (require, require.resolve): "Require stack:\n- /x/chunk.js".
  const importer =
    /imported from (\S+)/.exec(text)?.[1] ?? /Require stack:\s*\n- (\S+)/.exec(text)?.[1];
  return { name, importer: importer?.replace(/^file:\/\//, '') };
}

/**
 * The folder where `npm install <package>` makes it loadable from `importer`: the project above
 * an installed package (`…/app/node_modules/cellar/dist/x.js` → `…/app`), else the nearest folder
 * with a package.json (a built folder, Cellar's checkout), else the working directory.
 */
export function installFolder(importer: string | undefined): string {
  if (!importer) return process.cwd();
  const at = importer.indexOf(`${sep}node_modules${sep}`);
  if (at >= 0) return importer.slice(0, at) || sep;
  for (let dir = dirname(importer); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/**
 * The one-line message for package `name` missing: what needs it (`task`, when a task's code
 * loaded it, with the feature FEATURE_PACKAGES names) and the fix.
 */
export function missingPackageMessage(name: string, folder: string, task?: string): string {
  const feature = FEATURE_PACKAGES[name];
  const who = task
    ? `task ${task} needs it${feature ? ` (${feature})` : ''}`
    : feature
      ? `${feature} needs it`
      : undefined;
  return `package '${name}' is not installed${who ? `, and ${who}` : ''}: run \`npm install ${name}\` in ${folder}`;
}

/**
 * E_PACKAGE_MISSING for an error whose cause is a package Node could not find (`missingPackage`),
 * naming the task whose code loaded it, if any; undefined for any other error.
 */
export function missingPackageError(error: unknown, task?: string): CellarError | undefined {
  const missing = missingPackage(error);
  if (!missing) return undefined;
  return new CellarError(
    missingPackageMessage(missing.name, installFolder(missing.importer), task),
    'E_PACKAGE_MISSING',
  );
}
