// From a line of a generated module back to the notebook cell it came from.
//
// A task that throws reports a stack frame in generated/<notebook>/<task>.ts; the user wrote the
// code in a notebook cell. Every cell's code in a module is preceded by a `// notebook cell `id``
// line (`// notebook cell N` in a notebook without ids; emit/module.ts `cellLabel`), so the
// nearest such line above the failing line names the cell exactly. The generated code is the
// cell's code reformatted by Prettier (a long chain split over six lines, a one-line `if {…}`
// over three), so the line within the cell is not counted from the marker but found by aligning
// the tokens of the generated cell code with the tokens of the cell as written (`lineInCell`):
// Prettier moves tokens between lines, it does not change them. Pure: the caller (the CLI's
// error report) reads the files and parses the stack frame.

export interface NotebookPosition {
  /** 1-based cell number as compiled, when the label gives one (a notebook without cell ids). */
  cell?: number;
  cellId?: string;
  /**
   * 1-based line within the cell's code as compiled: the `//|` directive lines at the top of the
   * cell are not counted (diagnostics count them), and Prettier may have re-wrapped lines above.
   * Good for "near line N"; the cell is exact.
   */
  codeLine: number;
}

/** `export const trainTask = defineTask({` (the local name of defineTask may be renamed). */
const TASK_RECORD = /^export const [\w$]+ = [\w$]+\(\{$/;

/** `// notebook cell `load`` or `// notebook cell 8`; modules compiled before ids were labels
 *  say `// notebook cell 8 (id load)`. */
const MARKER = /^\s*\/\/ notebook cell (?:`([^`]+)`|(\d+)(?: \(id ([^)]+)\))?)\s*$/;

/**
 * The cell (and line in it) that `line` (1-based) of a generated module's text came from, or
 * undefined when the line is not inside a cell's code (imports, the task record).
 */
export function locateInNotebook(
  generatedText: string,
  line: number,
): NotebookPosition | undefined {
  const lines = generatedText.split('\n');
  const marker = markerAbove(lines, line);
  if (!marker) return undefined;
  const position: NotebookPosition = { codeLine: line - 1 - marker.index };
  if (marker.match[2]) position.cell = Number(marker.match[2]);
  const id = marker.match[1] ?? marker.match[3];
  if (id) position.cellId = id;
  return position;
}

/** The cell marker above `line` (1-based) of a module's `lines`, its 0-based index and match. */
function markerAbove(
  lines: string[],
  line: number,
): { index: number; match: RegExpExecArray } | undefined {
  if (line < 1 || line > lines.length) return undefined;
  for (let i = line - 1; i >= 0; i--) {
    const text = lines[i]!;
    const m = MARKER.exec(text);
    if (m) return i === line - 1 ? undefined : { index: i, match: m }; // not the marker itself
    // Reached imports or the task record without meeting a marker: not cell code. (Other
    // `export` lines are cell code in setup.ts, whose helpers are exported declarations.)
    if (/^import /.test(text) || TASK_RECORD.test(text)) return undefined;
  }
  return undefined;
}

/**
 * Token-by-token alignments larger than this (generated tokens × cell tokens) are not tried: a
 * 4,000-token cell against itself. The caller then falls back to counting from the marker.
 */
const MAX_ALIGNMENT = 16_000_000;

/**
 * The 1-based line, in `cellText` (the cell as the notebook holds it, `//|` lines included), of
 * the code at `line`:`column` (1-based, as a stack frame gives them) of the generated module
 * `generatedText`; undefined when the position is not in cell code or the cell's tokens do not
 * line up with the generated ones (the notebook changed past recognition since the compile).
 *
 * The generated cell code (from its marker to the next marker or the task record) and the cell
 * are both cut into tokens with TypeScript's scanner and aligned by a longest common subsequence.
 * Tokens Prettier adds or drops (`;` `,` `(` `)`) and the emitter's own (`export`, the hoisted
 * imports, the task's `return {…}`) are left out or simply stay unmatched; a string literal is
 * compared by its value (Prettier changes its quotes). The failing token maps to its partner, or
 * when it has none to the next matched token after it (else the last one before).
 */
export function lineInCell(
  ts: typeof import('typescript'),
  generatedText: string,
  line: number,
  column: number,
  cellText: string,
): number | undefined {
  const lines = generatedText.split('\n');
  const marker = markerAbove(lines, line);
  if (!marker) return undefined;
  let end = marker.index + 1;
  while (end < lines.length && !MARKER.test(lines[end]!) && !TASK_RECORD.test(lines[end]!)) end++;
  const region = lines.slice(marker.index + 1, end);
  let offset = Math.max(0, column - 1);
  for (let i = marker.index + 1; i < line - 1; i++) offset += lines[i]!.length + 1;
  const regionText = region.join('\n');
  // The last region's alignment, reused: a caller asking for every line of a cell in turn
  // (cli/failure-location.ts `builtLineFacts`, at build time) aligns the cell once, not per line.
  let aligned = lastAlignment;
  if (!aligned || aligned.regionText !== regionText || aligned.cellText !== cellText) {
    const generated = tokens(ts, regionText);
    const written = tokens(ts, cellText);
    const fits =
      generated.length > 0 &&
      written.length > 0 &&
      generated.length * written.length <= MAX_ALIGNMENT;
    aligned = lastAlignment = {
      regionText,
      cellText,
      generated,
      written,
      partner: fits ? align(generated, written) : undefined,
    };
  }
  const { generated, written, partner } = aligned;
  if (!partner) return undefined;
  let at = generated.findIndex((t) => t.end > offset);
  if (at < 0) at = generated.length - 1;
  let pick: number | undefined;
  for (let i = at; i < generated.length && pick === undefined; i++) pick = partner[i];
  for (let i = at - 1; i >= 0 && pick === undefined; i--) pick = partner[i];
  if (pick === undefined) return undefined;
  const before = cellText.slice(0, written[pick]!.start);
  return before.split(/\r\n?|\n/).length;
}

let lastAlignment:
  | {
      regionText: string;
      cellText: string;
      generated: Token[];
      written: Token[];
      partner: (number | undefined)[] | undefined;
    }
  | undefined;

interface Token {
  key: string;
  start: number;
  end: number;
}

function tokens(ts: typeof import('typescript'), text: string): Token[] {
  const K = ts.SyntaxKind;
  const skipped = new Set([
    K.CommaToken,
    K.SemicolonToken,
    K.OpenParenToken,
    K.CloseParenToken,
    K.NewLineTrivia,
    K.WhitespaceTrivia,
  ]);
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const out: Token[] = [];
  // Per `${` open in a template, the braces opened since: the `}` closing it goes back into the
  // template (as the parser rescans). Scanned on, it opened a template literal running to the
  // next backtick, and the rest of the cell became one token (every later line mislocated).
  const inTemplate: number[] = [];
  for (let kind = scanner.scan(); kind !== K.EndOfFileToken; kind = scanner.scan()) {
    const depth = inTemplate.length - 1;
    if (kind === K.CloseBraceToken && depth >= 0 && inTemplate[depth] === 0) {
      inTemplate.pop();
      kind = scanner.reScanTemplateToken(false);
    } else if (kind === K.OpenBraceToken && depth >= 0) inTemplate[depth]!++;
    else if (kind === K.CloseBraceToken && depth >= 0) inTemplate[depth]!--;
    if (kind === K.TemplateHead || kind === K.TemplateMiddle) inTemplate.push(0);
    if (skipped.has(kind)) continue;
    const key =
      kind === K.StringLiteral || kind === K.NoSubstitutionTemplateLiteral
        ? `"${scanner.getTokenValue()}`
        : scanner.getTokenText();
    out.push({ key, start: scanner.getTokenStart(), end: scanner.getTokenEnd() });
  }
  return out;
}

/** For each token of `a`, the index of its partner in `b` in a longest common subsequence. */
function align(a: Token[], b: Token[]): (number | undefined)[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..], row-major in one array.
  const lcs = new Int32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * (m + 1) + j] =
        a[i]!.key === b[j]!.key
          ? lcs[(i + 1) * (m + 1) + j + 1]! + 1
          : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
  const partner: (number | undefined)[] = new Array<number | undefined>(n);
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i]!.key === b[j]!.key) partner[i++] = j++;
    else if (lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!) i++;
    else j++;
  }
  return partner;
}
