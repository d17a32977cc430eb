// After a failed run, `cellar tree` and `cellar run --dry-run` said the task that failed was "never
// run" (a newcomer's finding): it has no stored result, so the plan's reason was `never-run`. The
// user had just watched it fail. Both views now say what its last run came to, read back from the
// run logs: failed, when, and the error's first line; its downstream, not run because of it. A
// failure never makes a task look cached, and once fixed and run, the task is complete again.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects, runStatuses as run } from './harness.js';
import type { Project } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/rows.ipynb';
const LOAD = '//| task: load\nconst rows = [1, 2, 3];';
const REPORT = '//| task: report\nconst text = String(model.length);';
const BROKEN =
  "//| task: train\nconst model = rows.map((r) => {\n  if (r > 2) throw new Error('bad row ' + r);\n  return r;\n});";
const FIXED = '//| task: train\nconst model = rows.map((r) => r * 2);';

function failing(): Project {
  const p = project();
  p.write(NB, notebookText([LOAD, BROKEN, REPORT]));
  const r = p.cellar('run', NB);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('bad row 3');
  return p;
}

const WHEN = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`;

describe('after a failed run', () => {
  it('cellar tree says the task failed in its last run (when, and the first line of the error) and its downstream was not run because of it, not "never run"', () => {
    const p = failing();
    const tree = p.cellar('tree', NB);
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stdout).not.toContain('never run');
    expect(tree.stdout).toMatch(
      new RegExp(
        `\\(FAILED\\) train\\[\\w+\\]\\n.*stale: failed in its last run \\(${WHEN}\\): bad row 3\\n`,
      ),
    );
    expect(tree.stdout).toMatch(
      new RegExp(
        `\\(PENDING\\) report\\[\\w+\\]\\n.*stale: not run in its last run \\(${WHEN}\\): upstream train failed`,
      ),
    );
    // A failure never makes a task look complete.
    expect(tree.stdout).toMatch(/\(COMPLETE\) load/);
    expect(tree.stdout).not.toMatch(/\(COMPLETE\) (train|report)/);

    const json = JSON.parse(p.cellar('tree', NB, '--json').stdout);
    const train = json.tasks.find((t: { name: string }) => t.name === 'train');
    expect(train.status).toBe('pending');
    expect(train.lastRun).toMatchObject({ kind: 'failed', error: 'bad row 3' });
  });

  it('cellar show of the failed task and its downstream says what their last run came to, not only that nothing is stored', () => {
    const p = failing();
    const train = p.cellar('show', NB, 'train');
    expect(train.code).toBe(1);
    expect(train.stderr).toMatch(
      new RegExp(
        `'train' has no stored result for these params and inputs \\(key \\w+\\): it failed in its last run \\(${WHEN}\\): bad row 3\\. \``,
      ),
    );
    expect(train.stderr).toContain('E_NOT_CACHED');
    expect(p.cellar('show', NB, 'report').stderr).toMatch(
      /'report' has no stored result .*: it was not run in its last run \(.*\): upstream train failed/,
    );
  });

  it('cellar run --dry-run says the same, as text and --json, and still counts both as tasks that would run', () => {
    const p = failing();
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).not.toContain('never run');
    expect(dry.stdout).toMatch(
      new RegExp(
        `would run\\s+train\\s+\\w+\\s+failed in its last run \\(${WHEN}\\): bad row 3\\n`,
      ),
    );
    expect(dry.stdout).toMatch(
      new RegExp(
        `would run\\s+report\\s+\\w+\\s+not run in its last run \\(${WHEN}\\): upstream train failed`,
      ),
    );
    expect(dry.stdout).toContain('2 tasks would run, 1 cached.');
    const json = JSON.parse(p.cellar('run', NB, '--dry-run', '--json').stdout);
    const byName = Object.fromEntries(
      json.tasks.map((t: { name: string }) => [t.name, t] as const),
    );
    expect(byName.train.action).toBe('run');
    expect(byName.train.lastRun).toMatchObject({ kind: 'failed', error: 'bad row 3' });
    expect(byName.report.lastRun).toMatchObject({ kind: 'not-run', upstream: 'train' });
    expect(byName.load.lastRun).toBeUndefined();
  });

  it('a task its run was killed under says so, not "never run"; the next run runs it', () => {
    // A tester's finding: after a run was killed (kill -9, a machine lost) while a task ran, the
    // plan called that task "never run". The task kills its own process: the run log's last word
    // of it is its start, as when the machine goes down mid-task.
    const p = project();
    const KILLED = "//| task: train\nprocess.kill(process.pid, 'SIGKILL');\nconst model = rows;";
    p.write(NB, notebookText([LOAD, KILLED, REPORT]));
    expect(p.cellar('run', NB).code).not.toBe(0);
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(
      new RegExp(
        `would run\\s+train\\s+\\w+\\s+started in its last run \\(${WHEN}\\) but did not finish: that run was killed or interrupted, or is still going; nothing of it is stored\\n`,
      ),
    );
    expect(dry.stdout).toMatch(/would run\s+report\s+\w+\s+never run/);
    expect(p.cellar('tree', NB).stdout).toMatch(
      /\(PENDING\) train\[\w+\]\n.*stale: started in its last run/,
    );
    p.write(NB, notebookText([LOAD, FIXED, REPORT]));
    expect(run(p, NB)).toEqual({ load: 'cached', train: 'ran', report: 'ran' });
  });

  it('a task another run is computing now is said to be, with its holder; tree shows it RUNNING', async () => {
    const p = project();
    // The task waits for a file the test writes once it has looked: no timing involved.
    const WAITING =
      "//| task: train\nimport { existsSync } from 'node:fs';\nwhile (!existsSync('go')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);\nconst model = rows;";
    p.write(NB, notebookText([LOAD, WAITING, REPORT]));
    const running = p.cellarAsync('run', NB);
    const lockDir = join(p.dir, '.cellar/workspace/rows/train');
    while (!(existsSync(lockDir) && readdirSync(lockDir).some((f) => f.endsWith('.lock'))))
      await new Promise((r) => setTimeout(r, 50));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(
      new RegExp(
        `would run\\s+train\\s+\\w+\\s+being computed now by another run \\(pid \\d+ on \\S+, since ${WHEN}\\)\\n`,
      ),
    );
    expect(p.cellar('tree', NB).stdout).toMatch(/\(RUNNING\) train\[\w+\]/);
    writeFileSync(join(p.dir, 'notebooks/go'), '');
    expect((await running).code).toBe(0);
    // Its lock is gone with the run: nothing says it is being computed any more. (The task read
    // `go`, so it is keyed on that file and re-runs now that `go` exists: not asserted here.)
    expect(p.cellar('run', NB, '--dry-run').stdout).not.toContain('being computed');
  });

  it('once fixed, the plan says the failure was under other inputs; once run, the task is complete and no longer reported failed', () => {
    const p = failing();
    p.write(NB, notebookText([LOAD, FIXED, REPORT]));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(
      /would run\s+train\s+\w+\s+failed in its last run \([^)]*\): bad row 3; its inputs changed since \(key \w+ then\)/,
    );
    expect(run(p, NB)).toEqual({ load: 'cached', train: 'ran', report: 'ran' });
    const tree = p.cellar('tree', NB);
    expect(tree.stdout).not.toMatch(/FAILED|failed|never run/);
    expect(tree.stdout).toMatch(/\(COMPLETE\) train/);
    expect(tree.stdout).toMatch(/\(COMPLETE\) report/);

    // Broken again: the failure is the newest run's, the earlier success
    // does not hide it; and the run after that which only re-ran `load` does not either.
    p.write(NB, notebookText([LOAD, BROKEN, REPORT]));
    expect(p.cellar('run', NB).code).toBe(1);
    expect(p.cellar('run', NB, 'load').code).toBe(0);
    expect(p.cellar('run', NB, '--dry-run').stdout).toMatch(
      /would run\s+train\s+\w+\s+inputs changed since key \w+; failed in its last run \([^)]*\): bad row 3\n/,
    );
  });
});
