// The `cellar run` line `cellar show` suggests for a result not stored: it must run what show
// looked at (same params, workspace, workdir) and paste into a shell as printed (a newcomer's
// finding: the flags were dropped and a path with a space was left unquoted).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCommandFor } from '../../cli/pipeline-args.js';

describe('runCommandFor', () => {
  it('keeps the params, workspace and workdir, and quotes what a shell would split', () => {
    const line = runCommandFor(
      'notebooks/my shop.ipynb',
      { param: ['minQty=3', `label=it's big`], workspace: '/tmp/ws x', workdir: 'data' },
      '--dry-run',
    );
    expect(line).toBe(
      `cellar run 'notebooks/my shop.ipynb' --param minQty=3 --param 'label=it'\\''s big' --workspace '/tmp/ws x' --workdir data --dry-run`,
    );
    // A real shell splits it back into the same arguments.
    const r = spawnSync('sh', ['-c', `printf '%s\\n' ${line.slice('cellar '.length)}`], {
      encoding: 'utf8',
    });
    expect(r.stdout.trim().split('\n')).toEqual([
      'run',
      'notebooks/my shop.ipynb',
      '--param',
      'minQty=3',
      '--param',
      "label=it's big",
      '--workspace',
      '/tmp/ws x',
      '--workdir',
      'data',
      '--dry-run',
    ]);
  });

  it('prints a plain line plainly', () => {
    expect(runCommandFor('notebooks/penguins.ipynb', { param: [] })).toBe(
      'cellar run notebooks/penguins.ipynb',
    );
  });
});
