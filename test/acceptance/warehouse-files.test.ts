// Files a task's SQL reads by path on the embedded DuckDB warehouse are in its key by content
// (issue 8: whatever an output depends on is in its key). Editing the CSV behind
// `read_csv_auto('data/sales.csv')`, even keeping its size and putting its mtime back, re-runs the
// task and its downstream with the new value; a file joining a glob re-runs the glob's reader; a
// path handed to a setup-cell helper is recorded when the task runs and keyed from then on.
// The real CLI runs a real notebook on the real DuckDB; nothing is mocked.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Project,
  project,
  removeProjects,
  runStatuses as run,
  showOutput as show,
  editKeepingMtimeAndSize,
  codeCell,
  markdownCell,
  notebookText,
  type NotebookCell,
} from './harness.js';

afterAll(removeProjects);

const notebook = (...cells: NotebookCell[]) =>
  notebookText([markdownCell('intro', '# Sales from files'), ...cells]);

const SETUP = codeCell(
  'setup',
  [
    "import { sql } from 'cellar';",
    '',
    '// The path reaches DuckDB as a bound parameter, from a helper: no compiler can list it.',
    'async function sumOf(file: string): Promise<number> {',
    "  const rows = await sql.dialect('duckdb')`SELECT SUM(amount) AS s FROM read_csv_auto(${file})`;",
    '  return Number(rows[0].s);',
    '}',
  ].join('\n'),
);

/** Tasks reading files by a literal path in their own SQL: the compiler lists the paths. */
const LITERAL = notebook(
  SETUP,
  codeCell(
    'total',
    "//| task: total\n//| dialect: duckdb\nconst rows = await sql`SELECT SUM(amount) AS total FROM read_csv_auto('data/sales.csv')`;\nconst total = Number(rows[0].total);",
  ),
  codeCell('report', '//| task: report\nconst line = `total=${total}`;'),
  codeCell(
    'parts',
    "//| task: parts\n//| dialect: duckdb\nconst partRows = await sql`SELECT COUNT(*) AS n, SUM(amount) AS s FROM read_csv_auto('data/parts/*.csv')`;\nconst partCount = Number(partRows[0].n);\nconst partSum = Number(partRows[0].s);",
  ),
  codeCell(
    'quoted',
    "//| task: quoted\n//| dialect: duckdb\nconst topRows = await sql`SELECT MAX(amount) AS top FROM 'data/sales.csv'`;\nconst top = Number(topRows[0].top);",
  ),
);

/** A task whose path goes through the setup helper (seen at run time only), and its downstream. */
const HELPER = notebook(
  SETUP,
  codeCell('costs', "//| task: costs\nconst costTotal = await sumOf('data/costs.csv');"),
  codeCell('budget', '//| task: budget\nconst left = 2000 - costTotal;'),
);

function withData(nb: string, text: string): Project {
  const p = project();
  mkdirSync(join(p.dir, 'notebooks', 'data', 'parts'), { recursive: true });
  p.write(`notebooks/${nb}`, text);
  p.write('notebooks/data/sales.csv', 'region,amount\nnorth,120\nsouth,340\n');
  p.write('notebooks/data/costs.csv', 'item,amount\nrent,900\nfood,250\n');
  p.write('notebooks/data/parts/a.csv', 'part,amount\nbolt,5\n');
  p.write('notebooks/data/parts/b.csv', 'part,amount\nnut,7\n');
  return p;
}

describe('files read by the warehouse are in the key by content', () => {
  it('a CSV edited keeping its size and mtime re-runs its readers and their downstream with the new value; --dry-run names the file', () => {
    const p = withData('sales.ipynb', LITERAL);
    const nb = 'notebooks/sales.ipynb';
    const all = (status: string) => ({
      total: status,
      report: status,
      parts: status,
      quoted: status,
    });
    expect(run(p, nb)).toEqual(all('ran'));
    expect(show(p, nb, 'report', 'line')).toBe('total=460');
    expect(show(p, nb, 'quoted', 'top')).toBe(340);
    // Unchanged files: everything cached, twice (the paths were known before the first run).
    expect(run(p, nb)).toEqual(all('cached'));
    expect(run(p, nb)).toEqual(all('cached'));
    // Touching a file without changing it keeps the cache: the key holds content, not mtime.
    const sales = join(p.dir, 'notebooks', 'data', 'sales.csv');
    const later = new Date(Date.now() + 60_000);
    utimesSync(sales, later, later);
    expect(run(p, nb)).toEqual(all('cached'));

    editKeepingMtimeAndSize(sales, 'south,340', 'south,345');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would run\s+total\b/);
    expect(dry.stdout).toContain('hooks.warehouse.file:notebooks/data/sales.csv:');
    expect(dry.stdout).toMatch(/would run\s+report\b[^\n]*\n\s+upstream\.total/);
    expect(run(p, nb)).toEqual({ total: 'ran', report: 'ran', parts: 'cached', quoted: 'ran' });
    expect(show(p, nb, 'report', 'line')).toBe('total=465');
    expect(show(p, nb, 'quoted', 'top')).toBe(345);
  });

  it('a file joining a glob re-runs the glob reader only', () => {
    const p = withData('sales.ipynb', LITERAL);
    const nb = 'notebooks/sales.ipynb';
    run(p, nb);
    expect([show(p, nb, 'parts', 'partCount'), show(p, nb, 'parts', 'partSum')]).toEqual([2, 12]);
    p.write('notebooks/data/parts/c.csv', 'part,amount\ngear,11\n');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toContain('hooks.warehouse.glob:notebooks/data/parts/*.csv:');
    expect(dry.stdout).toContain('hooks.warehouse.file:notebooks/data/parts/c.csv: (none) →');
    expect(run(p, nb)).toEqual({
      total: 'cached',
      report: 'cached',
      parts: 'ran',
      quoted: 'cached',
    });
    expect([show(p, nb, 'parts', 'partCount'), show(p, nb, 'parts', 'partSum')]).toEqual([3, 23]);
  });

  it('a path passed to a setup-cell helper is recorded at run time and re-runs the task from the next edit on', () => {
    const p = withData('budget.ipynb', HELPER);
    const nb = 'notebooks/budget.ipynb';
    expect(run(p, nb)).toEqual({ costs: 'ran', budget: 'ran' });
    // The first run discovered the file: the task's key gains it once (the cost of seeing reads
    // only at run time; its downstream follows the new key), then nothing re-runs while the file
    // is unchanged.
    expect(run(p, nb)).toEqual({ costs: 'ran', budget: 'ran' });
    expect(show(p, nb, 'budget', 'left')).toBe(850);
    expect(run(p, nb)).toEqual({ costs: 'cached', budget: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'data', 'costs.csv'), 'food,250', 'food,275');
    expect(p.cellar('run', nb, '--dry-run').stdout).toContain(
      'hooks.warehouse.file:notebooks/data/costs.csv:',
    );
    expect(run(p, nb)).toEqual({ costs: 'ran', budget: 'ran' });
    expect(show(p, nb, 'budget', 'left')).toBe(825);
  });

  it('a path computed in the SQL (||, concat, lower, a list) is evaluated as DuckDB binds it and keyed: an edit re-runs the reader with the new value', () => {
    // A newcomer's repro: these readers stayed cached with the old sums after the CSV changed.
    const p = withData(
      'computed.ipynb',
      notebook(
        SETUP,
        codeCell(
          'a',
          "//| task: a\n//| dialect: duckdb\nconst qa = await sql`SELECT SUM(amount) AS s FROM read_csv_auto('data/' || ${'sales'} || '.csv')`;\nconst sa = Number(qa[0].s);",
        ),
        codeCell(
          'b',
          "//| task: b\n//| dialect: duckdb\nconst qb = await sql`SELECT SUM(amount) AS s FROM read_csv_auto(concat('data/', 'sales.csv'))`;\nconst sb = Number(qb[0].s);",
        ),
        codeCell(
          'c',
          "//| task: c\n//| dialect: duckdb\nconst qc = await sql`SELECT SUM(amount) AS s FROM read_csv_auto(lower('DATA/SALES.CSV'))`;\nconst sc = Number(qc[0].s);",
        ),
        codeCell(
          'd',
          "//| task: d\n//| dialect: duckdb\nconst qd = await sql`SELECT SUM(amount) AS s FROM read_csv_auto([lower('DATA/SALES.CSV'), 'data/costs.csv'], union_by_name = true)`;\nconst sd = Number(qd[0].s);",
        ),
      ),
    );
    const nb = 'notebooks/computed.ipynb';
    const all = (status: string) => ({ a: status, b: status, c: status, d: status });
    // Seen when the tasks first run: keyed from the next run on (as a helper's path is).
    run(p, nb);
    run(p, nb);
    expect(run(p, nb)).toEqual(all('cached'));
    expect(show(p, nb, 'd', 'sd')).toBe(460 + 1150);
    editKeepingMtimeAndSize(
      join(p.dir, 'notebooks', 'data', 'sales.csv'),
      'south,340',
      'south,345',
    );
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toContain('hooks.warehouse.file:notebooks/data/sales.csv:');
    expect(run(p, nb)).toEqual(all('ran'));
    for (const [t, v] of [
      ['a', 'sa'],
      ['b', 'sb'],
      ['c', 'sc'],
    ])
      expect(show(p, nb, t!, v!)).toBe(465);
    expect(show(p, nb, 'd', 'sd')).toBe(465 + 1150);
    // A file only one of them reads re-runs that one alone.
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'data', 'costs.csv'), 'food,250', 'food,255');
    expect(run(p, nb)).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'ran' });
  });

  it('a dollar-quoted path ($$…$$, $tag$…$tag$) is keyed like a quoted one, and a placeholder-like $1 inside a literal is text, not a bound value', () => {
    // Variants of the kind above: DuckDB reads `FROM $$data/sales.csv$$` as a file as it does
    // `FROM 'data/sales.csv'`, and `'$1'` inside a computed path is a string, not the bound value.
    const p = withData(
      'dollar.ipynb',
      notebook(
        SETUP,
        codeCell(
          'e',
          '//| task: e\n//| dialect: duckdb\nconst qe = await sql`SELECT SUM(amount) AS s FROM $$data/sales.csv$$`;\nconst se = Number(qe[0].s);',
        ),
        codeCell(
          'f',
          '//| task: f\n//| dialect: duckdb\nconst qf = await sql`SELECT SUM(amount) AS s FROM read_csv_auto($p$data/sales.csv$p$)`;\nconst sf = Number(qf[0].s);',
        ),
        codeCell(
          'g',
          "//| task: g\n//| dialect: duckdb\nconst qg = await sql`SELECT ${'k'} AS k, SUM(amount) AS s FROM read_csv_auto(replace('data/$1.csv', '$1', 'sales'))`;\nconst sg = Number(qg[0].s);",
        ),
      ),
    );
    const nb = 'notebooks/dollar.ipynb';
    const all = (status: string) => ({ e: status, f: status, g: status });
    expect(run(p, nb)).toEqual(all('ran'));
    run(p, nb);
    expect(run(p, nb)).toEqual(all('cached'));
    editKeepingMtimeAndSize(
      join(p.dir, 'notebooks', 'data', 'sales.csv'),
      'south,340',
      'south,345',
    );
    expect(run(p, nb)).toEqual(all('ran'));
    for (const [t, v] of [
      ['e', 'se'],
      ['f', 'sf'],
      ['g', 'sg'],
    ])
      expect(show(p, nb, t!, v!)).toBe(465);
  });

  it('a path the SQL computes from a column (not a constant) is refused (E_WH_DYNAMIC_READ), naming the call and the expression', () => {
    const p = withData(
      'percol.ipynb',
      notebook(
        SETUP,
        codeCell(
          'lat',
          "//| task: lat\n//| dialect: duckdb\nconst rows = await sql`SELECT (SELECT COUNT(*) FROM read_csv_auto(f.name)) AS n FROM (SELECT 'data/sales.csv' AS name) f`;",
        ),
      ),
    );
    const r = p.cellar('run', 'notebooks/percol.ipynb', '--json');
    expect(r.code).toBe(1);
    const lat = (JSON.parse(r.stdout).tasks as { name: string; error?: string }[]).find(
      (t) => t.name === 'lat',
    );
    expect(lat?.error).toMatch(
      /read_csv_auto\(…\) reads a path computed inside the SQL \(f\.name\)/,
    );
    expect(lat?.error).toContain(
      'what it reads cannot be keyed. Write the path as a string literal',
    );
  });

  it('a missing file fails the task with E_WH_FILE naming the task, the file and where paths resolve from', () => {
    const p = withData(
      'gone.ipynb',
      notebook(
        SETUP,
        codeCell(
          'gone',
          "//| task: gone\n//| dialect: duckdb\nconst rows = await sql`SELECT COUNT(*) AS n\n  FROM read_csv_auto('data/nope.csv')`;",
        ),
      ),
    );
    const r = p.cellar('run', 'notebooks/gone.ipynb', '--json');
    expect(r.code).toBe(1);
    const gone = (
      JSON.parse(r.stdout).tasks as { name: string; error?: string; location?: string }[]
    ).find((t) => t.name === 'gone');
    expect(gone?.error).toMatch(/^task gone \(notebooks\/gone\.ipynb, cell 3\): /);
    expect(gone?.error).toContain(
      "its SQL reads 'data/nope.csv' but file notebooks/data/nope.csv does not exist",
    );
    expect(gone?.error).toContain('resolve from the folder the task runs in: notebooks/');
    expect(gone?.error).not.toContain('IO Error');
    expect(gone?.location).toBe('notebooks/gone.ipynb, cell 3 (id gone), line 4');
  });

  it('a remote URL is keyed by URL only, and --dry-run says so', () => {
    const p = withData(
      'remote.ipynb',
      notebook(
        SETUP,
        codeCell(
          'remote',
          "//| task: remote\n//| dialect: duckdb\nconst rows = await sql`SELECT COUNT(*) AS n FROM read_csv_auto('https://data.example.org/sales.csv')`;",
        ),
      ),
    );
    const dry = p.cellar('run', 'notebooks/remote.ipynb', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'note: task remote reads https://data.example.org/sales.csv, keyed by its URL only',
    );
    expect(dry.stdout).toContain('cellar run --rerun remote');
  });
});

describe('files the warehouse writes are side-effect outputs', () => {
  // `COPY … TO` writes the file from DuckDB, not through Node's fs: the task is served from the
  // cache only while the file holds what its run wrote, as for a `writeFileSync` target.
  it('a COPY TO target deleted or edited re-runs its task, which writes it again', () => {
    const p = withData(
      'copy.ipynb',
      notebook(
        SETUP,
        codeCell(
          'export_csv',
          "//| task: export_csv\n//| dialect: duckdb\nconst res = await sql`COPY (SELECT region, amount FROM read_csv_auto('data/sales.csv')) TO 'out/report.csv' (HEADER)`;",
        ),
      ),
    );
    mkdirSync(join(p.dir, 'notebooks', 'out'), { recursive: true });
    const nb = 'notebooks/copy.ipynb';
    const report = join(p.dir, 'notebooks', 'out', 'report.csv');
    expect(run(p, nb)).toEqual({ export_csv: 'ran' });
    expect(run(p, nb)).toEqual({ export_csv: 'cached' });
    rmSync(report);
    expect(run(p, nb)).toEqual({ export_csv: 'ran' });
    expect(existsSync(report)).toBe(true);
    writeFileSync(report, 'region,amount\nforged,1\n');
    expect(run(p, nb)).toEqual({ export_csv: 'ran' });
    expect(readFileSync(report, 'utf8')).toContain('north');
    expect(run(p, nb)).toEqual({ export_csv: 'cached' });
  });

  // A partitioned COPY writes a folder of files DuckDB names (`region=north/data_0.csv`): each file
  // found there after the statement ran is the task's, checked on a cache hit as a single file is.
  it('a file of a PARTITION_BY COPY deleted or edited re-runs its task', () => {
    const p = withData(
      'parts.ipynb',
      notebook(
        SETUP,
        codeCell(
          'export_parts',
          "//| task: export_parts\n//| dialect: duckdb\nconst res = await sql`COPY (SELECT region, amount FROM read_csv_auto('data/sales.csv')) TO 'out/parts' (FORMAT csv, HEADER, PARTITION_BY (region), OVERWRITE)`;",
        ),
      ),
    );
    mkdirSync(join(p.dir, 'notebooks', 'out'), { recursive: true });
    const nb = 'notebooks/parts.ipynb';
    const parts = join(p.dir, 'notebooks', 'out', 'parts');
    expect(run(p, nb)).toEqual({ export_parts: 'ran' });
    const files = readdirSync(parts, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort();
    expect(files.length).toBeGreaterThan(1);
    expect(run(p, nb)).toEqual({ export_parts: 'cached' });
    rmSync(files[1]!);
    expect(run(p, nb)).toEqual({ export_parts: 'ran' });
    expect(existsSync(files[1]!)).toBe(true);
    writeFileSync(files[0]!, 'amount\n999\n');
    expect(run(p, nb)).toEqual({ export_parts: 'ran' });
    expect(readFileSync(files[0]!, 'utf8')).not.toContain('999');
    expect(run(p, nb)).toEqual({ export_parts: 'cached' });
  });

  it('a task making a table anew and reading it back is cached, and re-runs when the file it loaded changes', () => {
    // A newcomer's finding: these re-ran on every run, keyed on the version of the table they
    // had just made themselves (its registry counter moves with every write).
    const p = withData(
      'staged.ipynb',
      notebook(
        SETUP,
        codeCell(
          'copied',
          "//| task: copied\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE st1(region VARCHAR, amount INT)`;\nawait sql`COPY st1 FROM 'data/sales.csv' (HEADER)`;\nconst copied = Number((await sql`SELECT SUM(amount) AS s FROM st1`)[0].s);",
        ),
        codeCell(
          'inserted',
          "//| task: inserted\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE st2(region VARCHAR, amount INT)`;\nawait sql`INSERT INTO st2 SELECT * FROM read_csv_auto('data/sales.csv')`;\nconst inserted = Number((await sql`SELECT SUM(amount) AS s FROM st2`)[0].s);",
        ),
        codeCell(
          'ctas',
          "//| task: ctas\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE st3 AS SELECT * FROM read_csv_auto('data/sales.csv')`;\nconst ctas = Number((await sql`SELECT SUM(amount) AS s FROM st3`)[0].s);",
        ),
      ),
    );
    const nb = 'notebooks/staged.ipynb';
    const all = (status: string) => ({ copied: status, inserted: status, ctas: status });
    expect(run(p, nb)).toEqual(all('ran'));
    expect(run(p, nb)).toEqual(all('cached'));
    editKeepingMtimeAndSize(
      join(p.dir, 'notebooks', 'data', 'sales.csv'),
      'south,340',
      'south,345',
    );
    expect(run(p, nb)).toEqual(all('ran'));
    for (const [t, v] of [
      ['copied', 'copied'],
      ['inserted', 'inserted'],
      ['ctas', 'ctas'],
    ])
      expect(show(p, nb, t!, v!)).toBe(465);
    expect(run(p, nb)).toEqual(all('cached'));
  });

  it('variant: a file EXPORT DATABASE wrote deleted re-runs its task (a newcomer stayed cached)', () => {
    const p = withData(
      'exported.ipynb',
      notebook(
        SETUP,
        codeCell(
          'snapshot',
          "//| task: snapshot\n//| dialect: duckdb\nawait sql`CREATE OR REPLACE TABLE kept AS SELECT * FROM read_csv_auto('data/sales.csv')`;\nawait sql`EXPORT DATABASE 'out/snap' (FORMAT csv)`;\nconst done = 1;",
        ),
      ),
    );
    mkdirSync(join(p.dir, 'notebooks', 'out'), { recursive: true });
    const nb = 'notebooks/exported.ipynb';
    const kept = join(p.dir, 'notebooks', 'out', 'snap', 'kept.csv');
    run(p, nb);
    expect(existsSync(kept)).toBe(true);
    // (Its own table write re-keys it once; then it holds.)
    run(p, nb);
    expect(run(p, nb)).toEqual({ snapshot: 'cached' });
    rmSync(kept);
    expect(run(p, nb)).toEqual({ snapshot: 'ran' });
    expect(existsSync(kept)).toBe(true);
  });
});
