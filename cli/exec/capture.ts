// How `cellar verify` reads a task's output values, the same way on both sides.
//
// In the notebook, a probe cell runs right after each task's last cell (before a later cell can
// redeclare a name): it hands the task's outputs to CAPTURE_SOURCE, evaluated in the kernel,
// which writes them with v8.serialize to a file. On the pipeline side the CLI loads the stored
// outputs (`load`) and runs the very same source in-process. One source text on both sides, so a
// value is normalised identically wherever it comes from:
//
// - v8.serialize keeps what JSON loses: Map, Set, Date, typed arrays, BigInt, NaN, ±Infinity,
//   undefined, sparse arrays and shared references. Class instances become plain objects of their
//   own enumerable properties (a trained model compares by its fields).
// - A table (an un-run `sql` Query in the notebook; the TableHandle of a `//| materialize` task in
//   the pipeline) is read from the warehouse: its columns, row count, and either its rows sorted
//   canonically (up to TABLE_ROWS rows) or, above that, an order-independent digest of the rows
//   (the sum of each row's SHA-1, floats rounded to 12 significant digits first).
// - Functions and other values v8 cannot write become `{ __cellar: 'function', name }` markers;
//   an output whose value cannot be captured at all records why, and is reported, never skipped.
//
// It is a string, not a function, because the kernel needs it as source text: Function#toString
// of bundled code can reference helpers of the bundler. `require` is passed in (a tslab cell is
// CommonJS, and the CLI passes createRequire's).
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deserialize } from 'node:v8';

/** Rows up to which a table's rows are compared one by one; above it, by digest. */
export const TABLE_ROWS = 20_000;

/** `(require, file, values) => Promise<void>`: writes `{ [name]: {ok, value} | {ok: false, error} }`. */
export const CAPTURE_SOURCE = String.raw`(async function cellarCapture(req, file, values) {
  const v8 = req('node:v8');
  const fs = req('node:fs');
  const crypto = req('node:crypto');
  const TABLE_ROWS = ${TABLE_ROWS};
  const isTable = (v) => typeof v.rows === 'function' && (typeof v.toSQL === 'function' || v.kind === 'cellar.table');
  const round = (x) => (Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(12)) : x);
  const canon = (v) => {
    if (v === null || v === undefined) return String(v);
    if (typeof v === 'number') return 'n' + String(round(v));
    if (typeof v === 'bigint') return 'b' + String(v);
    if (typeof v === 'string') return JSON.stringify(v);
    if (v instanceof Date) return 'd' + v.toISOString();
    if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
    if (typeof v === 'object') return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
    return typeof v + ':' + String(v);
  };
  async function table(q) {
    const source = q.query ? q.query() : q;
    let rowCount = 0;
    let sum = 0n;
    const columns = new Set();
    let rows = [];
    for await (const page of source.stream({ pageSize: 10000 })) {
      for (const row of page) {
        rowCount++;
        for (const k of Object.keys(row)) columns.add(k);
        const text = canon(row);
        sum = (sum + BigInt('0x' + crypto.createHash('sha1').update(text).digest('hex').slice(0, 16))) & 0xffffffffffffffffn;
        if (rows) {
          rows.push([text, row]);
          if (rows.length > TABLE_ROWS) rows = null;
        }
      }
    }
    const out = { __cellar: 'table', columns: [...columns].sort(), rowCount };
    if (rows) out.rows = rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((r) => r[1]);
    else out.digest = sum.toString(16);
    return out;
  }
  async function prepare(v, seen) {
    if (typeof v === 'function') return { __cellar: 'function', name: v.name };
    if (typeof v === 'symbol') return { __cellar: 'symbol', description: String(v.description) };
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return seen.get(v);
    if (v instanceof Date || v instanceof RegExp || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
    if (isTable(v)) return table(v);
    if (typeof v.then === 'function') return { __cellar: 'promise' };
    if (v instanceof Map) {
      const m = new Map();
      seen.set(v, m);
      for (const [k, x] of v) m.set(await prepare(k, seen), await prepare(x, seen));
      return m;
    }
    if (v instanceof Set) {
      const s = new Set();
      seen.set(v, s);
      for (const x of v) s.add(await prepare(x, seen));
      return s;
    }
    if (Array.isArray(v)) {
      const a = new Array(v.length);
      seen.set(v, a);
      for (let i = 0; i < v.length; i++) if (i in v) a[i] = await prepare(v[i], seen);
      return a;
    }
    if (v instanceof Error) return { __cellar: 'error', name: v.name, message: v.message };
    const o = {};
    seen.set(v, o);
    for (const k of Object.keys(v)) o[k] = await prepare(v[k], seen);
    return o;
  }
  const out = {};
  for (const name of Object.keys(values)) {
    try {
      const value = await prepare(values[name], new Map());
      out[name] = { ok: true, value: v8.serialize(value) };
    } catch (e) {
      out[name] = { ok: false, error: String((e && e.message) || e) };
    }
  }
  fs.writeFileSync(file + '.tmp', v8.serialize(out));
  fs.renameSync(file + '.tmp', file);
})`;

/** A captured output: its normalised value, or why it could not be captured. */
export type Captured = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * The probe cell for one task: `names` are the task's outputs, read right after its last cell.
 * Written as `{ name: name }`, not `{ name }`: tslab misses shorthands naming another cell's
 * variable (docs/design/notebooks.md).
 */
export function captureCell(task: string, names: string[], file: string): string {
  const values = names.map((n) => `${JSON.stringify(n)}: ${n}`).join(', ');
  // Two statements, through `new Function`: tslab does not make a cell async when the awaited
  // expression is an eval or a constructed function (probed), and mangles names starting `__`.
  const fn = `cellarCapture_${task.replace(/[^\w$]/g, '_')}`;
  return [
    `// cellar verify: capture the outputs of task ${task}`,
    `const ${fn}: any = new Function('return ' + ${JSON.stringify(CAPTURE_SOURCE)})();`,
    `await ${fn}(require, ${JSON.stringify(file)}, { ${values} });`,
  ].join('\n');
}

/** Run the capture in this process (the pipeline side) and read it back. */
export async function captureHere(
  values: Record<string, unknown>,
  file: string,
): Promise<Record<string, Captured>> {
  const capture = new Function(`return ${CAPTURE_SOURCE}`)() as (
    req: NodeRequire,
    file: string,
    values: Record<string, unknown>,
  ) => Promise<void>;
  await capture(createRequire(import.meta.url), file, values);
  return readCapture(file);
}

/** Read a capture file written by either side. */
export function readCapture(file: string): Record<string, Captured> {
  const raw = deserialize(readFileSync(file)) as Record<
    string,
    { ok: true; value: Uint8Array } | { ok: false; error: string }
  >;
  rmSync(file, { force: true });
  return Object.fromEntries(
    Object.entries(raw).map(([name, c]) => [
      name,
      c.ok ? { ok: true, value: deserialize(c.value) } : c,
    ]),
  );
}
