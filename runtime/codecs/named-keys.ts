// Pure. Which properties of an array are not its elements: one rule for storing values
// (structured.ts, table.ts) and for comparing them (cli/exec/compare.ts).

/**
 * An array's own enumerable properties that are not elements (`columns` on d3-dsv's parse
 * result), in insertion order; empty for a plain list. `Object.keys` lists an array's indices
 * first, ascending, then its named keys, so the last key tells whether there are any.
 */
export function namedArrayKeys(list: readonly unknown[]): string[] {
  const keys = Object.keys(list);
  const last = keys[keys.length - 1];
  if (last === undefined || isArrayIndex(last)) return [];
  return keys.filter((k) => !isArrayIndex(k));
}

const isArrayIndex = (key: string): boolean =>
  /^(?:0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1;
