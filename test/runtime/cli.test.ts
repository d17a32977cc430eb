// The real CLI on a hand-written pipeline in real processes: code-aware caching, the working
// directory, exit codes, a SIGKILL mid-task then resume, and two concurrent runs.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calls, copyFixture, root, runCli, runJson, sleep, startCli } from './helpers.js';

beforeAll(() => {
  // Build dist/ once, so concurrent CLI processes below do not race to rebuild it.
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

const all = (status: string) => ({ source: status, scale: status, count: status, total: status });

describe('cellar run (real processes)', () => {
  it('caches by code: a comment-only edit keeps the cache, a code edit re-runs the task and its downstream', async () => {
    const dir = copyFixture('basic');
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')];
    expect((await runJson(args)).status).toEqual(all('ran'));
    expect((await runJson(args)).status).toEqual(all('cached'));

    const scalePath = join(dir, 'tasks', 'scale.ts');
    const original = readFileSync(scalePath, 'utf8');
    writeFileSync(
      scalePath,
      `// A new comment and different formatting.\n${original.replace("logCall('scale');", "logCall(  'scale'  ) ; // noted")}`,
    );
    expect((await runJson(args)).status).toEqual(all('cached'));

    writeFileSync(scalePath, original.replace('id: r.id,', 'id: r.id + 0,'));
    const dry = await runCli([...args, '--dry-run']);
    expect(dry.stdout).toMatch(/would run\s+scale\s+[0-9a-f]{16}\s+inputs changed/);
    expect(dry.stdout).toMatch(/code\.files\.scale\.ts: [0-9a-f]{16} → [0-9a-f]{16}/);
    expect((await runJson(args)).status).toEqual({
      source: 'cached',
      scale: 'ran',
      count: 'cached',
      total: 'ran',
    });
  });

  it('a change in an imported local helper re-runs exactly the tasks that import it (and downstream)', async () => {
    const dir = copyFixture('basic');
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')];
    await runJson(args);
    const helper = join(dir, 'lib', 'math.ts');
    writeFileSync(
      helper,
      readFileSync(helper, 'utf8').replace('return x * factor;', 'return factor * x;'),
    );
    // scale and total import lib/math.ts; source and count do not.
    expect((await runJson(args)).status).toEqual({
      source: 'cached',
      scale: 'ran',
      count: 'cached',
      total: 'ran',
    });
  });

  it('runs tasks in the pipeline workdir wherever it is started from, and --param re-runs only readers', async () => {
    const dir = copyFixture('basic');
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')];
    const first = await runJson(args, { cwd: '/' });
    expect(first.code).toBe(0);
    const again = await runJson([...args, '--param', 'factor=3'], { cwd: '/tmp' });
    expect(again.status).toEqual({ source: 'cached', scale: 'ran', count: 'cached', total: 'ran' });
    const shown = await runCli([
      'show',
      join(dir, 'pipeline.ts'),
      'total',
      'report',
      '--workspace',
      join(dir, 'ws'),
      '--param',
      'factor=3',
      '--json',
    ]);
    expect(JSON.parse(shown.stdout)).toBe('total of 3 rows: 180');
  });

  it('cellar tree and cellar show report status, params, output files and schemas; --dry-run --json explains', async () => {
    const dir = copyFixture('basic');
    const pipeline = join(dir, 'pipeline.ts');
    const ws = ['--workspace', join(dir, 'ws')];
    const before = await runCli(['tree', pipeline, 'total', ...ws]);
    expect(before.stdout).toContain('(PENDING) total[');
    expect(before.stdout).toContain('stale: never run');
    await runJson(['run', pipeline, ...ws]);
    const tree = await runCli(['tree', pipeline, 'total', ...ws]);
    expect(tree.stdout).toMatch(/^\(COMPLETE\) total\[[0-9a-f]{16}\]/);
    expect(tree.stdout).toMatch(
      /scaled: .*scale\/scaled_[0-9a-f]{16}(-[0-9a-f]{8})?\.arrow \(table 3 rows × 2 columns: id number, value number\)/,
    );
    expect(tree.stdout).toContain('params: {"factor":2,"slowMs":0}');
    expect(tree.stdout).toContain('(shown above)');
    const json = JSON.parse((await runCli(['tree', pipeline, '--json', ...ws])).stdout);
    expect(
      json.tasks.map((t: { name: string; status: string }) => `${t.name}:${t.status}`),
    ).toEqual(['source:complete', 'scale:complete', 'count:complete', 'total:complete']);
    const show = await runCli(['show', pipeline, 'scale', ...ws]);
    expect(show.stdout).toMatch(/id\s+value\n──\s+─────\n1\s+20\s*\n2\s+40\s*\n3\s+60/);
    const dry = JSON.parse(
      (await runCli(['run', pipeline, ...ws, '--dry-run', '--json', '--param', 'factor=5'])).stdout,
    );
    const scale = dry.tasks.find((t: { name: string }) => t.name === 'scale');
    expect(scale).toMatchObject({
      action: 'run',
      reason: { kind: 'inputs-changed', changes: [{ path: 'params.factor', before: 2, after: 5 }] },
    });
    expect(dry.tasks.find((t: { name: string }) => t.name === 'count')).toMatchObject({
      action: 'cached',
    });
    expect(calls(dir)).toHaveLength(4);
  });

  it('exit codes: 2 for bad usage, 1 for a failed task, 0 for success', async () => {
    const dir = copyFixture('basic');
    const pipeline = join(dir, 'pipeline.ts');
    const ws = ['--workspace', join(dir, 'ws')];
    const unknown = await runCli(['run', pipeline, ...ws, '--param', 'nope=1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('E_UNKNOWN_PARAM');
    const badNumber = await runCli(['run', pipeline, ...ws, '--param', 'factor=abc']);
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain("param 'factor' is a number");
    // Given twice with two values: which one was meant is not for Cellar to guess.
    const twice = await runCli([
      'run',
      pipeline,
      ...ws,
      '--param',
      'factor=3',
      '--param',
      'factor=4',
    ]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(
      "--param factor is given twice, as '3' and as '4': give it once (E_BAD_PARAM)",
    );
    expect((await runCli(['run', pipeline, ...ws, '--rerun', 'scal+'])).stderr).toContain(
      "did you mean 'scale'",
    );
    writeFileSync(join(dir, 'data', 'input.csv'), 'id,value\n1,oops\n');
    writeFileSync(
      join(dir, 'tasks', 'count.ts'),
      readFileSync(join(dir, 'tasks', 'count.ts'), 'utf8').replace(
        "logCall('count');",
        "logCall('count'); throw new Error('count exploded');",
      ),
    );
    const failed = await runJson(['run', pipeline, ...ws, '--keep-going']);
    expect(failed.code).toBe(1);
    expect(failed.status).toEqual({
      source: 'ran',
      scale: 'ran',
      count: 'failed',
      total: 'not-run',
    });
    const text = await runCli(['run', pipeline, ...ws]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('* 1 failed:\n    - count: count exploded');
  });

  // `total` logs its start, then waits for a gate file (`total.go` in the workdir) that the
  // test creates only after the kill: the kill always lands mid-task, however slow the machine
  // (a sleep instead let a starved test see `total` only after it had committed). The wait is
  // `untracked`, a marker file that cannot change the result, so it is not in the task's key.
  const gated = (d: string) => {
    const file = join(d, 'tasks', 'total.ts');
    const code = readFileSync(file, 'utf8');
    const held = code
      .replace(
        "import { defineTask, output } from 'cellar';",
        "import { existsSync } from 'node:fs';\nimport { defineTask, output, untracked } from 'cellar';",
      )
      .replace(
        'await sleep(slowMs);',
        "await sleep(slowMs);\n    while (!untracked(() => existsSync('total.go'))) await sleep(20);",
      );
    expect(held).toContain("existsSync('total.go')");
    expect(held).toContain('untracked }');
    writeFileSync(file, held);
    writeFileSync(join(d, 'package.json'), '{ "private": true, "type": "module" }\n');
    return d;
  };
  const openGate = (d: string) => writeFileSync(join(d, 'data', 'total.go'), '');
  /** Start a gated run with one worker; resolves once `total` has started (and is held). */
  const startHeld = async (dir: string, args: string[]) => {
    const started = startCli([...args, '--workers', '1']);
    // Wait for `total` to start however slow the machine is (a guard against hangs, not a timing check).
    const startBy = Date.now() + 300_000;
    while (Date.now() < startBy && !calls(dir).some((c) => c.startsWith('total'))) await sleep(20);
    expect(calls(dir).some((c) => c.startsWith('total'))).toBe(true);
    // Still running (held at the gate), so the signal below lands mid-task.
    expect(started.child.exitCode).toBeNull();
    return started;
  };

  /** Open the gate and run again: only the held task runs, the finished ones are served. */
  const resumeHeld = async (dir: string, args: string[]) => {
    openGate(dir);
    const resumed = await runJson(args);
    expect(resumed.code).toBe(0);
    expect(resumed.status).toEqual({
      source: 'cached',
      scale: 'cached',
      count: 'cached',
      total: 'ran',
    });
    return resumed;
  };

  it('Ctrl-C mid-task says what the run leaves, ends as SIGINT does, and the next run resumes', async () => {
    const dir = gated(copyFixture('basic'));
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')];
    const { child, done } = await startHeld(dir, args);
    child.kill('SIGINT');
    const interrupted = await done;
    expect(interrupted.signal).toBe('SIGINT');
    expect(interrupted.stderr).toContain(
      'cellar: interrupted (SIGINT): 3 tasks ran to the end in this run and are stored; 1 running was stopped and nothing of it is stored (total). Run the same command again to resume',
    );
    const totalDir = join(dir, 'ws', 'basic', 'total');
    expect(readdirSync(totalDir).filter((f) => f.endsWith('.manifest.json'))).toEqual([]);
    await resumeHeld(dir, args);
  });

  it('resumes after SIGKILL mid-task: finished tasks stay cached, results equal an uninterrupted run', async () => {
    const dir = gated(copyFixture('basic'));
    const args = ['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')];
    const { child, done } = await startHeld(dir, args);
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    const totalDir = join(dir, 'ws', 'basic', 'total');
    // Killed mid-task: no manifest (not done), maybe a stale lock; never a half-written output.
    expect(
      readdirSync(totalDir).filter(
        (f) => f.endsWith('.manifest.json') || /_[0-9a-f]{16}\.(json|txt)$/.test(f),
      ),
    ).toEqual([]);

    const resumed = await resumeHeld(dir, args);
    expect(readdirSync(totalDir).filter((f) => f.endsWith('.lock') || f.includes('.tmp-'))).toEqual(
      [],
    );

    const clean = gated(copyFixture('basic'));
    openGate(clean);
    const cleanArgs = ['run', join(clean, 'pipeline.ts'), '--workspace', join(clean, 'ws')];
    const reference = await runJson(cleanArgs);
    expect(reference.code).toBe(0);
    // `source` reads input.csv at run time: from the second run on its key holds the file's
    // content and its path from the project root (key/run-reads.ts), and the first run filed its
    // results under those keys too (run/adopt-reads.ts). The resumed run is a second run: compare
    // with the reference's second. (Both copies are their own projects, as a clone would be: the
    // package.json `gated` writes; without one the project root is this repository and the two
    // copies' data files have different paths in it.)
    const referenceAgain = await runJson(cleanArgs);
    expect(referenceAgain.status).toEqual(all('cached'));
    expect(resumed.keys).toEqual(referenceAgain.keys);
    for (const out of ['total', 'report']) {
      // (File names carry the key each result was computed under: K0 for the reference's first
      // run, whose manifest under the later key points at the same file.)
      const file = readdirSync(totalDir).find((f) => f.startsWith(`${out}_`))!;
      const refDir = join(clean, 'ws', 'basic', 'total');
      const refFile = readdirSync(refDir).find((f) => f.startsWith(`${out}_`))!;
      expect(readFileSync(join(totalDir, file))).toEqual(readFileSync(join(refDir, refFile)));
    }
  });

  it('two processes running the same pipeline at once compute each task once, without errors', async () => {
    const dir = copyFixture('basic');
    const args = [
      'run',
      join(dir, 'pipeline.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--param',
      'slowMs=400',
      '--json',
    ];
    const a = startCli(args);
    const b = startCli(args);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, rb.code, ra.stderr + rb.stderr]).toEqual([0, 0, '']);
    const ja = JSON.parse(ra.stdout);
    const jb = JSON.parse(rb.stdout);
    // Every task computed exactly once across both processes.
    expect(
      calls(dir)
        .map((c) => c.split(' ')[0])
        .sort(),
    ).toEqual(['count', 'scale', 'source', 'total']);
    for (const name of ['source', 'scale', 'count', 'total']) {
      const sa = ja.tasks.find((t: { name: string }) => t.name === name);
      const sb = jb.tasks.find((t: { name: string }) => t.name === name);
      expect(sa.key).toBe(sb.key);
      expect([sa.status, sb.status].sort()).toEqual(['cached', 'ran']);
    }
    expect(existsSync(join(dir, 'ws', 'basic', 'total'))).toBe(true);
  });
});
