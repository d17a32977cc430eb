// Host facts a package's code may depend on: the time zone and the default locale.
//
// A task's own code is scanned for them (codehash.ts `envReadIn`), but the bundle keeps packages
// external, so `format(ts, 'yyyy-MM-dd HH:mm')` from a date library computes in the host's zone
// with no `Date` in the task's text. Each package the task imports is scanned here instead, with
// the packages it depends on (their code runs too), once per installed version: the answer is
// memoised by the package's folder and version (codehash.ts keeps it in its memo).
//
// The patterns are the ones whose result follows the host: local-time Date getters and setters,
// `getTimezoneOffset`, `toString`-style date printing, parsing or building a Date from parts
// (`new Date(y, m, d)`, `new Date('2024-03-10 02:30')`, `Date.parse`), and anything `Intl` or
// locale-aware (`toLocale…`, `localeCompare`). `new Date()` and `Date.now()` alone are not: the
// instant is the same in every zone. A scan that cannot finish (an unreadable folder, a package
// too large to read) answers both facts: a key too fine only costs sharing results across hosts.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { HOST_LOCALE, HOST_TIME_ZONE } from './hash.js';

/** `@timeZone` / `@locale` (hash.ts), sorted: the host facts a package's code may depend on. */
export type PackageHostFacts = readonly string[];

/** Code whose result follows the host's time zone (also used on a task's own code, codehash.ts). */
export const TIME_ZONE_USE =
  /\.(?:get|set)(?:FullYear|Month|Date|Day|Hours|Minutes|Seconds|Milliseconds|Year)\s*\(|\bgetTimezoneOffset\b|\.to(?:Date|Time|Locale\w*)String\b|\bDate\s*\.\s*parse\b|\bnew\s+Date\s*\(\s*[^)\s]|\bIntl\b/;
/** A bare specifier in `import … from 'x'`, `import('x')`, `require('x')`, `export … from 'x'`. */
const BARE_IMPORT =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["']([^"'./][^"']*)["']/g;

/** `@scope/name` or `name` of a bare specifier (`lodash/fp` → `lodash`). */
function packageNameOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const LOCALE_USE = /\bIntl\b|\.toLocale\w*\b|\blocaleCompare\b/;
const CODE_FILE = /\.(?:m|c)?js$|\.(?:m|c)?ts$/;
/** Bytes read across a package and its dependencies before giving up and answering both facts. */
const MAX_BYTES = 256 * 1024 * 1024;

/** Where package `name` is installed, as Node resolves it from `fromDir` (its folder, real path). */
export function packageFolder(fromDir: string, name: string): string | undefined {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const folder = join(dir, 'node_modules', name);
    if (existsSync(join(folder, 'package.json'))) return realpathSync(folder);
    if (dirname(dir) === dir) return undefined;
  }
}

/** `name@version` of the package in `folder` (its package.json), for the memo. */
export function packageIdentity(folder: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return `${folder}@${pkg.version ?? 'unknown'}`;
  } catch {
    return `${folder}@unreadable`;
  }
}

/**
 * The host facts the code of the package in `folder` and of every package it depends on
 * (`dependencies`, `optionalDependencies`, `peerDependencies`, resolved as Node would) may
 * depend on. Reads `.js`/`.mjs`/`.cjs`/`.ts` files (not `.d.ts`), stopping once both facts are
 * found. Never throws: what cannot be read answers both facts.
 */
export function scanPackageHostFacts(folder: string): PackageHostFacts {
  const facts = new Set<string>();
  const seen = new Set<string>();
  let bytes = 0;
  const both = () => facts.size === 2;
  // Packages the code imports by name: its declared dependencies, and any it imports without
  // declaring them (a hoisted "phantom" dependency Node still resolves).
  const imported = new Set<string>();
  const scanFile = (file: string) => {
    const text = readFileSync(file, 'utf8');
    bytes += text.length;
    if (!facts.has(HOST_TIME_ZONE) && TIME_ZONE_USE.test(text)) facts.add(HOST_TIME_ZONE);
    if (!facts.has(HOST_LOCALE) && LOCALE_USE.test(text)) facts.add(HOST_LOCALE);
    for (const m of text.matchAll(BARE_IMPORT)) imported.add(packageNameOf(m[1]!));
  };
  const scanFolder = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (both() || bytes > MAX_BYTES) return;
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      // A nested node_modules holds dependencies: reached through package.json below.
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') scanFolder(path);
      } else if (
        (entry.isFile() || (entry.isSymbolicLink() && statSync(path).isFile())) &&
        CODE_FILE.test(entry.name) &&
        !/\.d\.[mc]?ts$/.test(entry.name) &&
        extname(entry.name) !== '.map'
      )
        scanFile(path);
    }
  };
  const scanPackage = (pkg: string) => {
    if (seen.has(pkg) || both() || bytes > MAX_BYTES) return;
    seen.add(pkg);
    imported.clear();
    scanFolder(pkg);
    const undeclared = [...imported];
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    const deps = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      ...undeclared.filter(
        (name) => !isBuiltin(name) && name !== (manifest as { name?: unknown }).name,
      ),
    ]);
    for (const dep of [...deps].sort()) {
      const depFolder = packageFolder(pkg, dep);
      if (depFolder) scanPackage(depFolder);
    }
  };
  try {
    scanPackage(folder);
  } catch {
    return [HOST_LOCALE, HOST_TIME_ZONE];
  }
  if (bytes > MAX_BYTES) return [HOST_LOCALE, HOST_TIME_ZONE];
  return [...facts].sort();
}
