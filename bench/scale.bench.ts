// Scale benchmarks on the shapes users actually run (`npx tsx bench/run.ts scale`):
//
// - "wide 1000" written as a notebook: a params cell, 1,000 leaf task cells
//   (`const v_i = i + salt`) and one task summing them, compiled by `cellar compile` and run by
//   notebook path as users do (so the freshness check of the compile is included), cold, warm and
//   with one leaf's code changed; each warm figure is set beside `cellar --version` measured in
//   the same run, the floor of a fresh process;
// - 100,000 tasks written with the README's task API (a wide fan-in and a 10,000-task chain):
//   `--dry-run`, a cold run's peak memory and per-task overhead, and a warm run;
// - compiling a 5,000-cell notebook whose last cell sums every task value in one expression
//   (`v0 + v1 + … + v4999`), cold and after a one-cell change.
//
// Each scenario lives in its own small project under bench/.tmp/scale/ (a package.json marks the
// project root, so `generated/` and `.cellar/` stay there); `import 'cellar'` resolves to this
// checkout through node_modules. Wall times are spawn-to-exit of the real CLI; peak RSS is GNU
// time's %M. A scenario that fails is reported as a failed row, never hidden.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow, BenchSection } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tmp = join(here, '.tmp', 'scale');
const gnuTime = existsSync('/usr/bin/time');

interface Timed {
  ms: number;
  /** CPU time of the process (user + system, GNU time), steadier than wall on a busy machine. */
  cpuMs: number;
  rssMb: number;
  out: string;
  ok: boolean;
  err: string;
}

function cli(cwd: string, args: string[]): Timed {
  const argv = [process.execPath, join(root, 'bin', 'cellar.mjs'), ...args];
  const t0 = performance.now();
  const r = gnuTime
    ? spawnSync('/usr/bin/time', ['-f', '%U %S %M', ...argv], {
        cwd,
        encoding: 'utf8',
        maxBuffer: 1 << 30,
      })
    : spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - t0;
  const lines = (r.stderr ?? '').trim().split('\n');
  const [user, sys, rssKb] = gnuTime ? lines.pop()!.split(' ').map(Number) : [NaN, NaN, NaN];
  return {
    ms,
    cpuMs: (user! + sys!) * 1000,
    rssMb: rssKb! / 1024,
    out: r.stdout ?? '',
    ok: r.status === 0,
    err: lines.join('\n'),
  };
}

/** Remove the project's warm-run records, so the next run takes the full path (keys, bundle). */
function dropWarmRecords(dir: string): void {
  rmSync(join(dir, '.cellar', 'cache', 'warm'), { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

function project(name: string): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `bench-${name}`, private: true, type: 'module' }) + '\n',
  );
  return dir;
}

const cell = (source: string, id: string) => ({
  cell_type: 'code',
  id,
  metadata: {},
  execution_count: null,
  outputs: [],
  source,
});
function notebook(cells: ReturnType<typeof cell>[]): string {
  return (
    JSON.stringify(
      {
        cells,
        metadata: {
          kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
        },
        nbformat: 4,
        nbformat_minor: 5,
      },
      null,
      1,
    ) + '\n'
  );
}

/** The "wide" notebook: params, n leaf tasks, one task summing them in one expression. */
function wideNotebook(n: number, changedLeaf = -1): string {
  const cells = [cell('//| params\nconst salt = 1;', 'params')];
  for (let i = 0; i < n; i++)
    cells.push(
      cell(
        `//| task: v${i}\nconst v_${i} = ${i} + salt${i === changedLeaf ? ' + 1' : ''};`,
        `v${i}`,
      ),
    );
  cells.push(
    cell(
      `//| task: total\nconst total = ${Array.from({ length: n }, (_, i) => `v_${i}`).join(' + ')};`,
      'total',
    ),
  );
  return notebook(cells);
}

/**
 * The floor a cold run's per-task cost stands on here: the file calls the local store makes for
 * each task that runs (runtime/store/local.ts: the task folder, the lock file created exclusively
 * and removed, the output and the manifest each written to a temp file and renamed into place),
 * timed alone in this process for `n` tasks. Milliseconds per task.
 */
function storeFloorMs(dir: string, n: number): number {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const task = join(dir, `t${i}`);
    mkdirSync(task);
    const lock = join(task, 'k.lock');
    const fd = openSync(lock, 'wx');
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    writeFileSync(join(task, '.tmp-o'), `{"v":${i}}`);
    renameSync(join(task, '.tmp-o'), join(task, `v_${i}.json`));
    writeFileSync(join(task, '.tmp-m'), `{"task":"t${i}","outputs":{}}`);
    renameSync(join(task, '.tmp-m'), join(task, 'k.manifest.json'));
    unlinkSync(lock);
  }
  const ms = (performance.now() - t0) / n;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const statuses = (t: Timed) => {
  const counts: Record<string, number> = {};
  for (const task of JSON.parse(t.out).tasks as { status: string }[])
    counts[task.status] = (counts[task.status] ?? 0) + 1;
  return counts;
};

function failed(name: string, t: Timed): BenchRow {
  return {
    name: `${name} — FAILED: ${t.err.split('\n').find((l) => l.trim()) ?? 'no message'}`.slice(
      0,
      300,
    ),
    value: NaN,
    unit: 'ms',
    met: false,
  };
}

function wideRows(n: number): BenchRow[] {
  const dir = project(`wide${n}`);
  const nb = join('notebooks', 'wide.ipynb');
  writeFileSync(join(dir, nb), wideNotebook(n));
  const label = `wide ${n} notebook`;
  const compile = cli(dir, ['compile', nb]);
  if (!compile.ok) return [failed(`${label}: compile`, compile)];
  const run = ['run', nb, '--json'];
  const cold = cli(dir, run);
  if (!cold.ok) return [failed(`${label}: cold run`, cold)];
  const coldRan = statuses(cold).ran ?? 0;
  const warms: Timed[] = [];
  const versions: Timed[] = [];
  const fulls: Timed[] = [];
  const dries: Timed[] = [];
  // Interleaved: --version, the warm run (answered by the warm-run record the last run wrote),
  // the warm --dry-run (same), and the same warm run down the full path (record removed first:
  // compile freshness, bundle load, keys, store probe).
  for (let i = 0; i < 5; i++) {
    versions.push(cli(dir, ['--version']));
    warms.push(cli(dir, run));
    dries.push(cli(dir, ['run', nb, '--dry-run']));
    dropWarmRecords(dir);
    fulls.push(cli(dir, run));
  }
  for (const w of [...warms, ...fulls])
    if (!w.ok || statuses(w).cached !== n + 1)
      return [failed(`${label}: warm run not all cached`, w)];
  for (const d of dries)
    if (!d.ok || !d.out.includes(`0 tasks would run, ${n + 1} cached.`))
      return [failed(`${label}: warm --dry-run not all cached`, d)];
  const warmByPipeline = median(
    [0, 1, 2, 3, 4].map(
      () => cli(dir, ['run', join('generated', 'wide', 'pipeline.ts'), '--json']).ms,
    ),
  );
  const warm = median(warms.map((w) => w.ms));
  const version = median(versions.map((v) => v.ms));
  const warmCpu = median(warms.map((w) => w.cpuMs));
  const versionCpu = median(versions.map((v) => v.cpuMs));
  const full = median(fulls.map((w) => w.ms));
  const fullCpu = median(fulls.map((w) => w.cpuMs));
  const dry = median(dries.map((w) => w.ms));
  const dryCpu = median(dries.map((w) => w.cpuMs));
  // Cold again with the code fingerprints already recorded (.codehash.json kept, every result
  // removed): the execution's own per-task cost, without the first keying of 1,000 modules.
  rmSync(join(dir, '.cellar', 'workspace', 'wide'), { recursive: true, force: true });
  const coldKeyed = cli(dir, run);
  writeFileSync(join(dir, nb), wideNotebook(n, Math.floor(n / 2)));
  const changed = cli(dir, run);
  const changedRan = changed.ok ? (statuses(changed).ran ?? 0) : -1;
  // How much of that is the compile: another leaf changed, compiled alone.
  writeFileSync(join(dir, nb), wideNotebook(n, Math.floor(n / 2) + 1));
  const recompile = cli(dir, ['compile', nb]);
  return [
    {
      name: `${label}: compile, cold (fresh process, no cache)`,
      value: round(compile.ms),
      unit: 'ms',
    },
    { name: `${label}: compile peak RSS`, value: round(compile.rssMb, 1), unit: 'MB' },
    {
      name: `${label}: cold run by notebook path (${coldRan} tasks ran)`,
      value: round(cold.ms),
      unit: 'ms',
    },
    { name: `${label}: cold run peak RSS`, value: round(cold.rssMb, 1), unit: 'MB' },
    {
      name: `${label}: per-task overhead, cold ((cold − warm) / tasks)`,
      value: round((cold.ms - warm) / (n + 1), 3),
      unit: 'ms',
      aim: '≤ 0.2 ms',
      met: (cold.ms - warm) / (n + 1) <= 0.2,
    },
    ...(coldKeyed.ok
      ? [
          {
            name: `${label}: cold run, code fingerprints already recorded (results removed)`,
            value: round(coldKeyed.ms),
            unit: 'ms',
          },
          {
            name: `${label}: per-task overhead of that run ((cold − warm) / tasks)`,
            value: round((coldKeyed.ms - warm) / (n + 1), 3),
            unit: 'ms',
          },
          {
            name: `${label}: per-task CPU time of that run ((cold − warm CPU) / tasks)`,
            value: round((coldKeyed.cpuMs - warmCpu) / (n + 1), 3),
            unit: 'ms',
          },
          {
            name: `${label}: peak RSS of that run`,
            value: round(coldKeyed.rssMb, 1),
            unit: 'MB',
          },
        ]
      : [failed(`${label}: cold run with fingerprints recorded`, coldKeyed)]),
    {
      name: `${label}: the store's file calls alone, per task (a task folder, a lock file made and removed, an output and a manifest each written to a temp file and renamed; in one process, no task code)`,
      value: round(storeFloorMs(join(dir, '.cellar', 'floor'), n + 1), 3),
      unit: 'ms',
    },
    {
      name: `${label}: per-task CPU time, cold ((cold − warm CPU) / tasks)`,
      value: round((cold.cpuMs - warmCpu) / (n + 1), 3),
      unit: 'ms',
    },
    {
      name: `${label}: warm run by notebook path, all cached (median of 5)`,
      value: round(warm),
      unit: 'ms',
    },
    {
      name: `${label}: warm run by generated pipeline.ts (median of 5)`,
      value: round(warmByPipeline),
      unit: 'ms',
    },
    {
      name: `${label}: \`cellar --version\` in the same run (median of 5)`,
      value: round(version),
      unit: 'ms',
    },
    {
      name: `${label}: warm run minus \`cellar --version\``,
      value: round(warm - version),
      unit: 'ms',
      aim: '≤ 25 ms',
      met: warm - version <= 25,
    },
    {
      name: `${label}: warm --dry-run by notebook path, all cached (median of 5)`,
      value: round(dry),
      unit: 'ms',
    },
    {
      name: `${label}: warm --dry-run minus \`cellar --version\``,
      value: round(dry - version),
      unit: 'ms',
      aim: '≤ 25 ms',
      met: dry - version <= 25,
    },
    {
      name: `${label}: warm run by notebook path down the full path (no warm-run record; median of 5)`,
      value: round(full),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time (user + system) of the warm run (median of 5)`,
      value: round(warmCpu),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time of the warm run minus that of \`cellar --version\``,
      value: round(warmCpu - versionCpu),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time of the warm --dry-run (median of 5)`,
      value: round(dryCpu),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time of the warm run down the full path (median of 5)`,
      value: round(fullCpu),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time of \`cellar --version\` (median of 5)`,
      value: round(versionCpu),
      unit: 'ms',
    },
    {
      name: `${label}: CPU time of the cold run`,
      value: round(cold.cpuMs),
      unit: 'ms',
    },
    {
      name: `${label}: warm run peak RSS`,
      value: round(median(warms.map((w) => w.rssMb)), 1),
      unit: 'MB',
    },
    changed.ok
      ? {
          name: `${label}: one leaf's code changed, by notebook path (${changedRan} tasks re-ran; compile included)`,
          value: round(changed.ms),
          unit: 'ms',
          aim: 'warm + 2 tasks',
          met: changedRan === 2,
        }
      : failed(`${label}: one leaf's code changed`, changed),
    recompile.ok
      ? {
          name: `${label}: one leaf's code changed, \`cellar compile\` alone (fresh process)`,
          value: round(recompile.ms),
          unit: 'ms',
        }
      : failed(`${label}: one leaf's code changed, compile alone`, recompile),
    ...(recompile.ok
      ? [
          {
            name: `${label}: one leaf's code changed, \`cellar compile\` alone, CPU time (user + system)`,
            value: round(recompile.cpuMs),
            unit: 'ms',
          },
        ]
      : []),
    ...(changed.ok
      ? [
          {
            name: `${label}: one leaf's code changed minus the warm run (the one-cell compile and the 2 tasks)`,
            value: round(changed.ms - warm),
            unit: 'ms',
          },
        ]
      : []),
  ];
}

/** The README's task API: n leaves and one total, or a chain of n. */
function apiPipeline(shape: 'wide' | 'chain', n: number): string {
  return shape === 'wide'
    ? `import { defineTask, definePipeline, output, type AnyTask } from 'cellar';
const leaves: AnyTask[] = [];
for (let i = 0; i < ${n}; i++) {
  leaves.push(defineTask({ name: \`leaf\${i}\`, module: import.meta.url, params: {}, inputs: {}, outputs: { v: {} }, run: () => ({ v: i }) }));
}
const total = defineTask({
  name: 'total', module: import.meta.url, params: {},
  inputs: Object.fromEntries(leaves.map((t) => [t.name, output(t, 'v')])),
  outputs: { total: {} },
  run: (inputs: Record<string, number>) => ({ total: Object.values(inputs).reduce((s, v) => s + v, 0) }),
});
export default definePipeline({ name: 'wide${n}', tasks: [...leaves, total] });
`
    : `import { defineTask, definePipeline, output, type AnyTask } from 'cellar';
const tasks: AnyTask[] = [];
for (let i = 0; i < ${n}; i++) {
  const prev = tasks[i - 1];
  tasks.push(defineTask({ name: \`step\${i}\`, module: import.meta.url, params: {}, inputs: prev ? { prev: output(prev, 'v') } : {}, outputs: { v: {} },
    run: (inputs: { prev?: number }) => ({ v: (inputs.prev ?? 0) + 1 }) }));
}
export default definePipeline({ name: 'chain${n}', tasks });
`;
}

function apiRows(shape: 'wide' | 'chain', n: number): BenchRow[] {
  const dir = project(`${shape}${n}`);
  writeFileSync(join(dir, 'pipeline.ts'), apiPipeline(shape, n));
  const label = `${shape} ${n.toLocaleString('en')} (task API)`;
  const base = ['run', 'pipeline.ts', '--json'];
  const dry = cli(dir, ['run', 'pipeline.ts', '--dry-run']);
  if (!dry.ok) return [failed(`${label}: --dry-run`, dry)];
  const cold = cli(dir, base);
  if (!cold.ok) return [failed(`${label}: cold run`, cold)];
  const all = n + (shape === 'wide' ? 1 : 0);
  const warm = cli(dir, base);
  if (!warm.ok || statuses(warm).cached !== all)
    return [failed(`${label}: warm run not all cached`, warm)];
  // The same warm run as a person types it: the summary instead of --json's line per task (at
  // 100,000 tasks that JSON is 7.9 MB, whose writing to the pipe is a quarter of the run).
  const warmPlain = cli(dir, ['run', 'pipeline.ts']);
  if (!warmPlain.ok || !warmPlain.out.includes(`* ${all} were cached`))
    return [failed(`${label}: warm run (summary) not all cached`, warmPlain)];
  const version = cli(dir, ['--version']);
  const warmDry = cli(dir, ['run', 'pipeline.ts', '--dry-run']);
  if (!warmDry.ok || !warmDry.out.includes(`0 tasks would run, ${all} cached.`))
    return [failed(`${label}: warm --dry-run not all cached`, warmDry)];
  // The same warm run without the warm-run record: loading the pipeline, keys, store probe.
  dropWarmRecords(dir);
  const full = cli(dir, base);
  if (!full.ok || statuses(full).cached !== all)
    return [failed(`${label}: warm run (full path) not all cached`, full)];
  const cpu = (t: Timed) => ({ value: round(t.cpuMs), unit: 'ms' });
  return [
    {
      name: `${label}: \`cellar run --dry-run\`, nothing stored`,
      value: round(dry.ms),
      unit: 'ms',
      aim: '≤ 1000 ms',
      met: dry.ms <= 1000,
    },
    { name: `${label}: --dry-run CPU time (user + system)`, ...cpu(dry) },
    { name: `${label}: --dry-run peak RSS`, value: round(dry.rssMb, 1), unit: 'MB' },
    { name: `${label}: cold run`, value: round(cold.ms), unit: 'ms' },
    { name: `${label}: cold run CPU time (user + system, worker threads included)`, ...cpu(cold) },
    {
      name: `${label}: per-task overhead, cold ((cold − warm) / tasks)`,
      value: round((cold.ms - warm.ms) / all, 3),
      unit: 'ms',
      aim: '≤ 0.2 ms',
      met: (cold.ms - warm.ms) / all <= 0.2,
    },
    {
      name: `${label}: per-task CPU time, cold ((cold − warm CPU) / tasks)`,
      value: round((cold.cpuMs - warm.cpuMs) / all, 3),
      unit: 'ms',
    },
    {
      name: `${label}: cold run peak RSS`,
      value: round(cold.rssMb, 1),
      unit: 'MB',
      aim: '< 500 MB',
      met: cold.rssMb < 500,
    },
    {
      name: `${label}: warm run, all cached, --json (a line per task)`,
      value: round(warm.ms),
      unit: 'ms',
      aim: '≤ 1000 ms',
      met: warm.ms <= 1000,
    },
    { name: `${label}: warm run CPU time (user + system)`, ...cpu(warm) },
    {
      name: `${label}: warm run, all cached, printing the summary (no --json)`,
      value: round(warmPlain.ms),
      unit: 'ms',
      aim: '≤ 1000 ms',
      met: warmPlain.ms <= 1000,
    },
    { name: `${label}: warm run (summary) CPU time (user + system)`, ...cpu(warmPlain) },
    { name: `${label}: warm run peak RSS`, value: round(warm.rssMb, 1), unit: 'MB' },
    {
      name: `${label}: warm \`--dry-run\`, all stored`,
      value: round(warmDry.ms),
      unit: 'ms',
      aim: '≤ 1000 ms',
      met: warmDry.ms <= 1000,
    },
    { name: `${label}: warm --dry-run CPU time (user + system)`, ...cpu(warmDry) },
    {
      name: `${label}: warm run down the full path (no warm-run record)`,
      value: round(full.ms),
      unit: 'ms',
    },
    { name: `${label}: warm run down the full path, CPU time (user + system)`, ...cpu(full) },
    { name: `${label}: \`cellar --version\` beside it`, value: round(version.ms), unit: 'ms' },
    { name: `${label}: \`cellar --version\` CPU time`, ...cpu(version) },
  ];
}

function bigCompileRows(n: number): BenchRow[] {
  const dir = project(`compile${n}`);
  const nb = join('notebooks', 'big.ipynb');
  writeFileSync(join(dir, nb), wideNotebook(n));
  const label = `${n.toLocaleString('en')}-cell notebook with a ${n}-term sum`;
  const cold = cli(dir, ['compile', nb]);
  if (!cold.ok) return [failed(`${label}: compile, cold`, cold)];
  writeFileSync(join(dir, nb), wideNotebook(n, 7));
  const changed = cli(dir, ['compile', nb]);
  if (!changed.ok) return [failed(`${label}: one cell changed`, changed)];
  const files = readFileSync(join(dir, 'generated', 'big', 'pipeline.ts'), 'utf8').length;
  return [
    {
      name: `${label}: compile, cold`,
      value: round(cold.ms),
      unit: 'ms',
      aim: '≤ 10000 ms',
      met: cold.ms <= 10_000,
    },
    {
      name: `${label}: compile, cold, CPU time (user + system)`,
      value: round(cold.cpuMs),
      unit: 'ms',
    },
    { name: `${label}: compile peak RSS`, value: round(cold.rssMb, 1), unit: 'MB' },
    {
      name: `${label}: one cell changed (fresh process)`,
      value: round(changed.ms),
      unit: 'ms',
      aim: '≤ 1000 ms',
      met: changed.ms <= 1000,
    },
    {
      name: `${label}: one cell changed, CPU time (user + system)`,
      value: round(changed.cpuMs),
      unit: 'ms',
    },
    { name: `${label}: one cell changed, peak RSS`, value: round(changed.rssMb, 1), unit: 'MB' },
    { name: `${label}: generated pipeline.ts size`, value: round(files / 1024), unit: 'KB' },
  ];
}

export default async function scaleBench(): Promise<BenchSection> {
  spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
  const only = process.env.CELLAR_BENCH_SCALE?.split(',');
  const want = (s: string) => !only || only.includes(s);
  const rows = [
    ...(want('wide') ? wideRows(1000) : []),
    ...(want('api') ? apiRows('wide', 100_000) : []),
    ...(want('api') || want('chain') ? apiRows('chain', 10_000) : []),
    ...(want('compile') ? bigCompileRows(5000) : []),
  ];
  return {
    title: 'Scale: compiled notebooks, 100k-task pipelines, big notebooks',
    measuredAt: new Date().toISOString().slice(0, 10),
    notes:
      'Wall times of the real CLI process (spawn to exit), each in its own small project under bench/.tmp/scale/. "By notebook path" is how users run: `cellar run notebooks/wide.ipynb` checks that the compile is fresh first. The `cellar --version` rows are the floor of a fresh Node process loading the CLI, measured interleaved with the warm runs. Peak RSS and CPU time (user + system) from GNU time. Set CELLAR_BENCH_SCALE=wide,api,chain,compile to run a subset (api: the 100k wide and the 10k chain; chain: the chain alone). A warm run is answered by the warm-run record the last full run wrote (runtime/run/warm-record.ts); the rows "down the full path" remove that record first.',
    rows,
  };
}
