// The pure parts of the `sql` template: composing text and parameters, finding and rewriting
// table names, spotting writes, parsing checks, reading the config.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sql, loadWarehouseConfig, WarehouseError } from 'cellar';
import { parseCheck } from '../../runtime/warehouse/tasks/checks.js';
import { compose } from '../../runtime/warehouse/sql/compose.js';
import { rewriteTables, scanTables, writeTarget } from '../../runtime/warehouse/sql/names.js';

describe('compose', () => {
  it('binds values as parameters and never splices them', () => {
    const evil = "x'; DROP TABLE users; --";
    const c = compose(
      sql`SELECT * FROM t WHERE a = ${evil} AND b > ${3} AND c = ${1.5}`,
      'bigquery',
    );
    expect(c.text).toBe(
      'SELECT * FROM t WHERE a = __cellar_p0__ AND b > __cellar_p1__ AND c = __cellar_p2__',
    );
    expect(c.params.map((p) => [p.type, p.value])).toEqual([
      ['STRING', evil],
      ['INT64', 3],
      ['FLOAT64', 1.5],
    ]);
  });

  it('inlines nested queries as subqueries with renumbered parameters', () => {
    const inner = sql`SELECT id FROM t WHERE x = ${'a'}`;
    const c = compose(
      sql`SELECT * FROM ${inner} AS i WHERE y = ${2} AND id IN (SELECT id FROM ${inner})`,
      'bigquery',
    );
    expect(c.text).toBe(
      'SELECT * FROM (SELECT id FROM t WHERE x = __cellar_p0__) AS i WHERE y = __cellar_p1__ AND id IN (SELECT id FROM (SELECT id FROM t WHERE x = __cellar_p2__))',
    );
    expect(c.params.map((p) => p.value)).toEqual(['a', 2, 'a']);
  });

  it('quotes table references and identifiers in the dialect', () => {
    const ref = { kind: 'cellar.table' as const, name: 'mart.daily_0123456789ab' };
    expect(compose(sql`SELECT ${sql.ident('my col')} FROM ${ref}`, 'bigquery').text).toBe(
      'SELECT `my col` FROM `mart`.`daily_0123456789ab`',
    );
    expect(compose(sql`SELECT ${sql.ident('my col')} FROM ${ref}`, 'duckdb').text).toBe(
      'SELECT "my col" FROM "mart"."daily_0123456789ab"',
    );
  });

  it('refuses an array of row objects with a hint about materialising', () => {
    expect(() => compose(sql`SELECT * FROM ${[{ a: 1 }]}`, 'bigquery')).toThrow(
      /materialise that task/,
    );
  });

  it('refuses sql called as a function', () => {
    expect(() => (sql as unknown as (s: string) => unknown)('SELECT 1')).toThrow(WarehouseError);
  });
});

describe('table names', () => {
  it('finds tables after FROM/JOIN and backquoted dotted names, not columns or literals', () => {
    const text =
      "SELECT t.a, EXTRACT(YEAR FROM t.d) FROM `cellar-examples.vega.flights` AS t JOIN mart.daily d ON d.x = t.x WHERE s = 'FROM x.y' -- FROM c.d\n";
    expect(scanTables(text).map((t) => t.parts.join('.'))).toEqual([
      'cellar-examples.vega.flights',
      'mart.daily',
    ]);
  });

  it('leaves one-part names (CTEs) and table functions alone', () => {
    expect(scanTables('WITH a AS (SELECT 1) SELECT * FROM a JOIN UNNEST(x.y) AS u')).toEqual([]);
  });

  it('rewrites only the names the resolver maps', () => {
    const out = rewriteTables('SELECT * FROM mart.daily JOIN vega.flights USING (origin)', (p) =>
      p.join('.') === 'mart.daily' ? '`mart`.`daily_abc`' : null,
    );
    expect(out).toBe('SELECT * FROM `mart`.`daily_abc` JOIN vega.flights USING (origin)');
  });

  it('spots the table a statement writes', () => {
    expect(writeTarget('INSERT INTO src.events VALUES (1)')).toEqual(['src', 'events']);
    expect(
      scanTables('INSERT INTO `p.src.events` (a, b) VALUES (1, 2)').map((t) => t.parts.join('.')),
    ).toEqual(['p.src.events']);
    expect(writeTarget('-- note\nCREATE OR REPLACE TABLE `p.mart.x` AS SELECT 1')).toEqual([
      'p',
      'mart',
      'x',
    ]);
    expect(writeTarget('SELECT * FROM src.events')).toBeNull();
  });
});

describe('checks', () => {
  it('parses each kind', () => {
    expect(parseCheck('rows >= 1_000')).toMatchObject({ kind: 'rows', op: '>=', value: 1000 });
    expect(parseCheck('columns species:string, body_mass_g:number')).toMatchObject({
      kind: 'columns',
      columns: [
        { name: 'species', type: 'string' },
        { name: 'body_mass_g', type: 'number' },
      ],
    });
    expect(parseCheck('not_null species, island')).toMatchObject({
      kind: 'not_null',
      columns: ['species', 'island'],
    });
    expect(parseCheck('partition ds = @run_date')).toMatchObject({
      kind: 'partition',
      column: 'ds',
      value: { param: 'run_date' },
    });
  });

  it('reports a bad check as data, with the reason', () => {
    expect(parseCheck('columns a:float')).toMatchObject({
      code: 'E_CHECK_SYNTAX',
      message: expect.stringContaining('unknown type "float"'),
    });
    expect(parseCheck('rowz > 3')).toMatchObject({ code: 'E_CHECK_SYNTAX' });
  });
});

describe('config', () => {
  it('defaults to DuckDB in <root>/.cellar with BigQuery SQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-cfg-'));
    writeFileSync(join(dir, 'package.json'), '{}');
    const cfg = loadWarehouseConfig(dir, {});
    expect(cfg).toMatchObject({
      kind: 'duckdb',
      dialect: 'bigquery',
      maxBytesBilled: null,
      duckdb: { path: join(dir, '.cellar', 'warehouse.duckdb'), seed: true },
    });
  });

  it('reads cellar.config.json from a parent folder and lets the environment win', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-cfg-'));
    writeFileSync(
      join(dir, 'cellar.config.json'),
      JSON.stringify({
        warehouse: {
          kind: 'bigquery',
          maxBytesBilled: 1000,
          bigquery: { project: 'acme', dataset: 'mart' },
        },
      }),
    );
    const sub = join(dir, 'notebooks');
    mkdirSync(sub);
    const cfg = loadWarehouseConfig(sub, {
      CELLAR_BQ_LOCATION: 'EU',
      CELLAR_MAX_BYTES_BILLED: '5000',
    });
    expect(cfg).toMatchObject({
      kind: 'bigquery',
      maxBytesBilled: 5000,
      projectRoot: dir,
      bigquery: { project: 'acme', dataset: 'mart', location: 'EU' },
    });
    expect(loadWarehouseConfig(sub, { CELLAR_WAREHOUSE: 'duckdb' }).kind).toBe('duckdb');
  });

  it('names the setting when it is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-cfg-'));
    writeFileSync(join(dir, 'cellar.config.json'), '{"warehouse": {"kind": "bigquery"}}');
    expect(() => loadWarehouseConfig(dir, {})).toThrow(/needs a project.*CELLAR_BQ_PROJECT/);
    expect(() => loadWarehouseConfig(dir, { CELLAR_WAREHOUSE: 'snowflake' })).toThrow(
      /'duckdb' or 'bigquery'.*CELLAR_WAREHOUSE/,
    );
  });
});

describe('lineage', () => {
  it('traces output columns to base tables through CTEs, ignoring parameters', async () => {
    const { analyzeTemplate } = await import('../../runtime/warehouse/sql/lineage.js');
    const strings = [
      'WITH o AS (SELECT origin, COUNT(*) AS n FROM `cellar-examples.vega.flights` WHERE delay > ',
      ' GROUP BY origin) SELECT o.origin, o.n * 2 AS n2, r.route_delay_rate FROM o JOIN mart.route_delay_rates r ON r.origin = o.origin',
    ];
    const a = await analyzeTemplate(strings);
    expect(a.tables).toEqual(['cellar-examples.vega.flights', 'mart.route_delay_rates']);
    expect(
      a.columns.map((c) => [c.column, c.sources.map((s) => `${s.table}.${s.column}`)]),
    ).toEqual([
      ['origin', ['cellar-examples.vega.flights.origin']],
      ['n2', []],
      ['route_delay_rate', ['mart.route_delay_rates.route_delay_rate']],
    ]);
  });
});
