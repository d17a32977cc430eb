// `cellar verify` end to end: the example notebooks in the real tslab kernel against their compiled
// pipelines, task by task and value by value, with the real CLI (which starts its own Jupyter
// server). Also a notebook whose pipeline cannot agree with it (an unseeded random draw), so a
// verify that always said "equal" would fail here. No timing assertions; generous timeouts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { VerifyResult } from '../../cli/exec/verify.js';
import { jupyterAvailable, repoRoot } from '../support/jupyter.js';
import { prepareCellarForTslab } from '../support/tslab.js';
import { project, removeProjects } from '../acceptance/harness.js';

let scratch: string;

/** `cellar verify <args> --json` with a private workspace and warehouse file. */
function verify(
  cwd: string,
  ...args: string[]
): { code: number; result: VerifyResult | undefined; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [
      join(repoRoot, 'bin/cellar.mjs'),
      'verify',
      ...args,
      '--json',
      '--workspace',
      join(scratch, 'workspace'),
    ],
    {
      cwd,
      encoding: 'utf8',
      timeout: 1_500_000,
      env: { ...process.env, NO_COLOR: '1', CELLAR_DUCKDB_PATH: join(scratch, 'warehouse.duckdb') },
    },
  );
  let result: VerifyResult | undefined;
  try {
    result = JSON.parse(r.stdout) as VerifyResult;
  } catch {
    result = undefined;
  }
  return { code: r.status ?? -1, result, stderr: r.stderr };
}

describe.skipIf(!jupyterAvailable())(
  'cellar verify: the notebook and its compiled pipeline compute the same values',
  () => {
    beforeAll(async () => {
      await prepareCellarForTslab();
      mkdirSync(join(repoRoot, 'test/.tmp'), { recursive: true });
      scratch = mkdtempSync(join(repoRoot, 'test/.tmp/verify-'));
    });
    afterAll(() => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      removeProjects();
    });

    test('penguins.ipynb: every task equal, with the defaults and with -p', () => {
      const run = verify(
        repoRoot,
        'notebooks/penguins.ipynb',
        '-p',
        'nTrees',
        '20',
        '-p',
        'seed',
        '7',
      );
      expect(run.code, run.stderr).toBe(0);
      const result = run.result!;
      expect(result.params).toEqual({ seed: 7, nTrees: 20 });
      expect(result.tasks.map((t) => t.task)).toEqual([
        'load',
        'features',
        'split',
        'train',
        'evaluate',
      ]);
      for (const t of result.tasks)
        expect(t, JSON.stringify(t.difference)).toMatchObject({ equal: true });
      expect(result.tasks.find((t) => t.task === 'evaluate')!.outputs.map((o) => o.name)).toContain(
        'metrics',
      );
    }, 1_600_000);

    test('flights.ipynb: every task equal, warehouse tables included (rows, or a digest for the big one)', () => {
      const run = verify(repoRoot, 'notebooks/flights.ipynb');
      expect(run.code, run.stderr).toBe(0);
      const result = run.result!;
      expect(result.tasks.map((t) => t.task).sort()).toEqual([
        'baseline',
        'calibration',
        'features',
        'hour_rates',
        'route_rates',
      ]);
      for (const t of result.tasks)
        expect(t, JSON.stringify(t.difference)).toMatchObject({ equal: true });
    }, 1_600_000);

    test('a task whose pipeline value differs (an unseeded random draw) is reported with the first differing path, and exit 1', () => {
      const p = project();
      p.write(
        'notebooks/draws.ipynb',
        JSON.stringify({
          nbformat: 4,
          nbformat_minor: 5,
          metadata: {
            kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
            language_info: { name: 'typescript' },
          },
          cells: [
            ['params', '//| params\nconst n = 3;'],
            [
              'draw',
              '//| task: draw\nconst values: number[] = Array.from({ length: n }, () => Math.random());',
            ],
            [
              'label',
              // A long shared prefix: the two sides must still be shown differently (B1).
              "//| task: label\nconst label = 'a draw of the notebook or of the pipeline: ' + 'n'.repeat(40) + String(Math.random());",
            ],
            [
              'stable',
              '//| task: stable\nconst byParity = new Map<string, number[]>([["even", [0, 2]], ["odd", [1, n]]]);\nconst when = new Date(Date.UTC(2024, 0, n));',
            ],
          ].map(([id, source]) => ({
            cell_type: 'code',
            id,
            source,
            metadata: {},
            outputs: [],
            execution_count: null,
          })),
        }),
      );
      const run = verify(p.dir, 'notebooks/draws.ipynb', '-p', 'n', '4');
      expect(run.code, run.stderr).toBe(1);
      const result = run.result!;
      const draw = result.tasks.find((t) => t.task === 'draw')!;
      expect(draw.equal).toBe(false);
      expect(draw.difference!.path).toBe('draw.values[0]');
      const label = result.tasks.find((t) => t.task === 'label')!.difference!;
      expect(label.path).toBe('label.label');
      expect(label.notebook, 'both sides shown around the first difference').not.toBe(
        label.pipeline,
      );
      expect(label.reason).toMatch(
        /^first difference at character \d+; \d+ characters in the notebook/,
      );
      expect(result.tasks.find((t) => t.task === 'stable')).toMatchObject({ equal: true });
      expect(result.ok).toBe(false);
    }, 1_600_000);

    test('a notebook cellar exec -p wrote (an injected-parameters cell): equal, from its injected values, and with -p on top', () => {
      // Before, the compiler read the injected cell as setup code shadowing the params, and
      // verify re-ran the notebook without it: DIFFERS.
      const p = project();
      const cell = (id: string, source: string, tags?: string[]) => ({
        cell_type: 'code',
        id,
        source,
        metadata: tags ? { tags } : {},
        outputs: [],
        execution_count: null,
      });
      p.write(
        'notebooks/scaled.ipynb',
        JSON.stringify({
          nbformat: 4,
          nbformat_minor: 5,
          metadata: {
            kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
            language_info: { name: 'typescript' },
          },
          cells: [
            cell('params', 'const k = 2;\nconst tag = "plain";', ['parameters']),
            cell(
              'injected-parameters',
              '// Parameters (injected by cellar exec)\nconst k: number = 200;',
              ['injected-parameters'],
            ),
            cell('scale', '//| task: scale\nconst ys = [1, 2, 3].map((y) => `${tag}:${y * k}`);'),
          ],
        }),
      );
      const run = verify(p.dir, 'notebooks/scaled.ipynb');
      expect(run.code, run.stderr).toBe(0);
      expect(run.result!.params).toEqual({ k: 200 });
      expect(run.result!.tasks).toMatchObject([{ task: 'scale', equal: true }]);
      const over = verify(p.dir, 'notebooks/scaled.ipynb', '-p', 'tag', 'fancy');
      expect(over.code, over.stderr).toBe(0);
      expect(over.result!.params).toEqual({ k: 200, tag: 'fancy' });
      expect(over.result!.tasks).toMatchObject([{ task: 'scale', equal: true }]);
    }, 1_600_000);
  },
);
