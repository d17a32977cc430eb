// Where in the notebook a failed task threw: `notebooks/x.ipynb, cell 3 (id c2), line 2`.
//
// A task's stack trace points into its generated module (generated/<nb>/<task>.ts, source-mapped
// through the bundle), but the user wrote the code in a notebook cell. Every cell's code in a
// generated module follows a `// notebook cell `id`` marker, and runtime/load/locate.ts finds the
// marker above a line. This lives in the CLI layer because the runtime core must not import the
// compiler. The cell number is resolved from the id in the notebook as it is now (so a cell added
// above since the compile does not mislead); the line counts the cell's `//|` directive lines,
// as the notebook shows them. Everything is best-effort: no location is better than a wrong one.
//
// Warehouse failures carry their origin on the stack (runtime/warehouse/origin.ts): the frames of
// the line that wrote the sql`` template plus the SQL line the engine reported (the location is
// the template's first line plus that line), or the `//| check:` that failed (the location is that
// directive's line in the task's cells).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire, SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineInCell, locateInNotebook } from '../runtime/load/locate.js';
import { modulePath } from '../runtime/key/codehash.js';
import { builtFrameSource } from '../runtime/key/built-frames.js';
import { BUILT_MODULE_SCHEME } from '../runtime/key/module-path.js';
import { describeSource, notebookPath, readCellPositions } from '../runtime/load/source.js';
import { thrownMessage } from '../runtime/errors.js';
import { strayThrownMessage } from '../runtime/run/stray-errors.js';
import type { AnyTask } from '../runtime/task.js';
import { readOrigin } from '../runtime/warehouse/tasks/origin.js';

/**
 * TypeScript, loaded on first use, or null where it is not installed: a built folder's
 * package.json lists only what every run loads (`npm ci --omit=dev` there has no TypeScript), and
 * a failure must still be reported, with the line counted from the cell's marker instead.
 */
let typescriptModule: typeof import('typescript') | null | undefined;
function typescript(): typeof import('typescript') | null {
  if (typescriptModule === undefined) {
    try {
      typescriptModule = createRequire(import.meta.url)(
        'typescript',
      ) as typeof import('typescript');
    } catch {
      typescriptModule = null;
    }
  }
  return typescriptModule;
}

/**
 * `notebooks/x.ipynb, cell 3 (id c2), line 2`, or undefined when the stack is not in cell code.
 * The first frame in a module of the task's own generated folder wins: the task's module, or
 * setup.ts when a helper from a setup cell threw (frames in the runtime or in packages are skipped).
 */
export function failureLocation(task: AnyTask, stack: string): string | undefined {
  if (!task.module || !task.source) return undefined;
  const origin = readOrigin(stack);
  if (origin.sqlFrames) {
    const at = frameLocation(task, origin.sqlFrames, (origin.sqlLine ?? 1) - 1);
    if (at) return at;
  }
  if (origin.check) {
    const at = checkLocation(task, origin.check);
    if (at) return at;
  }
  const frames = stack.split('\n').slice(1);
  const at = frameLocation(task, frames, 0);
  if (!at) return at;
  if (isBuilt(task)) {
    const inner = builtProjectFrameLocation(task, frames);
    return inner ? `${at}; thrown at ${inner}` : at;
  }
  // Thrown inside a project module the cell called (`parse()` of notebooks/lib/parse.ts): that
  // line too, where the fix usually goes.
  const folder = dirname(modulePath(task.module));
  const callee = frames.findIndex((f) => {
    const m = FRAME.exec(f);
    return m !== null && dirname(m[1]!) === folder;
  });
  const nb = taskNotebook(task);
  const root = nb.file.endsWith(nb.notebook) ? nb.file.slice(0, -nb.notebook.length) : undefined;
  const inner =
    root && callee > 0 ? projectFrameLocation(root, frames.slice(0, callee)) : undefined;
  return inner ? `${at}; thrown at ${inner}` : at;
}

/** The first of `frames` in the task's generated folder, as a notebook position; `extraLines`
 *  further down (a line inside a multi-line sql`` template). */
function frameLocation(task: AnyTask, frames: string[], extraLines: number): string | undefined {
  if (isBuilt(task)) return builtFramesLocation(task, frames, extraLines);
  return folderFrameLocation(
    dirname(modulePath(task.module!)),
    taskNotebook(task),
    frames,
    extraLines,
  );
}

/** The notebook a compiled module came from: as the project names it, and its absolute path. */
interface NotebookRef {
  notebook: string;
  file: string;
}

const taskNotebook = (task: AnyTask): NotebookRef => ({
  notebook: task.source!.notebook,
  file: isBuilt(task) ? join(builtFolder!, BUILT_CELLS_FILE) : notebookPath(task)!,
});

/**
 * The file of a built folder holding the notebook's cells (`{ cells: [{ id, source }] }`, the
 * shape of a notebook's, so `readCellPositions` reads it), written by `cellar build`: a batch
 * machine has no notebook, and a failure there is still named by cell and line.
 */
export const BUILT_CELLS_FILE = 'cells.json';

/** The built folder this process runs (`node <dir>/run.mjs`), if any (`runningBuiltFolder`). */
let builtFolder: string | undefined;

/** Say that this process runs the built folder `dir` (cli/build/run-entry.ts). */
export function runningBuiltFolder(dir: string): void {
  builtFolder = dir;
}

/** Is the task one of the built folder's (its module a `cellar-build:` URL)? */
const isBuilt = (task: AnyTask): boolean =>
  builtFolder !== undefined && task.module!.startsWith(BUILT_MODULE_SCHEME);

/** A frame of any file, a `file://` URL or a path: the file, line and column. */
const ANY_FRAME = /^\s*at (?:.*\()?(?:file:\/\/)?(\/[^()]+?):(\d+):(\d+)\)?$/;

/**
 * `folderFrameLocation` for a built folder: its frames name bundle files (`pipeline.js`, chunks),
 * mapped back through the maps beside them to the generated module and its text (the maps carry
 * the sources), and the cells are the ones `cellar build` shipped (`BUILT_CELLS_FILE`).
 */
function builtFramesLocation(
  task: AnyTask,
  frames: string[],
  extraLines: number,
): string | undefined {
  const folder = posix.dirname(task.module!.slice(BUILT_MODULE_SCHEME.length));
  for (const frame of frames) {
    const m = ANY_FRAME.exec(frame);
    if (!m) continue;
    const at = builtFrameSource(m[1]!, Number(m[2]), Number(m[3]));
    if (!at || at.text === undefined || posix.dirname(at.path) !== folder) continue;
    const location = moduleLineLocation(
      taskNotebook(task),
      at.path,
      at.line,
      at.column,
      extraLines,
      at.text,
    );
    if (location) return location;
  }
  return undefined;
}

/**
 * `projectFrameLocation` for a built folder: the first frame above the task's own that maps (through
 * the bundle's maps) to a project module outside generated/ and packages, `notebooks/lib/x.ts, line
 * 3, column 9`, as a run from the sources names it.
 */
function builtProjectFrameLocation(task: AnyTask, frames: string[]): string | undefined {
  const folder = posix.dirname(task.module!.slice(BUILT_MODULE_SCHEME.length));
  for (const frame of frames) {
    const m = ANY_FRAME.exec(frame);
    if (!m) continue;
    const at = builtFrameSource(m[1]!, Number(m[2]), Number(m[3]));
    if (!at) continue;
    if (posix.dirname(at.path) === folder) return undefined; // reached the task's own code
    // Only the project's own modules: Cellar's runtime bundled into the folder maps to its
    // sources too (`runtime/run/read-record.ts` when the project is Cellar's own checkout), and
    // Cellar's code is never where the user's fix goes.
    if (!at.local) continue;
    const parts = at.path.split('/');
    if (parts[0] === '..' || parts.includes('node_modules') || parts[0] === '.cellar') continue;
    if (parts[0] === 'generated') continue;
    return `${at.path}, line ${at.line}, column ${at.column}`;
  }
  return undefined;
}

/** The first of `frames` in the generated folder `folder`, as a position in `nb`. */
function folderFrameLocation(
  folder: string,
  nb: NotebookRef,
  frames: string[],
  extraLines: number,
): string | undefined {
  for (const frame of frames) {
    const m = FRAME.exec(frame);
    if (!m || dirname(m[1]!) !== folder) continue;
    const at = moduleLineLocation(nb, m[1]!, Number(m[2]), Number(m[3]), extraLines);
    if (at) return at;
  }
  return undefined;
}

/**
 * Where loading a compiled pipeline failed, when a setup cell's top-level code threw (a
 * `readFileSync` of a missing file): `notebooks/x.ipynb, cell 2 (id c1), line 1`. `stack` is the
 * thrown error's; `notebook` the project-relative and `notebookFile` the absolute notebook path.
 */
export function loadFailureLocation(
  pipelineFile: string,
  notebook: string,
  notebookFile: string,
  stack: string,
  /** The project root: a throw in a project module (`lib/config.ts`) is named by its file and line. */
  root?: string,
): string | undefined {
  const frames = stack.split('\n').slice(1).map(sourceFrame);
  return (
    folderFrameLocation(dirname(pipelineFile), { notebook, file: notebookFile }, frames, 0) ??
    (root === undefined ? undefined : projectFrameLocation(root, frames))
  );
}

/**
 * The first frame in a module of the project itself (not a package, not generated code, not
 * Cellar's caches): `notebooks/lib/config.ts, line 1, column 44`. A local module that throws as
 * it is imported is where the fix goes, though no cell is on the stack.
 */
function projectFrameLocation(root: string, frames: string[]): string | undefined {
  for (const frame of frames) {
    const m = FRAME.exec(frame);
    if (!m) continue;
    const rel = relative(root, m[1]!);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    const parts = rel.split(sep);
    if (parts.includes('node_modules') || parts[0] === '.cellar' || parts[0] === 'generated')
      continue;
    return `${parts.join('/')}, line ${m[2]}, column ${m[3]}`;
  }
  return undefined;
}

/**
 * A stack frame in a cached pipeline bundle (`.cellar/cache/pipelines/<id>.mjs`, loaded without
 * source maps so that a run's main thread loads fast: runtime/load/bundle.ts) as the frame in
 * the source file it came from, read from the map file beside the bundle; other frames as given.
 */
function sourceFrame(frame: string): string {
  const m = /^(\s*at (?:.*\()?)(?:file:\/\/)?(\/[^()]+?\.mjs):(\d+):(\d+)(\)?)$/.exec(frame);
  if (!m) return frame;
  try {
    const map = new SourceMap(JSON.parse(readFileSync(`${m[2]}.map`, 'utf8')) as SourceMapPayload);
    const entry = map.findEntry(Number(m[3]) - 1, Number(m[4]) - 1) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (entry.originalSource === undefined || entry.originalLine === undefined) return frame;
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(m[2]!), entry.originalSource);
    return `${m[1]}${source}:${entry.originalLine + 1}:${(entry.originalColumn ?? 0) + 1}${m[5]}`;
  } catch {
    return frame;
  }
}

/**
 * Line `line`, column `column` (both 1-based) of the generated module `file`, as a position in
 * the notebook: the line of the cell as written that holds the same code (runtime/load/locate.ts
 * `lineInCell`; Prettier reflowed it), else counted from the cell's marker.
 */
function moduleLineLocation(
  nb: NotebookRef,
  file: string,
  line: number,
  column: number,
  extraLines = 0,
  text?: string,
): string | undefined {
  try {
    text ??= readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const at = locateInNotebook(text, line);
  if (!at) return undefined;
  const now = at.cellId ? readCellPositions(nb.file)?.get(at.cellId) : undefined;
  if (now) {
    const ts = typescript();
    const cellLine =
      (ts ? lineInCell(ts, text, line, column, now.text) : undefined) ??
      builtFacts(nb)?.lines[file]?.[line] ??
      now.directiveLines + at.codeLine;
    return `${nb.notebook}, cell ${now.cell} (id ${at.cellId}), line ${cellLine + extraLines}`;
  }
  // No id, or the cell is gone since the compile: the numbers as compiled.
  const cell =
    at.cell !== undefined
      ? `cell ${at.cell}${at.cellId ? ` (id ${at.cellId})` : ''}`
      : `cell id ${at.cellId}`;
  return `${nb.notebook}, ${cell}, code line ${at.codeLine + extraLines} (as compiled)`;
}

/**
 * Where a task threw a value that is not an Error (`throw 'text'`, `throw {code: 1}`,
 * `throw undefined`, `Promise.reject('x')`): such a value has no stack, so look for the statement
 * in the task's code. A constant value (a string, `undefined`, an object or array of constants)
 * whose message equals the failure's names its line; otherwise the one site in the task's module
 * (then in the notebook's setup.ts) that throws or rejects something not constant and other than
 * a `new …Error(…)`. Two or more candidates: the task's cell without a line, rather than a guess.
 * `message` is the failure's message (runtime/errors.ts `thrownMessage`).
 */
export async function thrownValueLocation(
  task: AnyTask,
  message: string,
): Promise<string | undefined> {
  if (!task.module || !task.source) return undefined;
  // Thrown from a timer's callback or an unhandled rejection: the value's own message.
  message = strayThrownMessage(message) ?? message;
  if (isBuilt(task)) return builtThrownValueLocation(task, message);
  const module = modulePath(task.module);
  const ts = typescript();
  if (!ts) return taskCellsLocation(task); // no TypeScript here: the cell, without a line
  for (const file of [module, join(dirname(module), 'setup.ts')]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const sites = throwSites(ts, text);
    const pick = pickThrowSite(sites, message);
    if (pick) return moduleLineLocation(taskNotebook(task), file, pick.line, pick.column, 0, text);
    if (sites.length > 0) return taskCellsLocation(task); // ambiguous in the task's own module
  }
  // Neither throws such a value: a local module the cells import (`notebooks/lib/h.ts` throwing
  // a plain object after an await), by the same rule over all their sites together.
  const cells = taskCellsLocation(task);
  const inner = localModuleThrowSite(ts, [module, join(dirname(module), 'setup.ts')], message);
  if (!inner) return cells;
  const nb = taskNotebook(task);
  const root = nb.file.endsWith(nb.notebook) ? nb.file.slice(0, -nb.notebook.length) : undefined;
  if (root === undefined) return cells;
  const at = `${relative(root, inner.file).split(sep).join('/')}, line ${inner.line}`;
  return cells ? `${cells}; thrown at ${at}` : at;
}

/**
 * The throw site of `message` in the project's own modules `from` imports, directly or through
 * each other (relative imports only: packages and the generated folder are not searched), picked
 * by `pickThrowSite` over all their sites; undefined when none or several fit.
 */
function localModuleThrowSite(
  ts: typeof import('typescript'),
  from: string[],
  message: string,
): (ThrowSite & { file: string }) | undefined {
  const generated = dirname(from[0]!);
  const seen = new Set<string>(from);
  const queue = [...from];
  const sites: (ThrowSite & { file: string })[] = [];
  while (queue.length > 0 && seen.size < 50) {
    const file = queue.shift()!;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (dirname(file) !== generated)
      for (const site of throwSites(ts, text)) sites.push({ ...site, file });
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = localModuleFile(resolve(dirname(file), m[1]!));
      if (target && !seen.has(target) && !target.split(sep).includes('node_modules')) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return pickThrowSite(sites, message);
}

/** The TypeScript or JavaScript file a relative import names (`./h.js` may be `h.ts`). */
function localModuleFile(path: string): string | undefined {
  const stem = path.replace(/\.[cm]?[jt]sx?$/, '');
  for (const candidate of [path, ...['.ts', '.mts', '.tsx', '.js', '.mjs'].map((e) => stem + e)])
    if (/\.[cm]?[jt]sx?$/.test(candidate) && existsSync(candidate)) return candidate;
  return undefined;
}

/**
 * Where a setup cell threw a value that is not an Error while the pipeline loaded (`throw 'no'`,
 * `await Promise.reject({ why: 'x' })`): no stack, so the throw site in the generated setup.ts
 * (or the pipeline module), picked by the rule a task's uses (`pickThrowSite`). Undefined when
 * none or several fit, or TypeScript is not installed.
 */
export function thrownLoadLocation(
  pipelineFile: string,
  notebook: string,
  notebookFile: string,
  message: string,
): string | undefined {
  const ts = typescript();
  if (!ts) return undefined;
  for (const file of [join(dirname(pipelineFile), 'setup.ts'), pipelineFile]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const sites = throwSites(ts, text);
    const pick = pickThrowSite(sites, message);
    if (pick)
      return moduleLineLocation(
        { notebook, file: notebookFile },
        file,
        pick.line,
        pick.column,
        0,
        text,
      );
    if (sites.length > 0) return undefined;
  }
  return undefined;
}

/**
 * Which throw site threw `message`: the one site throwing that constant message, else (none
 * does) the one site whose message is not a constant; undefined when that is ambiguous. One rule
 * for a source run (`thrownValueLocation`) and a built folder (`builtThrownValueLocation`).
 */
function pickThrowSite<S extends { message?: string }>(sites: S[], message: string): S | undefined {
  const same = sites.filter((s) => s.message === message);
  if (same.length === 1) return same[0];
  const unknown = sites.filter((s) => s.message === undefined);
  return same.length === 0 && unknown.length === 1 ? unknown[0] : undefined;
}

/**
 * `thrownValueLocation` in a built folder, which has neither the generated modules nor TypeScript:
 * the throw sites `cellar build` found in them (`builtLineFacts`), picked by the same rule.
 */
function builtThrownValueLocation(task: AnyTask, message: string): string | undefined {
  const module = task.module!.slice(BUILT_MODULE_SCHEME.length);
  const nb = taskNotebook(task);
  const facts = builtFacts(nb);
  for (const file of [module, posix.join(posix.dirname(module), 'setup.ts')]) {
    const sites = facts?.throws[file] ?? [];
    const pick = pickThrowSite(sites, message);
    const now = pick?.cellId ? readCellPositions(nb.file)?.get(pick.cellId) : undefined;
    if (pick && now && pick.cellLine !== undefined)
      return `${nb.notebook}, cell ${now.cell} (id ${pick.cellId}), line ${pick.cellLine}`;
    if (sites.length > 0) break;
  }
  return taskCellsLocation(task);
}

/**
 * What `cellar build` adds to `BUILT_CELLS_FILE` so that a batch machine, with neither TypeScript
 * nor the generated modules, names a failure's line as a run from the sources does: the line in
 * its cell of each generated line whose line `lineInCell` puts elsewhere than the count from the
 * cell's marker (Prettier reflowed it), and each module's `throw` sites with their cell and line.
 * Keyed by the module's path from the project root (`generated/x/train.ts`), as the bundle's maps
 * name it.
 */
export interface BuiltLineFacts {
  lines: Record<string, Record<number, number>>;
  throws: Record<string, (ThrowSite & { cellId?: string; cellLine?: number })[]>;
}

/** `BuiltLineFacts` of the modules of the generated folder `folder` (run by `cellar build`, where
 *  TypeScript is installed); undefined without TypeScript. */
export function builtLineFacts(
  folder: string,
  root: string,
  notebookFile: string,
): BuiltLineFacts | undefined {
  const ts = typescript();
  const positions = readCellPositions(notebookFile);
  if (!ts || !positions) return undefined;
  const facts: BuiltLineFacts = { lines: {}, throws: {} };
  let names: string[];
  try {
    names = readdirSync(folder).filter((n) => /\.[cm]?ts$/.test(n) && !n.endsWith('.test.ts'));
  } catch {
    return facts;
  }
  for (const name of names.sort()) {
    const file = join(folder, name);
    const key = relative(root, file).split(sep).join('/');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const cellLineOf = (line: number, column: number) => {
      const at = locateInNotebook(text, line);
      const now = at?.cellId ? positions.get(at.cellId) : undefined;
      if (!at || !now) return undefined;
      const counted = now.directiveLines + at.codeLine;
      return { cellId: at.cellId!, counted, line: lineInCell(ts, text, line, column, now.text) };
    };
    const lines: Record<number, number> = {};
    text.split('\n').forEach((l, i) => {
      if (l.trim() === '') return;
      const at = cellLineOf(i + 1, l.length - l.trimStart().length + 1);
      if (at?.line !== undefined && at.line !== at.counted) lines[i + 1] = at.line;
    });
    if (Object.keys(lines).length > 0) facts.lines[key] = lines;
    const sites = throwSites(ts, text).map((s) => {
      const at = cellLineOf(s.line, s.column);
      return at ? { ...s, cellId: at.cellId, cellLine: at.line ?? at.counted } : s;
    });
    if (sites.length > 0) facts.throws[key] = sites;
  }
  return facts;
}

/** The built folder's `BuiltLineFacts`, read once, when `nb` is its cells file. */
let builtFactsMemo: BuiltLineFacts | null | undefined;
function builtFacts(nb: NotebookRef): BuiltLineFacts | undefined {
  if (builtFolder === undefined || nb.file !== join(builtFolder, BUILT_CELLS_FILE))
    return undefined;
  if (builtFactsMemo === undefined) {
    try {
      const read = JSON.parse(readFileSync(nb.file, 'utf8')) as Partial<BuiltLineFacts>;
      builtFactsMemo = { lines: read.lines ?? {}, throws: read.throws ?? {} };
    } catch {
      builtFactsMemo = null;
    }
  }
  return builtFactsMemo ?? undefined;
}

/** `notebooks/x.ipynb, cell 4 (id c3)`: the task's cell(s) in the notebook as it is now. */
function taskCellsLocation(task: AnyTask): string | undefined {
  const source = task.source!;
  if (source.cells.length !== 1) return describeSource(task);
  const now = readCellPositions(taskNotebook(task).file)?.get(source.cells[0]!);
  return now
    ? `${source.notebook}, cell ${now.cell} (id ${now.id})`
    : `${source.notebook}, cell id ${source.cells[0]}`;
}

interface ThrowSite {
  /** 1-based line and column of the statement in the generated module. */
  line: number;
  column: number;
  /** The failure's message when the thrown or rejected value is a constant (`thrownMessage`). */
  message?: string;
}

/** The value of a constant expression (`'x'`, `undefined`, `{ code: 42, tags: ['a'] }`). */
function constantValue(
  ts: typeof import('typescript'),
  e: import('typescript').Expression,
): { value: unknown } | undefined {
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e))
    return constantValue(ts, e.expression);
  if (ts.isStringLiteralLike(e)) return { value: e.text };
  if (ts.isNumericLiteral(e)) return { value: Number(e.text) };
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
    const v = constantValue(ts, e.operand);
    return typeof v?.value === 'number' ? { value: -v.value } : undefined;
  }
  if (e.kind === ts.SyntaxKind.TrueKeyword) return { value: true };
  if (e.kind === ts.SyntaxKind.FalseKeyword) return { value: false };
  if (e.kind === ts.SyntaxKind.NullKeyword) return { value: null };
  if (ts.isIdentifier(e) && e.text === 'undefined') return { value: undefined };
  if (ts.isVoidExpression(e)) return { value: undefined };
  if (ts.isArrayLiteralExpression(e)) {
    const items: unknown[] = [];
    for (const item of e.elements) {
      const v = constantValue(ts, item);
      if (!v) return undefined;
      items.push(v.value);
    }
    return { value: items };
  }
  if (ts.isObjectLiteralExpression(e)) {
    const object: Record<string, unknown> = {};
    for (const p of e.properties) {
      if (!ts.isPropertyAssignment(p) || ts.isComputedPropertyName(p.name)) return undefined;
      const v = constantValue(ts, p.initializer);
      if (!v) return undefined;
      object[p.name.text] = v.value;
    }
    return { value: object };
  }
  return undefined;
}

/** `throw <x>` and `reject(<x>)` / `Promise.reject(<x>)` sites whose value is not a `new …Error(…)`. */
function throwSites(ts: typeof import('typescript'), text: string): ThrowSite[] {
  const sf = ts.createSourceFile('m.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const sites: ThrowSite[] = [];
  const isErrorValue = (e: import('typescript').Expression) =>
    ts.isNewExpression(e) && /Error$/.test(e.expression.getText(sf));
  const add = (
    node: import('typescript').Node,
    value: import('typescript').Expression | undefined,
  ) => {
    if (!value || isErrorValue(value)) return;
    const at = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    const constant = constantValue(ts, value);
    sites.push({
      line: at.line + 1,
      column: at.character + 1,
      ...(constant ? { message: thrownMessage(constant.value) } : {}),
    });
  };
  // An explicit stack: generated modules may hold deeply nested code (no recursion depth limit).
  const walk = (visit: (node: import('typescript').Node) => void) => {
    const stack: import('typescript').Node[] = [sf];
    while (stack.length > 0) {
      const node = stack.pop()!;
      visit(node);
      node.forEachChild((child) => {
        stack.push(child);
      });
    }
  };
  // The names a `new Promise((resolve, reject) => …)` executor gives its reject function
  // (`rej('text')` inside a Promise.all's promises is a rejection too).
  const rejects = new Set<string>();
  walk((node) => {
    if (!ts.isNewExpression(node) || node.expression.getText(sf) !== 'Promise') return;
    const executor = node.arguments?.[0];
    if (!executor || !(ts.isArrowFunction(executor) || ts.isFunctionExpression(executor))) return;
    const name = executor.parameters[1]?.name;
    if (name && ts.isIdentifier(name)) rejects.add(name.text);
  });
  walk((node) => {
    if (ts.isThrowStatement(node)) add(node, node.expression);
    else if (
      ts.isCallExpression(node) &&
      (/(^|\.)reject$/.test(node.expression.getText(sf)) ||
        (ts.isIdentifier(node.expression) && rejects.has(node.expression.text)))
    )
      add(node, node.arguments[0]);
  });
  return sites.sort((a, b) => a.line - b.line);
}

/** The `//| check: <check>` line among the task's cells, in the notebook as it is now. */
function checkLocation(task: AnyTask, check: string): string | undefined {
  const file = notebookPath(task);
  let cells: { id?: unknown; source?: unknown }[];
  try {
    cells = (JSON.parse(readFileSync(file!, 'utf8')) as { cells: typeof cells }).cells;
  } catch {
    return undefined;
  }
  if (!Array.isArray(cells)) return undefined;
  const wanted = check.replace(/\s+/g, ' ').trim();
  for (const [i, cell] of cells.entries()) {
    if (typeof cell?.id !== 'string' || !task.source!.cells.includes(cell.id)) continue;
    const text = Array.isArray(cell.source)
      ? cell.source.join('')
      : typeof cell.source === 'string'
        ? cell.source
        : '';
    const line = text.split(/\r\n?|\n/).findIndex((l) => {
      const m = /^\s*\/\/\|\s*check\s*:(.*)$/.exec(l);
      return m !== null && m[1]!.replace(/\s+/g, ' ').trim() === wanted;
    });
    if (line >= 0)
      return `${task.source!.notebook}, cell ${i + 1} (id ${cell.id}), line ${line + 1}`;
  }
  return undefined;
}

/** `    at f (/abs/path/x.ts:12:5)` or `    at /abs/path/x.ts:12:5` → path, line and column. */
const FRAME = /^\s*at (?:.*\()?(\/[^()]+?\.[cm]?[tj]s):(\d+):(\d+)\)?$/;

/**
 * The top-level awaits of the compiled pipeline's modules (setup.ts, in the pipeline's generated
 * folder), as notebook positions: where a load that never settles waits (runtime/load/loader.ts
 * `setupNeverSettlesError`). Which of them is still pending cannot be known: all are named.
 */
export function setupAwaitLocations(
  pipelineFile: string,
  notebook: string,
  notebookFile: string,
): string[] {
  const folder = dirname(pipelineFile);
  const found: string[] = [];
  const ts = typescript();
  if (!ts) return found;
  let names: string[];
  try {
    names = readdirSync(folder).filter((n) => /\.[cm]?ts$/.test(n) && !n.endsWith('.test.ts'));
  } catch {
    return [];
  }
  for (const name of names.sort()) {
    const file = join(folder, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (!/\bawait\b/.test(text)) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: import('typescript').Node): void => {
      // An await inside a function waits only when the function is called: not the load's.
      if (ts.isFunctionLike(node) || ts.isClassLike(node)) return;
      const awaits =
        ts.isAwaitExpression(node) ||
        (ts.isForOfStatement(node) && node.awaitModifier !== undefined);
      if (awaits) {
        const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
        const at = moduleLineLocation(
          { notebook, file: notebookFile },
          file,
          line + 1,
          character + 1,
          0,
          text,
        );
        if (at && !found.includes(at)) found.push(at);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}
