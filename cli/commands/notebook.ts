// `cellar notebook [folder]`: start Debian's Jupyter (notebook when installed, else the server)
// on 127.0.0.1 with the project's tslab kernelspec, print the URL with its token, and keep it
// running until Ctrl-C. Loopback only, and always behind a token: a kernel runs arbitrary code.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from '../../compiler/host.js';
import { CliError, EXIT } from '../errors.js';
import { freePort, jupyterAvailable, jupyterBin, serverArgs } from '../exec/jupyter.js';
import { jupyterPathOf, writeKernelspec } from '../exec/kernelspec.js';
import { defineCommand } from '../command.js';

const USAGE = `usage: cellar notebook [folder] [--port N] [--server]

Start Jupyter on 127.0.0.1 with the project's tslab kernel (written by \`cellar kernel install\`,
refreshed here) and print the URL with its token. Ctrl-C stops it. Uses Debian's jupyter-notebook
when installed (--server: always the bare jupyter-server, which has no web UI of its own).`;

export const run = defineCommand({
  usage: USAGE,
  options: { port: { type: 'string' }, server: { type: 'boolean', default: false } },
  run: serve,
});

async function serve({
  values,
  positionals,
}: {
  values: { port?: string; server?: boolean };
  positionals: string[];
}): Promise<number> {
  const folder = resolve(positionals[0] ?? '.');
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new CliError(`no such folder: ${positionals[0]}`, 'E_USAGE');
  if (!jupyterAvailable())
    throw new CliError(
      `Jupyter is not installed (${jupyterBin}): apt-get install jupyter-core jupyter-notebook (or jupyter-server)`,
      'E_JUPYTER_MISSING',
      EXIT.failure,
    );
  const root = projectRoot(folder);
  const { jupyterPath } = writeKernelspec(jupyterPathOf(root), root);
  const port = values.port ? Number(values.port) : await freePort();
  if (!Number.isInteger(port) || port <= 0)
    throw new CliError(`--port needs a port number, got '${values.port}'`, 'E_USAGE');
  const token = randomBytes(24).toString('hex');
  // Debian's jupyter-notebook (6.x) brings a UI; jupyter-server alone serves the API (for VS Code).
  const app = !values.server && existsSync('/usr/bin/jupyter-notebook') ? 'notebook' : 'server';
  const child = spawn(jupyterBin, serverArgs(port, token, folder, app), {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, JUPYTER_PATH: jupyterPath },
  });
  const url = `http://127.0.0.1:${port}/${app === 'notebook' ? 'tree' : ''}?token=${token}`;
  // Announce once it answers, so the URL printed is one that works.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ok = await fetch(`http://127.0.0.1:${port}/api/status`, {
      headers: { Authorization: `token ${token}` },
    }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (child.exitCode !== null)
    throw new CliError(
      `jupyter ${app} exited with ${child.exitCode}`,
      'E_JUPYTER_START',
      EXIT.failure,
    );
  console.log(
    `Jupyter ${app} for ${folder} (kernel: TypeScript (cellar)):\n  ${url}\nCtrl-C to stop.`,
  );
  const stop = () => child.kill('SIGTERM');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const code = await new Promise<number>((done) => child.once('exit', (c) => done(c ?? 0)));
  return code === 0 || code === null ? EXIT.ok : EXIT.failure;
}
