// formatByShape: modules → formatted modules, Prettier run once per shape of module.
//
// A big notebook's task modules are mostly one text with other numbers in it (`v12.ts` and
// `v34.ts`: the cell `v12`, `const v_12 = 12 + salt`, `v12Task`), and Prettier formatting each
// was most of a cold compile. Modules that differ only in the digits of some words (a "shape")
// come out of Prettier as the same text with the same words' digits changed, when every word
// Prettier prints back is one it read, in the same order. So one module of each shape is
// formatted, and the others are that output with their own words put back, checked word by word;
// any doubt formats the module itself. Every byte is Prettier's, as before.
//
// Why a word's digits cannot change Prettier's output, given its length (the widths Prettier
// measures stay the same, and only ASCII digits change):
// - A word starting with a letter, `_` or `$` (an identifier, or such a run inside a string or a
//   comment) stays one that starts with it: Prettier keys nothing on an identifier's digits (its
//   name tests, `describe`, `css`, `require`, … have none; quoting an object key asks whether it
//   is an identifier, which it stays). Words of two modules correspond one to one (a bijection,
//   checked), so two names equal in one are equal in the other and a redeclaration the parser
//   rejects in one it rejects in the other.
// - A decimal integer standing alone (`12`, not `012`, `1.5`, `1e5`, `12n`, `0x1f`, `\12` or
//   `\u{12}`), at most 15 digits: Prettier prints it as read, and as a string key it is a
//   "simple number" whichever digits it has (String(Number(k)) === k up to 15 digits).
// - Next to a non-ASCII character a run is part of a longer identifier: left alone.
const WORD = /[A-Za-z0-9_$]+/g;
const NUMBER = /^(?:0|[1-9][0-9]{0,14})$/;

/** A text's words whose digits may differ within a shape: their offsets and texts. */
export interface Shape {
  key: string;
  words: string[];
}

function eligible(text: string, word: string, at: number): boolean {
  const before = at > 0 ? text.charCodeAt(at - 1) : 32;
  const after = at + word.length < text.length ? text.charCodeAt(at + word.length) : 32;
  if (before > 127 || after > 127) return false;
  const first = word.charCodeAt(0);
  if (first < 48 || first > 57) return /[0-9]/.test(word);
  // '.', '\', '{' before; '.' after: a fraction, an escape, a code point.
  return NUMBER.test(word) && before !== 46 && before !== 92 && before !== 123 && after !== 46;
}

export function shapeOf(text: string): Shape {
  const words: string[] = [];
  const offsets: number[] = [];
  const key = text.replace(WORD, (word: string, at: number) => {
    if (!eligible(text, word, at)) return word;
    words.push(word);
    offsets.push(at);
    return word.replace(/[0-9]/g, '0');
  });
  // The offsets too: a word left alone (`00`) can read as one made so (`12` → `00`).
  return { key: `${key}\0${offsets.join(',')}`, words };
}

/** `from`'s words as `to`'s, when each word maps to one word and back; else undefined. */
function renaming(from: readonly string[], to: readonly string[]): Map<string, string> | undefined {
  if (from.length !== to.length) return undefined;
  const forth = new Map<string, string>();
  const back = new Map<string, string>();
  for (let i = 0; i < from.length; i++) {
    const [f, t] = [from[i]!, to[i]!];
    if ((forth.get(f) ?? t) !== t || (back.get(t) ?? f) !== f) return undefined;
    forth.set(f, t);
    back.set(t, f);
  }
  return forth;
}

/**
 * `formatted` (Prettier's output for a module of shape `rep`) with `rep`'s words replaced by
 * `member`'s, or undefined when Prettier's output does not hold `rep`'s words in order (it
 * dropped, added or changed one) or the words do not correspond one to one.
 */
export function reshape(rep: Shape, formatted: string, member: Shape): string | undefined {
  if (!renaming(rep.words, member.words)) return undefined;
  let i = 0;
  let ok = true;
  const out = formatted.replace(WORD, (word: string, at: number) => {
    if (!ok || !eligible(formatted, word, at)) return word;
    if (rep.words[i] !== word) return ((ok = false), word);
    return member.words[i++]!;
  });
  return ok && i === rep.words.length ? out : undefined;
}

/**
 * `member`'s text with its shape words replaced, in order, by the shape words of `formatted`
 * (another module's Prettier output): that module's unformatted text, if it has `member`'s
 * shape, which the caller checks against what it knows of it (a hash). Undefined when the words
 * do not line up.
 */
export function rawOfAlike(
  member: Shape,
  memberText: string,
  formatted: string,
): string | undefined {
  const words: string[] = [];
  formatted.replace(WORD, (word: string, at: number) => {
    if (eligible(formatted, word, at)) words.push(word);
    return word;
  });
  if (words.length !== member.words.length) return undefined;
  let i = 0;
  let ok = true;
  const raw = memberText.replace(WORD, (word: string, at: number) => {
    if (!eligible(memberText, word, at)) return word;
    const other = words[i++]!;
    if (other.length !== word.length) ok = false;
    return other;
  });
  return ok && shapeOf(raw).key === member.key ? raw : undefined;
}

/** An unformatted module and its Prettier output, known already (a recalled module). */
export interface Formatted {
  raw: string;
  formatted: string;
}

/**
 * Format `texts` with `format`, calling it for one text of each shape (and for texts longer than
 * `maxChars`, which are rarely alike and costly to scan), then once more for any text whose
 * shape's output could not be reused. The same strings as `format(texts)`.
 */
export async function formatByShape(
  texts: readonly string[],
  format: (texts: string[]) => Promise<string[]>,
  maxChars: number,
  /** A module formatted already with the shape of `texts[i]`, if one is known. */
  alike?: (i: number, shape: Shape) => Formatted | undefined,
): Promise<string[]> {
  const out = new Array<string>(texts.length);
  const shapes = new Array<Shape | undefined>(texts.length);
  const repOf = new Map<string, number>();
  const first: number[] = [];
  const followers: [index: number, rep: number][] = [];
  let knownCount = 0;
  texts.forEach((text, i) => {
    if (text.length > maxChars) return void first.push(i);
    const shape = (shapes[i] = shapeOf(text));
    const rep = repOf.get(shape.key);
    if (rep !== undefined) return void followers.push([i, rep]);
    const known = alike?.(i, shape);
    if (known) {
      // Outside `texts`: its shape and output stand at an index past their end.
      const at = texts.length + knownCount++;
      shapes[at] = shapeOf(known.raw);
      out[at] = known.formatted;
      repOf.set(shape.key, at);
      followers.push([i, at]);
    } else {
      repOf.set(shape.key, i);
      first.push(i);
    }
  });
  if (first.length)
    (await format(first.map((i) => texts[i]!))).forEach((f, k) => (out[first[k]!] = f));
  const again: number[] = [];
  for (const [i, rep] of followers) {
    const reused = reshape(shapes[rep]!, out[rep]!, shapes[i]!);
    if (reused === undefined) again.push(i);
    else out[i] = reused;
  }
  out.length = shapes.length = texts.length;
  if (again.length)
    (await format(again.map((i) => texts[i]!))).forEach((f, k) => (out[again[k]!] = f));
  return out;
}
