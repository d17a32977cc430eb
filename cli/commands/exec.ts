// `cellar exec <notebook> [-p name value]... [-f params.json] [-o out.ipynb] [--cell-timeout s]
// [--prepare-only]`: run a notebook headless in the real tslab kernel, papermill-style (see
// cli/exec/runner.ts for the output notebook and docs/design/exec.md for the why).
// Exit 0: every cell ran; 1: a cell failed, timed out or lost the kernel (the output notebook is
// still written, with an error banner naming the cell); 2: bad usage or parameters (nothing ran).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { basename } from 'node:path';
import type { Command } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { JupyterError } from '../exec/jupyter.js';
import { executeNotebook, shown } from '../exec/runner.js';
import { openServer, startExecCommand } from '../exec/setup.js';

const USAGE = `usage: cellar exec <notebook.ipynb> [options]

Run every cell of a notebook in the tslab kernel, headless, and write the executed notebook.

  -p, --parameter NAME VALUE  set a parameter of the \`//| params\` cell (repeatable); VALUE is
                              typed by its declaration (JSON for arrays and objects)
  -f, --file PARAMS.json      parameter values from a JSON object (-p wins)
  -o, --output OUT.ipynb      where to write the executed notebook
                              (default <project>/.cellar/exec/<name>.ipynb)
  --cell-timeout S            interrupt a cell after S seconds (default 600)
  --kernel-timeout S          give the kernel S seconds to start (default 120)
  --prepare-only              write the parameterised notebook without running it
  --server URL --token T      use a running Jupyter server instead of starting one
  --json                      print one JSON object with the outcome`;

const ALLOWED = [
  '-p',
  '--parameter',
  '-f',
  '--file',
  '-o',
  '--output',
  '--cell-timeout',
  '--kernel-timeout',
  '--prepare-only',
  '--server',
  '--token',
  '--json',
  '--help',
  '-h',
];

/** A command of its own parsing: papermill's `-p name value` takes two words, which parseArgs cannot. */
export const run: Command = Object.assign(runWith, { usage: USAGE });

async function runWith(argv: string[]): Promise<number> {
  const started = await startExecCommand(argv, ALLOWED, USAGE);
  if (!started) return EXIT.ok; // --help
  const { args, prepared } = started;
  const output = args.output
    ? resolve(args.output)
    : join(prepared.root, '.cellar', 'exec', basename(prepared.notebook));
  if (output === prepared.notebook)
    throw new CliError('the output notebook would overwrite the input: give another -o', 'E_USAGE');
  // Before the server starts and any cell runs: a folder that cannot be made fails now, named.
  try {
    makeFolder(dirname(output));
  } catch (error) {
    throw new CliError(
      `cannot create the folder ${dirname(output)} for the output notebook (-o): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'E_NOT_FOUND',
    );
  }

  const server = args.prepareOnly
    ? undefined
    : await openServer(prepared.root, args).catch((error: unknown) => {
        throw error instanceof JupyterError
          ? new CliError(error.message, error.code, EXIT.failure)
          : error;
      });
  const stop = () => void server?.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  let result;
  try {
    result = await executeNotebook({
      input: prepared.notebook,
      output,
      paramsCell: prepared.paramsCell,
      params: prepared.params,
      server,
      cellTimeoutMs: args.cellTimeoutS * 1000,
      kernelStartTimeoutMs: args.kernelTimeoutS * 1000,
      prepareOnly: args.prepareOnly,
      onCell: args.json
        ? undefined
        : ({ cell, of, label, run }) =>
            process.stderr.write(`[${cell}/${of}] ${label}: ${run.status}\n`),
    });
  } finally {
    process.off('SIGINT', stop);
    await server?.stop();
  }
  if (args.json) {
    console.log(
      JSON.stringify({
        ok: result.ok,
        notebook: prepared.shownAs,
        output: result.output,
        parameters: prepared.params,
        cellsRun: result.cellsRun,
        durationS: result.durationS,
        failure: result.failure ?? null,
      }),
    );
  } else if (result.ok) {
    console.log(
      `${prepared.shownAs}: ${args.prepareOnly ? 'prepared' : `${result.cellsRun} cells ran in ${result.durationS.toFixed(1)} s`}; wrote ${shown(output)}`,
    );
  } else {
    console.error(
      `cellar exec: ${prepared.shownAs} ${result.failure!.message}\nthe executed notebook (with an error banner) is in ${shown(output)}`,
    );
  }
  return result.ok ? EXIT.ok : EXIT.failure;
}

/**
 * `mkdir -p`, one level at a time: Node 20's recursive mkdirSync spins forever where the system
 * refuses a folder under an existing parent with ENOENT (`/proc/x`).
 */
function makeFolder(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory())
      throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
    return;
  }
  makeFolder(dirname(dir));
  mkdirSync(dir);
}
