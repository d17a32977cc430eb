// Baseline tests: each test/compiler/fixtures/<case>/input.ipynb compiles to exactly the files in
// its expected/ folder, and the example notebooks compile to exactly what generated/ holds (the
// same check as `cellar compile --check`), and each test/compiler/fixtures/errors/<case>/input.ipynb
// prints exactly its expected/diagnostics.txt: the text users read, wording included. Review a diff
// like code; accept it with UPDATE_BASELINES=1 npx vitest run test/compiler/golden.test.ts
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../compiler/diagnostics.js';
import { compileFile } from '../../compiler/host.js';
import { compileNotebook } from '../../compiler/program.js';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(import.meta.dirname, 'fixtures');
const update = process.env.UPDATE_BASELINES === '1';

function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)
    // .js and tsconfig.json: a JavaScript notebook's modules and their type-check config.
    .filter((f) => f.endsWith('.ts') || f.endsWith('.js') || f === 'tsconfig.json')
    .sort())
    out[f] = readFileSync(join(dir, f), 'utf8');
  return out;
}

describe('fixture baselines', () => {
  for (const name of readdirSync(fixtures)
    .filter((f) => existsSync(join(fixtures, f, 'input.ipynb')))
    .sort()) {
    it(name, async () => {
      const path = `test/compiler/fixtures/${name}/input.ipynb`;
      const text = readFileSync(join(root, path), 'utf8');
      const result = await compileNotebook(path, text, { workdir: '../..' });
      expect(
        result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic),
      ).toEqual([]);
      const actual = Object.fromEntries(
        result.files.map((f) => [f.path.replace(/^input\//, ''), f.contents]),
      );
      const expectedDir = join(fixtures, name, 'expected');
      if (update) {
        rmSync(expectedDir, { recursive: true, force: true });
        mkdirSync(expectedDir, { recursive: true });
        for (const [file, contents] of Object.entries(actual))
          writeFileSync(join(expectedDir, file), contents);
      }
      expect(actual).toEqual(readTree(expectedDir));

      // Deterministic: a second compile, with a fresh memory, gives the same bytes.
      const again = await compileNotebook(path, text, { workdir: '../..' });
      expect(again.files).toEqual(result.files);
    });
  }
});

describe('example notebooks', () => {
  const notebooks = existsSync(join(root, 'notebooks'))
    ? readdirSync(join(root, 'notebooks'))
        .filter((f) => f.endsWith('.ipynb'))
        .sort()
    : [];
  for (const nb of notebooks) {
    it(`${nb} compiles to what generated/ holds`, async () => {
      const outcome = await compileFile(join(root, 'notebooks', nb), {
        root,
        outDir: join(root, 'generated'),
        noCache: true,
      });
      expect(
        outcome.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic),
      ).toEqual([]);
      expect(outcome.files.length).toBeGreaterThan(2);
      const stem = nb.replace(/\.ipynb$/, '');
      const onDisk = readTree(join(root, 'generated', stem));
      expect(
        Object.fromEntries(outcome.files.map((f) => [f.path.slice(stem.length + 1), f.contents])),
      ).toEqual(onDisk);
    });
  }
});

describe('diagnostics baselines: what `cellar compile` prints for each mistake', () => {
  const errors = join(fixtures, 'errors');
  for (const name of readdirSync(errors)
    .filter((f) => existsSync(join(errors, f, 'input.ipynb')))
    .sort()) {
    it(name, async () => {
      const path = `test/compiler/fixtures/errors/${name}/input.ipynb`;
      const result = await compileNotebook(path, readFileSync(join(root, path), 'utf8'), {
        workdir: '../..',
      });
      expect(result.diagnostics.length).toBeGreaterThan(0);
      // An error stops emission: no half pipeline (warnings alone do not).
      if (result.diagnostics.some((d) => d.severity === 'error')) expect(result.files).toEqual([]);
      const printed = result.diagnostics.map(formatDiagnostic).join('\n\n') + '\n';
      const expected = join(errors, name, 'expected', 'diagnostics.txt');
      if (update) {
        mkdirSync(join(errors, name, 'expected'), { recursive: true });
        writeFileSync(expected, printed);
      }
      expect(printed).toBe(readFileSync(expected, 'utf8'));
    });
  }
});
