// `//| check:` is parsed twice: by the compiler, so a malformed check is a compile-time error
// (compiler/notebook/checks.ts), and by the runtime, which runs it (runtime/warehouse/tasks/
// checks.ts parseCheck). The compiler may not import the runtime, so this keeps the two grammars
// equal: over a corpus of checks, each accepts exactly what the other accepts.
import { describe, expect, it } from 'vitest';
import { checkSyntaxError } from '../../compiler/notebook/checks.js';
import { isParseError, parseCheck } from '../../runtime/warehouse/tasks/checks.js';

const CORPUS = [
  'rows >= 1000',
  'rows>0',
  'rows = 5',
  'rows == 5',
  'rows != 0',
  'rows < 10',
  'rows <= 1_000_000',
  'rows >= abc',
  'rows >= 1.5',
  'rows >= -1',
  'rows',
  'row >= 3',
  'rows => 3',
  'columns species:string, body_mass_g:number',
  'columns a',
  'columns a:any, b:struct',
  'columns a:float',
  'columns 1a:string',
  'columns a:string,',
  'columns',
  'not_null species, island',
  'not_null a b',
  'not_null',
  'unique origin, destination',
  'unique a,',
  'unique a-b',
  'partition ds = @run_date',
  "partition ds = '2024-01-01'",
  'partition ds = today',
  'partition = @x',
  "partition ds='x'",
  '',
  '   ',
  'ROWS >= 1',
  'rows >= 1 and rows < 5',
];

describe('the compiler and the runtime read `//| check:` with one grammar', () => {
  it('accept and refuse the same checks over the corpus', () => {
    const compiler = CORPUS.map((c) => checkSyntaxError(c) === undefined);
    const runtime = CORPUS.map((c) => !isParseError(parseCheck(c)));
    expect(Object.fromEntries(CORPUS.map((c, i) => [c, compiler[i]]))).toEqual(
      Object.fromEntries(CORPUS.map((c, i) => [c, runtime[i]])),
    );
    // The corpus holds both kinds, or the comparison would prove little.
    expect(compiler.filter(Boolean).length).toBeGreaterThan(10);
    expect(compiler.filter((x) => !x).length).toBeGreaterThan(10);
  });
});
