// A result made again under the key that already holds one (`--rerun`, a `rerun: true` task, an
// upstream re-made because its stored output was damaged) writes its outputs under names the
// stored manifest does not name, and replacing the manifest is the commit: a re-run that fails or
// dies after writing some outputs leaves the last good result whole and readable (not reported
// damaged, E_OUTPUT_DAMAGED, as when the re-run wrote over the files the manifest names), and one
// that succeeds replaces it whole, removing the old files (no growth per re-run).
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineTask, definePipeline, load, output, MemoryStore } from 'cellar';
import { LocalStore } from '../../runtime/store/local.js';
import { runPipeline } from '../../runtime/run/run.js';
import type { Store } from '../../runtime/store/store.js';

/** A two-output task; `b` cannot be encoded as JSON (a BigInt) while `state.failB`. */
function pipeline(state: { failB: boolean; n: number }, rerun = false) {
  const t = defineTask({
    name: 't',
    params: {},
    inputs: {},
    outputs: { a: { codec: 'json' }, b: { codec: 'json' } },
    ...(rerun ? { rerun: true } : {}),
    run: () => {
      state.n++;
      return { a: { v: state.n }, b: state.failB ? { bad: 10n } : { ok: state.n } };
    },
  });
  const d = defineTask({
    name: 'd',
    params: {},
    inputs: { a: output(t, 'a') },
    outputs: { sum: {} },
    run: ({ a }) => ({ sum: (a as { v: number }).v + 100 }),
  });
  return { t, d, p: definePipeline({ name: rerun ? 'rr2' : 'rr', tasks: [t, d] }) };
}

async function run(p: ReturnType<typeof pipeline>['p'], store: Store, rerun: string[] = []) {
  const { result } = await runPipeline({
    pipeline: p,
    store,
    workers: 1,
    backoffScale: 0,
    rerun,
  });
  return {
    ok: result!.ok,
    status: Object.fromEntries(result!.tasks.map((t) => [t.name, t.status])),
    error: result!.tasks.find((t) => t.error)?.error ?? '',
  };
}

/** The files of task `t`'s folder, less its manifests and lock. */
function outputFiles(workspace: string, pipelineName: string): string[] {
  return readdirSync(join(workspace, pipelineName, 't'))
    .filter((n) => !n.endsWith('.manifest.json') && !n.endsWith('.lock'))
    .sort();
}

function localSetup(rerun = false) {
  const workspace = mkdtempSync(join(tmpdir(), 'cellar-rerun-replace-'));
  const state = { failB: false, n: 0 };
  const made = pipeline(state, rerun);
  return { workspace, state, ...made, store: new LocalStore(workspace) };
}

describe('a failed re-run under the same key', () => {
  it('--rerun of a two-output task whose second output fails to encode keeps the old result readable, cached by the next run', async () => {
    const { workspace, state, t, d, p, store } = localSetup();
    expect((await run(p, store)).ok).toBe(true);
    expect(await load(t, {}, { store })).toEqual({ a: { v: 1 }, b: { ok: 1 } });
    const before = outputFiles(workspace, 'rr');

    state.failB = true;
    const failed = await run(p, store, ['t']);
    expect(failed.ok).toBe(false);
    expect(failed.status.t).toBe('failed');
    expect(failed.error).toMatch(/output 'b'/);
    // The last good result, whole: not E_OUTPUT_DAMAGED.
    expect(await load(t, {}, { store })).toEqual({ a: { v: 1 }, b: { ok: 1 } });
    expect(await load(d, {}, { store })).toEqual({ sum: 101 });
    // The new `a` the failed run wrote is not left behind.
    expect(outputFiles(workspace, 'rr')).toEqual(before);

    // Not forced: served from the store.
    state.failB = false;
    const next = await run(p, store);
    expect(next.status).toEqual({ t: 'cached', d: 'cached' });
    expect(state.n).toBe(2);
  });

  it('a `rerun: true` task whose second output fails to encode keeps the old result readable', async () => {
    const { workspace, state, t, p, store } = localSetup(true);
    expect((await run(p, store)).ok).toBe(true);
    const before = outputFiles(workspace, 'rr2');
    state.failB = true;
    const failed = await run(p, store);
    expect(failed.status.t).toBe('failed');
    expect(await load(t, {}, { store })).toEqual({ a: { v: 1 }, b: { ok: 1 } });
    expect(outputFiles(workspace, 'rr2')).toEqual(before);
  });

  it('the same on the in-memory store', async () => {
    const state = { failB: false, n: 0 };
    const { t, p } = pipeline(state);
    const store = new MemoryStore();
    expect((await run(p, store)).ok).toBe(true);
    const files = [...store.files.keys()].sort();
    state.failB = true;
    expect((await run(p, store, ['t'])).status.t).toBe('failed');
    expect(await load(t, {}, { store })).toEqual({ a: { v: 1 }, b: { ok: 1 } });
    expect([...store.files.keys()].sort()).toEqual(files);
  });
});

describe('a re-run killed between its outputs', () => {
  it('leaves the old result intact; the next successful re-run sweeps what it wrote', async () => {
    const { workspace, state, t, p } = localSetup();
    const local = new LocalStore(workspace);
    expect((await run(p, local)).ok).toBe(true);
    const before = outputFiles(workspace, 'rr');

    // A process killed after its first output was renamed into place: the second write never
    // happens, and nothing after it runs (no clean-up), as with SIGINT or a crash.
    let writes = 0;
    const dying: Store = Object.assign(Object.create(local) as LocalStore, {
      forPipeline(name: string) {
        const view = local.forPipeline(name);
        return Object.assign(Object.create(view) as LocalStore, {
          async writeOutput(task: string, file: string, bytes: Uint8Array) {
            if (++writes > 1) throw new Error('killed');
            return view.writeOutput(task, file, bytes);
          },
          discardOutputs: undefined,
        });
      },
    });
    const killed = await run(p, dying, ['t']);
    expect(killed.status.t).toBe('failed');
    // What the killed run wrote is on disk, under a name no manifest names...
    const left = outputFiles(workspace, 'rr');
    expect(left).toHaveLength(before.length + 1);
    // ...and the result is the old one, whole.
    expect(await load(t, {}, { store: local })).toEqual({ a: { v: 1 }, b: { ok: 1 } });
    expect((await run(p, local)).status).toEqual({ t: 'cached', d: 'cached' });

    // A successful re-run replaces every value and leaves only its own files.
    const n = state.n;
    const again = await run(p, local, ['t']);
    expect(again.ok).toBe(true);
    expect(await load(t, {}, { store: local })).toEqual({ a: { v: n + 1 }, b: { ok: n + 1 } });
    const manifest = (await local.forPipeline('rr').latestManifest('t'))!;
    const named = Object.values(manifest.outputs).map((o) => o.file.replace(/^t\//, ''));
    expect(outputFiles(workspace, 'rr')).toEqual(named.sort());
  });
});

describe('a successful re-run', () => {
  it('replaces all values, its downstream reads the new ones, and the old files go (no growth per re-run)', async () => {
    const { workspace, state, t, d, p, store } = localSetup();
    expect((await run(p, store)).ok).toBe(true);
    for (let i = 0; i < 3; i++) {
      const r = await run(p, store, ['t']);
      expect(r.ok).toBe(true);
      expect(await load(t, {}, { store })).toEqual({ a: { v: state.n }, b: { ok: state.n } });
      expect(await load(d, {}, { store })).toEqual({ sum: state.n + 100 });
      expect(outputFiles(workspace, 'rr')).toHaveLength(2);
    }
  });

  it('with the very bytes of the result it replaces, keeps it readable', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-rerun-same-'));
    const same = defineTask({
      name: 't',
      params: {},
      inputs: {},
      outputs: { a: { codec: 'json' } },
      run: () => ({ a: { v: 1 } }),
    });
    const p = definePipeline({ name: 'same', tasks: [same] });
    const store = new LocalStore(workspace);
    for (let i = 0; i < 3; i++) {
      expect((await run(p, store, i === 0 ? [] : ['t'])).ok).toBe(true);
      expect(await load(same, {}, { store })).toEqual({ a: { v: 1 } });
    }
    expect(
      readdirSync(join(workspace, 'same', 't')).filter((n) => n.startsWith('a_')),
    ).toHaveLength(1);
  });

  it('a reader holding the replaced manifest reads the new result, not E_OUTPUT_MISSING', async () => {
    const { state, t, p, store } = localSetup();
    expect((await run(p, store)).ok).toBe(true);
    const view = store.forPipeline('rr');
    const old = (await view.latestManifest('t'))!;
    expect((await run(p, store, ['t'])).ok).toBe(true);
    const { readOutput } = await import('../../runtime/run/perform.js');
    // The old manifest's file is gone; the key's new result is read instead.
    expect(await readOutput(view, t, 'a', old.outputs.a!, old.key)).toEqual({ v: state.n });
    expect(view.missingOutput(t.name, old.key)).toBeUndefined();
  });
});

describe('LocalStore: removing the files a replaced manifest named', () => {
  it('keeps those another manifest of the task names (a result adopted under another key)', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-rerun-adopted-'));
    const store = new LocalStore(workspace).forPipeline('p');
    const k0 = 'a'.repeat(16);
    const k1 = 'b'.repeat(16);
    const h = 'c'.repeat(16);
    const bytes = new TextEncoder().encode('{"v":1}');
    const entry = (file: string) => ({ codec: 'json', codecVersion: 1, file, bytes: 7 });
    const manifest = (key: string, file: string) => ({
      task: 't',
      key,
      inputs: {},
      outputs: { a: entry(file) },
      durationMs: 1,
      finishedAt: new Date().toISOString(),
    });
    await store.writeOutput('t', `t/a_${k0}.json`, bytes);
    await store.writeManifest(manifest(k0, `t/a_${k0}.json`) as never);
    await store.writeManifest(manifest(k1, `t/a_${k0}.json`) as never);
    // A re-run of k0 commits: k0's old file stays, k1 names it.
    await store.writeOutput('t', `t/a_${k0}-${h}.json`, bytes);
    await store.writeManifest(manifest(k0, `t/a_${k0}-${h}.json`) as never);
    expect(readdirSync(join(workspace, 'p', 't')).filter((n) => n.startsWith('a_'))).toEqual([
      `a_${k0}-${h}.json`,
      `a_${k0}.json`,
    ]);
    expect(store.missingOutput('t', k1)).toBeUndefined();
    // With no other manifest naming it, the next re-run removes the replaced file.
    const h2 = 'd'.repeat(16);
    await store.writeOutput('t', `t/a_${k0}-${h2}.json`, bytes);
    await store.writeManifest(manifest(k0, `t/a_${k0}-${h2}.json`) as never);
    expect(readdirSync(join(workspace, 'p', 't')).filter((n) => n.startsWith('a_'))).toEqual([
      `a_${k0}-${h2}.json`,
      `a_${k0}.json`,
    ]);
  });
});
