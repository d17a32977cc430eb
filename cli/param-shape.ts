// Pure. The shape a JSON param's value must keep: that of its default (the params cell's literal).
// `cellar run --param` checks a hand-written pipeline's params by it, and `cellar exec -p` /
// `cellar run` check a notebook's by it when the declared type names a type the params cell does
// not declare (an interface from a setup cell), so that TypeScript cannot check it alone.

const kindOf = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : `a ${typeof v}`;

/**
 * Where `value` leaves the shape of `example` (a JSON param's default): a different kind (number,
 * string, boolean, array, object) at the top, for an element of a non-empty array whose elements
 * share one kind, or for a field the example has (a field missing too); extra fields and `null`
 * defaults are not constrained. `path` names the place (`opts.tags[1]`).
 */
export function shapeMismatch(
  value: unknown,
  example: unknown,
  path: string,
): { expected: string; got: string } | undefined {
  if (example === null || example === undefined) return undefined;
  const got = (v: unknown) => `${JSON.stringify(v) ?? String(v)}`;
  if (kindOf(value) !== kindOf(example))
    return { expected: `${path} to be ${kindOf(example)}`, got: got(value) };
  if (Array.isArray(example)) {
    const kinds = new Set(example.map(kindOf));
    if (kinds.size !== 1) return undefined;
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) {
      const wrong = shapeMismatch(items[i], example[0], `${path}[${i}]`);
      if (wrong) return wrong;
    }
    return undefined;
  }
  if (typeof example === 'object') {
    const fields = value as Record<string, unknown>;
    for (const [key, sample] of Object.entries(example as Record<string, unknown>)) {
      if (!Object.hasOwn(fields, key))
        return {
          expected: `${path}.${key} (${kindOf(sample)})`,
          got: 'nothing (the field is missing)',
        };
      const wrong = shapeMismatch(fields[key], sample, `${path}.${key}`);
      if (wrong) return wrong;
    }
  }
  return undefined;
}
