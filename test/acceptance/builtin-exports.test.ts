// A name imported from a Node built-in module that the running Node does not export
// (`import { globSync } from 'node:fs'` on Node 20, where @types/node may declare it) used to
// compile, and `cellar run` then failed with E_PIPELINE_LOAD and no cell. It is known at compile
// time from the running Node's module: E_MISSING_BUILTIN_EXPORT naming the notebook, cell, line
// and the fix, for `node:` and bare (`fs`) specifiers, for a typo (`readFileSynk` → did you mean)
// and for a name imported in a setup cell and used in a later task. Names used only as types are
// erased from the generated code and compile.
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { STACK_FRAME, codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

describe('a name a Node built-in does not export', () => {
  it('is a compile error naming the cell, the line and a close name, and run stops before loading', () => {
    const p = project();
    p.write(
      'notebooks/files.ipynb',
      notebookText([
        codeCell('setup', "import { existsSync,\n  readFileSynk } from 'fs';"),
        codeCell(
          'load',
          "//| task: load\nconst text = existsSync('x') ? readFileSynk('x', 'utf8') : '';",
        ),
      ]),
    );
    const c = p.cellar('compile');
    expect(c.code, c.stdout + c.stderr).toBe(1);
    expect(c.stderr).toContain(
      'notebooks/files.ipynb, cell 1 (id setup), line 2, column 3: error E_MISSING_BUILTIN_EXPORT: `fs` has no export `readFileSynk` on Node',
    );
    expect(c.stderr).toContain('did you mean `readFileSync`?');
    const r = p.cellar('run', 'notebooks/files.ipynb');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'cell 1 (id setup), line 2, column 3: error E_MISSING_BUILTIN_EXPORT',
    );
    expect(r.stderr).not.toContain('E_PIPELINE_LOAD');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it.skipIf('globSync' in fs)(
    'globSync from node:fs on a Node without it: says so and how to do without it',
    () => {
      const p = project();
      p.write(
        'notebooks/glob.ipynb',
        notebookText([
          codeCell('setup', "import { globSync, type PathLike } from 'node:fs';"),
          codeCell(
            'list',
            "//| task: list\nconst dir: PathLike = '.';\nconst files = globSync('*.csv');",
          ),
        ]),
      );
      const r = p.cellar('run', 'notebooks/glob.ipynb');
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toContain(
        `notebooks/glob.ipynb, cell 1 (id setup), line 1, column 10: error E_MISSING_BUILTIN_EXPORT: \`node:fs\` has no export \`globSync\` on Node ${process.versions.node}`,
      );
      expect(r.stderr).toContain('`readdirSync(dir, { recursive: true })` filtered by name');
      expect(r.stderr).not.toContain('no export `PathLike`');
      expect(r.stderr).not.toContain('E_PIPELINE_LOAD');
    },
  );

  it('a type-only name from a built-in compiles and runs', () => {
    const p = project();
    p.write(
      'notebooks/types.ipynb',
      notebookText([
        codeCell('setup', "import { readdirSync, PathLike } from 'node:fs';"),
        codeCell(
          'list',
          "//| task: list\nconst dir: PathLike = '.';\nconst names = readdirSync(dir).length;",
        ),
      ]),
    );
    const r = p.cellar('run', 'notebooks/types.ipynb');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
