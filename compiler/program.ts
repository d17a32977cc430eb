// compileNotebook: notebook text → CompileResult {files, diagnostics}, running the stages in order.
//
//   parseNotebook → tagCells → analyzeCells → linkCells → emitPlan → formatFiles
//
// Pure apart from lazily imported libraries: no disk, no clock. A `CompileMemory` carries cell
// analyses and formatted modules between calls (the warm process of `--watch`, or the on-disk
// cache the host loads), so editing one cell re-analyses one cell and re-formats only the modules
// whose text changed. A notebook with errors stops before emission: half a pipeline is worse
// than none.
import {
  isLocalSpecifier,
  moduleClockReads,
  type ModuleClockRead,
  type ReadModule,
} from './analyze/module-clock.js';
import { diagnostic, hasErrors, sortDiagnostics, suggest } from './diagnostics.js';
import { loadAnalyzer, loadTypeScript, PROGRAM_CELLS, type CellInput } from './analyze/cell.js';
import { moduleStateWrites, type ModuleStateWrite } from './analyze/module-state.js';
import type { ModuleState } from './plan/link.js';
import { sqlDiagnostics, sqlFacts, type SqlFacts } from './analyze/sql.js';
import { parseNotebook } from './notebook/parse.js';
import { tagCells } from './notebook/directives.js';
import { applyInjectedParams } from './plan/injected-params.js';
import { linkCells } from './plan/link.js';
import { emitPlan, type TaskModuleMemo } from './emit/pipeline.js';
import { EmitConflictError, fromNotebook } from './emit/task.js';
import { packageName } from './analyze/deno.js';
import { tslabImportDiagnostics } from './analyze/tslab-imports.js';
import {
  formatFiles,
  formatTypeScript,
  isModule,
  UNFORMATTED_NOTE,
  type FormatElsewhere,
  type FormatCache,
} from './emit/print.js';
import { rawOfAlike, type Formatted, type Shape } from './emit/shapes.js';
import type {
  CellAnalysis,
  CellRole,
  CompileResult,
  Diagnostic,
  EmittedFile,
  TaggedCell,
  TaskPlan,
} from './types.js';

/** Bump when the shape of analyses or emitted code changes: it keys the on-disk cache. */
export const COMPILER_VERSION = '0.1.0-26'; // -26: a Map/Set memo or lazy initialisation used as state (E_SETUP_STATE, E_MODULE_STATE): a value stored computed from a read of the same collection (a counter) or from what its key does not determine (a registry), `has`/`get` deciding a value besides the stored one (a first-time flag), `size` and iteration, a lazy `x ??= …` computed from the caller's arguments; -25: clock reads through `Temporal.Now`, a held `Intl.DateTimeFormat` (in the cell, or a setup cell's), a local module's namespace import, re-export, `export *` and default export; E_MODULE_STATE through an object's or class's methods, an alias of the state and a second local module; a change on a part names its receiver (`cfg.list.splice(...)`); -24: clock reads through setup values (`const YEAR = new Date().getFullYear()`) and the helpers and values using them, `Date.now` as a value, `Reflect.construct(Date, [])`, `Intl.DateTimeFormat().format()`, DuckDB's `current_localtimestamp()` and `ago(…)`, a local module's export reading the clock; E_SQL_QUOTED_PARAM; tasks named `_runs` or `_source.json` (E_RESERVED_NAME); -23: E_MODULE_STATE, a task changing a local module's value or calling its function that changes the module's top-level state; -22: clock reads (`Date.now()`…) with the setup helper they are in, W_TASK_READS_CLOCK for a task calling it; -21: task consts unique per pipeline and clear of setup, import, shared and type names, E_TASK_FILE_NAME for a task written to the pipeline's own files; -20: a local module a task or test cell imports for a value its code does not read is loaded by that module; -19: a local module setup imports for a value no task uses is loaded by setup.js and by every task using a module's value, and a module imported for its effects and for types only is still loaded; -18: a setup helper handing setup state to a function that changes its parameter; -17: a value handed to a function that changes its parameter, Date setters; -16: a `let` alias until rebound, destructured loop and callback variables, `Object.getPrototypeOf([]).x = …`; -15: changes through destructuring, a part taken by name, a literal taken apart, an IIFE parameter, a prototype alias, `count = count + 1` in a setup helper; -14: a part of a value handed to a setter (`Object.defineProperty(Array.prototype, …)`), a task named `__proto__`; -13: subpath imports (`#lib/x`) resolved by package.json `imports`; -12: E_GLOBAL_STATE, changes seen through parentheses and type assertions; -11: E_RESERVED_NAME (a task's `__proto__`); -10: setup's side-effect imports in every task and test module; -9: changes through a local const alias, borrowed mutators (`Array.prototype.push.call`, `.bind`) and reflective setters; -8: an index computed from the value itself is an append, not a memo key; -7: E_SETUP_STATE named at the calling task; -6: setup helpers called only while loading (Mutation.inside, loadTimeCalls); -5: Deno shim uses, import versions and columns; -4: callable consts; -3: display-only statements, aliases, SQL problems

export interface CompileMemory {
  /** Cell analyses by `role + '\0' + code` (an analysis depends on nothing else). */
  analyses: Map<string, CellAnalysis>;
  /** Formatted module text by unformatted text. */
  formatted: Map<string, string>;
  /** Tables read, by dialect + SQL templates. */
  sql: Map<string, SqlFacts>;
  /**
   * A task module's unformatted-text key (a `formatted` key) by the key of what it was emitted
   * from (emit/task.ts `planInputs` and `taskModuleInputs`): an unchanged task is not emitted again.
   */
  emitted: Map<string, string>;
}

export const newMemory = (): CompileMemory => ({
  analyses: new Map(),
  formatted: new Map(),
  sql: new Map(),
  emitted: new Map(),
});

export interface CompileOptions {
  /** The notebook's folder relative to `<out>/<stem>/`, forward slashes (pipeline `workdir`). */
  workdir: string;
  memory?: CompileMemory;
  /** Shortens memory keys (the host passes sha-256 so the on-disk cache stays small). */
  hash?: (text: string) => string;
  /** Tasks with a recorded fixture (generated/<stem>/__fixtures__/<task>.fixture.json): each gets a replay test. */
  fixtures?: readonly string[];
  /** Skip formatting (tests of the raw emitter). */
  format?: boolean;
  /**
   * Can a module in `<out>/<stem>/` import this specifier (bare, or relative as rebased onto
   * `workdir`)? The host answers from the disk (host.ts `importResolver`); without it imports are
   * not checked. A no is E_UNRESOLVED_IMPORT on the importing cell, at compile time.
   */
  canImport?: (specifier: string) => boolean;
  /**
   * For a bare specifier `canImport` refused: the `paths` pattern of the project's tsconfig.json
   * that maps it and that file (host.ts `tsconfigPaths`), which Cellar does not follow (nor does
   * Node at run time), so the error says that rather than "not installed".
   */
  pathsAlias?: (specifier: string) => { pattern: string; file: string } | undefined;
  /**
   * The named exports of a Node built-in module (`node:fs` or `fs`) on the Node running the
   * compile, or undefined when the specifier is no built-in. The host answers by loading the
   * module (host.ts `builtinExports`); without it, names imported from built-ins are not checked.
   * A name missing there and used as a value is E_MISSING_BUILTIN_EXPORT at compile time.
   */
  builtinExports?: (specifier: string) => BuiltinExports | undefined;
  /** Another thread to format on (print.ts `FormatElsewhere`); default: all on this one. */
  formatElsewhere?: FormatElsewhere;
  /**
   * Another thread to analyse cells on (`AnalyzeElsewhere`); default: all on this one. A few cells
   * (an incremental compile) all go there, where TypeScript loaded while this thread read the
   * cache; many are split by whole programs between the two threads.
   */
  analyzeElsewhere?: AnalyzeElsewhere;
  /**
   * `formatElsewhere` has Prettier loaded (or will before this thread could): send it every module
   * to format, not only the biggest, unless both threads share a large amount.
   */
  formatAllElsewhere?: boolean;
  /**
   * Awaited once the plan is linked, before any module is emitted (and `recall` asked): the host
   * finishes reading back the recorded modules there, which another thread read meanwhile.
   */
  beforeEmit?: () => Promise<void>;
  /**
   * A formatted module an earlier compile wrote, by memory key (the hash of its unformatted
   * text), when the memory does not hold it: the host reads it back from generated/ and checks
   * its bytes against the hash it recorded, so its cache need not keep every module's text.
   */
  recall?: (key: string) => string | undefined;
  /**
   * A project module's text, for a relative import (from the notebook's folder when `from` is
   * undefined, else from that module), its project-relative path as the messages name it: the
   * host reads it (host.ts `moduleTextReader`). Without it local modules are not read: neither
   * scanned for clock reads (W_TASK_READS_CLOCK) nor judged for the state their functions change
   * (E_MODULE_STATE).
   */
  readModule?: ReadModule;
}

/**
 * `analyzeCells` of the analyser on another thread: the same analyses, in the same order, for
 * the same inputs (an analysis depends only on its cell and the cells sharing its program, and
 * the split keeps programs whole), with no stack to run out of (the host's thread has a large one).
 */
export type AnalyzeElsewhere = (cells: CellInput[]) => Promise<CellAnalysis[]>;

/** What a Node built-in module exports on the Node running the compile (host.ts `builtinExports`). */
export interface BuiltinExports {
  names: ReadonlySet<string>;
  /** `process.versions.node` of that Node, e.g. `20.20.2`. */
  nodeVersion: string;
}

export interface CompileStats {
  cells: number;
  analyzed: number;
  formatted: number;
  /** Task modules emitted, not recalled from an earlier compile of the same inputs (counted
   *  when a compile may recall them: one given a hash, and formatting). */
  emitted: number;
  /**
   * Memory keys this compile used: what a cache needs to keep for the next one. `modules` pairs
   * each formatted module's path with the key of its unformatted text (what `recall` is asked).
   */
  used: {
    analyses: string[];
    formatted: string[];
    sql: string[];
    modules: [string, string][];
    /** [emit inputs key, unformatted-text key] of every task module (`CompileMemory.emitted`). */
    emitted: [string, string][];
  };
  /** Work that ran out of stack here (see DeepWork); absent when there was none. */
  deep?: DeepWork;
}

/**
 * The pieces of a compile that exhausted the stack: TypeScript's parser and Prettier's printer
 * recurse once per nesting level, so a 750-deep expression or a 5,000-term sum can overflow the
 * default stack. They are left out of the memory, so that a compile after `doDeepWork` (which
 * the host runs on a thread with a large stack) finds them there and redoes nothing else.
 */
export interface DeepWork {
  /** Cells whose analysis failed for lack of stack. */
  cells: CellInput[];
  /** Unformatted modules Prettier could not print for lack of stack. */
  modules: string[];
}

/** Messages of errors that mean "out of stack", not "wrong input". */
export const STACK_EXHAUSTED = /Maximum call stack size exceeded/;

const emptyStats = (): CompileStats => ({
  cells: 0,
  analyzed: 0,
  formatted: 0,
  emitted: 0,
  used: { analyses: [], formatted: [], sql: [], modules: [], emitted: [] },
});

// What a cell's analysis depends on: its code, and whether it is a params cell (literal consts
// only) or a setup cell (the state its classes and closures keep, `keptState`); a cell's code has
// its directive lines blanked, so a setup cell and a task's continuation can be the same text.
const analysisText = (cell: Pick<TaggedCell, 'role' | 'code' | 'injected'>) =>
  `${cell.role === 'params' || cell.role === 'setup' ? cell.role : cell.injected ? 'params' : 'code'}\0${cell.code}`;
/** The role a cell is analysed in: an injected-parameters cell as a params cell (literal consts). */
const analysisRole = (cell: TaggedCell): CellRole => (cell.injected ? 'params' : cell.role);

/** Put this cell's place on a (possibly cached) analysis and its diagnostics. */
function stamp(a: CellAnalysis, cell: TaggedCell, notebook: string): CellAnalysis {
  return {
    ...a,
    index: cell.index,
    diagnostics: a.diagnostics.map((d) => ({
      ...d,
      notebook,
      cell: cell.index + 1,
      ...(cell.id ? { cellId: cell.id } : {}),
    })),
  };
}

export async function compileNotebook(
  path: string,
  text: string,
  options: CompileOptions,
): Promise<Compiled> {
  try {
    return await compileStages(path, text, options);
  } catch (error) {
    // A compiler bug becomes a diagnostic naming the notebook, never a crash of `--watch`.
    const detail = error instanceof Error ? error.message : String(error);
    // A generated module that could not load names the cell it came from (emit/task.ts).
    const at =
      error instanceof EmitConflictError
        ? { notebook: path, cell: error.cell.index + 1, cellId: error.cell.id }
        : { notebook: path };
    return {
      notebook: path,
      files: [],
      diagnostics: [
        diagnostic('error', 'E_INTERNAL', at, `the compiler failed: ${detail}`, {
          hint:
            error instanceof EmitConflictError
              ? 'please report it with the notebook; until then, give one of the two another name in the notebook'
              : 'please report it with the notebook',
        }),
      ],
      stats: emptyStats(),
    };
  }
}

type Compiled = CompileResult & { stats: CompileStats };

/** One compile's shared state: where the memory is, what it used, the diagnostics so far. */
interface CompileRun {
  path: string;
  options: CompileOptions;
  memory: CompileMemory;
  hash: (text: string) => string;
  stats: CompileStats;
  diagnostics: Diagnostic[];
  /**
   * The memory key each compiled cell's analysis was taken by (the analysis stage's), by cell
   * index: the analysis is the memory's entry under it, stamped with the cell's place.
   */
  analysisKeys: Map<number, string>;
}

/** The stages in order; each returns early (with no files) when the notebook has errors. */
async function compileStages(
  path: string,
  text: string,
  options: CompileOptions,
): Promise<Compiled> {
  const run: CompileRun = {
    path,
    options,
    memory: options.memory ?? newMemory(),
    hash: options.hash ?? ((t: string) => t),
    stats: emptyStats(),
    diagnostics: [],
    analysisKeys: new Map(),
  };
  const stopped = (plan?: TaskPlan): Compiled => ({
    notebook: path,
    files: [],
    diagnostics: sortDiagnostics(run.diagnostics),
    ...(plan ? { plan } : {}),
    stats: run.stats,
  });

  const parsed = parseNotebook(path, text);
  if (!parsed.notebook || hasErrors(parsed.diagnostics))
    return { notebook: path, files: [], diagnostics: parsed.diagnostics, stats: run.stats };
  const notebook = parsed.notebook;
  run.stats.cells = notebook.cells.length;
  const tagged = tagCells(notebook);
  run.diagnostics.push(...parsed.diagnostics, ...tagged.diagnostics);
  if (!tagged.hasDirectives) {
    run.diagnostics.push(
      diagnostic(
        'note',
        'W_NO_DIRECTIVES',
        { notebook: path },
        'no cell carries a directive, so there is nothing to compile',
        {
          hint: 'start a task by putting `//| task: <name>` on the first line of a code cell (see the directive reference in README.md)',
        },
      ),
    );
    return { notebook: path, files: [], diagnostics: run.diagnostics, stats: run.stats };
  }

  const analyses = await analyzeStage(run, tagged.cells);
  // Before anything reads the params: the injected values are their defaults.
  run.diagnostics.push(...applyInjectedParams(path, tagged.cells, analyses));
  if (options.canImport)
    importStage(run, tagged.cells, analyses, options.canImport, options.pathsAlias);
  if (options.builtinExports) builtinStage(run, tagged.cells, analyses, options.builtinExports);
  run.diagnostics.push(...tslabImportDiagnostics(path, notebook.kernel, tagged.cells, analyses));
  if (hasErrors(run.diagnostics)) return stopped();
  await sqlStage(run, tagged.cells, analyses);

  const moduleState = options.readModule
    ? await moduleStateStage(analyses, options.readModule)
    : undefined;
  const linked = linkCells({
    notebook: path,
    stem: notebook.stem,
    cells: tagged.cells,
    analyses,
    ...(moduleState ? { moduleState } : {}),
    ...(options.readModule ? { moduleClock: moduleClockStage(analyses, options.readModule) } : {}),
    kernel: notebook.kernel,
    language: notebook.language,
  });
  run.diagnostics.push(...linked.diagnostics);
  if (!linked.plan || hasErrors(run.diagnostics)) return stopped(linked.plan);
  const plan = linked.plan;
  if (plan.tasks.length === 0) {
    run.diagnostics.push(
      diagnostic(
        'note',
        'W_NO_DIRECTIVES',
        { notebook: path },
        'the notebook has directives but no `//| task:` cell, so there is nothing to compile',
        {
          hint: 'start a task by putting `//| task: <name>` on the first line of a code cell',
        },
      ),
    );
    return stopped(plan);
  }

  await options.beforeEmit?.();
  // Task modules emitted (and formatted) before from the same inputs come back formatted.
  const recalled = new Map<EmittedFile, string>();
  const raw = emitPlan(
    {
      plan,
      cells: new Map(tagged.cells.map((c) => [c.index, c])),
      analyses,
      workdir: options.workdir,
      // Only with a real hash, as the memo below: the keys stand for analyses in its inputs.
      ...(options.hash ? { analysisKeys: run.analysisKeys } : {}),
    },
    options.fixtures,
    // Only with a real hash: the default (the text itself) would keep every module's inputs.
    options.format === false || !options.hash ? undefined : taskModuleMemo(run, recalled),
  );
  const files = options.format === false ? raw : await formatStage(run, raw, recalled);
  return {
    notebook: path,
    files,
    diagnostics: sortDiagnostics(run.diagnostics),
    plan,
    stats: run.stats,
  };
}

/** Analyze every compiled cell, reusing what the memory holds; stamp each with its place. */
async function analyzeStage(
  run: CompileRun,
  cells: TaggedCell[],
): Promise<Map<number, CellAnalysis>> {
  const { memory } = run;
  const compiled = cells.filter(
    (c) => (c.role !== 'markdown' && c.role !== 'explore') || c.injected,
  );
  // One hash per cell (each key is asked for three times below).
  const keys = new Map(compiled.map((c) => [c, run.hash(analysisText(c))]));
  const analysisKey = (c: TaggedCell) => keys.get(c)!;
  const missing = compiled.filter((c) => !memory.analyses.has(analysisKey(c)));
  // Analyses that ran out of stack, by cell index: reported, never remembered (see DeepWork).
  const outOfStack = new Map<number, CellAnalysis>();
  if (missing.length) {
    const inputs = missing.map((c): CellInput => ({
      index: c.index,
      role: analysisRole(c),
      code: c.code,
    }));
    const fresh = await analyzeInputs(inputs, run.options.analyzeElsewhere);
    missing.forEach((c, i) => {
      if (exhaustedStack(fresh[i]!.diagnostics)) outOfStack.set(c.index, fresh[i]!);
      else memory.analyses.set(analysisKey(c), fresh[i]!);
    });
    run.stats.analyzed = missing.length;
    if (outOfStack.size) deepWork(run).cells.push(...inputs.filter((c) => outOfStack.has(c.index)));
  }
  run.stats.used.analyses = compiled.map(analysisKey);
  const analyses = new Map(
    compiled.map((c) => {
      const a = outOfStack.get(c.index) ?? memory.analyses.get(analysisKey(c))!;
      return [c.index, stamp(a, c, run.path)];
    }),
  );
  for (const c of compiled)
    if (!outOfStack.has(c.index)) run.analysisKeys.set(c.index, analysisKey(c));
  for (const a of analyses.values()) run.diagnostics.push(...a.diagnostics);
  return analyses;
}

/**
 * `analyzeCells(inputs)`, with `elsewhere` taking a share: all of them when there are fewer than
 * two programs' worth (this thread need not load TypeScript at all), else the cells after the
 * first whole programs making about half, which the two threads analyse at once. Programs are
 * cut where `analyzeCells` cuts them, so each cell shares its program with the same cells as
 * when one thread does everything (a `declare global` in one cell is seen by its program).
 */
async function analyzeInputs(
  inputs: CellInput[],
  elsewhere: AnalyzeElsewhere | undefined,
): Promise<CellAnalysis[]> {
  if (!elsewhere) return (await loadAnalyzer()).analyzeCells(inputs);
  const here = Math.floor(inputs.length / 2 / PROGRAM_CELLS) * PROGRAM_CELLS;
  if (here === 0) return elsewhere(inputs);
  const away = elsewhere(inputs.slice(here));
  away.catch(() => {}); // awaited below; not an unhandled rejection if this thread throws first
  const mine = (await loadAnalyzer()).analyzeCells(inputs.slice(0, here));
  return [...mine, ...(await away)];
}

/** Did a stage report running out of stack (an E_INTERNAL naming it)? */
export const exhaustedStack = (diagnostics: readonly Diagnostic[]): boolean =>
  diagnostics.some((d) => d.code === 'E_INTERNAL' && STACK_EXHAUSTED.test(d.message));

function deepWork(run: CompileRun): DeepWork {
  run.stats.deep ??= { cells: [], modules: [] };
  return run.stats.deep;
}

/**
 * SQL facts of each task cell with sql`…` templates, in its task's dialect: `sqlReads` on the
 * cell's analysis and W_SQL_SYNTAX warnings. The parser loads only when some cell has templates.
 */
async function sqlStage(
  run: CompileRun,
  cells: TaggedCell[],
  analyses: Map<number, CellAnalysis>,
): Promise<void> {
  for (const c of cells) {
    const a = analyses.get(c.index);
    if (!a || c.role !== 'task' || a.sqlTemplates.length === 0) continue;
    const dialect = cells.find(
      (t) => t.role === 'task' && t.task === c.task && t.directives.dialect,
    )?.directives.dialect;
    const own = a.sqlTemplateDialects;
    const paramAt = a.sqlTemplateParamAt;
    const key = run.hash(
      `${dialect ?? ''}\0${own ? own.join(',') : ''}\0${a.sqlTemplates.join('\0')}\0${JSON.stringify(paramAt ?? null)}`,
    );
    if (!run.memory.sql.has(key))
      run.memory.sql.set(key, await sqlFacts(a.sqlTemplates, dialect, own, paramAt));
    run.stats.used.sql.push(key);
    const facts = run.memory.sql.get(key)!;
    // The templates' clock calls join the cell's own (`Date.now()`), on the cell's line.
    const clockReads = [
      ...(a.clockReads ?? []),
      ...facts.clock.map((r) => {
        const start = a.sqlTemplateAt?.[r.template];
        return { call: r.call, line: start ? start.line + r.line - 1 : 1 };
      }),
    ];
    analyses.set(c.index, {
      ...a,
      sqlReads: facts.reads,
      sqlFiles: facts.files ?? [],
      ...(clockReads.length > 0 ? { clockReads } : {}),
    });
    run.diagnostics.push(...sqlDiagnostics(run.path, c, a, facts, dialect));
  }
}

/**
 * Per cell, the names it imports from a local module whose use reads the clock (`import { today }
 * from './lib/time.js'`), for W_TASK_READS_CLOCK; each module scanned once per compile.
 */
function moduleClockStage(
  analyses: ReadonlyMap<number, CellAnalysis>,
  readModule: ReadModule,
): Map<number, Map<string, ModuleClockRead>> {
  const seen = new Map<string, Map<string, ModuleClockRead>>();
  const out = new Map<number, Map<string, ModuleClockRead>>();
  for (const [index, a] of analyses)
    for (const imp of a.imports) {
      if (!isLocalSpecifier(imp.module)) continue;
      const reads = moduleClockReads(readModule, undefined, imp.module, seen);
      for (const b of imp.bindings) {
        if (b.typeOnly) continue;
        // `today`, and for a namespace (`import * as t`, or a module's `export * as t`) the
        // members read on it, `t.today`.
        for (const [name, r] of reads) {
          const local =
            b.imported === '*'
              ? `${b.local}.${name}`
              : name === b.imported
                ? b.local
                : name.startsWith(`${b.imported}.`)
                  ? b.local + name.slice(b.imported.length)
                  : undefined;
          if (local === undefined) continue;
          if (!out.has(index)) out.set(index, new Map());
          out.get(index)!.set(local, r);
        }
      }
    }
  return out;
}

/**
 * E_UNRESOLVED_IMPORT for each import of a compiled cell that the generated module could not
 * load: a package the project does not have (the hint: `npm install name@version`, the version
 * Deno's `npm:name@version` named, else `npm install name`), or a relative module missing from
 * the notebook's folder. Without this the first sign is Node's "Cannot find package … imported
 * from generated/…" at run time. `node:` builtins and `cellar` (the running runtime serves it
 * when the project has none, runtime/load/bundle.ts) are not checked.
 */
function importStage(
  run: CompileRun,
  cells: TaggedCell[],
  analyses: Map<number, CellAnalysis>,
  canImport: (specifier: string) => boolean,
  pathsAlias: CompileOptions['pathsAlias'],
): void {
  const verdicts = new Map<string, boolean>();
  for (const c of cells) {
    for (const imp of analyses.get(c.index)?.imports ?? []) {
      const spec = fromNotebook(run.options.workdir, imp.module);
      if (imp.module.startsWith('node:') || imp.module === 'cellar') continue;
      if (!verdicts.has(spec)) verdicts.set(spec, canImport(spec));
      if (verdicts.get(spec)) continue;
      const where = {
        notebook: run.path,
        cell: c.index + 1,
        cellId: c.id,
        line: imp.line,
        column: imp.column,
      };
      const snippet = c.code.split('\n')[imp.line - 1] ?? '';
      const pkg = packageName(imp.module);
      const alias = pkg ? pathsAlias?.(imp.module) : undefined;
      run.diagnostics.push(
        alias
          ? diagnostic(
              'error',
              'E_UNRESOLVED_IMPORT',
              where,
              `\`${imp.module}\` matches \`${alias.pattern}\` in the \`paths\` of ${alias.file}, which Cellar does not follow (nor does Node when the pipeline runs)`,
              {
                hint: 'import the file by a relative path, or map it in package.json ("imports": { "#lib/*": "./notebooks/lib/*" }) and import `#lib/…`',
                snippet,
              },
            )
          : imp.module.startsWith('#')
            ? diagnostic(
                'error',
                'E_UNRESOLVED_IMPORT',
                where,
                `\`${imp.module}\` is a subpath import, and no entry of the \`imports\` field of the project's package.json maps it to a file that exists`,
                {
                  hint: 'add a mapping to package.json ("imports": { "#lib/*": "./notebooks/lib/*" }) that points at the file, or import the file by a relative path',
                  snippet,
                },
              )
            : pkg
              ? diagnostic(
                  'error',
                  'E_UNRESOLVED_IMPORT',
                  where,
                  `package \`${pkg}\` is not installed in the project, so \`${imp.module}\` cannot be imported`,
                  {
                    hint: `run \`npm install ${pkg}${imp.version ? `@${imp.version}` : ''}\` in the project folder`,
                    snippet,
                  },
                )
              : diagnostic(
                  'error',
                  'E_UNRESOLVED_IMPORT',
                  where,
                  `\`${imp.module}\` does not exist next to the notebook (the generated module would import \`${spec}\`)`,
                  {
                    hint: "relative imports resolve from the notebook's folder: fix the path or add the file",
                    snippet,
                  },
                ),
      );
    }
  }
}

/**
 * The state changes of each local module (a relative import, `./lib/counter.js`) the compiled
 * cells import, by the specifier as written: for link.ts to refuse a task calling an exported
 * function that changes module-level state (E_MODULE_STATE). TypeScript is loaded only when some
 * cell imports a local module.
 */
async function moduleStateStage(
  analyses: Map<number, CellAnalysis>,
  readModule: ReadModule,
): Promise<ModuleState | undefined> {
  const specs = new Set<string>();
  for (const a of analyses.values())
    for (const imp of a.imports)
      if (isLocalSpecifier(imp.module) && imp.bindings.some((b) => !b.typeOnly))
        specs.add(imp.module);
  if (specs.size === 0) return undefined;
  const ts = await loadTypeScript();
  // Each module judged once, by path; one it imports is judged first (`MODULE_DEPTH` deep), so
  // a function calling another module's changing one counts; a cycle sees nothing of itself.
  const judged = new Map<string, Map<string, ModuleStateWrite>>();
  const judge = (from: string | undefined, spec: string, depth: number) => {
    const found = readModule(from, spec);
    if (!found) return undefined;
    let writes = judged.get(found.path);
    if (!writes) {
      judged.set(found.path, new Map());
      try {
        writes = moduleStateWrites(
          ts,
          found.text,
          found.path,
          depth < MODULE_DEPTH ? (s) => judge(found.path, s, depth + 1) : undefined,
        );
      } catch {
        writes = new Map(); // a module TypeScript cannot walk (too deep): not judged
      }
      judged.set(found.path, writes);
    }
    return { file: found.path, writes };
  };
  const out = new Map<string, { file: string; writes: Map<string, ModuleStateWrite> }>();
  for (const spec of specs) {
    const found = judge(undefined, spec, 0);
    if (found && found.writes.size > 0) out.set(spec, found);
  }
  return out;
}

/** How many local modules deep E_MODULE_STATE follows imports (as W_TASK_READS_CLOCK does). */
const MODULE_DEPTH = 4;

/**
 * E_MISSING_BUILTIN_EXPORT for each name a compiled cell imports from a Node built-in module that
 * the running Node's module does not export (`globSync` of `node:fs` imported on Node 20,
 * where @types/node may still declare it): without this the pipeline compiles, type-checks and
 * fails when it loads, with Node's "does not provide an export named" and no cell. Names used
 * only as types (`PathLike`) are erased from the generated code and not checked.
 */
function builtinStage(
  run: CompileRun,
  cells: TaggedCell[],
  analyses: Map<number, CellAnalysis>,
  builtinExports: (specifier: string) => BuiltinExports | undefined,
): void {
  // Names read as values anywhere: gathered from every reference in the notebook, so only once a
  // name imported from a built-in is found missing there (most notebooks import none).
  let valueNames: Set<string> | undefined;
  const readAsValue = (name: string) => {
    if (!valueNames) {
      valueNames = new Set();
      for (const a of analyses.values())
        for (const r of a.references) if (r.meaning === 'value') valueNames.add(r.name);
    }
    return valueNames.has(name);
  };
  for (const c of cells) {
    for (const imp of analyses.get(c.index)?.imports ?? []) {
      const builtin = builtinExports(imp.module);
      if (builtin === undefined) continue;
      for (const b of imp.bindings) {
        if (b.typeOnly || b.imported === 'default' || b.imported === '*') continue;
        if (builtin.names.has(b.imported) || !readAsValue(b.local)) continue;
        // The line holding the name (an import may span lines), else the statement's first.
        const lines = c.code.split('\n');
        const word = new RegExp(`\\b${b.imported}\\b`);
        let line = imp.line;
        for (let i = imp.line - 1; i < lines.length; i++)
          if (word.test(lines[i]!)) {
            line = i + 1;
            break;
          }
        const snippet = lines[line - 1] ?? '';
        const column = snippet.search(word);
        run.diagnostics.push(
          diagnostic(
            'error',
            'E_MISSING_BUILTIN_EXPORT',
            {
              notebook: run.path,
              cell: c.index + 1,
              cellId: c.id,
              line,
              ...(column >= 0 ? { column: column + 1 } : {}),
            },
            `\`${imp.module}\` has no export \`${b.imported}\` on Node ${builtin.nodeVersion} (the one compiling), so the pipeline could not load`,
            {
              hint: builtinHint(imp.module, b.imported, builtin.names),
              snippet,
            },
          ),
        );
      }
    }
  }
}

/** The fix for a name a built-in lacks: a close name it does export (a typo), else a newer Node or
 *  a way without it. */
function builtinHint(module: string, name: string, names: ReadonlySet<string>): string {
  const near = suggest(name, names);
  if (near !== undefined) return `did you mean \`${near}\`?`;
  const without =
    name === 'globSync' || name === 'glob'
      ? ' (for a glob: `readdirSync(dir, { recursive: true })` filtered by name, or the `glob` package)'
      : '';
  return `run on a Node version whose \`${module}\` exports \`${name}\` (the Node docs say "Added in" for it), or do without it${without}`;
}

/**
 * Prettier over the emitted files, through the memory (unchanged text is not formatted again). A
 * module Prettier could not print for lack of stack is not remembered (see DeepWork).
 */
/**
 * The memory of task modules (`CompileMemory.emitted`) as emit asks it. A module is recalled only
 * while its formatted text is at hand (in the memory, or read back through `recall` and checked
 * against the hash the last compile recorded); `recalled` gets each one recalled, with its
 * unformatted-text key, so the format stage passes it through and the cache keeps it.
 */
function taskModuleMemo(run: CompileRun, recalled: Map<EmittedFile, string>): TaskModuleMemo {
  const { memory, stats, hash } = run;
  return {
    forPlan(planText) {
      const planKey = hash(planText);
      const keyOf = (taskText: string) => hash(`${planKey}\0${taskText}`);
      return {
        recall(taskText, path) {
          const key = keyOf(taskText);
          const rawKey = memory.emitted.get(key);
          if (rawKey === undefined) return undefined;
          let contents = memory.formatted.get(rawKey);
          if (contents === undefined && run.options.recall) {
            contents = run.options.recall(rawKey);
            if (contents !== undefined) memory.formatted.set(rawKey, contents);
          }
          if (contents === undefined) return undefined;
          stats.used.emitted.push([key, rawKey]);
          stats.used.formatted.push(rawKey);
          const file = { path, contents };
          recalled.set(file, rawKey);
          return file;
        },
        emitted(taskText, file) {
          stats.emitted++;
          const key = keyOf(taskText);
          const rawKey = hash(file.contents);
          memory.emitted.set(key, rawKey);
          stats.used.emitted.push([key, rawKey]);
        },
      };
    },
  };
}

async function formatStage(
  run: CompileRun,
  raw: EmittedFile[],
  /** Files that come formatted already (recalled task modules), with their unformatted-text key. */
  recalled: ReadonlyMap<EmittedFile, string> = new Map(),
): Promise<EmittedFile[]> {
  // Each module's text is looked up twice (what to format, then the result): hash it once.
  const keys = new Map<string, string>();
  const keyOf = (text: string) => {
    let key = keys.get(text);
    if (key === undefined) keys.set(text, (key = run.hash(text)));
    return key;
  };
  const { recall } = run.options;
  const cache: FormatCache = {
    get: (k) => {
      const key = keyOf(k);
      run.stats.used.formatted.push(key);
      let formatted = run.memory.formatted.get(key);
      if (formatted === undefined && recall) {
        formatted = recall(key);
        if (formatted !== undefined) run.memory.formatted.set(key, formatted);
      }
      return formatted;
    },
    set: (k, v) => {
      run.stats.formatted++;
      if (v.startsWith(UNFORMATTED_NOTE)) deepWork(run).modules.push(k);
      else run.memory.formatted.set(keyOf(k), v);
    },
  };
  for (const f of raw)
    if (isModule(f)) run.stats.used.modules.push([f.path, recalled.get(f) ?? keyOf(f.contents)]);
  const { formatElsewhere, formatAllElsewhere } = run.options;
  if (recalled.size === 0) return formatFiles(raw, cache, formatElsewhere, formatAllElsewhere);
  const formatted = await formatFiles(
    raw.filter((f) => !recalled.has(f)),
    cache,
    formatElsewhere,
    formatAllElsewhere,
    alikeAmong(recalled, keyOf),
  );
  const byPath = new Map(formatted.map((f) => [f.path, f]));
  return raw.map((f) => (recalled.has(f) ? f : byPath.get(f.path)!));
}

/**
 * For a module to format, a recalled one of its shape (print.ts `formatFiles`): a changed cell's
 * module is most often like a module that did not change (`v21.ts`, `v20.ts`), so Prettier need
 * not run. Candidates are the recalled modules at a path alike but for its digits (a few); one
 * is taken when the unformatted text its words give (shapes.ts `rawOfAlike`) hashes to the key
 * it was recalled by, so its output is Prettier's for that text.
 */
function alikeAmong(
  recalled: ReadonlyMap<EmittedFile, string>,
  keyOf: (text: string) => string,
): (file: EmittedFile, shape: Shape) => Formatted | undefined {
  let byPath: Map<string, EmittedFile[]> | undefined;
  const pathShape = (path: string) => path.replace(/[0-9]/g, '0');
  return (file, shape) => {
    if (!byPath) {
      byPath = new Map();
      for (const f of recalled.keys()) {
        const key = pathShape(f.path);
        const list = byPath.get(key);
        if (!list) byPath.set(key, [f]);
        else if (list.length < ALIKE_TRIES) list.push(f);
      }
    }
    for (const other of byPath.get(pathShape(file.path)) ?? []) {
      const raw = rawOfAlike(shape, file.contents, other.contents);
      if (raw !== undefined && keyOf(raw) === recalled.get(other))
        return { raw, formatted: other.contents };
    }
    return undefined;
  };
}

/** Recalled modules tried per module to format (each a scan and a hash of one module). */
const ALIKE_TRIES = 3;

/**
 * Do the work a compile left in `stats.deep`, as memory entries (keyed as a compile keys them):
 * run by the host on a thread with a large stack, after which compiling again with these entries
 * in the memory redoes nothing else. Pure; the same entries wherever it runs, given the stack.
 */
export async function doDeepWork(
  work: DeepWork,
  hash: (text: string) => string,
): Promise<Pick<CompileMemory, 'analyses' | 'formatted'>> {
  const analyses = new Map<string, CellAnalysis>();
  if (work.cells.length) {
    const fresh = (await loadAnalyzer()).analyzeCells(work.cells);
    work.cells.forEach((c, i) => analyses.set(hash(analysisText(c)), fresh[i]!));
  }
  const formatted = new Map<string, string>();
  for (const text of work.modules) formatted.set(hash(text), await formatTypeScript(text));
  return { analyses, formatted };
}
