// Exit codes and the one error type commands throw for a clear, stack-free message.
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}
