// Whatever a task reads at run time is in its key (issue 8, runtime/key/run-reads.ts): a data
// file read with readFileSync / fs/promises / a stream, a folder's listing, a file read inside a
// setup helper, an environment variable read by a computed name. Through the real CLI, on worker
// threads and in process. The run after the one that discovered a read re-runs the task once (its
// key gains the input): the tests run twice before editing anything, then expect all cached.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  editKeepingMtimeAndSize,
  project,
  removeProjects,
  runStatuses,
  showOutput,
} from './harness.js';
import { TAMPER_SCRIPT } from '../support/tamper.js';

afterAll(removeProjects);

/** A notebook whose `load` task reads data/penguins.csv and whose `stats` task uses the rows. */
const csvNotebook = (read: string, imports: string) =>
  notebookText([
    imports,
    `//| task: load\n${read}\nconst masses = text.trim().split("\\n").slice(1).map((l) => Number(l.split(",")[1]));`,
    '//| task: stats\nconst total = masses.reduce((s, m) => s + m, 0);',
  ]);

const CSV = 'name,mass\nada,3100\nbob,4200\n';

function csvProject(read: string, imports: string): Project {
  const p = project();
  p.write('notebooks/penguins.ipynb', csvNotebook(read, imports));
  p.run('mkdir', ['-p', 'notebooks/data']);
  p.write('notebooks/data/penguins.csv', CSV);
  return p;
}

const NB = 'notebooks/penguins.ipynb';

describe('a data file a task reads at run time is in its key', () => {
  for (const mode of [[], ['--in-process']] as string[][]) {
    it(`a readFileSync'd CSV edited keeping size and mtime re-runs the task and its downstream with the new value${mode.length ? ' (--in-process)' : ' (worker threads)'}`, () => {
      const p = csvProject(
        'const text = readFileSync("data/penguins.csv", "utf8");',
        "import { readFileSync } from 'node:fs';",
      );
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'ran', stats: 'ran' });
      // The read was discovered on the first run: the second keys it (one re-run), then all cached.
      runStatuses(p, NB, ...mode);
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'cached', stats: 'cached' });
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'cached', stats: 'cached' });
      expect(showOutput(p, NB, 'stats', 'total')).toBe(7300);
      editKeepingMtimeAndSize(join(p.dir, 'notebooks/data/penguins.csv'), '4200', '5200');
      const dry = p.cellar('run', NB, '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(
        /reads\.notebooks\/data\/penguins\.csv: [0-9a-f]{16} → [0-9a-f]{16}/,
      );
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'ran', stats: 'ran' });
      expect(showOutput(p, NB, 'stats', 'total')).toBe(8300);
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'cached', stats: 'cached' });
    });
  }

  it('a discovered read costs no second run when the file was already there: the result is filed under the new key', async () => {
    const p = csvProject(
      'const text = readFileSync("data/penguins.csv", "utf8");',
      "import { readFileSync } from 'node:fs';",
    );
    // Older than filestamp's racy window (3 s) when the run starts: the content the task read
    // is provably the content now keyed (adopt-reads.ts).
    await new Promise((done) => setTimeout(done, 3200));
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, NB, 'stats', 'total')).toBe(7300);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', stats: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/data/penguins.csv'), '3100', '3900');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, NB, 'stats', 'total')).toBe(8100);
  });

  it('a Deno notebook reading with Deno.readTextFile is keyed on the file', () => {
    const p = project();
    p.write(
      'notebooks/prices.ipynb',
      notebookText(
        [
          '//| task: load\nconst text = await Deno.readTextFile("prices.csv");\nconst prices = text.trim().split("\\n").slice(1).map(Number);',
          '//| task: stats\nconst total = prices.reduce((s, x) => s + x, 0);',
        ],
        { name: 'deno', language: 'typescript' },
      ),
    );
    p.write('notebooks/prices.csv', 'price\n10\n20\n');
    const nb = 'notebooks/prices.ipynb';
    runStatuses(p, nb);
    runStatuses(p, nb);
    expect(runStatuses(p, nb)).toEqual({ load: 'cached', stats: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/prices.csv'), '20', '30');
    expect(runStatuses(p, nb)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, nb, 'stats', 'total')).toBe(40);
  });

  it('a file read with fs/promises readFile, then deleted: re-runs and fails naming the file, never a stale hit', () => {
    const p = csvProject(
      'const text = await readFile("data/penguins.csv", "utf8");',
      "import { readFile } from 'node:fs/promises';",
    );
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', stats: 'cached' });
    p.write('notebooks/data/penguins.csv', CSV + 'cy,1000\n');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, NB, 'stats', 'total')).toBe(8300);
    rmSync(join(p.dir, 'notebooks/data/penguins.csv'));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/reads\.notebooks\/data\/penguins\.csv: [0-9a-f]{16} → missing/);
    const r = p.cellar('run', NB);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/ENOENT.*penguins\.csv/);
  });

  it('a folder listing gaining a file re-runs the task that listed it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readdirSync, readFileSync } from 'node:fs';",
        '//| task: load\nconst files = readdirSync("data").filter((f) => f.endsWith(".csv")).sort();\nconst rows = files.flatMap((f) => readFileSync(`data/${f}`, "utf8").trim().split("\\n").slice(1));',
        '//| task: stats\nconst count = rows.length;',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/a.csv', 'x\n1\n2\n');
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', stats: 'cached' });
    expect(showOutput(p, NB, 'stats', 'count')).toBe(2);
    p.write('notebooks/data/b.csv', 'x\n3\n');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/reads\.notebooks\/data\/: ls:[0-9a-f]{16} → ls:[0-9a-f]{16}/);
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    // b.csv is read from now on too. Written a moment before that run, it was not adopted into
    // the result's key (adopt-reads.ts): the next run keys it, once.
    runStatuses(p, NB);
    expect(showOutput(p, NB, 'stats', 'count')).toBe(3);
    p.write('notebooks/data/b.csv', 'x\n3\n4\n');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, NB, 'stats', 'count')).toBe(4);
  });

  it('variant: a recursive listing is cached once seen, and a file added deep down (or into an empty folder) re-runs it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readdirSync } from 'node:fs';",
        '//| task: walk\nconst found = readdirSync("tree", { recursive: true }).map(String).filter((f) => f.endsWith(".txt")).length;',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/tree/sub/deeper', 'notebooks/tree/empty']);
    p.write('notebooks/tree/sub/deeper/a.txt', 'a');
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ walk: 'cached' });
    expect(showOutput(p, NB, 'walk', 'found')).toBe(1);
    p.write('notebooks/tree/sub/deeper/b.txt', 'b');
    expect(runStatuses(p, NB)).toEqual({ walk: 'ran' });
    expect(showOutput(p, NB, 'walk', 'found')).toBe(2);
    p.write('notebooks/tree/empty/c.txt', 'c');
    expect(runStatuses(p, NB)).toEqual({ walk: 'ran' });
    expect(showOutput(p, NB, 'walk', 'found')).toBe(3);
  });

  it('a file read by a setup-cell helper, through a stream, is in the key of the task calling it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { createReadStream } from 'node:fs';\nasync function readAll(path: string): Promise<string> {\n  let text = '';\n  for await (const chunk of createReadStream(path, 'utf8')) text += chunk;\n  return text;\n}",
        '//| task: load\nconst text = await readAll("limits.json");\nconst limit = JSON.parse(text).limit as number;',
        '//| task: other\nconst unrelated = 1;',
      ]),
    );
    p.write('notebooks/limits.json', '{ "limit": 30 }\n');
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', other: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/limits.json'), '30', '45');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', other: 'cached' });
    expect(showOutput(p, NB, 'load', 'limit')).toBe(45);
  });

  it('a file outside the project (a shared data folder, by absolute path) is in the key', () => {
    const p = project();
    const shared = join(p.dir, '..', `shared-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    execFileSync('mkdir', ['-p', shared]);
    const file = join(shared, 'rates.txt');
    writeFileSync(file, '7\n');
    try {
      p.write(
        NB,
        notebookText([
          "import { readFileSync } from 'node:fs';",
          `//| task: load\nconst rate = Number(readFileSync(${JSON.stringify(file)}, "utf8"));`,
        ]),
      );
      runStatuses(p, NB);
      runStatuses(p, NB);
      expect(runStatuses(p, NB)).toEqual({ load: 'cached' });
      editKeepingMtimeAndSize(file, '7', '9');
      expect(runStatuses(p, NB)).toEqual({ load: 'ran' });
      expect(showOutput(p, NB, 'load', 'rate')).toBe(9);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });
});

describe('a relative path read at run time follows --workdir', () => {
  it("a run in another workdir re-runs the task on that folder's data, never served the other folder's result", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        '//| task: load\nconst v = readFileSync("data/v.txt", "utf8").trim();',
      ]),
    );
    p.run('mkdir', ['-p', 'dirA/data', 'dirB/data']);
    p.write('dirA/data/v.txt', 'A\n');
    p.write('dirB/data/v.txt', 'B\n');
    const at = (dir: string) => ['--workdir', join(p.dir, dir)];
    expect(runStatuses(p, NB, ...at('dirA'))).toEqual({ load: 'ran' });
    runStatuses(p, NB, ...at('dirA'));
    expect(runStatuses(p, NB, ...at('dirA'))).toEqual({ load: 'cached' });
    expect(showOutput(p, NB, 'load', 'v', ...at('dirA'))).toBe('A');
    // The record holds dirA/data/v.txt, which did not move: only the workdir in the key tells.
    const dry = p.cellar('run', NB, '--dry-run', ...at('dirB'));
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('reads.<workdir>: dirA → dirB');
    expect(runStatuses(p, NB, ...at('dirB'))).toEqual({ load: 'ran' });
    expect(showOutput(p, NB, 'load', 'v', ...at('dirB'))).toBe('B');
    expect(runStatuses(p, NB, ...at('dirB'))).toEqual({ load: 'cached' });
    // Back in dirA: the record now holds both files (a union), so dirA's key moved once; the run
    // computes from dirA's data again, never from dirB's.
    runStatuses(p, NB, ...at('dirA'));
    expect(showOutput(p, NB, 'load', 'v', ...at('dirA'))).toBe('A');
    expect(runStatuses(p, NB, ...at('dirA'))).toEqual({ load: 'cached' });
  });
});

describe('a workdir outside the project (its own project root) keys as one inside it', () => {
  // The run-read records of an outside `--workdir` live in that folder's own `.cellar/` (its
  // project root), while the results live in the pipeline's workspace: a run in another outside
  // folder found no record, computed the first run's key, and was served the other folder's
  // value (`B` read as `A`); `process.cwd()` was keyed `.` in both.
  it.each([[[] as string[]], [['--in-process']]])(
    'runs in two outside folders each compute from their own data, their downstream too, and never share an output file (%j)',
    (extra) => {
      const p = project();
      p.write(
        NB,
        notebookText([
          "import { readFileSync } from 'node:fs';",
          '//| task: load\nconst v = readFileSync("data/v.txt", "utf8").trim();',
          '//| task: twice\nconst w = v + v;',
          '//| task: here\nconst here = process.cwd();',
        ]),
      );
      const outside = mkdtempSync(join(tmpdir(), 'cellar-outside-'));
      try {
        for (const [d, v] of [
          ['a', 'A'],
          ['b', 'B'],
        ]) {
          mkdirSync(join(outside, d, 'data'), { recursive: true });
          writeFileSync(join(outside, d, 'data', 'v.txt'), `${v}\n`);
        }
        const at = (d: string) => ['--workdir', join(outside, d)];
        const expectValues = (d: string, v: string) => {
          expect(showOutput(p, NB, 'load', 'v', ...at(d))).toBe(v);
          expect(showOutput(p, NB, 'twice', 'w', ...at(d))).toBe(v + v);
          expect(showOutput(p, NB, 'here', 'here', ...at(d))).toBe(join(outside, d));
        };
        const run = (d: string) => runStatuses(p, NB, ...at(d), ...extra);
        expect(run('a')).toEqual({ load: 'ran', twice: 'ran', here: 'ran' });
        expectValues('a', 'A');
        expect(run('a')).toEqual({
          load: 'cached',
          twice: 'cached',
          here: 'cached',
        });
        expect(run('b')).toEqual({ load: 'ran', twice: 'ran', here: 'ran' });
        expectValues('b', 'B');
        expect(run('b')).toEqual({
          load: 'cached',
          twice: 'cached',
          here: 'cached',
        });
        // Both folders' results stay whole, side by side in the one workspace.
        expect(run('a')).toEqual({
          load: 'cached',
          twice: 'cached',
          here: 'cached',
        });
        expectValues('a', 'A');
        expectValues('b', 'B');
        const files = readdirSync(join(p.dir, '.cellar', 'workspace', 'penguins', 'load'));
        expect(files.filter((f) => f.startsWith('v_'))).toHaveLength(2);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    },
    300_000,
  );
});

describe('a workdir outside the project: a read made by a memoised setup helper', () => {
  // The task handed the memo keyed by its code (the default) or by its params only: either way
  // its result rests on the file the other task's call read.
  it.each([
    ['code', ''],
    ['params', '\n//| cache: params'],
  ])(
    "the helper's first caller reads the file, the other (cache: %s) is handed the memo: each folder's run computes both from its own file",
    (_mode, cacheDirective) => {
      const p = project();
      p.write(
        NB,
        notebookText([
          [
            "import { readFileSync } from 'node:fs';",
            'let cache: { max: number } | undefined;',
            'function limits(): { max: number } {',
            "  return (cache ??= JSON.parse(readFileSync('data/limits.json', 'utf8')));",
            '}',
          ].join('\n'),
          '//| task: a\nconst capA = limits().max * 1;',
          `//| task: b${cacheDirective}\nconst capB = limits().max * 2;`,
        ]),
      );
      const outside = mkdtempSync(join(tmpdir(), 'cellar-outside-'));
      try {
        for (const [d, max] of [
          ['a', 1],
          ['b', 5],
        ] as const) {
          mkdirSync(join(outside, d, 'data'), { recursive: true });
          writeFileSync(join(outside, d, 'data', 'limits.json'), JSON.stringify({ max }));
        }
        const at = (d: string) => ['--workdir', join(outside, d)];
        const run = (d: string) => runStatuses(p, NB, ...at(d), '--workers', '1');
        // (A result a module's read filled is filed under the next key only when the file is
        // older than the run by the racy window, else on the next run: two runs settle it.)
        run('a');
        run('a');
        expect(showOutput(p, NB, 'b', 'capB', ...at('a'))).toBe(2);
        // Keyed without b's folder's records (it has none): b is not served a's memo value.
        expect(run('b')).toEqual({ a: 'ran', b: 'ran' });
        run('b');
        expect(showOutput(p, NB, 'a', 'capA', ...at('b'))).toBe(5);
        expect(showOutput(p, NB, 'b', 'capB', ...at('b'))).toBe(10);
        run('a');
        expect(showOutput(p, NB, 'b', 'capB', ...at('a'))).toBe(2);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    },
  );
});

describe('the workdir is keyed as the folder it is, whatever path names it', () => {
  it('a workdir through a link re-pointed to another folder (`current -> release-2`) re-runs on that folder; a nested package.json does not make two folders one', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        '//| task: load\nconst v = readFileSync("data/v.txt", "utf8").trim();',
        '//| task: here\nconst here = process.cwd();',
      ]),
    );
    p.run('mkdir', ['-p', 'release-1/data', 'release-2/data']);
    p.write('release-1/data/v.txt', 'one\n');
    p.write('release-2/data/v.txt', 'two\n');
    const at = ['--workdir', join(p.dir, 'current')];
    p.run('ln', ['-sfn', 'release-1', 'current']);
    runStatuses(p, NB, ...at);
    expect(runStatuses(p, NB, ...at)).toEqual({ load: 'cached', here: 'cached' });
    expect(showOutput(p, NB, 'load', 'v', ...at)).toBe('one');
    // Keyed by the link's path, the re-pointed link kept the key: release 1's results were served.
    p.run('ln', ['-sfn', 'release-2', 'current']);
    expect(runStatuses(p, NB, ...at)).toEqual({ load: 'ran', here: 'ran' });
    expect(showOutput(p, NB, 'load', 'v', ...at)).toBe('two');
    expect(showOutput(p, NB, 'here', 'here', ...at)).toBe(join(p.dir, 'release-2'));

    // A folder holding its own package.json is the project root of a workdir inside it: `x` of
    // the outer project and `q/x` were both keyed `x`.
    p.run('mkdir', ['-p', 'x/data', 'q/x/data']);
    p.write('x/data/v.txt', 'x\n');
    p.write('q/x/data/v.txt', 'x\n');
    p.write('q/package.json', '{ "private": true }\n');
    const inX = ['--workdir', join(p.dir, 'x')];
    const inQX = ['--workdir', join(p.dir, 'q', 'x')];
    runStatuses(p, NB, ...inX);
    expect(showOutput(p, NB, 'here', 'here', ...inX)).toBe(join(p.dir, 'x'));
    expect(runStatuses(p, NB, ...inQX).here).toBe('ran');
    expect(showOutput(p, NB, 'here', 'here', ...inQX)).toBe(join(p.dir, 'q', 'x'));
  });
});

describe('a recursive listing through a handle or a callback keys every folder below', () => {
  it('opendir / fs/promises opendir / callback readdir with { recursive: true }: a file added deep down re-runs each task', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { opendirSync, readdir } from 'node:fs';\nimport { opendir } from 'node:fs/promises';",
        "//| task: sync\nconst n = (() => {\n  const d = opendirSync('data', { recursive: true });\n  let count = 0;\n  for (let e = d.readSync(); e; e = d.readSync()) count++;\n  d.closeSync();\n  return count;\n})();",
        "//| task: prom\nlet m = 0;\nfor await (const _e of await opendir('data', { recursive: true })) m++;",
        "//| task: cb\nconst k = await new Promise<number>((ok, no) => readdir('data', { recursive: true }, (err, names) => (err ? no(err) : ok(names.length))));",
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data/sub']);
    p.write('notebooks/data/sub/a.txt', '1\n');
    // (Files just written are not proven unchanged: the second run keys them, the third is cached.)
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ sync: 'cached', prom: 'cached', cb: 'cached' });
    expect(showOutput(p, NB, 'sync', 'n')).toBe(2);
    p.write('notebooks/data/sub/b.txt', '2\n');
    expect(runStatuses(p, NB)).toEqual({ sync: 'ran', prom: 'ran', cb: 'ran' });
    expect(showOutput(p, NB, 'sync', 'n')).toBe(3);
    expect(showOutput(p, NB, 'prom', 'm')).toBe(3);
    expect(showOutput(p, NB, 'cb', 'k')).toBe(3);
  });
});

describe('a downstream result whose upstream was stored under no key of its own', () => {
  it("is filed under no key naming that upstream's run key: lost its records, the upstream re-runs and so does its reader", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { existsSync, readFileSync } from 'node:fs';",
        "//| task: old\nconst o = readFileSync('data/o.txt', 'utf8').trim();",
        "//| task: ex\nconst has = existsSync('data/b.txt');",
        "//| task: down\nconst msg = o + (has ? ' present' : ' absent');",
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/o.txt', '1\n');
    p.run('touch', ['-d', '-1 hour', 'notebooks/data/o.txt']);
    // Written just before the run: `ex`'s result may not be filed under the next key (it cannot
    // be proven unchanged), and `down`'s must then not be filed under a key naming ex's run key.
    p.write('notebooks/data/b.txt', 'x\n');
    expect(runStatuses(p, NB)).toEqual({ old: 'ran', ex: 'ran', down: 'ran' });
    p.run('rm', ['notebooks/data/b.txt']);
    for (const f of readdirSync(join(p.dir, '.cellar', 'run-reads'), { recursive: true }))
      if (/(^|\/)ex-[0-9a-f]+\.json$/.test(String(f)))
        rmSync(join(p.dir, '.cellar', 'run-reads', String(f)));
    runStatuses(p, NB);
    expect(showOutput(p, NB, 'ex', 'has')).toBe(false);
    expect(showOutput(p, NB, 'down', 'msg')).toBe('1 absent');
  });
});

describe('a result whose key lacked a read its run made is filed under no key of its own', () => {
  it("with the run-read records deleted (or kept elsewhere), the data's edit re-runs the task and its downstream: the first run's result is never served under the key without the read", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        '//| task: load\nconst v = readFileSync("data/v.txt", "utf8").trim();',
        '//| task: twice\nconst w = v + v;',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/v.txt', 'one\n');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', twice: 'ran' });
    // Filed under the key holding data/v.txt (the read adopter): cached at once.
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', twice: 'cached' });
    rmSync(join(p.dir, '.cellar', 'run-reads'), { recursive: true });
    p.write('notebooks/data/v.txt', 'two\n');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', twice: 'ran' });
    expect(showOutput(p, NB, 'twice', 'w')).toBe('twotwo');
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', twice: 'cached' });
  });
});

describe('a value computed from the working folder follows --workdir, though no file is read', () => {
  it.each([[[] as string[]], [['--in-process']]])(
    "process.cwd() and path.resolve('out.csv') re-run in another workdir (%j), never served the other folder's value; a task not touching it stays cached",
    (extra) => {
      const p = project();
      p.write(
        NB,
        notebookText([
          "import { resolve } from 'node:path';",
          '//| task: here\nconst here = process.cwd();',
          '//| task: target\nconst target = resolve("out.csv");',
          '//| task: fixed\nconst fixed = resolve("/srv", "x.csv");',
          '//| task: other\nconst other = 2;',
        ]),
      );
      p.run('mkdir', ['-p', 'dirA', 'dirB']);
      const at = (dir: string) => ['--workdir', join(p.dir, dir)];
      const run = (dir: string) => runStatuses(p, NB, ...at(dir), ...extra);
      run('dirA');
      run('dirA');
      expect(run('dirA')).toEqual({
        here: 'cached',
        target: 'cached',
        fixed: 'cached',
        other: 'cached',
      });
      expect(showOutput(p, NB, 'here', 'here', ...at('dirA'))).toBe(join(p.dir, 'dirA'));
      expect(run('dirB')).toEqual({
        here: 'ran',
        target: 'ran',
        fixed: 'cached',
        other: 'cached',
      });
      expect(showOutput(p, NB, 'here', 'here', ...at('dirB'))).toBe(join(p.dir, 'dirB'));
      expect(showOutput(p, NB, 'target', 'target', ...at('dirB'))).toBe(
        join(p.dir, 'dirB', 'out.csv'),
      );
      expect(run('dirB')).toEqual({
        here: 'cached',
        target: 'cached',
        fixed: 'cached',
        other: 'cached',
      });
      expect(showOutput(p, NB, 'target', 'target', ...at('dirA'))).toBe(
        join(p.dir, 'dirA', 'out.csv'),
      );
    },
    300_000,
  );
});

describe('a built folder keys a use of the working folder as the sources do', () => {
  it("process.cwd() in a built run is the task's (the build's runtime is not): same keys as the source run, another workdir re-runs only it", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        '//| task: here\nconst here = process.cwd();',
        '//| task: other\nconst other = 2;',
      ]),
    );
    p.run('mkdir', ['-p', 'dirA', 'dirB']);
    const b = p.cellar('build', NB, '--out', 'built/cwd');
    expect(b.code, b.stderr).toBe(0);
    const built = (dir: string) => {
      const r = p.run(process.execPath, [
        join(p.dir, 'built', 'cwd', 'run.mjs'),
        '--workspace',
        join(p.dir, 'batch-store'),
        '--workdir',
        join(p.dir, dir),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      return Object.fromEntries(
        JSON.parse(r.stdout).tasks.map((t: { name: string; key: string; status: string }) => [
          t.name,
          { key: t.key, status: t.status },
        ]),
      ) as Record<string, { key: string; status: string }>;
    };
    const source = (dir: string) => {
      const r = p.cellar('run', NB, '--json', '--workdir', join(p.dir, dir));
      expect(r.code, r.stderr).toBe(0);
      return Object.fromEntries(
        JSON.parse(r.stdout).tasks.map((t: { name: string; key: string }) => [t.name, t.key]),
      ) as Record<string, string>;
    };
    source('dirA');
    const keysA = source('dirA');
    built('dirA');
    const builtA = built('dirA');
    expect(builtA.here!.key).toBe(keysA.here);
    expect(builtA.other!.key).toBe(keysA.other);
    expect(builtA.other!.status).toBe('cached');
    const builtB = built('dirB');
    expect(builtB.here!.status).toBe('ran');
    expect(builtB.other!.status).toBe('cached');
  }, 300_000);
});

describe('an environment variable read by a computed name is in the key', () => {
  it('a changed value re-runs the reader, the value never reaching the workspace or the output', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        'const prefix = "REGION";',
        '//| task: load\n//| output: regionLength=json\nconst name = `${prefix}_CODE`;\nconst regionLength = (process.env[name] ?? "").length;',
        '//| task: other\nconst unrelated = 2;',
      ]),
    );
    p.setEnv('REGION_CODE', 'eu-west-SECRET-1');
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', other: 'cached' });
    expect(showOutput(p, NB, 'load', 'regionLength')).toBe(16);
    p.setEnv('REGION_CODE', 'us-east-SECRET-22');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.REGION_CODE/);
    expect(dry.stdout).not.toContain('SECRET');
    const r = p.cellar('run', NB, '--json');
    expect(r.stdout + r.stderr).not.toContain('SECRET');
    expect(JSON.parse(r.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'ran',
      'cached',
    ]);
    expect(showOutput(p, NB, 'load', 'regionLength')).toBe(17);
    const stored = readdirSync(join(p.dir, '.cellar'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .filter((e) => readFileSync(join(e.parentPath, e.name)).includes('SECRET'));
    expect(stored).toEqual([]);
  });

  it('a value read through an alias of process.env is refused in clear as an output, as a value read by name is', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        '//| task: load\nconst env = process.env;\nconst aliasVal = env.ALIAS_TOKEN ?? "";\nconst aliasLength = aliasVal.length;',
      ]),
    );
    p.setEnv('ALIAS_TOKEN', 'alias-SECRET-77');
    const r = p.cellar('run', NB);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/E_SECRET_IN_OUTPUT/);
    expect(r.stdout + r.stderr).not.toContain('alias-SECRET-77');
    const stored = readdirSync(join(p.dir, '.cellar'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .filter((e) => readFileSync(join(e.parentPath, e.name)).includes('alias-SECRET-77'));
    expect(stored).toEqual([]);
  });

  it("a path under the system's temp folder (os.tmpdir() reads TMPDIR) is no secret: the output is stored, an error naming it is not redacted", () => {
    const p = project();
    const tmp = join(p.dir, 'scratch-tmp');
    mkdirSync(tmp);
    p.write(
      NB,
      notebookText([
        "import { tmpdir } from 'node:os';\nimport { join } from 'node:path';",
        "//| task: load\nconst scratchPath = join(tmpdir(), 'x.txt');",
        '//| task: fail\nif (scratchPath.length > 0) throw new Error(`cannot open ${scratchPath}`);\nconst never = 1;',
      ]),
    );
    p.setEnv('TMPDIR', tmp);
    const r = p.cellar('run', NB, '--json', '--keep-going');
    const tasks = JSON.parse(r.stdout).tasks as { name: string; status: string; error?: string }[];
    expect(tasks.find((t) => t.name === 'load')?.status, r.stdout).toBe('ran');
    expect(showOutput(p, NB, 'load', 'scratchPath')).toBe(join(tmp, 'x.txt'));
    expect(tasks.find((t) => t.name === 'fail')?.error).toContain(
      `cannot open ${join(tmp, 'x.txt')}`,
    );
  });

  it('listing the whole environment keys the task on every variable: one added or changed re-runs it, no value stored in clear', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "//| task: names\n//| output: appVars=json\nconst appVars = Object.keys(process.env).filter((k) => k.startsWith('APP_')).sort();",
        "//| task: pairs\n//| output: appVals=json\nconst appVals = Object.entries(process.env).filter(([k]) => k.startsWith('APP_')).map(([k, v]) => `${k}:${(v ?? '').length}`).sort();",
        '//| task: other\nconst unrelated = 2;',
      ]),
    );
    p.setEnv('APP_MODE', 'dev-SECRET-1');
    p.setEnv('APP_REGION', undefined);
    const first = p.cellar('run', NB);
    expect(first.code, first.stderr).toBe(0);
    // Keyed, not warned about.
    expect(first.stdout + first.stderr).not.toMatch(/lists the whole environment/);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ names: 'cached', pairs: 'cached', other: 'cached' });
    // A variable added: the listing moved.
    p.setEnv('APP_REGION', 'eu');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.@listing: [0-9a-f]{16} → [0-9a-f]{16}/);
    expect(runStatuses(p, NB)).toEqual({ names: 'ran', pairs: 'ran', other: 'cached' });
    expect(showOutput(p, NB, 'names', 'appVars')).toEqual(['APP_MODE', 'APP_REGION']);
    expect(runStatuses(p, NB)).toEqual({ names: 'cached', pairs: 'cached', other: 'cached' });
    // A value changed, the names the same.
    p.setEnv('APP_MODE', 'prod-SECRET-22');
    expect(runStatuses(p, NB)).toEqual({ names: 'ran', pairs: 'ran', other: 'cached' });
    expect(showOutput(p, NB, 'pairs', 'appVals')).toEqual(['APP_MODE:14', 'APP_REGION:2']);
    const stored = readdirSync(join(p.dir, '.cellar'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .filter((e) => readFileSync(join(e.parentPath, e.name)).includes('SECRET'));
    expect(stored).toEqual([]);
  });
});

describe('what Node reads natively for a task is in its key', () => {
  it('a file read through fs.openAsBlob, edited keeping size and mtime, re-runs the task with the new value', () => {
    const p = csvProject(
      'const text = await (await openAsBlob("data/penguins.csv")).text();',
      "import { openAsBlob } from 'node:fs';",
    );
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', stats: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/data/penguins.csv'), '4200', '5200');
    expect(p.cellar('run', NB, '--dry-run').stdout).toMatch(
      /reads\.notebooks\/data\/penguins\.csv: [0-9a-f]{16} → [0-9a-f]{16}/,
    );
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', stats: 'ran' });
    expect(showOutput(p, NB, 'stats', 'total')).toBe(8300);
  });

  it('os.homedir() and os.tmpdir() key the task on HOME and TMPDIR (hashed): another home re-runs it', () => {
    const p = project();
    for (const [dir, value] of [
      ['h1', 'one'],
      ['h2', 'two'],
      ['t1', 'one'],
      ['t2', 'two'],
    ]) {
      p.run('mkdir', ['-p', dir!]);
      p.write(`${dir}/${dir!.startsWith('h') ? '.myrc' : 'myval.txt'}`, `${value}\n`);
    }
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';\nimport os from 'node:os';\nimport { tmpdir } from 'node:os';\nimport { join } from 'node:path';",
        "//| task: home\nconst rc = readFileSync(join(os.homedir(), '.myrc'), 'utf8').trim();",
        "//| task: tmp\nconst tmpv = readFileSync(join(tmpdir(), 'myval.txt'), 'utf8').trim();",
      ]),
    );
    p.setEnv('HOME', join(p.dir, 'h1'));
    p.setEnv('TMPDIR', join(p.dir, 't1'));
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ home: 'cached', tmp: 'cached' });
    expect(showOutput(p, NB, 'home', 'rc')).toBe('one');
    p.setEnv('HOME', join(p.dir, 'h2'));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/env\.HOME: [0-9a-f]{16} → [0-9a-f]{16}/);
    expect(dry.stdout).not.toContain(join(p.dir, 'h2'));
    expect(runStatuses(p, NB)).toEqual({ home: 'ran', tmp: 'cached' });
    expect(showOutput(p, NB, 'home', 'rc')).toBe('two');
    p.setEnv('TMPDIR', join(p.dir, 't2'));
    expect(runStatuses(p, NB)).toEqual({ home: 'cached', tmp: 'ran' });
    expect(showOutput(p, NB, 'tmp', 'tmpv')).toBe('two');
  });

  it('process.loadEnvFile in a task keys it on the file: an edited .env re-runs it and its downstream with the new value', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "const base = 'mode=';",
        "//| task: load\nprocess.loadEnvFile('.env');\nconst mode = process.env.APP_MODE ?? 'unset';",
        '//| task: label\nconst label = base + mode;',
      ]),
    );
    p.setEnv('APP_MODE', undefined);
    p.write('notebooks/.env', 'APP_MODE=dev\n');
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', label: 'cached' });
    expect(showOutput(p, NB, 'label', 'label')).toBe('mode=dev');
    p.write('notebooks/.env', 'APP_MODE=prod\n');
    expect(p.cellar('run', NB, '--dry-run').stdout).toMatch(
      /reads\.notebooks\/\.env: [0-9a-f]{16} → [0-9a-f]{16}/,
    );
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', label: 'ran' });
    expect(showOutput(p, NB, 'label', 'label')).toBe('mode=prod');
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', label: 'cached' });
  });
});

/** `cellar run --json`, which must succeed: status and not-cached reason by task. */
function runNotCached(p: Project, ...flags: string[]) {
  const r = p.cellar('run', NB, '--json', ...flags);
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    JSON.parse(r.stdout).tasks.map((t: { name: string; status: string; notCached?: string }) => [
      t.name,
      t.notCached ? `${t.status}, not cached: ${t.notCached}` : t.status,
    ]),
  );
}

describe('a result is stored only under a key naming the data the task read', () => {
  for (const mode of [[], ['--in-process']] as string[][]) {
    it(`a data file changed while its task runs, then restored: the result reaches this run's downstream but no key, and the next run computes from the restored file${mode.length ? ' (--in-process)' : ' (worker threads)'}`, () => {
      const p = csvProject(
        'execFileSync("sh", ["tamper.sh", "before", "data/penguins.csv", "4300", "9300"]);\nconst text = readFileSync("data/penguins.csv", "utf8");\nexecFileSync("sh", ["tamper.sh", "after", "data/penguins.csv", "restore"]);',
        "import { readFileSync } from 'node:fs';\nimport { execFileSync } from 'node:child_process';",
      );
      p.write('notebooks/tamper.sh', TAMPER_SCRIPT);
      runStatuses(p, NB, ...mode);
      runStatuses(p, NB, ...mode);
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'cached', stats: 'cached' });
      // New data (a key never stored), and the outside program strikes during the next run.
      p.write('notebooks/data/penguins.csv', 'name,mass\nada,3100\nbob,4300\n');
      p.write('notebooks/tamper-once', '');
      expect(runNotCached(p, ...mode)).toEqual({
        load: 'ran, not cached: notebooks/data/penguins.csv changed while load ran',
        stats: 'ran, not cached: upstream load was not cached',
      });
      // The file holds the keyed bytes again: the tampered result is served nowhere.
      expect(p.read('notebooks/data/penguins.csv')).toBe('name,mass\nada,3100\nbob,4300\n');
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'ran', stats: 'ran' });
      expect(showOutput(p, NB, 'stats', 'total')).toBe(7400);
      expect(runStatuses(p, NB, ...mode)).toEqual({ load: 'cached', stats: 'cached' });
    });
  }

  it('a second data file changed before the task streams it: its result is not filed under the key naming the old bytes, so restoring the file never serves it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync, createReadStream } from 'node:fs';\nimport { execFileSync } from 'node:child_process';\nasync function readAll(path: string): Promise<string> {\n  let text = '';\n  for await (const chunk of createReadStream(path, 'utf8')) text += chunk;\n  return text;\n}",
        '//| task: load\nconst base = Number(readFileSync("base.txt", "utf8"));\nexecFileSync("sh", ["tamper.sh", "before", "rate.txt", "2", "5"]);\nconst rate = Number(await readAll("rate.txt"));\nexecFileSync("sh", ["tamper.sh", "after", "rate.txt", "keep"]);\nconst total = base * rate;',
        '//| task: report\nconst line = `total ${total}`;',
      ]),
    );
    p.write('notebooks/tamper.sh', TAMPER_SCRIPT);
    p.write('notebooks/base.txt', '10\n');
    p.write('notebooks/rate.txt', '3\n');
    runStatuses(p, NB);
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', report: 'cached' });
    p.write('notebooks/rate.txt', '2\n');
    p.write('notebooks/tamper-once', '');
    // Keyed with rate 2; the task read 5: stored under no key.
    expect(runNotCached(p)).toEqual({
      load: 'ran, not cached: notebooks/rate.txt changed while load ran',
      report: 'ran, not cached: upstream load was not cached',
    });
    expect(p.read('notebooks/rate.txt')).toBe('5\n');
    // Rate 5 is the data now: computed and stored under its own key.
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', report: 'ran' });
    expect(showOutput(p, NB, 'report', 'line')).toBe('total 50');
    // Back to rate 2: nothing stored under that key holds 50.
    p.write('notebooks/rate.txt', '2\n');
    expect(runStatuses(p, NB)).toEqual({ load: 'ran', report: 'ran' });
    expect(showOutput(p, NB, 'report', 'line')).toBe('total 20');
    expect(runStatuses(p, NB)).toEqual({ load: 'cached', report: 'cached' });
  });
});
