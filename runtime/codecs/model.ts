// Model objects: stored through save/load functions, so a trained model comes back as a model
// (with its methods), not as a bag of JSON.
//
// The functions come from, in order: the output spec (`outputs: { model: { codec: 'model', save,
// load } }`), a registered model format whose `matches` accepts the value (ml-random-forest is
// built in), or the value's own `toJSON` (loaded back as plain data: say so in the schema). The
// file is one JSON envelope `{format, encoding, data}`; binary saves are base64 inside it, which
// keeps a model one file even when its library writes several parts.
import type { Codec } from './codec.js';
import type { OutputSpec } from '../task.js';

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

export function isModelLike(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  // A Date has toJSON too, but stored that way it would come back a string: structured keeps it.
  if (value instanceof Date) return false;
  if (formats.some((f) => f.matches(value))) return true;
  const proto = Object.getPrototypeOf(value);
  return (
    proto !== Object.prototype &&
    proto !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  );
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export const modelCodec: Codec = {
  id: 'model',
  version: 1,
  ext: 'model.json',
  async encode(value, spec: OutputSpec) {
    const format = spec.save
      ? { name: 'custom', save: spec.save }
      : (formats.find((f) => f.matches(value)) ?? {
          name: 'toJSON',
          save: (v: { toJSON(): unknown }) => v.toJSON(),
        });
    if (
      format.name === 'toJSON' &&
      typeof (value as { toJSON?: unknown } | null)?.toJSON !== 'function'
    ) {
      // Not a raw `v.toJSON is not a function`: say which value, and the ways to store it.
      const cls = className(value) ?? (value === null ? 'null' : typeof value);
      throw new Error(
        `the model codec has no way to save ${cls === 'Object' ? 'plain data' : `a ${cls} instance`}: ` +
          `register one with registerModelFormat({ name, matches, save, load }) (from 'cellar', e.g. in the setup cell), ` +
          `give the output save/load functions (outputs: { x: { codec: 'model', save, load } }), give the class a toJSON(), or store plain data with another codec`,
      );
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
    const envelope = JSON.parse(fromUtf8.decode(bytes)) as {
      format: string;
      encoding: string;
      data: unknown;
    };
    const saved =
      envelope.encoding === 'base64'
        ? new Uint8Array(Buffer.from(envelope.data as string, 'base64'))
        : envelope.data;
    if (spec.load) return spec.load(saved);
    const format = formats.find((f) => f.name === envelope.format);
    return format ? format.load(saved) : saved;
  },
};
