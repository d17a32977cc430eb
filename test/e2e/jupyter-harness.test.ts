// The Jupyter harness itself: a server on 127.0.0.1 that refuses requests without its token, a
// project-local tslab kernelspec, and a stop() that leaves no process behind.
//
// Every other e2e test trusts this harness, so its promises are checked here against the real
// server: a harness that leaked kernels would slowly eat the 2-core CI machine, and one that
// listened without a token would expose a code-executing kernel to the machine.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, startJupyter } from '../support/jupyter.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('jupyter harness', () => {
  test('serves on 127.0.0.1 behind a token, runs tslab, and stop() ends the server and its kernels', async () => {
    const server = await startJupyter();
    let kernelPid: number | undefined;
    try {
      expect(server.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const anonymous = await fetch(`${server.baseUrl}api/kernels`);
      expect(anonymous.status).toBe(403);
      const specs = (await (
        await fetch(`${server.baseUrl}api/kernelspecs`, {
          headers: { Authorization: `token ${server.token}` },
        })
      ).json()) as {
        kernelspecs: Record<string, { spec: { argv: string[]; language: string } }>;
      };
      // The project-local kernelspec, pointing at this checkout's tslab.
      expect(specs.kernelspecs.tslab.spec.language).toBe('typescript');
      expect(specs.kernelspecs.tslab.spec.argv[1]).toBe(
        join(repoRoot, 'node_modules/tslab/bin/tslab'),
      );
      const spec = JSON.parse(
        readFileSync(join(server.jupyterPath, 'kernels/tslab/kernel.json'), 'utf8'),
      ) as { argv: string[] };
      expect(spec.argv).toContain('{connection_file}');

      const kernel = await server.openKernel('notebooks/harness.ipynb');
      expect(await kernel.execute('40 + 2')).toMatchObject({
        status: 'ok',
        stdout: '42\n',
        executionCount: 1,
      });
      // Jupyter starts kernels in their own session, so the harness tracks the kernel's pid.
      kernelPid = kernel.pid;
      expect(kernelPid).toBeTypeOf('number');
      expect(await kernel.execute('process.pid')).toMatchObject({ stdout: `${kernelPid}\n` });
      expect(alive(-server.pid)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(alive(-server.pid)).toBe(false);
    expect(alive(kernelPid!)).toBe(false);
  });
});
