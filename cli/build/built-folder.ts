// Running a folder `cellar build` wrote, by `node <dir>/run.mjs` or by `cellar worker <dir>`: a
// built folder carries no sources to hash, so the code fingerprints the build computed from them
// (manifest.json) are registered before any key is computed; keys then equal a run from the
// sources. Without them every task fails: "no recorded code fingerprint for cellar-build:…".
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runningBuiltFolder } from '../failure-location.js';
import { recordFingerprints, type RecordedFingerprint } from '../../runtime/key/codehash.js';
import { dependenciesHash } from '../../runtime/key/package-closure.js';
import { installedPackageVersion } from '../../runtime/project.js';
import type { BuildManifest } from './run-entry.js';
import { CliError } from '../errors.js';
import { FEATURE_PACKAGES } from '../../runtime/missing-package.js';

/** The manifest of the built folder `dir`, or undefined when `dir` is not one. */
export function builtManifest(dir: string): BuildManifest | undefined {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file) || !existsSync(join(dir, 'pipeline.js'))) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as BuildManifest;
    return manifest.format === 1 && typeof manifest.fingerprints === 'object'
      ? manifest
      : undefined;
  } catch {
    return undefined;
  }
}

/** The built folders this process runs (one, in practice). */
const using = new Set<string>();

/**
 * Make this process run the built folder `dir`: its recorded fingerprints (as installed here)
 * registered, and failures located in its cells.json. `who` prefixes the note printed when the
 * installed packages differ from the build's.
 */
export function useBuiltFolder(dir: string, manifest: BuildManifest, who: string): void {
  // `node run.mjs worker` comes here twice (run.mjs, then the worker command): one note.
  if (using.has(dir)) return;
  const missing = missingBuiltPackages(dir, manifest);
  if (missing) throw missing;
  using.add(dir);
  const { fingerprints, moved } = asInstalled(manifest.fingerprints, dir);
  if (moved.length > 0)
    console.error(
      `${who}: note: the packages installed here differ from the build's (${moved.slice(0, 5).join(', ')}${moved.length > 5 ? `, and ${moved.length - 5} more` : ''}): the keys follow what is installed, so results are not shared with runs of the other versions. \`npm ci\` in the built folder installs the build's.`,
    );
  recordFingerprints(fingerprints);
  runningBuiltFolder(dir);
}

/**
 * E_PACKAGE_MISSING naming each package every run of the built folder `dir` loads (its
 * package.json `dependencies`, manifest `packages`) that is installed nowhere Node would look
 * from it, with what needs it and the fix; undefined when all are. Checked before anything runs:
 * `npm ci --omit=dev` cut short, or run without, failed tasks one by one with Node's chunk paths.
 */
export function missingBuiltPackages(dir: string, manifest: BuildManifest): CliError | undefined {
  const missing = Object.keys(manifest.packages ?? {}).filter(
    (name) => installedPackageVersion(dir, name) === undefined,
  );
  if (missing.length === 0) return undefined;
  const what = (name: string) =>
    manifest.needs?.[name] ?? FEATURE_PACKAGES[name] ?? "the pipeline's code";
  const lines = missing.map((name) => `  ${name}: needed by ${what(name)}`);
  return new CliError(
    `${missing.length === 1 ? 'a package' : `${missing.length} packages`} the built pipeline needs ${missing.length === 1 ? 'is' : 'are'} not installed in ${dir}: run \`npm ci --omit=dev\` there (or \`npm install ${missing.join(' ')}\`)\n${lines.join('\n')}`,
    'E_PACKAGE_MISSING',
  );
}

/**
 * The build's fingerprints with each package's version and dependency hash as installed for the
 * built folder `dir` (runtime/project.ts, key/package-closure.ts), and what moved
 * (`ms 2.1.3 → 9.9.9`). A batch machine installing other versions (no lockfile, a parent
 * node_modules) runs other code: keyed as the build's, its results would be served to runs of the
 * build's versions, and theirs to it. (A package's entry files, `<package:…>`, stay the build's.)
 */
export function asInstalled(
  fingerprints: Record<string, RecordedFingerprint>,
  dir: string,
): { fingerprints: Record<string, RecordedFingerprint>; moved: string[] } {
  const moved = new Set<string>();
  const version = new Map<string, string>();
  const deps = new Map<string, string | undefined>();
  const out: Record<string, RecordedFingerprint> = {};
  for (const [url, fp] of Object.entries(fingerprints)) {
    const packages = { ...fp.packages };
    const files = { ...fp.files };
    for (const [name, built] of Object.entries(fp.packages)) {
      if (name === 'cellar') continue;
      if (!version.has(name)) version.set(name, installedPackageVersion(dir, name) ?? 'unresolved');
      const now = version.get(name)!;
      if (now !== built) moved.add(`${name} ${built} → ${now}`);
      packages[name] = now;
      if (!deps.has(name)) deps.set(name, dependenciesHash(dir, name));
      const entry = `<package-deps:${name}>`;
      const hash = deps.get(name);
      if (hash !== files[entry]) moved.add(`${name}'s dependencies`);
      if (hash === undefined) delete files[entry];
      else files[entry] = hash;
    }
    out[url] = { ...fp, packages, files };
  }
  return { fingerprints: out, moved: [...moved].sort() };
}
