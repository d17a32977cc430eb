// `cellar verify <notebook> [-p name value]... [--json]`: run the notebook in the real tslab
// kernel and its compiled pipeline with the same params, and compare every task's outputs value
// by value (cli/exec/verify.ts, compare.ts). One line per task; exit 0 when all are equal,
// 1 on any difference or when either side fails, 2 for bad usage or parameters.
import type { Command } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { DEFAULT_TOLERANCE } from '../exec/compare.js';
import { JupyterError } from '../exec/jupyter.js';
import { openServer, startExecCommand } from '../exec/setup.js';
import { formatVerify, verifyNotebook } from '../exec/verify.js';
import { checkPipelineDeclares, openPipeline } from '../pipeline-args.js';

const USAGE = `usage: cellar verify <notebook.ipynb> [options]

Run the notebook in the tslab kernel and its compiled pipeline with the same params, and compare
every task's outputs value by value (Maps, Sets, Dates, typed arrays, NaN, warehouse tables).

  -p, --parameter NAME VALUE  set a parameter (repeatable), as for cellar exec
  -f, --file PARAMS.json      parameter values from a JSON object
  --tolerance R               relative float tolerance (default ${DEFAULT_TOLERANCE}; 0: exact)
  --cell-timeout S            interrupt a notebook cell after S seconds (default 600)
  --kernel-timeout S          give the kernel S seconds to start (default 120)
  --workspace DIR             the pipeline's workspace (default as for cellar run)
  --server URL --token T      use a running Jupyter server instead of starting one
  --json                      print one JSON object`;

const ALLOWED = [
  '-p',
  '--parameter',
  '-f',
  '--file',
  '--tolerance',
  '--cell-timeout',
  '--kernel-timeout',
  '--workspace',
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
  // The pipeline loads before the Jupyter server starts: while the server's process runs, a setup
  // awaiting what nothing can settle would wait on it forever, where alone its load fails by name
  // (runtime/settle.ts). A notebook that does not compile is also refused before a kernel starts,
  // and so is a param the pipeline does not declare (not after the kernel ran the whole notebook).
  const opened = await openPipeline(prepared.notebook);
  checkPipelineDeclares(prepared.params, opened.pipeline);
  const server = await openServer(prepared.root, args).catch((error: unknown) => {
    throw error instanceof JupyterError
      ? new CliError(error.message, error.code, EXIT.failure)
      : error;
  });
  let result;
  try {
    result = await verifyNotebook({
      prepared,
      opened,
      server,
      tolerance: args.tolerance,
      cellTimeoutMs: args.cellTimeoutS * 1000,
      kernelStartTimeoutMs: args.kernelTimeoutS * 1000,
      workspace: args.workspace,
      onProgress: args.json ? undefined : (line) => process.stderr.write(`${line}\n`),
    });
  } finally {
    await server.stop();
  }
  if (args.json) console.log(JSON.stringify(result));
  else (result.ok ? console.log : console.error)(formatVerify(result));
  return result.ok ? EXIT.ok : EXIT.failure;
}
