// The stated Node.js requirement is true and checked at CLI start (issue 9, item 13).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// A plain .mjs module (it must run on any Node), typed by inference (tsconfig allowJs).
import { MIN_NODE, nodeVersionProblem } from '../../bin/node-version.mjs';
import { root, runCli } from './helpers.js';

describe('the Node.js requirement', () => {
  it('package.json engines states the minimum the CLI checks, and this Node meets it', () => {
    const engines = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }
    ).engines.node;
    const [major, minor] = MIN_NODE as number[];
    expect(engines).toBe(`>=${major}.${minor}`);
    expect(nodeVersionProblem(process.versions.node)).toBeUndefined();
  });

  it('a Node older than 20.19 gets a clear message naming both versions and the fix (E_NODE_VERSION)', () => {
    const message = nodeVersionProblem('20.18.3') as string;
    expect(message).toContain(
      'cellar needs Node.js >= 20.19.0, and this is Node.js 20.18.3 (E_NODE_VERSION)',
    );
    expect(message).toContain('Install a newer Node.js');
    expect(nodeVersionProblem('v18.20.0')).toContain('E_NODE_VERSION');
  });

  it('variant: 20.19.0 exactly, later 20.x and 22+ are accepted', () => {
    for (const v of ['20.19.0', '20.20.2', '21.0.0', '22.1.0', '24.0.0'])
      expect(nodeVersionProblem(v)).toBeUndefined();
  });

  it("`cellar --version` prints the package's own version (package.json), the one keys hold for 'cellar'", async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(r.stdout.trim()).toBe(`cellar ${version}`);
  });

  it('the require(esm) the kernel relies on works on this Node: require() of an ES module', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    const { createRequire } = await import('node:module');
    const required = createRequire(join(root, 'noop.js'))(
      join(root, 'node_modules', 'es-module-lexer', 'dist', 'lexer.js'),
    ) as { init: unknown };
    expect(required.init).toBeDefined();
  });
});
