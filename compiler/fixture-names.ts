// Where `cellar fixtures` keeps a task's recorded fixture, and which tasks a folder listing says
// have one. One rule for the compiler (a replay test per fixture: the listing is a compile input),
// the warm-run check that the compile is fresh, and `cellar fixtures` itself.
// Pure: imports nothing; the callers list the folder.

/** The folder, inside generated/<stem>/, holding the fixtures. */
export const FIXTURES_DIR = '__fixtures__';

const SUFFIX = '.fixture.json';

/** A task's fixture file, relative to generated/<stem>/. */
export const fixtureFile = (task: string): string => `${FIXTURES_DIR}/${task}${SUFFIX}`;

/** The task a file name of FIXTURES_DIR records, or undefined for any other file. */
export function fixtureTaskOf(fileName: string): string | undefined {
  return fileName.endsWith(SUFFIX) ? fileName.slice(0, -SUFFIX.length) : undefined;
}

/** The tasks with a fixture in a listing of FIXTURES_DIR, sorted. */
export function fixtureTasksIn(fileNames: readonly string[]): string[] {
  return fileNames
    .map(fixtureTaskOf)
    .filter((t): t is string => t !== undefined)
    .sort();
}
