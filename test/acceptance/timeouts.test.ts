// `//| timeout` and `//| retries` (a task's `timeoutMs` and `retries`). Before: nothing bounded an
// attempt, so a task stuck in a busy loop, or awaiting what stays pending while something else
// keeps its thread alive (an interval, a socket that never answers), held `cellar run`, a built
// bundle or a `cellar worker` forever. Now the attempt fails with E_TASK_TIMEOUT naming the task
// and its limit, its worker thread is stopped (busy or waiting), nothing of it is stored, retries
// apply, and the rest of the run goes on. None of these tests depends on the machine's speed: the
// tasks that must time out never finish, and the ones that must not finish at once under a
// ten-minute limit.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects } from './harness.js';
import type { Project } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/t.ipynb';

interface TaskLine {
  name: string;
  status: string;
  error?: string;
}

function runJson(p: Project, ...flags: string[]): { code: number; tasks: Map<string, TaskLine> } {
  const r = p.cellar('run', NB, '--json', ...flags);
  const out = JSON.parse(r.stdout) as { tasks: TaskLine[] };
  return { code: r.code, tasks: new Map(out.tasks.map((t) => [t.name, t])) };
}

/** The manifests stored for `task` (a finished, committed result has one). */
function manifests(p: Project, task: string): string[] {
  const folder = join(p.dir, '.cellar', 'workspace', 't', task);
  return existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.manifest.json')) : [];
}

describe('a task past its `//| timeout`', () => {
  it('busy, or waiting on a promise an interval keeps pending: each attempt fails with E_TASK_TIMEOUT, retries apply, nothing is stored, and the other tasks run', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { appendFileSync } from 'node:fs';",
        '//| task: fast\nconst a = 1;',
        '//| task: spin\n//| timeout: 1s\nconst b = a + 1;\nwhile (b > 0) {}',
        // An interval keeps the thread's loop alive, so this is no E_NEVER_SETTLES: only a limit ends it.
        "//| task: waits\n//| timeout: 300ms\n//| retries: 1\nappendFileSync('attempts.log', 'attempt\\n');\nconst c = await new Promise<number>(() => { setInterval(() => {}, 1000); });",
        '//| task: roomy\n//| timeout: 10m\nconst d = a + 10;',
        '//| task: down\nconst e = b + 1;',
      ]),
    );
    const first = runJson(p, '--keep-going');
    expect(first.code).toBe(1);
    const status = Object.fromEntries([...first.tasks].map(([n, t]) => [n, t.status]));
    expect(status).toEqual({
      fast: 'ran',
      spin: 'failed',
      waits: 'failed',
      roomy: 'ran',
      down: 'not-run',
    });
    expect(first.tasks.get('spin')!.error).toContain(
      "task 'spin' ran longer than its timeout of 1s (timeoutMs: 1000): its thread was stopped",
    );
    expect(first.tasks.get('spin')!.error).toContain('E_TASK_TIMEOUT');
    expect(first.tasks.get('waits')!.error).toContain('timeout of 300ms (timeoutMs: 300)');
    // Two attempts of `waits`: the first and its one retry.
    expect(p.read('notebooks/attempts.log')).toBe('attempt\nattempt\n');
    expect(manifests(p, 'spin')).toEqual([]);
    expect(manifests(p, 'waits')).toEqual([]);
    expect(manifests(p, 'roomy')).toHaveLength(1);
    // Nothing was stored, so the next run tries them again; the finished ones stay cached.
    const again = runJson(p, '--keep-going');
    expect(again.tasks.get('spin')!.status).toBe('failed');
    expect(again.tasks.get('fast')!.status).toBe('cached');
    expect(again.tasks.get('roomy')!.status).toBe('cached');
  });

  it("the limit counts from the task's start: a worker thread's loading of a slow setup is no part of it", () => {
    const p = project();
    // The setup takes 3 s on every thread that loads the pipeline (Atomics.wait: no faster on a
    // fast machine); the task itself is instant under a 2 s limit. Counted from the job's post, a
    // new thread's load alone would pass the limit.
    p.write(
      NB,
      notebookText([
        'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);\nconst base = 1;',
        '//| task: quick\n//| timeout: 2s\nconst q = base + 1;',
      ]),
    );
    const r = runJson(p);
    expect(r.tasks.get('quick')).toMatchObject({ status: 'ran' });
    expect(r.code).toBe(0);
  });

  it('variant, --in-process: the wait ends with E_TASK_TIMEOUT saying the code could not be stopped; the attempt, ending later while the run goes on, writes nothing', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        // Ends by itself after 1.5 s, long past its limit, while `other` keeps the run going.
        '//| task: waits\n//| timeout: 300ms\nconst c = await new Promise<number>((r) => setTimeout(() => r(5), 1500));',
        '//| task: other\nconst d = await new Promise<number>((r) => setTimeout(() => r(2), 3000));',
      ]),
    );
    const r = runJson(p, '--keep-going', '--in-process');
    expect(r.code).toBe(1);
    expect(r.tasks.get('other')!.status).toBe('ran');
    expect(r.tasks.get('waits')!.error).toContain(
      'run in process, its code could not be stopped and may still be running',
    );
    expect(r.tasks.get('waits')!.error).toContain('E_TASK_TIMEOUT');
    expect(manifests(p, 'waits')).toEqual([]);
    // The abandoned attempt, ending while the run went on, wrote no output file either.
    const folder = join(p.dir, '.cellar', 'workspace', 't', 'waits');
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
  });
});

describe('`//| timeout` and `//| retries` written wrong', () => {
  it.each([
    ['//| timeout: 10', '`timeout` needs a number and a unit (ms, s, m or h), got "10"'],
    ['//| timeout: ten minutes', '`timeout` needs a number and a unit'],
    ['//| timeout: 0s', '`timeout` must be more than 0 and at most 596h'],
    ['//| timeout: 600h', '`timeout` must be more than 0 and at most 596h'],
    ['//| retries: two', '`retries` needs a whole number of extra attempts, got "two"'],
    ['//| retries: -1', '`retries` needs a whole number of extra attempts, got "-1"'],
  ])('%s: the compile fails naming the notebook, cell and line', (directive, message) => {
    const p = project();
    p.write(NB, notebookText(['const a = 1;', `//| task: t\n${directive}\nconst b = a + 1;`]));
    const r = p.cellar('compile', NB);
    expect(r.code).toBe(1);
    const text = r.stdout + r.stderr;
    expect(text).toContain(message);
    expect(text).toMatch(/notebooks\/t\.ipynb.*cell 2.*line 2/);
  });

  it('on a cell that is not a task: E_DIRECTIVE_CONFLICT names the directive', () => {
    const p = project();
    p.write(NB, notebookText(['//| timeout: 1m\nconst a = 1;', '//| task: t\nconst b = a + 1;']));
    const r = p.cellar('compile', NB);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/`timeout` only applies to task cells/);
  });
});
