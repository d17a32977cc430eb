// Errors a task's code raises where no `await` reaches them: a promise rejected with no handler
// (`Promise.reject(err)` or an async call left un-awaited) and an exception thrown from a callback
// (`setTimeout(() => { throw err })`, an event handler). Node reports them on the process, not to
// the task: on a worker thread the thread died (and the task passed when it had already
// returned), in-process the whole run ended with a bare stack and no summary. While a task runs,
// such an error fails that task instead, named as the task's own failure, its stack kept so the
// CLI locates the cell and line (cli/failure-location.ts).
//
// Which task: the one whose async context raised it (the task's code, or a timer, callback or
// promise it set up, in a helper or a package too: Node carries the context into the error
// listeners). Without one, the one whose module the error's stack names; else every task running
// on this thread then (one on a worker thread; in-process, the message says which others ran). An error a
// task that has returned raised (its context, or a stack naming its module) is printed as a
// warning, also when it comes between tasks or after the last one (the listeners stay once a task
// has run: a task's timer outlives it, and without them it ended the run after its summary, or
// silently ended a worker thread). Any other error raised while no task runs gets Node's own
// treatment: left to the process's other listeners, or thrown again to end the process.
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { thrownMessage } from '../errors.js';

interface Watch {
  task: string;
  where?: () => string | undefined;
  /** The module file as it appears in stack frames (a path, and its file: URL). */
  files: string[];
  fail: (error: Error) => void;
}

const running = new Set<Watch>();
/**
 * Module files of every task that has run on this thread, with the task and where its code is in
 * the notebook (read only when needed): a stack naming one blames only it.
 */
const taskFiles = new Map<string, { task: string; where?: () => string | undefined }>();

function filesOf(module: string | undefined): string[] {
  if (module === undefined) return [];
  if (module.startsWith('file:')) return [fileURLToPath(module), module];
  return [module];
}

/**
 * The task whose code, or a timer, callback or promise it set up (through a helper or a package
 * too), is running: Node keeps the async context into the process's error listeners, so the
 * error's owner is known whatever it threw (a string has no stack to name a module by).
 */
const owner = new AsyncLocalStorage<Watch>();

/** The tasks an error is blamed on: its owner while it runs; none once it returned (see report). */
function blame(error: unknown): Watch[] {
  const own = owner.getStore();
  if (own) return running.has(own) ? [own] : [];
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const named = [...running].filter((w) => w.files.some((f) => stack.includes(f)));
  if (named.length > 0) return named;
  if ([...taskFiles.keys()].some((f) => stack.includes(f))) return []; // a task no longer running
  return [...running];
}

/**
 * The thrown value's own message (`thrownMessage`) inside a stray failure's message
 * (`strayFailure`), or undefined when `message` is not one: a thrown value that is not an Error
 * has no stack, and the CLI finds its throw site by this message (cli/failure-location.ts).
 */
export function strayThrownMessage(message: string): string | undefined {
  const m =
    /^(?:a promise rejected with no handler|an exception thrown from a callback) in task '.*?' \((?:an un-awaited call or `Promise\.reject`|a timer or an event handler)\): ([\s\S]*?)(?: \(tasks .* ran at the same time; the error names none of them\))?\. (?:Await the promise|Wrap the callback)/.exec(
      message,
    );
  return m?.[1];
}

/** The stray error as the task's failure: the message says what happened and what to do. */
function strayFailure(
  kind: 'rejection' | 'exception',
  error: unknown,
  watch: Watch,
  others: string[],
): Error {
  const what =
    kind === 'rejection'
      ? `a promise rejected with no handler in task '${watch.task}' (an un-awaited call or \`Promise.reject\`)`
      : `an exception thrown from a callback in task '${watch.task}' (a timer or an event handler)`;
  const fix =
    kind === 'rejection'
      ? 'Await the promise (or give it a `.catch`) so the task waits for it'
      : 'Wrap the callback in a promise the task awaits, so its error fails the task where it happens';
  const alsoRan =
    others.length > 0
      ? ` (tasks ${others.map((o) => `'${o}'`).join(', ')} ran at the same time; the error names none of them)`
      : '';
  const message = `${what}: ${thrownMessage(error)}${alsoRan}. ${fix}`;
  const failure = new Error(message);
  // The original frames, so the failure is located at the line that threw or rejected.
  const frames =
    error instanceof Error && error.stack
      ? error.stack.split('\n').filter((l) => /^\s+at /.test(l))
      : [];
  failure.stack = [`Error: ${message}`, ...frames].join('\n');
  return failure;
}

const onRejection = (reason: unknown) => report('rejection', reason);
const onException = (error: unknown) => report('exception', error);

function report(kind: 'rejection' | 'exception', error: unknown): void {
  const blamed = blame(error);
  if (blamed.length === 0) {
    // A task that has returned (its result is stored): said, not pinned on the task running now.
    if (running.size > 0 || lateOwner(error)) process.stderr.write(lateErrorWarning(kind, error));
    else leaveToNode(kind, error);
    return;
  }
  const names = blamed.map((w) => w.task);
  for (const w of blamed)
    w.fail(
      strayFailure(
        kind,
        error,
        w,
        names.filter((n) => n !== w.task),
      ),
    );
}

/**
 * The warning for an error a task's timer or callback raised after the task returned, naming the
 * task and its cells when the stack names its module: its result, computed before, stands.
 */
function lateErrorWarning(kind: 'rejection' | 'exception', error: unknown): string {
  const task = lateOwner(error);
  const where = task?.where?.();
  const who = task ? `task '${task.task}'${where ? ` (${where})` : ''}` : 'a task';
  const what = kind === 'rejection' ? 'a promise it left rejected' : 'a timer or callback it left';
  return (
    `cellar: warning: ${who} raised an error after it returned, from ${what}: ${thrownMessage(error)}. ` +
    `Its result was computed before the error and stands. To make such an error fail the task, wrap the callback in a promise the task awaits.\n`
  );
}

/** The task that raised `error` after it returned: its async context, else a stack naming its module. */
function lateOwner(error: unknown): { task: string; where?: () => string | undefined } | undefined {
  const own = owner.getStore();
  if (own) return { task: own.task, where: own.where };
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  return [...taskFiles].find(([file]) => stack.includes(file))?.[1];
}

let listening = false;

function listen(): void {
  if (listening) return;
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  listening = true;
}

/**
 * An error no task raised, while none runs: what Node does without us. Another listener on the
 * process (a notebook kernel, a test runner) handles it; with none, ours step aside and it is
 * thrown again, so Node prints it and ends the process with code 1 as it would have.
 */
function leaveToNode(kind: 'rejection' | 'exception', error: unknown): void {
  const event = kind === 'rejection' ? 'unhandledRejection' : 'uncaughtException';
  if (process.listenerCount(event) > 1) return;
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
  listening = false;
  process.nextTick(() => {
    throw error;
  });
}

function timersPending(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/**
 * Run a task's code (`run`) so that a promise it leaves rejected with no handler, or an exception
 * its callbacks throw, fails it: the returned promise rejects with an Error naming the task, what
 * happened, the fix, and the original stack. A timer the code set to fire at once
 * (`setTimeout(f)`, `setTimeout(f, 0)`) is waited for before the result counts, so its exception
 * is the task's; a later timer's is not (it fires after the task returned).
 * @param module the task's defining module (`import.meta.url` or a path), to tell its errors apart.
 * @param where the task's place in the notebook, for a warning about an error raised after it returned.
 */
export async function watchStrayErrors<T>(
  task: string,
  module: string | undefined,
  run: () => Promise<T>,
  where?: () => string | undefined,
): Promise<T> {
  let fail!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // observed through the race below; never unhandled itself
  const watch: Watch = { task, where, files: filesOf(module), fail };
  for (const f of watch.files) taskFiles.set(f, { task, where });
  listen();
  running.add(watch);
  const timersBefore = timersPending();
  try {
    const result = await Promise.race([owner.run(watch, run), failed]);
    // Node reports a rejection left unhandled once the microtasks of the turn that made it have
    // run: by the next turn's check phase it has reached the listener.
    await Promise.race([new Promise((r) => setImmediate(r)), failed]);
    // Its zero-delay timers fire before this one (same duration, set earlier: Node runs them in
    // order). Only when it left timers: the common task waits for none.
    if (timersPending() > timersBefore)
      await Promise.race([new Promise((r) => setTimeout(r, 0)), failed]);
    return result;
  } finally {
    running.delete(watch);
  }
}
