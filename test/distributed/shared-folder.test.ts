// A shared folder (NFS) as the store: the lock file records host name and boot id, the holder's
// heartbeat refreshes its mtime, and a lock from another host is judged by that heartbeat (a
// lease), never by a PID that means nothing here. Two hosts are played in one process through
// the lock's `identity`; the files are real.
import { describe, expect, it, vi } from 'vitest';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../runtime/store/local.js';
import { bootId } from '../../runtime/store/lock.js';

const fresh = () => {
  const dir = join(tmpdir(), `cellar-nfs-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 't'), { recursive: true });
  return dir;
};

describe('LocalStore on a shared folder: locks across hosts', () => {
  it('writes host and boot id into the lock file', async () => {
    const dir = fresh();
    const lock = await new LocalStore(dir).lock('t', 'k');
    const owner = JSON.parse(readFileSync(join(dir, 't', 'k.lock'), 'utf8')) as {
      host: string;
      boot?: string;
      pid: number;
    };
    expect(owner).toMatchObject({ host: hostname(), pid: process.pid });
    expect(owner.boot).toBe(bootId());
    await lock.release();
  });

  it('a holder on another host that keeps its heartbeat is waited for, past several lease periods', async () => {
    const dir = fresh();
    // On a virtual clock (Date and timers, which is all the lock reads): the holder's heartbeat and
    // the waiter's polls share one event loop, so in real time a pause of the process longer than
    // the lease (a loaded machine) would age the lock file past it and let the waiter break a live
    // holder. On this clock they run in time order however slow the machine is: only a working
    // heartbeat keeps the waiter out (without one the file ages past the lease and is broken).
    vi.useFakeTimers({
      now: Date.now(),
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    });
    try {
      const hostA = new LocalStore(dir, {
        leaseMs: 1000,
        heartbeatMs: 50,
        identity: { host: 'host-a', boot: 'boot-a' },
      });
      const hostB = new LocalStore(dir, {
        leaseMs: 1000,
        heartbeatMs: 50,
        identity: { host: 'host-b', boot: 'boot-b' },
      });
      const held = await hostA.lock('t', 'k');
      let holder = '';
      let got = false;
      const taken = hostB.lock('t', 'k', (h) => (holder = h)).then((l) => ((got = true), l));
      // Four lease periods pass on the lock's clock, the waiter polling all along.
      await vi.advanceTimersByTimeAsync(4000);
      expect(got).toBe(false);
      expect(holder).toContain('host-a');
      await held.release();
      // The waiter's next poll (its back-off is at most 200 ms) finds the lock free.
      await vi.advanceTimersByTimeAsync(500);
      expect(got).toBe(true);
      await (await taken).release();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a lock from another host whose heartbeat stopped is broken after the lease, whatever its PID', async () => {
    const dir = fresh();
    const path = join(dir, 't', 'k.lock');
    // Our own PID, alive here: on another host it proves nothing.
    writeFileSync(
      path,
      JSON.stringify({
        pid: process.pid,
        host: 'crashed-host',
        boot: 'b1',
        token: 'x',
        since: 'then',
      }),
    );
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    let waited = false;
    const lock = await new LocalStore(dir, { leaseMs: 30_000 }).lock(
      't',
      'k',
      () => (waited = true),
    );
    expect(waited).toBe(false);
    await lock.release();
  });

  it('a lock from this host name but an earlier boot (the machine restarted) is broken at once', async () => {
    const dir = fresh();
    const path = join(dir, 't', 'k.lock');
    writeFileSync(
      path,
      JSON.stringify({
        pid: process.pid,
        host: 'same-host',
        boot: 'before-reboot',
        token: 'x',
        since: 'then',
      }),
    );
    let waited = false;
    const lock = await new LocalStore(dir, {
      leaseMs: 3_600_000,
      identity: { host: 'same-host', boot: 'after-reboot' },
    }).lock('t', 'k', () => (waited = true));
    expect(waited).toBe(false);
    await lock.release();
  });
});
