// `//| check:` has one grammar (runtime/warehouse/check-grammar.ts), read by the compiler, so a
// malformed check is a compile-time diagnostic on its line, and by the runtime, which runs it.
// Over a corpus: what is accepted, what is refused and why, and that compile refuses exactly what
// the runtime would.
import { describe, expect, it } from 'vitest';
import { isParseError, parseCheck } from '../../runtime/warehouse/check-grammar.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const ACCEPTED = [
  'rows >= 1000',
  'rows>0',
  'rows = 5',
  'rows == 5',
  'rows != 0',
  'rows < 10',
  'rows <= 1_000_000',
  'columns species:string, body_mass_g:number',
  'columns a',
  'columns a:any, b:struct',
  'not_null species, island',
  'unique origin, destination',
  'partition ds = @run_date',
  "partition ds = '2024-01-01'",
  "partition ds='x'",
];
const REFUSED: Record<string, RegExp> = {
  'rows >= abc': /not a whole number/,
  'rows >= 1.5': /not a whole number/,
  'rows >= -1': /not a whole number/,
  rows: /not a whole number/,
  'row >= 3': /is not a check/,
  'rows => 3': /not a whole number/,
  'columns a:float': /unknown type "float" for a; use one of string, number/,
  'columns 1a:string': /"1a:string" is not a column name/,
  'columns a:string,': /"" is not a column name/,
  columns: /is not a check/,
  'not_null a b': /"a b" is not a column name/,
  not_null: /is not a check/,
  'unique a,': /"" is not a column name/,
  'unique a-b': /"a-b" is not a column name/,
  'partition ds = today': /is not a check/,
  'partition = @x': /is not a check/,
  '': /is not a check/,
  'ROWS >= 1': /is not a check/,
  'rows >= 1 and rows < 5': /not a whole number/,
};

describe('`//| check:` has one grammar', () => {
  it('accepts the documented forms and parses them', () => {
    for (const c of ACCEPTED) expect(isParseError(parseCheck(c)), c).toBe(false);
    expect(parseCheck('rows == 5')).toMatchObject({ kind: 'rows', op: '=', value: 5 });
  });

  it('refuses the rest with a reason naming what is wrong', () => {
    for (const [c, reason] of Object.entries(REFUSED)) {
      const parsed = parseCheck(c);
      expect(isParseError(parsed), c).toBe(true);
      if (isParseError(parsed)) {
        expect(parsed.reason, c).toMatch(reason);
        expect(parsed.message).toBe(`check "${c.trim()}": ${parsed.reason}`);
      }
    }
  });

  it('compile refuses a check the runtime would refuse, on the directive line, with its reason', async () => {
    const text = notebookText([
      '//| task: load\nconst rows = [{ a: 1 }];',
      '//| task: count\n//| check: columns a:float\nconst n = rows.length;',
    ]);
    const result = await compileNotebook('notebooks/checks.ipynb', text, {
      workdir: '../../notebooks',
      format: false,
    });
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain(
      '`check` "columns a:float": unknown type "float" for a; use one of string',
    );
    expect(errors[0]).toMatchObject({ cell: 2, line: 2 }); // the second cell, 1-based as printed;
  }, 600_000); // compiling loads TypeScript: no speed assumption
});
