// `cellar build` and `cellar docs` write a whole folder. Interrupted (Ctrl-C, SIGTERM) or killed
// outright (kill -9), they must leave the previous folder whole and nothing half-written beside
// it. A newcomer found `cellar docs --force` + Ctrl-C left docs/site/ holding only its marker, and
// an interrupted `cellar build` left its `dist/<name>.tmp-<pid>` staging folder (MBs) for good.
// Now both build into a staging folder beside the output and swap it in at the end; a signal
// removes the staging folder before the process dies by it, and the next build of the same folder
// removes staging folders left by processes that are gone (never a live one's).
// Real CLI processes, real signals, real files; no timing assertions: each test polls until the
// command's staging folder exists, then signals it. Only a swap cut short between its two renames
// (a window no signal can reach) is set up by hand and swept by a direct call.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { project, removeProjects, repo, type Project } from './harness.js';
import { codeCell, notebookText } from '../compiler/notebook.js';

afterAll(removeProjects);

const notebook = notebookText([codeCell('c1', '//| task: counts\nconst counts = [1, 2, 3];')]);

/** Every file under `dir` (relative paths) with its bytes, to show a folder is as it was. */
const contents = (dir: string): Record<string, string> =>
  Object.fromEntries(
    (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
      .filter((f) => !readdirSafe(join(dir, f)))
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'latin1')]),
  );
const readdirSafe = (path: string) => {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
};

/** The pid of a process that has exited (and been reaped): an owner that is gone. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;

/** Staging folders beside `out` (`<name>.tmp-…`) in `parent`. */
const stagingBeside = (parent: string, name: string) =>
  readdirSync(parent).filter((f) => f.startsWith(`${name}.tmp-`));

/**
 * Starts `cellar <args>` in the project, waits until `ready()` holds (polling; the command still
 * running), sends `signal`, and resolves with how the process ended.
 * @throws when the command exits before `ready()` held: there was nothing to interrupt.
 */
async function interrupt(
  p: Project,
  args: string[],
  ready: (pid: number) => boolean,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args], {
    cwd: p.dir,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CELLAR_WORKSPACE: undefined },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, sig) => done({ code, signal: sig })),
  );
  let exited = false;
  void ended.then(() => (exited = true));
  while (!ready(child.pid!)) {
    if (exited)
      throw new Error(`cellar ${args.join(' ')} ended before it could be interrupted\n${stderr}`);
    await sleep(10);
  }
  child.kill(signal);
  return { ...(await ended), stderr };
}

describe('an interrupted cellar build', () => {
  it('removes its staging folder on SIGINT and SIGTERM, dies by the signal, and keeps the last build whole', async () => {
    const p = project();
    p.write('notebooks/nums.ipynb', notebook);
    expect(p.cellar('compile', 'notebooks/nums.ipynb').code).toBe(0);
    const out = join(p.dir, 'dist', 'nums');
    const first = p.cellar('build', 'notebooks/nums.ipynb', '--out', 'dist/nums');
    expect(first.code, first.stderr).toBe(0);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const before = contents(out);
      // With the lockfile step (npm, seconds): the window the newcomer hit.
      const r = await interrupt(
        p,
        ['build', 'notebooks/nums.ipynb', '--out', 'dist/nums'],
        (pid) =>
          stagingBeside(join(p.dir, 'dist'), 'nums').some((f) => f.startsWith(`nums.tmp-${pid}`)),
        signal,
      );
      // Killed by the signal, as a shell reports it (130, 143), whether it died by it or exited.
      expect(
        r.signal ?? (r.code === 130 ? 'SIGINT' : r.code === 143 ? 'SIGTERM' : r.code),
        r.stderr,
      ).toBe(signal);
      expect(stagingBeside(join(p.dir, 'dist'), 'nums')).toEqual([]);
      expect(readdirSync(join(p.dir, 'dist'))).toEqual(['nums']);
      // A signal that came while the build was already swapping in may leave the new build: it is
      // whole either way, with the same files.
      expect(Object.keys(contents(out))).toEqual(Object.keys(before));
      expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).pipeline).toBe('nums');
    }
  });

  it('is cleaned up by the next build: staging folders of owners that are gone, never a live one', () => {
    const p = project();
    p.write('notebooks/nums.ipynb', notebook);
    expect(p.cellar('compile', 'notebooks/nums.ipynb').code).toBe(0);
    const dist = join(p.dir, 'dist');
    // What a `kill -9` mid-build leaves: a half-written bundle in `<out>.tmp-<pid>`.
    const dead = join(dist, `nums.tmp-${deadPid()}`);
    mkdirSync(dead, { recursive: true });
    writeFileSync(join(dead, 'pipeline.js'), 'half');
    // A build of the same folder still running (this test process stands in for it).
    const live = join(dist, `nums.tmp-${process.pid}`);
    mkdirSync(live, { recursive: true });
    writeFileSync(join(live, 'pipeline.js'), 'in flight');
    // Another folder's staging is not this build's to judge.
    const other = join(dist, `other.tmp-${deadPid()}`);
    mkdirSync(other);
    const r = p.cellar('build', 'notebooks/nums.ipynb', '--out', 'dist/nums', '--no-lockfile');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(readFileSync(join(live, 'pipeline.js'), 'utf8')).toBe('in flight');
    expect(existsSync(other)).toBe(true);
    expect(existsSync(join(dist, 'nums', 'run.mjs'))).toBe(true);
  });
});

describe('an interrupted cellar docs', () => {
  it('keeps the previous site whole on Ctrl-C, leaves no staging folder, and the next build removes a killed one’s', async () => {
    const p = project();
    p.write('notebooks/nums.ipynb', notebook);
    const built = p.cellar('docs', '--out', 'site');
    expect(built.code, built.stderr).toBe(0);
    const site = join(p.dir, 'site');
    const before = contents(site);
    expect(Object.keys(before)).toContain('index.html');
    // Left by a docs build killed with kill -9 (its marker written first), and one in flight.
    const dead = join(p.dir, `site.tmp-${deadPid()}`);
    mkdirSync(dead);
    writeFileSync(join(dead, '.cellar-site'), 'Written by `cellar docs`\n');
    const live = join(p.dir, `site.tmp-${process.pid}`);
    mkdirSync(live);
    writeFileSync(join(live, '.cellar-site'), 'Written by `cellar docs`\n');

    const r = await interrupt(
      p,
      ['docs', '--out', 'site', '--force'],
      // Its staging folder; before the fix, the site emptied in place (then nothing to wait for).
      (pid) =>
        stagingBeside(p.dir, 'site').some((f) => f.startsWith(`site.tmp-${pid}`)) ||
        !existsSync(join(site, 'index.html')),
      'SIGINT',
    );
    expect(r.signal ?? (r.code === 130 ? 'SIGINT' : r.code), r.stderr).toBe('SIGINT');
    // The previous site, byte for byte, and still known as up to date.
    expect(contents(site)).toEqual(before);
    expect(p.cellar('docs', '--out', 'site').stdout).toContain('up to date');
    expect(stagingBeside(p.dir, 'site').sort()).toEqual([`site.tmp-${process.pid}`]);
    expect(existsSync(dead)).toBe(false);

    // A kill -9 leaves its staging folder; the next build (even one that finds the site up to
    // date) removes it.
    mkdirSync(dead);
    writeFileSync(join(dead, '.cellar-site'), 'Written by `cellar docs`\n');
    expect(p.cellar('docs', '--out', 'site').stdout).toContain('up to date');
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});

describe('a swap cut short (kill -9 between its two renames)', () => {
  it('puts the last output back where no output stands, and removes it where a new one does', async () => {
    const { sweepStaging } = await import('../../cli/staging.js');
    const p = project();
    const out = join(p.dir, 'site');
    const old = join(p.dir, `site.old-${deadPid()}`);
    mkdirSync(old);
    writeFileSync(join(old, '.cellar-site'), 'marker\n');
    writeFileSync(join(old, 'index.html'), 'the last site');
    const ours = (dir: string) => existsSync(join(dir, '.cellar-site'));
    sweepStaging(out, ours);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toBe('the last site');
    expect(existsSync(old)).toBe(false);
    // Moved aside, then the new one swapped in: the old one is only garbage.
    mkdirSync(old);
    writeFileSync(join(old, '.cellar-site'), 'marker\n');
    // Someone else's folder under a look-alike name is not ours to remove.
    const theirs = join(p.dir, `site.tmp-${deadPid()}`);
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'notes.txt'), 'mine');
    sweepStaging(out, ours);
    expect(existsSync(old)).toBe(false);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toBe('the last site');
    expect(readFileSync(join(theirs, 'notes.txt'), 'utf8')).toBe('mine');
  });
});
