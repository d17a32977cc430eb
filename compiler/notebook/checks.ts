// The grammar of `//| check:` directives, read at compile time so that a check the runtime cannot
// parse is a diagnostic on the directive's line instead of a failure after the task has run.
//
// The runtime parses the same text when it runs the check (runtime/warehouse/tasks/checks.ts
// `parseCheck`). The compiler may not import the runtime (docs/design/architecture.md), so the
// grammar is stated here once more; test/compiler/check-grammar.test.ts runs both parsers over a
// corpus of checks and requires them to accept and refuse the same ones.

/** The logical column types a `columns` check may name (runtime/warehouse/types.ts LogicalType, and `any`). */
const TYPES = new Set([
  'string',
  'number',
  'boolean',
  'date',
  'timestamp',
  'bytes',
  'array',
  'struct',
  'any',
]);
const NAME = /^[A-Za-z_][\w]*$/;

/** The forms a check takes, for hints. */
export const CHECK_FORMS =
  '`rows >= N`, `columns a:type, b`, `not_null a, b`, `unique a, b`, `partition col = @param`';

/** Why the runtime would refuse this check text, or undefined when it parses. */
export function checkSyntaxError(text: string): string | undefined {
  const t = text.trim();
  let m: RegExpExecArray | null;
  if (/^rows\s*(>=|<=|==|!=|=|>|<)\s*([\d_]+)$/.test(t)) return undefined;
  if ((m = /^columns\s+(.+)$/.exec(t))) {
    for (const part of m[1]!.split(',')) {
      const [name, type = 'any'] = part.split(':').map((s) => s.trim());
      if (!name || !NAME.test(name)) return `"${part.trim()}" is not a column name`;
      if (!TYPES.has(type))
        return `unknown type "${type}" for ${name}; use one of ${[...TYPES].join(', ')}`;
    }
    return undefined;
  }
  if ((m = /^(not_null|unique)\s+(.+)$/.exec(t))) {
    const bad = m[2]!
      .split(',')
      .map((s) => s.trim())
      .find((c) => !NAME.test(c));
    return bad === undefined ? undefined : `"${bad}" is not a column name`;
  }
  if (/^partition\s+([A-Za-z_]\w*)\s*=\s*(?:@([A-Za-z_]\w*)|'([^']*)')$/.test(t)) return undefined;
  if (/^rows\b/.test(t))
    return `"${t}" compares the row count with something that is not a whole number`;
  return `"${t}" is not a check`;
}
