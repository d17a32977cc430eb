// The entry of a built pipeline (`node <dir>/run.mjs [task...] [options]`): the `cellar run`
// command, bundled with the runtime, over the bundled pipeline beside it.
//
// A built folder carries no sources, so the code fingerprints `cellar build` computed from them
// (manifest.json) are registered first: keys then equal a run from the sources, and a store
// shared with development is reused both ways. Options are `cellar run`'s, plus `--workdir`
// (where relative data paths resolve: the notebook's folder by default, as it was at build time
// relative to the built folder).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runningBuiltFolder } from '../failure-location.js';
import { recordFingerprints, type RecordedFingerprint } from '../../runtime/key/codehash.js';
import { dependenciesHash } from '../../runtime/key/package-closure.js';
import { installedPackageVersion } from '../../runtime/project.js';
import { CliError, EXIT } from '../errors.js';
import { main } from '../main.js';

/** What `cellar build` writes to manifest.json (see cli/build/build.ts for the producer). */
export interface BuildManifest {
  format: 1;
  pipeline: string;
  /** The notebook the pipeline was compiled from, relative to the project root (if any). */
  source?: string;
  /** The tasks' working folder, relative to the built folder, as it was at build time. */
  workdir: string;
  /**
   * The project root relative to the built folder, as it was at build time (`..`): with the
   * chunks' source maps, a stack frame names its project module (runtime/key/built-frames.ts).
   * Absent in folders built before it; their helpers' reads stay their tasks' own.
   */
  root?: string;
  tasks: { name: string; upstream: string[]; params: string[]; codeHash: string }[];
  params: Record<string, { type: string; default?: unknown; tasks: string[] }>;
  /** Module URL inside the bundle → the code fingerprint computed from its sources. */
  fingerprints: Record<string, RecordedFingerprint>;
  /** Package name → version, for every package the bundle imports at run time. */
  packages: Record<string, string>;
  cellar: string;
}

/** Runs the built pipeline in `dir` with `cellar run`'s arguments; returns the exit code. */
export async function runBuilt(dir: string, argv: string[]): Promise<number> {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BuildManifest;
  // Help needs nothing of the machine: not the working folder, not the installed packages.
  if (argv[0] !== 'worker' && (argv.includes('--help') || argv.includes('-h'))) {
    console.log(
      `node run.mjs [task...] [options]: \`cellar run\` of the pipeline '${manifest.pipeline}' built here, with the same options.\n`,
    );
    return main(['run', '--help']);
  }
  const { fingerprints, moved } = asInstalled(manifest.fingerprints, dir);
  if (moved.length > 0)
    console.error(
      `run.mjs: note: the packages installed here differ from the build's (${moved.slice(0, 5).join(', ')}${moved.length > 5 ? `, and ${moved.length - 5} more` : ''}): the keys follow what is installed, so results are not shared with runs of the other versions. \`npm ci\` in this folder installs the build's.`,
    );
  recordFingerprints(fingerprints);
  runningBuiltFolder(dir);
  const args = [...argv];
  if (args[0] === 'worker') return main(['worker', join(dir, 'pipeline.js'), ...args.slice(1)]);
  let workdir: string | undefined;
  const at = args.findIndex((a) => a === '--workdir' || a.startsWith('--workdir='));
  if (at >= 0) {
    workdir = args[at]!.includes('=') ? args[at]!.slice(args[at]!.indexOf('=') + 1) : args[at + 1];
    args.splice(at, args[at]!.includes('=') ? 1 : 2);
    if (!workdir) {
      console.error('run.mjs: --workdir needs a folder (E_USAGE)');
      return EXIT.usage;
    }
  }
  workdir = resolve(workdir ?? join(dir, manifest.workdir));
  if (!existsSync(workdir)) {
    const error = new CliError(
      `the tasks' working folder ${workdir} does not exist: pass --workdir <folder holding the data the notebook read>`,
      'E_NO_WORKDIR',
    );
    console.error(`run.mjs: ${error.message} (${error.code})`);
    return error.exitCode;
  }
  return main(['run', join(dir, 'pipeline.js'), '--workdir', workdir, ...args]);
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
