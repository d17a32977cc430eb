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
  packStamps,
  unpackStamps,
  readWithStamp,
  stampLimits,
  type FileStamp,
} from '../../runtime/key/filestamp.js';
import { packFacts, unpackFacts } from '../../runtime/key/resolve-facts.js';
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

describe('stamps and resolution facts as records store them (packed arrays)', () => {
  const stamp = (hash: string, trusted: boolean): FileStamp => ({
    hash,
    size: 12,
    ino: '77',
    mtimeNs: '1796314056817568807',
    ctimeNs: '1796314056845568807',
    trusted,
  });

  it('unpack gives back every stamp by its path, folders written once', () => {
    const stamps: Record<string, FileStamp> = {
      '/p/generated/wide/pipeline.ts': stamp('aaaaaaaaaaaaaaaa', true),
      '/p/generated/wide/v0.ts': stamp('bbbbbbbbbbbbbbbb', false),
      '/p/notebooks/lib/helper.ts': stamp('cccccccccccccccc', true),
      'v1.ts': stamp('dddddddddddddddd', true),
      'sub\\win.ts': stamp('eeeeeeeeeeeeeeee', true),
    };
    const packed = packStamps(stamps);
    expect(packed.map((g) => g[0])).toEqual([
      '/p/generated/wide/',
      '/p/notebooks/lib/',
      '',
      'sub\\',
    ]);
    expect(unpackStamps(JSON.parse(JSON.stringify(packed)))).toEqual(stamps);
  });

  it('a damaged packed form is undefined, not partly trusted', () => {
    const packed = packStamps({ '/p/a.ts': stamp('aaaaaaaaaaaaaaaa', true) });
    for (const damaged of [
      null,
      {},
      [['/p/'], ['/p/', 'a.ts', 'aaaaaaaaaaaaaaaa', 12, '77', '1', '2']], // a field short
      packed.map((g) => g.map((v, i) => (i === 3 ? '12' : v))), // size as text
      packed.map((g) => g.map((v, i) => (i === 7 ? true : v))), // trusted not 0 or 1
    ])
      expect(unpackStamps(damaged)).toBeUndefined();
  });

  it('resolution facts: unpack gives back every fact by its key, content facts included', () => {
    const fact = (hash: string, ino = '5') => ({
      hash,
      ino,
      mtimeNs: '10',
      ctimeNs: '11',
      trusted: true,
    });
    const facts = {
      '/p/generated/wide\0v0': fact('aaaaaaaaaaaaaaaa'),
      '/p/generated/wide\0v1': fact('bbbbbbbbbbbbbbbb'),
      '/p\0package.json': fact('cccccccccccccccc', '4'),
      '/p/package.json\0\0content': fact('dddddddddddddddd', '9'),
      '/p/generated/wide\0total': fact('eeeeeeeeeeeeeeee'),
    };
    const packed = packFacts(facts);
    expect(packed).toHaveLength(4);
    expect(unpackFacts(JSON.parse(JSON.stringify(packed)))).toEqual(facts);
    expect(unpackFacts([['/p', '4', '10', '11', 1, 'package.json']])).toBeUndefined();
    expect(unpackFacts([['/p', '4', '10', '11', 2]])).toBeUndefined();
  });
});
