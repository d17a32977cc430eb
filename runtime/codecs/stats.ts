// Pure. Statistics of an output, computed when a run stores it and kept in the manifest beside
// its schema, so `cellar docs` can show a feature's profile without re-reading the data.
//
// Cheap and bounded by construction: one pass per column over at most STATS_ROW_LIMIT rows (a
// bigger table is profiled on its first rows and says so with `sampledRows`), distinct values
// counted exactly up to DISTINCT_LIMIT and then reported as a lower bound, a fixed number of
// histogram bins, and at most SCALAR_LIMIT scalar metrics. Nothing here can fail a task: a value
// it does not understand gets no statistics.
import type { ColumnStats, OutputSchema, OutputStats } from '../types.js';
import { setField } from './table.js';

export const STATS_ROW_LIMIT = 1_000_000;
export const DISTINCT_LIMIT = 10_000;
export const HISTOGRAM_BINS = 10;
export const TOP_VALUES = 5;
export const SCALAR_LIMIT = 20;

/** Statistics for a stored value of the given schema, or undefined when there is nothing to say. */
export function outputStats(value: unknown, schema: OutputSchema): OutputStats | undefined {
  try {
    if (schema.kind === 'table') return tableStats(value, schema);
    if (schema.kind === 'json') {
      // JSON only: a model's saved form is full of numbers (seeds, sizes) that are not metrics.
      const scalars = scalarMetrics(value);
      return Object.keys(scalars).length > 0 ? { scalars } : undefined;
    }
  } catch {
    // Statistics are a courtesy: a getter that throws must not fail the task that produced it.
  }
  return undefined;
}

function tableStats(value: unknown, schema: Extract<OutputSchema, { kind: 'table' }>): OutputStats {
  const n = Math.min(schema.rows, STATS_ROW_LIMIT);
  const columns: Record<string, ColumnStats> = {};
  for (const col of schema.columns) {
    const at = columnReader(value, col.name);
    setField(columns, col.name, columnStats(at, n));
  }
  return { columns, ...(n < schema.rows ? { sampledRows: n } : {}) };
}

/** Reads row i of one column, for either table shape (records or equal-length columns). */
function columnReader(value: unknown, name: string): (i: number) => unknown {
  if (Array.isArray(value))
    return (i) => {
      const row = value[i] as Record<string, unknown>;
      return Object.hasOwn(row, name) ? row[name] : undefined;
    };
  const col = (value as Record<string, ArrayLike<unknown>>)[name]!;
  return (i) => col[i];
}

function columnStats(at: (i: number) => unknown, n: number): ColumnStats {
  let nulls = 0;
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let numeric = true;
  const distinct = new Map<unknown, number>();
  let overflow = false;
  for (let i = 0; i < n; i++) {
    let v = at(i);
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
      nulls++;
      continue;
    }
    if (v instanceof Date) v = v.getTime();
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v === 'number') {
      count++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    } else numeric = false;
    const seen = distinct.get(v);
    if (seen !== undefined) distinct.set(v, seen + 1);
    else if (distinct.size < DISTINCT_LIMIT) distinct.set(v, 1);
    else overflow = true;
  }
  const stats: ColumnStats = {
    nulls,
    distinct: distinct.size,
    ...(overflow ? { distinctAtLeast: true } : {}),
  };
  if (numeric && count > 0) {
    stats.min = min;
    stats.max = max;
    stats.mean = sum / count;
    stats.histogram = histogram(at, n, min, max);
  } else if (!numeric && !overflow) {
    // Categories: the most frequent values, ties broken by value so the order is stable.
    stats.top = [...distinct.entries()]
      .sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
      .slice(0, TOP_VALUES)
      .map(([v, c]) => ({ value: String(v), count: c }));
  }
  return stats;
}

/** Equal-width bins over [min, max]; `counts[i]` covers [min + i·w, min + (i+1)·w). */
function histogram(
  at: (i: number) => unknown,
  n: number,
  min: number,
  max: number,
): { min: number; max: number; counts: number[] } {
  const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
  const width = (max - min) / HISTOGRAM_BINS;
  for (let i = 0; i < n; i++) {
    let v = at(i);
    if (v instanceof Date) v = v.getTime();
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v !== 'number' || Number.isNaN(v)) continue;
    const bin = width === 0 ? 0 : Math.min(HISTOGRAM_BINS - 1, Math.floor((v - min) / width));
    counts[bin]!++;
  }
  return { min, max, counts };
}

/**
 * Numbers a run reports (`{ accuracy: 0.97 }`, or a bare number): top-level numeric fields and one
 * level down (`metrics.accuracy` as `accuracy` inside an object named by its output), at most
 * SCALAR_LIMIT, in key order. Booleans count as 0/1 so a `passed` flag can be compared too.
 */
export function scalarMetrics(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (name: string, v: unknown) => {
    if (Object.keys(out).length >= SCALAR_LIMIT) return;
    if (typeof v === 'number' && Number.isFinite(v)) setField(out, name, v);
    else if (typeof v === 'boolean') setField(out, name, v ? 1 : 0);
  };
  if (typeof value === 'number' || typeof value === 'boolean') {
    put('value', value);
    return out;
  }
  if (!isPlainObject(value)) return out;
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (isPlainObject(v))
      for (const inner of Object.keys(v).sort()) put(`${key}.${inner}`, v[inner]);
    else put(key, v);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
