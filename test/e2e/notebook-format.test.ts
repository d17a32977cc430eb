// The example notebooks stay reviewable files: valid nbformat 4 (checked by Jupyter's own
// validator, not a hand-written schema), stable unique cell ids, the tslab kernelspec, and no
// stored outputs, so a diff shows code and prose only.
import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, systemPython } from '../support/jupyter.js';

const notebooksDir = join(repoRoot, 'notebooks');
const notebooks = readdirSync(notebooksDir)
  .filter((f) => f.endsWith('.ipynb'))
  .sort();

interface Nb {
  nbformat: number;
  nbformat_minor: number;
  metadata: {
    kernelspec?: { name?: string; language?: string };
    language_info?: { name?: string };
  };
  cells: {
    cell_type: string;
    id?: string;
    source: string | string[];
    outputs?: unknown[];
    execution_count?: number | null;
  }[];
}

describe('example notebook files', () => {
  test('the examples exist', () => {
    expect(notebooks).toEqual(expect.arrayContaining(['flights.ipynb', 'penguins.ipynb']));
  });

  test.each(notebooks)('%s passes nbformat.validate', (name) => {
    const script =
      'import nbformat, sys\nnb = nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT)\nnbformat.validate(nb)\nprint("valid", nb.nbformat, nb.nbformat_minor)';
    const result = spawnSync(systemPython, ['-c', script, join(notebooksDir, name)], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toMatch(/^valid 4 [5-9]$/);
  });

  test.each(notebooks)('%s uses tslab, has unique readable cell ids and no outputs', (name) => {
    const nb = JSON.parse(readFileSync(join(notebooksDir, name), 'utf8')) as Nb;
    expect(nb.metadata.kernelspec).toMatchObject({ name: 'tslab', language: 'typescript' });
    expect(nb.metadata.language_info?.name).toBe('typescript');
    const ids = nb.cells.map((c) => c.id);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(new Set(ids).size).toBe(ids.length);
    for (const cell of nb.cells.filter((c) => c.cell_type === 'code')) {
      expect(cell.outputs, `cell ${cell.id} has stored outputs`).toEqual([]);
      expect(cell.execution_count, `cell ${cell.id} has an execution count`).toBeNull();
    }
  });

  test.each(notebooks)(
    '%s has params, several tasks, a test and markdown before every task',
    (name) => {
      const nb = JSON.parse(readFileSync(join(notebooksDir, name), 'utf8')) as Nb;
      const text = (c: Nb['cells'][number]) =>
        Array.isArray(c.source) ? c.source.join('') : c.source;
      const directives = (c: Nb['cells'][number]) =>
        text(c)
          .split('\n')
          .filter((l) => l.startsWith('//|'));
      const code = nb.cells.filter((c) => c.cell_type === 'code');
      expect(code.filter((c) => directives(c).includes('//| params'))).toHaveLength(1);
      const tasks = nb.cells.flatMap((c, i) =>
        c.cell_type === 'code' && directives(c).some((d) => d.startsWith('//| task:')) ? [i] : [],
      );
      expect(tasks.length).toBeGreaterThanOrEqual(4);
      for (const i of tasks)
        expect(
          nb.cells[i - 1]!.cell_type,
          `cell ${i + 1} starts a task without markdown before it`,
        ).toBe('markdown');
      expect(code.some((c) => directives(c).some((d) => d.startsWith('//| test:')))).toBe(true);
    },
  );
});
