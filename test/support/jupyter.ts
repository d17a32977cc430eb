// A real Jupyter server with the real tslab kernel, for tests that must prove a notebook runs
// where data scientists run it.
//
// Why not a mock: the promise is "what runs in JupyterLab runs in the pipeline". Only the real
// kernel shows tslab's own TypeScript 5.0.4, its CommonJS module loading, its working directory
// (the notebook's folder) and its quirks. The server and the kernel client are `cellar exec`'s own
// Jupyter adapter (cli/exec/jupyter.ts: Debian's `jupyter server` on 127.0.0.1 with a random port
// and token, the project-local tslab kernelspec, @jupyterlab/services, tslab's quirks handled);
// this file only adds what tests want on top: the checkout as the default root, the kernelspec
// in a scratch folder under test/.tmp, and helpers to run a notebook's cells in order.
//
// One server per test file (`startJupyter` in beforeAll, `stop` in afterAll). `stop` shuts each
// kernel down, kills any kernel that lingers, then ends the server's process group.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  jupyterAvailable,
  jupyterBin,
  startJupyter as startServer,
  systemPython,
  type CellRun,
  type JupyterServer as Server,
  type TslabKernel,
} from '../../cli/exec/jupyter.js';
import { writeKernelspec } from '../../cli/exec/kernelspec.js';

export { jupyterAvailable, jupyterBin, systemPython };
export type { CellRun, TslabKernel };

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

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

/** A running Jupyter server owned by this test process. */
export interface JupyterServer extends Server {
  pid: number;
  /** JUPYTER_PATH holding the project-local tslab kernelspec. */
  jupyterPath: string;
}

/** Write `<dir>/kernels/tslab/kernel.json` for this checkout's tslab (what `cellar kernel install` writes). */
export async function writeTslabKernelspec(dir: string): Promise<string> {
  return writeKernelspec(dir, repoRoot).jupyterPath;
}

/**
 * Start a Jupyter server rooted at `rootDir` (the checkout by default) with the tslab kernel.
 * `env` is added to the server's environment, which Jupyter passes on to every kernel (tests use
 * it to give kernels a private warehouse file).
 */
export async function startJupyter(
  options: { rootDir?: string; env?: Record<string, string> } = {},
): Promise<JupyterServer> {
  const scratch = join(repoRoot, 'test/.tmp');
  mkdirSync(scratch, { recursive: true });
  const home = mkdtempSync(join(scratch, 'jupyter-'));
  const jupyterPath = await writeTslabKernelspec(join(home, 'share'));
  const server = await startServer({
    rootDir: options.rootDir ?? repoRoot,
    jupyterPath,
    env: options.env,
  });
  return {
    ...server,
    pid: server.pid!,
    jupyterPath,
    async stop() {
      await server.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** One executed notebook cell: where it came from and what it produced. */
export interface ExecutedCell extends NotebookCodeCell, CellRun {}

/**
 * Run a notebook's code cells in order in `kernel`, as "Run All" does in JupyterLab. Stops at the
 * first failing cell (as Run All does) unless `keepGoing`.
 */
export async function runNotebookCells(
  kernel: TslabKernel,
  notebookPath: string,
  options: { keepGoing?: boolean } = {},
): Promise<ExecutedCell[]> {
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
    .map(
      (c) =>
        `${notebookPath} cell ${c.index + 1} (id ${c.id ?? '?'}) ${c.status}:\n${c.stderr.trim()}`,
    )
    .join('\n\n');
}
