// Pure: the grammar of data checks (`//| check: …` directives and `defineChecks(table, [...])`),
// with no imports, so the compiler reads it too (a pure leaf of the runtime, see
// docs/design/architecture.md): a check the runtime cannot parse is a compile-time diagnostic on
// the directive's line, and compile and run can never disagree on what a check is.
//
//   rows >= 1000                               row count compared (>=, >, <=, <, =, ==, !=)
//   columns species:string, body_mass_g:number required columns with logical types
//   not_null species, island                   no NULLs in these columns
//   unique origin, destination                 no duplicate value (tuple) in these columns
//   partition ds = @run_date                   at least one row where ds equals the param
//   partition ds = '2024-01-01'                … or a literal

/** The logical column types a `columns` check may name (warehouse/types.ts LogicalType but
 *  `other`, and `any` for "present, any type"). */
export type CheckColumnType =
  'string' | 'number' | 'boolean' | 'date' | 'timestamp' | 'bytes' | 'array' | 'struct' | 'any';

export type Check =
  | { kind: 'rows'; op: '>=' | '>' | '<=' | '<' | '=' | '!='; value: number; text: string }
  | { kind: 'columns'; columns: { name: string; type: CheckColumnType }[]; text: string }
  | { kind: 'not_null'; columns: string[]; text: string }
  | { kind: 'unique'; columns: string[]; text: string }
  | {
      kind: 'partition';
      column: string;
      value: { param: string } | { literal: string };
      text: string;
    };

export interface CheckParseError {
  code: 'E_CHECK_SYNTAX';
  /** `check "<text>": <reason>`, for a runtime error. */
  message: string;
  /** What is wrong, without the check's text (the compiler's diagnostic names the line). */
  reason: string;
}

/** The forms a check takes, for hints. */
export const CHECK_FORMS =
  '`rows >= N`, `columns a:type, b`, `not_null a, b`, `unique a, b`, `partition col = @param`';

const TYPES = new Set<string>([
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

/** Parse one check as written after `//| check:`; never throws. */
export function parseCheck(text: string): Check | CheckParseError {
  const t = text.trim();
  const fail = (reason: string): CheckParseError => ({
    code: 'E_CHECK_SYNTAX',
    message: `check "${t}": ${reason}`,
    reason,
  });
  let m: RegExpExecArray | null;
  if ((m = /^rows\s*(>=|<=|==|!=|=|>|<)\s*([\d_]+)$/.exec(t))) {
    const op = (m[1] === '==' ? '=' : m[1]) as Extract<Check, { kind: 'rows' }>['op'];
    return { kind: 'rows', op, value: Number(m[2]!.replace(/_/g, '')), text: t };
  }
  if ((m = /^columns\s+(.+)$/.exec(t))) {
    const columns: { name: string; type: CheckColumnType }[] = [];
    for (const part of m[1]!.split(',')) {
      const [name, type = 'any'] = part.split(':').map((s) => s.trim());
      if (!name || !NAME.test(name)) return fail(`"${part.trim()}" is not a column name`);
      if (!TYPES.has(type))
        return fail(`unknown type "${type}" for ${name}; use one of ${[...TYPES].join(', ')}`);
      columns.push({ name, type: type as CheckColumnType });
    }
    return { kind: 'columns', columns, text: t };
  }
  if ((m = /^(not_null|unique)\s+(.+)$/.exec(t))) {
    const columns = m[2]!.split(',').map((s) => s.trim());
    const bad = columns.find((c) => !NAME.test(c));
    if (bad !== undefined) return fail(`"${bad}" is not a column name`);
    return { kind: m[1] as 'not_null' | 'unique', columns, text: t };
  }
  if ((m = /^partition\s+([A-Za-z_]\w*)\s*=\s*(?:@([A-Za-z_]\w*)|'([^']*)')$/.exec(t))) {
    return {
      kind: 'partition',
      column: m[1]!,
      value: m[2] ? { param: m[2] } : { literal: m[3]! },
      text: t,
    };
  }
  if (/^rows\b/.test(t))
    return fail('compares the row count with something that is not a whole number');
  return fail(`is not a check; expected one of: ${CHECK_FORMS}`);
}

export function isParseError(c: Check | CheckParseError): c is CheckParseError {
  return (c as CheckParseError).code === 'E_CHECK_SYNTAX';
}
