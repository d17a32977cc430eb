// A task that throws something other than an Error (`throw 'text'`, `throw {code: 1}`, a promise
// rejected with a plain value) still names the notebook cell and line, and its message shows the
// value, never `[object Object]` (shared case bug19). Such values have no stack: the CLI finds the
// throw in the task's code (cli/failure-location.ts `thrownValueLocation`).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

const notebook = (cells: { id: string; source: string }[]) =>
  JSON.stringify({
    cells: cells.map((c) => ({
      cell_type: 'code',
      id: c.id,
      metadata: {},
      execution_count: null,
      outputs: [],
      source: c.source,
    })),
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  });

interface Failed {
  name: string;
  status: string;
  error?: string;
  location?: string;
}

describe('a thrown value that is not an Error', () => {
  const p = project();
  p.write(
    'notebooks/throws.ipynb',
    notebook([
      {
        id: 'setup',
        source: 'function refuse(reason: string): never {\n  throw { reason, code: 7 };\n}',
      },
      {
        id: 'text',
        source:
          "//| task: text\nconst mode: string = 'strict';\n\nif (mode === 'strict') throw 'strict mode refuses partial data';\nconst a = 1;",
      },
      {
        id: 'object',
        source:
          "//| task: object\nconst rows: number[] = [];\nif (rows.length === 0) throw { code: 1, why: 'no rows' };\nconst b = rows;",
      },
      {
        id: 'rejected',
        source:
          "//| task: rejected\nconst items = ['x'];\n// a rejection, not a throw\nawait Promise.reject('nothing to do');\nconst c = items;",
      },
      { id: 'helper', source: "//| task: helper\nconst d = 2;\nrefuse('quota');\nconst e = d;" },
      {
        id: 'twice',
        source:
          '//| task: twice\nconst flag = Math.max(1, 2);\nif (flag > 5) throw { code: 2 };\nif (flag > 1) throw { code: 3 };\nconst f = flag;',
      },
      {
        id: 'any',
        source:
          "//| task: any\nconst mirrors = ['one', 'two'];\nconst first = await Promise.any(mirrors.map(async (m) => { throw new Error(`mirror ${m} is down`); }));\nconst g = first;",
      },
    ]),
  );
  for (const runner of [[], ['--in-process']]) {
    it(`names the cell and line, and shows the value${runner.length ? ' (in-process)' : ' (worker threads)'}`, () => {
      const r = p.cellar('run', 'notebooks/throws.ipynb', '--keep-going', '--json', ...runner);
      expect(r.code).toBe(1);
      // --json's `error` ends with the location too (`…\n  at <location>`): compare the message alone.
      const tasks = Object.fromEntries(
        (JSON.parse(r.stdout).tasks as Failed[]).map((t) => [
          t.name,
          { ...t, error: t.error?.split('\n  at ')[0] },
        ]),
      );
      expect(tasks.text).toMatchObject({
        status: 'failed',
        error: 'strict mode refuses partial data',
        location: 'notebooks/throws.ipynb, cell 2 (id text), line 4',
      });
      expect(tasks.object).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: {"code":1,"why":"no rows"}',
        location: 'notebooks/throws.ipynb, cell 3 (id object), line 3',
      });
      expect(tasks.rejected).toMatchObject({
        status: 'failed',
        error: 'nothing to do',
        location: 'notebooks/throws.ipynb, cell 4 (id rejected), line 4',
      });
      // Thrown inside a setup-cell helper: the helper's line (the task's own module throws nothing).
      expect(tasks.helper).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: {"reason":"quota","code":7}',
        location: 'notebooks/throws.ipynb, cell 1 (id setup), line 2',
      });
      // Two candidate throws: the constant value thrown tells them apart.
      expect(tasks.twice).toMatchObject({
        status: 'failed',
        error: 'non-Error value thrown: {"code":3}',
        location: 'notebooks/throws.ipynb, cell 6 (id twice), line 4',
      });
      // A tester's finding: Promise.any's AggregateError said only "All promises were rejected",
      // with no line: now its reasons, and the line of the first.
      expect(tasks.any).toMatchObject({
        status: 'failed',
        error: 'All promises were rejected (2): [1] mirror one is down; [2] mirror two is down',
        location: 'notebooks/throws.ipynb, cell 7 (id any), line 3',
      });
      for (const t of Object.values(tasks)) expect(t.error).not.toContain('[object Object]');
    });
  }

  it('the summary a person reads shows the location under the failure', () => {
    const r = p.cellar('run', 'notebooks/throws.ipynb', 'text');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /- text: strict mode refuses partial data\n\s+at notebooks\/throws\.ipynb, cell 2 \(id text\), line 4/,
    );
  });
});

describe('a thrown value that is not an Error, away from the cell that failed', () => {
  // A tester's findings: thrown in a local module (after an await, or synchronously), in a timer's
  // callback, or a rejection through an executor's `rej` inside Promise.all named only the cell.
  const p = project();
  mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
  p.write(
    'notebooks/lib/h.ts',
    "export async function check(n: number): Promise<number> {\n  await Promise.resolve();\n  if (n > 0) throw { code: 'E_X' };\n  return n;\n}\n",
  );
  p.write('notebooks/lib/n.ts', 'export function nope(): never {\n  throw null;\n}\n');
  p.write(
    'notebooks/away.ipynb',
    notebook([
      {
        id: 'imports',
        source: "import { check } from './lib/h.ts';\nimport { nope } from './lib/n.ts';",
      },
      { id: 'module', source: '//| task: module\nconst a = await check(1);' },
      { id: 'sync', source: '//| task: sync\nconst b = 1;\nnope();\nconst c = b;' },
      {
        id: 'timer',
        source:
          "//| task: timer\nconst d = 1;\nawait new Promise((done) => setTimeout(() => {\n  throw 'late str';\n}, 1));\nconst e = d;",
      },
      {
        id: 'all',
        source:
          "//| task: all\nconst sizes = [1, 2];\nconst f = await Promise.all(\n  sizes.map((n) => new Promise((res, rej) => (n > 1 ? rej('too big') : res(n)))),\n);",
      },
    ]),
  );
  it('names the module line, or the cell and line of the timer or the rejection', () => {
    const r = p.cellar('run', 'notebooks/away.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = Object.fromEntries(
      (JSON.parse(r.stdout).tasks as Failed[]).map((t) => [
        t.name,
        { ...t, error: t.error?.split('\n  at ')[0] },
      ]),
    );
    expect(tasks.module).toMatchObject({
      error: 'non-Error value thrown: {"code":"E_X"}',
      location: 'notebooks/away.ipynb, cell 2 (id module); thrown at notebooks/lib/h.ts, line 3',
    });
    expect(tasks.sync).toMatchObject({
      error: 'non-Error value thrown: null',
      location: 'notebooks/away.ipynb, cell 3 (id sync); thrown at notebooks/lib/n.ts, line 2',
    });
    expect(tasks.timer?.error).toContain('late str');
    expect(tasks.timer?.location).toBe('notebooks/away.ipynb, cell 4 (id timer), line 4');
    expect(tasks.all).toMatchObject({
      error: 'too big',
      location: 'notebooks/away.ipynb, cell 5 (id all), line 4',
    });
  });
});
