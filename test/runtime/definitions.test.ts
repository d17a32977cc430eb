// Task definitions and name lookups (issue 9, items 15 and 16): optional fields default, a
// malformed definition is an E_BAD_TASK error naming the task and the field before anything
// runs, and no lookup of a user-given name reaches an object's prototype.
import { describe, expect, it } from 'vitest';
import { defineTask, definePipeline, output, evaluate, MemoryStore } from 'cellar';
import { buildGraph, pipelineParams } from '../../runtime/run/graph.js';
import { runPipeline } from '../../runtime/run/run.js';
import { parseParams } from '../../cli/pipeline-args.js';

/** The E_BAD_TASK error `defineTask(def)` throws, as { code, message }. */
function definitionError(def: unknown): { code: string; message: string } {
  try {
    defineTask(def as never);
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('defineTask accepted a malformed definition');
}

describe('defineTask: absent optional fields take their defaults', () => {
  it('a task without params or inputs runs (the README API, hand-written)', async () => {
    const source = defineTask({
      name: 'source',
      outputs: { rows: {} },
      run: () => ({ rows: [1, 2, 3] }),
    });
    const total = defineTask({
      name: 'total',
      inputs: { rows: output(source, 'rows') },
      outputs: { sum: {} },
      run: ({ rows }) => ({ sum: (rows as number[]).reduce((a, b) => a + b, 0) }),
    });
    expect(source.params).toEqual({});
    expect(source.inputs).toEqual({});
    expect(await evaluate(total)).toEqual({ sum: 6 });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: 'p', tasks: [source, total] }),
      store: new MemoryStore(),
      codeAware: false,
    });
    expect(result!.ok).toBe(true);
  });

  it('variant: a task with params but no inputs, and no version/cache/retries, is keyed and run', async () => {
    const scaled = defineTask({
      name: 'scaled',
      params: { k: { type: 'number', default: 2 } },
      outputs: { v: {} },
      run: (_i, { k }) => ({ v: k * 21 }),
    });
    expect(scaled.version).toBe(0);
    expect(scaled.cache).toBe('code');
    expect(await evaluate(scaled)).toEqual({ v: 42 });
  });
});

describe('defineTask: a malformed definition names the task and the field (E_BAD_TASK)', () => {
  const run = () => ({ x: 1 });
  it.each([
    [
      'an output spec that is not an object',
      { name: 't1', outputs: { x: 'json' }, run },
      "task 't1': 'outputs.x' must be an output spec object",
    ],
    [
      'outputs that are not an object',
      { name: 't2', outputs: ['x'], run },
      "task 't2': 'outputs' must be an object keyed by name, got an array",
    ],
    ['no outputs', { name: 't3', run }, "task 't3': 'outputs' is required"],
    [
      'run not a function',
      { name: 't4', outputs: { x: {} }, run: 'x' },
      "task 't4': 'run' must be a function",
    ],
    [
      'an unknown field (a typo)',
      { name: 't5', output: { x: {} }, outputs: { x: {} }, run },
      "task 't5': unknown field 'output', did you mean 'outputs'?",
    ],
    [
      'params of the wrong type',
      { name: 't6', params: 3, outputs: { x: {} }, run },
      "task 't6': 'params' must be an object keyed by name, got 3",
    ],
    [
      'a param spec with an unknown type',
      { name: 't7', params: { n: { type: 'int', default: 1 } }, outputs: { x: {} }, run },
      "task 't7': 'params.n' has type \"int\"",
    ],
    [
      'an input that is not output(task, name)',
      { name: 't8', inputs: { rows: 'load.rows' }, outputs: { x: {} }, run },
      "task 't8': 'inputs.rows' must be output(task, 'name')",
    ],
    [
      'retries of the wrong type',
      { name: 't9', outputs: { x: {} }, retries: '2', run },
      "task 't9': 'retries' must be a whole number",
    ],
    [
      'a cache mode that does not exist',
      { name: 't10', outputs: { x: {} }, cache: 'always', run },
      "task 't10': 'cache' must be 'code' or 'params'",
    ],
  ])('%s', (_what, def, text) => {
    const { code, message } = definitionError(def);
    expect(code).toBe('E_BAD_TASK');
    expect(message).toContain(text);
  });

  // defineTask checks a definition with a fast straight-line test first (100k tasks define
  // 100k); each rule of the full check must still refuse through it.
  it.each([
    ['an empty family', { family: '' }, "'family' must be a non-empty string"],
    ['a module that is not a string', { module: 3 }, "'module' must be a string"],
    ['a version that is not finite', { version: Number.NaN }, "'version' must be a number"],
    ['rerun not a boolean', { rerun: 'yes' }, "'rerun' must be true or false"],
    ['negative retries', { retries: -1 }, "'retries' must be a whole number"],
    ['a negative retry delay', { retryDelayMs: -5 }, "'retryDelayMs' must be a number"],
    ['a zero timeout', { timeoutMs: 0 }, "'timeoutMs' must be a number of milliseconds > 0"],
    ['a timeout as text', { timeoutMs: '10m' }, "'timeoutMs' must be a number of milliseconds"],
    ['a timeout that is not finite', { timeoutMs: Infinity }, "'timeoutMs' must be a number"],
    // Node fires a longer timer after 1 ms (with a warning), which would fail every attempt.
    ['a timeout past the longest timer', { timeoutMs: 2 ** 31 }, 'at most 2147483647'],
    ['dynamicInputs not a function', { dynamicInputs: {} }, "'dynamicInputs' must be a function"],
    ['checks with a number', { checks: ['x > 0', 3] }, "'checks' must be an array of strings"],
    ['warehouse not an object', { warehouse: 'bq' }, "'warehouse' must be an object"],
    ['a source without cells', { source: { notebook: 'a.ipynb' } }, "'source' must be an object"],
    [
      'a param without a default',
      { params: { n: { type: 'number' } } },
      "'params.n' needs a 'default'",
    ],
    [
      'an input whose output is not a name',
      { inputs: { x: { task: defineTask({ name: 'up', outputs: { x: {} }, run }), output: 1 } } },
      "'inputs.x' must name an output of 'up'",
    ],
    ['an output codec that is not a string', { outputs: { x: { codec: 1 } } }, 'has codec 1'],
    ['an output save that is not a function', { outputs: { x: { save: 'x' } } }, "has 'save'"],
    ['a name with a space', { name: 'two words' }, "'name' must be a name of letters"],
  ])('variant (fast check): %s', (_what, fields, text) => {
    const { code, message } = definitionError({ name: 'v', outputs: { x: {} }, run, ...fields });
    expect(code).toBe('E_BAD_TASK');
    expect(message).toContain(text);
  });

  it('lists every problem, not only the first', () => {
    const { message } = definitionError({
      name: 'many',
      outputs: { x: 1 },
      version: 'two',
      run: null,
    });
    expect(message).toContain("'version' must be a number");
    expect(message).toContain("'run' must be a function");
    expect(message).toContain("'outputs.x' must be an output spec object");
  });

  it('a definition spread from another task ({ ...task, name }) is still accepted', () => {
    const a = defineTask({ name: 'a', outputs: { x: {} }, run });
    expect(defineTask({ ...a, name: 'b' }).name).toBe('b');
  });
});

describe('name lookups never go through an object prototype', () => {
  const t = defineTask({
    name: 'rows',
    params: { limit: { type: 'number', default: 5 }, label: { type: 'string', default: 'a' } },
    outputs: { x: {} },
    run: () => ({ x: 1 }),
  });
  const pipeline = definePipeline({ name: 'p', tasks: [t] });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    '--param %s=1 is an unknown param, listing the real ones',
    async (name) => {
      let error: { code?: string; message?: string } = {};
      try {
        await parseParams([`${name}=1`], pipeline);
      } catch (e) {
        error = e as typeof error;
      }
      expect(error.code).toBe('E_UNKNOWN_PARAM');
      expect(error.message).toContain(`unknown param '${name}' (pipeline params: label, limit)`);
    },
  );

  it('buildGraph refuses an override named like a prototype member (the library path), with the params', () => {
    const { diagnostics } = buildGraph([t], JSON.parse('{"__proto__": 1, "constructor": 2}'));
    expect(diagnostics.map((d) => d.code)).toEqual(['E_UNKNOWN_PARAM', 'E_UNKNOWN_PARAM']);
    expect(diagnostics[1]!.message).toContain('(params: label, limit)');
  });

  it('a param, an output and a task named constructor / toString work as plain names', async () => {
    const up = defineTask({
      name: 'constructor',
      params: { toString: { type: 'number', default: 3 } },
      outputs: { valueOf: {} },
      run: (_i, p) => ({ valueOf: p.toString * 2 }),
    });
    const down = defineTask({
      name: 'toString',
      inputs: { hasOwnProperty: output(up, 'valueOf') },
      outputs: { constructor: {} },
      run: (i) => ({ constructor: i.hasOwnProperty }),
    });
    expect(Object.keys(pipelineParams([down]))).toEqual(['toString']);
    expect(await evaluate(down, { toString: 5 })).toEqual({ constructor: 10 });
    const { result } = await runPipeline({
      pipeline: definePipeline({ name: 'p', tasks: [up, down] }),
      store: new MemoryStore(),
      codeAware: false,
    });
    expect(result!.tasks.map((r) => r.status)).toEqual(['ran', 'ran']);
  });

  it('an input reading an output named like a prototype member that the upstream lacks is refused', () => {
    const up = defineTask({ name: 'up', outputs: { x: {} }, run: () => ({ x: 1 }) });
    const down = defineTask({
      name: 'down',
      inputs: { v: output(up, 'constructor' as never) },
      outputs: { y: {} },
      run: () => ({ y: 1 }),
    });
    expect(buildGraph([down]).diagnostics.map((d) => d.code)).toEqual(['E_UNKNOWN_OUTPUT']);
  });

  it('a task returning no output named toString fails (the object method is not an output)', async () => {
    const t2 = defineTask({
      name: 't2',
      outputs: { toString: {} },
      run: () => ({}) as { toString: string },
    });
    await expect(evaluate(t2)).rejects.toThrow("task 't2' did not return output 'toString'");
  });

  it("a task named for the store's own entries is refused when defined (task API too)", () => {
    expect(
      definitionError({ name: '_runs', outputs: { x: {} }, run: () => ({ x: 1 }) }).message,
    ).toContain("'name' cannot be '_runs': the store keeps its run logs in the folder `_runs`");
    expect(
      definitionError({ name: '_Source.json', outputs: { x: {} }, run: () => ({ x: 1 }) }).message,
    ).toContain("'name' cannot be '_Source.json': the store keeps the file `_source.json`");
  });

  it('__proto__ as a task, param or output name is refused when defined', () => {
    expect(
      definitionError({ name: '__proto__', outputs: { x: {} }, run: () => ({ x: 1 }) }).message,
    ).toContain("'name' cannot be '__proto__'");
    expect(
      definitionError(JSON.parse('{"name": "p", "outputs": {"__proto__": {}}}')).message,
    ).toContain("'outputs.__proto__'");
    expect(
      definitionError({
        name: 'q',
        params: JSON.parse('{"__proto__": {"type": "number", "default": 1}}'),
        outputs: { x: {} },
        run: () => ({ x: 1 }),
      }).message,
    ).toContain("'params.__proto__'");
  });
});
