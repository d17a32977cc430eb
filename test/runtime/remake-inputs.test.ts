// The scheduler's part in a stored upstream output found missing or damaged by the task reading
// it (after the store probe, which checks sizes only): the upstream is made again in the same run
// and the reader runs once more on the new output, each at most once (no loop), and a failure to
// make it again fails the reader clearly. On the in-memory store, in process; the files are
// changed from the run's own events, between the probe and the read.
import { describe, expect, it } from 'vitest';
import { defineTask, definePipeline, output, MemoryStore, type RunEvent } from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import { formatEvent, formatSummary } from '../../runtime/run/summary.js';

function pipeline(calls: string[], opts: { failMakeAfter?: number } = {}) {
  let makes = 0;
  const make = defineTask({
    name: 'make',
    params: {},
    inputs: {},
    outputs: { j: {} },
    run: () => {
      calls.push('make');
      if (opts.failMakeAfter !== undefined && ++makes > opts.failMakeAfter)
        throw new Error('the source is gone');
      return { j: { z: 1 } };
    },
  });
  const use = defineTask({
    name: 'use',
    params: {},
    inputs: { j: output(make, 'j') },
    outputs: { n: {} },
    rerun: true,
    run: ({ j }) => {
      calls.push('use');
      return { n: j.z + 1 };
    },
  });
  const also = defineTask({
    name: 'also',
    params: {},
    inputs: { j: output(make, 'j') },
    outputs: { m: {} },
    rerun: true,
    run: ({ j }) => {
      calls.push('also');
      return { m: j.z * 10 };
    },
  });
  return definePipeline({ name: 'remake', tasks: [make, use, also] });
}

/** The stored file of `make`'s output `j`, by its key in the store's map. */
function jFile(store: MemoryStore): string {
  const name = [...store.files.keys()].find((k) => k.includes('make/j_'));
  expect(name).toBeDefined();
  return name!;
}

/** `{"z":1}` → `{"z":7}`: the same size, only the digest tells. */
function damage(store: MemoryStore): void {
  const file = jFile(store);
  const text = new TextDecoder().decode(store.files.get(file)!);
  store.files.set(file, new TextEncoder().encode(text.replace('1', '7')));
}

async function run(
  p: ReturnType<typeof pipeline>,
  store: MemoryStore,
  onEvent: (e: RunEvent) => void = () => {},
  workers = 1,
) {
  const events: RunEvent[] = [];
  const { result } = await runPipeline({
    pipeline: p,
    store,
    workers,
    codeAware: false,
    backoffScale: 0,
    onEvent: (e) => {
      events.push(e);
      onEvent(e);
    },
  });
  const status = Object.fromEntries(result!.tasks.map((t) => [t.name, t.status]));
  return { result: result!, status, events };
}

/**
 * The stored value of `task`'s output `out`, through its manifest: a forced re-run writes its
 * outputs under names of their own, and the old files may still be there while it runs.
 */
const value = (store: MemoryStore, task: string, out: string) => {
  const manifests = [...store.manifests.entries()].filter(([k]) => k.split('/').at(-2) === task);
  expect(manifests).toHaveLength(1);
  const file = manifests[0]![1].outputs[out]!.file;
  const stored = [...store.files.keys()].find((k) => k === file || k.endsWith(`/${file}`));
  expect(stored, file).toBeDefined();
  return JSON.parse(new TextDecoder().decode(store.files.get(stored!)!));
};

describe('a stored upstream output its reader finds unreadable', () => {
  it('damaged keeping its size: the upstream is made again once for both readers, each reader runs on the new output, and the run says why', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(pipeline(calls), store);
    calls.length = 0;
    damage(store);
    // Two workers: both readers start, and both find it damaged.
    const r = await run(pipeline(calls), store, () => {}, 2);
    expect(r.result.ok).toBe(true);
    expect(r.status).toEqual({ make: 'ran', use: 'ran', also: 'ran' });
    expect(calls.filter((c) => c === 'make')).toEqual(['make']);
    expect(value(store, 'use', 'n')).toBe(2);
    expect(value(store, 'also', 'm')).toBe(10);
    const remakes = r.events.filter((e) => e.kind === 'task-remake');
    expect(remakes).toHaveLength(1);
    expect(formatEvent(remakes[0]!)).toMatch(
      /remake {2}make: its stored output 'j' was changed since it was written: make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\), found by (use|also) reading it; making it again in this run, then (use|also) again$/,
    );
    expect(r.events.some((e) => e.kind === 'task-failed')).toBe(false);
    expect(formatSummary(r.result)).toMatch(
      /- make \(\S+; made again in this run: its stored output 'j' was changed since it was written/,
    );
  });

  it('deleted after the store probe: the upstream is made again (output-missing) and the reader runs', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(pipeline(calls), store);
    const r = await run(pipeline(calls), store, (e) => {
      if (e.kind === 'run-start') store.files.delete(jFile(store));
    });
    expect(r.result.ok).toBe(true);
    expect(r.status).toEqual({ make: 'ran', use: 'ran', also: 'ran' });
    const remake = r.events.find((e) => e.kind === 'task-remake');
    expect(remake).toMatchObject({
      task: 'make',
      reader: 'use',
      reason: { kind: 'output-missing', output: 'j' },
    });
    expect(value(store, 'use', 'n')).toBe(2);
  });

  it('damaged again once made again: the reader fails, naming both findings, and the upstream is not made a third time', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(pipeline(calls), store);
    calls.length = 0;
    damage(store);
    const r = await run(pipeline(calls), store, (e) => {
      if (e.kind === 'task-done' && e.task === 'make') damage(store);
    });
    expect(r.result.ok).toBe(false);
    expect(calls.filter((c) => c === 'make')).toEqual(['make']);
    expect(calls).not.toContain('use');
    expect(r.status.use).toBe('failed');
    const use = r.result.tasks.find((t) => t.name === 'use')!;
    expect(use.error).toMatch(
      /^the stored output 'j' of task 'make' was made again in this run after 'use' found it damaged, and reading it failed again: not made a third time;.* the stored output 'j' of task 'make' is damaged: .*\(E_OUTPUT_DAMAGED\)$/,
    );
  });

  it('making the upstream again fails: the upstream is failed with its own error, the reader with the damaged-output error and why', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    const p = pipeline(calls, { failMakeAfter: 1 });
    await run(p, store);
    damage(store);
    const r = await run(p, store);
    expect(r.result.ok).toBe(false);
    expect(r.status.make).toBe('failed');
    expect(r.status.use).toBe('failed');
    const make = r.result.tasks.find((t) => t.name === 'make')!;
    expect(make.error).toBe('the source is gone');
    const use = r.result.tasks.find((t) => t.name === 'use')!;
    expect(use.error).toMatch(
      /^the stored output 'j' of task 'make' is damaged and making 'make' again in this run failed: the source is gone\. the stored output 'j' of task 'make' is damaged: .*\(E_OUTPUT_DAMAGED\)$/,
    );
    // The damaged result is still not served: the plan of the next run makes it again.
    const next = await run(pipeline(calls), store);
    expect(next.status.make).toBe('ran');
  });
});

/**
 * `make` gives another value each time it runs (as `Math.random()` would); `use` reads it and is
 * forced (`rerun`), `also` reads it and is not; `deep` reads `also`; `side` reads nothing of it.
 */
function randomPipeline(calls: string[]) {
  let made = 0;
  const make = defineTask({
    name: 'make',
    params: {},
    inputs: {},
    outputs: { j: {} },
    run: () => {
      calls.push('make');
      return { j: { z: 1 + made++ } };
    },
  });
  const use = defineTask({
    name: 'use',
    params: {},
    inputs: { j: output(make, 'j') },
    outputs: { n: {} },
    rerun: true,
    run: ({ j }) => {
      calls.push('use');
      return { n: j.z + 1 };
    },
  });
  const also = defineTask({
    name: 'also',
    params: {},
    inputs: { j: output(make, 'j') },
    outputs: { m: {} },
    run: ({ j }) => {
      calls.push('also');
      return { m: j.z * 10 };
    },
  });
  const deep = defineTask({
    name: 'deep',
    params: {},
    inputs: { m: output(also, 'm') },
    outputs: { d: {} },
    run: ({ m }) => {
      calls.push('deep');
      return { d: m + 5 };
    },
  });
  const side = defineTask({
    name: 'side',
    params: {},
    inputs: {},
    outputs: { s: {} },
    run: () => {
      calls.push('side');
      return { s: 1 };
    },
  });
  return definePipeline({ name: 'remake', tasks: [make, use, also, deep, side] });
}

/** Every stored result agrees with `make`'s stored value, as a run from scratch would compute them. */
function expectConsistent(store: MemoryStore) {
  const z = value(store, 'make', 'j').z;
  expect(value(store, 'use', 'n')).toBe(z + 1);
  expect(value(store, 'also', 'm')).toBe(z * 10);
  expect(value(store, 'deep', 'd')).toBe(z * 10 + 5);
}

describe('an upstream made again under its key with another output', () => {
  it.each([1, 2])(
    'damaged and made again for one reader (%i workers): its cached sibling and what is below it run again in the same run, and the summary says so, never "cached"',
    async (workers) => {
      const calls: string[] = [];
      const store = new MemoryStore();
      const p = randomPipeline(calls);
      await run(p, store);
      expectConsistent(store);
      calls.length = 0;
      damage(store);
      const r = await run(p, store, () => {}, workers);
      expect(r.result.ok).toBe(true);
      expect(r.status).toEqual({
        make: 'ran',
        use: 'ran',
        also: 'ran',
        deep: 'ran',
        side: 'cached',
      });
      expect(calls.filter((c) => c === 'make')).toEqual(['make']);
      expect(calls.filter((c) => c === 'also')).toEqual(['also']);
      expect(calls.filter((c) => c === 'deep')).toEqual(['deep']);
      expectConsistent(store);
      const also = r.result.tasks.find((t) => t.name === 'also')!;
      expect(also.staleFrom).toBe('make');
      const summary = formatSummary(r.result);
      expect(summary).toMatch(
        /- also \(\S+; ran again: its stored result was computed from the old output of make, made again in this run\)/,
      );
      expect(summary).toMatch(/- deep \(\S+; ran again: .*old output of make/);
      expect(summary).not.toMatch(/- (also|deep)\n/);
      // The run log says why each ran again.
      const planned = r.events.filter(
        (e) => e.kind === 'task-planned' && e.reason.kind === 'upstream-remade',
      );
      expect(planned.map((e) => (e as { task: string }).task)).toEqual(['also', 'deep']);
      expect(formatEvent(planned[0]!, true)).toMatch(
        /plan {4}also: its stored result was computed from the old output of make, made again in this run with another output$/,
      );
      // The next run serves every result as stored: all agree with `make`'s.
      calls.length = 0;
      const next = await run(p, store);
      expect(next.status).toEqual({
        make: 'cached',
        use: 'ran',
        also: 'cached',
        deep: 'cached',
        side: 'cached',
      });
      expect(calls).toEqual(['use']);
      expectConsistent(store);
    },
  );

  it('made again with the same output (a deterministic task): nothing below it runs again', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    await run(pipeline(calls), store);
    calls.length = 0;
    damage(store);
    const r = await run(pipeline(calls), store, () => {}, 1);
    expect(r.status).toEqual({ make: 'ran', use: 'ran', also: 'ran' });
    expect(calls.sort()).toEqual(['also', 'make', 'use']);
    expect(
      r.events.some((e) => e.kind === 'task-planned' && e.reason.kind === 'upstream-remade'),
    ).toBe(false);
  });

  it('--rerun of a task with another output each time: everything below it runs again on the new output', async () => {
    const calls: string[] = [];
    const store = new MemoryStore();
    const p = randomPipeline(calls);
    await run(p, store);
    calls.length = 0;
    const { result } = await runPipeline({
      pipeline: p,
      store,
      workers: 2,
      codeAware: false,
      backoffScale: 0,
      rerun: ['make'],
    });
    expect(Object.fromEntries(result!.tasks.map((t) => [t.name, t.status]))).toEqual({
      make: 'ran',
      use: 'ran',
      also: 'ran',
      deep: 'ran',
      side: 'cached',
    });
    expectConsistent(store);
    const next = await run(p, store);
    expect(next.status).toMatchObject({ make: 'cached', also: 'cached', deep: 'cached' });
    expectConsistent(store);
  });
});
