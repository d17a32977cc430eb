// `cellar fixtures <notebook|pipeline> [task...]`: record replay fixtures from the last successful
// run (cli/fixtures/record.ts), then compile again so each task with a fixture gets its replay test.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { findProjectRoot } from '../../runtime/project.js';
import { defineCommand, type CommandInput } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { DEFAULT_FIXTURE_OPTIONS, recordFixtures } from '../fixtures/record.js';
import { openForInspection } from '../pipeline-args.js';

const USAGE = `usage: cellar fixtures <notebook.ipynb|pipeline.ts> [task...] [options]

Record replay fixtures from the last successful run (default params): each task's inputs, tables
sampled to a few seeded rows, and the outputs of running the task on them, into
generated/<notebook>/__fixtures__/<task>.fixture.json. Compiling then emits a replay test per task.
Run it again after an intended change; twice in a row gives the same bytes.

  --rows N           rows kept per input table at most (default ${DEFAULT_FIXTURE_OPTIONS.rowLimit})
  --budget BYTES     bytes per task's fixture file at most (default ${DEFAULT_FIXTURE_OPTIONS.byteBudget})
  --workspace DIR    where the run's outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)`;

const OPTIONS = {
  rows: { type: 'string' },
  budget: { type: 'string' },
  workspace: { type: 'string' },
} as const;

export const run = defineCommand({ usage: USAGE, options: OPTIONS, run: fixtures });

const positiveInt = (text: string | undefined, name: string, fallback: number): number => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`--${name} needs a whole number above 0, got '${text}'`, 'E_USAGE');
  return n;
};

async function fixtures({ values, positionals }: CommandInput<typeof OPTIONS>): Promise<number> {
  const options = {
    ...DEFAULT_FIXTURE_OPTIONS,
    rowLimit: positiveInt(values.rows, 'rows', DEFAULT_FIXTURE_OPTIONS.rowLimit),
    byteBudget: positiveInt(values.budget, 'budget', DEFAULT_FIXTURE_OPTIONS.byteBudget),
  };
  const { prepared } = await openForInspection(
    { values: { param: [], workspace: values.workspace }, positionals },
    { usage: USAGE, required: [], reasons: false },
  );
  const pipelineFile = prepared.options.pipelineFile!;
  const outcomes = await recordFixtures(
    prepared,
    dirname(pipelineFile),
    positionals.slice(1),
    options,
  );
  for (const o of outcomes) {
    if (o.status === 'skipped') console.log(`  -  ${o.task}: no fixture, ${o.reason}`);
    else {
      const rows = Object.entries(o.inputs)
        .map(([k, s]) => `${k} ${s.kept}/${s.rows} rows`)
        .join(', ');
      console.log(
        `  ${o.status === 'written' ? '✓' : '='}  ${o.task}: ${relative(process.cwd(), o.file)} (${o.bytes} bytes${rows ? `; ${rows}` : ''})${o.status === 'unchanged' ? ', unchanged' : ''}`,
      );
    }
  }
  // The replay tests follow the fixtures: compile the notebook the pipeline came from (the
  // compiler lists __fixtures__/, so this emits, refreshes or removes replay tests).
  const source = /^\s*source: '([^']+\.ipynb)',$/m.exec(readFileSync(pipelineFile, 'utf8'))?.[1];
  if (source) {
    const { ensureCompiled } = await import('./compile.js');
    await ensureCompiled(join(findProjectRoot(dirname(pipelineFile)), source));
  }
  return EXIT.ok;
}
