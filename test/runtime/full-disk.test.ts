// A workspace on a full disk (issue 9, item 10): every write failure names what was being written
// (task, file, workspace) with its code, leaves no temp file, and temp files of killed runs
// anywhere in the workspace are swept when a run starts. The full disk is a real one: a 256 KiB
// tmpfs mounted for the test (needs root, as the test machines run; skipped where mount is refused).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { copyFixture, runCli, runJson } from './helpers.js';
import { LocalStore } from '../../runtime/store/local.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'cellar-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], {
    stdio: 'ignore',
  });
  mounted = true;
} catch {
  mounted = false;
}
afterAll(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Every file under `dir` whose name marks it a temp file. */
function temps(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tmp-/.test(f));
}

/** Fill the file system holding `dir` to the last byte (`room` empties it again). */
const room = () => rmSync(join(mountPoint, 'filler'), { force: true });
function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
  } catch {
    // dd stops with "No space left on device": that is the point
  }
}

describe.skipIf(!mounted)('a full workspace disk', () => {
  afterEach(room);
  it('a run on a disk already full names the task, the file, the workspace and ENOSPC, and leaves no temp file', async () => {
    const dir = copyFixture('basic');
    const ws = join(mountPoint, 'ws');
    mkdirSync(ws);
    fill(mountPoint);
    const r = await runJson(['run', join(dir, 'pipeline.ts'), '--workspace', ws]);
    expect(r.code).not.toBe(0);
    const failed = r.result.tasks.filter((t) => t.status === 'failed') as {
      name: string;
      error?: string;
    }[];
    expect(failed.length).toBeGreaterThan(0);
    for (const t of failed) {
      expect(t.error).toContain(`task '${t.name}'`);
      expect(t.error).toContain(`in workspace ${ws}`);
      expect(t.error).toContain('(ENOSPC)');
    }
    expect(temps(ws)).toEqual([]);
    expect(readdirSync(ws, { recursive: true }).filter((f) => String(f).endsWith('.lock'))).toEqual(
      [],
    );
    // Room again: the same run succeeds.
    room();
    const again = await runJson(['run', join(dir, 'pipeline.ts'), '--workspace', ws]);
    expect(again.code, again.stderr).toBe(0);
    rmSync(ws, { recursive: true, force: true });
  });

  it('variant: the disk fills up between two outputs of one task: the message names that output file', async () => {
    const store = new LocalStore(join(mountPoint, 'ws2'));
    await store.writeOutput('t', 't/small_k.json', new TextEncoder().encode('1'));
    fill(mountPoint);
    const error = await store.writeOutput('t', 't/big_k.bin', new Uint8Array(64 * 1024)).then(
      () => new Error('the write succeeded on a full disk'),
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ code: 'E_WORKSPACE_WRITE' });
    expect(error.message).toContain(
      `output file ${join(mountPoint, 'ws2', 't', 'big_k.bin')} of task 't'`,
    );
    expect(error.message).toContain('no space left on the device (ENOSPC)');
    expect(temps(join(mountPoint, 'ws2'))).toEqual([]);
  });
});

/** A PID that exited: a child we ran and waited for. */
const deadPid = () =>
  Number(
    execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString(),
  );

/** This host's name as temp names carry it (runtime/store/owner.ts `tempStamp`). */
const hostTag = hostname().replace(/[^A-Za-z0-9_.]/g, '_');

describe('leftovers of killed runs are swept when a run starts', () => {
  it("temp files of dead writers anywhere in the workspace go; a live writer's stay", async () => {
    const dir = copyFixture('basic');
    const ws = join(dir, 'ws');
    // A dead writer, in folders no task of this run locks.
    const dead = deadPid();
    mkdirSync(join(ws, 'gone_task'), { recursive: true });
    mkdirSync(join(ws, '_runs'), { recursive: true });
    const leftovers = [
      join(ws, 'gone_task', `out_k.json.tmp-${dead}.1~${hostTag}-abc123`),
      join(ws, '_runs', `x.jsonl.tmp-${dead}.1~${hostTag}-abc`),
      join(ws, `.codehash.json.tmp-${dead}.1~${hostTag}`),
    ];
    // A name that only looks like a temp file (no start time and host, as this Cellar writes
    // them): a workspace may be a folder holding the user's files, which the walk leaves alone.
    const theirs = join(ws, 'gone_task', `sales.csv.tmp-${dead}`);
    writeFileSync(theirs, 'the user’s');
    for (const f of leftovers) writeFileSync(f, 'half');
    const live = join(ws, 'gone_task', `out_k.json.tmp-${process.pid}-live1`);
    writeFileSync(live, 'being written');
    const r = await runCli(['run', join(dir, 'pipeline.ts'), '--workspace', ws]);
    expect(r.code, r.stderr).toBe(0);
    for (const f of leftovers) expect(existsSync(f), f).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(theirs)).toBe(true);
  });

  it('the workspace is walked only when a writer may have died: a marker of a process that is gone', async () => {
    const dir = copyFixture('basic');
    const ws = join(dir, 'ws');
    const run = async (...extra: string[]) => {
      const r = await runCli(['run', join(dir, 'pipeline.ts'), '--workspace', ws, ...extra]);
      expect(r.code, r.stderr).toBe(0);
    };
    await run();
    // A run that exited normally took its marker with it.
    expect(readdirSync(join(ws, '.writers'))).toEqual([]);
    const dead = deadPid();
    mkdirSync(join(ws, 'gone_task'), { recursive: true });
    const leftover = join(ws, 'gone_task', `out_k.json.tmp-${dead}.1~${hostTag}-abc123`);
    writeFileSync(leftover, 'half');
    // No writer died since the last walk: a run with work does not walk the workspace.
    await run('--rerun', 'total');
    expect(existsSync(leftover)).toBe(true);
    // A writer that died (its marker stayed): the next run walks, and removes the marker.
    const marker = join(ws, '.writers', `${dead}@${hostname()}`);
    writeFileSync(marker, JSON.stringify({ pid: dead, host: hostname() }));
    await run('--rerun', 'total');
    expect(existsSync(leftover)).toBe(false);
    expect(readdirSync(join(ws, '.writers'))).toEqual([]);
  });
});
