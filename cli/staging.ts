// A folder a command writes as a whole (`cellar build`'s dist/<name>/, `cellar docs`'s site),
// written so that a failed, interrupted or killed command never leaves it half-written nor loses
// the last one: the command writes a staging folder beside it, `<out>.tmp-<owner>`, and swaps it
// in at the end (out → `<out>.old-<owner>`, staging → out, then the old one removed), in one
// synchronous step a signal handler cannot run inside.
//
// What may go wrong, and who cleans up:
//   a thrown error      the staging folder is removed before the error goes on;
//   SIGINT/SIGTERM/SIGHUP  removed by a handler, which then lets the signal end the process as it
//                       would have (the shell still reports 130/143/129);
//   kill -9, a crash    the next build of the same folder removes staging folders whose owner is
//                       gone (`sweepStaging`), and puts back an old folder a swap left out.
// The owner is `<pid>.<start>~<host>` (runtime/store/owner.ts `tempStamp`), as for the store's temp
// files: a reused PID (a container's node is PID 1 after every restart) or another host's build
// of a shared folder is never taken for the dead one.
// Rejected: emptying the folder and writing in place (what `cellar docs` did: Ctrl-C left a site
// of one marker file); deleting the staging folder from an 'exit' listener alone (a signal's
// default action ends the process without running it).
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { TEMP_NAME, isLeftoverTemp, tempStamp } from '../runtime/store/owner.js';
import { onStopSignal } from './signals.js';

/** The signals that end a command the user stopped (Ctrl-C, `kill`, a closed terminal). */
const STOPPING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Writes `out` through a fresh staging folder beside it: `write(staging, stopped)` fills the
 * (existing, empty) staging folder, then it replaces `out` whole. On a throw, or
 * SIGINT/SIGTERM/SIGHUP while the command runs, the staging folder is removed and `out` is left as
 * it was; the error is rethrown, the signal then ends the process as it would have. `stopped` is
 * aborted first on a signal: a child process `write` started with it (npm) is ended, so nothing
 * else writes into the staging folder once it is removed.
 * @returns what `write` resolved to.
 */
export async function writeStaged<T>(
  out: string,
  write: (staging: string, stopped: AbortSignal) => Promise<T>,
): Promise<T> {
  const target = resolve(out);
  const staging = `${target}.tmp-${tempStamp()}`;
  const stop = new AbortController();
  const discard = () => rmSync(staging, { recursive: true, force: true });
  // Listening before the staging folder exists: a signal with no listener ends the process at
  // once, which would leave a folder made the moment before. Then the signal ends the process,
  // as it would an unguarded command (signals.ts).
  const stopSignals = onStopSignal(STOPPING_SIGNALS, () => {
    stop.abort();
    discard();
    process.off('exit', discard);
  });
  discard();
  mkdirSync(staging, { recursive: true });
  const stopGuarding = () => {
    stopSignals();
    process.off('exit', discard);
  };
  // An exit from elsewhere (process.exit in a last resort) while `write` runs.
  process.on('exit', discard);
  try {
    const result = await write(staging, stop.signal);
    swapInto(staging, target);
    return result;
  } catch (error) {
    discard();
    throw error;
  } finally {
    // Not at once: a signal that came during the last synchronous stretch (TypeDoc's, the swap)
    // is only read on the event loop's next poll phase, and would be lost with its listener
    // gone. Kept until a whole loop turn has passed (two check phases: one setImmediate ends in
    // the same turn when this runs from a poll callback), it still ends the process by the
    // signal; the output is whole by then.
    setImmediate(() => setImmediate(stopGuarding));
  }
}

/** Replaces `out` with `staging` (both absolute, siblings): the old folder is moved aside first. */
function swapInto(staging: string, out: string): void {
  const old = `${out}.old-${tempStamp()}`;
  mkdirSync(dirname(out), { recursive: true });
  let moved = false;
  try {
    renameSync(out, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    renameSync(staging, out);
  } catch (error) {
    if (moved) renameSync(old, out); // the last output back where it was
    throw error;
  }
  if (moved) rmSync(old, { recursive: true, force: true });
}

/**
 * Removes what builds of `out` that are gone (killed with kill -9, a crash, a power cut) left
 * beside it: staging folders `<out>.tmp-<owner>`, and old folders `<out>.old-<owner>` (moved back
 * to `out` when a swap stopped before the new one was in place, else removed). A folder of a
 * process still alive, or of another host, or that `isOurs` does not vouch for (someone else's
 * folder under a look-alike name), is left alone. Best effort: a folder that cannot be removed
 * waits for the next build.
 * @param isOurs whether a folder holds only what the command writes there (an empty one counts).
 */
export function sweepStaging(out: string, isOurs: (dir: string) => boolean): void {
  const target = resolve(out);
  const parent = dirname(target);
  const name = basename(target);
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return; // no parent folder yet: nothing left there
  }
  // Old folders after staging ones: an old folder goes back only where no output stands.
  const left = entries
    .map((entry) => ({ entry, kind: leftoverKind(entry, name) }))
    .filter((e) => e.kind !== undefined)
    .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'tmp' ? -1 : 1));
  for (const { entry, kind } of left) {
    const path = join(parent, entry);
    try {
      if (!statSync(path).isDirectory() || !isOurs(path)) continue;
      if (kind === 'old' && !statSync(target, { throwIfNoEntry: false })) {
        renameSync(path, target);
        continue;
      }
      rmSync(path, { recursive: true, force: true });
    } catch {
      // another build got there first, or it cannot be removed: the next build tries again
    }
  }
}

/**
 * `tmp` or `old` when `entry` is `<name>.tmp-<owner>` or `<name>.old-<owner>` with an owner of
 * this host that is gone; else undefined.
 */
function leftoverKind(entry: string, name: string): 'tmp' | 'old' | undefined {
  for (const kind of ['tmp', 'old'] as const) {
    const prefix = `${name}.${kind}-`;
    if (!entry.startsWith(prefix)) continue;
    // Judged as the temp name it would be: the owner part must be all that follows the prefix.
    const asTemp = `${name}.tmp-${entry.slice(prefix.length)}`;
    const m = TEMP_NAME.exec(asTemp);
    if (m?.index === name.length && isLeftoverTemp(asTemp)) return kind;
  }
  return undefined;
}
