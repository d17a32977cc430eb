// A module URL as a file path. Apart from the code hasher (codehash.ts, which re-exports it) so
// that what needs only this (the workspace rule, on every warm `cellar run`) does not load the
// hasher.
import { fileURLToPath } from 'node:url';

const paths = new Map<string, string>();

/** Strip tsx's `?tsx-namespace=…` (and any other query) and turn a module URL into a path. */
export function modulePath(moduleUrl: string): string {
  let path = paths.get(moduleUrl);
  if (path === undefined) {
    const clean = moduleUrl.replace(/[?#].*$/, '');
    path = clean.startsWith('file:') ? fileURLToPath(clean) : clean;
    paths.set(moduleUrl, path);
  }
  return path;
}
