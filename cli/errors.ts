// Exit codes and the one error type commands throw for a clear, stack-free message.
import type { RuntimeCode } from '../runtime/codes.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: RuntimeCode,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}
