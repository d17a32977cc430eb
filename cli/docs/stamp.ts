// Whether a docs build would write what `<out>` already holds. The site is a pure function of the
// collected model (notebooks, plans, run facts), the modules TypeDoc documents and the project
// files they import, the files its prose links to (images), Cellar's docs code and TypeDoc's
// version: a build from the same ones is byte-identical (build.ts). So a stamp of those, written
// last into `<out>`, lets the next build skip Graphviz and TypeDoc (most of its time) when nothing
// changed, as long as the files the stamp lists are still there as written (size and mtime: a
// page deleted or edited by hand is built again).
// CELLAR_DOCS_STAMP_DEBUG=<file> appends what each build's digest was made of to that file, to
// tell why a build was not skipped.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeScript as ts } from 'typedoc';
import { sha256 } from '../../runtime/key/hash.js';
import { cellarBuildId } from '../../runtime/run/warm-record.js';
import { atomicWriteSync } from '../../runtime/store/local.js';
import type { DocsSite } from './model.js';

/** The stamp's file in the site folder (a dot file: static hosts and the browser ignore it). */
export const STAMP_FILE = '.cellar-docs.json';

/** Every file of a site, out-relative (forward slashes) → [size in bytes, mtime in ms]. */
export type SiteFiles = Record<string, [number, number]>;

interface Stamp {
  inputs: string;
  files: SiteFiles;
}

/**
 * A digest (64 hex) of everything the site is built from.
 * @param entryPoints absolute paths of the modules TypeDoc documents: their contents, and those
 *   of the project files they import, are hashed.
 */
export function docsInputs(
  site: DocsSite,
  entryPoints: readonly string[],
  api: boolean,
  /** The scratch root the API copies stand in, merged with the project root (build.ts `rootDirs`). */
  scratch?: string,
): string {
  // Each pipeline's model serialised once: hashed with the rest, and searched for linked files.
  const pipelineTexts = site.pipelines.map((p) => JSON.stringify(p));
  const parts: string[] = [
    JSON.stringify({ ...site, pipelines: site.pipelines.length }),
    ...pipelineTexts,
    `api=${api}`,
    `typedoc=${typedocVersion()}`,
  ];
  const hashed = (file: string) => {
    const s = statSync(file, { throwIfNoEntry: false });
    parts.push(file, s?.isFile() ? sha256(readFileSync(file)) : 'none');
  };
  for (const file of localSources(entryPoints, scratch ? [scratch, site.root] : undefined))
    hashed(file);
  // Files the prose links to (images: TypeDoc copies them into media/), a pasted attachment's
  // bytes among them (collect.ts writes each to the scratch folder): the model has their paths
  // only, and a chart redrawn under its name is another site.
  site.pipelines.forEach((p, i) => {
    for (const file of linkedFiles(pipelineTexts[i]!, dirname(join(site.root, p.notebook))))
      hashed(file);
  });
  // Cellar's own code (templates, plugin): a changed Cellar renders another site. Built, its
  // build id says which; from source (tests), the docs code itself.
  const build = cellarBuildId();
  if (build) parts.push(`cellar=${build}`);
  else {
    const here = dirname(fileURLToPath(import.meta.url));
    for (const name of readdirSync(here).sort())
      if (/\.(ts|js|mjs)$/.test(name)) parts.push(name, sha256(readFileSync(join(here, name))));
  }
  if (process.env.CELLAR_DOCS_STAMP_DEBUG)
    writeFileSync(process.env.CELLAR_DOCS_STAMP_DEBUG, parts.join('\n'), { flag: 'a' });
  return sha256(parts.join('\n'));
}

/**
 * The documented modules and every project file they import, by relative specifier, type-only
 * imports included (a lib/ type a module imports shows in its API page), sorted. Packages are left
 * out: their types move with their versions, which move the modules' cache keys in the model.
 */
function localSources(
  entryPoints: readonly string[],
  /** `[scratch, root]`: a path under scratch that is not there is looked for under root. */
  merged?: readonly [string, string],
): string[] {
  const seen = new Set<string>();
  const queue = [...entryPoints];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // hashed as missing by the caller
    }
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('./') && !fileName.startsWith('../')) continue;
      const path = resolve(dirname(file), fileName);
      let found = resolveRelative(path);
      if (!found && merged && path.startsWith(merged[0] + sep))
        found = resolveRelative(join(merged[1], relative(merged[0], path)));
      if (found) queue.push(found);
    }
  }
  return [...seen].sort();
}

/** A relative import's file as TypeScript's bundler resolution finds it (`./x.js` → `./x.ts`). */
function resolveRelative(path: string): string | undefined {
  const stem = path.replace(/\.(js|mjs|cjs|jsx)$/, '');
  const candidates = [
    path,
    ...['.ts', '.tsx', '.mts', '.cts', '.d.ts'].map((ext) => stem + ext),
    ...['index.ts', 'index.tsx', 'index.js'].map((f) => join(path, f)),
  ];
  return candidates.find((c) => statSync(c, { throwIfNoEntry: false })?.isFile());
}

/**
 * The local files Markdown or HTML in `text` (the model's prose, as JSON text) links to, resolved
 * from `from` (the notebook's folder, where TypeDoc resolves them), sorted and unique. URLs with
 * a scheme, anchors and absolute paths are not files of the project.
 */
function linkedFiles(text: string, from: string): string[] {
  const out = new Set<string>();
  const targets = [
    ...text.matchAll(/\]\(<?([^)\s>"\\]+)/g),
    ...text.matchAll(/\b(?:src|href)=\\?["']([^"'\\]+)/g),
  ].map((m) => {
    const path = m[1]!.split(/[?#]/)[0]!;
    try {
      return decodeURI(path);
    } catch {
      return path; // a stray `%`: the name as written
    }
  });
  for (const target of targets)
    if (target && !/^[a-z][\w+.-]*:/i.test(target) && !target.startsWith('/'))
      out.add(resolve(from, target));
  return [...out].sort();
}

function typedocVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('typedoc/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The site's files when `out` holds the site built from `inputs`, every file of it in place as
 * written (size and mtime: a page edited by hand, even to the same size, is built again); else
 * undefined. The listing is the one stat'ed just now, so the build's report reads it instead of
 * walking the folder again.
 */
export function siteIsCurrent(out: string, inputs: string): SiteFiles | undefined {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(join(out, STAMP_FILE), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
  if (stamp.inputs !== inputs || !Array.isArray(stamp.files?.['index.html'])) return undefined;
  for (const [file, [bytes, mtime]] of Object.entries(stamp.files)) {
    const s = statSync(join(out, file), { throwIfNoEntry: false });
    if (!s || s.size !== bytes || s.mtimeMs !== mtime) return undefined;
  }
  return stamp.files;
}

/**
 * Record that `out` now holds the site built from `inputs` (after the build, atomically).
 * @returns the site's files as listed for the stamp (one walk of the folder, shared with the report).
 */
export function writeStamp(out: string, inputs: string): SiteFiles {
  const files: SiteFiles = {};
  const list = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) list(path);
      else if (e.isFile() && e.name !== STAMP_FILE) {
        const s = statSync(path);
        files[relative(out, path).split(sep).join('/')] = [s.size, s.mtimeMs];
      }
    }
  };
  if (existsSync(out)) list(out);
  atomicWriteSync(join(out, STAMP_FILE), JSON.stringify({ inputs, files } satisfies Stamp));
  return files;
}
