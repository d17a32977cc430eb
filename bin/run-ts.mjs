#!/usr/bin/env node
// Runs a TypeScript script (benchmarks, maintenance scripts) by bundling it with esbuild first.
// Packages stay external; 'cellar' resolves to the built runtime through the package's exports.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBuilt } from '../scripts/build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: run-ts.mjs <script.ts> [args...]');
  process.exit(2);
}
await ensureBuilt();
const outDir = join(root, '.cellar', 'scripts');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, basename(script).replace(/\.ts$/, '.mjs'));
await build({
  entryPoints: [script],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.argv = [process.argv[0], outfile, ...args];
await import(pathToFileURL(outfile).href);
