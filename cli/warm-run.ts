// `cellar run` when nothing moved: answer "every task is cached" from the warm-run record
// (runtime/run/warm-record.ts) without compiling, loading the pipeline bundle or computing a key.
//
// This side decides what of the command line the record must match (`runContext`: the argument,
// params given, task selection, workdir) and which runs may be shortcut at all (`mayShortcut`:
// no --rerun, --verbose, --notify, other executor or store); then the compile freshness a
// notebook argument needs (the compile's content stamps, cli/compile-stamps.ts, checked with the
// compiler fingerprint the record holds: the same build has the same compiler), then the record's
// own facts. Any doubt returns undefined: the caller takes the full path, unchanged. After a full
// run the caller records it (`recordWarmRun`), or drops a record the run made untrue.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { freshPipeline } from './compile-stamps.js';
import { fixtureTasksAt } from '../compiler/fixture-names.js';
import { findProjectRoot } from '../runtime/project.js';
import { chooseStore } from '../runtime/store/open.js';
import { resolveWorkspace } from '../runtime/store/workspace.js';
import {
  cellarBuildId,
  dropWarmRecord,
  readWarmRecord,
  stillHolds,
  warmRecordPath,
  writeWarmRecord,
  type WarmRecord,
} from '../runtime/run/warm-record.js';
import type { FileStamp } from '../runtime/key/filestamp.js';
import { RunReadStamps } from '../runtime/key/run-reads.js';
import type { PreparedRun } from '../runtime/run/run.js';
import type { RunResult } from '../runtime/types.js';

/** The part of a `cellar run` command line the shortcut looks at. */
export interface RunRequest {
  /** The pipeline argument as given. */
  arg: string;
  /** Task selectors after it. */
  only: string[];
  /** `--param k=v`, as given (in order: a later one wins). */
  params: string[];
  workdir: string | undefined;
  workspace: string | undefined;
  store: string | undefined;
  rerun: string[];
  executor: string;
  verbose: boolean;
  notify: boolean;
}

/** Runs the shortcut never answers for: forcing, another executor or store, stage timings, a webhook. */
function mayShortcut(req: RunRequest): boolean {
  return (
    req.rerun.length === 0 &&
    req.executor === 'local' &&
    req.store === undefined &&
    !req.verbose &&
    !req.notify &&
    !req.arg.startsWith('-')
  );
}

/** What the record must match, besides its facts: the command line that changes the plan. */
function runContext(
  req: RunRequest,
  entry: string,
  compile: { compiler: string; notebook: string } | null,
): Record<string, unknown> {
  return {
    entry,
    params: req.params,
    only: req.only,
    workdir: req.workdir === undefined ? null : resolve(req.workdir),
    compile,
  };
}

/**
 * The checked record when this run may be answered from it (every task cached, or not requested),
 * else undefined. Never throws: a record that cannot be read or checked means the full path.
 */
export function warmRun(req: RunRequest): WarmRecord | undefined {
  try {
    const build = cellarBuildId();
    if (!build || !mayShortcut(req)) return undefined;
    const entry = resolve(req.arg);
    const file = warmRecordPath(findProjectRoot(dirname(entry)), entry);
    const record = readWarmRecord(file, build);
    if (!record) return undefined;
    // The store and workspace the full path would pick, from this command line and environment.
    const workspace = resolveWorkspace({
      explicit: req.workspace,
      near: dirname(record.pipelineFile),
    });
    if (workspace !== record.workspace) return undefined;
    const choice = chooseStore({ workspace, near: dirname(record.pipelineFile) });
    if (choice.source !== 'workspace') return undefined;
    // The compile a notebook argument needs (or the stale-notebook warning a compiled
    // pipeline.ts argument would print) must be fresh, as the full path decides it.
    const compile = (JSON.parse(record.context) as { compile: unknown }).compile as {
      compiler: string;
      notebook: string;
    } | null;
    if (entry.endsWith('.ipynb') && compile?.notebook !== entry) return undefined;
    // The project whose run-time read records the full path would key with.
    const readsRoot = runReadsRoot(req, record.pipelineFile);
    if (readsRoot !== record.runReads.root) return undefined;
    const verified = new Map<string, FileStamp>();
    if (compile && !compileIsFresh(compile, record.pipelineFile, verified)) return undefined;
    const stamps = RunReadStamps.forProject(readsRoot);
    const context = runContext(req, entry, compile);
    return stillHolds(file, record, context, stamps, verified) ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The project root a full run of this command line keys run-time reads under: the workdir's when
 * --workdir names a folder, else the pipeline file's (runtime/run/run.ts normalizeRunOptions,
 * `projectRoot`; `recordWarmRun` refuses to record when the two ever disagree).
 */
function runReadsRoot(req: RunRequest, pipelineFile: string): string {
  const workdir = req.workdir === undefined ? undefined : resolve(req.workdir);
  return findProjectRoot(
    workdir !== undefined && existsSync(workdir) ? workdir : dirname(pipelineFile),
  );
}

function compileIsFresh(
  compile: { compiler: string; notebook: string },
  pipelineFile: string,
  verified: Map<string, FileStamp>,
): boolean {
  const root = findProjectRoot(dirname(compile.notebook));
  const outDir = join(root, 'generated');
  const stem = basename(compile.notebook).replace(/\.ipynb$/i, '');
  return (
    freshPipeline(
      {
        root,
        notebookAbs: compile.notebook,
        outDir,
        compiler: compile.compiler,
        // compiler/host.ts's fixtureTasks, without loading host.ts (it brings the compiler).
        fixtures: () => fixtureTasksAt(join(outDir, stem), readdirSync),
      },
      verified,
    ) === pipelineFile
  );
}

/**
 * After a full run (or dry run): record it for the next warm run when it may be (see
 * runtime/run/warm-facts.ts for what may), else remove any record for this argument, so a record
 * never outlives a run that did not end all done. `compile`: for a notebook argument, or a
 * compiled pipeline.ts naming its notebook, the compiler fingerprint and that notebook.
 * Returns why nothing was recorded (for tests), or undefined when recorded.
 */
export async function recordWarmRun(
  req: RunRequest,
  prepared: PreparedRun,
  result: RunResult | undefined,
  compile: { compiler: string; notebook: string } | null,
): Promise<string | undefined> {
  const build = cellarBuildId();
  const entry = resolve(req.arg);
  const file = warmRecordPath(findProjectRoot(dirname(entry)), entry);
  if (!build) return 'no build id (running from sources)';
  // --rerun, --verbose and --notify leave the same keys done, so such runs may be recorded; a
  // run on another executor or store leaves its results where the shortcut does not look.
  const pipelineFile = prepared.options.pipelineFile;
  if (
    req.executor !== 'local' ||
    !pipelineFile ||
    chooseStore({
      explicit: req.store,
      workspace: prepared.options.workspace,
      near: dirname(pipelineFile),
    }).source !== 'workspace'
  ) {
    dropWarmRecord(file);
    return 'another executor or store';
  }
  if (runReadsRoot(req, pipelineFile) !== prepared.options.projectRoot) {
    dropWarmRecord(file);
    return 'the run keyed run-time reads of another project than the shortcut would check';
  }
  const { warmFactsOf } = await import('../runtime/run/warm-facts.js');
  let facts;
  try {
    facts = warmFactsOf(prepared, result, { build, context: runContext(req, entry, compile) });
  } catch (error) {
    // An unreadable bundle or package.json: no record, and the run's own outcome stands.
    facts = `cannot gather the record's facts: ${(error as Error).message}`;
  }
  if (typeof facts === 'string') {
    dropWarmRecord(file);
    return facts;
  }
  return writeWarmRecord(file, facts) ? undefined : 'a source changed during the run';
}
