// Outputs that are not the everyday table or record. `undefined` is storable (README): a task whose
// top-level `const nothing = undefined` (or a `find` that found nothing) is an output stores it,
// and its downstream gets `undefined` back; it used to fail with "did not return output 'nothing'",
// which was untrue. An Error (built-in or not, at the top or nested) is refused naming the task and
// the field, saying to return its message as data or throw it, not "export the class" (no help
// for a built-in); another built-in (a Promise) is refused with what to return instead.
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects, showOutput } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

interface Result {
  name: string;
  status: string;
  error?: string;
  location?: string;
}

const results = (stdout: string): Record<string, Result> =>
  Object.fromEntries((JSON.parse(stdout).tasks as Result[]).map((t) => [t.name, t]));

describe('an output holding undefined', () => {
  const p = project();
  p.write(
    'notebooks/gaps.ipynb',
    notebookText([
      codeCell(
        'make',
        [
          '//| task: make',
          'const nothing = undefined;',
          'const missing: number | undefined = [1, 2].find((x) => x > 5);',
        ].join('\n'),
      ),
      codeCell(
        'use',
        [
          '//| task: use',
          'const report = { nothing: nothing === undefined, missing: missing === undefined, kind: typeof missing };',
        ].join('\n'),
      ),
    ]),
  );

  for (const runner of [[], ['--in-process']]) {
    const how = runner.length ? 'in-process' : 'on worker threads';
    it(`is stored, and its downstream gets undefined back (${how})`, () => {
      const r = p.cellar('run', 'notebooks/gaps.ipynb', '--rerun', 'make+', ...runner);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(showOutput(p, 'notebooks/gaps.ipynb', 'use', 'report')).toEqual({
        nothing: true,
        missing: true,
        kind: 'undefined',
      });
      const shown = p.cellar('show', 'notebooks/gaps.ipynb', 'make', 'nothing');
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout.trim().split('\n').at(-1)).toBe('undefined');
    });
  }
});

describe('an output holding an Error or another built-in', () => {
  const p = project();
  p.write(
    'notebooks/errs.ipynb',
    notebookText([
      codeCell('failure', "//| task: failure\nconst failure = new Error('disk full');"),
      codeCell(
        'result',
        "//| task: result\nconst result = { ok: false, err: new RangeError('too big') };",
      ),
      codeCell('pending', '//| task: pending\nconst pending = { p: Promise.resolve(1) };'),
    ]),
  );

  it('is refused naming the task and field, saying to return its message or throw it', () => {
    const r = p.cellar('run', 'notebooks/errs.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = results(r.stdout);
    expect(tasks.failure!.error).toMatch(
      /^task 'failure', output 'failure': holds an Error, an error object, which is not data a codec stores .*Return what you need of it as data \(`\{ message: err\.message, name: err\.name \}`\), or throw it to fail the task/,
    );
    expect(tasks.result!.error).toMatch(
      /^task 'result', output 'result': holds a RangeError at result\.err, an error object.*Return what you need of it as data/,
    );
    expect(tasks.pending!.error).toMatch(
      /^task 'pending', output 'pending': holds a built-in Promise at pending\.p, which holds no data a codec can store\. Return the data it stands for instead \(`await` a Promise/,
    );
    for (const t of Object.values(tasks)) {
      expect(t.status).toBe('failed');
      expect(t.error).not.toContain('is your own class');
      expect(t.location).toMatch(
        new RegExp(`^notebooks/errs\\.ipynb, cell \\d \\(id ${t.name}\\)`),
      );
    }
  });
});

describe('an output holding a cycle', () => {
  const p = project();
  p.write(
    'notebooks/rings.ipynb',
    notebookText([
      codeCell('circ', "//| task: circ\nconst circ: any = { name: 'x' };\ncirc.self = circ;"),
      codeCell(
        'ring',
        [
          '//| task: ring',
          'const shared = { k: 1 };',
          'const ring: any = { items: [{ id: 1, shared }], byName: new Map<string, any>(), again: shared };',
          'ring.items[0].owner = ring;',
          "ring.byName.set('first', ring.items[0]);",
        ].join('\n'),
      ),
    ]),
  );

  it('is printed by show --json with the cycle marked, as show without --json marks it', () => {
    const run = p.cellar('run', 'notebooks/rings.ipynb');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(showOutput(p, 'notebooks/rings.ipynb', 'circ', 'circ')).toEqual({
      name: 'x',
      self: '[Circular $]',
    });
    const plain = p.cellar('show', 'notebooks/rings.ipynb', 'circ', 'circ');
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('[Circular *1]');
  });

  it('variant: a cycle through an array and a Map names the path it goes back to; a shared value without a cycle prints in full', () => {
    expect(showOutput(p, 'notebooks/rings.ipynb', 'ring', 'ring')).toEqual({
      items: [{ id: 1, shared: { k: 1 }, owner: '[Circular $]' }],
      byName: { first: { id: 1, shared: { k: 1 }, owner: '[Circular $]' } },
      again: { k: 1 },
    });
    const all = p.cellar('show', 'notebooks/rings.ipynb', 'circ', '--json');
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ circ: { name: 'x', self: '[Circular $.circ]' } });
  });
});

// B8: a handle on something open (a Dir, a FileHandle, a stream) got the "your own class / from
// a package" advice, which fits none of them.
describe('an output holding an open handle', () => {
  const p = project();
  p.write('notebooks/x.json', '{}\n');
  p.write(
    'notebooks/handles.ipynb',
    notebookText([
      codeCell(
        'imports',
        "import { createReadStream, opendirSync } from 'node:fs';\nimport { open } from 'node:fs/promises';",
      ),
      codeCell('dir', "//| task: dir\nconst dir = opendirSync('.');"),
      codeCell('fh', "//| task: fh\nconst fh = await open('x.json');"),
      // Variant: a stream, nested in a record.
      codeCell(
        'stream',
        "//| task: stream\nconst src = { name: 'x', body: createReadStream('x.json') };",
      ),
    ]),
  );

  it('is refused naming the task and output, saying to store its path or contents', () => {
    const r = p.cellar('run', 'notebooks/handles.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = results(r.stdout);
    for (const [task, output, what] of [
      ['dir', 'dir', 'holds a Dir,'],
      ['fh', 'fh', 'holds a FileHandle,'],
      ['stream', 'src', 'holds a ReadStream at src.body,'],
    ] as const) {
      const error = tasks[task]!.error!;
      expect(error).toContain(
        `task '${task}', output '${output}': ${what} a handle to an open file`,
      );
      expect(error).toContain('Store what it points at instead: its path');
      expect(error).not.toContain('your own class');
      expect(error).not.toContain('registerModelFormat');
    }
  });
});

describe('an //| output directive naming a codec nobody registered', () => {
  it('is E_UNKNOWN_CODEC naming the notebook, cell and line of the directive', () => {
    const p = project();
    p.write(
      'notebooks/codecs.ipynb',
      notebookText([
        codeCell('ok', '//| task: ok\nconst fine = 1;'),
        codeCell('k', '//| task: k\n//| output: rows=tabel\nconst rows = [{ a: 1 }];'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/codecs.ipynb');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(
      "task 'k': output 'rows' names codec 'tabel', which is not registered, did you mean 'table'?",
    );
    expect(r.stderr).toContain('(E_UNKNOWN_CODEC)');
    expect(r.stderr).toContain('at notebooks/codecs.ipynb, cell 2 (id k), line 2');
  });
});

describe('cellar exec -o outside the project', () => {
  it('prints the path written as an absolute path, inside the project relative to the current folder', () => {
    const p = project();
    p.write(
      'notebooks/small.ipynb',
      notebookText([codeCell('one', '//| task: one\nconst one = 1;')]),
    );
    const outside = join(tmpdir(), `cellar-exec-out-${process.pid}.ipynb`);
    try {
      const r = p.cellar('exec', 'notebooks/small.ipynb', '--prepare-only', '-o', outside);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${outside}`);
      expect(existsSync(outside)).toBe(true);
    } finally {
      rmSync(outside, { force: true });
    }
    const inside = p.cellar(
      'exec',
      'notebooks/small.ipynb',
      '--prepare-only',
      '-o',
      'out/small.ipynb',
    );
    expect(inside.code, inside.stderr).toBe(0);
    expect(inside.stdout).toContain('wrote out/small.ipynb');
  });
});
