// The store probe lists the workspace once per run (LocalStore.storedTasks) and skips tasks with
// no folder instead of two failed lookups each (issue 13: 100k-task --dry-run). These pin what
// that shortcut must never change: a task whose stored files are gone re-runs, a stale task
// still reports what changed against its previous key, and a never-run task says so.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, unlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { definePipeline, defineTask, output, type AnyTask } from '../../runtime/task.js';
import { LocalStore } from '../../runtime/store/local.js';
import { runPipeline } from '../../runtime/run/run.js';
import { closestManifest } from '../../runtime/run/probe.js';
import { MemoryStore } from '../../runtime/store/memory.js';
import { readOutput } from '../../runtime/run/perform.js';
import type { KeyInputs, Manifest } from '../../runtime/types.js';

function pipeline(offset: number) {
  const a = defineTask({
    name: 'a',
    params: { offset: { type: 'number', default: offset } },
    inputs: {},
    outputs: { v: {} },
    run: ({}, p: { offset: number }) => ({ v: 1 + p.offset }),
  });
  const b = defineTask({
    name: 'b',
    params: {},
    inputs: {},
    outputs: { v: {} },
    run: () => ({ v: 2 }),
  });
  const total = defineTask({
    name: 'total',
    params: {},
    inputs: { a: output(a, 'v'), b: output(b, 'v') },
    outputs: { v: {} },
    run: (i: { a: number; b: number }) => ({ v: i.a + i.b }),
  });
  return definePipeline({ name: 'p', tasks: [a, b, total] as AnyTask[] });
}

const run = (workspace: string, offset = 0, dryRun = false) =>
  runPipeline({
    pipeline: pipeline(offset),
    store: new LocalStore(workspace),
    codeAware: false,
    dryRun,
  });

const reasons = (prepared: Awaited<ReturnType<typeof run>>['prepared']) =>
  Object.fromEntries(prepared.plan.entries.map((e) => [e.name, e.reason.kind]));

describe('store probe (one listing of the workspace per run)', () => {
  it('reports every task as never run in a workspace that does not exist yet', async () => {
    const ws = join(mkdtempSync(join(tmpdir(), 'cellar-probe-')), 'not-made');
    const { prepared } = await run(ws, 0, true);
    expect(reasons(prepared)).toEqual({ a: 'never-run', b: 'never-run', total: 'never-run' });
  });

  it('re-runs a task whose folder was deleted, and its downstream stays cached only if its key is unchanged', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-probe-'));
    await run(ws);
    rmSync(join(ws, 'p', 'b'), { recursive: true });
    const { prepared, result } = await run(ws);
    expect(reasons(prepared)).toEqual({ a: 'cached', b: 'never-run', total: 'cached' });
    expect(result!.tasks.find((t) => t.name === 'b')!.status).toBe('ran');
  });

  it('re-runs a task whose manifest was deleted while its folder stays', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-probe-'));
    await run(ws);
    for (const f of readdirSync(join(ws, 'p', 'a')))
      if (f.endsWith('.manifest.json')) unlinkSync(join(ws, 'p', 'a', f));
    const { prepared } = await run(ws, 0, true);
    expect(reasons(prepared)).toEqual({ a: 'never-run', b: 'cached', total: 'cached' });
  });

  it('still names what changed for a stale task that has a folder', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-probe-'));
    await run(ws, 0);
    const { prepared } = await run(ws, 5, true);
    const a = prepared.plan.entries.find((e) => e.name === 'a')!;
    expect(a.reason.kind).toBe('inputs-changed');
    expect(a.reason.kind === 'inputs-changed' && a.reason.changes.map((c) => c.path)).toEqual([
      'params.offset',
    ]);
    expect(reasons(prepared)).toEqual({
      a: 'inputs-changed',
      b: 'cached',
      total: 'inputs-changed',
    });
  });

  it('lists the task folders present, and nothing for a missing workspace', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-probe-'));
    await run(ws);
    const stored = new LocalStore(ws).forPipeline('p').storedTasks();
    expect(['a', 'b', 'total'].every((t) => stored.has(t))).toBe(true);
    expect(new LocalStore(join(ws, 'missing')).storedTasks()).toEqual(new Set());
  });
});

describe('a stored output that is not what its run wrote', () => {
  it('of another size (LocalStore: one stat per output) re-runs its task with the sizes, and its downstream stays cached', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-probe-'));
    await run(ws);
    const file = readdirSync(join(ws, 'p', 'b')).find((f) => f.startsWith('v_'))!;
    writeFileSync(join(ws, 'p', 'b', file), '22');
    const { prepared, result } = await run(ws);
    const b = prepared.plan.entries.find((e) => e.name === 'b')!;
    expect(b.reason).toEqual({
      kind: 'output-damaged',
      output: 'v',
      file: `b/${file}`,
      found: '2 bytes, recorded 1',
    });
    expect(reasons(prepared)).toEqual({
      a: 'cached',
      b: 'output-damaged',
      total: 'upstream-forced',
    });
    expect(result!.tasks.find((t) => t.name === 'b')!.status).toBe('ran');
    expect(result!.tasks.find((t) => t.name === 'total')!.status).toBe('cached');
  });

  it('of the same size (MemoryStore): the reader says E_OUTPUT_DAMAGED and marks the result, which the next plan re-runs', async () => {
    const store = new MemoryStore();
    const p = pipeline(0);
    await runPipeline({ pipeline: p, store, codeAware: false });
    const view = store.forPipeline('p');
    const key = (await view.latestManifest('b'))!.key;
    const stored = (await view.readManifest('b', key))!.outputs.v!;
    await view.writeOutput('b', stored.file, new TextEncoder().encode('7'));
    const b = p.tasks.find((t) => t.name === 'b')!;
    await expect(readOutput(view, b, 'v', stored, key)).rejects.toMatchObject({
      code: 'E_OUTPUT_DAMAGED',
      message: expect.stringMatching(/the stored output 'v' of task 'b' is damaged: .*SHA-256/),
    });
    expect(view.missingOutput('b', key)).toMatchObject({ output: 'v', file: stored.file });
    const { prepared, result } = await runPipeline({ pipeline: p, store, codeAware: false });
    expect(reasons(prepared)).toEqual({
      a: 'cached',
      b: 'output-damaged',
      total: 'upstream-forced',
    });
    expect(result!.tasks.find((t) => t.name === 'b')!.status).toBe('ran');
    expect(await readOutput(view, b, 'v', (await view.readManifest('b', key))!.outputs.v!)).toBe(2);
  });
});

describe('the stored run a stale task is explained against (closestManifest)', () => {
  const manifest = (key: string, reads: Record<string, string>) =>
    ({ key, inputs: { params: { n: 1 }, reads } }) as unknown as Manifest;
  const now = { params: { n: 1 }, reads: { 'data/x.csv': 'new' } } as unknown as KeyInputs;

  it('prefers the run that keyed the same input (hash → hash) over one from before it was read, in either order', () => {
    const before = manifest('k1', {});
    const keyed = manifest('k2', { 'data/x.csv': 'old' });
    expect(closestManifest([before, keyed], now)?.key).toBe('k2');
    expect(closestManifest([keyed, before], now)?.key).toBe('k2');
  });

  it('still prefers fewer param differences, then fewer changes, then the newest', () => {
    const otherParam = { key: 'p', inputs: { params: { n: 2 }, reads: { 'data/x.csv': 'new' } } };
    const twoChanges = manifest('c', { 'data/x.csv': 'old', 'data/y.csv': 'y' });
    const newest = manifest('a', { 'data/x.csv': 'old' });
    const older = manifest('b', { 'data/x.csv': 'older' });
    const list = [otherParam as unknown as Manifest, twoChanges, newest, older];
    expect(closestManifest(list, now)?.key).toBe('a');
  });
});
