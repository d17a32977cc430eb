// Which esbuild loader reads a file, by its extension: one table for the three esbuild builds
// that load a task's files themselves (the key's bundle, key/codehash.ts; the run's cached
// bundle, load/bundle.ts; `cellar build`, cli/build/build.ts), so they read a file alike.

/** An esbuild loader Cellar picks for a file it hands to esbuild. */
export type FileLoader = 'ts' | 'tsx' | 'js' | 'jsx' | 'json' | 'text';

/** A loader of code: the module's imports and `import.meta` mean something in it. */
export type CodeLoader = Extract<FileLoader, 'ts' | 'tsx' | 'js' | 'jsx'>;

const BY_EXTENSION: Readonly<Record<string, FileLoader>> = {
  ts: 'ts',
  mts: 'ts',
  cts: 'ts',
  tsx: 'tsx',
  js: 'js',
  mjs: 'js',
  cjs: 'js',
  jsx: 'jsx',
  json: 'json',
  txt: 'text',
};

/**
 * The loader for `path` by its extension (`.mts` → `ts`, `.cjs` → `js`, `.txt` → `text`), or
 * undefined where esbuild's own default applies (an extension not listed, or none).
 */
export function loaderFor(path: string): FileLoader | undefined {
  const dot = path.lastIndexOf('.');
  if (dot < 0 || /[\\/]/.test(path.slice(dot))) return undefined;
  const ext = path.slice(dot + 1);
  return Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext] : undefined;
}

/** The code loader for `path` (TypeScript or JavaScript, any module flavour), else undefined. */
export function codeLoaderFor(path: string): CodeLoader | undefined {
  const loader = loaderFor(path);
  return loader === 'json' || loader === 'text' ? undefined : loader;
}
