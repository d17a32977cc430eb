// Compile-time benchmark: a synthetic 200-cell notebook (setup, params, 49 tasks of three code
// cells and a markdown cell each, test cells), compiled by the real CLI in fresh processes —
// cold (no cache), unchanged (cache hit), one cell changed — and in `cellar compile --watch`,
// timing a save until the recompiled files are written. Wall times include Node's start-up.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchSection } from './types.js';

const repo = join(import.meta.dirname, '..');
const dir = join(repo, 'bench', '.tmp', 'compile');
const notebook = join(dir, 'notebooks', 'synthetic.ipynb');
const out = join(dir, 'generated');
const cli = join(repo, 'bin', 'cellar.mjs');

/** 200 cells; `variant` changes one number in one cell near the middle. */
export function syntheticNotebook(variant = 0): string {
  const cells: { cell_type: string; source: string }[] = [];
  cells.push({
    cell_type: 'code',
    source:
      "import { readFileSync } from 'node:fs';\nimport assert from 'node:assert';\n\ninterface Point { x: number; y: number }\nfunction norm(p: Point): number {\n  return Math.sqrt(p.x * p.x + p.y * p.y);\n}",
  });
  cells.push({
    cell_type: 'code',
    source: '//| params\nconst scale = 2;\nconst offset = 0.5;\nconst label = "synthetic";',
  });
  let last = 0;
  for (let t = 0; cells.length < 196; t++) {
    last = t;
    cells.push({
      cell_type: 'markdown',
      source: `## Step ${t}\n\nWhy step ${t} exists: it rescales the previous points and keeps the long ones.`,
    });
    const prev = t === 0 ? '[{ x: 1, y: 2 }, { x: 3, y: 4 }]' : `points${t - 1}`;
    const k = t === 24 ? variant : 0;
    cells.push({
      cell_type: 'code',
      source: `//| task: step${t}\nconst raw${t}: Point[] = ${prev}.map((p) => ({ x: p.x * scale + ${k}, y: p.y + offset }));`,
    });
    cells.push({
      cell_type: 'code',
      source: `const lengths${t} = raw${t}.map(norm);\nlet kept${t} = raw${t}.filter((p, i) => lengths${t}[i]! >= 0);`,
    });
    cells.push({
      cell_type: 'code',
      source: `kept${t} = kept${t}.slice(0, 1000);\nconst points${t}: Point[] = kept${t};\nconst summary${t} = \`\${label}: \${points${t}.length} points\`;`,
    });
  }
  while (cells.length < 200) {
    const t = last - (199 - cells.length);
    cells.push({
      cell_type: 'code',
      source: `//| test: step${t}\nassert.ok(points${t}.length > 0);`,
    });
  }
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c, i) => ({
      ...c,
      id: `cell${i}`,
      metadata: {},
      ...(c.cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
    })),
  });
}

function compileOnce(): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, [cli, 'compile', notebook, '--out', out], {
    cwd: dir,
    encoding: 'utf8',
  });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`compile failed:\n${r.stdout}\n${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x);

async function watchTimes(edits: number): Promise<{ wall: number[]; reported: number[] }> {
  const child = spawn(
    process.execPath,
    [cli, 'compile', join(dir, 'notebooks'), '--watch', '--out', out],
    { cwd: dir },
  );
  let text = '';
  let waiter: (() => void) | undefined;
  const onData = (d: Buffer) => {
    text += d.toString();
    waiter?.();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const until = (test: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch timed out:\n${text}`)), 60_000);
      waiter = () => {
        if (test()) {
          clearTimeout(timer);
          waiter = undefined;
          resolve();
        }
      };
      waiter();
    });
  const wall: number[] = [];
  const reported: number[] = [];
  try {
    await until(() => text.includes('watching'));
    for (let i = 1; i <= edits; i++) {
      const before = text.length;
      const start = performance.now();
      writeFileSync(notebook, syntheticNotebook(100 + i));
      await until(() => /✓ .* in (\d+) ms/.test(text.slice(before)));
      wall.push(performance.now() - start);
      reported.push(Number(/✓ .* in (\d+) ms/.exec(text.slice(before))![1]));
    }
  } finally {
    child.kill();
  }
  return { wall, reported };
}

export default async function bench(): Promise<BenchSection> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    '{"name":"bench-compile","private":true,"type":"module"}\n',
  );
  writeFileSync(notebook, syntheticNotebook(0));
  spawnSync(process.execPath, [join(repo, 'scripts', 'build.mjs')]); // dist/ current before timing

  const cold: number[] = [];
  for (let i = 0; i < 3; i++) {
    rmSync(join(dir, '.cellar'), { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    cold.push(compileOnce());
  }
  const unchanged = [compileOnce(), compileOnce(), compileOnce()];
  const changed: number[] = [];
  for (let i = 1; i <= 3; i++) {
    writeFileSync(notebook, syntheticNotebook(i));
    changed.push(compileOnce());
  }
  const watch = await watchTimes(5);

  const rows = [
    {
      name: 'cold compile, 200 cells (fresh process, no cache)',
      value: round(median(cold)),
      unit: 'ms',
      aim: '< 2500 ms',
      met: median(cold) < 2500,
    },
    {
      name: 'unchanged notebook (fresh process, cache hit)',
      value: round(median(unchanged)),
      unit: 'ms',
    },
    {
      name: 'one cell changed (fresh process)',
      value: round(median(changed)),
      unit: 'ms',
      aim: '< 1000 ms',
      met: median(changed) < 1000,
    },
    {
      name: 'one cell changed in --watch (save → files written)',
      value: round(median(watch.wall)),
      unit: 'ms',
      aim: '< 150 ms',
      met: median(watch.wall) < 150,
    },
    {
      name: 'one cell changed in --watch (compile as reported)',
      value: round(median(watch.reported)),
      unit: 'ms',
    },
  ];
  rmSync(dir, { recursive: true, force: true });
  return {
    title: 'Compiler',
    measuredAt: new Date().toISOString().slice(0, 10),
    notes:
      'Synthetic notebook: 200 cells (49 tasks × 3 code cells + markdown, setup, params, tests), compiled with `node bin/cellar.mjs compile` ' +
      'to a scratch folder. Medians of 3 runs (watch: 5 saves; wall time from the write to the summary line, which includes the ' +
      `editor-burst debounce of 25 ms). Raw: cold ${cold.map(round).join('/')} ms, changed ${changed.map(round).join('/')} ms, watch ${watch.wall.map(round).join('/')} ms.`,
    rows,
  };
}
