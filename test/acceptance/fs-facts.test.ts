// Every file-system fact a task is handed is in its key (issue 8, breaker report A1–A4, A6): a
// file's mode, a folder's mtime, a listing's entry types, a symlink's target and resolved path, a
// file opened read-write and read, a copy's source, a data file inside a linked package, and an
// environment variable's presence asked with Object.hasOwn. Through the real CLI (worker threads);
// the asserted value is the one `cellar show` prints. The run after the one that discovered a read
// may re-run the task once (its key gains the input): each test settles before editing anything.
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { type Project, project, removeProjects, showOutput, runStatuses } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/facts.ipynb';

/** `cellar run --json`, which must succeed: each task's status by name. */
const run = (p: Project) => runStatuses(p, NB);

/** A project whose notebook's cells are `cells`, with notebooks/data/ holding `files`. */
function factsProject(files: Record<string, string>, ...cells: string[]): Project {
  const p = project();
  p.write(NB, notebookText(cells));
  mkdirSync(join(p.dir, 'notebooks', 'data'), { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(p.dir, 'notebooks', 'data', name, '..'), { recursive: true });
    p.write(join('notebooks', 'data', name), text);
  }
  return p;
}

/** Run until every task is cached (the first run discovers the reads, the second keys them). */
function settle(p: Project, tasks: string[]): void {
  run(p);
  run(p);
  expect(run(p)).toEqual(Object.fromEntries(tasks.map((t) => [t, 'cached'])));
}

const data = (p: Project, ...parts: string[]) => join(p.dir, 'notebooks', 'data', ...parts);

describe('stat facts: mode, folder mtime, entry types, links', () => {
  it('a file made executable (chmod +x, bytes and mtime unchanged): the task asking mode & 0o111 re-runs and says true', () => {
    const p = factsProject(
      { 'tool.sh': 'echo hi\n' },
      "import { statSync } from 'node:fs';",
      '//| task: mode\nconst executable = (statSync("data/tool.sh").mode & 0o111) !== 0;',
    );
    chmodSync(data(p, 'tool.sh'), 0o644);
    settle(p, ['mode']);
    expect(showOutput(p, NB, 'mode', 'executable')).toBe(false);
    chmodSync(data(p, 'tool.sh'), 0o755);
    expect(run(p)).toEqual({ mode: 'ran' });
    expect(showOutput(p, NB, 'mode', 'executable')).toBe(true);
    expect(run(p)).toEqual({ mode: 'cached' });
  });

  it("a folder's mtime: a file added to the folder re-runs the task with the new mtime", () => {
    const p = factsProject(
      { 'dir/a.txt': 'a' },
      "import { statSync } from 'node:fs';",
      '//| task: dirm\nconst dirMtime = statSync("data/dir").mtimeMs;',
    );
    utimesSync(data(p, 'dir'), 1_700_000_000, 1_700_000_000);
    settle(p, ['dirm']);
    expect(showOutput(p, NB, 'dirm', 'dirMtime')).toBe(1_700_000_000_000);
    writeFileSync(data(p, 'dir', 'b.txt'), 'b');
    utimesSync(data(p, 'dir'), 1_750_000_000, 1_750_000_000);
    expect(run(p)).toEqual({ dirm: 'ran' });
    expect(showOutput(p, NB, 'dirm', 'dirMtime')).toBe(1_750_000_000_000);
  });

  it('readdirSync withFileTypes: a file replaced by a folder of the same name re-runs the task, which sees the folder', () => {
    const p = factsProject(
      { 'dir/x': 'x' },
      "import { readdirSync } from 'node:fs';",
      '//| task: withtypes\nconst entries = readdirSync("data/dir", { withFileTypes: true }).map((d) => d.name + (d.isDirectory() ? "/" : ""));',
    );
    settle(p, ['withtypes']);
    expect(showOutput(p, NB, 'withtypes', 'entries')).toEqual(['x']);
    rmSync(data(p, 'dir', 'x'));
    mkdirSync(data(p, 'dir', 'x'));
    expect(run(p)).toEqual({ withtypes: 'ran' });
    expect(showOutput(p, NB, 'withtypes', 'entries')).toEqual(['x/']);
    expect(run(p)).toEqual({ withtypes: 'cached' });
  });

  it('readlinkSync and fs/promises realpath: a symlink re-pointed re-runs both tasks with the new target', () => {
    const p = factsProject(
      { 't1.txt': '1', 't2.txt': '2' },
      "import { readlinkSync } from 'node:fs';\nimport { realpath } from 'node:fs/promises';\nimport { basename } from 'node:path';",
      '//| task: link\nconst target = readlinkSync("data/cur");',
      '//| task: realp\nconst real = basename(await realpath("data/cur"));',
    );
    symlinkSync('t1.txt', data(p, 'cur'));
    settle(p, ['link', 'realp']);
    expect(showOutput(p, NB, 'link', 'target')).toBe('t1.txt');
    expect(showOutput(p, NB, 'realp', 'real')).toBe('t1.txt');
    rmSync(data(p, 'cur'));
    symlinkSync('t2.txt', data(p, 'cur'));
    expect(run(p)).toEqual({ link: 'ran', realp: 'ran' });
    expect(showOutput(p, NB, 'link', 'target')).toBe('t2.txt');
    expect(showOutput(p, NB, 'realp', 'real')).toBe('t2.txt');
    expect(run(p)).toEqual({ link: 'cached', realp: 'cached' });
  });

  it('variant: lstat of a symlink: the link replaced by a plain file re-runs the task asking isSymbolicLink()', () => {
    const p = factsProject(
      { 't1.txt': '1' },
      "import { lstatSync } from 'node:fs';",
      '//| task: islink\nconst linked = lstatSync("data/cur").isSymbolicLink();',
    );
    symlinkSync('t1.txt', data(p, 'cur'));
    settle(p, ['islink']);
    expect(showOutput(p, NB, 'islink', 'linked')).toBe(true);
    rmSync(data(p, 'cur'));
    writeFileSync(data(p, 'cur'), '1');
    expect(run(p)).toEqual({ islink: 'ran' });
    expect(showOutput(p, NB, 'islink', 'linked')).toBe(false);
  });
});

describe('a file opened read-write and read is an input', () => {
  it("openSync 'r+' with readSync and 'a+' with readFileSync(fd): editing either file re-runs its task", () => {
    const p = factsProject(
      { 'rw.txt': 'rw1', 'ap.txt': 'ap1' },
      "import { openSync, readSync, closeSync, readFileSync } from 'node:fs';",
      [
        '//| task: rplus',
        'const fdRw = openSync("data/rw.txt", "r+");',
        'const bufRw = Buffer.alloc(3);',
        'readSync(fdRw, bufRw, 0, 3, 0);',
        'closeSync(fdRw);',
        'const rwText = bufRw.toString();',
      ].join('\n'),
      [
        '//| task: aplus',
        'const fdAp = openSync("data/ap.txt", "a+");',
        'const apText = readFileSync(fdAp, "utf8").trim();',
        'closeSync(fdAp);',
      ].join('\n'),
    );
    settle(p, ['rplus', 'aplus']);
    expect(showOutput(p, NB, 'rplus', 'rwText')).toBe('rw1');
    writeFileSync(data(p, 'rw.txt'), 'rw2');
    writeFileSync(data(p, 'ap.txt'), 'ap2');
    expect(run(p)).toEqual({ rplus: 'ran', aplus: 'ran' });
    expect(showOutput(p, NB, 'rplus', 'rwText')).toBe('rw2');
    expect(showOutput(p, NB, 'aplus', 'apText')).toBe('ap2');
  });

  it("variant: a file the task writes itself and then reads back through 'r+' is its own output, not an input", () => {
    const p = factsProject(
      {},
      "import { openSync, readFileSync, closeSync, writeFileSync } from 'node:fs';",
      [
        '//| task: own',
        'writeFileSync("data/own.txt", "mine");',
        'const fdOwn = openSync("data/own.txt", "r+");',
        'const ownText = readFileSync(fdOwn, "utf8");',
        'closeSync(fdOwn);',
      ].join('\n'),
    );
    settle(p, ['own']);
    expect(showOutput(p, NB, 'own', 'ownText')).toBe('mine');
  });
});

describe('a copy reads its source', () => {
  it('copyFileSync and fs/promises copyFile to a scratch file, then reading the copy: editing the source re-runs both', () => {
    const p = factsProject(
      { 'src.txt': 'src1' },
      "import { copyFileSync, readFileSync } from 'node:fs';\nimport { copyFile } from 'node:fs/promises';\nimport { tmpdir } from 'node:os';\nimport { join } from 'node:path';",
      '//| task: copysync\nconst scratch = join(tmpdir(), `cellar-copy-${process.pid}-a.txt`);\ncopyFileSync("data/src.txt", scratch);\nconst copied = readFileSync(scratch, "utf8");',
      '//| task: copyasync\nconst scratch2 = join(tmpdir(), `cellar-copy-${process.pid}-b.txt`);\nawait copyFile("data/src.txt", scratch2);\nconst copied2 = readFileSync(scratch2, "utf8");',
    );
    settle(p, ['copysync', 'copyasync']);
    writeFileSync(data(p, 'src.txt'), 'src2');
    expect(run(p)).toEqual({ copysync: 'ran', copyasync: 'ran' });
    expect(showOutput(p, NB, 'copysync', 'copied')).toBe('src2');
    expect(showOutput(p, NB, 'copyasync', 'copied2')).toBe('src2');
  });

  it('cpSync of a folder into a scratch folder caches, and editing a file inside the source re-runs it', () => {
    const p = factsProject(
      { 'srcdir/a.txt': 'a1', 'srcdir/sub/b.txt': 'b1' },
      "import { cpSync, readFileSync, rmSync } from 'node:fs';\nimport { tmpdir } from 'node:os';\nimport { join } from 'node:path';",
      [
        '//| task: cpdir',
        'const into = join(tmpdir(), `cellar-cpdir-${process.pid}`);',
        'rmSync(into, { recursive: true, force: true });',
        'cpSync("data/srcdir", into, { recursive: true });',
        'const copiedDir = readFileSync(join(into, "sub", "b.txt"), "utf8");',
        'rmSync(into, { recursive: true, force: true });',
      ].join('\n'),
    );
    settle(p, ['cpdir']);
    expect(showOutput(p, NB, 'cpdir', 'copiedDir')).toBe('b1');
    writeFileSync(data(p, 'srcdir', 'sub', 'b.txt'), 'b2');
    expect(run(p)).toEqual({ cpdir: 'ran' });
    expect(showOutput(p, NB, 'cpdir', 'copiedDir')).toBe('b2');
  });
});

describe('a data file read from inside a linked package is keyed by content', () => {
  it('a package linked into node_modules (npm link): editing its data file re-runs the task reading it by path', () => {
    const p = factsProject(
      {},
      "import { readFileSync } from 'node:fs';",
      '//| task: direct\nconst directData = readFileSync("../node_modules/linkedpkg/data.txt", "utf8").trim();',
    );
    mkdirSync(join(p.dir, 'linkedpkg'));
    p.write('linkedpkg/package.json', '{ "name": "linkedpkg", "version": "1.0.0" }\n');
    p.write('linkedpkg/data.txt', 'd1\n');
    mkdirSync(join(p.dir, 'node_modules'));
    symlinkSync(join(p.dir, 'linkedpkg'), join(p.dir, 'node_modules', 'linkedpkg'));
    settle(p, ['direct']);
    expect(showOutput(p, NB, 'direct', 'directData')).toBe('d1');
    appendFileSync(join(p.dir, 'linkedpkg', 'data.txt'), 'd2\n');
    expect(run(p)).toEqual({ direct: 'ran' });
    expect(showOutput(p, NB, 'direct', 'directData')).toBe('d1\nd2');
  });
});

describe("an environment variable's presence asked without `in` is keyed", () => {
  it('Object.hasOwn(process.env, X) and Object.getOwnPropertyDescriptor: setting X re-runs both tasks with "present"', () => {
    const p = factsProject(
      {},
      '//| task: hasown\nconst flagC = Object.hasOwn(process.env, "CELLAR_T_FLAG_C") ? "present" : "absent";',
      '//| task: descr\nconst flagD = Object.getOwnPropertyDescriptor(process.env, "CELLAR_T_FLAG_D") ? "present" : "absent";',
      '//| task: use\nconst flags = [flagC, flagD].join(",");',
    );
    settle(p, ['hasown', 'descr', 'use']);
    expect(showOutput(p, NB, 'use', 'flags')).toBe('absent,absent');
    p.setEnv('CELLAR_T_FLAG_C', '1');
    p.setEnv('CELLAR_T_FLAG_D', '1');
    expect(run(p)).toEqual({ hasown: 'ran', descr: 'ran', use: 'ran' });
    expect(showOutput(p, NB, 'use', 'flags')).toBe('present,present');
  });
});

describe('the environment listed through an alias is keyed as a direct listing', () => {
  it('setup `const env = process.env`, listed by Object.keys / a spread / JSON.stringify / for…in in a task (and a local alias): a variable added re-runs each', () => {
    const count = 'filter((k) => k.startsWith("CELLAR_T_LIST")).length';
    const p = factsProject(
      {},
      'const env = process.env;',
      `//| task: keys\nconst nKeys = Object.keys(env).${count};`,
      `//| task: spread\nconst nSpread = Object.keys({ ...env }).${count};`,
      '//| task: json\nconst nJson = (JSON.stringify(env).match(/CELLAR_T_LIST/g) ?? []).length;',
      '//| task: forin\nlet nForin = 0;\nfor (const k in env) if (k.startsWith("CELLAR_T_LIST")) nForin++;',
      `//| task: local\nconst e2 = process.env;\nconst nLocal = Object.keys(e2).${count};`,
    );
    const tasks = ['keys', 'spread', 'json', 'forin', 'local'];
    settle(p, tasks);
    p.setEnv('CELLAR_T_LIST_A', '1');
    expect(run(p)).toEqual(Object.fromEntries(tasks.map((t) => [t, 'ran'])));
    for (const [task, name] of [
      ['keys', 'nKeys'],
      ['spread', 'nSpread'],
      ['json', 'nJson'],
      ['forin', 'nForin'],
      ['local', 'nLocal'],
    ])
      expect(showOutput(p, NB, task!, name!), task).toBe(1);
  });
});

describe('setup statements with an effect are in every task key', () => {
  it('a setup assignment to globalThis and a side-effect import: editing either re-runs the task using only the global', () => {
    const p = factsProject(
      {},
      "import './lib/side.ts';\n(globalThis as any).T_GLOBAL = 2;",
      '//| task: viaglobal\nconst outGlobal = 10 * (globalThis as any).T_GLOBAL;',
      '//| task: viaside\nconst outSide = 10 * (globalThis as any).T_SIDE;',
    );
    mkdirSync(join(p.dir, 'notebooks', 'lib'));
    p.write('notebooks/lib/side.ts', '(globalThis as any).T_SIDE = 2;\n');
    settle(p, ['viaglobal', 'viaside']);
    p.write(
      NB,
      notebookText([
        "import './lib/side.ts';\n(globalThis as any).T_GLOBAL = 3;",
        '//| task: viaglobal\nconst outGlobal = 10 * (globalThis as any).T_GLOBAL;',
        '//| task: viaside\nconst outSide = 10 * (globalThis as any).T_SIDE;',
      ]),
    );
    p.write('notebooks/lib/side.ts', '(globalThis as any).T_SIDE = 4;\n');
    expect(run(p)).toEqual({ viaglobal: 'ran', viaside: 'ran' });
    expect(showOutput(p, NB, 'viaglobal', 'outGlobal')).toBe(30);
    expect(showOutput(p, NB, 'viaside', 'outSide')).toBe(40);
  });
});
