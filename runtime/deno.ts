// Deno: the `Deno.*` APIs a data notebook written for Deno's Jupyter kernel calls, on Node, so a
// compiled Deno notebook runs its cells' code unchanged (`import { Deno } from 'cellar'`).
//
// Only what compiler/analyze/deno.ts maps (MAPPED_DENO_APIS; the compiler refuses every other
// `Deno.*` with E_DENO_API): file reads and writes, `env.get`, `cwd`, and the `jupyter` displays,
// which do nothing outside a kernel (the compiler drops display statements; these cover a display
// inside a function). Behaviour follows Deno's: relative paths from the working directory (the
// notebook's folder, where tasks run), `readFile` gives a Uint8Array, `env.get` of an unset name
// gives undefined. Errors are Node's (`ENOENT: no such file or directory, open 'x.csv'`), not
// Deno's `Deno.errors.NotFound`.
//
// Env reads: runtime/key/codehash.ts reads `Deno.env.get('X')` in a task's code as it reads
// `process.env.X`, so the variable's value enters the task's key.
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

type PathLike = string | URL;

/** Deno's `WriteFileOptions`, as far as Node's flags express it. */
export interface DenoWriteFileOptions {
  /** Append instead of replacing the file. */
  append?: boolean;
  /** Create the file when missing (default true); false fails on a missing file. */
  create?: boolean;
  /** File mode for a new file, e.g. 0o644. */
  mode?: number;
}

const flag = (o?: DenoWriteFileOptions): string =>
  o?.append ? (o.create === false ? 'r+' : 'a') : o?.create === false ? 'r+' : 'w';

const writeOptions = (o?: DenoWriteFileOptions) => ({
  flag: flag(o),
  ...(o?.mode === undefined ? {} : { mode: o.mode }),
});

/** A display outside a kernel: nothing to show it on. */
const noDisplay = (): undefined => undefined;

export const Deno = {
  /** The file's text, decoded as UTF-8. */
  readTextFile: (path: PathLike): Promise<string> => readFile(path, 'utf8'),
  readTextFileSync: (path: PathLike): string => readFileSync(path, 'utf8'),
  /** The file's bytes. */
  readFile: async (path: PathLike): Promise<Uint8Array> => new Uint8Array(await readFile(path)),
  readFileSync: (path: PathLike): Uint8Array => new Uint8Array(readFileSync(path)),
  writeTextFile: (path: PathLike, data: string, options?: DenoWriteFileOptions): Promise<void> =>
    writeFile(path, data, writeOptions(options)),
  writeTextFileSync: (path: PathLike, data: string, options?: DenoWriteFileOptions): void =>
    writeFileSync(path, data, writeOptions(options)),
  env: {
    /** The variable's value, or undefined when unset. Part of the task's key (see above). */
    get: (key: string): string | undefined => process.env[key],
  },
  /** The working directory: the notebook's folder when a task runs. */
  cwd: (): string => process.cwd(),
  /** Deno.jupyter's displays: no-ops outside a kernel. */
  jupyter: {
    display: async (_value: unknown, _options?: unknown): Promise<void> => noDisplay(),
    md: (_strings: TemplateStringsArray, ..._values: unknown[]): undefined => noDisplay(),
    html: (_strings: TemplateStringsArray, ..._values: unknown[]): undefined => noDisplay(),
    svg: (_strings: TemplateStringsArray, ..._values: unknown[]): undefined => noDisplay(),
  },
} as const;
