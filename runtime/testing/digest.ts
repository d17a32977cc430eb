// Digests of outputs too big for a fixture file (a trained model), or that are not data at all (a
// model object, a class instance: digested as what their model format saves): the fixture keeps a sha-256 of
// the output's canonical encoding and of each of its parts (an object's keys, an array's items),
// so a replay still fails on any change and says which part changed. Exact, unlike the value
// comparison: no float tolerance, so meant for deterministic values (a seeded model).
import { createHash } from 'node:crypto';
import { printTagged, toTagged, type OutputDigest } from './fixture.js';
import { savedFormOf } from '../codecs/model.js';

const sha = (value: unknown, path: string) =>
  createHash('sha256')
    .update(printTagged(hashable(value, path)))
    .digest('hex');

/** The tagged encoding, or for a value a fixture cannot record as data but a model format or a
 *  project class claims (a trained model, a class instance), the data that format saves.
 *  @throws CellarError E_FIXTURE_VALUE when neither applies. */
function hashable(value: unknown, path: string): unknown {
  try {
    return toTagged(value, path);
  } catch (error) {
    const form = savedFormOf(value);
    if (!form) throw error;
    return toTagged(form, path);
  }
}

/** Can `value` only be kept as a digest (a model or class instance, not plain data)? */
export function needsDigest(value: unknown): boolean {
  try {
    toTagged(value);
    return false;
  } catch {
    return savedFormOf(value) !== undefined;
  }
}

/** The digest of one output: of the whole value, and of each own key or item one level down. */
export function digestOf(value: unknown, output: string): OutputDigest {
  const parts: Record<string, string> = {};
  if (Array.isArray(value)) value.forEach((v, i) => (parts[`[${i}]`] = sha(v, `${output}[${i}]`)));
  else if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  )
    for (const [k, v] of Object.entries(value)) parts[`.${k}`] = sha(v, `${output}.${k}`);
  return { sha256: sha(value, output), parts };
}

/** Where `actual` differs from the recorded digests: one line per changed part (at most 20). */
export function compareDigests(
  actual: Record<string, unknown>,
  digests: Record<string, OutputDigest>,
): string[] {
  const found: string[] = [];
  for (const [output, want] of Object.entries(digests)) {
    if (!Object.hasOwn(actual, output)) {
      found.push(`output '${output}': missing`);
      continue;
    }
    const got = digestOf(actual[output], output);
    if (got.sha256 === want.sha256) continue;
    const changed = Object.keys({ ...want.parts, ...got.parts }).filter(
      (p) => want.parts[p] !== got.parts[p],
    );
    if (changed.length === 0)
      found.push(
        `output '${output}': digest ${got.sha256.slice(0, 12)}, recorded ${want.sha256.slice(0, 12)}`,
      );
    for (const p of changed.slice(0, 20 - found.length))
      found.push(
        `output '${output}' at ${p}: ${!want.parts[p] ? 'not recorded' : !got.parts[p] ? 'missing' : `digest ${got.parts[p]!.slice(0, 12)}, recorded ${want.parts[p]!.slice(0, 12)}`}`,
      );
  }
  return found;
}
