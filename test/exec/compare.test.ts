// What `cellar verify` calls equal (cli/exec/compare.ts), value kind by value kind, and that the
// capture both sides use (cli/exec/capture.ts) keeps those kinds through v8 serialisation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { captureHere } from '../../cli/exec/capture.js';
import { parseExecArgs } from '../../cli/exec/options.js';
import { firstDifference } from '../../cli/exec/compare.js';

const scratch = mkdtempSync(join(tmpdir(), 'cellar-compare-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('firstDifference', () => {
  test("an array's named properties beside its elements (d3-dsv's columns) are compared by name", () => {
    const withColumns = () => Object.assign([{ a: 1 }], { columns: ['a'] });
    expect(firstDifference(withColumns(), withColumns(), 't.rows')).toBeUndefined();
    expect(firstDifference(withColumns(), [{ a: 1 }], 't.rows')).toMatchObject({
      path: 't.rows.columns',
      pipeline: 'missing',
    });
    expect(
      firstDifference(withColumns(), Object.assign([{ a: 1 }], { columns: ['b'] }), 't.rows'),
    ).toMatchObject({ path: 't.rows.columns[0]' });
  });

  test('equal values of every kind verify reports on: nested objects, Maps, Sets, Dates, typed arrays, NaN, BigInt', () => {
    const value = () => ({
      rows: [{ id: 1, score: 0.5, tags: new Set(['a', 'b']) }],
      byRegion: new Map<string, number[]>([
        ['north', [1, 2]],
        ['south', [NaN]],
      ]),
      when: new Date('2024-01-02T03:04:05Z'),
      weights: new Float64Array([0.1, 0.2]),
      counts: new Int32Array([1, 2, 3]),
      big: 2n ** 70n,
      nothing: undefined,
    });
    expect(firstDifference(value(), value(), 'task.out')).toBeUndefined();
  });

  test('Maps and Sets compare by key and member, not by insertion order', () => {
    expect(
      firstDifference(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
        new Map([
          ['b', 2],
          ['a', 1],
        ]),
        'm',
      ),
    ).toBeUndefined();
    expect(firstDifference(new Set([1, 2]), new Set([2, 1]), 's')).toBeUndefined();
  });

  test('floats within the relative tolerance are equal; beyond it the path and both values are named', () => {
    expect(firstDifference({ x: 0.1 + 0.2 }, { x: 0.3 }, 't')).toBeUndefined();
    expect(firstDifference({ x: 1 }, { x: 1 + 1e-6 }, 't')).toEqual({
      path: 't.x',
      notebook: '1',
      pipeline: '1.000001',
    });
    expect(firstDifference({ x: 1 }, { x: 1 + 1e-6 }, 't', 1e-3)).toBeUndefined();
    expect(firstDifference(NaN, 0, 'n')).toMatchObject({
      path: 'n',
      notebook: 'NaN',
      pipeline: '0',
    });
    expect(firstDifference(Infinity, 1e308, 'n')).toBeDefined();
  });

  test('integers compare exactly: ids and epoch milliseconds are within any relative tolerance of their neighbours', () => {
    expect(firstDifference({ userId: 1000000000004 }, { userId: 1000000000003 }, 't')).toEqual({
      path: 't.userId',
      notebook: '1000000000004',
      pipeline: '1000000000003',
    });
    expect(firstDifference([1733450001000], [1733450000000], 'ms')).toBeDefined();
    expect(firstDifference(2 ** 53 - 1, 2 ** 53 - 1, 'n')).toBeUndefined();
    // An integer against a float still gets the tolerance (a mean of 3, summed in another order).
    expect(firstDifference(3, 3 + 4e-16, 'n')).toBeUndefined();
    // Past 2^53 every double is an integer, and sums there round: relative again.
    expect(firstDifference(2 ** 60, 2 ** 60 + 512, 'n')).toBeUndefined();
  });

  test('tolerance 0 compares every number exactly', () => {
    expect(firstDifference(0.1 + 0.2, 0.3, 'n', 0)).toBeDefined();
    expect(firstDifference(0.5, 0.5, 'n', 0)).toBeUndefined();
    expect(firstDifference(NaN, NaN, 'n', 0)).toBeUndefined();
  });

  test('the first difference is reported with its path through arrays, Maps, Sets and objects', () => {
    const a = { rows: [{ id: 1 }, { id: 2, name: 'x' }] };
    const b = { rows: [{ id: 1 }, { id: 2, name: 'y' }] };
    expect(firstDifference(a, b, 'load.data')).toEqual({
      path: 'load.data.rows[1].name',
      notebook: '"x"',
      pipeline: '"y"',
    });
    expect(firstDifference(new Map([['north', 1]]), new Map([['north', 2]]), 'm')).toMatchObject({
      path: 'm.get("north")',
      notebook: '1',
      pipeline: '2',
    });
    expect(firstDifference(new Map([['north', 1]]), new Map([['south', 1]]), 'm')).toMatchObject({
      path: 'm.get("north")',
      reason: 'key missing in the pipeline',
    });
    expect(firstDifference(new Set(['a']), new Set(['b']), 's')).toMatchObject({
      path: 's.has("a")',
    });
    expect(firstDifference(new Date(0), new Date(1), 'd')).toMatchObject({
      path: 'd',
      notebook: 'Date(1970-01-01T00:00:00.000Z)',
    });
    expect(firstDifference(new Float32Array([1, 2]), new Float32Array([1, 3]), 'w')).toMatchObject({
      path: 'w[1]',
    });
    expect(firstDifference({ a: 1 }, { a: 1, b: 2 }, 'o')).toMatchObject({
      path: 'o.b',
      reason: 'property only in the pipeline',
    });
  });

  test('two long strings with a shared prefix are shown around their first difference, never the same', () => {
    const prefix = 'Object{a:NaN,b:Infinity,c:-0,d:undef,e:1} | [1,hole,3,und';
    const d = firstDifference(
      `${prefix}ef,null] | tail`,
      `${prefix},null] | tail`,
      'check.report',
    )!;
    expect(d.path).toBe('check.report');
    expect(d.notebook).not.toBe(d.pipeline);
    expect(d.notebook).toContain('undef,null]');
    expect(d.pipeline).toContain('und,null]');
    expect(d.reason).toBe(
      `first difference at character ${prefix.length}; ${prefix.length + 15} characters in the notebook, ${prefix.length + 13} in the pipeline`,
    );
    // Variant: one side is the other plus a tail (the difference is past the end of the shorter).
    const long = 'x'.repeat(200);
    const tail = firstDifference(long, `${long}!`, 't')!;
    expect(tail.notebook).toBe(`"...${'x'.repeat(20)}"`);
    expect(tail.pipeline).toBe(`"...${'x'.repeat(20)}!"`);
    expect(tail.reason).toMatch(/^first difference at character 200;/);
    // A difference near the start of a long string: shown from the start, cut after 60.
    const head = firstDifference(`a${long}`, `b${long}`, 'h')!;
    expect(head.notebook).toBe(JSON.stringify(`a${'x'.repeat(59)}...`));
    expect(head.pipeline).toBe(JSON.stringify(`b${'x'.repeat(59)}...`));
  });

  test('a change of kind is a difference even when JSON would not see it (Map vs object, Date vs string, typed vs plain array)', () => {
    expect(firstDifference(new Map([['a', 1]]), { a: 1 }, 'x')).toMatchObject({
      reason: 'a Map in the notebook, a object in the pipeline',
    });
    expect(firstDifference(new Date(0), '1970-01-01T00:00:00.000Z', 'x')).toMatchObject({
      reason: 'a Date in the notebook, a string in the pipeline',
    });
    expect(firstDifference(new Float64Array([1]), [1], 'x')).toMatchObject({
      reason: 'a Float64Array in the notebook, a array in the pipeline',
    });
    expect(firstDifference([1, 2], [1, 2, 3], 'x')).toMatchObject({
      reason: 'length 2 in the notebook, 3 in the pipeline',
    });
  });
});

describe('captureHere (the same capture source the kernel runs)', () => {
  test('keeps Maps, Sets, Dates, typed arrays, NaN and BigInt; class instances become their fields; functions become markers', async () => {
    class Model {
      constructor(readonly weights: number[]) {}
      predict() {
        return 0;
      }
    }
    const captured = await captureHere(
      {
        m: new Map([['a', new Set([1])]]),
        d: new Date(5),
        t: new Uint8Array([1, 2]),
        n: NaN,
        b: 10n,
        model: new Model([0.5]),
        f: Math.max,
      },
      join(scratch, 'c1.v8'),
    );
    const values = Object.fromEntries(
      Object.entries(captured).map(([k, c]) => [k, c.ok ? c.value : c.error]),
    );
    expect(values.m).toEqual(new Map([['a', new Set([1])]]));
    expect(values.d).toEqual(new Date(5));
    expect(values.t).toEqual(new Uint8Array([1, 2]));
    expect(values.n).toBeNaN();
    expect(values.b).toBe(10n);
    expect(values.model).toEqual({ weights: [0.5] });
    expect(values.f).toEqual({ __cellar: 'function', name: 'max' });
  });

  test('a table (anything with rows()/stream() and toSQL(), like a Query) is read: columns, row count and rows sorted canonically', async () => {
    const rows = [
      { city: 'b', n: 2 },
      { city: 'a', n: 1 },
    ];
    const table = {
      rows: async () => rows,
      toSQL: async () => ({ text: 'SELECT 1' }),
      async *stream() {
        yield rows;
      },
    };
    const captured = await captureHere({ t: table }, join(scratch, 'c2.v8'));
    expect(captured.t).toEqual({
      ok: true,
      value: { __cellar: 'table', columns: ['city', 'n'], rowCount: 2, rows: [rows[1], rows[0]] },
    });
  });
});

describe('verify and exec options (parseExecArgs)', () => {
  const ALLOWED = ['--tolerance', '--cell-timeout'];
  test('--tolerance 0 is exact comparison; a negative or missing number is a usage error', () => {
    expect(parseExecArgs(['nb.ipynb', '--tolerance', '0'], ALLOWED).tolerance).toBe(0);
    expect(parseExecArgs(['nb.ipynb', '--tolerance', '1e-6'], ALLOWED).tolerance).toBe(1e-6);
    expect(() => parseExecArgs(['nb.ipynb', '--tolerance', '-1'], ALLOWED)).toThrow(/non-negative/);
    expect(() => parseExecArgs(['nb.ipynb', '--tolerance', ''], ALLOWED)).toThrow(/non-negative/);
    // A timeout of 0 would never let a cell run.
    expect(() => parseExecArgs(['nb.ipynb', '--cell-timeout', '0'], ALLOWED)).toThrow(/positive/);
  });
});
