// Graph building and evaluate(): shape errors found before running, params resolved per task.
import { describe, expect, it } from 'vitest';
import { defineTask, output, evaluate, CellarError } from 'cellar';
import { buildGraph, pipelineParams, selectTasks } from '../../runtime/run/graph.js';

const load = defineTask({
  name: 'load',
  params: { n: { type: 'number', default: 3 } },
  inputs: {},
  outputs: { rows: {} },
  run: (_i, { n }) => ({ rows: Array.from({ length: n }, (_, i) => ({ x: i })) }),
});
const total = defineTask({
  name: 'total',
  params: { scale: { type: 'number', default: 1 } },
  inputs: { rows: output(load, 'rows') },
  outputs: { sum: {} },
  run: ({ rows }, { scale }) => ({ sum: rows.reduce((s, r) => s + r.x, 0) * scale }),
});
const report = defineTask({
  name: 'report',
  params: {},
  inputs: { sum: output(total, 'sum', { expects: 'total' }) },
  outputs: { text: {} },
  run: ({ sum }) => ({ text: `sum=${sum}` }),
});

describe('buildGraph', () => {
  it('orders tasks topologically and pulls in upstream tasks not listed', () => {
    const { graph, diagnostics } = buildGraph([report]);
    expect(diagnostics).toEqual([]);
    expect(graph!.nodes.map((n) => n.name)).toEqual(['load', 'total', 'report']);
    expect(graph!.byName.get('load')!.downstream).toEqual(['total']);
  });

  it('gives each task only the params it declares', () => {
    const { graph } = buildGraph([report], { n: 5 });
    expect(graph!.byName.get('load')!.params).toEqual({ n: 5 });
    expect(graph!.byName.get('total')!.params).toEqual({ scale: 1 });
    expect(pipelineParams([report])).toEqual({ n: load.params.n, scale: total.params.scale });
  });

  it('rejects a task-instance input wired to the wrong type of task (expected_type)', () => {
    const notTotal = defineTask({
      name: 'other',
      params: {},
      inputs: {},
      outputs: { sum: {} },
      run: () => ({ sum: 1 }),
    });
    const wrong = defineTask({
      name: 'wrong',
      params: {},
      inputs: { sum: output(notTotal, 'sum', { expects: 'total' }) },
      outputs: { text: {} },
      run: ({ sum }) => ({ text: String(sum) }),
    });
    const { graph, diagnostics } = buildGraph([wrong]);
    expect(graph).toBeUndefined();
    expect(diagnostics.map((d) => d.code)).toEqual(['E_WRONG_TASK_TYPE']);
    expect(diagnostics[0]!.message).toContain("got 'other' of type 'other'");
  });

  it('accepts a task of the expected family under another name', () => {
    const total2 = defineTask({
      ...total,
      name: 'total2',
      family: 'total',
      inputs: { rows: output(load, 'rows') },
    });
    const rep = defineTask({
      name: 'rep',
      params: {},
      inputs: { s: output(total2, 'sum', { expects: 'total' }) },
      outputs: { t: {} },
      run: ({ s }) => ({ t: s }),
    });
    expect(buildGraph([rep]).diagnostics).toEqual([]);
  });

  it('reports unknown params with a suggestion, wrong param types, unknown outputs and cycles', () => {
    expect(buildGraph([report], { scal: 2 }).diagnostics[0]).toMatchObject({
      code: 'E_UNKNOWN_PARAM',
      message: "unknown param 'scal', did you mean 'scale'? (params: n, scale)",
    });
    expect(buildGraph([report], { n: 'x' }).diagnostics[0]!.code).toBe('E_PARAM_TYPE');
    const bad = defineTask({
      name: 'bad',
      params: {},
      inputs: { r: { task: load, output: 'nope' } },
      outputs: { o: {} },
      run: () => ({ o: 1 }),
    });
    expect(buildGraph([bad]).diagnostics[0]!.code).toBe('E_UNKNOWN_OUTPUT');
    const parquet = defineTask({
      name: 'pq',
      params: {},
      inputs: {},
      outputs: { rows: { codec: 'parquet' } },
      run: () => ({ rows: [] }),
    });
    expect(buildGraph([parquet]).diagnostics[0]).toMatchObject({
      code: 'E_UNKNOWN_CODEC',
      task: 'pq',
      message: expect.stringMatching(
        /^task 'pq': output 'rows' names codec 'parquet', which is not registered.*\(codecs: auto, .*table/,
      ),
    });
    const inputs: Record<string, unknown> = {};
    const a = defineTask({
      name: 'a',
      params: {},
      inputs: inputs as never,
      outputs: { o: {} },
      run: () => ({ o: 1 }),
    });
    const b = defineTask({
      name: 'b',
      params: {},
      inputs: { x: output(a, 'o') },
      outputs: { o: {} },
      run: () => ({ o: 1 }),
    });
    inputs.x = output(b, 'o');
    expect(buildGraph([b]).diagnostics.map((d) => d.code)).toContain('E_DEPENDENCY_CYCLE');
  });

  it('computes upstream from params (dynamicInputs)', () => {
    const alt = defineTask({
      name: 'alt',
      params: {},
      inputs: {},
      outputs: { rows: {} },
      run: () => ({ rows: [{ x: 10 }] }),
    });
    const pick = defineTask({
      name: 'pick',
      params: { source: { type: 'string', default: 'load' } },
      inputs: {},
      dynamicInputs: ({ source }) => ({ rows: output(source === 'alt' ? alt : load, 'rows') }),
      outputs: { n: {} },
      run: ({ rows }: { rows?: unknown[] }) => ({ n: rows!.length }),
    });
    expect(buildGraph([pick]).graph!.byName.get('pick')!.upstream).toEqual(['load']);
    expect(buildGraph([pick], { source: 'alt' }).graph!.byName.get('pick')!.upstream).toEqual([
      'alt',
    ]);
  });

  it('selects tasks with + selectors', () => {
    const { graph } = buildGraph([report]);
    expect([...selectTasks(graph!, ['total+']).names.keys()].sort()).toEqual(['report', 'total']);
    expect([...selectTasks(graph!, ['+total']).names.keys()].sort()).toEqual(['load', 'total']);
    expect([...selectTasks(graph!, ['load']).names.keys()]).toEqual(['load']);
    expect(selectTasks(graph!, ['totl']).diagnostics[0]!.code).toBe('E_UNKNOWN_TASK');
  });
});

describe('evaluate', () => {
  it('runs a task and its upstream in memory', async () => {
    expect(await evaluate(report)).toEqual({ text: 'sum=3' });
    expect(await evaluate(total, { n: 4, scale: 2 })).toEqual({ sum: 12 });
  });

  it('throws a CellarError with a code for a bad pipeline', async () => {
    await expect(evaluate(report, { nope: 1 })).rejects.toBeInstanceOf(CellarError);
    await expect(evaluate(report, { nope: 1 })).rejects.toMatchObject({ code: 'E_UNKNOWN_PARAM' });
  });

  it('fails clearly when a task does not return a declared output', async () => {
    const t = defineTask({
      name: 't',
      params: {},
      inputs: {},
      outputs: { a: {}, b: {} },
      run: () => ({ a: 1 }) as unknown as { a: number; b: number },
    });
    await expect(evaluate(t)).rejects.toThrow("task 't' did not return output 'b'");
  });
});

describe('canonical JSON for keys', () => {
  it('sorts keys at every level and tells dates and typed arrays apart', async () => {
    const { canonicalJson, makeKey } = await import('../../runtime/key/hash.js');
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"e":3,"f":2}]},"b":1}',
    );
    expect(canonicalJson(new Date('2024-01-01T00:00:00Z'))).toBe('"2024-01-01T00:00:00.000Z"');
    expect(canonicalJson(new Date('2024-01-01'))).not.toBe(canonicalJson(new Date('2025-01-01')));
    expect(canonicalJson(new Float64Array([1.5, 2]))).toBe('[1.5,2]');
    // -0 is not 0 to a task; a Map or Set is not an empty object.
    expect(canonicalJson({ n: -0 })).not.toBe(canonicalJson({ n: 0 }));
    expect(canonicalJson([-0])).toBe('[-0]');
    expect(canonicalJson(new Map([['a', 1]]))).not.toBe(canonicalJson(new Map([['a', 2]])));
    expect(canonicalJson(new Map([['a', 1]]))).not.toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson(new Set([1]))).not.toBe(canonicalJson([1]));
    expect(canonicalJson(new Set([1]))).not.toBe(canonicalJson(new Set([2])));
    const base = { task: 't', version: 0, cache: 'params' as const, upstream: {}, codecs: {} };
    expect(makeKey({ ...base, params: { a: 1, b: 2 } }).value).toBe(
      makeKey({ ...base, params: { b: 2, a: 1 } }).value,
    );
    expect(makeKey({ ...base, params: { a: 1 } }).value).not.toBe(
      makeKey({ ...base, params: { a: 2 } }).value,
    );
  });
});
