// A task's write to process.env is its own (runtime/run/read-record.ts `undoEnvWrites`): undone
// as the task ends, so no other task computes with a value its key does not hold (a stale cache
// hit in a later run), with a warning naming the task, the variable and the way out. Through the
// real CLI, on one worker thread and in process.
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects, runStatuses, showOutput } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/env.ipynb';

describe("a task's process.env writes are undone as it ends", () => {
  for (const mode of [['--workers', '1'], ['--in-process']]) {
    it(`a helper setting a variable in one task is not seen by the next (${mode.join(' ')})`, () => {
      const p = project();
      p.write(
        NB,
        notebookText([
          'function setEnv(v: string) { process.env.T28_MODE = v; }',
          '//| task: a\n//| output: seenInA=json\nsetEnv("fast");\nconst seenInA = process.env.T28_MODE ?? "unset";',
          '//| task: b\n//| output: seenInB=json\nconst after = seenInA.length;\nconst seenInB = process.env.T28_MODE ?? "unset";',
        ]),
      );
      p.setEnv('T28_MODE', undefined);
      const r = p.cellar('run', NB, '--json', ...mode);
      expect(r.code, r.stderr).toBe(0);
      // A computes with its own value; B sees the environment the run started with.
      expect(showOutput(p, NB, 'a', 'seenInA')).toBe('fast');
      expect(showOutput(p, NB, 'b', 'seenInB')).toBe('unset');
      expect(r.stderr).toMatch(
        /warning: task 'a' .*sets process\.env\.T28_MODE.*undone when the task ends.*make it a param/,
      );
      expect(runStatuses(p, NB, ...mode)).toEqual({ a: 'cached', b: 'cached' });
      // Set in the shell, B sees it (and is keyed on it: re-runs).
      p.setEnv('T28_MODE', 'slow');
      expect(runStatuses(p, NB, ...mode).b).toBe('ran');
      expect(showOutput(p, NB, 'b', 'seenInB')).toBe('slow');
      expect(showOutput(p, NB, 'a', 'seenInA')).toBe('fast');
    });
  }

  it("a task setting TZ computes in that zone; the next task computes in the run's zone (TZ put back resets the date cache)", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        'const T = Date.UTC(2024, 0, 1, 0, 0, 0);',
        "//| task: tokyo\nprocess.env.TZ = 'Asia/Tokyo';\nconst tokyoHour = new Date(T).getHours();",
        '//| task: here\nconst dep = tokyoHour;\nconst hereHour = new Date(T).getHours();',
      ]),
    );
    p.setEnv('TZ', 'UTC');
    const r = p.cellar('run', NB, '--json', '--in-process');
    expect(r.code, r.stderr).toBe(0);
    expect(showOutput(p, NB, 'tokyo', 'tokyoHour')).toBe(9);
    expect(showOutput(p, NB, 'here', 'hereHour')).toBe(0);
    expect(r.stderr).toMatch(/warning: task 'tokyo' .*sets process\.env\.TZ/);
  });

  it('structuredClone(process.env) in a task copies the environment, keyed as a listing', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import v8 from 'node:v8';",
        '//| task: copy\n//| output: mode=json\n//| output: bytes=json\nconst env = structuredClone(process.env);\nconst mode = env.T28_MODE ?? "unset";\nconst bytes = v8.deserialize(v8.serialize(process.env)).T28_MODE ?? "unset";',
      ]),
    );
    p.setEnv('T28_MODE', 'one');
    for (const mode of [[], ['--in-process']]) {
      const r = p.cellar('run', NB, '--json', ...mode);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(showOutput(p, NB, 'copy', 'mode')).toBe('one');
    expect(showOutput(p, NB, 'copy', 'bytes')).toBe('one');
    expect(runStatuses(p, NB).copy).toBe('cached');
    // Keyed on the whole environment (a listing): a changed variable re-runs it.
    p.setEnv('T28_MODE', 'two');
    expect(runStatuses(p, NB).copy).toBe('ran');
    expect(showOutput(p, NB, 'copy', 'mode')).toBe('two');
  });
});
