// The small codecs: JSON, text, binary and CSV. Each maps a value to bytes and records its
// schema (type and size, or columns and row count for CSV) for `cellar tree` and the docs site.
import type { Codec } from './codec.js';
import type { OutputSchema } from '../types.js';
import { refusalText, valueNeeds } from './structured.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

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
    return JSON.parse(fromUtf8.decode(bytes));
  },
};

export const textCodec: Codec = {
  id: 'text',
  version: 1,
  ext: 'txt',
  encode(value) {
    const text = String(value);
    return { bytes: utf8.encode(text), schema: { kind: 'text', chars: text.length } };
  },
  decode(bytes) {
    return fromUtf8.decode(bytes);
  },
};

export const binaryCodec: Codec = {
  id: 'binary',
  version: 1,
  ext: 'bin',
  encode(value) {
    if (!(value instanceof Uint8Array))
      throw new Error('binary codec needs a Uint8Array or Buffer');
    return { bytes: value, schema: { kind: 'binary', bytes: value.byteLength } };
  },
  decode(bytes) {
    return bytes;
  },
};

/** RFC 4180 CSV of an array of flat records; numeric columns come back as numbers. */
export const csvCodec: Codec = {
  id: 'csv',
  version: 1,
  ext: 'csv',
  encode(value) {
    const rows = toRecords(value);
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const lines = [columns.map(quote).join(',')];
    for (const r of rows) lines.push(columns.map((c) => quote(r[c])).join(','));
    const types = columns.map((c) => ({ name: c, type: columnType(rows.map((r) => r[c])) }));
    return {
      bytes: utf8.encode(lines.join('\n') + '\n'),
      schema: { kind: 'table', rows: rows.length, columns: types, shape: 'records' },
    };
  },
  decode(bytes) {
    const table = parseCsv(fromUtf8.decode(bytes));
    const [header, ...body] = table;
    if (!header) return [];
    const numeric = header.map((_, i) =>
      body.every((r) => r[i] === '' || r[i] === undefined || Number.isFinite(Number(r[i]))),
    );
    return body.map((r) =>
      Object.fromEntries(
        header.map((h, i) => [
          h,
          numeric[i] ? (r[i] === '' || r[i] === undefined ? null : Number(r[i])) : (r[i] ?? ''),
        ]),
      ),
    );
  },
};

function toRecords(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) return value as Record<string, unknown>[];
  if (value && typeof value === 'object') {
    const cols = Object.entries(value as Record<string, ArrayLike<unknown>>);
    const n = cols[0]?.[1].length ?? 0;
    return Array.from({ length: n }, (_, i) => Object.fromEntries(cols.map(([k, v]) => [k, v[i]])));
  }
  throw new Error('csv codec needs an array of records or an object of columns');
}

function columnType(values: unknown[]): string {
  const types = new Set(values.filter((v) => v !== null && v !== undefined).map((v) => typeof v));
  return types.size === 1 ? [...types][0]! : types.size === 0 ? 'null' : 'mixed';
}

function quote(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
