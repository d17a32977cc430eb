// `cellar docs [notebooks...] [--out dir]`: build the knowledge site — a page per pipeline and per
// task with its prose, params, lineage, output schemas and statistics from the last run, checks,
// SQL, cache key and run history — as a static folder (default docs/site/), with TypeDoc as the
// engine (cli/docs/). Runs nothing: run facts come from the workspace as `cellar run` left it.
import { join } from 'node:path';
import { projectRoot } from '../../compiler/host.js';
import { buildDocsSite } from '../docs/build.js';
import { EXIT } from '../errors.js';
import { defineCommand, type CommandInput } from '../command.js';

const USAGE = `usage: cellar docs [notebooks...] [options]

Build a static docs site from the notebooks (default notebooks/): home, a page per pipeline and
per task, lineage pictures, search, and run history. Open <out>/index.html from disk or publish
the folder on any static host. A site built from the same notebooks, code and run facts is kept
as it is (the build is byte-identical, so it is skipped).

  --out DIR          where the site goes (default docs/site); replaced by each build, so a
                     folder holding other files is refused
  --workspace DIR    where run facts are read (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --force            build even when the site is up to date (same notebooks, code and run facts)
  --no-api           skip documenting the generated modules' TypeScript API (faster on huge pipelines)
  --json             print the build report as JSON`;

const OPTIONS = {
  out: { type: 'string' },
  workspace: { type: 'string' },
  'no-api': { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

export const run = defineCommand({ usage: USAGE, options: OPTIONS, run: buildDocs });

async function buildDocs({ values, positionals }: CommandInput<typeof OPTIONS>): Promise<number> {
  const root = projectRoot(process.cwd());
  const paths = positionals.length ? positionals : [join(root, 'notebooks')];
  const out = values.out ?? join(root, 'docs', 'site');
  const report = await buildDocsSite({
    paths,
    out,
    workspace: values.workspace,
    api: !values['no-api'],
    force: values.force,
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else if (report.upToDate)
    console.log(
      `docs: up to date (${report.pipelines} pipeline${report.pipelines === 1 ? '' : 's'}, ${report.tasks} task${report.tasks === 1 ? '' : 's'}, ${report.pages} pages; notebooks, code and run facts unchanged since the last build) → ${report.out}/index.html; --force rebuilds`,
    );
  else {
    const kb = (b: number) => `${Math.round(b / 1024)} KB`;
    console.log(
      `docs: ${report.pipelines} pipeline${report.pipelines === 1 ? '' : 's'}, ${report.tasks} task${report.tasks === 1 ? '' : 's'}, ${report.pages} pages in ${(report.timings.totalMs / 1000).toFixed(1)} s → ${report.out}/index.html` +
        `\n      largest page ${report.largestPage.path} (${kb(report.largestPage.bytes)}); navigation ${kb(report.assets.navigation)}, search index ${kb(report.assets.search)} (loaded on first search)`,
    );
  }
  return EXIT.ok;
}
