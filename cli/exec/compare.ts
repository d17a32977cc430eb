// Pure. Value-by-value comparison of a notebook value and a pipeline value, as captured by
// capture.ts: the first difference with its path, or none.
//
// Rules (what "equal" means to `cellar verify`):
// - numbers: equal when both are NaN, or |a − b| ≤ tolerance × max(|a|, |b|) + 1e-12 (relative
//   tolerance, default 1e-9: a different summation order in a warehouse or a worker is not a
//   difference; a changed result is). Two safe integers compare exactly: an id or an epoch
//   millisecond is no float (1000000000003 and 1000000000004 are within 1e-9 of each other),
//   and integer arithmetic below 2^53 is exact in any order. Tolerance 0 compares every number
//   exactly. ±Infinity only equals itself. Integers in typed integer arrays and BigInts compare
//   exactly.
// - arrays and typed arrays: same kind and length, then element by element; an array's named
//   properties (d3-dsv's `columns`) by name after its elements.
// - Map: same size; each key (primitive keys by value) maps to an equal value; order ignored.
// - Set: same size; each primitive member is present; object members compared in order.
// - Date: same time (an invalid Date equals an invalid Date).
// - plain objects (class instances arrive as these): same own keys, then key by key.
// - tables (`{ __cellar: 'table' }`): same columns, same row count, then rows (sorted
//   canonically on both sides) or the order-independent digest.

import { namedArrayKeys } from '../../runtime/codecs/named-keys.js';

export interface Difference {
  /** Where: `trainSet[3].beakLength`, `byRegion.get("north")`, `features (table).rowCount`. */
  path: string;
  notebook: string;
  pipeline: string;
  /** Why, when the values alone do not say it (kind, size, keys). */
  reason?: string;
}

export const DEFAULT_TOLERANCE = 1e-9;
const ABSOLUTE = 1e-12;

/** The first difference between `a` (notebook) and `b` (pipeline) under `path`, or undefined. */
export function firstDifference(
  a: unknown,
  b: unknown,
  path: string,
  tolerance = DEFAULT_TOLERANCE,
): Difference | undefined {
  return diff(a, b, path, tolerance, new Set());
}

const kindOf = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Map) return 'Map';
  if (v instanceof Set) return 'Set';
  if (v instanceof Date) return 'Date';
  if (v instanceof RegExp) return 'RegExp';
  if (ArrayBuffer.isView(v)) return (v as object).constructor.name;
  if (v instanceof ArrayBuffer) return 'ArrayBuffer';
  if (typeof v === 'object' && (v as { __cellar?: string }).__cellar === 'table') return 'table';
  return typeof v;
};

/** A short rendering of a value for a message (never the whole of a big value). */
export function show(v: unknown): string {
  const kind = kindOf(v);
  if (kind === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (kind === 'bigint') return `${String(v)}n`;
  if (kind === 'string')
    return JSON.stringify((v as string).length > 60 ? `${(v as string).slice(0, 57)}...` : v);
  if (kind === 'Date')
    return `Date(${Number.isNaN((v as Date).getTime()) ? 'invalid' : (v as Date).toISOString()})`;
  if (kind === 'array') return `array(${(v as unknown[]).length})`;
  if (kind === 'Map' || kind === 'Set') return `${kind}(${(v as Map<unknown, unknown>).size})`;
  if (kind === 'table') return `table(${(v as { rowCount: number }).rowCount} rows)`;
  if (ArrayBuffer.isView(v)) return `${kind}(${(v as unknown as ArrayLike<unknown>).length})`;
  if (kind === 'object') {
    const marker = (v as { __cellar?: string }).__cellar;
    if (marker)
      return `<${marker}${(v as { name?: string }).name ? ` ${(v as { name?: string }).name}` : ''}>`;
    const keys = Object.keys(v as object);
    return `{${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}}`;
  }
  return String(v);
}

const SHOWN = 60;
const BEFORE = 20;

/**
 * Two differing strings, each shown around their first differing character (up to 60 characters
 * from 20 before it), so a long shared prefix cannot make them look the same. The reason gives
 * the character offset (UTF-16 code units) and both lengths when either was shortened.
 */
function stringDifference(a: string, b: string, path: string): Difference {
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  const start = a.length > SHOWN || b.length > SHOWN ? Math.max(0, at - BEFORE) : 0;
  const around = (s: string) =>
    JSON.stringify(
      `${start > 0 ? '...' : ''}${s.slice(start, start + SHOWN)}${s.length > start + SHOWN ? '...' : ''}`,
    );
  const shortened = start > 0 || a.length > SHOWN || b.length > SHOWN;
  return {
    path,
    notebook: around(a),
    pipeline: around(b),
    ...(shortened
      ? {
          reason: `first difference at character ${at}; ${a.length} characters in the notebook, ${b.length} in the pipeline`,
        }
      : {}),
  };
}

function numbersEqual(a: number, b: number, tolerance: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  if (tolerance === 0 || (Number.isSafeInteger(a) && Number.isSafeInteger(b))) return a === b;
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b)) + ABSOLUTE;
}

const isPrimitive = (v: unknown) =>
  v === null || (typeof v !== 'object' && typeof v !== 'function');
const keyPath = (k: unknown) => (typeof k === 'string' ? JSON.stringify(k) : show(k));
const member = (path: string, key: string) =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/** The first difference in two arrays' named properties (d3-dsv's `columns`), or undefined. */
function namedDifference(
  a: unknown[],
  b: unknown[],
  path: string,
  tol: number,
  seen: Set<unknown>,
): Difference | undefined {
  const va = a as unknown as Record<string, unknown>;
  const vb = b as unknown as Record<string, unknown>;
  const inB = new Set(namedArrayKeys(b));
  for (const k of namedArrayKeys(a)) {
    if (!inB.delete(k))
      return {
        path: member(path, k),
        notebook: show(va[k]),
        pipeline: 'missing',
        reason: 'a named property of the array, missing in the pipeline',
      };
    const d = diff(va[k], vb[k], member(path, k), tol, seen);
    if (d) return d;
  }
  for (const k of inB)
    return {
      path: member(path, k),
      notebook: 'missing',
      pipeline: show(vb[k]),
      reason: 'a named property of the array, missing in the notebook',
    };
  return undefined;
}

function diff(
  a: unknown,
  b: unknown,
  path: string,
  tol: number,
  seen: Set<unknown>,
): Difference | undefined {
  const ka = kindOf(a);
  const kb = kindOf(b);
  const at = (reason?: string): Difference => ({
    path,
    notebook: show(a),
    pipeline: show(b),
    ...(reason ? { reason } : {}),
  });
  if (ka !== kb) return at(`a ${ka} in the notebook, a ${kb} in the pipeline`);
  switch (ka) {
    case 'number':
      return numbersEqual(a as number, b as number, tol) ? undefined : at();
    case 'string':
      return a === b ? undefined : stringDifference(a as string, b as string, path);
    case 'boolean':
    case 'bigint':
    case 'undefined':
    case 'null':
    case 'symbol':
      return a === b ? undefined : at();
    case 'Date': {
      const ta = (a as Date).getTime();
      const tb = (b as Date).getTime();
      return ta === tb || (Number.isNaN(ta) && Number.isNaN(tb)) ? undefined : at();
    }
    case 'RegExp':
      return String(a) === String(b) ? undefined : at();
  }
  // Containers: a shared reference met again is compared once.
  if (seen.has(a)) return undefined;
  seen.add(a);
  if (ka === 'ArrayBuffer')
    return diff(
      new Uint8Array(a as ArrayBuffer),
      new Uint8Array(b as ArrayBuffer),
      path,
      tol,
      seen,
    );
  if (ka === 'array' || ArrayBuffer.isView(a)) {
    const xa = a as ArrayLike<unknown>;
    const xb = b as ArrayLike<unknown>;
    if (xa.length !== xb.length)
      return at(`length ${xa.length} in the notebook, ${xb.length} in the pipeline`);
    for (let i = 0; i < xa.length; i++) {
      const d = diff(xa[i], xb[i], `${path}[${i}]`, tol, seen);
      if (d) return d;
    }
    return ka === 'array'
      ? namedDifference(a as unknown[], b as unknown[], path, tol, seen)
      : undefined;
  }
  if (ka === 'Map') {
    const ma = a as Map<unknown, unknown>;
    const mb = b as Map<unknown, unknown>;
    if (ma.size !== mb.size)
      return at(`size ${ma.size} in the notebook, ${mb.size} in the pipeline`);
    const objectKeysB = [...mb.keys()].filter((k) => !isPrimitive(k));
    let nth = 0;
    for (const [k, va] of ma) {
      if (isPrimitive(k)) {
        if (!mb.has(k))
          return {
            path: `${path}.get(${keyPath(k)})`,
            notebook: show(va),
            pipeline: 'missing',
            reason: 'key missing in the pipeline',
          };
        const d = diff(va, mb.get(k), `${path}.get(${keyPath(k)})`, tol, seen);
        if (d) return d;
      } else {
        const kb2 = objectKeysB[nth++];
        const dk = diff(k, kb2, `${path}.keys()[${nth - 1}]`, tol, seen);
        if (dk) return dk;
        const d = diff(va, mb.get(kb2), `${path}.get(keys()[${nth - 1}])`, tol, seen);
        if (d) return d;
      }
    }
    return undefined;
  }
  if (ka === 'Set') {
    const sa = a as Set<unknown>;
    const sb = b as Set<unknown>;
    if (sa.size !== sb.size)
      return at(`size ${sa.size} in the notebook, ${sb.size} in the pipeline`);
    const objectsB = [...sb].filter((x) => !isPrimitive(x));
    let nth = 0;
    for (const x of sa) {
      if (isPrimitive(x)) {
        if (!sb.has(x))
          return {
            path: `${path}.has(${keyPath(x)})`,
            notebook: 'true',
            pipeline: 'false',
            reason: 'member missing in the pipeline',
          };
      } else {
        const d = diff(x, objectsB[nth], `${path}.values()[${nth}]`, tol, seen);
        nth++;
        if (d) return d;
      }
    }
    return undefined;
  }
  if (ka === 'table') {
    const ta = a as { columns: string[]; rowCount: number; rows?: unknown[]; digest?: string };
    const tb = b as typeof ta;
    const d =
      diff(ta.columns, tb.columns, `${path} (table).columns`, tol, seen) ??
      diff(ta.rowCount, tb.rowCount, `${path} (table).rowCount`, tol, seen);
    if (d) return d;
    if (ta.rows && tb.rows)
      return diff(ta.rows, tb.rows, `${path} (table, sorted rows)`, tol, seen);
    if (ta.digest !== tb.digest) {
      return {
        path: `${path} (table).digest`,
        notebook: ta.digest ?? 'rows',
        pipeline: tb.digest ?? 'rows',
        reason: `the ${ta.rowCount} rows differ (order-independent digest, floats rounded to 12 significant digits)`,
      };
    }
    return undefined;
  }
  // Plain objects (and class instances, captured as their own enumerable properties).
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  const keysA = Object.keys(oa).sort();
  const keysB = Object.keys(ob).sort();
  const missing = keysA.find((k) => !(k in ob));
  if (missing !== undefined)
    return {
      path: member(path, missing),
      notebook: show(oa[missing]),
      pipeline: 'missing',
      reason: 'property missing in the pipeline',
    };
  const extra = keysB.find((k) => !(k in oa));
  if (extra !== undefined)
    return {
      path: member(path, extra),
      notebook: 'missing',
      pipeline: show(ob[extra]),
      reason: 'property only in the pipeline',
    };
  for (const k of keysA) {
    const d = diff(oa[k], ob[k], member(path, k), tol, seen);
    if (d) return d;
  }
  return undefined;
}
