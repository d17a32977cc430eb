// The runtime's one error type for a pipeline that cannot be built or loaded, or a result that is
// not there. Its own module so that stages (run/, load/) can throw it without importing the
// library face (api.ts), which itself imports most stages.
import type { RuntimeCode } from './codes.js';
import type { RuntimeDiagnostic } from './types.js';

/**
 * A pipeline that cannot be built or loaded, or a stored result that is not there.
 *
 * `code` is one of `RUNTIME_CODES` (e.g. `E_NOT_CACHED`, `E_UNKNOWN_PARAM`,
 * `E_DEPENDENCY_CYCLE`); the message ends with it in parentheses. When the error comes from
 * building the task graph, `diagnostics` holds every problem found, not only the first.
 */
export class CellarError extends Error {
  constructor(
    message: string,
    readonly code: RuntimeCode,
    readonly diagnostics: RuntimeDiagnostic[] = [],
  ) {
    super(`${message} (${code})`);
    this.name = 'CellarError';
  }
}

/**
 * One error for the problems a stage found (e.g. `buildGraph`'s diagnostics): the first gives the
 * message and the code, each further one follows on its own line with its code.
 */
export function diagnosticsError(diagnostics: readonly RuntimeDiagnostic[]): CellarError {
  const first = diagnostics[0]!;
  const more = diagnostics
    .slice(1)
    .map((d) => `\n  ${d.message} (${d.code})`)
    .join('');
  return new CellarError(`${first.message}${more}`, first.code, [...diagnostics]);
}

/**
 * The message of a failure whose thrown value is not an Error (`throw 'text'`, `throw {code: 1}`,
 * a promise rejected with a plain value): a string as it is, anything else described
 * (`non-Error value thrown: { code: 1 }`), never `[object Object]`. Such a value carries no stack,
 * so the CLI finds its `throw` in the task's code instead (cli/failure-location.ts).
 */
export function thrownMessage(value: unknown): string {
  // `Promise.any`'s "All promises were rejected" says nothing of why: the reasons are its errors.
  if (value instanceof AggregateError && Array.isArray(value.errors) && value.errors.length > 0) {
    const shown = value.errors.slice(0, 3).map((e, i) => `[${i + 1}] ${thrownMessage(e)}`);
    const more = value.errors.length > 3 ? `; and ${value.errors.length - 3} more` : '';
    return `${value.message} (${value.errors.length}): ${shown.join('; ')}${more}`;
  }
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return value;
  return `non-Error value thrown: ${describeValue(value)}`;
}

/**
 * The stack that locates a failure in the task's code: the error's own, but for an AggregateError
 * (whose own stack is Node's `Promise.any` internals) the frames of the first of its errors that
 * has a stack, under the aggregate's message. Undefined for a thrown non-Error.
 */
export function locatingStack(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    const inner = (error.errors as unknown[]).find(
      (e): e is Error => e instanceof Error && typeof e.stack === 'string',
    );
    if (inner)
      return `${error.name}: ${thrownMessage(error)}\n${inner.stack!.split('\n').slice(1).join('\n')}`;
  }
  return error.stack;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return String(value);
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    // cyclic or not serializable: fall through
  }
  return Object.prototype.toString.call(value);
}
