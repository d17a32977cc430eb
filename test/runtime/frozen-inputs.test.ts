// The run-time guard against a task changing an upstream value in place (runtime/run/frozen-inputs.ts):
// what freezing covers and what it leaves alone, and the error a change turns into.
import { describe, expect, it } from 'vitest';
import {
  changedInPlace,
  changedInPlaceError,
  freezeUpstream,
  mutationError,
  type UnfrozenNumbers,
} from '../../runtime/run/frozen-inputs.js';

const input = { name: 'nums', task: 'load', output: 'nums' };

/** Run `change` and return what it threw (undefined: it did not throw). */
function thrown(change: () => void): unknown {
  try {
    change();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('freezeUpstream', () => {
  it('refuses a change at any depth of plain objects, arrays, Maps, Sets and Dates', () => {
    'use strict';
    const v = freezeUpstream({
      rows: [{ v: 1, tags: ['a'] }],
      byId: new Map([['a', { n: 1 }]]),
      seen: new Set(['x']),
      at: new Date(0),
    });
    const changes: (() => void)[] = [
      () => ((v.rows[0] as { v: number }).v = 50),
      () => v.rows[0]!.tags.push('b'),
      () => v.rows.pop(),
      () => v.byId.set('b', { n: 2 }),
      () => ((v.byId.get('a') as { n: number }).n = 2),
      () => v.seen.add('y'),
      () => v.seen.clear(),
      () => v.at.setFullYear(2000),
      () => delete (v as Partial<typeof v>).at,
    ];
    for (const change of changes) expect(thrown(change)).toBeInstanceOf(TypeError);
    expect(v.rows[0]!.v).toBe(1);
    expect(v.byId.size).toBe(1);
    expect(v.at.getTime()).toBe(0);
  });

  it('leaves building new values alone, and structuredClone gives a copy that may change', () => {
    const nums = freezeUpstream([{ v: 3 }, { v: 1 }, { v: 2 }]);
    expect(nums.map((x) => ({ ...x, v: x.v * 10 }))).toEqual([{ v: 30 }, { v: 10 }, { v: 20 }]);
    expect([...nums].sort((a, b) => a.v - b.v).map((x) => x.v)).toEqual([1, 2, 3]);
    expect(nums.filter((x) => x.v > 1)).toHaveLength(2);
    const mine = structuredClone(nums);
    mine[0]!.v = 50;
    mine.push({ v: 4 });
    expect(mine).toHaveLength(4);
    const m = structuredClone(freezeUpstream({ m: new Map([['a', 1]]), d: new Date(0) }));
    m.m.set('b', 2);
    m.d.setFullYear(2000);
    expect([m.m.size, m.d.getFullYear()]).toEqual([2, 2000]);
  });

  it('does not freeze typed arrays, arrays of non-integer numbers or class instances, and survives cycles', () => {
    class Counter {
      n = 0;
    }
    const cyclic: { self?: unknown; data: Float64Array; c: Counter } = {
      data: new Float64Array(2),
      c: new Counter(),
    };
    cyclic.self = cyclic;
    const measures = [0.5, 1.25];
    freezeUpstream({ cyclic, measures, ints: [1, 2] });
    // Numbers V8 keeps unboxed: freezing would box each one and slow every read.
    expect(Object.isFrozen(measures)).toBe(false);
    expect(Object.isFrozen(cyclic)).toBe(true);
    cyclic.data[0] = 5; // JavaScript cannot freeze a typed array's elements
    cyclic.c.n++; // a class instance's own methods may change it: left alone
    expect([cyclic.data[0], cyclic.c.n]).toEqual([5, 1]);
  });
});

describe('changedInPlace: what freezing cannot guard, checked as the task returns', () => {
  it('finds an array of doubles sorted, a typed array filled and an ArrayBuffer written, by input; unchanged ones pass', () => {
    const unfrozen: UnfrozenNumbers[] = [];
    const a = freezeUpstream({ xs: [2.5, 0.5, 1.5] }, unfrozen, 'a');
    const b = freezeUpstream(new Float32Array([1, 2, 3]), unfrozen, 'b');
    const c = freezeUpstream({ raw: new ArrayBuffer(8) }, unfrozen, 'c');
    const d = freezeUpstream([0.25, -0], unfrozen, 'd');
    expect(unfrozen.map((u) => u.input)).toEqual(['a', 'b', 'c', 'd']);
    expect(changedInPlace(unfrozen)).toEqual([]);
    a.xs.sort();
    b.fill(0, 1);
    new Uint8Array(c.raw)[7] = 1;
    expect(changedInPlace(unfrozen)).toEqual(['a', 'b', 'c']);
    d[1] = 0; // -0 → 0: the same number to ===, another value to Object.is and to the notebook
    expect(changedInPlace(unfrozen)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('names the task, the input, whose output it is and the fix', () => {
    const e = changedInPlaceError(
      'rank',
      ['scores'],
      [{ name: 'scores', task: 'score', output: 'scores' }],
    );
    expect(e.code).toBe('E_MUTATES_UPSTREAM');
    expect(e.message).toContain(
      "task 'rank' changes a value it received from upstream: `scores` (output 'scores' of task 'score')",
    );
    expect(e.message).toContain('scores.slice()');
  });
});

describe('mutationError', () => {
  it('names the input, whose output it is, the path inside it and the fix', () => {
    const nums = freezeUpstream([{ v: 1 }, { w: 2 }]);
    const copy = [...nums];
    const error = thrown(() => ((copy[1] as { w: number }).w = 50));
    const wrapped = mutationError('bump', error, [input], { nums });
    expect(wrapped?.code).toBe('E_MUTATES_UPSTREAM');
    expect(wrapped?.message).toContain(
      "task 'bump' changes a value it received from upstream: `nums` (output 'nums' of task 'load'), at nums[1].w",
    );
    expect(wrapped?.message).toContain('structuredClone(nums)');
    expect(wrapped?.message).toContain('`[...nums]` shares the elements');
    // The stack still points at the line that made the change (the CLI locates it from there).
    expect(wrapped?.stack).toContain('frozen-inputs.test.ts');
  });

  it('never guesses: a property many elements or inputs hold names no path, or no input', () => {
    // The error text names the property, not the object: `rows[1].x = 5` could be any row's.
    const rows = freezeUpstream([{ x: 1 }, { x: 2 }]);
    const sameName = mutationError(
      't',
      thrown(() => ((rows[1] as { x: number }).x = 5)),
      [input],
      {
        nums: rows,
      },
    );
    expect(sameName?.message).toContain("`nums` (output 'nums' of task 'load') (Cannot assign");
    expect(sameName?.message).not.toContain(', at ');
    // Two inputs with such a property (a newcomer's `aRows` named for a change of `bRows`).
    const aRows = freezeUpstream([{ x: 1 }]);
    const bRows = freezeUpstream([{ x: 2 }]);
    const two = [
      { name: 'aRows', task: 'first', output: 'aRows' },
      { name: 'bRows', task: 'second', output: 'bRows' },
    ];
    const either = mutationError(
      'both',
      thrown(() => ((bRows[0] as { x: number }).x = 5)),
      two,
      {
        aRows,
        bRows,
      },
    );
    expect(either?.code).toBe('E_MUTATES_UPSTREAM');
    expect(either?.message).toContain('one of its inputs (`aRows`, `bRows`)');
    expect(either?.message).not.toContain("task 'first'");
  });

  it('gives the copy that fits the value: new Date for a Date, no spread for a class instance', () => {
    const when = freezeUpstream(new Date(0));
    const error = thrown(() => when.setFullYear(2000));
    const wrapped = mutationError('t', error, [input], { nums: when });
    expect(wrapped?.message).toContain('`const mine = new Date(nums)`');
    expect(wrapped?.message).not.toContain('shares');
  });

  it('leaves other errors alone, and a TypeError of a value the task froze itself', () => {
    expect(mutationError('t', new TypeError('x is not a function'), [input], {})).toBeUndefined();
    expect(mutationError('t', new Error('boom'), [input], {})).toBeUndefined();
    const own = Object.freeze({ mine: 1 });
    const nums = freezeUpstream([{ v: 1 }]);
    const other = { name: 'rows', task: 'load', output: 'rows' };
    const error = thrown(() => ((own as { mine: number }).mine = 2));
    expect(mutationError('t', error, [input, other], { nums, rows: [] })).toBeUndefined();
  });
});
