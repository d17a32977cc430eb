// The default table codec: Apache Arrow IPC (file format).
//
// Why Arrow IPC and not Parquet: a task's table goes to disk and straight back into the next task
// on the same machine. Arrow IPC is the in-memory layout written out, so a numeric column is one
// memcpy each way (typed arrays go in and come out zero-copy), which keeps write+read close to raw
// `fs` speed (see bench/runtime.bench.ts); Parquet's encoding and compression cost CPU for disk
// space we rarely need. DuckDB and pandas read Arrow IPC directly.
//
// Two shapes are tables: an array of flat records (`[{a: 1, b: 'x'}, …]`) and an object of
// equal-length columns (`{a: Float64Array, b: string[]}`). A value comes back in the shape it
// went in (recorded in the schema), and a typed-array column comes back as the same typed array.
//
// Arrow has one null; JavaScript has three kinds of nothing. A record without the field, a field
// holding `undefined` and a field holding `null` are three different rows to the next task
// (`'b' in row`, `row.b === undefined`), so a column with the first two is stored with a Uint8
// mask beside it (MISSING + name: 0 a value or null, 1 no field, 2 undefined; an array hole counts
// as undefined) and given back exactly. A column without them costs nothing more.
import { createRequire } from 'node:module';
import type { Codec } from './codec.js';
import type { OutputSchema } from '../types.js';
import { loneSurrogate } from './basic.js';
import { namedArrayKeys } from './named-keys.js';
import { ownBuffer } from './own-buffer.js';
import { codecLimits } from './structured.js';
import { decodeUtf8 } from './utf8.js';

/**
 * Whether a string column's UTF-8 bytes fit one Arrow `Utf8` column (`codecLimits`). Past the
 * limit apache-arrow's builder wraps the 32-bit offsets without a word and the rows after it read
 * back empty or wrong (2,300 rows of a 1 M-character string: rows 305 on came back empty), and
 * its reader gives back no string at all of a `LargeUtf8` column that large (tried: every row
 * undefined). So such a table is not stored as Arrow: auto gives it to the structured codec,
 * which holds it, and the table codec named explicitly refuses it.
 */
function fitsUtf8(list: readonly unknown[]): boolean {
  const limit = codecLimits.arrowStringBytes;
  let chars = 0;
  for (const s of list) if (typeof s === 'string') chars += s.length;
  // A UTF-16 unit takes at most 3 UTF-8 bytes: most columns are decided without encoding.
  if (chars * 3 <= limit) return true;
  let bytes = 0;
  for (const s of list)
    if (typeof s === 'string' && (bytes += Buffer.byteLength(s)) > limit) return false;
  return true;
}

/** The first string column of a planned table whose text is past `fitsUtf8`, if any. */
function oversizedStringColumn(value: unknown, plan: TablePlan): string | undefined {
  for (const col of plan.columns) {
    if (col.type !== 'string') continue;
    const list =
      plan.shape === 'columns'
        ? ((value as Record<string, unknown>)[col.name] as unknown[])
        : (value as Record<string, unknown>[]).map((r) => r[col.name]);
    if (!fitsUtf8(list)) return col.name;
  }
  return undefined;
}

// 'null': every value null, or no value at all (an empty column): nothing tells its type, so it is
// stored as Arrow's Null type and comes back as nulls (or as an empty array).
type ColumnType = 'number' | 'string' | 'boolean' | 'date' | 'null';

interface TablePlan {
  shape: 'records' | 'columns';
  columns: { name: string; type: ColumnType | 'typed'; typed?: string }[];
  rows: number;
}

const TYPED = [
  Float64Array,
  Float32Array,
  Int32Array,
  Int16Array,
  Int8Array,
  Uint32Array,
  Uint16Array,
  Uint8Array,
  BigInt64Array,
  BigUint64Array,
];

function typedName(v: unknown): string | undefined {
  return TYPED.find((T) => v instanceof T)?.name;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The type of a column of plain values, or undefined when they do not share one. */
function inferType(values: Iterable<unknown>): ColumnType | undefined {
  let type: ColumnType = 'null';
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const t: ColumnType | undefined =
      typeof v === 'number'
        ? 'number'
        : typeof v === 'string'
          ? 'string'
          : typeof v === 'boolean'
            ? 'boolean'
            : v instanceof Date
              ? 'date'
              : undefined;
    if (!t) return undefined;
    if (type === 'null') type = t;
    else if (type !== t) return undefined;
  }
  return type;
}

/**
 * How `value` is stored as a table, or undefined when it is not one. `allowEmpty` (the table
 * codec named explicitly) accepts the empty shapes: `[]` (records with no rows, hence no known
 * columns) and `{a: [], b: []}` (columns kept, typed when they are typed arrays). Under 'auto'
 * an empty array stays JSON, which holds it just as well.
 */
export function planTable(value: unknown, allowEmpty = false): TablePlan | undefined {
  if (Array.isArray(value)) {
    // Named properties beside the rows (d3-dsv's `columns`) are not rows: a table would drop them.
    if (namedArrayKeys(value).length > 0) return undefined;
    if (value.length === 0)
      return allowEmpty ? { shape: 'records', columns: [], rows: 0 } : undefined;
    if (!value.every(isPlain)) return undefined;
    const names = [...new Set(value.flatMap((r) => Object.keys(r)))];
    const columns: TablePlan['columns'] = [];
    for (const name of names) {
      const type = inferType(
        value.map((r) =>
          Object.hasOwn(r, name) ? (r as Record<string, unknown>)[name] : undefined,
        ),
      );
      if (!type) return undefined;
      columns.push({ name, type });
    }
    return { shape: 'records', columns, rows: value.length };
  }
  if (isPlain(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return undefined;
    const rows = (entries[0]![1] as { length?: number })?.length;
    if (typeof rows !== 'number' || (rows === 0 && !allowEmpty)) return undefined;
    const columns: TablePlan['columns'] = [];
    for (const [name, col] of entries) {
      const typed = typedName(col);
      if (typed && (col as ArrayLike<unknown>).length === rows)
        columns.push({ name, type: 'typed', typed });
      else if (Array.isArray(col) && col.length === rows) {
        const type = inferType(col);
        if (!type) return undefined;
        columns.push({ name, type });
      } else return undefined;
    }
    return { shape: 'columns', columns, rows };
  }
  return undefined;
}

/**
 * True when 'auto' stores `value` as a table: it plans as one, and for records, a table gives each
 * record back with its own key order. A table returns every record's fields in column order (the
 * order fields first appear), so `[{a, b}, {b, a}]` would come back `[{a, b}, {a, b}]`: JSON keeps
 * it (a check or a display reading `Object.keys(row)` sees the difference). Naming the table
 * codec stores such records anyway, in column order. A table with a string column past what
 * Arrow holds (`fitsUtf8`) is not one either.
 */
export function isTableLike(value: unknown): boolean {
  const plan = planTable(value);
  if (plan === undefined) return false;
  // Past what an Arrow string column holds: the structured codec stores it instead.
  if (oversizedStringColumn(value, plan) !== undefined) return false;
  if (plan.shape !== 'records') return true;
  const column = new Map(plan.columns.map((c, i) => [c.name, i]));
  return (value as Record<string, unknown>[]).every((row) => {
    let last = -1;
    for (const name of Object.keys(row)) {
      const at = column.get(name)!;
      if (at < last) return false;
      last = at;
    }
    return true;
  });
}

// apache-arrow's ESM entry is hundreds of small modules (250–350 ms to import here); its own
// single-file minified build is the same library and loads in ~25 ms. Loaded on first use only.
type ArrowLib = typeof import('apache-arrow');
let arrowModule: ArrowLib | undefined;
const arrowLib = async (): Promise<ArrowLib> =>
  (arrowModule ??= createRequire(import.meta.url)('apache-arrow/Arrow.esnext.min') as ArrowLib);

/** The name of a column's missing-value mask in the Arrow file (a name no record field has). */
const MISSING = '\u0000cellar:missing:';
const ABSENT = 1;
const UNDEFINED = 2;

/** The mask of a column's rows holding no value, or undefined when every row holds one (or null). */
function missingMask(
  value: unknown,
  shape: TablePlan['shape'],
  name: string,
  rows: number,
): Uint8Array | undefined {
  let mask: Uint8Array | undefined;
  for (let i = 0; i < rows; i++) {
    let kind = 0;
    if (shape === 'records') {
      const row = (value as Record<string, unknown>[])[i]!;
      if (!Object.hasOwn(row, name)) kind = ABSENT;
      else if (row[name] === undefined) kind = UNDEFINED;
    } else if ((value as Record<string, unknown[]>)[name]![i] === undefined) kind = UNDEFINED;
    if (kind) (mask ??= new Uint8Array(rows))[i] = kind;
  }
  return mask;
}

/**
 * `record[name] = value` as an own field, also for `__proto__` (whose plain assignment would set
 * the record's prototype instead: a column of that name, as `JSON.parse` makes one, was stored
 * and then not found, reported as a damaged file).
 */
export function setField(record: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__')
    Object.defineProperty(record, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else record[name] = value;
}

export const tableCodec: Codec = {
  id: 'table',
  // 2: missing fields and undefined kept apart from null (version 1 stored all three as null).
  version: 2,
  ext: 'arrow',
  async encode(value) {
    const plan = planTable(value, true);
    if (!plan) {
      const named = Array.isArray(value) ? namedArrayKeys(value) : [];
      throw new Error(
        named.length > 0
          ? `table codec: the array has named properties beside its rows (${named.join(', ')}), which a table would drop; leave the codec out (auto picks 'structured', which keeps them) or store \`[...rows]\` if they are not needed`
          : 'table codec needs an array of flat records or an object of equal-length columns (one type per column)',
      );
    }
    const oversized = oversizedStringColumn(value, plan);
    if (oversized !== undefined)
      throw new Error(
        `table codec: column '${oversized}' holds more text than one Arrow string column can (${codecLimits.arrowStringBytes} bytes of UTF-8); leave the codec out (auto picks 'structured', which holds it), or split the rows across several outputs`,
      );
    const arrow = await arrowLib();
    // Keyed by column name: no prototype, so a column named `__proto__` is a column. The order
    // its keys take is the order of the file's fields, which `fieldOrder` repeats for decode.
    const vectors: Record<string, import('apache-arrow').Vector> = Object.create(null);
    const withMissing = new Set<string>();
    for (const col of plan.columns) {
      if (col.type !== 'typed') {
        const mask = missingMask(value, plan.shape, col.name, plan.rows);
        if (mask) {
          vectors[MISSING + col.name] = arrow.makeVector(mask);
          withMissing.add(col.name);
        }
      }
      let values: unknown;
      if (plan.shape === 'columns') values = (value as Record<string, unknown>)[col.name];
      else
        values = (value as Record<string, unknown>[]).map((r) =>
          Object.hasOwn(r, col.name) ? (r[col.name] ?? null) : null,
        );
      if (col.type === 'typed') vectors[col.name] = arrow.makeVector(values as Float64Array);
      else {
        const list = (values as unknown[]).map((v) =>
          v === undefined ? null : v instanceof Date ? v.getTime() : v,
        );
        if (col.type === 'string') refuseLoneSurrogates(col.name, list as (string | null)[]);
        const type =
          col.type === 'number' || col.type === 'date'
            ? new arrow.Float64()
            : col.type === 'boolean'
              ? new arrow.Bool()
              : col.type === 'null'
                ? new arrow.Null()
                : new arrow.Utf8();
        vectors[col.name] = arrow.vectorFromArray(list, type as never);
      }
    }
    const table = new arrow.Table(vectors);
    const bytes = arrow.tableToIPC(table, 'file');
    const schema: OutputSchema = {
      kind: 'table',
      rows: plan.rows,
      shape: plan.shape,
      columns: plan.columns.map((c) => ({
        name: c.name,
        type: c.type === 'typed' ? c.typed! : c.type,
        ...(withMissing.has(c.name) ? { missing: true as const } : {}),
      })),
    };
    return { bytes, schema };
  },
  async decode(bytes, _spec, schema) {
    const arrow = await arrowLib();
    const table = arrow.tableFromIPC(bytes);
    if (schema.kind !== 'table') throw new Error('table codec: stored schema is not a table');
    const childOf = storedChildren(table, schema.columns);
    const columns: Record<string, unknown> = {};
    for (const col of schema.columns) {
      const vector = childOf(col.name);
      if (!vector)
        throw new Error(`table codec: column '${col.name}' missing from the stored table`);
      // A typed column in a buffer of its own, not a view into the file's bytes (own-buffer.ts).
      if (TYPED.some((T) => T.name === col.type))
        setField(columns, col.name, ownBuffer(vector.toArray() as ArrayBufferView));
      else {
        const list =
          vector.nullCount === 0 && col.type === 'number'
            ? Array.from(vector.toArray() as Float64Array)
            : col.type === 'string' &&
                (arrow.DataType.isUtf8(vector.type) || arrow.DataType.isLargeUtf8(vector.type))
              ? utf8Strings(vector)
              : Array.from(vector as Iterable<unknown>);
        setField(
          columns,
          col.name,
          col.type === 'date' ? list.map((v) => (v === null ? null : new Date(v as number))) : list,
        );
      }
    }
    const masks = new Map<string, Uint8Array>();
    for (const col of schema.columns) {
      if (!col.missing) continue;
      const mask = childOf(MISSING + col.name)?.toArray() as Uint8Array | undefined;
      if (!mask) throw new Error(`table codec: the mask of column '${col.name}' is missing`);
      masks.set(col.name, mask);
      // Both kinds of nothing are undefined in a column (a column has no "absent" row).
      if (schema.shape === 'columns') {
        const list = columns[col.name] as unknown[];
        for (let i = 0; i < mask.length; i++) if (mask[i]) list[i] = undefined;
      }
    }
    if (schema.shape === 'columns') return columns;
    const names = schema.columns.map((c) => c.name);
    const lists = names.map((n) => columns[n] as unknown[]);
    const maskOf = names.map((n) => masks.get(n));
    const out = new Array(schema.rows);
    for (let i = 0; i < schema.rows; i++) {
      const row: Record<string, unknown> = {};
      for (let j = 0; j < names.length; j++) {
        const kind = maskOf[j]?.[i];
        if (kind === ABSENT) continue;
        setField(row, names[j]!, kind === UNDEFINED ? undefined : lists[j]![i]);
      }
      out[i] = row;
    }
    return out;
  },
};

type ArrowTable = import('apache-arrow').Table;
type ArrowVector = import('apache-arrow').Vector;

/**
 * The names of the fields `encode` writes for `columns`, in the file's order: each column's
 * missing-value mask (when it has one) and then the column, as keys of an object without
 * prototype, whose key order (array-index names first, ascending) is the order apache-arrow's
 * `Table` gives its fields.
 */
export function fieldOrder(columns: readonly { name: string; missing?: boolean }[]): string[] {
  const keys: Record<string, true> = Object.create(null);
  for (const col of columns) {
    if (col.missing) keys[MISSING + col.name] = true;
    keys[col.name] = true;
  }
  return Object.keys(keys);
}

/**
 * A stored table's field by the name it was written with. apache-arrow reads field names with a
 * `TextDecoder` that drops a leading U+FEFF, so a column '\uFEFFid' reads back as 'id' (not
 * found, or another column 'id' found in its place). The fields are the ones `fieldOrder` lists,
 * so each is taken by its position when the file's names agree with that list up to such a
 * dropped U+FEFF; by name otherwise.
 */
function storedChildren(
  table: ArrowTable,
  columns: readonly { name: string; missing?: boolean }[],
): (name: string) => ArrowVector | null {
  const order = fieldOrder(columns);
  const read = table.schema.fields.map((f) => f.name);
  const agrees =
    order.length === read.length &&
    order.every((n, i) => read[i] === n || (n.startsWith('\uFEFF') && read[i] === n.slice(1)));
  if (!agrees) return (name) => table.getChild(name);
  const at = new Map(order.map((n, i) => [n, i]));
  return (name) => {
    const i = at.get(name);
    return i === undefined ? null : table.getChildAt(i);
  };
}

/**
 * A `Utf8` (or `LargeUtf8`) column's values, null or the string its bytes encode exactly.
 * apache-arrow's own reading decodes each value with a `TextDecoder` that drops a leading
 * U+FEFF ('\uFEFFx' came back 'x'); here each value's bytes, found through the column's
 * offsets, are decoded keeping it.
 */
function utf8Strings(vector: ArrowVector): (string | null)[] {
  const out: (string | null)[] = new Array(vector.length);
  let row = 0;
  for (const data of vector.data) {
    const offsets = data.valueOffsets as ArrayLike<number | bigint>;
    const bytes = data.values as Uint8Array;
    for (let i = 0; i < data.length; i++, row++)
      out[row] = data.getValid(i)
        ? decodeUtf8(bytes.subarray(Number(offsets[i]), Number(offsets[i + 1])))
        : null;
  }
  return out;
}

/** Arrow stores strings as UTF-8, which turns a lone surrogate into U+FFFD: refuse it, naming
 *  the column, the row and the codec that keeps it, rather than give back another string. */
function refuseLoneSurrogates(column: string, values: (string | null)[]): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const bad = v == null ? undefined : loneSurrogate(v);
    if (bad)
      throw new Error(
        `column "${column}" row ${i} holds a lone surrogate (\\u${bad.code}) at index ${bad.at}, which Arrow's UTF-8 cannot store; use codec 'structured', which keeps it`,
      );
  }
}
