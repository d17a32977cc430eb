// Errors a task raises where no `await` reaches them must fail that task, not pass it, end the
// worker thread, or end the whole run: a promise rejected with no handler (`Promise.reject(err)`
// left standing, an async helper called without `await`), and an exception thrown from a
// callback (a zero-delay `setTimeout`, an EventEmitter handler). Each failure names the task, what
// happened and the fix, and points at the notebook cell and line that threw; its downstream task
// is not run. On worker threads and in-process alike.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

interface Result {
  name: string;
  status: string;
  error?: string;
  location?: string;
  because?: unknown;
}

const results = (stdout: string): Record<string, Result> =>
  Object.fromEntries(
    (JSON.parse(stdout).tasks as Result[]).map((t) => [
      t.name,
      { ...t, error: t.error?.split('\n  at ')[0] },
    ]),
  );

describe('errors no await reaches', () => {
  const p = project();
  p.write(
    'notebooks/stray.ipynb',
    notebookText([
      codeCell('setup', "import { EventEmitter } from 'node:events';"),
      codeCell('params', "//| params\nconst mode = 'reject';"),
      codeCell(
        'fire',
        [
          '//| task: fire',
          "if (mode === 'reject') { Promise.reject(new Error('quota exceeded')); }",
          "if (mode === 'timer') { setTimeout(() => { throw new Error('late parse failure'); }, 0); }",
          "const late = async () => { await null; throw new Error('helper gave up'); };",
          "if (mode === 'helper') { late(); }",
          'const bus = new EventEmitter();',
          "bus.on('row', (r: number) => { if (r > 1) throw new Error(`bad row ${r}`); });",
          "if (mode === 'event') { setImmediate(() => bus.emit('row', 2)); }",
          'const fired = 1;',
        ].join('\n'),
      ),
      codeCell('after', '//| task: after\nconst next = fired + 1;'),
    ]),
  );

  const cases = [
    {
      mode: 'reject',
      error:
        "a promise rejected with no handler in task 'fire' (an un-awaited call or `Promise.reject`): quota exceeded. Await the promise",
      line: 2,
    },
    {
      mode: 'timer',
      error:
        "an exception thrown from a callback in task 'fire' (a timer or an event handler): late parse failure. Wrap the callback in a promise the task awaits",
      line: 3,
    },
    {
      mode: 'helper',
      error:
        "a promise rejected with no handler in task 'fire' (an un-awaited call or `Promise.reject`): helper gave up.",
      line: 4,
    },
    {
      mode: 'event',
      error:
        "an exception thrown from a callback in task 'fire' (a timer or an event handler): bad row 2.",
      line: 7,
    },
  ];
  for (const runner of [[], ['--in-process']]) {
    const how = runner.length ? 'in-process' : 'on worker threads';
    it.each(cases)(`fails the task naming it, the cell and the line: $mode (${how})`, (c) => {
      const r = p.cellar(
        'run',
        'notebooks/stray.ipynb',
        '--param',
        `mode=${c.mode}`,
        '--json',
        ...runner,
      );
      expect(r.code, r.stderr).toBe(1);
      const tasks = results(r.stdout);
      expect(tasks.fire!.status).toBe('failed');
      expect(tasks.fire!.error).toContain(c.error);
      expect(tasks.fire!.location).toBe(`notebooks/stray.ipynb, cell 3 (id fire), line ${c.line}`);
      expect(tasks.after!.status).toBe('not-run');
    });
  }

  it('passes when nothing is left unhandled', () => {
    const r = p.cellar('run', 'notebooks/stray.ipynb', '--param', 'mode=none');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

// When a task's timer fires is ordered by files, never by delays: a timer that must fire after
// its task returned could fire before on a loaded machine (a 20 ms timer under a 19 ms stall).

/**
 * Cell code for a task that leaves a timer throwing `message` once `marker` exists, and writes
 * `thrown` just before. It never throws on its first tick: that one is due before the watcher's
 * zero-delay wait after the task returned (set earlier, same delay), so a later tick is always
 * after the task counted as returned, however slow the machine.
 */
function throwsOnceMarked(marker: string, thrown: string, message: string): string {
  return [
    "import { existsSync as markerExists, writeFileSync as writeMarker } from 'node:fs';",
    'let ticks = 0;',
    'const tick = (): void => {',
    `  if (ticks++ > 0 && markerExists(${JSON.stringify(marker)})) { writeMarker(${JSON.stringify(thrown)}, ''); throw ${message}; }`,
    '  setTimeout(tick, 5);',
    '};',
    'setTimeout(tick, 0);',
  ].join('\n');
}

/** Cell code that writes `marker`, then waits for `thrown` (polling the file system). */
function marksThenWaits(marker: string, thrown: string): string {
  return [
    "import { existsSync as thrownExists, writeFileSync as writeStart } from 'node:fs';",
    `writeStart(${JSON.stringify(marker)}, '');`,
    `while (!thrownExists(${JSON.stringify(thrown)})) await new Promise((r) => setTimeout(r, 10));`,
  ].join('\n');
}

describe('an error a task raises after it returned', () => {
  it('is a warning naming the task and its cell, not a raw stack; the result computed before stands', () => {
    const p = project();
    const [marker, thrown] = [join(p.dir, 'slow-started'), join(p.dir, 'thrown')];
    p.write(
      'notebooks/late.ipynb',
      notebookText([
        codeCell(
          'late',
          `//| task: late\nconst early = 1;\n${throwsOnceMarked(marker, thrown, "new Error('late throw after task end')")}`,
        ),
        // Starts once `late` returned (it reads `early`); its marker lets `late`'s timer throw.
        codeCell(
          'slow',
          `//| task: slow\n${marksThenWaits(marker, thrown)}\nconst later = early + 1;`,
        ),
      ]),
    );
    const r = p.cellar('run', 'notebooks/late.ipynb', '--json', '--in-process');
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(results(r.stdout)).map((t) => t.status)).toEqual(['ran', 'ran']);
    expect(r.stderr).toContain(
      "cellar: warning: task 'late' (notebooks/late.ipynb, cell 1) raised an error after it returned, from a timer or callback it left: late throw after task end. Its result was computed before the error and stands.",
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("variant: a string thrown from a timer a setup helper set is the calling task's, not the task running then", () => {
    const p = project();
    const [marker, thrown] = [join(p.dir, 'slow-started'), join(p.dir, 'thrown')];
    p.write(
      'notebooks/late.ipynb',
      notebookText([
        // The helper sets the timer: its code is the setup cell's, its call is `late`'s.
        codeCell(
          'setup',
          throwsOnceMarked(marker, thrown, "'string boom'").replace(
            /\nlet ticks/,
            '\nfunction later(): void {\nlet ticks',
          ) + '\n}',
        ),
        codeCell('late', '//| task: late\nconst early = 1;\nlater();'),
        codeCell(
          'slow',
          `//| task: slow\n${marksThenWaits(marker, thrown)}\nconst later2 = early + 1;`,
        ),
      ]),
    );
    const r = p.cellar('run', 'notebooks/late.ipynb', '--json', '--in-process');
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(results(r.stdout)).map((t) => t.status)).toEqual(['ran', 'ran']);
    expect(r.stderr).toContain(
      "cellar: warning: task 'late' (notebooks/late.ipynb, cell 2) raised an error after it returned, from a timer or callback it left: string boom.",
    );
  });
});

describe('an error a task raises after it returned, while no task runs', () => {
  // The task's timer fires after the run's last task (in-process) or while its worker thread is
  // idle (another thread runs `slow`): before, the first ended the process with a raw stack after
  // the summary (exit 1), the second ended the thread without a word.
  const warning =
    "cellar: warning: task 'late' (notebooks/late.ipynb, cell 1) raised an error after it returned, from a timer or callback it left: boom between tasks.";
  const lateCell = (marker: string, thrown: string) =>
    codeCell(
      'late',
      `//| task: late\nconst early = 1;\n${throwsOnceMarked(marker, thrown, "new Error('boom between tasks')")}`,
    );

  it('in-process, a timer or interval left pending when the run ends does not keep the process: a note, exit 0', () => {
    // Before, an interval a task left kept `cellar run --in-process` alive for ever after its
    // summary (on worker threads the pool ends the threads). The run now ends its process.
    const p = project();
    p.write(
      'notebooks/late.ipynb',
      notebookText([
        codeCell(
          'late',
          "//| task: late\nconst early = 1;\nsetInterval(() => { throw new Error('never'); }, 3_600_000);",
        ),
      ]),
    );
    const r = p.cellar('run', 'notebooks/late.ipynb', '--in-process');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'cellar: note: task code left 1 timer pending when the run ended; it is stopped with the run',
    );
    expect(r.stdout).toContain('1 ran successfully');
  });

  it('on an idle worker thread: a warning, and the thread lives on', () => {
    const p = project();
    const [marker, thrown] = [join(p.dir, 'slow-started'), join(p.dir, 'thrown')];
    // `late` and `slow` are ready at once: each gets its own thread. `slow` holds the run until
    // `late`'s timer threw on its thread, idle since `late` returned.
    p.write(
      'notebooks/late.ipynb',
      notebookText([
        lateCell(marker, thrown),
        codeCell('slow', `//| task: slow\n${marksThenWaits(marker, thrown)}\nconst s = 2;`),
        codeCell('after', '//| task: after\nconst t = early + s;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/late.ipynb', '--json', '--workers', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(results(r.stdout)).map((t) => t.status)).toEqual(['ran', 'ran', 'ran']);
    expect(r.stderr).toContain(warning);
  });
});
