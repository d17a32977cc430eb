// User text (notebook file names, pipeline, task, param and metric names, param values, error
// messages) placed into the Markdown the site renders: as text, never as markup. A notebook named
// `My <x>&y.ipynb` printed its `<x>` as raw HTML on the home page, and a param value holding a
// backtick closed its code span. Markdown is the right layer to escape in: TypeDoc parses these
// strings as Markdown (raw HTML on), so an HTML-escaped `&lt;` would also be fine, but `*`, `_`
// and `[` would still be read as emphasis and links.

/** `text` as literal Markdown text: every ASCII punctuation character backslash-escaped (CommonMark
 *  allows that for all of them), line breaks as spaces. Safe inside a table cell too (`\|`). */
export function mdText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** `text` as a Markdown code span: fenced by more backticks than it holds in a row, so it cannot
 *  close early; `table`: its pipes escaped, as GFM table cells need even inside code. */
export function mdCode(text: string, table = false): string {
  let body = text.replace(/[\r\n]+/g, ' ');
  if (table) body = body.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = body.startsWith('`') || body.endsWith('`') || body.startsWith(' ') ? ' ' : '';
  return `${fence}${pad}${body}${pad}${fence}`;
}
