// A failing task names the line of the cell as the notebook shows it, also when Prettier reflowed
// the generated code (a long chain over six lines, a one-line `if {…}` over three, an import of
// the cell hoisted to the module's top): the CLI aligns the generated code's tokens with the
// cell's (runtime/load/locate.ts `lineInCell`). Before, the line was counted in the generated module and
// a three-line cell reported `line 9`.
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

interface Failed {
  name: string;
  status: string;
  error?: string;
  location?: string;
}

describe('the line of a failure in code Prettier reflowed', () => {
  const p = project();
  p.write(
    'notebooks/reflow.ipynb',
    notebookText([
      codeCell(
        'setup',
        [
          "import { readFileSync } from 'node:fs';",
          'function pick(rows: { a: number }[], i: number) { const row = rows[i] as any; return row.a.toFixed(1); }',
        ].join('\n'),
      ),
      codeCell('params', "//| params\nconst mode = 'chain';"),
      // A long chain Prettier splits over six lines, then the failing statement on line 3.
      codeCell(
        'chain',
        [
          '//| task: chain',
          'const data = [{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }].map((r) => ({ ...r, c: r.a + r.b })).filter((r) => r.c > 2);',
          'const bad = mode === "chain" ? (data[10] as any).c : 0;',
        ].join('\n'),
      ),
      // One-line `if { … }` blocks Prettier prints over three lines each.
      codeCell(
        'blocks',
        [
          '//| task: blocks',
          "if (mode === 'x') { const f = (n: number): number => f(n + 1) + 1; f(0); }",
          "if (mode === 'y') { console.log('never'); }",
          "if (mode === 'chain') { const o: any = undefined; o.field.x; }",
          'const rj = 1;',
        ].join('\n'),
      ),
      // The import moves to the module's top: the lines below it must not shift up by one.
      codeCell(
        'hoisted',
        [
          '//| task: hoisted',
          "import { existsSync } from 'node:fs';",
          'const seen = existsSync("nope.txt");',
          "const text = mode === 'chain' ? readFileSync('missing-file.txt', 'utf8') : '';",
        ].join('\n'),
      ),
      // Template literals with `${…}` (nested, and one holding braces) before the failing line:
      // the `}` closing an interpolation goes back into the template, not into a new one that
      // swallowed the rest of the cell.
      codeCell(
        'templated',
        [
          '//| task: templated',
          'const u = 1;',
          'const t = `${u}`;',
          'const nested = `a ${`b ${u + 1} c`} d ${JSON.stringify({ k: { v: u } })} e`;',
          "const v = mode === 'chain' ? (undefined as any).field : 0;",
        ].join('\n'),
      ),
      // A setup-cell helper, reflowed in setup.ts, called from a task.
      codeCell('helper', '//| task: helper\nconst got = pick([{ a: 1 }], 5);'),
    ]),
  );

  it('names the line the notebook shows, not the generated module’s', () => {
    const r = p.cellar('run', 'notebooks/reflow.ipynb', '--keep-going', '--json');
    expect(r.code, r.stderr).toBe(1);
    const tasks = Object.fromEntries(
      (JSON.parse(r.stdout).tasks as Failed[]).map((t) => [t.name, t]),
    );
    expect(tasks.chain).toMatchObject({
      status: 'failed',
      location: 'notebooks/reflow.ipynb, cell 3 (id chain), line 3',
    });
    expect(tasks.blocks).toMatchObject({
      status: 'failed',
      location: 'notebooks/reflow.ipynb, cell 4 (id blocks), line 4',
    });
    expect(tasks.hoisted).toMatchObject({
      status: 'failed',
      location: 'notebooks/reflow.ipynb, cell 5 (id hoisted), line 4',
    });
    expect(tasks.helper).toMatchObject({
      status: 'failed',
      location: 'notebooks/reflow.ipynb, cell 1 (id setup), line 2',
    });
    expect(tasks.templated).toMatchObject({
      status: 'failed',
      location: 'notebooks/reflow.ipynb, cell 6 (id templated), line 5',
    });
    // The summary a person reads says the same.
    const text = p.cellar('run', 'notebooks/reflow.ipynb', 'chain');
    expect(text.stdout).toMatch(
      /- chain: .*\n\s+at notebooks\/reflow\.ipynb, cell 3 \(id chain\), line 3\n/,
    );
  });
});
