// Awaiting what only user code can settle. A task awaiting `new Promise(() => {})`, or a setup
// cell's top-level await of one, leaves its thread's event loop empty while Cellar waits: Node then
// ends the process with code 13 ("unsettled top-level await") and no word, the summary unprinted
// and locks left behind; on a worker thread, whose port to the scheduler keeps its loop alive, the
// run would hang forever. Every such wait goes through `whileSettleable`: when the loop empties
// ('beforeExit', exactly when nothing is left that could settle anything) the wait fails with the
// error its caller names. No timer decides it.
//
// One 'beforeExit' listener per thread serves every wait, so that the failure that fits comes
// first: the innermost waits (a task, a setup's load) fail, and a last-resort wait (the CLI's whole
// command) fails only when the loop empties with no other wait pending.

interface Wait {
  fail: () => void;
  lastResort: boolean;
}

const waits = new Set<Wait>();

function onLoopEmpty(): void {
  const inner = [...waits].filter((w) => !w.lastResort);
  const failing = inner.length > 0 ? inner : [...waits];
  for (const wait of failing) {
    waits.delete(wait);
    wait.fail();
  }
  // What the failures set off (the scheduler releasing the lock, then starting the next task,
  // which may itself await forever) runs as microtasks right after this listener. The loop must
  // turn once more after them, or Node would not look at the loop again and exit with code 13
  // in the middle of the run: one immediate keeps it alive for a turn, and if it then empties
  // again, 'beforeExit' comes again for the waits that work began.
  if (failing.length > 0) setImmediate(() => {});
  if (waits.size === 0) process.off('beforeExit', onLoopEmpty);
}

/**
 * `running`, or `neverSettles()` thrown when this thread's event loop empties while it is pending
 * (nothing is left that could settle it). `lastResort`: fail only when no other wait is pending
 * (a wait around the others, which name the fault better).
 */
export async function whileSettleable<T>(
  running: Promise<T>,
  neverSettles: () => Error,
  options: { lastResort?: boolean } = {},
): Promise<T> {
  let wait: Wait | undefined;
  const stuck = new Promise<never>((_, reject) => {
    wait = { fail: () => reject(neverSettles()), lastResort: options.lastResort === true };
  });
  if (waits.size === 0) process.on('beforeExit', onLoopEmpty);
  waits.add(wait!);
  try {
    return await Promise.race([running, stuck]);
  } finally {
    waits.delete(wait!);
    if (waits.size === 0) process.off('beforeExit', onLoopEmpty);
  }
}
