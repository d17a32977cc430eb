// Files a task writes outside its declared outputs (issue 8, F4): `writeFileSync('out/report.csv')`
// in a cell. A cached result is served only while each such file still holds what the cached run
// wrote (runtime/run/probe.ts, the manifest's `written`; the warm-run record checks them too), and
// a task reading a file another task writes, with no upstream path between them, is warned about.
// Through the real CLI on a compiled notebook, on worker threads and in process.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import {
  type Project,
  editKeepingMtimeAndSize,
  project,
  removeProjects,
  runStatuses,
} from './harness.js';

afterAll(removeProjects);

/** `cellar run` with extra flags, which must succeed: each task's status by name. */
function run(p: Project, nb: string, ...flags: string[]): Record<string, string> {
  if (flags.length === 0) return runStatuses(p, nb);
  const r = p.cellar('run', nb, '--json', ...flags);
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    JSON.parse(r.stdout).tasks.map((t: { name: string; status: string }) => [t.name, t.status]),
  );
}

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
      expect(run(p, NB, ...mode)).toEqual({ rows: 'ran', export: 'ran', total: 'ran' });
      expect(p.read(REPORT)).toBe(EXPECTED);
      expect(run(p, NB, ...mode)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
      // Twice: the second all-cached run is answered by the warm-run record, which must check it.
      expect(run(p, NB, ...mode)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
      rmSync(join(p.dir, REPORT));
      const dry = p.cellar('run', NB, '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/export.*out\/report\.csv, which it wrote, is missing/);
      expect(run(p, NB, ...mode)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
      expect(p.read(REPORT)).toBe(EXPECTED);
      expect(run(p, NB, ...mode)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    });
  }

  it('edited keeping its size and mtime: the task re-runs and the file holds what the task writes again', () => {
    const p = salesProject('writeFileSync("out/report.csv", csv);');
    run(p, NB);
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, REPORT), 'north,120', 'north,999');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.stdout).toMatch(/export.*out\/report\.csv, which it wrote, changed since/);
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
    expect(p.read(REPORT)).toBe(EXPECTED);
  });

  it('variant: written atomically (a temporary file renamed over it): deleting it re-runs the task', () => {
    const p = salesProject(
      'writeFileSync("out/report.csv.tmp", csv);\nrenameSync("out/report.csv.tmp", "out/report.csv");',
    );
    run(p, NB);
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'cached', total: 'cached' });
    rmSync(join(p.dir, REPORT));
    expect(run(p, NB)).toEqual({ rows: 'cached', export: 'ran', total: 'cached' });
    expect(p.read(REPORT)).toBe(EXPECTED);
  });

  it('a task reading a file another task writes, with no upstream edge, is warned about naming both tasks, the file and the fix', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';",
        '//| task: export\nmkdirSync("out", { recursive: true });\nwriteFileSync("out/report.csv", "region,amount\\nnorth,120\\n");\nconst exported = 1;',
        '//| task: mail\nconst body = readFileSync("out/report.csv", "utf8");\nconst lines = body.trim().split("\\n").length;',
      ]),
    );
    // The first run records who writes and who reads; from the next one on the pair is known.
    const first = p.cellar('run', NB);
    expect(first.code, first.stderr).toBe(0);
    const second = p.cellar('run', NB);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(
      /task 'mail' reads notebooks\/out\/report\.csv, which task 'export' writes outside its outputs, and 'mail' does not depend on 'export'.*\/\/\| output/,
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
});
