// The codec registry: how a task output becomes bytes in the store and back (gokart's file
// processors). A codec is chosen by name (`outputs: { x: { codec: 'csv' } }`, from `//| output`)
// or, with 'auto' / no codec, by the value: bytes → binary, string → text, a table (array of flat
// records, or an object of equal-length columns) → Arrow IPC, a model object → model, anything
// else → JSON, or the structured codec (node:v8) for what JSON cannot hold (structured.ts). Each codec's id and version enter the cache key (hash.ts), so changing how a codec
// writes re-runs what it wrote instead of misreading old files.
//
// Codecs touch no files: they map values to bytes. Heavy libraries (apache-arrow) load lazily, so
// a warm run that decodes nothing never pays for them.
import type { OutputSpec } from '../task.js';
import type { OutputSchema } from '../types.js';
import type { Codec } from './codec.js';
import { binaryCodec, csvCodec, jsonCodec, loneSurrogate, textCodec } from './basic.js';
import { modelCodec, isModelLike } from './model.js';
import { tableCodec, isTableLike } from './table.js';
import { refusalText, structuredCodec, valueNeeds } from './structured.js';

export type { Codec, Encoded } from './codec.js';

const registry = new Map<string, Codec>();

let autoKey: string | undefined;

/**
 * Adds (or replaces, by `id`) a codec that outputs can name (`outputs: { x: { codec: 'parquet' } }`
 * or `//| output: x=parquet`). Register before the graph is built: an output naming an unknown
 * codec is `E_UNKNOWN_CODEC`. The codec's `id` and `version` enter the cache key of every output
 * it writes, so bump `version` when the bytes change.
 */
export function registerCodec(codec: Codec): void {
  registry.set(codec.id, codec);
  autoKey = undefined;
}

for (const c of [
  jsonCodec,
  textCodec,
  binaryCodec,
  csvCodec,
  tableCodec,
  modelCodec,
  structuredCodec,
])
  registerCodec(c);

export function getCodec(id: string): Codec {
  const codec = registry.get(id);
  if (!codec)
    throw new Error(`unknown codec '${id}' (known: ${[...registry.keys()].sort().join(', ')})`);
  return codec;
}

export function hasCodec(id: string): boolean {
  return id === 'auto' || registry.has(id);
}

/** Every codec a task may name (`auto` and the registered ids), sorted. */
export function codecIds(): string[] {
  return ['auto', ...registry.keys()].sort();
}

/** What enters the cache key for an output: `id@version`, or for 'auto' every codec auto may pick. */
/**
 * The version of 'auto''s choice rules (`pickCodec`), in its key with the codecs' versions: a
 * value a new rule stores another way must not be served as the old way stored it. 2: records
 * whose key orders differ go to JSON, not a table (a table gave them back in column order). 3: an
 * array with named properties (d3-dsv's `columns`) goes to structured (JSON and a table dropped them).
 */
const AUTO_RULES = 3;

export function codecKey(spec: OutputSpec): string {
  const id = spec.codec ?? 'auto';
  if (id !== 'auto') return `${id}@${getCodec(id).version}`;
  if (autoKey !== undefined) return autoKey; // once per registry state, not once per output
  const claiming = [...registry.values()]
    .filter((c) => c.claims)
    .map((c) => c.id)
    .sort();
  autoKey ??= `auto${AUTO_RULES}(${[...claiming, 'binary', 'text', 'table', 'model', 'json', 'structured'].map((i) => `${i}@${getCodec(i).version}`).join(',')})`;
  return autoKey;
}

/**
 * The codec for a value: the named one, or the first that fits for 'auto'. Under 'auto', data
 * JSON would change (a Map, Set, Date, BigInt, typed array, NaN…) goes to the structured codec,
 * and a class instance no codec keeps is refused (throws, naming `output` and the class).
 */
export function pickCodec(value: unknown, spec: OutputSpec, output = 'value'): Codec {
  const id = spec.codec ?? 'auto';
  if (id !== 'auto') return getCodec(id);
  for (const c of registry.values()) if (c.claims?.(value)) return c;
  if (value instanceof Uint8Array) return getCodec('binary');
  // A lone surrogate does not survive UTF-8; JSON escapes it (`"\\ud800"`) and keeps it.
  if (typeof value === 'string') return getCodec(loneSurrogate(value) ? 'json' : 'text');
  if (isTableLike(value)) return getCodec('table');
  if (spec.save || isModelLike(value)) return getCodec('model');
  const needs = valueNeeds(value);
  if (needs.kind === 'refused') throw new Error(refusalText(needs, output));
  return getCodec(needs.kind);
}
