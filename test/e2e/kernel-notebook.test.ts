// `cellar kernel install` and `cellar notebook` end to end: the real CLI, Debian's Jupyter and the
// real tslab kernel, in a throwaway project. No timing assertions: the machine is shared, so every
// wait has a generous limit and the tests assert only what happened.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jupyterAvailable } from '../support/jupyter.js';
import { project, removeProjects, repo, type Project } from '../acceptance/harness.js';

let p: Project;

/** Lines of `cellar notebook`'s stdout until the URL line arrives (or the process ends). */
function startNotebook(args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.CELLAR_WORKSPACE;
  const child = spawn(process.execPath, [join(repo, 'bin/cellar.mjs'), 'notebook', ...args], {
    cwd: p.dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  const url = new Promise<string>((found, failed) => {
    child.stdout.on('data', (b) => {
      stdout += b;
      const m = /http:\/\/\S+\?token=[0-9a-f]+/.exec(stdout);
      if (m) found(m[0]);
    });
    void exited.then(({ code }) =>
      failed(
        new Error(`cellar notebook exited (${code}) before printing a URL:\n${stdout}\n${stderr}`),
      ),
    );
  });
  return { child, url, exited, output: () => ({ stdout, stderr }) };
}

describe.skipIf(!jupyterAvailable())('cellar kernel install and cellar notebook, for real', () => {
  beforeAll(() => {
    p = project();
  });
  afterAll(() => removeProjects());

  test('kernel install writes the project-local tslab kernelspec and checks that the kernel starts and computes', () => {
    const r = p.cellar('kernel', 'install');
    expect(r.code, r.stderr).toBe(0);
    const file = join(p.dir, '.cellar', 'jupyter', 'kernels', 'tslab', 'kernel.json');
    expect(existsSync(file)).toBe(true);
    const spec = JSON.parse(readFileSync(file, 'utf8')) as { argv: string[]; language: string };
    expect(spec.language).toBe('typescript');
    expect(spec.argv).toContain('{connection_file}');
    expect(existsSync(spec.argv[1]!)).toBe(true); // the tslab entry script it runs
    expect(r.stdout).toContain('checked: the kernel started and answered');
  }, 600_000);

  test('kernel with another action is refused with the usage', () => {
    const r = p.cellar('kernel', 'uninstall');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the kernel command has one action, install');
  }, 600_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`notebook serves on loopback behind a token that answers /api/status, with the tslab kernel, and stops cleanly on ${signal}`, async () => {
      const nb = startNotebook(['notebooks', '--server']);
      try {
        const url = new URL(await nb.url);
        expect(url.hostname).toBe('127.0.0.1');
        const token = url.searchParams.get('token')!;
        expect(token.length).toBeGreaterThanOrEqual(32);
        const base = `http://127.0.0.1:${url.port}`;
        const status = await fetch(`${base}/api/status?token=${token}`);
        expect(status.status).toBe(200);
        expect(await status.json()).toHaveProperty('started');
        // Without the token the server refuses: a kernel runs arbitrary code.
        expect((await fetch(`${base}/api/status`)).status).toBe(403);
        const specs = (await (await fetch(`${base}/api/kernelspecs?token=${token}`)).json()) as {
          kernelspecs: Record<string, unknown>;
        };
        expect(Object.keys(specs.kernelspecs)).toContain('tslab');
        nb.child.kill(signal);
        const { code } = await nb.exited;
        expect(code, nb.output().stderr).toBe(0);
        expect(
          await fetch(`${base}/api/status?token=${token}`).then(
            () => 'answered',
            () => 'gone',
          ),
        ).toBe('gone');
      } finally {
        if (nb.child.exitCode === null && nb.child.signalCode === null) nb.child.kill('SIGKILL');
      }
    }, 600_000);
  }
});
