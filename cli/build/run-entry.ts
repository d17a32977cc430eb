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
import type { RecordedFingerprint } from '../../runtime/key/codehash.js';
import { useBuiltFolder } from './built-folder.js';
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
  /**
   * Package name → version, for every package every run loads: the bundle's static imports and
   * what the pipeline's tasks need (`needs`). package.json's `dependencies`.
   */
  packages: Record<string, string>;
  /** Packages loaded only by a feature a run may use (another warehouse, a gs:// store, the
   *  distributed executor, a model format): package.json's `optionalDependencies`. */
  optionalPackages?: Record<string, string>;
  /** Package name → what needs it (`tasks baseline, route_rates (the SQL translator …)`), for the
   *  packages of `packages` the bundle loads on demand; checked before a run starts. */
  needs?: Record<string, string>;
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
  try {
    useBuiltFolder(dir, manifest, 'run.mjs');
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    // The code on the first line, as cli/main.ts prints a CliError.
    const [first, ...rest] = error.message.split('\n');
    console.error([`run.mjs: ${first} (${error.code})`, ...rest].join('\n'));
    return error.exitCode;
  }
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
