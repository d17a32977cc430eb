// Pure. The run-time guard against a task changing a value it received from upstream.
//
// Why: in the notebook every cell shares one value, so a later cell sees what an earlier one
// changed in place; in the pipeline each task decodes its own copy from the store, so the same
// change is seen by no one and the pipeline computes something else than the notebook (`cellar
// verify` says DIFFERS). The compiler refuses the direct forms (compiler/plan/link.ts
// E_MUTATES_UPSTREAM), but no static analysis follows every alias: `const copy = [...nums];
// copy[0].v = 50` (a shallow copy shares the elements), or a setup helper changing its argument.
// So the values a task receives are frozen, deeply, before its code runs: the change throws a
// TypeError at its own line, which `mutationError` turns into E_MUTATES_UPSTREAM naming the value.
//
// Covered: plain objects, arrays, and (their mutating methods refused) Maps, Sets and Dates, at
// any depth. Typed arrays and ArrayBuffers (JavaScript cannot freeze their elements) and arrays
// of numbers holding any non-integer (V8 stores them unboxed; freezing boxes each element and
// slows every read: measured in docs/design/runtime.md, Safety) cannot throw at the change: a
// digest of each is taken before the task runs and checked once it returns (`changedInPlace`), so
// an in-place `xs.sort()` or `f64.fill(0)` is refused after the fact, without its line.
// Not covered: Arrow tables and other class instances (freezing would break their own lazy caches,
// and their methods may change them legitimately), a change made in sloppy-mode code (there a
// frozen object ignores the write instead of throwing; compiled tasks are ES modules, strict).
// Cost: one pass over the decoded value (O(n), once per input per run), below its decoding.
import { CellarError } from '../errors.js';

/** What a refused Map, Set or Date method throws: recognised as an upstream change. */
const REFUSED = 'Cannot change a value received from upstream: ';

/**
 * What freezing cannot guard, kept to be checked once the task returns (`changedInPlace`): an
 * array of doubles or a typed array (or ArrayBuffer, DataView) inside an input, with a digest of
 * its contents. A task that sorts, fills or writes one in place is then refused after the fact,
 * with no line (nothing threw where it changed).
 */
export interface UnfrozenNumbers {
  /** The input it is inside (`ReceivedInput.name`). */
  input: string;
  value: readonly number[] | ArrayBufferView | ArrayBuffer;
  digest: string;
}

/**
 * Freeze `value` deeply (see the header for what is and is not covered). Idempotent; cycles are
 * fine (a frozen object is not entered twice). Returns `value`. `unfrozen`: when given, each
 * array of doubles and typed array met (which freezing leaves writable) is pushed onto it with
 * its digest, under the input name `input`, to be checked by `changedInPlace`.
 */
export function freezeUpstream<T>(value: T, unfrozen?: UnfrozenNumbers[], input = ''): T {
  const seen = unfrozen ? new Set<object>() : undefined;
  const keep = (v: readonly number[] | ArrayBufferView | ArrayBuffer) => {
    if (!unfrozen || seen!.has(v)) return;
    seen!.add(v);
    unfrozen.push({ input, value: v, digest: numbersDigest(v) });
  };
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) continue;
    if (Array.isArray(v)) {
      let doubles = false;
      let others = false;
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        if (typeof e === 'number') {
          if ((e | 0) !== e) doubles = true;
        } else {
          others = true;
          if (e !== null && typeof e === 'object') stack.push(e);
        }
      }
      // An array of numbers V8 keeps unboxed (any not a small integer): freezing it would box
      // every element (1M: ~70 ms) and slow every later read several times. Left writable.
      if (!(doubles && !others)) Object.freeze(v);
      else keep(v as number[]);
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      Object.freeze(v);
      for (const k in v) {
        const e = (v as Record<string, unknown>)[k];
        if (e !== null && typeof e === 'object') stack.push(e);
      }
    } else if (v instanceof Map) {
      refuse(v, ['set', 'delete', 'clear'], 'Map');
      for (const [k, e] of v) stack.push(k, e);
    } else if (v instanceof Set) {
      refuse(v, ['add', 'delete', 'clear'], 'Set');
      for (const e of v) stack.push(e);
    } else if (v instanceof Date) {
      refuse(v, DATE_SETTERS, 'Date');
    } else if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
      keep(v);
    }
    // Anything else (Arrow tables, class instances) is left as it is.
  }
  return value;
}

/**
 * The inputs (names, sorted, each once) holding an array of doubles or a typed array whose
 * contents differ from their digest taken by `freezeUpstream`: changed in place by the task.
 */
export function changedInPlace(unfrozen: readonly UnfrozenNumbers[]): string[] {
  const out = new Set<string>();
  for (const u of unfrozen) if (numbersDigest(u.value) !== u.digest) out.add(u.input);
  return [...out].sort();
}

/**
 * A digest of the numbers (or bytes) `v` holds, and its length: two 32-bit FNV-1a-style lanes
 * over its 32-bit words (bytes when unaligned), enough to tell a change made by mistake (not an
 * adversary's). O(n); an array of doubles is copied into a Float64Array first (so `-0`, `NaN`
 * and `0` differ as bits).
 */
function numbersDigest(v: readonly number[] | ArrayBufferView | ArrayBuffer): string {
  const [buffer, offset, length] =
    v instanceof ArrayBuffer
      ? [v, 0, v.byteLength]
      : ArrayBuffer.isView(v)
        ? [v.buffer, v.byteOffset, v.byteLength]
        : [Float64Array.from(v as number[]).buffer, 0, (v as number[]).length * 8];
  const words =
    offset % 4 === 0 && length % 4 === 0
      ? new Int32Array(buffer, offset, length / 4)
      : new Uint8Array(buffer, offset, length);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ length;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul(b ^ w, 0x5bd1e995) ^ (b >>> 15);
  }
  return `${length}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}`;
}

/**
 * E_MUTATES_UPSTREAM for inputs found changed in place after the task returned
 * (`changedInPlace`): names the task, each input and whose output it is, and the fix.
 */
export function changedInPlaceError(
  task: string,
  names: readonly string[],
  inputs: readonly ReceivedInput[],
): CellarError {
  const named = names.map((n) => {
    const i = inputs.find((x) => x.name === n);
    return i ? `\`${n}\` (output '${i.output}' of task '${i.task}')` : `\`${n}\``;
  });
  return new CellarError(
    `task '${task}' changes a value it received from upstream: ${named.join(', ')} holds an array of numbers or a typed array whose contents changed while the task ran (an in-place \`sort\`, \`reverse\`, \`fill\` or index write, by its code or a helper). ` +
      `In the notebook the cells after it would see the change; in the pipeline each task gets its own copy, so it would compute something else than the notebook. ` +
      `Copy it before changing it: \`const mine = ${names[0]}.slice()\` (or \`structuredClone(${names[0]})\`), or build a new array (\`toSorted()\`, \`map\`).`,
    'E_MUTATES_UPSTREAM',
  );
}

const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((n) => n.startsWith('set'));

/** Shadow `methods` on the instance with ones that throw, then freeze it. */
function refuse(target: object, methods: readonly string[], kind: string): void {
  for (const name of methods)
    Object.defineProperty(target, name, {
      value: () => {
        throw new TypeError(`${REFUSED}${kind}.prototype.${name}`);
      },
    });
  Object.freeze(target);
}

/** The TypeErrors a strict-mode change of a frozen value throws (V8's wording), and ours. */
const FROZEN =
  /^(?:Cannot assign to read only property '([^']*)'|Cannot add property ([^,]+), object is not extensible|Cannot delete property '([^']*)'|Cannot (?:re)?define property:? ?([^,\s]*)|Cannot change a value received from upstream)/;

/** One input a task received: its name in the task, and whose output it is. */
export interface ReceivedInput {
  name: string;
  task: string;
  output: string;
}

/**
 * When `error` is the TypeError of a change to a frozen upstream value (`freezeUpstream`), the
 * CellarError E_MUTATES_UPSTREAM naming the task, the input (and, when it can be told, the path
 * inside it), whose output it is and the fix; keeps the original stack, so the failure is located
 * at the line that changed it (cli/failure-location.ts). Otherwise undefined.
 */
export function mutationError(
  task: string,
  error: unknown,
  inputs: readonly ReceivedInput[],
  values: Readonly<Record<string, unknown>>,
): CellarError | undefined {
  if (!(error instanceof TypeError) || inputs.length === 0) return undefined;
  const m = FROZEN.exec(error.message);
  if (!m) return undefined;
  const prop = m[1] ?? m[3];
  // Which input: the one holding a frozen object with that property, else the only one. Named
  // only when one input holds one (a path only when it is the only one there): never a guess.
  let found: { input: ReceivedInput; path: string } | undefined;
  let ambiguous = false;
  if (prop !== undefined) {
    const holders = inputs
      .map((input) => ({ input, paths: pathsTo(values[input.name], prop, input.name) }))
      .filter((h) => h.paths.length > 0);
    if (holders.length === 1) {
      const [{ input, paths }] = holders as [(typeof holders)[number]];
      found = { input, path: paths.length === 1 ? paths[0]! : input.name };
    } else ambiguous = holders.length > 1;
  }
  if (!found && !ambiguous && inputs.length === 1)
    found = { input: inputs[0]!, path: inputs[0]!.name };
  if (!found && !ambiguous && !error.message.startsWith(REFUSED)) return undefined;
  const named = found
    ? `\`${found.input.name}\` (output '${found.input.output}' of task '${found.input.task}')${found.path !== found.input.name ? `, at ${found.path}` : ''}`
    : `one of its inputs (${inputs.map((i) => `\`${i.name}\``).join(', ')})`;
  const copy = found?.input.name ?? 'input';
  const held = found ? values[copy] : undefined;
  const shallow =
    held instanceof Map || held instanceof Set
      ? ` (\`new ${held instanceof Map ? 'Map' : 'Set'}(${copy})\` shares the members)`
      : Array.isArray(held)
        ? ` (\`[...${copy}]\` shares the elements)`
        : held instanceof Date
          ? ''
          : held !== null &&
              typeof held === 'object' &&
              Object.getPrototypeOf(held) === Object.prototype
            ? ` (\`{ ...${copy} }\` shares the nested values)`
            : '';
  const deep =
    held instanceof Date
      ? `\`const mine = new Date(${copy})\``
      : `\`const mine = structuredClone(${copy})\`${shallow}`;
  const fresh =
    Array.isArray(held) && held.some((x) => x !== null && typeof x === 'object')
      ? ` (\`${copy}.map((x) => ({ ...x, … }))\`)`
      : '';
  const wrapped = new CellarError(
    `task '${task}' changes a value it received from upstream: ${named} (${error.message}). ` +
      `In the notebook the cells after it would see the change; in the pipeline each task gets its own copy, so it would compute something else than the notebook. ` +
      `Copy it deeply before changing it: ${deep}, or build new values${fresh}`,
    'E_MUTATES_UPSTREAM',
  );
  const frames = (error.stack ?? '').split('\n').slice(1).join('\n');
  if (frames) wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${frames}`;
  return wrapped;
}

/** Nodes searched for the changed property: the error path only, bounded. */
const SEARCH_LIMIT = 1_000_000;

/**
 * The paths (`nums[0].v`) to the frozen objects inside `root` owning `prop`, breadth-first, at
 * most two: one is the place; two mean the error's text cannot tell which, so none is named.
 */
function pathsTo(root: unknown, prop: string, name: string): string[] {
  const out: string[] = [];
  const queue: { v: unknown; path: string }[] = [{ v: root, path: name }];
  const seen = new Set<object>();
  for (let i = 0; i < queue.length && i < SEARCH_LIMIT && out.length < 2; i++) {
    const { v, path } = queue[i]!;
    if (v === null || typeof v !== 'object' || seen.has(v) || !Object.isFrozen(v)) continue;
    seen.add(v);
    if (Object.hasOwn(v, prop) && !(v instanceof Map || v instanceof Set || v instanceof Date))
      out.push(Array.isArray(v) ? `${path}[${prop}]` : `${path}.${prop}`);
    if (Array.isArray(v)) v.forEach((e, j) => queue.push({ v: e, path: `${path}[${j}]` }));
    else if (v instanceof Map)
      for (const [k, e] of v) queue.push({ v: e, path: `${path}.get(${String(k)})` });
    else if (!(v instanceof Set))
      for (const k of Object.keys(v))
        queue.push({ v: (v as Record<string, unknown>)[k], path: `${path}.${k}` });
  }
  return out;
}
