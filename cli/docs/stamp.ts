// Whether a docs build would write what `<out>` already holds. The site is a pure function of the
// collected model (notebooks, plans, run facts), the modules TypeDoc documents and the project
// files they import, Cellar's docs code and TypeDoc's version: a build from the same ones is
// byte-identical (build.ts). So a stamp of those, written last into `<out>`, lets the next build
// skip Graphviz and TypeDoc (most of its time) when nothing changed, as long as the files the
// stamp lists are still there at their sizes (a page deleted or edited by hand is built again).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

interface Stamp {
  inputs: string;
  /** Every file of the site, out-relative (forward slashes) → size in bytes. */
  files: Record<string, number>;
}

/**
 * A digest (64 hex) of everything the site is built from.
 * @param entryPoints absolute paths of the modules TypeDoc documents: their contents, and those
 *   of the project files they import, are hashed.
 */
export function docsInputs(site: DocsSite, entryPoints: readonly string[], api: boolean): string {
  const parts: string[] = [JSON.stringify(site), `api=${api}`, `typedoc=${typedocVersion()}`];
  for (const file of localSources(entryPoints))
    parts.push(file, existsSync(file) ? sha256(readFileSync(file)) : 'none');
  // Cellar's own code (templates, plugin): a changed Cellar renders another site. Built, its
  // build id says which; from source (tests), the docs code itself.
  const build = cellarBuildId();
  if (build) parts.push(`cellar=${build}`);
  else {
    const here = dirname(fileURLToPath(import.meta.url));
    for (const name of readdirSync(here).sort())
      if (/\.(ts|js|mjs)$/.test(name)) parts.push(name, sha256(readFileSync(join(here, name))));
  }
  return sha256(parts.join('\n'));
}

/**
 * The documented modules and every project file they import, by relative specifier, type-only
 * imports included (a lib/ type a module imports shows in its API page), sorted. Packages are left
 * out: their types move with their versions, which move the modules' cache keys in the model.
 */
function localSources(entryPoints: readonly string[]): string[] {
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
      const found = resolveRelative(resolve(dirname(file), fileName));
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

function typedocVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('typedoc/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** True when `out` holds the site built from `inputs`, every file of it in place at its size. */
export function siteIsCurrent(out: string, inputs: string): boolean {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(readFileSync(join(out, STAMP_FILE), 'utf8')) as Stamp;
  } catch {
    return false;
  }
  if (stamp.inputs !== inputs || !stamp.files['index.html']) return false;
  for (const [file, bytes] of Object.entries(stamp.files)) {
    const s = statSync(join(out, file), { throwIfNoEntry: false });
    if (!s || s.size !== bytes) return false;
  }
  return true;
}

/** Record that `out` now holds the site built from `inputs` (after the build, atomically). */
export function writeStamp(out: string, inputs: string): void {
  const files: Record<string, number> = {};
  const list = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) list(path);
      else if (e.isFile() && e.name !== STAMP_FILE)
        files[relative(out, path).split(sep).join('/')] = statSync(path).size;
    }
  };
  if (existsSync(out)) list(out);
  atomicWriteSync(join(out, STAMP_FILE), JSON.stringify({ inputs, files } satisfies Stamp));
}
