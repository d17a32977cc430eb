// Where `cellar fixtures` keeps a task's recorded fixture, and which tasks a folder listing says
// have one. One rule for the compiler (a replay test per fixture: the listing is a compile input),
// the warm-run check that the compile is fresh, and `cellar fixtures` itself.
// Pure: imports nothing; the callers pass the function that lists the folder.

/** The folder, inside generated/<stem>/, holding the fixtures. */
export const FIXTURES_DIR = '__fixtures__';

const SUFFIX = '.fixture.json';

/** A task's fixture file, relative to generated/<stem>/. */
export const fixtureFile = (task: string): string => `${FIXTURES_DIR}/${task}${SUFFIX}`;

/** The task a file name of FIXTURES_DIR records, or undefined for any other file. */
export function fixtureTaskOf(fileName: string): string | undefined {
  return fileName.endsWith(SUFFIX) ? fileName.slice(0, -SUFFIX.length) : undefined;
}

/**
 * The tasks with a recorded fixture in generated/<stem>/ (`stemDir`), sorted: FIXTURES_DIR listed
 * with `list` (the caller's `readdirSync`, so this file stays pure and the warm path need not load
 * compiler/host.ts); none when the folder is missing or cannot be read.
 */
export function fixtureTasksAt(stemDir: string, list: (dir: string) => string[]): string[] {
  let fileNames: string[];
  try {
    fileNames = list(`${stemDir}/${FIXTURES_DIR}`);
  } catch {
    return [];
  }
  return fileNames
    .map(fixtureTaskOf)
    .filter((t): t is string => t !== undefined)
    .sort();
}
