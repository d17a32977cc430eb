// A cross-process, cross-host lock on one task+key: an O_EXCL lock file holding the owner's PID,
// host name and boot id, refreshed by a heartbeat (the holder touches the file's mtime).
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
import {
  closeSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import type { TaskLock } from './store.js';
import { currentProcess, isOwnerAlive } from './owner.js';

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

let bootIdMemo: string | undefined | null = null;
/** This machine's boot id (Linux), or undefined elsewhere. */
export function bootId(): string | undefined {
  if (bootIdMemo === null) {
    try {
      bootIdMemo = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      bootIdMemo = undefined;
    }
  }
  return bootIdMemo;
}

function defaultLeaseMs(): number {
  const env = Number(process.env.CELLAR_LOCK_LEASE_MS);
  return Number.isFinite(env) && env > 0 ? env : 30_000;
}

const BREAKER_STALE_MS = 10_000;
const EMPTY_LOCK_STALE_MS = 2_000;

/**
 * Is the process that recorded `pid` (and, where known, its start time) still running on this
 * host? Without a start time our own PID counts as alive; with one, a reused PID does not.
 */
export function isPidAlive(pid: number, start?: number): boolean {
  return isOwnerAlive(start === undefined ? { pid } : { pid, start });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(
  path: string,
  onWait?: (holder: string) => void,
  timing: LockTiming = {},
): Promise<TaskLock> {
  const identity = timing.identity ?? { host: hostname(), boot: bootId() };
  const leaseMs = timing.leaseMs ?? defaultLeaseMs();
  const heartbeatMs = timing.heartbeatMs ?? Math.max(10, Math.floor(leaseMs / 3));
  const start = currentProcess().start;
  const me: Owner = {
    pid: process.pid,
    host: identity.host,
    ...(identity.boot ? { boot: identity.boot } : {}),
    ...(start !== undefined ? { start } : {}),
    token: Math.random().toString(36).slice(2),
    since: new Date().toISOString(),
  };
  let told = false;
  let delay = 10;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me));
      } catch (error) {
        // A full disk: an empty lock file would make the next run wait; remove it, say what failed.
        closeSync(fd);
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
        throw error; // the store names the task and the workspace
      }
      closeSync(fd);
      const beat = setInterval(() => heartbeat(path, me.token), heartbeatMs);
      beat.unref();
      return {
        release: async () => {
          clearInterval(beat);
          releaseLock(path, me.token);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const raw = readQuiet(path);
    if (raw === undefined) continue; // released between our open and read: try again now
    if (isStale(path, raw, identity, leaseMs)) {
      breakStale(path, raw);
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

function releaseLock(path: string, token: string): void {
  const raw = readQuiet(path);
  if (raw === undefined) return;
  try {
    if ((JSON.parse(raw) as Owner).token !== token) return;
  } catch {
    return;
  }
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** Touch the lock file (its mtime is the heartbeat), only while it still holds our token. */
function heartbeat(path: string, token: string): void {
  const raw = readQuiet(path);
  try {
    if (raw === undefined || (JSON.parse(raw) as Owner).token !== token) return;
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // released or broken meanwhile: the next acquire sorts it out
  }
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
    return ageMs(path) > EMPTY_LOCK_STALE_MS;
  }
  if (owner.host === me.host) {
    // Same host name, another boot: the machine restarted, every PID of the old boot is gone.
    if (owner.boot && me.boot && owner.boot !== me.boot) return true;
    return !isPidAlive(owner.pid, owner.start);
  }
  // Another host: its PID means nothing here; trust only the heartbeat.
  return ageMs(path) > leaseMs;
}

function breakStale(path: string, raw: string): void {
  const breaker = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, 'wx');
  } catch {
    if (ageMs(breaker) > BREAKER_STALE_MS) {
      try {
        unlinkSync(breaker);
      } catch {
        // someone else cleared it
      }
    }
    return;
  }
  closeSync(fd);
  try {
    if (readQuiet(path) === raw) unlinkSync(path);
  } catch {
    // gone already
  } finally {
    unlinkSync(breaker);
  }
}

function readQuiet(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function describe(raw: string): string {
  try {
    const o = JSON.parse(raw) as Owner;
    return `pid ${o.pid} on ${o.host} since ${o.since}`;
  } catch {
    return 'another process';
  }
}
