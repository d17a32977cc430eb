// A stored output whose file is gone from the workspace while its manifest stays (deleted by
// hand, a damaged workspace; a newcomer's finding): the task reading it fails naming the upstream
// task, the output and the file, and says how to compute it again; `--rerun <task>` does. Before:
// a raw ENOENT blamed on the reader's cell, and `cellar show` an E_UNEXPECTED.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText, project, removeProjects, runStatuses as run } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/scores.ipynb';

describe('a stored output whose file was deleted', () => {
  it('fails its reader naming the upstream task, output and file, with the fix; --rerun mends it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        '//| params\nconst threshold = 5;',
        '//| task: scaled\nconst scaledRows = [1, 4, 9, 16].map((x) => x * 2);',
        '//| task: summary\nconst above = scaledRows.filter((x) => x > threshold).length;',
      ]),
    );
    expect(run(p, NB)).toEqual({ scaled: 'ran', summary: 'ran' });
    const folder = join(p.dir, '.cellar', 'workspace', 'scores', 'scaled');
    const data = readdirSync(folder).filter((f) => f.startsWith('scaledRows'));
    expect(data).toHaveLength(1);
    rmSync(join(folder, data[0]!));

    const r = p.cellar('run', NB, '--param', 'threshold=10');
    expect(r.code).not.toBe(0);
    const text = r.stdout + r.stderr;
    expect(text).toContain(
      `the stored output 'scaledRows' of task 'scaled' is missing from the workspace (scaled/${data[0]})`,
    );
    expect(text).toContain('--rerun scaled');
    expect(text).toContain('E_OUTPUT_MISSING');
    const show = p.cellar('show', NB, 'scaled', 'scaledRows');
    expect(show.stdout + show.stderr).toContain('E_OUTPUT_MISSING');

    const mended = p.cellar('run', NB, '--param', 'threshold=10', '--rerun', 'scaled', '--json');
    expect(mended.code, mended.stderr).toBe(0);
    const shown = p.cellar('show', NB, 'summary', 'above', '--param', 'threshold=10', '--json');
    expect(JSON.parse(shown.stdout)).toBe(2);
  });
});
