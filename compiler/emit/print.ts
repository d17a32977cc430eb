// formatFiles: EmittedFile[] → the same files formatted by Prettier with fixed options.
//
// Generated code is code a reviewer reads, so it is formatted like hand-written code; fixed
// options and a pinned Prettier make the bytes stable (compile twice → identical output). Prettier
// is imported lazily (it is only needed when something was emitted) and a formatter cache, keyed
// by the unformatted text, lets watch mode and the incremental cache skip unchanged modules.
import type { EmittedFile } from '../types.js';

export const PRETTIER_OPTIONS = {
  parser: 'typescript',
  singleQuote: true,
  printWidth: 100,
  trailingComma: 'all',
  semi: true,
  endOfLine: 'lf',
} as const;

export interface FormatCache {
  get(raw: string): string | undefined;
  set(raw: string, formatted: string): void;
}

let prettier: Promise<typeof import('prettier')> | undefined;

export async function formatTypeScript(code: string): Promise<string> {
  prettier ??= import('prettier');
  return (await prettier).format(code, PRETTIER_OPTIONS);
}

export async function formatFiles(files: EmittedFile[], cache?: FormatCache): Promise<EmittedFile[]> {
  return Promise.all(
    files.map(async (f) => {
      const hit = cache?.get(f.contents);
      if (hit !== undefined) return { path: f.path, contents: hit };
      const contents = await formatTypeScript(f.contents);
      cache?.set(f.contents, contents);
      return { path: f.path, contents };
    }),
  );
}
