// evaluate() from a script started anywhere: compiled tasks run in their notebook's folder (as in
// Jupyter and under `cellar run`), so relative paths in the notebook's code resolve; the caller's
// working directory is restored afterwards, also when a task throws.
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineTask, evaluate } from 'cellar';
import { loadTask } from '../../generated/penguins/load.js';
import { root } from './helpers.js';

const start = process.cwd();
afterEach(() => process.chdir(start));

describe('evaluate() and the working directory', () => {
  it("runs penguins' load in notebooks/ from a script in another folder, then restores the caller's folder", async () => {
    const elsewhere = realpathSync(mkdtempSync(join(tmpdir(), 'cellar-evaluate-')));
    process.chdir(elsewhere);
    const { raw } = await evaluate(loadTask);
    expect(raw.length).toBe(344);
    expect(process.cwd()).toBe(elsewhere);
  });

  it("restores the caller's folder when a compiled task throws; hand-written tasks run where called", async () => {
    const elsewhere = realpathSync(mkdtempSync(join(tmpdir(), 'cellar-evaluate-')));
    process.chdir(elsewhere);
    const seen: string[] = [];
    const failing = defineTask({
      name: 'failing',
      module: new URL('../../generated/penguins/load.ts', import.meta.url).href,
      source: { notebook: 'notebooks/penguins.ipynb', cells: [] },
      params: {},
      inputs: {},
      outputs: { x: {} },
      run: (): { x: number } => {
        seen.push(process.cwd());
        throw new Error('boom');
      },
    });
    await expect(evaluate(failing)).rejects.toThrow('boom');
    expect(seen).toEqual([join(root, 'notebooks')]);
    expect(process.cwd()).toBe(elsewhere);

    const plain = defineTask({
      name: 'plain',
      params: {},
      inputs: {},
      outputs: { cwd: {} },
      run: () => ({ cwd: process.cwd() }),
    });
    expect((await evaluate(plain)).cwd).toBe(elsewhere);
  });
});
