// E_PACKAGE_CLASS_OUTPUT beyond the baselines (errors/package-class-*, package-class-registered):
// which shapes of a declaration count as holding a package's class, and which do not. Through the
// real compiler (compileNotebook), on notebooks stated in a few lines.
import { describe, expect, it } from 'vitest';
import { compileNotebook } from '../../compiler/program.js';
import { notebookText } from './notebook.js';

const SETUP =
  "import { KMeans } from 'some-ml-package';\nimport type { Options } from 'some-ml-package';";

/** The outputs refused in a notebook of the setup cell and one task cell, as `output:Class`. */
async function refused(task: string, setup = SETUP): Promise<string[]> {
  const text = notebookText([setup, `//| task: t\n${task}`]);
  const result = await compileNotebook('nb.ipynb', text, { workdir: '.' });
  return result.diagnostics
    .filter((d) => d.code === 'E_PACKAGE_CLASS_OUTPUT')
    .map((d) => /output '(\w+)'.* holds a (\w+)/.exec(d.message)!.slice(1).join(':'))
    .sort();
}

describe('an output holding a package class is refused, whatever holds it', () => {
  it('a Set, a Promise, a tuple, a union with undefined, an `as` cast, a Record', async () => {
    expect(
      await refused(`const set: Set<KMeans> = new Set([new KMeans(1)]);
const later: Promise<KMeans> = Promise.resolve(new KMeans(2));
const pair: [string, KMeans] = ['a', new KMeans(3)];
const maybe: KMeans | undefined = undefined;
const cast = JSON.parse('{}') as KMeans;
const byName: Record<string, KMeans> = {};`),
    ).toEqual([
      'byName:KMeans',
      'cast:KMeans',
      'later:KMeans',
      'maybe:KMeans',
      'pair:KMeans',
      'set:KMeans',
    ]);
  });

  it('an aliased import (`KMeans as Clusterer`) names the class as the package exports it', async () => {
    expect(
      await refused(
        'const model = new Clusterer(3);',
        "import { KMeans as Clusterer } from 'some-ml-package';",
      ),
    ).toEqual(['model:KMeans']);
  });
});

describe('what is not refused', () => {
  it("data derived from a class (`ReturnType<KMeans['toJSON']>`), a package's interface, a number it computes", async () => {
    expect(
      await refused(`const model = new KMeans(3).toJSON() as ReturnType<KMeans['toJSON']>;
const options: Options = { k: 3 };
const k: number = new KMeans(3).predict();`),
    ).toEqual([]);
  });

  it('a class a setup cell registers a format for, by identifier or by its name in a string', async () => {
    const byIdentifier = `${SETUP}\nregisterModelFormat({ name: 'k', matches: (v) => v instanceof KMeans, save: (m) => m, load: (s) => s });`;
    const byString = `${SETUP}\nregisterModelFormat({ name: 'km', matches: (v) => v?.constructor?.name === 'KMeans', save: (m) => m, load: (s) => s });`;
    for (const setup of [byIdentifier, byString])
      expect(
        await refused(
          'const model = new KMeans(3);',
          `import { registerModelFormat } from 'cellar';\n${setup}`,
        ),
      ).toEqual([]);
  });

  it('a value a task only uses inside itself (not an output) and an output with a codec of the project', async () => {
    const text = notebookText([
      SETUP,
      '//| task: t\nconst model = new KMeans(3);\nconst k = model.predict();',
      '//| task: u\nconst doubled = k * 2;',
      '//| task: v\n//| output: other=kmeanscodec\nconst other = new KMeans(2);',
    ]);
    const result = await compileNotebook('nb.ipynb', text, { workdir: '.' });
    expect(result.diagnostics.filter((d) => d.code === 'E_PACKAGE_CLASS_OUTPUT')).toEqual([]);
  });

  it('a registration inside a task cell does not count: the runtime loads formats from setup', async () => {
    expect(
      await refused(
        "registerModelFormat({ name: 'k', matches: (v) => v instanceof KMeans, save: (m) => m, load: (s) => s });\nconst model = new KMeans(3);",
        `${SETUP}\nimport { registerModelFormat } from 'cellar';`,
      ),
    ).toEqual(['model:KMeans']);
  });
});
