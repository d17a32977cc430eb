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
  const more = diagnostics.slice(1).map((d) => `\n  ${d.message} (${d.code})`).join('');
  return new CellarError(`${first.message}${more}`, first.code, [...diagnostics]);
}
