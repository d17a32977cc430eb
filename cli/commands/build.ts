// `cellar build <notebook|pipeline> [--out dir]` and `cellar build <…> --function <task>`:
// see cli/build/build.ts for what a build holds and why.
import { basename, dirname, join, relative, resolve } from 'node:path';
import { buildFunction, buildPipeline } from '../build/build.js';
import { defineCommand, type CommandInput } from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { resolvePipelineFile } from '../pipeline-args.js';

const USAGE = `usage: cellar build <notebook.ipynb|pipeline.ts|folder> [--out <dir>] [--function <task>]

Bundle a compiled pipeline for a machine with only Node: copy <dir> there, run
\`npm ci --omit=dev\` in it, then \`node <dir>/run.mjs [task...] [--param k=v] [--workspace dir] [--workdir dir]\`
(the options of \`cellar run\`; --workdir is where the data the notebook read now lives).

  --out DIR         where to write (default dist/<pipeline>/, or dist/functions/ with --function);
                    a pipeline build replaces the folder, so one holding other files is refused
  --function TASK   write one self-contained ESM file exporting the task's function and the
                    notebook's setup helpers, for online serving (no Cellar needed to import it)
  --no-lockfile     skip resolving package-lock.json (then use \`npm install\`, not \`npm ci\`)`;

const OPTIONS = {
  out: { type: 'string' },
  function: { type: 'string' },
  'no-lockfile': { type: 'boolean', default: false },
} as const;

export const run = defineCommand({ usage: USAGE, options: OPTIONS, run: build });

async function build({ values, positionals }: CommandInput<typeof OPTIONS>): Promise<number> {
  if (positionals.length !== 1)
    throw new CliError(`give one notebook or pipeline to build\n\n${USAGE}`, 'E_USAGE');
  const file = await resolvePipelineFile(positionals[0]);
  const name = basename(dirname(file));
  if (values.function) {
    const out = resolve(values.out ?? join('dist', 'functions'));
    const result = await buildFunction(file, values.function, out);
    console.log(
      `✓ task ${values.function} → ${relative(process.cwd(), join(result.outDir, result.files[0]!))}`,
    );
    return EXIT.ok;
  }
  const out = resolve(values.out ?? join('dist', name));
  const result = await buildPipeline(file, out, { lockfile: !values['no-lockfile'] });
  const m = result.manifest!;
  const list = (packages: Record<string, string>) =>
    Object.entries(packages)
      .map(([k, v]) => `${k}@${v}`)
      .join(', ');
  const optional = m.optionalPackages ? list(m.optionalPackages) : '';
  console.log(`✓ pipeline ${m.pipeline} (${m.tasks.length} tasks) → ${relative(process.cwd(), result.outDir) || '.'}/
  packages at run time: ${list(m.packages) || 'none'}${
    optional
      ? `\n  optional, for features a run may use (another warehouse, a store, the executor): ${optional}`
      : ''
  }
  next: copy the folder, \`npm ci --omit=dev\` in it, then \`node run.mjs --help\``);
  return EXIT.ok;
}
