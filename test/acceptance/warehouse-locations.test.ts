// A warehouse failure in a compiled task names the notebook, the cell and the line the user wrote:
// the line inside a multi-line sql`` template the engine complained about (a missing table, a
// BigQuery construct refused on DuckDB), or the `//| check:` line of a failing check. The real
// CLI runs a real notebook on the embedded DuckDB; nothing is mocked.
import { afterAll, describe, expect, it } from 'vitest';
import {
  STACK_FRAME,
  codeCell,
  markdownCell,
  project,
  removeProjects,
  tslabNotebook,
} from './harness.js';

afterAll(removeProjects);

type TaskSummary = { name: string; status: string; error?: string; location?: string };

const NOTEBOOK = tslabNotebook([
  markdownCell('intro', '# Warehouse mistakes'),
  codeCell('setup', "import { sql } from 'cellar';"),
  // Line 3 of the cell (line 2 of the SQL) names the missing table.
  codeCell(
    'missing',
    '//| task: missing\nconst n = await sql`SELECT COUNT(*) AS n\n  FROM \\`cellar-examples.vega.nosuch\\``;',
  ),
  // Line 4 of the cell uses a construct DuckDB cannot reproduce.
  codeCell(
    'refused',
    "//| task: refused\nconst rows = await sql`SELECT\n  1 AS a,\n  FARM_FINGERPRINT('x') AS f`;",
  ),
  // The second check fails: its directive is line 3 of the cell.
  codeCell(
    'checked',
    '//| task: checked\n//| check: rows >= 1\n//| check: rows >= 5\nconst few = await sql`SELECT 1 AS a`;',
  ),
]);

describe('a warehouse failure in a compiled task', () => {
  it('names the notebook, the cell and the line: the SQL line the engine reported, the refused construct, the failing check', () => {
    const p = project();
    p.write('notebooks/wh.ipynb', JSON.stringify(NOTEBOOK, null, 1));
    const r = p.cellar('run', 'notebooks/wh.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = Object.fromEntries(
      (JSON.parse(r.stdout).tasks as TaskSummary[]).map((t) => [t.name, t]),
    );
    expect(tasks.missing).toMatchObject({
      status: 'failed',
      location: 'notebooks/wh.ipynb, cell 3 (id missing), line 3',
    });
    expect(tasks.missing!.error).toMatch(
      /^task missing \(notebooks\/wh\.ipynb, cell 3\): DuckDB: Catalog Error: .*nosuch/,
    );
    expect(tasks.refused).toMatchObject({
      status: 'failed',
      location: 'notebooks/wh.ipynb, cell 4 (id refused), line 4',
    });
    expect(tasks.refused!.error).toContain('FARM_FINGERPRINT is not supported on DuckDB');
    expect(tasks.checked).toMatchObject({
      status: 'failed',
      location: 'notebooks/wh.ipynb, cell 5 (id checked), line 3',
    });
    expect(tasks.checked!.error).toContain('check "rows >= 5" failed');

    // The text summary says the same, without a stack trace; --in-process finds the same lines.
    const text = p.cellar('run', 'notebooks/wh.ipynb', '--keep-going', '--in-process');
    expect(text.stdout).toContain('        at notebooks/wh.ipynb, cell 3 (id missing), line 3');
    expect(text.stdout).toContain('        at notebooks/wh.ipynb, cell 4 (id refused), line 4');
    expect(text.stdout).toContain('        at notebooks/wh.ipynb, cell 5 (id checked), line 3');
    expect(text.stdout + text.stderr).not.toMatch(STACK_FRAME);
  });

  it('follows the cells when the notebook changes above them', () => {
    const p = project();
    const nb = structuredClone(NOTEBOOK);
    p.write('notebooks/wh.ipynb', JSON.stringify(nb, null, 1));
    expect(p.cellar('compile', 'notebooks/wh.ipynb').code).toBe(0);
    nb.cells.splice(1, 0, {
      cell_type: 'markdown',
      id: 'more',
      metadata: {},
      source: 'More prose.',
    });
    p.write('notebooks/wh.ipynb', JSON.stringify(nb, null, 1));
    const r = p.cellar('run', 'notebooks/wh.ipynb', 'missing', '--json');
    const missing = (JSON.parse(r.stdout).tasks as TaskSummary[]).find((t) => t.name === 'missing');
    expect(missing?.location).toBe('notebooks/wh.ipynb, cell 4 (id missing), line 3');
  });

  it("names the line for a materialised query and for SQL in DuckDB's own dialect", () => {
    const p = project();
    const nb = structuredClone(NOTEBOOK);
    nb.cells.splice(
      2,
      3,
      // The un-awaited Query is created as a table after the cell's code ran: still its line 4.
      codeCell(
        'mat',
        '//| task: mat\n//| materialize: mart.thing\nconst q = sql`SELECT a\n  FROM \\`cellar-examples.vega.nosuch\\``;',
      ),
      // Untranslated SQL: DuckDB's own `LINE 3:` is the template's line 3, the cell's line 5.
      codeCell(
        'duck',
        '//| task: duck\n//| dialect: duckdb\nconst r = await sql`SELECT 1 AS a,\n  2 AS b,\n  nocol AS c`;',
      ),
    );
    p.write('notebooks/wh.ipynb', JSON.stringify(nb, null, 1));
    const r = p.cellar('run', 'notebooks/wh.ipynb', '--keep-going', '--json');
    const tasks = Object.fromEntries(
      (JSON.parse(r.stdout).tasks as TaskSummary[]).map((t) => [t.name, t]),
    );
    expect(tasks.mat).toMatchObject({
      status: 'failed',
      location: 'notebooks/wh.ipynb, cell 3 (id mat), line 4',
    });
    expect(tasks.duck).toMatchObject({
      status: 'failed',
      location: 'notebooks/wh.ipynb, cell 4 (id duck), line 5',
    });
    expect(tasks.duck!.error).toContain('nocol');
  });
});
