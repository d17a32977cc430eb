// Running one task, start to finish: decode its inputs from the store, call its `run` inside the
// hooks' `aroundRun`, check the result, encode each output and write it atomically. The same code
// runs on the main thread (in-process runner, tests) and inside a worker thread (worker.ts), so
// the two modes cannot drift apart. The manifest (the "done" marker) is written by the executor
// after this returns, never here.
import { pickCodec, getCodec } from '../codecs/index.js';
import { outputStats } from '../codecs/stats.js';
import { runHooksFor, type TaskRunContext } from './hooks.js';
import { outputFileName, replacementFileKey, sizeDiffers, type Store } from '../store/store.js';
import type { AnyTask, OutputSpec } from '../task.js';
import type { KeyInputs, StoredOutput } from '../types.js';
import { CellarError } from '../errors.js';
import {
  readChangedWhileRunning,
  recordModuleReads,
  moduleInputsSeen,
  recordRunReads,
  sideEffectOutputs,
  writtenContent,
  writtenPaths,
  type ObservedReads,
  type ReadsContext,
} from '../key/run-reads.js';
import { observeReads } from './read-record.js';
import { envSecrets, redactError } from './redact.js';
import { watchStrayErrors } from './stray-errors.js';
import {
  changedInPlace,
  changedInPlaceError,
  freezeUpstream,
  mutationError,
  type UnfrozenNumbers,
} from './frozen-inputs.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { sha256 } from '../key/hash.js';
import { describeSource } from '../load/source.js';
import { formatDuration } from '../duration.js';

/**
 * What reading a stored output needs (`readOutput`): its codec, file and schema, and its recorded
 * size and digest, checked against the bytes read. A job carries only these of each input's
 * `StoredOutput` (not its stats): a fan-in of 100k tasks holds one per upstream output on the
 * scheduler's thread and again in its worker (size and digest: ~50 bytes each).
 */
export type OutputLocation = Pick<StoredOutput, 'codec' | 'file' | 'schema'> &
  Partial<Pick<StoredOutput, 'bytes' | 'digest'>>;

/** One input of a job: which upstream output to read and how it was stored. */
export interface JobInput {
  name: string;
  task: string;
  output: string;
  stored: OutputLocation;
}

/** Everything a runner needs to run one task: plain data, so it can cross to a worker thread. */
export interface TaskJob {
  task: string;
  key: string;
  params: Record<string, unknown>;
  upstreamKeys: Record<string, string>;
  /**
   * Keys of tasks hooks may look up (`TaskRunContext.keysByTask`). Absent: this task's key and
   * its upstream tasks' (`upstreamKeys`), which is all the scheduler would send; a fan-in of 100k
   * tasks would otherwise carry the same 100k keys twice into the worker.
   */
  keysByTask?: Record<string, string>;
  inputs: JobInput[];
  /** Environment variables the task's code reads (names only; their values stay in the environment). */
  envRead?: string[];
  /** The task's `timeoutMs`: the runner fails the attempt with E_TASK_TIMEOUT past it. */
  timeoutMs?: number;
  /**
   * Only for a committing runner (TaskRunner.commits): what the manifest needs, whether the run
   * forces the task (then a finished result from before this job is not reused), and, when set,
   * why the result must not be committed (an upstream result of this run was not).
   */
  commit?: { inputs: KeyInputs; forced: boolean; notCached?: string };
  /**
   * For a runner that writes manifests (TaskRunner.writesManifests): the key inputs of the
   * manifest to write once the outputs are, unless the result is not to be cached. Absent: the
   * scheduler writes it (or, with `commit`, the committing worker does).
   */
  manifest?: { inputs: KeyInputs };
  /**
   * The module records (run-reads.ts `moduleRecordsOfCode`) of the local modules the task's code
   * reaches, which its key joins: what their code read on this thread is checked against the key
   * (`PerformedTask.unkeyed`). Absent: none checked.
   */
  modules?: readonly string[];
  /**
   * An upstream result this job reads is stored under no key of its own (`PerformedTask
   * .unkeyed`): neither is this one (its key names that upstream key), and its runner reports it.
   */
  unkeyed?: boolean;
  /**
   * The run is forced (plan.ts `forced`: `--rerun`, a `//| rerun` task, a stored output found
   * missing or damaged), so the key may hold a result this one replaces: its outputs are written
   * under names no stored manifest of the key names (store.ts `replacementFileKey`), and a
   * failure half-way leaves that result whole. Absent: the key has no manifest (checked under
   * its lock), and the plain names are written.
   */
  replaces?: boolean;
  /**
   * With `replaces`: the outputs of the result stored under the key (its manifest's, read by the
   * executor), so an output computed again to the very bytes keeps its stored file.
   */
  replacing?: Record<string, StoredOutput>;
  /**
   * Where to record what the task reads while it runs (files, folders, env names by computed
   * name; runtime/key/run-reads.ts). Absent: nothing is recorded.
   */
  reads?: ReadsContext;
  /**
   * The run-time reads the task's key holds (`KeyInputs.reads`) and when they were keyed (epoch ms,
   * before the key's inputs were computed): after the run, a keyed file the task was handed with
   * other content marks the result not to be stored under this key (`PerformedTask.notCached`).
   * Absent: the key holds no run-time reads.
   */
  keyed?: { reads: Record<string, string>; sinceMs: number };
  /**
   * What each hook's `keyInputs` put into the key (`KeyInputs.hooks`), handed to the hooks as
   * `TaskRunContext.keyed`: the warehouse compares the table versions its key names with the ones
   * after the run. Absent: no hook keyed the task.
   */
  hookInputs?: Record<string, Record<string, unknown>>;
}

/** What `performTask` wrote, and whether the result may be stored under the job's key. */
export interface PerformedTask {
  outputs: Record<string, StoredOutput>;
  /**
   * Set when the result must not be committed under the job's key, saying why
   * (`notebooks/data/x.csv changed while load ran`): a keyed read saw other content than the key
   * names (runtime/key/run-reads.ts readChangedWhileRunning). The outputs are still written, for
   * this run's downstream tasks.
   */
  notCached?: string;
  /**
   * True when run-time reads were recorded (job.reads set) and the task's code read nothing at
   * all (no file, folder, probe or environment variable by a computed name): it has no run-read
   * record from this run, so the executor's read adopter need not look for one.
   */
  readNothing?: boolean;
  /**
   * True when the task read an input its run-read record did not hold (a first run discovering
   * `data/v.txt`; a record kept in another project's `.cellar/`, or deleted): the job's key,
   * computed from that record, lacks an input the result depends on, so the result is stored
   * under no key of its own (run/execute.ts), only under the next key where the read adopter
   * proves it the same (run/adopt-reads.ts). Stored under the job's key, a later run computing
   * that key without the record (another `--workdir`, a shared store on another checkout) would
   * be served a result computed from other data. Also set when the job's upstream was
   * (`TaskJob.unkeyed`). Such outputs are named by their digest as well as the key, so two runs
   * filing different results from one such key never write one file.
   */
  unkeyed?: boolean;
  /**
   * The files the task wrote outside its outputs (`writeFileSync('out/report.csv')`, a rename or a
   * copy onto a path; recorded path → content hash as the task left it), for its manifest: a later
   * cache hit is served only while they still hold this (runtime/run/probe.ts). Absent: none.
   */
  written?: Record<string, string>;
}

/** What a task's run read, handed to `invokeTask`'s caller after the run: its own reads, and
 *  what code of other local modules read in it, by module file (read-record.ts `observeReads`). */
export type ReadsObserver = (
  reads: ObservedReads,
  envListed: boolean,
  shared: ReadonlyMap<string, ObservedReads>,
  /** Child processes the task's code started (`execSync("cat data/x.csv")`), as calls. */
  children: readonly string[],
  /** Network requests it made (`fetch("https://…") at lib/get.ts:3`), as calls. */
  requests: readonly string[],
  /** Set when what its worker threads read could not all be recorded: why. */
  unrecorded: string | undefined,
) => void;

/**
 * Warn once per task and thread, naming it and the variables, when its code set or deleted
 * environment variables: those writes were undone as it ended (read-record.ts `undoEnvWrites`).
 */
function warnEnvWrites(task: AnyTask, names: readonly string[]): void {
  if (names.length === 0 || warnedEnvWrite.has(task.name)) return;
  warnedEnvWrite.add(task.name);
  const where = describeSource(task);
  const list = names.map((n) => `process.env.${n}`).join(', ');
  process.stderr.write(
    `cellar: warning: task '${task.name}'${where ? ` (${where})` : ''} sets ${list}. ` +
      `A task's change to the environment is its own: it is undone when the task ends, so no other task sees it (their results are keyed on the environment the run started with). ` +
      `To hand a value to other tasks, make it a param (a \`//| params\` cell) or an output, or set the variable outside the pipeline (in the shell, or a setup cell).\n`,
  );
}

const warnedEnvWrite = new Set<string>();

/** Call a task's run function with its hooks around it, and check it returned every output. */
export async function invokeTask(
  task: AnyTask,
  inputs: Record<string, unknown>,
  ctx: TaskRunContext,
  onReads?: ReadsObserver,
  onFailedReads?: (reads: ObservedReads) => void,
): Promise<Record<string, unknown>> {
  const base = async () => {
    // Only the task's own code is observed: the hooks around it (warehouse, checks) are Cellar's.
    let result: unknown;
    const run = () =>
      watchStrayErrors(
        task.name,
        task.module,
        () => guardExit(task.name, () => task.run(inputs, ctx.params)),
        () => describeSource(task),
      );
    if (onReads) {
      const observed = await observeReads(run, task.module, onFailedReads);
      warnEnvWrites(task, observed.envWritten);
      onReads(
        observed.reads,
        observed.envListed,
        observed.shared,
        observed.children,
        observed.requests,
        observed.unrecorded,
      );
      result = observed.result;
    } else result = await run();
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      throw new Error(
        `task '${task.name}' must return an object of its outputs (${Object.keys(task.outputs).join(', ')}), got ${describe(result)}`,
      );
    }
    return result as Record<string, unknown>;
  };
  const wrapped = runHooksFor(task).reduceRight<() => Promise<Record<string, unknown>>>(
    (next, hook) => (hook.aroundRun ? () => hook.aroundRun!(task, ctx, next) : next),
    base,
  );
  const outputs = await wrapped();
  // Own properties only: an output named 'toString' is not the returned object's method. An output
  // present and holding `undefined` (`const nothing = undefined`) was returned: it is stored (the
  // structured codec keeps `undefined`) and comes back as `undefined`.
  const missing = Object.keys(task.outputs).filter((name) => !Object.hasOwn(outputs, name));
  if (missing.length > 0)
    throw new Error(
      `task '${task.name}' did not return output${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`,
    );
  return outputs;
}

/** The task whose code is running, in its async context (process.exit is refused there). */
const runningTask = new AsyncLocalStorage<string>();
let exitGuarded = false;

/**
 * Run a task's code with `process.exit` refused: on a worker thread it would end the thread
 * ("worker thread exited with code 3", no task code named), in-process the whole run. Called from
 * the task's code (its async context), it throws an Error instead, whose stack names the cell and
 * line; called from anywhere else (a signal handler of the CLI) it exits as usual.
 */
async function guardExit<T>(task: string, run: () => T | Promise<T>): Promise<T> {
  if (!exitGuarded) {
    exitGuarded = true;
    const exit = process.exit.bind(process);
    process.exit = ((code?: number | string | null) => {
      const name = runningTask.getStore();
      if (name === undefined) return exit(code);
      throw new Error(
        `process.exit(${code ?? ''}) called in task '${name}': a task fails by throwing an Error and ends by returning its outputs; exiting would end the run`,
      );
    }) as typeof process.exit;
  }
  return runningTask.run(task, async () => await run());
}

/**
 * What `cellar show` and `load()` say of a result whose output file is gone while its manifest
 * stays: which output and file, and that the next run computes it again (probe.ts re-runs it).
 */
export function missingOutputText(task: string, gone: { output: string; file: string }): string {
  return `its stored output '${gone.output}' is missing from the workspace (${gone.file}): deleted, or a damaged workspace. The next \`cellar run\` of the pipeline computes task '${task}' again`;
}

/**
 * The error of a stored output whose bytes are not what its run stored (`found`: the size or
 * digest that differs, or the codec's complaint): names the task, the output and the file, and
 * how to make it again. The reader's own code is not at fault.
 */
export function damagedOutputError(
  store: Store,
  upstream: AnyTask,
  output: string,
  file: string,
  found: string,
): CellarError {
  const pipeline = upstream.source?.notebook ?? '<pipeline>';
  return new CellarError(
    `the stored output '${output}' of task '${upstream.name}' is damaged: ${store.outputPath(upstream.name, file)} (${found}): changed after its run wrote it (edited or truncated by hand, a damaged disk), or unreadable. The next \`cellar run\` of the pipeline makes it again; \`cellar run ${pipeline} --rerun ${upstream.name}\` forces it`,
    'E_OUTPUT_DAMAGED',
  );
}

/**
 * The input of a job its task's failure is about, when the failure is `readOutput`'s: a stored
 * upstream output found missing (E_OUTPUT_MISSING) or damaged (E_OUTPUT_DAMAGED) while the task
 * read its inputs. Told by the message (`readOutput`'s own wording, naming the output and the task
 * of one of `inputs`), since a failure crosses from a worker thread as text only. The scheduler
 * then makes that upstream again in the same run (execute.ts `remakeInput`).
 */
export function unreadableInput(
  message: string,
  inputs: readonly JobInput[],
): { input: JobInput; kind: 'missing' | 'damaged' } | undefined {
  const missing = message.endsWith('(E_OUTPUT_MISSING)');
  if (!missing && !message.endsWith('(E_OUTPUT_DAMAGED)')) return undefined;
  for (const input of inputs) {
    const about = `the stored output '${input.output}' of task '${input.task}' is `;
    if (message.startsWith(missing ? `${about}missing from the workspace` : `${about}damaged: `))
      return { input, kind: missing ? 'missing' : 'damaged' };
  }
  return undefined;
}

/** The digest a manifest records of an output's bytes (`StoredOutput.digest`). */
function outputDigest(bytes: Uint8Array): string {
  return sha256(bytes).slice(0, 16);
}

/**
 * Decode one stored output of `upstream`, after checking its bytes against the size and digest
 * its manifest recorded (when it did: older manifests have no digest). A file edited or truncated
 * since its run wrote it, or one its codec cannot decode, is E_OUTPUT_DAMAGED naming whose output
 * and which file, not the codec's bare error in the reader's cell. With `key` (the result's key),
 * that result's manifest is marked damaged (`markDamaged`), so the next run re-makes it: an edit
 * that keeps the size is invisible to the store probe's size check (probe.ts). A file gone because
 * a re-run replaced the result meanwhile is read from the new manifest instead (once: `again`).
 * @throws CellarError E_OUTPUT_MISSING when the manifest names a file the workspace no longer has
 * @throws CellarError E_OUTPUT_DAMAGED when the file's bytes are not what the run stored
 */
export async function readOutput(
  store: Store,
  upstream: AnyTask,
  output: string,
  stored: OutputLocation,
  key?: string,
  again = false,
): Promise<unknown> {
  const outputs = upstream.outputs as Record<string, OutputSpec>;
  const spec = Object.hasOwn(outputs, output) ? outputs[output]! : {};
  let bytes: Uint8Array;
  try {
    bytes = await store.readOutput(upstream.name, stored.file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code !== 'ENOENT') throw error;
    // A re-run under the same key committed a new result since the caller read the manifest, and
    // removed the files only the old one named (store.ts `writeManifest`): the key's result is
    // the new one, read once from the manifest as it is now.
    if (key !== undefined && !again) {
      const now = await Promise.resolve(store.readManifest(upstream.name, key)).catch(
        () => undefined,
      );
      const entry = now && !now.damaged ? now.outputs?.[output] : undefined;
      if (entry && entry.file !== stored.file)
        return readOutput(store, upstream, output, entry, key, true);
    }
    // The manifest says it was stored. A run's store probe re-runs a task whose output file is
    // gone (probe.ts), so a run meets this only when the file went after the probe (deleted
    // while the run ran) or on a store that cannot tell (`Store.missingOutput`). Say whose output
    // it is (the reader's cell is not at fault) and how to compute it again.
    throw new CellarError(
      `the stored output '${output}' of task '${upstream.name}' is missing from the workspace (${stored.file}): its manifest is there, the file is not (deleted, or a damaged workspace). The next run computes it again; --rerun ${upstream.name} forces it`,
      'E_OUTPUT_MISSING',
    );
  }
  let found: string | undefined;
  if (stored.bytes !== undefined && bytes.byteLength !== stored.bytes)
    found = sizeDiffers(bytes.byteLength, stored.bytes);
  else if (stored.digest !== undefined && outputDigest(bytes) !== stored.digest)
    found = `SHA-256 ${outputDigest(bytes)}, recorded ${stored.digest}`;
  if (found === undefined) {
    try {
      return await getCodec(stored.codec).decode(bytes, spec, stored.schema);
    } catch (error) {
      found = `the ${stored.codec} codec cannot decode it: ${(error as Error | null)?.message ?? String(error)}`;
    }
  }
  if (key !== undefined) await markDamaged(store, upstream.name, key, output, stored, found);
  throw damagedOutputError(store, upstream, output, stored.file, found);
}

/**
 * Stop serving the result of `task` for `key` whose output was found damaged, so the next run
 * re-makes it: its manifest is marked (`Manifest.damaged`, which `Store.missingOutput` reports:
 * the next plan says which output and what was found) while it still names the same file and
 * digest (one that changed meanwhile is a new result, another run's). A store that cannot report
 * it (no `missingOutput`: GcsStore) has the manifest dropped instead. Best effort: the error is
 * what the caller reports either way.
 */
export async function markDamaged(
  store: Store,
  task: string,
  key: string,
  output: string,
  stored: OutputLocation,
  found: string,
): Promise<void> {
  try {
    const m = await store.readManifest(task, key);
    const now = m?.outputs[output];
    if (!m || m.damaged || !now) return;
    if (now.file !== stored.file || now.digest !== stored.digest || now.bytes !== stored.bytes)
      return;
    if (store.missingOutput) await store.writeManifest({ ...m, damaged: { output, found } });
    else await store.dropManifest(task, key);
  } catch {
    // not ours to change (a read-only workspace): the error names --rerun
  }
}

/**
 * Run `task` for `job` against `store`; returns what was written, for the manifest, and whether
 * the result may be stored under the job's key (`notCached`).
 */
export async function performTask(
  task: AnyTask,
  tasksByName: ReadonlyMap<string, AnyTask>,
  job: TaskJob,
  store: Store,
  /** In process, set once the runner stopped waiting (a timeout): the attempt then writes nothing. */
  attempt?: { abandoned: boolean },
): Promise<PerformedTask> {
  // Every variable the task read, by name in its code or as seen at run time (an alias
  // `const env = process.env; env.TOKEN`, a computed name): a value in clear in an output is
  // refused, and one in its error is redacted before the error reaches the summary and run log.
  const envNames = new Set(job.envRead ?? []);
  try {
    return await performWith(task, tasksByName, job, store, envNames, attempt);
  } catch (error) {
    throw redactError(error, envNames);
  }
}

/** `TaskRunContext.keysByTask` before `keysOnRead` defines it (never seen by a hook). */
const NOT_YET_READ: Record<string, string> = Object.freeze({});

/**
 * Define `ctx.keysByTask` to be made on first read (then kept; a hook may also replace it): only
 * hooks read it (the warehouse's), and a fan-in's copy of its 100k upstream keys cost its worker
 * ~12 MB while it also held the job's 100k inputs. Out of `performWith`, so the getter holds only
 * the keys and names it needs, not that function's scope (the job, its inputs): a context kept
 * past its task would otherwise keep every job it saw.
 */
function keysOnRead(ctx: TaskRunContext, job: TaskJob): void {
  let keys = job.keysByTask;
  const { upstreamKeys, task, key } = job;
  Object.defineProperty(ctx, 'keysByTask', {
    enumerable: true,
    configurable: true,
    get: () => (keys ??= { ...upstreamKeys, [task]: key }),
    set: (replaced: Record<string, string>) => {
      keys = replaced;
    },
  });
}

async function performWith(
  task: AnyTask,
  tasksByName: ReadonlyMap<string, AnyTask>,
  job: TaskJob,
  store: Store,
  envNames: Set<string>,
  attempt: { abandoned: boolean } | undefined,
): Promise<PerformedTask> {
  const inputs: Record<string, unknown> = {};
  // Numbers freezing cannot guard (arrays of doubles, typed arrays): checked as the task returns.
  const unfrozen: UnfrozenNumbers[] = [];
  for (const input of job.inputs) {
    const upstream = tasksByName.get(input.task);
    if (!upstream)
      throw new Error(`task '${task.name}': upstream task '${input.task}' is not in the pipeline`);
    // Frozen deeply: a change through an alias the compiler could not follow throws at its line
    // (frozen-inputs.ts) instead of silently computing something else than the notebook.
    inputs[input.name] = freezeUpstream(
      await readOutput(store, upstream, input.output, input.stored, job.upstreamKeys[input.task]),
      unfrozen,
      input.name,
    );
  }
  let notCached: string | undefined;
  const ctx: TaskRunContext = {
    params: job.params,
    upstreamKeys: job.upstreamKeys,
    key: job.key,
    keysByTask: NOT_YET_READ,
    notCached: (why) => {
      notCached ??= why;
    },
    ...(job.hookInputs ? { keyed: job.hookInputs } : {}),
  };
  keysOnRead(ctx, job);
  const reads = job.reads;
  let readNothing = false;
  let unkeyed = job.unkeyed === true;
  let wrote: string[] = [];
  let outputs: Record<string, unknown>;
  try {
    outputs = await invokeTask(
      task,
      inputs,
      ctx,
      reads
        ? (seen, _envListed, shared, children, requests, unrecorded) => {
            for (const name of seen.env) envNames.add(name);
            // Recorded as soon as the task's code returns, from the thread that ran it (one file
            // per task, atomic: run-reads.ts), before its outputs are encoded.
            // Names the code reads statically are keyed already (keys.ts): only computed ones count.
            for (const name of job.envRead ?? []) seen.env.delete(name);
            const now = recordRunReads(reads, task.name, seen);
            readNothing = !now.readAny;
            wrote = writtenPaths(reads, sideEffectOutputs(seen));
            // What helpers of other modules read in it: keyed for every task reaching the module.
            recordModuleReads(reads, shared, seen.written, job.envRead);
            // Its own reads, and those of the modules its code reaches, on this thread: in this
            // task or one before it that filled a memo this task was handed.
            if (!unkeyed)
              unkeyed = lacksRead(job, [...now.inputs, ...moduleInputsSeen(job.modules ?? [])]);
            if (children.length > 0) warnChildProcess(task, children);
            if (requests.length > 0) warnNetwork(task, requests);
            // A read missed is a key that does not move with it: better not cached than stale.
            if (unrecorded) notCached ??= `${task.name} ${unrecorded}`;
            // Checked as the task's code returns: what it read later cannot change its result.
            const changed =
              job.keyed && readChangedWhileRunning(reads, job.keyed.reads, seen, job.keyed.sinceMs);
            if (changed) notCached ??= `${changed} changed while ${task.name} ran`;
          }
        : undefined,
      (seen) => {
        for (const name of seen.env) envNames.add(name);
      },
    );
  } catch (error) {
    throw mutationError(task.name, error, job.inputs, inputs) ?? error;
  }
  if (unfrozen.length > 0) {
    const changed = changedInPlace(unfrozen);
    if (changed.length > 0) throw changedInPlaceError(task.name, changed, job.inputs);
  }
  const stored: Record<string, StoredOutput> = {};
  // An abandoned attempt (in process, past its timeout) finishing late must not write over the
  // files of the attempt or run that took its place, with no lock held.
  if (attempt?.abandoned) throw new Error(`task '${task.name}': attempt abandoned at its timeout`);
  // Files this attempt wrote: removed if a later output fails, unless a stored manifest names them
  // (a re-run writing the very bytes of the result it replaces).
  const files: string[] = [];
  try {
    await writeOutputs(task, job, store, outputs, envNames, unkeyed, stored, files);
  } catch (error) {
    if (files.length > 0 && store.discardOutputs)
      await store.discardOutputs(task.name, job.key, files).catch(() => undefined);
    throw error;
  }
  // Hashed once the outputs are stored (a stream the task ended without awaiting has flushed).
  const written = reads && wrote.length > 0 ? writtenContent(reads.root, wrote) : {};
  return {
    outputs: stored,
    ...(Object.keys(written).length > 0 ? { written } : {}),
    ...(notCached ? { notCached } : {}),
    ...(readNothing ? { readNothing } : {}),
    ...(unkeyed ? { unkeyed } : {}),
  };
}

/**
 * Encode and store each output of `task`, into `stored` (its manifest entries) and `files` (the
 * files written so far, for the caller to discard when a later one fails).
 */
async function writeOutputs(
  task: AnyTask,
  job: TaskJob,
  store: Store,
  outputs: Record<string, unknown>,
  envNames: Set<string>,
  unkeyed: boolean,
  stored: Record<string, StoredOutput>,
  files: string[],
): Promise<void> {
  // A forced run that computes the very bytes its key holds keeps the stored file: the result is
  // the same (its readers' keys, a `load()`'s recorded bytes and file, stay as they were).
  const previous = job.replaces ? job.replacing : undefined;
  for (const [name, spec] of Object.entries(task.outputs as Record<string, OutputSpec>)) {
    let codec, encoded;
    try {
      codec = pickCodec(outputs[name], spec, name);
      encoded = await codec.encode(outputs[name], spec);
    } catch (error) {
      // A value no codec can keep (or an unknown codec) is the task's fault: name it and the output.
      throw new Error(`task '${task.name}', output '${name}': ${(error as Error).message}`);
    }
    const { bytes, schema } = encoded;
    if (envNames.size > 0 && spec.codec === undefined)
      refuseSecrets(task.name, name, bytes, [...envNames]);
    // A content-addressed store names the object itself; the manifest records that name.
    // An unkeyed result's key is not its own (PerformedTask.unkeyed): named by its bytes too, so
    // a run in another workdir, computing other bytes under the same key, writes another file.
    // A forced run may replace a stored result of its key: named apart from the files its
    // manifest names (store.ts `replacementFileKey`), so failing half-way damages none of them.
    const digest = outputDigest(bytes);
    const kept = previous && Object.hasOwn(previous, name) ? previous[name] : undefined;
    if (
      kept &&
      kept.digest === digest &&
      kept.codec === codec.id &&
      kept.codecVersion === codec.version &&
      (await storedDigest(store, task.name, kept.file)) === digest
    ) {
      const stats = outputStats(outputs[name], schema);
      stored[name] = { ...kept, schema, ...(stats ? { stats } : {}) };
      continue;
    }
    const fileKey = job.replaces
      ? replacementFileKey(job.key, digest)
      : unkeyed
        ? `${job.key}-${digest.slice(0, 8)}`
        : job.key;
    const fileName = outputFileName(task.name, name, fileKey, codec.ext);
    const written = await store.writeOutput(task.name, fileName, bytes);
    const file = typeof written === 'string' ? written : fileName;
    files.push(file);
    const stats = outputStats(outputs[name], schema);
    stored[name] = {
      codec: codec.id,
      codecVersion: codec.version,
      file,
      bytes: bytes.byteLength,
      digest,
      schema,
      ...(stats ? { stats } : {}),
    };
  }
}

/** The digest of a stored output file's bytes as they are now, or undefined when unreadable. */
async function storedDigest(store: Store, task: string, file: string): Promise<string | undefined> {
  try {
    return outputDigest(await store.readOutput(task, file));
  } catch {
    return undefined;
  }
}

/**
 * Does the job's key lack one of `inputs` (recordRunReads' names), so the result is not its key's?
 * The key's reads are `job.keyed.reads` (absent: none); its env names, `job.envRead`.
 */
function lacksRead(job: TaskJob, inputs: readonly string[]): boolean {
  const reads = job.keyed?.reads ?? {};
  for (const name of inputs)
    if (name.startsWith('env:') ? !job.envRead?.includes(name.slice(4)) : !(name in reads))
      return true;
  return false;
}

/**
 * Values read from the environment are tokens and passwords more often than not: an output whose
 * bytes hold one in clear is refused, unless the output names its codec (`//| output: x=text`,
 * or `codec:` in a hand-written task), which says it is meant to be stored. Values shorter than
 * 6 characters (`1`, `true`, `prod`) would match by chance and are not checked.
 */
function refuseSecrets(task: string, output: string, bytes: Uint8Array, names: string[]): void {
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [value, name] of envSecrets(names, 6)) {
    if (haystack.includes(value)) {
      throw new CellarError(
        `task '${task}', output '${output}' holds the value of the environment variable ${name} in clear, and would store it in the workspace. ` +
          `Keep it inside the task (return what you computed from it), or declare the output (\`//| output: ${output}=<codec>\`) to store it anyway`,
        'E_SECRET_IN_OUTPUT',
      );
    }
  }
}

const warnedChildProcess = new Set<string>();

/**
 * What a child process reads (`execSync('cat data/x.csv')`, a script run with `spawn`) happens in
 * another process, where the recorder does not see it: those files are not in the task's key, and
 * editing them leaves it cached. Say so once per task and thread, naming the cell and the call,
 * with the two ways out.
 */
function warnChildProcess(task: AnyTask, calls: readonly string[]): void {
  if (warnedChildProcess.has(task.name)) return;
  warnedChildProcess.add(task.name);
  const where = describeSource(task);
  const shown = [...new Set(calls)];
  const list =
    shown.slice(0, 3).join(', ') + (shown.length > 3 ? ` and ${shown.length - 3} more` : '');
  process.stderr.write(
    `cellar: warning: task '${task.name}'${where ? ` (${where})` : ''} starts a child process: ${list}. ` +
      `What a child process reads is not seen, so those files are not in the task's key: editing them leaves the task cached. ` +
      `Read the files in the task itself (readFileSync, fs/promises), or mark the task \`//| rerun\` to run it on every run.\n`,
  );
}

const warnedNetwork = new Set<string>();

/**
 * What a server sends (`fetch("https://…")`, `https.get`) is not in the task's key: only its code
 * (the URL) is, so the task stays cached when the server's content changes. Say so once per task
 * and thread, naming the cell and the calls with where they are made, with the two ways out.
 */
function warnNetwork(task: AnyTask, calls: readonly string[]): void {
  if (warnedNetwork.has(task.name)) return;
  warnedNetwork.add(task.name);
  const where = describeSource(task);
  const shown = calls.filter((c) => c !== '…');
  const more = shown.length > 3 || shown.length < calls.length;
  const list = shown.slice(0, 3).join(', ') + (more ? ' and more' : '');
  process.stderr.write(
    `cellar: warning: task '${task.name}'${where ? ` (${where})` : ''} makes a network request: ${list}. ` +
      `What a server sends is not seen, so it is not in the task's key: when the server's content changes, the task stays cached. ` +
      `Mark the task \`//| rerun\` to run it on every run, or save what it fetches to a file the task reads.
`,
  );
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * The failure of an attempt that ran past the task's `timeoutMs` (E_TASK_TIMEOUT). `stopped`: the
 * attempt's thread was ended (a worker); otherwise (in process) only the wait for it ended, and
 * its code may still be running.
 */
export function timeoutError(task: string, timeoutMs: number, stopped: boolean): CellarError {
  const what = stopped
    ? 'its thread was stopped and nothing of this attempt is stored'
    : 'the run stopped waiting for it and stores nothing of this attempt; run in process, its code could not be stopped and may still be running';
  return new CellarError(
    `task '${task}' ran longer than its timeout of ${formatDuration(timeoutMs)} (timeoutMs: ${timeoutMs}): ${what}. If it needs longer, raise \`//| timeout\` (or \`timeoutMs\`)`,
    'E_TASK_TIMEOUT',
  );
}

/**
 * The failure of a task awaiting a promise nothing can settle any more: its thread's event loop
 * emptied ('beforeExit') while the task was pending (InProcessRunner, and workers/thread.ts).
 */
export function neverSettlesError(task: string): CellarError {
  return new CellarError(
    `task '${task}' awaits a promise that can never settle: nothing is left that could settle it (no timer, I/O or other task is pending), so it would never finish`,
    'E_NEVER_SETTLES',
  );
}
