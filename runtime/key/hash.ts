// The cache key. Invariant: **everything a task's output depends on is in the key, and nothing
// else.** That is: the task's name and version, its own params (only those it declares, so a
// changed param re-runs exactly its readers), the keys of its upstream tasks (so a change
// anywhere upstream cascades), the codec id@version of each output, the fingerprint of its code
// (normalised syntax of its module and the local modules it imports, plus the versions of the
// packages they import; see codehash.ts) unless it opted into `cache: 'params'`, and whatever its
// hooks add (e.g. warehouse table snapshots).
//
// A key carries its inputs (`{value, inputs}`, as Nx does), and the inputs are stored beside the
// outputs, so "why did this re-run?" is a diff of two plain objects (`diffKeyInputs`). Hashing is
// over canonical JSON: object keys sorted, no whitespace, so equal inputs give equal keys on any
// machine and in any run.
import * as crypto from 'node:crypto';
import type { CacheKey, KeyChange, KeyInputs } from '../types.js';

/** Hex characters of the sha256 kept in a key: 64 bits names files readably without collisions. */
export const KEY_LENGTH = 16;

// Frozen objects (code fingerprints, shared by every task of a module) are serialised once.
const frozenJson = new WeakMap<object, string>();

/** JSON with object keys sorted at every level; `undefined` members dropped as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && Object.isFrozen(value)) {
    let text = frozenJson.get(value);
    if (text === undefined) {
      text = serialise(value);
      frozenJson.set(value, text);
    }
    return text;
  }
  return serialise(value);
}

function serialise(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    if (typeof value === 'number' && !Number.isFinite(value)) return JSON.stringify(String(value));
    // -0 is not 0 to a task (1 / n, Object.is, a sign in its output): JSON.stringify prints both 0.
    if (Object.is(value, -0)) return '-0';
    return JSON.stringify(value) ?? 'null';
  }
  // Values JSON.stringify would not tell apart from `{}`: a Date param must not collide with another.
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  // A Map or Set (a params cell may declare one) by its entries, tagged so neither equals a plain
  // object or array of the same members.
  if (value instanceof Map) return `{"$map":${serialise([...value])}}`;
  if (value instanceof Set) return `{"$set":${serialise([...value])}}`;
  if (ArrayBuffer.isView(value))
    return serialise(
      Array.from(value as unknown as ArrayLike<number>, (v) =>
        typeof v === 'bigint' ? String(v) : v,
      ),
    );
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 0) return '{}'; // most tasks' params and upstream: no sort, no string building
  if (keys.length > 1) keys.sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

// One-shot `crypto.hash` (Node ≥ 20.12) is several times cheaper than createHash for small inputs.
const oneShot = (
  crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }
).hash;

export function sha256(text: string | Uint8Array): string {
  return oneShot
    ? oneShot('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text).digest('hex');
}

/**
 * The key of `inputs`: the first KEY_LENGTH hex characters of the sha256 of their canonical JSON.
 * `upstreamJson`, when given, is `canonicalJson(inputs.upstream)` already written by the caller
 * (computeKeys, from names it checked are in sorted order); the text hashed is the same.
 */
export function makeKey(inputs: KeyInputs, upstreamJson?: string): CacheKey {
  return { value: sha256(keyInputsJson(inputs, upstreamJson)).slice(0, KEY_LENGTH), inputs };
}

/** KeyInputs' members in canonical (sorted) order, each with its JSON name and colon. */
const KEY_MEMBERS: readonly (readonly [string, string])[] = [
  'cache',
  'code',
  'codecs',
  'env',
  'hooks',
  'paramOrder',
  'params',
  'reads',
  'task',
  'upstream',
  'version',
].map((name) => [name, `${JSON.stringify(name)}:`] as const);
// Own and enumerable, as Object.keys (which canonicalJson walks) counts members.
const isEnumerable = Object.prototype.propertyIsEnumerable;

/**
 * `canonicalJson(inputs)`, byte for byte, without sorting the members of every task's inputs: the
 * members KeyInputs can have are walked in their sorted order. Inputs holding any other own
 * member (or a frozen record, which canonicalJson memoises) go the general way, so the text, and
 * with it every key, is the same either way (hash.test.ts compares the two).
 */
export function keyInputsJson(inputs: KeyInputs, upstreamJson?: string): string {
  if (Object.isFrozen(inputs)) return canonicalJson(inputs);
  const record = inputs as unknown as Record<string, unknown>;
  let out = '{';
  let own = 0;
  for (const [name, prefix] of KEY_MEMBERS) {
    if (!isEnumerable.call(record, name)) continue;
    own++;
    const v = record[name];
    if (v === undefined) continue;
    const text =
      name === 'upstream' && upstreamJson !== undefined ? upstreamJson : canonicalJson(v);
    out += (out.length > 1 ? ',' : '') + prefix + text;
  }
  // A member this list does not know (a field added to KeyInputs and not here): the general way.
  if (own !== Object.keys(record).length) return canonicalJson(inputs);
  return out + '}';
}

/** Leaf-level differences between two key inputs, as dotted paths, sorted. */
export function diffKeyInputs(before: unknown, after: unknown): KeyChange[] {
  const changes: KeyChange[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (isPlainObject(a) && isPlainObject(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
        walk(a[k], b[k], path ? `${path}.${k}` : k);
      return;
    }
    if (canonicalJson(a) !== canonicalJson(b)) changes.push({ path, before: a, after: b });
  };
  walk(before, after, '');
  return changes;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const envMemo = new Map<string, string>();

/** The host facts a task's code may depend on (codehash.ts `envReadIn` names them), keyed in clear. */
export const HOST_TIME_ZONE = '@timeZone';
export const HOST_LOCALE = '@locale';

/**
 * The pseudo-variable a task that listed the whole environment (`Object.keys(process.env)`,
 * `{ ...process.env }`, `for…in`, `JSON.stringify(process.env)`) is keyed on
 * (runtime/run/read-record.ts): one hash over every variable's name and value, so a variable
 * added, removed or changed re-runs it. Never a name of a real variable; never in clear.
 */
export const ENV_LISTING = '@listing';

/**
 * `{NAME: hash}` for the named variables (the key's `env`; keys.ts, and the warm-run record's
 * check), the host facts (`@timeZone`, `@locale`) in clear, and `@listing` (the whole
 * environment, hashed); `*` (a read by computed name) cannot be keyed and is left out.
 */
export function envInputs(names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    if (name === '*') continue;
    if (name === ENV_LISTING) {
      out[name] = environmentHash();
      continue;
    }
    if (name.startsWith('@')) {
      out[name] = hostFact(name); // not a secret: in clear, so --dry-run can say what moved
      continue;
    }
    const value = process.env[name];
    const memoKey = `${name}\0${value === undefined ? '\u0001unset' : value}`;
    let hashed = envMemo.get(memoKey);
    if (hashed === undefined) {
      hashed = value === undefined ? 'unset' : sha256(`cellar-env\0${name}\0${value}`).slice(0, 16);
      envMemo.set(memoKey, hashed);
    }
    out[name] = hashed;
  }
  return out;
}

/** SHA-256 (16 hex) of every environment variable's name and value, in name order. */
function environmentHash(): string {
  const env = process.env;
  const h = crypto.createHash('sha256').update('cellar-env-listing');
  for (const name of Object.keys(env).sort()) h.update(`\0${name}\0${env[name] ?? ''}`);
  return h.digest('hex').slice(0, 16);
}

/**
 * A host fact keyed for code that depends on it (codehash.ts `envReadIn`): the IANA time zone
 * local-time Date methods use (from TZ or /etc/localtime, as ICU resolves it), or the default
 * locale `Intl` and `toLocale…String` use (from LC_ALL / LANG).
 */
function hostFact(name: string): string {
  const resolved = Intl.DateTimeFormat().resolvedOptions();
  if (name === HOST_LOCALE) return resolved.locale;
  // A zone given as a file (`TZ=/usr/share/zoneinfo/Asia/Tokyo`, `TZ=:/etc/localtime`) has no
  // IANA name for Intl to give, yet Date's local-time methods follow it: keyed by what they
  // compute instead, its UTC offsets across the years (undefined dropped the zone from the key,
  // and a run in Tokyo was served New York's hours).
  return resolved.timeZone ?? zoneOffsets();
}

/** `offsets:` + the local zone's UTC offsets (minutes) on 1 Jan and 1 Jul of 1970–2040, hashed. */
function zoneOffsets(): string {
  const tz = process.env.TZ ?? '';
  let v = zoneMemo.get(tz);
  if (v === undefined) {
    const offsets: number[] = [];
    for (let year = 1970; year <= 2040; year++)
      for (const month of [0, 6])
        offsets.push(new Date(Date.UTC(year, month, 1)).getTimezoneOffset());
    zoneMemo.set(tz, (v = `offsets:${sha256(offsets.join(',')).slice(0, 16)}`));
  }
  return v;
}

const zoneMemo = new Map<string, string>();
