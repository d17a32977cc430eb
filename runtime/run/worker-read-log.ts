// The log a worker thread a task starts writes its reads into (runtime/run/read-record.ts,
// "Worker threads a task starts"): JSON lines in a SharedArrayBuffer handed to the worker as
// environment data, appended under a lock in the buffer's head, so a record is in the log by the
// time the worker posts the value it computed with what the record names. Past the buffer's size,
// or when a writer cannot take the lock, the log is marked overflowed: the task's result is then
// not cached, never cached with reads missing.
import type { ObservedReads } from '../key/run-reads.js';

/** A record of the log: a set's addition or removal, a content seen, the cwd asked, a call. */
export type LogRecord =
  | ['add' | 'del', LoggedKind, string]
  | ['seen', string, string]
  | ['cwd']
  | ['children' | 'requests', string];

/** The sets of `ObservedReads` a worker thread's scope logs. */
type LoggedKind = 'files' | 'dirs' | 'probes' | 'stats' | 'env' | 'written' | 'appended';

/** The environment-data name the log is handed to a worker under. */
export const LOG_KEY = 'cellar:worker-reads';
/** Log size: records past it are lost, and the task's result is then not cached. The memory is
 *  only touched as far as it is written. */
export const LOG_BYTES = 8 * 1024 * 1024;
/** How long a writer waits for the log's lock before giving its record up as lost. */
const LOCK_WAIT_MS = 2000;
/** Int32s before the records: a lock, the records' length in bytes, an overflow flag. */
const LOG_HEAD = 16;

/** Append a record (a JSON line) under the log's lock; past its size, mark it overflowed. */
export function writeLog(buf: SharedArrayBuffer, record: LogRecord): void {
  const bytes = Buffer.from(JSON.stringify(record) + '\n');
  const head = new Int32Array(buf, 0, 3);
  // A writer terminated while holding the lock (`worker.terminate()` stops it anywhere) never
  // releases it: past a wait no write takes, the record is given up as lost (not cached).
  const giveUpAt = Date.now() + LOCK_WAIT_MS;
  while (Atomics.compareExchange(head, 0, 0, 1) !== 0) {
    if (Date.now() > giveUpAt) {
      Atomics.store(head, 2, 1);
      return;
    }
    Atomics.wait(head, 0, 1, 5);
  }
  try {
    const at = Atomics.load(head, 1);
    if (LOG_HEAD + at + bytes.length > buf.byteLength) Atomics.store(head, 2, 1);
    else {
      new Uint8Array(buf, LOG_HEAD + at, bytes.length).set(bytes);
      // After the bytes: a reader that sees the new length sees them.
      Atomics.store(head, 1, at + bytes.length);
    }
  } finally {
    Atomics.store(head, 0, 0);
    Atomics.notify(head, 0);
  }
}

/** The records written so far, and whether some were lost (the log overflowed, or a writer gave
 *  one up waiting for the lock). */
export function readLog(buf: SharedArrayBuffer): { records: LogRecord[]; overflowed: boolean } {
  const head = new Int32Array(buf, 0, 3);
  const length = Atomics.load(head, 1);
  const text = Buffer.from(new Uint8Array(buf, LOG_HEAD, length)).toString('utf8');
  const records: LogRecord[] = [];
  for (const line of text.split('\n')) if (line) records.push(JSON.parse(line) as LogRecord);
  return { records, overflowed: Atomics.load(head, 2) !== 0 };
}

/** A Set that logs what is added to it and removed from it. */
class LoggedSet extends Set<string> {
  constructor(
    private readonly log: (record: LogRecord) => void,
    private readonly kind: LoggedKind,
  ) {
    super();
  }
  override add(value: string): this {
    if (this.log && !this.has(value)) this.log(['add', this.kind, value]);
    return super.add(value);
  }
  override delete(value: string): boolean {
    if (this.has(value)) this.log(['del', this.kind, value]);
    return super.delete(value);
  }
}

/** The `seen` Map, logging each content noted. */
class LoggedSeen extends Map<string, string> {
  constructor(private readonly log: (record: LogRecord) => void) {
    super();
  }
  override set(key: string, value: string): this {
    if (this.log && this.get(key) !== value) this.log(['seen', key, value]);
    return super.set(key, value);
  }
}

/** Reads whose every addition is logged (a worker thread's, `recordWorkerThread`). */
export function loggedReads(log: (record: LogRecord) => void): ObservedReads {
  const set = (kind: LoggedKind) => new LoggedSet(log, kind);
  const reads: ObservedReads = {
    files: set('files'),
    dirs: set('dirs'),
    probes: set('probes'),
    stats: set('stats'),
    env: set('env'),
    written: set('written'),
    appended: set('appended'),
    seen: new LoggedSeen(log),
  };
  let cwd = false;
  Object.defineProperty(reads, 'cwd', {
    enumerable: true,
    get: () => cwd || undefined,
    set: (v: unknown) => {
      if (v && !cwd) log(['cwd']);
      cwd ||= Boolean(v);
    },
  });
  return reads;
}
