// The docs stamp (cli/docs/stamp.ts): a site is kept only when every input it is built from is
// the same and every file the stamp lists is still there at its size.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsInputs, siteIsCurrent, writeStamp } from '../../cli/docs/stamp.js';
import type { DocsSite } from '../../cli/docs/model.js';

const dir = join(import.meta.dirname, '..', '.tmp', `docs-stamp-${process.pid}`);
const out = join(dir, 'docs', 'site');
const module = join(dir, 'generated', 'p', 'load.ts');
const lib = join(dir, 'lib', 'types.ts');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const site = (prose: string): DocsSite => ({
  project: 'p',
  root: dir,
  workspace: join(dir, '.cellar', 'workspace'),
  pipelines: [{ name: 'p', notebook: 'notebooks/p.ipynb', opening: prose } as never],
});

describe('the docs stamp', () => {
  mkdirSync(join(out, 'tasks'), { recursive: true });
  mkdirSync(join(dir, 'generated', 'p'), { recursive: true });
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(
    module,
    "import type { Row } from '../../lib/types.js';\nexport const load: Row = { a: 1 };\n",
  );
  writeFileSync(lib, 'export type Row = { a: number };\n');
  writeFileSync(join(out, 'index.html'), '<html>home</html>');
  writeFileSync(join(out, 'tasks', 'load.html'), '<html>load</html>');

  it('holds for the same inputs and files, and for nothing else', async () => {
    const inputs = docsInputs(site('why'), [module], true);
    const written = writeStamp(out, inputs);
    // The listing written is the site's files with their sizes, and the check gives it back.
    expect(Object.keys(written).sort()).toEqual(['index.html', 'tasks/load.html']);
    expect(written['tasks/load.html']![0]).toBe('<html>load</html>'.length);
    expect(siteIsCurrent(out, inputs)).toEqual(written);
    expect(docsInputs(site('why'), [module], true)).toBe(inputs);
    // The model (prose, run facts), the API switch, a documented module, a project source.
    expect(docsInputs(site('why not'), [module], true)).not.toBe(inputs);
    expect(docsInputs(site('why'), [module], false)).not.toBe(inputs);
    const text = readFileSync(module, 'utf8');
    writeFileSync(module, text.replace('a: 1', 'a: 2'));
    expect(docsInputs(site('why'), [module], true)).not.toBe(inputs);
    writeFileSync(module, text);
    expect(docsInputs(site('why'), [module], true)).toBe(inputs);
    // A project file the module imports; a file it does not import changes nothing.
    writeFileSync(join(dir, 'lib', 'other.ts'), 'export const unrelated = 1;\n');
    expect(docsInputs(site('why'), [module], true)).toBe(inputs);
    writeFileSync(lib, 'export type Row = { a: number; b?: string };\n');
    expect(docsInputs(site('why'), [module], true)).not.toBe(inputs);
  });

  it('fails when a listed file is gone or changed size, or there is no stamp', async () => {
    const inputs = docsInputs(site('why'), [module], true);
    writeStamp(out, inputs);
    writeFileSync(join(out, 'tasks', 'load.html'), '<html>edited by hand</html>');
    expect(siteIsCurrent(out, inputs)).toBeUndefined();
    writeStamp(out, inputs);
    rmSync(join(out, 'tasks', 'load.html'));
    expect(siteIsCurrent(out, inputs)).toBeUndefined();
    rmSync(join(out, '.cellar-docs.json'));
    expect(siteIsCurrent(out, inputs)).toBeUndefined();
  });
});
