// The pieces of "whatever a task reads at run time is in its key" (runtime/key/run-reads.ts,
// runtime/run/read-record.ts), on real files. The whole behaviour through the CLI:
// test/acceptance/run-reads.test.ts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  lstatSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  recordedRunReads,
  recordedRunReadsOfPipeline,
  listingHash,
  recordRunReads,
  readChangedWhileRunning,
  runReadInputs,
  RunReadStamps,
  SEEN_VARIED,
  LSTAT,
  lstatFacts,
  STAT,
  statFacts,
  typedEntry,
  sideEffectFiles,
  sideEffectOutputs,
  writtenFileMoved,
  type ObservedReads,
} from '../../runtime/key/run-reads.js';
import { observeReads, untracked } from '../../runtime/run/read-record.js';
import { readOnce } from '../support/read-helper.js';
import { contentHash, stampLimits } from '../../runtime/key/filestamp.js';
import { ENV_LISTING, envInputs } from '../../runtime/key/hash.js';

const root = mkdtempSync(join(tmpdir(), 'cellar-run-reads-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const observed = (files: string[] = [], more: Partial<ObservedReads> = {}): ObservedReads => ({
  files: new Set(files),
  dirs: new Set(),
  probes: new Set(),
  stats: new Set(),
  env: new Set(),
  written: new Set(),
  seen: new Map(),
  ...more,
});

describe('the recorder (read-record.ts)', () => {
  it("never records the kernel's live files (/proc, /sys, /dev): they change on every read", async () => {
    const dir = join(root, 'host');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data.txt'), 'd');
    const { reads } = await observeReads(async () => {
      readFileSync('/proc/self/stat');
      statSync('/proc/self/stat');
      existsSync('/dev/null');
      readdirSync('/proc/self/fd');
      readFileSync(join(dir, 'data.txt'));
    });
    const all = [
      ...reads.files,
      ...reads.dirs,
      ...reads.probes,
      ...reads.stats,
      ...reads.seen.keys(),
    ];
    expect(all.filter((p) => /^\/(proc|sys|dev)\//.test(p))).toEqual([]);
    expect([...reads.files]).toEqual([join(dir, 'data.txt')]);
  });

  it('sees readFileSync, fs/promises readFile (a named ESM import), streams, listings and probes', async () => {
    const dir = join(root, 'rec1');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'a.csv'), 'x\n1\n');
    writeFileSync(join(dir, 'b.json'), '{}');
    writeFileSync(join(dir, 'c.txt'), 'c');
    const { reads, result } = await observeReads(async () => {
      readFileSync(join(dir, 'data', 'a.csv'));
      await readFile(join(dir, 'b.json'), 'utf8');
      await new Promise((done) =>
        createReadStream(join(dir, 'c.txt'))
          .on('close', () => done(undefined))
          .resume(),
      );
      readdirSync(join(dir, 'data'));
      existsSync(join(dir, 'maybe.txt'));
      return 42;
    });
    expect(result).toBe(42);
    expect([...reads.files].sort()).toEqual(
      [join(dir, 'b.json'), join(dir, 'c.txt'), join(dir, 'data', 'a.csv')].sort(),
    );
    expect([...reads.dirs]).toEqual([join(dir, 'data')]);
    expect([...reads.probes]).toEqual([join(dir, 'maybe.txt')]);
    // Whole-file reads and listings keep the hash of what the task was handed, as the key hashes it.
    expect(reads.seen.get(join(dir, 'data', 'a.csv'))).toBe(contentHash('x\n1\n'));
    expect(reads.seen.get(join(dir, 'b.json'))).toBe(contentHash('{}'));
    expect(reads.seen.get(`${join(dir, 'data')}/`)).toBe(listingHash(['a.csv']));
    // A listing's key holds each entry's type: `x/` a folder, `x@` a symlink.
    expect(listingHash(['a.csv'])).not.toBe(listingHash(['a.csv/']));
    expect(reads.seen.has(join(dir, 'c.txt'))).toBe(false); // a stream: proven by age instead
  });

  it('keeps stat reads apart from existence probes, with the facts each stat handed (statSync, lstat, fs/promises stat, fstat on a descriptor and a FileHandle)', async () => {
    const dir = join(root, 'rec-stat');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (const f of ['s', 'l', 'p', 'fd', 'fh', 'probed']) writeFileSync(join(dir, f), f);
    const { reads, result } = await observeReads(async () => {
      const sizes = [statSync(join(dir, 's')).size, lstatSync(join(dir, 'l')).size];
      sizes.push((await fs.promises.stat(join(dir, 'p'))).size);
      const fd = fs.openSync(join(dir, 'fd'), 'r');
      sizes.push(fs.fstatSync(fd).size);
      fs.closeSync(fd);
      const handle = await fs.promises.open(join(dir, 'fh'));
      sizes.push((await handle.stat()).size);
      await handle.close();
      statSync(join(dir, 'sub'));
      statSync(join(dir, 'none'), { throwIfNoEntry: false });
      expect(() => statSync(join(dir, 'gone'))).toThrow(/ENOENT/);
      existsSync(join(dir, 'probed'));
      fs.accessSync(join(dir, 'probed'));
      return sizes;
    });
    expect(result).toEqual([1, 1, 1, 2, 2]);
    const at = (...names: string[]) => names.map((n) => join(dir, n)).sort();
    expect([...reads.stats].sort()).toEqual(
      [...at('fd', 'fh', 'gone', 'none', 'p', 's', 'sub'), join(dir, 'l') + LSTAT].sort(),
    );
    expect([...reads.probes]).toEqual(at('probed'));
    // What each stat handed, as the key states it (lstat's, the path's own facts, under #lstat).
    for (const f of ['s', 'p', 'fd', 'fh'])
      expect(reads.seen.get(join(dir, f) + STAT), f).toBe(statFacts(join(dir, f)));
    expect(reads.seen.get(join(dir, 's') + STAT)).toMatch(/^stat:file:1:\d+:100\d{3}$/);
    expect(reads.seen.has(join(dir, 'l') + STAT)).toBe(false);
    expect(reads.seen.get(join(dir, 'l') + LSTAT)).toBe(lstatFacts(join(dir, 'l')));
    expect(reads.seen.get(join(dir, 'sub') + STAT)).toMatch(/^stat:dir:\d+:40\d{3}$/);
    expect(reads.seen.get(join(dir, 'none') + STAT)).toBe('stat:missing');
    expect(reads.seen.get(join(dir, 'gone') + STAT)).toBe('stat:missing');
  });

  it('keys a stat read by type, size, mtime and mode, and a probe by existence only', () => {
    const proj = join(root, 'proj-stat');
    mkdirSync(join(proj, 'data'), { recursive: true });
    const file = join(proj, 'data', 'p.csv');
    writeFileSync(file, 'a,1\n');
    utimesSync(file, 1_000_000, 1_000_000);
    const rec = {
      files: [],
      dirs: [],
      probes: ['data/q.csv'],
      stats: ['data/p.csv'],
      packages: [],
      env: [],
    };
    writeFileSync(join(proj, 'data', 'q.csv'), 'q');
    chmodSync(file, 0o644);
    const stamps = new RunReadStamps();
    expect(runReadInputs(proj, rec, stamps)).toEqual({
      'data/q.csv': 'probe:file',
      'data/p.csv#stat': 'stat:file:4:1000000000:100644',
    });
    utimesSync(file, 1_000_000, 1_000_001); // touch: mtime only
    expect(runReadInputs(proj, rec, stamps)['data/p.csv#stat']).toBe(
      'stat:file:4:1000001000:100644',
    );
    chmodSync(file, 0o755); // chmod +x: mode only
    expect(runReadInputs(proj, rec, stamps)['data/p.csv#stat']).toBe(
      'stat:file:4:1000001000:100755',
    );
    writeFileSync(join(proj, 'data', 'q.csv'), 'grown'); // a probe's size is not its key
    expect(runReadInputs(proj, rec, stamps)['data/q.csv']).toBe('probe:file');
    rmSync(file);
    mkdirSync(file);
    utimesSync(file, 1_000_000, 1_000_002);
    expect(runReadInputs(proj, rec, stamps)['data/p.csv#stat']).toMatch(
      /^stat:dir:1000002000:40\d{3}$/,
    );
  });

  it("attributes a read made by another module's code to that module too, and the task's own reads to the task alone", async () => {
    const dir = join(root, 'rec-shared');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'limits.json'), '{}');
    writeFileSync(join(dir, 'own.txt'), 'own');
    const helper = fileURLToPath(new URL('../support/read-helper.ts', import.meta.url));
    const first = await observeReads(
      async () => {
        readFileSync(join(dir, 'own.txt'));
        return readOnce(join(dir, 'limits.json'));
      },
      import.meta.url,
    );
    expect([...first.reads.files].sort()).toEqual([join(dir, 'limits.json'), join(dir, 'own.txt')]);
    expect([...first.shared.keys()]).toEqual([helper]);
    expect([...first.shared.get(helper)!.files]).toEqual([join(dir, 'limits.json')]);
    // The memo's second caller reads nothing: only the module's record can key it for that task.
    const second = await observeReads(
      async () => readOnce(join(dir, 'limits.json')),
      import.meta.url,
    );
    expect(second.reads.files.size + second.shared.size).toBe(0);
  });

  it('keeps concurrent tasks apart, and records nothing outside a task or inside untracked', async () => {
    const dir = join(root, 'rec2');
    mkdirSync(dir, { recursive: true });
    for (const f of ['one', 'two', 'three']) writeFileSync(join(dir, f), f);
    const task = (name: string) =>
      observeReads(async () => {
        await new Promise((r) => setTimeout(r, 1));
        await fs.promises.readFile(join(dir, name));
        untracked(() => readFileSync(join(dir, 'three')));
      });
    const [a, b] = await Promise.all([task('one'), task('two')]);
    expect([...a.reads.files]).toEqual([join(dir, 'one')]);
    expect([...b.reads.files]).toEqual([join(dir, 'two')]);
    readFileSync(join(dir, 'three')); // no scope: nothing to record into, nothing thrown
  });

  it('untracked from cellar: an async function keeps its reads out after its awaits too, and hands back its result', async () => {
    const { untracked: exported } = await import('../../runtime/index.js');
    const dir = join(root, 'rec-untracked');
    mkdirSync(dir, { recursive: true });
    for (const f of ['data', 'lock']) writeFileSync(join(dir, f), f);
    const { reads, result } = await observeReads(async () => {
      const held = await exported(async () => {
        await new Promise((r) => setTimeout(r, 1));
        fs.existsSync(join(dir, 'lock'));
        return (await fs.promises.readFile(join(dir, 'lock'), 'utf8')).length;
      });
      return held + readFileSync(join(dir, 'data'), 'utf8').length;
    });
    expect(result).toBe(8);
    expect([...reads.files]).toEqual([join(dir, 'data')]);
    expect([...reads.probes]).toEqual([]);
  });

  it('a recursive listing lists every folder under it, each with the hash of its own children (so the key and what the task saw agree)', async () => {
    const dir = join(root, 'rec-recursive');
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    mkdirSync(join(dir, 'empty'), { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'a');
    writeFileSync(join(dir, 'sub', 'b.txt'), 'b');
    writeFileSync(join(dir, 'sub', 'deeper', 'c.txt'), 'c');
    const folders = [dir, join(dir, 'empty'), join(dir, 'sub'), join(dir, 'sub', 'deeper')];
    for (const withFileTypes of [false, true]) {
      const { reads } = await observeReads(async () =>
        withFileTypes
          ? readdirSync(dir, { recursive: true, withFileTypes: true })
          : readdirSync(dir, { recursive: true }),
      );
      expect([...reads.dirs].sort()).toEqual(folders);
      for (const f of folders)
        expect(reads.seen.get(`${f}/`), f).toBe(
          listingHash(readdirSync(f, { withFileTypes: true }).map(typedEntry)),
        );
    }
  });

  it('marks a file the task wrote as its own, and a file opened for reading as read', async () => {
    const dir = join(root, 'rec3');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'in.bin'), 'abc');
    const { reads } = await observeReads(async () => {
      writeFileSync(join(dir, 'out.txt'), 'x');
      const h = await fs.promises.open(join(dir, 'in.bin'));
      await h.close();
      fs.closeSync(fs.openSync(join(dir, 'log.txt'), 'a'));
    });
    expect([...reads.files]).toEqual([join(dir, 'in.bin')]);
    expect([...reads.written].sort()).toEqual([join(dir, 'log.txt'), join(dir, 'out.txt')]);
  });

  it('tells a file only appended to (a log) from one written from scratch (a side-effect output)', async () => {
    const dir = join(root, 'rec-append');
    mkdirSync(dir, { recursive: true });
    const f = (name: string) => join(dir, name);
    const { reads } = await observeReads(async () => {
      fs.appendFileSync(f('calls.log'), 'a\n');
      await fs.promises.appendFile(f('async.log'), 'a\n');
      writeFileSync(f('flag.log'), 'a\n', { flag: 'a' });
      fs.closeSync(fs.openSync(f('open.log'), 'a'));
      const s = fs.createWriteStream(f('stream.log'), { flags: 'a' });
      await new Promise<void>((done) => s.end('a\n', () => done()));
      // Written from scratch: a report, a stream in 'w' mode, a header then appended rows, a copy
      // and a rename's destination.
      writeFileSync(f('report.csv'), 'x');
      const w = fs.createWriteStream(f('stream.csv'));
      await new Promise<void>((done) => w.end('x', () => done()));
      writeFileSync(f('rows.csv'), 'h\n');
      fs.appendFileSync(f('rows.csv'), '1\n');
      fs.appendFileSync(f('later.csv'), '1\n');
      writeFileSync(f('later.csv'), 'h\n');
      fs.copyFileSync(f('report.csv'), f('copy.csv'));
      writeFileSync(f('tmp'), 'y');
      fs.renameSync(f('tmp'), f('final.csv'));
    });
    expect([...(reads.appended ?? [])].sort()).toEqual(
      ['async.log', 'calls.log', 'flag.log', 'open.log', 'stream.log'].map(f),
    );
    expect([...sideEffectOutputs(reads)].sort()).toEqual(
      ['copy.csv', 'final.csv', 'later.csv', 'report.csv', 'rows.csv', 'stream.csv', 'tmp'].map(f),
    );
    // Both kinds are the task's own, never its inputs.
    expect(reads.written.size).toBe(12);
  });

  it('records env names read by a computed name, and a walk over the whole environment as the listing', async () => {
    process.env.CELLAR_TEST_RR = 'v';
    const name = ['CELLAR', 'TEST', 'RR'].join('_');
    const one = await observeReads(async () => process.env[name]);
    expect([...one.reads.env]).toEqual([name]);
    expect(one.envListed).toBe(false);
    const all = await observeReads(async () => ({ ...process.env }));
    // The walk's gets are not reads by name: the listing (every name and value, hashed) keys them.
    expect([...all.reads.env]).toEqual([ENV_LISTING]);
    expect(all.envListed).toBe(true);
    // Every form of listing is one.
    const forms: (() => unknown)[] = [
      () => Object.keys(process.env),
      () => Object.entries(process.env),
      () => JSON.stringify(process.env),
      () => {
        const names: string[] = [];
        for (const k in process.env) names.push(k);
        return names;
      },
    ];
    // (JSON.stringify asks for `toJSON` by name first: a read by name of an unset variable.)
    for (const form of forms)
      expect([...(await observeReads(async () => form())).reads.env]).toContain(ENV_LISTING);
    // Picking names out of a listing is reading them by name (after listing them).
    const picked = await observeReads(async () =>
      Object.keys(process.env)
        .filter((k) => k === name)
        .map((k) => process.env[k]),
    );
    expect([...picked.reads.env].sort()).toEqual([ENV_LISTING, name]);
    // Writes still reach the real environment (child processes see them).
    process.env.CELLAR_TEST_RR = 'w';
    expect(execFileSync('sh', ['-c', 'echo $CELLAR_TEST_RR']).toString().trim()).toBe('w');
    delete process.env.CELLAR_TEST_RR;
  });

  it('keys the listing on every name and value, hashed: a variable added or changed moves it, none in clear', () => {
    const before = envInputs([ENV_LISTING])[ENV_LISTING]!;
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    expect(envInputs([ENV_LISTING])[ENV_LISTING]).toBe(before);
    process.env.CELLAR_TEST_LISTED = 'a';
    const added = envInputs([ENV_LISTING])[ENV_LISTING]!;
    process.env.CELLAR_TEST_LISTED = 'b';
    const changed = envInputs([ENV_LISTING])[ENV_LISTING]!;
    delete process.env.CELLAR_TEST_LISTED;
    expect(new Set([before, added, changed]).size).toBe(3);
    expect(envInputs([ENV_LISTING])[ENV_LISTING]).toBe(before);
  });

  it('records the variables os.homedir() and os.tmpdir() read natively (HOME; TMPDIR, TMP, TEMP)', async () => {
    const home = await observeReads(async () => os.homedir());
    expect([...home.reads.env]).toEqual(['HOME']);
    // A named import of node:os is the patched function too.
    const tmp = await observeReads(async () => tmpdir());
    expect([...tmp.reads.env].sort()).toEqual(['TEMP', 'TMP', 'TMPDIR']);
  });

  it('records fs.openAsBlob as a file read', async () => {
    const f = join(root, 'blob.txt');
    writeFileSync(f, 'blob');
    const { result, reads } = await observeReads(async () => (await fs.openAsBlob(f)).text());
    expect(result).toBe('blob');
    expect([...reads.files]).toEqual([f]);
  });

  it('records process.loadEnvFile: the file (with the hash of what it held) and the names it set', async () => {
    const f = join(root, 'loaded.env');
    writeFileSync(f, 'CELLAR_TEST_LOADED=one\nCELLAR_TEST_LOADED2="two"\n');
    try {
      const { reads } = await observeReads(async () => process.loadEnvFile(f));
      expect([...reads.files]).toEqual([f]);
      expect(reads.seen.get(f)).toBe(contentHash(readFileSync(f)));
      expect([...reads.env].sort()).toEqual(['CELLAR_TEST_LOADED', 'CELLAR_TEST_LOADED2']);
      expect(process.env.CELLAR_TEST_LOADED).toBe('one');
    } finally {
      delete process.env.CELLAR_TEST_LOADED;
      delete process.env.CELLAR_TEST_LOADED2;
    }
  });

  it('marks a task unrecorded when it starts a worker thread without the recorder to preload (a source run)', async () => {
    // Run from source here, runtime/run/worker-reads.js does not exist: the worker's reads would be
    // missed, so the result must not be cached. With it (dist/), see acceptance/side-effects.test.ts.
    const { Worker } = await import('node:worker_threads');
    const started = await observeReads(
      () =>
        new Promise<number>((res, rej) => {
          const w = new Worker('require("node:worker_threads").parentPort.postMessage(7)', {
            eval: true,
          });
          w.once('message', (m: number) => void w.terminate().then(() => res(m)));
          w.once('error', rej);
        }),
    );
    expect(started.result).toBe(7);
    expect(started.unrecorded).toMatch(/starts a worker thread whose reads Cellar cannot record/);
    // A task starting none is recorded as usual.
    expect((await observeReads(async () => 1)).unrecorded).toBeUndefined();
  });
});

describe('the records (run-reads.ts)', () => {
  it('keeps a union per task, relative to the project, leaving out Cellar state and packages by version', () => {
    const proj = join(root, 'proj1');
    mkdirSync(join(proj, 'node_modules', '@acme', 'geo', 'data'), { recursive: true });
    writeFileSync(
      join(proj, 'node_modules', '@acme', 'geo', 'package.json'),
      '{"name":"@acme/geo","version":"1.2.3"}',
    );
    const ctx = { root: proj, pipeline: 'penguins', workspace: join(proj, '.cellar', 'workspace') };
    const other = { ...ctx, pipeline: 'flights' };
    recordRunReads(
      ctx,
      'load',
      observed(
        [
          join(proj, 'data', 'a.csv'),
          join(proj, '.cellar', 'workspace', 'x'),
          join(proj, 'node_modules', '@acme', 'geo', 'data', 'cities.json'),
          // Not packages: a tool's cache, a folder without package.json. Keyed by content.
          join(proj, 'node_modules', '.cache', 'brk.json'),
          join(proj, 'node_modules', 'loose', 'data.json'),
          '/elsewhere/shared.csv',
          join(proj, 'out.csv'),
        ],
        { written: new Set([join(proj, 'out.csv')]), env: new Set(['REGION']) },
      ),
    );
    recordRunReads(ctx, 'load', observed([join(proj, 'data', 'b.csv')]));
    const rec = recordedRunReads(ctx, 'load');
    expect(rec.files).toEqual([
      '/elsewhere/shared.csv',
      'data/a.csv',
      'data/b.csv',
      'node_modules/.cache/brk.json',
      'node_modules/loose/data.json',
    ]);
    expect(rec.packages).toEqual(['node_modules/@acme/geo']);
    expect(rec.env).toEqual(['REGION']);
    // Another pipeline's task of the same name has its own record.
    expect(recordedRunReads(other, 'load').files).toEqual([]);
    expect([...recordedRunReadsOfPipeline(ctx).keys()]).toEqual(['load']);
    // Another workspace of the same project (a test's or a branch's --workspace) too.
    expect(recordedRunReads({ ...ctx, workspace: join(proj, 'ws2') }, 'load').files).toEqual([]);
    const inputs = runReadInputs(proj, rec, new RunReadStamps());
    expect(inputs['node_modules/@acme/geo']).toBe('pkg:1.2.3');
    expect(inputs['data/a.csv']).toBe('missing');
  });

  it('keys content: a same-size edit with mtime put back changes it, with a trusted stamp and no re-read otherwise', () => {
    const proj = join(root, 'proj2');
    mkdirSync(join(proj, 'data'), { recursive: true });
    const file = join(proj, 'data', 'p.csv');
    writeFileSync(file, 'a,1\n');
    const rec = {
      files: ['data/p.csv'],
      dirs: ['data'],
      probes: ['data/none'],
      stats: [],
      packages: [],
      env: [],
    };
    const saved = stampLimits.racyMs;
    stampLimits.racyMs = 0; // trust stamps at once (the racy window is filestamp.test.ts's)
    try {
      const stamps = RunReadStamps.forProject(proj);
      const first = runReadInputs(proj, rec, stamps);
      expect(first['data/p.csv']).toMatch(/^[0-9a-f]{16}$/);
      expect(first['data/']).toMatch(/^ls:[0-9a-f]{16}$/);
      expect(first['data/none']).toBe('probe:missing');
      stamps.save();
      // Unchanged: equal, from stat alone (the memo's stamp is trusted).
      expect(runReadInputs(proj, rec, RunReadStamps.forProject(proj))).toEqual(first);
      execFileSync('cp', ['-p', file, `${file}.saved`]);
      writeFileSync(file, 'a,2\n');
      execFileSync('touch', ['-r', `${file}.saved`, file]);
      rmSync(`${file}.saved`);
      const edited = runReadInputs(proj, rec, RunReadStamps.forProject(proj));
      expect(edited['data/p.csv']).not.toBe(first['data/p.csv']);
      expect(edited['data/']).toBe(first['data/']);
      writeFileSync(join(proj, 'data', 'q.csv'), '');
      expect(runReadInputs(proj, rec, RunReadStamps.forProject(proj))['data/']).not.toBe(
        first['data/'],
      );
      rmSync(file);
      expect(runReadInputs(proj, rec, RunReadStamps.forProject(proj))['data/p.csv']).toBe(
        'missing',
      );
    } finally {
      stampLimits.racyMs = saved;
    }
  });
});

describe('who owns a file tasks write outside their outputs (run-reads.ts sideEffectFiles)', () => {
  const rec = (writes: string[] = [], appends: string[] = []) => ({
    files: [],
    dirs: [],
    probes: [],
    stats: [],
    packages: [],
    env: [],
    ...(writes.length ? { writes } : {}),
    ...(appends.length ? { appends } : {}),
  });

  it('one writer owns by content; others appending make it by existence; two writers own it neither; a log no one', () => {
    const records = new Map([
      ['export', rec(['out/report.csv', 'out/audit.csv', 'out/latest.txt'], ['calls.log'])],
      ['north', rec(['out/latest.txt'], ['out/audit.csv', 'calls.log'])],
      ['south', rec([], ['calls.log', 'south.log'])],
      // A module's record and the load record keep no writes of a task's.
      ['<module:lib/log.ts>', rec(['out/report.csv'])],
    ]);
    const files = sideEffectFiles(records);
    expect(
      Object.fromEntries([...files.owned].map(([t, m]) => [t, Object.fromEntries(m)])),
    ).toEqual({ export: { 'out/report.csv': 'content', 'out/audit.csv': 'exists' } });
    expect(files.shared).toEqual([{ path: 'out/latest.txt', writers: ['export', 'north'] }]);
  });

  it('a file owned by existence moved only when missing; by content, when its bytes differ', () => {
    const dir = join(root, 'owned');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.csv'), 'a,b\n');
    writeFileSync(join(dir, 'audit.csv'), 'h\n');
    const stamps = RunReadStamps.forProject(dir);
    const hash = (f: string) => contentHash(readFileSync(join(dir, f)));
    const written = { 'report.csv': hash('report.csv'), 'audit.csv': hash('audit.csv') };
    const owned = new Map([
      ['report.csv', 'content' as const],
      ['audit.csv', 'exists' as const],
    ]);
    expect(writtenFileMoved(dir, written, owned, stamps)).toBeUndefined();
    fs.appendFileSync(join(dir, 'audit.csv'), 'north,2\n');
    expect(writtenFileMoved(dir, written, owned, stamps)).toBeUndefined();
    fs.appendFileSync(join(dir, 'report.csv'), 'c,d\n');
    expect(writtenFileMoved(dir, written, owned, stamps)).toEqual({
      path: 'report.csv',
      now: hash('report.csv'),
    });
    rmSync(join(dir, 'audit.csv'));
    expect(writtenFileMoved(dir, written, new Map([['audit.csv', 'exists']]), stamps)).toEqual({
      path: 'audit.csv',
      now: 'missing',
    });
    // Not owned (another task writes it too): not checked at all.
    expect(writtenFileMoved(dir, written, new Map(), stamps)).toBeUndefined();
  });
});

describe('reads changed while the task ran (run-reads.ts readChangedWhileRunning)', () => {
  it('a file handed twice with different bytes in one run matches no key value, neither the first bytes nor the last', async () => {
    const proj = join(root, 'varied');
    mkdirSync(join(proj, 'data'), { recursive: true });
    const file = join(proj, 'data', 'p.csv');
    writeFileSync(file, 'a,1\n');
    writeFileSync(join(proj, 'other.csv'), 'a,9\n');
    const since = Date.now();
    const { reads } = await observeReads(async () => {
      readFileSync(file);
      // An outside program (a child process: not the task's own write) rewrites it.
      execFileSync('cp', [join(proj, 'other.csv'), file]);
      readFileSync(file);
      return 0;
    });
    expect(reads.seen.get(file)).toBe(SEEN_VARIED);
    const ctx = { root: proj, pipeline: 'p', workspace: join(proj, '.cellar', 'workspace') };
    for (const bytes of ['a,1\n', 'a,9\n'])
      expect(readChangedWhileRunning(ctx, { 'data/p.csv': contentHash(bytes) }, reads, since)).toBe(
        'data/p.csv',
      );
  });

  it('a stream, a stat and a keyed path left alone: checked by stamp, flagged only where the task touched a path that moved', async () => {
    const proj = join(root, 'stamped');
    mkdirSync(join(proj, 'data'), { recursive: true });
    const streamed = join(proj, 'data', 's.csv');
    writeFileSync(streamed, 's,1\n');
    writeFileSync(join(proj, 'data', 'untouched.csv'), 'u,1\n');
    const keyed = {
      'data/s.csv': contentHash('s,1\n'),
      'data/untouched.csv': contentHash('u,1\n'),
      'data/flag': 'probe:missing',
    };
    const ctx = { root: proj, pipeline: 'p', workspace: join(proj, '.cellar', 'workspace') };
    const since = Date.now() + 10; // keyed after every write above
    const streamIt = () =>
      new Promise((done) =>
        createReadStream(streamed)
          .on('close', () => done(undefined))
          .resume(),
      );
    const clean = await observeReads(async () => {
      await streamIt();
      fs.statSync(join(proj, 'data'));
      return 0;
    });
    // Written moments before the keying, same bytes now, ctime older than the keying: as keyed.
    expect(readChangedWhileRunning(ctx, keyed, clean.reads, since)).toBeUndefined();
    // The untouched file changes: the result does not rest on it.
    writeFileSync(join(proj, 'data', 'untouched.csv'), 'u,2\n');
    expect(readChangedWhileRunning(ctx, keyed, clean.reads, since)).toBeUndefined();
    // A file appears where the key says none was, and the task probes it.
    const probed = await observeReads(async () => {
      writeFileSync(join(proj, 'data', 'flag-src'), 'x');
      execFileSync('cp', [join(proj, 'data', 'flag-src'), join(proj, 'data', 'flag')]);
      fs.existsSync(join(proj, 'data', 'flag'));
      return 0;
    });
    expect(readChangedWhileRunning(ctx, keyed, probed.reads, since)).toBe('data/flag');
    // Or stats it: the facts it was handed are not the key's.
    const statted = await observeReads(async () => fs.statSync(join(proj, 'data', 'flag')).size);
    const keyedStat = { 'data/flag#stat': 'stat:missing' };
    expect(readChangedWhileRunning(ctx, keyedStat, statted.reads, since)).toBe('data/flag#stat');
    // A stream of a stat'ed path (handed no facts): its facts now against the key's.
    const fdStat = await observeReads(async () => {
      await new Promise((done) => fs.stat(join(proj, 'data', 'flag'), () => done(undefined)));
      return 0;
    });
    expect(readChangedWhileRunning(ctx, keyedStat, fdStat.reads, since)).toBe('data/flag#stat');
    const flagFacts = { 'data/flag#stat': statFacts(join(proj, 'data', 'flag')) };
    expect(readChangedWhileRunning(ctx, flagFacts, statted.reads, since)).toBeUndefined();
    // The streamed file rewritten after the keying with the same bytes (an edit put back): its
    // ctime is newer than the keying, so what the stream read is not proven.
    await new Promise((done) => setTimeout(done, 20));
    const later = Date.now();
    await new Promise((done) => setTimeout(done, 20));
    execFileSync('cp', ['-p', streamed, `${streamed}.bak`]);
    execFileSync('cp', [`${streamed}.bak`, streamed]);
    const restored = await observeReads(async () => {
      await streamIt();
      return 0;
    });
    expect(readChangedWhileRunning(ctx, keyed, restored.reads, later)).toBe('data/s.csv');
  });
});

describe('a task that read nothing at run time (perform.ts readNothing)', () => {
  it('is reported so, with no record written; a task that read a file is not, and its record holds the file', async () => {
    const { defineTask } = await import('cellar');
    const { performTask } = await import('../../runtime/run/perform.js');
    const { MemoryStore } = await import('../../runtime/store/memory.js');
    const proj = join(root, 'read-nothing');
    mkdirSync(join(proj, 'data'), { recursive: true });
    writeFileSync(join(proj, 'data', 'n.txt'), '41');
    const ctx = { root: proj, pipeline: 'p', workspace: join(proj, '.cellar', 'workspace') };
    const pure = defineTask({
      name: 'pure',
      params: {},
      outputs: { v: {} },
      run: () => ({ v: 1 }),
    });
    const reader = defineTask({
      name: 'reader',
      params: {},
      outputs: { v: {} },
      run: () => ({ v: Number(readFileSync(join(proj, 'data', 'n.txt'), 'utf8')) + 1 }),
    });
    const tasks = new Map([
      ['pure', pure],
      ['reader', reader],
    ]);
    const store = new MemoryStore().forPipeline('p');
    const job = (task: string) => ({
      task,
      key: `k-${task}`,
      params: {},
      upstreamKeys: {},
      inputs: [],
      reads: ctx,
    });
    const a = await performTask(pure, tasks, job('pure'), store);
    expect(a.readNothing).toBe(true);
    expect(recordedRunReadsOfPipeline(ctx).has('pure')).toBe(false);
    const b = await performTask(reader, tasks, job('reader'), store);
    expect(b.readNothing).toBeUndefined();
    expect(recordedRunReads(ctx, 'reader').files).toEqual(['data/n.txt']);
    // Without a reads context nothing is observed, so nothing is claimed either.
    const { reads: _none, ...plain } = job('pure');
    expect((await performTask(pure, tasks, plain, store)).readNothing).toBeUndefined();
  });
});
