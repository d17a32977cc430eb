// A setup cell whose top-level code throws while the pipeline loads (a readFileSync of a missing
// file) names the notebook, cell and line, as a failed task does: before, E_PIPELINE_LOAD named
// only generated/<nb>/pipeline.ts. The main thread loads the cached bundle without source maps,
// so the frame is mapped through the bundle's map file (cli/failure-location.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

describe('a setup cell that throws while the pipeline loads', () => {
  const p = project();
  p.write(
    'notebooks/load.ipynb',
    notebookText([
      codeCell('imports', "import { readFileSync } from 'node:fs';"),
      codeCell(
        'limits',
        "const base = { max: 1 };\nconst limits = { ...base, ...JSON.parse(readFileSync('data/nope.json', 'utf8')) };",
      ),
      codeCell('a', '//| task: a\nconst x = limits.max;'),
    ]),
  );
  for (const command of [['run'], ['tree']]) {
    it(`cellar ${command[0]} names the cell and line`, () => {
      const r = p.cellar(...command, 'notebooks/load.ipynb');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("ENOENT: no such file or directory, open 'data/nope.json'");
      expect(r.stderr).toContain('at notebooks/load.ipynb, cell 2 (id limits), line 2');
    });
  }
});
