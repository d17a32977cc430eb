// Files a task writes outside its declared outputs (issue 8, F4): `writeFileSync('out/report.csv')`
// in a cell. A cached result is served only while each such file it owns still holds what the
// cached run wrote (runtime/run/probe.ts, the manifest's `written`; the warm-run record checks them
// too). A file only appended to is a log: never checked, so tasks appending to a shared log stay
// cached. A file two tasks write is owned by neither (warned). A task reading a file another task
// writes, with no upstream path between them, is warned about. Through the real CLI on a compiled
// notebook, on worker threads and in process. See docs/design/cache-key.md.
import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  editKeepingMtimeAndSize,
  project,
  removeProjects,
  runBuilt,
  runStatuses,
  showOutput as show,
} from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/sales.ipynb';
const REPORT = 'notebooks/out/report.csv';

/** `export` writes out/report.csv (with `write`, its statement), `total` sums the rows. */
function salesProject(write: string): Project {
  const p = project();
  p.write(
    NB,
    notebookText([
      "import { mkdirSync, renameSync, writeFileSync } from 'node:fs';",
      '//| task: rows\nconst rows = [{ region: "north", amount: 120 }, { region: "south", amount: 80 }];',
      `//| task: export\nmkdirSync("out", { recursive: true });\nconst csv = "region,amount\\n" + rows.map((r) => \`\${r.region},\${r.amount}\`).join("\\n") + "\\n";\n${write}\nconst exported = rows.length;`,
      '//| task: total\nconst total = rows.reduce((s, r) => s + r.amount, 0);',
    ]),
  );
  return p;
}

const EXPECTED = 'region,amount\nnorth,120\nsouth,80\n';

describe('a file a task writes outside its outputs', () => {
  for (const mode of [[], ['--in-process']] as string[][]) {
    const how = mode.length ? ' (--in-process)' : ' (worker threads)';
    it(`deleted after a cached run: the task that wrote it re-runs and writes it again, its downstream stays cached${how}`, () => {
      const p = salesProject('writeFileSync("out/report.csv", csv);');
      expect(runStatuses(p, NB, ...mode)).toEqual({ rows: 'ran', export: 'ran', total: 'ran' });
      expect(p.read(REPORT)).toBe(EXPECTED);
      expect(runStatuses(p, NB, ...mode)).toEqual({
        rows: 'cached',
        export: 'cached',
        total: 'cached',
      });
      rmSync(join(p.dir, REPORT));
      const dry = p.cellar('run', NB, '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/export.*out\/report\.csv, which it wrote, is missing/);
      expect(runStatuses(p, NB, ...mode)).toEqual({
        rows: 'cached',
        export: 'ran',
        total: 'cached',
      });
      expect(p.read(REPORT)).toBe(EXPECTED);
      expect(runStatuses(p, NB, ...mode)).toEqual({
        rows: 'cached',
        export: 'cached',
        total: 'cached',
      });
    });
  }

  it('deleted after an all-cached run, the run the warm-run record would answer re-runs the task that wrote it', () => {
    const p = salesProject('writeFileSync("out/report.csv", csv);');
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    // The all-cached run left a warm-run record; without a moved fact it answers the next run.
    expect(readdirSync(join(p.dir, '.cellar', 'cache', 'warm'))).not.toEqual([]);
    rmSync(join(p.dir, REPORT));
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
    expect(p.read(REPORT)).toBe(EXPECTED);
  });

  it('edited keeping its size and mtime: the task re-runs and the file holds what the task writes again', () => {
    const p = salesProject('writeFileSync("out/report.csv", csv);');
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, REPORT), 'north,120', 'north,999');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/export.*out\/report\.csv, which it wrote, changed since/);
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
    expect(p.read(REPORT)).toBe(EXPECTED);
  });

  it('variant: written atomically (a temporary file renamed over it): deleting it re-runs the task', () => {
    const p = salesProject(
      'writeFileSync("out/report.csv.tmp", csv);\nrenameSync("out/report.csv.tmp", "out/report.csv");',
    );
    runStatuses(p, NB);
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    rmSync(join(p.dir, REPORT));
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
    expect(p.read(REPORT)).toBe(EXPECTED);
  });

  it('a task reading a file another task writes, with no upstream edge, is warned about naming both tasks, the file and the fix', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';",
        '//| task: export\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/report.csv", "region,amount\\nnorth,120\\n");\nconst exported = 1;',
        // Nothing orders the two: 'mail' may run first and find no file (the hazard warned about).
        '//| task: mail\nconst body = existsSync("out/report.csv") ? readFileSync("out/report.csv", "utf8") : "";\nconst lines = body.trim().split("\\n").length;',
      ]),
    );
    // Warned by the first run, which records who writes and who reads (both tasks ran in it).
    const warning =
      /task 'mail' reads notebooks\/out\/report\.csv, which task 'export' writes outside its outputs, and 'mail' does not depend on 'export'.*\/\/\| output/;
    const first = p.cellar('run', NB);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.stderr).toMatch(warning);
    // A new reader joining later is warned about by its own first run, the writer cached.
    p.write(
      NB,
      notebookText([
        "import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';",
        '//| task: export\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/report.csv", "region,amount\\nnorth,120\\n");\nconst exported = 1;',
        '//| task: mail\nconst body = existsSync("out/report.csv") ? readFileSync("out/report.csv", "utf8") : "";\nconst lines = body.trim().split("\\n").length;',
        '//| task: archive\nconst archived = readFileSync("out/report.csv", "utf8").length;',
      ]),
    );
    const later = p.cellar('run', NB, '--json');
    expect(later.code, later.stderr).toBe(0);
    expect(later.stderr).toMatch(
      /task 'archive' reads notebooks\/out\/report\.csv, which task 'export' writes outside its outputs, and 'archive' does not depend on 'export'/,
    );
  });

  it('no warning when the reader depends on the writer', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';",
        '//| task: export\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/report.csv", "region,amount\\nnorth,120\\n");\nconst exported = 1;',
        '//| task: mail\nconst body = readFileSync("out/report.csv", "utf8");\nconst lines = body.trim().split("\\n").length + exported;',
      ]),
    );
    p.cellar('run', NB);
    const second = p.cellar('run', NB);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toMatch(/writes outside its outputs/);
  });
});

describe('a file tasks only append to is a log: no task owns it', () => {
  /** Three tasks, each appending a line to calls.log through a helper module (`log`); 'total'
   *  appends to total.log too, which no other task touches. */
  function loggingProject(): Project {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write(
      'notebooks/lib/log.ts',
      "import { appendFileSync } from 'node:fs';\nexport function log(task: string): void {\n  appendFileSync('calls.log', `${task}\\n`);\n}\n",
    );
    p.write(
      NB,
      notebookText([
        "import { appendFileSync } from 'node:fs';\nimport { log } from './lib/log.ts';",
        '//| task: rows\nlog("rows");\nconst rows = [{ region: "north", amount: 120 }, { region: "south", amount: 80 }];',
        '//| task: share\nlog("share");\nconst shares = rows.map((r) => r.amount / 200);',
        '//| task: total\nlog("total");\nconst total = rows.reduce((s, r) => s + r.amount, 0);\nappendFileSync("total.log", `${total}\\n`);',
      ]),
    );
    return p;
  }
  const LOG = 'notebooks/calls.log';
  const ALL_CACHED = { rows: 'cached', share: 'cached', total: 'cached' };

  it('an appended-to log shared by tasks keeps every task cached, run after run', () => {
    const p = loggingProject();
    expect(runStatuses(p, NB)).toEqual({ rows: 'ran', share: 'ran', total: 'ran' });
    expect(p.read(LOG).trim().split('\n').sort()).toEqual(['rows', 'share', 'total']);
    expect(runStatuses(p, NB)).toEqual(ALL_CACHED);
    expect(runStatuses(p, NB)).toEqual(ALL_CACHED);
    expect(runStatuses(p, NB, '--in-process')).toEqual(ALL_CACHED);
    // Nothing ran again: the log holds the first run's lines only.
    expect(p.read(LOG).trim().split('\n')).toHaveLength(3);
    expect(p.read('notebooks/total.log')).toBe('200\n');
    // A log edited or deleted is no task's output, shared or not: nothing re-runs.
    appendFileSync(join(p.dir, LOG), 'by hand\n');
    appendFileSync(join(p.dir, 'notebooks/total.log'), 'by hand\n');
    expect(runStatuses(p, NB)).toEqual(ALL_CACHED);
    rmSync(join(p.dir, LOG));
    rmSync(join(p.dir, 'notebooks/total.log'));
    expect(runStatuses(p, NB)).toEqual(ALL_CACHED);
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).not.toMatch(/which it wrote/);
  });

  it('variant: appending through a stream in "a" mode and writeFile with flag "a" is logging too', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { createWriteStream, writeFileSync } from 'node:fs';",
        '//| task: rows\nconst out = createWriteStream("rows.log", { flags: "a" });\nawait new Promise((done) => out.end("rows\\n", done));\nconst rows = [1, 2, 3];',
        '//| task: total\nwriteFileSync("total.log", "total\\n", { flag: "a" });\nconst total = rows.reduce((s, r) => s + r, 0);',
      ]),
    );
    expect(runStatuses(p, NB)).toEqual({ rows: 'ran', total: 'ran' });
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', total: 'cached' });
    expect(p.read('notebooks/rows.log')).toBe('rows\n');
    expect(p.read('notebooks/total.log')).toBe('total\n');
    rmSync(join(p.dir, 'notebooks/rows.log'));
    rmSync(join(p.dir, 'notebooks/total.log'));
    expect(runStatuses(p, NB)).toEqual({ rows: 'cached', total: 'cached' });
  });

  it('a file one task writes and others append to: appends keep all cached, deleting it re-runs the task that wrote it', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';",
        '//| task: start\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/audit.csv", "task,rows\\n");\nconst started = true;',
        '//| task: north\nappendFileSync("out/audit.csv", "north,2\\n");\nconst north = started ? 2 : 0;',
        '//| task: south\nappendFileSync("out/audit.csv", "south,3\\n");\nconst south = started ? 3 : 0;',
      ]),
    );
    expect(runStatuses(p, NB)).toEqual({ start: 'ran', north: 'ran', south: 'ran' });
    const all = { start: 'cached', north: 'cached', south: 'cached' };
    expect(runStatuses(p, NB)).toEqual(all);
    expect(runStatuses(p, NB)).toEqual(all);
    rmSync(join(p.dir, 'notebooks/out/audit.csv'));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/start.*out\/audit\.csv, which it wrote, is missing/);
    // The owner writes it again; its output is unchanged, so its downstream stays cached.
    expect(runStatuses(p, NB)).toEqual({ start: 'ran', north: 'cached', south: 'cached' });
    expect(p.read('notebooks/out/audit.csv')).toBe('task,rows\n');
    expect(runStatuses(p, NB)).toEqual(all);
  });

  it('a file two tasks write from scratch is owned by neither: warned naming both tasks and the file, and both stay cached', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { mkdirSync, writeFileSync } from 'node:fs';",
        '//| task: north\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/latest.txt", "north\\n");\nconst north = 2;',
        '//| task: south\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/latest.txt", "south\\n");\nconst south = 3;',
      ]),
    );
    // Warned by the run that finds it out (the next one may be answered by the warm-run record).
    const first = p.cellar('run', NB, '--json');
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(JSON.parse(first.stdout).tasks.map((t: { status: string }) => t.status)).toEqual([
      'ran',
      'ran',
    ]);
    expect(first.stderr).toMatch(
      /tasks 'north' and 'south' each write notebooks\/out\/latest\.txt outside their outputs: it belongs to neither.*Write it from one task only/,
    );
    // The file holds one task's bytes, not the other's: neither is checked against it, so neither
    // re-runs (checked against both, they would re-run in turn on every run).
    expect(runStatuses(p, NB)).toEqual({ north: 'cached', south: 'cached' });
    expect(runStatuses(p, NB)).toEqual({ north: 'cached', south: 'cached' });
  });
});

describe('a task starting a child process', () => {
  it('is warned about naming the task, its cell and the call, with the fix, not as listing the environment', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { execSync } from 'node:child_process';",
        '//| task: load\nconst text = execSync("cat data/x.csv", { encoding: "utf8" });\nconst lines = text.trim().split("\\n").length;',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/x.csv', 'a\n1\n2\n');
    const r = p.cellar('run', NB);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /task 'load' \(notebooks\/sales\.ipynb, cell 2\) starts a child process: execSync\("cat data\/x\.csv"\)\. What a child process reads is not seen.*\/\/\| rerun/,
    );
    // Node copying the environment for the child is not the task listing it.
    expect(r.stderr).not.toMatch(/lists the whole environment/);
  });

  it('variant: spawnSync with an argument list, in a setup-cell helper, names the call too', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { spawnSync } from 'node:child_process';\nexport function lineCount(file: string): number {\n  return Number(spawnSync('wc', ['-l', file], { encoding: 'utf8' }).stdout.trim().split(' ')[0]);\n}",
        '//| task: load\nconst lines = lineCount("data/x.csv");',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/x.csv', 'a\n1\n2\n');
    for (const mode of [[], ['--in-process']]) {
      const r = p.cellar('run', NB, '--rerun', 'load', ...mode);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stderr).toMatch(
        /task 'load' .*starts a child process: spawnSync\("wc", \["-l","data\/x\.csv"\]\)/,
      );
      expect(r.stderr).not.toMatch(/lists the whole environment/);
    }
    expect(show(p, NB, 'load', 'lines')).toBe(3);
  });
});

// A worker thread started in a cell from a script path given at run time (`new Worker('./w.mjs')`)
// is not in the task's key: the warning names the cell as the notebook shows it (not the generated
// module), and its way out works in a cell (a cell has no `import.meta`: E_IMPORT_META).
describe('a worker thread whose script is named only at run time, in a cell', () => {
  it('is warned about at the notebook, cell and line, with a fix that works from a cell', () => {
    const p = project();
    p.write(
      'notebooks/w.mjs',
      "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage(42);\n",
    );
    p.write(
      'notebooks/w.ipynb',
      notebookText([
        "import { Worker } from 'node:worker_threads';",
        "//| task: t1\nconst out = await new Promise<number>((res) => {\n  new Worker('./w.mjs').once('message', res);\n});",
      ]),
    );
    const r = p.cellar('run', 'notebooks/w.ipynb');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /a worker thread whose script is named only at run time: notebooks\/w\.ipynb, cell 2 \(id [^)]+\), line 3: new Worker\('\.\/w\.mjs'\)/,
    );
    expect(r.stderr).toContain('Start the worker from a local module the cell imports');
    expect(r.stderr).not.toContain('generated/');
    expect(show(p, 'notebooks/w.ipynb', 't1', 'out')).toBe(42);
  });
});

describe('a task starting a worker thread', () => {
  /** The tester's repro: a lib helper starts notebooks/work.mjs, which reads data/w.txt. */
  function workerProject(): Project {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/lib', 'notebooks/data']);
    p.write(
      'notebooks/work.mjs',
      "import { parentPort } from 'node:worker_threads';\nimport { readFileSync } from 'node:fs';\nparentPort.postMessage(readFileSync('data/w.txt', 'utf8').trim());\n",
    );
    p.write(
      'notebooks/lib/runw.ts',
      "import { Worker } from 'node:worker_threads';\nexport function runWorker(): Promise<string> {\n  return new Promise((res, rej) => {\n    const w = new Worker(new URL('../work.mjs', import.meta.url));\n    w.once('message', (m) => { res(m); w.terminate(); });\n    w.once('error', rej);\n  });\n}\n",
    );
    p.write(
      NB,
      notebookText([
        "import { runWorker } from './lib/runw.js';",
        '//| task: t\n//| output: r=json\nconst r = await runWorker();',
      ]),
    );
    return p;
  }

  it('is keyed on the files the worker reads: editing one re-runs the task', () => {
    const p = workerProject();
    for (const mode of [[], ['--in-process']]) {
      p.write('notebooks/data/w.txt', `first ${mode.length}\n`);
      const r = p.cellar('run', NB, '--json', ...mode);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(show(p, NB, 't', 'r')).toBe(`first ${mode.length}`);
      expect(runStatuses(p, NB, ...mode)).toEqual({ t: 'cached' });
      p.write('notebooks/data/w.txt', `second ${mode.length}\n`);
      expect(runStatuses(p, NB, ...mode)).toEqual({ t: 'ran' });
      expect(show(p, NB, 't', 'r')).toBe(`second ${mode.length}`);
      expect(runStatuses(p, NB, ...mode)).toEqual({ t: 'cached' });
    }
  });

  it('variant: a worker reading on a message from the task, and an environment variable, is keyed on both', () => {
    const p = workerProject();
    p.write(
      'notebooks/work.mjs',
      "import { parentPort } from 'node:worker_threads';\nimport { readFileSync } from 'node:fs';\nparentPort.on('message', (file) => parentPort.postMessage(readFileSync(file, 'utf8').trim() + (process.env.H29_W ?? '')));\nparentPort.postMessage('ready');\n",
    );
    p.write(
      'notebooks/lib/runw.ts',
      "import { Worker } from 'node:worker_threads';\nexport function runWorker(): Promise<string> {\n  return new Promise((res, rej) => {\n    const w = new Worker(new URL('../work.mjs', import.meta.url));\n    w.on('message', (m) => { if (m === 'ready') w.postMessage('data/w.txt'); else { res(m); w.terminate(); } });\n    w.once('error', rej);\n  });\n}\n",
    );
    p.write('notebooks/data/w.txt', 'a\n');
    expect(runStatuses(p, NB)).toEqual({ t: 'ran' });
    expect(runStatuses(p, NB)).toEqual({ t: 'cached' });
    p.write('notebooks/data/w.txt', 'b\n');
    expect(runStatuses(p, NB)).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r')).toBe('b');
    p.setEnv('H29_W', '!');
    expect(runStatuses(p, NB)).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r')).toBe('b!');
    expect(runStatuses(p, NB)).toEqual({ t: 'cached' });
  });
  it('variant: a worker started from code text (eval: true) is never served stale: its reads cannot be recorded, so it is not cached', () => {
    // A newcomer's finding: the eval'd body runs before the recorder's preload (Node 20), so its
    // read of data/w.txt was missed and the task stayed cached with the old text.
    const p = workerProject();
    p.write(
      'notebooks/lib/runw.ts',
      "import { Worker } from 'node:worker_threads';\nexport function runWorker(): Promise<string> {\n  return new Promise((res, rej) => {\n    const w = new Worker(\"const { parentPort } = require('node:worker_threads'); parentPort.postMessage(require('node:fs').readFileSync('data/w.txt', 'utf8').trim());\", { eval: true });\n    w.once('message', (m) => { res(m); w.terminate(); });\n    w.once('error', rej);\n  });\n}\n",
    );
    p.write('notebooks/data/w.txt', 'one\n');
    for (let i = 0; i < 2; i++) {
      const r = p.cellar('run', NB, '--json');
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const [t] = JSON.parse(r.stdout).tasks;
      expect(t.status).toBe('ran');
      expect(t.notCached).toMatch(/from code text \(`eval: true`\)/);
    }
  });

  it('in a built folder: the script is bundled under workers/, keyed as from the sources', () => {
    // `new URL('../work.mjs', import.meta.url)` failed there ("Invalid URL"): a bundled module's
    // import.meta.url is `cellar-build:…`, and the script was not in the folder at all.
    const p = workerProject();
    p.write('notebooks/data/w.txt', 'one\n');
    const b = p.cellar('build', NB, '--out', 'dist', '--no-lockfile');
    expect(b.code, b.stderr).toBe(0);
    expect(p.read('dist/workers/work.js')).toContain('readFileSync');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r', '--workspace', 'ws')).toBe('one');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'cached' });
    p.write('notebooks/data/w.txt', 'two\n');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r', '--workspace', 'ws')).toBe('two');
    // The sources agree on that workspace: the same key.
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ t: 'cached' });
    // A second build replaces the folder, workers/ included.
    expect(p.cellar('build', NB, '--out', 'dist', '--no-lockfile').code).toBe(0);
  });

  it("variant: a file read by its module's location (new URL(…, import.meta.url)) is read from the workdir in a built folder", () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/lib', 'notebooks/data']);
    p.write(
      'notebooks/lib/readw.ts',
      "import { readFileSync } from 'node:fs';\nexport const readW = () => readFileSync(new URL('../data/w.txt', import.meta.url), 'utf8').trim();\n",
    );
    p.write(
      NB,
      notebookText([
        "import { readW } from './lib/readw.js';",
        '//| task: t\n//| output: r=json\nconst r = readW();',
      ]),
    );
    p.write('notebooks/data/w.txt', 'one\n');
    expect(p.cellar('build', NB, '--out', 'dist', '--no-lockfile').code).toBe(0);
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r', '--workspace', 'ws')).toBe('one');
    p.write('notebooks/data/w.txt', 'two\n');
    expect(runBuilt(p, 'dist/run.mjs')).toEqual({ t: 'ran' });
    expect(show(p, NB, 't', 'r', '--workspace', 'ws')).toBe('two');
    expect(runStatuses(p, NB, '--workspace', 'ws')).toEqual({ t: 'cached' });
  });

  it('whose reads overflow the log is run but not cached, and says why', () => {
    // Each env name a worker reads is a record of the log (8 MiB): 90 names of 100 KB overflow it.
    // A read past the log would be missed by the key, so the result must not be stored.
    const p = workerProject();
    p.write(
      'notebooks/work.mjs',
      "import { parentPort } from 'node:worker_threads';\nlet n = 0;\nfor (let i = 0; i < 90; i++) if (process.env['H30_' + 'x'.repeat(100000) + i] === undefined) n++;\nparentPort.postMessage(String(n));\n",
    );
    for (const mode of [[], ['--in-process']]) {
      const r = p.cellar('run', NB, '--json', ...mode);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const t = (JSON.parse(r.stdout) as { tasks: { name: string; notCached?: string }[] })
        .tasks[0]!;
      expect(t.notCached).toMatch(/t has worker threads whose reads Cellar could not all record/);
      expect(runStatuses(p, NB, ...mode)).toEqual({ t: 'ran' });
    }
  });
});

describe('a task opening a database client itself', () => {
  it('is warned about, naming the module and the client, with the fix: its reads are in no key', () => {
    // A newcomer's finding: a task reading a CSV through its own @duckdb/node-api connection
    // stayed cached after the CSV changed, with no warning.
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/s.csv', 'v\n1\n2\n');
    p.write(
      NB,
      notebookText([
        "import { DuckDBInstance } from '@duckdb/node-api';",
        "//| task: na_sum\nconst naTotal = await (async () => {\n  const inst = await DuckDBInstance.create(':memory:');\n  const con = await inst.connect();\n  return Number((await con.runAndReadAll(`SELECT sum(v) AS s FROM read_csv('data/s.csv')`)).getRowObjectsJson()[0].s);\n})();",
      ]),
    );
    const r = p.cellar('run', NB);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(
      /warning: generated\/sales\/na_sum\.ts imports '@duckdb\/node-api': what a task reads through its own database connection .* is not in its key.*`sql` from 'cellar'.*\/\/\| rerun/,
    );
  });
});

describe('a task making a network request', () => {
  it('is warned about naming the task, its cell and the call with where it is made, with the fix', () => {
    const p = project();
    p.run('mkdir', ['-p', 'notebooks/lib']);
    p.write(
      'notebooks/lib/get.ts',
      "export async function getCount(): Promise<number> {\n  return fetch('http://127.0.0.1:9/count').then(() => 1, () => 0);\n}\n",
    );
    p.write(
      NB,
      notebookText([
        "import { getCount } from './lib/get.js';",
        '//| task: load\nconst count = await getCount();',
      ]),
    );
    for (const mode of [[], ['--in-process']]) {
      const r = p.cellar('run', NB, '--rerun', 'load', ...mode);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stderr).toMatch(
        /task 'load' \(notebooks\/sales\.ipynb, cell 2\) makes a network request: fetch\("http:\/\/127\.0\.0\.1:9\/count"\) at lib\/get\.ts:2\. What a server sends is not seen.*\/\/\| rerun/,
      );
    }
    // Warned by the run that executes the task only: a cached run says nothing.
    const cached = p.cellar('run', NB);
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stderr).not.toMatch(/network request/);
  });
});
