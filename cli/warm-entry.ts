// dist/warm.js: `cellar run` answered from the warm-run record by one module.
//
// Why an entry of its own: built without code splitting (scripts/build.mjs), this file and all it
// imports are one module, where run.ts's warm path was its command chunk and some twenty shared
// chunks, each resolved, read, compiled and linked by Node's ESM loader in every fresh process
// (docs/design/warm-path.md, stop 30). cli/main.ts asks it first for `run` when running the build
// (bin/cellar.mjs); when the record does not answer, main.ts loads run.ts as before. The two hold
// separate copies of the modules in common; nothing the warm attempt leaves is used by the full
// path (a module-level memo of one is never read by the other).
import { parseArgs } from 'node:util';
import { answerWarm, checkedRequest, RUN_OPTIONS } from './commands/run-warm.js';

/**
 * The exit code of `cellar run <args>` answered from a checked warm-run record, or undefined
 * when it is not (no record, any fact moved, `--help`, options the full command rejects or never
 * shortcuts): the full command runs, and reports usage errors itself. Throws only what printing
 * a warm answer throws, as run.ts would.
 */
export async function runWarm(args: string[], verbose: boolean): Promise<number | undefined> {
  if (args.includes('--help') || args.includes('-h')) return undefined;
  let parsed;
  let checked;
  try {
    parsed = parseArgs({ args, options: RUN_OPTIONS, allowPositionals: true, strict: true });
    checked = checkedRequest(parsed.values, parsed.positionals, verbose);
  } catch {
    return undefined;
  }
  return answerWarm(checked.request, parsed.values, checked.workers);
}
