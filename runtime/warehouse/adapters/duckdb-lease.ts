// Who may have the DuckDB file open, and when.
//
// Why: DuckDB allows one writer process per database file, and two DuckDB instances on the same
// file inside one process (the runtime's worker threads each load 'cellar') corrupt it silently:
// DuckDB only locks against *other processes*. And a notebook kernel that keeps the file open
// forever would block every `cellar run` in a terminal.
//
// So the file is leased: a thread opens DuckDB only while holding `<db>.lock` (an O_EXCL lock
// file, store/lock-file.ts, the primitive the store's task locks use too; it excludes other
// threads and other processes alike), and closes it after a short
// idle time (`idleMs`, default 300 ms), so a burst of notebook queries shares one open instance
// while a pipeline in another process gets its turn between cells. The holder is recorded as PID +
// process start time + boot id + thread (task id and start time; store/owner.ts): a lease whose
// holder process or thread is gone is taken over at once, also when its PID was reused (node is
// PID 1 after every container restart). A live holder is never taken over, however long its
// event loop is blocked: a heartbeat cannot tell blocked from dead, and taking the file from a
// holder blocked in `closeSync` (the checkpoint after the first seed of a fresh warehouse takes
// seconds on a busy machine) let a worker thread open a half-written file ("Could not read enough
// bytes"). The holder still refreshes the lock file's mtime every second; only where the holder's
// thread cannot be judged (no /proc, or another host) is a lease unrefreshed for 15 s stale. A
// holder removes or refreshes the lock file only while it holds its own token, so a lease taken
// over from it is never removed by it. Waiting is bounded by `waitMs` (default 10 minutes, long
// streams hold the lease) and ends with an error naming the holder.
import { DuckDBInstance } from '@duckdb/node-api';
import { threadId } from 'node:worker_threads';
import { WarehouseError } from '../types.js';
import { currentProcess, currentThread, isOwnerAlive, isThreadAlive } from '../../store/owner.js';
import {
  breakStaleLockFile,
  lockFileAgeMs,
  readLockFile,
  tryCreateLockFile,
  type HeldLockFile,
} from '../../store/lock-file.js';

export interface LeaseOptions {
  path: string;
  threads: number;
  idleMs?: number;
  waitMs?: number;
  /** Runs once after each open (create registry tables …). */
  onOpen?: (instance: DuckDBInstance) => Promise<void>;
  /** A holder that cannot be judged by its thread (no /proc, another host) is stale after this
   *  long without a heartbeat (ms, default 15 s). */
  staleMs?: number;
}

const STALE_MS = 15_000;

export class DuckDBLease {
  private instance: DuckDBInstance | null = null;
  private opening: Promise<DuckDBInstance> | null = null;
  private holders = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** The lock file while this lease holds it (lock-file.ts: touched and removed only while ours). */
  private held: HeldLockFile | undefined;
  private readonly lockPath: string;
  private readonly memory: boolean;

  constructor(private readonly opts: LeaseOptions) {
    this.memory = opts.path === ':memory:';
    this.lockPath = `${opts.path}.lock`;
  }

  /** Run `fn` with the database open; nested and concurrent calls in one thread share it. */
  async with<T>(fn: (instance: DuckDBInstance) => Promise<T>): Promise<T> {
    const instance = await this.acquire();
    try {
      return await fn(instance);
    } finally {
      this.release();
    }
  }

  async acquire(): Promise<DuckDBInstance> {
    this.holders++;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    try {
      if (this.instance) return this.instance;
      this.opening ??= this.open().finally(() => (this.opening = null));
      return await this.opening;
    } catch (e) {
      this.holders--;
      throw e;
    }
  }

  release(): void {
    this.holders--;
    if (this.holders > 0 || this.memory) return;
    if (this.retiring) {
      this.retiring = false;
      this.closeNow();
      return;
    }
    this.idleTimer = setTimeout(() => this.closeNow(), this.opts.idleMs ?? 300);
    this.idleTimer.unref();
  }

  private async open(): Promise<DuckDBInstance> {
    if (!this.memory) await this.lock();
    try {
      const instance = await DuckDBInstance.create(this.opts.path, {
        threads: String(this.opts.threads),
      });
      if (this.opts.onOpen) await this.opts.onOpen(instance);
      this.instance = instance;
      return instance;
    } catch (e) {
      this.unlock();
      throw new WarehouseError(
        'E_WH_CONFIG',
        `cannot open DuckDB database ${this.opts.path}: ${(e as Error).message}`,
      );
    }
  }

  private closeNow(): void {
    this.idleTimer = null;
    if (this.holders > 0 || !this.instance) return;
    this.instance.closeSync();
    this.instance = null;
    this.unlock();
  }

  /**
   * Close `instance` as soon as no one holds it, whatever the idle time, so the next use opens
   * the file afresh (its opening state: `onOpen`). For state that cannot be put back otherwise.
   * An in-memory database is never closed (its data would be lost).
   */
  retire(instance: DuckDBInstance): void {
    if (this.memory || this.instance !== instance) return;
    this.retiring = true;
  }

  private retiring = false;

  /** Close at once (end of process or tests); waits for nothing. */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.instance) this.instance.closeSync();
    this.instance = null;
    this.unlock();
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + (this.opts.waitMs ?? 600_000);
    let delay = 5;
    for (;;) {
      let held: HeldLockFile | undefined;
      try {
        held = tryCreateLockFile(this.lockPath, {
          ...currentProcess(),
          thread: threadId,
          ...currentThread(),
          since: new Date().toISOString(),
        });
      } catch (e) {
        throw new WarehouseError(
          'E_WH_CONFIG',
          `cannot create lock ${this.lockPath}: ${(e as Error).message}`,
        );
      }
      if (held) {
        this.held = held;
        this.heartbeat = setInterval(() => held.touch(), 1000);
        this.heartbeat.unref();
        process.once('exit', this.exitHandler);
        return;
      }
      const holder = this.holder();
      if (holder.stale) {
        if (holder.raw !== undefined) breakStaleLockFile(this.lockPath, holder.raw);
        continue;
      }
      if (Date.now() > deadline) {
        throw new WarehouseError(
          'E_WH_CONFIG',
          `DuckDB database ${this.opts.path} is in use by ${holder.text}; waited ${Math.round((this.opts.waitMs ?? 600_000) / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(100, delay * 2);
    }
  }

  /** Who holds the lock file now, read once (`raw`: its text, what breaking it checks). */
  private holder(): { stale: boolean; text: string; raw?: string } {
    const raw = readLockFile(this.lockPath);
    if (raw === undefined) return { stale: true, text: 'nobody' }; // released: try again now
    const staleMs = this.opts.staleMs ?? STALE_MS;
    let info: {
      pid: number;
      host?: string;
      start?: number;
      boot?: string;
      thread: number;
      tid?: number;
      tstart?: number;
      since: string;
    };
    try {
      info = JSON.parse(raw) as typeof info;
    } catch {
      // Unreadable: being written right now. Not stale yet unless old.
      return { stale: lockFileAgeMs(this.lockPath) > staleMs, text: 'another process', raw };
    }
    let stale: boolean;
    if (!isOwnerAlive(info)) stale = true;
    else if (
      info.host === currentProcess().host &&
      info.tid !== undefined &&
      info.tstart !== undefined
    )
      // The holder's thread can be seen from here: its life decides, not its heartbeat.
      stale = !isThreadAlive({ pid: info.pid, tid: info.tid, tstart: info.tstart });
    else stale = lockFileAgeMs(this.lockPath) > staleMs;
    return { stale, text: `process ${info.pid} (thread ${info.thread}) since ${info.since}`, raw };
  }

  private exitHandler = () => this.unlock();

  private unlock(): void {
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
      process.removeListener('exit', this.exitHandler);
      this.held?.remove();
      this.held = undefined;
    }
  }
}
