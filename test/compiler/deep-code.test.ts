// Deep but ordinary code (tsc, tsx and tslab accept it) never crashes a stage, and the result
// does not depend on the compile cache (issue 9 item 9, issue 13): TypeScript's parser and
// Prettier recurse once per nesting level, so the host redoes the pieces that ran out of stack on
// a thread with a large stack (compiler/host.ts `onDeepStack`). Then the pipeline runs,
// through code hashing and bundling, and computes what the notebook means.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/host.js';
import { UNFORMATTED_NOTE } from '../../compiler/emit/print.js';

const repo = join(import.meta.dirname, '..', '..');
const dir = join(repo, 'test', '.tmp', `deep-code-${process.pid}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cell = (id: string, source: string) => ({
  cell_type: 'code',
  id,
  metadata: {},
  execution_count: null,
  outputs: [],
  source,
});
const deepCells = [
  cell('chain', '//| task: chain\nconst xs = [1, 2, 3]' + '.map((x) => x + 1)'.repeat(750) + ';'),
  cell('parens', '//| task: parens\nconst p = ' + '('.repeat(750) + '1' + ')'.repeat(750) + ';'),
  cell(
    'ifs',
    '//| task: ifs\nlet depth = 0;\n' +
      'if (depth >= 0) {\n'.repeat(300) +
      'depth++;\n' +
      '}\n'.repeat(300) +
      'const d = depth;',
  ),
  cell(
    'sum',
    '//| task: sum\nconst total = ' +
      Array.from({ length: 1500 }, () => 'xs.length').join(' + ') +
      ';',
  ),
];

function writeProject(): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "deep-code", "private": true, "type": "module" }\n',
  );
  const nb = {
    cells: deepCells,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  const path = join(dir, 'notebooks', 'deep.ipynb');
  writeFileSync(path, JSON.stringify(nb));
  return path;
}

describe('deep but ordinary code', () => {
  it('compiles (750-call chain, 750 nested parentheses, 300 nested ifs, 1,500-term sum), formatted, the same with or without the cache', async () => {
    const path = writeProject();
    const opts = { root: dir, outDir: join(dir, 'generated') };
    const first = await compileFile(path, opts);
    expect(first.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(first.files.map((f) => f.path).sort()).toEqual([
      'deep/chain.ts',
      'deep/ifs.ts',
      'deep/parens.ts',
      'deep/pipeline.test.ts',
      'deep/pipeline.ts',
      'deep/sum.ts',
    ]);
    for (const f of first.files)
      expect(f.contents.startsWith(UNFORMATTED_NOTE), f.path).toBe(false);
    const again = await compileFile(path, { ...opts });
    const fresh = await compileFile(path, { ...opts, noCache: true });
    expect(again.files).toEqual(first.files);
    expect(fresh.files).toEqual(first.files);
  }, 600_000);

  it('runs, and each task computes what the notebook means', () => {
    const path = writeProject();
    const r = spawnSync(
      process.execPath,
      [join(repo, 'bin', 'cellar.mjs'), 'run', path, '--json'],
      { cwd: dir, encoding: 'utf8', timeout: 600_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const show = (task: string, output: string) => {
      const s = spawnSync(
        process.execPath,
        [join(repo, 'bin', 'cellar.mjs'), 'show', path, task, output, '--json'],
        { cwd: dir, encoding: 'utf8', timeout: 600_000 },
      );
      expect(s.status, s.stderr).toBe(0);
      return JSON.parse(s.stdout);
    };
    expect(show('chain', 'xs')).toEqual([751, 752, 753]);
    expect(show('parens', 'p')).toBe(1);
    expect(show('ifs', 'd')).toBe(1);
    expect(show('sum', 'total')).toBe(4500);
    expect(readFileSync(join(dir, 'generated', 'deep', 'pipeline.ts'), 'utf8')).toContain(
      'sumTask',
    );
  }, 600_000);
});
