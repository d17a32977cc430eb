// The `//|` rule where the runtime repeats it: the runtime cannot import the compiler, so
// runtime/load/source.ts counts the lines before a cell's compiled code on its own; this keeps
// that count equal to the compiler's (compiler/notebook/directives.ts linesBeforeCode), which
// decides where failure locations start counting.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linesBeforeCode } from '../../compiler/notebook/directives.js';
import { readCellPositions } from '../../runtime/load/source.js';
import { notebookText } from './notebook.js';

describe("where a cell's compiled code starts: one rule in the compiler and the runtime", () => {
  it('the runtime counts the lines before the code as the compiler emits them', () => {
    const sources = [
      '//| task: t\nthrow new Error("x");',
      '//| task: t\n\nthrow new Error("x");',
      '//| task: t\n//| version: 2\n  \n//| rerun\nconst x = 1;',
      '\n\nconst x = 1;',
      'const x = 1;\n//| not a directive here',
      '//| task: t\r\n//| rerun\r\nconst x = 1;',
    ];
    const dir = mkdtempSync(join(tmpdir(), 'cellar-lines-'));
    const file = join(dir, 'n.ipynb');
    writeFileSync(file, notebookText(sources));
    const positions = readCellPositions(file)!;
    const counted = sources.map((_, i) => positions.get(`c${i + 1}`)!.directiveLines);
    expect(counted).toEqual(sources.map(linesBeforeCode));
    expect(counted).toEqual([1, 2, 4, 2, 0, 2]);
    rmSync(dir, { recursive: true, force: true });
  });
});
