// Who may have the DuckDB file open, and when.
//
// Why: DuckDB allows one writer process per database file, and two DuckDB instances on the same
// file inside one process (the runtime's worker threads each load 'cellar') corrupt it silently:
// DuckDB only locks against *other processes*. And a notebook kernel that keeps the file open
// forever would block every `cellar run` in a terminal.
//
// So the file is leased: a thread opens DuckDB only while holding `<db>.lock` (created with
// O_EXCL, which excludes other threads and other processes alike), and closes it after a short
// idle time (`idleMs`, default 300 ms), so a burst of notebook queries shares one open instance
// while a pipeline in another process gets its turn between cells. The holder refreshes the lock
// file's mtime every second; a lock whose holder process is gone, or that has not been
// refreshed for 15 s (a crashed worker thread), is taken over. The holder is recorded as PID +
// process start time + boot id (store/owner.ts), so a lease left by a killed process whose PID was
// reused (node is PID 1 after every container restart) is taken over at once, not after 15 s. Waiting is bounded by `waitMs`
// (default 10 minutes, long streams hold the lease) and ends with an error naming the holder.
import { DuckDBInstance } from '@duckdb/node-api';
import {
  closeSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { threadId } from 'node:worker_threads';
import { WarehouseError } from '../types.js';
import { currentProcess, isOwnerAlive } from '../../store/owner.js';

export interface LeaseOptions {
  path: string;
  threads: number;
  idleMs?: number;
  waitMs?: number;
  /** Runs once after each open (create registry tables …). */
  onOpen?: (instance: DuckDBInstance) => Promise<void>;
}

const STALE_MS = 15_000;

export class DuckDBLease {
  private instance: DuckDBInstance | null = null;
  private opening: Promise<DuckDBInstance> | null = null;
  private holders = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
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
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(
          fd,
          JSON.stringify({
            ...currentProcess(),
            thread: threadId,
            since: new Date().toISOString(),
          }),
        );
        closeSync(fd);
        this.heartbeat = setInterval(() => {
          try {
            const now = new Date();
            utimesSync(this.lockPath, now, now);
          } catch {
            /* the lock was taken over; the next open will notice */
          }
        }, 1000);
        this.heartbeat.unref();
        process.once('exit', this.exitHandler);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new WarehouseError(
            'E_WH_CONFIG',
            `cannot create lock ${this.lockPath}: ${(e as Error).message}`,
          );
      }
      const holder = this.holder();
      if (holder.stale) {
        try {
          unlinkSync(this.lockPath);
        } catch {
          /* someone else removed it first */
        }
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

  private holder(): { stale: boolean; text: string } {
    try {
      const info = JSON.parse(readFileSync(this.lockPath, 'utf8')) as {
        pid: number;
        host?: string;
        start?: number;
        boot?: string;
        thread: number;
        since: string;
      };
      const age = Date.now() - statSync(this.lockPath).mtimeMs;
      const alive = isOwnerAlive(info);
      return {
        stale: !alive || age > STALE_MS,
        text: `process ${info.pid} (thread ${info.thread}) since ${info.since}`,
      };
    } catch {
      // Unreadable: being written right now, or gone. Not stale yet unless old.
      try {
        return {
          stale: Date.now() - statSync(this.lockPath).mtimeMs > STALE_MS,
          text: 'another process',
        };
      } catch {
        return { stale: false, text: 'another process' };
      }
    }
  }

  private exitHandler = () => this.unlock();

  private unlock(): void {
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
      process.removeListener('exit', this.exitHandler);
      try {
        unlinkSync(this.lockPath);
      } catch {
        /* already gone */
      }
    }
  }
}
