// Which files a DuckDB statement reads by path (runtime/warehouse/sql/files.ts): each form DuckDB
// accepts, the ones that only look like it, and bound parameters. The compiler uses the same
// scanner (compiler/analyze/sql.ts).
import { describe, expect, it } from 'vitest';
import { copyFolders, copyTargets, fileReads } from '../../runtime/warehouse/sql/files.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from '../compiler/notebook.js';

const paths = (text: string, dialect: 'duckdb' | 'bigquery' = 'duckdb', params?: unknown[]) =>
  fileReads(text, dialect, params).reads.map((r) => `${r.kind}:${r.path}`);

describe('files a statement reads by path', () => {
  it.each([
    ["SELECT * FROM read_csv_auto('data/sales.csv')", ['file:data/sales.csv']],
    ["SELECT * FROM READ_CSV('a.csv', header = true)", ['file:a.csv']],
    ["SELECT * FROM read_parquet('data/*.parquet')", ['glob:data/*.parquet']],
    ["SELECT * FROM read_json_auto('x/**/y?.json')", ['glob:x/**/y?.json']],
    [
      "SELECT * FROM read_parquet(['a.parquet', 'b.parquet'])",
      ['file:a.parquet', 'file:b.parquet'],
    ],
    ["SELECT * FROM 'data/sales.csv'", ['file:data/sales.csv']],
    ['SELECT * FROM "data/sales.csv"', ['file:data/sales.csv']],
    ["SELECT * FROM t JOIN 'other.parquet' USING (id)", ['file:other.parquet']],
    ["COPY sales FROM 'data/sales.csv' (HEADER)", ['file:data/sales.csv']],
    ["ATTACH 'other.duckdb' AS other (READ_ONLY)", ['file:other.duckdb']],
    ["ATTACH DATABASE IF NOT EXISTS 'o.duckdb' AS o", ['file:o.duckdb']],
    ["SELECT * FROM read_csv('https://example.org/x.csv')", ['url:https://example.org/x.csv']],
    ["SELECT * FROM read_parquet('s3://bucket/x/*.parquet')", ['url:s3://bucket/x/*.parquet']],
    ["SELECT * FROM read_csv('file:///srv/x.csv')", ['file:/srv/x.csv']],
    ["SELECT * FROM read_csv('it''s.csv')", ["file:it's.csv"]],
    ["SELECT * FROM read_csv('a.csv') UNION ALL SELECT * FROM read_csv('a.csv')", ['file:a.csv']],
  ])('%s', (text, expected) => {
    expect(paths(text)).toEqual(expected);
  });

  it.each([
    ["SELECT 'data/sales.csv' AS name FROM t", 'a string that is a value'],
    ["-- SELECT * FROM read_csv('old.csv')\nSELECT 1", 'a commented-out read'],
    ["/* FROM 'x.csv' */ SELECT 1", 'a block comment'],
    ["SELECT TRIM(' ' FROM 'abc')", 'FROM inside TRIM'],
    ["COPY sales TO 'out.csv'", 'a COPY that writes'],
    ['SELECT * FROM "sales"', 'a quoted table name'],
    ["SELECT * FROM t WHERE name = 'read_csv(''x.csv'')'", 'a call inside a string'],
  ])('no read: %s (%s)', (text) => {
    expect(paths(text)).toEqual([]);
  });

  it('resolves bound parameters ($n on DuckDB, @p<n> as the compiler sees templates)', () => {
    expect(paths('SELECT * FROM read_csv_auto($1)', 'duckdb', ['data/x.csv'])).toEqual([
      'file:data/x.csv',
    ]);
    expect(paths('SELECT * FROM read_csv([$2, $1])', 'duckdb', ['b.csv', 'a.csv'])).toEqual([
      'file:a.csv',
      'file:b.csv',
    ]);
    expect(
      paths('SELECT * FROM read_parquet($1)', 'duckdb', [['p/1.parquet', 'p/2.parquet']]),
    ).toEqual(['file:p/1.parquet', 'file:p/2.parquet']);
    expect(paths('SELECT * FROM read_csv_auto(@p0)', 'bigquery', ['d/x.csv'])).toEqual([
      'file:d/x.csv',
    ]);
  });

  it('names the file a top-level COPY … TO writes (a side-effect output), not a TO inside the query', () => {
    expect(copyTargets(`COPY (SELECT 1 AS a) TO 'out/report.csv' (HEADER)`)).toEqual([
      'out/report.csv',
    ]);
    expect(copyTargets('COPY t TO $1 (FORMAT parquet)', ['out/t.parquet'])).toEqual([
      'out/t.parquet',
    ]);
    expect(copyTargets(`COPY t FROM 'in.csv'`)).toEqual([]);
    expect(copyTargets(`COPY t TO 's3://b/x.csv'`)).toEqual([]);
    expect(copyTargets(`SELECT 'COPY t TO x' AS s -- COPY t TO 'y.csv'`)).toEqual([]);
  });

  it('names the folder a COPY writes files into (PARTITION_BY, PER_THREAD_OUTPUT, FILE_SIZE_BYTES), not as one file', () => {
    const partitioned = `COPY sales TO 'out/parts' (FORMAT parquet, PARTITION_BY (region), OVERWRITE)`;
    expect(copyFolders(partitioned)).toEqual(['out/parts']);
    expect(copyTargets(partitioned)).toEqual([]);
    expect(copyFolders('COPY t TO $1 (PER_THREAD_OUTPUT true)', ['out/t'])).toEqual(['out/t']);
    expect(copyFolders(`COPY t TO 'out/big' (FILE_SIZE_BYTES '10MB')`)).toEqual(['out/big']);
    expect(copyFolders(`COPY t TO 'out/x.csv'`)).toEqual([]);
    expect(copyFolders(`EXPORT DATABASE 'out/snap' (FORMAT parquet)`)).toEqual(['out/snap']);
    expect(copyFolders('EXPORT DATABASE other TO $1', ['out/other'])).toEqual(['out/other']);
    expect(copyFolders(`EXPORT DATABASE 's3://b/snap'`)).toEqual([]);
    expect(copyFolders(`COPY t TO 's3://b/parts' (PARTITION_BY (r))`)).toEqual([]);
  });

  it('reports a path it cannot know from the text as dynamic, not as a read', () => {
    expect(fileReads('SELECT * FROM read_csv_auto(@p0)', 'bigquery')).toEqual({
      reads: [],
      dynamic: [{ call: 'read_csv_auto(…)', expr: '@p0', sql: '$1', params: [0] }],
    });
    // With the argument's text as written, to be evaluated by DuckDB (session.ts): its
    // placeholders renumbered from $1, each naming the statement's bound value it stands for.
    expect(
      fileReads("SELECT $1 AS k FROM read_csv('data/' || $2 || '.csv')", 'duckdb', ['k', 'x']),
    ).toEqual({
      reads: [],
      dynamic: [
        {
          call: 'read_csv(…)',
          expr: "'data/' || $2 || '.csv'",
          sql: "'data/' || $1 || '.csv'",
          params: [1],
        },
      ],
    });
    // A `$1` inside a string literal is text, not a placeholder: it is neither renumbered nor bound.
    expect(
      fileReads("SELECT $1 AS k FROM read_csv(replace('d/$1.csv', '$1', $1) || $$$2$$)").dynamic,
    ).toEqual([
      {
        call: 'read_csv(…)',
        expr: "replace('d/$1.csv', '$1', $1) || $$$2$$",
        sql: "replace('d/$1.csv', '$1', $1) || $$$2$$",
        params: [0],
      },
    ]);
    expect(
      fileReads(
        "SELECT * FROM read_csv_auto(concat('data/', lower('Y.CSV')), header = true) JOIN read_parquet([lower('A.parquet')]) USING (k)",
      ).dynamic,
    ).toEqual([
      {
        call: 'read_csv_auto(…)',
        expr: "concat('data/', lower('Y.CSV'))",
        sql: "concat('data/', lower('Y.CSV'))",
        params: [],
      },
      {
        call: 'read_parquet(…)',
        expr: "[lower('A.parquet')]",
        sql: "[lower('A.parquet')]",
        params: [],
      },
    ]);
  });

  it("reads DuckDB's dollar-quoted strings ($$…$$, $tag$…$tag$) as strings: paths, never placeholders", () => {
    expect(paths('SELECT * FROM $$data/a.csv$$')).toEqual(['file:data/a.csv']);
    expect(paths("SELECT * FROM read_csv($p$data/it's.csv$p$, header = true)")).toEqual([
      "file:data/it's.csv",
    ]);
    expect(paths('ATTACH $$other.duckdb$$ AS o')).toEqual(['file:other.duckdb']);
    expect(paths("SELECT $$read_csv('no.csv')$$ AS text")).toEqual([]);
    expect(copyTargets('COPY t TO $$out/x.csv$$')).toEqual(['out/x.csv']);
    // A `$1` outside a string is still a placeholder.
    expect(fileReads('SELECT * FROM read_csv($1)', 'duckdb', ['b.csv']).reads).toEqual([
      { path: 'b.csv', kind: 'file' },
    ]);
  });

  it('reads BigQuery-dialect templates with their own quoting (double-quoted strings, # comments)', () => {
    expect(paths('SELECT * FROM read_csv_auto("data/a.csv")', 'bigquery')).toEqual([
      'file:data/a.csv',
    ]);
    expect(paths("# read_csv('no.csv')\nSELECT 1", 'bigquery')).toEqual([]);
  });
});

describe("the compiler lists the literal paths of a task's own SQL", () => {
  it('in warehouse.files (a quoted path is a file, not a table); a helper using sql.dialect() makes its callers warehouse tasks', async () => {
    const text = notebookText([
      "import { sql } from 'cellar';\n\nasync function sumOf(file: string) {\n  return await sql.dialect('duckdb')`SELECT SUM(amount) AS s FROM read_csv_auto(${file})`;\n}",
      "//| task: literal\n//| dialect: duckdb\nconst rows = await sql`SELECT * FROM read_csv_auto('data/a.csv') JOIN 'data/b/*.parquet' USING (id)`;",
      "//| task: own_dialect\nconst more = await sql.dialect('duckdb')`SELECT * FROM read_json_auto('c.json')`;",
      "//| task: via_helper\nconst s = await sumOf('data/costs.csv');",
      '//| task: plain\nconst n = 1 + 1;',
    ]);
    const result = await compileNotebook('notebooks/files.ipynb', text, {
      workdir: '../../notebooks',
      format: false,
    });
    expect(result.diagnostics.filter((d) => d.severity !== 'note')).toEqual([]);
    const file = (name: string) =>
      result.files.find((f) => f.path.endsWith(`/${name}.ts`))!.contents;
    const filesOf = (code: string) =>
      JSON.parse(/files: (\[[^\]]*\])/.exec(code)?.[1]?.replace(/'/g, '"') ?? 'null');
    expect(filesOf(file('literal'))).toEqual(['data/a.csv', 'data/b/*.parquet']);
    expect(file('literal')).not.toMatch(/reads: /);
    expect(filesOf(file('own_dialect'))).toEqual(['c.json']);
    expect(file('via_helper')).toMatch(/warehouse: \{\s*\}/);
    expect(file('plain')).not.toMatch(/warehouse:/);
  }, 600_000); // compiling loads TypeScript: no speed assumption
});
