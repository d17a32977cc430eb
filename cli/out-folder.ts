// The folder a command replaces as a whole (`cellar build --out`, `cellar docs --out`): before it
// is emptied, make sure it holds nothing but what an earlier run of the same command wrote.
// A user's `--out mydata` (their results), `--out notebooks` or `--out .` (the project) once
// deleted everything in it without a word; "never lose data" covers the user's own files too.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { CliError } from './errors.js';

export interface OutFolderRule {
  /** The command's words for what it writes there: "a build", "the docs site". */
  what: string;
  /** The option naming the folder, as the user typed it: "--out". */
  option?: string;
  /**
   * Whether `dir` (which exists and is not empty) holds an earlier output of the command: false
   * when it does not, true when it holds nothing else, or the names of what else it holds (a
   * `CNAME` or notes added to an earlier site), which replacing it would delete.
   */
  isOurs: (dir: string) => boolean | string[];
  /** Paths that must survive, each with its words: `{ path: root, what: 'the project' }`. */
  keep: readonly { path: string; what: string }[];
}

/**
 * Throws unless `out` may be emptied and written: it does not exist, or it is an empty folder, or
 * it holds an earlier output of the same command (`rule.isOurs`), and it holds none of the paths
 * in `rule.keep` (nor is it one of them).
 * @throws CliError E_OUT_FOLDER naming the folder and, when it holds someone else's files, up to
 *   three of them.
 */
export function checkOutFolder(out: string, rule: OutFolderRule): void {
  const dir = resolve(out);
  const option = rule.option ?? '--out';
  const shown = relative(process.cwd(), dir) || '.';
  for (const { path, what } of rule.keep) {
    const kept = resolve(path);
    const inside = kept.startsWith(dir.endsWith(sep) ? dir : dir + sep);
    if (kept === dir || inside)
      throw new CliError(
        `${option} ${shown} ${inside ? 'holds' : 'is'} ${what} (${kept}), and ${rule.what} replaces the whole folder: choose a folder of its own (a new or empty one)`,
        'E_OUT_FOLDER',
      );
  }
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory())
    throw new CliError(`${option} ${shown} is a file, not a folder`, 'E_OUT_FOLDER');
  const entries = readdirSync(dir);
  if (entries.length === 0) return;
  const ours = rule.isOurs(dir);
  if (ours === true || (Array.isArray(ours) && ours.length === 0)) return;
  refuseForeign(out, rule, Array.isArray(ours) ? ours : entries);
}

/**
 * Throws E_OUT_FOLDER naming up to three of `foreign` (paths in `out` the command did not
 * write), which replacing the folder would delete.
 */
export function refuseForeign(
  out: string,
  rule: Pick<OutFolderRule, 'what' | 'option'>,
  foreign: readonly string[],
): never {
  const shown = relative(process.cwd(), resolve(out)) || '.';
  const sorted = [...foreign].sort();
  const some = sorted.slice(0, 3).join(', ') + (sorted.length > 3 ? ', …' : '');
  throw new CliError(
    `${rule.option ?? '--out'} ${shown} already holds files Cellar did not write (${some}), and ${rule.what} replaces the whole folder: choose a new or empty folder, or move those files first`,
    'E_OUT_FOLDER',
  );
}
