// The lock file both of Cellar's file locks are made of: a file created with O_EXCL (which
// excludes other threads and other processes alike, on local disks and NFS v3+) holding its
// holder's record as JSON with a random token. Used by the store's task locks (lock.ts: one per
// task and key, across hosts) and the DuckDB file lease (warehouse/adapters/duckdb-lease.ts: one
// per database file, across threads and processes); each decides for itself when a holder is
// gone (owner.ts has the identities), this module gives them the same safe moves:
//
// - create: all or nothing. A record that cannot be written (a full disk) removes the file, so
//   an empty lock never makes the next run wait.
// - heartbeat and release touch or remove the file only while it still holds the holder's own
//   token: a holder whose lock was broken and taken by another never refreshes or removes the
//   new holder's lock.
// - breaking a stale lock is guarded by a second O_EXCL file (`<lock>.break`), and removes the
//   lock only if it still holds the very record judged stale, so two processes breaking the same
//   stale lock cannot remove a fresh lock taken in between.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';

/** A lock file this thread created and holds. */
export interface HeldLockFile {
  readonly path: string;
  /** The random token in the record: what `owned` checks. */
  readonly token: string;
  /** Does the file still hold this lock's record (not broken and taken over, not removed)? */
  owned(): boolean;
  /** Refresh the file's mtime (the heartbeat other hosts judge), only while owned. */
  touch(): void;
  /** Remove the file, only while owned. */
  remove(): void;
}

/** A breaker file older than this was left by a breaker that died mid-break (ms). */
const BREAKER_STALE_MS = 10_000;

/**
 * Create `path` with O_EXCL holding `record` plus a fresh `token`. Returns the held lock, or
 * undefined when the file exists (someone holds it). Other errors (no folder, no permission, a
 * full disk) are thrown as they are, leaving no file behind.
 */
export function tryCreateLockFile(
  path: string,
  record: Record<string, unknown>,
): HeldLockFile | undefined {
  const token = randomUUID();
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify({ ...record, token }));
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    throw error;
  }
  closeSync(fd);
  const owned = () => {
    const raw = readLockFile(path);
    if (raw === undefined) return false;
    try {
      return (JSON.parse(raw) as { token?: unknown }).token === token;
    } catch {
      return false;
    }
  };
  return {
    path,
    token,
    owned,
    touch() {
      try {
        if (!owned()) return;
        const now = new Date();
        utimesSync(path, now, now);
      } catch {
        // released or broken meanwhile: the next acquire sorts it out
      }
    },
    remove() {
      try {
        if (owned()) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

/** The lock file's text, or undefined when it is not there (released between two steps). */
export function readLockFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** How long ago the file was last written or touched (ms); 0 when it is gone. */
export function lockFileAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Remove a lock judged stale from its text `raw`, if it still holds exactly that text (see the
 * header). Returns without removing when another breaker is at work; the caller tries again.
 */
export function breakStaleLockFile(path: string, raw: string): void {
  const breaker = `${path}.break`;
  let fd: number;
  try {
    fd = openSync(breaker, 'wx');
  } catch {
    if (lockFileAgeMs(breaker) > BREAKER_STALE_MS) {
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
    if (readLockFile(path) === raw) unlinkSync(path);
  } catch {
    // gone already
  } finally {
    unlinkSync(breaker);
  }
}
