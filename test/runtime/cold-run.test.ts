// A cold run of many small tasks in a real process, killed part-way: what the store's per-task
// writes (task folders made on demand, no sweep of a folder the run just made, one lock file,
// output then manifest) must still guarantee. No timing in any assertion: the run is held open
// by a task waiting for a file, and killed once enough tasks are done.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runJson, sleep, startCli } from './helpers.js';

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

const LEAVES = 120;

/** 120 leaves (each a 2,000-number array), a gate waiting for `open` in the workdir, a total. */
function project(): string {
  const dir = join(
    root,
    'test',
    '.tmp',
    'runtime',
    `cold-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
  );
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(
    join(dir, 'pipeline.ts'),
    `import { existsSync } from 'node:fs';
import { defineTask, definePipeline, output, type AnyTask } from 'cellar';
const leaves: AnyTask[] = [];
for (let i = 0; i < ${LEAVES}; i++)
  leaves.push(defineTask({ name: \`leaf\${i}\`, module: import.meta.url, params: {}, inputs: {}, outputs: { v: {} },
    run: () => ({ v: Array.from({ length: 2000 }, (_, k) => i * 10_000 + k) }) }));
const gate = defineTask({ name: 'gate', module: import.meta.url, params: {}, inputs: {}, outputs: { open: {} },
  run: async () => { while (!existsSync('open')) await new Promise((r) => setTimeout(r, 20)); return { open: true }; } });
const total = defineTask({ name: 'total', module: import.meta.url, params: {},
  inputs: { ...Object.fromEntries(leaves.map((t) => [t.name, output(t, 'v')])), open: output(gate, 'open') },
  outputs: { total: {} },
  run: (inputs: Record<string, number[] | boolean>) => ({ total: Object.values(inputs).reduce<number>((s, v) => s + (Array.isArray(v) ? v.reduce((a, b) => a + b, 0) : 0), 0) }) });
export default definePipeline({ name: 'many', workdir: './data', tasks: [gate, ...leaves, total] });
`,
  );
  return dir;
}

const expectedLeaf = (i: number) => Array.from({ length: 2000 }, (_, k) => i * 10_000 + k);
const manifestsIn = (taskDir: string) =>
  existsSync(taskDir) ? readdirSync(taskDir).filter((f) => f.endsWith('.manifest.json')) : [];

describe('a cold run of many small tasks, killed part-way', () => {
  it('leaves only whole outputs and done markers of finished tasks; the resumed run runs the rest and equals an uninterrupted one', async () => {
    const dir = project();
    const ws = join(dir, 'ws');
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', ws];
    const { child, done } = startCli(args);
    const folder = join(ws, 'many');
    const finished = () =>
      Array.from({ length: LEAVES }, (_, i) => manifestsIn(join(folder, `leaf${i}`)).length).filter(
        (n) => n > 0,
      ).length;
    // The gate holds the run open, so it cannot end before the kill (a guard against hangs,
    // not a timing check).
    const by = Date.now() + 300_000;
    while (Date.now() < by && finished() < 10) await sleep(20);
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    const doneBefore = finished();
    expect(doneBefore).toBeGreaterThanOrEqual(10);

    // Every output at its final name is whole; every done marker names outputs that are there.
    for (let i = 0; i < LEAVES; i++) {
      const taskDir = join(folder, `leaf${i}`);
      if (!existsSync(taskDir)) continue;
      for (const f of readdirSync(taskDir).filter((n) =>
        /^v_[0-9a-f]{16}(-[0-9a-f]{8})?\.json$/.test(n),
      ))
        expect(JSON.parse(readFileSync(join(taskDir, f), 'utf8'))).toEqual(expectedLeaf(i));
      for (const m of manifestsIn(taskDir)) {
        const manifest = JSON.parse(readFileSync(join(taskDir, m), 'utf8'));
        const file = join(folder, manifest.outputs.v.file);
        expect(readFileSync(file).byteLength).toBe(manifest.outputs.v.bytes);
      }
    }
    expect(manifestsIn(join(folder, 'gate'))).toEqual([]);
    expect(manifestsIn(join(folder, 'total'))).toEqual([]);

    writeFileSync(join(dir, 'data', 'open'), '');
    const resumed = await runJson(args);
    expect(resumed.code).toBe(0);
    const counts: Record<string, number> = {};
    for (const s of Object.values(resumed.status)) counts[s] = (counts[s] ?? 0) + 1;
    // The finished leaves are reused; the rest, the gate and the total run.
    expect(counts).toEqual({ cached: doneBefore, ran: LEAVES - doneBefore + 2 });
    // No temp file anywhere. A lock file can stay only where the killed run had written the done
    // marker but not yet released the lock: a cached task, whose lock no later run needs (a dead
    // owner's lock is broken at once when taken).
    for (const t of readdirSync(folder)) {
      const files = readdirSync(join(folder, t));
      expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
      if (files.some((f) => f.endsWith('.lock'))) expect(resumed.status[t]).toBe('cached');
    }

    const clean = project();
    writeFileSync(join(clean, 'data', 'open'), '');
    const reference = await runJson([
      'run',
      join(clean, 'pipeline.ts'),
      '--workspace',
      join(clean, 'ws'),
    ]);
    expect(reference.code).toBe(0);
    expect(resumed.keys).toEqual(reference.keys);
    const totalFile = (d: string) => {
      const t = join(d, 'many', 'total');
      return readFileSync(
        join(
          t,
          readdirSync(t).find((f) => f.startsWith('total_'))!,
        ),
        'utf8',
      );
    };
    expect(totalFile(ws)).toBe(totalFile(join(clean, 'ws')));
  });
});
