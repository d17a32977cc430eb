#!/usr/bin/env node
// The `cellar` command: make sure dist/ is current, then hand over to the CLI.
import { ensureBuilt } from '../scripts/build.mjs';

await ensureBuilt();
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
