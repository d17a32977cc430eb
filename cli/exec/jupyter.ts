// The Jupyter adapter: Debian's `jupyter server` on loopback with the project-local tslab
// kernelspec, and a kernel client over @jupyterlab/services (the client JupyterLab itself uses).
// `cellar exec`, `cellar verify`, the bench and the real-kernel tests all go through it.
//
// tslab answers unlike IPython, and `TslabKernel.execute` smooths that over (probed here):
// - a cell's value arrives as a `stream` on stdout, not as `execute_result`;
// - an error arrives only as stderr text plus status 'error' in the reply (no `error` message with
//   ename/evalue/traceback): `errorOf` builds them from the text;
// - a request sent within ~200 ms after an error is aborted, so we wait 250 ms after one;
// - an endless loop or a never-resolving `await` is interrupted at the cell's timeout, then the
//   kernel is restarted after a grace period (interrupted background work may still run);
// - `process.exit()` makes the server restart the kernel by itself (status 'autorestarting') with
//   empty state and the pending request cancelled: reported as status 'died', never continued.
//
// Processes: the server runs in its own process group, but jupyter_client starts every kernel in
// a session of its own, so killing the group does not reach kernels. Each kernel's pid is found
// in /proc (its connection file name holds the kernel id), kernels are shut down through the API,
// lingering ones killed, and everything is killed on process exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import { KERNEL_NAME } from './kernelspec.js';

// @jupyterlab/services talks on the console: every WebSocket it opens and every kernel status
// (console.debug, which is stdout), "Connection lost, reconnecting" (console.warn), and the
// server's Python traceback of any failed request (console.error), such as the 500 a session's
// DELETE gets while its kernel auto-restarts. None of it is for our users: what went wrong is
// reported on the cell (`CellRun`) or as a JupyterError with the server's log.
const LIBRARY_NOISE =
  /^(?:Starting WebSocket|Kernel: \w+ \(|Connection lost, reconnecting|Traceback \(most recent call last\))/;
for (const level of ['debug', 'warn', 'error'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && LIBRARY_NOISE.test(args[0])) return;
    original(...args);
  };
}

/** Debian's Jupyter: the pyenv `python3` often first on PATH cannot see Debian's Python packages. */
export const jupyterBin = '/usr/bin/jupyter';
export const systemPython = '/usr/bin/python3';

/** Whether Debian's Jupyter server is installed (scripts/setup-system.sh installs it). */
export function jupyterAvailable(): boolean {
  return existsSync(jupyterBin) && existsSync(systemPython);
}

/** A failure of the Jupyter machinery itself (not of a cell), with a stable code. */
export class JupyterError extends Error {
  constructor(
    message: string,
    readonly code: 'E_JUPYTER_MISSING' | 'E_JUPYTER_START' | 'E_KERNEL_START' | 'E_JUPYTER_CONNECT',
  ) {
    super(message);
    this.name = 'JupyterError';
  }
}

/** An nbformat 4 output, as written into a notebook. */
export type NotebookOutput =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | {
      output_type: 'display_data';
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
    }
  | {
      output_type: 'execute_result';
      data: Record<string, unknown>;
      metadata: Record<string, unknown>;
      execution_count: number | null;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

/**
 * How a cell ended. 'error': it threw or did not type-check; 'aborted': tslab refused the request
 * (sent too soon after an error); 'timeout': interrupted at the cell timeout; 'died': the kernel
 * process ended (e.g. `process.exit()`) and was restarted with empty state.
 */
export type CellStatus = 'ok' | 'error' | 'aborted' | 'timeout' | 'died';

/** What one executed cell produced, collected from the kernel's IOPub messages. */
export interface CellRun {
  status: CellStatus;
  stdout: string;
  stderr: string;
  /** `display_data` / `execute_result` bundles (mime type → data), in order. */
  displays: Record<string, unknown>[];
  /** Everything, as nbformat outputs in arrival order (consecutive stream text merged). */
  outputs: NotebookOutput[];
  executionCount: number | null;
  /** For every status but 'ok': the error's name and message (from tslab's stderr, see errorOf). */
  error?: { ename: string; evalue: string; traceback: string[] };
}

export interface ExecuteOptions {
  /** Interrupt the cell after this long (ms). Default: no limit. */
  timeoutMs?: number;
  /** After an interrupt, how long to wait for the cell to stop before restarting the kernel (ms). */
  graceMs?: number;
}

/**
 * tslab's error text → ename / evalue / traceback. A type error is `line:col - message` lines
 * (ename 'TypeScriptError'); a thrown error prints its stack, whose `Name: message` line names it.
 */
export function errorOf(stderr: string): { ename: string; evalue: string; traceback: string[] } {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const diagnostics = lines.filter((l) => /^\d+:\d+ - /.test(l));
  if (diagnostics.length)
    return { ename: 'TypeScriptError', evalue: diagnostics.join('\n'), traceback: lines };
  for (const [i, line] of lines.entries()) {
    const m =
      /^(?:Uncaught )?([A-Za-z_$][\w$]*(?:Error|Exception)|Error)(?: \[[^\]]*\])?: (.*)$/.exec(
        line,
      );
    if (!m) continue;
    // A message of several lines (an AssertionError's `Expected values to be strictly equal:`
    // then `10 !== 8`) runs to the stack's first frame or the error's own fields (`{ generatedMessage… }`).
    const rest: string[] = [];
    for (const more of lines.slice(i + 1)) {
      if (/^\s+at |^\s*\{|^\s*\w+: /.test(more) || rest.length >= 20) break;
      rest.push(more);
    }
    return { ename: m[1]!, evalue: [m[2]!, ...rest].join('\n'), traceback: lines };
  }
  const first =
    lines.find((l) => !/^evalmachine\.|^\s*\^+\s*$/.test(l)) ??
    lines[0] ??
    'the cell failed with no message';
  return { ename: 'Error', evalue: first.replace(/^Uncaught /, ''), traceback: lines };
}

/** A kernel attached to a notebook path (so its working directory is the notebook's folder). */
export class TslabKernel {
  private lastErrorAt = 0;
  private lastCount = 0;
  /** Set when the kernel restarted without us asking: the notebook's state is gone. */
  private lostState: string | undefined;
  private restarting = false;
  private onLost: (() => void) | undefined;

  constructor(
    private readonly session: Session.ISessionConnection,
    private readonly kernel: Kernel.IKernelConnection,
    /** The kernel's process id, or undefined if it could not be found in /proc. */
    readonly pid: number | undefined,
  ) {
    kernel.statusChanged.connect((_, status) => {
      if (this.restarting) return;
      if (status === 'autorestarting' || status === 'restarting' || status === 'dead') {
        this.lostState ??= `the kernel process ended (status '${status}'; a cell calling process.exit() does this) and was restarted with empty state`;
        this.onLost?.();
      }
    });
  }

  /** Why the kernel's state is gone, if it is (a restart nobody asked for). */
  get lost(): string | undefined {
    return this.lostState;
  }

  /** Run one cell and collect everything it printed or displayed. Never throws for a cell's fault. */
  async execute(code: string, options: ExecuteOptions = {}): Promise<CellRun> {
    const run: CellRun = {
      status: 'ok',
      stdout: '',
      stderr: '',
      displays: [],
      outputs: [],
      executionCount: null,
    };
    if (this.lostState) return fail(run, 'died', 'KernelRestarted', this.lostState);
    // tslab aborts requests that arrive within ~200 ms after an error.
    const sinceError = Date.now() - this.lastErrorAt;
    if (sinceError < 250) await sleep(250 - sinceError);

    const future = this.kernel.requestExecute({ code, stop_on_error: false, allow_stdin: false });
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => collect(run, msg);
    const done = future.done.then(
      (reply) => ({
        kind: 'reply' as const,
        content: reply.content as { status: string; execution_count?: number },
      }),
      (error: unknown) => ({ kind: 'cancelled' as const, error }),
    );
    const lost = new Promise<{ kind: 'lost' }>(
      (resolveLost) => (this.onLost = () => resolveLost({ kind: 'lost' })),
    );
    const timers: NodeJS.Timeout[] = [];
    const timeout = new Promise<{ kind: 'timeout' }>((resolveTimeout) => {
      if (options.timeoutMs !== undefined)
        timers.push(setTimeout(() => resolveTimeout({ kind: 'timeout' }), options.timeoutMs));
    });
    try {
      const first = await Promise.race([done, lost, timeout]);
      if (first.kind === 'timeout') {
        await this.stopRunaway(done, options.graceMs ?? 10_000);
        this.lastErrorAt = Date.now();
        return fail(
          run,
          'timeout',
          'CellTimeout',
          `the cell did not finish within ${(options.timeoutMs! / 1000).toFixed(0)} s: interrupted, and the kernel restarted`,
        );
      }
      if (first.kind === 'lost' || first.kind === 'cancelled' || this.lostState) {
        this.lostState ??= `the kernel stopped answering (${first.kind === 'cancelled' ? String(first.error) : 'lost'}) and was restarted with empty state`;
        return fail(run, 'died', 'KernelRestarted', this.lostState);
      }
      const content = first.content;
      run.executionCount = content.execution_count ?? null;
      // A count that went back means a restart we did not see (it happened between two cells).
      if (run.executionCount !== null && run.executionCount <= this.lastCount) {
        this.lostState = `the kernel restarted with empty state before this cell (execution count went back from ${this.lastCount} to ${run.executionCount})`;
        return fail(run, 'died', 'KernelRestarted', this.lostState);
      }
      if (run.executionCount !== null) this.lastCount = run.executionCount;
      if (content.status === 'ok') return run;
      this.lastErrorAt = Date.now();
      if (content.status === 'aborted')
        return fail(
          run,
          'aborted',
          'Aborted',
          'the kernel aborted the request (sent too soon after an error)',
        );
      run.status = 'error';
      run.error = errorOf(run.stderr);
      run.outputs.push({ output_type: 'error', ...run.error });
      return run;
    } finally {
      for (const t of timers) clearTimeout(t);
      this.onLost = undefined;
      future.dispose();
    }
  }

  /** Interrupt a cell past its timeout; if it has not stopped after `graceMs`, or anyway, restart. */
  private async stopRunaway(done: Promise<unknown>, graceMs: number): Promise<void> {
    this.restarting = true;
    try {
      await this.kernel.interrupt().catch(() => undefined);
      await Promise.race([done, sleep(graceMs, undefined, { ref: false })]);
      // Interrupted async work (timers, pending I/O) may keep running: restart for a clean kernel.
      await this.kernel.restart().catch(() => undefined);
      this.lastCount = 0;
      this.lostState = 'the kernel was restarted after a cell timed out: its state is gone';
    } finally {
      this.restarting = false;
    }
  }

  /** Shut the kernel down through the server; kill its process if it outlives that by 5 s. */
  async shutdown(): Promise<void> {
    if (this.session.isDisposed) return;
    this.restarting = true;
    // After an auto-restart (a cell's process.exit()) the library reconnects on its own, with no
    // one to catch its promise: disposing it mid-way rejects that promise ("Kernel connection
    // disconnected", an unhandled rejection that ended the process). Let the reconnect settle.
    const settleBy = Date.now() + 10_000;
    while (this.kernel.connectionStatus === 'connecting' && Date.now() < settleBy) await sleep(50);
    try {
      await this.session.shutdown();
    } catch {
      // The server may already be gone; the pid check below still ends the kernel.
    }
    this.session.dispose();
    if (this.pid !== undefined) await endProcess(this.pid);
  }
}

function fail(run: CellRun, status: CellStatus, ename: string, evalue: string): CellRun {
  run.status = status;
  run.error = { ename, evalue, traceback: [] };
  run.outputs.push({ output_type: 'error', ...run.error });
  return run;
}

function collect(run: CellRun, msg: KernelMessage.IIOPubMessage): void {
  const content = msg.content as Record<string, unknown>;
  switch (msg.header.msg_type) {
    case 'stream': {
      const name = content.name === 'stderr' ? 'stderr' : 'stdout';
      const text = String(content.text);
      if (name === 'stderr') run.stderr += text;
      else run.stdout += text;
      const last = run.outputs[run.outputs.length - 1];
      if (last?.output_type === 'stream' && last.name === name) last.text += text;
      else run.outputs.push({ output_type: 'stream', name, text });
      break;
    }
    case 'display_data':
      run.displays.push(content.data as Record<string, unknown>);
      run.outputs.push({
        output_type: 'display_data',
        data: content.data as Record<string, unknown>,
        metadata: (content.metadata ?? {}) as Record<string, unknown>,
      });
      break;
    case 'execute_result':
      run.displays.push(content.data as Record<string, unknown>);
      run.outputs.push({
        output_type: 'execute_result',
        data: content.data as Record<string, unknown>,
        metadata: (content.metadata ?? {}) as Record<string, unknown>,
        execution_count: (content.execution_count as number | undefined) ?? null,
      });
      break;
    case 'error': {
      // IPython-style kernels; tslab does not send these, but be correct for both.
      run.stderr += `${String(content.ename)}: ${String(content.evalue)}\n`;
      break;
    }
    case 'clear_output':
      run.outputs.length = 0;
      break;
  }
}

/** A running (or connected) Jupyter server. */
export interface JupyterServer {
  /** The server's pid (also its process group id); undefined for a server we only connected to. */
  pid: number | undefined;
  baseUrl: string;
  token: string;
  /** The server's root: notebook paths are relative to it. */
  rootDir: string;
  /** Start a tslab kernel for `notebookPath` (absolute, or relative to rootDir). */
  openKernel(
    notebookPath: string,
    options?: { startTimeoutMs?: number; kernelName?: string },
  ): Promise<TslabKernel>;
  /** Shut down the kernels opened here; end the server if we started it. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The server's root folder (notebook paths are relative to it). */
  rootDir: string;
  /** JUPYTER_PATH holding the tslab kernelspec (kernelspec.ts writes it). */
  jupyterPath: string;
  /** Added to the server's environment, which Jupyter passes on to every kernel. */
  env?: Record<string, string>;
  /** How long the server may take to answer (ms); default 60 s. */
  startTimeoutMs?: number;
}

/** A free TCP port on 127.0.0.1 (another process may still take it: callers retry). */
export async function freePort(): Promise<number> {
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

async function waitReady(
  baseUrl: string,
  token: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new JupyterError(
        `jupyter server exited with ${child.exitCode}:\n${log()}`,
        'E_JUPYTER_START',
      );
    try {
      const res = await fetch(`${baseUrl}api/status`, {
        headers: { Authorization: `token ${token}` },
      });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new JupyterError(
    `jupyter server did not answer within ${Math.round(timeoutMs / 1000)} s:\n${log()}`,
    'E_JUPYTER_START',
  );
}

// Kernels run in sessions of their own (jupyter_client's launcher): tracked by pid as well.
const liveGroups = new Set<number>();
const liveKernels = new Set<number>();
process.once('exit', () => {
  // Last resort if the process ends before stop(): never leave kernels behind.
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
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`kernel-${kernelId}.json`))
        return Number(entry);
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

/** SIGTERM the server's process group, then SIGKILL whatever is left after 5 s. */
async function killGroup(child: ChildProcess): Promise<void> {
  const pgid = child.pid!;
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((done) => child.once('exit', () => done()));
  signal(-pgid, 'SIGTERM');
  await Promise.race([exited, sleep(5_000, undefined, { ref: false })]);
  signal(-pgid, 'SIGKILL');
  liveGroups.delete(pgid);
}

/** The argv that starts Debian's Jupyter server on loopback (used by `cellar notebook` too). */
export function serverArgs(
  port: number,
  token: string,
  rootDir: string,
  app: 'server' | 'notebook' = 'server',
): string[] {
  const App = app === 'server' ? 'ServerApp' : 'NotebookApp';
  return [
    app,
    `--${App}.ip=127.0.0.1`,
    `--${App}.port=${port}`,
    `--${App}.port_retries=0`,
    `--${App}.token=${token}`,
    `--${App}.open_browser=False`,
    `--${App}.${app === 'server' ? 'root_dir' : 'notebook_dir'}=${rootDir}`,
    '--allow-root',
  ];
}

/**
 * Start Debian's `jupyter server` on 127.0.0.1 with a free port and a random token, rooted at
 * `rootDir`, with the tslab kernelspec from `jupyterPath`. Jupyter's own config, data and runtime
 * folders go to a private temp folder, so the user's Jupyter set-up neither leaks in nor changes.
 * Throws JupyterError (E_JUPYTER_MISSING, E_JUPYTER_START).
 */
export async function startJupyter(options: StartOptions): Promise<JupyterServer> {
  if (!jupyterAvailable()) {
    throw new JupyterError(
      `Jupyter is not installed (${jupyterBin}): run scripts/setup-system.sh, or apt-get install jupyter-core jupyter-server (jupyter-core holds the jupyter command)`,
      'E_JUPYTER_MISSING',
    );
  }
  const rootDir = resolve(options.rootDir);
  const home = mkdtempSync(join(tmpdir(), 'cellar-jupyter-'));
  const token = randomBytes(16).toString('hex');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(jupyterBin, serverArgs(port, token, rootDir), {
      cwd: rootDir,
      detached: true, // its own process group: stop() ends the server and whatever it spawned in it
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        JUPYTER_PATH: options.jupyterPath,
        JUPYTER_CONFIG_DIR: join(home, 'config'),
        JUPYTER_DATA_DIR: join(home, 'data'),
        JUPYTER_RUNTIME_DIR: join(home, 'runtime'),
        JUPYTER_PLATFORM_DIRS: '1',
        ...options.env,
      },
    });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    liveGroups.add(child.pid!);
    const baseUrl = `http://127.0.0.1:${port}/`;
    try {
      await waitReady(baseUrl, token, child, () => output, options.startTimeoutMs ?? 60_000);
    } catch (error) {
      lastError = error;
      await killGroup(child);
      continue;
    }
    const connected = connect(baseUrl, token, rootDir, () => output);
    return {
      ...connected,
      pid: child.pid!,
      async stop() {
        await connected.stop();
        await killGroup(child);
        rmSync(home, { recursive: true, force: true });
      },
    };
  }
  rmSync(home, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * Use a Jupyter server someone else started (`--server URL --token T`). `rootDir` is the folder
 * the server serves: notebook paths are made relative to it. Its kernelspec list must hold tslab.
 * Throws JupyterError E_JUPYTER_CONNECT when the server does not answer or refuses the token.
 */
export async function connectJupyter(
  url: string,
  token: string,
  rootDir: string,
): Promise<JupyterServer> {
  const baseUrl = url.endsWith('/') ? url : `${url}/`;
  let status: number;
  try {
    status = (await fetch(`${baseUrl}api/status`, { headers: { Authorization: `token ${token}` } }))
      .status;
  } catch (error) {
    throw new JupyterError(
      `no Jupyter server answers at ${baseUrl}: ${(error as Error).message}`,
      'E_JUPYTER_CONNECT',
    );
  }
  if (status !== 200)
    throw new JupyterError(
      `the Jupyter server at ${baseUrl} answered ${status} (wrong token?)`,
      'E_JUPYTER_CONNECT',
    );
  return { ...connect(baseUrl, token, resolve(rootDir), () => ''), pid: undefined };
}

function connect(
  baseUrl: string,
  token: string,
  rootDir: string,
  log: () => string,
): Omit<JupyterServer, 'pid'> {
  const url = new URL(baseUrl);
  const wsUrl = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}${url.pathname}`;
  const settings = ServerConnection.makeSettings({ baseUrl, wsUrl, token, appendToken: true });
  // Made on first use: a manager polls the server from its creation, and disposing one whose
  // first poll is still pending rejects that poll (an unhandled rejection).
  let managers: { kernelManager: KernelManager; sessionManager: SessionManager } | undefined;
  const sessions = () => {
    if (!managers) {
      const kernelManager = new KernelManager({ serverSettings: settings });
      managers = {
        kernelManager,
        sessionManager: new SessionManager({ serverSettings: settings, kernelManager }),
      };
    }
    return managers.sessionManager;
  };
  const kernels: TslabKernel[] = [];
  return {
    baseUrl,
    token,
    rootDir,
    async openKernel(notebookPath, options = {}) {
      const path = relative(rootDir, resolve(rootDir, notebookPath)).split('\\').join('/');
      const timeoutMs = options.startTimeoutMs ?? 120_000;
      const kernelName = options.kernelName ?? KERNEL_NAME;
      const started = (async () => {
        const session = await sessions().startNew({
          path,
          type: 'notebook',
          name: path.split('/').pop()!,
          kernel: { name: kernelName },
        });
        const kernel = session.kernel;
        if (!kernel) throw new JupyterError(`no kernel started for ${path}`, 'E_KERNEL_START');
        return { session, kernel };
      })();
      // The kernel is up when it answers: its status leaves 'starting'/'unknown' on a live socket.
      const deadline = Date.now() + timeoutMs;
      const timedOut = () =>
        new JupyterError(
          `the ${kernelName} kernel for ${path} did not start within ${Math.round(timeoutMs / 1000)} s (raise --kernel-timeout, or check \`cellar kernel install\`)${log() ? `; server log:\n${log().split('\n').slice(-15).join('\n')}` : ''}`,
          'E_KERNEL_START',
        );
      // Unref'd: a deadline that lost the race must not keep the process alive after the run.
      const first = await Promise.race([
        started,
        sleep(timeoutMs, undefined, { ref: false }).then(() => undefined),
      ]);
      if (!first) {
        started.then((s) => s.session.shutdown().catch(() => undefined)).catch(() => undefined);
        throw timedOut();
      }
      const { session, kernel } = first;
      while (
        kernel.connectionStatus !== 'connected' ||
        kernel.status === 'starting' ||
        kernel.status === 'unknown'
      ) {
        if (kernel.status === 'dead')
          throw new JupyterError(
            `the ${kernelName} kernel for ${path} died while starting${log() ? `; server log:\n${log().split('\n').slice(-15).join('\n')}` : ''}`,
            'E_KERNEL_START',
          );
        if (Date.now() > deadline) {
          await session.shutdown().catch(() => undefined);
          throw timedOut();
        }
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
      managers?.sessionManager.dispose();
      managers?.kernelManager.dispose();
    },
  };
}
