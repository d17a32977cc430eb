// After a full run: may its outcome be recorded for the warm-run shortcut (warm-record.ts), and
// from what? Kept apart from warm-record.ts, which the shortcut loads: this side reads the
// pipeline bundle and asks the code hasher, which only a full run has at hand.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { envReadIn } from '../key/codehash.js';
import { readWithStamp, type FileStamp } from '../key/filestamp.js';
import { canonicalJson } from '../key/hash.js';
import type { ResolveFacts } from '../key/resolve-facts.js';
import {
  isModuleRecord,
  moduleRecordsOfCode,
  PIPELINE_LOAD,
  RunReadStamps,
  withModuleReads,
} from '../key/run-reads.js';
import { bundledInputs } from '../load/bundle.js';
import { runningRuntimeEntry } from '../own-package.js';
import { packageVersionEvidence } from '../project.js';
import { LocalStore } from '../store/local.js';
import type { RunResult } from '../types.js';
import { runParams } from './execute.js';
import { appliesListings, hooksFor } from './hooks.js';
import type { PreparedRun } from './run.js';
import {
  listingNow,
  loadIsSealed,
  runReadFactsNow,
  writtenFactsNow,
  type RunReadFacts,
  type WarmFacts,
} from './warm-record.js';

/**
 * The facts of a warm-run record for this run, or the reason there is none: a string saying why
 * the shortcut may not answer for this pipeline (a hook, a task forced on every run, a pipeline
 * whose definitions could depend on something unrecorded, tasks that did not all end done...).
 * `result` undefined: a dry run, recorded only when its plan is all cached.
 */
export function warmFactsOf(
  prepared: PreparedRun,
  result: RunResult | undefined,
  base: { build: string; context: Record<string, unknown> },
): WarmFacts | string {
  const { options, graph, plan, hasher } = prepared;
  if (!hasher || !options.pipelineFile) return 'no code hasher or pipeline file';
  if (!(options.store instanceof LocalStore)) return 'not the local workspace store';
  if (typeof options.runner === 'object') return 'another executor';
  // First, as it is the cheapest answer: a plan that did not end all done leaves no record (a
  // dry run of a pipeline never run: 100,001 entries, no need to walk the graph and the keys).
  const tasks: WarmFacts['tasks'] = [];
  for (const [i, e] of plan.entries.entries()) {
    const r = result?.tasks[i];
    const done = result
      ? r?.name === e.name && (r.status === 'ran' || r.status === 'cached') && !r.notCached
      : e.action === 'cached';
    const notRequested =
      e.action === 'not-run' &&
      (!result || (r?.status === 'not-run' && r.because?.kind === 'not-requested'));
    if (!done && !notRequested) return `task ${e.name} did not end done`;
    tasks.push({ name: e.name, key: e.key.value, cached: done });
  }
  for (const node of graph.nodes) {
    if (node.task.rerun) return `task ${node.name} runs on every run (rerun)`;
    if (hooksFor(node.task).length > 0) return `task ${node.name} has a key hook`;
  }
  // No hook applied to any task when it was keyed; one may apply from the next run on: a task
  // seen running SQL only through a helper (runtime/warehouse/tasks/reads.ts) is marked by the
  // thread that ran it, and its next key holds the warehouse and its tables. Such a run's keys
  // are not the next run's, so it leaves no record; otherwise the record holds what the hooks'
  // `applies` rested on, and a task marked later (by another argument's run) voids it.
  const listings: Record<string, readonly string[]> = {};
  for (const { hook, dir, names } of appliesListings()) {
    if (dir === undefined) return `hook ${hook} cannot tell which tasks it applies to`;
    const now = listingNow(dir);
    if (now.length !== names.length || now.some((n, i) => n !== names[i]))
      return `hook ${hook} applies to more tasks since they were keyed (${dir} moved during the run)`;
    listings[dir] = now;
  }
  // Every key input must be one this record answers for (definitions and CLI params by the
  // sources and context, code by the stamps, env by the hashed values). A key input added later
  // (run-time reads, say) leaves no record until the record checks it too.
  for (const [name, key] of prepared.keys)
    for (const [field, value] of Object.entries(key.inputs))
      if (value !== undefined && !CHECKED_KEY_INPUTS.has(field))
        return `task ${name}'s key holds ${field}, which the record does not check`;
  // Files a task reads at run time (a data file) are recorded per task under
  // <project>/.cellar/run-reads/ and keyed from the next run on (issue 8). The record keeps what
  // they added to the keys this run used, and only when the same inputs computed again now agree:
  // a record that grew during the run (a discovering run), or a data file changed while the tasks
  // ran, gives the next run other keys, so that run takes the full path and records.
  // What the pipeline's module read while it loaded (a setup cell's top-level readFileSync) is
  // keyed from that very evaluation (key/run-reads.ts PIPELINE_LOAD): only loading the module
  // again tells what it reads now (a file named by the clock or by another file's content).
  if (prepared.records.has(PIPELINE_LOAD))
    return "the pipeline's module read files or variables while it loaded (its setup cell's top level): only loading it tells what it reads now";
  const at = {
    root: options.projectRoot,
    pipeline: options.pipeline.name,
    workspace: options.workspace,
    // Where the tasks' relative paths resolved (the keys hold it: run-reads.ts WORKDIR_INPUT).
    workdir: options.workdir ?? process.cwd(),
  };
  const keyed: Record<string, RunReadFacts> = {};
  // The module records the keys joined (key/keys.ts), present or not as a fact of their own.
  const uses: Record<string, string[]> = {};
  for (const name of prepared.records.keys())
    if (isModuleRecord(name)) keyed[name] = { reads: {}, env: [] };
  // As keys.ts does: per module once, and only when some module has a record at all (most
  // pipelines have none; a 1,000-module notebook spent 0.17 ms per task here resolving paths).
  const anyModuleRecord = [...prepared.records.keys()].some(isModuleRecord);
  const modulesOf = new Map<string, string[]>();
  const moduleRecordsOf = (module: string): string[] => {
    let names = modulesOf.get(module);
    if (names) return names;
    // (The hasher's fingerprint, as keys.ts uses it: under `cache: 'params'` too.)
    const code = hasher.computed(module);
    names = code
      ? moduleRecordsOfCode(at.root, module, code.files).filter((n) => prepared.records.has(n))
      : [];
    modulesOf.set(module, names);
    return names;
  };
  for (const node of graph.nodes) {
    const key = prepared.keys.get(node.name);
    const modules =
      anyModuleRecord && node.task.module ? moduleRecordsOf(node.task.module) : NO_MODULES;
    if (modules.length > 0) uses[node.name] = modules;
    const rec = withModuleReads(prepared.records.get(node.name), prepared.records, modules);
    const reads = key?.inputs.reads ?? {};
    const env = rec ? [...new Set(rec.env)].sort() : [];
    if (Object.keys(reads).length > 0 || env.length > 0) keyed[node.name] = { reads, env };
  }
  const stamps = RunReadStamps.forProject(at.root);
  const now = runReadFactsNow(
    at,
    graph.nodes.map((n) => n.name),
    stamps,
    uses,
  );
  if (canonicalJson(now) !== canonicalJson(keyed))
    return 'what the tasks read at run time moved during the run (a record grew or a file changed)';
  // The files tasks wrote outside their outputs, as this run left them (or found them, cached).
  const written = writtenFactsNow(at, stamps);
  stamps.save();
  const bundle = bundledInputs(options.pipelineFile);
  if (!bundle) return 'the pipeline was not loaded from a cached bundle';
  const bundleText = readFileSync(bundle.bundle, 'utf8');
  const compiled =
    options.pipeline.source !== undefined && options.pipeline.tasks.every((t) => t.source);
  if (!compiled) {
    const own = runningRuntimeEntry();
    if (!loadIsSealed(bundleText, own ? [pathToFileURL(own).href] : []))
      return 'a hand-written pipeline whose loading may read more than its sources';
  }
  const sources: Record<string, FileStamp> = { ...bundle.inputs };
  const resolved: ResolveFacts = { ...bundle.resolved };
  const absent: string[] = [];
  const envNames = new Set(envReadIn(bundleText));
  for (const facts of Object.values(keyed)) for (const name of facts.env) envNames.add(name);
  const lookups = new Set<string>();
  for (const module of new Set(graph.nodes.map((n) => n.task.module))) {
    if (!module) continue;
    const evidence = hasher.evidence(module);
    if (!evidence) return `no code evidence for ${module}`;
    Object.assign(sources, evidence.files);
    Object.assign(resolved, evidence.resolved);
    for (const name of hasher.envRead(module)) envNames.add(name);
    for (const dir of evidence.dirs)
      for (const name of evidence.packages) lookups.add(`${dir}\0${name}`);
  }
  for (const lookup of lookups) {
    const [dir, name] = lookup.split('\0') as [string, string];
    const found = packageVersionEvidence(dir, name);
    for (const file of found.read) sources[file] ??= readWithStamp(file).stamp;
    absent.push(...found.absent);
    // And the packages it loads in turn, whose versions the key holds too (package-closure.ts).
    const closure = hasher.dependencyClosure(dir, name);
    for (const file of closure.read) sources[file] ??= readWithStamp(file).stamp;
    absent.push(...closure.absent);
  }
  envNames.delete('*');
  // For the warm run's log, as the full path's run-start holds them (execute.ts).
  const params = runParams(plan);
  return {
    ...base,
    pipelineFile: options.pipelineFile,
    pipeline: options.pipeline.name,
    workspace: options.workspace,
    sources,
    absent,
    resolved,
    envNames: [...envNames],
    runReads: { root: at.root, workdir: at.workdir, tasks: keyed, uses },
    listings,
    written,
    globs: bundle.globs,
    tasks,
    ...(params ? { params } : {}),
  };
}

/** No module records: shared by every task (only a non-empty list is kept, in `uses`). */
const NO_MODULES: string[] = [];

/** The key inputs (types.ts KeyInputs) whose every source the record checks; `hooks` never gets here. */
const CHECKED_KEY_INPUTS = new Set([
  'task',
  'version',
  'cache',
  'params',
  'paramOrder',
  'upstream',
  'codecs',
  'code',
  'env',
  'reads',
]);
