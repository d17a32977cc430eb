// `cellar plan <notebook> [--json]`: the task plan of one notebook — tasks, their params,
// upstream tasks, cells and outputs — without writing anything. `--json` prints one JSON object
// (see compiler/plan/json.ts) for tooling and CI; exit 1 when the notebook has errors.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { formatDiagnostic, hasErrors } from '../../compiler/diagnostics.js';
import { compileFile, projectRoot } from '../../compiler/host.js';
import { planJson, planText } from '../../compiler/plan/json.js';
import { defineCommand } from '../command.js';
import { CliError, EXIT } from '../errors.js';

const USAGE = `usage: cellar plan <notebook.ipynb> [--json]

Print the task plan of a notebook: tasks with their params, upstream tasks, cells and outputs,
and the pipeline params. Cells are numbered from 1, as Jupyter and every Cellar message count
them. --json prints one JSON object (with a \`diagnostics\` list, and exit code 1, when the
notebook has errors); a task's \`cellNumbers\` count from 1 and its \`cellIndexes\` from 0 (the
position in the notebook's \`cells\` list; \`cells\` is the same, kept for existing tools).`;

export const run = defineCommand({
  usage: USAGE,
  options: { json: { type: 'boolean', default: false } },
  run: ({ values, positionals }) => planNotebook(positionals, values.json),
});

async function planNotebook(paths: string[], json: boolean): Promise<number> {
  if (paths.length !== 1)
    throw new CliError(`plan needs exactly one notebook\n\n${USAGE}`, 'E_USAGE');
  const nb = resolve(paths[0]!);
  if (!existsSync(nb)) {
    // Tools get their one JSON object even now; people get the message on stderr.
    if (json)
      console.log(
        JSON.stringify({
          notebook: paths[0],
          tasks: [],
          params: [],
          diagnostics: [
            { severity: 'error', code: 'E_NOT_FOUND', notebook: paths[0], message: 'no such file' },
          ],
        }),
      );
    throw new CliError(`no such file: ${paths[0]}`, 'E_NOT_FOUND');
  }
  if (!nb.endsWith('.ipynb'))
    throw new CliError(
      `plan reads a notebook (.ipynb); ${paths[0]} is not one (for a compiled pipeline: cellar run <pipeline.ts> --dry-run)`,
      'E_USAGE',
    );
  const root = projectRoot(dirname(nb));
  let outcome;
  try {
    outcome = await compileFile(nb, { root, outDir: join(root, 'generated') });
  } catch (error) {
    throw new CliError(
      `cannot read ${paths[0]}: ${error instanceof Error ? error.message : String(error)}`,
      'E_NOT_FOUND',
    );
  }
  for (const d of outcome.diagnostics) console.error(formatDiagnostic(d));
  if (hasErrors(outcome.diagnostics)) {
    // Tools still get one JSON object: no tasks, and the diagnostics as data.
    if (json)
      console.log(
        JSON.stringify({
          notebook: outcome.notebook,
          tasks: [],
          params: [],
          diagnostics: outcome.diagnostics,
        }),
      );
    return EXIT.failure;
  }
  const plan = outcome.plan;
  // Warnings and notes ride along as data when there are any.
  const extra = outcome.diagnostics.length ? { diagnostics: outcome.diagnostics } : {};
  if (json)
    console.log(
      JSON.stringify({
        ...(plan ? planJson(plan) : { notebook: outcome.notebook, tasks: [], params: [] }),
        ...extra,
      }),
    );
  else console.log(plan ? planText(plan) : `${outcome.notebook}: nothing to compile`);
  return EXIT.ok;
}
