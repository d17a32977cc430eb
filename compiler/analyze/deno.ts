// What a Deno-kernel notebook means under Node: its import specifiers and the `Deno.*` APIs a
// data notebook uses. Pure tables and string functions (no node:*), used by the cell analyzer.
//
// The mapped APIs run through the runtime's shim (`runtime/deno.ts`, imported as `Deno` from
// 'cellar' by the generated module), so the emitted code is the notebook's code unchanged; an env
// read `Deno.env.get('X')` enters the task's key like `process.env.X` (runtime/key/codehash.ts).
// `Deno.jupyter.*` displays are dropped from the modules like tslab's.

/** `Deno.<path>` members the shim provides, by the dotted path after `Deno.`. */
export const MAPPED_DENO_APIS: ReadonlySet<string> = new Set([
  'readTextFile',
  'readTextFileSync',
  'readFile',
  'readFileSync',
  'writeTextFile',
  'writeTextFileSync',
  'env.get',
  'cwd',
  'jupyter.display',
  'jupyter.md',
  'jupyter.html',
  'jupyter.svg',
]);

/** Node equivalents named in the hint of an unmapped API, where one is well known. */
const NODE_EQUIVALENT: Readonly<Record<string, string>> = {
  writeFile: '`writeFile` from node:fs/promises',
  writeFileSync: '`writeFileSync` from node:fs',
  readDir: '`readdir` from node:fs/promises',
  readDirSync: '`readdirSync` from node:fs',
  stat: '`stat` from node:fs/promises',
  statSync: '`statSync` from node:fs',
  mkdir: '`mkdir` from node:fs/promises',
  remove: '`rm` from node:fs/promises',
  args: '`process.argv`',
  exit: '`process.exit`',
  'env.set': 'a `//| params` constant (an env write is invisible to the task key)',
  'env.toObject': '`process.env` (read single names: `Deno.env.get("X")`)',
  open: '`open` from node:fs/promises',
  Command: '`execFile` from node:child_process',
  serve: 'a server outside the pipeline',
};

/** The dotted path a `Deno.<a>.<b>` chain names, as far as it is plain property access. */
export function denoApiName(chain: readonly string[]): string {
  // `Deno.env.get` and `Deno.jupyter.md` are two deep; everything else one.
  const two = chain.slice(0, 2).join('.');
  if (chain[0] === 'env' || chain[0] === 'jupyter') return two || chain[0];
  return chain[0] ?? '';
}

/** The hint for a `Deno.*` API the shim does not map. */
export function unmappedDenoHint(api: string): string {
  const node = NODE_EQUIVALENT[api];
  return (
    (node ? `use ${node}; ` : 'use the Node equivalent; ') +
    'the pipeline maps Deno.readTextFile(Sync), Deno.readFile(Sync), Deno.writeTextFile(Sync), Deno.env.get, Deno.cwd and the Deno.jupyter displays'
  );
}

export type MappedSpecifier =
  { module: string; version?: string } | { error: string; npm?: string; why?: string };

/**
 * Well-known npm packages for Deno-only imports, by `jsr:` package name (checked with `npm view`
 * on 2026-11-30: no `@std/*` package is on the npm registry). `node:` builtins where Node has one.
 */
const JSR_TO_NPM: Readonly<Record<string, string>> = {
  '@std/assert': 'node:assert',
  '@std/path': 'node:path',
  '@std/fs': 'node:fs',
  '@std/csv': 'csv-parse',
  '@std/yaml': 'yaml',
  '@std/toml': 'smol-toml',
  '@std/dotenv': 'dotenv',
  '@std/uuid': 'uuid',
  '@std/expect': 'vitest',
};

/** The npm package name in an npm CDN URL (esm.sh, unpkg, jsDelivr, Skypack), with its version. */
function npmFromCdn(url: string): { name: string; version?: string } | undefined {
  const m =
    /^https?:\/\/(?:esm\.sh|unpkg\.com|cdn\.skypack\.dev|cdn\.jsdelivr\.net\/npm)\/(?:v\d+\/)?((?:@[^/@]+\/)?[^/@?]+)(?:@([^/?]+))?/.exec(
      url,
    );
  if (!m) return undefined;
  return m[2] ? { name: m[1]!, version: m[2] } : { name: m[1]! };
}

/**
 * An import specifier as Node sees it. Deno's `npm:pkg@1.2/sub` → `pkg/sub` (the version kept
 * for the install hint); `node:`, bare and relative specifiers stay. `jsr:` and URL imports are
 * errors, with the npm package to use where a well-known one exists.
 */
export function mapSpecifier(spec: string): MappedSpecifier {
  if (spec.startsWith('npm:')) {
    const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]*))?(\/.*)?$/.exec(spec);
    if (m) return { module: m[1]! + (m[3] ?? ''), ...(m[2] ? { version: m[2] } : {}) };
  }
  if (spec.startsWith('jsr:')) {
    const m = /^jsr:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(spec);
    const npm = m ? JSR_TO_NPM[m[1]!] : undefined;
    return npm ? { error: spec, npm } : { error: spec };
  }
  if (/^https?:/.test(spec)) {
    const cdn = npmFromCdn(spec);
    return cdn
      ? { error: spec, npm: cdn.version ? `${cdn.name}@${cdn.version}` : cdn.name }
      : { error: spec };
  }
  return { module: spec };
}

/** The package a bare specifier names: `@scope/pkg/sub` → `@scope/pkg`; undefined for builtins and paths. */
export function packageName(spec: string): string | undefined {
  // `#lib/x`: a subpath import, mapped by the `imports` field of the nearest package.json.
  if (
    spec.startsWith('.') ||
    spec.startsWith('/') ||
    spec.startsWith('node:') ||
    spec.startsWith('#')
  )
    return undefined;
  const m = /^((?:@[^/]+\/)?[^/]+)/.exec(spec);
  return m?.[1];
}
