// The architecture's import rules, checked over every source file (docs/design/architecture.md):
//
// - compiler/ never imports runtime/ or cli/ (nor 'cellar'): it only turns notebooks into files.
//   One exception: a leaf of the runtime (its opening comment says "Pure" and it imports
//   nothing), so a rule both sides apply has one copy; it drags nothing of the runtime along.
// - runtime/ never imports compiler/ or cli/: it is the package that generated code and built
//   bundles ship with, and must not drag the compiler along.
// - cli/ is the one place that imports both.
// - A file is pure when it is in compiler/ (all but host.ts, the compiler's one adapter) or when
//   its opening comment says "Pure": such files import no `node:*` module.
// - Adapters (runtime/warehouse/adapters/, runtime/store/) never import the task integration
//   (runtime/warehouse/tasks/, runtime/run/hooks.ts): an adapter knows tables and files, not tasks.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.m?ts$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(join(d, e.name));
    }
  };
  walk(join(root, dir));
  return out.map((f) => relative(root, f));
}

/** The specifiers a file imports or re-exports, statically or dynamically. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g;
  for (const m of text.matchAll(re)) specs.push(m[2]!);
  return specs;
}

/** Where an import lands: a repo-relative path for a relative specifier, else the specifier. */
function target(file: string, spec: string): string {
  return spec.startsWith('.') ? relative(root, resolve(root, dirname(file), spec)) : spec;
}

function leadingComment(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    out.push(line);
  }
  return out.join('\n');
}

interface Edge {
  file: string;
  to: string;
}

const files = ['compiler', 'runtime', 'cli'].flatMap(sourceFiles);
const edges: Edge[] = files.flatMap((file) =>
  importsOf(readFileSync(join(root, file), 'utf8')).map((spec) => ({
    file,
    to: target(file, spec),
  })),
);
const under = (path: string, dir: string) => path === dir || path.startsWith(dir + '/');

/** A runtime file the compiler may import: its opening comment says "Pure" and it imports
 *  nothing (`to` is an import target, `.js` as written for a `.ts` source). */
function pureLeaf(to: string): boolean {
  const file = to.replace(/\.js$/, '.ts');
  if (!files.includes(file)) return false;
  const text = readFileSync(join(root, file), 'utf8');
  return /\bPure\b/.test(leadingComment(text)) && importsOf(text).length === 0;
}

describe('layering', () => {
  it('sees the whole tree', () => {
    expect(files.filter((f) => f.startsWith('compiler/')).length).toBeGreaterThan(10);
    expect(files.filter((f) => f.startsWith('runtime/')).length).toBeGreaterThan(30);
    expect(files.filter((f) => f.startsWith('cli/')).length).toBeGreaterThan(5);
    expect(edges.length).toBeGreaterThan(200);
  });

  it('the compiler never imports the runtime (but its pure leaves) or the CLI', () => {
    const bad = edges.filter(
      (e) =>
        under(e.file, 'compiler') &&
        ((under(e.to, 'runtime') && !pureLeaf(e.to)) || under(e.to, 'cli') || e.to === 'cellar'),
    );
    expect(bad).toEqual([]);
  });

  it('the runtime never imports the compiler or the CLI', () => {
    const bad = edges.filter(
      (e) => under(e.file, 'runtime') && (under(e.to, 'compiler') || under(e.to, 'cli')),
    );
    expect(bad).toEqual([]);
  });

  it('pure files import no node:* module', () => {
    const pure = files.filter(
      (f) =>
        (under(f, 'compiler') && f !== 'compiler/host.ts') ||
        /\bPure\b/.test(leadingComment(readFileSync(join(root, f), 'utf8'))),
    );
    expect(pure.length).toBeGreaterThan(20);
    const bad = edges.filter((e) => pure.includes(e.file) && e.to.startsWith('node:'));
    expect(bad).toEqual([]);
  });

  it('adapters never import the task integration', () => {
    const adapters = (f: string) =>
      under(f, 'runtime/warehouse/adapters') || under(f, 'runtime/store');
    const taskSide = (t: string) =>
      under(t, 'runtime/warehouse/tasks') ||
      t === 'runtime/run/hooks.js' ||
      t === 'runtime/run/hooks.ts';
    const bad = edges.filter((e) => adapters(e.file) && taskSide(e.to));
    expect(bad).toEqual([]);
  });

  it('catches a violation (the checker itself works)', () => {
    const fake: Edge = {
      file: 'runtime/run/run.ts',
      to: target('runtime/run/run.ts', '../../compiler/program.js'),
    };
    expect(under(fake.to, 'compiler')).toBe(true);
    // A runtime file with imports is no leaf, even when pure; the SQL file scanner is one.
    expect(pureLeaf('runtime/warehouse/sql/compose.js')).toBe(false);
    expect(pureLeaf('runtime/warehouse/sql/files.js')).toBe(true);
    expect(
      importsOf(
        "import { a } from './x.js';\nexport * from \"../y.js\";\nconst m = await import('node:fs');",
      ),
    ).toEqual(['./x.js', '../y.js', 'node:fs']);
  });
});
