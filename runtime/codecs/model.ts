// Model objects: stored through save/load functions, so a trained model comes back as a model
// (with its methods), not as a bag of JSON.
//
// The functions come from, in order: the output spec (`outputs: { model: { codec: 'model', save,
// load } }`), a registered model format whose `matches` accepts the value (ml-random-forest is
// built in), or, for an instance of one of the project's own exported classes (classes.ts), its
// fields stored by the structured codec and the instance rebuilt on read (format `cellar/class`).
// Anything else is refused with the ways out: a package's class needs a registered format. A
// `toJSON` alone is not a way: the value would come back as plain data, its methods gone. The file
// is one JSON envelope `{format, encoding, data}`; binary saves are base64 inside it, which keeps a
// model one file even when its library writes several parts. (Files written with the old
// `toJSON` format still read back, as the plain data they hold.)
import type { Codec } from './codec.js';
import type { OutputSpec } from '../task.js';
import { classIdOf } from './classes.js';
import { decodeStructured, structuredCodec } from './structured.js';
import { decodeUtf8 } from './utf8.js';

export interface ModelFormat {
  name: string;
  matches(value: unknown): boolean;
  save(value: any): unknown | Promise<unknown>;
  load(saved: any): unknown | Promise<unknown>;
}

const formats: ModelFormat[] = [];

/**
 * Teaches the `model` codec a model library's save/load pair (e.g. an ml-random-forest class), so
 * outputs holding such objects are stored and decoded back into instances. Formats are tried in
 * registration order; the format's name is stored with the output.
 */
export function registerModelFormat(format: ModelFormat): void {
  const i = formats.findIndex((f) => f.name === format.name);
  if (i >= 0) formats[i] = format;
  else formats.push(format);
}

const className = (v: unknown) =>
  v && typeof v === 'object' ? (v as object).constructor?.name : undefined;

// ml-random-forest: `toJSON()` then `Class.load(json)`; the class is imported only when loading.
for (const cls of ['RandomForestClassifier', 'RandomForestRegression']) {
  registerModelFormat({
    name: `ml-random-forest/${cls}`,
    matches: (v) =>
      className(v) === cls && typeof (v as { toJSON?: unknown }).toJSON === 'function',
    save: (v) => v.toJSON(),
    load: async (saved) => {
      const mod = (await import('ml-random-forest' as string)) as Record<
        string,
        { load(json: unknown): unknown }
      >;
      return mod[cls]!.load(saved);
    },
  });
}

/** Does a registered model format claim `value` (so 'auto' stores it with the model codec)? */
export function isModelLike(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  return formats.some((f) => f.matches(value));
}

/** The format that stores an instance of a project class: its fields, by the structured codec. */
const CLASS_FORMAT = 'cellar/class';

const utf8 = new TextEncoder();

/** The id of the registered project class `value` is a direct instance of, or undefined. */
function classInstanceId(value: unknown): string | undefined {
  const proto = value && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  const id = classIdOf(proto?.constructor);
  return id !== undefined && proto.constructor.prototype === proto ? id : undefined;
}

export const modelCodec: Codec = {
  id: 'model',
  version: 1,
  ext: 'model.json',
  async encode(value, spec: OutputSpec) {
    const format: { name: string; save(v: unknown): unknown } | undefined = spec.save
      ? { name: 'custom', save: spec.save }
      : (formats.find((f) => f.matches(value)) ??
        (classInstanceId(value) !== undefined
          ? { name: CLASS_FORMAT, save: (v) => structuredCodec.encode(v, spec) }
          : undefined));
    if (!format) {
      // Not a raw `v.toJSON is not a function`: say which value, and the ways to store it.
      const cls = className(value) ?? (value === null ? 'null' : typeof value);
      throw new Error(
        `the model codec has no way to save ${cls === 'Object' ? 'plain data' : `a ${cls} instance`}: ` +
          `register one with registerModelFormat({ name, matches, save, load }) (from 'cellar', e.g. in the setup cell), ` +
          `give the output save/load functions (outputs: { x: { codec: 'model', save, load } }), ` +
          `export the class from the setup cell or a module of the project if it is your own, or store plain data with another codec`,
      );
    }
    if (format.name === CLASS_FORMAT) {
      // Refusals (private fields, a function inside) come from the structured walk, as under 'auto'.
      const { bytes } = (await format.save(value)) as { bytes: Uint8Array };
      const envelope = {
        format: CLASS_FORMAT,
        encoding: 'base64',
        data: Buffer.from(bytes).toString('base64'),
      };
      return {
        bytes: utf8.encode(JSON.stringify(envelope)),
        schema: { kind: 'model', format: CLASS_FORMAT },
      };
    }
    const saved = await format.save(value as never);
    const binary = saved instanceof Uint8Array;
    const envelope = {
      format: format.name,
      encoding: binary ? 'base64' : 'json',
      data: binary ? Buffer.from(saved).toString('base64') : saved,
    };
    return {
      bytes: utf8.encode(JSON.stringify(envelope)),
      schema: { kind: 'model', format: format.name },
    };
  },
  async decode(bytes, spec: OutputSpec) {
    const envelope = JSON.parse(decodeUtf8(bytes)) as {
      format: string;
      encoding: string;
      data: unknown;
    };
    const saved =
      envelope.encoding === 'base64'
        ? new Uint8Array(Buffer.from(envelope.data as string, 'base64'))
        : envelope.data;
    if (spec.load) return spec.load(saved);
    if (envelope.format === CLASS_FORMAT) return decodeStructured(saved as Uint8Array, true);
    const format = formats.find((f) => f.name === envelope.format);
    return format ? format.load(saved) : saved;
  },
};

/**
 * What `value` is stored as when a model format claims it, for exact comparisons outside the store
 * (fixture digests, runtime/testing/digest.ts): `{ format, saved }` with the format's name and the
 * data its `save` returns; for an instance of a registered project class, `cellar/class:<id>` and
 * its own fields. Undefined when nothing claims the value or the format's `save` is asynchronous.
 */
export function savedFormOf(value: unknown): { format: string; saved: unknown } | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const format = formats.find((f) => f.matches(value));
  if (format) {
    const saved = format.save(value);
    if (saved instanceof Promise) return undefined;
    // As the model codec writes it: bytes as they are, anything else as JSON text would hold it
    // (a library's toJSON may return objects whose parts have their own toJSON).
    return {
      format: format.name,
      saved: saved instanceof Uint8Array ? saved : JSON.parse(JSON.stringify(saved ?? null)),
    };
  }
  const id = classInstanceId(value);
  return id ? { format: `${CLASS_FORMAT}:${id}`, saved: { ...value } } : undefined;
}
