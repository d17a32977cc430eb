// Output statistics recorded when a run stores an output (runtime/codecs/stats.ts): what the
// docs site shows per column, and the bounds that keep it cheap on big tables.
import { describe, expect, it } from 'vitest';
import {
  DISTINCT_LIMIT,
  HISTOGRAM_BINS,
  outputStats,
  scalarMetrics,
} from '../../runtime/codecs/stats.js';
import type { OutputSchema } from '../../runtime/types.js';

const table = (
  rows: number,
  columns: [string, string][],
  shape: 'records' | 'columns' = 'records',
): OutputSchema => ({
  kind: 'table',
  rows,
  shape,
  columns: columns.map(([name, type]) => ({ name, type })),
});

describe('output statistics', () => {
  it('counts nulls and distinct values and gives numbers min, max, mean and a histogram', () => {
    const rows = [
      { mass: 1, sex: 'm' },
      { mass: 3, sex: 'f' },
      { mass: null, sex: 'm' },
      { mass: 5, sex: null },
    ];
    const stats = outputStats(
      rows,
      table(4, [
        ['mass', 'number'],
        ['sex', 'string'],
      ]),
    )!;
    expect(stats.columns!.mass).toMatchObject({ nulls: 1, distinct: 3, min: 1, max: 5, mean: 3 });
    expect(stats.columns!.mass!.histogram!.counts).toHaveLength(HISTOGRAM_BINS);
    expect(stats.columns!.mass!.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(3);
    expect(stats.columns!.sex).toEqual({
      nulls: 1,
      distinct: 2,
      top: [
        { value: 'm', count: 2 },
        { value: 'f', count: 1 },
      ],
    });
  });

  it('reads column-shaped tables with typed arrays the same way', () => {
    const value = { x: new Float64Array([2, 4, 6]), label: ['a', 'b', 'a'] };
    const stats = outputStats(
      value,
      table(
        3,
        [
          ['x', 'Float64Array'],
          ['label', 'string'],
        ],
        'columns',
      ),
    )!;
    expect(stats.columns!.x).toMatchObject({ nulls: 0, distinct: 3, min: 2, max: 6, mean: 4 });
    expect(stats.columns!.label!.top![0]).toEqual({ value: 'a', count: 2 });
  });

  it('stops counting distinct values at the bound and says the count is a lower bound', () => {
    const n = DISTINCT_LIMIT + 50;
    const rows = Array.from({ length: n }, (_, i) => ({ id: `id${i}` }));
    const c = outputStats(rows, table(n, [['id', 'string']]))!.columns!.id!;
    expect(c.distinct).toBe(DISTINCT_LIMIT);
    expect(c.distinctAtLeast).toBe(true);
    expect(c.top).toBeUndefined();
  });

  it('keeps scalar metrics of JSON outputs, one level deep, booleans as 0/1', () => {
    expect(
      scalarMetrics({
        accuracy: 0.97,
        name: 'rf',
        detail: { f1: 0.9, labels: ['a'] },
        passed: true,
      }),
    ).toEqual({ accuracy: 0.97, 'detail.f1': 0.9, passed: 1 });
    expect(outputStats({ accuracy: 0.5 }, { kind: 'json', type: 'object' })).toEqual({
      scalars: { accuracy: 0.5 },
    });
    expect(outputStats('text', { kind: 'text', chars: 4 })).toBeUndefined();
  });

  it('never throws for a value it cannot read', () => {
    const hostile = [
      {
        get a(): number {
          throw new Error('boom');
        },
      },
    ];
    expect(outputStats(hostile, table(1, [['a', 'number']]))).toBeUndefined();
  });
});
