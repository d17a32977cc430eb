// What a task's docs page says about its cache key (docs item C of the tester's report): the
// "Cache key" section listed name, version, params, upstream, codec, code and packages, and left
// out the data files the code read and the environment variables it reads, which are in the key
// as much as the rest. They are listed from the last run's manifest and the reads it recorded,
// by path and by name only: a variable's value never appears on a page. Real CLI, real files.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

/** Every file under `dir`, as text. */
function allText(dir: string): string {
  return readdirSync(dir)
    .map((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? allText(path) : readFileSync(path, 'utf8');
    })
    .join('\n');
}

describe("a task page's Cache key section", () => {
  it('names the data files and folders its code read and the env variables it reads, never their values', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'data'));
    p.write('notebooks/data/limits.json', '{ "max": 3 }\n');
    p.write('notebooks/data/a.txt', 'a\n');
    p.write(
      'notebooks/auth.ipynb',
      notebookText([
        codeCell('imports', "import { readFileSync, readdirSync } from 'node:fs';"),
        codeCell(
          'auth',
          [
            '//| task: auth',
            "const max: number = JSON.parse(readFileSync('data/limits.json', 'utf8')).max;",
            "const tokenLength = (process.env.CELLAR_TEST_TOKEN ?? '').length;",
          ].join('\n'),
        ),
        // Variant: a folder listing is in the key too.
        codeCell('listing', "//| task: listing\nconst names = readdirSync('data');"),
      ]),
    );
    p.setEnv('CELLAR_TEST_TOKEN', 'sekrit-token-value-42');
    // Twice: the data files were written just now, so the first run's result (whose key could
    // not hold them) cannot be proven the next key's; the second run stores it under that key.
    for (let i = 0; i < 2; i++) {
      const run = p.cellar('run', 'notebooks/auth.ipynb');
      expect(run.code, run.stdout + run.stderr).toBe(0);
    }
    const docs = p.cellar('docs', 'notebooks/auth.ipynb', '--out', 'site', '--no-api');
    expect(docs.code, docs.stdout + docs.stderr).toBe(0);

    const key = (task: string) =>
      /The key hashes[^<]*/.exec(p.read(`site/tasks/auth/${task}.html`))![0].replace(/&#39;/g, "'");
    expect(key('auth')).toContain(
      'the content of the data files and folders its code read (notebooks/data/limits.json)',
    );
    expect(key('auth')).toContain(
      'the environment variables its code reads (CELLAR_TEST_TOKEN; values are hashed)',
    );
    expect(key('listing')).toContain('its code read (notebooks/data/)');
    expect(key('listing')).not.toContain('environment variables');
    expect(allText(join(p.dir, 'site'))).not.toContain('sekrit-token-value-42');
  });

  it("a SQL task's page lists the files its SQL reads: literal paths before any run, the keyed ones (a helper's too) after", () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'data'));
    p.write('notebooks/data/sales.csv', 'region,amount\nnorth,120\n');
    p.write('notebooks/data/costs.csv', 'item,amount\nrent,900\n');
    p.write(
      'notebooks/files.ipynb',
      notebookText([
        codeCell(
          'setup',
          "import { sql } from 'cellar';\nasync function sumOf(file: string) {\n  const r = await sql.dialect('duckdb')`SELECT SUM(amount) AS s FROM read_csv_auto(${file})`;\n  return Number(r[0].s);\n}",
        ),
        codeCell(
          'total',
          "//| task: total\n//| dialect: duckdb\nconst rows = await sql`SELECT SUM(amount) AS s FROM read_csv_auto('data/sales.csv')`;\nconst total = Number(rows[0].s);",
        ),
        codeCell('costs', "//| task: costs\nconst costTotal = await sumOf('data/costs.csv');"),
      ]),
    );
    p.setEnv('CELLAR_DUCKDB_PATH', 'warehouse.duckdb');
    const page = (task: string) => p.read(`site/tasks/files/${task}.html`);
    const build = () => {
      const docs = p.cellar('docs', 'notebooks/files.ipynb', '--out', 'site', '--no-api');
      expect(docs.code, docs.stdout + docs.stderr).toBe(0);
    };
    build();
    // Before any run: the literal path, as written in the SQL.
    expect(page('total')).toMatch(/Files: <code>data\/sales\.csv<\/code>/);
    expect(page('total')).toContain('the content of the files its SQL reads (data/sales.csv)');
    for (let i = 0; i < 2; i++) {
      const run = p.cellar('run', 'notebooks/files.ipynb');
      expect(run.code, run.stdout + run.stderr).toBe(0);
    }
    build();
    // After: the paths the key holds, from the project root, and the helper's path too.
    expect(page('total')).toMatch(/Files: <code>notebooks\/data\/sales\.csv<\/code>/);
    expect(page('costs')).toMatch(/Files: <code>notebooks\/data\/costs\.csv<\/code>/);
  });
});

describe('whether the figures on the pages are what a run would serve now', () => {
  it('says "Up to date" while the last full run still holds, and that it does not know once a data file it read changed', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'data'));
    p.write('notebooks/data/n.txt', '3\n');
    p.write(
      'notebooks/count.ipynb',
      notebookText([
        codeCell('imports', "import { readFileSync } from 'node:fs';"),
        codeCell('n', "//| task: n\nconst n = Number(readFileSync('data/n.txt', 'utf8'));"),
        codeCell('twice', '//| task: twice\nconst twice = n * 2;'),
      ]),
    );
    // Twice: the first run discovers the read; the second, all cached, leaves the warm record.
    for (let i = 0; i < 2; i++) expect(p.cellar('run', 'notebooks/count.ipynb').code).toBe(0);
    const docs = () => {
      const r = p.cellar('docs', 'notebooks/count.ipynb', '--out', 'site', '--no-api');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      return {
        pipeline: p.read('site/pipelines/count.html'),
        task: p.read('site/tasks/count/twice.html'),
      };
    };
    const fresh = docs();
    for (const page of [fresh.pipeline, fresh.task]) {
      expect(page).toContain('<strong>Up to date</strong>');
      expect(page).not.toContain('cellar-maybe-stale');
    }
    p.write('notebooks/data/n.txt', '4\n');
    const moved = docs();
    for (const page of [moved.pipeline, moved.task]) {
      expect(page).not.toContain('Up to date');
      expect(page).toContain('changed since is not known here');
      expect(page).toContain('cellar run notebooks/count.ipynb --dry-run');
    }
    // A run brings it back.
    expect(p.cellar('run', 'notebooks/count.ipynb').code).toBe(0);
    expect(p.cellar('run', 'notebooks/count.ipynb').code).toBe(0);
    expect(docs().task).toContain('<strong>Up to date</strong>');
  });
});

describe("cellar build's package.json for a pipeline importing no package", () => {
  it('lists as dependencies only what every run loads; what the runtime loads on demand is optional', () => {
    const p = project();
    p.write(
      'notebooks/tiny.ipynb',
      notebookText([codeCell('one', '//| task: one\nconst one = 1;')]),
    );
    const r = p.cellar('build', 'notebooks/tiny.ipynb', '--out', 'dist/tiny', '--no-lockfile');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const pkg = JSON.parse(p.read('dist/tiny/package.json')) as {
      dependencies: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies)).toEqual(['apache-arrow']);
    for (const lazy of [
      'bullmq',
      '@google-cloud/bigquery',
      '@google-cloud/storage',
      'ml-random-forest',
    ])
      expect(pkg.optionalDependencies).toHaveProperty(lazy);
    expect(r.stdout).toContain('packages at run time: apache-arrow@');
  });
});
