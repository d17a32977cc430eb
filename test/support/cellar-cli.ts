// The real `cellar` command as a separate process, without blocking this one: the one runner for
// tests that hold a Jupyter kernel open (the acceptance harness's `cellarAsync`, the e2e notebook
// tests). Not spawnSync: an open kernel's websocket must go on answering the Jupyter server's
// pings while the CLI runs. A blocked event loop lost the connection on a loaded machine
// ("Connection lost, reconnecting") and the kernel's next reply with it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');

/** What a finished command left: its exit code (-1 when killed by a signal), stdout, stderr. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `cellar <args>` run from `cwd` with exactly `env`; resolves when it exits, whatever the code. */
export function cellarAsync(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<CliResult> {
  return new Promise((done, failed) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'cellar.mjs'), ...args], {
      cwd: options.cwd,
      env: options.env,
      timeout: 600_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', failed);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}
