#!/usr/bin/env node
// The `cellar` command: make sure dist/ is current, then hand over to the CLI.
import { readFileSync } from 'node:fs';
import { nodeVersionProblem } from './node-version.mjs';

const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  console.error(tooOld);
  process.exit(2);
}
const { ensureBuilt } = await import('../scripts/build.mjs');
await ensureBuilt();
// The build this process runs, read before its code loads: warm-run records are written and
// trusted only while dist/build-id still says so (runtime/run/warm-record.ts `cellarBuildId`).
try {
  globalThis.__cellarBuildId = readFileSync(new URL('../dist/build-id', import.meta.url), 'utf8');
} catch {
  // no build id: no warm-run records
}
// Node's own exit, before a run guards it against task code (runtime/run/perform.ts guardExit).
const exit = process.exit.bind(process);
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
// An in-process run's task code may leave timers or sockets open: the run ends the process
// (cli/commands/run.ts `endWithTheRun`); everything the command wrote is out (Linux writes
// files and pipes synchronously).
if (globalThis.__cellarExitWhenDone) exit(process.exitCode);
