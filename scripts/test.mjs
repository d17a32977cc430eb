// `npm test`: installs the system parts the tests need, builds dist/, runs vitest, and ends with
// the plain `N passed, N failed` line CI reads (vitest's own summary is not recognised there).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from './build.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setup = spawnSync('bash', [join(root, 'scripts/setup-system.sh')], { stdio: 'inherit' });
if (setup.status !== 0) {
  console.error('system set-up failed: see the message above');
  process.exit(1);
}
await buildDist();

const resultsFile = join(root, '.vitest-results.json');
rmSync(resultsFile, { force: true });
// The tests' scratch projects, stores and copies go to one temp folder of this run (TMPDIR),
// removed at the end: a test that fails half-way, or forgets its clean-up, leaves nothing behind.
const scratch = mkdtempSync(join(tmpdir(), 'cellar-tests-'));
const vitest = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vitest/vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${resultsFile}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: root, env: { ...process.env, TMPDIR: scratch } },
);
try {
  rmSync(scratch, { recursive: true, force: true });
} catch (error) {
  console.error(`note: could not remove the tests' temp folder ${scratch}: ${error.message}`);
}
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  failed = results.numFailedTests + (results.numRuntimeErrorTestSuites ?? 0);
  skipped = results.numPendingTests + results.numTodoTests;
  // A suite that fails to load has no tests counted: count it as a failure.
  for (const file of results.testResults)
    if (file.status === 'failed' && file.assertionResults.length === 0) failed++;
} catch {
  failed = Math.max(failed, 1);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(vitest.status === 0 && failed === 0 ? 0 : 1);
