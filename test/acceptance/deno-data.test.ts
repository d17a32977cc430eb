// Deno-kernel data notebooks (issue 14 item 4), compiled and run for real through the CLI: the
// Deno APIs a data notebook calls run on Node through the runtime's shim, an env read enters the
// task's key, displays cost nothing; an import the project cannot resolve is a compile error on
// the importing cell with the exact `npm install`, not Node's "Cannot find package" at run time.
// The generated code is pinned by test/compiler/fixtures/deno/ (type-checked by typecheck.test.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { project, removeProjects } from './harness.js';

afterAll(removeProjects);

const DENO = { name: 'deno', language: 'typescript' };

/** A Deno notebook as people write them: npm: specifiers, Deno.readTextFile, Deno.jupyter.md. */
const pricesNotebook = notebookText(
  [
    "import { tableFromArrays } from 'npm:apache-arrow@21.2.0';\nimport * as path from 'node:path';",
    '//| params\nconst file = "prices.csv";',
    '//| task: load\nconst dir = Deno.env.get("PRICES_DIR") ?? Deno.cwd();\nconst text = await Deno.readTextFile(path.join(dir, file));\nconst rows = text.trim().split("\\n").slice(1).map((line) => line.split(",")).map(([day, price]) => ({ day: day ?? "", price: Number(price) }));\nDeno.jupyter.md`**${rows.length}** rows from ${file}`;',
    '//| task: stats\nconst n: number = tableFromArrays({ price: Float64Array.from(rows.map((r) => r.price)) }).numRows;\nconst mean = rows.reduce((s, r) => s + r.price, 0) / n;\nawait Deno.jupyter.display({ "text/plain": `mean ${mean}` }, { raw: true });\nconst bytes = Deno.readFileSync(file).length;\nDeno.writeTextFileSync("summary.txt", `${n} rows, mean ${mean}\\n`);',
  ],
  DENO,
);

const statuses = (stdout: string) =>
  JSON.parse(stdout).tasks.map((t: { name: string; status: string }) => `${t.name}:${t.status}`);

describe('a Deno data notebook', () => {
  it('runs Deno.readTextFile/readFileSync/writeTextFileSync/env.get/cwd on Node, and keys the env read', () => {
    const p = project();
    p.write('notebooks/prices.ipynb', pricesNotebook);
    p.write('notebooks/prices.csv', 'day,price\nmon,10\ntue,20\nwed,30\n');
    p.setEnv('PRICES_DIR', undefined);

    const compile = p.cellar('compile');
    expect(compile.code, compile.stderr).toBe(0);
    const load = p.read('generated/prices/load.ts');
    expect(load).toContain("import { Deno, defineTask } from 'cellar';");
    expect(load).toContain("const dir = Deno.env.get('PRICES_DIR') ?? Deno.cwd();");
    expect(load).not.toContain('Deno.jupyter'); // displays stay in the notebook
    expect(compile.stderr).toContain('N_DISPLAY_DROPPED');

    const run = p.cellar('run', 'notebooks/prices.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(statuses(run.stdout)).toEqual(['load:ran', 'stats:ran']);
    const mean = p.cellar('show', 'notebooks/prices.ipynb', 'stats', 'mean', '--json');
    expect(JSON.parse(mean.stdout.trim())).toBe(20);
    const bytes = p.cellar('show', 'notebooks/prices.ipynb', 'stats', 'bytes', '--json');
    expect(JSON.parse(bytes.stdout.trim())).toBe(31); // the file's bytes
    // Deno.writeTextFileSync wrote where the notebook's cells run: its folder.
    expect(p.read('notebooks/summary.txt')).toBe('3 rows, mean 20\n');

    // `Deno.env.get("PRICES_DIR")` is part of load's key, as `process.env.PRICES_DIR` would be.
    mkdirSync(join(p.dir, 'other'));
    p.write('other/prices.csv', 'day,price\nmon,1\ntue,3\n');
    p.setEnv('PRICES_DIR', join(p.dir, 'other'));
    const rerun = p.cellar('run', 'notebooks/prices.ipynb', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(statuses(rerun.stdout)).toEqual(['load:ran', 'stats:ran']);
    const mean2 = p.cellar('show', 'notebooks/prices.ipynb', 'stats', 'mean', '--json');
    expect(JSON.parse(mean2.stdout.trim())).toBe(2);
    const again = p.cellar('run', 'notebooks/prices.ipynb', '--json');
    expect(statuses(again.stdout)).toEqual(['load:cached', 'stats:cached']);
  });
});

describe('a leaf value holding an environment read', () => {
  it('is named by `cellar plan` and `cellar show` as not stored, why, and how `//| output` stores it', () => {
    const p = project();
    const cells = (directive: string) =>
      notebookText(
        [
          '//| task: t\nconst r = "a";',
          `//| task: u${directive}\nconst r2 = r + Deno.env.get('H29_D');`,
        ],
        DENO,
      );
    p.write('notebooks/d.ipynb', cells(''));
    p.setEnv('H29_D', 'secret-value');
    const plan = p.cellar('plan', 'notebooks/d.ipynb');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(
      /task u[\s\S]*outputs: \(none\)\n\s+not stored: 'r2' holds a value read from the environment.*`\/\/\| output: r2=json` .*stores it/,
    );
    const json = p.cellar('plan', 'notebooks/d.ipynb', '--json');
    expect(JSON.parse(json.stdout).tasks[1]).toMatchObject({ outputs: [], envValues: ['r2'] });
    const run = p.cellar('run', 'notebooks/d.ipynb');
    expect(run.code, run.stderr).toBe(0);
    const show = p.cellar('show', 'notebooks/d.ipynb', 'u');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(
      /task 'u' is stored .* has no outputs to show: 'r2' holds a value read from the environment.*`\/\/\| output: r2=json` .*stores it/,
    );
    expect(show.stdout).not.toMatch(/declares no values/);
    const named = p.cellar('show', 'notebooks/d.ipynb', 'u', 'r2');
    expect(named.stderr).toMatch(/'r2' holds a value read from the environment/);
    // The advice works: declared, it is stored.
    p.write('notebooks/d.ipynb', cells('\n//| output: r2=json'));
    expect(p.cellar('run', 'notebooks/d.ipynb').code).toBe(0);
    const stored = p.cellar('show', 'notebooks/d.ipynb', 'u', 'r2', '--json');
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout)).toBe('asecret-value');
  });
});

describe('an import the project cannot resolve', () => {
  it("is reported at compile time on the importing cell, with Deno's version in `npm install`", () => {
    const p = project();
    p.write(
      'notebooks/parse.ipynb',
      notebookText(
        [
          '//| params\nconst file = "prices.csv";',
          "import { parse } from 'npm:csv-parse@5/sync';",
          '//| task: load\nconst rows = parse(await Deno.readTextFile(file), { columns: true });',
        ],
        DENO,
      ),
    );
    const compile = p.cellar('compile');
    expect(compile.code).toBe(1);
    expect(compile.stderr).toContain(
      'notebooks/parse.ipynb, cell 2 (id c2), line 1, column 23: error E_UNRESOLVED_IMPORT: package `csv-parse` is not installed in the project, so `csv-parse/sync` cannot be imported',
    );
    expect(compile.stderr).toContain('hint: run `npm install csv-parse@5` in the project folder');
    expect(compile.stderr).not.toContain('Cannot find package');
    // `cellar run` compiles first and stops there: nothing runs.
    const run = p.cellar('run', 'notebooks/parse.ipynb');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('E_UNRESOLVED_IMPORT');
    expect(run.stderr).not.toContain('Cannot find package');
  });

  it('a missing local module is reported on its cell, and compiles once the file exists (no stale cache)', () => {
    const p = project();
    p.write(
      'notebooks/local.ipynb',
      notebookText([
        "import { mean } from './stats.ts';\nimport assert from 'node:assert';",
        '//| task: load\nconst m = mean([1, 2, 3]);\nassert.equal(m, 2);',
      ]),
    );
    const first = p.cellar('compile');
    expect(first.code).toBe(1);
    expect(first.stderr).toContain(
      'notebooks/local.ipynb, cell 1 (id c1), line 1, column 22: error E_UNRESOLVED_IMPORT: `./stats.ts` does not exist next to the notebook',
    );
    p.write(
      'notebooks/stats.ts',
      'export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;\n',
    );
    const second = p.cellar('compile');
    expect(second.code, second.stderr).toBe(0);
    const run = p.cellar('run', 'notebooks/local.ipynb', '--json');
    expect(run.code, run.stderr).toBe(0);
  });
});
