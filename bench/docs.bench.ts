// Docs-site benchmark: `cellar docs` (TypeDoc 0.28 with the Cellar plugin) on the example
// notebooks after a real penguins run, and on synthetic pipelines of 1,000 and 10,000 tasks
// (a markdown cell and a code cell per task, each task reading one to three earlier tasks, so
// lineage neighbourhoods and fan-outs are realistic). Wall times are the real CLI process, spawn
// to exit, so they include Node's start and TypeScript's load. The synthetic notebooks are
// compiled first (untimed: the compiler has its own bench), so the docs build hits the compile
// cache. The 10k build skips the TypeScript API pages (`--no-api`): converting 10,000 generated
// modules through the type checker is the one part whose cost is TypeScript's, not the site's;
// the 1k rows show both.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DocsReport } from '../cli/docs/build.js';
import type { BenchRow, BenchSection } from './types.js';

const repo = join(import.meta.dirname, '..');
const cli = join(repo, 'bin', 'cellar.mjs');
const dir = join(repo, 'bench', '.tmp', 'docs');

/** A notebook of `tasks` tasks; task i reads up to three of the ten tasks before it. */
export function syntheticNotebook(tasks: number): string {
  const cells: { cell_type: string; source: string }[] = [];
  cells.push({
    cell_type: 'markdown',
    source: `# Synthetic pipeline of ${tasks} tasks\n\nA generated notebook for the docs-site benchmark.`,
  });
  cells.push({ cell_type: 'code', source: '//| params\nconst scale = 2;\nconst offset = 0.5;' });
  for (let i = 0; i < tasks; i++) {
    const ups =
      i === 0
        ? []
        : [
            ...new Set([
              i - 1,
              i - 1 - ((i * 7) % Math.min(i, 10)),
              i - 1 - ((i * 3) % Math.min(i, 10)),
            ]),
          ]
            .filter((u) => u >= 0)
            .sort((a, b) => a - b);
    const expr = ups.length ? ups.map((u) => `v${u}.total`).join(' + ') : 'offset';
    cells.push({
      cell_type: 'markdown',
      source: `## Step ${i}\n\nWhy step ${i} exists: it combines ${ups.length ? ups.map((u) => `step ${u}`).join(', ') : 'the params'} into column \`total${i}\`.`,
    });
    cells.push({
      cell_type: 'code',
      source: `//| task: step${i}\nconst v${i} = { total: (${expr}) * scale, rows: [{ id: ${i}, total${i}: 1 }] };`,
    });
  }
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c, i) => ({
      ...c,
      id: `c${i}`,
      metadata: {},
      ...(c.cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
    })),
  });
}

/** What `cellar docs --json` prints (cli/docs/build.ts). */
type Report = DocsReport;

function cellar(cwd: string, args: string[]): { ms: number; stdout: string; rssMb: number } {
  const start = performance.now();
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', '%M', process.execPath, '--max-old-space-size=8192', cli, ...args],
    { cwd, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`cellar ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  const rss = Number(/(\d+)\s*$/.exec(r.stderr.trim())?.[1] ?? 0) / 1024;
  return { ms, stdout: r.stdout, rssMb: Math.round(rss * 10) / 10 };
}

const kb = (b: number) => Math.round((b / 1024) * 10) / 10;

function rows(
  label: string,
  run: { ms: number; stdout: string; rssMb: number },
  aimMs?: number,
): BenchRow[] {
  const r = JSON.parse(run.stdout) as Report;
  return [
    {
      name: `${label}: docs build (wall, process)`,
      value: Math.round(run.ms),
      unit: 'ms',
      ...(aimMs ? { aim: `< ${aimMs} ms`, met: run.ms < aimMs } : {}),
    },
    {
      name: `${label}: CPU time of the build (user + system, in process; steadier than wall on a shared machine)`,
      value: r.timings.cpuMs,
      unit: 'ms',
    },
    {
      name: `${label}: of which collect / lineage SVGs / TypeDoc (wall)`,
      value: r.timings.collectMs,
      unit: `ms / ${r.timings.lineageMs} ms / ${r.timings.typedocMs} ms`,
    },
    { name: `${label}: pages`, value: r.pages, unit: 'pages' },
    {
      name: `${label}: largest page (${r.largestPage.path})`,
      value: kb(r.largestPage.bytes),
      unit: 'KB',
      aim: '< 500 KB',
      met: r.largestPage.bytes < 500 * 1024,
    },
    {
      name: `${label}: shared navigation / search index (loaded once; search on first use)`,
      value: kb(r.assets.navigation),
      unit: `KB / ${kb(r.assets.search)} KB`,
    },
    { name: `${label}: peak RSS`, value: run.rssMb, unit: 'MB' },
  ];
}

export default async function bench(): Promise<BenchSection> {
  // Sites and workspaces are rebuilt from scratch; a synthetic project's compile cache is kept
  // when its notebook is unchanged (compiling is untimed here and has its own bench).
  mkdirSync(dir, { recursive: true });
  for (const old of ['examples-site', 'examples-workspace'])
    rmSync(join(dir, old), { recursive: true, force: true });
  const out: BenchRow[] = [];

  // The examples, after a real penguins run (flights stays unrun: its pages say "not run yet").
  const ws = join(dir, 'examples-workspace');
  cellar(repo, ['run', 'notebooks/penguins.ipynb', '--workspace', ws]);
  out.push(
    ...rows(
      'examples (2 pipelines, 10 tasks, with API)',
      cellar(repo, [
        'docs',
        'notebooks/',
        '--out',
        join(dir, 'examples-site'),
        '--workspace',
        ws,
        '--json',
      ]),
      60_000,
    ),
  );

  for (const n of [1000, 10_000]) {
    const project = join(dir, `synthetic-${n}`);
    mkdirSync(join(project, 'notebooks'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      '{ "name": "docs-bench", "private": true, "type": "module" }\n',
    );
    for (const old of ['site', 'site-api', 'ws'])
      rmSync(join(project, old), { recursive: true, force: true });
    writeFileSync(join(project, 'notebooks', `synthetic${n}.ipynb`), syntheticNotebook(n));
    cellar(project, ['compile', 'notebooks/']);
    const common = ['docs', 'notebooks/', '--workspace', join(project, 'ws'), '--json'];
    if (n === 1000)
      out.push(
        ...rows(
          `synthetic ${n} tasks, with API`,
          cellar(project, [...common, '--out', join(project, 'site-api')]),
        ),
      );
    out.push(
      ...rows(
        `synthetic ${n} tasks, --no-api`,
        cellar(project, [...common, '--no-api', '--out', join(project, 'site')]),
      ),
    );
  }
  return {
    title: 'Docs site (`cellar docs`, TypeDoc 0.28 + Cellar plugin)',
    measuredAt: new Date().toISOString().slice(0, 10),
    notes:
      'Wall time of the real `cellar docs --json` process (spawn to exit) and the stages it reports. Examples: notebooks/ after a real penguins run. Synthetic: one notebook of N tasks (markdown + code cell each, 1–3 upstream tasks), compiled first, never run (every page says "not run yet"). The 10k build uses `--no-api` (no TypeScript conversion of 10,000 generated modules). Largest page is the biggest HTML file; navigation and the search index are shared assets, and the index is fetched on first use of the search box.',
    rows: out,
  };
}
