// The codec contract, in its own module so that the registry (index.ts) and the codecs it
// registers (basic, model, structured, table) all import it from here, with no import cycle.
import type { OutputSpec } from '../task.js';
import type { OutputSchema } from '../types.js';

/** A value turned into bytes, with the shape `cellar tree` and `cellar show` print. */
export interface Encoded {
  bytes: Uint8Array;
  schema: OutputSchema;
}

export interface Codec {
  id: string;
  /** Bump when the bytes written change: old outputs are then not reused. */
  version: number;
  ext: string;
  encode(value: unknown, spec: OutputSpec): Encoded | Promise<Encoded>;
  decode(bytes: Uint8Array, spec: OutputSpec, schema: OutputSchema): unknown | Promise<unknown>;
  /** For 'auto': does this codec claim the value before the built-in choices? (The warehouse's
   *  table references use it, so downstream tasks get a live handle back, not a plain object.) */
  claims?(value: unknown): boolean;
}
