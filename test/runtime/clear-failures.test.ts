// Clear failures at the edges of a run (issue 9, items 11 and 14), with the real CLI:
// exit codes agree with the README (0 success, 1 a task failed, 2 the pipeline cannot run), a
// missing notebook folder is a coded message naming it and the fix, and a notebook or `--out`
// outside the project runs (or says what to do) instead of `Cannot find module 'cellar'`.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, copyFixture, type CliResult } from './helpers.js';

/** The real CLI with extra environment (the shared helper sets none). */
function cellar(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: options.cwd,
    env: { ...process.env, CELLAR_WORKSPACE: '', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res) =>
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
}

const cell = (id: string, source: string) => ({
  cell_type: 'code',
  id,
  metadata: {},
  execution_count: null,
  outputs: [],
  source,
});
const notebook = (...cells: ReturnType<typeof cell>[]) =>
  JSON.stringify({
    cells,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  });

// Outside the project: no package.json above it, so Node cannot resolve 'cellar' from here.
const outside = mkdtempSync(join(tmpdir(), 'cellar-outside-'));
afterAll(() => rmSync(outside, { recursive: true, force: true }));

const good = notebook(
  cell('c1', '//| task: numbers\nconst numbers = [1, 2, 3];'),
  cell('c2', '//| task: total\nconst total = numbers.reduce((a, b) => a + b, 0);'),
);

describe('exit codes agree with the README', () => {
  it('cellar run on a notebook that does not compile exits 2 (E_COMPILE), naming the cell', async () => {
    const dir = join(outside, 'broken');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'broken.ipynb'),
      notebook(cell('c1', '//| task: a\nconst xs = [1];'), cell('c2', '//| task: b\nxs.push(2);')),
    );
    const r = await cellar(['run', 'broken.ipynb'], { cwd: dir });
    expect(r.code).toBe(2);
    // The code sits before the colon that introduces the diagnostics, not dangling after it.
    expect(r.stderr).toMatch(/broken\.ipynb does not compile \(E_COMPILE\):\n/);
    expect(r.stderr).toContain('cell 2 (id c2)');
  });

  it('variant: a notebook with no tasks exits 2 (E_NO_TASKS)', async () => {
    const dir = join(outside, 'empty');
    mkdirSync(dir);
    writeFileSync(join(dir, 'empty.ipynb'), notebook(cell('c1', 'const x = 1;')));
    const r = await cellar(['run', 'empty.ipynb'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_NO_TASKS');
  });
});

describe('a missing working folder is named, with the fix', () => {
  it('a pipeline whose workdir is gone fails with E_NO_WORKDIR naming the folder, not a raw ENOENT chdir', async () => {
    const dir = copyFixture('basic');
    const pipeline = join(dir, 'pipeline.ts');
    writeFileSync(
      pipeline,
      readFileSync(pipeline, 'utf8').replace("workdir: './data'", "workdir: './gone'"),
    );
    const r = await cellar(['run', pipeline, '--workspace', join(dir, 'ws')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_NO_WORKDIR');
    expect(r.stderr).toContain(join(dir, 'gone'));
    expect(r.stderr).not.toContain('chdir');
  });

  it('variant: a compiled notebook whose folder was deleted says to recompile it', async () => {
    const dir = join(outside, 'moved');
    mkdirSync(join(dir, 'nbs'), { recursive: true });
    writeFileSync(join(dir, 'nbs', 'moved.ipynb'), good);
    const compiled = await cellar(
      ['compile', join(dir, 'nbs', 'moved.ipynb'), '--out', join(dir, 'generated')],
      { cwd: dir },
    );
    expect(compiled.code).toBe(0);
    rmSync(join(dir, 'nbs'), { recursive: true });
    const r = await cellar(['run', join(dir, 'generated', 'moved', 'pipeline.ts')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`working folder ${join(dir, 'nbs')} does not exist`);
    expect(r.stderr).toContain('recompile the notebook');
    expect(r.stderr).toContain('E_NO_WORKDIR');
  });
});

describe("a notebook or --out outside the project resolves 'cellar'", () => {
  it('cellar run on a notebook outside any project compiles and runs it', async () => {
    const dir = join(outside, 'standalone');
    mkdirSync(dir);
    writeFileSync(join(dir, 'standalone.ipynb'), good);
    const r = await cellar(['run', 'standalone.ipynb', '--json'], { cwd: dir });
    expect(r.stderr).not.toContain("Cannot find module 'cellar'");
    expect(r.code).toBe(0);
    const shown = await cellar(['show', 'standalone.ipynb', 'total', 'total', '--json'], {
      cwd: dir,
    });
    expect(JSON.parse(shown.stdout)).toBe(6);
  });

  it('variant: --out outside the project warns at compile time (W_CELLAR_UNRESOLVED), runs, and the tsx loader says what to do', async () => {
    const dir = join(outside, 'out-elsewhere');
    mkdirSync(join(dir, 'nb'), { recursive: true });
    writeFileSync(join(dir, 'nb', 'calc.ipynb'), good);
    const compiled = await cellar(
      ['compile', join(dir, 'nb', 'calc.ipynb'), '--out', join(dir, 'gen')],
      { cwd: dir },
    );
    expect(compiled.code).toBe(0);
    expect(compiled.stderr).toContain('W_CELLAR_UNRESOLVED');
    const pipeline = join(dir, 'gen', 'calc', 'pipeline.ts');
    const ran = await cellar(['run', pipeline], { cwd: dir });
    expect(ran.code).toBe(0);
    const tsx = await cellar(['run', pipeline, '--rerun', 'total'], {
      cwd: dir,
      env: { CELLAR_LOADER: 'tsx' },
    });
    expect(tsx.code).toBe(2);
    expect(tsx.stderr).toContain('E_CELLAR_UNRESOLVED');
    expect(tsx.stderr).toContain('--out <project>/generated');
  });
});

describe('a malformed hand-written task is refused before anything runs', () => {
  it('cellar run exits 2 with E_BAD_TASK naming the pipeline, the task and the field, and runs no task', async () => {
    const dir = copyFixture('basic');
    const file = join(dir, 'tasks', 'total.ts');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace("report: { codec: 'text' } }", "report: 'text' }"),
    );
    const r = await cellar(['run', join(dir, 'pipeline.ts'), '--workspace', join(dir, 'ws')], {
      cwd: dir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("task 'total': 'outputs.report' must be an output spec object");
    expect(r.stderr).toContain('E_BAD_TASK');
    expect(r.stderr).toContain(join(dir, 'pipeline.ts'));
    expect(r.stdout).not.toContain('ran successfully');
  });
});
