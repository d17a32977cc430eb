// The log a task's worker threads write their reads into (runtime/run/worker-read-log.ts): what is
// written is read back in order, a full log says so (the task is then not cached), and the logged
// sets record each change once.
import { describe, expect, it } from 'vitest';
import {
  loggedReads,
  readLog,
  writeLog,
  type LogRecord,
} from '../../runtime/run/worker-read-log.js';

describe('worker read log', () => {
  it('reads back what was written, in order, with text that needs escaping', () => {
    const buf = new SharedArrayBuffer(4096);
    const written: LogRecord[] = [
      ['add', 'files', '/data/a "quoted"\nname.csv'],
      ['seen', '/data/a.csv', 'abc123'],
      ['cwd'],
      ['del', 'files', '/data/a "quoted"\nname.csv'],
      ['requests', 'fetch https://example.test/x'],
    ];
    for (const r of written) writeLog(buf, r);
    expect(readLog(buf)).toEqual({ records: written, overflowed: false });
  });

  it('marks the log overflowed past its size, keeping the records that fit', () => {
    const buf = new SharedArrayBuffer(16 + 40); // the head, then room for about one record
    writeLog(buf, ['add', 'files', '/a']);
    writeLog(buf, ['add', 'files', '/a-second-path-too-long-to-fit']);
    const { records, overflowed } = readLog(buf);
    expect(records).toEqual([['add', 'files', '/a']]);
    expect(overflowed).toBe(true);
  });

  it('gives a record up as lost when the lock is never released', () => {
    const buf = new SharedArrayBuffer(4096);
    Atomics.store(new Int32Array(buf, 0, 3), 0, 1); // a writer stopped while holding it
    writeLog(buf, ['cwd']);
    expect(readLog(buf)).toEqual({ records: [], overflowed: true });
  }, 30_000);

  it('logs each addition, removal, content and cwd once', () => {
    const log: LogRecord[] = [];
    const reads = loggedReads((r) => log.push(r));
    reads.files.add('/x');
    reads.files.add('/x');
    reads.files.delete('/x');
    reads.files.delete('/x');
    reads.seen.set('/x', 'h1');
    reads.seen.set('/x', 'h1');
    reads.seen.set('/x', 'h2');
    reads.cwd = true;
    reads.cwd = true;
    reads.appended!.add('/log.txt');
    expect(log).toEqual([
      ['add', 'files', '/x'],
      ['del', 'files', '/x'],
      ['seen', '/x', 'h1'],
      ['seen', '/x', 'h2'],
      ['cwd'],
      ['add', 'appended', '/log.txt'],
    ]);
    expect(reads.cwd).toBe(true);
  });
});
