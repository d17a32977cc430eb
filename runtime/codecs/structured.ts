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
// Class instances: v8 drops the prototype (an instance comes back a plain object). Instances of
// the project's own exported classes (registered, classes.ts) are stored anyway: the value goes
// into an envelope `{ value, instances, of, classes }` serialised in one piece, so v8 keeps object
// identity between `instances[i]` and the same object inside `value`; on read each of them gets
// its class's prototype back (classes.ts says why the constructor is not called), and shared or
// circular references stay shared. The class ids are in the output's schema (`classes`), which
// is how the decoder knows an envelope is there: outputs without instances are written exactly as
// before. Any other class instance is refused by name, and the caller (perform.ts) adds the task
// and output, with the ways out. See docs/design/classes.md.
//
// Objects without a prototype (`Object.create(null)`, the dictionary idiom: no inherited
// `constructor` or `toString` to collide with a key) go into the same envelope under the
// pseudo-class `NULL_PROTOTYPE` and come back without one; JSON and v8 alone would hand the reader
// an object whose `'constructor' in counts` is true. Properties keyed by a symbol are dropped by
// both formats: an enumerable one (data put there on purpose) is refused, naming where it is.
import { ChildProcess } from 'node:child_process';
import { Dir } from 'node:fs';
import { Stream } from 'node:stream';
import { DefaultDeserializer, serialize } from 'node:v8';
import type { Codec } from './codec.js';
import { namedArrayKeys } from './named-keys.js';
import { classById, classIdOf, classNameOf, classProblem } from './classes.js';
import { ownBuffer } from './own-buffer.js';

/** What a value needs: plain JSON, the structured codec, or a refusal (a class instance). */
export type ValueNeeds =
  | { kind: 'json' }
  /** `tooLarge`: JSON could hold it, but not in one string (see `codecLimits`). */
  | { kind: 'structured'; what: string; tooLarge?: boolean }
  /**
   * `registered`: a class of the project whose instance cannot be rebuilt (`why`); otherwise a
   * class Cellar does not know (from a package, or not exported), a function or a symbol.
   */
  | {
      kind: 'refused';
      className: string;
      path: string;
      registered?: boolean;
      why?: string;
      /**
       * `error`: an Error (built-in or a subclass): its message and stack are no plain fields, and
       * "export the class" cannot help. `other`: another built-in of the language or Node
       * (`Promise`, `WeakMap`, `URL`…), which no codec stores either.
       */
      builtin?: 'error' | 'other' | 'resource';
    }
  /** An enumerable property keyed by a symbol (`path` ends with `[Symbol(…)]`): no format keeps it. */
  | { kind: 'refused'; className: 'symbol key'; path: string; symbolKey: true };

/** The envelope's class id for objects without a prototype (`Object.create(null)`). */
export const NULL_PROTOTYPE = 'Object.create(null)';

/** The first enumerable own property of `obj` keyed by a symbol, as a refusal; undefined if none. */
function symbolKeyRefusal(obj: object, path: string): ValueNeeds | undefined {
  for (const sym of Object.getOwnPropertySymbols(obj))
    if (Object.prototype.propertyIsEnumerable.call(obj, sym))
      return {
        kind: 'refused',
        className: 'symbol key',
        path: `${path}[${String(sym)}]`,
        symbolKey: true,
      };
  return undefined;
}

const STRUCTURED_CLASSES = new Set<unknown>([Map, Set, Date, RegExp, ArrayBuffer, DataView]);

/**
 * Walk `value` once: the first class instance that no format keeps is refused (with its path),
 * else any Map/Set/Date/BigInt/typed array/NaN/undefined or instance of a registered class makes
 * it structured, else plain JSON. `instances`, when given, receives each registered instance with
 * its class id. An instance of a class Cellar does not know is refused even with a `toJSON`: it
 * would come back as plain data, and the reader's methods would be missing.
 */
export function valueNeeds(value: unknown, instances?: Map<object, string>): ValueNeeds {
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
      const sym = symbolKeyRefusal(obj, path);
      if (sym) return sym;
      for (let i = 0; i < obj.length; i++) {
        const r = visit(obj[i], `${path}[${i}]`);
        if (r) return r;
      }
      // d3-dsv's `csvParse(…).columns`, `Object.assign(list, { unit })`: JSON and Arrow keep
      // only the elements; the structured codec keeps the named properties too.
      const named = namedArrayKeys(obj);
      if (named.length > 0) {
        structured ??= `an array with named properties (${named.slice(0, 3).join(', ')}${named.length > 3 ? ', …' : ''})`;
        for (const key of named) {
          chars += key.length + 4;
          const r = visit((obj as unknown as Record<string, unknown>)[key], `${path}.${key}`);
          if (r) return r;
        }
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
    if (proto === null) {
      structured ??= 'an object without a prototype (Object.create(null))';
      instances?.set(obj, NULL_PROTOTYPE);
    } else if (proto !== Object.prototype) {
      const id =
        typeof ctor === 'function' && ctor.prototype === proto ? classIdOf(ctor) : undefined;
      if (id === undefined) {
        const className = ctor?.name || 'an object with a custom prototype';
        const builtin =
          obj instanceof Error
            ? 'error'
            : isResource(obj)
              ? 'resource'
              : typeof ctor === 'function' &&
                  (globalThis as Record<string, unknown>)[ctor.name] === ctor
                ? 'other'
                : undefined;
        return { kind: 'refused', className, path, ...(builtin ? { builtin } : {}) };
      }
      const why = classProblem(obj);
      if (why) return { kind: 'refused', className: classNameOf(id), path, registered: true, why };
      structured ??= `a ${classNameOf(id)} instance`;
      instances?.set(obj, id);
    }
    // Data under a symbol key is refused where the object's own kind is stored (a plain, null-
    // prototype or registered class object); a built-in's internal symbols (a Promise's async id,
    // a Dir's handle) come with its own refusal above, which says what to do.
    const sym = symbolKeyRefusal(obj, path);
    if (sym) return sym;
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
 * `arrowStringBytes`: the most UTF-8 bytes one Arrow `Utf8` column holds (its offsets are 32-bit
 * signed integers); a table with a string column past it is not stored as Arrow (table.ts).
 */
export const codecLimits = { jsonChars: 400_000_000, arrowStringBytes: 2 ** 31 - 1 };

/** The refusal as a sentence; perform.ts prefixes the task and output. */
export function refusalText(
  needs: Extract<ValueNeeds, { kind: 'refused' }>,
  outputName: string,
): string {
  const output = outputName || '<output>';
  const where = needs.path ? ` at ${output}${needs.path}` : '';
  if ('symbolKey' in needs)
    return (
      `holds a property keyed by a symbol${where}, which no codec stores (JSON and structured serialisation both drop it: it would come back missing). ` +
      `Key it by a string, or keep it out of the returned value`
    );
  if (needs.registered)
    return (
      `holds a ${needs.className} instance${where}, which cannot be stored with its class: ${needs.why}. ` +
      `Keep the instance's state in plain public fields (constructor assignments or class fields), or register a model format for it ` +
      `(registerModelFormat({ name, matches, save, load }) from 'cellar', in the setup cell)`
    );
  if (needs.builtin === 'error')
    return (
      `holds ${article(needs.className)} ${needs.className}${where}, an error object, which is not data a codec stores (its message and stack are no plain fields: it would come back as a plain object, no Error). ` +
      `Return what you need of it as data (\`{ message: err.message, name: err.name }\`), or throw it to fail the task`
    );
  if (needs.builtin === 'resource')
    return (
      `holds a ${needs.className}${where}, a handle to an open file, folder, stream or process of this run: no data a codec can store, and it cannot outlive the task. ` +
      `Store what it points at instead: its path (the one you opened it with) or its contents (\`readdirSync(path)\`, \`readFileSync(path, 'utf8')\`), and close it before the task ends`
    );
  if (needs.builtin === 'other')
    return (
      `holds a built-in ${needs.className}${where}, which holds no data a codec can store. ` +
      `Return the data it stands for instead (\`await\` a Promise, copy a WeakMap's entries into a Map, a URL's \`href\`)`
    );
  if (needs.className.startsWith('function ') || needs.className === 'symbol')
    return `holds a ${needs.className}${where}, which no codec can store: return data, and keep functions in the code (a method of an exported class, or a helper)`;
  return (
    `holds a ${needs.className} instance${where}, which no codec can store with its class (it would come back as a plain object without methods). ` +
    `If ${needs.className} is your own class, export it from the notebook's setup cell or a module of the project (not declared inside a function); ` +
    `if it comes from a package, register a model format in the setup cell (registerModelFormat({ name, matches, save, load }) from 'cellar') and store it with \`//| output: ${output}=model\`, ` +
    `or return plain data`
  );
}

/**
 * A Node handle on something open in this process: an fs.Dir, an fs/promises FileHandle (no
 * exported class: known by its name and numeric `fd`), a stream (file streams, sockets) or a
 * child process.
 */
function isResource(obj: object): boolean {
  if (obj instanceof Dir || obj instanceof Stream || obj instanceof ChildProcess) return true;
  const ctor = (obj as { constructor?: { name?: string } }).constructor;
  return ctor?.name === 'FileHandle' && typeof (obj as { fd?: unknown }).fd === 'number';
}

const article = (word: string): string => (/^[AEIOU]/i.test(word) ? 'an' : 'a');

const describeTop = (value: unknown): string => {
  if (value instanceof Map || value instanceof Set) return value.constructor.name;
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (value instanceof Date) return 'Date';
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
};

/** What a value with class instances is stored as (see the header). */
interface ClassEnvelope {
  value: unknown;
  /** Every registered instance inside `value` (the same objects, by v8's identity). */
  instances: object[];
  /** Per instance, its index in `classes`. */
  of: number[];
  classes: string[];
}

export const structuredCodec: Codec = {
  id: 'structured',
  version: 1,
  ext: 'v8',
  encode(value) {
    const instances = new Map<object, string>();
    const needs = valueNeeds(value, instances);
    if (needs.kind === 'refused') throw new Error(refusalText(needs, ''));
    const size =
      value instanceof Map || value instanceof Set
        ? value.size
        : Array.isArray(value)
          ? value.length
          : undefined;
    const classes = [...new Set(instances.values())].sort();
    let payload: unknown = value;
    if (classes.length > 0) {
      const envelope: ClassEnvelope = {
        value,
        instances: [...instances.keys()],
        of: [...instances.values()].map((id) => classes.indexOf(id)),
        classes,
      };
      payload = envelope;
    }
    let bytes: Buffer;
    try {
      bytes = serialize(payload);
    } catch (error) {
      // V8's serializer has its own ceiling (buffers past ~2 GB): name the ways out, not the RangeError.
      if (!(error instanceof RangeError)) throw error;
      throw new Error(
        `is too large to store in one piece (${error.message}): return a table (an array of flat records or an object of columns, stored as Arrow) or bytes (a Uint8Array), or split it across outputs`,
      );
    }
    const topClass = instances.get(value as object);
    return {
      bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      schema: {
        kind: 'json',
        type: topClass ? classNameOf(topClass) : describeTop(value),
        ...(size === undefined ? {} : { length: size }),
        ...(classes.length > 0 ? { classes } : {}),
      },
    };
  },
  decode(bytes, _spec, schema) {
    return decodeStructured(bytes, schema?.kind === 'json' && schema.classes !== undefined);
  },
};

/**
 * Node's deserializer, with every typed array and DataView in a buffer of its own (own-buffer.ts):
 * the default one makes them views into the bytes read, or into Buffer's shared pool.
 */
class OwnBufferDeserializer extends DefaultDeserializer {
  // Node's documented hook for host objects (typed arrays and DataViews are host objects in its
  // format); @types/node leaves it out of DefaultDeserializer's type.
  _readHostObject(): ArrayBufferView {
    const base = DefaultDeserializer.prototype as unknown as {
      _readHostObject(this: DefaultDeserializer): ArrayBufferView;
    };
    return ownBuffer(base._readHostObject.call(this));
  }
}

/** `v8.deserialize`, through `OwnBufferDeserializer`. */
function deserialize(bytes: Uint8Array): unknown {
  const reader = new OwnBufferDeserializer(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  );
  reader.readHeader();
  return reader.readValue();
}

/**
 * The value in bytes the structured codec wrote; `withClasses` when its schema listed classes (an
 * envelope is there). Throws when a class is no longer registered, naming it.
 */
export function decodeStructured(bytes: Uint8Array, withClasses: boolean): unknown {
  const payload = deserialize(bytes);
  if (!withClasses) return payload;
  const envelope = payload as ClassEnvelope;
  const protos = envelope.classes.map((id) => {
    if (id === NULL_PROTOTYPE) return null;
    const cls = classById(id);
    if (!cls)
      throw new Error(
        `the stored value holds ${classNameOf(id)} instances (class ${id}), and no loaded module exports that class: ` +
          `it was renamed, moved or removed since the value was stored (run the task that stores it again), or the pipeline was loaded without Cellar's bundle (see registerClass)`,
      );
    return cls.prototype as object;
  });
  envelope.instances.forEach((obj, i) =>
    Object.setPrototypeOf(obj, protos[envelope.of[i]!] ?? null),
  );
  return envelope.value;
}
