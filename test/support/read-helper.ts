// A helper module for test/runtime/run-reads.test.ts: a read made by code of a module other than
// the task's own (as a setup helper's), which the recorder attributes to this file.
import { readFileSync } from 'node:fs';

let memo: string | undefined;

/** The text of `path`, read once per process (a memo, as a notebook helper keeps one). */
export function readOnce(path: string): string {
  return (memo ??= readFileSync(path, 'utf8'));
}
