// UTF-8 bytes back into the string that was stored, exactly. `new TextDecoder()` drops a leading
// U+FEFF (its `ignoreBOM` defaults to false, which treats the first three bytes EF BB BF as a
// byte-order mark): a stored '\uFEFFid,name' came back 'id,name'. A stored value's bytes are
// never a file with a byte-order mark; each of its characters is data.
const keepingBom = new TextDecoder('utf-8', { ignoreBOM: true });

/** The string whose UTF-8 encoding `bytes` is, a leading U+FEFF included. */
export function decodeUtf8(bytes: Uint8Array): string {
  return keepingBom.decode(bytes);
}
