// Code-aware cache keys: the fingerprint of a task's code.
//
// gokart's opt-in `serialized_task_definition_check` hashes only the task class, so an edit to a
// helper module goes unnoticed, while a comment edit re-runs everything. Here a task's code is the
// module that defines it plus the transitive closure of the local modules it imports, each hashed
// after esbuild has normalised it (types stripped, whitespace minified, comments dropped), plus
// the installed version of every package those modules import. So a comment or formatting edit
// keeps the key; a changed expression, a changed helper, or an upgraded package changes it.
//
// Warm runs must stay fast: each file's normalised hash and import list is memoised by
// (mtime, size) in a small JSON file in the workspace, so an unchanged tree costs one stat per
// file and no esbuild call. Type-only imports vanish in normalisation, which is intended: types do
// not change what a task computes.
import { readFileSync, statSync, writeFileSync, existsSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve, extname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBuiltin } from 'node:module';
import { sha256 } from './hash.js';

export interface CodeFingerprint {
  /** Path relative to the task's module → normalised-syntax hash (16 hex). */
  files: Record<string, string>;
  /** Package name → installed version. */
  packages: Record<string, string>;
}

interface FileMemo {
  mtimeMs: number;
  size: number;
  hash: string;
  imports: string[];
}

const MEMO_VERSION = 1;

/**
 * Fingerprints recorded by `cellar build`, by module URL. A built bundle carries no sources to
 * hash, so it registers the fingerprints computed from the sources at build time
 * (cli/build/): the keys of a built run then equal those of a run from the sources.
 */
const recorded = new Map<string, CodeFingerprint>();

/** Register build-time fingerprints (module URL → fingerprint); see `recorded`. */
export function recordFingerprints(entries: Record<string, CodeFingerprint>): void {
  for (const [url, fp] of Object.entries(entries)) recorded.set(url, Object.freeze({ files: Object.freeze({ ...fp.files }), packages: Object.freeze({ ...fp.packages }) }));
}

/** The scheme of module URLs inside a built bundle (`cellar-build:generated/x/task.ts`). */
export const BUILT_MODULE_SCHEME = 'cellar-build:';

/** Strip tsx's `?tsx-namespace=…` (and any other query) and turn a module URL into a path. */
const paths = new Map<string, string>();

export function modulePath(moduleUrl: string): string {
  let path = paths.get(moduleUrl);
  if (path === undefined) {
    const clean = moduleUrl.replace(/[?#].*$/, '');
    path = clean.startsWith('file:') ? fileURLToPath(clean) : clean;
    paths.set(moduleUrl, path);
  }
  return path;
}

export class CodeHasher {
  private memo: Record<string, FileMemo> = {};
  private dirty = false;
  private readonly fingerprints = new Map<string, Promise<CodeFingerprint>>();
  private readonly done = new Map<string, CodeFingerprint>();
  private readonly versions = new Map<string, string>();

  /** `memoFile`: where per-file hashes persist between runs (omit for an in-memory hasher). */
  constructor(private readonly memoFile?: string) {
    if (memoFile && existsSync(memoFile)) {
      try {
        const data = JSON.parse(readFileSync(memoFile, 'utf8'));
        if (data.version === MEMO_VERSION) this.memo = data.files;
      } catch {
        // A damaged memo only costs re-hashing.
      }
    }
  }

  /** Fingerprint of the module at `moduleUrl` and everything local it imports. */
  fingerprint(moduleUrl: string): Promise<CodeFingerprint> {
    const built = recorded.get(moduleUrl);
    if (built) {
      this.done.set(moduleUrl, built);
      return Promise.resolve(built);
    }
    if (moduleUrl.startsWith(BUILT_MODULE_SCHEME)) {
      return Promise.reject(new Error(`no recorded code fingerprint for ${moduleUrl}: the build's manifest.json does not match its bundle (rebuild with \`cellar build\`)`));
    }
    const path = modulePath(moduleUrl);
    let result = this.fingerprints.get(path);
    if (!result) {
      result = this.compute(path).then((fp) => {
        this.done.set(moduleUrl, fp);
        return fp;
      });
      this.fingerprints.set(path, result);
    }
    return result;
  }

  /** The fingerprint if already computed (no await: a module's 1000 tasks share one). */
  computed(moduleUrl: string): CodeFingerprint | undefined {
    return this.done.get(moduleUrl) ?? recorded.get(moduleUrl);
  }

  /** Persist the memo if anything changed (atomically: a torn memo would only cost time, but still). */
  save(): void {
    if (!this.memoFile || !this.dirty) return;
    mkdirSync(dirname(this.memoFile), { recursive: true });
    const tmp = `${this.memoFile}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ version: MEMO_VERSION, files: this.memo }));
    renameSync(tmp, this.memoFile);
    this.dirty = false;
  }

  private async compute(entry: string): Promise<CodeFingerprint> {
    // Paths relative to the task's own module: a project moved or checked out elsewhere keeps
    // its keys (and its cache).
    const base = dirname(entry);
    const files: Record<string, string> = {};
    const packages: Record<string, string> = {};
    const queue = [entry];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const info = await this.analyse(file);
      files[relative(base, file).split(sep).join('/')] = info.hash;
      for (const spec of info.imports) {
        if (spec.startsWith('.') || spec.startsWith('/')) {
          const target = resolveLocal(dirname(file), spec);
          if (target) queue.push(target);
        } else if (!spec.startsWith('node:') && !isBuiltin(spec)) {
          const name = packageName(spec);
          packages[name] = this.packageVersion(dirname(file), name);
        }
      }
    }
    // Frozen: shared by every task of the module, and serialised once (hash.ts).
    return Object.freeze({ files: Object.freeze(sortObject(files)), packages: Object.freeze(sortObject(packages)) });
  }

  private async analyse(file: string): Promise<FileMemo> {
    const st = statSync(file);
    const cached = this.memo[file];
    if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached;
    const source = readFileSync(file, 'utf8');
    const { normalised, imports } = await normalise(source, file);
    const info: FileMemo = { mtimeMs: st.mtimeMs, size: st.size, hash: sha256(normalised).slice(0, 16), imports };
    this.memo[file] = info;
    this.dirty = true;
    return info;
  }

  private packageVersion(fromDir: string, name: string): string {
    const memoKey = `${fromDir}\0${name}`;
    const known = this.versions.get(memoKey);
    if (known) return known;
    let version = 'unresolved';
    for (let dir = fromDir; ; dir = dirname(dir)) {
      const manifest = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(manifest)) {
        version = JSON.parse(readFileSync(manifest, 'utf8')).version ?? 'unknown';
        break;
      }
      const own = join(dir, 'package.json');
      if (existsSync(own)) {
        // The package importing itself by name (generated code importing 'cellar' in this repo).
        try {
          const pkg = JSON.parse(readFileSync(own, 'utf8'));
          if (pkg.name === name) {
            version = pkg.version ?? 'unknown';
            break;
          }
        } catch {
          // not a readable package.json: keep walking
        }
      }
      if (dirname(dir) === dir) break;
    }
    this.versions.set(memoKey, version);
    return version;
  }
}

/** esbuild-normalised text of a module and the specifiers it imports (static and literal dynamic). */
export async function normalise(source: string, file: string): Promise<{ normalised: string; imports: string[] }> {
  const ext = extname(file).slice(1);
  const loaders: Record<string, 'ts' | 'tsx' | 'js' | 'jsx'> = { ts: 'ts', mts: 'ts', cts: 'ts', tsx: 'tsx', js: 'js', mjs: 'js', cjs: 'js', jsx: 'jsx' };
  const loader = loaders[ext];
  // Data files (JSON, SQL, CSV read through an import) are hashed as they are.
  if (!loader) return { normalised: source, imports: [] };
  const [{ transform }, lexer] = await Promise.all([import('esbuild'), import('es-module-lexer')]);
  let out: { code: string };
  try {
    out = await transform(source, { loader, format: 'esm', minifyWhitespace: true, legalComments: 'none', target: 'es2022' });
  } catch {
    // Unparseable code will fail when it runs; key it by its text meanwhile.
    return { normalised: source, imports: [] };
  }
  await lexer.init;
  const [imports] = lexer.parse(out.code);
  const specs = [...new Set(imports.map((i) => i.n).filter((n): n is string => typeof n === 'string'))].sort();
  return { normalised: out.code, imports: specs };
}

function resolveLocal(fromDir: string, spec: string): string | undefined {
  const base = resolve(fromDir, spec);
  const candidates = [base];
  const ext = extname(base);
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs' || ext === '.jsx') {
    const stem = base.slice(0, -ext.length);
    candidates.unshift(`${stem}.ts`, `${stem}.tsx`, `${stem}.mts`);
  } else if (!ext) {
    candidates.push(`${base}.ts`, `${base}.tsx`, `${base}.js`, join(base, 'index.ts'), join(base, 'index.js'));
  }
  for (const c of candidates) {
    try {
      if (statSync(c).isFile()) return c;
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function sortObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
}
