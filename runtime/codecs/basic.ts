// The small codecs: JSON, text, binary and CSV. Each maps a value to bytes and records its
// schema (type and size, or columns and row count for CSV) for `cellar tree` and the docs site.
import type { Codec } from './codec.js';
import type { OutputSchema } from '../types.js';
import { refusalText, valueNeeds } from './structured.js';
import { decodeUtf8 } from './utf8.js';

const utf8 = new TextEncoder();

export const jsonCodec: Codec = {
  id: 'json',
  version: 1,
  ext: 'json',
  encode(value) {
    if (value === undefined)
      throw new Error('cannot store undefined (return null or omit the output)');
    // Never lose data silently: what JSON would change is refused, with the codec that keeps it.
    const needs = valueNeeds(value);
    if (needs.kind === 'refused') throw new Error(refusalText(needs, ''));
    if (needs.kind === 'structured') {
      const why = needs.tooLarge ? '' : ' (JSON would change or drop it)';
      throw new Error(
        `the json codec cannot hold ${needs.what}${why}; leave the codec out (auto picks 'structured') or use codec 'structured'`,
      );
    }
    const text = JSON.stringify(value);
    const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    const schema: OutputSchema = Array.isArray(value)
      ? { kind: 'json', type, length: value.length }
      : { kind: 'json', type };
    return { bytes: utf8.encode(text), schema };
  },
  decode(bytes) {
    return JSON.parse(decodeUtf8(bytes));
  },
};

export const textCodec: Codec = {
  id: 'text',
  version: 2,
  ext: 'txt',
  encode(value) {
    // Only a string comes back as what was stored: a number would come back as "5".
    if (typeof value !== 'string')
      throw new Error(
        `the text codec stores strings; this is ${describe(value)} (leave the codec out, or return String(value))`,
      );
    const bad = loneSurrogate(value);
    if (bad !== undefined)
      throw new Error(
        `the text holds a lone surrogate (\\u${bad.code}) at index ${bad.at}, which UTF-8 cannot store; use codec 'json', which keeps it`,
      );
    return { bytes: utf8.encode(value), schema: { kind: 'text', chars: value.length } };
  },
  decode(bytes) {
    return decodeUtf8(bytes);
  },
};

/** Where a string stops being well-formed UTF-16 (a lone surrogate, which UTF-8 turns into
 *  U+FFFD), or undefined. `code`: the surrogate in 4 hex digits. */
export function loneSurrogate(s: string): { at: number; code: string } | undefined {
  // String#isWellFormed (Node ≥ 20, package.json engines) is native and answers the common case;
  // LONE only locates the surrogate of a string that has one.
  if ((s as unknown as { isWellFormed(): boolean }).isWellFormed()) return undefined;
  const at = s.search(LONE);
  return { at, code: s.charCodeAt(at).toString(16).padStart(4, '0') };
}
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${v.constructor?.name ?? 'no prototype'})`;
  return `a ${typeof v}`;
}

/**
 * Bytes as they are. A Uint8Array comes back a Uint8Array and a Buffer a Buffer (their
 * `toString` differ: "1,2,3" against the bytes as UTF-8), each in a buffer of its own: the bytes
 * read from the store may be a slice of Buffer's shared pool (own-buffer.ts).
 */
export const binaryCodec: Codec = {
  id: 'binary',
  version: 2,
  ext: 'bin',
  encode(value) {
    if (!(value instanceof Uint8Array))
      throw new Error('binary codec needs a Uint8Array or Buffer');
    return {
      bytes: value,
      schema: {
        kind: 'binary',
        bytes: value.byteLength,
        ...(Buffer.isBuffer(value) ? { class: 'Buffer' as const } : {}),
      },
    };
  },
  decode(bytes, _spec, schema) {
    const own = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    return schema?.kind === 'binary' && schema.class === 'Buffer'
      ? Buffer.from(own)
      : new Uint8Array(own);
  },
};

/** A CSV column's type, kept in the output's schema so each value comes back as it was. */
type CsvType = 'string' | 'number' | 'boolean' | 'date' | 'bigint' | 'null';

/**
 * RFC 4180 CSV of an array of flat records (or an object of equal-length columns), readable by
 * any tool, that comes back exactly as stored: each column's type is kept in the schema (a string
 * column of digits stays strings: '007' is not 7), an empty string is written quoted (`""`) and
 * null as an empty field, and the shape (records or columns) is kept. What CSV cannot give back is
 * refused at store time, naming the column and row and the codec that keeps it: a column mixing
 * types, a nested value, an absent or undefined field (CSV has one empty), a lone surrogate.
 * Column order is the order keys are first seen; a record listing its keys in another order
 * comes back in that column order.
 */
export const csvCodec: Codec = {
  id: 'csv',
  version: 2,
  ext: 'csv',
  encode(value) {
    const shape = Array.isArray(value) ? 'records' : 'columns';
    const rows = toRecords(value);
    const columns =
      shape === 'columns'
        ? Object.keys(value as object)
        : [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const types = columns.map((c) => csvColumnType(c, rows));
    const lines = [columns.map((c) => quote(c, 'string')).join(',')];
    for (const r of rows) lines.push(columns.map((c, i) => quote(r[c], types[i]!)).join(','));
    return {
      bytes: utf8.encode(lines.join('\n') + '\n'),
      schema: {
        kind: 'table',
        rows: rows.length,
        columns: columns.map((name, i) => ({ name, type: types[i]! })),
        shape,
      },
    };
  },
  decode(bytes, _spec, schema) {
    if (schema.kind !== 'table') throw new Error('csv output without a table schema');
    const [, ...body] = parseCsv(decodeUtf8(bytes));
    const cols = schema.columns;
    const rows = body
      .slice(0, schema.rows)
      .map((r) =>
        Object.fromEntries(cols.map((c, i) => [c.name, fromCsv(r[i] ?? null, c.type as CsvType)])),
      );
    if (schema.shape === 'records') return rows;
    return Object.fromEntries(cols.map((c) => [c.name, rows.map((r) => r[c.name])]));
  },
};

function toRecords(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) {
    value.forEach((r, i) => {
      if (!r || typeof r !== 'object' || Array.isArray(r))
        throw new Error(`the csv codec needs flat records; row ${i} is ${describe(r)}`);
    });
    return value as Record<string, unknown>[];
  }
  if (value && typeof value === 'object') {
    const cols = Object.entries(value as Record<string, unknown>);
    for (const [k, v] of cols)
      if (!Array.isArray(v))
        throw new Error(`the csv codec needs columns as arrays; column "${k}" is ${describe(v)}`);
    const n = (cols[0]?.[1] as unknown[] | undefined)?.length ?? 0;
    const uneven = cols.find(([, v]) => (v as unknown[]).length !== n);
    if (uneven)
      throw new Error(
        `the csv codec needs equal-length columns; "${uneven[0]}" has ${(uneven[1] as unknown[]).length} values, "${cols[0]![0]}" ${n}`,
      );
    return Array.from({ length: n }, (_, i) =>
      Object.fromEntries(cols.map(([k, v]) => [k, (v as unknown[])[i]])),
    );
  }
  throw new Error('the csv codec needs an array of records or an object of columns');
}

/** The one type a column's values share, or throws naming the column, row and the fix. */
function csvColumnType(column: string, rows: Record<string, unknown>[]): CsvType {
  let type: CsvType = 'null';
  const keep = "leave the codec out (the table codec keeps it) or use codec 'structured'";
  rows.forEach((r, i) => {
    const v = r[column];
    if (v === null) return;
    if (v === undefined)
      throw new Error(
        `column "${column}" has no value in row ${i} (absent or undefined), which CSV cannot tell from null; store null, or ${keep}`,
      );
    const t: CsvType | undefined =
      v instanceof Date
        ? Number.isNaN(v.getTime())
          ? undefined
          : 'date'
        : (['string', 'number', 'boolean', 'bigint'] as const).find((k) => k === typeof v);
    if (t === undefined)
      throw new Error(
        `column "${column}" row ${i} holds ${describe(v)}, which CSV cannot hold; ${keep}`,
      );
    if (t === 'string') {
      const bad = loneSurrogate(v as string);
      if (bad)
        throw new Error(
          `column "${column}" row ${i} holds a lone surrogate (\\u${bad.code}), which UTF-8 cannot store; ${keep}`,
        );
    }
    if (type === 'null') type = t;
    else if (type !== t)
      throw new Error(
        `column "${column}" mixes ${type} and ${t} values (row ${i}), which CSV would give back as one type; ${keep}`,
      );
  });
  if (loneSurrogate(column))
    throw new Error(`a column name holds a lone surrogate, which UTF-8 cannot store; ${keep}`);
  return type;
}

/** A value as a CSV field: null → empty, '' → `""`, -0 → `-0`, a Date → ISO 8601. */
function quote(v: unknown, type: CsvType): string {
  if (v === null || v === undefined) return '';
  if (type === 'string') {
    const s = v as string;
    return s === '' || /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' && Object.is(v, -0)) return '-0';
  return String(v);
}

/** A field back as its column's type; `null` is an empty unquoted field. */
function fromCsv(field: string | null, type: CsvType): unknown {
  if (field === null || type === 'null') return null;
  switch (type) {
    case 'number':
      return Number(field);
    case 'boolean':
      return field === 'true';
    case 'date':
      return new Date(field);
    case 'bigint':
      return BigInt(field);
    default:
      return field;
  }
}

/**
 * RFC 4180 fields, row by row. An empty field written without quotes is `null` (null in the
 * value), so it differs from `""` (an empty string).
 */
export function parseCsv(text: string): (string | null)[][] {
  const rows: (string | null)[][] = [];
  let row: (string | null)[] = [];
  let field = '';
  let wasQuoted = false;
  let quoted = false;
  const end = () => {
    row.push(field === '' && !wasQuoted ? null : field);
    field = '';
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = wasQuoted = true;
    else if (ch === ',') end();
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      end();
      rows.push(row);
      row = [];
    } else field += ch;
  }
  if (field !== '' || wasQuoted || row.length > 0) {
    end();
    rows.push(row);
  }
  return rows;
}
