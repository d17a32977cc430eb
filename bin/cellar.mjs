#!/usr/bin/env node
// The `cellar` command: make sure dist/ is current, then hand over to the CLI.
import { readFileSync } from 'node:fs';
import { nodeVersionProblem } from './node-version.mjs';

const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld) {
  console.error(tooOld);
  process.exit(2);
}
/** A package Cellar needs is not installed (a fresh clone before `npm install`): say so, with the
 *  fix, instead of Node's stack trace. Other failures are the CLI's to report. */
async function installed(step) {
  try {
    return await step();
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/Cannot find package/.test(error.message))
      throw error;
    const missing = /Cannot find package '([^']+)'/.exec(error.message)?.[1] ?? 'a package';
    const root = new URL('..', import.meta.url).pathname;
    console.error(
      `cellar: ${missing} is not installed: run \`npm install\` in ${root} first (E_NOT_INSTALLED)`,
    );
    process.exit(2);
  }
}
await installed(async () => (await import('../scripts/build.mjs')).ensureBuilt());
// The build this process runs, read before its code loads: warm-run records are written and
// trusted only while dist/build-id still says so (runtime/run/warm-record.ts `cellarBuildId`).
try {
  globalThis.__cellarBuildId = readFileSync(new URL('../dist/build-id', import.meta.url), 'utf8');
} catch {
  // no build id: no warm-run records
}
// Node's own exit, before a run guards it against task code (runtime/run/perform.ts guardExit).
const exit = process.exit.bind(process);
const { main } = await installed(() => import('../dist/cli.js'));
process.exitCode = await main(process.argv.slice(2));
// An in-process run's task code may leave timers or sockets open: the run ends the process
// (cli/commands/run.ts `endWithTheRun`); everything the command wrote is out (Linux writes
// files and pipes synchronously).
if (globalThis.__cellarExitWhenDone) exit(process.exitCode);
