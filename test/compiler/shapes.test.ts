// Modules alike but for their numbers formatted once (compiler/emit/shapes.ts): the bytes must be
// Prettier's for every module, whichever module of a shape Prettier saw.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatBatch, formatTypeScript } from '../../compiler/emit/print.js';
import { formatByShape, reshape, shapeOf } from '../../compiler/emit/shapes.js';
import { compileNotebook, newMemory } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A task module as a big notebook's leaves are emitted (before formatting). */
const leaf = (i: number, extra = '') =>
  `// Generated from notebooks/big.ipynb, cell \`v${i}\`.\nimport { defineTask } from 'cellar';\n` +
  `export function v${i}(_inputs: Record<string, never>, { salt }: { salt: number }) {\n` +
  `  const v_${i} =   ${i} + salt${extra};\nreturn { v_${i} };\n}\n` +
  `export const v${i}Task = defineTask({ name: 'v${i}', module: import.meta.url, ` +
  `source: { notebook: 'notebooks/big.ipynb', cells: ['v${i}'] }, outputs: { v_${i}: {} }, run: v${i} });\n`;

/** formatByShape with Prettier counted: the texts it was asked to format. */
async function counted(texts: string[]) {
  const asked: string[] = [];
  const out = await formatByShape(
    texts,
    async (batch) => (asked.push(...batch), Promise.all(batch.map(formatTypeScript))),
    20_000,
  );
  return { out, asked };
}

describe('formatByShape', () => {
  it("formats a big notebook's leaves once per shape, each with its own bytes", async () => {
    const texts = [0, 1, 7, 10, 12, 34, 99, 100, 507, 999, 1000, 4999].map((i) => leaf(i));
    const { out, asked } = await counted(texts);
    expect(out).toEqual(await Promise.all(texts.map(formatTypeScript)));
    // One text per number of digits: 1, 2, 3 and 4.
    expect(asked).toEqual([texts[0], texts[3], texts[7], texts[10]]);
    expect(out[5]).toContain('const v_34 = 34 + salt;');
  });

  it('formats for itself a module whose numbers Prettier would print otherwise', async () => {
    // Each pair has one shape by digits, but Prettier's output differs beyond those digits
    // unless the words involved are left out of the shape (fractions, exponents, escapes, octal
    // and big integers, keys that stop being simple numbers) or the renaming is refused (a name
    // declared twice in one module, two names in the other).
    const pairs: [string, string][] = [
      ['export const a = 1.55;\n', 'export const a = 1.50;\n'],
      ['export const a = 1.0;\n', 'export const a = 1.5;\n'],
      ['export const a = 1e5;\n', 'export const a = 1e0;\n'],
      ['export const a = 0x1F;\n', 'export const a = 0x1A;\n'],
      ["export const s = '\\x41';\n", "export const s = '\\x4a';\n"],
      ["export const o = { '12': 1, b: 2 };\n", "export const o = { '01': 1, b: 2 };\n"],
      [
        "export const o = { '12345678901234567': 1 };\n",
        "export const o = { '10000000000000000': 1 };\n",
      ],
      ['export const s = `\\u{10FFFF}`;\n', 'export const s = `\\u{11FFFF}`;\n'],
      ['export const n = 12n;\n', 'export const n = 10n;\n'],
      [
        'const a1 = 1; const a2 = 2; export { a1, a2 };\n',
        'const a1 = 1; const a1 = 2; export { a1, a2 };\n',
      ],
      ['export const é1 = 1, é2 = 2;\n', 'export const é1 = 1, é1x = 2;\n'],
    ];
    for (const pair of pairs)
      for (const texts of [pair, [pair[1], pair[0]]]) {
        const alone = await Promise.all(
          texts.map((t) => formatTypeScript(t).catch((e: Error) => `threw ${e.name}`)),
        );
        const shaped = await counted(texts).then(
          (r) => r.out,
          () => undefined,
        );
        if (shaped) expect(shaped).toEqual(alone);
        else expect(alone.some((a) => a.startsWith('threw'))).toBe(true);
      }
  });

  it('reuses an output only when its words are the shape words, in order', async () => {
    // A comment, a string and identifiers all hold words with digits; the renaming maps each.
    const a = "// cell `c12`\nexport const c12 = { 'k12': c12x, k_12: `t12` };\nconst c12x = 12;\n";
    const b = "// cell `c34`\nexport const c34 = { 'k34': c34x, k_34: `t34` };\nconst c34x = 34;\n";
    expect(shapeOf(a).key).toBe(shapeOf(b).key);
    const { out, asked } = await counted([a, b]);
    expect(asked).toEqual([a]);
    expect(out).toEqual([await formatTypeScript(a), await formatTypeScript(b)]);
    // Two names in one module, one declared twice in the other: the parser may take each its own
    // way (babel rejects the second), so the output is not reused, however alike they print.
    const [two, one] = ['const a1 = 1; const a2 = 2;\n', 'const a1 = 1; const a1 = 2;\n'];
    expect(shapeOf(two).key).toBe(shapeOf(one).key);
    expect(reshape(shapeOf(two), await formatTypeScript(two), shapeOf(one))).toBeUndefined();
    expect(reshape(shapeOf(one), await formatTypeScript(one), shapeOf(two))).toBeUndefined();
    // A leading-zero number is not a shape word: another shape.
    expect(shapeOf('const x = 00;\n').key).not.toBe(shapeOf('const x = 12;\n').key);
  });
});

describe('a compile with modules recalled from an earlier one', () => {
  it("formats a changed cell's module from a recalled one of its shape, with a cold compile's bytes", async () => {
    const cells = (n: number) => [
      '//| params\nconst salt = 1;',
      ...Array.from(
        { length: 6 },
        (_, i) => `//| task: leaf${i}\nconst v_${i} = ${i === 3 ? n : i} + salt;`,
      ),
      '//| task: total\nconst total = v_0 + v_1 + v_2 + v_3 + v_4 + v_5;',
    ];
    // Every module Prettier is asked to format goes through here (one call for all, as the
    // host's helper thread is asked when it has Prettier loaded).
    const sent: string[] = [];
    const options = {
      workdir: '../../notebooks',
      memory: newMemory(),
      hash: sha256,
      formatElsewhere: (texts: string[]) => (sent.push(...texts), formatBatch(texts)),
      formatAllElsewhere: true,
    };
    await compileNotebook('nb.ipynb', notebookText(cells(3)), options);
    expect(sent.length).toBeGreaterThan(2); // pipeline.ts, its test and leaf0's shape, at least
    sent.length = 0;
    // A number changed: leaf3.ts is leaf2.ts's shape, whose output the memory holds.
    const warm = await compileNotebook('nb.ipynb', notebookText(cells(7)), options);
    expect(warm.stats.emitted).toBe(1);
    expect(sent).toEqual([]);
    const cold = await compileNotebook('nb.ipynb', notebookText(cells(7)), {
      workdir: '../../notebooks',
      hash: sha256,
    });
    expect(warm.files).toEqual(cold.files);
    expect(warm.files.find((f) => f.path === 'nb/leaf3.ts')!.contents).toContain(
      'const v_3 = 7 + salt;',
    );
    // Code of another shape is formatted.
    await compileNotebook(
      'nb.ipynb',
      notebookText(cells(7).map((c) => c.replace('7 +', '7 * 2 +'))),
      options,
    );
    expect(sent.length).toBe(1);
  }, 120_000);
});
