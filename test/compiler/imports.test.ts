// Imports the generated module could not load are compile errors on the importing cell (issue 14
// item 4), with the exact fix: the stage in program.ts against a stated resolver, and the host's
// resolver (host.ts importResolver) against this repository's real node_modules.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { importResolver, tsconfigPaths } from '../../compiler/host.js';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const root = join(import.meta.dirname, '..', '..');
const NB = 'notebooks/x.ipynb';

async function compile(cells: string[], installed: string[], kernel = {}) {
  const asked: string[] = [];
  const result = await compileNotebook(NB, notebookText(cells, kernel), {
    workdir: '../../notebooks',
    canImport: (spec) => {
      asked.push(spec);
      return installed.includes(spec);
    },
  });
  return { result, asked, errors: result.diagnostics.filter((d) => d.severity === 'error') };
}

describe('an import the project cannot resolve', () => {
  it("names the cell, line and column, and the install with Deno's npm: version", async () => {
    const { result, errors } = await compile(
      [
        "import * as path from 'node:path';",
        "import { parse } from 'npm:csv-parse@5.6/sync';",
        '//| task: load\nconst rows = parse("a\\n1", { columns: true });\nconst base = path.basename("x");',
      ],
      [],
      { name: 'deno' },
    );
    expect(result.files).toEqual([]);
    expect(errors.map(formatDiagnostic)).toEqual([
      [
        'notebooks/x.ipynb, cell 2 (id c2), line 1, column 23: error E_UNRESOLVED_IMPORT: package `csv-parse` is not installed in the project, so `csv-parse/sync` cannot be imported',
        "    1 | import { parse } from 'npm:csv-parse@5.6/sync';",
        '      |                       ^',
        '  hint: run `npm install csv-parse@5.6` in the project folder',
      ].join('\n'),
    ]);
  });

  it('without a version the hint is a plain `npm install name`, for a scoped package too', async () => {
    const { errors } = await compile(
      ["import { op } from '@acme/ops/sub';", '//| task: t\nconst y = op(1);'],
      [],
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]!.hint).toBe('run `npm install @acme/ops` in the project folder');
  });

  it('checks a relative import where the generated module will look, and asks once per specifier', async () => {
    const { errors, asked } = await compile(
      [
        "import { mean } from './stats.ts';",
        "//| task: t\nimport { mean as m2 } from './stats.ts';\nconst y = mean([1]) + m2([2]);",
      ],
      [],
    );
    expect(asked).toEqual(['../../notebooks/stats.ts']);
    expect(errors.map((d) => [d.cell, d.line, d.code])).toEqual([
      [1, 1, 'E_UNRESOLVED_IMPORT'],
      [2, 2, 'E_UNRESOLVED_IMPORT'],
    ]);
    expect(errors[0]!.message).toBe(
      '`./stats.ts` does not exist next to the notebook (the generated module would import `../../notebooks/stats.ts`)',
    );
  });

  it('compiles when every import resolves; builtins and cellar are never asked about', async () => {
    const { result, asked } = await compile(
      [
        "import { readFileSync } from 'node:fs';\nimport { sql } from 'cellar';\nimport { tableFromArrays } from 'apache-arrow';",
        '//| task: t\nconst n = tableFromArrays({ a: [1] }).numRows + readFileSync.length;\nconst q = sql`SELECT 1`;',
      ],
      ['apache-arrow'],
    );
    expect(asked).toEqual(['apache-arrow']);
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.files.length).toBeGreaterThan(0);
  });
});

describe("the host's resolver", () => {
  const canImport = importResolver(join(root, 'generated', 'penguins'));
  it('finds installed packages above the module, builtins and the project itself by name', () => {
    expect(canImport('apache-arrow')).toBe(true);
    expect(canImport('@duckdb/node-api')).toBe(true);
    expect(canImport('vitest/package.json')).toBe(true);
    expect(canImport('fs')).toBe(true);
    expect(canImport('cellar')).toBe(true);
  });
  it('refuses a package that is not installed', () => {
    expect(canImport('csv-parse/sync')).toBe(false);
    expect(canImport('@acme/ops')).toBe(false);
  });
  it('finds a relative file under the names TypeScript imports use for it', () => {
    expect(canImport('./load.ts')).toBe(true);
    expect(canImport('./load.js')).toBe(true);
    expect(canImport('./load')).toBe(true);
    expect(canImport('../../notebooks/penguins.ipynb')).toBe(true);
    expect(canImport('./nothing.js')).toBe(false);
    expect(canImport('../../notebooks')).toBe(false); // a folder with no index
  });
});

// A tsconfig `paths` alias (`@lib/*`) is neither followed by Cellar's bundle nor by Node at run
// time. A newcomer's finding: the error said "package `@lib/sub` is not installed", sending them
// to npm; it now names the alias, the tsconfig.json and the two ways that work.
describe('an import matching a tsconfig `paths` alias', () => {
  it('says so, naming the pattern and the file, with the fix', async () => {
    const { errors } = await (async () => {
      const result = await compileNotebook(
        NB,
        notebookText(["import { sub } from '@lib/sub';", '//| task: t\nconst y = sub(1);']),
        {
          workdir: '../../notebooks',
          canImport: () => false,
          pathsAlias: (spec) =>
            spec.startsWith('@lib/') ? { pattern: '@lib/*', file: 'tsconfig.json' } : undefined,
        },
      );
      return { errors: result.diagnostics.filter((d) => d.severity === 'error') };
    })();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe(
      '`@lib/sub` matches `@lib/*` in the `paths` of tsconfig.json, which Cellar does not follow (nor does Node when the pipeline runs)',
    );
    expect(errors[0]!.hint).toContain('import the file by a relative path');
  });

  it("the host reads the nearest tsconfig.json's paths with TypeScript's parser (comments, trailing commas)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellar-paths-'));
    try {
      mkdirSync(join(dir, 'generated', 'x'), { recursive: true });
      writeFileSync(
        join(dir, 'tsconfig.json'),
        '{\n  // aliases\n  "compilerOptions": { "paths": { "@lib/*": ["./notebooks/lib/*"], "~util": ["./u.ts"], }, },\n}\n',
      );
      const alias = tsconfigPaths(join(dir, 'generated', 'x'));
      expect(alias('@lib/sub')?.pattern).toBe('@lib/*');
      expect(alias('@lib/sub')?.file).toMatch(/tsconfig\.json$/);
      expect(alias('~util')?.pattern).toBe('~util');
      expect(alias('~util/x')).toBeUndefined();
      expect(alias('lodash')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A task cell's import of a local module whose value the code never reads
// (`import { PLUGINS } from './lib/plugins'`, the module filling a registry as it loads) was cut
// from the generated task module: the kernel had loaded the module where the cell ran, the
// pipeline never did, and the task computed on an empty registry. The module the task (or test)
// cell imports for a value is now loaded by that module; a type-only import stays erased, and a
// package's unused import stays dropped (it may be a package of types only, with no code).
describe('a task cell importing a local module for a value it never reads', () => {
  const taskModule = async (task: string, setup = "import { REGISTRY } from './lib/registry';") => {
    // Every import resolves here: what is asked is what the generated module loads.
    const result = await compileNotebook(NB, notebookText([setup, task]), {
      workdir: '../../notebooks',
      canImport: () => true,
    });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const file = result.files.find((f) => f.path === 'x/total.ts');
    expect(file, result.files.map((f) => f.path).join(', ')).toBeDefined();
    return file!.contents.split('\n').filter((l) => l.startsWith('import '));
  };
  const reads = 'const total = [...REGISTRY.values()].reduce((a, b) => a + b, 0);';

  it('loads it, named, default or namespace, beside what the code uses', async () => {
    expect(
      await taskModule(`//| task: total\nimport { PLUGINS } from './lib/plugins';\n${reads}`),
    ).toEqual([
      "import { defineTask } from 'cellar';",
      "import '../../notebooks/lib/plugins';",
      "import { REGISTRY } from '../../notebooks/lib/registry';",
    ]);
    expect(
      await taskModule(
        `//| task: total\nimport plugins from './lib/a';\nimport * as more from '#lib/b';\n${reads}`,
      ),
    ).toEqual([
      "import '#lib/b';",
      "import { defineTask } from 'cellar';",
      "import '../../notebooks/lib/a';",
      "import { REGISTRY } from '../../notebooks/lib/registry';",
    ]);
  });

  it('keeps a side-effect import of the cell, as before', async () => {
    expect(await taskModule(`//| task: total\nimport './lib/plugins';\n${reads}`)).toEqual([
      "import { defineTask } from 'cellar';",
      "import '../../notebooks/lib/plugins';",
      "import { REGISTRY } from '../../notebooks/lib/registry';",
    ]);
  });

  it('loads it once when the code also reads the module, and when the import is all the cell has', async () => {
    expect(
      await taskModule(
        `//| task: total\nimport { PLUGINS, REGISTRY } from './lib/plugins';\nimport { unused } from './lib/plugins';\n${reads}`,
        '',
      ),
    ).toEqual([
      "import { defineTask } from 'cellar';",
      "import { REGISTRY } from '../../notebooks/lib/plugins';",
    ]);
  });

  it('keeps type-only imports erased and drops an unused package import', async () => {
    expect(
      await taskModule(
        `//| task: total\nimport type { Plugin } from './lib/types';\nimport { type Hook } from './lib/hooks';\nimport { Property } from 'csstype';\nimport { tableFromArrays } from 'apache-arrow';\n${reads}`,
      ),
    ).toEqual([
      "import { defineTask } from 'cellar';",
      "import { REGISTRY } from '../../notebooks/lib/registry';",
    ]);
  });
});
