// A stored output whose file is still there but no longer holds what its run wrote (truncated or
// edited by hand, a damaged disk; a tester's finding) is not a complete result either. Before:
// `--dry-run` said 0 to run, the downstream failed with a bare `Unexpected end of JSON input` in
// its own cell, and `cellar show` with `Cannot read properties of null (E_UNEXPECTED)` from inside
// apache-arrow, none naming the file. Now the store probe sees a file whose size is not the one
// its manifest recorded (the plan says the task runs and why, and the run re-makes it, as for a
// deleted file: missing-output.test.ts), and every reader checks the bytes it reads against the
// recorded size and digest: an edit that keeps the size is E_OUTPUT_DAMAGED naming the task, the
// output and the file, and that result is no longer served. A downstream task that runs and finds
// it so does not fail (a second finding): as gokart re-runs a task whose target is not complete,
// the run makes the upstream again there and then, says so and why, and runs the downstream once
// more on the re-made output.
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  notebookText,
  project,
  removeProjects,
  runStatuses as run,
  STACK_FRAME,
} from './harness.js';
import type { Project } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/x.ipynb';
const MAKE =
  "//| task: make\nconst rows = [{ a: 1, b: 'x' }, { a: 2, b: 'y' }];\nconst m = new Map([['k', 1]]);\nconst j = { z: 1 };";

/** `make` stores a table (Arrow), a Map (structured) and a plain object (JSON); `use` reads all three. */
function pipeline(): Project {
  const p = project();
  p.write(NB, notebookText([MAKE, '//| task: use\nconst n = rows.length + m.size + j.z;']));
  return p;
}

/** The one stored file of `task` whose name starts with `output`_. */
function storedFile(p: Project, task: string, output: string): string {
  const folder = join(p.dir, '.cellar', 'workspace', 'x', task);
  const files = readdirSync(folder).filter((f) => f.startsWith(`${output}_`));
  expect(files).toHaveLength(1);
  return join(folder, files[0]!);
}

/** Change one byte of `file` (the first `from` at or after `at`) to `to`, keeping its size. */
function editByte(file: string, from: string, to: string, at = 0): void {
  const bytes = readFileSync(file);
  const i = bytes.indexOf(from, at);
  expect(i).toBeGreaterThanOrEqual(0);
  bytes[i] = to.charCodeAt(0);
  writeFileSync(file, bytes);
}

const n = (p: Project) => JSON.parse(p.cellar('show', NB, 'use', 'n', '--json').stdout);

describe('a stored output whose file was changed after its run', () => {
  it('truncated (a table and a JSON output): --dry-run names the task and the file and says it would run; the run re-makes it and the downstream gets the right value', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    const rows = storedFile(p, 'make', 'rows');
    expect(rows).toMatch(/\.arrow$/);
    const recorded = readFileSync(rows).byteLength;
    truncateSync(rows, 20);
    const j = storedFile(p, 'make', 'j');
    expect(j).toMatch(/\.json$/);
    writeFileSync(j, '{"z":');
    // The downstream's cell edited too, so the run takes the full path (keys computed, the store
    // probed); what the warm-run record sees is the next test's.
    p.write(NB, notebookText([MAKE, '//| task: use\nconst n = rows.length + m.size + j.z + 0;']));

    // The plan names the first damaged output in the manifest's order (j, m, rows).
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /would run\s+make\s+\w+\s+its stored output 'j' was changed since it was written: make\/j_\w+\.json \(5 bytes, recorded 7\): re-run to make it again/,
    );
    // With only the table truncated, the plan names it.
    writeFileSync(j, '{"z":1}');
    expect(p.cellar('run', NB, '--dry-run').stdout).toMatch(
      new RegExp(
        `would run\\s+make\\s+\\w+\\s+its stored output 'rows' was changed since it was written: make/rows_\\w+\\.arrow \\(20 bytes, recorded ${recorded}\\)`,
      ),
    );
    writeFileSync(j, '{"z":');
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    // Made again under a re-run's names (store.ts `replacementFileKey`), the damaged files gone.
    expect(readFileSync(storedFile(p, 'make', 'rows')).byteLength).toBe(recorded);
    expect(JSON.parse(readFileSync(storedFile(p, 'make', 'j'), 'utf8'))).toEqual({ z: 1 });
    expect(n(p)).toBe(4);
    expect(run(p, NB)).toEqual({ make: 'cached', use: 'cached' });
  });

  it('a table truncated: cellar show says E_OUTPUT_DAMAGED naming the task, output and file, not an error from apache-arrow', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    truncateSync(storedFile(p, 'make', 'rows'), 20);
    const table = p.cellar('show', NB, 'make', 'rows');
    expect(table.code).not.toBe(0);
    const text = table.stdout + table.stderr;
    expect(text).toMatch(
      /the stored output 'rows' of task 'make' is damaged: \S*make\/rows_\w+\.arrow \(20 bytes, recorded \d+\)/,
    );
    expect(text).toContain('E_OUTPUT_DAMAGED');
    expect(text).not.toMatch(/E_UNEXPECTED|reading 'g'/);
    expect(text).not.toMatch(STACK_FRAME);
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'cached' });
    expect(JSON.parse(p.cellar('show', NB, 'make', 'rows', '--json').stdout)).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
    ]);
  });

  it('edited keeping its size: cellar show says E_OUTPUT_DAMAGED naming the task, output and file (the digest tells), and the next run re-makes it', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    const j = storedFile(p, 'make', 'j');
    // Still valid JSON of the same size: only the digest can tell.
    editByte(j, '1', '7');
    expect(JSON.parse(readFileSync(j, 'utf8'))).toEqual({ z: 7 });

    const show = p.cellar('show', NB, 'make', 'j');
    expect(show.code).not.toBe(0);
    const text = show.stdout + show.stderr;
    expect(text).toContain('E_OUTPUT_DAMAGED');
    expect(text).toMatch(
      /the stored output 'j' of task 'make' is damaged: \S*make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\)/,
    );
    expect(text).toContain('--rerun make');
    expect(text).not.toMatch(STACK_FRAME);
    expect(text).not.toMatch(/E_UNEXPECTED|SyntaxError/);

    // The damaged result is no longer served: the plan says so, and the next run makes it again.
    expect(p.cellar('run', NB, '--dry-run').stdout).toMatch(
      /would run\s+make\s+\w+\s+its stored output 'j' was changed since it was written: make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\): re-run to make it again/,
    );
    // Its other outputs too: the result is one whole.
    const other = p.cellar('show', NB, 'make', 'm');
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("the stored output 'j' of task 'make' is damaged");
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'cached' });
    expect(JSON.parse(p.cellar('show', NB, 'make', 'j', '--json').stdout)).toEqual({ z: 1 });
  });

  it('read by a downstream task that runs, edited keeping its size: the run makes the upstream again in the same run, says so and why, then runs the downstream on the right value', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    editByte(storedFile(p, 'make', 'j'), '1', '7');
    // The downstream's cell changed: it runs and reads `j` (the upstream stays cached: same size).
    p.write(NB, notebookText([MAKE, '//| task: use\nconst n = rows.length + m.size + j.z + 0;']));
    // Before: the downstream failed with E_OUTPUT_DAMAGED, and only the next run re-made `make`.
    const r = p.cellar('run', NB);
    const text = r.stdout + r.stderr;
    expect(r.code, text).toBe(0);
    expect(r.stderr).toMatch(
      /remake  make: its stored output 'j' was changed since it was written: make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\), found by use reading it; making it again in this run, then use again/,
    );
    expect(r.stdout).toMatch(
      /\* 2 ran successfully:\n\s+- make \(\S+; made again in this run: its stored output 'j' was changed since it was written: make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\), found by use reading it\)\n\s+- use /,
    );
    expect(text).not.toMatch(/FAILED|E_OUTPUT_DAMAGED|Unexpected|E_UNEXPECTED/);
    expect(text).not.toMatch(STACK_FRAME);
    // The damaged value was never used: `use` computed from the re-made `j` (z = 1, not 7).
    expect(n(p)).toBe(4);
    expect(JSON.parse(readFileSync(storedFile(p, 'make', 'j'), 'utf8'))).toEqual({ z: 1 });
    expect(run(p, NB)).toEqual({ make: 'cached', use: 'cached' });

    // --json says it too.
    editByte(storedFile(p, 'make', 'j'), '1', '7');
    const again = p.cellar('run', NB, '--rerun', 'use', '--json');
    expect(again.code, again.stderr).toBe(0);
    const make = JSON.parse(again.stdout).tasks.find((t: { name: string }) => t.name === 'make');
    expect(make).toMatchObject({
      status: 'ran',
      remade: { reader: 'use', reason: { kind: 'output-damaged', output: 'j' } },
    });
  });

  it('a downstream reading a table damaged keeping its size (the codec would fail or misread): the run makes the table again and the downstream runs on it', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    // Damaged keeping its size, in the middle of the Arrow file: the codec would fail or misread.
    const rows = storedFile(p, 'make', 'rows');
    const recorded = readFileSync(rows);
    const bytes = Buffer.from(recorded);
    bytes.fill(0xff, 8, 64);
    writeFileSync(rows, bytes);
    const r = p.cellar('run', NB, '--rerun', 'use');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /remake  make: its stored output 'rows' was changed since it was written: make\/rows_\w+\.arrow \(SHA-256 \w+, recorded \w+\), found by use reading it/,
    );
    expect(r.stdout + r.stderr).not.toMatch(STACK_FRAME);
    expect(readFileSync(storedFile(p, 'make', 'rows')).equals(recorded)).toBe(true);
    expect(n(p)).toBe(4);
  });

  it('when making the upstream again fails, the downstream fails with the damaged-output error and why it could not be made again', () => {
    const p = pipeline();
    // `make` fails while notebooks/stop exists, tested by a child process: what a child process
    // reads is not in the key (Cellar warns), so creating the file leaves `make` cached.
    const withStop = [
      "//| task: make\nimport { execSync } from 'node:child_process';\nexecSync('test ! -e stop');\nconst rows = [{ a: 1, b: 'x' }, { a: 2, b: 'y' }];\nconst m = new Map([['k', 1]]);\nconst j = { z: 1 };",
      '//| task: use\nconst n = rows.length + m.size + j.z;',
    ];
    p.write(NB, notebookText(withStop));
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    editByte(storedFile(p, 'make', 'j'), '1', '7');
    p.write('notebooks/stop', '');
    const r = p.cellar('run', NB, '--rerun', 'use');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /- use: the stored output 'j' of task 'make' is damaged and making 'make' again in this run failed: .*test ! -e stop.*\. the stored output 'j' of task 'make' is damaged: \S*make\/j_\w+\.json \(SHA-256 \w+, recorded \w+\).*\(E_OUTPUT_DAMAGED\)/,
    );
    expect(r.stdout).toMatch(/\* 2 failed:\n\s+- make: /);
    // No line of `use`'s cell is at fault: the failure is not placed there.
    expect(r.stdout).not.toMatch(/cell 2 \(id/);
    expect(r.stdout + r.stderr).not.toMatch(STACK_FRAME);
    // The damaged result is still not served: the next run (the file gone) makes it again, and
    // `use`'s stored result, computed from the output as it was written, is served again.
    p.run('rm', ['notebooks/stop']);
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'cached' });
    expect(n(p)).toBe(4);
  });

  it("an old manifest without a digest: a same-size edit the codec cannot decode is E_OUTPUT_DAMAGED with the codec's complaint", () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    const folder = join(p.dir, '.cellar', 'workspace', 'x', 'make');
    const manifestFile = join(
      folder,
      readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!,
    );
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    for (const stored of Object.values(manifest.outputs))
      delete (stored as { digest?: string }).digest;
    writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
    editByte(storedFile(p, 'make', 'j'), ':', ';');

    const show = p.cellar('show', NB, 'make', 'j');
    expect(show.code).not.toBe(0);
    expect(show.stderr).toMatch(
      /the stored output 'j' of task 'make' is damaged: \S*make\/j_\w+\.json \(the \w+ codec cannot decode it: [^)]*JSON/,
    );
    expect(show.stderr).toContain('E_OUTPUT_DAMAGED');
    expect(show.stderr).not.toMatch(STACK_FRAME);
    // Re-made; with no digest to compare, its downstream re-runs too (replaced.ts).
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
  });
});

describe('a manifest changed after its run', () => {
  it('truncated: --dry-run says the task runs, naming the manifest; show says E_OUTPUT_DAMAGED naming the task and file, not a JSON error; the next run re-makes it', () => {
    const p = pipeline();
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    const folder = join(p.dir, '.cellar', 'workspace', 'x', 'make');
    const manifest = join(
      folder,
      readdirSync(folder).find((f) => f.endsWith('.manifest.json'))!,
    );
    truncateSync(manifest, 100);
    // The downstream's cell edited, so the run takes the full path (the store probed).
    p.write(NB, notebookText([MAKE, '//| task: use\nconst n = rows.length + m.size + j.z + 0;']));
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /would run\s+make\s+\w+\s+its manifest was changed since it was written: make\/\w+\.manifest\.json \(not valid JSON/,
    );
    const shown = p.cellar('show', NB, 'make', 'rows');
    expect(shown.code).not.toBe(0);
    const text = shown.stdout + shown.stderr;
    expect(text).toMatch(
      /the stored result of task 'make' is damaged: its manifest \S+\.manifest\.json is not valid JSON/,
    );
    expect(text).toContain('E_OUTPUT_DAMAGED');
    expect(text).not.toMatch(/E_UNEXPECTED/);
    expect(text).not.toMatch(STACK_FRAME);
    expect(run(p, NB)).toEqual({ make: 'ran', use: 'ran' });
    expect(n(p)).toBe(4);
  });
});

describe('a damaged output of a task with another value each run, made again for one reader', () => {
  it('its cached sibling runs again in the same run (not reported cached), show serves it, and the warm run after agrees', () => {
    const p = project();
    const nb = 'notebooks/remk.ipynb';
    p.write(
      nb,
      notebookText([
        '//| task: t\nconst v = Math.random();',
        '//| task: d1\nconst d1v = v * 10;',
        '//| task: d2\nconst d2v = v * 100;',
      ]),
    );
    expect(run(p, nb)).toEqual({ t: 'ran', d1: 'ran', d2: 'ran' });
    const file = join(p.dir, '.cellar', 'workspace', 'remk', 't');
    const v = join(
      file,
      readdirSync(file).find((f) => f.startsWith('v_'))!,
    );
    // Its last digit changed: the same size, only the digest tells.
    const text = readFileSync(v, 'utf8');
    expect(text).toMatch(/\d$/);
    writeFileSync(v, text.slice(0, -1) + (text.endsWith('1') ? '2' : '1'));
    const r = p.cellar('run', nb, '--rerun', 'd1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(
      /- d2 \(\S+; ran again: its stored result was computed from the old output of t, made again in this run\)/,
    );
    expect(r.stdout + r.stderr).not.toMatch(/cached \(complete\)/);
    const show = (task: string, out: string) =>
      JSON.parse(p.cellar('show', nb, task, out, '--json').stdout) as number;
    const t = show('t', 'v');
    expect(show('d1', 'd1v')).toBeCloseTo(t * 10);
    expect(show('d2', 'd2v')).toBeCloseTo(t * 100);
    // The next run (the warm-run record's) serves them all, as stored.
    expect(run(p, nb)).toEqual({ t: 'cached', d1: 'cached', d2: 'cached' });
    expect(show('d2', 'd2v')).toBeCloseTo(t * 100);
  });
});
