// formatFiles: EmittedFile[] → the same files formatted by Prettier with fixed options.
//
// Generated code is code a reviewer reads, so it is formatted like hand-written code; fixed
// options and a pinned Prettier make the bytes stable (compile twice → identical output). Prettier
// is imported lazily (it is only needed when something was emitted) and a formatter cache, keyed
// by the unformatted text, lets watch mode and the incremental cache skip unchanged modules.
import type { EmittedFile } from '../types.js';
import { type Formatted, type Shape, formatByShape } from './shapes.js';

export const PRETTIER_OPTIONS = {
  singleQuote: true,
  printWidth: 100,
  trailingComma: 'all',
  semi: true,
  endOfLine: 'lf',
} as const;

export interface FormatCache {
  get(raw: string): string | undefined;
  set(raw: string, formatted: string): void;
}

/** `strict`: babel-ts only, throwing when it rejects the code (for batches: see formatBatch). */
type Format = (code: string, strict?: boolean) => Promise<string>;
let prettier: Promise<Format> | undefined;

/**
 * Prettier's standalone build with only the plugins it needs: the same printer as `prettier`, a
 * fifth of the load time. Modules are parsed with `babel-ts`, which prints the same as the
 * `typescript` parser and parses in half the time (parsing is half of Prettier's cost here); the
 * `typescript` parser is loaded only for code babel rejects, so each text always takes the same
 * path and the output stays deterministic.
 */
async function loadPrettier(): Promise<Format> {
  const [{ format }, babel, estree] = await Promise.all([
    import('prettier/standalone'),
    import('prettier/plugins/babel'),
    import('prettier/plugins/estree'),
  ]);
  return async (code, strict) => {
    try {
      return await format(code, {
        ...PRETTIER_OPTIONS,
        parser: 'babel-ts',
        plugins: [babel, estree],
      });
    } catch (error) {
      if (strict) throw error;
      const typescript = await import('prettier/plugins/typescript');
      return format(code, {
        ...PRETTIER_OPTIONS,
        parser: 'typescript',
        plugins: [typescript, estree],
      });
    }
  };
}

/** The first line of a module Prettier could not format (see formatTypeScript). */
export const UNFORMATTED_NOTE =
  "// Not formatted: Prettier's printer nests a call per level of this code and ran out of stack on its depth. The code is as the compiler emitted it, and valid.";

export async function formatTypeScript(code: string): Promise<string> {
  prettier ??= loadPrettier();
  try {
    return await (
      await prettier
    )(code);
  } catch (error) {
    // Deep but ordinary code (300 nested ifs, a 5,000-term sum) overflows Prettier's recursive
    // printer. The emitted text is valid TypeScript already: keep it, say so in the file, rather
    // than failing a notebook that tsc and tslab accept. Any other Prettier error is a bug.
    if (!(error instanceof RangeError)) throw error;
    return `${UNFORMATTED_NOTE}\n${code.replace(/\n*$/, '\n')}`;
  }
}

/**
 * The comment line that starts each module of a batch: `// @cellar-emitted-file-<n> <index>`,
 * with `n` the first that occurs in none of the batch's texts (a cell's template literal or
 * comment may hold any text at column 0; a marker found inside a module would split it).
 */
function markerFor(texts: readonly string[]): string {
  for (let n = 0; ; n++) {
    const tag = `@cellar-emitted-file-${n} `;
    if (!texts.some((t) => t.includes(tag))) return `// ${tag}`;
  }
}

/**
 * Modules longer than this are formatted alone: they are the ones deep enough to exhaust the
 * stack (a 5,000-term sum), and in a batch one such module would fail the whole call. Few
 * notebooks have one (a 200-cell notebook's pipeline.ts is about 10,000 characters).
 */
const ALONE_CHARS = 20_000;

/** Modules per Prettier call: the cost per module is flat above ~10, the memory is not. */
const BATCH_MODULES = 250;

/**
 * Modules per batch when two threads share the work: small enough that neither thread waits
 * long for the other at the end (a batch of 50 small modules is ~0.1 s), large enough that the
 * per-call cost stays flat.
 */
const SHARED_BATCH_MODULES = 50;

/** Batches the other thread holds at once, so it never waits for this one to hand out more. */
const AHEAD = 2;

/**
 * Below this much text, a second thread costs more (its start, a second Prettier load) than it
 * saves; a 200-cell notebook emits about 60,000 characters, a 5,000-cell one 6,000,000.
 */
const SHARE_CHARS = 500_000;

/**
 * Format several modules in few Prettier calls: Prettier's cost is mostly per call, so a cold
 * compile of 50 modules takes a third of the time. Each module starts with a marker comment line
 * (a leading comment stays on its own line before the next statement), and the result is split
 * back on the markers. Statements are printed independently, so every module comes out exactly as
 * it would alone; the tests check that on the example notebooks. A batch Prettier refuses is
 * halved until the module at fault is formatted alone, so one bad module costs a few calls, not
 * one call per module.
 *
 * With `elsewhere` (another thread), the biggest modules go there first, and when there is much
 * to format the rest is cut into small batches that both threads take from one queue, so they
 * finish together whatever each batch costs (a static half-and-half split left this thread idle
 * for a tenth of a 5,000-cell compile while the other formatted the 5,000-term sum). Where a
 * module is formatted changes no byte of it.
 */
export async function formatBatch(
  texts: string[],
  elsewhere?: FormatElsewhere,
  /** `elsewhere` has Prettier loaded and this thread has not: unless sharing, all go there. */
  allElsewhere = false,
): Promise<string[]> {
  if (!elsewhere) return formatHere(texts);
  const out: string[] = new Array<string>(texts.length);
  const big: number[] = [];
  const small: number[] = [];
  texts.forEach((t, i) => (t.length > ALONE_CHARS ? big : small).push(i));
  const total = texts.reduce((n, t) => n + t.length, 0);
  const share = total >= SHARE_CHARS;
  if (allElsewhere && !share) return texts.length ? elsewhere(texts) : [];
  const send = (indexes: number[]) => {
    const done = elsewhere(indexes.map((i) => texts[i]!)).then((formatted) =>
      formatted.forEach((f, k) => (out[indexes[k]!] = f)),
    );
    done.catch(() => {}); // handled where it is awaited, below; not an unhandled rejection
    return done;
  };
  const batchSize = share ? SHARED_BATCH_MODULES : BATCH_MODULES;
  const queue: number[][] = [];
  for (let k = 0; k < small.length; k += batchSize) queue.push(small.slice(k, k + batchSize));
  // The other thread: the biggest modules first (they need its stack), then batches off the queue.
  const away: Promise<void>[] = [];
  let inFlight = 0;
  const feed = () => {
    while (share && inFlight < AHEAD && queue.length) {
      const batch = queue.pop()!;
      inFlight++;
      const next = send(batch).then(() => (inFlight--, feed()));
      next.catch(() => {});
      away.push(next);
    }
  };
  if (big.length) away.push(send(big));
  feed();
  // This thread: batches from the front of the queue, yielding between them so the other
  // thread's answers are taken (and it is fed more) while there is work left.
  while (queue.length) {
    const batch = queue.shift()!;
    (await formatHere(batch.map((i) => texts[i]!))).forEach((f, k) => (out[batch[k]!] = f));
    if (share) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  // `away` grows while batches come back; wait until every one sent has.
  for (let i = 0; i < away.length; i++) await away[i];
  return out;
}

/**
 * Formats modules as `formatBatch` does on this thread. The host passes one that runs on a
 * thread with a large stack, so the biggest modules never exhaust this thread's stack, and the
 * second core formats while this one does. It may be called several times before the first
 * call's answer arrives.
 */
export type FormatElsewhere = (texts: string[]) => Promise<string[]>;

/** `formatBatch` on this thread: the biggest modules alone, the rest in batches. */
async function formatHere(texts: string[]): Promise<string[]> {
  const out: string[] = new Array<string>(texts.length);
  const batched: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    if (texts[i]!.length > ALONE_CHARS) out[i] = await formatTypeScript(texts[i]!);
    else batched.push(i);
  }
  for (let k = 0; k < batched.length; k += BATCH_MODULES) {
    const chunk = batched.slice(k, k + BATCH_MODULES);
    (await formatJoined(chunk.map((i) => texts[i]!))).forEach((f, j) => (out[chunk[j]!] = f));
  }
  return out;
}

async function formatJoined(texts: string[]): Promise<string[]> {
  if (texts.length <= 1) return Promise.all(texts.map(formatTypeScript));
  const marker = markerFor(texts);
  const joined = texts.map((t, i) => `${marker}${i}\n${t}`).join('\n');
  prettier ??= loadPrettier();
  let formatted: string | undefined;
  try {
    // Strict: a module babel rejects must take the per-module path, exactly as it would alone.
    formatted = await (await prettier)(joined, true);
  } catch {
    formatted = undefined;
  }
  const out: string[] = [];
  if (formatted !== undefined) {
    const parts = formatted.split(new RegExp(`^${marker}(\\d+)\\n`, 'm'));
    // Exactly one part per module, in order: anything else formats the halves apart.
    if (parts.length === 2 * texts.length + 1 && parts[0]!.trim() === '')
      for (let i = 1; i < parts.length; i += 2)
        if (parts[i] === String((i - 1) / 2))
          out[(i - 1) / 2] = parts[i + 1]!.replace(/^\n+/, '').replace(/\n*$/, '\n');
  }
  // (Counted, not `out.some(…)`: `some` skips the holes a missing part leaves.)
  if (formatted === undefined || out.filter((o) => o !== undefined).length !== texts.length) {
    const half = Math.ceil(texts.length / 2);
    return [
      ...(await formatJoined(texts.slice(0, half))),
      ...(await formatJoined(texts.slice(half))),
    ];
  }
  return out;
}

/** Files Prettier formats: modules. A JavaScript notebook's tsconfig.json is emitted formatted. */
export const isModule = (f: EmittedFile): boolean => /\.[jt]s$/.test(f.path);

export async function formatFiles(
  files: EmittedFile[],
  cache?: FormatCache,
  elsewhere?: FormatElsewhere,
  allElsewhere = false,
  /** A module formatted already with `file`'s shape (shapes.ts), when the caller knows one. */
  alike?: (file: EmittedFile, shape: Shape) => Formatted | undefined,
): Promise<EmittedFile[]> {
  const todo = files.filter((f) => isModule(f) && cache?.get(f.contents) === undefined);
  // Modules alike but for their numbers are formatted once (shapes.ts): a big notebook's
  // thousands of task modules are a few shapes.
  const formatted = await formatByShape(
    todo.map((f) => f.contents),
    (texts) => formatBatch(texts, elsewhere, allElsewhere),
    ALONE_CHARS,
    alike && ((i, shape) => alike(todo[i]!, shape)),
  );
  todo.forEach((f, i) => cache?.set(f.contents, formatted[i]!));
  const fresh = new Map(todo.map((f, i) => [f.path, formatted[i]!]));
  return files.map((f) => ({
    path: f.path,
    contents: isModule(f) ? (fresh.get(f.path) ?? cache!.get(f.contents)!) : f.contents,
  }));
}
