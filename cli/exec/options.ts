// The command line `cellar exec` and `cellar verify` share: papermill's `-p name value` (two
// words after one flag, which node:util parseArgs cannot express), `-f params.json`, and the
// server, timeout and kernel options. Pure: no I/O.
import type { RawParam } from './params.js';

export interface ExecArgs {
  notebook: string | undefined;
  params: RawParam[];
  paramsFile: string | undefined;
  output: string | undefined;
  cellTimeoutS: number;
  kernelTimeoutS: number;
  prepareOnly: boolean;
  server: string | undefined;
  token: string | undefined;
  json: boolean;
  help: boolean;
  /** verify: relative float tolerance. */
  tolerance: number;
  workspace: string | undefined;
}

export class UsageError extends Error {}

const NUMBER_OPTIONS = new Set(['--cell-timeout', '--kernel-timeout', '--tolerance']);
const STRING_OPTIONS = new Set([
  '-f',
  '--file',
  '-o',
  '--output',
  '--server',
  '--token',
  '--workspace',
]);
const FLAGS = new Set(['--prepare-only', '--json', '--help', '-h']);

/** Parse argv; `allowed` lists the options this command takes (others are usage errors). */
export function parseExecArgs(args: string[], allowed: string[]): ExecArgs {
  const out: ExecArgs = {
    notebook: undefined,
    params: [],
    paramsFile: undefined,
    output: undefined,
    cellTimeoutS: 600,
    kernelTimeoutS: 120,
    prepareOnly: false,
    server: undefined,
    token: undefined,
    json: false,
    help: false,
    tolerance: 1e-9, // compare.ts DEFAULT_TOLERANCE
    workspace: undefined,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      if (out.notebook !== undefined)
        throw new UsageError(`one notebook at a time (got '${out.notebook}' and '${arg}')`);
      out.notebook = arg;
      continue;
    }
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    if (!allowed.includes(flag)) throw new UsageError(`unknown option ${flag}`);
    const next = (what: string) => {
      if (inline !== undefined) return inline;
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${flag} needs ${what}`);
      return value;
    };
    if (flag === '-p' || flag === '--parameter') {
      const name = args[++i];
      const text = args[++i];
      if (name === undefined || text === undefined)
        throw new UsageError(`${flag} needs a name and a value: ${flag} seed 7`);
      out.params.push({ name, text });
    } else if (NUMBER_OPTIONS.has(flag)) {
      const text = next('a number');
      const n = Number(text);
      // A tolerance of 0 asks for exact numbers; a timeout of 0 would never let a cell run.
      const least = flag === '--tolerance' ? 0 : Number.MIN_VALUE;
      if (text.trim() === '' || !Number.isFinite(n) || n < least)
        throw new UsageError(
          `${flag} needs a ${least === 0 ? 'non-negative' : 'positive'} number, got '${text}'`,
        );
      if (flag === '--cell-timeout') out.cellTimeoutS = n;
      else if (flag === '--kernel-timeout') out.kernelTimeoutS = n;
      else out.tolerance = n;
    } else if (STRING_OPTIONS.has(flag)) {
      const value = next('a value');
      if (flag === '-f' || flag === '--file') out.paramsFile = value;
      else if (flag === '-o' || flag === '--output') out.output = value;
      else if (flag === '--server') out.server = value;
      else if (flag === '--token') out.token = value;
      else out.workspace = value;
    } else if (FLAGS.has(flag)) {
      if (flag === '--prepare-only') out.prepareOnly = true;
      else if (flag === '--json') out.json = true;
      else out.help = true;
    } else throw new UsageError(`unknown option ${flag}`);
  }
  if (out.server !== undefined && out.token === undefined)
    throw new UsageError("--server needs --token (the server's token)");
  return out;
}

/** `-f params.json` contents → raw params (typed values: checked against the declarations later). */
export function paramsFromJson(text: string, file: string): RawParam[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UsageError(`${file} must hold one JSON object of parameter values, like {"seed": 7}`);
  return Object.entries(json).map(([name, value]) => ({ name, value, from: file }));
}
