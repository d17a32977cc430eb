// The extension points the warehouse relies on (keyInputs → key, isCachedValid → plan,
// aroundRun → execution), `load()` of a stored result, and the summary/plan formatters.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineTask, definePipeline, output, load, MemoryStore, CellarError } from 'cellar';
import { registerTaskHooks } from '../../runtime/run/hooks.js';
import { runPipeline } from '../../runtime/run/run.js';
import { formatPlan, formatSummary, resultJson } from '../../runtime/run/summary.js';

const snapshot = { version: 1 };
let tableExists = true;
const seen: string[] = [];
registerTaskHooks({
  name: 'test-warehouse',
  applies: (task) => task.family === 'test-hooked',
  keyInputs: async () => ({ reads: ['proj.ds.events'], snapshot: snapshot.version }),
  isCachedValid: async () => tableExists,
  aroundRun: async (task, ctx, run) => {
    seen.push(`${task.name}@${ctx.key}:${Object.keys(ctx.keysByTask).sort().join(',')}`);
    const out = await run();
    return { ...out, rows: (out.rows as number) + 1000 };
  },
});

const query = defineTask({
  name: 'query',
  params: {},
  inputs: {},
  outputs: { rows: {} },
  family: 'test-hooked',
  run: () => ({ rows: 1 }),
});
const after = defineTask({
  name: 'after',
  params: {},
  inputs: { rows: output(query, 'rows') },
  outputs: { double: {} },
  run: ({ rows }) => ({ double: rows * 2 }),
});
const pipeline = definePipeline({ name: 'hooks', tasks: [query, after] });
const statuses = (r: Awaited<ReturnType<typeof runPipeline>>) =>
  Object.fromEntries(r.result!.tasks.map((t) => [t.name, t.status]));

describe('task hooks', () => {
  const store = new MemoryStore();
  afterAll(() => {
    tableExists = true;
  });

  it('aroundRun wraps the run and can post-process outputs; keys carry the hook inputs', async () => {
    const r = await runPipeline({ pipeline, store, codeAware: false });
    expect(statuses(r)).toEqual({ query: 'ran', after: 'ran' });
    expect(seen[0]).toMatch(/^query@[0-9a-f]{16}:query$/);
    expect(r.prepared.keys.get('query')!.inputs.hooks).toEqual({
      'test-warehouse': { reads: ['proj.ds.events'], snapshot: 1 },
    });
    const afterManifest = [...store.manifests.values()].find((m) => m.task === 'after')!;
    expect(
      new TextDecoder().decode(
        await store.forPipeline('hooks').readOutput('after', afterManifest.outputs.double!.file),
      ),
    ).toBe('2002');
  });

  it('new data in a source table (a changed snapshot) re-runs its reader and downstream, with the reason', async () => {
    snapshot.version = 2;
    const r = await runPipeline({ pipeline, store, codeAware: false });
    expect(statuses(r)).toEqual({ query: 'ran', after: 'ran' });
    const entry = r.prepared.plan.entries[0]!;
    expect(entry.reason).toMatchObject({
      kind: 'inputs-changed',
      changes: [{ path: 'hooks.test-warehouse.snapshot', before: 1, after: 2 }],
    });
    expect(formatPlan(r.prepared.plan)).toContain('hooks.test-warehouse.snapshot: 1 → 2');
  });

  it('a cached result the hook rejects (its table was dropped) runs again', async () => {
    tableExists = false;
    const r = await runPipeline({ pipeline, store, codeAware: false });
    expect(r.prepared.plan.entries[0]!.reason).toEqual({
      kind: 'cache-invalid',
      hook: 'test-warehouse',
    });
    expect(statuses(r)).toEqual({ query: 'ran', after: 'cached' });
  });
});

describe('the keys a hook sees while a task runs', () => {
  it("are the task's own key and its upstream tasks' keys, no more (as the job carries them)", async () => {
    const keysSeen: Record<string, string>[] = [];
    registerTaskHooks({
      name: 'test-keys-seen',
      applies: (task) => task.family === 'test-keys-seen',
      aroundRun: async (_task, ctx, run) => {
        keysSeen.push({ ...ctx.keysByTask });
        return run();
      },
    });
    const a = defineTask({
      name: 'a',
      params: {},
      inputs: {},
      outputs: { x: {} },
      run: () => ({ x: 1 }),
    });
    const b = defineTask({
      name: 'b',
      params: {},
      inputs: {},
      outputs: { y: {} },
      run: () => ({ y: 2 }),
    });
    const other = defineTask({
      name: 'other',
      params: {},
      inputs: {},
      outputs: { z: {} },
      run: () => ({ z: 3 }),
    });
    const sum = defineTask({
      name: 'sum',
      params: {},
      inputs: { x: output(a, 'x'), y: output(b, 'y') },
      outputs: { s: {} },
      family: 'test-keys-seen',
      run: ({ x, y }) => ({ s: x + y }),
    });
    const r = await runPipeline({
      pipeline: definePipeline({ name: 'keys-seen', tasks: [a, b, other, sum] }),
      store: new MemoryStore(),
      codeAware: false,
    });
    const key = (name: string) => r.prepared.keys.get(name)!.value;
    expect(keysSeen).toEqual([{ a: key('a'), b: key('b'), sum: key('sum') }]);
  });
});

describe('load()', () => {
  it('returns the stored outputs for the given params without running anything', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-load-'));
    let runs = 0;
    const t = defineTask({
      name: 'counted',
      params: { n: { type: 'number', default: 2 } },
      inputs: {},
      outputs: { rows: {}, note: {} },
      run: (_i, { n }) => {
        runs++;
        return { rows: Array.from({ length: n }, (_, i) => ({ i })), note: `n=${n}` };
      },
    });
    const p = definePipeline({ name: 'p', tasks: [t] });
    await runPipeline({ pipeline: p, workspace, params: { n: 3 } });
    expect(runs).toBe(1);
    expect(await load(t, { n: 3 }, { workspace })).toEqual({
      rows: [{ i: 0 }, { i: 1 }, { i: 2 }],
      note: 'n=3',
    });
    expect(runs).toBe(1);
    const missing = load(t, { n: 4 }, { workspace });
    await expect(missing).rejects.toBeInstanceOf(CellarError);
    await expect(load(t, { n: 4 }, { workspace })).rejects.toMatchObject({ code: 'E_NOT_CACHED' });
  });

  it('with no result for these inputs, names the stored run closest to them and what differs, not the newest', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-load-closest-'));
    const before = defineTask({
      name: 'scaled',
      params: { n: { type: 'number', default: 2 } },
      inputs: {},
      outputs: { value: {} },
      run: (_i, { n }) => ({ value: n * 10 }),
    });
    const p = definePipeline({ name: 'p', tasks: [before] });
    const atThree = await runPipeline({ pipeline: p, workspace, params: { n: 3 } });
    await runPipeline({ pipeline: p, workspace, params: { n: 4 } }); // the newest stored run
    const threeKey = atThree.prepared.keys.get('scaled')!.value;
    // The task's code changes; the n=3 run is the closest to a load at n=3 (only code differs).
    const after = defineTask({
      name: 'scaled',
      params: { n: { type: 'number', default: 2 } },
      inputs: {},
      outputs: { value: {} },
      run: (_i, { n }) => ({ value: n * 100 }),
    });
    definePipeline({ name: 'p', tasks: [after] });
    const error = await load(after, { n: 3 }, { workspace }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_NOT_CACHED' });
    const message = (error as Error).message;
    expect(message).toContain(`closest stored result has key ${threeKey}`);
    expect(message).toMatch(/differs in code\./);
    expect(message).not.toMatch(/params\.n/);
  });
});

describe('outputs JSON cannot hold', () => {
  it('a Map crosses from one task to the next and comes back from load() as a Map', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-map-'));
    const count = defineTask({
      name: 'count',
      params: {},
      inputs: {},
      outputs: { counts: {} },
      run: () => ({ counts: new Map([['x', 2]]) }),
    });
    const use = defineTask({
      name: 'use',
      params: {},
      inputs: { counts: output(count, 'counts') },
      outputs: { x: {} },
      run: ({ counts }) => ({ x: counts.get('x') ?? -1 }),
    });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: 'maps', tasks: [count, use] }),
      workspace,
    });
    expect(result!.ok, result!.tasks.map((t) => t.error).join()).toBe(true);
    expect(await load(use, {}, { workspace })).toEqual({ x: 2 });
    const loaded = await load(count, {}, { workspace });
    expect(loaded.counts).toBeInstanceOf(Map);
    expect(loaded.counts.get('x')).toBe(2);
  });

  it('a class instance is refused, naming the task, the output and the class; nothing is stored', async () => {
    class Vocab {
      words = ['a'];
      lookup(w: string) {
        return this.words.indexOf(w);
      }
    }
    const store = new MemoryStore();
    const t = defineTask({
      name: 'tokenize',
      params: {},
      inputs: {},
      outputs: { vocab: {} },
      run: () => ({ vocab: new Vocab() }),
    });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: 'v', tasks: [t] }),
      store,
      runner: 'in-process',
      codeAware: false,
    });
    expect(result!.tasks[0]!.status).toBe('failed');
    expect(result!.tasks[0]!.error).toMatch(
      /^task 'tokenize', output 'vocab': holds a Vocab instance.*export it from the notebook's setup cell.*`\/\/\| output: vocab=model`/,
    );
    await expect(load(t, {}, { store })).rejects.toMatchObject({ code: 'E_NOT_CACHED' });
  });
});

describe('summary', () => {
  it('prints a Luigi-style summary and the --json shape', () => {
    const result = {
      ok: false,
      pipeline: 'p',
      durationMs: 1234,
      tasks: [
        { name: 'a', status: 'ran' as const, key: 'k1', durationMs: 12 },
        { name: 'b', status: 'cached' as const, key: 'k2', durationMs: 0 },
        { name: 'c', status: 'failed' as const, key: 'k3', durationMs: 5, error: 'boom\nstack' },
        {
          name: 'd',
          status: 'not-run' as const,
          key: 'k4',
          durationMs: 0,
          because: { kind: 'upstream-failed' as const, task: 'c' },
        },
      ],
    };
    expect(formatSummary(result)).toBe(
      [
        '===== Cellar Execution Summary =====',
        '',
        'Scheduled 4 tasks of p, of which:',
        '* 1 ran successfully:',
        '    - a (12ms)',
        '* 1 was cached (complete):',
        '    - b',
        '* 1 failed:',
        '    - c: boom',
        '* 1 was not run:',
        '    - d (upstream c failed)',
        '',
        'This run looks :( because 1 task failed (1.2s)',
        '',
        '===== Cellar Execution Summary =====',
      ].join('\n'),
    );
    expect(JSON.parse(resultJson(result)).tasks[2]).toEqual({
      name: 'c',
      status: 'failed',
      key: 'k3',
      durationMs: 5,
      error: 'boom\nstack',
    });
  });
});
