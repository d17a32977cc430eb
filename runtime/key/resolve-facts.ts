// How esbuild resolved a build's local imports, as facts that a stat can check.
//
// A bundle (load/bundle.ts) or a code fingerprint (codehash.ts) rests on the files esbuild read,
// recorded by content. It also rests on files esbuild did NOT read: `import './lib/util.js'`
// resolved to util.ts because lib/util.js did not exist, `import './lib/other'` picked other.ts
// because lib/other.tsx (tried first) did not exist; a new file there (a stray tsc output, a
// renamed component) changes what esbuild would bundle while every recorded file stays the same.
// Likewise a symlinked folder on the way (`notebooks/lib -> ../shared/v1`): esbuild records the
// real paths (shared/v1/util.ts), so re-pointing the link leaves every recorded file unchanged.
//
// So each relative or absolute import is also recorded as the folders it was looked up in, as
// imported (through links, not their real paths): for every folder on the way from the importer's
// folder to the imported path, the entries whose names could answer the lookup there (the next
// component; for the last one, its stem and every name `<stem>.…`, so `util.js`, `util.ts`,
// `util.tsx`, `util/`; inside an imported folder, `index.…` and `package.json`), each with its
// type and, for a symlink, its target. A link's target is followed the same way, so a chain of
// links (`lib -> current`, `current -> v1`) is covered too. Equal entries there mean the same
// resolution.
//
// Files esbuild consults for settings also steer what it bundles, though none is an input: the
// package.json that governs a module (its `imports` map: `#lib/util.ts` -> ./shared/v1/util.ts;
// `type`, `sideEffects`, which tree-shaking follows; a folder package's or a linked package's
// `main`/`exports`) and the tsconfig.json / jsconfig.json esbuild applies (`paths`, `baseUrl`,
// the transform's switches, an `extends` it names). So for every file esbuild loads, the folders
// from its own up to the nearest package.json, and up to the nearest tsconfig.json or
// jsconfig.json, are recorded as facts of those names (a config file added in between steers
// instead), and the config files found as content facts (`<file>\0\0content`: the file's stat
// facts and the hash of its bytes, '' when missing). Re-pointing `#lib/*` in package.json re-bundles
// and re-keys; an edit that steers nothing re-bundles to the same code (same keys). Per folder
// that is still one stat (shared with the folder's other facts), and one per config file found.
// Not covered: how a bare specifier of an installed package resolves (packages are keyed by
// version and entry files).
//
// A fact holds the folder's stat facts (inode, mtime, ctime) beside the entries' hash: adding,
// removing, renaming or re-pointing an entry moves the folder's mtime and ctime, so an unchanged
// folder is one `stat`; a moved one is listed again, and only different entries are a change.
// A stamp taken within `stampLimits.racyMs` of the folder's last change is not trusted (as file
// stamps are, filestamp.ts). A fact that moved while the build ran is recorded as moved, so the
// next check builds again.
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync, type Dirent } from 'node:fs';
import { basename, dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { sha256 } from './hash.js';
import { stampLimits } from './filestamp.js';

/** The entries of one folder that could answer a lookup, with the folder's stat facts. */
export interface DirFact {
  /** sha256 (16 hex) of the matching entries (name, type, link target), sorted. */
  hash: string;
  /** The folder's inode, mtime and ctime (ns) as the hash was taken; '' when it did not exist. */
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
  /** False when taken within `stampLimits.racyMs` of the folder's last change. */
  trusted: boolean;
}

/** `<folder>\0<stem>` → the fact: the folder's entries named `<stem>` or `<stem>.…`; or
 *  `<file>\0\0content` → the fact of a file's bytes (its stat facts, the hash of its content). */
export type ResolveFacts = Record<string, DirFact>;

/** The stem of a content fact: a NUL names no entry, so no folder fact has it. */
const CONTENT = '\0content';

/** The config files that steer esbuild's resolution and transform of a module in a folder. */
const PACKAGE_JSON = 'package.json';
const TSCONFIGS = ['tsconfig.json', 'jsconfig.json'];

const MOVED = 'moved during the build';

/** A folder as it is now: its stat facts, and its entries (listed on demand). */
interface DirNow {
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
  trusted: boolean;
  entries?: [name: string, described: string][];
  /** `entries` by every stem they answer for (`hashOf`), built on first use. */
  byStem?: Map<string, string[]>;
}

/** Per-check cache of folders stat'ed and listed (one stat, at most one listing, per folder). */
export type DirCache = Map<string, DirNow>;

function dirNow(dir: string, cache: DirCache): DirNow {
  let now = cache.get(dir);
  if (now) return now;
  let st;
  try {
    st = statSync(dir, { bigint: true, throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st || !st.isDirectory()) now = { ino: '', mtimeNs: '', ctimeNs: '', trusted: true };
  else {
    const lastChangeMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n);
    now = {
      ino: String(st.ino),
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
      trusted: Date.now() - lastChangeMs >= stampLimits.racyMs,
    };
  }
  cache.set(dir, now);
  return now;
}

/** Each entry as `name`, `name/` (folder), `name@target` (symlink) or `name?` (other). */
function entriesOf(dir: string, now: DirNow): [string, string][] {
  if (now.entries) return now.entries;
  let list: Dirent[] = [];
  try {
    list = readdirSync(dir, { withFileTypes: true });
  } catch {
    // missing or not a folder: no entries
  }
  now.entries = list.map((d) => {
    if (d.isSymbolicLink()) {
      let target = '';
      try {
        target = readlinkSync(join(dir, d.name));
      } catch {
        // gone since the listing: the next check lists again
      }
      return [d.name, `${d.name}@${target}`];
    }
    return [d.name, d.isDirectory() ? `${d.name}/` : d.isFile() ? d.name : `${d.name}?`];
  });
  return now.entries;
}

/**
 * The hash of the folder's entries named `stem` or `stem.<anything>` (`util`, `util.ts`,
 * `util.js.ts`). Through an index of the entries by stem, built once per folder and check: a
 * folder of 1,000 generated task modules is asked for each of their stems, and filtering its
 * 1,000 entries for each was a million comparisons per keying (bench: scale, wide 1000).
 */
function hashOf(dir: string, now: DirNow, stem: string): string {
  if (!now.byStem) {
    const byStem = new Map<string, string[]>();
    const add = (key: string, described: string) => {
      const list = byStem.get(key);
      if (list) list.push(described);
      else byStem.set(key, [described]);
    };
    for (const [name, described] of entriesOf(dir, now)) {
      add(name, described);
      // Every stem `name` answers for besides itself: its text before each '.'.
      for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1))
        add(name.slice(0, i), described);
    }
    now.byStem = byStem;
  }
  return sha256([...(now.byStem.get(stem) ?? [])].sort().join('\n')).slice(0, 16);
}

function factNow(dir: string, prefix: string, cache: DirCache): DirFact {
  const now = dirNow(dir, cache);
  return {
    hash: hashOf(dir, now, prefix),
    ino: now.ino,
    mtimeNs: now.mtimeNs,
    ctimeNs: now.ctimeNs,
    trusted: now.trusted,
  };
}

/** A file's stat facts as a content fact's, taken before its bytes are read. */
/** `fileStat`, once per check (the codehash memo checks the same package.json and tsconfig.json
 *  for each of a notebook's 1,000 task modules); kept beside the folders, under a key no
 *  folder has (a NUL). */
function fileNow(file: string, cache: DirCache): Omit<DirFact, 'hash'> {
  const key = `${file}\0file`;
  let now = cache.get(key);
  if (!now) cache.set(key, (now = fileStat(file)));
  return now;
}

function fileStat(file: string): Omit<DirFact, 'hash'> {
  let st;
  try {
    st = statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st || !st.isFile()) return { ino: '', mtimeNs: '', ctimeNs: '', trusted: true };
  const lastChangeMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n);
  return {
    ino: String(st.ino),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
    trusted: Date.now() - lastChangeMs >= stampLimits.racyMs,
  };
}

/** The hash of a file's bytes ('' when it cannot be read). */
function contentHashOf(file: string): string {
  try {
    return sha256(readFileSync(file)).slice(0, 16);
  } catch {
    return '';
  }
}

/** The fact of a file's content now (stat first: a write after it moves the stat). */
function contentFactNow(file: string): DirFact {
  const st = fileStat(file);
  return { ...st, hash: st.ino === '' ? '' : contentHashOf(file) };
}

/** The fact under `key` as it is now (a folder's entries or a file's content). */
function keyFactNow(key: string, cache: DirCache): DirFact {
  const cut = key.indexOf('\0');
  const stem = key.slice(cut + 1);
  return stem === CONTENT
    ? contentFactNow(key.slice(0, cut))
    : factNow(key.slice(0, cut), stem, cache);
}

/**
 * Do the facts still hold? Refreshes, in place, the stat facts of folders whose entries did not
 * change (`restamped`: the caller may save them). `cache`: folders already stat'ed in this check.
 */
export function checkResolveFacts(
  facts: ResolveFacts | undefined,
  cache: DirCache = new Map(),
): { same: boolean; restamped: boolean } {
  let restamped = false;
  for (const [key, fact] of Object.entries(facts ?? {})) {
    const cut = key.indexOf('\0');
    const dir = key.slice(0, cut);
    const content = key.slice(cut + 1) === CONTENT;
    const now = content ? fileNow(dir, cache) : dirNow(dir, cache);
    if (
      fact.trusted &&
      now.ino === fact.ino &&
      now.mtimeNs === fact.mtimeNs &&
      now.ctimeNs === fact.ctimeNs
    )
      continue;
    const hash = content
      ? now.ino === ''
        ? ''
        : contentHashOf(dir)
      : hashOf(dir, now as DirNow, key.slice(cut + 1));
    if (hash !== fact.hash) return { same: false, restamped };
    if (
      now.ino !== fact.ino ||
      now.mtimeNs !== fact.mtimeNs ||
      now.ctimeNs !== fact.ctimeNs ||
      now.trusted !== fact.trusted
    ) {
      facts![key] = {
        ...fact,
        ino: now.ino,
        mtimeNs: now.mtimeNs,
        ctimeNs: now.ctimeNs,
        trusted: now.trusted,
      };
      restamped = true;
    }
  }
  return { same: true, restamped };
}

/** JS/TS extensions esbuild swaps or appends (`./x.js` may load x.ts): stripped for the stem. */
const CODE_EXT = /\.(?:[cm]?[jt]sx?)$/;

/**
 * Records, during one esbuild build, the facts of every relative or absolute import's lookup
 * (see the header), per importing file. Add `plugin()` first in the build's plugins; call
 * `settle()` after the build.
 */
export class ResolveRecorder {
  private readonly facts = new Map<string, DirFact>();
  private readonly byImporter = new Map<string, Set<string>>();
  private readonly cache: DirCache = new Map();
  private readonly linksSeen = new Set<string>();
  /** Folder → the keys of the config facts of a module in it (`configOf`). */
  private readonly configs = new Map<string, string[]>();
  /** The tsconfig.json / jsconfig.json files that apply to a loaded file, and what they extend. */
  private readonly tsconfigFiles = new Set<string>();

  plugin(): import('esbuild').Plugin {
    return {
      name: 'cellar-resolve-facts',
      setup: (build) => {
        build.onResolve({ filter: /^(?:\.|\/|[A-Za-z]:[\\/])/ }, (args) => {
          // An entry point is named by its exact path (its file is an input, by content).
          if (args.kind === 'entry-point' || args.namespace !== 'file') return undefined;
          const spec = args.path.replace(/[?#].*$/, '');
          const from = args.resolveDir || dirname(args.importer);
          try {
            this.lookup(args.importer, from, spec);
          } catch {
            // a fact not taken only loses precision: never fail the build over it
          }
          return undefined;
        });
        // Every file esbuild loads: the config files that steer its imports and its transform.
        build.onLoad({ filter: /.*/ }, (args) => {
          if (args.namespace !== 'file') return undefined;
          try {
            for (const key of this.configOf(dirname(args.path))) this.own(args.path, key);
          } catch {
            // a fact not taken only loses precision: never fail the build over it
          }
          return undefined;
        });
      },
    };
  }

  private own(owner: string, key: string): void {
    let set = this.byImporter.get(owner);
    if (!set) this.byImporter.set(owner, (set = new Set()));
    set.add(key);
  }

  private addContent(owner: string, file: string): void {
    const key = `${file}\0${CONTENT}`;
    if (!this.facts.has(key)) this.facts.set(key, contentFactNow(file));
    this.own(owner, key);
  }

  /**
   * The facts of the config files esbuild consults for a module in `dir` (see the header): the
   * folders up to the nearest package.json and the nearest tsconfig.json / jsconfig.json, and
   * the content of those found (and of a relative `extends` a tsconfig names). Once per folder.
   */
  private configOf(dir: string): string[] {
    const known = this.configs.get(dir);
    if (known) return known;
    const keys: string[] = [];
    const folder = (d: string, stem: string) => {
      const key = `${d}\0${stem}`;
      if (!this.facts.has(key)) this.facts.set(key, factNow(d, stem, this.cache));
      keys.push(key);
      return entriesOf(d, dirNow(d, this.cache)).some(([name]) => name === stem);
    };
    const content = (file: string) => {
      const key = `${file}\0${CONTENT}`;
      if (!this.facts.has(key)) this.facts.set(key, contentFactNow(file));
      keys.push(key);
    };
    let needPackage = true;
    let needTsconfig = true;
    for (let d = resolve(dir); needPackage || needTsconfig; d = dirname(d)) {
      if (needPackage && folder(d, PACKAGE_JSON)) {
        content(join(d, PACKAGE_JSON));
        needPackage = false;
      }
      if (needTsconfig)
        for (const name of TSCONFIGS)
          if (folder(d, name)) {
            content(join(d, name));
            this.tsconfigFiles.add(join(d, name));
            this.extendsOf(join(d, name), content);
            needTsconfig = false;
          }
      if (dirname(d) === d) break;
    }
    this.configs.set(dir, keys);
    return keys;
  }

  /** The content facts of the configs a tsconfig.json `extends` by relative path, in a chain. */
  private extendsOf(file: string, content: (file: string) => void, depth = 0): void {
    if (depth > 8) return;
    let ext: unknown;
    try {
      // tsconfig.json allows comments and trailing commas: only a plain `"extends": "…"` is read.
      ext = /"extends"\s*:\s*"([^"]+)"/.exec(readFileSync(file, 'utf8'))?.[1];
    } catch {
      return;
    }
    if (typeof ext !== 'string' || !ext.startsWith('.')) return;
    let target = resolve(dirname(file), ext);
    if (!target.endsWith('.json')) target += '.json';
    content(target);
    this.tsconfigFiles.add(target);
    this.extendsOf(target, content, depth + 1);
  }

  private add(owner: string, dir: string, prefix: string): void {
    const key = `${dir}\0${prefix}`;
    if (!this.facts.has(key)) this.facts.set(key, factNow(dir, prefix, this.cache));
    this.own(owner, key);
  }

  private lookup(owner: string, from: string, spec: string): void {
    const target = isAbsolute(spec) ? resolve(spec) : resolve(from, spec);
    // The importer's folder is a real path (esbuild resolves links): only the components the
    // specifier adds below the common ancestor can be links or be shadowed.
    let base = from ? resolve(from) : parse(target).root;
    while (base !== dirname(base) && relative(base, target).startsWith('..')) base = dirname(base);
    if (relative(base, target).startsWith('..')) base = parse(target).root;
    const parts = relative(base, target).split(sep).filter(Boolean);
    let dir = base;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      this.add(owner, dir, last ? part.replace(CODE_EXT, '') : part);
      const path = join(dir, part);
      this.followLink(owner, path, 0);
      dir = path;
    });
    // An imported folder: its index file or package.json answers.
    if (dirNow(target, this.cache).ino !== '') {
      this.add(owner, target, 'index');
      this.add(owner, target, 'package.json');
      // Its `main` / `exports` picks the file.
      this.addContent(owner, join(target, 'package.json'));
    }
  }

  /** When `path` is a symlink, the facts of its target's lookup too (a link to a link). */
  private followLink(owner: string, path: string, depth: number): void {
    if (depth > 32) return;
    let st;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch {
      return;
    }
    if (!st?.isSymbolicLink()) return;
    const linkTarget = resolve(dirname(path), readlinkSync(path));
    const key = `${owner}\0${linkTarget}`;
    if (this.linksSeen.has(key)) return;
    this.linksSeen.add(key);
    // Every link among the target's components (its own entry is in its folder's fact).
    const root = parse(linkTarget).root;
    let dir = root;
    for (const part of linkTarget.slice(root.length).split(sep).filter(Boolean)) {
      const next = join(dir, part);
      let isLink = false;
      try {
        isLink = lstatSync(next, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
      } catch {
        // unreadable: no fact
      }
      if (isLink) {
        this.add(owner, dir, part);
        this.followLink(owner, next, depth + 1);
      }
      dir = next;
    }
    this.add(owner, dirname(linkTarget), basename(linkTarget));
  }

  /**
   * After the build: a fact whose entries are no longer those first listed moved while esbuild
   * ran, and what esbuild saw is unknown, so it is recorded as moved (the next check builds
   * again). A folder whose stat moved but whose entries did not (a file written beside them)
   * keeps the stat facts taken before the build: its next check lists it and restamps.
   */
  /**
   * The tsconfig.json / jsconfig.json files esbuild consults for the files loaded so far (the
   * nearest to each, and those they `extends` by relative path), absolute.
   */
  tsconfigs(): string[] {
    return [...this.tsconfigFiles];
  }

  settle(): void {
    const cache: DirCache = new Map();
    for (const [key, fact] of this.facts)
      if (keyFactNow(key, cache).hash !== fact.hash)
        this.facts.set(key, { ...fact, hash: MOVED, trusted: false });
  }

  /** The facts of the imports made by `importers` (absolute paths). */
  factsOf(importers: Iterable<string>): ResolveFacts {
    const keys = new Set<string>();
    for (const importer of importers)
      for (const key of this.byImporter.get(importer) ?? []) keys.add(key);
    const out: ResolveFacts = {};
    for (const key of [...keys].sort()) out[key] = this.facts.get(key)!;
    return out;
  }

  /** Every fact of the build. */
  all(): ResolveFacts {
    return this.factsOf(this.byImporter.keys());
  }
}

/** Well-formed facts (a damaged memo or record is not trusted). */
export function wellFormedFacts(facts: unknown): facts is ResolveFacts {
  return (
    facts !== null &&
    typeof facts === 'object' &&
    Object.entries(facts as object).every(
      ([k, f]) =>
        k.includes('\0') &&
        f !== null &&
        typeof f === 'object' &&
        typeof f.hash === 'string' &&
        typeof f.ino === 'string' &&
        typeof f.mtimeNs === 'string' &&
        typeof f.ctimeNs === 'string' &&
        typeof f.trusted === 'boolean',
    )
  );
}

/**
 * Facts as the warm-run record stores them (runtime/run/warm-record.ts): one array per run of
 * facts of one folder with the same stat facts, `[folder, ino, mtimeNs, ctimeNs, trusted (1 or 0),
 * stem, hash, stem, hash, …]`, each key `folder + '\0' + stem`. A 1,000-task notebook's bundle
 * has a fact per module of one folder: as an object each with the folder's stat facts repeated,
 * they were half the record and most of its parse in a fresh process (docs/design/warm-path.md,
 * stop 30).
 */
export type PackedFacts = (string | number)[][];

/** `facts` packed (see `PackedFacts`), in order. */
export function packFacts(facts: Readonly<ResolveFacts>): PackedFacts {
  const out: PackedFacts = [];
  let group: (string | number)[] | undefined;
  for (const [key, f] of Object.entries(facts)) {
    const cut = key.indexOf('\0');
    const dir = key.slice(0, cut);
    const trusted = f.trusted ? 1 : 0;
    if (
      group?.[0] !== dir ||
      group[1] !== f.ino ||
      group[2] !== f.mtimeNs ||
      group[3] !== f.ctimeNs ||
      group[4] !== trusted
    )
      out.push((group = [dir, f.ino, f.mtimeNs, f.ctimeNs, trusted]));
    group.push(key.slice(cut + 1), f.hash);
  }
  return out;
}

/** The facts `packFacts` packed, or undefined when `packed` is not of that shape (damaged). */
export function unpackFacts(packed: unknown): ResolveFacts | undefined {
  if (!Array.isArray(packed)) return undefined;
  const out: ResolveFacts = {};
  for (const group of packed as unknown[]) {
    if (!Array.isArray(group) || group.length < 5 || group.length % 2 !== 1) return undefined;
    const [dir, ino, mtimeNs, ctimeNs, trusted] = group as unknown[];
    if (
      typeof dir !== 'string' ||
      dir.includes('\0') ||
      typeof ino !== 'string' ||
      typeof mtimeNs !== 'string' ||
      typeof ctimeNs !== 'string' ||
      (trusted !== 0 && trusted !== 1)
    )
      return undefined;
    for (let i = 5; i < group.length; i += 2) {
      const stem: unknown = group[i];
      const hash: unknown = group[i + 1];
      if (typeof stem !== 'string' || typeof hash !== 'string') return undefined;
      out[`${dir}\0${stem}`] = { hash, ino, mtimeNs, ctimeNs, trusted: trusted === 1 };
    }
  }
  return out;
}
