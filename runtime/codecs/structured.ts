// Values JSON cannot hold: Map, Set, Date, BigInt, typed arrays, NaN… stored with Node's
// structured serialisation (node:v8, the format `structuredClone` and worker messages use), and a
// walk that decides, before anything is written, whether a value needs it — or must be refused.
//
// Why: JSON.stringify turns a Map into `{}` without a word, and the next task fails far from the
// cause (`counts.get is not a function`). Rejected: tagged JSON (`{"$map": [...]}`) — readable, but
// a second format to maintain for every built-in type, and ambiguous with user data holding the
// same tags; superjson/devalue — a dependency for what node:v8 does natively and faster. The v8
// format is versioned by V8 and newer Node reads older payloads; the codec's own version is in the
// cache key like every codec's.
//
// Class instances are the one thing neither format keeps: v8 drops the prototype (methods are
// lost, the value comes back as a plain object). So the walk refuses them by class name, and the
// caller (perform.ts) adds the task and output, with the two ways out: a model codec, or toJSON.
import { deserialize, serialize } from 'node:v8';
import type { Codec } from './codec.js';

/** What a value needs: plain JSON, the structured codec, or a refusal (a class instance). */
export type ValueNeeds =
  | { kind: 'json' }
  /** `tooLarge`: JSON could hold it, but not in one string (see `codecLimits`). */
  | { kind: 'structured'; what: string; tooLarge?: boolean }
  | { kind: 'refused'; className: string; path: string };

const STRUCTURED_CLASSES = new Set<unknown>([Map, Set, Date, RegExp, ArrayBuffer, DataView]);

/**
 * Walk `value` once: the first class instance that no format keeps is refused (with its path),
 * else any Map/Set/Date/BigInt/typed array/NaN/undefined makes it structured, else plain JSON.
 * Objects with a `toJSON` (nested) keep JSON's meaning: they are stored as what toJSON returns.
 */
export function valueNeeds(value: unknown): ValueNeeds {
  let structured: string | undefined;
  // A lower bound of the JSON text's length: strings and keys with their quotes, a few
  // characters per other value. Past `codecLimits.jsonChars` JSON cannot be built at all (V8
  // strings stop at 2^29 - 24 characters: "Invalid string length"), so the value needs the
  // structured codec, which writes bytes without one giant string.
  let chars = 0;
  const seen = new Set<object>();
  const visit = (v: unknown, path: string): ValueNeeds | undefined => {
    switch (typeof v) {
      case 'string':
        chars += v.length + 3;
        return undefined;
      case 'boolean':
        chars += 5;
        return undefined;
      case 'number':
        chars += 2;
        if (!Number.isFinite(v) || Object.is(v, -0)) structured ??= String(v);
        return undefined;
      case 'bigint':
        structured ??= 'BigInt';
        return undefined;
      case 'undefined':
        structured ??= 'undefined';
        return undefined;
      case 'function':
        return {
          kind: 'refused',
          className: `function ${(v as { name?: string }).name || '(anonymous)'}`,
          path,
        };
      case 'symbol':
        return { kind: 'refused', className: 'symbol', path };
    }
    if (v === null) return undefined;
    const obj = v as object;
    if (seen.has(obj)) {
      structured ??= 'a shared or circular reference';
      return undefined;
    }
    seen.add(obj);
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        const r = visit(obj[i], `${path}[${i}]`);
        if (r) return r;
      }
      return undefined;
    }
    if (ArrayBuffer.isView(obj)) {
      structured ??= obj.constructor.name;
      return undefined;
    }
    const proto = Object.getPrototypeOf(obj);
    const ctor = proto?.constructor;
    if (STRUCTURED_CLASSES.has(ctor)) {
      structured ??= ctor.name;
      if (obj instanceof Map) {
        for (const [k, item] of obj) {
          const r =
            visit(k, `${path}.keys()`) ??
            visit(item, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : '…'})`);
          if (r) return r;
        }
      } else if (obj instanceof Set) {
        for (const item of obj) {
          const r = visit(item, `${path} (a Set member)`);
          if (r) return r;
        }
      }
      return undefined;
    }
    if (proto !== Object.prototype && proto !== null) {
      // JSON's own escape hatch: the value says how it is stored.
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return undefined;
      return {
        kind: 'refused',
        className: ctor?.name || 'an object with a custom prototype',
        path,
      };
    }
    for (const key of Object.keys(obj)) {
      chars += key.length + 4;
      const r = visit((obj as Record<string, unknown>)[key], `${path}.${key}`);
      if (r) return r;
    }
    return undefined;
  };
  const refused = visit(value, '');
  if (refused) return refused;
  if (structured === undefined && chars > codecLimits.jsonChars) {
    return {
      kind: 'structured',
      what: `a value too large for one JSON text (at least ${chars} characters; the limit is ${codecLimits.jsonChars})`,
      tooLarge: true,
    };
  }
  return structured === undefined ? { kind: 'json' } : { kind: 'structured', what: structured };
}

/**
 * Internal limits, mutable so tests can cross them with small values (never set by users).
 * `jsonChars`: the largest JSON text the json codec builds. V8's own limit is 2^29 - 24
 * characters (~536 M); the margin covers the estimate being a lower bound (numbers are counted
 * as 2 characters).
 */
export const codecLimits = { jsonChars: 400_000_000 };

/** The refusal as a sentence; perform.ts prefixes the task and output. */
export function refusalText(
  needs: Extract<ValueNeeds, { kind: 'refused' }>,
  outputName: string,
): string {
  const output = outputName || '<output>';
  const where = needs.path ? ` at ${output}${needs.path}` : '';
  return (
    `holds a ${needs.className} instance${where}, which no codec can store with its class (it would come back as a plain object without methods). ` +
    `Store it as a model (\`//| output: ${output}=model\`, or outputs: { ${output}: { codec: 'model', save, load } }), give the class a toJSON(), or return plain data`
  );
}

const describeTop = (value: unknown): string => {
  if (value instanceof Map || value instanceof Set) return value.constructor.name;
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (value instanceof Date) return 'Date';
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
};

export const structuredCodec: Codec = {
  id: 'structured',
  version: 1,
  ext: 'v8',
  encode(value) {
    const needs = valueNeeds(value);
    if (needs.kind === 'refused') throw new Error(refusalText(needs, ''));
    const size =
      value instanceof Map || value instanceof Set
        ? value.size
        : Array.isArray(value)
          ? value.length
          : undefined;
    let bytes: Buffer;
    try {
      bytes = serialize(value);
    } catch (error) {
      // V8's serializer has its own ceiling (buffers past ~2 GB): name the ways out, not the RangeError.
      if (!(error instanceof RangeError)) throw error;
      throw new Error(
        `is too large to store in one piece (${error.message}): return a table (an array of flat records or an object of columns, stored as Arrow) or bytes (a Uint8Array), or split it across outputs`,
      );
    }
    return {
      bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      schema:
        size === undefined
          ? { kind: 'json', type: describeTop(value) }
          : { kind: 'json', type: describeTop(value), length: size },
    };
  },
  decode(bytes) {
    return deserialize(bytes);
  },
};
