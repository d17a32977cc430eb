// A setup cell whose top-level code throws while the pipeline loads (a readFileSync of a missing
// file) names the notebook, cell and line, as a failed task does: before, E_PIPELINE_LOAD named
// only generated/<nb>/pipeline.ts. The main thread loads the cached bundle without source maps,
// so the frame is mapped through the bundle's map file (cli/failure-location.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
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

describe('a local module that throws as it is imported', () => {
  it('names the module file and line (no cell is on the stack)', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/config.ts',
      'const cfg: any = undefined;\nexport const port: number = cfg.port;\n',
    );
    p.write(
      'notebooks/cfg.ipynb',
      notebookText([
        codeCell('imports', "import { port } from './lib/config.ts';"),
        codeCell('a', '//| task: a\nconst x = port + 1;'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/cfg.ipynb');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Cannot read properties of undefined (reading 'port')");
    expect(r.stderr).toMatch(/\n {2}at notebooks\/lib\/config\.ts, line 2, column \d+/);
  });
});

describe('a named import a CommonJS package does not export', () => {
  it("names the notebook cell and line of the import, beside Node's own advice", () => {
    const p = project();
    mkdirSync(join(p.dir, 'node_modules', 'cjspkg'), { recursive: true });
    p.write('node_modules/cjspkg/package.json', '{ "name": "cjspkg", "version": "1.0.0" }\n');
    // Built at run time, so Node's static scan of the CommonJS module cannot list it.
    p.write(
      'node_modules/cjspkg/index.js',
      'const api = {};\napi["hel" + "per"] = (x) => x + 1;\nmodule.exports = api;\n',
    );
    p.write(
      'notebooks/cjs.ipynb',
      notebookText([
        codeCell('imports', "const k = 1;\nimport { helper } from 'cjspkg';"),
        codeCell('a', '//| task: a\nconst x = helper(k);'),
      ]),
    );
    const r = p.cellar('run', 'notebooks/cjs.ipynb');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Named export 'helper' not found");
    expect(r.stderr).toContain('at notebooks/cjs.ipynb, cell 1 (id imports), line 2');
  });
});

describe('a setup cell that throws a value that is not an Error while the pipeline loads', () => {
  // A tester's finding: `throw 'setup says no'` said only "cannot load pipeline …: setup says no"
  // (no cell or line), a rejection with an object said `[object Object]`.
  for (const [name, code, shown] of [
    [
      'text',
      "const mode = 'strict';\nif (mode === 'strict') throw 'setup says no';",
      'setup says no',
    ],
    [
      'object',
      "const ok = [1].length;\nawait Promise.reject({ why: 'x' });",
      'non-Error value thrown: {"why":"x"}',
    ],
  ]) {
    it(`shows the value and names the cell and line (${name})`, () => {
      const p = project();
      p.write(
        'notebooks/load.ipynb',
        notebookText([
          codeCell('first', 'const base = 1;'),
          codeCell('limits', code!),
          codeCell('a', '//| task: a\nconst x = base + 1;'),
        ]),
      );
      const r = p.cellar('run', 'notebooks/load.ipynb');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`: ${shown}`);
      expect(r.stderr).not.toContain('[object Object]');
      expect(r.stderr).toContain('at notebooks/load.ipynb, cell 2 (id limits), line 2');
    });
  }
});
