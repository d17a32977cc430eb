// Stage 2 of a run: `computeKeys` gives every graph node its CacheKey, upstream first (a key
// holds its upstream keys, so a change anywhere upstream reaches everything downstream).
//
// The inputs gathered here are exactly the ones hash.ts names in its invariant. The effects are
// reading source files for the code fingerprint (memoised by mtime/size in codehash.ts) and the
// hooks' `keyInputs` (e.g. the warehouse asking for table snapshots).
import { codecKey } from '../codecs/index.js';
import { CodeHasher, type CodeFingerprint } from './codehash.js';
import { envInputs, makeKey, sha256 } from './hash.js';
import { hooksFor } from '../run/hooks.js';
import type { AnyTask, OutputSpec } from '../task.js';
import type { CacheKey, KeyInputs, TaskGraph } from '../types.js';
import {
  isModuleRecord,
  moduleRecordsOfCode,
  withModuleReads,
  runReadsOfTask,
  recordedRunReadsOfPipeline,
  runReadInputs,
  RunReadStamps,
  type RecordedRunReads,
  type RunReadsAt,
} from './run-reads.js';

export interface KeyOptions {
  /** Hashes task code; omit to key by params only (as `cache: 'params'` does for every task). */
  hasher?: CodeHasher;
  /**
   * Key what each task was recorded reading at run time on earlier runs (run-reads.ts): the
   * project root and the pipeline the records belong to, and the stamp memo (saved by the caller).
   */
  reads?: RunReadsAt & {
    stamps: RunReadStamps;
    /** The pipeline's records, when the caller has read them already. */
    records?: Map<string, RecordedRunReads>;
  };
  /** The folder tasks will run in (run.ts's workdir), for hooks resolving relative data paths. */
  workdir?: string;
}

/** The upstream keys of a task with no upstream: one frozen record for all (100k leaves made 100k). */
const NO_UPSTREAM: Record<string, string> = Object.freeze({});

export async function computeKeys(
  graph: TaskGraph,
  options: KeyOptions = {},
): Promise<Map<string, CacheKey>> {
  const keys = new Map<string, CacheKey>();
  const hasher = options.hasher;
  if (hasher) {
    // Every task module's fingerprint in one pass: stale ones share one esbuild call.
    const modules = new Set<string>();
    for (const node of graph.nodes)
      if (node.task.cache === 'code' && node.task.module) modules.add(node.task.module);
    await hasher.prepare(modules);
  }
  // Per module, once: its code fingerprint and the hashed values of the environment variables
  // it reads (a module's 100k tasks share both, frozen, so canonical JSON serialises each once).
  type ModuleFacts = {
    code: CodeFingerprint;
    env: Readonly<Record<string, string>> | undefined;
    /** The records of local modules its code reaches (run-reads.ts moduleRecordsOfCode). */
    moduleRecords: string[];
  };
  const recorded = options.reads
    ? (options.reads.records ?? recordedRunReadsOfPipeline(options.reads))
    : undefined;
  // Where the tasks' relative paths resolve (run.ts chdirs there; no workdir: they run here).
  const workdir = options.workdir ?? process.cwd();
  // Records of what helpers of local modules read (a memo's file): most pipelines have none.
  const anyModuleRecord = recorded !== undefined && [...recorded.keys()].some(isModuleRecord);
  const perModule = new Map<string, ModuleFacts>();
  const moduleFacts = async (module: string): Promise<ModuleFacts> => {
    const code = hasher!.computed(module) ?? (await hasher!.fingerprint(module));
    const names = hasher!.envRead(module);
    const facts = {
      code,
      env: names.length > 0 ? Object.freeze(envInputs(names)) : undefined,
      moduleRecords: anyModuleRecord
        ? moduleRecordsOfCode(options.reads!.root, module, code.files).filter((n) =>
            recorded!.has(n),
          )
        : [],
    };
    perModule.set(module, facts);
    return facts;
  };
  let upstreamOf: ((task: string) => readonly string[]) | undefined;
  for (const node of graph.nodes) {
    const task = node.task;
    let upstream = NO_UPSTREAM;
    // The upstream record's canonical JSON, written as it is filled when the names come in
    // sorted order (buildGraph sorts them): a fan-in of 100k tasks was a third of all keying,
    // sorting and walking its record again. Unsorted names leave it to canonicalJson.
    let upstreamJson: string | undefined;
    if (node.upstream.length > 0) {
      upstream = {};
      let text: string | undefined = '{';
      let prev: string | undefined;
      for (const up of node.upstream) {
        const value = keys.get(up)!.value;
        upstream[up] = value;
        if (text === undefined) continue;
        // ('__proto__' is no task name, runtime/task.ts; were it one, the record would not hold it.)
        if ((prev !== undefined && !(prev < up)) || up === '__proto__') text = undefined;
        else
          text +=
            (prev === undefined ? '' : ',') + JSON.stringify(up) + ':' + JSON.stringify(value);
        prev = up;
      }
      if (text !== undefined) upstreamJson = text + '}';
    }
    const inputs: KeyInputs = {
      task: task.name,
      version: task.version,
      cache: task.cache,
      params: node.params,
      upstream,
      codecs: codecsOf(task.outputs as Record<string, OutputSpec>),
    };
    const order = paramKeyOrder(node.params);
    if (order) inputs.paramOrder = order;
    // (No await once a module is known: a microtask per task is measurable at 100k.)
    const facts =
      hasher && task.module
        ? (perModule.get(task.module) ?? (await moduleFacts(task.module)))
        : undefined;
    if (task.cache === 'code' && hasher) inputs.code = facts ? facts.code : codeOfRun(task);
    // Environment variables the task's code reads, by value but hashed: a changed token re-runs
    // its readers, and no secret is written to a manifest. (Also under cache: 'params': a value
    // read is an input, whatever the code mode.)
    if (facts?.env) inputs.env = facts.env;
    // What earlier runs saw the task read at run time: files, folders, env names read by a
    // computed name. (Only tasks with a record pay for this; most have none.)
    // And what the pipeline's module read while it loaded (a setup cell's top-level reads).
    // And what helpers of the local modules its code reaches read in any task (a memo they keep).
    let rec = recorded && runReadsOfTask(recorded, task.name);
    if (facts && facts.moduleRecords.length > 0)
      rec = withModuleReads(rec, recorded!, facts.moduleRecords);
    if (rec)
      addRecordedReads(inputs, rec, options.reads!, options.reads!.stamps, {
        workdir,
        workspace: options.reads!.workspace,
      });
    const hooks = hooksFor(task);
    if (hooks.some((h) => h.keyInputs)) {
      inputs.hooks = {};
      for (const h of hooks)
        if (h.keyInputs)
          inputs.hooks[h.name] = await h.keyInputs(task, {
            params: node.params,
            upstreamKeys: upstream,
            upstreamOf: (upstreamOf ??= (name) => graph.byName.get(name)?.upstream ?? []),
            ...(options.workdir ? { workdir: options.workdir } : {}),
          });
    }
    const key = makeKey(inputs, upstreamJson);
    // A params-keyed task's code still reaches modules whose state it is handed (CacheKey.codeFiles).
    if (facts && !inputs.code) key.codeFiles = facts.code.files;
    keys.set(node.name, key);
  }
  return keys;
}

/**
 * Add a task's recorded run-time reads to its key inputs (run-reads.ts): `reads` (left out when
 * empty) and the computed-name env reads merged into `env`, hashed as the static ones. The one
 * place that shapes them, for computeKeys and for filing a discovering run's result under the next
 * key (runtime/run/adopt-reads.ts), so both give the same key.
 */
export function addRecordedReads(
  inputs: KeyInputs,
  rec: RecordedRunReads,
  at: { root: string },
  stamps: RunReadStamps,
  /** The folder the task runs in and the workspace its results are in (run-reads.ts
   *  `WORKDIR_INPUT`, `workdirInput`). */
  where: { workdir: string; workspace: string },
): void {
  const reads = runReadInputs(at.root, rec, stamps, where);
  if (Object.keys(reads).length > 0) inputs.reads = reads;
  if (rec.env.length > 0) inputs.env = { ...inputs.env, ...envInputs(rec.env) };
}

/**
 * Output name → codec id@version, in name order. Tasks declaring the same outputs share one
 * frozen record (so `canonicalJson` serialises it once); the record is rebuilt whenever the
 * codec registry's answer differs, as the memo key holds every codec key.
 */
function codecsOf(outputs: Record<string, OutputSpec>): Record<string, string> {
  const names = Object.keys(outputs);
  if (names.length > 1) names.sort();
  const values: string[] = [];
  for (const name of names) values.push(codecKey(outputs[name]!));
  // The same names and codecs as the task before (100k leaves of one shape): its record, without
  // building and hashing the memo key (its text holds the long auto codec key) for every task.
  const last = lastCodecs;
  if (last && sameStrings(last.names, names) && sameStrings(last.values, values))
    return last.codecs;
  let memoKey = '';
  for (let i = 0; i < names.length; i++) memoKey += `${names[i]}\0${values[i]}\0`;
  let codecs = codecsMemo.get(memoKey);
  if (!codecs) {
    const record: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) record[names[i]!] = values[i]!;
    codecs = Object.freeze(record);
    codecsMemo.set(memoKey, codecs);
  }
  lastCodecs = { names, values, codecs };
  return codecs;
}
const codecsMemo = new Map<string, Readonly<Record<string, string>>>();
/** The last record codecsOf gave, with the names and codec keys it was made of. */
let lastCodecs:
  { names: string[]; values: string[]; codecs: Readonly<Record<string, string>> } | undefined;
const sameStrings = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** A task defined without `module`: keyed by its run function's text, whitespace collapsed. */
function codeOfRun(task: AnyTask): CodeFingerprint {
  return {
    files: { '<run>': sha256(String(task.run).replace(/\s+/g, ' ')).slice(0, 16) },
    packages: {},
  };
}

/**
 * The member order of every plain object inside `params` whose keys are not in sorted order, by
 * path (`weights`, `rules[2].limits`) → its keys as the task receives them; undefined when every
 * object is sorted (so keys of such params never moved). The key's canonical JSON sorts members,
 * but a task sees them in the order given (`Object.keys(weights)[0]`, a `for…in`): `{"b":2,"a":1}`
 * and `{"a":1,"b":2}` may compute different results and must not share one (breaker report A8).
 * The task keeps the given order, as in the notebook, so `cellar verify` compares like with like.
 */
export function paramKeyOrder(
  params: Record<string, unknown>,
): Record<string, string[]> | undefined {
  // Most tasks have no params: no closure, no sorted key array.
  let any = false;
  for (const name in params)
    if (Object.hasOwn(params, name)) {
      any = true;
      break;
    }
  if (!any) return undefined;
  let out: Record<string, string[]> | undefined;
  const visit = (value: unknown, path: string, depth: number): void => {
    if (value === null || typeof value !== 'object' || depth > 64) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${path}[${i}]`, depth + 1));
      return;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return;
    const names = Object.keys(value);
    for (let i = 1; i < names.length; i++)
      if (names[i - 1]! > names[i]!) {
        (out ??= {})[path] = names;
        break;
      }
    for (const name of names)
      visit((value as Record<string, unknown>)[name], `${path}.${name}`, depth + 1);
  };
  for (const name of Object.keys(params).sort()) visit(params[name], name, 0);
  return out;
}
