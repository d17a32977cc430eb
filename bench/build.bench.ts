// Batch builds (`npx tsx bench/run.ts build`): how long `cellar build` takes on the penguins
// example, and the cold start of the built folder against `cellar run` from the sources.
//
// "Cold start" is a warm-cache run (every task cached) in a fresh process: what a nightly batch
// job pays before doing any work. The built folder runs with plain Node (no esbuild bundle cache,
// no TypeScript loader); `cellar run` checks its compile and loads its cached bundle.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow, BenchSection } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tmp = join(here, '.tmp', 'build');
const gnuTime = existsSync('/usr/bin/time');

function timed(args: string[], cwd = root): { ms: number; rssMb: number } {
  const t0 = performance.now();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', ...args], { cwd, encoding: 'utf8' })
    : spawnSync(args[0]!, args.slice(1), { cwd, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return { ms, rssMb: gnuTime ? Number(r.stderr.trim().split('\n').pop()) / 1024 : NaN };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function buildBench(): Promise<BenchSection> {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const out = join(tmp, 'penguins');
  const ws = join(tmp, 'ws');
  const cellar = [process.execPath, join(root, 'bin', 'cellar.mjs')];
  const build = timed([
    ...cellar,
    'build',
    'notebooks/penguins.ipynb',
    '--out',
    out,
    '--no-lockfile',
  ]);
  timed([...cellar, 'run', 'notebooks/penguins.ipynb', '--workspace', ws]);
  const built = median(
    [0, 1, 2, 3, 4].map(
      () => timed([process.execPath, join(out, 'run.mjs'), '--workspace', ws]).ms,
    ),
  );
  const source = median(
    [0, 1, 2, 3, 4].map(
      () => timed([...cellar, 'run', 'notebooks/penguins.ipynb', '--workspace', ws]).ms,
    ),
  );
  const version = median([0, 1, 2, 3, 4].map(() => timed([...cellar, '--version']).ms));
  const rows: BenchRow[] = [
    {
      name: 'cellar build notebooks/penguins.ipynb (bundle + manifest, no lockfile)',
      value: Math.round(build.ms),
      unit: 'ms',
    },
    {
      name: 'built folder: `node run.mjs`, every task cached (median of 5)',
      value: Math.round(built),
      unit: 'ms',
    },
    {
      name: 'sources: `cellar run notebooks/penguins.ipynb`, every task cached (median of 5)',
      value: Math.round(source),
      unit: 'ms',
    },
    {
      name: '`cellar --version` for reference (median of 5)',
      value: Math.round(version),
      unit: 'ms',
    },
  ];
  return {
    title: 'Batch builds: build time and cold start of the built folder',
    measuredAt: new Date().toISOString().slice(0, 10),
    notes:
      "Wall times of real processes (spawn to exit). The built folder runs in the repository here, so it finds its packages in the project's node_modules, as it would after `npm ci --omit=dev`.",
    rows,
  };
}
