// buildDocsSite: notebooks → a static site folder, with TypeDoc 0.28 as the engine.
//
//   collectSite (compiler plans + store facts) → lineage SVGs (Graphviz, build time)
//   → TypeDoc: convert the generated task modules → Cellar plugin reshapes and annotates
//   → TypeDoc's default theme renders HTML, navigation and search → <out>/
//
// The output works from disk or any static host (relative links, no CDN) and is byte-identical
// when rebuilt from the same notebooks and workspace: TypeDoc writes no timestamps, the plugin
// prints only recorded facts in stable orders, and the scratch inputs are rewritten each build.
import { sha256 } from '../../runtime/key/hash.js';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Application, LogLevel, TypeScript as ts } from 'typedoc';
import { projectRoot } from '../../compiler/host.js';
import { CliError, EXIT } from '../errors.js';
import { checkOutFolder, refuseForeign } from '../out-folder.js';
import { sweepStaging, writeStaged } from '../staging.js';
import { collectSite, siteNotebooks } from './collect.js';
import { drawPipeline } from './lineage.js';
import type { DocsSite } from './model.js';
import { LAZY_SEARCH_JS, installCellarPlugin } from './plugin.js';
import { STAMP_FILE, docsInputs, siteIsCurrent, writeStamp, type SiteFiles } from './stamp.js';

export interface DocsOptions {
  /** Notebook files or folders. */
  paths: string[];
  /** Output folder (replaced whole when the build completes). */
  out: string;
  workspace?: string;
  /** Document the generated modules' API through TypeScript (default true; off: pages from the plan alone, much faster at 10k tasks). */
  api?: boolean;
  /** Ask the SQL analyser for columns read (default true). */
  sqlColumns?: boolean;
  /** Build even when `out` holds the site built from the same inputs (stamp.ts). */
  force?: boolean;
}

export interface DocsReport {
  out: string;
  pipelines: number;
  tasks: number;
  pages: number;
  /** The largest HTML page, project-relative to `out`. */
  largestPage: { path: string; bytes: number };
  /** Shared assets loaded once per visit (navigation, search index). */
  assets: { navigation: number; search: number };
  /** True when `out` already held the site these inputs build, and was kept (stamp.ts). */
  upToDate?: boolean;
  /** Wall times per stage, and the process's CPU time (user + system) for the whole build. */
  timings: {
    collectMs: number;
    lineageMs: number;
    typedocMs: number;
    totalMs: number;
    cpuMs: number;
  };
}

export async function buildDocsSite(options: DocsOptions): Promise<DocsReport> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const out = resolve(options.out);
  const notebooks = siteNotebooks(options.paths);
  const root = projectRoot(dirname(notebooks[0]!));
  // The build replaces the folder: never one holding the user's files or the project.
  checkOutFolder(out, {
    what: 'the docs site',
    isOurs: isSiteFolder,
    keep: [
      { path: root, what: 'the project' },
      ...notebooks.map((path) => ({ path, what: 'a notebook' })),
    ],
  });
  // What killed builds of this site left beside it (kill -9: no handler ran), even when this
  // build finds the site up to date.
  sweepStaging(out, (dir) => readdirSync(dir).length === 0 || isSiteFolder(dir));
  // One scratch folder per output folder, so two builds at once do not share inputs.
  const scratch = join(root, '.cellar', 'docs', sha256(out).slice(0, 12));
  const api = options.api !== false;
  const site = await collectSite({
    paths: notebooks,
    workspace: options.workspace,
    scratch,
    api,
    sqlColumns: options.sqlColumns,
  });
  const t1 = performance.now();
  const entryPoints = api
    ? site.pipelines.flatMap((p) =>
        p.modules
          ? [
              p.modules.pipeline,
              ...(p.modules.setup ? [p.modules.setup] : []),
              ...Object.values(p.modules.tasks),
            ]
          : [],
      )
    : [];
  // The same inputs build the same bytes: a site already built from them is kept as it is.
  const inputs = docsInputs(site, entryPoints, api, scratch);
  const kept = options.force ? undefined : siteIsCurrent(out, inputs);
  if (kept) {
    const t = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      ...report(out, site, kept, {
        collectMs: t1 - t0,
        lineageMs: 0,
        typedocMs: 0,
        totalMs: t,
        cpuMs: (cpu.user + cpu.system) / 1000,
      }),
      upToDate: true,
    };
  }
  // Files added to an earlier site (a CNAME, notes) would go with it: refused, named, instead.
  const foreign = foreignSiteFiles(out);
  if (foreign.length > 0) refuseForeign(out, { what: 'the docs site' }, foreign);
  // Built in a staging folder beside `out`, swapped in whole at the end (cli/staging.ts): a build
  // that fails or is interrupted (Ctrl-C once left a site of one marker file) leaves the previous
  // site as it was. The marker goes in first: a staging folder a killed build left is known as the
  // site's, for the next build to remove; the stamp goes in last, vouching only for a whole site.
  return writeStaged(out, async (staging) => {
    writeFileSync(join(staging, SITE_MARKER), SITE_MARKER_TEXT);
    const pictures = new Map<string, Map<string, string>>();
    for (const p of site.pipelines) pictures.set(p.name, await drawPipeline(p));
    const t2 = performance.now();

    writeFileSync(join(scratch, 'lazy-search.js'), LAZY_SEARCH_JS);
    if (entryPoints.length === 0) {
      // TypeDoc needs one entry point; without API docs it is an empty module the plugin drops.
      writeFileSync(join(scratch, 'site.ts'), '/** @module */\nexport {};\n');
      entryPoints.push(join(scratch, 'site.ts'));
    }
    const app = await Application.bootstrap(
      {
        name: site.project,
        entryPoints,
        entryPointStrategy: 'resolve',
        out: staging,
        readme: 'none',
        customJs: join(scratch, 'lazy-search.js'),
        disableSources: true,
        disableGit: true,
        skipErrorChecking: true,
        searchInComments: true,
        searchInDocuments: true,
        githubPages: true, // writes .nojekyll, so GitHub Pages serves the folder as it is
        cleanOutputDir: false, // a fresh staging folder, keeping the site's marker
        excludeExternals: true,
        logLevel: LogLevel.Warn,
        validation: {
          notExported: false,
          invalidLink: false,
          rewrittenLink: false,
          notDocumented: false,
          unusedMergeModuleWith: false,
          // A missing image or linked file: collect.ts warns naming the notebook and cell
          // (TypeDoc's warning named a scratch copy of a generated module, or a Markdown line).
          invalidPath: false,
        },
        treatWarningsAsErrors: false,
        basePath: root,
      },
      [],
    );
    app.options.setCompilerOptions(
      entryPoints,
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ['lib.es2023.d.ts'],
        types: ['node'],
        strict: true,
        skipLibCheck: true,
        esModuleInterop: true,
        resolveJsonModule: true,
        // The API copies stand at generated/'s place under the scratch root (collect.ts): merged
        // with the project root, their relative imports find the project's files.
        rootDirs: [root, scratch],
        noEmit: true,
      },
      undefined,
    );
    installCellarPlugin(app, { site, pictures });
    app.options.setValue('router', 'cellar');
    if (!api) {
      app.converter.on(
        'resolveBegin',
        (context) => {
          for (const child of [...(context.project.children ?? [])])
            if (child.name === 'site') context.project.removeReflection(child);
        },
        2000,
      );
    }
    const project = await app.convert();
    if (!project)
      throw new CliError(
        'TypeDoc could not convert the generated modules (see the messages above)',
        'E_DOCS_BUILD',
        EXIT.failure,
      );
    await app.generateDocs(project, staging);
    if (app.logger.hasErrors())
      throw new CliError(
        'TypeDoc reported errors while building the site (see above)',
        'E_DOCS_BUILD',
        EXIT.failure,
      );
    const files = writeStamp(staging, inputs);
    const t3 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    return report(out, site, files, {
      collectMs: t1 - t0,
      lineageMs: t2 - t1,
      typedocMs: t3 - t2,
      totalMs: t3 - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  });
}

/** A file in every site folder `cellar docs` writes: the folder is the site's to replace. */
const SITE_MARKER = '.cellar-site';
const SITE_MARKER_TEXT =
  'Written by `cellar docs`: this folder is the docs site, emptied and written again by each build.\n';

/**
 * Does `dir` hold a site `cellar docs` wrote? Its marker, its stamp, or (a site built before the
 * marker) TypeDoc's GitHub Pages file beside its assets folder.
 */
function isSiteFolder(dir: string): boolean {
  return (
    existsSync(join(dir, SITE_MARKER)) ||
    existsSync(join(dir, STAMP_FILE)) ||
    (existsSync(join(dir, '.nojekyll')) && existsSync(join(dir, 'assets', 'main.js')))
  );
}

/**
 * The files in `out` (out-relative, forward slashes) that its last complete build did not write,
 * as its stamp lists them; none when there is no stamp (a build stopped halfway: its marker
 * vouches for the folder) or no folder.
 */
function foreignSiteFiles(out: string): string[] {
  let listed: Record<string, unknown>;
  try {
    listed = (JSON.parse(readFileSync(join(out, STAMP_FILE), 'utf8')) as { files: typeof listed })
      .files;
  } catch {
    return [];
  }
  if (!listed || typeof listed !== 'object') return [];
  const foreign: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix + e.name;
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}/`);
      else if (rel !== STAMP_FILE && rel !== SITE_MARKER && !Object.hasOwn(listed, rel))
        foreign.push(rel);
    }
  };
  walk(out, '');
  return foreign;
}

/** The build's figures, from the site's files as the stamp lists them (no second walk). */
function report(
  out: string,
  site: DocsSite,
  files: SiteFiles,
  timings: DocsReport['timings'],
): DocsReport {
  let pages = 0;
  let largest = { path: '', bytes: 0 };
  for (const [path, [bytes]] of Object.entries(files)) {
    if (!path.endsWith('.html')) continue;
    pages++;
    if (bytes > largest.bytes) largest = { path, bytes };
  }
  const size = (f: string) => files[`assets/${f}`]?.[0] ?? 0;
  const round = (x: number) => Math.round(x);
  return {
    out,
    pipelines: site.pipelines.length,
    tasks: site.pipelines.reduce((n, p) => n + p.tasks.length, 0),
    pages,
    largestPage: largest,
    assets: { navigation: size('navigation.js'), search: size('search.js') },
    timings: {
      collectMs: round(timings.collectMs),
      lineageMs: round(timings.lineageMs),
      typedocMs: round(timings.typedocMs),
      totalMs: round(timings.totalMs),
      cpuMs: round(timings.cpuMs),
    },
  };
}
