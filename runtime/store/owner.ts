// Who owns a lock or a temp file, in a form that survives PID reuse.
//
// A PID alone is not an identity: in a container, node is PID 1 after every restart, so a run
// killed with SIGKILL leaves a lock "owned by PID 1", and the next run, PID 1 again, would see
// its owner alive (itself) and wait on it forever. So an owner is the PID plus the process's
// start time (field 22 of /proc/<pid>/stat, clock ticks since boot) plus the boot id
// (/proc/sys/kernel/random/boot_id): a process is the owner only if a process with that PID
// exists now *and* started at the same tick of the same boot. A random run id alone could not
// say whether its run is still alive; a start time can be checked by anyone on the host.
//
// Where /proc is missing (macOS), start time and boot id are absent and liveness falls back to
// `kill(pid, 0)`, with the old limit: a recycled PID keeps a dead owner's lock until it exits.
//
// A thread can be an owner too (the DuckDB lease: DuckDB does not lock a file against other
// threads of its own process). A thread is its task id plus the task's start time, read from
// /proc/thread-self: alive exactly while that OS thread exists, whether or not its event loop is
// free. A heartbeat cannot say that: a live holder blocked in a long synchronous call (DuckDB's
// checkpoint on close) looks dead to it.
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  pid: number;
  host: string;
  /** Start time of the process in clock ticks since boot (Linux), else undefined. */
  start?: number;
  /** The kernel's boot id (Linux), else undefined. */
  boot?: string;
}

/** The start time of process `pid` (ticks since boot), or undefined without /proc or process. */
export function processStartTime(pid: number): number | undefined {
  return startTimeIn(`/proc/${pid}/stat`);
}

/**
 * Field 22 (starttime) of a /proc `stat` file, or undefined when it cannot be read or the process
 * is a zombie (state Z or X: killed, and not yet reaped by its parent, which in a container whose
 * init does not reap can be for long). A zombie writes nothing and holds nothing: it is gone.
 */
function startTimeIn(statPath: string): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(statPath, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so count fields after the
  // last ')'. state is the first after comm; starttime is field 22 overall, the 20th after comm.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

/** Is process `pid` a zombie (killed, not yet reaped)? False without /proc or process. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

let bootId: string | undefined | null = null;
/** This machine's boot id (/proc/sys/kernel/random/boot_id), or undefined elsewhere. */
export function currentBootId(): string | undefined {
  if (bootId === null) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      bootId = undefined;
    }
  }
  return bootId;
}

let self: ProcessIdentity | undefined;
/** This process, as a lock or temp file records it. */
export function currentProcess(): ProcessIdentity {
  if (!self) {
    self = { pid: process.pid, host: hostname() };
    const start = processStartTime(process.pid);
    const boot = currentBootId();
    if (start !== undefined) self.start = start;
    if (boot !== undefined) self.boot = boot;
  }
  return self;
}

/** An OS thread of this host: its task id and start time (ticks since boot, like a process's). */
export interface ThreadIdentity {
  tid: number;
  tstart: number;
}

let thread: ThreadIdentity | null | undefined;
/** The calling thread (module state is per thread, so each worker thread reads its own), or
 *  undefined without /proc/thread-self (not Linux). */
export function currentThread(): ThreadIdentity | undefined {
  if (thread === undefined) {
    thread = null;
    try {
      const tid = Number(/\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
      const tstart = startTimeIn('/proc/thread-self/stat');
      if (Number.isInteger(tid) && tstart !== undefined) thread = { tid, tstart };
    } catch {
      // no /proc/thread-self
    }
  }
  return thread ?? undefined;
}

/**
 * Is the thread that recorded `owner` still running? Only meaningful once `isOwnerAlive(owner)`
 * holds on this host: then the thread is alive exactly while /proc/<pid>/task/<tid> exists with
 * the recorded start time (a reused task id starts at another tick).
 */
export function isThreadAlive(owner: { pid: number } & ThreadIdentity): boolean {
  return startTimeIn(`/proc/${owner.pid}/task/${owner.tid}/stat`) === owner.tstart;
}

/**
 * Is the process that recorded `owner` still running? Another host's owner is assumed alive (its
 * processes cannot be seen from here). On this host: a different boot, no process with that PID,
 * or a process with that PID that started at another time (PID reuse, including our own PID
 * after a restart) all mean the owner is dead.
 */
export function isOwnerAlive(owner: {
  pid: number;
  host?: string;
  start?: number;
  boot?: string;
}): boolean {
  const me = currentProcess();
  if (owner.host !== undefined && owner.host !== me.host) return true;
  if (owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) return false;
  if (owner.start !== undefined) {
    const start = owner.pid === me.pid ? me.start : processStartTime(owner.pid);
    if (start !== undefined) return start === owner.start;
    // No /proc entry: the process is gone (or /proc is not mounted: ask the kernel).
  }
  if (owner.pid === me.pid) return owner.start === undefined || me.start === undefined;
  try {
    process.kill(owner.pid, 0);
    // A signal reaches a zombie too: it is still gone.
    return !isZombie(owner.pid);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The owner part of a temp file name: `<pid>.<start>~<host>` (`<pid>~<host>` without /proc), so a
 * sweep can tell a live writer's temp file from a dead one's even when the PID was reused, and
 * leaves another host's alone: in a workspace shared over NFS, a PID says nothing across hosts
 * (a sweep judged another host's write in flight by a local PID and removed it, failing that
 * host's task at its rename).
 */
export function tempStamp(): string {
  return `${processStamp()}~${hostTag(currentProcess().host)}`;
}

/** This process as `<pid>.<start>` (`<pid>` without /proc): unique on this host over time. */
export function processStamp(): string {
  const me = currentProcess();
  return me.start === undefined ? String(me.pid) : `${me.pid}.${me.start}`;
}

/** A host name as it can stand in a temp file name (letters, digits, `_` and `.`). */
function hostTag(host: string): string {
  return host.replace(/[^A-Za-z0-9_.]/g, '_');
}

/**
 * Matches a temp file name written by `atomicWrite` (or the memo writers):
 * `….tmp-<pid>[.<start>][~<host>][-<random>]` (names without a host are from before hosts were
 * written, and are this host's).
 */
export const TEMP_NAME = /\.tmp-(\d+)(?:\.(\d+))?(?:~([A-Za-z0-9_.]+))?(?:-[a-z0-9]+)?$/;

/** Is the temp file `name` (matching TEMP_NAME) left by a process of this host that is gone? */
export function isLeftoverTemp(name: string): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  if (m[3] !== undefined && m[3] !== hostTag(currentProcess().host)) return false; // another host's
  const owner: { pid: number; start?: number } = { pid: Number(m[1]) };
  if (m[2] !== undefined) owner.start = Number(m[2]);
  else if (owner.pid === process.pid) return false; // ours without a stamp: a write in flight
  return !isOwnerAlive(owner);
}
