// The lock-file primitive both file locks use (runtime/store/lock-file.ts: the store's task
// locks and the DuckDB lease): a holder whose lock was broken and taken over never refreshes or
// removes the new holder's lock, and breaking removes only the very lock judged stale.
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  breakStaleLockFile,
  readLockFile,
  tryCreateLockFile,
} from '../../runtime/store/lock-file.js';

const dir = mkdtempSync(join(tmpdir(), 'cellar-lock-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lock file', () => {
  it('is created once: a second create finds it held; the record carries a token', () => {
    const path = join(dir, 'once.lock');
    const a = tryCreateLockFile(path, { who: 'a' })!;
    expect(tryCreateLockFile(path, { who: 'b' })).toBeUndefined();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ who: 'a', token: a.token });
    a.remove();
    expect(readLockFile(path)).toBeUndefined();
  });

  it('a holder whose lock was broken and taken over neither touches nor removes the new lock', () => {
    const path = join(dir, 'taken.lock');
    const a = tryCreateLockFile(path, { who: 'a' })!;
    breakStaleLockFile(path, readLockFile(path)!); // judged stale (a was blocked, say)
    const b = tryCreateLockFile(path, { who: 'b' })!;
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    a.touch();
    expect(statSync(path).mtimeMs).toBeLessThan(Date.now() - 30_000); // a's heartbeat left b's lock alone
    a.remove();
    expect(a.owned()).toBe(false);
    expect(b.owned()).toBe(true); // still there
    b.remove();
  });

  it('breaking removes only the lock judged stale, not a fresh one taken in between', () => {
    const path = join(dir, 'between.lock');
    const a = tryCreateLockFile(path, { who: 'a' })!;
    const judged = readLockFile(path)!;
    a.remove(); // a released, and c took the lock before the breaker acted
    const c = tryCreateLockFile(path, { who: 'c' })!;
    breakStaleLockFile(path, judged);
    expect(c.owned()).toBe(true);
    c.remove();
  });
});
