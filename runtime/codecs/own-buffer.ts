// A typed array or DataView a task receives owns its whole buffer, as the one the upstream task
// built did: `view.buffer.byteLength === view.byteLength` and `view.byteOffset === 0`.
//
// Why: decoders hand out views into memory they share. Node's v8 deserializer makes each typed
// array a view into the bytes it reads (or, unaligned, into Buffer's 8 KB pool), and Arrow's
// `toArray()` a view into the file's bytes. The elements are right, but code reaching through the
// view (`new Float32Array(f32.buffer)`, `dv.buffer.byteLength`, a wasm module given `.buffer`)
// reads the whole file or the pool, unrelated bytes included: another result than the notebook's,
// and bytes of other data shown to the reader. One copy per view costs a memcpy.

/**
 * `view` when it already owns its whole buffer, else a copy of its bytes in a buffer of its own,
 * of the same class (typed array, Node Buffer or DataView).
 */
export function ownBuffer<V extends ArrayBufferView>(view: V): V {
  if (view.byteOffset === 0 && view.buffer.byteLength === view.byteLength) return view;
  const copy = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
  const Ctor = view.constructor as new (buffer: ArrayBufferLike) => V;
  return new Ctor(copy);
}
