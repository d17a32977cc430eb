// A cross-process, cross-host lock on one task+key: an O_EXCL lock file (lock-file.ts, shared
// with the DuckDB lease) holding the owner's PID, host name and boot id, refreshed by a heartbeat
// (the holder touches the file's mtime).
//
// Why not proper-lockfile: it detects a dead owner only by a heartbeat going stale (10 s by
// default, 2 s at the least), so a run resumed right after a SIGKILL would wait for the timeout.
// With the PID in the file, a lock whose owner is gone (same host and boot, `kill(pid, 0)` says
// ESRCH) is broken at once. A lock from another machine (a shared NFS folder) cannot be judged by
// PID: it is stale when its heartbeat is older than the lease (CELLAR_LOCK_LEASE_MS, 30 s by
// default), and a lock from this host name but another boot id (the machine rebooted) is stale at
// once. The lease must exceed the clock skew between hosts: both sides compare the file's mtime,
// written with the holder's clock, to their own. Breaking is guarded by a second O_EXCL file, and
// the lock is only removed if it still holds the very owner we judged dead, so two processes
// breaking the same stale lock cannot remove a fresh lock taken in between. On the same host the
// owner is PID + process start time (owner.ts), so PID reuse does not keep a dead owner's lock:
// in a container node is PID 1 after every restart, and a lock left by the killed PID 1 names
// another start time than the new PID 1.
import { hostname } from 'node:os';
import type { TaskLock } from './store.js';
import { currentBootId, currentProcess, isOwnerAlive } from './owner.js';
import { breakStaleLockFile, lockFileAgeMs, readLockFile, tryCreateLockFile } from './lock-file.js';

interface Owner {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id where there is one: a PID means nothing after a reboot. */
  boot?: string;
  /** The process's start time (clock ticks since boot, Linux): a PID alone is reused. */
  start?: number;
  token: string;
  since: string;
}

/** How a lock judges holders on other hosts. Defaults: lease CELLAR_LOCK_LEASE_MS or 30 s, heartbeat a third of it. */
export interface LockTiming {
  /** A lock from another host whose heartbeat is older than this is stale (ms). */
  leaseMs?: number;
  /** How often the holder touches its lock file (ms). */
  heartbeatMs?: number;
  /** Who this process claims to be (tests play a second host in one process). */
  identity?: { host: string; boot?: string };
}

/** This machine's boot id (Linux), or undefined elsewhere. */
export const bootId = currentBootId;

function defaultLeaseMs(): number {
  const env = Number(process.env.CELLAR_LOCK_LEASE_MS);
  return Number.isFinite(env) && env > 0 ? env : 30_000;
}

const EMPTY_LOCK_STALE_MS = 2_000;

/**
 * Is the process that recorded `pid` (and, where known, its start time) still running on this
 * host? Without a start time our own PID counts as alive; with one, a reused PID does not.
 */
export function isPidAlive(pid: number, start?: number): boolean {
  return isOwnerAlive(start === undefined ? { pid } : { pid, start });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let host: string | undefined;

/**
 * `makeFolder`: called once when the lock file's folder does not exist (then the create is
 * tried again), so a caller need not make sure of the folder before every lock.
 */
export async function acquireLock(
  path: string,
  onWait?: (holder: string) => void,
  timing: LockTiming = {},
  makeFolder?: () => void,
): Promise<TaskLock> {
  // The host name is read once per process (a system call per lock otherwise).
  const identity = timing.identity ?? { host: (host ??= hostname()), boot: bootId() };
  const leaseMs = timing.leaseMs ?? defaultLeaseMs();
  const heartbeatMs = timing.heartbeatMs ?? Math.max(10, Math.floor(leaseMs / 3));
  const start = currentProcess().start;
  const me: Omit<Owner, 'token'> = {
    pid: process.pid,
    host: identity.host,
    ...(identity.boot ? { boot: identity.boot } : {}),
    ...(start !== undefined ? { start } : {}),
    since: new Date().toISOString(),
  };
  let told = false;
  let delay = 10;
  for (;;) {
    // A write that fails (a full disk) leaves no lock file; the store names the task and workspace.
    let held;
    try {
      held = tryCreateLockFile(path, me);
    } catch (error) {
      if (!makeFolder || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      makeFolder();
      makeFolder = undefined;
      continue;
    }
    if (held) {
      const beat = setInterval(() => held.touch(), heartbeatMs);
      beat.unref();
      return {
        release: async () => {
          clearInterval(beat);
          held.remove();
        },
      };
    }
    const raw = readLockFile(path);
    if (raw === undefined) continue; // released between our open and read: try again now
    if (isStale(path, raw, identity, leaseMs)) {
      breakStaleLockFile(path, raw);
      continue;
    }
    if (!told && onWait) {
      told = true;
      onWait(describe(raw));
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}

/**
 * Remove the lock file at `path` if its holder is gone (judged as `acquireLock` judges: a dead PID
 * on this host, another boot, a lease run out on another host). For locks of keys no later run
 * takes again (a killed run's key that a code edit or a newly keyed data file moved): the store
 * sweeps them when a run starts. Returns whether it removed one.
 */
export function removeStaleLock(path: string, timing: LockTiming = {}): boolean {
  const raw = readLockFile(path);
  if (raw === undefined) return false;
  const identity = timing.identity ?? { host: hostname(), boot: bootId() };
  if (!isStale(path, raw, identity, timing.leaseMs ?? defaultLeaseMs())) return false;
  breakStaleLockFile(path, raw);
  return readLockFile(path) === undefined;
}

/**
 * Who holds the lock file at `path`, for the plan's words (`cellar run --dry-run`, `cellar tree`):
 * `holder` as `pid 123 on vm`, `since` (epoch ms, from the record; the file's mtime when the
 * record is unreadable), and `stale` judged as the next lock would (a dead PID on this host,
 * another boot, another host's heartbeat older than the lease). Undefined when there is no lock
 * file. Reads only: a stale lock is broken by the next run that takes it.
 */
export function lockHolder(
  path: string,
  timing: LockTiming = {},
): { holder: string; since: number; stale: boolean } | undefined {
  const raw = readLockFile(path);
  if (raw === undefined) return undefined;
  const identity = timing.identity ?? { host: hostname(), boot: bootId() };
  const stale = isStale(path, raw, identity, timing.leaseMs ?? defaultLeaseMs());
  let owner: Partial<Owner> = {};
  try {
    owner = JSON.parse(raw) as Owner;
  } catch {
    // An empty record: a process killed between creating the file and writing it.
  }
  const since = Date.parse(owner.since ?? '');
  return {
    holder: owner.pid !== undefined ? `pid ${owner.pid} on ${owner.host}` : 'a process',
    since: Number.isFinite(since) ? since : Date.now() - lockFileAgeMs(path),
    stale,
  };
}

function isStale(
  path: string,
  raw: string,
  me: { host: string; boot?: string },
  leaseMs: number,
): boolean {
  let owner: Owner;
  try {
    owner = JSON.parse(raw) as Owner;
  } catch {
    // A process killed between creating and writing the file leaves it empty.
    return lockFileAgeMs(path) > EMPTY_LOCK_STALE_MS;
  }
  if (owner.host === me.host) {
    // Same host name, another boot: the machine restarted, every PID of the old boot is gone.
    if (owner.boot && me.boot && owner.boot !== me.boot) return true;
    return !isPidAlive(owner.pid, owner.start);
  }
  // Another host: its PID means nothing here; trust only the heartbeat.
  return lockFileAgeMs(path) > leaseMs;
}

function describe(raw: string): string {
  try {
    const o = JSON.parse(raw) as Owner;
    return `pid ${o.pid} on ${o.host} since ${o.since}`;
  } catch {
    return 'another process';
  }
}
