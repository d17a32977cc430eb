// Code-aware cache keys: the fingerprint of a task's code.
//
// gokart's opt-in `serialized_task_definition_check` hashes only the task class, so an edit to a
// helper module goes unnoticed, while a comment edit re-runs everything. Here a task's code is
// what esbuild bundles from the module that defines it: every local file it loads, by any import
// (local .ts/.js modules, JSON imports with `assert`/`with { type: 'json' }`, anything else
// esbuild inlines), tree-shaken to the declarations the module actually uses, transitively, and
// printed without comments or formatting. The fingerprint is that text split per source file (by
// the bundle's source map) and hashed, the order of those parts hashed with the task module's own,
// plus the installed version of every package the bundle imports. So:
// - a comment or formatting edit keeps the key;
// - a changed expression, helper, or imported JSON value changes it;
// - editing one helper of a shared setup module re-runs only the tasks whose code reaches that
//   helper (a declaration esbuild can drop from a task's bundle cannot change what it computes);
// - swapping two side-effect imports (the same files, run in another order) changes it;
// - an upgraded package changes it.
// The bundle's text also names the environment variables the code reads (`process.env.X`): keys.ts
// puts their values, hashed, into the key.
//
// Warm runs stay fast: per task module, the memo (in the workspace) keeps the fingerprint and a
// content stamp of every file the bundle read (filestamp.ts: content hash, with a stat shortcut
// that (mtime, size) edits cannot fool), and how its local imports resolved (resolve-facts.ts:
// a file added ahead of the one esbuild picked, or a symlink on the way re-pointed, re-bundles).
// An unchanged tree costs one stat per file and per folder looked in, and no esbuild call; a
// file whose stat moved is re-read and re-hashed, and only a changed content rebuilds.
// Where esbuild cannot bundle a module (a loader it lacks), the older per-file closure (each local
// file normalised and hashed whole, imports followed by es-module-lexer) keys it instead.
import {
  readFileSync,
  statSync,
  writeFileSync,
  existsSync,
  renameSync,
  mkdirSync,
  rmSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve, extname, sep } from 'node:path';
import { isBuiltin } from 'node:module';
import { HOST_LOCALE, HOST_TIME_ZONE, sha256 } from './hash.js';
import {
  TIME_ZONE_USE,
  type PackageHostFacts,
  packageFolder,
  packageIdentity,
  scanPackageHostFacts,
} from './package-facts.js';
import { checkStamp, readWithStamp, sameStamp, type FileStamp } from './filestamp.js';
import { findPackageRoot, findProjectRoot, installedPackageVersion } from '../project.js';
import { closureHash, dependencyClosure, type DependencyClosure } from './package-closure.js';
import { cellarPackageDir, runningCellarVersion } from '../own-package.js';
import { codeLoaderFor, loaderFor } from '../load/esbuild-loaders.js';
import { locateInNotebook } from '../load/locate.js';
import { namedNotebook, readCellPositions } from '../load/source.js';
import { tempStamp } from '../store/owner.js';
import { BUILT_MODULE_SCHEME, modulePath, WORKER_SCRIPT_URL } from './module-path.js';
import {
  REPORT_UNBUNDLED_IMPORTS,
  bundledGlobs,
  globsChanged,
  resolvingGlobImports,
  unbundledImports,
} from './dynamic-imports.js';
import {
  ResolveRecorder,
  checkResolveFacts,
  type DirCache,
  type ResolveFacts,
} from './resolve-facts.js';

export interface CodeFingerprint {
  /** Path relative to the task's module → normalised-syntax hash (16 hex). */
  files: Record<string, string>;
  /** Package name → installed version. */
  packages: Record<string, string>;
}

/** The fallback's per-file record: normalised hash, imports and env reads, with a content stamp. */
interface FileMemo {
  stamp: FileStamp;
  hash: string;
  imports: string[];
  env: string[];
}

/** One task module's bundle: what it read (stamped), its fingerprint, the env vars it reads. */
interface EntryMemo {
  inputs: Record<string, FileStamp>;
  /** Each glob a dynamic import bundled → the hash of its matches (dynamic-imports.ts). */
  globs?: Record<string, string>;
  /** How its local imports resolved (resolve-facts.ts): a file added ahead, a link re-pointed. */
  resolved: ResolveFacts;
  files: Record<string, string>;
  packages: string[];
  env: string[];
  /** Package name → the files of it its bundle's imports resolve to (its entry files, esbuild's
   *  resolution, as Node's: `exports`, `main`), absolute: keyed by content (`packageEntryHash`). */
  packageEntries?: Record<string, string[]>;
  /** `new Worker(…)` calls its code makes whose script is named only at run time (`file:line:
   *  call`): not in the key, warned about (`warnUnkeyedWorkers`). Absent: none. */
  unkeyedWorkers?: string[];
}

const MEMO_VERSION = 15; // 15: dynamic imports of a prefix and a run-time name bundled as static ones resolve (resolvingGlobImports); 14: `resolved` facts in one table (`facts`), entries naming a key set (`resolvedSet`); 13: config files that steer resolution (package.json `imports`, tsconfig) in `resolved`; 12: packages' entry files by content (`packageEntries`); 11: worker thread scripts bundled (`withWorkerScripts`); 10: how local imports resolved (`resolved`); 9: host facts of imported packages (package-facts.ts); 3: bundle sections hashed without comments (esbuild keeps some); 4: host time zone / locale facts; 5: globs of dynamic imports; 6: minified in the build, split by source map, with <order>; 7: setup side effects in every task; 8: in every compiled module a group loads, entry or not

/**
 * Fingerprints recorded by `cellar build`, by module URL. A built bundle carries no sources to
 * hash, so it registers the fingerprints computed from the sources at build time
 * (cli/build/): the keys of a built run then equal those of a run from the sources.
 */
const recorded = new Map<string, CodeFingerprint>();

/** Register build-time fingerprints (module URL → fingerprint); see `recorded`. */
export function recordFingerprints(entries: Record<string, RecordedFingerprint>): void {
  for (const [url, fp] of Object.entries(entries)) {
    recorded.set(
      url,
      Object.freeze({
        files: Object.freeze({ ...fp.files }),
        packages: Object.freeze({ ...fp.packages }),
      }),
    );
    recordedEnv.set(url, Object.freeze([...(fp.env ?? [])]));
  }
}

/** A fingerprint as a build records it: with the env vars the module reads (see `envRead`). */
export type RecordedFingerprint = CodeFingerprint & { env?: readonly string[] };

const recordedEnv = new Map<string, readonly string[]>();

export { BUILT_MODULE_SCHEME, modulePath };

export class CodeHasher {
  private memo: Record<string, FileMemo> = {};
  private entries: Record<string, EntryMemo> = {};
  /** `folder@version` of an installed package → the host facts its code uses (package-facts.ts). */
  private packageFacts: Record<string, PackageHostFacts> = {};
  /** Package entry file → its content stamp, checked by one stat per hasher (`entryHash`). */
  private packageStamps: Record<string, FileStamp> = {};
  /** `fromDir\0name` → that package's host facts, as resolved in this process. */
  private readonly factsByImport = new Map<string, PackageHostFacts>();
  private dirty = false;
  private readonly fingerprints = new Map<string, Promise<CodeFingerprint>>();
  private readonly done = new Map<string, CodeFingerprint>();
  private readonly envNames = new Map<string, readonly string[]>();
  private readonly versions = new Map<string, string>();
  /** `fromDir\0name` → the packages it loads in turn (`dependencyClosure`). */
  private readonly closures = new Map<string, DependencyClosure>();
  /** Files whose recorded stamp this hasher found unchanged: the stamp checked, and as now. */
  private readonly verified = new Map<string, { recorded: FileStamp; now: FileStamp }>();
  /** Folders this hasher stat'ed (and listed) checking how imports resolved: once each. */
  private readonly dirs: DirCache = new Map();

  /** `memoFile`: where per-file hashes persist between runs (omit for an in-memory hasher). */
  constructor(private readonly memoFile?: string) {
    if (memoFile && existsSync(memoFile)) {
      try {
        const data = JSON.parse(readFileSync(memoFile, 'utf8'));
        if (data.version === MEMO_VERSION) {
          this.memo = data.files ?? {};
          this.entries = withResolvedFacts(data.entries ?? {}, data.facts ?? {}, data.sets ?? []);
          this.packageFacts = data.packageFacts ?? {};
          this.packageStamps = data.packageStamps ?? {};
        }
      } catch {
        // A damaged memo only costs re-hashing.
      }
    }
  }

  /**
   * Fingerprint every module in `moduleUrls` at once: the stale ones share one esbuild call.
   * Later `fingerprint`/`computed` calls for these modules are then immediate.
   */
  async prepare(moduleUrls: Iterable<string>): Promise<void> {
    const byPath = new Map<string, string>();
    for (const url of moduleUrls) {
      if (recorded.has(url) || url.startsWith(BUILT_MODULE_SCHEME)) continue; // see fingerprint()
      const path = modulePath(url);
      if (!this.fingerprints.has(path) && !byPath.has(path)) byPath.set(path, url);
    }
    if (byPath.size === 0) return;
    const batch = this.computeBatch([...byPath.keys()]);
    for (const [path, url] of byPath) {
      const result = batch.then((all) => {
        const fp = all.get(path)!;
        this.done.set(url, fp);
        return fp;
      });
      // A refused batch (E_DYNAMIC_IMPORT) rejects `await batch` below for the caller; these
      // copies reject again for whoever awaits them, never unhandled.
      result.catch(() => undefined);
      this.fingerprints.set(path, result);
    }
    await batch;
  }

  /** Fingerprint of the module at `moduleUrl` and everything local it loads. */
  async fingerprint(moduleUrl: string): Promise<CodeFingerprint> {
    const built = recorded.get(moduleUrl);
    if (built) {
      this.done.set(moduleUrl, built);
      return built;
    }
    if (moduleUrl.startsWith(BUILT_MODULE_SCHEME)) {
      throw new Error(
        `no recorded code fingerprint for ${moduleUrl}: the build's manifest.json does not match its bundle (rebuild with \`cellar build\`)`,
      );
    }
    const path = modulePath(moduleUrl);
    if (!this.fingerprints.has(path)) await this.prepare([moduleUrl]);
    const fp = await this.fingerprints.get(path)!;
    this.done.set(moduleUrl, fp);
    return fp;
  }

  /** The fingerprint if already computed (no await: a module's 1000 tasks share one). */
  computed(moduleUrl: string): CodeFingerprint | undefined {
    return this.done.get(moduleUrl) ?? recorded.get(moduleUrl);
  }

  /**
   * Names of the environment variables the module's code reads (`process.env.X`, `process.env['X']`,
   * `const { X } = process.env`, `Deno.env.get('X')`), sorted; after `fingerprint`/`prepare`. `*` when it reads one by a
   * computed name (`process.env[name]`), which no key can follow.
   */
  envRead(moduleUrl: string): readonly string[] {
    return recordedEnv.get(moduleUrl) ?? this.envNames.get(modulePath(moduleUrl)) ?? [];
  }

  /**
   * What this hasher's answer for `moduleUrl` rested on, after `fingerprint`/`prepare`: the
   * content stamp of every file read (the bundle's inputs, or the fallback's closure), and the
   * package names whose installed versions are in the fingerprint (looked up from `dirs`).
   * Undefined for a recorded (built) fingerprint or one not computed by this hasher.
   */
  evidence(moduleUrl: string):
    | {
        files: Record<string, FileStamp>;
        dirs: string[];
        packages: string[];
        resolved: ResolveFacts;
      }
    | undefined {
    if (recorded.has(moduleUrl) || !this.done.has(moduleUrl)) return undefined;
    const path = modulePath(moduleUrl);
    const fp = this.done.get(moduleUrl)!;
    const packages = Object.keys(fp.packages);
    const entry = this.entries[path];
    // A bundled module's package versions are looked up from its own folder (`finish`).
    if (entry)
      return {
        files: { ...entry.inputs, ...this.entryStampsOf(entry) },
        dirs: [dirname(path)],
        packages,
        resolved: { ...entry.resolved },
      };
    // The fallback keyed the module by its closure, one memo record per file, each file's
    // packages looked up from that file's folder.
    const files: Record<string, FileStamp> = {};
    for (const rel of Object.keys(fp.files)) {
      const abs = resolve(dirname(path), rel);
      const memo = this.memo[abs];
      if (!memo) return undefined;
      files[abs] = memo.stamp;
    }
    return {
      files,
      dirs: [...new Set(Object.keys(files).map((f) => dirname(f)))],
      packages,
      resolved: {},
    };
  }

  /** The stamps of a bundled module's package entry files (as `finish` last checked them). */
  private entryStampsOf(entry: EntryMemo): Record<string, FileStamp> {
    const out: Record<string, FileStamp> = {};
    for (const files of Object.values(entry.packageEntries ?? {}))
      for (const f of files) {
        const stamp = this.packageStamps[f];
        if (stamp) out[f] = stamp;
      }
    return out;
  }

  /** Persist the memo if anything changed (atomically: a torn memo would only cost time, but still). */
  save(): void {
    if (!this.memoFile || !this.dirty) return;
    // A cache, so best-effort: a full disk only costs the next run some hashing, and the run's
    // own writes report it (naming the task). The temp file never stays behind.
    const tmp = `${this.memoFile}.tmp-${tempStamp()}`;
    try {
      mkdirSync(dirname(this.memoFile), { recursive: true });
      writeFileSync(
        tmp,
        JSON.stringify({
          version: MEMO_VERSION,
          files: this.memo,
          ...resolvedFactsApart(this.entries),
          packageFacts: this.packageFacts,
          packageStamps: this.packageStamps,
        }),
      );
      renameSync(tmp, this.memoFile);
      this.dirty = false;
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  private async computeBatch(paths: string[]): Promise<Map<string, CodeFingerprint>> {
    const out = new Map<string, CodeFingerprint>();
    const stale: string[] = [];
    for (const path of paths) {
      const memo = this.entries[path];
      if (memo && this.unchanged(memo)) out.set(path, this.finish(path, memo));
      else stale.push(path);
    }
    if (stale.length === 0) return out;
    // One esbuild call per project (the folder esbuild resolves from, and that paths are relative to).
    const byRoot = new Map<string, string[]>();
    for (const path of stale) {
      const root = findPackageRoot(dirname(path));
      byRoot.set(root, [...(byRoot.get(root) ?? []), path]);
    }
    for (const [root, group] of byRoot) {
      const built = await bundleEntries(group, root);
      for (const path of group) {
        const memo = built.get(path);
        if (memo) {
          this.entries[path] = memo;
          this.dirty = true;
          out.set(path, this.finish(path, memo));
        } else {
          // esbuild could not bundle it: key it by its files, whole.
          delete this.entries[path];
          out.set(path, await this.compute(path));
        }
      }
    }
    return out;
  }

  /**
   * Is every file the memo's bundle read still the same (by content)? Refreshes moved stamps.
   * A file shared by many bundles (a task module is in its own and in each downstream task's)
   * is checked once per hasher: a later entry recording the same stamp takes that verdict.
   */
  private unchanged(memo: EntryMemo): boolean {
    // A file added where a dynamic import's glob looks (a new plugin) is in no bundle yet.
    if (globsChanged(memo.globs)) return false;
    // A file added ahead of one an import resolved to, or a symlink on the way re-pointed: no
    // input moved, but esbuild would bundle something else (resolve-facts.ts).
    if (!memo.resolved) return false;
    const resolution = checkResolveFacts(memo.resolved, this.dirs);
    if (!resolution.same) return false;
    if (resolution.restamped) this.dirty = true;
    for (const [file, stamp] of Object.entries(memo.inputs)) {
      const seen = this.verified.get(file);
      let now: FileStamp;
      if (seen && (sameStamp(seen.recorded, stamp) || sameStamp(seen.now, stamp))) now = seen.now;
      else {
        const check = checkStamp(file, stamp);
        if (!check.same) return false;
        now = check.stamp;
        this.verified.set(file, { recorded: stamp, now });
      }
      if (!sameStamp(now, stamp)) {
        memo.inputs[file] = now;
        this.dirty = true;
      }
    }
    return true;
  }

  private finish(entry: string, memo: EntryMemo): CodeFingerprint {
    if (memo.unkeyedWorkers) warnUnkeyedWorkers(memo.unkeyedWorkers);
    const clients = memo.packages.filter((name) => DATABASE_CLIENTS.has(name));
    if (clients.length > 0) warnDatabaseClients(entry, clients);
    const packages: Record<string, string> = {};
    const env = new Set(memo.env);
    let files = memo.files;
    for (const name of memo.packages) {
      packages[name] = this.packageVersion(dirname(entry), name);
      for (const fact of this.hostFactsOf(dirname(entry), name)) env.add(fact);
      // The packages it loads in turn, by version (package-closure.ts).
      const deps = this.dependenciesHash(dirname(entry), name);
      if (deps) {
        if (files === memo.files) files = { ...memo.files };
        files[`<package-deps:${name}>`] = deps;
      }
      // The files of the package its imports load, by content: an edit in place (patch-package,
      // a debugging edit) keeps the version.
      const entries = memo.packageEntries?.[name];
      if (entries && entries.length > 0) {
        if (files === memo.files) files = { ...memo.files };
        files[`<package:${name}>`] = this.packageEntryHash(name, entries);
      }
    }
    this.envNames.set(entry, Object.freeze([...env].sort()));
    // Frozen: shared by every task of the module, and serialised once (hash.ts).
    return Object.freeze({
      files: Object.freeze(sortObject(files)),
      packages: Object.freeze(sortObject(packages)),
    });
  }

  /** The fallback fingerprint: each local file of the import closure normalised and hashed whole. */
  private async compute(entry: string): Promise<CodeFingerprint> {
    // Paths relative to the task's own module: a project moved or checked out elsewhere keeps
    // its keys (and its cache).
    const base = dirname(entry);
    const files: Record<string, string> = {};
    const packages: Record<string, string> = {};
    const env = new Set<string>();
    const queue = [entry];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const info = await this.analyse(file);
      files[relative(base, file).split(sep).join('/')] = info.hash;
      for (const name of info.env) env.add(name);
      for (const spec of info.imports) {
        if (spec.startsWith('.') || spec.startsWith('/')) {
          const target = resolveLocal(dirname(file), spec);
          if (target) queue.push(target);
        } else if (!spec.startsWith('node:') && !isBuiltin(spec)) {
          const name = packageName(spec);
          packages[name] = this.packageVersion(dirname(file), name);
          for (const fact of this.hostFactsOf(dirname(file), name)) env.add(fact);
          const deps = this.dependenciesHash(dirname(file), name);
          if (deps) files[`<package-deps:${name}>`] = deps;
        }
      }
    }
    this.envNames.set(entry, Object.freeze([...env].sort()));
    // Frozen: shared by every task of the module, and serialised once (hash.ts).
    return Object.freeze({
      files: Object.freeze(sortObject(files)),
      packages: Object.freeze(sortObject(packages)),
    });
  }

  private async analyse(file: string): Promise<FileMemo> {
    const cached = this.memo[file];
    if (cached) {
      const check = checkStamp(file, cached.stamp);
      if (check.same) {
        if (!sameStamp(check.stamp, cached.stamp)) {
          cached.stamp = check.stamp;
          this.dirty = true;
        }
        return cached;
      }
    }
    const { bytes, stamp } = readWithStamp(file);
    const { normalised, imports } = await normalise(bytes.toString('utf8'), file);
    const info: FileMemo = {
      stamp,
      hash: sha256(normalised).slice(0, 16),
      imports,
      env: envReadIn(normalised),
    };
    this.memo[file] = info;
    this.dirty = true;
    return info;
  }

  /**
   * The host facts (`@timeZone`, `@locale`) the code of package `name`, as installed for
   * `fromDir`, and of its dependencies may depend on: scanned once per installed version
   * (package-facts.ts), memoised. Cellar itself is left out: its version is in the key, and what
   * it computes for a task does not follow the host (the embedded warehouse runs in UTC).
   */
  private hostFactsOf(fromDir: string, name: string): PackageHostFacts {
    if (name === 'cellar') return [];
    const memoKey = `${fromDir}\0${name}`;
    const known = this.factsByImport.get(memoKey);
    if (known) return known;
    const folder = packageFolder(fromDir, name);
    let facts: PackageHostFacts = [];
    if (folder) {
      const identity = packageIdentity(folder);
      const scanned = this.packageFacts[identity];
      if (scanned) facts = scanned;
      else {
        facts = this.packageFacts[identity] = scanPackageHostFacts(folder);
        this.dirty = true;
      }
    }
    this.factsByImport.set(memoKey, facts);
    return facts;
  }

  /**
   * The hash of a package's entry files (absolute, as esbuild resolved the task's imports of it),
   * each named by its path inside the package folder (a moved project keeps its keys) with its
   * content hash. Each file's stamp is memoised: one stat while size, inode, mtime and ctime hold
   * (filestamp.ts), a read only when they moved; a file missing now hashes as `missing`.
   */
  private packageEntryHash(name: string, files: readonly string[]): string {
    const parts: string[] = [];
    for (const file of files) {
      let hash: string;
      const seen = this.verified.get(file);
      const known = this.packageStamps[file];
      if (seen && known && sameStamp(seen.now, known)) hash = known.hash;
      else {
        const check = known ? checkStamp(file, known) : undefined;
        let now: FileStamp | undefined = check?.same ? check.stamp : undefined;
        if (!now) {
          try {
            now = readWithStamp(file).stamp;
          } catch {
            now = undefined;
          }
        }
        if (now) {
          if (!known || !sameStamp(now, known)) {
            this.packageStamps[file] = now;
            this.dirty = true;
          }
          this.verified.set(file, { recorded: now, now });
          hash = now.hash;
        } else {
          delete this.packageStamps[file];
          hash = 'missing';
        }
      }
      parts.push(`${insidePackage(file, name)}\0${hash}`);
    }
    return sha256(parts.sort().join('\n')).slice(0, 16);
  }

  /**
   * A hash (16 hex) of the `name@version` list of the packages `name` (as installed for
   * `fromDir`) loads in turn, or undefined when it has none (for Cellar: its engines,
   * package-closure.ts `CELLAR_ENGINES`).
   */
  private dependenciesHash(fromDir: string, name: string): string | undefined {
    return closureHash(this.dependencyClosure(fromDir, name));
  }

  /**
   * The installed dependency closure of package `name` for `fromDir` (key/package-closure.ts),
   * memoised for this hasher: the keys and the warm-run record (run/warm-facts.ts) share one.
   */
  dependencyClosure(fromDir: string, name: string): DependencyClosure {
    const memoKey = `${fromDir}\0${name}`;
    let closure = this.closures.get(memoKey);
    if (!closure) this.closures.set(memoKey, (closure = dependencyClosure(fromDir, name)));
    return closure;
  }

  /**
   * The installed version of package `name` for `fromDir` (node_modules above it, or the project
   * itself), else `unresolved`. 'cellar' that is not installed there is mapped to the running
   * runtime (load/bundle.ts `ownRuntime`), so the running Cellar's version is what the task runs
   * and what is keyed: an out-of-project pipeline's results are not served by another Cellar.
   */
  private packageVersion(fromDir: string, name: string): string {
    const memoKey = `${fromDir}\0${name}`;
    const known = this.versions.get(memoKey);
    if (known) return known;
    const version =
      installedPackageVersion(fromDir, name) ??
      (name === 'cellar' ? runningCellarVersion() : undefined) ??
      'unresolved';
    this.versions.set(memoKey, version);
    return version;
  }
}

/**
 * Entry points per esbuild build. esbuild's work for one build grows with (entry points × files
 * in the build), not with their sum: 1,001 task modules in one build cost ~3 s of esbuild's CPU
 * where ten builds of ~100 cost ~1 s. A build's output for an entry does not depend on the other
 * entries (codehash.test.ts "batch and single builds"), so the groups only decide the cost.
 */
const ENTRIES_PER_BUILD = 64;

/**
 * Bundle each entry with esbuild (packages external, tree-shaken, whitespace and comments
 * minified away) and record, per entry: every local file esbuild read, stamped from the very bytes
 * handed to esbuild (a plugin reads them, so a write during the build cannot slip between hash
 * and stamp); the bundle's text split per source file and hashed; the packages and env vars it
 * reads. The entries are built in groups (`ENTRIES_PER_BUILD`); an entry of a group esbuild
 * cannot build is retried alone, so one failing module does not change how the others are keyed.
 * An entry missing from the result could not be bundled (the caller keys it file by file).
 * @throws CellarError E_DYNAMIC_IMPORT for imports esbuild could not bundle, in any entry
 */
async function bundleEntries(entries: string[], root: string): Promise<Map<string, EntryMemo>> {
  const esbuild = await import('esbuild');
  const memos = new Map<string, EntryMemo>();
  const warnings: import('esbuild').Message[] = [];
  // Each file is read (and stamped) once per call, whichever groups load it: a fan-in module's
  // group loads every module it imports again.
  const reads = new Map<string, { bytes: Buffer; stamp: FileStamp }>();
  const groups: string[][] = [];
  for (let i = 0; i < entries.length; i += ENTRIES_PER_BUILD)
    groups.push(entries.slice(i, i + ENTRIES_PER_BUILD));
  for (const group of groups) {
    const built = await bundleGroup(esbuild, group, root, reads, warnings);
    if (built) for (const [entry, memo] of built) memos.set(entry, memo);
    else if (group.length > 1)
      for (const entry of group) {
        const alone = await bundleGroup(esbuild, [entry], root, reads, []);
        const memo = alone?.get(entry);
        if (memo) memos.set(entry, memo);
      }
  }
  // `import(name)`: what it loads would be in no key (dynamic-imports.ts). Reported for every
  // group at once, as one build would.
  const refused = unbundledImports(warnings, root);
  if (refused) throw refused;
  return memos;
}

/** One esbuild build of `entries` (see `bundleEntries`); undefined when esbuild fails. */
async function bundleGroup(
  esbuild: typeof import('esbuild'),
  entries: string[],
  root: string,
  reads: Map<string, { bytes: Buffer; stamp: FileStamp }>,
  warnings: import('esbuild').Message[],
  /** Look at 'cellar' imports too (`linkedPackagesAsCode`): a tsconfig may alias them. */
  aliasable = false,
): Promise<Map<string, EntryMemo> | undefined> {
  const stamps = new Map<string, FileStamp>();
  /** Importing file → package → the package files its imports resolved to. */
  const packageEntries = new Map<string, Map<string, Set<string>>>();
  /** File → the `new Worker(…)` calls in it whose script is named only at run time. */
  const unkeyedWorkers = new Map<string, string[]>();
  const resolution = new ResolveRecorder();
  const reader: import('esbuild').Plugin = {
    name: 'cellar-stamped-reads',
    setup(build) {
      build.onLoad({ filter: /.*/ }, (args) => {
        if (args.namespace !== 'file') return undefined;
        let read = reads.get(args.path);
        if (!read) reads.set(args.path, (read = readWithStamp(args.path)));
        const { bytes, stamp } = read;
        stamps.set(args.path, stamp);
        const loader = loaderFor(args.path) ?? 'default';
        // Every generated task module, entry or not: in a group, a task imported by another is
        // also an entry, and its text must not depend on which group it was built in.
        const withSetup = withSetupEffects(args.path, bytes);
        // A worker thread's script (`new Worker(new URL('./work.mjs', import.meta.url))`) is code
        // the task runs: bundled with it, so its files are in the key (`withWorkerScripts`).
        const workers = codeLoaderFor(args.path) !== undefined;
        const withWorkers = workers
          ? withWorkerScripts(args.path, withSetup, unkeyedWorkers)
          : withSetup;
        // As the run bundles it (load/bundle.ts): `import('./plugins/' + name)` bundles every
        // module the name may resolve to (p1.ts for 'p1.js'), so each is in the key. No line
        // numbers in the hashed text: a comment line added above must not move the key.
        const contents =
          workers && !isInNodeModules(args.path)
            ? resolvingGlobImports(Buffer.from(withWorkers).toString('utf8'), args.path, root, {
                lines: false,
              })
            : withWorkers;
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
  const outdir = join(root, '.cellar', 'codehash-out');
  // One awaited expression (not `let result;` assigned in a try): its type is esbuild's own under
  // any compiler settings, so a JavaScript notebook's looser tsconfig checks this file too.
  const result = await esbuild
    .build({
      entryPoints: entries,
      absWorkingDir: root,
      outdir,
      bundle: true,
      write: false,
      metafile: true,
      // The source map says which source file each stretch of the minified text came from
      // (`splitBySource`); no sources in it, only the mappings are read.
      sourcemap: 'external',
      sourcesContent: false,
      format: 'esm',
      platform: 'node',
      target: 'es2022',
      treeShaking: true,
      // Printed without whitespace or comments (esbuild's printer keeps some, a trailing
      // `// note` in an object literal): a comment or formatting edit keeps the key.
      minifyWhitespace: true,
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      logOverride: REPORT_UNBUNDLED_IMPORTS,
      plugins: [resolution.plugin(), linkedPackagesAsCode(packageEntries, aliasable), reader],
      // Not resolved (the project links itself as 'cellar'): the runtime is no task's code.
      // 'cellar/…' subpaths too, as the plugin answers them. Unless a tsconfig may alias it.
      external: aliasable ? [] : ['cellar'],
    })
    .catch((error: { warnings?: import('esbuild').Message[] }) => {
      // A failed build (another module's error) still reports the imports it could not bundle.
      warnings.push(...(error?.warnings ?? []));
      return undefined;
    });
  if (!result) return undefined;
  // Built taking 'cellar' for the runtime: right unless a tsconfig of a file it loaded may alias
  // bare imports, which esbuild (and so the run's bundle) applies before looking for a package.
  if (!aliasable && mayAliasBareImports(resolution.tsconfigs()))
    return bundleGroup(esbuild, entries, root, reads, warnings, true);
  warnings.push(...result.warnings);
  resolution.settle();
  const texts = new Map<string, string>(result.outputFiles.map((f) => [f.path, f.text]));
  const memos = new Map<string, EntryMemo>();
  // Typed here: under a JavaScript notebook's non-strict settings esbuild's result type widens.
  const metafile: import('esbuild').Metafile = result.metafile;
  for (const [outPath, out] of Object.entries(metafile.outputs)) {
    if (!out.entryPoint) continue;
    const entry = resolve(root, out.entryPoint);
    const jsPath = resolve(root, outPath);
    const text = texts.get(jsPath);
    const map = texts.get(`${jsPath}.map`);
    if (text === undefined || map === undefined) continue;
    const inputs: Record<string, FileStamp> = {};
    for (const rel of Object.keys(out.inputs)) {
      const abs = resolve(root, rel);
      const stamp = stamps.get(abs);
      if (stamp) inputs[abs] = stamp;
    }
    // Every file esbuild read for this entry, even those tree-shaken away entirely: a change to
    // one may make it contribute again.
    const reached = [entry];
    for (const rel of reachableInputs(metafile, out.entryPoint)) {
      const abs = resolve(root, rel);
      reached.push(abs);
      const stamp = stamps.get(abs);
      if (stamp) inputs[abs] = stamp;
    }
    const packages = [
      ...new Set(
        out.imports
          .filter(
            (i) =>
              i.external &&
              !i.path.startsWith('node:') &&
              !isBuiltin(i.path) &&
              !i.path.startsWith('.') &&
              !i.path.startsWith('/'),
          )
          .map((i) => packageName(i.path)),
      ),
    ].sort();
    // Paths relative to the task's own module, as in the fallback: a project moved or checked
    // out elsewhere keeps its keys (and its cache).
    const mapDir = dirname(jsPath);
    const files = splitBySource(
      text,
      JSON.parse(map) as { sources: string[]; mappings: string },
      (src) => relative(dirname(entry), resolve(mapDir, src)).split(sep).join('/'),
      basename(entry),
    );
    const globs = bundledGlobs(metafile, root, Object.keys(out.inputs));
    const workers = reached.flatMap((f) => unkeyedWorkers.get(f) ?? []);
    const entryFiles: Record<string, string[]> = {};
    for (const f of reached)
      for (const [name, files] of packageEntries.get(f) ?? [])
        if (packages.includes(name)) entryFiles[name] = [...(entryFiles[name] ?? []), ...files];
    for (const name of Object.keys(entryFiles))
      entryFiles[name] = [...new Set(entryFiles[name])].sort();
    memos.set(entry, {
      inputs,
      resolved: resolution.factsOf(reached),
      ...(Object.keys(globs).length > 0 ? { globs } : {}),
      ...(workers.length > 0 ? { unkeyedWorkers: [...new Set(workers)].sort() } : {}),
      ...(Object.keys(entryFiles).length > 0 ? { packageEntries: entryFiles } : {}),
      files,
      packages,
      env: envReadIn(text),
    });
  }
  return memos;
}

/**
 * Packages stay external (keyed by their installed version), except a package whose real folder
 * lies outside every node_modules: one linked in by `npm link`, a `file:` dependency or a
 * workspace. Its code is edited in place with no new version, so it is bundled and keyed by
 * content like a local module. Cellar itself stays external (its version is in the key; a
 * project inside Cellar's own repository resolves it to the repository).
 */
/** The first line of a module `cellar compile` generated (compiler/emit/module.ts HEADER). */
const GENERATED = /^\/\/ Generated by `cellar compile`/;

/**
 * A compiled task module's text, joined with a side-effect import of its pipeline's setup module
 * (`setup.ts`/`setup.js` beside it) when it has one: the setup module runs before every task, so
 * its statements that are not declarations (`(globalThis as any).RATE = 2`, `tbl.rate = 3`) and
 * its side-effect imports (`import './lib/side.ts'`) may change what any task computes, also a
 * task importing nothing from it. esbuild's tree shaking drops the setup declarations the task does
 * not use and keeps what it cannot prove pure: a setup helper's edit still re-runs only its users,
 * and a statement with an effect is in every task's key (over-inclusion by design). Other files
 * (a hand-written module, a setup module itself) are left as they are.
 */
function withSetupEffects(file: string, bytes: Uint8Array): Uint8Array {
  const base = file.slice(dirname(file).length + 1);
  if (/^setup\.[cm]?[jt]s$/.test(base) || /^pipeline\.[cm]?[jt]s$/.test(base)) return bytes;
  const head = Buffer.from(bytes.subarray(0, 64)).toString('utf8');
  if (!GENERATED.test(head)) return bytes;
  const setup = ['setup.ts', 'setup.js'].find((f) => existsSync(join(dirname(file), f)));
  if (setup === undefined) return bytes;
  return Buffer.concat([bytes, Buffer.from(`\nimport './${setup}';\n`)]);
}

/**
 * A module's text with, for each worker thread it starts from a script named statically
 * (`new Worker(new URL('./work.mjs', import.meta.url))`, the form Node documents, or an absolute
 * path literal), a namespace import of that script appended: esbuild then bundles the script and
 * what it imports into the task's bundle, each file in its own section, so editing the script
 * re-runs the task, and the memo's stamps and resolution facts cover it as any import's. The text
 * is hashed, never run. A `new Worker(…)` whose script is an expression (a variable, `join(…)`,
 * `eval: true` code) is noted in `unkeyed` (`file:line: call`), warned about by the hasher as a
 * child process is by the run (runtime/run/perform.ts `warnChildProcess`). Packages' files are
 * left alone (keyed by version).
 */
const STATIC_WORKER = new RegExp(String.raw`^\s*` + WORKER_SCRIPT_URL);

function withWorkerScripts(
  file: string,
  bytes: Uint8Array,
  unkeyed: Map<string, string[]>,
): Uint8Array {
  if (isInNodeModules(file)) return bytes;
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.includes('Worker')) return bytes;
  const calls = [...text.matchAll(/\bnew\s+Worker\s*\(/g)];
  if (calls.length === 0) return bytes;
  const specs: string[] = [];
  const dynamic: string[] = [];
  for (const call of calls) {
    const rest = text.slice(call.index + call[0].length, call.index + call[0].length + 400);
    const url = STATIC_WORKER.exec(rest)?.groups?.path;
    const abs = /^\s*(['"`])(\/[^'"`$\n]+)\1\s*[,)]/.exec(rest);
    if (url) specs.push(url.startsWith('.') || url.startsWith('/') ? url : `./${url}`);
    else if (abs) specs.push(abs[2]!);
    else {
      const line = text.slice(0, call.index).split('\n').length;
      const lineText = text.split('\n')[line - 1]!.trim();
      dynamic.push(
        `${file}:${line}: ${lineText.length > 100 ? `${lineText.slice(0, 99)}…` : lineText}`,
      );
    }
  }
  if (dynamic.length > 0) unkeyed.set(file, dynamic);
  if (specs.length === 0) return bytes;
  const imports = [...new Set(specs)]
    .map(
      (spec, i) =>
        `import * as __cellarWorker${i} from ${JSON.stringify(spec)};\nglobalThis.__cellarWorker${i} = __cellarWorker${i};\n`,
    )
    .join('');
  return Buffer.concat([bytes, Buffer.from(`\n${imports}`)]);
}

/**
 * The memo's entries with each `resolved` map moved into one table: the facts of how imports
 * resolve are mostly the same folders and config files for every module of a project (a
 * notebook's 1,000 task modules each held the same dozen, a 4 MB memo read and written on every
 * run). `facts` holds each fact once (a restamped copy wins: any copy's hash is the content's),
 * `sets` each distinct list of keys once, and an entry names its list by index (`resolvedSet`).
 */
function resolvedFactsApart(entries: Record<string, EntryMemo>): {
  entries: Record<string, unknown>;
  facts: ResolveFacts;
  sets: string[][];
} {
  const facts: ResolveFacts = {};
  const sets: string[][] = [];
  const setIndex = new Map<string, number>();
  const out: Record<string, unknown> = {};
  for (const [path, entry] of Object.entries(entries)) {
    if (!entry.resolved) {
      out[path] = entry;
      continue;
    }
    const keys = Object.keys(entry.resolved).sort();
    for (const k of keys) facts[k] = entry.resolved[k]!;
    const id = keys.join('\n');
    let index = setIndex.get(id);
    if (index === undefined) {
      index = sets.push(keys) - 1;
      setIndex.set(id, index);
    }
    const { resolved: _, ...rest } = entry;
    out[path] = { ...rest, resolvedSet: index };
  }
  return { entries: out, facts, sets };
}

/** The entries as `resolvedFactsApart` wrote them, each with its own `resolved` map again. */
function withResolvedFacts(
  entries: Record<string, EntryMemo & { resolvedSet?: number }>,
  facts: ResolveFacts,
  sets: string[][],
): Record<string, EntryMemo> {
  for (const entry of Object.values(entries)) {
    const keys = entry.resolvedSet === undefined ? undefined : sets[entry.resolvedSet];
    delete entry.resolvedSet;
    if (!keys || !keys.every((k) => facts[k])) continue; // no facts: treated as stale (re-hashed)
    entry.resolved = Object.fromEntries(keys.map((k) => [k, facts[k]!]));
  }
  return entries;
}

const warnedWorkers = new Set<string>();

/**
 * Say once per process, for each `new Worker(…)` whose script Cellar cannot name before the run,
 * that what it runs is not in the task's key, with the ways out (as a child process is warned
 * about: runtime/run/perform.ts `warnChildProcess`).
 */
/**
 * Database clients a task may open itself: what it reads through them (tables, and files the
 * database reads in native code) is in no key. `sql` from 'cellar' keys both.
 */
const DATABASE_CLIENTS = new Set([
  '@duckdb/node-api',
  '@duckdb/node-bindings',
  'duckdb',
  'duckdb-async',
  'better-sqlite3',
  'sqlite3',
  'pg',
  'mysql2',
]);
const warnedClients = new Set<string>();

/** Warn, once per module and client, that a module opens a database client itself. */
function warnDatabaseClients(entry: string, clients: readonly string[]): void {
  const fresh = clients.filter((c) => !warnedClients.has(`${entry}\0${c}`));
  if (fresh.length === 0) return;
  for (const c of fresh) warnedClients.add(`${entry}\0${c}`);
  const root = process.cwd();
  const shown = entry.startsWith(root + sep) ? entry.slice(root.length + 1) : entry;
  process.stderr.write(
    `cellar: warning: ${shown} imports ${fresh.map((c) => `'${c}'`).join(', ')}: what a task reads through its own database connection (tables, and files the database reads in native code) is not in its key, so an edit leaves it cached. ` +
      `Query through \`sql\` from 'cellar' (tables and files it reads are keyed), or mark the task \`//| rerun\` to run it on every run.\n`,
  );
}

function warnUnkeyedWorkers(calls: readonly string[]): void {
  const fresh = calls.filter((c) => !warnedWorkers.has(c));
  if (fresh.length === 0) return;
  for (const c of fresh) warnedWorkers.add(c);
  const root = process.cwd();
  const shown = fresh.map((c) => {
    const cell = workerCallInCell(c);
    if (cell) return cell;
    return c.startsWith(root + sep) ? c.slice(root.length + 1) : c;
  });
  // In a cell there is no `import.meta` (E_IMPORT_META): the statically named form lives in a module.
  const inCell = shown.some((s) => s.includes('.ipynb, cell '));
  process.stderr.write(
    `cellar: warning: a worker thread whose script is named only at run time: ${shown.slice(0, 3).join('; ')}${shown.length > 3 ? ` and ${shown.length - 3} more` : ''}. ` +
      `What that script runs is not in the key of the tasks using this code: editing it leaves them cached. ` +
      (inCell
        ? `Start the worker from a local module the cell imports (e.g. lib/workers.ts), naming its script there as new Worker(new URL('./work.mjs', import.meta.url)); or mark the tasks \`//| rerun\` to run them on every run.\n`
        : `Name the script statically (new Worker(new URL('./work.mjs', import.meta.url))), or mark the tasks \`//| rerun\` to run them on every run.\n`),
  );
}

/**
 * An unkeyed worker call (`<file>:<line>: <code>`) in a generated module, as the notebook shows
 * it: `notebooks/x.ipynb, cell 3 (id c2), line 2: <code>`; undefined when the file is not a
 * generated module or its notebook cannot be read (the caller shows the file). The line counts
 * the cell's directive lines; Prettier may have re-wrapped lines above it (locate.ts).
 */
function workerCallInCell(call: string): string | undefined {
  const m = /^(.*?):(\d+): (.*)$/s.exec(call);
  if (!m) return undefined;
  const [, file, line, code] = m as unknown as [string, string, string, string];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const at = locateInNotebook(text, Number(line));
  const notebook = at?.cellId ? namedNotebook(join(dirname(file), 'pipeline.ts')) : undefined;
  const cell = notebook ? readCellPositions(notebook)?.get(at!.cellId!) : undefined;
  if (!cell) return undefined;
  const shownNb = relative(findProjectRoot(dirname(notebook!)), notebook!);
  return `${shownNb}, cell ${cell.cell} (id ${cell.id}), line ${at!.codeLine + cell.directiveLines}: ${code}`;
}

/** The path of a package's file inside its folder (`…/node_modules/<name>/lib/x.js` → `lib/x.js`). */
function insidePackage(file: string, name: string): string {
  const marker = `node_modules${sep}${name.split('/').join(sep)}${sep}`;
  const at = file.lastIndexOf(marker);
  return (at < 0 ? basename(file) : file.slice(at + marker.length)).split(sep).join('/');
}

/**
 * May one of these tsconfig.json / jsconfig.json files map a bare import to local files? Read as
 * text (they allow comments): any mention of `paths` or `baseUrl`, an `extends` of a package
 * (not followed; a relative one is in the list already), or a file that cannot be read says
 * yes. A yes only costs a build that asks about 'cellar' imports.
 */
export function mayAliasBareImports(tsconfigs: readonly string[]): boolean {
  for (const file of tsconfigs) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // gone since esbuild read it: a new build decides, and the key notes the change
      return true;
    }
    if (/"(?:paths|baseUrl)"\s*:/.test(text)) return true;
    const ext = /"extends"\s*:\s*(\S)/.exec(text);
    if (ext && (ext[1] !== '"' || !/"extends"\s*:\s*"\./.test(text))) return true;
  }
  return false;
}

/** A file of the running Cellar's runtime: its sources (runtime/) or its build (dist/). */
function isCellarsOwnFile(path: string): boolean {
  const own = cellarPackageDir();
  return (
    own !== undefined &&
    (path.startsWith(join(own, 'runtime') + sep) || path.startsWith(join(own, 'dist') + sep))
  );
}

/**
 * The bare imports `linkedPackagesAsCode` looks at: every one but exactly `cellar` and a `node:`
 * builtin, which are external whatever the callback would decide (the build's `external` and
 * `platform: 'node'` say so). Go's regexp has no lookahead, hence the spelled-out branches. Each
 * match is a round trip to this thread: a 1,000-task notebook's modules all import 'cellar', and
 * their answers cost ~0.3 ms each (by --cpu-prof of a cold run), for no decision.
 */
export const BARE_IMPORT_TO_CHECK =
  /^(?:[^./cn]|c(?:$|[^e]|e(?:$|[^l]|l(?:$|[^l]|l(?:$|[^a]|a(?:$|[^r]|r.)))))|n(?:$|[^o]|o(?:$|[^d]|d(?:$|[^e]|e(?:$|[^:])))))/;

function linkedPackagesAsCode(
  /** Importing file → package name → the files its imports of that package resolved to. */
  entries: Map<string, Map<string, Set<string>>> | undefined,
  /**
   * A tsconfig may alias bare imports (`paths`, `baseUrl`): 'cellar' is looked at too, and is
   * the runtime (external) only where it resolves to an installed package or Cellar's own files;
   * an alias to local code bundles that code, which the run bundles and runs as well.
   */
  aliasable: boolean,
): import('esbuild').Plugin {
  const INNER = Symbol('resolving a package');
  return {
    name: 'cellar-linked-packages',
    setup(build) {
      const decided = new Map<string, import('esbuild').OnResolveResult>();
      /** memo key → the package file an external import resolved to. */
      const packageFiles = new Map<string, string>();
      build.onResolve({ filter: aliasable ? /^[^./]/ : BARE_IMPORT_TO_CHECK }, async (args) => {
        if (args.pluginData === INNER) return undefined;
        const external = { path: args.path, external: true };
        if (args.path.startsWith('node:') || isBuiltin(args.path)) return external;
        const cellar = packageName(args.path) === 'cellar';
        if (cellar && !aliasable) return external;
        const memoKey = `${args.resolveDir}\0${args.path}\0${args.kind}`;
        const known = decided.get(memoKey);
        if (known) {
          const file = packageFiles.get(memoKey);
          if (file && entries) noteEntry(entries, args.importer, packageName(args.path), file);
          return known;
        }
        const found = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: INNER,
        });
        const answer =
          found.errors.length > 0 ||
          found.external ||
          !found.path ||
          isInNodeModules(found.path) ||
          (cellar && isCellarsOwnFile(found.path))
            ? external
            : { path: found.path };
        decided.set(memoKey, answer);
        if (!cellar && answer === external && found.path && isInNodeModules(found.path)) {
          packageFiles.set(memoKey, found.path);
          if (entries) noteEntry(entries, args.importer, packageName(args.path), found.path);
        }
        return answer;
      });
    },
  };
}

function noteEntry(
  entries: Map<string, Map<string, Set<string>>>,
  importer: string,
  name: string,
  file: string,
): void {
  let byName = entries.get(importer);
  if (!byName) entries.set(importer, (byName = new Map()));
  let files = byName.get(name);
  if (!files) byName.set(name, (files = new Set()));
  files.add(file);
}

/** Whether a resolved file (esbuild resolves symlinks to real paths) lies under a node_modules. */
const isInNodeModules = (file: string) => file.split(/[\\/]/).includes('node_modules');

/** The input files reachable from `entry` through the metafile's import graph. */
function reachableInputs(metafile: import('esbuild').Metafile, entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || !metafile.inputs[file]) continue;
    seen.add(file);
    for (const i of metafile.inputs[file]!.imports) if (!i.external) queue.push(i.path);
  }
  return [...seen];
}

/** Base64 digit values by character code (-1: not a digit), for source map VLQs. */
const BASE64 = new Int8Array(128).fill(-1);
for (const [i, c] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
].entries())
  BASE64[c.charCodeAt(0)] = i;

/**
 * The minified bundle text split per source file by its source map, each file's stretches
 * hashed, so `--dry-run` names the file that changed. Every character belongs to one stretch: the
 * text before the first mapping (esbuild's own helpers) to `<bundle>`, and each stretch to the
 * source of the mapping it starts at. A file can have several stretches. The sequence of stretches
 * (which file, in turn) is hashed with the entry module's own part (`entryName`; `<order>` if the
 * entry contributes no code), so the parts together determine the whole text: two bundles that
 * differ only in the order of their files' code (swapped side-effect imports) differ, in the
 * module whose imports say that order.
 */
function splitBySource(
  text: string,
  map: { sources: string[]; mappings: string },
  name: (source: string) => string,
  entryName: string,
): Record<string, string> {
  const names = map.sources.map(name);
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const stretches = new Map<string, string[]>();
  const order: string[] = [];
  let current = '<bundle>';
  let at = 0;
  const close = (end: number) => {
    const body = text.slice(at, end);
    if (body.trim() === '' || onlyBuiltinImports(body)) return;
    const list = stretches.get(current);
    if (list) list.push(body);
    else stretches.set(current, [body]);
    order.push(current);
  };
  // The mappings (source map v3: `;` ends a generated line, `,` a segment, each segment base64
  // VLQ deltas: column, source, line, column[, name]); only the first two fields are used.
  // Decoded here: @jridgewell/sourcemap-codec took 370 ms on one 344 KB line (a 1,000-module
  // bundle), this loop 15 ms.
  const m = map.mappings;
  let line = 0;
  let column = 0;
  let sourceIndex = 0;
  for (let i = 0; i < m.length;) {
    const c = m.charCodeAt(i);
    if (c === 59 /* ; */) {
      line++;
      column = 0;
      i++;
      continue;
    }
    if (c === 44 /* , */) {
      i++;
      continue;
    }
    let fields = 0;
    let columnDelta = 0;
    let sourceDelta = 0;
    while (i < m.length) {
      const d = m.charCodeAt(i);
      if (d === 44 || d === 59) break;
      let value = 0;
      let shift = 0;
      let digit: number;
      do {
        digit = BASE64[m.charCodeAt(i++)] ?? -1;
        if (digit < 0) throw new Error(`esbuild's source map has a bad character at ${i - 1}`);
        value += (digit & 31) * 2 ** shift;
        shift += 5;
      } while (digit & 32);
      const delta = value % 2 === 1 ? -(value - 1) / 2 : value / 2;
      if (fields === 0) columnDelta = delta;
      else if (fields === 1) sourceDelta = delta;
      fields++;
    }
    column += columnDelta;
    // A one-field segment maps to no source: its text stays with the stretch it is in.
    if (fields < 4) continue;
    sourceIndex += sourceDelta;
    const start = lineStarts[line];
    if (start === undefined) break;
    const source = names[sourceIndex] ?? '<bundle>';
    if (source === current) continue;
    const offset = start + column;
    close(offset);
    current = source;
    at = offset;
  }
  close(text.length);
  const orderOwner = stretches.has(entryName) ? entryName : '<order>';
  const files: Record<string, string> = {};
  for (const [file, list] of stretches)
    if (file !== orderOwner)
      files[file] = sha256(list.length === 1 ? list[0]! : JSON.stringify(list)).slice(0, 16);
  files[orderOwner] = sha256(
    JSON.stringify({ stretches: stretches.get(orderOwner) ?? [], order }),
  ).slice(0, 16);
  return files;
}

/** Pseudo-variables for host facts in the `env` key input (never names of real variables). */
export { HOST_TIME_ZONE, HOST_LOCALE };

/**
 * Environment variables named in code: `process.env.X`, `process.env['X']`, `const { X, Y: y } =
 * process.env`, and a Deno notebook's `Deno.env.get('X')`. `*` marks a read by computed name (`process.env[name]`), which no key can follow.
 */
export function envReadIn(code: string): string[] {
  const names = new Set<string>();
  for (const m of code.matchAll(
    /process\.env\s*(?:\?\.)?\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*(?:(["'`])([^"'`]*)\2|([^\]]*))\s*\])/g,
  )) {
    if (m[1]) names.add(m[1]);
    else if (m[3] !== undefined) names.add(m[3]);
    else names.add('*');
  }
  // Deno notebooks' `Deno.env.get('X')` (runtime/deno.ts reads process.env[X]).
  for (const m of code.matchAll(
    /\bDeno\d*\s*\.\s*env\s*\.\s*get\s*\(\s*(?:(["'`])([^"'`$]*)\1\s*\)|([^)]*)\))/g,
  ))
    names.add(m[2] !== undefined ? m[2] : '*');
  // Host facts that change what the same code computes: local-time Date methods (`getHours`,
  // parsing '2024-03-10 02:30', `toString`) follow the host's time zone, and `Intl` /
  // `toLocale…String` its locale. Keyed as pseudo-variables (keys.ts `hostFact`), so a laptop in
  // another zone never gets a value computed in this one; code that never names them keeps
  // sharing results across zones. Packages the code imports are scanned apart (package-facts.ts:
  // their code is not in the bundle). The locale also orders and cases strings (`localeCompare`,
  // `toLocaleUpperCase`: Turkish dotted i).
  // A Date the code did not build names no `Date` (`statSync(f).mtime.getHours()`, an upstream's
  // Date): its local-time methods count by themselves (package-facts.ts TIME_ZONE_USE).
  if (/\b(?:Date|Intl)\b|\.toLocale\w*String\b/.test(code) || TIME_ZONE_USE.test(code))
    names.add(HOST_TIME_ZONE);
  if (/\bIntl\b|\.toLocale\w*\b|\blocaleCompare\b/.test(code)) names.add(HOST_LOCALE);
  for (const m of code.matchAll(/\{([^{}]*)\}\s*=\s*process\.env\b/g)) {
    for (const part of m[1]!.split(',')) {
      const name = part.split(':')[0]!.split('=')[0]!.trim();
      if (name.startsWith('...')) names.add('*');
      else if (/^[A-Za-z_$][\w$]*$/.test(name)) names.add(name);
    }
  }
  return [...names].sort();
}

/** esbuild-normalised text of a module and the specifiers it imports (static and literal dynamic). */
export async function normalise(
  source: string,
  file: string,
): Promise<{ normalised: string; imports: string[] }> {
  const loader = codeLoaderFor(file);
  // Data files (JSON, SQL, CSV read through an import) are hashed as they are.
  if (loader === undefined) return { normalised: source, imports: [] };
  const [{ transform }, lexer] = await Promise.all([import('esbuild'), import('es-module-lexer')]);
  let out: { code: string };
  try {
    out = await transform(source, {
      loader,
      format: 'esm',
      minifyWhitespace: true,
      legalComments: 'none',
      target: 'es2022',
    });
  } catch {
    // Unparseable code will fail when it runs; key it by its text meanwhile.
    return { normalised: source, imports: [] };
  }
  await lexer.init;
  const [imports] = lexer.parse(out.code);
  const specs = [
    ...new Set(imports.map((i) => i.n).filter((n): n is string => typeof n === 'string')),
  ].sort();
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
    candidates.push(
      `${base}.ts`,
      `${base}.tsx`,
      `${base}.js`,
      join(base, 'index.ts'),
      join(base, 'index.js'),
    );
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
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]!]),
  );
}

/**
 * A stretch that only imports Node built-ins (`import{createReadStream}from"node:fs";`): what
 * esbuild keeps of a module whose code the entry does not use but whose imports it keeps. A
 * built-in's import does nothing and holds no code of the file's, so the file is not counted as
 * reached (a setup module imported by every task for its side effects would otherwise join its
 * helpers' run-time reads to every task's key: run-reads.ts `moduleRecordsOfCode`).
 */
function onlyBuiltinImports(body: string): boolean {
  const IMPORT = /import\s*(?:[\w$*{}\s,]*?from\s*)?(["'])([^"']+)\1\s*;?/g;
  const specifiers = [...body.matchAll(IMPORT)].map((m) => m[2]!);
  if (specifiers.length === 0 || body.replace(IMPORT, '').trim() !== '') return false;
  return specifiers.every((s) => isBuiltin(s));
}
