// Loading a pipeline module from disk. TypeScript pipelines (compiled or hand-written) load from
// a cached esbuild bundle (bundle.ts: fast, `import.meta.url` rewritten to each real source file)
// or, where that is not possible or CELLAR_LOADER=tsx, through tsx's module hooks (registered once
// per thread, see `registerTsx`), which also keep `import.meta.url` at the real file.
// Either way the code-aware cache key roots at the real source. Plain .js/.mjs load with import().
import { existsSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { RUNTIME_CODES, type RuntimeCode } from '../codes.js';
import { pathToFileURL } from 'node:url';
import type { Pipeline } from '../task.js';
import { CellarError, thrownMessage } from '../errors.js';
import { importBundled } from './bundle.js';
import { namedNotebook } from './source.js';
import { installReadRecorders, observeLoadReads, untracked } from '../run/read-record.js';
import { noteLoadReads } from '../key/run-reads.js';
import { isMainThread } from 'node:worker_threads';
import { register } from 'node:module';
import { whileSettleable } from '../settle.js';

/**
 * Load the pipeline a module exports. `sourceMaps` (default true): stack frames of code loaded
 * from the cached bundle point at the real source files (see `importBundled`); pass false only
 * where no task code runs on this thread.
 * @throws CellarError E_NO_PIPELINE, E_PIPELINE_LOAD, E_CELLAR_UNRESOLVED, E_NOT_A_PIPELINE, or a
 *   coded error of the pipeline's own definitions (E_BAD_TASK…).
 */
export async function loadPipeline(
  file: string,
  options: { sourceMaps?: boolean; workdir?: string } = {},
): Promise<{ pipeline: Pipeline; file: string }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CellarError(`no pipeline file at ${path}`, 'E_NO_PIPELINE');
  // The module is evaluated in the folder its tasks run in, as the notebook's setup cell ran in
  // Jupyter: a top-level `readFileSync('../data/config.json')` resolves the same in both. That is
  // `workdir` when given, else a compiled pipeline's notebook folder, else the current folder.
  // Worker threads cannot chdir: they start once the run has moved the process to its workdir.
  const notebook = options.workdir === undefined ? namedNotebook(path) : undefined;
  const loadIn =
    options.workdir !== undefined ? resolve(options.workdir) : notebook && dirname(notebook);
  const previous = process.cwd();
  // A folder that is gone is E_NO_WORKDIR's to report when tasks start, with the fix.
  const move = isMainThread && loadIn !== undefined && loadIn !== previous && existsSync(loadIn);
  if (move) process.chdir(loadIn);
  try {
    // On the main thread, what the module's own code reads while it is evaluated (a setup cell's
    // top-level readFileSync) is recorded: run.ts puts it in every task's key before keying
    // (key/run-reads.ts PIPELINE_LOAD). Worker threads evaluate the same module again and need not,
    // but the recorders go in first: a module keeping `process.env` (`const env = process.env`)
    // must keep the Proxy that sees its tasks list it (read-record.ts `installReadRecorders`).
    if (!isMainThread) {
      installReadRecorders();
      return await settledPipeline(path, options);
    }
    const { result, reads } = await observeLoadReads(() => settledPipeline(path, options));
    // Cellar's own switches (CELLAR_*), read by its code as it initialises, are not data.
    for (const name of reads.env) if (name.startsWith('CELLAR_')) reads.env.delete(name);
    noteLoadReads(result.pipeline, reads);
    return result;
  } finally {
    if (move) process.chdir(previous);
  }
}

/**
 * The module evaluated, or E_PIPELINE_LOAD when its evaluation awaits what nothing can settle (a
 * setup cell's `await new Promise(() => {})`): the import would never settle, and Node would end
 * the process with code 13 and no word (settle.ts). The error says so; the CLI adds the setup's
 * top-level awaits as notebook cells and lines (cli/pipeline-args.ts).
 */
async function settledPipeline(
  path: string,
  options: { sourceMaps?: boolean },
): Promise<{ pipeline: Pipeline; file: string }> {
  // A setup cell's `process.exit(0)` would end the command with nothing run and exit code 0 (a
  // tester's finding: CI saw success). While the module evaluates, it throws instead, so the load
  // fails as E_PIPELINE_LOAD at the cell that called it.
  const exit = process.exit;
  process.exit = ((code?: number | string | null) => {
    throw new Error(
      `process.exit(${code ?? ''}) called while the pipeline loads (a setup cell or a module it imports): a setup fails by throwing an Error; exiting would end the command with nothing run`,
    );
  }) as typeof process.exit;
  try {
    return await whileSettleable(evaluatePipeline(path, options), () =>
      setupNeverSettlesError(path),
    );
  } finally {
    process.exit = exit;
  }
}

/** The errors of pipelines whose load never settles, for the CLI to locate their awaits. */
const neverSettled = new WeakSet<Error>();

/** Whether `error` says a pipeline's load never settles (`setupNeverSettlesError`). */
export const isSetupNeverSettles = (error: unknown): boolean =>
  error instanceof Error && neverSettled.has(error);

function setupNeverSettlesError(path: string): CellarError {
  const error = new CellarError(
    `cannot load pipeline ${path}: its setup never settles: a top-level await awaits a promise nothing can settle (no timer, I/O or other work is pending), so the pipeline could never load`,
    'E_PIPELINE_LOAD',
  );
  neverSettled.add(error);
  return error;
}

let tsxRegistered: Promise<void> | undefined;

/**
 * Let this thread import TypeScript through tsx's module hooks, once. Not `tsImport`: it loads
 * the module's whole graph under a namespace of its own (`?tsx-namespace=…`), packages included,
 * so the pipeline's `import … from 'cellar'` got a second copy of the runtime. The runtime this
 * thread runs then did not see what the pipeline registered into its copy (the warehouse's task
 * hooks and its codec, a project's codecs), and a tsx-loaded run keyed the same pipeline
 * differently from a bundled one (the `auto` codec list and the warehouse's key inputs).
 * Registered globally, one module graph: 'cellar' is the instance already loaded.
 */
function registerTsx(): Promise<void> {
  tsxRegistered ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(
    ([esm, cjs]) => {
      // Both, as the `tsx` command does: a .ts file in a package without "type": "module" is
      // CommonJS to Node, which then loads it through the CommonJS hooks.
      esm.register();
      cjs.register();
      // After tsx's, so it is asked first (Node runs the newest hooks first).
      register(`data:text/javascript,${encodeURIComponent(JS_FILE_FIRST_HOOKS)}`);
    },
  );
  return tsxRegistered;
}

/**
 * Module hooks making `./x.js` (`.mjs`, `.cjs`, `.jsx`) load x.js whenever that file exists, as
 * esbuild resolves it, rather than tsx's x.ts first. Both files exist when `tsc` wrote its output
 * beside the source; then the bundle (and tslab, Node's own resolution) ran x.js while tsx ran
 * x.ts, and the code-aware key, which follows esbuild's resolution (codehash.ts), named x.js
 * alone: edits to the x.ts that tsx ran kept the task cached, and either loader could be served
 * the other's result under one key. Resolving as esbuild does keeps one key for one computation
 * (the README's "same keys whether loaded from the bundle or with CELLAR_LOADER=tsx"). A missing
 * x.js falls through to tsx, which finds x.ts, as esbuild does. (Short-circuited: handed on, tsx would swap even
 * an absolute x.js URL for x.ts.)
 */
const JS_FILE_FIRST_HOOKS = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  if (/^\\.\\.?\\//.test(specifier) && /\\.[cm]?jsx?$/.test(specifier) && context.parentURL?.startsWith('file:')) {
    const url = new URL(specifier, context.parentURL);
    if (existsSync(fileURLToPath(url))) return { url: url.href, shortCircuit: true };
  }
  return next(specifier, context);
}
`;

async function evaluatePipeline(
  path: string,
  options: { sourceMaps?: boolean },
): Promise<{ pipeline: Pipeline; file: string }> {
  const url = pathToFileURL(path).href;
  const ext = extname(path);
  const tsxLoader = untracked(() => process.env.CELLAR_LOADER === 'tsx');
  let mod: Record<string, unknown>;
  try {
    if (ext === '.ts' || ext === '.mts' || ext === '.tsx') {
      // A cached esbuild bundle when possible (see bundle.ts for why), else tsx.
      const bundled = tsxLoader ? undefined : await importBundled(path, options);
      if (bundled) mod = bundled;
      else {
        await registerTsx();
        mod = await import(url);
      }
    } else mod = await import(url);
  } catch (error) {
    // A coded error from the pipeline's own definitions (defineTask's E_BAD_TASK) keeps its code;
    // duck-typed, since a bundled pipeline may load its own copy of the runtime.
    const coded = error as { name?: unknown; code?: unknown; message?: unknown };
    if (
      coded?.name === 'CellarError' &&
      typeof coded.code === 'string' &&
      coded.code in RUNTIME_CODES &&
      typeof coded.message === 'string'
    ) {
      throw new CellarError(
        `${path}: ${coded.message.replace(/ \(E_[A-Z_]+\)$/, '')}`,
        coded.code as RuntimeCode,
      );
    }
    // The tsx loader (CELLAR_LOADER=tsx) has no fallback for a pipeline outside any project with
    // cellar installed (the bundle maps 'cellar' to the running runtime): say what to do.
    if (
      /Cannot find (?:module|package) 'cellar'/.test(error instanceof Error ? error.message : '')
    ) {
      throw new CellarError(
        `cannot load pipeline ${path}: it imports 'cellar', which Node cannot find from ${dirname(path)} (no node_modules/cellar above it). ` +
          `Compile the notebook into a project that has cellar installed (cellar compile <notebook> --out <project>/generated), install cellar there (npm install --save-dev cellar), or run without CELLAR_LOADER=tsx`,
        'E_CELLAR_UNRESOLVED',
      );
    }
    const failed = new CellarError(
      // A thrown value that is not an Error (`throw 'no'`, a rejection with `{ why: 'x' }`) shown
      // as a task's is, never `[object Object]`.
      `cannot load pipeline ${path}: ${thrownMessage(error)}`,
      'E_PIPELINE_LOAD',
    );
    // Its stack names the setup cell that threw (the CLI maps it to the notebook: cli/pipeline-args.ts).
    failed.cause = error;
    throw failed;
  }
  const candidate = [
    mod.default,
    mod.pipeline,
    (mod.default as Record<string, unknown> | undefined)?.default,
  ].find((v) => (v as Pipeline | undefined)?.kind === 'cellar.pipeline');
  if (!candidate)
    throw new CellarError(
      `${path} does not export a pipeline (export default definePipeline({...}))`,
      'E_NOT_A_PIPELINE',
    );
  return { pipeline: candidate as Pipeline, file: path };
}
