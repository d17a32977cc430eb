// The warm-run record (runtime/run/warm-record.ts, cli/warm-run.ts): `cellar run` answers "all
// cached" without loading the pipeline only when the full path would compute the same keys and
// find them all done. Each test changes one thing a key rests on and checks the run sees it (so
// each fails if the record were trusted blindly), or checks the shortcut prints what the full
// path prints. Real processes on a real project: the notebook's setup cell appends a line to
// loads.log each time the pipeline is loaded, which tells the shortcut (no line) from the full
// path (a line per load).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { root, runCli, runJson } from './helpers.js';
import { readHistory } from '../../cli/docs/history.js';
import { logEvents } from '../../runtime/run/warm-record.js';
import { unpackStamps } from '../../runtime/key/filestamp.js';
import type { RunEvent } from '../../runtime/types.js';
import { editKeepingMtimeAndSize } from '../support/edit.js';

const base = join(root, 'test', '.tmp', 'runtime', `warmrec-${process.pid}`);
let project = '';
let n = 0;

const CELLS = [
  "import { appendFileSync } from 'node:fs';\nappendFileSync('loads.log', 'load\\n');",
  '//| params\nconst factor = 2;',
  '//| task: numbers\nconst xs: number[] = [1, 2, 3];',
  '//| task: scaled\nconst ys = xs.map((x) => x * factor);',
  "//| task: shifted\nimport { offset } from './lib/helper';\nconst zs = xs.map((x) => x + offset);",
  "//| task: doubled\nimport { twice } from 'fakepkg';\nconst ds = xs.map(twice);",
  "//| task: moded\nconst raw = process.env.WARM_MODE ?? 'a';\nconst modeLen = raw.length + xs.length;",
];

const nb = () => join(project, 'notebooks', 'demo.ipynb');
const workspace = () => join(project, '.cellar', 'workspace');
const recordFiles = () => {
  const dir = join(project, '.cellar', 'cache', 'warm');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
};
/** How many times the pipeline module was loaded (main thread and worker threads). */
const loads = () =>
  [join(project, 'loads.log'), join(project, 'notebooks', 'loads.log')]
    .filter(existsSync)
    .map((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).length)
    .reduce((a, b) => a + b, 0);

async function run(...args: string[]) {
  const r = await runJson(['run', nb(), ...args], { cwd: project });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** A warm run answered by the record: every task cached, and the pipeline never loaded. */
async function shortcut(...args: string[]) {
  const before = loads();
  const r = await run(...args);
  expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
  expect(loads(), 'the pipeline was loaded: the full path ran').toBe(before);
  return r;
}

const ran = (status: Record<string, string>) =>
  Object.entries(status)
    .filter(([, s]) => s === 'ran')
    .map(([t]) => t)
    .sort();

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});
beforeEach(async () => {
  project = join(base, `p${++n}`);
  mkdirSync(join(project, 'notebooks', 'lib'), { recursive: true });
  mkdirSync(join(project, 'node_modules', 'fakepkg'), { recursive: true });
  writeFileSync(join(project, 'package.json'), '{"name":"scratch","type":"module"}\n');
  writeFileSync(
    join(project, 'node_modules', 'fakepkg', 'package.json'),
    '{"name":"fakepkg","version":"1.0.0","type":"module","main":"index.js"}\n',
  );
  writeFileSync(
    join(project, 'node_modules', 'fakepkg', 'index.js'),
    'export const twice = (x) => x * 2;\n',
  );
  writeFileSync(join(project, 'notebooks', 'lib', 'helper.ts'), 'export const offset = 10;\n');
  writeFileSync(nb(), notebookText(CELLS));
  delete process.env.WARM_MODE;
  const cold = await run();
  expect(ran(cold.status)).toEqual(['doubled', 'moded', 'numbers', 'scaled', 'shifted']);
  expect(recordFiles()).toHaveLength(1);
});
afterEach(() => {
  delete process.env.WARM_MODE;
});

describe('the warm-run record answers only when nothing a key rests on moved', () => {
  it('a warm run after a full run is answered from the record, every task cached', async () => {
    const warm = await shortcut();
    expect(Object.keys(warm.status)).toEqual(['numbers', 'scaled', 'shifted', 'doubled', 'moded']);
  });

  it('prints what the full path prints: the same --json, summary, --dry-run and stderr', async () => {
    const strip = (s: string) =>
      s
        .replace(/"durationMs":\d+/g, '"durationMs":0')
        // Every form formatDuration prints (412ms, 1.2s, 2m5s): a run may take a second or more
        // on a loaded machine. The pattern of test/cli/baselines.test.ts, plus the minutes form.
        .replace(/\b(\d+m)?\d+(\.\d+)?(ms|s)\b/g, '<duration>')
        .replace(/^\d\d:\d\d:\d\d /gm, '');
    const both = async (args: string[]) => {
      const fast = await runCli(args, { cwd: project });
      const loaded = loads();
      for (const f of recordFiles()) rmSync(join(project, '.cellar', 'cache', 'warm', f));
      const full = await runCli(args, { cwd: project });
      expect(loads()).toBeGreaterThan(loaded); // the second one took the full path
      expect(fast.code).toBe(0);
      expect(full.code).toBe(0);
      return { fast, full };
    };
    for (const args of [
      ['run', nb(), '--json'],
      ['run', nb()],
      ['run', nb(), '--dry-run'],
      ['run', nb(), '--dry-run', '--json'],
      ['run', nb(), 'scaled', '--json'],
      ['run', nb(), '--workers', '3'],
    ]) {
      await runCli(args, { cwd: project }); // records this command line
      const { fast, full } = await both(args);
      expect(strip(fast.stdout), args.join(' ')).toBe(strip(full.stdout));
      expect(strip(fast.stderr), args.join(' ')).toBe(strip(full.stderr));
    }
  });

  it('a notebook cell edited keeping its size and mtime re-runs exactly that task', async () => {
    editKeepingMtimeAndSize(nb(), 'x * factor', 'x + factor');
    expect(ran((await run()).status)).toEqual(['scaled']);
    await shortcut();
  });

  it('a local module a task imports, edited keeping its size and mtime, re-runs that task', async () => {
    editKeepingMtimeAndSize(
      join(project, 'notebooks', 'lib', 'helper.ts'),
      'offset = 10',
      'offset = 20',
    );
    expect(ran((await run()).status)).toEqual(['shifted']);
    await shortcut();
  });

  it("a package's version changed (same size, mtime put back) re-runs the tasks importing it", async () => {
    editKeepingMtimeAndSize(
      join(project, 'node_modules', 'fakepkg', 'package.json'),
      '"1.0.0"',
      '"1.0.1"',
    );
    expect(ran((await run()).status)).toEqual(['doubled']);
    await shortcut();
  });

  it('a package installed closer to the notebook than the one keyed re-runs its importers', async () => {
    // Resolution, not only content: node_modules/fakepkg under generated/ now wins for the task.
    const closer = join(project, 'generated', 'node_modules', 'fakepkg');
    mkdirSync(closer, { recursive: true });
    writeFileSync(
      join(closer, 'package.json'),
      '{"name":"fakepkg","version":"2.0.0","type":"module","main":"index.js"}\n',
    );
    writeFileSync(join(closer, 'index.js'), 'export const twice = (x) => x * 2;\n');
    expect(ran((await run()).status)).toEqual(['doubled']);
  });

  it('an environment variable a task reads, changed, re-runs that task (and only its hash is recorded)', async () => {
    process.env.WARM_MODE = 'b-secret-value';
    expect(ran((await run()).status)).toEqual(['moded']);
    await shortcut();
    const record = readFileSync(
      join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!),
      'utf8',
    );
    expect(record).toContain('"WARM_MODE"');
    expect(record).not.toContain('b-secret-value');
    process.env.WARM_MODE = 'c-secret-value';
    expect(ran((await run()).status)).toEqual(['moded']);
  });

  it('a param given on the command line is not answered by a record of a run without it', async () => {
    const before = await run();
    const withParam = await run('--param', 'factor=3');
    expect(ran(withParam.status)).toEqual(['scaled']);
    expect(withParam.keys.scaled).not.toBe(before.keys.scaled);
    // The same command line again: recorded, so answered from the record, with the param's key.
    expect((await shortcut('--param', 'factor=3')).keys.scaled).toBe(withParam.keys.scaled);
    // Back without it: the full path (the record is of the run with the param), cached.
    const loaded = loads();
    expect((await run()).keys.scaled).toBe(before.keys.scaled);
    expect(loads()).toBeGreaterThan(loaded);
  });

  it("a deleted manifest, or a task's whole folder, re-runs that task", async () => {
    const folder = join(workspace(), 'demo', 'scaled');
    const manifest = readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!;
    rmSync(join(folder, manifest));
    expect(ran((await run()).status)).toEqual(['scaled']);
    rmSync(join(workspace(), 'demo', 'shifted'), { recursive: true });
    expect(ran((await run()).status)).toEqual(['shifted']);
    await shortcut();
  });

  it('another --workspace takes the full path (its tasks run there)', async () => {
    const other = join(project, 'other-ws');
    expect(ran((await run('--workspace', other)).status)).toHaveLength(5);
    await shortcut('--workspace', other);
  });

  it('a damaged record costs only the full path, and is written again', async () => {
    const file = join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!);
    for (const damage of ['{"version": 1, "tasks": ', '{"version":1}', 'null', '']) {
      writeFileSync(file, damage);
      const loaded = loads();
      const r = await run();
      expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
      expect(loads()).toBeGreaterThan(loaded);
      await shortcut();
    }
  });

  it('a record whose packed sources or resolution facts are damaged is not trusted', async () => {
    const file = join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!);
    const record = JSON.parse(readFileSync(file, 'utf8')) as {
      sources: (string | number)[][];
      resolved: (string | number)[][];
    };
    const helper = join(project, 'notebooks', 'lib', 'helper.ts');
    expect(unpackStamps(record.sources)?.[helper]?.hash).toMatch(/^[0-9a-f]{16}$/);
    const damaged = [
      // the object-per-file form of record version 11
      { ...record, sources: unpackStamps(record.sources) },
      // a stamp's size as text
      { ...record, sources: record.sources.map((g) => g.map((v, i) => (i === 3 ? '1' : v))) },
      // a fact group cut short
      { ...record, resolved: record.resolved.map((g) => g.slice(0, 4)) },
    ];
    for (const form of damaged) {
      writeFileSync(file, JSON.stringify(form));
      const loaded = loads();
      const r = await run();
      expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
      expect(loads(), 'the full path ran').toBeGreaterThan(loaded);
      await shortcut();
    }
  });

  it('a record written by another Cellar build is not trusted', async () => {
    const file = join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!);
    const record = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...record, build: '0000000000000000' }));
    const loaded = loads();
    await run();
    expect(loads()).toBeGreaterThan(loaded);
  });

  it('--rerun, --verbose and a failed run take the full path; a failure leaves no record', async () => {
    const loaded = loads();
    expect(ran((await run('--rerun', 'scaled')).status)).toEqual(['scaled']);
    expect(loads()).toBeGreaterThan(loaded);
    await shortcut();
    const verbose = await runCli(['run', nb(), '--verbose'], { cwd: project });
    expect(verbose.stdout).toMatch(/stages: graph/);
    writeFileSync(
      nb(),
      notebookText([
        ...CELLS,
        "//| task: broken\nif (xs.length > 0) throw new Error('no');\nconst bad = 1;",
      ]),
    );
    const failed = await runJson(['run', nb()], { cwd: project });
    expect(failed.code).toBe(1);
    expect(recordFiles()).toEqual([]);
  });
});

describe('the shortcut still sees what the full path sees once its stamps are trusted', () => {
  // Stamps are trusted (decided by `stat` alone, not by reading the file) only when taken after the
  // file had been quiet for 3 s (runtime/key/filestamp.ts). The cold run's files are seconds old,
  // so the tests above mostly check by content; here a warm run after that window re-stamps them
  // trusted first, so each change below must be seen by the stat check itself.
  const compileStamps = () =>
    JSON.parse(
      readFileSync(join(project, '.cellar', 'compile', 'notebooks_demo.ipynb.stamps.json'), 'utf8'),
    ) as { notebook: { trusted: boolean } };
  const warmRecord = () => {
    const stored = JSON.parse(
      readFileSync(join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!), 'utf8'),
    ) as { sources: unknown };
    return { sources: unpackStamps(stored.sources)! };
  };
  beforeEach(async () => {
    await new Promise((r) => setTimeout(r, 3200));
    await shortcut();
    expect(compileStamps().notebook.trusted).toBe(true);
    expect(warmRecord().sources[join(project, 'notebooks', 'lib', 'helper.ts')]?.trusted).toBe(
      true,
    );
  });

  it('a notebook cell edited keeping its size and mtime re-runs that task', async () => {
    editKeepingMtimeAndSize(nb(), 'x * factor', 'x + factor');
    expect(ran((await run()).status)).toEqual(['scaled']);
  });

  it('a local module edited keeping its size and mtime re-runs its importer', async () => {
    editKeepingMtimeAndSize(
      join(project, 'notebooks', 'lib', 'helper.ts'),
      'offset = 10',
      'offset = 20',
    );
    expect(ran((await run()).status)).toEqual(['shifted']);
  });

  it('a generated module edited by hand (size and mtime kept) is compiled again, and nothing re-runs', async () => {
    const module = join(project, 'generated', 'demo', 'scaled.ts');
    editKeepingMtimeAndSize(module, 'x * factor', 'x - factor');
    const loaded = loads();
    const r = await run();
    expect(loads(), 'the full path ran').toBeGreaterThan(loaded);
    expect(ran(r.status)).toEqual([]);
    expect(readFileSync(module, 'utf8')).toContain('x * factor');
  });

  it('a removed output manifest re-runs that task', async () => {
    const folder = join(workspace(), 'demo', 'numbers');
    rmSync(
      join(
        folder,
        readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!,
      ),
    );
    expect(ran((await run()).status)).toEqual(['numbers']);
  });
});

describe('the run log of a warm run', () => {
  it('holds what the full path writes: every event in order, each line the JSON of its event', async () => {
    const runs = join(workspace(), 'demo', '_runs');
    const newLog = async (go: () => Promise<unknown>) => {
      const before = new Set(readdirSync(runs));
      await go();
      const added = readdirSync(runs).filter((f) => !before.has(f));
      expect(added).toHaveLength(1);
      return readFileSync(join(runs, added[0]!), 'utf8');
    };
    const events = (text: string) =>
      text
        .trim()
        .split('\n')
        .flatMap((line) => {
          expect(line).toBe(JSON.stringify(JSON.parse(line)));
          return logEvents(JSON.parse(line) as RunEvent);
        })
        .map((event) => {
          const { at: _at, ...rest } = event as unknown as Record<string, unknown>;
          return rest.kind === 'run-end' ? { ...rest, durationMs: 0 } : rest;
        });
    const fast = await newLog(() => shortcut());
    // The shortcut logs its cached tasks as one line, which readers expand (logEvents).
    expect(
      fast
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).kind),
    ).toEqual(['run-start', 'tasks-cached', 'run-end']);
    for (const f of recordFiles()) rmSync(join(project, '.cellar', 'cache', 'warm', f));
    const loaded = loads();
    const full = await newLog(() => run());
    expect(loads()).toBeGreaterThan(loaded);
    expect(events(fast)).toEqual(events(full));
    expect(events(fast).filter((e) => e.kind === 'task-cached')).toHaveLength(5);
  });

  it("the docs site's run history reads a warm run's cached tasks and keys from its one line", async () => {
    const before = readHistory(workspace(), 'demo').runs.length;
    const warm = await shortcut();
    expect(Object.values(warm.status).every((s) => s === 'cached')).toBe(true);
    const history = readHistory(workspace(), 'demo');
    // Every task cached: read as such, so the run adds no row (it computed nothing new).
    expect(history.runs).toHaveLength(before);
    for (const [task, key] of Object.entries(warm.keys))
      expect(history.last.get(task)?.manifest.key, task).toBe(key);
  });
});

describe("the done checks of a warm run (the cached folders' stamp stands for every manifest)", () => {
  it('a manifest removed from the last task of the plan re-runs that task', async () => {
    const folder = join(workspace(), 'demo', 'moded');
    rmSync(
      join(
        folder,
        readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!,
      ),
    );
    expect(ran((await run()).status)).toEqual(['moded']);
    await shortcut();
  });

  it('a manifest removed, the pipeline given by a relative path: the full path finds it from where the command ran', async () => {
    const folder = join(workspace(), 'demo', 'scaled');
    rmSync(
      join(
        folder,
        readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!,
      ),
    );
    const rel = join('notebooks', 'demo.ipynb');
    const r = await runJson(['run', rel], { cwd: project });
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.status)).toEqual(['scaled']);
    const again = await runJson(['run', rel], { cwd: project });
    expect(Object.values(again.status).every((s) => s === 'cached')).toBe(true);
  });

  it("the pipeline's whole folder removed re-runs every task", async () => {
    rmSync(join(workspace(), 'demo'), { recursive: true });
    expect(ran((await run()).status)).toEqual(['doubled', 'moded', 'numbers', 'scaled', 'shifted']);
    await shortcut();
  });

  it('a record naming a task by a path (not a task name) is not trusted', async () => {
    const file = join(project, '.cellar', 'cache', 'warm', recordFiles()[0]!);
    const record = JSON.parse(readFileSync(file, 'utf8')) as { tasks: { names: string } };
    expect(record.tasks.names.split('\n')).toEqual(Object.keys((await shortcut()).status));
    // `../demo/numbers` would reach the same manifest from the pipeline folder; still refused.
    record.tasks.names = record.tasks.names.replace('numbers', '../demo/numbers');
    writeFileSync(file, JSON.stringify(record));
    const loaded = loads();
    const r = await run();
    expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
    expect(loads(), 'the full path ran').toBeGreaterThan(loaded);
    await shortcut();
  });
});

describe('a pipeline whose tasks read data at run time (as notebooks/penguins.ipynb does)', () => {
  // Each task reads one kind of thing the compiler cannot see, recorded by the run-time read
  // recorder (runtime/run/read-record.ts) and keyed from the next run on (key/run-reads.ts): a
  // data file's content, a folder's listing, a missing file's absence, a variable by a computed
  // name. The record answers only while each is what the keys hold.
  const READS = [
    "import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';\nappendFileSync('loads.log', 'load\\n');",
    "//| task: table\nconst rows = readFileSync('data/rows.csv', 'utf8').trim().split('\\n');\nconst extra = process.env.READS_EXTRA ? readFileSync('data/extra.csv', 'utf8') : '';",
    "//| task: listing\nconst parts = readdirSync('data/parts').sort();",
    "//| task: probed\nconst overridden = existsSync('data/override.csv');",
    "//| task: tokened\nconst varName = ['READS', 'MODE'].join('_');\nconst modeLength = (process.env[varName] ?? 'none').length;",
    '//| task: summary\nconst line = `${rows.length} ${extra} ${parts.length} ${overridden} ${modeLength}`;',
  ];
  const readsNb = () => join(project, 'notebooks', 'reads.ipynb');
  const data = (...p: string[]) => join(project, 'notebooks', 'data', ...p);
  const runReads = async () => {
    const r = await runJson(['run', readsNb()], { cwd: project });
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  /** Answered by the record: all cached and the pipeline never loaded (no line in loads.log). */
  const readsShortcut = async () => {
    const before = loads();
    const r = await runReads();
    expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
    expect(loads(), 'the pipeline was loaded: the full path ran').toBe(before);
    return r;
  };
  /** The full path ran (the pipeline was loaded), and exactly these tasks re-ran. */
  const reran = async (tasks: string[]) => {
    const before = loads();
    const r = await runReads();
    expect(loads(), 'answered from the record').toBeGreaterThan(before);
    expect(ran(r.status)).toEqual(tasks);
    return r;
  };
  const readsRecord = () => recordFiles().length;

  beforeEach(async () => {
    delete process.env.READS_MODE;
    mkdirSync(data('parts'), { recursive: true });
    writeFileSync(data('rows.csv'), 'a,1\nb,2\nc,3\n');
    writeFileSync(data('parts', 'p1.csv'), 'x\n');
    writeFileSync(readsNb(), notebookText(READS));
    // The first run discovers the reads; the next keys them (the discovering run's results filed
    // under those keys where provably the same) and is recorded; from then on the record answers.
    expect(ran((await runReads()).status)).toEqual(
      ['listing', 'probed', 'summary', 'table', 'tokened'].sort(),
    );
    for (let i = 0; i < 3 && readsRecord() < 2; i++) await runReads();
    expect(readsRecord(), 'the reads notebook was never recorded').toBe(2);
    const record = JSON.parse(
      readFileSync(
        join(project, '.cellar', 'cache', 'warm', recordFiles().find(isReadsRecord)!),
        'utf8',
      ),
    ) as { runReads: { tasks: Record<string, { reads: Record<string, string>; env: string[] }> } };
    // Every kind is in the record (so each test below changes something the record checks).
    expect(Object.keys(record.runReads.tasks).sort()).toEqual(
      ['listing', 'probed', 'table', 'tokened'].sort(),
    );
    expect(record.runReads.tasks.tokened!.env).toEqual(['READS_MODE']);
  });
  afterEach(() => {
    delete process.env.READS_MODE;
  });
  const isReadsRecord = (f: string) =>
    readFileSync(join(project, '.cellar', 'cache', 'warm', f), 'utf8').includes('reads.ipynb');

  it('an unchanged project whose tasks read data files is answered from the record', async () => {
    const warm = await readsShortcut();
    expect(Object.keys(warm.status).sort()).toEqual(
      ['listing', 'probed', 'summary', 'table', 'tokened'].sort(),
    );
    // A data file rewritten with the same bytes (new mtime and ctime): content decides, still warm.
    writeFileSync(data('rows.csv'), 'a,1\nb,2\nc,3\n');
    await readsShortcut();
  });

  it('a data file edited keeping its size and mtime re-runs its reader', async () => {
    editKeepingMtimeAndSize(data('rows.csv'), 'b,2', 'b,9');
    await reran(['summary', 'table']);
    await readsShortcut();
  });

  it('a new file in a folder a task listed re-runs the task that listed it', async () => {
    writeFileSync(data('parts', 'p2.csv'), 'y\n');
    await reran(['listing', 'summary']);
    await readsShortcut();
  });

  it('a file a task found missing, appearing, re-runs that task', async () => {
    writeFileSync(data('override.csv'), 'z\n');
    await reran(['probed', 'summary']);
    await readsShortcut();
  });

  it('a variable read by a computed name, changed, re-runs its reader (only its hash recorded)', async () => {
    process.env.READS_MODE = 'fast-secret-value';
    await reran(['summary', 'tokened']);
    await readsShortcut();
    const text = recordFiles()
      .map((f) => readFileSync(join(project, '.cellar', 'cache', 'warm', f), 'utf8'))
      .join('\n');
    expect(text).toContain('"READS_MODE"');
    expect(text).not.toContain('fast-secret-value');
  });

  it('a read recorded by a run through another argument after the record was written is seen', async () => {
    // The run-time read records are the pipeline's, shared by every way of running it: a run of
    // the compiled pipeline.ts whose task discovers a new read (here under READS_EXTRA) grows
    // them while the notebook's record stays. The notebook's next warm run must not answer from
    // the keys it holds: the full path keys the new read, and the task re-runs.
    writeFileSync(data('extra.csv'), 'e\n');
    const pipelineTs = join(project, 'generated', 'reads', 'pipeline.ts');
    expect(existsSync(pipelineTs)).toBe(true);
    process.env.READS_EXTRA = '1';
    try {
      const other = await runJson(['run', pipelineTs], { cwd: project });
      expect(other.code, other.stderr).toBe(0);
      expect(ran(other.status)).toEqual(['summary', 'table']);
    } finally {
      delete process.env.READS_EXTRA;
    }
    await reran(['summary', 'table']);
    await readsShortcut();
    // And the newly recorded file is checked too.
    editKeepingMtimeAndSize(data('extra.csv'), 'e', 'f');
    await reran(['summary', 'table']);
  });
});

describe('which pipelines may be recorded', () => {
  const handWritten = (
    loadTime: string,
  ) => `import { defineTask, definePipeline, output } from 'cellar';
${loadTime}
const a = defineTask({ name: 'a', module: import.meta.url, params: { n: { type: 'number', default: 2 } }, outputs: { v: {} }, run: (_i: {}, p: { n: number }) => ({ v: p.n }) });
const b = defineTask({ name: 'b', module: import.meta.url, inputs: { v: output(a, 'v') }, outputs: { w: {} }, run: (i: { v: number }) => ({ w: i.v + 1 }) });
export default definePipeline({ name: 'hand', tasks: [a, b] });
`;

  it('a hand-written pipeline that loads from its own text alone is recorded and answered', async () => {
    writeFileSync(join(project, 'pipeline.ts'), handWritten(''));
    const first = await runJson(['run', 'pipeline.ts'], { cwd: project });
    expect(ran(first.status)).toEqual(['a', 'b']);
    expect(recordFiles()).toHaveLength(2);
    const warm = await runJson(['run', 'pipeline.ts'], { cwd: project });
    expect(warm.status).toEqual({ a: 'cached', b: 'cached' });
    // Its own text edited (same size, mtime put back): the full path, and the task re-runs.
    editKeepingMtimeAndSize(join(project, 'pipeline.ts'), 'default: 2', 'default: 7');
    expect(ran((await runJson(['run', 'pipeline.ts'], { cwd: project })).status)).toEqual([
      'a',
      'b',
    ]);
  });

  it('a hand-written pipeline that reads the clock or a file while loading is never recorded', async () => {
    for (const loadTime of [
      'const startedAt = Date.now();',
      "import { readFileSync } from 'node:fs';\nconst cfg = readFileSync('package.json', 'utf8');",
      'const home = process.cwd();',
    ]) {
      writeFileSync(join(project, 'pipeline.ts'), handWritten(loadTime));
      const r = await runJson(['run', 'pipeline.ts'], { cwd: project });
      expect(r.code).toBe(0);
      expect(recordFiles(), loadTime).toHaveLength(1); // the notebook's only
    }
  });
});

describe('a task with a key hook (the warehouse) is never answered from a record', () => {
  it('leaves no record, and a new row in the table it reads still re-runs it', async () => {
    const { openDuckDB } = await import('cellar');
    const duckdb = join(project, 'wh.duckdb');
    const change = async (statements: string[]) => {
      const w = await openDuckDB({ path: duckdb, idleMs: 50 });
      const conn = w as unknown as {
        withConnection(
          fn: (c: { run(s: string): Promise<unknown> }) => Promise<unknown>,
        ): Promise<unknown>;
      };
      for (const s of statements) await conn.withConnection((c) => c.run(s));
      await w.close();
    };
    await change([
      'CREATE SCHEMA shop',
      'CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)',
    ]);
    process.env.CELLAR_DUCKDB_PATH = duckdb;
    try {
      const wh = join(project, 'notebooks', 'wh.ipynb');
      writeFileSync(
        wh,
        notebookText([
          "import { sql } from 'cellar';\nimport { appendFileSync } from 'node:fs';\nappendFileSync('loads.log', 'load\\n');",
          '//| task: counted\nconst rows = await sql`SELECT COUNT(*) AS n FROM shop.orders`;',
          '//| task: plain\nconst k = 1;',
        ]),
      );
      const runWh = async () => {
        const r = await runJson(['run', wh], { cwd: project });
        expect(r.code, r.stderr).toBe(0);
        return r.status;
      };
      expect(await runWh()).toEqual({ counted: 'ran', plain: 'ran' });
      expect(recordFiles()).toHaveLength(1); // the demo notebook's, none for wh
      const loaded = loads();
      expect(await runWh()).toEqual({ counted: 'cached', plain: 'cached' });
      expect(loads()).toBeGreaterThan(loaded); // the full path, which asks for table versions
      await change(['INSERT INTO shop.orders VALUES (3, 50.0)']);
      expect(await runWh()).toEqual({ counted: 'ran', plain: 'cached' });
    } finally {
      delete process.env.CELLAR_DUCKDB_PATH;
    }
  });
  it('a task that first queries through a helper leaves no record of that run, so the next run keys the warehouse and an outside row re-runs it', async () => {
    // The task's cells show no SQL: the warehouse hook applies to it only once it was seen
    // querying (a marker the worker thread running it writes). That run's keys did not hold the
    // warehouse; a record of them would answer the next run without keying it.
    const { openDuckDB } = await import('cellar');
    const duckdb = join(project, 'wh.duckdb');
    const change = async (statements: string[]) => {
      const w = await openDuckDB({ path: duckdb, idleMs: 50 });
      const conn = w as unknown as {
        withConnection(
          fn: (c: { run(s: string): Promise<unknown> }) => Promise<unknown>,
        ): Promise<unknown>;
      };
      for (const s of statements) await conn.withConnection((c) => c.run(s));
      await w.close();
    };
    await change([
      'CREATE SCHEMA shop',
      'CREATE TABLE shop.orders AS SELECT * FROM (VALUES (1, 10.0), (2, 20.0)) t(id, amount)',
    ]);
    writeFileSync(
      join(project, 'notebooks', 'lib', 'orders.ts'),
      "import { sql } from 'cellar';\nexport async function orderCount(): Promise<number> {\n  return Number((await sql<{ n: number }>`SELECT COUNT(*) AS n FROM shop.orders`)[0]!.n);\n}\n",
    );
    process.env.CELLAR_DUCKDB_PATH = duckdb;
    try {
      const wh = join(project, 'notebooks', 'viahelper.ipynb');
      writeFileSync(
        wh,
        notebookText([
          "import { orderCount } from './lib/orders';",
          '//| task: counted\nconst n = await orderCount();',
          '//| task: plain\nconst k = 1;',
        ]),
      );
      const runWh = async () => {
        const r = await runJson(['run', wh], { cwd: project });
        expect(r.code, r.stderr).toBe(0);
        return r.status;
      };
      expect(await runWh()).toEqual({ counted: 'ran', plain: 'ran' });
      expect(recordFiles()).toHaveLength(1); // the demo notebook's, none for this run
      expect(await runWh()).toEqual({ counted: 'ran', plain: 'cached' });
      expect(await runWh()).toEqual({ counted: 'cached', plain: 'cached' });
      await change(['INSERT INTO shop.orders VALUES (3, 50.0)']);
      expect(await runWh()).toEqual({ counted: 'ran', plain: 'cached' });
    } finally {
      delete process.env.CELLAR_DUCKDB_PATH;
    }
  });

  it('a task marked as running SQL after the record was written sends the next run down the full path', async () => {
    // Another run (another argument, other params) may see a task query; from then on the hook
    // applies to it and its key holds the warehouse: the record's keys no longer answer.
    await shortcut();
    const markers = join(project, '.cellar', 'warehouse-reads', 'sql-tasks');
    mkdirSync(markers, { recursive: true });
    writeFileSync(join(markers, '0123456789abcdef01234567'), '{"task":"other","notebook":null}\n');
    const before = loads();
    const r = await run();
    expect(Object.values(r.status).every((s) => s === 'cached')).toBe(true);
    expect(loads(), 'answered from the record').toBeGreaterThan(before);
    await shortcut(); // recorded again, with the new listing
  });
});
