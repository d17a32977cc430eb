// A file read by a memoised helper is in the key of every task using the helper (issue 8,
// runtime/key/run-reads.ts `moduleRecordName`). A local module or the setup cell keeps module
// state (`let cache; export function limits() { return cache ??= JSON.parse(readFileSync(...)) }`):
// on one thread the first task calling it reads the file and the next is handed the memo, reading
// nothing. The read is recorded against the module whose code made it and joined into the key of
// every task whose code reaches that module, so editing the file re-runs them all, never serving
// one its old result. Through the real CLI, with one worker (the memo certainly shared), the
// default worker threads and in process; the asserted values are those `cellar show` prints.
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  project,
  removeProjects,
  runBuilt,
  showOutput,
  runStatuses,
} from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/limits.ipynb';

/** `cellar run` with extra flags, which must succeed: each task's status by name. */
const run = (p: Project, ...flags: string[]) => runStatuses(p, NB, ...flags);

const MEMO = [
  "import { readFileSync } from 'node:fs';",
  'let cache: { max: number } | undefined;',
  'export function limits(): { max: number } {',
  "  return (cache ??= JSON.parse(readFileSync('data/limits.json', 'utf8')));",
  '}',
].join('\n');

/** Tasks `a` and `b` both call limits(); `other` does not (its code reaches no helper). */
const TASKS = [
  '//| task: a\nconst capA = limits().max * 1;',
  '//| task: b\nconst capB = limits().max * 2;',
  '//| task: other\nconst seven = 7;',
];

/** A project whose helper lives in lib/limits.ts (`where: 'lib'`) or in the setup cell. */
function memoProject(where: 'lib' | 'setup'): Project {
  const p = project();
  p.run('mkdir', ['-p', 'lib', 'notebooks/data']);
  if (where === 'lib') {
    p.write('lib/limits.ts', MEMO);
    p.write(NB, notebookText(["import { limits } from '../lib/limits.ts';", ...TASKS]));
  } else {
    p.write(NB, notebookText([MEMO.replace('export function', 'function'), ...TASKS]));
  }
  p.write('notebooks/data/limits.json', '{"max": 10}');
  return p;
}

/** Run until all cached: the first run discovers the read, the next keys it for every user. */
function settle(p: Project, mode: string[]): void {
  for (let i = 0; i < 2; i++) run(p, ...mode);
  expect(run(p, ...mode)).toEqual({ a: 'cached', b: 'cached', other: 'cached' });
}

describe('a file read through a memoised helper is in the key of every task using the helper', () => {
  const modes: [string, string[]][] = [
    ['one worker, the memo certainly shared', ['--workers', '1']],
    ['worker threads', []],
    ['--in-process', ['--in-process']],
  ];
  for (const [label, mode] of modes)
    it(`a local module's memo: editing the file re-runs both callers with the new value, the task not using it stays cached (${label})`, () => {
      const p = memoProject('lib');
      settle(p, mode);
      expect(showOutput(p, NB, 'a', 'capA')).toBe(10);
      expect(showOutput(p, NB, 'b', 'capB')).toBe(20);
      p.write('notebooks/data/limits.json', '{"max": 30}');
      expect(run(p, ...mode)).toEqual({ a: 'ran', b: 'ran', other: 'cached' });
      expect(showOutput(p, NB, 'a', 'capA')).toBe(30);
      expect(showOutput(p, NB, 'b', 'capB')).toBe(60);
      expect(run(p, ...mode)).toEqual({ a: 'cached', b: 'cached', other: 'cached' });
    });

  for (const [label, mode] of modes.slice(0, 1).concat(modes.slice(2)))
    it(`a memo in the setup cell: editing the file re-runs both callers with the new value (${label})`, () => {
      const p = memoProject('setup');
      settle(p, mode);
      expect(showOutput(p, NB, 'b', 'capB')).toBe(20);
      p.write('notebooks/data/limits.json', '{"max": 40}');
      expect(run(p, ...mode)).toEqual({ a: 'ran', b: 'ran', other: 'cached' });
      expect(showOutput(p, NB, 'a', 'capA')).toBe(40);
      expect(showOutput(p, NB, 'b', 'capB')).toBe(80);
    });

  it('variant: a memo filled by a helper of a helper (lib/rules.ts calling lib/limits.ts): every task reaching it through either is keyed', () => {
    const p = memoProject('lib');
    p.write(
      'lib/rules.ts',
      "import { limits } from './limits.ts';\nexport const allowed = (x: number) => x <= limits().max;",
    );
    p.write(
      NB,
      notebookText([
        "import { limits } from '../lib/limits.ts';\nimport { allowed } from '../lib/rules.ts';",
        '//| task: a\nconst capA = limits().max * 1;',
        '//| task: b\nconst capB = allowed(15) ? "yes" : "no";',
        '//| task: other\nconst seven = 7;',
      ]),
    );
    settle(p, ['--workers', '1']);
    expect(showOutput(p, NB, 'b', 'capB')).toBe('no');
    p.write('notebooks/data/limits.json', '{"max": 20}');
    expect(run(p, '--workers', '1')).toEqual({ a: 'ran', b: 'ran', other: 'cached' });
    expect(showOutput(p, NB, 'b', 'capB')).toBe('yes');
  });
});

describe('a built run (`cellar build`, `node run.mjs`) keys a memoised helper read as a run from the sources does', () => {
  for (const where of ['setup', 'lib'] as const)
    it(`a memo in ${where === 'setup' ? 'the setup cell' : 'a local module'}: editing the file re-runs both callers in the built run, and a source run on its workspace is served the new values`, () => {
      const p = memoProject(where);
      const b = p.cellar('build', NB, '--out', 'dist');
      expect(b.code, b.stderr).toBe(0);
      for (let i = 0; i < 2; i++) runBuilt(p, 'dist/run.mjs', '--workers', '1');
      expect(runBuilt(p, 'dist/run.mjs', '--workers', '1')).toEqual({
        a: 'cached',
        b: 'cached',
        other: 'cached',
      });
      p.write('notebooks/data/limits.json', '{"max": 50}');
      expect(runBuilt(p, 'dist/run.mjs', '--workers', '1')).toEqual({
        a: 'ran',
        b: 'ran',
        other: 'cached',
      });
      expect(runBuilt(p, 'dist/run.mjs', '--workers', '1')).toEqual({
        a: 'cached',
        b: 'cached',
        other: 'cached',
      });
      // The sources agree with the built run on that workspace: same keys, new values.
      expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({
        a: 'cached',
        b: 'cached',
        other: 'cached',
      });
      expect(showOutput(p, NB, 'a', 'capA', '--workspace', 'ws')).toBe(50);
      expect(showOutput(p, NB, 'b', 'capB', '--workspace', 'ws')).toBe(100);
    });

  it('variant: the built folder moved to another depth (as shipped to a batch machine) and run with --workdir: the helper read still keys both callers', () => {
    const p = memoProject('lib');
    const b = p.cellar('build', NB, '--out', 'dist');
    expect(b.code, b.stderr).toBe(0);
    p.run('mkdir', ['-p', 'ship/batch']);
    p.run('mv', ['dist', 'ship/batch/job']);
    const runMoved = () =>
      runBuilt(p, 'ship/batch/job/run.mjs', '--workdir', 'notebooks', '--workers', '1');
    for (let i = 0; i < 2; i++) runMoved();
    expect(runMoved()).toEqual({ a: 'cached', b: 'cached', other: 'cached' });
    p.write('notebooks/data/limits.json', '{"max": 70}');
    expect(runMoved()).toEqual({ a: 'ran', b: 'ran', other: 'cached' });
    expect(showOutput(p, NB, 'b', 'capB', '--workspace', 'ws')).toBe(140);
  });
});
