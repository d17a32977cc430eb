// Content stamps (runtime/key/filestamp.ts): "unchanged" is trusted from stat facts alone only for
// a stamp taken after the file had been quiet for `racyMs`, and that stat check is a plain number
// `stat` (mtime and ctime in milliseconds, compared within 2 µs) before the BigInt one. Each test
// changes the file in a way a stat-only check could miss, after a trusted stamp, and checks the
// stamp no longer holds; or leaves the content alone and checks it still does.
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkStamp,
  readWithStamp,
  stampLimits,
  type FileStamp,
} from '../../runtime/key/filestamp.js';
import { root } from './helpers.js';

const dir = join(root, 'test', '.tmp', 'runtime', `filestamp-${process.pid}`);
const file = join(dir, 'data.txt');
const saved = stampLimits.racyMs;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stamp of `file` taken once it has been quiet for longer than the (shortened) racy window. */
async function trustedStamp(): Promise<FileStamp> {
  await sleep(stampLimits.racyMs + 30);
  const { stamp } = readWithStamp(file);
  expect(stamp.trusted).toBe(true);
  return stamp;
}

beforeEach(() => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, 'limit=10\n');
  // Above 1 ms, so the number-stat shortcut decides (it is skipped below that).
  stampLimits.racyMs = 50;
});
afterEach(() => {
  stampLimits.racyMs = saved;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkStamp after a trusted stamp', () => {
  it('an untouched file holds, with the same stamp (nothing to save)', async () => {
    const stamp = await trustedStamp();
    expect(checkStamp(file, stamp)).toEqual({ same: true, stamp });
  });

  it('a same-size edit with its mtime put back to the nanosecond does not hold (ctime moved)', async () => {
    const stamp = await trustedStamp();
    const ref = `${file}.ref`;
    execFileSync('touch', ['-r', file, ref]);
    writeFileSync(file, 'limit=99\n');
    execFileSync('touch', ['-r', ref, file]);
    rmSync(ref);
    const now = statSync(file, { bigint: true });
    expect([Number(now.size), String(now.mtimeNs)]).toEqual([stamp.size, stamp.mtimeNs]);
    expect(checkStamp(file, stamp).same).toBe(false);
  });

  it('a same-size file with the same mtime renamed over it does not hold (another inode)', async () => {
    const stamp = await trustedStamp();
    const other = `${file}.new`;
    writeFileSync(other, 'limit=77\n');
    execFileSync('touch', ['-r', file, other]);
    renameSync(other, file);
    const now = statSync(file, { bigint: true });
    expect([Number(now.size), String(now.mtimeNs)]).toEqual([stamp.size, stamp.mtimeNs]);
    expect(checkStamp(file, stamp).same).toBe(false);
  });

  it('a file that grew, or was removed, does not hold', async () => {
    const stamp = await trustedStamp();
    writeFileSync(file, 'limit=10\nmore\n');
    expect(checkStamp(file, stamp).same).toBe(false);
    rmSync(file);
    expect(checkStamp(file, stamp).same).toBe(false);
  });

  it('a file touched but not changed holds, by its content, with a refreshed stamp', async () => {
    const stamp = await trustedStamp();
    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later);
    const check = checkStamp(file, stamp);
    expect(check.same).toBe(true);
    expect(check.stamp.hash).toBe(stamp.hash);
    expect(check.stamp.mtimeNs).not.toBe(stamp.mtimeNs);
    expect(readFileSync(file, 'utf8')).toBe('limit=10\n');
  });
});
