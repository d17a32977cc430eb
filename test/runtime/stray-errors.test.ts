// After a task has run, the stray-error listeners stay on the process (a task's timer outlives
// it). An error that is no task's, raised while none runs, must still get Node's own treatment:
// the process ends with the error printed and code 1, or another listener on the process handles
// it. Run in a fresh Node process: the test runner's own listeners would change what happens.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const module = pathToFileURL(
  join(import.meta.dirname, '..', '..', 'runtime', 'run', 'stray-errors.ts'),
).href;

function runScript(body: string) {
  const code = `const { watchStrayErrors } = await import(${JSON.stringify(module)});
await watchStrayErrors('t', undefined, async () => 1);
${body}`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
}

describe('an error no task raised, after a task ran and while none runs', () => {
  it('an exception ends the process with code 1 and the error printed, as without Cellar', () => {
    const r = runScript(
      "setTimeout(() => { throw new Error('not a task error'); }, 10);\nsetTimeout(() => console.log('survived'), 60_000);",
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Error: not a task error');
    expect(r.stderr).not.toContain('cellar: warning');
    expect(r.stdout).not.toContain('survived');
  });

  it('a rejection with no handler ends the process with code 1 too', () => {
    const r = runScript(
      "setTimeout(() => { void Promise.reject(new Error('rejected outside tasks')); }, 10);\nsetTimeout(() => console.log('survived'), 60_000);",
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('rejected outside tasks');
    expect(r.stdout).not.toContain('survived');
  });

  it("is left to the process's own listener when it has one", () => {
    const r = runScript(
      "process.on('uncaughtException', (e) => console.log('host saw ' + e.message));\nsetTimeout(() => { throw new Error('host error'); }, 10);\nsetTimeout(() => console.log('survived'), 200);",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('host saw host error');
    expect(r.stdout).toContain('survived');
    expect(r.stderr).toBe('');
  });

  it("a task's own timer firing after it returned is a warning, and the process lives on", () => {
    const r = runScript(
      // The task leaves an interval that throws once the script, after the task returned, says
      // so: the order is fixed by the script, not by how fast the machine runs the timers. The
      // survivor is set before the throw, so printing it shows the process lived on.
      "await watchStrayErrors('late', undefined, async () => { const poll = setInterval(() => { if (globalThis.go) { clearInterval(poll); setTimeout(() => console.log('survived'), 10); throw new Error('late one'); } }, 5); return 1; });\n" +
        'globalThis.go = true;',
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("cellar: warning: task 'late' raised an error after it returned");
    expect(r.stdout).toContain('survived');
  });
});
