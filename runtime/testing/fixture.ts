// Fixtures: a task's recorded inputs and outputs, as `cellar fixtures` writes them beside the
// generated code (generated/<notebook>/__fixtures__/<task>.fixture.json) and as the generated
// replay tests read them back. Pure: no node:* (the caller reads and writes the text).
//
// The encoding is JSON with a few tagged objects, `{"$fx": <kind>, ...}`, for what JSON would
// change: NaN, ±Infinity, -0, undefined, BigInt, Date, Map, Set, typed arrays, and a user object
// that itself holds a `$fx` key (wrapped, so it is never read as a tag). Printed one table row per
// line, keys in the value's own order, so a refresh diff shows the rows that changed. Rejected:
// node:v8 (the structured codec's format: binary, undiffable in review) and superjson (a
// dependency for twenty lines, with a less readable layout).
import { CellarError } from '../errors.js';
import type { SqlDialect } from '../task.js';
import type { Row } from '../warehouse/types.js';

/** Per-output column types, the schema the schema test asserts. */
export type FixtureSchema =
  | {
      kind: 'table';
      layout: 'rows' | 'columns';
      columns: Record<string, { type: string; nullable: boolean }>;
    }
  | { kind: 'value'; type: string };

/** What generated/<nb>/__fixtures__/<task>.fixture.json holds, decoded. */
export interface Fixture {
  task: string;
  /** The params the task ran with (the pipeline defaults when recorded). */
  params: Record<string, unknown>;
  /** How inputs were cut down: per input, rows in the stored run and rows kept. */
  sampling: {
    seed: string;
    rowLimit: number;
    byteBudget: number;
    inputs: Record<string, { rows: number; kept: number }>;
  };
  /** Absolute tolerance for floats in the replay comparison. */
  tolerance: number;
  inputSchemas: Record<string, FixtureSchema>;
  schemas: Record<string, FixtureSchema>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  /** SQL tasks only: the sampled tables their SQL reads, replayed in an in-memory DuckDB. */
  warehouse?: FixtureWarehouse;
  /** Outputs too big for the byte budget (a trained model), kept as digests instead of in
   *  `outputs`: compared exactly, naming the part that changed (digest.ts). */
  digests?: Record<string, OutputDigest>;
}

/** A sha-256 (hex) of an output's canonical encoding, and of each of its parts (`.key`, `[i]`). */
export interface OutputDigest {
  sha256: string;
  parts: Record<string, string>;
}

/** One sampled warehouse table in a fixture. */
export interface FixtureTable {
  /** Columns with their DuckDB types (`TIMESTAMP`, `BIGINT`, `VARCHAR`, `DOUBLE`, …), in order. */
  columns: { name: string; type: string }[];
  /** Rows in the table of the run the sample came from. */
  sampledFrom: number;
  /** The sample, JSON-safe as the warehouse returns rows (TIMESTAMP as ISO UTC strings). */
  rows: Row[];
}

/** The warehouse part of a SQL task's fixture. */
export interface FixtureWarehouse {
  /** The dialect the task's SQL was written in when it was recorded (the runtime's default). */
  dialect: SqlDialect;
  /** Tables by the DuckDB name the task's SQL reads them as (`vega.flights`, `mart.route_delay_rates`). */
  tables: Record<string, FixtureTable>;
  /** Inputs that are tables materialised upstream: input name → the table in `tables`. */
  tableInputs: Record<string, string>;
  /** The task's SQL as translated for DuckDB when recorded, by translation key (session.ts): a
   *  cache, so a replay needs no translator; SQL whose text changed misses it and is translated
   *  again. */
  translations?: Record<string, string>;
}

const TAG = '$fx';
const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/** Value → JSON-safe tagged value. Throws CellarError E_FIXTURE_VALUE naming where a value no fixture can hold sits. */
export function toTagged(value: unknown, path = '$'): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value === undefined) return { [TAG]: 'undefined' };
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { [TAG]: 'NaN' };
    if (value === Infinity) return { [TAG]: 'Infinity' };
    if (value === -Infinity) return { [TAG]: '-Infinity' };
    if (Object.is(value, -0)) return { [TAG]: '-0' };
    return value;
  }
  if (typeof value === 'bigint') return { [TAG]: 'bigint', v: value.toString() };
  if (value instanceof Date)
    return { [TAG]: 'Date', v: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Map)
    return {
      [TAG]: 'Map',
      v: [...value].map(([k, v], i) => [
        toTagged(k, `${path}.<key ${i}>`),
        toTagged(v, `${path}.get(${i})`),
      ]),
    };
  if (value instanceof Set)
    return { [TAG]: 'Set', v: [...value].map((v, i) => toTagged(v, `${path}.<item ${i}>`)) };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const name = value.constructor.name;
    const items = [...(value as unknown as Iterable<number | bigint>)].map((x, i) =>
      toTagged(x, `${path}[${i}]`),
    );
    return { [TAG]: name, v: items };
  }
  if (Array.isArray(value)) return Array.from(value, (v, i) => toTagged(v, `${path}[${i}]`));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = toTagged(value[k], `${path}.${k}`);
    return Object.hasOwn(value, TAG) ? { [TAG]: 'object', v: out } : out;
  }
  const kind =
    typeof value === 'object' ? ((value as object).constructor?.name ?? 'object') : typeof value;
  throw new CellarError(
    `${path} is a ${kind}, which a fixture cannot record (plain data, Map, Set, Date, typed arrays and BigInt only)`,
    'E_FIXTURE_VALUE',
  );
}

/** Tagged value → value (the inverse of `toTagged`). */
export function fromTagged(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromTagged);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (!Object.hasOwn(o, TAG)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) out[k] = fromTagged(o[k]);
    return out;
  }
  const kind = o[TAG] as string;
  switch (kind) {
    case 'undefined':
      return undefined;
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    case '-0':
      return -0;
    case 'bigint':
      return BigInt(o.v as string);
    case 'Date':
      return new Date(o.v === null ? NaN : (o.v as string));
    case 'Map':
      return new Map((o.v as [unknown, unknown][]).map(([k, v]) => [fromTagged(k), fromTagged(v)]));
    case 'Set':
      return new Set((o.v as unknown[]).map(fromTagged));
    case 'object': {
      const inner = o.v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(inner)) out[k] = fromTagged(inner[k]);
      return out;
    }
    default: {
      if ((TYPED as readonly string[]).includes(kind)) {
        const Ctor = (globalThis as unknown as Record<string, new (xs: unknown[]) => unknown>)[
          kind
        ]!;
        return new Ctor((o.v as unknown[]).map(fromTagged));
      }
      throw new CellarError(`unknown fixture tag '${kind}'`, 'E_FIXTURE_FORMAT');
    }
  }
}

/**
 * Tagged JSON printed for review: containers indented, but an array or object whose members are
 * all scalars (a table row, a short list) on one line, so one changed row is one changed line.
 */
export function printTagged(value: unknown, indent = ''): string {
  const flat = (v: unknown) =>
    v === null ||
    typeof v !== 'object' ||
    (isPlainObject(v) &&
      Object.hasOwn(v, TAG) &&
      typeof (v as Record<string, unknown>).v !== 'object');
  const one = (v: unknown): string =>
    v !== null && typeof v === 'object'
      ? `{${Object.entries(v)
          .map(([k, x]) => `${JSON.stringify(k)}: ${JSON.stringify(x)}`)
          .join(', ')}}`
      : JSON.stringify(v);
  if (flat(value)) return one(value);
  const inner = indent + ' ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(flat)) return `[${value.map(one).join(', ')}]`;
    return `[\n${value.map((v) => inner + printTagged(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  if (entries.every(([, v]) => flat(v)))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${one(v)}`).join(', ')}}`;
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${printTagged(v, inner)}`).join(',\n')}\n${indent}}`;
}

/** A fixture as the text of its file (ends with a newline). */
export function encodeFixture(fixture: Fixture): string {
  const { inputs, outputs, ...rest } = fixture;
  const tagged = {
    ...rest,
    inputs: toTagged(inputs, 'inputs'),
    outputs: toTagged(outputs, 'outputs'),
  };
  return printTagged(tagged) + '\n';
}

/** The text of a fixture file → Fixture. @throws CellarError E_FIXTURE_FORMAT when it is not one. */
export function decodeFixture(text: string, where = 'fixture'): Fixture {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new CellarError(
      `${where} is not valid JSON: ${(error as Error).message}; run \`cellar fixtures\` again`,
      'E_FIXTURE_FORMAT',
    );
  }
  if (!raw || typeof raw.task !== 'string' || !raw.inputs || !raw.outputs)
    throw new CellarError(
      `${where} is not a Cellar fixture (no task, inputs, outputs)`,
      'E_FIXTURE_FORMAT',
    );
  return {
    ...(raw as unknown as Fixture),
    inputs: fromTagged(raw.inputs) as Record<string, unknown>,
    outputs: fromTagged(raw.outputs) as Record<string, unknown>,
  };
}

// ---- tables and schemas ------------------------------------------------------------------------

const typeName = (v: unknown): string => {
  if (v === null || v === undefined) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (Array.isArray(v)) return 'array';
  if (isPlainObject(v)) return 'object';
  return (v as object).constructor?.name ?? 'object';
};

/** An array of plain records: one row per element. */
export const isRowTable = (v: unknown): v is Record<string, unknown>[] =>
  Array.isArray(v) && v.length > 0 && v.every(isPlainObject);

/** An object of equal-length arrays or typed arrays: one column per key. */
export function isColumnTable(v: unknown): v is Record<string, ArrayLike<unknown>> {
  if (!isPlainObject(v)) return false;
  const cols = Object.values(v);
  if (cols.length === 0) return false;
  const isCol = (c: unknown) =>
    Array.isArray(c) || (ArrayBuffer.isView(c) && !(c instanceof DataView));
  if (!cols.every(isCol)) return false;
  const n = (cols[0] as ArrayLike<unknown>).length;
  return cols.every((c) => (c as ArrayLike<unknown>).length === n);
}

/** The schema of a value: a table's columns with their types and nullability, else the value's type. */
export function schemaOf(value: unknown): FixtureSchema {
  if (isRowTable(value)) {
    const columns: Record<string, { types: Set<string>; nullable: boolean }> = {};
    for (const row of value) {
      for (const k of Object.keys(row)) {
        const c = (columns[k] ??= { types: new Set(), nullable: false });
        const t = typeName(row[k]);
        if (t === 'null') c.nullable = true;
        else c.types.add(t);
      }
    }
    for (const [k, c] of Object.entries(columns))
      if (value.some((r) => !Object.hasOwn(r, k))) c.nullable = true;
    return {
      kind: 'table',
      layout: 'rows',
      columns: Object.fromEntries(
        Object.entries(columns).map(([k, c]) => [
          k,
          { type: [...c.types].sort().join('|') || 'null', nullable: c.nullable },
        ]),
      ),
    };
  }
  if (isColumnTable(value)) {
    const columns: Record<string, { type: string; nullable: boolean }> = {};
    for (const [k, col] of Object.entries(value)) {
      if (!Array.isArray(col))
        columns[k] = { type: (col as object).constructor.name, nullable: false };
      else {
        const types = new Set(col.map(typeName));
        const nullable = types.delete('null');
        columns[k] = { type: `${[...types].sort().join('|') || 'null'}[]`, nullable };
      }
    }
    return { kind: 'table', layout: 'columns', columns };
  }
  return { kind: 'value', type: typeName(value) };
}

/** How many rows a table has (0 for anything else). */
export const tableRows = (v: unknown): number =>
  isRowTable(v)
    ? v.length
    : isColumnTable(v)
      ? (Object.values(v)[0] as ArrayLike<unknown>).length
      : 0;

/** The same table keeping only rows at `indexes` (in their order). Columns keep their array type. */
export function takeRows(v: unknown, indexes: number[]): unknown {
  if (isRowTable(v)) return indexes.map((i) => v[i]);
  if (isColumnTable(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, col] of Object.entries(v)) {
      const picked = indexes.map((i) => col[i]);
      out[k] = Array.isArray(col)
        ? picked
        : new (col.constructor as new (xs: unknown[]) => unknown)(picked);
    }
    return out;
  }
  return v;
}

/** A table of the same schema with no rows: `[]` for a row table, empty columns for a column table. */
export function emptyLike(v: unknown, schema?: FixtureSchema): unknown {
  if (schema?.kind === 'table' && schema.layout === 'rows') return [];
  if (isColumnTable(v)) return takeRows(v, []);
  return v;
}

// ---- comparing ----------------------------------------------------------------------------------

/** One place where a replayed output differs from the recorded one. */
export interface FixtureDifference {
  output: string;
  row?: number;
  column?: string;
  /** Where inside the value, for non-table values (`.recall.Adelie`, `.get("a")`). */
  path: string;
  expected: string;
  actual: string;
}

const show = (v: unknown): string => {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? 'Invalid' : v.toISOString()})`;
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(toTagged(v));
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeName(v);
  }
};

const numbersClose = (a: number, b: number, tol: number) =>
  (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= tol;

/** Differences between `actual` and `expected`, descending into containers (at most `limit`). */
function diffValue(
  actual: unknown,
  expected: unknown,
  tol: number,
  path: string,
  out: Omit<FixtureDifference, 'output' | 'row' | 'column'>[],
  limit: number,
): void {
  if (out.length >= limit) return;
  const mismatch = () => out.push({ path, expected: show(expected), actual: show(actual) });
  if (typeof expected === 'number') {
    if (typeof actual !== 'number' || !numbersClose(actual, expected, tol)) mismatch();
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    if (!Object.is(actual, expected)) mismatch();
    return;
  }
  if (typeName(actual) !== typeName(expected)) {
    mismatch();
    return;
  }
  if (expected instanceof Date) {
    if (
      (actual as Date).getTime() !== expected.getTime() &&
      !(Number.isNaN((actual as Date).getTime()) && Number.isNaN(expected.getTime()))
    )
      mismatch();
    return;
  }
  if (expected instanceof Set) {
    const a = [...(actual as Set<unknown>)].map(show).sort();
    const e = [...expected].map(show).sort();
    if (a.join('\u0000') !== e.join('\u0000')) mismatch();
    return;
  }
  if (expected instanceof Map) {
    const a = actual as Map<unknown, unknown>;
    if (a.size !== expected.size)
      out.push({ path: `${path}.size`, expected: String(expected.size), actual: String(a.size) });
    for (const [k, v] of expected) {
      if (!a.has(k))
        out.push({ path: `${path}.get(${show(k)})`, expected: show(v), actual: 'missing' });
      else diffValue(a.get(k), v, tol, `${path}.get(${show(k)})`, out, limit);
    }
    return;
  }
  if (Array.isArray(expected) || ArrayBuffer.isView(expected)) {
    const a = actual as ArrayLike<unknown>;
    const e = expected as unknown as ArrayLike<unknown>;
    if (a.length !== e.length)
      out.push({ path: `${path}.length`, expected: String(e.length), actual: String(a.length) });
    for (let i = 0; i < Math.min(a.length, e.length); i++)
      diffValue(a[i], e[i], tol, `${path}[${i}]`, out, limit);
    return;
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  for (const k of Object.keys(e)) {
    if (!Object.hasOwn(a, k))
      out.push({ path: `${path}.${k}`, expected: show(e[k]), actual: 'missing' });
    else diffValue(a[k], e[k], tol, `${path}.${k}`, out, limit);
  }
  for (const k of Object.keys(a))
    if (!Object.hasOwn(e, k))
      out.push({ path: `${path}.${k}`, expected: 'absent', actual: show(a[k]) });
}

/**
 * Every difference between replayed outputs and recorded ones (first `limit`): tables row by row
 * and column by column (floats within `tolerance`, NaN equal to NaN), Maps by key, Sets as sets,
 * Dates by time, typed arrays element by element.
 */
export function compareOutputs(
  actual: Record<string, unknown>,
  expected: Record<string, unknown>,
  tolerance: number,
  limit = 20,
): FixtureDifference[] {
  const found: FixtureDifference[] = [];
  for (const output of Object.keys(expected)) {
    if (!Object.hasOwn(actual, output)) {
      found.push({ output, path: '', expected: show(expected[output]), actual: 'missing' });
      continue;
    }
    const diffs: Omit<FixtureDifference, 'output'>[] = [];
    diffValue(actual[output], expected[output], tolerance, '', diffs, limit - found.length);
    const table = isRowTable(expected[output]) || isColumnTable(expected[output]);
    for (const d of diffs) {
      const m = table
        ? isRowTable(expected[output])
          ? /^\[(\d+)\]\.([^.[]+)/.exec(d.path)
          : /^\.([^.[]+)\[(\d+)\]/.exec(d.path)
        : null;
      if (m && isRowTable(expected[output]))
        found.push({ ...d, output, row: Number(m[1]), column: m[2] });
      else if (m) found.push({ ...d, output, row: Number(m[2]), column: m[1] });
      else found.push({ ...d, output });
    }
    if (found.length >= limit) break;
  }
  return found;
}

/** `output 'penguins', row 3, column 'beakRatio': expected 2.5, got 2.6`. */
export function describeDifference(d: FixtureDifference): string {
  const where =
    d.row !== undefined ? `, row ${d.row}, column '${d.column}'` : d.path ? ` at ${d.path}` : '';
  return `output '${d.output}'${where}: expected ${d.expected}, got ${d.actual}`;
}

/** Differences between each recorded schema and the schema of the replayed value. */
export function compareSchemas(
  actual: Record<string, unknown>,
  schemas: Record<string, FixtureSchema>,
): string[] {
  const problems: string[] = [];
  for (const [output, want] of Object.entries(schemas)) {
    if (!Object.hasOwn(actual, output)) {
      problems.push(`output '${output}' is missing`);
      continue;
    }
    const got = schemaOf(actual[output]);
    if (
      want.kind !== got.kind ||
      (want.kind === 'value' && got.kind === 'value' && want.type !== got.type)
    ) {
      problems.push(
        `output '${output}': expected ${want.kind === 'table' ? 'a table' : `a ${want.type}`}, got ${got.kind === 'table' ? 'a table' : `a ${(got as { type: string }).type}`}`,
      );
      continue;
    }
    if (want.kind !== 'table' || got.kind !== 'table') continue;
    for (const [col, spec] of Object.entries(want.columns)) {
      const g = got.columns[col];
      if (!g) problems.push(`output '${output}': column '${col}' (${spec.type}) is missing`);
      else if (g.type !== spec.type && !(g.type === 'null' && spec.nullable))
        problems.push(`output '${output}': column '${col}' is ${g.type}, recorded as ${spec.type}`);
      else if (g.nullable && !spec.nullable)
        problems.push(`output '${output}': column '${col}' has nulls, recorded as not nullable`);
    }
    for (const col of Object.keys(got.columns))
      if (!want.columns[col]) problems.push(`output '${output}': column '${col}' was not recorded`);
  }
  return problems;
}
