// Caching and execution semantics on the in-memory store, in-process runner: what gokart and
// Luigi users rely on (same params → cached, a changed param re-runs exactly its readers and
// their downstream, version bumps, rerun cascades, fail-fast / keep-going, retries).
import { describe, expect, it } from 'vitest';
import {
  defineTask,
  definePipeline,
  output,
  MemoryStore,
  type AnyTask,
  type RunEvent,
} from 'cellar';
import { runPipeline, type RunOptions } from '../../runtime/run/run.js';
import { schedule } from '../../runtime/run/execute.js';
import { buildGraph } from '../../runtime/run/graph.js';

function diamond(calls: string[], opts: { version?: number; failTrain?: number } = {}) {
  let trainFailures = opts.failTrain ?? 0;
  const load = defineTask({
    name: 'load',
    params: { rows: { type: 'number', default: 4 } },
    inputs: {},
    outputs: { table: {} },
    run: (_i, { rows }) => {
      calls.push('load');
      return { table: Array.from({ length: rows }, (_, i) => ({ x: i, y: i * 2 })) };
    },
  });
  const split = defineTask({
    name: 'split',
    params: { ratio: { type: 'number', default: 0.5 } },
    inputs: { table: output(load, 'table') },
    outputs: { train: {}, test: {} },
    run: ({ table }, { ratio }) => {
      calls.push('split');
      const cut = Math.round(table.length * ratio);
      return { train: table.slice(0, cut), test: table.slice(cut) };
    },
  });
  const train = defineTask({
    name: 'train',
    params: { lr: { type: 'number', default: 0.1 } },
    inputs: { train: output(split, 'train') },
    outputs: { model: {} },
    version: opts.version ?? 0,
    retries: 2,
    retryDelayMs: 1,
    run: ({ train }, { lr }) => {
      calls.push('train');
      if (trainFailures-- > 0) throw new Error('flaky');
      return { model: { w: train.reduce((s, r) => s + r.y, 0) * lr } };
    },
  });
  const stats = defineTask({
    name: 'stats',
    params: {},
    inputs: { test: output(split, 'test') },
    outputs: { n: {} },
    run: ({ test }) => {
      calls.push('stats');
      return { n: test.length };
    },
  });
  const report = defineTask({
    name: 'report',
    params: {},
    inputs: { model: output(train, 'model'), n: output(stats, 'n') },
    outputs: { text: {} },
    run: ({ model, n }) => {
      calls.push('report');
      return { text: `w=${model.w} n=${n}` };
    },
  });
  return definePipeline({ name: 'diamond', tasks: [load, split, train, stats, report] });
}

async function run(
  pipeline: ReturnType<typeof definePipeline>,
  store: MemoryStore,
  extra: Partial<RunOptions> = {},
) {
  const events: RunEvent[] = [];
  const { result, prepared } = await runPipeline({
    pipeline,
    store,
    workers: 2,
    codeAware: false,
    backoffScale: 0,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const status = Object.fromEntries((result?.tasks ?? []).map((t) => [t.name, t.status]));
  return { result, prepared, status, events };
}

describe('executeRun', () => {
  it('runs everything once, then reports everything cached for the same params', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    const first = await run(diamond(calls), store);
    expect(first.result!.ok).toBe(true);
    expect(Object.values(first.status)).toEqual(['ran', 'ran', 'ran', 'ran', 'ran']);
    expect(calls.sort()).toEqual(['load', 'report', 'split', 'stats', 'train']);
    calls.length = 0;
    const second = await run(diamond(calls), store);
    expect(Object.values(second.status)).toEqual([
      'cached',
      'cached',
      'cached',
      'cached',
      'cached',
    ]);
    expect(calls).toEqual([]);
  });

  it('a changed param re-runs exactly the tasks that read it and their downstream', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(diamond(calls), store);
    calls.length = 0;
    const { status, prepared } = await run(diamond(calls), store, { params: { lr: 0.2 } });
    expect(status).toEqual({
      load: 'cached',
      split: 'cached',
      train: 'ran',
      stats: 'cached',
      report: 'ran',
    });
    const trainEntry = prepared.plan.entries.find((e) => e.name === 'train')!;
    expect(trainEntry.reason).toMatchObject({
      kind: 'inputs-changed',
      changes: [{ path: 'params.lr', before: 0.1, after: 0.2 }],
    });
    const reportEntry = prepared.plan.entries.find((e) => e.name === 'report')!;
    expect(
      reportEntry.reason.kind === 'inputs-changed' && reportEntry.reason.changes.map((c) => c.path),
    ).toEqual(['upstream.train']);
  });

  it('a version bump re-runs the task and its downstream only', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(diamond(calls), store);
    calls.length = 0;
    const { status } = await run(diamond(calls, { version: 1 }), store);
    expect(status).toEqual({
      load: 'cached',
      split: 'cached',
      train: 'ran',
      stats: 'cached',
      report: 'ran',
    });
  });

  it('--rerun x+ cascades downstream, +x upstream, and x alone forces one task', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(diamond(calls), store);
    expect((await run(diamond(calls), store, { rerun: ['split+'] })).status).toEqual({
      load: 'cached',
      split: 'ran',
      train: 'ran',
      stats: 'ran',
      report: 'ran',
    });
    expect((await run(diamond(calls), store, { rerun: ['+train'] })).status).toEqual({
      load: 'ran',
      split: 'ran',
      train: 'ran',
      stats: 'cached',
      report: 'cached',
    });
    expect((await run(diamond(calls), store, { rerun: ['stats'] })).status).toEqual({
      load: 'cached',
      split: 'cached',
      train: 'cached',
      stats: 'ran',
      report: 'cached',
    });
  });

  it('the rerun flag on a task forces it every time', async () => {
    const store = new MemoryStore();
    const t = defineTask({
      name: 'always',
      params: {},
      inputs: {},
      outputs: { at: {} },
      rerun: true,
      run: () => ({ at: 1 }),
    });
    const p = definePipeline({ name: 'p', tasks: [t] });
    await run(p, store);
    expect((await run(p, store)).status).toEqual({ always: 'ran' });
  });

  it('retries with backoff, then succeeds', async () => {
    const calls: string[] = [];
    const { status, events } = await run(diamond(calls, { failTrain: 2 }), new MemoryStore());
    expect(status.train).toBe('ran');
    expect(
      events.filter((e) => e.kind === 'task-retry').map((e) => (e as { attempt: number }).attempt),
    ).toEqual([1, 2]);
  });

  it('fails fast by default: nothing new starts after a failure, downstream is not run; exit ok=false', async () => {
    const calls: string[] = [];
    const { result, status } = await run(diamond(calls, { failTrain: 5 }), new MemoryStore(), {
      workers: 1,
    });
    expect(result!.ok).toBe(false);
    expect(status.train).toBe('failed');
    expect(status.report).toBe('not-run');
    expect(result!.tasks.find((t) => t.name === 'train')!.error).toBe('flaky');
    // train is scheduled before stats with one worker; fail-fast leaves stats not run.
    expect(status.stats).toBe('not-run');
    expect(result!.tasks.find((t) => t.name === 'stats')).toMatchObject({
      status: 'not-run',
      because: { kind: 'fail-fast' },
    });
  });

  it('--keep-going runs everything not downstream of the failure', async () => {
    const calls: string[] = [];
    const { status, result, events } = await run(
      diamond(calls, { failTrain: 5 }),
      new MemoryStore(),
      { workers: 1, keepGoing: true },
    );
    expect(status).toEqual({
      load: 'ran',
      split: 'ran',
      train: 'failed',
      stats: 'ran',
      report: 'not-run',
    });
    // The reason is one closed value in the result and the event alike, naming the failed task.
    const because = { kind: 'upstream-failed', task: 'train' };
    expect(result!.tasks.find((t) => t.name === 'report')).toMatchObject({ because });
    expect(events.find((e) => e.kind === 'task-not-run')).toMatchObject({
      task: 'report',
      because,
    });
  });

  it('a task two steps below a failure names the failed task, not the skipped one between', async () => {
    const calls: string[] = [];
    const base = diamond(calls, { failTrain: 5 });
    const publish = defineTask({
      name: 'publish',
      params: {},
      inputs: { text: output(base.tasks.find((t) => t.name === 'report')! as AnyTask, 'text') },
      outputs: { done: {} },
      run: () => ({ done: true }),
    });
    const { result } = await run(
      definePipeline({ name: 'deep', tasks: [...base.tasks, publish] }),
      new MemoryStore(),
      { workers: 1, keepGoing: true },
    );
    expect(result!.ok).toBe(false);
    expect(result!.tasks.find((t) => t.name === 'publish')).toMatchObject({
      status: 'not-run',
      because: { kind: 'upstream-failed', task: 'train' },
    });
  });

  it('a failed task leaves no output and no done marker; the next run resumes from it', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(diamond(calls, { failTrain: 5 }), store, { workers: 1, keepGoing: true });
    expect([...store.manifests.keys()].some((k) => k.startsWith('diamond/train/'))).toBe(false);
    expect([...store.files.keys()].some((k) => k.startsWith('diamond/train/'))).toBe(false);
    calls.length = 0;
    const { status } = await run(diamond(calls), store);
    expect(status).toEqual({
      load: 'cached',
      split: 'cached',
      train: 'ran',
      stats: 'cached',
      report: 'ran',
    });
    expect(calls.sort()).toEqual(['report', 'train']);
  });

  it('runs independent tasks concurrently up to --workers', async () => {
    let active = 0;
    let peak = 0;
    // A gate instead of a sleep: tasks hold until three run at once, so the peak does not depend
    // on how fast the machine is (a scheduler that allowed fewer would hang and time out).
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const leaves: AnyTask[] = Array.from({ length: 6 }, (_, i) =>
      defineTask({
        name: `leaf${i}`,
        params: {},
        inputs: {},
        outputs: { v: {} },
        run: async () => {
          peak = Math.max(peak, ++active);
          if (active === 3) open();
          await gate;
          await new Promise((r) => setImmediate(r));
          active--;
          return { v: i };
        },
      }),
    );
    await run(definePipeline({ name: 'fan', tasks: leaves }), new MemoryStore(), { workers: 3 });
    expect(peak).toBe(3);
  });

  it('only runs the named task and its upstream; the rest is left alone', async () => {
    const calls: string[] = [];
    const { status, result } = await run(diamond(calls), new MemoryStore(), { only: ['train'] });
    expect(status).toEqual({
      load: 'ran',
      split: 'ran',
      train: 'ran',
      stats: 'not-run',
      report: 'not-run',
    });
    // Not requested is the one not-run reason that leaves the run ok.
    expect(result!.tasks.find((t) => t.name === 'stats')).toMatchObject({
      because: { kind: 'not-requested' },
    });
    expect(result!.ok).toBe(true);
  });

  it('rejects an unknown rerun selector with a suggestion', async () => {
    await expect(run(diamond([]), new MemoryStore(), { rerun: ['trian+'] })).rejects.toMatchObject({
      code: 'E_UNKNOWN_TASK',
    });
  });

  it('stores outputs through codecs: downstream gets decoded values, a table round-trips', async () => {
    const store = new MemoryStore();
    const calls: string[] = [];
    await run(diamond(calls), store);
    const splitManifest = [...store.manifests.values()].find((m) => m.task === 'split')!;
    expect(splitManifest.outputs.train).toMatchObject({
      codec: 'table',
      schema: {
        kind: 'table',
        rows: 2,
        columns: [
          { name: 'x', type: 'number' },
          { name: 'y', type: 'number' },
        ],
      },
    });
    expect(splitManifest.outputs.train!.file).toMatch(/^split\/train_[0-9a-f]{16}\.arrow$/);
    const reportManifest = [...store.manifests.values()].find((m) => m.task === 'report')!;
    expect(
      new TextDecoder().decode(
        await store.forPipeline('diamond').readOutput('report', reportManifest.outputs.text!.file),
      ),
    ).toBe('w=0.2 n=2');
  });
});

describe('schedule: the ready queue alone, with a recording runner', () => {
  it('starts ready tasks in graph order one at a time, and after a failure starts nothing new (fail-fast)', async () => {
    const { graph } = buildGraph(diamond([]), {});
    const started: string[] = [];
    const settled: Record<string, unknown> = {};
    await schedule({
      graph: graph!,
      pending: new Set(graph!.nodes.map((n) => n.name)),
      settled: () => false,
      workers: 1,
      keepGoing: false,
      keyOf: (name) => `k-${name}`,
      run: async (node) => {
        started.push(node.name);
        return {
          name: node.name,
          status: node.name === 'train' ? 'failed' : 'ran',
          key: `k-${node.name}`,
          durationMs: 0,
        };
      },
      settle: (r) => (settled[r.name] = r.status === 'not-run' ? r.because : r.status),
    });
    expect(started).toEqual(['load', 'split', 'train']);
    expect(settled).toEqual({
      load: 'ran',
      split: 'ran',
      train: 'failed',
      report: { kind: 'upstream-failed', task: 'train' },
      stats: { kind: 'fail-fast' },
    });
  });
});

describe('schedule at scale: the ready queue', () => {
  it('always starts the ready task of lowest graph index, with tasks finishing out of order on a wide, deep DAG (checked by a plain scan at each start)', async () => {
    // A seeded DAG of 600 tasks, each reading up to three earlier ones; three run at once and
    // finish in a scrambled order, so tasks become ready many at a time, unlike graph order.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const tasks: AnyTask[] = [];
    for (let i = 0; i < 600; i++) {
      const inputs: Record<string, ReturnType<typeof output>> = {};
      if (i > 20)
        for (let k = 0; k < 1 + rand(3); k++) inputs[`in${k}`] = output(tasks[rand(i)]!, 'v');
      tasks.push(
        defineTask({
          name: `t${i}`,
          params: {},
          inputs,
          outputs: { v: {} },
          run: () => ({ v: i }),
        }),
      );
    }
    const { graph } = buildGraph(definePipeline({ name: 'dag', tasks }), {});
    const nodes = graph!.nodes;
    const started = new Set<string>();
    const finished = new Set<string>();
    const inFlight: (() => void)[] = [];
    const wrong: string[] = [];
    let outOfOrder = 0;
    const done = schedule({
      graph: graph!,
      pending: new Set(nodes.map((n) => n.name)),
      settled: () => false,
      workers: 3,
      keepGoing: false,
      keyOf: (name) => `k-${name}`,
      run: (node) => {
        // The reference: the lowest-index task not started whose upstream all finished.
        const lowest = nodes.find(
          (n) => !started.has(n.name) && n.upstream.every((u) => finished.has(u)),
        );
        if (lowest !== node) wrong.push(`${node.name} started before ${lowest?.name}`);
        if (started.size !== node.index) outOfOrder++;
        started.add(node.name);
        return new Promise((resolve) =>
          inFlight.push(() => {
            finished.add(node.name);
            resolve({ name: node.name, status: 'ran', key: `k-${node.name}`, durationMs: 0 });
          }),
        );
      },
      settle: () => undefined,
    });
    while (finished.size < nodes.length) {
      await new Promise((r) => setImmediate(r));
      if (inFlight.length > 0) inFlight.splice(rand(inFlight.length), 1)[0]!();
    }
    await done;
    expect(wrong).toEqual([]);
    expect(started.size).toBe(600);
    // Not graph order throughout (else the queue's order would not have been tested).
    expect(outOfOrder).toBeGreaterThan(0);
  });
});
