// A cross-process lock on one task+key: an O_EXCL lock file naming its owner process.
//
// Why not proper-lockfile: it detects a dead owner by a heartbeat going stale (10 s by default,
// 2 s at the least), so a run resumed right after a SIGKILL would wait for the timeout. Here the
// owner is recorded as PID + process start time + boot id (owner.ts), so a lock whose owner is
// gone is broken at once, also when the PID was reused: a container's node is PID 1 after every
// restart, and a lock left by the killed PID 1 names another start time than the new PID 1.
// Breaking is itself guarded by a second O_EXCL file, and the lock is only removed if it still
// holds the very owner we judged dead, so two processes breaking the same stale lock cannot
// remove a fresh lock taken in between. Limit: a lock from another host (a shared network
// folder) is never judged stale automatically. Documented in docs/design/runtime.md.
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { TaskLock } from './store.js';
import { currentProcess, isOwnerAlive, type ProcessIdentity } from './owner.js';

interface Owner extends ProcessIdentity {
  token: string;
  since: string;
}

const BREAKER_STALE_MS = 10_000;
const EMPTY_LOCK_STALE_MS = 2_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(path: string, onWait?: (holder: string) => void): Promise<TaskLock> {
  const me: Owner = { ...currentProcess(), token: Math.random().toString(36).slice(2), since: new Date().toISOString() };
  let told = false;
  let delay = 10;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      return { release: async () => releaseLock(path, me.token) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const raw = readQuiet(path);
    if (raw === undefined) continue; // released between our open and read: try again now
    if (isStale(path, raw)) {
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

function isStale(path: string, raw: string): boolean {
  let owner: Owner;
  try {
    owner = JSON.parse(raw) as Owner;
  } catch {
    // A process killed between creating and writing the file leaves it empty.
    return ageMs(path) > EMPTY_LOCK_STALE_MS;
  }
  return typeof owner.pid === 'number' && !isOwnerAlive(owner);
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
