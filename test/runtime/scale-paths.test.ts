// The 100k-task speed-ups (issue 13; docs/design/performance.md) change how the graph,
// the keys, the dry-run's plan and the executor's memory are handled. These pin what they must
// never change: every key input still counts, a changed upstream still re-runs its downstream,
// the dry run still names the first stale cause, and a manifest released from memory is never
// an output lost to the task that needs it. The 100k figures live in bench/scale.bench.ts.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, unlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  definePipeline,
  defineTask,
  output,
  pipelineOf,
  pipelinesListing,
  type AnyTask,
} from '../../runtime/task.js';
import { LocalStore } from '../../runtime/store/local.js';
import { MemoryStore } from '../../runtime/store/memory.js';
import { runPipeline } from '../../runtime/run/run.js';
import { buildGraph, tasksByName } from '../../runtime/run/graph.js';
import { computeKeys } from '../../runtime/key/keys.js';
import { formatPlan, PLAN_LIST_LIMIT, resultJson } from '../../runtime/run/summary.js';
import type { Manifest, TaskResult } from '../../runtime/types.js';
import { readTasks, type JobResult, type TaskRunner } from '../../runtime/run/execute.js';
import { performTask, readOutput, type TaskJob } from '../../runtime/run/perform.js';
import { registerTaskHooks, type TaskRunContext } from '../../runtime/run/hooks.js';

/** n leaves (`leaf<i>` = i + offset, or + bump for the one leaf `bumped`) and a total of them. */
function wide(n: number, o: { offset?: number; bumped?: number; codec?: string } = {}) {
  const leaves: AnyTask[] = [];
  for (let i = 0; i < n; i++)
    leaves.push(
      defineTask({
        name: `leaf${i}`,
        params: { offset: { type: 'number', default: o.offset ?? 0 } },
        outputs: { v: i === o.bumped && o.codec ? { codec: o.codec } : {} },
        version: i === o.bumped ? 1 : 0,
        run: (_i, p: { offset: number }) => ({ v: i + p.offset }),
      }),
    );
  const total = defineTask({
    name: 'total',
    inputs: Object.fromEntries(leaves.map((t) => [t.name, output(t, 'v')])),
    outputs: { total: {} },
    run: (inputs: Record<string, number>) => ({
      total: Object.values(inputs).reduce((s, v) => s + v, 0),
    }),
  });
  return definePipeline({ name: 'wide', tasks: [...leaves, total] });
}

const statuses = (r: { tasks: { name: string; status: string }[] }) =>
  Object.fromEntries(r.tasks.map((t) => [t.name, t.status]));

describe('keys at scale: every input still counts', () => {
  it('tasks declaring the same outputs share a codecs record, yet a codec change re-keys only its task (and downstream)', async () => {
    const before = buildGraph(wide(3)).graph!;
    const after = buildGraph(wide(3, { bumped: 1, codec: 'json' })).graph!;
    const k0 = await computeKeys(before);
    const k1 = await computeKeys(after);
    expect(k1.get('leaf1')!.inputs.codecs.v).toMatch(/^json@/);
    expect(k0.get('leaf1')!.inputs.codecs.v).toMatch(/^auto3\(/);
    expect(k1.get('leaf0')!.value).toBe(k0.get('leaf0')!.value);
    expect(k1.get('leaf2')!.value).toBe(k0.get('leaf2')!.value);
    expect(k1.get('leaf1')!.value).not.toBe(k0.get('leaf1')!.value);
    expect(k1.get('total')!.value).not.toBe(k0.get('total')!.value);
  });

  it('tasks of one shape keyed one after another still see a codec version change', async () => {
    const { getCodec, registerCodec } = await import('../../runtime/codecs/index.js');
    // Leaves only: the last task keyed before the change has the same shape as the first after.
    const graph = buildGraph(wide(5).tasks.filter((t) => t.name !== 'total')).graph!;
    const k0 = await computeKeys(graph);
    const json = getCodec('json');
    registerCodec({ ...json, version: json.version + 1 });
    try {
      const k1 = await computeKeys(graph);
      for (let i = 0; i < 5; i++) {
        expect(k1.get(`leaf${i}`)!.value).not.toBe(k0.get(`leaf${i}`)!.value);
        expect(k1.get(`leaf${i}`)!.inputs.codecs.v).toContain(`json@${json.version + 1}`);
      }
      // Back to the codec as it was: the keys are the first ones again.
      registerCodec(json);
      const k2 = await computeKeys(graph);
      for (const [name, key] of k0) expect(k2.get(name)!.value).toBe(key.value);
    } finally {
      registerCodec(json);
    }
  });

  it('a param change re-runs every reader and the total; a changed upstream re-runs its downstream', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-scale-'));
    const run = (p: ReturnType<typeof wide>) =>
      runPipeline({ pipeline: p, store: new LocalStore(ws), codeAware: false });
    expect((await run(wide(4))).result!.ok).toBe(true);
    expect(Object.values(statuses((await run(wide(4))).result!))).toEqual(Array(5).fill('cached'));
    // One leaf's definition changes (its version): it and the total re-run, nothing else.
    const changed = await run(wide(4, { bumped: 2 }));
    expect(statuses(changed.result!)).toEqual({
      leaf0: 'cached',
      leaf1: 'cached',
      leaf2: 'ran',
      leaf3: 'cached',
      total: 'ran',
    });
    // A param every leaf reads: all of them, then the total.
    const param = await run(wide(4, { bumped: 2, offset: 10 }));
    expect(Object.values(statuses(param.result!))).toEqual(Array(5).fill('ran'));
  });

  it('a deleted manifest re-runs its task, and the total reads the new output', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-scale-'));
    const run = () =>
      runPipeline({ pipeline: wide(3), store: new LocalStore(ws), codeAware: false });
    await run();
    const dir = join(ws, 'wide', 'leaf1');
    for (const f of readdirSync(dir)) if (f.endsWith('.manifest.json')) unlinkSync(join(dir, f));
    const again = await run();
    expect(statuses(again.result!)).toMatchObject({ leaf0: 'cached', leaf1: 'ran' });
  });
});

describe('the dry run of a big plan is a digest', () => {
  it(`lists the first ${PLAN_LIST_LIMIT} tasks in plan order, counts the rest by reason, and keeps the totals`, async () => {
    const ws = mkdtempSync(join(tmpdir(), 'cellar-scale-'));
    await runPipeline({ pipeline: wide(5), store: new LocalStore(ws), codeAware: false });
    // Now leaf3 changed and the pipeline grew: leaf3 is stale, leaf5… never ran, total is stale.
    const n = PLAN_LIST_LIMIT + 30;
    const { prepared } = await runPipeline({
      pipeline: wide(n, { bumped: 3 }),
      store: new LocalStore(ws),
      codeAware: false,
      dryRun: true,
    });
    const digest = formatPlan(prepared.plan, { limit: PLAN_LIST_LIMIT }).split('\n');
    // The first stale cause comes first, with what changed.
    expect(digest[0]).toMatch(/^would run {2}leaf3 +\w+ {2}inputs changed since key \w+$/);
    expect(digest[1]).toMatch(/^ +version: 0 → 1$/);
    const listed = digest.filter((l) => l.startsWith('would run'));
    expect(listed).toHaveLength(PLAN_LIST_LIMIT);
    // Shown: leaf3, leaf5 … leaf<n-1>, total; the first PLAN_LIST_LIMIT listed, the rest counted.
    const rest = 1 + (n - 5) + 1 - PLAN_LIST_LIMIT;
    expect(digest.at(-2)).toBe(
      `... and ${rest} more (${rest - 1} would run: never run, 1 would run: inputs changed); --verbose lists every task`,
    );
    expect(digest.at(-1)).toBe(`${n - 4 + 1} tasks would run, 4 cached.`);
    // Without a limit (--verbose), every task is listed.
    const full = formatPlan(prepared.plan).split('\n');
    expect(full.filter((l) => l.startsWith('would run'))).toHaveLength(n - 4 + 1);
    expect(full.at(-1)).toBe(digest.at(-1));
  });
});

describe('the digest counts by what the last run said, and --json prints results as before', () => {
  it('counts tasks failed or left out in their last run apart from never run, in first-seen order', () => {
    const entries = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({
      name,
      action: name === 'f' ? ('cached' as const) : ('run' as const),
      key: { value: `k${name}`, inputs: {} } as never,
      reason: name === 'f' ? { kind: 'cached' as const } : { kind: 'never-run' as const },
    }));
    const last = new Map([
      ['c', { kind: 'failed' as const, at: 0, error: 'boom' }],
      ['d', { kind: 'not-run' as const, at: 0, failFast: true }],
      ['e', { kind: 'failed' as const, at: 0, error: 'boom' }],
    ]);
    const digest = formatPlan({ entries }, { limit: 1, last }).split('\n');
    expect(digest.at(-2)).toBe(
      '... and 4 more (1 would run: never run, 2 would run: failed in its last run, 1 would run: not run in its last run); --verbose lists every task',
    );
    expect(digest.at(-1)).toBe('5 tasks would run, 1 cached.');
    // With the cached task shown (`showCached`), it is counted under its own words.
    expect(formatPlan({ entries }, { limit: 1, last, showCached: true }).split('\n').at(-2)).toBe(
      '... and 5 more (1 would run: never run, 2 would run: failed in its last run, 1 would run: not run in its last run, 1 cached: up to date); --verbose lists every task',
    );
  });

  it('prints each task result with its members in one order, whatever order it was made in', () => {
    const text = resultJson({
      ok: false,
      pipeline: 'p',
      durationMs: 5,
      tasks: [
        { name: 'a', status: 'cached', key: 'ka', durationMs: 0 },
        // Made in another order, or with an absent member present as undefined: printed as the
        // others, members in resultJson's order.
        { key: 'kb', durationMs: 1, status: 'ran', name: 'b' } as TaskResult,
        { name: 'c', status: 'ran', key: 'kc', durationMs: 2, notCached: undefined },
        { name: 'd', status: 'failed', key: 'kd', durationMs: 3, error: 'boom' },
        { name: 'e', status: 'not-run', key: 'ke', durationMs: 0, because: { kind: 'fail-fast' } },
      ],
    });
    expect(text).toBe(
      '{"ok":false,"durationMs":5,"tasks":[' +
        '{"name":"a","status":"cached","key":"ka","durationMs":0},' +
        '{"name":"b","status":"ran","key":"kb","durationMs":1},' +
        '{"name":"c","status":"ran","key":"kc","durationMs":2},' +
        '{"name":"d","status":"failed","key":"kd","durationMs":3,"error":"boom"},' +
        '{"name":"e","status":"not-run","key":"ke","durationMs":0,"because":{"kind":"fail-fast"}}]}',
    );
  });
});

describe('memory release in the executor', () => {
  /** A store counting manifest reads: a manifest released too early would be read back. */
  class CountingStore extends MemoryStore {
    constructor(
      readonly reads: string[] = [],
      pipeline?: string,
      shared?: MemoryStore,
    ) {
      super(pipeline, shared);
    }
    override forPipeline(pipeline: string): CountingStore {
      return this.pipeline === pipeline ? this : new CountingStore(this.reads, pipeline, this);
    }
    override async readManifest(task: string, key: string): Promise<Manifest | undefined> {
      this.reads.push(task);
      return super.readManifest(task, key);
    }
  }
  const diamond = (salt: number) => {
    const a = defineTask({
      name: 'a',
      params: { salt: { type: 'number', default: salt } },
      outputs: { v: {} },
      run: (_i, p: { salt: number }) => ({ v: 10 + p.salt }),
    });
    const b = defineTask({
      name: 'b',
      inputs: { a: output(a, 'v') },
      outputs: { v: {} },
      run: (i: { a: number }) => ({ v: i.a * 2 }),
    });
    const c = defineTask({
      name: 'c',
      inputs: { a: output(a, 'v') },
      outputs: { v: {} },
      run: (i: { a: number }) => ({ v: i.a * 3 }),
    });
    const d = defineTask({
      name: 'd',
      inputs: { a: output(a, 'v'), b: output(b, 'v'), c: output(c, 'v') },
      outputs: { v: {} },
      run: (i: { a: number; b: number; c: number }) => ({ v: i.a + i.b + i.c }),
    });
    return { pipeline: definePipeline({ name: 'diamond', tasks: [a, b, c, d] }), d };
  };

  it('an output read by several later tasks stays available until the last of them starts', async () => {
    const store = new CountingStore();
    const { pipeline } = diamond(0);
    const { result } = await runPipeline({ pipeline, store, codeAware: false, workers: 1 });
    expect(result!.ok).toBe(true);
    const d = result!.tasks.find((t) => t.name === 'd')!;
    const m = await store.forPipeline('diamond').readManifest('d', d.key);
    const bytes = await store.forPipeline('diamond').readOutput('d', m!.outputs.v!.file);
    expect(JSON.parse(Buffer.from(bytes).toString())).toBe(10 + 20 + 30);
    // Every input came from a manifest this run kept: none was read back from the store.
    expect(store.reads.filter((t) => t !== 'd')).toEqual([]);
  });

  it('variant: a cached upstream read by several tasks is read from the store once', async () => {
    const store = new CountingStore();
    await runPipeline({ pipeline: diamond(0).pipeline, store, codeAware: false });
    store.reads.length = 0;
    // b, c and d re-run (forced); a stays cached and is read once for all three.
    const { result } = await runPipeline({
      pipeline: diamond(0).pipeline,
      store,
      codeAware: false,
      rerun: ['b+', 'c+'],
      workers: 1,
    });
    expect(statuses(result!)).toEqual({ a: 'cached', b: 'ran', c: 'ran', d: 'ran' });
    // Each forced task also reads the manifest it replaces, once (runtime/run/replaced.ts).
    expect(store.reads.filter((t) => t === 'a')).toEqual(['a']);
    expect(store.reads.filter((t) => t !== 'a').sort()).toEqual(['b', 'c', 'd']);
  });

  it("variant: one upstream read through two inputs counts once, whatever the inputs' names", async () => {
    const a = defineTask({ name: 'a', outputs: { v: {} }, run: () => ({ v: 5 }) });
    const b = defineTask({ name: 'b', outputs: { v: {} }, run: () => ({ v: 7 }) });
    // Input names sorting otherwise than their tasks, and `a` read twice: not the upstream list.
    const twice = defineTask({
      name: 'twice',
      inputs: { x: output(b, 'v'), y: output(a, 'v'), z: output(a, 'v') },
      outputs: { v: {} },
      run: (i: { x: number; y: number; z: number }) => ({ v: i.x + i.y + i.z }),
    });
    const later = defineTask({
      name: 'later',
      inputs: { a: output(a, 'v'), t: output(twice, 'v') },
      outputs: { v: {} },
      run: (i: { a: number; t: number }) => ({ v: i.a * i.t }),
    });
    const pipeline = definePipeline({ name: 'twice', tasks: [a, b, twice, later] });
    const store = new CountingStore();
    const { result } = await runPipeline({ pipeline, store, codeAware: false, workers: 1 });
    expect(result!.ok).toBe(true);
    const m = await store
      .forPipeline('twice')
      .readManifest('later', result!.tasks.find((t) => t.name === 'later')!.key);
    const bytes = await store.forPipeline('twice').readOutput('later', m!.outputs.v!.file);
    expect(JSON.parse(Buffer.from(bytes).toString())).toBe(5 * (7 + 5 + 5));
    // `a` counted once for `twice`: still kept for `later`, not read back from the store.
    expect(store.reads.filter((t) => t !== 'later')).toEqual([]);

    const { graph } = buildGraph(pipeline, {});
    const node = (name: string) => graph!.byName.get(name)!;
    expect([...readTasks(node('twice'))].sort()).toEqual(['a', 'b']);
    expect([...readTasks(node('later'))]).toEqual(['a', 'twice']);
    // A fan-in whose inputs name their tasks in order: its own upstream list, no new Set.
    expect(readTasks(node('later'))).toBe(node('later').upstream);
    expect([...readTasks(node('a'))]).toEqual([]);
  });

  it('variant: a task of the upstream list that no input reads (a warehouse table) is not counted', () => {
    const node = {
      inputs: [{ name: 'a', task: 'a', output: 'v' }],
      upstream: ['a', 'table_writer'],
    } as unknown as Parameters<typeof readTasks>[0];
    expect([...readTasks(node)]).toEqual(['a']);
  });
});

describe('empty lists and records shared by many nodes (one frozen object each)', () => {
  it('each graph links its own downstream lists, and keys name exactly the upstream tasks', async () => {
    const first = buildGraph(wide(3)).graph!;
    const lone = defineTask({ name: 'lone', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const a = defineTask({ name: 'a', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const b = defineTask({
      name: 'b',
      inputs: { a: output(a, 'v') },
      outputs: { v: {} },
      run: () => ({ v: 2 }),
    });
    const c = defineTask({
      name: 'c',
      inputs: { a: output(a, 'v'), b: output(b, 'v') },
      outputs: { v: {} },
      run: () => ({ v: 3 }),
    });
    const second = buildGraph([lone, c, b, a]).graph!;
    const links = (g: typeof first) =>
      Object.fromEntries(
        g.nodes.map((n) => [n.name, [n.upstream, n.downstream, n.inputs.map((i) => i.name)]]),
      );
    expect(links(second)).toEqual({
      lone: [[], [], []],
      a: [[], ['b', 'c'], []],
      b: [['a'], ['c'], ['a']],
      c: [['a', 'b'], [], ['a', 'b']],
    });
    // The first graph is untouched by the second's linking.
    expect(first.byName.get('leaf0')!.downstream).toEqual(['total']);
    expect(first.byName.get('total')!.downstream).toEqual([]);
    // A shared empty list cannot be grown by mistake (it would grow every node's).
    expect(() => second.byName.get('lone')!.downstream.push('x')).toThrow(TypeError);
    const keys = await computeKeys(second);
    expect(keys.get('a')!.inputs.upstream).toEqual({});
    expect(keys.get('c')!.inputs.upstream).toEqual({
      a: keys.get('a')!.value,
      b: keys.get('b')!.value,
    });
    expect(Object.isFrozen(keys.get('c')!.inputs.upstream)).toBe(false);
  });
});

describe('what a job carries of its inputs', () => {
  /** Runs tasks in process, keeping every job it was given. */
  class RecordingRunner implements TaskRunner {
    readonly jobs: TaskJob[] = [];
    constructor(
      private readonly tasks: ReadonlyMap<string, AnyTask>,
      private readonly store: MemoryStore,
    ) {}
    async run(job: TaskJob): Promise<JobResult> {
      this.jobs.push(job);
      return {
        ...(await performTask(this.tasks.get(job.task)!, this.tasks, job, this.store)),
        durationMs: 0,
      };
    }
    async close(): Promise<void> {}
  }

  it("a fan-in's inputs carry where each output is and how to decode it, with equal schemas one object", async () => {
    const pipeline = wide(5);
    const store = new MemoryStore();
    const runner = new RecordingRunner(tasksByName(pipeline, {}), store.forPipeline('wide'));
    const { result } = await runPipeline({ pipeline, store, codeAware: false, runner });
    expect(result!.ok).toBe(true);
    const total = runner.jobs.find((j) => j.task === 'total')!;
    expect(total.inputs).toHaveLength(5);
    for (const input of total.inputs) {
      // Not the stats of the manifest: only what reading the output needs, and its size and
      // digest, which the reader checks the bytes against (E_OUTPUT_DAMAGED).
      expect(Object.keys(input.stored).sort()).toEqual([
        'bytes',
        'codec',
        'digest',
        'file',
        'schema',
      ]);
      expect(input.stored.file).toMatch(new RegExp(`^${input.task}/v_[0-9a-f]+\\.json$`));
      expect(input.stored.schema).toBe(total.inputs[0]!.stored.schema);
    }
    const t = result!.tasks.find((r) => r.name === 'total')!;
    const m = await store.forPipeline('wide').readManifest('total', t.key);
    const bytes = await store.forPipeline('wide').readOutput('total', m!.outputs.total!.file);
    expect(JSON.parse(Buffer.from(bytes).toString())).toBe(0 + 1 + 2 + 3 + 4);
  });

  it('variant: inputs of other shapes keep their own schema and decode as they were stored', async () => {
    const num = defineTask({ name: 'num', outputs: { v: {} }, run: () => ({ v: 2 }) });
    const text = defineTask({ name: 'text', outputs: { v: {} }, run: () => ({ v: 'ab' }) });
    const rows = defineTask({
      name: 'rows',
      outputs: { v: {} },
      run: () => ({
        v: [
          { x: 1, y: 'a' },
          { x: 2, y: 'b' },
        ],
      }),
    });
    const num2 = defineTask({ name: 'num2', outputs: { v: {} }, run: () => ({ v: 3 }) });
    const join = defineTask({
      name: 'join',
      inputs: {
        n: output(num, 'v'),
        t: output(text, 'v'),
        r: output(rows, 'v'),
        m: output(num2, 'v'),
      },
      outputs: { v: {} },
      run: (i: { n: number; t: string; r: { x: number; y: string }[]; m: number }) => ({
        v: `${i.n * i.m}${i.t}${i.r.map((r) => r.x + r.y).join('')}`,
      }),
    });
    const pipeline = definePipeline({ name: 'mixed', tasks: [num, text, rows, num2, join] });
    const store = new MemoryStore();
    const runner = new RecordingRunner(tasksByName(pipeline, {}), store.forPipeline('mixed'));
    const { result } = await runPipeline({ pipeline, store, codeAware: false, runner });
    expect(result!.ok).toBe(true);
    const job = runner.jobs.find((j) => j.task === 'join')!;
    const schema = (name: string) => job.inputs.find((i) => i.name === name)!.stored.schema;
    expect(schema('n')).toBe(schema('m'));
    expect(new Set([schema('n'), schema('t'), schema('r')]).size).toBe(3);
    const m = await store.forPipeline('mixed').readManifest('join', result!.tasks.at(-1)!.key);
    expect(await readOutput(store.forPipeline('mixed'), join, 'v', m!.outputs.v!)).toBe('6ab1a2b');
  });
});

describe("a task's keys of other tasks are made when a hook first reads them", () => {
  // What each run of a task of this family saw: whether `keysByTask` was already copied when
  // the hook got the context, then what it read (twice, then after replacing it).
  const seen: {
    copiedBefore: boolean;
    first: Record<string, string>;
    again: Record<string, string>;
    replaced: Record<string, string>;
    upstreamKeys: Record<string, string>;
    key: string;
  }[] = [];
  registerTaskHooks({
    name: 'test-keys-on-read',
    applies: (task) => task.family === 'test-keys-on-read',
    aroundRun: async (_task, ctx: TaskRunContext, run) => {
      const copiedBefore = 'value' in Object.getOwnPropertyDescriptor(ctx, 'keysByTask')!;
      const first = ctx.keysByTask;
      const again = ctx.keysByTask;
      expect(again).toBe(first);
      ctx.keysByTask = { other: 'k' };
      seen.push({
        copiedBefore,
        first,
        again,
        replaced: ctx.keysByTask,
        upstreamKeys: ctx.upstreamKeys,
        key: ctx.key,
      });
      return run();
    },
  });

  it("a fan-in's hook reads its upstream keys and its own, the same object each time", async () => {
    const a = defineTask({ name: 'a', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const b = defineTask({ name: 'b', outputs: { v: {} }, run: () => ({ v: 2 }) });
    const sum = defineTask({
      name: 'sum',
      family: 'test-keys-on-read',
      inputs: { x: output(a, 'v'), y: output(b, 'v') },
      outputs: { v: {} },
      run: (i: { x: number; y: number }) => ({ v: i.x + i.y }),
    });
    const pipeline = definePipeline({ name: 'keys-on-read', tasks: [a, b, sum] });
    const { result, prepared } = await runPipeline({
      pipeline,
      store: new MemoryStore(),
      codeAware: false,
    });
    expect(result!.ok).toBe(true);
    expect(seen).toHaveLength(1);
    const key = (name: string) => prepared.keys.get(name)!.value;
    // Not copied before a hook asks (a 100k fan-in's worker held the copy for nothing).
    expect(seen[0]!.copiedBefore).toBe(false);
    expect(seen[0]!.first).toEqual({ a: key('a'), b: key('b'), sum: key('sum') });
    expect(seen[0]!.upstreamKeys).toEqual({ a: key('a'), b: key('b') });
    expect(seen[0]!.key).toBe(key('sum'));
    expect(seen[0]!.replaced).toEqual({ other: 'k' });
  });

  it('variant: keys the job carries itself are handed over as they are', async () => {
    const up = defineTask({ name: 'up', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const down = defineTask({
      name: 'down',
      family: 'test-keys-on-read',
      inputs: { x: output(up, 'v') },
      outputs: { v: {} },
      run: (i: { x: number }) => ({ v: i.x }),
    });
    const store = new MemoryStore().forPipeline('given');
    const tasks = new Map<string, AnyTask>([
      ['up', up],
      ['down', down],
    ]);
    await performTask(
      up,
      tasks,
      { task: 'up', key: 'k-up', params: {}, upstreamKeys: {}, inputs: [] },
      store,
    ).then(async ({ outputs }) => {
      const keysByTask = { up: 'k-up', down: 'k-down', elsewhere: 'k-x' };
      seen.length = 0;
      await performTask(
        down,
        tasks,
        {
          task: 'down',
          key: 'k-down',
          params: {},
          upstreamKeys: { up: 'k-up' },
          keysByTask,
          inputs: [{ name: 'x', task: 'up', output: 'v', stored: outputs.v! }],
        },
        store,
      );
      expect(seen[0]!.first).toBe(keysByTask);
    });
  });
});

describe('worker threads look tasks up without building the graph', () => {
  it('tasksByName holds the listed tasks and the upstream tasks pulled in through inputs', () => {
    const { pipeline, d } = diamondOnlyLast();
    const names = [...tasksByName(pipeline).keys()].sort();
    expect(names).toEqual(['a', 'b', 'c', 'd']);
    expect(tasksByName(pipeline).get('d')).toBe(d);
  });
});

/** The diamond with only its last task listed: a, b and c come in through inputs. */
function diamondOnlyLast() {
  const a = defineTask({ name: 'a', outputs: { v: {} }, run: () => ({ v: 1 }) });
  const b = defineTask({
    name: 'b',
    inputs: { a: output(a, 'v') },
    outputs: { v: {} },
    run: (i: { a: number }) => ({ v: i.a }),
  });
  const c = defineTask({
    name: 'c',
    inputs: { a: output(a, 'v') },
    outputs: { v: {} },
    run: (i: { a: number }) => ({ v: i.a }),
  });
  const d = defineTask({
    name: 'd',
    inputs: { b: output(b, 'v'), c: output(c, 'v') },
    outputs: { v: {} },
    run: (i: { b: number; c: number }) => ({ v: i.b + i.c }),
  });
  return { pipeline: definePipeline({ name: 'only-last', tasks: [d] }), d };
}

describe('which pipelines list a task (one name kept per task, not a Set)', () => {
  it('one pipeline, the same pipeline twice, then a second pipeline', () => {
    const t = defineTask({ name: 'shared', outputs: { v: {} }, run: () => ({ v: 1 }) });
    definePipeline({ name: 'first', tasks: [t] });
    expect(pipelinesListing(t)).toEqual(['first']);
    expect(pipelineOf(t)).toBe('first');
    definePipeline({ name: 'first', tasks: [t] });
    expect(pipelinesListing(t)).toEqual(['first']);
    definePipeline({ name: 'another', tasks: [t] });
    expect(pipelinesListing(t)).toEqual(['another', 'first']);
    expect(pipelineOf(t)).toBeUndefined();
  });

  it('pipelines defined one after another, asked about later, list their tasks as defined', () => {
    const t = defineTask({ name: 'later', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const u = defineTask({ name: 'other', outputs: { v: {} }, run: () => ({ v: 1 }) });
    const tasks = [t];
    definePipeline({ name: 'one', tasks });
    // The array handed over changes after the definition: the listing is the definition's.
    tasks.push(u);
    definePipeline({ name: 'two', tasks: [t] });
    definePipeline({ name: 'three', tasks: [u] });
    expect(pipelinesListing(t)).toEqual(['one', 'two']);
    expect(pipelinesListing(u)).toEqual(['three']);
    expect(pipelineOf(u)).toBe('three');
  });
});

describe('the key text without a sort per task (keyInputsJson)', () => {
  it('is canonical JSON of the inputs, byte for byte, for the keys of a real graph', async () => {
    const { canonicalJson, keyInputsJson, sha256, KEY_LENGTH } =
      await import('../../runtime/key/hash.js');
    const a = defineTask({
      name: 'a',
      params: {
        zeta: { type: 'json', default: { b: 2, a: 1 } },
        alpha: { type: 'number', default: 1 },
      },
      outputs: { v: {}, t: { codec: 'json' } },
      version: 3,
      run: () => ({ v: 1, t: 2 }),
    });
    const b = defineTask({
      name: 'b',
      inputs: { x: output(a, 'v'), y: output(a, 't') },
      outputs: { v: {} },
      cache: 'params',
      run: () => ({ v: 2 }),
    });
    // A fan-in whose input names sort otherwise than its tasks' names (the upstream record is
    // then written by canonicalJson), and one whose names agree (written as it is filled).
    const leaves = Array.from({ length: 300 }, (_, i) =>
      defineTask({ name: `n${i}`, outputs: { v: {} }, run: () => ({ v: i }) }),
    );
    const crossed = defineTask({
      name: 'crossed',
      inputs: Object.fromEntries(leaves.map((t, i) => [`in${299 - i}`, output(t, 'v')])),
      outputs: { v: {} },
      run: () => ({ v: 0 }),
    });
    const fanIn = defineTask({
      name: 'fanIn',
      inputs: Object.fromEntries(leaves.map((t) => [t.name, output(t, 'v')])),
      outputs: { v: {} },
      run: () => ({ v: 0 }),
    });
    const keys = await computeKeys(buildGraph([b, a, crossed, fanIn]).graph!);
    expect(keys.get('a')!.inputs.paramOrder).toBeDefined(); // the unsorted param is in the text
    expect(Object.keys(keys.get('crossed')!.inputs.upstream)).toHaveLength(300);
    expect(keys.get('fanIn')!.inputs.upstream).toEqual(keys.get('crossed')!.inputs.upstream);
    // One upstream key moves: both fan-ins re-key, the other leaves do not.
    const bumped = defineTask({
      name: 'n150',
      outputs: { v: {} },
      version: 1,
      run: () => ({ v: 1 }),
    });
    const swap = (t: AnyTask) =>
      defineTask({
        ...t,
        inputs: Object.fromEntries(
          Object.entries(t.inputs).map(([k, i]) => [
            k,
            i.task.name === 'n150' ? output(bumped, 'v') : i,
          ]),
        ),
      } as never);
    const again = await computeKeys(buildGraph([swap(crossed), swap(fanIn)]).graph!);
    expect(again.get('n149')!.value).toBe(keys.get('n149')!.value);
    expect(again.get('n150')!.value).not.toBe(keys.get('n150')!.value);
    expect(again.get('fanIn')!.value).not.toBe(keys.get('fanIn')!.value);
    expect(again.get('crossed')!.value).not.toBe(keys.get('crossed')!.value);
    for (const key of again.values())
      expect(key.value).toBe(sha256(canonicalJson(key.inputs)).slice(0, KEY_LENGTH));
    for (const key of keys.values()) {
      expect(keyInputsJson(key.inputs)).toBe(canonicalJson(key.inputs));
      expect(key.value).toBe(sha256(canonicalJson(key.inputs)).slice(0, KEY_LENGTH));
    }
  });

  it('variant: every member, undefined members, a member it does not know, frozen and hidden members', async () => {
    const { canonicalJson, keyInputsJson } = await import('../../runtime/key/hash.js');
    const full = {
      version: 1,
      upstream: { b: 'k2', a: 'k1' },
      task: 't',
      reads: { 'f.csv': 's' },
      params: { y: 1, x: [1, { d: 1, c: 2 }] },
      paramOrder: { '': ['y', 'x'] },
      hooks: { warehouse: { tables: ['t'] } },
      env: { B: 'h', A: 'h' },
      codecs: { v: 'auto2' },
      code: { files: { 'm.ts': 'h' }, packages: {} },
      cache: 'code' as const,
    };
    const cases: unknown[] = [
      full,
      { ...full, env: undefined, hooks: undefined },
      { ...full, extra: { z: 1 } }, // a member KeyInputs does not have (yet): still sorted in
      { task: 't' },
      {},
      Object.freeze({ ...full }),
    ];
    const hidden = { ...full };
    Object.defineProperty(hidden, 'cache', { value: 'params', enumerable: false });
    cases.push(hidden);
    for (const inputs of cases) expect(keyInputsJson(inputs as never)).toBe(canonicalJson(inputs));
    // The unknown member changes the text, so it changes the key.
    expect(keyInputsJson({ ...full, extra: 1 } as never)).not.toBe(keyInputsJson(full as never));
  });
});

describe('the graph order kept on the nodes', () => {
  it('orders upstream first (declaration order, upstream names sorted), each node knowing its place', () => {
    const mk = (name: string, ups: AnyTask[] = []) =>
      defineTask({
        name,
        inputs: Object.fromEntries(ups.map((u) => [u.name, output(u, 'v')])),
        outputs: { v: {} },
        run: () => ({ v: 1 }),
      });
    const a = mk('a');
    const b = mk('b', [a]);
    const d = mk('d');
    const c = mk('c', [d, b]);
    const e = mk('e', [c, a]);
    const { graph } = buildGraph([e, d]);
    expect(graph!.nodes.map((n) => n.name)).toEqual(['a', 'b', 'd', 'c', 'e']);
    graph!.nodes.forEach((n, i) => expect(n.index).toBe(i));
    expect([...graph!.byName.keys()]).toEqual(['a', 'b', 'd', 'c', 'e']);
    expect(graph!.byName.get('a')!.downstream).toEqual(['b', 'e']);
    // Declared in an order that is already topological (the draft map serves as byName).
    const again = buildGraph([d, a, b, c, e]).graph!;
    expect(again.nodes.map((n) => [n.name, n.index])).toEqual([
      ['d', 0],
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['e', 4],
    ]);
    expect([...again.byName.keys()]).toEqual(['d', 'a', 'b', 'c', 'e']);
    expect(again.byName.get('c')!.upstream).toEqual(['b', 'd']);
    expect(again.byName.get('d')!.downstream).toEqual(['c']);
  });

  it('variant: a cycle is named by its path, and a second build of the same tasks finds it again', () => {
    const inputs: Record<string, unknown> = {};
    const x = defineTask({
      name: 'x',
      inputs: inputs as never,
      outputs: { v: {} },
      run: () => ({ v: 1 }),
    });
    const y = defineTask({
      name: 'y',
      inputs: { x: output(x, 'v') },
      outputs: { v: {} },
      run: () => ({ v: 1 }),
    });
    const z = defineTask({
      name: 'z',
      inputs: { y: output(y, 'v') },
      outputs: { v: {} },
      run: () => ({ v: 1 }),
    });
    inputs.z = output(z, 'v');
    for (let round = 0; round < 2; round++) {
      const { graph, diagnostics } = buildGraph([y]);
      expect(graph).toBeUndefined();
      expect(diagnostics).toEqual([
        expect.objectContaining({
          code: 'E_DEPENDENCY_CYCLE',
          message: 'tasks form a cycle: y → x → z → y',
        }),
      ]);
    }
  });
});
