// A failing task's error leaves the task: into the run summary, the run log
// (`.cellar/workspace/<pipeline>/_runs/*.jsonl`), `--json`, notifications. A task that reads a token
// from the environment and throws `new Error(`auth failed for ${token}`)` would print and store
// the token there. Its error is redacted on the way out of the task (perform.ts): every value of an
// environment variable the task read, by name in its code or as seen while it ran, becomes
// `[redacted: NAME]`, in the message and in the stack alike.
import { thrownMessage } from '../errors.js';

/** Values shorter than this (`1`, `dev`, `yes`) would match ordinary words by chance. */
export const REDACT_MIN_LENGTH = 4;

/**
 * Variables the system sets for every process, whose values are paths, names and settings, never
 * credentials: `os.tmpdir()` reads TMPDIR, so a task returning a scratch path under it was
 * refused as holding a secret, and an error naming a file under $HOME came out as
 * `[redacted: HOME]`. By name: a token stored under one of these names is not one we can guard.
 */
const PLAIN_SYSTEM_VARIABLES = new Set([
  'HOME',
  'HOSTNAME',
  'LANG',
  'LANGUAGE',
  'LOGNAME',
  'OLDPWD',
  'PATH',
  'PWD',
  'SHELL',
  'TEMP',
  'TERM',
  'TMP',
  'TMPDIR',
  'TZ',
  'USER',
  'USERNAME',
  'USERPROFILE',
]);

function isPlainSystemVariable(name: string): boolean {
  return (
    PLAIN_SYSTEM_VARIABLES.has(name) || name.startsWith('LC_') || /^XDG_\w+_(DIR|HOME)$/.test(name)
  );
}

/**
 * The `[value, name]` pairs of the environment variables `names` whose value (as `process.env`
 * holds it now) is at least `minLength` characters long, longest value first (so a value inside
 * another is not cut), leaving out the system's plain variables (`PLAIN_SYSTEM_VARIABLES`).
 * Shared by the error redaction here (REDACT_MIN_LENGTH) and the refusal of an output holding a
 * value in clear (perform.ts, a longer minimum: a refusal stops the task).
 */
export function envSecrets(names: Iterable<string>, minLength: number): [string, string][] {
  const pairs = new Map<string, string>();
  for (const name of names) {
    if (isPlainSystemVariable(name)) continue;
    const value = process.env[name];
    if (value !== undefined && value.length >= minLength && !pairs.has(value))
      pairs.set(value, name);
  }
  return [...pairs].sort((a, b) => b[0].length - a[0].length);
}

function redactText(text: string, secrets: readonly [string, string][]): string {
  let out = text;
  for (const [value, name] of secrets) out = out.split(value).join(`[redacted: ${name}]`);
  return out;
}

/**
 * `error` with every value of the environment variables `names` (as `process.env` holds them now,
 * at least REDACT_MIN_LENGTH characters long) replaced by `[redacted: NAME]`. An Error is
 * redacted in place (message and stack; its class and own fields are kept, so the failure is still
 * located from its stack); a thrown non-Error value holding a value comes back as the redacted text
 * `thrownMessage` gives for it. A value holding none comes back as it is.
 */
export function redactError(error: unknown, names: Iterable<string>): unknown {
  const secrets = envSecrets(names, REDACT_MIN_LENGTH);
  if (secrets.length === 0) return error;
  if (error instanceof Error) {
    const message = redactText(error.message, secrets);
    const stack = error.stack === undefined ? undefined : redactText(error.stack, secrets);
    if (message === error.message && stack === error.stack) return error;
    try {
      error.message = message;
      error.stack = stack;
      return error;
    } catch {
      // a frozen error, or one whose message is a getter: a plain Error with the redacted text
      const copy = new Error(message);
      copy.stack = stack;
      return copy;
    }
  }
  const text = thrownMessage(error);
  const redacted = redactText(text, secrets);
  return redacted === text ? error : redacted;
}
