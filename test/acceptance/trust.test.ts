// A cached result is always the right result (issue 8), through the real CLI on the shared
// failing cases (test/acceptance/fixtures/trust/, copies of /work/shared/cases): code a task
// loads by any import is in its key and in the pipeline bundle's freshness, by content.
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Project,
  fixtures,
  project,
  removeProjects,
  runStatuses as run,
  showOutput as show,
  editKeepingMtimeAndSize,
  runBuilt,
} from './harness.js';
import { notebookText } from '../compiler/notebook.js';

afterAll(removeProjects);

const trust = join(fixtures, 'trust');

function withCase(...files: string[]): Project {
  const p = project();
  for (const f of files)
    cpSync(join(trust, f), join(p.dir, 'notebooks', f), {
      recursive: true,
      preserveTimestamps: true,
    });
  return p;
}

describe('whatever a task loads is in its key and in the bundle, by content', () => {
  it('a helper-module edit that keeps size and mtime re-runs the task with the new code (bug05)', () => {
    const p = withCase('bug05_helper_module.ipynb', 'bug05_lib');
    const nb = 'notebooks/bug05_helper_module.ipynb';
    expect(run(p, nb)).toEqual({ b05_prices: 'ran', b05_counts: 'ran' });
    expect(show(p, nb, 'b05_prices', 'labels')).toEqual(['$1.00', '$2.50', '$10.00']);
    editKeepingMtimeAndSize(
      join(p.dir, 'notebooks', 'bug05_lib', 'round.ts'),
      'Math.round',
      'Math.floor',
    );
    // Only the task that formats prices re-runs, and with the new code.
    expect(run(p, nb)).toEqual({ b05_prices: 'ran', b05_counts: 'cached' });
    expect(show(p, nb, 'b05_prices', 'labels')).toEqual(['$1.00', '$2.49', '$10.00']);
  });

  it('an edited JSON import re-runs its reader with the new values, not the bundled old ones (bug06)', () => {
    const p = withCase('bug06_json_import.ipynb', 'bug06_limits.json');
    const nb = 'notebooks/bug06_json_import.ipynb';
    run(p, nb);
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([25, 121, 140]);
    const limits = join(p.dir, 'notebooks', 'bug06_limits.json');
    writeFileSync(limits, readFileSync(limits, 'utf8').replace('120', '100'));
    expect(run(p, nb)).toEqual({ b06_flag: 'ran' });
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([25, 119, 121, 140]);
    // Variant: the same kind of edit, with size and mtime kept.
    editKeepingMtimeAndSize(limits, '"minSpeed": 30', '"minSpeed": 20');
    expect(run(p, nb)).toEqual({ b06_flag: 'ran' });
    expect(show(p, nb, 'b06_flag', 'flagged')).toEqual([119, 121, 140]);
  });
});

describe('empty tables', () => {
  it('an empty result stored as a table reaches the next task in the shape it left (bug13)', () => {
    const p = withCase('bug13_empty_outputs.ipynb');
    const nb = 'notebooks/bug13_empty_outputs.ipynb';
    expect(run(p, nb)).toEqual({ b13_filter: 'ran', b13_report: 'ran' });
    expect(show(p, nb, 'b13_filter', 'bigOrders')).toEqual([]);
    expect(show(p, nb, 'b13_report', 'rowCount')).toBe(0);
    expect(show(p, nb, 'b13_report', 'columnNames')).toEqual(['id', 'region', 'amount']);
    expect(show(p, nb, 'b13_report', 'amountsIsArray')).toBe(true);
    expect(show(p, nb, 'b13_report', 'totalAmount')).toBe(0);
  });
});

describe('the host time zone and locale', () => {
  // Item 4's kind on the JavaScript side: the embedded warehouse runs in UTC, but a task's own
  // local-time Date methods follow the host's zone. Such a task is keyed on the zone; a task
  // that names no Date or Intl keeps sharing results across zones.
  const NB = 'notebooks/clock.ipynb';
  const CELLS = [
    '//| task: wall\nconst hour = new Date(Date.UTC(2024, 2, 10, 12, 0)).getHours();',
    '//| task: money\nconst shown = (1234.5).toLocaleString();',
    '//| task: plain\nconst twice = 21 * 2;',
  ];

  it('a task using local-time Date methods re-runs in another zone; one naming no Date stays cached', () => {
    const p = project();
    p.write(NB, notebookText(CELLS));
    p.setEnv('TZ', 'America/New_York');
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'ran' });
    expect(show(p, NB, 'wall', 'hour')).toBe(8);
    expect(run(p, NB)).toEqual({ wall: 'cached', money: 'cached', plain: 'cached' });
    p.setEnv('TZ', 'Asia/Tokyo');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.@timeZone: America\/New_York → Asia\/Tokyo/);
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'cached' });
    expect(show(p, NB, 'wall', 'hour')).toBe(21);
    // Back in the first zone, its stored result is served again (the zone is in the key).
    p.setEnv('TZ', 'America/New_York');
    expect(run(p, NB)).toEqual({ wall: 'cached', money: 'cached', plain: 'cached' });
  });

  it('variant: a zone given as a file (TZ=/usr/share/zoneinfo/…, TZ=:/…), which Intl names no zone for, is keyed by what local time computes', () => {
    // What Node itself computes under each TZ (a zone file's rules as ICU reads them).
    const hourUnder = (tz: string) =>
      Number(
        execFileSync(
          process.execPath,
          ['-e', 'console.log(new Date(Date.UTC(2024, 2, 10, 12, 0)).getHours())'],
          { env: { ...process.env, TZ: tz }, encoding: 'utf8' },
        ).trim(),
      );
    const [york, tokyo, kolkata] = [
      '/usr/share/zoneinfo/America/New_York',
      '/usr/share/zoneinfo/Asia/Tokyo',
      ':/usr/share/zoneinfo/Asia/Kolkata',
    ];
    expect(new Set([hourUnder(york), hourUnder(tokyo), hourUnder(kolkata)]).size).toBe(3);
    const p = project();
    p.write(NB, notebookText(CELLS));
    p.setEnv('TZ', york);
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'ran' });
    expect(show(p, NB, 'wall', 'hour')).toBe(hourUnder(york));
    expect(run(p, NB)).toEqual({ wall: 'cached', money: 'cached', plain: 'cached' });
    // Was served New York's hour (the zone dropped out of the key), by the warm path too.
    p.setEnv('TZ', tokyo);
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'cached' });
    expect(show(p, NB, 'wall', 'hour')).toBe(hourUnder(tokyo));
    p.setEnv('TZ', kolkata);
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'cached' });
    expect(show(p, NB, 'wall', 'hour')).toBe(hourUnder(kolkata));
    // The same zone by its file again: its stored result.
    p.setEnv('TZ', tokyo);
    expect(run(p, NB)).toEqual({ wall: 'cached', money: 'cached', plain: 'cached' });
    expect(show(p, NB, 'wall', 'hour')).toBe(hourUnder(tokyo));
  });

  it('variant: a task formatting with the default locale re-runs under another LANG', () => {
    const p = project();
    p.write(NB, notebookText(CELLS));
    p.setEnv('LC_ALL', 'en_US.UTF-8');
    expect(run(p, NB)).toEqual({ wall: 'ran', money: 'ran', plain: 'ran' });
    p.setEnv('LC_ALL', 'de_DE.UTF-8');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.@locale: en-US → de-DE/);
    expect(run(p, NB)).toEqual({ wall: 'cached', money: 'ran', plain: 'cached' });
  });
});

describe('the host time zone and locale, through a package', () => {
  // The same kind again, one level down: the bundle keeps packages external, so a task calling
  // a date library names no Date itself. Each imported package is scanned (with the packages
  // it depends on) for local-time and locale-aware code (runtime/key/package-facts.ts).
  function writePackage(
    p: Project,
    name: string,
    code: string,
    types: string,
    deps: Record<string, string> = {},
  ): void {
    const dir = join(p.dir, 'node_modules', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name,
        version: '1.0.0',
        type: 'module',
        main: 'index.js',
        types: 'index.d.ts',
        dependencies: deps,
      }),
    );
    writeFileSync(join(dir, 'index.js'), code);
    writeFileSync(join(dir, 'index.d.ts'), types);
  }
  const NB = 'notebooks/clock.ipynb';
  const CELLS = [
    // 2024-03-10T12:00:00Z, as a number: the task's own text names no Date.
    "//| task: wall\nimport { hourOf } from 'wallclock';\nconst hour = hourOf(1710072000000);",
    "//| task: ordered\nimport { sortWords } from 'collate-lite';\nconst words = sortWords(['zebra', 'Äpfel', 'apple']);",
    "//| task: plain\nimport { twice } from 'plain-math';\nconst doubled = twice(21);",
  ];
  function clockProject(): Project {
    const p = project();
    // `wallclock` only re-exports: the local-time code is in its dependency.
    writePackage(
      p,
      'wallclock',
      "export { hourOf } from 'clock-core';\n",
      'export declare function hourOf(t: number): number;\n',
      { 'clock-core': '1.0.0' },
    );
    writePackage(
      p,
      'clock-core',
      'export const hourOf = (t) => new Date(t).getHours();\n',
      'export declare function hourOf(t: number): number;\n',
    );
    writePackage(
      p,
      'collate-lite',
      'export const sortWords = (ws) => [...ws].sort((a, b) => a.localeCompare(b));\n',
      'export declare function sortWords(ws: string[]): string[];\n',
    );
    writePackage(
      p,
      'plain-math',
      // The instant `Date.now()` is the same in every zone: not a host fact.
      'export const twice = (x) => x * 2;\nexport const stamp = () => Date.now();\n',
      'export declare function twice(x: number): number;\nexport declare function stamp(): number;\n',
    );
    p.write(NB, notebookText(CELLS));
    return p;
  }

  it('a task whose package (through its dependency) reads local time re-runs in another zone', () => {
    const p = clockProject();
    p.setEnv('TZ', 'America/New_York');
    expect(run(p, NB)).toEqual({ wall: 'ran', ordered: 'ran', plain: 'ran' });
    expect(show(p, NB, 'wall', 'hour')).toBe(8);
    expect(run(p, NB)).toEqual({ wall: 'cached', ordered: 'cached', plain: 'cached' });
    p.setEnv('TZ', 'Asia/Tokyo');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.@timeZone: America\/New_York → Asia\/Tokyo/);
    expect(run(p, NB)).toEqual({ wall: 'ran', ordered: 'cached', plain: 'cached' });
    expect(show(p, NB, 'wall', 'hour')).toBe(21);
  });

  it('variant: a task whose package compares strings by locale re-runs under another LANG', () => {
    const p = clockProject();
    p.setEnv('LC_ALL', 'en_US.UTF-8');
    expect(run(p, NB)).toEqual({ wall: 'ran', ordered: 'ran', plain: 'ran' });
    p.setEnv('LC_ALL', 'sv_SE.UTF-8');
    expect(run(p, NB)).toEqual({ wall: 'cached', ordered: 'ran', plain: 'cached' });
  });
});

describe('environment variables', () => {
  /** Every file under `dir`, read as text (a secret must appear in none of them). */
  function filesContaining(dir: string, needle: string): string[] {
    const hits: string[] = [];
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      if (readFileSync(path).includes(needle)) hits.push(path);
    }
    return hits;
  }

  it('a value read from process.env is keyed (hashed) and never stored, logged or shown', () => {
    const p = withCase('env_token.ipynb');
    const nb = 'notebooks/env_token.ipynb';
    p.setEnv('MY_TOKEN', 'tok-SECRET-1234');
    p.setEnv('API_TOKEN', 'api-SECRET-9876');
    expect(run(p, nb)).toEqual({ e_fetch: 'ran', e_call: 'ran', e_greet: 'ran' });
    // The token is not an output (no //| output asks for it); what was derived from it is.
    const tree = p.cellar('tree', nb, '--json');
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stdout).not.toContain('"token"');
    expect(show(p, nb, 'e_fetch', 'tokenLength')).toBe(15);
    expect(p.cellar('show', nb, 'e_fetch', 'token').code).not.toBe(0);
    // Nowhere in the workspace (outputs, manifests, run logs), nor in what the CLI prints.
    for (const secret of ['tok-SECRET-1234', 'api-SECRET-9876']) {
      expect(filesContaining(join(p.dir, '.cellar'), secret)).toEqual([]);
      expect(tree.stdout).not.toContain(secret);
    }
    // Unchanged values: all cached. A changed value re-runs exactly its readers, including a
    // task that reads it through a setup helper (variant), and --dry-run names the variable.
    expect(run(p, nb)).toEqual({ e_fetch: 'cached', e_call: 'cached', e_greet: 'cached' });
    p.setEnv('API_TOKEN', 'api-SECRET-0000');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toMatch(/env\.API_TOKEN/);
    expect(dry.stdout).not.toContain('api-SECRET');
    expect(run(p, nb)).toEqual({ e_fetch: 'cached', e_call: 'ran', e_greet: 'cached' });
    p.setEnv('MY_TOKEN', undefined);
    expect(run(p, nb)).toEqual({ e_fetch: 'ran', e_call: 'cached', e_greet: 'cached' });
    expect(show(p, nb, 'e_fetch', 'tokenLength')).toBe(0);
  });

  it('an output holding a read value in clear is refused unless //| output declares it', () => {
    const p = withCase('env_token.ipynb');
    const nb = 'notebooks/env_token.ipynb';
    p.setEnv('API_TOKEN', 'api-SECRET-9876');
    const text = p.read(nb);
    const leaky = 'const header = authHeader();';
    p.write(nb, text.replace('const headerLength = authHeader().length;', leaky));
    const r = p.cellar('run', nb, 'e_call');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /task 'e_call', output 'header' holds the value of the environment variable API_TOKEN in clear.*\/\/\| output: header=<codec>.*E_SECRET_IN_OUTPUT/,
    );
    expect(filesContaining(join(p.dir, '.cellar'), 'api-SECRET-9876')).toEqual([]);
    // Declared: stored, as asked.
    p.write(
      nb,
      text.replace(
        '//| task: e_call\\nconst headerLength = authHeader().length;',
        `//| task: e_call\\n//| output: header=text\\n${leaky}`,
      ),
    );
    expect(p.read(nb)).toContain('output: header=text');
    expect(run(p, nb).e_call).toBe('ran');
    expect(show(p, nb, 'e_call', 'header')).toBe('Bearer api-SECRET-9876');
  });
});

describe('params are keyed by what a task can tell apart', () => {
  it('--param n=-0 and n=0 are two keys (1 / n is -Infinity and Infinity)', () => {
    const p = project();
    const NB = 'notebooks/signs.ipynb';
    p.write(
      NB,
      notebookText(['//| params\nconst n = 1;', '//| task: inverse\nconst inv = 1 / n;']),
    );
    const runWith = (v: string) => {
      const r = p.cellar('run', NB, '--param', `n=${v}`, '--json');
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      return JSON.parse(r.stdout).tasks[0].status;
    };
    const showWith = (v: string) => {
      const r = p.cellar('show', NB, 'inverse', 'inv', '--param', `n=${v}`, '--json');
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      return JSON.parse(r.stdout);
    };
    expect(runWith('0')).toBe('ran');
    expect(showWith('0')).toBe('Infinity');
    expect(runWith('-0')).toBe('ran');
    expect(showWith('-0')).toBe('-Infinity');
    expect(showWith('0')).toBe('Infinity');
    expect(runWith('0')).toBe('cached');
  });
});

describe('a package linked into node_modules is code of the project', () => {
  it('an edit to a linked package (npm link, file:, workspaces) without a new version re-runs its users', () => {
    const p = project();
    const NB = 'notebooks/linked.ipynb';
    mkdirSync(join(p.dir, 'packages', 'bumper'), { recursive: true });
    mkdirSync(join(p.dir, 'node_modules'), { recursive: true });
    p.write(
      'packages/bumper/package.json',
      '{ "name": "bumper", "version": "1.0.0", "type": "module", "main": "index.js" }\n',
    );
    p.write('packages/bumper/index.js', 'export const bump = (x) => x + 1;\n');
    p.write('packages/bumper/index.d.ts', 'export declare const bump: (x: number) => number;\n');
    symlinkSync(join('..', 'packages', 'bumper'), join(p.dir, 'node_modules', 'bumper'));
    p.write(
      NB,
      notebookText([
        "import { bump } from 'bumper';",
        '//| task: bumped\nconst value = bump(1);',
        '//| task: plain\nconst other = 2 * 21;',
      ]),
    );
    expect(run(p, NB)).toEqual({ bumped: 'ran', plain: 'ran' });
    expect(show(p, NB, 'bumped', 'value')).toBe(2);
    editKeepingMtimeAndSize(join(p.dir, 'packages', 'bumper', 'index.js'), 'x + 1', 'x + 7');
    expect(run(p, NB)).toEqual({ bumped: 'ran', plain: 'cached' });
    expect(show(p, NB, 'bumped', 'value')).toBe(8);
    expect(run(p, NB)).toEqual({ bumped: 'cached', plain: 'cached' });
  });

  it("re-pointing a linked package's `main` (its version unchanged) re-runs its users with the new file", () => {
    const p = project();
    const NB = 'notebooks/linkedmain.ipynb';
    mkdirSync(join(p.dir, 'packages', 'bumper'), { recursive: true });
    mkdirSync(join(p.dir, 'node_modules'), { recursive: true });
    const manifest = (main: string) =>
      `{ "name": "bumper", "version": "1.0.0", "type": "module", "main": "${main}", "types": "index.d.ts" }\n`;
    p.write('packages/bumper/package.json', manifest('a.js'));
    p.write('packages/bumper/a.js', 'export const bump = (x) => x + 1;\n');
    p.write('packages/bumper/b.js', 'export const bump = (x) => x + 7;\n');
    p.write('packages/bumper/index.d.ts', 'export declare const bump: (x: number) => number;\n');
    symlinkSync(join('..', 'packages', 'bumper'), join(p.dir, 'node_modules', 'bumper'));
    p.write(
      NB,
      notebookText([
        "import { bump } from 'bumper';",
        '//| task: bumped\nconst value = bump(1);',
        '//| task: plain\nconst other = 2 * 21;',
      ]),
    );
    expect(run(p, NB)).toEqual({ bumped: 'ran', plain: 'ran' });
    expect(show(p, NB, 'bumped', 'value')).toBe(2);
    expect(run(p, NB)).toEqual({ bumped: 'cached', plain: 'cached' });
    p.write('packages/bumper/package.json', manifest('b.js'));
    expect(run(p, NB)).toEqual({ bumped: 'ran', plain: 'cached' });
    expect(show(p, NB, 'bumped', 'value')).toBe(8);
    expect(run(p, NB)).toEqual({ bumped: 'cached', plain: 'cached' });
  });
});

describe('a new file or a re-pointed link that changes how an import resolves', () => {
  it('a file added ahead of the one an import loaded re-runs its users with it, bundle too', () => {
    const p = project();
    const NB = 'notebooks/shadow.ipynb';
    mkdirSync(join(p.dir, 'notebooks', 'lib'));
    p.write('notebooks/lib/util.ts', 'export const scale = (x: number) => x * 2;\n');
    p.write('notebooks/lib/other.ts', 'export const twice = (x: number) => x * 2;\n');
    p.write(
      NB,
      notebookText([
        "import { scale } from './lib/util.js';\nimport { twice } from './lib/other';",
        '//| task: t1\nconst v = scale(10);',
        '//| task: t2\nconst w = twice(10);',
      ]),
    );
    expect(run(p, NB)).toEqual({ t1: 'ran', t2: 'ran' });
    expect(run(p, NB)).toEqual({ t1: 'cached', t2: 'cached' });
    // A stray tsc output beside util.ts, and a .tsx esbuild tries ahead of other.ts: what a
    // fresh build loads, so the run re-keys both tasks and loads them from a new bundle.
    p.write('notebooks/lib/util.js', 'export const scale = (x) => x * 7;\n');
    p.write('notebooks/lib/other.tsx', 'export const twice = (x: number) => x * 7;\n');
    expect(run(p, NB)).toEqual({ t1: 'ran', t2: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(70);
    expect(show(p, NB, 't2', 'w')).toBe(70);
    expect(run(p, NB)).toEqual({ t1: 'cached', t2: 'cached' });
  });

  it('re-pointing a symlinked folder re-runs its users with the new target, through a link to a link too', () => {
    const p = project();
    const NB = 'notebooks/symlib.ipynb';
    for (const v of ['v1', 'v2', 'v3']) mkdirSync(join(p.dir, 'shared', v), { recursive: true });
    p.write('shared/v1/util.ts', 'export const scale = (x: number) => x * 2;\n');
    p.write('shared/v2/util.ts', 'export const scale = (x: number) => x * 9;\n');
    p.write('shared/v3/util.ts', 'export const scale = (x: number) => x * 5;\n');
    const lib = join(p.dir, 'notebooks', 'lib');
    const repoint = (link: string, target: string) => {
      rmSync(link);
      symlinkSync(target, link);
    };
    symlinkSync(join('..', 'shared', 'v1'), lib);
    p.write(
      NB,
      notebookText(["import { scale } from './lib/util';", '//| task: t1\nconst v = scale(10);']),
    );
    expect(run(p, NB)).toEqual({ t1: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(20);
    repoint(lib, join('..', 'shared', 'v2'));
    expect(run(p, NB)).toEqual({ t1: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(90);
    p.write('shared/v2/util.ts', 'export const scale = (x: number) => x * 8;\n');
    expect(run(p, NB)).toEqual({ t1: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(80);
    // notebooks/lib -> ../shared/current -> v2 (the same code: cached), then current -> v3.
    symlinkSync('v2', join(p.dir, 'shared', 'current'));
    repoint(lib, join('..', 'shared', 'current'));
    expect(run(p, NB)).toEqual({ t1: 'cached' });
    repoint(join(p.dir, 'shared', 'current'), 'v3');
    expect(run(p, NB)).toEqual({ t1: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(50);
    expect(run(p, NB)).toEqual({ t1: 'cached' });
  });
});

describe('what steers resolution besides folders: package.json `imports`', () => {
  const pkg = (imports: Record<string, string>) =>
    JSON.stringify({ name: 'acceptance-project', private: true, type: 'module', imports }) + '\n';

  it('re-pointing a subpath import (#lib/*) in package.json re-runs its users with the new target, bundle too', () => {
    const p = project();
    const NB = 'notebooks/subpath.ipynb';
    for (const v of ['v1', 'v2']) mkdirSync(join(p.dir, 'shared', v), { recursive: true });
    p.write('shared/v1/util.ts', 'export const scale = (x: number) => x * 2;\n');
    p.write('shared/v2/util.ts', 'export const scale = (x: number) => x * 9;\n');
    p.write('package.json', pkg({ '#lib/*': './shared/v1/*' }));
    p.write(
      NB,
      notebookText([
        "import { scale } from '#lib/util.ts';",
        '//| task: t1\nconst v = scale(10);',
        '//| task: t2\nconst w = 3;',
      ]),
    );
    expect(run(p, NB)).toEqual({ t1: 'ran', t2: 'ran' });
    expect(show(p, NB, 't1', 'v')).toBe(20);
    expect(run(p, NB)).toEqual({ t1: 'cached', t2: 'cached' });
    p.write('package.json', pkg({ '#lib/*': './shared/v2/*' }));
    expect(run(p, NB)).toEqual({ t1: 'ran', t2: 'cached' });
    expect(show(p, NB, 't1', 'v')).toBe(90);
    expect(run(p, NB)).toEqual({ t1: 'cached', t2: 'cached' });
    // An edit of package.json that steers nothing keeps the results.
    p.write('package.json', pkg({ '#lib/*': './shared/v2/*', '#other/*': './shared/v1/*' }));
    expect(run(p, NB)).toEqual({ t1: 'cached', t2: 'cached' });
    expect(show(p, NB, 't1', 'v')).toBe(90);
  });
});

describe('a table row without a field reaches the next task as it left', () => {
  it('absent, undefined and null fields stay apart through an Arrow table', () => {
    const p = project();
    const NB = 'notebooks/sparse.ipynb';
    p.write(
      NB,
      notebookText([
        "//| task: make\n//| output: rows=table\nconst rows: { a: number; b?: string | null }[] = [{ a: 1, b: 'x' }, { a: 2 }, { a: 3, b: undefined }, { a: 4, b: null }];",
        "//| task: check\nconst kinds = rows.map((r) => (!('b' in r) ? 'absent' : r.b === undefined ? 'undefined' : r.b === null ? 'null' : r.b));",
      ]),
    );
    expect(run(p, NB)).toEqual({ make: 'ran', check: 'ran' });
    expect(show(p, NB, 'check', 'kinds')).toEqual(['x', 'absent', 'undefined', 'null']);
    // The downstream re-run alone reads the stored table back.
    const r = p.cellar('run', NB, '--rerun', 'check', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(show(p, NB, 'check', 'kinds')).toEqual(['x', 'absent', 'undefined', 'null']);
  });

  it('a csv output gives its downstream the strings it stored; what CSV cannot keep is refused naming the task', () => {
    const p = project();
    const NB = 'notebooks/codes.ipynb';
    p.write(
      NB,
      notebookText([
        "//| task: make\n//| output: codes=csv\nconst codes = [{ code: '007', sci: '1e3', note: '' }, { code: '010', sci: '2', note: 'x' }];",
        '//| task: label\nconst labels = codes.map((c) => `${c.code}:${typeof c.sci}:${JSON.stringify(c.note)}`);',
      ]),
    );
    expect(run(p, NB)).toEqual({ make: 'ran', label: 'ran' });
    const r = p.cellar('run', NB, '--rerun', 'label', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(show(p, NB, 'label', 'labels')).toEqual(['007:string:""', '010:string:"x"']);

    const BAD = 'notebooks/mixed.ipynb';
    p.write(
      BAD,
      notebookText([
        "//| task: mixed\n//| output: rows=csv\nconst rows = [{ v: 1 }, { v: 'one' }];",
      ]),
    );
    const bad = p.cellar('run', BAD);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(
      /task 'mixed', output 'rows': column "v" mixes number and string values \(row 1\)/,
    );
    expect(bad.stderr + bad.stdout).toMatch(/at notebooks\/mixed\.ipynb, cell 1/);
  });
});

describe('a stored value reaches the next task as it left, or is refused naming the task and output', () => {
  it('a dictionary made with Object.create(null) reaches the next task without a prototype', () => {
    const p = project();
    const NB = 'notebooks/words.ipynb';
    p.write(
      NB,
      notebookText([
        "//| task: count\nconst counts: Record<string, number> = Object.create(null);\nfor (const w of ['apple', 'pear', 'apple']) counts[w] = (counts[w] ?? 0) + 1;",
        "//| task: check\nconst inherited = ['constructor', 'toString', 'hasOwnProperty'].filter((k) => k in counts);\nconst apples = counts.apple;",
      ]),
    );
    expect(run(p, NB)).toEqual({ count: 'ran', check: 'ran' });
    expect(show(p, NB, 'check', 'inherited')).toEqual([]);
    expect(show(p, NB, 'check', 'apples')).toBe(2);
    // The downstream re-run alone decodes the stored dictionary.
    const r = p.cellar('run', NB, '--rerun', 'check', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(show(p, NB, 'check', 'inherited')).toEqual([]);
  });

  it('a value with a symbol-keyed property is refused at store time, naming the task, the output and the key', () => {
    const p = project();
    const NB = 'notebooks/tagged.ipynb';
    p.write(
      NB,
      notebookText([
        "//| task: summarise\nconst source = Symbol('source');\nconst summary = { rows: 2, [source]: 'warehouse' };",
        '//| task: report\nconst line = `rows: ${summary.rows}`;',
      ]),
    );
    const r = p.cellar('run', NB);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /task 'summarise', output 'summary': holds a property keyed by a symbol at summary\[Symbol\(source\)\]/,
    );
  });
});

describe('code a task runs outside its bundle is in its key (red team: workerfile, pkg_patch)', () => {
  it("a worker thread's script, edited keeping size and mtime, re-runs the task with the new code (warm path too)", () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/par.ts',
      [
        "import { Worker } from 'node:worker_threads';",
        'export function inWorker(x: number): Promise<number> {',
        '  return new Promise((res, rej) => {',
        "    const w = new Worker(new URL('./work.mjs', import.meta.url), { workerData: x });",
        "    w.once('message', res);",
        "    w.once('error', rej);",
        '  });',
        '}',
      ].join('\n'),
    );
    p.write(
      'notebooks/lib/work.mjs',
      "import { parentPort, workerData } from 'node:worker_threads';\nparentPort.postMessage(workerData * 2);\n",
    );
    const nb = 'notebooks/x.ipynb';
    p.write(
      nb,
      notebookText([
        "import { inWorker } from './lib/par.ts';",
        '//| task: t1\nconst out = await inWorker(10);',
      ]),
    );
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'out')).toBe(20);
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/lib/work.mjs'), '* 2', '* 3');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toContain('lib/work.mjs');
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'out')).toBe(30);
  });

  it('a package patched in place, its version unchanged, re-runs its importers with the patched code (warm path too)', () => {
    const p = project();
    mkdirSync(join(p.dir, 'node_modules', 'taxcalc'), { recursive: true });
    p.write(
      'node_modules/taxcalc/package.json',
      JSON.stringify({ name: 'taxcalc', version: '1.0.0', type: 'module', main: 'index.js' }),
    );
    p.write('node_modules/taxcalc/index.js', 'export const rate = (x) => x * 0.10;\n');
    const nb = 'notebooks/x.ipynb';
    p.write(
      nb,
      notebookText(["import { rate } from 'taxcalc';", '//| task: t1\nconst tax = rate(100);']),
    );
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'tax')).toBe(10);
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'node_modules/taxcalc/index.js'), '0.10', '0.20');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toContain('code.files.<package:taxcalc>');
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'tax')).toBe(20);
    expect(run(p, nb)).toEqual({ t1: 'cached' });
  });

  it('a dependency of an imported package upgraded (`npm update`), the imported one unchanged, re-runs its importers with the new code (warm path too)', () => {
    // A newcomer's finding: ml-array-rescale kept its version while its dependency ml-array-max
    // went 2.0.0 → 2.0.1, and the task stayed cached with the old result.
    const p = project();
    const pkg = (
      name: string,
      version: string,
      code: string,
      deps: Record<string, string> = {},
    ) => {
      mkdirSync(join(p.dir, 'node_modules', name), { recursive: true });
      p.write(
        `node_modules/${name}/package.json`,
        JSON.stringify({ name, version, type: 'module', main: 'index.js', dependencies: deps }),
      );
      p.write(`node_modules/${name}/index.js`, code);
    };
    pkg(
      'rescale-lite',
      '1.0.0',
      "import { top } from 'max-lite';\nexport const scale = (xs) => xs.map((x) => x / top(xs));\n",
      { 'max-lite': '^1.0.0' },
    );
    pkg('max-lite', '1.0.0', 'export const top = (xs) => Math.max(...xs);\n');
    const nb = 'notebooks/x.ipynb';
    p.write(
      nb,
      notebookText([
        "import { scale } from 'rescale-lite';",
        '//| task: t1\nconst scaled = scale([1, 2, 4]);',
      ]),
    );
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'scaled')).toEqual([0.25, 0.5, 1]);
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    // The upgrade: another version, another behaviour; rescale-lite's files are untouched.
    pkg('max-lite', '1.0.1', 'export const top = (xs) => 2 * Math.max(...xs);\n');
    const dry = p.cellar('run', nb, '--dry-run');
    expect(dry.stdout).toContain('code.files.<package-deps:rescale-lite>');
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(show(p, nb, 't1', 'scaled')).toEqual([0.125, 0.25, 0.5]);
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    // A declared dependency not installed counts too: installing it later re-runs.
    pkg(
      'rescale-lite',
      '1.0.0',
      "import { top } from 'max-lite';\nexport const scale = (xs) => xs.map((x) => x / top(xs));\n",
      { 'max-lite': '^1.0.0', 'extra-lite': '^1.0.0' },
    );
    expect(run(p, nb)).toEqual({ t1: 'ran' });
    expect(run(p, nb)).toEqual({ t1: 'cached' });
    pkg('extra-lite', '1.0.0', 'export {};\n');
    expect(run(p, nb)).toEqual({ t1: 'ran' });
  });

  it("a built folder whose machine installed another version of a package keys what is installed, never sharing results with the build's version", () => {
    // A newcomer's finding: the built folder filed a result computed with ms 9.9.9 under the key
    // of ms 2.1.3 (the build's), and a source run on that workspace was then served it.
    const p = project();
    const pkg = (dir: string, version: string, factor: number) => {
      mkdirSync(join(p.dir, dir, 'unit-lite'), { recursive: true });
      p.write(
        `${dir}/unit-lite/package.json`,
        JSON.stringify({ name: 'unit-lite', version, type: 'module', main: 'index.js' }),
      );
      p.write(`${dir}/unit-lite/index.js`, `export const per = (x) => x * ${factor};\n`);
    };
    pkg('node_modules', '1.0.0', 10);
    const nb = 'notebooks/x.ipynb';
    p.write(
      nb,
      notebookText(["import { per } from 'unit-lite';", '//| task: t1\nconst v = per(2);']),
    );
    const b = p.cellar('build', nb, '--out', 'dist', '--no-lockfile');
    expect(b.code, b.stderr).toBe(0);
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t1: 'ran' });
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t1: 'cached' });
    expect(run(p, nb, '--workspace', 'ws')).toEqual({ t1: 'cached' }); // the same key both ways
    // The batch machine's own install: another version, another result.
    pkg('dist/node_modules', '9.9.9', 1000);
    const moved = p.run(process.execPath, ['dist/run.mjs', '--json', '--workspace', 'ws']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout).tasks[0].status).toBe('ran');
    expect(moved.stderr).toContain('unit-lite 1.0.0 → 9.9.9');
    // The sources (1.0.0) are still served their own result, not the built folder's.
    expect(run(p, nb, '--workspace', 'ws')).toEqual({ t1: 'cached' });
    expect(show(p, nb, 't1', 'v', '--workspace', 'ws')).toBe(20);
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t1: 'cached' });
  });
});
