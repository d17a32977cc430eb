// Edit a file behind the back of a stat check: the cache trusts a file whose size and mtime are
// unchanged only while its bytes are too, and tests prove the bytes are still looked at.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

/**
 * Edit `file` replacing `from` by `to` (same length), then put its mtime back from a saved copy
 * (`cp -p` + `touch -r`, as archives and Nix stores do): size and mtime are as before, to the
 * nanosecond, only the bytes (and ctime) moved. The saved copy is removed, so no listing of the
 * folder sees it.
 */
export function editKeepingMtimeAndSize(file: string, from: string, to: string): void {
  expect(to.length).toBe(from.length);
  const saved = `${file}.saved`;
  execFileSync('cp', ['-p', file, saved]);
  const text = readFileSync(file, 'utf8');
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
  execFileSync('touch', ['-r', saved, file]);
  const [before, after] = [statSync(saved, { bigint: true }), statSync(file, { bigint: true })];
  rmSync(saved);
  expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
}
