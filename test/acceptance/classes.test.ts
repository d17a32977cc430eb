// Class instances crossing tasks (issue 8 item 6), through the real CLI: a notebook declares
// `class Centroids { nearest(x) {…} }`, one task builds a model, the next calls `model.nearest`.
// In the notebook that works; the compiled pipeline must compute the same, with the instance
// rebuilt as an instance of its class (methods, `instanceof`), nested instances too, wherever the
// class lives (setup cell, a task cell, a local module), and the class's code in the key of every
// task that stores or reads it. A class from a package with no model format is refused at compile
// time, before any task runs (E_PACKAGE_CLASS_OUTPUT), or, where the syntax does not show it, before
// the output is written; a class Cellar cannot rebuild (private `#` state) is refused before the
// output is written. Each refusal names task, output, class and the fix. The codec-level
// cases (shared references, subclasses, each refusal) are in test/runtime/classes.test.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  project,
  removeProjects,
  runStatuses as run,
  showOutput as show,
  STACK_FRAME,
} from './harness.js';

afterAll(removeProjects);

const CENTROIDS = (extra = '') => `class Centroids {
  constructor(public points: number[][]) {}
  nearest(x: number[]): number {
    let best = 0;
    let bestDistance = Infinity;
    this.points.forEach((p, i) => {
      const d = p.reduce((s, v, j) => s + (v - x[j]!) ** 2, 0);
      if (d < bestDistance) {
        bestDistance = d;
        best = i;
      }
    });
    return best;
  }${extra}
}`;

const TO_JSON = `
  toJSON() {
    return { points: this.points };
  }`;

const FIT = '//| task: fit\nconst model = new Centroids([[0, 0], [10, 10]]);';
const USE =
  '//| task: use\nconst label = model.nearest([9, 8]);\nconst isCentroids = model instanceof Centroids;';

describe('an instance of a class declared in the notebook', () => {
  it('comes back downstream as an instance of that class: model.nearest works, instanceof holds', () => {
    const p = project();
    p.write('notebooks/centroids.ipynb', notebookText([CENTROIDS(), FIT, USE]));
    expect(run(p, 'notebooks/centroids.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, 'notebooks/centroids.ipynb', 'use', 'label')).toBe(1);
    expect(show(p, 'notebooks/centroids.ipynb', 'use', 'isCentroids')).toBe(true);
    // The stored model is shown with its class, and its fields.
    const shown = p.cellar('show', 'notebooks/centroids.ipynb', 'fit', 'model');
    expect(shown.stdout).toContain('Centroids { points: [ [ 0, 0 ], [ 10, 10 ] ] }');
    // Its header names the class it holds (a .v8 file), not "json".
    expect(shown.stdout).toMatch(
      /fit\.model {2}Centroids \(structured clone, instances of [^)]*#Centroids\)/,
    );
    const tree = p.cellar('tree', 'notebooks/centroids.ipynb', '--json');
    expect(tree.stdout).toContain('generated/centroids/setup.ts#Centroids');
  });

  it('with a toJSON, still comes back as an instance, not as the plain object toJSON returns', () => {
    const p = project();
    p.write('notebooks/centroids.ipynb', notebookText([CENTROIDS(TO_JSON), FIT, USE]));
    expect(run(p, 'notebooks/centroids.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, 'notebooks/centroids.ipynb', 'use', 'label')).toBe(1);
    expect(show(p, 'notebooks/centroids.ipynb', 'use', 'isCentroids')).toBe(true);
  });

  it('stored as a model (`//| output: model=model`), without and with a toJSON', () => {
    const p = project();
    const fit = FIT.replace('\n', '\n//| output: model=model\n');
    p.write('notebooks/plain.ipynb', notebookText([CENTROIDS(), fit, USE]));
    p.write('notebooks/withjson.ipynb', notebookText([CENTROIDS(TO_JSON), fit, USE]));
    for (const nb of ['notebooks/plain.ipynb', 'notebooks/withjson.ipynb']) {
      expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
      expect(show(p, nb, 'use', 'label')).toBe(1);
      expect(show(p, nb, 'use', 'isCentroids')).toBe(true);
    }
    expect(p.cellar('show', 'notebooks/plain.ipynb', 'fit', 'model').stdout).toContain(
      'model (cellar/class)',
    );
  });

  it('declared in a task cell, is moved to shared.ts and reaches the task that only calls its methods', () => {
    const p = project();
    p.write(
      'notebooks/intask.ipynb',
      notebookText([
        `//| task: fit\n${CENTROIDS()}\nconst model = new Centroids([[0, 0], [10, 10]]);`,
        '//| task: use\nconst label = model.nearest([9, 8]);',
      ]),
    );
    expect(run(p, 'notebooks/intask.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(p.read('generated/intask/shared.ts')).toContain('export class Centroids {');
    expect(p.read('generated/intask/fit.ts')).toContain("import { Centroids } from './shared.js';");
    expect(show(p, 'notebooks/intask.ipynb', 'use', 'label')).toBe(1);
  });

  it('declared with the same name in two task cells, each stays in its task and the pipeline runs', () => {
    const p = project();
    p.write(
      'notebooks/twice.ipynb',
      notebookText([
        '//| task: a\nclass Acc { n = 1; get() { return this.n; } }\nconst x = new Acc().get();',
        '//| task: b\nclass Acc { n = 2; get() { return this.n * 10; } }\nconst y = new Acc().get();',
      ]),
    );
    expect(run(p, 'notebooks/twice.ipynb')).toEqual({ a: 'ran', b: 'ran' });
    expect(show(p, 'notebooks/twice.ipynb', 'b', 'y')).toBe(20);
  });

  it('built by a static factory, comes back the same', () => {
    const p = project();
    const factory = `
  static fit(points: number[][]): Centroids {
    return new Centroids(points.map((q) => [...q]));
  }`;
    p.write(
      'notebooks/factory.ipynb',
      notebookText([
        CENTROIDS(factory),
        '//| task: fit\nconst model = Centroids.fit([[0, 0], [10, 10]]);',
        USE,
      ]),
    );
    expect(run(p, 'notebooks/factory.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, 'notebooks/factory.ipynb', 'use', 'label')).toBe(1);
    expect(show(p, 'notebooks/factory.ipynb', 'use', 'isCentroids')).toBe(true);
  });

  it('nested: a Map of instances, an array of them, an instance holding another', () => {
    const p = project();
    p.write(
      'notebooks/nested.ipynb',
      notebookText([
        `${CENTROIDS()}
class Model {
  constructor(public name: string, public centroids: Centroids) {}
  predict(x: number[]): string {
    return \`\${this.name}:\${this.centroids.nearest(x)}\`;
  }
}`,
        `//| task: build
const byRegion = new Map([
  ['north', new Centroids([[0, 0], [4, 4]])],
  ['south', new Centroids([[5, 5]])],
]);
const list = [new Centroids([[1, 1]]), new Centroids([[2, 2], [3, 3]])];
const wrapped = new Model('m', new Centroids([[2, 2], [8, 8]]));`,
        `//| task: use
const north = byRegion.get('north')!.nearest([4, 3]);
const second = list[1]!.nearest([3, 3]);
const predicted = wrapped.predict([7, 7]);
const allInstances = [...byRegion.values(), ...list, wrapped.centroids].every((c) => c instanceof Centroids) && wrapped instanceof Model;`,
      ]),
    );
    expect(run(p, 'notebooks/nested.ipynb')).toEqual({ build: 'ran', use: 'ran' });
    expect(show(p, 'notebooks/nested.ipynb', 'use', 'north')).toBe(1);
    expect(show(p, 'notebooks/nested.ipynb', 'use', 'second')).toBe(1);
    expect(show(p, 'notebooks/nested.ipynb', 'use', 'predicted')).toBe('m:1');
    expect(show(p, 'notebooks/nested.ipynb', 'use', 'allInstances')).toBe(true);
  });

  it("two notebooks each with a class of the same name: each task gets its own notebook's class", () => {
    const p = project();
    p.write('notebooks/a.ipynb', notebookText([CENTROIDS(), FIT, USE]));
    // b's Centroids numbers its points by tens.
    p.write(
      'notebooks/b.ipynb',
      notebookText([CENTROIDS().replace('return best;', 'return best * 10;'), FIT, USE]),
    );
    expect(run(p, 'notebooks/a.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(run(p, 'notebooks/b.ipynb')).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, 'notebooks/a.ipynb', 'use', 'label')).toBe(1);
    expect(show(p, 'notebooks/b.ipynb', 'use', 'label')).toBe(10);
  });
});

describe('an instance of a class from a local module', () => {
  it('comes back as an instance; editing a method re-runs the task that stores it and the task that reads it', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'));
    const lib = `export ${CENTROIDS(`
  static fit(points: number[][]): Centroids {
    return new Centroids(points);
  }`)}\n`;
    p.write('notebooks/lib/centroids.ts', lib);
    const nb = 'notebooks/local.ipynb';
    p.write(
      nb,
      notebookText([
        "import { Centroids } from './lib/centroids';",
        '//| task: fit\nconst model = Centroids.fit([[0, 0], [10, 10]]);',
        '//| task: use\nconst label = model.nearest([9, 8]);',
      ]),
    );
    expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, nb, 'use', 'label')).toBe(1);
    const tree = p.cellar('tree', nb, '--json');
    expect(tree.stdout).toContain('notebooks/lib/centroids.ts#Centroids');
    // The reader's own code fingerprint holds the class's file (not only through its upstream key).
    const folder = join(p.dir, '.cellar', 'workspace', 'local', 'use');
    const manifest = readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!;
    const files = JSON.parse(readFileSync(join(folder, manifest), 'utf8')).inputs.code.files;
    expect(Object.keys(files)).toContain('../../notebooks/lib/centroids.ts');
    // A comment edit keeps every key.
    p.write('notebooks/lib/centroids.ts', `// the model\n${lib}`);
    expect(run(p, nb)).toEqual({ fit: 'cached', use: 'cached' });
    // The class's code is in the key of the task that stores an instance and of the one reading it.
    p.write('notebooks/lib/centroids.ts', lib.replace('return best;', 'return best * 10;'));
    expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, nb, 'use', 'label')).toBe(10);
  });

  it('edited in the notebook between runs: both tasks re-run with the new method', () => {
    const p = project();
    const nb = 'notebooks/edited.ipynb';
    p.write(nb, notebookText([CENTROIDS(), FIT, USE]));
    expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
    p.write(nb, notebookText([CENTROIDS().replace('return best;', 'return best * 10;'), FIT, USE]));
    expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, nb, 'use', 'label')).toBe(10);
  });
});

/** A package `kmeans-lite` in the project's node_modules: a class with a `toJSON`, and its types. */
function kmeansPackage(p: Project): void {
  const pkg = join(p.dir, 'node_modules', 'kmeans-lite');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    join(pkg, 'package.json'),
    '{ "name": "kmeans-lite", "version": "1.0.0", "type": "module", "main": "index.js", "types": "index.d.ts" }\n',
  );
  writeFileSync(
    join(pkg, 'index.js'),
    'export class KMeans {\n  constructor(k) { this.k = k; }\n  predict() { return this.k; }\n  toJSON() { return { k: this.k }; }\n}\n',
  );
  writeFileSync(
    join(pkg, 'index.d.ts'),
    'export declare class KMeans {\n  k: number;\n  constructor(k: number);\n  predict(): number;\n  toJSON(): { k: number };\n}\n',
  );
}

const KMEANS_FORMAT = `import { KMeans } from 'kmeans-lite';
import { registerModelFormat } from 'cellar';
registerModelFormat({
  name: 'kmeans-lite',
  matches: (v) => v instanceof KMeans,
  save: (m: KMeans) => ({ k: m.k }),
  load: (saved: { k: number }) => new KMeans(saved.k),
});`;

describe('a class from a package without a model format is refused before any task runs', () => {
  const cells = (setup: string, fit = 'const model = new KMeans(3);') =>
    notebookText([
      setup,
      `//| task: fit\n${fit}`,
      '//| task: use\nconst k = model.predict();\nconst isKMeans = model instanceof KMeans;',
    ]);

  it('`cellar run` stops at compile time naming cell, line, output, task, class, package and the fix; no task folder is written', () => {
    const p = project();
    kmeansPackage(p);
    const nb = 'notebooks/pkg.ipynb';
    p.write(nb, cells("import { KMeans } from 'kmeans-lite';"));
    const r = p.cellar('run', nb);
    expect(r.code).toBe(2); // a compile error, like any other in the notebook
    const out = r.stdout + r.stderr;
    expect(out).toMatch(
      /cell 2 \(id c2\), line 2, column 7: error E_PACKAGE_CLASS_OUTPUT: output 'model' of task 'fit' holds a KMeans from package 'kmeans-lite', which Cellar cannot store as a class/,
    );
    expect(out).toMatch(/register a model format for it in the setup cell \(registerModelFormat/);
    expect(out).not.toMatch(STACK_FRAME);
    // No task ran: nothing in the workspace, no generated pipeline.
    expect(existsSync(join(p.dir, '.cellar', 'workspace', 'local', 'fit'))).toBe(false);
    expect(existsSync(join(p.dir, '.cellar', 'workspace', 'local', 'use'))).toBe(false);
    expect(existsSync(join(p.dir, 'generated', 'pkg', 'pipeline.ts'))).toBe(false);
    // The fix the message names, in the setup cell: it compiles, and the model comes back a KMeans.
    p.write(nb, cells(KMEANS_FORMAT));
    expect(run(p, nb)).toEqual({ fit: 'ran', use: 'ran' });
    expect(show(p, nb, 'use', 'k')).toBe(3);
    expect(show(p, nb, 'use', 'isKMeans')).toBe(true);
  });

  it('an instance the syntax does not show (built by a setup helper) is still refused when its output is stored', () => {
    const p = project();
    kmeansPackage(p);
    const nb = 'notebooks/helper.ipynb';
    p.write(
      nb,
      cells(
        "import { KMeans } from 'kmeans-lite';\nfunction fitKMeans(k: number) {\n  return new KMeans(k);\n}",
        'const model = fitKMeans(3);',
      ),
    );
    const r = p.cellar('run', nb);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(
      /fit: task 'fit', output 'model': holds a KMeans instance, which no codec can store with its class.*register a model format in the setup cell \(registerModelFormat/,
    );
    expect(out).toContain('use (upstream fit failed)');
    expect(out).not.toMatch(/is not a function/);
    expect(out).not.toMatch(STACK_FRAME);
    // Nothing stored for fit.
    expect(p.cellar('show', nb, 'fit', 'model').code).not.toBe(0);
  });
});

describe('instances Cellar cannot rebuild are refused before the output is written', () => {
  it('a class keeping its state in private #fields: task, output, class and the fix', () => {
    const p = project();
    const nb = 'notebooks/private.ipynb';
    p.write(
      nb,
      notebookText([
        `class Counter {
  #count = 0;
  bump(): void {
    this.#count++;
  }
  value(): number {
    return this.#count;
  }
}`,
        '//| task: make\nconst counter = new Counter();\ncounter.bump();',
        '//| task: use\nconst now = counter.value();',
      ]),
    );
    const r = p.cellar('run', nb);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /make: task 'make', output 'counter': holds a Counter instance, which cannot be stored with its class: it uses private `#` members.*plain public fields/,
    );
    expect(r.stdout + r.stderr).not.toMatch(STACK_FRAME);
  });
});
