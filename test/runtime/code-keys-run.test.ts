// Code-aware keys through a real `cellar run` of many task modules: the code hasher bundles them
// in groups (runtime/key/codehash.ts, ENTRIES_PER_BUILD), which must only change what keying
// costs, never which tasks re-run. 70 leaf modules (more than one group) and a total module.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runJson } from './helpers.js';

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

const LEAVES = 70;

function project(): string {
  const dir = join(
    root,
    'test',
    '.tmp',
    'runtime',
    `code-keys-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
  );
  mkdirSync(join(dir, 'tasks'), { recursive: true });
  // Its own project (the workspace is the project's): without it, the repository's workspace
  // held the results of an earlier run of this test, whose keys are the same.
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
  writeFileSync(
    join(dir, 'tasks', 'lib.ts'),
    'export const twice = (n: number) => n * 2;\nexport const thrice = (n: number) => n * 3;\n',
  );
  for (let i = 0; i < LEAVES; i++) {
    const helper = i % 2 === 0 ? 'thrice' : 'twice';
    writeFileSync(
      join(dir, 'tasks', `leaf${i}.ts`),
      `import { defineTask } from 'cellar';
import { ${helper} } from './lib.js';
export const leaf${i} = defineTask({ name: 'leaf${i}', module: import.meta.url, params: {}, inputs: {},
  outputs: { v: {} }, run: () => ({ v: ${helper}(${i}) }) });
`,
    );
  }
  const names = Array.from({ length: LEAVES }, (_, i) => `leaf${i}`);
  writeFileSync(
    join(dir, 'tasks', 'total.ts'),
    `import { defineTask, output } from 'cellar';
${names.map((n) => `import { ${n} } from './${n}.js';`).join('\n')}
export const total = defineTask({ name: 'total', module: import.meta.url, params: {},
  inputs: { ${names.map((n) => `${n}: output(${n}, 'v')`).join(', ')} },
  outputs: { total: {} },
  run: (inputs: Record<string, number>) => ({ total: Object.values(inputs).reduce((s, v) => s + v, 0) }) });
`,
  );
  writeFileSync(
    join(dir, 'pipeline.ts'),
    `import { definePipeline } from 'cellar';
${names.map((n) => `import { ${n} } from './tasks/${n}.js';`).join('\n')}
import { total } from './tasks/total.js';
export default definePipeline({ name: 'many', tasks: [${names.join(', ')}, total] });
`,
  );
  return dir;
}

const ran = (status: Record<string, string>) =>
  Object.keys(status)
    .filter((t) => status[t] === 'ran')
    .sort();
const edit = (file: string, from: string, to: string) => {
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
};

describe('code-aware keys of many task modules (keyed in groups)', () => {
  it("a changed task's code re-runs it and only its downstream; a helper's edit re-runs exactly its users; a comment keeps every key", async () => {
    const dir = project();
    const first = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(first.code).toBe(0);
    expect(ran(first.status)).toHaveLength(LEAVES + 1);

    // leaf65 is in the second group of 64 modules.
    edit(join(dir, 'tasks', 'leaf65.ts'), 'twice(65)', 'twice(65) + 1');
    const leaf = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(ran(leaf.status)).toEqual(['leaf65', 'total']);

    // `thrice` is used by the even leaves only.
    edit(join(dir, 'tasks', 'lib.ts'), 'n * 3;', 'n * 3 + 0;');
    const helper = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    const evens = Array.from({ length: LEAVES / 2 }, (_, k) => `leaf${2 * k}`);
    expect(ran(helper.status)).toEqual([...evens, 'total'].sort());

    // A comment and a reformatting are not code.
    edit(join(dir, 'tasks', 'lib.ts'), 'export const twice', '// doubles\nexport const   twice');
    const comment = await runJson(['run', 'pipeline.ts'], { cwd: dir });
    expect(ran(comment.status)).toEqual([]);
    expect(comment.keys).toEqual(helper.keys);
  });
});
