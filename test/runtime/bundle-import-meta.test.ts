// The cached bundle (runtime/load/bundle.ts) gives each module its own `import.meta.url`,
// `dirname` and `filename`: the real source file's, as tsx and Node give them. Only the
// expressions are replaced, never the same words inside a string, a template's text or a comment
// (a tester's finding: a text replacement turned 'import.meta.url' in a string into the file's URL,
// a wrong value served silently, and made "import.meta.url" a syntax error that sent every run
// of the pipeline to the slow tsx loader).
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, root } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cellar-import-meta-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIB = `#!/usr/bin/env node
// import.meta.url in a comment stays a comment
export const single = 'import.meta.url';
export const double = "import.meta.url and import.meta.dirname";
export const template = \`\${import.meta.filename} import.meta.filename\`;
export const early = here();
function here() { return import.meta.url; }
export const url = import.meta.url;
export const folder = import.meta.dirname;
`;

const PIPELINE = `import { writeFileSync } from 'node:fs';
import { defineTask, definePipeline } from 'cellar';
import * as lib from './lib/strings.ts';
const meta = defineTask({
  name: 'meta', module: import.meta.url, outputs: { v: {} },
  run: () => {
    writeFileSync(process.env.META_OUT!, JSON.stringify({ ...lib, pipeline: import.meta.url }));
    return { v: 1 };
  },
});
export default definePipeline({ name: 'meta', tasks: [meta] });
`;

function run(loader: 'bundle' | 'tsx'): Record<string, string> {
  const out = join(dir, `${loader}.json`);
  const r = spawnSync(process.execPath, [cli, 'run', 'pipeline.ts', '--rerun', 'meta'], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      CELLAR_WORKSPACE: '',
      META_OUT: out,
      CELLAR_LOADER: loader === 'tsx' ? 'tsx' : '',
    },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
}

describe('import.meta in the cached bundle', () => {
  it('is the real file’s in code, and left alone in strings, template text and comments', () => {
    mkdirSync(join(dir, 'lib'), { recursive: true });
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'cellar'));
    writeFileSync(join(dir, 'package.json'), '{"name":"meta","type":"module"}\n');
    writeFileSync(join(dir, 'lib', 'strings.ts'), LIB);
    writeFileSync(join(dir, 'pipeline.ts'), PIPELINE);
    const libFile = join(dir, 'lib', 'strings.ts');
    const expected = {
      single: 'import.meta.url',
      double: 'import.meta.url and import.meta.dirname',
      template: `${libFile} import.meta.filename`,
      early: pathToFileURL(libFile).href,
      url: pathToFileURL(libFile).href,
      folder: join(dir, 'lib'),
      pipeline: pathToFileURL(join(dir, 'pipeline.ts')).href,
    };
    expect(run('bundle')).toEqual(expected);
    // Built, not fallen back to tsx: the bundle is in the cache.
    const cached = readdirSync(join(dir, '.cellar', 'cache', 'pipelines'));
    expect(cached.some((f) => f.endsWith('.mjs'))).toBe(true);
    // The same values tsx gives the sources.
    expect(run('tsx')).toEqual(expected);
  });
});
