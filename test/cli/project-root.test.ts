// One project root for everything that lives "in the project": the workspace, generated/ (the
// compiler's copy of the rule) and the warehouse file. They used to disagree under
// CELLAR_PROJECT_ROOT: the warehouse file moved, the workspace and generated/ did not.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../compiler/host.js';
import { findProjectRoot } from '../../runtime/project.js';
import { resolveWorkspace } from '../../runtime/store/workspace.js';
import { chooseStore } from '../../runtime/store/open.js';
import { loadWarehouseConfig } from '../../runtime/warehouse/config.js';

/** <tmp>/app (package.json) with notebooks/ inside, and <tmp>/elsewhere with a cellar.config.json. */
function layout() {
  const base = mkdtempSync(join(tmpdir(), 'cellar-root-'));
  const app = join(base, 'app');
  const notebooks = join(app, 'notebooks');
  const elsewhere = join(base, 'elsewhere');
  mkdirSync(notebooks, { recursive: true });
  mkdirSync(elsewhere);
  writeFileSync(join(app, 'package.json'), '{}');
  writeFileSync(
    join(elsewhere, 'cellar.config.json'),
    JSON.stringify({ warehouse: { duckdb: { path: 'from-elsewhere.duckdb' } } }),
  );
  return { base, app, notebooks, elsewhere };
}

const saved = { root: process.env.CELLAR_PROJECT_ROOT, workspace: process.env.CELLAR_WORKSPACE };
afterEach(() => {
  for (const [name, value] of [
    ['CELLAR_PROJECT_ROOT', saved.root],
    ['CELLAR_WORKSPACE', saved.workspace],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('the project root', () => {
  it('under CELLAR_PROJECT_ROOT, the workspace, generated/ and the warehouse file all follow it', () => {
    const { notebooks, elsewhere } = layout();
    delete process.env.CELLAR_WORKSPACE;
    process.env.CELLAR_PROJECT_ROOT = elsewhere;
    expect(resolveWorkspace({ near: notebooks })).toBe(join(elsewhere, '.cellar', 'workspace'));
    expect(join(projectRoot(notebooks), 'generated')).toBe(join(elsewhere, 'generated'));
    const config = loadWarehouseConfig(notebooks);
    expect(config.projectRoot).toBe(elsewhere);
    expect(config.duckdb.path).toBe(join(elsewhere, 'from-elsewhere.duckdb'));
  });

  it('without it, all three find the nearest package.json above the notebook', () => {
    const { app, notebooks } = layout();
    delete process.env.CELLAR_WORKSPACE;
    delete process.env.CELLAR_PROJECT_ROOT;
    expect(resolveWorkspace({ near: notebooks })).toBe(join(app, '.cellar', 'workspace'));
    expect(projectRoot(notebooks)).toBe(app);
    expect(loadWarehouseConfig(notebooks).projectRoot).toBe(app);
  });

  it('a cellar.config.json above the package.json marks the project for the compiler and the runtime alike', () => {
    const { base, notebooks } = layout();
    delete process.env.CELLAR_PROJECT_ROOT;
    writeFileSync(join(base, 'cellar.config.json'), '{}');
    expect(findProjectRoot(notebooks)).toBe(base);
    expect(projectRoot(notebooks)).toBe(base);
  });
});

describe('the store fields of cellar.config.json (runtime/store/open.ts)', () => {
  it('a store that is not a string, or gcs not an object, is refused naming the file, the field and the value', () => {
    const base = mkdtempSync(join(tmpdir(), 'cellar-store-config-'));
    const choose = () => chooseStore({ workspace: join(base, 'ws'), near: base, env: {} });
    for (const [config, message] of [
      [{ store: 5 }, '"store" must be a folder or a gs://bucket/prefix string, got 5'],
      [{ store: '' }, '"store" must be a folder or a gs://bucket/prefix string, got ""'],
      [{ gcs: 'x' }, '"gcs" must be an object, got "x"'],
      [{ gcs: { apiEndpoint: 1 } }, '"gcs.apiEndpoint" must be a string, got 1'],
      [[1], 'must hold a JSON object, got [1]'],
    ] as const) {
      writeFileSync(join(base, 'cellar.config.json'), JSON.stringify(config));
      expect(choose, JSON.stringify(config)).toThrow(
        `${join(base, 'cellar.config.json')}: ${message}`,
      );
    }
    writeFileSync(join(base, 'cellar.config.json'), JSON.stringify({ store: 'shared' }));
    expect(choose().spec).toBe(join(base, 'shared'));
  });
});
