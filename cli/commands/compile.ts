// `cellar compile [paths...] [--check] [--watch] [--out generated]`, and `ensureCompiled`, which
// `cellar run <notebook.ipynb>` uses to compile a notebook first when it is stale.
//
// A thin layer over compiler/host.ts: parse flags, print diagnostics and a one-line summary per
// notebook, set the exit code (0 ok, 1 diagnostics with errors or `--check` differences, 2 bad
// usage). `--watch` keeps one process (and ts-morph, Prettier, the cell analyses) warm and
// recompiles a notebook when it is saved.
import { existsSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatDiagnostic, hasErrors } from '../../compiler/diagnostics.js';
import {
  checkOutcome,
  compileFile,
  compilerFingerprint,
  duplicateOutputs,
  foreignOutput,
  findNotebooks,
  NotFoundError,
  fixtureTasks,
  outputRoot,
  projectRoot,
  settleOrphans,
  staleNotebook,
  writeOutcome,
  WriteError,
  type NotebookOutcome,
} from '../../compiler/host.js';
import { newMemory, type CompileMemory } from '../../compiler/program.js';
import { defineCommand } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { freshPipeline, recordStamps, type FreshnessFacts } from '../compile-stamps.js';
import { resolvesCellar } from '../../runtime/load/bundle.js';

const USAGE = `usage: cellar compile [paths...] [--check] [--watch] [--typecheck] [--out <dir>]

Compile tagged notebooks into <out>/<notebook>/ (default: the project's notebooks/ into its generated/; the project is the folder with package.json).

  --check   compile in memory and fail (exit 1) if <out> differs from what the notebooks compile to
  --watch   stay running and recompile a notebook each time it is saved
  --typecheck  also type-check the generated modules with TypeScript (the project's tsconfig.json,
            else strict defaults) and fail (exit 1) on a type error, named by notebook cell and line
  --out     output folder (default: generated/ in the project root, the folder with package.json)`;

interface CompileArgs {
  paths: string[];
  check: boolean;
  watch: boolean;
  typecheck: boolean;
  /** Undefined: <project root>/generated, wherever the command is started from. */
  out: string | undefined;
}

/** The command line as `compileOnce` and `watchLoop` use it. */
function compileArgs(
  values: { check: boolean; watch: boolean; typecheck: boolean; out?: string },
  positionals: string[],
): CompileArgs {
  if (values.check && values.watch)
    throw new CliError('--check and --watch cannot go together', 'E_USAGE');
  if (values.out === '') throw new CliError('--out needs a folder', 'E_USAGE');
  // Default: the project's notebooks/ folder, from wherever in the project the command is run.
  const paths =
    positionals.length > 0
      ? positionals
      : [relative(process.cwd(), join(projectRoot(process.cwd()), 'notebooks')) || '.'];
  return {
    paths,
    check: values.check,
    watch: values.watch,
    typecheck: values.typecheck,
    out: values.out,
  };
}

/** Every diagnostic goes to stderr (warnings too, like compilers do): stdout keeps the summary lines. */
function printDiagnostics(outcome: NotebookOutcome): void {
  for (const d of outcome.diagnostics) console.error(formatDiagnostic(d));
}

function summary(outcome: NotebookOutcome, outDirRel: string, ms: number, written: number): string {
  if (hasErrors(outcome.diagnostics)) {
    const n = outcome.diagnostics.filter((d) => d.severity === 'error').length;
    return `✗ ${outcome.notebook}: ${n} error${n === 1 ? '' : 's'}, nothing written`;
  }
  if (outcome.files.length === 0) return `- ${outcome.notebook}: nothing to compile`;
  const how = outcome.cached ? 'up to date' : `${outcome.stats?.analyzed ?? 0} cell(s) analysed`;
  return `✓ ${outcome.notebook} → ${outDirRel}/${outcome.stem}/ (${outcome.files.length} files, ${written} written; ${how}) in ${Math.round(ms)} ms`;
}

const unresolvedWarned = new Set<string>();

/** Generated code outside any project with cellar installed: what still works, and the fix. */
export function cellarUnresolvedWarning(outLabel: string, stem: string): string {
  return (
    `warning: ${outLabel}/ is not inside a project with cellar installed, so its code cannot import 'cellar' (nor the notebook's other packages) from there (W_CELLAR_UNRESOLVED).\n` +
    `  \`cellar run ${outLabel}/${stem}/pipeline.ts\` supplies this cellar, but packages the notebook imports must resolve from there too; ` +
    `compile into the project (--out <project>/generated), or install cellar and those packages above it (npm install --save-dev cellar).`
  );
}

/**
 * `--typecheck` of one compiled notebook's folder: prints each type error by cell and a summary
 * line. False when there are any. A notebook with compile errors was not written: not checked.
 */
async function typeChecks(
  outcome: NotebookOutcome,
  outDir: string,
  outLabel: string,
  nb: string,
): Promise<boolean> {
  if (outcome.files.length === 0 || hasErrors(outcome.diagnostics)) return true;
  // Loaded only when asked: it (and the frame mapper it uses) loads TypeScript, ~1 s that every
  // `cellar run` paid while this command module imported it (run imports ensureCompiled from here).
  const { typeErrors } = await import('../typecheck.js');
  const errors = typeErrors(join(outDir, outcome.stem), outcome.notebook, nb);
  for (const e of errors) console.error(e);
  if (errors.length === 0) {
    console.log(`✓ ${outcome.notebook}: ${outLabel}/${outcome.stem}/ type-checks`);
    return true;
  }
  console.error(
    `✗ ${outcome.notebook}: ${errors.length} type error${errors.length === 1 ? '' : 's'} in ${outLabel}/${outcome.stem}/`,
  );
  return false;
}

async function compileOnce(parsed: CompileArgs, memory?: CompileMemory): Promise<number> {
  const notebooks = findNotebooks(parsed.paths);
  if (notebooks.length === 0) {
    console.log(`no .ipynb files under ${parsed.paths.join(', ')}`);
    return EXIT.ok;
  }
  let failed = false;
  // Compile policy (duplicate outputs, orphans) is the compiler host's; here it is only printed.
  const clashing = duplicateOutputs(notebooks, parsed.out);
  for (const nb of notebooks) {
    const root = projectRoot(dirname(nb));
    const outDir = outputRoot(nb, parsed.out);
    const clash = clashing.get(nb) ?? foreignOutput(nb, parsed.out);
    if (clash) {
      failed = true;
      console.error(formatDiagnostic(clash));
      continue;
    }
    const outLabel = relative(process.cwd(), outDir) || '.';
    const start = performance.now();
    const outcome = await compileFile(nb, { root, outDir, memory });
    printDiagnostics(outcome);
    if (hasErrors(outcome.diagnostics)) failed = true;
    if (parsed.check) {
      const problems = hasErrors(outcome.diagnostics) ? [] : checkOutcome(outcome, outDir);
      if (problems.length) {
        failed = true;
        console.error(
          `✗ ${outcome.notebook}: ${outLabel}/ is not what the notebook compiles to:\n${problems.map((p) => `    ${p}`).join('\n')}`,
        );
        console.error(`  run \`cellar compile ${outcome.notebook}\` and commit the result`);
      } else if (!hasErrors(outcome.diagnostics)) {
        console.log(`✓ ${outcome.notebook}: ${outLabel}/${outcome.stem}/ is up to date`);
        if (parsed.typecheck && !(await typeChecks(outcome, outDir, outLabel, nb))) failed = true;
      }
      continue;
    }
    let report;
    try {
      report = writeOutcome(outcome, outDir);
    } catch (error) {
      if (!(error instanceof WriteError)) throw error;
      failed = true;
      console.error(`✗ ${outcome.notebook}: ${error.message}`);
      continue;
    }
    console.log(
      summary(
        outcome,
        outLabel,
        performance.now() - start,
        report.written.length + report.removed.length,
      ),
    );
    if (outcome.pipeline && !unresolvedWarned.has(outDir) && !resolvesCellar(outDir)) {
      unresolvedWarned.add(outDir);
      console.error(cellarUnresolvedWarning(outLabel, outcome.stem));
    }
    if (parsed.typecheck && !(await typeChecks(outcome, outDir, outLabel, nb))) failed = true;
  }
  // Output folders of notebooks that were deleted from the folders just compiled.
  for (const orphan of settleOrphans(parsed.paths, parsed.out, { remove: !parsed.check })) {
    const where = relative(process.cwd(), orphan.folder) || '.';
    if (orphan.removed) console.log(`- removed ${where}/ (${orphan.notebook} no longer exists)`);
    else {
      failed = true;
      console.error(
        `✗ ${where}/ was compiled from ${orphan.notebook}, which no longer exists: delete it`,
      );
    }
  }
  return failed ? EXIT.failure : EXIT.ok;
}

/**
 * What `--watch` watches for one path: `{ folder, only }`, the folder to watch and, for a
 * notebook path, the one file name in it to react to (undefined: every notebook in the folder).
 * A notebook is watched through its folder, not itself: `fs.watch` on a file follows its inode,
 * so after a save that replaces the file (temp file renamed over it, as Jupyter, many editors and
 * `sed -i` save; or delete then recreate) it would watch the old inode and miss every later save.
 */
export function watchTarget(abs: string): { folder: string; only: string | undefined } {
  return statSync(abs, { throwIfNoEntry: false })?.isDirectory()
    ? { folder: abs, only: undefined }
    : { folder: dirname(abs), only: basename(abs) };
}

/** A notebook's own name in a watched folder: Jupyter's save temps (`.~name.ipynb`) are not. */
function isNotebookName(name: string): boolean {
  return name.endsWith('.ipynb') && !name.startsWith('.') && !name.startsWith('~');
}

async function watchLoop(parsed: CompileArgs): Promise<number> {
  const memory = newMemory();
  await compileOnce(parsed, memory);
  const pending = new Map<string, NodeJS.Timeout>();
  const recompile = async (nb: string) => {
    const start = performance.now();
    try {
      const root = projectRoot(dirname(nb));
      const outDir = outputRoot(nb, parsed.out);
      const outcome = await compileFile(nb, { root, outDir, memory });
      printDiagnostics(outcome);
      const report = writeOutcome(outcome, outDir);
      console.log(
        summary(
          outcome,
          relative(process.cwd(), outDir) || '.',
          performance.now() - start,
          report.written.length + report.removed.length,
        ),
      );
    } catch (error) {
      console.error(
        `✗ ${relative(process.cwd(), nb)}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
  for (const p of parsed.paths) {
    const target = watchTarget(resolve(p));
    watch(target.folder, { recursive: false }, (_event, file) => {
      if (!file) return;
      const name = file.toString();
      if (target.only !== undefined ? name !== target.only : !isNotebookName(name)) return;
      const nb = join(target.folder, name);
      if (nb.includes('.ipynb_checkpoints') || !existsSync(nb)) return;
      // Editors save in bursts (write, rename, touch): wait for the burst to settle.
      clearTimeout(pending.get(nb));
      pending.set(
        nb,
        setTimeout(() => {
          pending.delete(nb);
          void recompile(nb);
        }, 25),
      );
    });
  }
  console.log(`watching ${parsed.paths.join(', ')} (Ctrl-C to stop)`);
  return new Promise<number>(() => {});
}

export const run = defineCommand({
  usage: USAGE,
  options: {
    check: { type: 'boolean', default: false },
    watch: { type: 'boolean', default: false },
    typecheck: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
  async run({ values, positionals }) {
    const parsed = compileArgs(values, positionals);
    try {
      return parsed.watch ? await watchLoop(parsed) : await compileOnce(parsed);
    } catch (error) {
      if (error instanceof NotFoundError) throw new CliError(error.message, 'E_NOT_FOUND');
      throw error;
    }
  },
});

/**
 * Compile `notebookPath` if it changed since the last compile (the incremental cache answers
 * otherwise) and return the absolute path of its generated pipeline.ts. Throws a CliError
 * carrying the formatted diagnostics when the notebook has errors.
 */
/**
 * For `cellar run generated/<nb>/pipeline.ts`: a warning when the notebook has changed since that
 * pipeline was compiled (it would run the old code), else undefined. One hash; compiles nothing.
 */
export function staleWarning(pipelinePath: string): string | undefined {
  return staleNotebook(resolve(pipelinePath));
}

/** What `compile-stamps.ts` compares for `nb` compiled into the project's generated/. */
function freshnessFacts(nb: string): FreshnessFacts {
  const root = projectRoot(dirname(nb));
  const outDir = join(root, 'generated');
  const stem = basename(nb).replace(/\.ipynb$/i, '');
  return {
    root,
    notebookAbs: nb,
    outDir,
    compiler: compilerFingerprint(),
    fixtures: () => fixtureTasks(join(outDir, stem)),
  };
}

/**
 * The generated pipeline.ts of `notebookPath`, compiling the notebook first when it is stale.
 * A warm answer comes from the compile's content stamps (compile-stamps.ts: stats, no parse of
 * the compile cache); otherwise the compile path runs and records them.
 * @throws CliError E_NOT_FOUND (unreadable notebook), E_COMPILE (errors, formatted),
 *   E_NO_TASKS (no task cells).
 */
export async function ensureCompiled(notebookPath: string): Promise<string> {
  const nb = resolve(notebookPath);
  const facts = freshnessFacts(nb);
  const fresh = freshPipeline(facts);
  if (fresh) return fresh;
  const { root, outDir } = facts;
  const clash = foreignOutput(nb, undefined);
  if (clash)
    throw new CliError(
      `${relative(root, nb).split('\\').join('/')} cannot be compiled:\n${formatDiagnostic(clash)}\n`,
      'E_COMPILE',
      EXIT.usage,
    );
  let outcome: NotebookOutcome;
  try {
    outcome = await compileFile(nb, { root, outDir });
  } catch (error) {
    throw new CliError(
      `cannot read ${notebookPath}: ${error instanceof Error ? error.message : String(error)}`,
      'E_NOT_FOUND',
    );
  }
  if (hasErrors(outcome.diagnostics)) {
    throw new CliError(
      `${outcome.notebook} does not compile:\n${outcome.diagnostics
        .filter((d) => d.severity === 'error')
        .map(formatDiagnostic)
        .join('\n')}\n`,
      'E_COMPILE',
      EXIT.usage,
    );
  }
  if (!outcome.pipeline) {
    throw new CliError(
      `${outcome.notebook} has no tasks: put \`//| task: <name>\` on the first line of a code cell`,
      'E_NO_TASKS',
      EXIT.usage,
    );
  }
  writeOutcome(outcome, outDir);
  recordStamps(facts, {
    notebookHash: outcome.notebookHash,
    fixtures: outcome.fixtures,
    files: outcome.files,
    pipeline: relative(outDir, outcome.pipeline).split(sep).join('/'),
    ...(outcome.localModules ? { localModules: outcome.localModules } : {}),
  });
  return outcome.pipeline;
}

/**
 * True when `pipelineAbs` is the pipeline.ts of a notebook whose recorded compile is still fresh
 * (so `staleWarning` has nothing to say), decided by content stamps; false when unknown.
 */
export function compiledFresh(pipelineAbs: string, notebookAbs: string): boolean {
  return freshPipeline(freshnessFacts(notebookAbs)) === resolve(pipelineAbs);
}
