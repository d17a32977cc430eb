// What `cellar run`, `cellar tree` and `cellar show` share: finding the pipeline a path names
// (a compiled pipeline.ts, a folder holding one, or a notebook compiled first when stale),
// parsing `--param k=v` against the pipeline's declared params, and turning runtime errors into
// CLI errors with their codes (exit 2: the command line or the pipeline is wrong).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { CellarError, thrownMessage } from '../runtime/errors.js';
import { pipelineParams } from '../runtime/run/graph.js';
import { nameList, suggest } from '../runtime/suggest.js';
import { isSetupNeverSettles, loadPipeline } from '../runtime/load/loader.js';
import { namedNotebook } from '../runtime/load/source.js';
import { findProjectRoot } from '../runtime/project.js';
import { normalizeRunOptions, preparePipelineRun, type PreparedRun } from '../runtime/run/run.js';
import type { Pipeline, ParamSpec } from '../runtime/task.js';
import { CliError, EXIT } from './errors.js';
import { shapeMismatch } from './param-shape.js';

export async function resolvePipelineFile(arg: string | undefined): Promise<string> {
  if (!arg)
    throw new CliError(
      'missing <pipeline>: a compiled pipeline.ts or a notebook .ipynb',
      'E_USAGE',
    );
  const path = resolve(arg);
  if (!existsSync(path)) throw new CliError(`no such file: ${arg}`, 'E_NO_PIPELINE');
  if (path.endsWith('.ipynb')) {
    // The compiler's entry point; compiles only when generated/ is stale, throws CliError on errors.
    const { ensureCompiled } = await import('./commands/compile.js');
    return ensureCompiled(path);
  }
  let file = path;
  if (statSync(path).isDirectory()) {
    const name = ['pipeline.ts', 'pipeline.js', 'pipeline.mjs'].find((n) =>
      existsSync(join(path, n)),
    );
    if (!name) {
      // A folder of notebooks (`cellar run notebooks/`): a run is of one notebook; name them.
      const notebooks = readdirSync(path)
        .filter((n) => n.endsWith('.ipynb'))
        .sort();
      const hint =
        notebooks.length > 0
          ? `; run one of its notebooks: ${notebooks
              .slice(0, 5)
              .map((n) => `cellar run ${join(arg, n)}`)
              .join(', ')}${notebooks.length > 5 ? `, … (${notebooks.length} notebooks)` : ''}`
          : '; name a notebook (.ipynb) or a compiled pipeline.ts';
      throw new CliError(`no pipeline.ts in folder ${arg}${hint}`, 'E_NO_PIPELINE');
    }
    file = join(path, name);
  } else if (!PIPELINE_MODULE.test(path)) {
    // `cellar run README.md`: Node's "Unknown file extension" (or a JSON import attribute) said
    // nothing of what was wanted.
    throw new CliError(
      `${arg} is neither a notebook (.ipynb) nor a pipeline module (.ts, .js, .mjs): name a notebook, or a compiled generated/<notebook>/pipeline.ts`,
      'E_USAGE',
    );
  }
  await warnIfStale(file);
  return file;
}

/** A file Cellar loads as a pipeline module (TypeScript or JavaScript, any module flavour). */
const PIPELINE_MODULE = /\.(?:[cm]?[jt]s|tsx|jsx)$/;

/**
 * A compiled pipeline run directly (`cellar run generated/x/pipeline.ts`) after its notebook was
 * edited runs the old code: say so on stderr. Only pipelines that name a source notebook load the
 * compiler's check (a hand-written pipeline pays one read, not the compiler's modules).
 */
async function warnIfStale(file: string): Promise<void> {
  const notebook = namedNotebook(file);
  if (!notebook) return;
  const { staleWarning, compiledFresh } = (await import('./commands/compile.js')) as {
    staleWarning: (path: string) => string | undefined;
    compiledFresh: (pipeline: string, notebook: string) => boolean;
  };
  // The compile's content stamps answer a fresh compile with stats; else the compile cache decides.
  if (compiledFresh(file, notebook)) return;
  const warning = staleWarning(file);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
}

/** The pipeline a path names; options as in `loadPipeline` (`sourceMaps` false: no task runs here). */
export async function openPipeline(
  arg: string | undefined,
  options: { sourceMaps?: boolean; workdir?: string } = {},
): Promise<{ pipeline: Pipeline; file: string }> {
  if (options.workdir !== undefined) checkWorkdirOption(options.workdir);
  return loadLocated(await resolvePipelineFile(arg), options);
}

/**
 * `--workdir DIR` must be a folder, whatever runs: a file or a missing path ended as a raw
 * ENOTDIR (E_UNEXPECTED), or as the pipeline's fault, or not at all when every task was cached.
 * @throws CliError E_NO_WORKDIR naming the option, the folder and what is there instead.
 */
export function checkWorkdirOption(dir: string): void {
  let kind: 'folder' | 'file' | 'missing' = 'missing';
  try {
    kind = statSync(dir).isDirectory() ? 'folder' : 'file';
  } catch {
    kind = 'missing';
  }
  if (kind === 'folder') return;
  throw new CliError(
    `--workdir ${dir} ${kind === 'file' ? 'is a file, not a folder' : 'does not exist'}: give the folder the tasks run in (where their relative data paths resolve)`,
    'E_NO_WORKDIR',
  );
}

/**
 * `loadPipeline` of a file already found, a setup's failure to load named by the notebook's cell
 * and line, as a CliError (exit 2).
 */
export async function loadLocated(
  file: string,
  options: { sourceMaps?: boolean; workdir?: string } = {},
): Promise<{ pipeline: Pipeline; file: string }> {
  try {
    return await loadPipeline(file, options);
  } catch (error) {
    throw toCliError(await withLoadLocation(file, error));
  }
}

/**
 * A compiled pipeline whose setup cell threw while loading (`readFileSync` of a missing file):
 * the error with the notebook, cell and line appended (`\n  at notebooks/x.ipynb, cell 2 (id c1),
 * line 1`), as a failed task's location reads. Other errors as they are.
 */
async function withLoadLocation(file: string, error: unknown): Promise<unknown> {
  if (!(error instanceof CellarError) || error.code !== 'E_PIPELINE_LOAD') return error;
  if (isSetupNeverSettles(error)) return withAwaitLocations(file, error);
  const cause = error.cause;
  const held = (cause as { stack?: unknown } | null | undefined)?.stack;
  const stack = typeof held === 'string' ? held : undefined;
  const notebookFile = namedNotebook(file);
  // No cause: not a throw of the setup's code (the loader sets one for each: loader.ts).
  if (!notebookFile || (stack === undefined && !Object.hasOwn(error, 'cause'))) return error;
  const { loadFailureLocation, thrownLoadLocation } = await import('./failure-location.js');
  const root = findProjectRoot(dirname(file));
  const notebook = relative(root, notebookFile);
  // A thrown value that is not an Error (`throw 'setup says no'`) has no stack: its throw site in
  // the setup's code, found as a task's is.
  const at =
    stack === undefined
      ? thrownLoadLocation(file, notebook, notebookFile, thrownMessage(cause))
      : (loadFailureLocation(file, notebook, notebookFile, stack, root) ??
        missingExportLocation(notebook, notebookFile, String((cause as Error).message ?? '')));
  if (!at) return error;
  return new CellarError(
    `${error.message.replace(/ \(E_[A-Z_]+\)$/, '')}\n  at ${at}`,
    'E_PIPELINE_LOAD',
  );
}

/**
 * A compiled pipeline whose load never settles: the error naming the setup's top-level awaits as
 * notebook cells and lines (`\n  at notebooks/x.ipynb, cell 1 (id c0), line 1`), one line each:
 * one of them awaits what nothing can settle. No stack shows which: a pending await has none.
 */
async function withAwaitLocations(file: string, error: CellarError): Promise<CellarError> {
  const notebookFile = namedNotebook(file);
  if (!notebookFile) return error;
  const { setupAwaitLocations } = await import('./failure-location.js');
  const notebook = relative(findProjectRoot(dirname(file)), notebookFile);
  const at = setupAwaitLocations(file, notebook, notebookFile);
  if (at.length === 0) return error;
  return new CellarError(
    `${error.message.replace(/ \(E_[A-Z_]+\)$/, '')}\n${at.map((a) => `  at ${a}`).join('\n')}`,
    'E_PIPELINE_LOAD',
  );
}

/**
 * Node's link error for a named import a module does not export ("Named export 'helper' not
 * found. The requested module 'cjspkg' is a CommonJS module…") has no stack in the notebook's
 * code: the cell and line whose import names it, found in the notebook's code cells.
 */
function missingExportLocation(
  notebook: string,
  notebookFile: string,
  message: string,
): string | undefined {
  const m = /Named export '([^']+)' not found\. The requested module '([^']+)'/.exec(message);
  if (!m) return undefined;
  const [, name, module] = m as unknown as [string, string, string];
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(
    `import\\s*(?:type\\s+)?(?:[\\w$]+\\s*,\\s*)?\\{[^}]*\\b${escape(name)}\\b[^}]*\\}\\s*from\\s*['"]${escape(module)}['"]`,
  );
  return codeCellLocation(notebook, notebookFile, pattern);
}

/**
 * `notebooks/x.ipynb, cell 3 (id c2), line 4`: the first place `pattern` matches in the notebook's
 * code cells (those `cell` accepts, when given), or undefined (no match, or not a notebook).
 * `notebook`: the notebook as the message names it; `notebookFile`: its absolute path.
 */
function codeCellLocation(
  notebook: string,
  notebookFile: string,
  pattern: RegExp,
  cell?: (text: string) => boolean,
): string | undefined {
  let cells: { cell_type?: string; id?: string; source?: string | string[] }[];
  try {
    cells = (JSON.parse(readFileSync(notebookFile, 'utf8')) as { cells: typeof cells }).cells;
  } catch {
    return undefined;
  }
  for (const [i, c] of (Array.isArray(cells) ? cells : []).entries()) {
    if (c.cell_type !== 'code') continue;
    const text = Array.isArray(c.source) ? c.source.join('') : (c.source ?? '');
    if (cell && !cell(text)) continue;
    const found = pattern.exec(text);
    if (!found) continue;
    const line = text.slice(0, found.index).split('\n').length;
    return `${notebook}, cell ${i + 1}${c.id ? ` (id ${c.id})` : ''}, line ${line}`;
  }
  return undefined;
}

/**
 * `--param k=v` values, parsed by each param's declared type. A JSON param of a pipeline compiled
 * from a notebook is then checked by the same check `cellar exec -p` makes (cli/exec/params.ts:
 * the TypeScript compiler against the params cell's declared type, so `{"a":"x"}` or an extra
 * field is refused by both commands alike, naming the notebook's params cell and line); of a
 * hand-written pipeline, by the shape of its default. Throws CliError E_BAD_PARAM /
 * E_UNKNOWN_PARAM.
 */
export async function parseParams(
  raw: string[],
  pipeline: Pipeline,
  pipelineFile?: string,
): Promise<Record<string, unknown>> {
  const notebook = pipelineFile ? namedNotebook(pipelineFile) : undefined;
  let byDefault: Record<string, unknown>;
  try {
    byDefault = parseParamsByDefault(raw, pipeline, !notebook);
  } catch (error) {
    throw (notebook && withParamsCell(error, notebook)) || error;
  }
  // No --param given: nothing to type-check (and at 100k tasks the params union costs a walk of
  // the whole pipeline).
  if (raw.length === 0) return byDefault;
  const specs = pipelineParams(pipeline.tasks) as Record<string, ParamSpec>;
  if (!notebook || !existsSync(notebook)) return byDefault;
  // JSON params, and those the params cell annotates with a narrower type than their kind
  // (`const mode: 'fast' | 'slow' = 'fast'`: `--param mode=fsat` was taken, and a task computed
  // with it): TypeScript checks them against the params cell. A look at the notebook's text
  // decides whether to load it at all.
  const text = readFileSync(notebook, 'utf8');
  const structured = Object.entries(byDefault).filter(
    ([name]) => specs[name]?.type === 'json' || annotatedNarrowly(text, name),
  );
  if (structured.length === 0) return byDefault;
  const { readParamsCell, typeParams, ParamError } = await import('./exec/params.js');
  const shown = relative(findProjectRoot(dirname(notebook)), notebook);
  try {
    const cell = await readParamsCell(shown, text);
    await typeParams(
      shown,
      cell,
      structured.map(([name, value]) => ({ name, value, from: '--param' })),
    );
  } catch (error) {
    if (error instanceof ParamError) throw new CliError(error.message, error.code);
    throw error;
  }
  return byDefault;
}

/**
 * Whether the notebook's text (its JSON) annotates a declaration of `name` with a type other than
 * `string`, `number` or `boolean` (`const mode: 'fast' | 'slow' = …`). A cheap gate only: the
 * check itself is TypeScript's, against the params cell (cli/exec/params.ts).
 */
function annotatedNarrowly(notebookText: string, name: string): boolean {
  let code = notebookText;
  try {
    const cells = (JSON.parse(notebookText) as { cells?: { source?: string | string[] }[] }).cells;
    code = (cells ?? [])
      .map((c) => (Array.isArray(c.source) ? c.source.join('') : (c.source ?? '')))
      .join('\n');
  } catch {
    // not JSON: the text as it is (the load reports what is wrong with it)
  }
  const escaped = name.replace(/[$]/g, '\\$&');
  const m = new RegExp(
    `(?:^|[^\\w$])(?:const|let|var)\\s+${escaped}\\s*:\\s*([^=;]+?)\\s*=`,
    'm',
  ).exec(code);
  return m !== null && !/^(string|number|boolean)$/.test(m[1]!.trim());
}

/**
 * For `cellar verify`, before any kernel starts: every param typed against the notebook's params
 * cell (`prepared.params`) must be one the compiled pipeline declares too, else the notebook would
 * run in full before the pipeline refused it. A params-cell const no task reads is not a pipeline
 * param. Throws CliError E_UNKNOWN_PARAM (exit 2, as `cellar exec` exits for bad params).
 */
export function checkPipelineDeclares(params: Record<string, unknown>, pipeline: Pipeline): void {
  const names = Object.keys(params);
  if (names.length === 0) return;
  const specs = pipelineParams(pipeline.tasks);
  const unknown = names.filter((name) => !Object.hasOwn(specs, name));
  if (unknown.length === 0) return;
  throw new CliError(
    `${unknownParamMessage(unknown[0]!, Object.keys(specs))}: the notebook's params cell declares it, but no task of the pipeline reads it`,
    'E_UNKNOWN_PARAM',
  );
}

/**
 * A `--param` error said with the params cell: an E_UNKNOWN_PARAM for a name the params cell
 * does declare (`const mode = 'fast'`) but no task reads (said so, instead of "unknown": a
 * newcomer's finding), and an E_BAD_PARAM with the cell and line declaring the param (as
 * `cellar exec -p` names them). Undefined: the error as it is.
 */
function withParamsCell(error: unknown, notebookFile: string): CliError | undefined {
  if (!(error instanceof CliError)) return undefined;
  const name = /^(?:unknown )?param '([^']+)'/.exec(error.message)?.[1];
  if (!name) return undefined;
  const at = paramDeclaration(notebookFile, name);
  if (!at) return undefined;
  if (error.code === 'E_UNKNOWN_PARAM')
    return new CliError(
      `param '${name}' is declared in ${at}, but no task reads it, so it changes nothing: use it in a task, or leave out --param ${name}`,
      'E_UNKNOWN_PARAM',
    );
  if (error.code === 'E_BAD_PARAM' && !error.message.includes('.ipynb'))
    return new CliError(`${error.message} (declared in ${at})`, 'E_BAD_PARAM');
  return undefined;
}

/** `notebooks/x.ipynb, cell 2 (id params), line 3`: where the params cell declares `name`. */
function paramDeclaration(notebookFile: string, name: string): string | undefined {
  const declared = new RegExp(
    `^\\s*(?:export\\s+)?const\\s+${name.replace(/[$]/g, '\\$&')}\\s*[:=]`,
    'm',
  );
  return codeCellLocation(
    relative(findProjectRoot(dirname(notebookFile)), notebookFile),
    notebookFile,
    declared,
    (text) => /^\s*\/\/\|\s*params\b/m.test(text),
  );
}

const unknownParamMessage = (name: string, known: string[]) =>
  `unknown param '${name}' (pipeline params: ${known.join(', ') || 'none'})`;

function parseParamsByDefault(
  raw: string[],
  pipeline: Pipeline,
  checkShape: boolean,
): Record<string, unknown> {
  if (raw.length === 0) return {};
  const specs = pipelineParams(pipeline.tasks) as Record<string, ParamSpec>;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const given = new Map<string, string>();
  for (const item of raw) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CliError(`--param needs k=v, got '${item}'`, 'E_BAD_PARAM');
    const name = item.slice(0, eq);
    const text = item.slice(eq + 1);
    // A tester's finding: `--param n=3 --param n=4` silently took the last (a pasted command
    // line with an old value left in would compute something else than the user read).
    const before = given.get(name);
    if (before !== undefined && before !== text)
      throw new CliError(
        `--param ${name} is given twice, as '${before}' and as '${text}': give it once`,
        'E_BAD_PARAM',
      );
    given.set(name, text);
    // Own properties only: `--param constructor=1` or `__proto__=1` is an unknown param, not Object's.
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      throw new CliError(unknownParamMessage(name, Object.keys(specs)), 'E_UNKNOWN_PARAM');
    }
    out[name] = parseValue(name, text, spec, checkShape);
  }
  return out;
}

function parseValue(name: string, text: string, spec: ParamSpec, checkShape: boolean): unknown {
  switch (spec.type) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n))
        throw new CliError(`param '${name}' is a number, got '${text}'`, 'E_BAD_PARAM');
      return n;
    }
    case 'boolean':
      if (['true', '1', 'yes'].includes(text)) return true;
      if (['false', '0', 'no'].includes(text)) return false;
      throw new CliError(`param '${name}' is a boolean (true/false), got '${text}'`, 'E_BAD_PARAM');
    case 'json': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        // Show the shape wanted, from the default, quoted for the shell: bare words are not JSON.
        const example = JSON.stringify(spec.default ?? ['north', 'south']);
        throw new CliError(
          `param '${name}' is JSON, got '${text}'; for example --param ${name}='${example.replace(/'/g, "'\\''")}' (strings inside need double quotes)`,
          'E_BAD_PARAM',
        );
      }
      // The task's code is typed by the default's shape (the params cell's literal): a value of
      // another shape would fail inside a task, far from the --param that caused it.
      const wrong = checkShape ? shapeMismatch(value, spec.default, name) : undefined;
      if (wrong)
        throw new CliError(
          `param '${name}' is JSON shaped like its default ${JSON.stringify(spec.default)}: expected ${wrong.expected}, got ${wrong.got} (the value given: '${text}')`,
          'E_BAD_PARAM',
        );
      return value;
    }
  }
}

/** The options `cellar tree` and `cellar show` share. */
/**
 * The `cellar run` line that computes what an inspection (`show`, `tree`) looked at: the same
 * pipeline, params, workspace and workdir, each argument quoted for a POSIX shell where it needs
 * it (`'notebooks/my shop.ipynb'`), so it can be pasted as printed. `extra`: flags to add
 * (`--dry-run`).
 */
export function runCommandFor(
  pipeline: string,
  values: { param?: string[]; workspace?: string; workdir?: string },
  ...extra: string[]
): string {
  const args = ['cellar', 'run', pipeline];
  for (const p of values.param ?? []) args.push('--param', p);
  if (values.workspace !== undefined) args.push('--workspace', values.workspace);
  if (values.workdir !== undefined) args.push('--workdir', values.workdir);
  args.push(...extra);
  return args
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ');
}

export const INSPECT_OPTIONS = {
  param: { type: 'string', multiple: true, default: [] as string[] },
  json: { type: 'boolean', default: false },
  workspace: { type: 'string' },
  workdir: { type: 'string' },
} as const;

/**
 * The prologue `cellar show` and `cellar tree` share, after `defineCommand` parsed the line
 * (`--param/--json/--workspace/--workdir`, `INSPECT_OPTIONS`, plus the command's own): check the
 * positionals, open the pipeline and plan it without running anything.
 */
export async function openForInspection(
  input: {
    values: { param: string[]; workspace?: string; workdir?: string };
    positionals: string[];
  },
  command: { usage: string; required: string[]; reasons: boolean },
) {
  const { values, positionals } = input;
  // `required`: positionals after the pipeline that must be there (show needs a task).
  command.required.forEach((what, i) => {
    if (positionals[i + 1] === undefined)
      throw new CliError(`a ${what} is needed\n\n${command.usage}`, 'E_USAGE');
  });
  if (values.workdir !== undefined) checkWorkdirOption(values.workdir);
  const { pipeline, file } = await openPipeline(positionals[0]);
  let prepared: PreparedRun;
  try {
    prepared = await preparePipelineRun(
      normalizeRunOptions({
        pipeline,
        pipelineFile: file,
        params: await parseParams(values.param, pipeline, file),
        workspace: values.workspace,
        // A task reading paths is keyed on the folder it ran in (key/run-reads.ts WORKDIR_INPUT).
        ...(values.workdir !== undefined ? { workdir: values.workdir } : {}),
      }),
      command.reasons,
    );
  } catch (error) {
    throw toCliError(error);
  }
  return { pipeline, prepared };
}

/** `unknown task 'x' (tasks: a, b)`, with a suggestion when one is close. */
export function unknownTask(name: string, prepared: PreparedRun): CliError {
  const names = [...prepared.graph.byName.keys()];
  return new CliError(
    `unknown task '${name}'${suggest(name, names)} (tasks: ${nameList(names)})`,
    'E_UNKNOWN_TASK',
  );
}

export function toCliError(error: unknown): unknown {
  if (error instanceof CellarError)
    return new CliError(error.message.replace(/ \(E_[A-Z_]+\)$/, ''), error.code, EXIT.usage);
  return error;
}
