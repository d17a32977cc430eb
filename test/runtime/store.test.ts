// The local store's guarantees: atomic replace (a reader never sees a torn or missing file), the
// manifest as done marker, and the cross-process lock (waiting on a live owner, breaking a dead
// one at once).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LocalStore, atomicWrite, ioLimits } from '../../runtime/store/local.js';
import type { Manifest } from '../../runtime/types.js';
import {
  currentProcess,
  isOwnerAlive,
  processStartTime,
  tempStamp,
} from '../../runtime/store/owner.js';

/** An onWait that fails the lock call: the lock must be taken without waiting on anyone. */
const neverWait = (holder: string) => {
  throw new Error(`waited on ${holder}`);
};

const fresh = () => {
  const dir = join(tmpdir(), `cellar-store-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe('LocalStore', () => {
  it('replaces an output atomically: the old bytes stay readable until the new ones are in place', async () => {
    const dir = fresh();
    const path = join(dir, 'out.bin');
    await atomicWrite(path, 'old');
    let sawTorn = false;
    const reader = (async () => {
      for (let i = 0; i < 200; i++) {
        const text = readFileSync(path, 'utf8');
        if (text !== 'old' && text !== 'x'.repeat(1_000_000)) sawTorn = true;
        await new Promise((r) => setImmediate(r));
      }
    })();
    await atomicWrite(path, 'x'.repeat(1_000_000));
    await reader;
    expect(sawTorn).toBe(false);
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('writes and reads back an output larger than one I/O call takes, in chunks (Node refuses 2 GiB in one)', async () => {
    // The real case is a 2.3 GB output; the chunk size is lowered so the test costs kilobytes.
    const saved = ioLimits.chunkBytes;
    ioLimits.chunkBytes = 1000;
    try {
      const store = new LocalStore(fresh());
      const bytes = Uint8Array.from({ length: 4321 }, (_, i) => (i * 7) % 256);
      await store.writeOutput('t', 't/big_k.bin', bytes);
      const back = await store.readOutput('t', 't/big_k.bin');
      expect(back.byteLength).toBe(4321);
      expect(Buffer.compare(Buffer.from(back), Buffer.from(bytes))).toBe(0);
    } finally {
      ioLimits.chunkBytes = saved;
    }
  });

  it('makes the workspace and a task folder on the first lock, and a removed task folder again on the next write', async () => {
    const ws = join(fresh(), 'not', 'there', 'yet');
    const store = new LocalStore(ws).forPipeline('p');
    const lock = await store.lock('t', 'k', neverWait);
    expect(readdirSync(join(ws, 'p', 't'))).toEqual(['k.lock']);
    await lock.release();
    rmSync(join(ws, 'p', 't'), { recursive: true });
    const bytes = new TextEncoder().encode('[1,2,3]');
    await store.writeOutput('t', 't/v_k.json', bytes);
    expect(await store.readOutput('t', 't/v_k.json')).toEqual(Buffer.from(bytes));
    rmSync(join(ws, 'p'), { recursive: true });
    const manifest: Manifest = {
      task: 't',
      key: 'k',
      inputs: { task: 't', version: 0, cache: 'params', params: {}, upstream: {}, codecs: {} },
      outputs: {},
      durationMs: 0,
      finishedAt: new Date().toISOString(),
    };
    await store.writeManifest(manifest);
    expect(store.isDone('t', 'k')).toBe(true);
    expect(await store.readManifest('t', 'k')).toEqual(manifest);
    expect(readdirSync(join(ws, 'p', 't'))).toEqual(['k.manifest.json']);
  });

  it('allDone: true only when every named manifest exists, and the working directory is given back', () => {
    const ws = fresh();
    const store = new LocalStore(ws).forPipeline('p');
    const tasks = ['a', 'b', 'c'];
    const keys = ['k1', 'k2', 'k3'];
    for (let i = 0; i < 3; i++) {
      mkdirSync(join(ws, 'p', tasks[i]!), { recursive: true });
      writeFileSync(join(ws, 'p', tasks[i]!, `${keys[i]}.manifest.json`), '{}');
    }
    // An output file or another key's manifest is not this key's done marker.
    writeFileSync(join(ws, 'p', 'c', 'v_k9.json'), '1');
    const cwd = process.cwd();
    const all = (ks: string[]) =>
      store.allDone(
        tasks.length,
        (i) => tasks[i]!,
        (i) => ks[i]!,
      );
    expect(all(keys)).toBe(true);
    expect(process.cwd()).toBe(cwd);
    expect(all(['k1', 'k2', 'k9'])).toBe(false); // the last one's key has no manifest
    expect(process.cwd()).toBe(cwd);
    rmSync(join(ws, 'p', 'b', 'k2.manifest.json'));
    expect(all(keys)).toBe(false); // a manifest removed by hand, mid-list
    expect(process.cwd()).toBe(cwd);
    expect(() =>
      store.allDone(
        3,
        () => {
          throw new Error('boom');
        },
        () => 'k1',
      ),
    ).toThrow('boom');
    expect(process.cwd()).toBe(cwd);
    rmSync(join(ws, 'p'), { recursive: true });
    expect(all(keys)).toBe(false); // no pipeline folder: nothing is done
    expect(process.cwd()).toBe(cwd);
  });

  it('writes a long run log whole and in order, a long synchronous run in batches before it closes', () => {
    const store = new LocalStore(fresh()).forPipeline('p');
    const lines = Array.from({ length: 4500 }, (_, i) => JSON.stringify({ kind: 'x', i }));
    for (const line of lines) store.appendLog('run1', line);
    // Still inside one synchronous loop (no timer ran): the full batches are on disk already.
    const log = join(store.location, '_runs', 'run1.jsonl');
    const early = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(early.length).toBeGreaterThan(0);
    expect(early).toEqual(lines.slice(0, early.length));
    store.close();
    expect(readFileSync(log, 'utf8')).toBe(lines.join('\n') + '\n');
  });

  it('a task the listing had no folder for gets one before its lock; one made meanwhile by another process is used as found, its leftovers swept', async () => {
    const ws = fresh();
    const store = new LocalStore(ws).forPipeline('p');
    expect(store.storedTasks()).toEqual(new Set());
    // Never run: the folder is made first, holding only the lock.
    const lock = await store.lock('t', 'k', neverWait);
    expect(readdirSync(join(ws, 'p', 't'))).toEqual(['k.lock']);
    await lock.release();
    expect(readdirSync(join(ws, 'p', 't'))).toEqual([]);
    // Listed absent, but another process made the folder since, and died leaving a temp file:
    // the folder is not taken for new, so the dead process's leftover is swept as usual.
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    mkdirSync(join(ws, 'p', 'u'));
    writeFileSync(join(ws, 'p', 'u', `a_k.json.tmp-${child.pid}-abc123`), 'half');
    const other = await store.lock('u', 'k', neverWait);
    expect(readdirSync(join(ws, 'p', 'u'))).toEqual(['k.lock']);
    await other.release();
    // A lock already held there is waited on as before (the listing is never a fact about locks):
    // the first try meets the holder's file, before any wait.
    const holder = await new LocalStore(ws).forPipeline('p').lock('u', 'k2', neverWait);
    let waited = '';
    const third = store.lock('u', 'k2', (h) => {
      waited = h;
    });
    expect(waited).toContain(String(process.pid));
    await holder.release();
    await (await third).release();
  });
  it('is done only once the manifest is written', async () => {
    const store = new LocalStore(fresh());
    await store.writeOutput('t', 't/a_k1.json', new TextEncoder().encode('1'));
    expect(store.isDone('t', 'k1')).toBe(false);
    const manifest: Manifest = {
      task: 't',
      key: 'k1',
      inputs: { task: 't', version: 0, cache: 'params', params: {}, upstream: {}, codecs: {} },
      outputs: {},
      durationMs: 1,
      finishedAt: 'now',
    };
    await store.writeManifest(manifest);
    expect(store.isDone('t', 'k1')).toBe(true);
    expect(await store.latestManifest('t')).toEqual(manifest);
  });

  it('doneAndMissing gives the answers of isDone and missingOutput from one manifest read', async () => {
    const store = new LocalStore(fresh());
    const both = async (key: string) => ({
      done: store.isDone('t', key),
      gone: store.missingOutput('t', key),
    });
    // No manifest: not done.
    expect(store.doneAndMissing('t', 'k1')).toEqual({ done: false });
    expect(await both('k1')).toEqual({ done: false, gone: undefined });
    await store.writeOutput('t', 't/a_k1.json', new TextEncoder().encode('12'));
    await store.writeManifest({
      task: 't',
      key: 'k1',
      inputs: { task: 't', version: 0, cache: 'params', params: {}, upstream: {}, codecs: {} },
      outputs: {
        a: { file: 't/a_k1.json', codec: 'json@1', bytes: 2 },
      } as unknown as Manifest['outputs'],
      durationMs: 1,
      finishedAt: 'now',
    });
    // Complete.
    expect(store.doneAndMissing('t', 'k1')).toEqual({ done: true, gone: undefined });
    // An output truncated: done, but damaged (so the probe re-runs the task).
    writeFileSync(join(store.location, 't', 'a_k1.json'), '1');
    const truncated = store.doneAndMissing('t', 'k1');
    expect(truncated).toMatchObject({
      done: true,
      gone: { output: 'a', damaged: expect.any(String) },
    });
    expect(truncated).toEqual(await both('k1'));
    // An output deleted: done, its output gone.
    rmSync(join(store.location, 't', 'a_k1.json'));
    expect(store.doneAndMissing('t', 'k1')).toEqual({
      done: true,
      gone: { output: 'a', file: 't/a_k1.json' },
    });
    expect(store.doneAndMissing('t', 'k1')).toEqual(await both('k1'));
    // A manifest that is not JSON: done, the manifest itself damaged.
    writeFileSync(join(store.location, 't', 'k1.manifest.json'), '{"task":');
    expect(store.doneAndMissing('t', 'k1')).toMatchObject({
      done: true,
      gone: {
        output: '',
        file: 't/k1.manifest.json',
        damaged: expect.stringMatching(/not valid JSON/),
      },
    });
    expect(store.doneAndMissing('t', 'k1')).toEqual(await both('k1'));
    // A manifest path that is a folder (unreadable, but there): done as isDone says, nothing gone.
    mkdirSync(join(store.location, 't', 'k2.manifest.json'));
    expect(store.doneAndMissing('t', 'k2')).toEqual({ done: true });
    expect(await both('k2')).toEqual({ done: true, gone: undefined });
  });

  it('a lock held by a live process makes others wait; release lets them in', async () => {
    const store = new LocalStore(fresh());
    const first = await store.lock('t', 'k');
    let waitedFor = '';
    let got = false;
    const second = store
      .lock('t', 'k', (holder) => (waitedFor = holder))
      .then((l) => {
        got = true;
        return l;
      });
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe(false);
    expect(waitedFor).toContain(`pid ${process.pid}`);
    await first.release();
    await (await second).release();
    expect(got).toBe(true);
  });

  it('breaks a lock whose owner died, and sweeps its temp files', async () => {
    const ws = fresh();
    const store = new LocalStore(ws);
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    const deadPid = child.pid!;
    mkdirSync(join(ws, 't'), { recursive: true });
    writeFileSync(
      join(ws, 't', 'k.lock'),
      JSON.stringify({
        pid: deadPid,
        host: (await import('node:os')).hostname(),
        token: 'x',
        since: 'then',
      }),
    );
    writeFileSync(join(ws, 't', `a_k.json.tmp-${deadPid}-abc123`), 'half');
    // Broken at once: the store never reports waiting (no clock in the assertion).
    const lock = await store.lock('t', 'k', neverWait);
    expect(existsSync(join(ws, 't', `a_k.json.tmp-${deadPid}-abc123`))).toBe(false);
    await lock.release();
    expect(existsSync(join(ws, 't', 'k.lock'))).toBe(false);
  });

  it("leaves another host's temp file alone (a shared NFS workspace), and sweeps this host's", async () => {
    // A PID says nothing across hosts: host-b's write in flight, judged by a local PID, was
    // removed, failing that host's task at its rename.
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    const deadPid = child.pid!;
    const ws = fresh();
    const store = new LocalStore(ws);
    mkdirSync(join(ws, 't'), { recursive: true });
    const here = (await import('node:os')).hostname().replace(/[^A-Za-z0-9_.]/g, '_');
    const theirs = join(ws, 't', `a_k.json.tmp-${deadPid}.1~host_b.example-abc123`);
    const ours = join(ws, 't', `b_k.json.tmp-${deadPid}.1~${here}-abc123`);
    writeFileSync(theirs, 'half');
    writeFileSync(ours, 'half');
    // This process's own temp names carry its host.
    expect(tempStamp()).toMatch(new RegExp(`~${here.replace(/\./g, '\\.')}$`));
    const lock = await store.lock('t', 'k', neverWait);
    await lock.release();
    // The lock swept the task folder; the workspace sweep (no writer markers yet) walks it all.
    expect(existsSync(ours)).toBe(false);
    expect(existsSync(theirs)).toBe(true);
    store.sweepLeftovers();
    expect(existsSync(theirs)).toBe(true);
  });

  it("the workspace sweep removes a dead holder's task lock, and no other file named *.lock", async () => {
    // `--workspace shared` over a folder that already held `pkgs/app/yarn.lock` (two hours old,
    // not JSON): the first run's sweep judged it a stale lock and deleted it.
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.on('exit', r));
    const ws = fresh();
    mkdirSync(join(ws, 'pkgs', 'app'), { recursive: true });
    const yarn = join(ws, 'pkgs', 'app', 'yarn.lock');
    writeFileSync(yarn, '# yarn lockfile v1\n');
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(yarn, old, old);
    mkdirSync(join(ws, 'pipe', 't'), { recursive: true });
    const dead = join(ws, 'pipe', 't', '0123456789abcdef.lock');
    writeFileSync(
      dead,
      JSON.stringify({
        pid: child.pid,
        host: (await import('node:os')).hostname(),
        token: 'x',
        since: 'then',
      }),
    );
    utimesSync(dead, old, old);
    // The user's own files that merely look like temp files or locks (a second red team).
    const theirs = [
      join(ws, 'exports', 'sales.csv.tmp-20241201'),
      join(ws, 'exports', 'q4', `draft.tmp-${child.pid}`),
      join(ws, `notes.tmp-${child.pid}`),
      join(ws, 'pkgs', 'app', 'fedcba9876543210.lock'),
    ];
    mkdirSync(join(ws, 'exports', 'q4'), { recursive: true });
    for (const f of theirs) {
      writeFileSync(f, '');
      utimesSync(f, old, old);
    }
    expect(new LocalStore(ws).sweepLeftovers()).toBe(1);
    expect(existsSync(dead)).toBe(false);
    expect(readFileSync(yarn, 'utf8')).toBe('# yarn lockfile v1\n');
    for (const f of theirs) expect(existsSync(f), f).toBe(true);
  });

  it('breaks at once a lock left by an earlier process with this very PID (PID reuse: PID 1 after a container restart)', async () => {
    const me = currentProcess();
    expect(me.start).toBeTypeOf('number'); // Linux: the start time comes from /proc/<pid>/stat
    const ws = fresh();
    const store = new LocalStore(ws);
    mkdirSync(join(ws, 't'), { recursive: true });
    // The record a killed run with our PID left: same PID, same host and boot, another start time.
    writeFileSync(
      join(ws, 't', 'k.lock'),
      JSON.stringify({ ...me, start: me.start! - 1, token: 'dead', since: 'then' }),
    );
    writeFileSync(join(ws, 't', `a_k.json.tmp-${me.pid}.${me.start! - 1}-abc123`), 'half');
    const lock = await store.lock('t', 'k', neverWait);
    expect(JSON.parse(readFileSync(join(ws, 't', 'k.lock'), 'utf8')).token).not.toBe('dead');
    expect(existsSync(join(ws, 't', `a_k.json.tmp-${me.pid}.${me.start! - 1}-abc123`))).toBe(false);
    await lock.release();
  });

  it('variant: a lock from a previous boot is broken even though its PID is alive now', async () => {
    const me = currentProcess();
    const ws = fresh();
    const store = new LocalStore(ws);
    mkdirSync(join(ws, 't'), { recursive: true });
    // process.ppid is alive, but the record says it ran under another boot id.
    writeFileSync(
      join(ws, 't', 'k.lock'),
      JSON.stringify({
        pid: process.ppid,
        host: me.host,
        start: processStartTime(process.ppid),
        boot: 'another-boot',
        token: 'dead',
        since: 'then',
      }),
    );
    const lock = await store.lock('t', 'k', neverWait);
    await lock.release();
  });

  it('still waits on a live owner whose start time matches (the parent process)', () => {
    const me = currentProcess();
    expect(
      isOwnerAlive({
        pid: process.ppid,
        host: me.host,
        start: processStartTime(process.ppid),
        boot: me.boot,
      }),
    ).toBe(true);
    expect(
      isOwnerAlive({
        pid: process.ppid,
        host: me.host,
        start: processStartTime(process.ppid)! + 1,
        boot: me.boot,
      }),
    ).toBe(false);
    expect(isOwnerAlive({ ...me })).toBe(true);
    expect(isOwnerAlive({ ...me, host: 'another-host', start: 1 })).toBe(true); // never judged from here
  });

  it.skipIf(!existsSync('/proc/self/stat'))(
    'a killed owner not yet reaped by its parent (a zombie) is gone',
    async () => {
      // `sleep 0` exits at once; its parent execs into `sleep 600`, which never waits for it (and
      // outlives the polling below however slow the machine: it is killed in `finally`).
      const child = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 600']);
      try {
        const pid = Number(
          await new Promise<string>((res) => child.stdout.once('data', (d) => res(String(d)))),
        );
        const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0];
        // No cap on the polls: the test timeout bounds the wait.
        while (state() !== 'Z') await new Promise((r) => setTimeout(r, 20));
        expect(state()).toBe('Z');
        const me = currentProcess();
        expect(isOwnerAlive({ pid, host: me.host })).toBe(false);
        expect(processStartTime(pid)).toBeUndefined();
        expect(isOwnerAlive({ pid, host: me.host, start: 12345, boot: me.boot })).toBe(false);
      } finally {
        child.kill('SIGKILL');
      }
    },
  );
});
