// What `cellar exec` and `cellar verify` do before the first cell: find the notebook and its
// project, type the parameters against the params cell, and bring up a Jupyter server (started on
// a free loopback port with the project's kernelspec, or one given by --server/--token).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { projectRoot } from '../../compiler/host.js';
import { connectJupyter, startJupyter, type JupyterServer } from './jupyter.js';
import { jupyterPathOf, writeKernelspec } from './kernelspec.js';
import { CliError } from '../errors.js';
import { UsageError, paramsFromJson, parseExecArgs, type ExecArgs } from './options.js';
import { ParamError, injectedRaw, readParamsCell, typeParams, type ParamsCell } from './params.js';

export interface PreparedExec {
  /** Absolute path of the input notebook. */
  notebook: string;
  /** As the user wrote it, for messages. */
  shownAs: string;
  root: string;
  paramsCell: ParamsCell;
  params: Record<string, unknown>;
}

/** Check the notebook exists and type every parameter; throws ParamError / UsageError. */
export async function prepareExec(args: ExecArgs): Promise<PreparedExec> {
  if (!args.notebook) throw new UsageError('missing <notebook>');
  const notebook = resolve(args.notebook);
  if (!existsSync(notebook))
    throw new CliError(`no such notebook: ${args.notebook}`, 'E_NOT_FOUND');
  const root = projectRoot(dirname(notebook));
  const paramsCell = await readParamsCell(args.notebook, readFileSync(notebook, 'utf8'));
  const raw = args.paramsFile
    ? paramsFromJson(readParamsFile(args.paramsFile), args.paramsFile)
    : [];
  // A notebook `cellar exec -p` wrote already: its injected values are where this run starts, as
  // they are the compiled pipeline's defaults (the old injected cell is replaced by a new one).
  const params = await typeParams(args.notebook, paramsCell, [
    ...injectedRaw(paramsCell),
    ...raw,
    ...args.params,
  ]);
  return { notebook, shownAs: args.notebook, root, paramsCell, params };
}

/** The text of `-f params.json`. @throws CliError E_NOT_FOUND naming the file and the option. */
function readParamsFile(file: string): string {
  try {
    return readFileSync(resolve(file), 'utf8');
  } catch (error) {
    throw new CliError(`cannot read the params file ${file} (-f): ${reason(error)}`, 'E_NOT_FOUND');
  }
}

/** A system error in a few words: `no such file` for ENOENT, else its code or message. */
function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'no such file or folder' : (e.code ?? e.message ?? String(error));
}

/**
 * The start `cellar exec` and `cellar verify` share: parse `argv` with papermill's two-word
 * `-p name value` (which parseArgs cannot), then check the notebook and type its params.
 * Undefined when --help asked for `usage` (printed here).
 * @throws CliError E_USAGE with `usage` appended for a bad command line; E_NOT_FOUND for a
 *   missing notebook;
 *   the ParamError's own code (E_BAD_PARAM, E_NO_PARAMS_CELL, …) for bad params.
 */
export async function startExecCommand(
  argv: string[],
  allowed: string[],
  usage: string,
): Promise<{ args: ExecArgs; prepared: PreparedExec } | undefined> {
  let args;
  try {
    args = parseExecArgs(argv, allowed);
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${usage}`, 'E_USAGE');
  }
  if (args.help) {
    console.log(usage);
    return undefined;
  }
  try {
    return { args, prepared: await prepareExec(args) };
  } catch (error) {
    if (error instanceof ParamError) throw new CliError(error.message, error.code);
    if (error instanceof UsageError) throw new CliError(`${error.message}\n\n${usage}`, 'E_USAGE');
    throw error;
  }
}

/** A server for the run: the given one, or Debian's jupyter server started for it (stop() ends it). */
export async function openServer(root: string, args: ExecArgs): Promise<JupyterServer> {
  if (args.server) return connectJupyter(args.server, args.token!, root);
  const { jupyterPath } = writeKernelspec(jupyterPathOf(root), root);
  return startJupyter({ rootDir: root, jupyterPath });
}
