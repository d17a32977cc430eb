// A task that fails without an Error's stack still names its cell: a thrown constant (`throw
// { code: 42 }`, `throw undefined`) among other throws names its own line (the value tells the
// throws apart), two throws of values only known at run time name the cell without a line, and
// `process.exit(3)` in a task fails that task with its line instead of ending the worker thread
// ("worker thread exited with code 3", no task code named) or, in-process, the whole run.
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

interface Failed {
  name: string;
  status: string;
  error?: string;
  location?: string;
}

const failures = (stdout: string): Record<string, Failed> =>
  Object.fromEntries(
    (JSON.parse(stdout).tasks as Failed[]).map((t) => [
      t.name,
      { ...t, error: t.error?.split('\n  at ')[0] },
    ]),
  );

describe('where a task failed without a stack', () => {
  const p = project();
  p.write(
    'notebooks/sites.ipynb',
    notebookText([
      codeCell('params', "//| params\nconst mode = 'obj';"),
      codeCell(
        'consts',
        [
          '//| task: consts',
          "if (mode === 'str') throw 'a bare string';",
          "if (mode === 'obj') throw { code: 42 };",
          "if (mode === 'undef') throw undefined;",
          'const s1 = 1;',
        ].join('\n'),
      ),
      codeCell(
        'undef',
        [
          '//| task: undef',
          "if (mode === 'str') throw 'a bare string';",
          "if (mode !== 'str') throw undefined;",
          'const s2 = 1;',
        ].join('\n'),
      ),
      // Values known only at run time, two sites: the cell, no line.
      codeCell(
        'runtime',
        [
          '//| task: runtime',
          'const n = [1, 2].length;',
          "if (mode === 'str') throw { code: n };",
          'throw { code: n + 1 };',
          'const s3 = n;',
        ].join('\n'),
      ),
      codeCell(
        'exits',
        [
          '//| task: exits',
          'const before = 1;',
          "if (mode === 'obj') { process.exit(3); }",
          'const after = before;',
        ].join('\n'),
      ),
    ]),
  );

  for (const runner of [[], ['--in-process']]) {
    it(`names the line of a thrown constant, the cell of an ambiguous throw, the line of process.exit${runner.length ? ' (in-process)' : ' (worker threads)'}`, () => {
      const r = p.cellar('run', 'notebooks/sites.ipynb', '--keep-going', '--json', ...runner);
      expect(r.code, r.stderr).toBe(1);
      const tasks = failures(r.stdout);
      expect(tasks.consts).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: {"code":42}',
        location: 'notebooks/sites.ipynb, cell 2 (id consts), line 3',
      });
      expect(tasks.undef).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: undefined',
        location: 'notebooks/sites.ipynb, cell 3 (id undef), line 3',
      });
      expect(tasks.runtime).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: {"code":3}',
        location: 'notebooks/sites.ipynb, cell 4 (id runtime)',
      });
      expect(tasks.exits!.status).toBe('failed');
      expect(tasks.exits!.error).toMatch(/^process\.exit\(3\) called in task 'exits': /);
      expect(tasks.exits!.location).toBe('notebooks/sites.ipynb, cell 5 (id exits), line 3');
    });
  }
});
