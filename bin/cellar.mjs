#!/usr/bin/env node
// The `cellar` command: make sure dist/ is current, then hand over to the CLI.
import { nodeVersionProblem } from './node-version.mjs';

const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  console.error(tooOld);
  process.exit(2);
}
const { ensureBuilt } = await import('../scripts/build.mjs');
await ensureBuilt();
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
