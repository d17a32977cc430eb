// `cellar show` prints stored values as they are (issue 9, item 4): NaN, ±Infinity, -0, Map, Set,
// Date, BigInt, typed arrays and undefined in arrays; `--json` stays valid JSON with the encoding
// documented in README.md. Real CLI processes on a pipeline written into the project.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonChunks } from '../../cli/commands/show.js';
import { root, runCli } from './helpers.js';

const dir = join(root, 'test', '.tmp', 'runtime', `show-values-${process.pid}-${Date.now()}`);
const pipeline = join(dir, 'pipeline.ts');
const ws = ['--workspace', join(dir, 'ws')];

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    pipeline,
    `import { defineTask, definePipeline } from 'cellar';
export class Centroids {
  constructor(public centers: Map<string, number>, public spread: number) {}
  nearest(x: number) { return [...this.centers].sort((a, b) => Math.abs(a[1] - x) - Math.abs(b[1] - x))[0]![0]; }
}
export const valuesTask = defineTask({
  name: 'values',
  outputs: { numbers: {}, map: {}, set: {}, date: {}, big: {}, typed: {}, holes: {}, keyed: {}, rows: {}, model: {}, plain: {} },
  run: () => ({
    numbers: { nan: NaN, inf: Infinity, ninf: -Infinity, negZero: -0, one: 1 },
    map: new Map([['a', 1], ['b', NaN]]),
    set: new Set([1, 2]),
    date: new Date('2024-03-01T12:00:00Z'),
    big: 12345678901234567890n,
    typed: new Float64Array([1.5, NaN, -0]),
    holes: [1, undefined, 3],
    keyed: new Map([[1, 'one']]),
    rows: [{ x: NaN, y: -0 }, { x: Infinity, y: 2 }],
    model: new Centroids(new Map([['low', 1], ['high', 9]]), NaN),
    plain: { a: 1, b: [2] },
  }),
});
// Dotted names: task \`a\`'s output \`b\` and task \`a.b\` both print the heading \`a.b\`.
export const a = defineTask({ name: 'a', outputs: { b: {}, 'q.r': {} }, run: () => ({ b: 'a its b', 'q.r': 'a its q.r' }) });
export const ab = defineTask({ name: 'a.b', outputs: { c: {} }, run: () => ({ c: 'a.b its c' }) });
export const aq = defineTask({ name: 'a.q', outputs: { r: {} }, run: () => ({ r: 'a.q its r' }) });
// A large structured output: its JSON is written in parts (a tester's 3.5M strings made a text
// longer than V8's longest string: "Invalid string length").
export const large = defineTask({
  name: 'large',
  outputs: { rows: {} },
  run: () => ({ rows: { names: Array.from({ length: 60000 }, (_, i) => 'x'.repeat(150) + i), n: -0 } }),
});
export default definePipeline({ name: 'values', tasks: [valuesTask, a, ab, aq, large] });
`,
  );
  const r = await runCli(['run', pipeline, ...ws]);
  expect(r.code, r.stderr).toBe(0);
});

const show = async (output: string, json = false) => {
  const r = await runCli(['show', pipeline, 'values', output, ...ws, ...(json ? ['--json'] : [])]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describe('cellar show prints values as they are', () => {
  it('NaN, Infinity, -Infinity and -0 are shown as such, not as null or 0', async () => {
    const text = await show('numbers');
    expect(text).toMatch(/nan: NaN/);
    expect(text).toMatch(/inf: Infinity/);
    expect(text).toMatch(/ninf: -Infinity/);
    expect(text).toMatch(/negZero: -0/);
  });

  it('Map, Set, Date, BigInt, typed arrays and undefined in arrays are shown as themselves', async () => {
    expect(await show('map')).toContain("Map(2) { 'a' => 1, 'b' => NaN }");
    expect(await show('set')).toContain('Set(2) { 1, 2 }');
    expect(await show('date')).toContain('2024-03-01T12:00:00.000Z');
    expect(await show('big')).toContain('12345678901234567890n');
    expect(await show('typed')).toContain('Float64Array(3) [ 1.5, NaN, -0 ]');
    expect(await show('holes')).toContain('[ 1, undefined, 3 ]');
  });

  it('the header names a structured-clone value (.v8) as a value, not as JSON', async () => {
    const map = await show('map');
    expect(map).toMatch(/values\.map {2}Map, 2 entries \(structured clone\)\n.*\.v8\n/);
    expect(await show('set')).toMatch(/values\.set {2}Set, 2 items \(structured clone\)/);
    expect(await show('date')).toMatch(/values\.date {2}Date \(structured clone\)/);
    expect(await show('model')).toMatch(
      /values\.model {2}Centroids \(structured clone, instances of [^)]*Centroids\)/,
    );
    // NaN is no JSON either; a plain object is stored as JSON and still called so.
    expect(await show('numbers')).toMatch(/values\.numbers {2}object \(structured clone\)/);
    expect(await show('plain')).toMatch(/values\.plain {2}json object\n.*\.json\n/);
  });

  it('takes the output as its heading names it, `task.output`', async () => {
    const r = await runCli(['show', pipeline, 'values.set', ...ws]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(await show('set'));
    const bad = await runCli(['show', pipeline, 'values.sett', ...ws]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("task 'values' has no output 'sett'");
    const twice = await runCli(['show', pipeline, 'values.set', 'map', ...ws]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('give the output once (`values.set` or `values set`)');
  });

  it('variant: task names with dots: the split whose task declares that output, or an ambiguity refused', async () => {
    // A tester's finding: `a.b.c` (task `a.b`'s output `c`) was read as task `a`'s output `b.c`.
    const abc = await runCli(['show', pipeline, 'a.b.c', '--json', ...ws]);
    expect(abc.code, abc.stderr).toBe(0);
    expect(JSON.parse(abc.stdout)).toBe('a.b its c');
    const aqr = await runCli(['show', pipeline, 'a.q.r', ...ws]);
    expect(aqr.code).toBe(2);
    expect(aqr.stderr).toContain(
      "'a.q.r' could be task 'a.q' output 'r' or task 'a' output 'q.r': give the task and the output apart (`a.q r` or `a q.r`)",
    );
    const aqr2 = await runCli(['show', pipeline, 'a', 'q.r', '--json', ...ws]);
    expect(JSON.parse(aqr2.stdout)).toBe('a its q.r');
  });

  it('variant: a table preview shows NaN, Infinity and -0 in its cells', async () => {
    const text = await show('rows');
    expect(text).toMatch(/NaN\s+-0/);
    expect(text).toMatch(/Infinity\s+2/);
  });
});

describe('cellar show --json stays valid JSON, with the documented encoding', () => {
  it('non-finite numbers as strings, -0 as -0', async () => {
    const text = (await show('numbers', true)).trim();
    expect(text).toBe('{"nan":"NaN","inf":"Infinity","ninf":"-Infinity","negZero":-0,"one":1}');
    expect(Object.is(JSON.parse(text).negZero, -0)).toBe(true);
  });

  it('Map, Set, Date, BigInt, typed arrays, undefined', async () => {
    expect(JSON.parse(await show('map', true))).toEqual({ a: 1, b: 'NaN' });
    expect(JSON.parse(await show('keyed', true))).toEqual([[1, 'one']]);
    expect(JSON.parse(await show('set', true))).toEqual([1, 2]);
    expect(JSON.parse(await show('date', true))).toBe('2024-03-01T12:00:00.000Z');
    expect(JSON.parse(await show('big', true))).toBe('12345678901234567890');
    expect(JSON.parse(await show('typed', true))).toEqual([1.5, 'NaN', -0]);
    expect(JSON.parse(await show('holes', true))).toEqual([1, null, 3]);
  });

  it('variant: a class instance prints its fields by the same rules (a Map field is not {})', async () => {
    expect(JSON.parse(await show('model', true))).toEqual({
      centers: { low: 1, high: 9 },
      spread: 'NaN',
    });
  });

  it('variant: every output at once (no output named) is one valid JSON object', async () => {
    const r = await runCli(['show', pipeline, 'values', ...ws, '--json']);
    const all = JSON.parse(r.stdout);
    expect(Object.keys(all).sort()).toEqual([
      'big',
      'date',
      'holes',
      'keyed',
      'map',
      'model',
      'numbers',
      'plain',
      'rows',
      'set',
      'typed',
    ]);
    expect(all.rows).toEqual([
      { x: 'NaN', y: -0 },
      { x: 'Infinity', y: 2 },
    ]);
  });
});

describe('cellar show --json writes a large output in parts', () => {
  it('no part holds more than one leaf, so no text need be longer than the longest leaf', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `name ${i}`);
    const value = {
      names,
      nested: { map: new Map([['a', [NaN, -0, undefined]]]) },
      skip: undefined,
    };
    const parts = [...jsonChunks(value)];
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThan(20);
    const text = parts.join('');
    expect(JSON.parse(text)).toEqual({
      names,
      nested: { map: { a: ['NaN', -0, null] } },
      skip: null,
    });
    expect(text).toContain('{"map":{"a":["NaN",-0,null]}}');
    // The same text as the whole-string encoding gave.
    expect(text).toBe(
      JSON.stringify({ names, nested: { map: { a: ['NaN', 0, null] } }, skip: null }).replace(
        '"NaN",0',
        '"NaN",-0',
      ),
    );
  });

  it('the CLI prints the whole of a large output as one valid JSON value', async () => {
    const r = await runCli(['show', pipeline, 'large', 'rows', ...ws, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows.names).toHaveLength(60000);
    expect(rows.names[59999]).toBe('x'.repeat(150) + 59999);
    expect(Object.is(rows.n, -0)).toBe(true);
  });
});
