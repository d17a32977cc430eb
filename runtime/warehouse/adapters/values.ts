// One JSON-safe value convention for both adapters, so a row from DuckDB and the same row from
// BigQuery are deep-equal (the shared adapter suite checks exactly that).
//
//   INT64 / BIGINT      → number when |v| ≤ 2^53 − 1, else its decimal string (never a bigint)
//   NUMERIC / DECIMAL   → number (a double: exact to ~15 significant digits)
//   DATE                → 'YYYY-MM-DD'
//   TIMESTAMP           → ISO 8601 in UTC with milliseconds, '2001-01-01T00:01:00.000Z'
//   BYTES / BLOB        → base64 string
// Pure: no `node:*` imports (base64 through btoa).
import type { JsonValue, LogicalType } from '../types.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

export function intFromBigInt(v: bigint): number | string {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString();
}

export function intFromString(s: string): number | string {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s;
}

export function isoFromMicros(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString();
}

export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s);
}

/** The logical type of a BigQuery schema type name. */
export function logicalFromBigQuery(type: string, mode?: string): LogicalType {
  if (mode === 'REPEATED') return 'array';
  switch (type.toUpperCase()) {
    case 'STRING':
      return 'string';
    case 'INTEGER':
    case 'INT64':
    case 'FLOAT':
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return 'number';
    case 'BOOLEAN':
    case 'BOOL':
      return 'boolean';
    case 'DATE':
      return 'date';
    case 'TIMESTAMP':
    case 'DATETIME':
      return 'timestamp';
    case 'BYTES':
      return 'bytes';
    case 'RECORD':
    case 'STRUCT':
      return 'struct';
    default:
      return 'other';
  }
}

/** The logical type of a DuckDB type as printed (`BIGINT`, `DECIMAL(10,2)`, `VARCHAR[]`). */
export function logicalFromDuckDB(type: string): LogicalType {
  const t = type.toUpperCase();
  if (t.endsWith('[]') || t.startsWith('LIST') || /\[\d+\]$/.test(t)) return 'array';
  if (t.startsWith('STRUCT') || t.startsWith('MAP')) return 'struct';
  if (
    t.startsWith('DECIMAL') ||
    /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL)$/.test(t)
  )
    return 'number';
  if (t === 'VARCHAR' || t.startsWith('VARCHAR') || t === 'UUID' || t.startsWith('ENUM'))
    return 'string';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'DATE') return 'date';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  if (t === 'BLOB') return 'bytes';
  return 'other';
}

/** BigQuery schema type for a logical type (used when the stand-in or seeds report schemas). */
export function bigQueryTypeFromDuckDB(type: string): string {
  const t = type.toUpperCase();
  if (t.endsWith('[]')) return bigQueryTypeFromDuckDB(t.slice(0, -2));
  if (/^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT))$/.test(t)) return 'INTEGER';
  if (t === 'FLOAT' || t === 'DOUBLE' || t === 'REAL') return 'FLOAT';
  if (t.startsWith('DECIMAL')) return 'NUMERIC';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (t === 'DATE') return 'DATE';
  if (t.startsWith('TIMESTAMP')) return 'TIMESTAMP';
  if (t === 'BLOB') return 'BYTES';
  if (t.startsWith('STRUCT')) return 'RECORD';
  return 'STRING';
}
