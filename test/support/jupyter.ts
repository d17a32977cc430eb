// A real Jupyter server with the real tslab kernel, for tests that must prove a notebook runs
// where data scientists run it.
//
// Why not a mock: the promise is "what runs in JupyterLab runs in the pipeline". Only the real
// kernel shows tslab's own TypeScript 5.0.4, its CommonJS module loading, its working directory
// (the notebook's folder) and its quirks. So this starts Debian's `jupyter server` on 127.0.0.1
// with a random port and token, a project-local tslab kernelspec (nothing is installed into the
// user's Jupyter folders), and talks to it with @jupyterlab/services, the client JupyterLab uses.
//
// tslab answers unlike IPython, and the client here smooths that over:
// - a cell's value arrives as a `stream` on stdout, not as `execute_result`;
// - an error arrives only as stderr text plus status 'error' in the reply (no ename/traceback);
// - a request sent within ~200 ms after an error is aborted, so we wait 250 ms after one.
//
// One server per test file (`startJupyter` in beforeAll, `stop` in afterAll). `stop` shuts each
// kernel down, kills any kernel that lingers (by pid: Jupyter starts kernels in sessions of their
// own), then ends the server's process group: no stray processes, even after a crashed test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's Jupyter: the pyenv `python3` on PATH cannot see Debian's Python packages. */
export const jupyterBin = '/usr/bin/jupyter';
export const systemPython = '/usr/bin/python3';

/** Whether the system parts exist (scripts/setup-system.sh installs them). */
export function jupyterAvailable(): boolean {
  return existsSync(jupyterBin) && existsSync(systemPython);
}

/** What one executed cell produced, collected from the kernel's IOPub messages. */
export interface CellRun {
  /** The reply's status: 'error' for a thrown error or a TypeScript diagnostic. */
  status: 'ok' | 'error' | 'aborted';
  stdout: string;
  stderr: string;
  /** `display_data` / `execute_result` bundles (mime type → data), in order. */
  displays: Record<string, unknown>[];
  executionCount: number | null;
}

/** One code cell taken from a notebook, with where it came from (for failure messages). */
export interface NotebookCodeCell {
  /** 0-based position among all the notebook's cells. */
  index: number;
  id: string | undefined;
  source: string;
}

/** Code cells of an nbformat 4 notebook, in order. */
export function readCodeCells(notebookPath: string): NotebookCodeCell[] {
  const nb = JSON.parse(readFileSync(notebookPath, 'utf8')) as {
    cells: { cell_type: string; id?: string; source: string | string[] }[];
  };
  const cells: NotebookCodeCell[] = [];
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code') return;
    const source = Array.isArray(cell.source) ? cell.source.join('') : cell.source;
    cells.push({ index, id: cell.id, source });
  });
  return cells;
}

/** A kernel attached to a notebook path (so its working directory is the notebook's folder). */
export class TslabKernel {
  private lastErrorAt = 0;

  constructor(
    private readonly session: Session.ISessionConnection,
    private readonly kernel: Kernel.IKernelConnection,
    /** The kernel's process id, or undefined if it could not be found in /proc. */
    readonly pid: number | undefined,
  ) {}

  /** Run one cell and collect everything it printed or displayed. */
  async execute(code: string): Promise<CellRun> {
    // tslab aborts requests that arrive within ~200 ms after an error.
    const sinceError = Date.now() - this.lastErrorAt;
    if (sinceError < 250) await sleep(250 - sinceError);

    const run: CellRun = { status: 'ok', stdout: '', stderr: '', displays: [], executionCount: null };
    const future = this.kernel.requestExecute({ code, stop_on_error: false, allow_stdin: false });
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      const content = msg.content as Record<string, unknown>;
      switch (msg.header.msg_type) {
        case 'stream':
          if (content.name === 'stderr') run.stderr += String(content.text);
          else run.stdout += String(content.text);
          break;
        case 'display_data':
        case 'execute_result':
          run.displays.push(content.data as Record<string, unknown>);
          break;
        case 'error':
          // IPython-style kernels; tslab does not send these, but be correct for both.
          run.stderr += `${String(content.ename)}: ${String(content.evalue)}\n`;
          break;
      }
    };
    const reply = await future.done;
    const content = reply.content as { status: string; execution_count?: number };
    run.status = content.status === 'ok' ? 'ok' : content.status === 'aborted' ? 'aborted' : 'error';
    run.executionCount = content.execution_count ?? null;
    future.dispose();
    if (run.status !== 'ok') this.lastErrorAt = Date.now();
    return run;
  }

  /** Shut the kernel down through the server; kill its process if it outlives that by 5 s. */
  async shutdown(): Promise<void> {
    if (this.session.isDisposed) return;
    try {
      await this.session.shutdown();
    } catch {
      // The server may already be gone; the pid check below still ends the kernel.
    }
    this.session.dispose();
    if (this.pid !== undefined) await endProcess(this.pid);
  }
}

/** A running Jupyter server owned by this test process. */
export interface JupyterServer {
  /** The server's pid, which is also its process group id (kernels run in sessions of their own). */
  pid: number;
  baseUrl: string;
  token: string;
  /** The server's root: notebook paths are relative to it. */
  rootDir: string;
  /** JUPYTER_PATH holding the project-local tslab kernelspec. */
  jupyterPath: string;
  /** Start a tslab kernel for `notebookPath` (absolute, or relative to rootDir). */
  openKernel(notebookPath: string): Promise<TslabKernel>;
  stop(): Promise<void>;
}

/**
 * Write `<dir>/kernels/tslab/kernel.json` pointing at this checkout's tslab, with the script users
 * run for JupyterLab (scripts/tslab-kernelspec.mjs), so the tests exercise the same kernelspec.
 */
export async function writeTslabKernelspec(dir: string): Promise<string> {
  // A plain .mjs script: no type declarations, and none needed for one function.
  const script = (await import(pathToFileURL(join(repoRoot, 'scripts/tslab-kernelspec.mjs')).href)) as { writeKernelspec(dir: string): string };
  return script.writeKernelspec(dir);
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function waitReady(baseUrl: string, token: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`jupyter server exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${baseUrl}api/status`, { headers: { Authorization: `token ${token}` } });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`jupyter server did not start within 30 s:\n${log()}`);
}

// Jupyter starts each kernel in a session of its own (jupyter_client's launcher), so killing the
// server's process group does not reach kernels: they are tracked by pid as well.
const liveGroups = new Set<number>();
const liveKernels = new Set<number>();
process.once('exit', () => {
  // Last resort if a test file crashed before afterAll: never leave kernels behind.
  for (const pid of liveKernels) signal(pid, 'SIGKILL');
  for (const pgid of liveGroups) signal(-pgid, 'SIGKILL');
});

function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false; // no such process (or group)
  }
}

/** The pid of the kernel whose connection file is `kernel-<id>.json` (Linux /proc). */
function findKernelPid(kernelId: string): number | undefined {
  if (!existsSync('/proc')) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`kernel-${kernelId}.json`)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

/** Wait up to 5 s for `pid` to exit, then SIGKILL it. */
async function endProcess(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (signal(pid, 0) && Date.now() < deadline) await sleep(50);
  signal(pid, 'SIGKILL');
  liveKernels.delete(pid);
}

/**
 * Start a Jupyter server rooted at `rootDir` (the checkout by default) with the tslab kernel.
 * `env` is added to the server's environment, which Jupyter passes on to every kernel (tests use
 * it to give kernels a private warehouse file).
 */
export async function startJupyter(options: { rootDir?: string; env?: Record<string, string> } = {}): Promise<JupyterServer> {
  if (!jupyterAvailable()) {
    throw new Error(`Jupyter is not installed (${jupyterBin}): run scripts/setup-system.sh (npm test does) first`);
  }
  const rootDir = options.rootDir ?? repoRoot;
  const scratch = join(repoRoot, 'test/.tmp');
  mkdirSync(scratch, { recursive: true });
  const home = mkdtempSync(join(scratch, 'jupyter-'));
  const jupyterPath = await writeTslabKernelspec(join(home, 'share'));
  const token = randomBytes(16).toString('hex');

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      jupyterBin,
      [
        'server',
        '--ServerApp.ip=127.0.0.1',
        `--ServerApp.port=${port}`,
        '--ServerApp.port_retries=0',
        `--ServerApp.token=${token}`,
        '--ServerApp.open_browser=False',
        `--ServerApp.root_dir=${rootDir}`,
        '--allow-root',
      ],
      {
        cwd: rootDir,
        detached: true, // its own process group: stop() ends the server and whatever it spawned in it
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          JUPYTER_PATH: jupyterPath,
          // Isolate from the user's Jupyter set-up and keep runtime files in our scratch dir.
          JUPYTER_CONFIG_DIR: join(home, 'config'),
          JUPYTER_DATA_DIR: join(home, 'data'),
          JUPYTER_RUNTIME_DIR: join(home, 'runtime'),
          JUPYTER_PLATFORM_DIRS: '1',
          ...options.env,
        },
      },
    );
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    liveGroups.add(child.pid!);
    const baseUrl = `http://127.0.0.1:${port}/`;
    try {
      await waitReady(baseUrl, token, child, () => output);
    } catch (error) {
      lastError = error;
      await killGroup(child);
      continue;
    }

    const settings = ServerConnection.makeSettings({ baseUrl, wsUrl: `ws://127.0.0.1:${port}/`, token, appendToken: true });
    const kernelManager = new KernelManager({ serverSettings: settings });
    const sessionManager = new SessionManager({ serverSettings: settings, kernelManager });
    const kernels: TslabKernel[] = [];

    return {
      pid: child.pid!,
      baseUrl,
      token,
      rootDir,
      jupyterPath,
      async openKernel(notebookPath: string) {
        const path = relative(rootDir, resolve(rootDir, notebookPath)).split('\\').join('/');
        const session = await sessionManager.startNew({
          path,
          type: 'notebook',
          name: path.split('/').pop()!,
          kernel: { name: 'tslab' },
        });
        const kernel = session.kernel;
        if (!kernel) throw new Error(`no kernel started for ${path}`);
        const deadline = Date.now() + 60_000;
        while (kernel.connectionStatus !== 'connected' || kernel.status === 'starting' || kernel.status === 'unknown') {
          if (Date.now() > deadline) throw new Error(`tslab kernel for ${path} did not start:\n${output}`);
          await sleep(50);
        }
        const pid = findKernelPid(kernel.id);
        if (pid !== undefined) liveKernels.add(pid);
        const client = new TslabKernel(session, kernel, pid);
        kernels.push(client);
        return client;
      },
      async stop() {
        for (const k of kernels) await k.shutdown();
        sessionManager.dispose();
        kernelManager.dispose();
        await killGroup(child);
        rmSync(home, { recursive: true, force: true });
      },
    };
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** SIGTERM the server's process group, then SIGKILL whatever is left after 5 s. */
async function killGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid!;
  const exited =
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((done) => child.once('exit', () => done()));
  signal(-pgid, 'SIGTERM');
  await Promise.race([exited, sleep(5_000)]);
  signal(-pgid, 'SIGKILL');
  liveGroups.delete(pgid);
}

/** One executed notebook cell: where it came from and what it produced. */
export interface ExecutedCell extends NotebookCodeCell, CellRun {}

/**
 * Run a notebook's code cells in order in `kernel`, as "Run All" does in JupyterLab. Stops at the
 * first failing cell (as Run All does) unless `keepGoing`.
 */
export async function runNotebookCells(kernel: TslabKernel, notebookPath: string, options: { keepGoing?: boolean } = {}): Promise<ExecutedCell[]> {
  const executed: ExecutedCell[] = [];
  for (const cell of readCodeCells(notebookPath)) {
    const run = await kernel.execute(cell.source);
    executed.push({ ...cell, ...run });
    if (run.status !== 'ok' && !options.keepGoing) break;
  }
  return executed;
}

/** A readable account of failed cells, for assertion messages. */
export function describeFailures(notebookPath: string, cells: ExecutedCell[]): string {
  return cells
    .filter((c) => c.status !== 'ok')
    .map((c) => `${notebookPath} cell ${c.index + 1} (id ${c.id ?? '?'}) ${c.status}:\n${c.stderr.trim()}`)
    .join('\n\n');
}
