// Warehouse reads a cached result must follow, however the task reaches the warehouse. The real
// CLI runs real notebooks on a real DuckDB file; another program (DuckDB's own Node client, no
// cellar involved) changes the file between runs; each test asserts the value `cellar show`
// gives afterwards.
// - Table names resolve as DuckDB resolves them (case-insensitive, `main` when unqualified).
// - A macro redefined by another program re-runs the tasks whose SQL may call it.
// - A table replaced by a sibling task while the reader ran: the reader's result is not stored
//   under a key naming the old table, and the run warns, naming both tasks.
// - SQL run only through a helper (a local module's, a module it imports, a setup-cell
//   function): the tables it read and the warehouse's identity enter the task's key from the
//   run after the one that first saw the query, and that run is not answered from a warm-run record.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  codeCell,
  project,
  removeProjects,
  runStatuses,
  showOutput,
  tslabNotebook,
  type Project,
} from './harness.js';

afterAll(removeProjects);

/** Another program writing the warehouse file. */
const OUTSIDE = `import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(process.argv[2]);
const c = await db.connect();
for (const s of process.argv[3].split(';').map((x) => x.trim()).filter(Boolean)) await c.run(s);
c.closeSync();
db.closeSync();
`;

function outside(p: Project, file: string, sqlText: string): void {
  const r = p.run(process.execPath, ['outside.mjs', file, sqlText]);
  expect(r.code, r.stderr).toBe(0);
}

function warehouseProject(file = 'warehouse.duckdb'): Project {
  const p = project();
  p.write('outside.mjs', OUTSIDE);
  p.setEnv('CELLAR_DUCKDB_PATH', file);
  p.setEnv('CELLAR_SEED', '0');
  return p;
}

const HELPER = `import { sql } from 'cellar';
export async function qualifiedSum(): Promise<number> {
  const r = await sql<{ s: number }>\`SELECT SUM(v) AS s FROM main.t\`;
  return Number(r[0]!.s);
}
export async function unqualifiedSum(): Promise<number> {
  const r = await sql<{ s: number }>\`SELECT SUM(v) AS s FROM t\`;
  return Number(r[0]!.s);
}
`;

describe('one warehouse wherever cellar is started from', () => {
  // A newcomer's finding: the keys were computed against the warehouse of the folder cellar was
  // started in (a DuckDB file made there, never seeded), the tasks against the project's: from
  // another folder every SQL task re-ran, "changed while it ran", on every run.
  it("a run from outside the project keys and queries the project's warehouse (cellar.config.json's), making nothing where it was started", () => {
    const p = project();
    p.write(
      'cellar.config.json',
      JSON.stringify({ warehouse: { dialect: 'duckdb', duckdb: { seed: false } } }),
    );
    p.write(
      'notebooks/wh.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell(
            'make',
            '//| task: make\nconst made = await sql`CREATE OR REPLACE TABLE items AS SELECT 1 AS n UNION ALL SELECT 2`;',
          ),
          codeCell(
            'total',
            '//| task: total\nconst rows = await sql`SELECT sum(n) AS s FROM items`;\nconst s = Number(rows[0].s) + made.length;',
          ),
        ]),
      ),
    );
    // The first run discovers what `total` reads; the second files it under a key holding it.
    runStatuses(p, 'notebooks/wh.ipynb');
    runStatuses(p, 'notebooks/wh.ipynb');
    expect(runStatuses(p, 'notebooks/wh.ipynb')).toEqual({ make: 'cached', total: 'cached' });
    const outsideDir = `../outside-${basename(p.dir)}`;
    mkdirSync(join(p.dir, outsideDir));
    const notebook = join(p.dir, 'notebooks', 'wh.ipynb');
    // Down the full path (no warm-run record), so the keys are computed from out there.
    rmSync(join(p.dir, '.cellar', 'cache', 'warm'), { recursive: true, force: true });
    const dry = p.cellarIn(outsideDir, 'run', notebook, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('0 tasks would run, 2 cached.');
    const run = p.cellarIn(outsideDir, 'run', notebook, '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'cached',
      'cached',
    ]);
    expect(existsSync(join(p.dir, outsideDir, '.cellar'))).toBe(false);
    expect(showOutput(p, 'notebooks/wh.ipynb', 'total', 's')).toBe(3);
  });
});

describe('SQL run only through a helper the task module does not show', () => {
  // The run that first sees such a task query marks it (tasks/reads.ts), and from then on its key
  // holds the warehouse and the tables it read. That run's own keys did not: it must leave no
  // warm-run record, or the next run answers "cached" from it without keying (runtime/run/
  // warm-facts.ts). Tasks run in worker threads here (the default), which mark themselves there.
  it('a local module helper, and one calling another module that queries: the next run keys the warehouse and its tables, so an outside UPDATE or another database file re-runs the task', () => {
    const p = warehouseProject();
    p.write('notebooks/sums.ts', HELPER);
    p.write(
      'notebooks/outer.ts',
      "import { innerMax } from './inner';\nexport async function outerMax(): Promise<number> {\n  return 10 * (await innerMax());\n}\n",
    );
    p.write(
      'notebooks/inner.ts',
      "import { sql } from 'cellar';\nexport async function innerMax(): Promise<number> {\n  return Number((await sql<{ m: number }>`SELECT MAX(v) AS m FROM main.t`)[0]!.m);\n}\n",
    );
    p.write(
      'notebooks/viahelper.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell(
            'imports',
            "import { qualifiedSum, unqualifiedSum } from './sums';\nimport { outerMax } from './outer';",
          ),
          codeCell('q', '//| task: qual\nconst qual = await qualifiedSum();'),
          codeCell('u', '//| task: unqual\nconst unqual = await unqualifiedSum();'),
          codeCell('n', '//| task: nested\nconst nested = await outerMax();'),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v)',
    );
    const nb = 'notebooks/viahelper.ipynb';
    const all = (status: string) => ({ qual: status, unqual: status, nested: status });
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    // The run that saw the queries gave the key the warehouse and its tables: one re-run (the
    // cost of discovering a read at run time, docs/design/warehouse.md), then cached.
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(showOutput(p, nb, 'qual', 'qual')).toBe(67);
    expect(runStatuses(p, nb)).toEqual(all('cached'));
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout + dry.stderr).not.toContain('missing');

    outside(p, 'warehouse.duckdb', 'UPDATE t SET v = 61 WHERE id = 1');
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(showOutput(p, nb, 'qual', 'qual')).toBe(68);
    expect(showOutput(p, nb, 'unqual', 'unqual')).toBe(68);
    expect(showOutput(p, nb, 'nested', 'nested')).toBe(610);

    // Another file whose table was built the same way, with other values: the identity re-runs
    // the tasks; the tables they read there are recorded for that file, so the next run re-runs
    // them once more under keys holding those tables, as on the first file.
    outside(p, 'other.duckdb', 'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 8)) x(id, v)');
    p.setEnv('CELLAR_DUCKDB_PATH', 'other.duckdb');
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(showOutput(p, nb, 'qual', 'qual')).toBe(68);
    expect(runStatuses(p, nb)).toEqual(all('cached'));
    outside(p, 'other.duckdb', 'UPDATE t SET v = 9 WHERE id = 2');
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(showOutput(p, nb, 'qual', 'qual')).toBe(69);
  }, 1_800_000);

  it('a setup-cell function that queries: the task calling it re-runs after an outside UPDATE, the task not calling it stays cached', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/setupfn.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell(
            'setup',
            "import { sql } from 'cellar';\n" +
              'async function total(): Promise<number> {\n  return Number((await sql<{ s: number }>`SELECT SUM(v) AS s FROM main.t`)[0]!.s);\n}',
          ),
          codeCell('a', '//| task: viaSetup\nconst viaSetup = await total();'),
          codeCell('b', '//| task: plain\nconst plain = 2 * 21;'),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v)',
    );
    const nb = 'notebooks/setupfn.ipynb';
    expect(runStatuses(p, nb)).toEqual({ viaSetup: 'ran', plain: 'ran' });
    expect(runStatuses(p, nb)).toEqual({ viaSetup: 'ran', plain: 'cached' });
    expect(runStatuses(p, nb)).toEqual({ viaSetup: 'cached', plain: 'cached' });
    outside(p, 'warehouse.duckdb', 'UPDATE t SET v = 61 WHERE id = 1');
    expect(runStatuses(p, nb)).toEqual({ viaSetup: 'ran', plain: 'cached' });
    expect(showOutput(p, nb, 'viaSetup', 'viaSetup')).toBe(68);
  }, 1_800_000);
});

describe('table names in SQL', () => {
  it('resolve as DuckDB resolves them: any case, unqualified in main, a table created as "Sales" read as sales', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/names.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell(
            'upper',
            '//| task: upper\n//| dialect: duckdb\nconst upper = Number((await sql<{ s: number }>`SELECT SUM(v) AS s FROM T`)[0]!.s);',
          ),
          codeCell(
            'mixed',
            '//| task: mixed\n//| dialect: duckdb\nconst mixed = Number((await sql<{ s: number }>`SELECT SUM(v) AS s FROM Main.T`)[0]!.s);',
          ),
          codeCell(
            'sales',
            '//| task: sales\n//| dialect: duckdb\nconst sales = Number((await sql<{ s: number }>`SELECT SUM(amount) AS s FROM sales`)[0]!.s);',
          ),
          // A variant: a view named in another case, over a table named in another case.
          codeCell(
            'view',
            '//| task: viewed\n//| dialect: duckdb\nconst viewed = Number((await sql<{ s: number }>`SELECT SUM(v) AS s FROM MAIN.V_T`)[0]!.s);',
          ),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      `CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v);
       CREATE TABLE "Sales" AS SELECT * FROM (VALUES (1, 5)) x(id, amount);
       CREATE VIEW v_t AS SELECT v FROM T`,
    );
    const nb = 'notebooks/names.ipynb';
    const all = (s: string) => ({ upper: s, mixed: s, sales: s, viewed: s });
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(runStatuses(p, nb)).toEqual(all('cached'));
    const dry = p.cellar('run', nb, '--dry-run', '--json');
    expect(dry.stdout).not.toContain('missing');

    outside(p, 'warehouse.duckdb', 'UPDATE t SET v = 61 WHERE id = 1; UPDATE sales SET amount = 6');
    expect(runStatuses(p, nb)).toEqual(all('ran'));
    expect(showOutput(p, nb, 'upper', 'upper')).toBe(68);
    expect(showOutput(p, nb, 'mixed', 'mixed')).toBe(68);
    expect(showOutput(p, nb, 'viewed', 'viewed')).toBe(68);
    expect(showOutput(p, nb, 'sales', 'sales')).toBe(6);
  }, 1_800_000);
});

describe('user-defined macros', () => {
  it('a macro redefined by another program re-runs the task calling it', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/macro.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell(
            'm',
            '//| task: macro\n//| dialect: duckdb\nconst mvals = (await sql<{ r: number }>`SELECT addk(v) AS r FROM t ORDER BY id`).map((r) => Number(r.r));',
          ),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v); CREATE MACRO addk(x) AS x + 1',
    );
    const nb = 'notebooks/macro.ipynb';
    expect(runStatuses(p, nb)).toEqual({ macro: 'ran' });
    expect(showOutput(p, nb, 'macro', 'mvals')).toEqual([61, 8]);
    expect(runStatuses(p, nb)).toEqual({ macro: 'cached' });
    outside(p, 'warehouse.duckdb', 'CREATE OR REPLACE MACRO addk(x) AS x + 2');
    expect(runStatuses(p, nb)).toEqual({ macro: 'ran' });
    expect(showOutput(p, nb, 'macro', 'mvals')).toEqual([62, 9]);
  }, 1_800_000);

  it('a macro a sibling task redefines while the caller runs: the caller is not cached under the old definition, and the run names the task', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/redefine.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell(
            'd',
            '//| task: definer\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE MACRO addk(x) AS x + 2`;\nconst defined = 2;',
          ),
          codeCell(
            'c',
            '//| task: caller\n//| dialect: duckdb\nconst mvals = (await sql<{ r: number }>`SELECT addk(v) AS r FROM t ORDER BY id`).map((r) => Number(r.r));',
          ),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v); CREATE MACRO addk(x) AS x + 1',
    );
    const nb = 'notebooks/redefine.ipynb';
    // One task at a time, in notebook order: the definer replaces the macro after the caller's
    // key was computed (naming `x + 1`) and before the caller's query runs it (`x + 2`).
    const first = p.cellar('run', nb, '--json', '--workers', '1');
    expect(first.code, first.stderr).toBe(0);
    const caller = (
      JSON.parse(first.stdout) as { tasks: { name: string; notCached?: string }[] }
    ).tasks.find((t) => t.name === 'caller')!;
    expect(caller.notCached).toMatch(
      /user-defined functions or macros \(defined by task 'definer'\) changed while caller ran/,
    );
    // Not committed under the key naming `x + 1`: had it been, a run with the definer gone and
    // the macro back to `x + 1` would serve [62, 9].
    expect(p.cellar('show', nb, 'caller', 'mvals', '--json').stderr).toContain('E_NOT_CACHED');
    const second = p.cellar('run', nb, '--json', '--workers', '1');
    expect(second.code, second.stderr).toBe(0);
    const again = (
      JSON.parse(second.stdout) as { tasks: { name: string; status: string; notCached?: string }[] }
    ).tasks;
    expect(again.find((t) => t.name === 'caller')).toMatchObject({ status: 'ran' });
    expect(again.find((t) => t.name === 'caller')!.notCached).toBeUndefined();
    // The definer's own redefinition is its work, never a reason not to cache it.
    expect(again.find((t) => t.name === 'definer')!.notCached).toBeUndefined();
    expect(showOutput(p, nb, 'caller', 'mvals')).toEqual([62, 9]);
    expect(runStatuses(p, nb)).toEqual({ definer: 'cached', caller: 'cached' });
  }, 1_800_000);
});

describe('a table changed while a task read it', () => {
  it('a sibling task replacing the table: the reader is not cached under the old version, and the run names both tasks', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/scratch.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell('params', '//| params\nconst k = 1;'),
          codeCell(
            'w',
            '//| task: writer\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE scratch AS SELECT ${k}::INT AS k`;\nconst wrote = k;',
          ),
          codeCell(
            'r',
            '//| task: reader\n//| dialect: duckdb\nconst got = Number((await sql<{ k: number }>`SELECT k FROM scratch`)[0]!.k);',
          ),
        ]),
        null,
        1,
      ),
    );
    outside(p, 'warehouse.duckdb', 'CREATE TABLE scratch AS SELECT 0::INT AS k');
    const nb = 'notebooks/scratch.ipynb';
    // One task at a time, in notebook order: the writer replaces the table after the reader's key
    // was computed and before the reader reads it (with more workers, as the run happens to go).
    const first = p.cellar('run', nb, '--json', '--workers', '1');
    expect(first.code, first.stderr).toBe(0);
    const reader = (
      JSON.parse(first.stdout) as { tasks: { name: string; notCached?: string }[] }
    ).tasks.find((t) => t.name === 'reader')!;
    expect(reader.notCached).toMatch(
      /table main\.scratch \(written by task 'writer'\) changed while reader ran/,
    );
    expect(first.stderr).toMatch(
      /task 'writer' writes table main\.scratch, which task 'reader' reads/,
    );
    // Not committed under the key naming the old table: nothing to show, and the next run
    // computes it again under the key naming the table it reads.
    expect(p.cellar('show', nb, 'reader', 'got', '--json').stderr).toContain('E_NOT_CACHED');
    const second = p.cellar('run', nb, '--json', '--workers', '1');
    expect(second.code, second.stderr).toBe(0);
    const again = (
      JSON.parse(second.stdout) as { tasks: { name: string; status: string; notCached?: string }[] }
    ).tasks.find((t) => t.name === 'reader')!;
    expect(again.status).toBe('ran');
    expect(again.notCached).toBeUndefined();
    expect(showOutput(p, nb, 'reader', 'got')).toBe(1);
  }, 1_800_000);
});

describe('a table one task writes and another reads with no edge between them', () => {
  it('is warned about before any task runs, from the recorded writes: also when the reader is served from cache and the two run on different threads', () => {
    // A newcomer's repro: 'use' failed on a table 'make' had not made yet, then was served from
    // cache in the run whose 'make' rewrote the table, and no run said why.
    const p = warehouseProject();
    p.write(
      'notebooks/race.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell('setup', "import { sql } from 'cellar';"),
          codeCell('params', '//| params\nconst k = 5;'),
          codeCell(
            'make',
            '//| task: make\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE w1t AS SELECT ${k} * range AS v FROM range(3)`;\nconst made = 1;',
          ),
          codeCell(
            'use',
            '//| task: use\n//| dialect: duckdb\nconst rows = await sql`SELECT SUM(v) AS s FROM w1t`;\nconst s = Number(rows[0].s);',
          ),
        ]),
        null,
        1,
      ),
    );
    const nb = 'notebooks/race.ipynb';
    const warning =
      /task 'make' writes table main\.w1t, which task 'use' reads, and neither depends on the other.*Make the reader depend on the writer/;
    // The writer first, alone: its write is recorded.
    const made = p.cellar('run', nb, 'make');
    expect(made.code, made.stderr).toBe(0);
    const both = p.cellar('run', nb, '--json');
    expect(both.code, both.stderr).toBe(0);
    expect(both.stderr).toMatch(warning);
    // The writer re-runs, the reader is cached: still warned (by the plan, not by a thread).
    const param = p.cellar('run', nb, '--json', '--param', 'k=7');
    expect(param.code, param.stderr).toBe(0);
    expect(param.stderr).toMatch(warning);
    const dry = p.cellar('run', nb, '--dry-run', '--param', 'k=9');
    expect(dry.stderr).toMatch(warning);
  }, 1_800_000);
});

describe('a reader ordered after the writer through dynamic inputs (task API)', () => {
  it('is not warned about, nor is one two tasks downstream of the writer: its upstream, resolved from its params, holds the writer', () => {
    // `upstreamNames` followed `inputs` and materialised tables only, so a reader whose path to
    // the writer ran through a `dynamicInputs` was warned about as unordered, wrongly; and the
    // worker thread's check looked at direct upstream only, so \`use2\` (make → hop → use2) was too.
    const p = warehouseProject();
    p.write(
      'pipeline.ts',
      `import { definePipeline, defineTask, output, sql } from 'cellar';
export const make = defineTask({
  name: 'make', params: {}, inputs: {}, outputs: { made: {} },
  warehouse: { dialect: 'duckdb', reads: [] },
  run: async () => {
    await sql.dialect('duckdb')\`CREATE OR REPLACE TABLE dyn_t AS SELECT range AS v FROM range(4)\`;
    return { made: 1 };
  },
});
export const pass = defineTask({
  name: 'pass', params: { via: { type: 'string', default: 'make' } }, inputs: {},
  dynamicInputs: ({ via }) => (via === 'make' ? { m: output(make, 'made') } : {}),
  outputs: { ok: {} },
  run: ({ m }: { m?: number }) => ({ ok: m ?? 0 }),
});
export const use = defineTask({
  name: 'use', params: {}, inputs: { ok: output(pass, 'ok') }, outputs: { s: {} },
  warehouse: { dialect: 'duckdb', reads: [] },
  run: async () => {
    const r = await sql.dialect('duckdb')<{ s: number }>\`SELECT SUM(v) AS s FROM dyn_t\`;
    return { s: Number(r[0]!.s) };
  },
});
export const hop = defineTask({
  name: 'hop', params: {}, inputs: { m: output(make, 'made') }, outputs: { h: {} },
  run: ({ m }: { m: number }) => ({ h: m }),
});
export const use2 = defineTask({
  name: 'use2', params: {}, inputs: { h: output(hop, 'h') }, outputs: { n: {} },
  warehouse: { dialect: 'duckdb', reads: [] },
  run: async () => {
    const r = await sql.dialect('duckdb')<{ n: number }>\`SELECT COUNT(*) AS n FROM dyn_t\`;
    return { n: Number(r[0]!.n) };
  },
});
export default definePipeline({ name: 'dyn', tasks: [make, pass, use, hop, use2] });
`,
    );
    const warning = /task 'make' writes table main\.dyn_t, which task 'use' reads/;
    const transitive = /which task 'use2' reads/;
    for (let i = 0; i < 3; i++) {
      const r = p.cellar('run', 'pipeline.ts', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(warning);
      expect(r.stderr).not.toMatch(transitive);
    }
    // The same reader with the edge gone (another param value) is warned about.
    const cut = p.cellar('run', 'pipeline.ts', '--dry-run', '--param', 'via=none');
    expect(cut.stderr).toMatch(warning);
  }, 1_800_000);
});

describe('tables a helper reads by a one-word name', () => {
  it('FROM t in a setup helper is recorded and keyed as main.t; a CTE of that query is not a table', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/helper.ipynb',
      JSON.stringify(
        tslabNotebook([
          codeCell(
            'setup',
            "import { sql } from 'cellar';\n" +
              'async function plain(): Promise<number> {\n  return Number((await sql<{ s: number }>`SELECT SUM(v) AS s FROM t`)[0]!.s);\n}\n' +
              'async function viaCte(): Promise<number> {\n  return Number((await sql<{ s: number }>`WITH picked AS (SELECT v FROM t WHERE id = 1) SELECT SUM(v) AS s FROM picked`)[0]!.s);\n}',
          ),
          codeCell('plain', '//| task: plain\nconst plainSum = await plain();'),
          codeCell('cte', '//| task: cte\nconst cteSum = await viaCte();'),
          codeCell('other', '//| task: other\nconst other = 2 * 21;'),
        ]),
        null,
        1,
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE TABLE t AS SELECT * FROM (VALUES (1, 60), (2, 7)) x(id, v)',
    );
    const nb = 'notebooks/helper.ipynb';
    runStatuses(p, nb); // discovers the helpers' tables
    runStatuses(p, nb); // their keys gained the tables: re-run once under them
    expect(runStatuses(p, nb)).toEqual({ plain: 'cached', cte: 'cached', other: 'cached' });
    const dry = p.cellar('run', nb, '--dry-run', '--json');
    expect(dry.stdout).not.toContain('picked');

    outside(p, 'warehouse.duckdb', 'UPDATE t SET v = 61 WHERE id = 1');
    expect(runStatuses(p, nb)).toEqual({ plain: 'ran', cte: 'ran', other: 'cached' });
    expect(showOutput(p, nb, 'plain', 'plainSum')).toBe(68);
    expect(showOutput(p, nb, 'cte', 'cteSum')).toBe(61);
  }, 1_800_000);
});

/** A notebook of a setup cell and one task per `tasks` entry (name → its cell's code). */
function notebookOf(setup: string, tasks: Record<string, string>): string {
  return JSON.stringify(
    tslabNotebook([
      codeCell('setup', setup),
      ...Object.entries(tasks).map(([name, code]) => codeCell(name, `//| task: ${name}\n${code}`)),
    ]),
    null,
    1,
  );
}

/** Runs until a run leaves every task cached (tables found by running enter the key once). */
function settle(p: Project, nb: string, names: string[]): void {
  runStatuses(p, nb); // discovers the tables read through helpers, macros, the catalog
  runStatuses(p, nb); // the keys gained them: re-run once under them
  expect(runStatuses(p, nb)).toEqual(Object.fromEntries(names.map((n) => [n, 'cached'])));
}

describe("tables a helper's query reads, as DuckDB parses it", () => {
  it('every table of a comma join, a quoted name, a table in a WHERE subquery and the base table under a view are keyed', () => {
    const p = warehouseProject();
    const count = (name: string, from: string) =>
      `async function ${name}(): Promise<number> {\n  return Number((await sql<{ n: number }>\`SELECT count(*) AS n FROM ${from}\`)[0]!.n);\n}\n`;
    p.write(
      'notebooks/helpers.ipynb',
      notebookOf(
        "import { sql } from 'cellar';\n" +
          count('comma', 'a, b') +
          count('quoted', '"G"') +
          count('sub', 'a WHERE id IN (SELECT id FROM c)') +
          count('viewed', 'v'),
        {
          helpcomma: 'const nComma = await comma();',
          helpquoted: 'const nQuoted = await quoted();',
          helpsub: 'const nSub = await sub();',
          helpview: 'const nView = await viewed();',
        },
      ),
    );
    outside(
      p,
      'warehouse.duckdb',
      `CREATE TABLE a AS SELECT * FROM (VALUES (1), (2)) x(id);
       CREATE TABLE b AS SELECT * FROM (VALUES (1)) x(id);
       CREATE TABLE "G" AS SELECT * FROM (VALUES (1)) x(id);
       CREATE TABLE c AS SELECT * FROM (VALUES (1)) x(id);
       CREATE TABLE under AS SELECT * FROM (VALUES (1)) x(id);
       CREATE VIEW v AS SELECT * FROM under`,
    );
    const nb = 'notebooks/helpers.ipynb';
    const names = ['helpcomma', 'helpquoted', 'helpsub', 'helpview'];
    settle(p, nb, names);
    expect(showOutput(p, nb, 'helpcomma', 'nComma')).toBe(2);

    outside(
      p,
      'warehouse.duckdb',
      'INSERT INTO b VALUES (2); INSERT INTO "G" VALUES (2); INSERT INTO c VALUES (2); INSERT INTO under VALUES (2)',
    );
    expect(runStatuses(p, nb)).toEqual(Object.fromEntries(names.map((n) => [n, 'ran'])));
    expect(showOutput(p, nb, 'helpcomma', 'nComma')).toBe(4);
    expect(showOutput(p, nb, 'helpquoted', 'nQuoted')).toBe(2);
    expect(showOutput(p, nb, 'helpsub', 'nSub')).toBe(2);
    expect(showOutput(p, nb, 'helpview', 'nView')).toBe(2);
  }, 1_800_000);
});

describe('queries over the catalog', () => {
  it('information_schema inline and duckdb_tables() in a helper re-run when another program adds a table', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/catalog.ipynb',
      notebookOf(
        "import { sql } from 'cellar';\n" +
          "async function rawTables(): Promise<number> {\n  return Number((await sql<{ n: number }>`SELECT count(*) AS n FROM duckdb_tables() WHERE schema_name = 'raw'`)[0]!.n);\n}\n",
        {
          inline:
            "const inlineN = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'raw'`)[0]!.n);",
          helper: 'const helperN = await rawTables();',
        },
      ),
    );
    outside(p, 'warehouse.duckdb', 'CREATE SCHEMA raw; CREATE TABLE raw.p1 AS SELECT 1 AS x');
    const nb = 'notebooks/catalog.ipynb';
    settle(p, nb, ['inline', 'helper']);
    expect(showOutput(p, nb, 'inline', 'inlineN')).toBe(1);

    outside(p, 'warehouse.duckdb', 'CREATE TABLE raw.p2 AS SELECT 1 AS x');
    expect(runStatuses(p, nb)).toEqual({ inline: 'ran', helper: 'ran' });
    expect(showOutput(p, nb, 'inline', 'inlineN')).toBe(2);
    expect(showOutput(p, nb, 'helper', 'helperN')).toBe(2);
  }, 1_800_000);

  it('SHOW TABLES, SHOW ALL TABLES, DESCRIBE and PRAGMA show_tables re-run when another program adds a table', () => {
    // A newcomer's finding: tasks listing tables with SHOW stayed cached after a CREATE TABLE.
    const p = warehouseProject();
    p.write(
      'notebooks/show.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        show: "const shown = (await sql.dialect('duckdb')<{ name: string }>`SHOW TABLES`).map((r) => r.name).sort();",
        showall:
          "const all = (await sql.dialect('duckdb')<{ name: string }>`SHOW ALL TABLES`).map((r) => r.name).sort();",
        described: "const describedN = (await sql.dialect('duckdb')`DESCRIBE`).length;",
        pragma: "const pragmaN = (await sql.dialect('duckdb')`PRAGMA show_tables`).length;",
      }),
    );
    outside(p, 'warehouse.duckdb', 'CREATE TABLE s1 AS SELECT 1 AS x');
    const nb = 'notebooks/show.ipynb';
    const tasks = ['show', 'showall', 'described', 'pragma'];
    settle(p, nb, tasks);
    expect(showOutput(p, nb, 'show', 'shown')).toContain('s1');
    outside(p, 'warehouse.duckdb', 'CREATE TABLE s2 AS SELECT 1 AS x');
    expect(runStatuses(p, nb)).toEqual(Object.fromEntries(tasks.map((t) => [t, 'ran'])));
    expect(showOutput(p, nb, 'show', 'shown')).toContain('s2');
    expect(showOutput(p, nb, 'showall', 'all')).toContain('s2');
  }, 1_800_000);
});

describe('table macros', () => {
  it('FROM tm() is keyed on the tables the macro body reads, through a macro calling a macro', () => {
    const p = warehouseProject();
    p.write(
      'notebooks/tmacro.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        tmacro:
          '//| dialect: duckdb\nconst viaMacro = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM tm()`)[0]!.n);',
        nested:
          '//| dialect: duckdb\nconst viaNested = Number((await sql<{ n: number }>`SELECT count(*) AS n FROM tm2()`)[0]!.n);',
      }),
    );
    outside(
      p,
      'warehouse.duckdb',
      `CREATE TABLE m AS SELECT 1 AS x;
       CREATE MACRO tm() AS TABLE SELECT * FROM m;
       CREATE MACRO tm2() AS TABLE SELECT * FROM tm()`,
    );
    const nb = 'notebooks/tmacro.ipynb';
    settle(p, nb, ['tmacro', 'nested']);
    expect(showOutput(p, nb, 'tmacro', 'viaMacro')).toBe(1);

    outside(p, 'warehouse.duckdb', 'INSERT INTO m VALUES (2)');
    expect(runStatuses(p, nb)).toEqual({ tmacro: 'ran', nested: 'ran' });
    expect(showOutput(p, nb, 'tmacro', 'viaMacro')).toBe(2);
    expect(showOutput(p, nb, 'nested', 'viaNested')).toBe(2);
  }, 1_800_000);
});

describe("a task's session state (SET, ATTACH) ends with the task", () => {
  // A tester's finding: DuckDB's `SET x = …` and `ATTACH` are global to the open instance, so a
  // task running after another in the same thread ran under the other's settings and databases:
  // `ORDER BY x` put NULLs first with `--workers 1` and last alone, cached either way.
  it("a SET in one task orders its own query and not the next task's", () => {
    const p = warehouseProject();
    p.write(
      'notebooks/session.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        setter:
          "//| dialect: duckdb\nawait sql`SET default_null_order = 'nulls_first'`;\nconst own = (await sql<{ x: number | null }>`SELECT x FROM shop.n ORDER BY x`).map((r) => r.x);",
        sorter:
          '//| dialect: duckdb\nconst sorted = (await sql<{ x: number | null }>`SELECT x FROM shop.n ORDER BY x`).map((r) => r.x);',
      }),
    );
    outside(
      p,
      'warehouse.duckdb',
      'CREATE SCHEMA shop; CREATE TABLE shop.n AS SELECT * FROM (VALUES (NULL), (1), (2)) t(x)',
    );
    const nb = 'notebooks/session.ipynb';
    expect(runStatuses(p, nb, '--workers', '1')).toEqual({ setter: 'ran', sorter: 'ran' });
    expect(showOutput(p, nb, 'setter', 'own')).toEqual([null, 1, 2]);
    expect(showOutput(p, nb, 'sorter', 'sorted')).toEqual([1, 2, null]);
  }, 1_800_000);

  it("a database one task attached is not there for the next task, whose error names the attacher; a task's own ATTACH is keyed on the file", () => {
    const p = warehouseProject();
    p.write(
      'notebooks/attach.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        attacher:
          "//| dialect: duckdb\nawait sql`ATTACH IF NOT EXISTS '../other.duckdb' AS o (READ_ONLY)`;\nconst own = Number((await sql<{ s: number }>`SELECT sum(x)::INT AS s FROM o.t`)[0]!.s);",
      }),
    );
    p.write(
      'notebooks/leak.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        attacher2:
          "//| dialect: duckdb\nawait sql`ATTACH IF NOT EXISTS '../other.duckdb' AS o (READ_ONLY)`;\nconst n2 = 1;",
        leaky:
          '//| dialect: duckdb\nconst viaLeak = Number((await sql<{ s: number }>`SELECT sum(x)::INT AS s FROM o.t`)[0]!.s);',
      }),
    );
    outside(p, 'warehouse.duckdb', 'CREATE TABLE keep AS SELECT 1 AS x');
    outside(p, 'other.duckdb', 'CREATE TABLE t AS SELECT 1 AS x');
    const nb = 'notebooks/attach.ipynb';
    runStatuses(p, nb, '--workers', '1');
    expect(runStatuses(p, nb, '--workers', '1')).toEqual({ attacher: 'cached' });
    expect(showOutput(p, nb, 'attacher', 'own')).toBe(1);
    outside(p, 'other.duckdb', 'INSERT INTO t VALUES (5)');
    expect(runStatuses(p, nb, '--workers', '1')).toEqual({ attacher: 'ran' });
    expect(showOutput(p, nb, 'attacher', 'own')).toBe(6);

    const r = p.cellar('run', 'notebooks/leak.ipynb', '--workers', '1');
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/leaky/);
    expect(r.stderr + r.stdout).toMatch(/attached while task attacher2 ran/);
  }, 1_800_000);
});

describe('a check naming a column the table lacks', () => {
  it("says which task, check and column, and the table's columns, at the check's line: not DuckDB's Binder Error", () => {
    const p = warehouseProject();
    p.write(
      'notebooks/checks.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        mk: '//| dialect: duckdb\n//| materialize: mart.mk\n//| check: not_null nosuchcol\nconst made = sql`SELECT 1 AS id, 2 AS amount`;',
      }),
    );
    const r = p.cellar('run', 'notebooks/checks.ipynb', '--json');
    expect(r.code, r.stderr).toBe(1);
    const mk = (
      JSON.parse(r.stdout).tasks as { name: string; error?: string; location?: string }[]
    ).find((t) => t.name === 'mk')!;
    expect(mk.error).toMatch(
      /^task mk \(notebooks\/checks\.ipynb, cell 2\): check "not_null nosuchcol": column nosuchcol does not exist in table mart\.mk_\w+ \(mart\.mk\) \(its columns: id, amount\)/,
    );
    expect(mk.error).not.toMatch(/Binder Error/);
    expect(mk.location).toBe('notebooks/checks.ipynb, cell 2 (id mk), line 4');
  }, 1_800_000);
});

describe('a view over a view', () => {
  it('re-runs its reader when another program redefines the inner view alone', () => {
    // A tester's finding: "0 tasks would run" and the old sum, after `CREATE OR REPLACE VIEW`
    // of the view in between (its base table unchanged).
    const p = warehouseProject();
    p.write(
      'notebooks/views.ipynb',
      notebookOf("import { sql } from 'cellar';", {
        summed:
          '//| dialect: duckdb\nconst s = Number((await sql<{ s: number }>`SELECT sum(x)::INT AS s FROM shop.v1`)[0]!.s);',
      }),
    );
    outside(
      p,
      'warehouse.duckdb',
      `CREATE SCHEMA shop; CREATE TABLE shop.base AS SELECT 1 AS x;
       CREATE VIEW shop.v2 AS SELECT * FROM shop.base; CREATE VIEW shop.v1 AS SELECT * FROM shop.v2`,
    );
    const nb = 'notebooks/views.ipynb';
    expect(runStatuses(p, nb)).toEqual({ summed: 'ran' });
    expect(runStatuses(p, nb)).toEqual({ summed: 'cached' });
    outside(
      p,
      'warehouse.duckdb',
      'CREATE OR REPLACE VIEW shop.v2 AS SELECT x*7 AS x FROM shop.base',
    );
    expect(runStatuses(p, nb)).toEqual({ summed: 'ran' });
    expect(showOutput(p, nb, 'summed', 's')).toBe(7);
  }, 1_800_000);
});
