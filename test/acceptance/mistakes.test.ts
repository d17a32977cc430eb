// The mistakes people make in notebooks, through the real CLI: each must stop with an exit code,
// name the notebook, the cell (1-based, with its id) and the line, show the line with a caret,
// say how to fix it, write nothing, and never print a stack trace. And the tslab traps that are
// not errors in a pipeline (`{ seed }` shorthand) warn without stopping the compile.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { STACK_FRAME, fixtures, project, removeProjects, showOutput } from './harness.js';

afterAll(removeProjects);

const sales = readFileSync(join(fixtures, 'sales.ipynb'), 'utf8');

/** sales.ipynb with one cell's source text edited (JSON-escaped strings replaced in place). */
function salesWith(from: string, to: string): string {
  const escaped = (s: string) => JSON.stringify(s).slice(1, -1);
  expect(sales).toContain(escaped(from));
  return sales.replace(escaped(from), escaped(to));
}

function compileBroken(text: string) {
  const p = project();
  p.write('notebooks/sales.ipynb', text);
  const r = p.cellar('compile');
  return { p, r };
}

describe('compile errors are located and explained', () => {
  it.each([
    {
      what: 'a misspelt name',
      edit: ['const ranked = [...df]', 'const ranked = [...dff]'],
      where:
        'notebooks/sales.ipynb, cell 10 (id report), line 2, column 20: error E_UNDECLARED_NAME',
      fix: 'did you mean `df`?',
    },
    {
      what: "a task sorting another task's array in place",
      edit: ['const ranked = [...df].sort(', 'const ranked = df.sort('],
      where:
        'notebooks/sales.ipynb, cell 10 (id report), line 2, column 16: error E_MUTATES_UPSTREAM',
      fix: 'copy it first',
    },
    {
      what: "a loop rounding another task's rows in place",
      edit: [
        'const ranked = [...df]',
        'for (const row of df) row.total = Math.round(row.total);\nconst ranked = [...df]',
      ],
      where:
        'notebooks/sales.ipynb, cell 10 (id report), line 2, column 23: error E_MUTATES_UPSTREAM',
      fix: 'would share the elements',
    },
    {
      what: 'a param array changed by a task',
      edit: ['meta;', "regions.push('west');\nmeta;"],
      where:
        'notebooks/sales.ipynb, cell 10 (id report), line 5, column 1: error E_MUTATES_UPSTREAM',
      fix: 'structuredClone(regions)',
    },
    {
      what: '`let df = df…` in a new cell (tslab rejects it too)',
      edit: ['let df = [...totals].map(', 'let df = [...df, ...totals].map('],
      where:
        'notebooks/sales.ipynb, cell 9 (id c8), line 1, column 14: error E_USED_BEFORE_DECLARATION',
      fix: 'const df2 = …',
    },
    {
      what: 'a misspelt directive',
      edit: ['//| task: report', '//| task: report\n//| verison: 2'],
      where: 'notebooks/sales.ipynb, cell 10 (id report), line 2: error E_UNKNOWN_DIRECTIVE',
      fix: 'did you mean `version`?',
    },
    {
      what: 'a test of a task that does not exist',
      edit: ['//| test: totals', '//| test: totalz'],
      where: 'notebooks/sales.ipynb, cell 11 (id totals-test), line 1: error E_UNKNOWN_TASK',
      fix: 'did you mean `totals`?',
    },
    {
      what: 'a syntax error',
      edit: ['const ranked = [...df]', 'const ranked = [...df'],
      where: 'notebooks/sales.ipynb, cell 10 (id report), line 2',
      fix: 'E_SYNTAX',
    },
  ])('$what', ({ edit, where, fix }) => {
    const { p, r } = compileBroken(salesWith(edit[0]!, edit[1]!));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(where);
    expect(r.stderr).toMatch(/\n\s+\d+ \| .+\n/); // the offending line, as written
    if (where.includes('column')) expect(r.stderr).toMatch(/\n\s+\| +\^\n/); // and a caret under the spot
    expect(r.stderr).toContain(fix);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(r.stdout + r.stderr).toContain('1 error, nothing written');
    expect(() => p.read('generated/sales/pipeline.ts')).toThrow();

    // `cellar run` and `cellar plan` give the same located message and do not run anything.
    const run = p.cellar('run', 'notebooks/sales.ipynb');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(where);
    expect(run.stderr).not.toMatch(STACK_FRAME);
    const plan = p.cellar('plan', 'notebooks/sales.ipynb', '--json');
    expect(plan.code).toBe(1);
    const json = JSON.parse(plan.stdout);
    expect(json.tasks).toEqual([]);
    expect(json.diagnostics[0]).toMatchObject({
      severity: 'error',
      notebook: 'notebooks/sales.ipynb',
    });
  });

  it('two notebooks with the same file name in different folders are refused, not overwritten', () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/2024', 'notebooks/2025']);
    p.write('notebooks/2024/sales.ipynb', sales);
    p.write('notebooks/2025/sales.ipynb', sales);
    const r = p.cellar('compile');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'notebooks/2024/sales.ipynb: error E_DUPLICATE_OUTPUT: compiles to generated/sales/, as notebooks/2025/sales.ipynb does',
    );
    expect(r.stderr).toContain('rename one of the notebooks');
    expect(() => p.read('generated/sales/pipeline.ts')).toThrow();
  });

  it("variant: run one at a time, the second is refused instead of taking over the first one's folder and workspace", () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/2024', 'notebooks/2025']);
    p.write('notebooks/2024/sales.ipynb', sales);
    p.write('notebooks/2025/sales.ipynb', sales);
    expect(p.cellar('run', 'notebooks/2024/sales.ipynb').code).toBe(0);
    const before = p.read('generated/sales/pipeline.ts');
    for (const args of [
      ['run', 'notebooks/2025/sales.ipynb'],
      ['compile', 'notebooks/2025/sales.ipynb'],
    ]) {
      const r = p.cellar(...args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        "notebooks/2025/sales.ipynb: error E_DUPLICATE_OUTPUT: compiles to generated/sales/, which holds notebooks/2024/sales.ipynb's pipeline",
      );
      expect(r.stderr).toContain('rename one of the notebooks');
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
    expect(p.read('generated/sales/pipeline.ts')).toBe(before);
    // Once the first notebook is renamed away, its folder is an orphan and the second may have it.
    p.run('mv', ['notebooks/2024/sales.ipynb', 'notebooks/2024/sales2024.ipynb']);
    expect(p.cellar('run', 'notebooks/2025/sales.ipynb').code).toBe(0);
    expect(p.read('generated/sales/pipeline.ts')).toContain('notebooks/2025/sales.ipynb');
  });

  it("two notebooks with the same file name compiled to different --out folders: the second is refused from the first one's workspace instead of being served its results; with its own --workspace it runs", () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/2024', 'notebooks/2025']);
    // Same code, each reading the total.txt beside it: equal keys in one workspace.
    const nb = notebookText([
      "import { readFileSync } from 'node:fs';",
      '//| task: load\nconst total = Number(readFileSync("total.txt", "utf8"));',
    ]);
    for (const year of ['2024', '2025']) {
      p.write(`notebooks/${year}/sales.ipynb`, nb);
      p.write(`notebooks/${year}/total.txt`, year.slice(2));
      const c = p.cellar('compile', `notebooks/${year}/sales.ipynb`, '--out', `gen${year}`);
      expect(c.code, c.stderr).toBe(0);
    }
    const first = p.cellar('run', 'gen2024/sales/pipeline.ts');
    expect(first.code, first.stderr).toBe(0);
    expect(showOutput(p, 'gen2024/sales/pipeline.ts', 'load', 'total')).toBe(24);
    for (const args of [
      ['run', 'gen2025/sales/pipeline.ts'],
      ['run', 'gen2025/sales/pipeline.ts', '--dry-run'],
      ['show', 'gen2025/sales/pipeline.ts', 'load', 'total'],
    ]) {
      const r = p.cellar(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toContain('E_DUPLICATE_PIPELINE');
      expect(r.stderr).toContain(
        "notebooks/2025/sales.ipynb: its pipeline 'sales' would share the workspace folder",
      );
      expect(r.stderr).toContain("with notebooks/2024/sales.ipynb's pipeline of the same name");
      expect(r.stderr).toContain('run this one with its own --workspace');
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
    const own = p.cellar('run', 'gen2025/sales/pipeline.ts', '--workspace', '.cellar/ws2025');
    expect(own.code, own.stderr).toBe(0);
    const shown = p.cellar(
      'show',
      'gen2025/sales/pipeline.ts',
      'load',
      'total',
      '--workspace',
      '.cellar/ws2025',
      '--json',
    );
    expect(JSON.parse(shown.stdout)).toBe(25);
    // The first notebook's folder is untouched and still its own.
    expect(p.cellar('run', 'gen2024/sales/pipeline.ts').code).toBe(0);
    expect(showOutput(p, 'gen2024/sales/pipeline.ts', 'load', 'total')).toBe(24);
  });

  it('variant: once the first notebook is renamed away, the other same-named notebook takes the folder over', () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/2024', 'notebooks/2025']);
    const nb = notebookText(['//| task: load\nconst total = 7;']);
    p.write('notebooks/2024/sales.ipynb', nb);
    p.write('notebooks/2025/sales.ipynb', nb);
    expect(p.cellar('compile', 'notebooks/2024/sales.ipynb', '--out', 'gen2024').code).toBe(0);
    expect(p.cellar('compile', 'notebooks/2025/sales.ipynb', '--out', 'gen2025').code).toBe(0);
    expect(p.cellar('run', 'gen2024/sales/pipeline.ts').code).toBe(0);
    expect(p.cellar('run', 'gen2025/sales/pipeline.ts').stderr).toContain('E_DUPLICATE_PIPELINE');
    p.run('mv', ['notebooks/2024/sales.ipynb', 'notebooks/2024/sales2024.ipynb']);
    const r = p.cellar('run', 'gen2025/sales/pipeline.ts');
    expect(r.code, r.stderr).toBe(0);
    expect(p.read('.cellar/workspace/sales/_source.json')).toContain('notebooks/2025/sales.ipynb');
  });

  it('a file that is not a notebook names the file', () => {
    const p = project();
    p.write('notebooks/half.ipynb', sales.slice(0, 200));
    const r = p.cellar('compile');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('notebooks/half.ipynb: error E_NOTEBOOK_JSON: not valid JSON');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

describe('tslab traps that compile fine but break the notebook', () => {
  it('`{ seed }` naming a param: a located warning with the fix, and the pipeline still compiles', () => {
    const { p, r } = compileBroken(salesWith('{ seed: seed, days: days,', '{ seed, days: days,'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'notebooks/sales.ipynb, cell 10 (id report), line 3, column 16: warning W_TSLAB_SHORTHAND',
    );
    expect(r.stderr).toContain('ReferenceError');
    expect(r.stderr).toContain('write `seed: seed`');
    expect(p.read('generated/sales/report.ts')).toContain('const meta = { seed, days: days,');
  });
});

describe('command-line slips are answered with what to type instead', () => {
  const nb = notebookText([
    '//| task: helper\nfunction inc(x: number): number { return x + 1; }',
    '//| task: total\nconst total = inc(41);',
  ]);

  it('an unknown task to run lists the tasks; a folder of notebooks names them; a name starting with a digit says the rule', () => {
    const p = project();
    p.write('notebooks/calc.ipynb', nb);
    const unknown = p.cellar('run', 'notebooks/calc.ipynb', 'totl_x');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      "unknown task 'totl_x' in selector 'totl_x' (tasks: helper, total)",
    );
    const folder = p.cellar('run', 'notebooks/');
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(
      'no pipeline.ts in folder notebooks/; run one of its notebooks: cellar run notebooks/calc.ipynb',
    );
    p.write('notebooks/digits.ipynb', notebookText(['//| task: 123\nconst a = 1;']));
    const digits = p.cellar('compile', 'notebooks/digits.ipynb');
    expect(digits.code).not.toBe(0);
    expect(digits.stderr).toContain(
      '`task` needs a task name (letters, digits, _ . -, starting with a letter or _), got "123"',
    );
  });

  it('showing a stored task that declares no values says so instead of printing nothing', () => {
    const p = project();
    p.write('notebooks/calc.ipynb', nb);
    expect(p.cellar('run', 'notebooks/calc.ipynb').code).toBe(0);
    const shown = p.cellar('show', 'notebooks/calc.ipynb', 'helper');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /^task 'helper' is stored \(key [0-9a-f]{16}\) but has no outputs to show: it declares no values/,
    );
    expect(showOutput(p, 'notebooks/calc.ipynb', 'total', 'total')).toBe(42);
  });
});
