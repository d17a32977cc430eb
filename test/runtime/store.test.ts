// The local store's guarantees: atomic replace (a reader never sees a torn or missing file), the
// manifest as done marker, and the cross-process lock (waiting on a live owner, breaking a dead
// one at once).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { LocalStore, atomicWrite } from '../../runtime/store/local.js';
import type { Manifest } from '../../runtime/types.js';

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

  it('is done only once the manifest is written', async () => {
    const store = new LocalStore(fresh());
    await store.writeOutput('t', 't/a_k1.json', new TextEncoder().encode('1'));
    expect(store.isDone('t', 'k1')).toBe(false);
    const manifest: Manifest = { task: 't', key: 'k1', inputs: { task: 't', version: 0, cache: 'params', params: {}, upstream: {}, codecs: {} }, outputs: {}, durationMs: 1, finishedAt: 'now' };
    await store.writeManifest(manifest);
    expect(store.isDone('t', 'k1')).toBe(true);
    expect(await store.latestManifest('t')).toEqual(manifest);
  });

  it('a lock held by a live process makes others wait; release lets them in', async () => {
    const store = new LocalStore(fresh());
    const first = await store.lock('t', 'k');
    let waitedFor = '';
    let got = false;
    const second = store.lock('t', 'k', (holder) => (waitedFor = holder)).then((l) => {
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
    writeFileSync(join(ws, 't', 'k.lock'), JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), token: 'x', since: 'then' }));
    writeFileSync(join(ws, 't', `a_k.json.tmp-${deadPid}-abc123`), 'half');
    const t0 = Date.now();
    const lock = await store.lock('t', 'k');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(existsSync(join(ws, 't', `a_k.json.tmp-${deadPid}-abc123`))).toBe(false);
    await lock.release();
    expect(existsSync(join(ws, 't', 'k.lock'))).toBe(false);
  });
});
