// When a task throws: the run stops (or, with --keep-going, finishes what does not depend on the
// failure), says which task failed and why without a stack trace, exits non-zero, and a fixed
// param re-runs only what failed. Also what a user expects after editing only prose.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  STACK_FRAME,
  codeCell,
  fixtures,
  notebookText,
  project,
  removeProjects,
} from './harness.js';

afterAll(removeProjects);

type TaskSummary = {
  name: string;
  status: string;
  error?: string;
  location?: string;
  because?: { kind: string; task?: string };
};
const byName = (stdout: string) =>
  Object.fromEntries((JSON.parse(stdout).tasks as TaskSummary[]).map((t) => [t.name, t]));

describe('a failing task', () => {
  it('stops the run, or with --keep-going runs the independent branch; --json tells it all', () => {
    const p = project('branches.ipynb');
    const stop = p.cellar('run', 'notebooks/branches.ipynb', '--workers', '1');
    expect(stop.code).toBe(1);
    expect(stop.stdout).toContain('- flaky: flaky failed at n=3');
    expect(stop.stdout).toContain('- after_flaky (upstream flaky failed)');
    expect(stop.stdout + stop.stderr).not.toMatch(STACK_FRAME);

    const going = p.cellar(
      'run',
      'notebooks/branches.ipynb',
      '--workers',
      '1',
      '--keep-going',
      '--json',
    );
    expect(going.code).toBe(1);
    const tasks = byName(going.stdout);
    expect(JSON.parse(going.stdout).ok).toBe(false);
    expect(tasks.flaky).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^flaky failed at n=3(\n|$)/),
    });
    expect(tasks.after_flaky).toMatchObject({
      status: 'not-run',
      because: { kind: 'upstream-failed', task: 'flaky' },
    });
    expect(tasks.total!.status).toBe('ran');
    expect(tasks.numbers!.status).toBe('cached');

    // --verbose is where the stack trace lives, and it points into the generated module.
    const verbose = p.cellar('run', 'notebooks/branches.ipynb', 'flaky', '--verbose');
    expect(verbose.stderr).toMatch(/generated\/branches\/flaky\.ts:\d+:\d+/);

    // Fixing the input re-runs only what failed or never ran.
    const fixed = p.cellar('run', 'notebooks/branches.ipynb', '--param', 'fail=false', '--json');
    expect(fixed.code, fixed.stderr).toBe(0);
    const after = byName(fixed.stdout);
    expect([after.numbers!.status, after.total!.status]).toEqual(['cached', 'cached']);
    expect([after.flaky!.status, after.after_flaky!.status]).toEqual(['ran', 'ran']);
  });

  // The stack frame in the generated module is mapped back to the notebook cell (by its id, in the
  // notebook as it is now) and the line in that cell, counting its `//|` lines as Jupyter shows them.
  it('names the notebook cell and line the error came from', () => {
    const p = project('branches.ipynb');
    const r = p.cellar('run', 'notebooks/branches.ipynb', '--json');
    expect(byName(r.stdout).flaky!.error).toBe(
      'flaky failed at n=3\n  at notebooks/branches.ipynb, cell 3 (id c2), line 2',
    );
    const text = p.cellar('run', 'notebooks/branches.ipynb');
    expect(text.stdout).toContain(
      '- flaky: flaky failed at n=3\n        at notebooks/branches.ipynb, cell 3 (id c2), line 2',
    );
    expect(text.stdout + text.stderr).not.toMatch(STACK_FRAME);

    // A markdown cell added above: the message counts cells as the notebook now has them.
    const nb = JSON.parse(readFileSync(join(fixtures, 'branches.ipynb'), 'utf8'));
    nb.cells.unshift({ cell_type: 'markdown', id: 'intro', metadata: {}, source: ['# Branches'] });
    p.write('notebooks/branches.ipynb', JSON.stringify(nb, null, 1));
    const moved = p.cellar('run', 'notebooks/branches.ipynb', '--json');
    expect(byName(moved.stdout).flaky!.error).toContain(
      'notebooks/branches.ipynb, cell 4 (id c2), line 2',
    );
  });
});

describe('a helper from a setup cell that throws', () => {
  it('names the setup cell and line, not the task that called it', () => {
    const p = project();
    p.write(
      'notebooks/helpers.ipynb',
      notebookText([
        codeCell(
          'helpers',
          'function check(n: number): number {\n  if (n > 2) throw new Error(`too big: ${n}`);\n  return n;\n}',
        ),
        codeCell('use', '//| task: use\nconst y = check(3);'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/helpers.ipynb', '--json');
    expect(r.code).toBe(1);
    const use = byName(r.stdout).use!;
    expect(use.error).toBe('too big: 3\n  at notebooks/helpers.ipynb, cell 1 (id helpers), line 2');
  });
});

describe('editing prose only', () => {
  // Task modules name their cells by id, not position (in `source.cells`, the header and the cell
  // labels), so neither the code-aware key nor the generated text moves when a markdown cell is
  // added above.
  it('a markdown cell added at the top keeps every task cached and every generated file unchanged; a code edit re-runs that task and its downstream', () => {
    const p = project('sales.ipynb');
    expect(p.cellar('run', 'notebooks/sales.ipynb').code).toBe(0);
    const generatedBefore = p.read('generated/sales/totals.ts');
    const nb = JSON.parse(readFileSync(join(fixtures, 'sales.ipynb'), 'utf8'));
    nb.cells.unshift({
      cell_type: 'markdown',
      id: 'note',
      metadata: {},
      source: ['A note for readers.'],
    });
    p.write('notebooks/sales.ipynb', JSON.stringify(nb, null, 1));
    const dry = p.cellar('run', 'notebooks/sales.ipynb', '--dry-run');
    expect(dry.stdout).toContain('0 tasks would run, 3 cached.');
    expect(p.read('generated/sales/totals.ts')).toBe(generatedBefore);

    const totals = nb.cells.find((c: { id: string }) => c.id === 'totals');
    totals.source = [...totals.source, '\nconst unused = 1;'];
    p.write('notebooks/sales.ipynb', JSON.stringify(nb, null, 1));
    const edited = p.cellar('run', 'notebooks/sales.ipynb', '--dry-run', '--json');
    const actions = Object.fromEntries(
      (JSON.parse(edited.stdout).tasks as { name: string; action: string }[]).map((t) => [
        t.name,
        t.action,
      ]),
    );
    expect(actions).toEqual({ generate: 'cached', totals: 'run', report: 'run' });
  });
});

describe('running generated code directly', () => {
  // cli/pipeline-args.ts asks the compiler's record whether the notebook changed since.
  it('`cellar run generated/x/pipeline.ts` after editing the notebook warns that it runs the old code', () => {
    const p = project('sales.ipynb');
    expect(p.cellar('compile').code).toBe(0);
    p.write(
      'notebooks/sales.ipynb',
      readFileSync(join(fixtures, 'sales.ipynb'), 'utf8').replace(
        'const days = 30;',
        'const days = 14;',
      ),
    );
    const r = p.cellar('run', 'generated/sales/pipeline.ts', '--dry-run');
    expect(r.stderr).toContain(
      'notebooks/sales.ipynb has changed since generated/sales/pipeline.ts was compiled',
    );
    // After compiling again, no warning.
    expect(p.cellar('compile').code).toBe(0);
    expect(p.cellar('run', 'generated/sales/pipeline.ts', '--dry-run').stderr).not.toContain(
      'has changed since',
    );
  });
});

describe('values that JSON cannot hold', () => {
  // A Map (or Set, Date, BigInt, typed array…) goes to the structured codec (node:v8), not JSON.
  it('a Map passed from one task to the next arrives intact', () => {
    const p = project();
    p.write(
      'notebooks/maps.ipynb',
      notebookText([
        codeCell('count', "//| task: count\nconst counts = new Map<string, number>([['x', 2]]);"),
        codeCell('use', "//| task: use\nconst x = counts.get('x') ?? -1;"),
      ]),
    );
    const r = p.cellar('run', 'notebooks/maps.ipynb', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(p.cellar('show', 'notebooks/maps.ipynb', 'use', 'x', '--json').stdout)).toBe(
      2,
    );
    // `cellar show --json` prints the Map as the closest JSON (string keys → an object).
    expect(
      JSON.parse(p.cellar('show', 'notebooks/maps.ipynb', 'count', 'counts', '--json').stdout),
    ).toEqual({ x: 2 });
  });
});

describe('messages for small mistakes', () => {
  const notebook = (cells: { id: string; source: string }[]) =>
    notebookText(cells.map((c) => codeCell(c.id, c.source)));

  it('a JSON param given a bare word shows an example JSON value', () => {
    const p = project('sales.ipynb');
    const r = p.cellar('run', 'notebooks/sales.ipynb', '--param', 'regions=north', '--dry-run');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `param 'regions' is JSON, got 'north'; for example --param regions='["north","south","east"]'`,
    );
  });

  it('an output naming an unknown codec names the task and the output, with no stack-trace hint', () => {
    const p = project();
    p.write(
      'notebooks/codec.ipynb',
      notebook([
        { id: 'rows', source: '//| task: rows\n//| output: n=parquet\nconst n = [{ a: 1 }];' },
      ]),
    );
    const r = p.cellar('run', 'notebooks/codec.ipynb');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /task 'rows': output 'n' names codec 'parquet', which is not registered.*\(E_UNKNOWN_CODEC\)/,
    );
    expect(r.stderr).not.toContain('--verbose');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('`cellar show` of a value the task computes but no later task reads says why it is not stored and how to store it', () => {
    const p = project();
    p.write(
      'notebooks/mid.ipynb',
      notebookText([
        '//| task: summary\nconst total = 1 + 2;\nconst capped = Math.min(total, 2);',
        '//| task: report\nconst line = `total=${total}`;',
      ]),
    );
    const r = p.cellar('show', 'notebooks/mid.ipynb', 'summary', 'capped');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("task 'summary' has no output 'capped' (outputs: total)");
    expect(r.stderr).toContain('no later task reads, so it is not stored');
    expect(r.stderr).toContain('`//| output: capped=auto` under `//| task: summary`');
    // The advice works: declared, it is stored and shown.
    p.write(
      'notebooks/mid.ipynb',
      notebookText([
        '//| task: summary\n//| output: capped=auto\nconst total = 1 + 2;\nconst capped = Math.min(total, 2);',
        '//| task: report\nconst line = `total=${total}`;',
      ]),
    );
    expect(p.cellar('run', 'notebooks/mid.ipynb').code).toBe(0);
    const shown = p.cellar('show', 'notebooks/mid.ipynb', 'summary', 'capped', '--json');
    expect(shown.stdout.trim()).toBe('2');
    // A name the task's cells do not declare gets no such advice.
    expect(p.cellar('show', 'notebooks/mid.ipynb', 'summary', 'nosuch').stderr).not.toContain(
      'no later task reads',
    );
  });

  it('`cellar show <nb> <task> nosuch` says the output does not exist, listing the real ones, even before a run', () => {
    const p = project('sales.ipynb');
    const r = p.cellar('show', 'notebooks/sales.ipynb', 'totals', 'nosuch');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "task 'totals' has no output 'nosuch' (outputs: df) (E_UNKNOWN_OUTPUT)",
    );
    expect(p.cellar('show', 'notebooks/sales.ipynb', 'totals', 'dff').stderr).toContain(
      "no output 'dff', did you mean 'df'?",
    );
    expect(r.stderr).not.toContain('no stored result');
    const task = p.cellar('show', 'notebooks/sales.ipynb', 'totls');
    expect(task.stderr).toContain("unknown task 'totls', did you mean 'totals'?");
  });
});

// B6: Node's raw "process.chdir() is not supported in workers" named no task and no way out.
describe('an operation worker threads refuse', () => {
  const p = project();
  mkdirSync(join(p.dir, 'notebooks', 'data'));
  p.write('notebooks/data/t1.txt', 'one\n');
  p.write(
    'notebooks/cd.ipynb',
    notebookText([
      codeCell('imports', "import { readFileSync } from 'node:fs';"),
      codeCell(
        'cd',
        "//| task: cd\nprocess.chdir('data');\nconst t1 = readFileSync('t1.txt', 'utf8').trim();\nprocess.chdir('..');",
      ),
      // Variant: setting the umask is refused on a worker the same way.
      codeCell('mask', '//| task: mask\nconst before = process.umask(0o022);'),
    ]),
  );

  it.each([
    ['cd', 'process.chdir() is not supported in workers', 'line 2'],
    ['mask', 'Setting process.umask() is not supported in workers', 'line 2'],
  ])(
    '%s: names the task, cell and line, and says to pass paths or use --in-process',
    (task, raw, line) => {
      const r = p.cellar('run', 'notebooks/cd.ipynb', task, '--json');
      expect(r.code, r.stderr).toBe(1);
      const failed = (JSON.parse(r.stdout).tasks as TaskSummary[]).find((t) => t.name === task)!;
      expect(failed.status).toBe('failed');
      expect(failed.error).toContain(`${raw}: task '${task}' runs on a worker thread`);
      expect(failed.error).toContain('Pass paths instead');
      expect(failed.error).toContain('--in-process');
      expect(failed.location).toMatch(
        new RegExp(`^notebooks/cd\\.ipynb, cell \\d+ \\(id ${task}\\), ${line}$`),
      );
    },
  );

  it('the fix it names works: --in-process runs the task', () => {
    const r = p.cellar('run', 'notebooks/cd.ipynb', 'cd', '--in-process');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const shown = p.cellar('show', 'notebooks/cd.ipynb', 'cd', 't1', '--json');
    expect(JSON.parse(shown.stdout)).toBe('one');
  });
});

describe('a task awaiting a promise nothing can settle', () => {
  it('in-process: fails by name with E_NEVER_SETTLES, prints the summary and leaves no lock (Node exited 13 with no word)', () => {
    const p = project();
    p.write(
      'notebooks/hang.ipynb',
      notebookText([
        codeCell('ok', '//| task: ok\nconst ok = 1;'),
        codeCell('stuck', '//| task: stuck\nconst v = await new Promise<number>(() => {});'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/hang.ipynb', '--in-process', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = byName(r.stdout);
    expect(tasks.ok!.status).toBe('ran');
    expect(tasks.stuck!.status).toBe('failed');
    expect(tasks.stuck!.error).toContain("task 'stuck' awaits a promise that can never settle");
    expect(tasks.stuck!.error).toContain('E_NEVER_SETTLES');
    const left = readdirSync(join(p.dir, '.cellar'), { recursive: true, encoding: 'utf8' });
    expect(left.filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  it('on a worker thread: fails by name with E_NEVER_SETTLES when its event loop empties, the run goes on and the summary prints (the run hung forever)', () => {
    const p = project();
    p.write(
      'notebooks/hangw.ipynb',
      notebookText([
        codeCell('ok', '//| task: ok\nconst ok = 1;'),
        codeCell('stuck', '//| task: stuck\nconst v = await new Promise<number>(() => {});'),
        codeCell('after', '//| task: after\nconst w = ok + 1;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/hangw.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = byName(r.stdout);
    expect(tasks.ok!.status).toBe('ran');
    expect(tasks.after!.status).toBe('ran');
    expect(tasks.stuck!.status).toBe('failed');
    expect(tasks.stuck!.error).toContain("task 'stuck' awaits a promise that can never settle");
    expect(tasks.stuck!.error).toContain('E_NEVER_SETTLES');
    const left = readdirSync(join(p.dir, '.cellar'), { recursive: true, encoding: 'utf8' });
    expect(left.filter((f) => f.endsWith('.lock'))).toEqual([]);
    const shown = p.cellar('show', 'notebooks/hangw.ipynb', 'stuck', 'v', '--json');
    expect(shown.code).not.toBe(0);
    // The worker is not stuck for the next run either: the task fails again, by name.
    const again = p.cellar('run', 'notebooks/hangw.ipynb', '--keep-going', '--json');
    expect(byName(again.stdout).stuck!.error).toContain('E_NEVER_SETTLES');
  }, 300_000);
});

describe('several tasks awaiting promises nothing can settle, or a setup that does', () => {
  /** Three tasks awaiting forever; `others`: with a task before them and one after. */
  const hangs = (others = true) => {
    const p = project();
    p.write(
      'notebooks/hangs.ipynb',
      notebookText([
        ...(others ? [codeCell('ok', '//| task: ok\nconst ok = 1;')] : []),
        codeCell('h1', '//| task: h1\nconst a = await new Promise<number>(() => {});'),
        codeCell('h2', '//| task: h2\nconst b = await new Promise<number>(() => {});'),
        codeCell('h3', '//| task: h3\nconst c = await new Promise<number>(() => {});'),
        ...(others ? [codeCell('after', '//| task: after\nconst d = ok + 1;')] : []),
      ]),
    );
    return p;
  };
  const noLocks = (p: { dir: string }) =>
    readdirSync(join(p.dir, '.cellar'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.lock'),
    );

  it('in-process, --keep-going: each fails by name, the summary prints (the first failures started the next task, whose wait the loop never came back to: exit 13, no word)', () => {
    // Nothing but the hanging tasks: no other task's I/O keeps the loop turning for the third.
    const p = hangs(false);
    const r = p.cellar('run', 'notebooks/hangs.ipynb', '--in-process', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = byName(r.stdout);
    for (const h of ['h1', 'h2', 'h3']) {
      expect(tasks[h]!.status).toBe('failed');
      expect(tasks[h]!.error).toContain(`task '${h}' awaits a promise that can never settle`);
      expect(tasks[h]!.error).toContain('E_NEVER_SETTLES');
    }
    expect(noLocks(p)).toEqual([]);
    expect(p.cellar('show', 'notebooks/hangs.ipynb', 'h3', 'c', '--json').code).not.toBe(0);
  });

  it('in-process, one at a time and without --keep-going: the first failure stops the run, with the summary', () => {
    const p = hangs();
    const going = p.cellar(
      'run',
      'notebooks/hangs.ipynb',
      '--in-process',
      '--keep-going',
      '--workers',
      '1',
      '--json',
    );
    expect(going.code, going.stderr).toBe(1);
    const tasks = byName(going.stdout);
    for (const h of ['h1', 'h2', 'h3']) expect(tasks[h]!.error).toContain('E_NEVER_SETTLES');
    expect(tasks.ok!.status).toBe('ran');
    expect(tasks.after!.status).toBe('ran');
    const stop = p.cellar('run', 'notebooks/hangs.ipynb', '--in-process');
    expect(stop.code, stop.stderr).toBe(1);
    expect(stop.stdout).toContain("- h1: task 'h1' awaits a promise that can never settle");
    expect(stop.stdout).toContain('(stopped after a failure)');
    expect(stop.stdout).toContain('This run looks :(');
    expect(noLocks(p)).toEqual([]);
  });

  it('on worker threads: each fails by name and the run goes on', () => {
    const p = hangs();
    const r = p.cellar('run', 'notebooks/hangs.ipynb', '--keep-going', '--workers', '2', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = byName(r.stdout);
    for (const h of ['h1', 'h2', 'h3']) expect(tasks[h]!.error).toContain('E_NEVER_SETTLES');
    expect(tasks.after!.status).toBe('ran');
    expect(noLocks(p)).toEqual([]);
  }, 300_000);

  const setup = () => {
    const p = project();
    p.write(
      'notebooks/hangsetup.ipynb',
      notebookText([
        codeCell('s0', 'const base: number = await Promise.resolve(1);'),
        codeCell('s1', 'const x = 1;\nconst cfg: number = await new Promise<number>(() => {});'),
        codeCell('t', '//| task: t\nconst v = cfg + base;'),
      ]),
    );
    return p;
  };

  it.each([
    ['run', '--in-process'],
    ['run', '--workers', '1'],
    ['tree'],
    ['show', 't', 'v'],
    ['build', '--out', 'build'],
    // Before the Jupyter server starts, whose process would keep the load waiting for ever.
    ['verify'],
  ])(
    'a setup cell awaiting forever: `cellar %s` says the setup never settles and names its top-level awaits (exit 13, no word)',
    (command, ...rest) => {
      const p = setup();
      const r = p.cellar(command, 'notebooks/hangsetup.ipynb', ...rest);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(
        'its setup never settles: a top-level await awaits a promise nothing can settle',
      );
      expect(r.stderr).toContain('(E_PIPELINE_LOAD)');
      expect(r.stderr).toContain('at notebooks/hangsetup.ipynb, cell 1 (id s0), line 1');
      expect(r.stderr).toContain('at notebooks/hangsetup.ipynb, cell 2 (id s1), line 2');
      expect(r.stderr).not.toMatch(STACK_FRAME);
    },
    300_000,
  );

  it.each([['run'], ['run', '--json'], ['run', '--dry-run'], ['tree'], ['show', 't', 'v']])(
    'a setup cell calling process.exit(0): `cellar %s` fails with E_PIPELINE_LOAD at its cell and line, never a silent exit 0',
    (command, ...rest) => {
      // A tester's finding: every command printed nothing and exited 0, with nothing run.
      const p = project();
      p.write(
        'notebooks/exits.ipynb',
        notebookText([
          codeCell('s0', 'const k = 1;\nif (k === 1) process.exit(0);'),
          codeCell('t', '//| task: t\nconst v = k;'),
        ]),
      );
      const r = p.cellar(command, 'notebooks/exits.ipynb', ...rest);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain('process.exit(0) called while the pipeline loads');
      expect(r.stderr).toContain('(E_PIPELINE_LOAD)');
      expect(r.stderr).toContain('at notebooks/exits.ipynb, cell 1 (id s0), line 2');
    },
    300_000,
  );

  it('a setup that settles on the main thread but never on a worker: each task fails by name, the run ends (the worker hung, and the run with it)', () => {
    const p = project();
    p.write(
      'notebooks/wsetup.ipynb',
      notebookText([
        codeCell(
          's0',
          "import { isMainThread } from 'node:worker_threads';\nconst cfg: number = await (isMainThread ? Promise.resolve(1) : new Promise<number>(() => {}));",
        ),
        codeCell('t', '//| task: t\nconst v = cfg + 1;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/wsetup.ipynb', '--workers', '1', '--json');
    expect(r.code, r.stderr).toBe(1);
    expect(byName(r.stdout).t!.error).toContain(
      'its setup never settles: a top-level await awaits a promise nothing can settle',
    );
  }, 300_000);

  it('a command left waiting where no task is (a codec decoding in `cellar show`) fails with E_NEVER_SETTLES', () => {
    const p = project();
    p.write(
      'notebooks/codec.ipynb',
      notebookText([
        codeCell(
          'c0',
          "import { registerCodec } from 'cellar';\nregisterCodec({ id: 'forever', version: 1, ext: 'txt', encode: (v: unknown) => ({ bytes: new TextEncoder().encode(String(v)) }), decode: () => new Promise(() => {}) });",
        ),
        codeCell('a', '//| task: a\n//| output: x=forever\nconst x = 1;'),
      ]),
    );
    expect(p.cellar('run', 'notebooks/codec.ipynb', '--in-process').code).toBe(0);
    const r = p.cellar('show', 'notebooks/codec.ipynb', 'a', 'x');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain(
      'cellar show: the command awaits a promise nothing is left to settle',
    );
    expect(r.stderr).toContain('(E_NEVER_SETTLES)');
  });
});

describe('a task failing inside a local module it calls', () => {
  it("names the cell's call and the module's line it was thrown at", () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/parse.ts',
      'export function parse(s: string): number {\n  const n = Number(s);\n  if (Number.isNaN(n)) throw new Error(`not a number: ${s}`);\n  return n;\n}\n',
    );
    p.write(
      'notebooks/calls.ipynb',
      notebookText([
        codeCell('imports', "import { parse } from './lib/parse.ts';"),
        codeCell('t1', '//| task: t1\nconst k = 1;\nconst v = parse("x") + k;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/calls.ipynb', '--json');
    expect(r.code, r.stderr).toBe(1);
    expect(byName(r.stdout).t1!.location).toBe(
      'notebooks/calls.ipynb, cell 2 (id t1), line 3; thrown at notebooks/lib/parse.ts, line 3, column 30',
    );
  });
});
