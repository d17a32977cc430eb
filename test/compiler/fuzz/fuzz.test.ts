// A small fuzz corpus (issue 9): structural mutations of the example notebooks, generated from a
// fixed seed so every run tries the same inputs. Each must compile, or fail with coded
// diagnostics naming the notebook (and the cell, for anything about a cell): never a thrown error,
// never E_INTERNAL. Kept small enough for the suite; a failing case prints its name, and
// `FUZZ_CASE=<name>` (below) reruns one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES, formatDiagnostic } from '../../../compiler/diagnostics.js';
import { compileNotebook, newMemory } from '../../../compiler/program.js';

const root = join(import.meta.dirname, '..', '..', '..');
const BASES = ['notebooks/penguins.ipynb', 'notebooks/flights.ipynb'];
/** Codes about the whole file, which name no cell. */
const FILE_LEVEL = new Set([
  'E_NOTEBOOK_JSON',
  'E_NOTEBOOK_FORMAT',
  'E_NOTEBOOK_LANGUAGE',
  'W_NO_DIRECTIVES',
  'E_DEPENDENCY_CYCLE',
]);

/** mulberry32: a tiny seeded PRNG, so the corpus is the same on every run and machine. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Nb = { cells: Record<string, unknown>[]; [k: string]: unknown };
type Mutation = (nb: Nb, text: string, pick: <T>(xs: T[]) => T, rand: () => number) => string;

const codeCells = (nb: Nb) => nb.cells.filter((c) => c.cell_type === 'code');
const src = (c: Record<string, unknown>) =>
  Array.isArray(c.source) ? (c.source as string[]).join('') : String(c.source ?? '');
const odd = [
  '\u202e',
  '\u200b',
  '\ud800',
  '\ufeff',
  '𝔘𝔫𝔦',
  'é',
  '\u0000',
  '\t',
  '\r\n',
  '\\u{1F600}',
];

const MUTATIONS: Record<string, Mutation> = {
  truncated: (_nb, text, _p, rand) => text.slice(0, Math.floor(rand() * text.length)),
  sourceNull: (nb, _t, pick) => ((pick(codeCells(nb)).source = null), JSON.stringify(nb)),
  sourceMissing: (nb, _t, pick) => (delete pick(codeCells(nb)).source, JSON.stringify(nb)),
  sourceWrongType: (nb, _t, pick) => (
    (pick(codeCells(nb)).source = pick([42, { a: 1 }, true, ['x', 3], [null]])),
    JSON.stringify(nb)
  ),
  cellNotObject: (nb, _t, pick, rand) => (
    (nb.cells[Math.floor(rand() * nb.cells.length)] = pick([null, 'cell', 7, []]) as never),
    JSON.stringify(nb)
  ),
  cellType: (nb, _t, pick) => (
    (pick(nb.cells).cell_type = pick(['sql', null, 'Code', undefined, 3])),
    JSON.stringify(nb)
  ),
  cellsWrong: (nb, _t, pick) => (
    (nb.cells = pick([{}, null, 'x', undefined]) as never),
    JSON.stringify(nb)
  ),
  nbformat: (nb, _t, pick) => ((nb.nbformat = pick([3, '4', null, undefined])), JSON.stringify(nb)),
  metadataWrong: (nb, _t, pick) => (
    (nb.metadata = pick([null, [], 'x', { kernelspec: 5 }, { kernelspec: { language: ['ts'] } }])),
    JSON.stringify(nb)
  ),
  tagsWrong: (nb, _t, pick) => (
    (pick(nb.cells).metadata = pick([
      null,
      { tags: 'task:x' },
      { tags: [1, null, 'task:', 'version=x', 'rerun'] },
    ])),
    JSON.stringify(nb)
  ),
  idWrong: (nb, _t, pick) => (
    (pick(nb.cells).id = pick([null, 5, '', 'a b', 'x'.repeat(500)])),
    JSON.stringify(nb)
  ),
  directiveOdd: (nb, _t, pick) => {
    const c = pick(codeCells(nb));
    const line = pick([
      '// | task: x',
      '//|task x',
      '// |',
      '//|',
      '//| task:',
      '//| task: a b',
      '//| task: ' + 'n'.repeat(300),
      '//| task: con',
      '//| check: rows >= abc',
      '//| version: -1',
      '//| output: =json',
      '//| task: x\n//| task: y',
      '//| explore\n//| params',
      '#| task: x',
      '//| cache: maybe',
      '//| materialize: a',
      '//|   task   :   spaced',
    ]);
    const at = pick(['top', 'afterComment', 'bottom']);
    const s = src(c);
    c.source =
      at === 'top'
        ? `${line}\n${s}`
        : at === 'afterComment'
          ? `// note\n${line}\n${s}`
          : `${s}\n${line}`;
    return JSON.stringify(nb);
  },
  duplicateTask: (nb, _t, pick) => {
    const tasks = codeCells(nb).filter((c) => /\/\/\| task:/.test(src(c)));
    const a = pick(tasks);
    const name = /\/\/\| task: (\S+)/.exec(src(a))![1]!;
    const b = pick(codeCells(nb));
    b.source = `//| task: ${pick([name, name.toUpperCase()])}\n${src(b).replace(/^\/\/\|.*\n/gm, '')}`;
    return JSON.stringify(nb);
  },
  oddUnicode: (nb, _t, pick) => {
    const c = pick(codeCells(nb));
    const s = src(c);
    const i = Math.floor(s.length / 2);
    c.source = s.slice(0, i) + pick(odd) + s.slice(i);
    return JSON.stringify(nb);
  },
  deepCode: (nb, _t, pick) => {
    const c = pick(codeCells(nb).filter((x) => /\/\/\| task:/.test(src(x))));
    const deep = pick([
      'let deep = 0;\n' + 'if (deep >= 0) {\n'.repeat(120) + 'deep++;\n' + '}\n'.repeat(120),
      'const deep = ' + Array.from({ length: 800 }, (_, i) => `${i}`).join(' + ') + ';',
      'const deep = ' + '['.repeat(100) + ']'.repeat(100) + ';',
    ]);
    c.source = `${src(c)}\n${deep}`;
    return JSON.stringify(nb);
  },
  swapCells: (nb, _t, _p, rand) => {
    const i = Math.floor(rand() * nb.cells.length);
    const j = Math.floor(rand() * nb.cells.length);
    [nb.cells[i], nb.cells[j]] = [nb.cells[j]!, nb.cells[i]!];
    return JSON.stringify(nb);
  },
  syntaxBreak: (nb, _t, pick) => {
    const c = pick(codeCells(nb));
    c.source = src(c).replace(/\)/, '');
    return JSON.stringify(nb);
  },
};

const PER_MUTATION = 3;
const cases: { name: string; path: string; text: string }[] = [];
const rand = prng(9);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
for (const base of BASES) {
  const text = readFileSync(join(root, base), 'utf8');
  for (const [name, mutate] of Object.entries(MUTATIONS)) {
    for (let i = 0; i < PER_MUTATION; i++)
      cases.push({
        name: `${base.split('/').pop()} ${name} #${i + 1}`,
        path: base,
        text: mutate(JSON.parse(text) as Nb, text, pick, rand),
      });
  }
}

describe('fuzzed notebooks compile or give coded diagnostics naming file and cell', () => {
  const memory = newMemory();
  const only = process.env.FUZZ_CASE;
  for (const c of cases.filter((x) => !only || x.name === only)) {
    it(c.name, async () => {
      const r = await compileNotebook(c.path, c.text, { workdir: '..', memory, format: false });
      const printed = r.diagnostics.map(formatDiagnostic).join('\n');
      for (const d of r.diagnostics) {
        expect(Object.keys(CODES), printed).toContain(d.code);
        expect(d.code, printed).not.toBe('E_INTERNAL');
        expect(d.notebook, printed).toBe(c.path);
        if (!FILE_LEVEL.has(d.code) && d.severity === 'error')
          expect(d.cell, printed).toBeGreaterThan(0);
      }
      if (r.diagnostics.some((d) => d.severity === 'error')) expect(r.files).toEqual([]);
      else
        expect(
          r.files.some((f) => f.path.endsWith('/pipeline.ts')) ||
            r.diagnostics.some((d) => d.code === 'W_NO_DIRECTIVES'),
        ).toBe(true);
    });
  }
});
