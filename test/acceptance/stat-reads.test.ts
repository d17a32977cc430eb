// What a task learns from a stat is in its key (issue 8, runtime/key/run-reads.ts `statFacts`): a
// result computed from `statSync(p).size`, `.mtimeMs` or `isDirectory()` is never served after the
// file grew, was touched or became a folder, while a mere existence probe (`existsSync`) does not
// make the file's size a dependency. Through the real CLI, on worker threads and in process; the
// asserted value is the one `cellar show` prints. The run after the one that discovered a read may
// re-run the task once (its key gains the input): each test runs twice before editing anything.
import { appendFileSync, mkdirSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { type Project, project, removeProjects, showOutput, runStatuses } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/logs.ipynb';

/** `cellar run` with extra flags, which must succeed: each task's status by name. */
const run = (p: Project, ...flags: string[]) => runStatuses(p, NB, ...flags);

/** A project whose notebook's cells are `cells` (after an import cell), with notebooks/data/log.txt. */
function logProject(imports: string, ...cells: string[]): Project {
  const p = project();
  p.write(NB, notebookText([imports, ...cells]));
  mkdirSync(join(p.dir, 'notebooks', 'data'), { recursive: true });
  p.write('notebooks/data/log.txt', 'one\n');
  // An old mtime, so "touch" below is a visible change whatever the clock's granularity.
  utimesSync(join(p.dir, 'notebooks/data/log.txt'), 1_700_000_000, 1_700_000_000);
  return p;
}

/** Run until all cached (the first run discovers the reads, the second may key them). */
function settle(p: Project, mode: string[], expected: Record<string, string>): void {
  run(p, ...mode);
  run(p, ...mode);
  const cached = Object.fromEntries(Object.keys(expected).map((t) => [t, 'cached']));
  expect(run(p, ...mode)).toEqual(cached);
}

const LOG = join('notebooks', 'data', 'log.txt');

describe("a stat's facts a task computed from are in its key", () => {
  for (const mode of [[], ['--in-process']] as string[][]) {
    const where = mode.length ? ' (--in-process)' : ' (worker threads)';

    it(`a file's size from statSync: the file grows, the task re-runs and shows the new size, its downstream too${where}`, () => {
      const p = logProject(
        "import { statSync } from 'node:fs';",
        '//| task: measure\nconst size = statSync("data/log.txt").size;',
        '//| task: report\nconst line = `log is ${size} bytes`;',
      );
      settle(p, mode, { measure: 'ran', report: 'ran' });
      expect(showOutput(p, NB, 'measure', 'size')).toBe(4);
      appendFileSync(join(p.dir, LOG), 'two\n');
      const dry = p.cellar('run', NB, '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      // Named as a stat read, with the size it would key now.
      expect(dry.stdout).toMatch(/notebooks\/data\/log\.txt#stat\W.*stat:file:8:\d+/);
      expect(run(p, ...mode)).toEqual({ measure: 'ran', report: 'ran' });
      expect(showOutput(p, NB, 'measure', 'size')).toBe(8);
      expect(showOutput(p, NB, 'report', 'line')).toBe('log is 8 bytes');
      expect(run(p, ...mode)).toEqual({ measure: 'cached', report: 'cached' });
    });

    it(`a decision on mtime ("newer than"): touching the file alone re-runs the task with the new answer${where}`, () => {
      const p = logProject(
        "import { statSync } from 'node:fs';",
        '//| task: fresh\nconst isNew = statSync("data/log.txt").mtimeMs > Date.UTC(2024, 0, 1);',
      );
      settle(p, mode, { fresh: 'ran' });
      expect(showOutput(p, NB, 'fresh', 'isNew')).toBe(false);
      // Same bytes, same size: only the mtime moves (`touch`).
      const now = Date.now() / 1000;
      utimesSync(join(p.dir, LOG), now, now);
      expect(run(p, ...mode)).toEqual({ fresh: 'ran' });
      expect(showOutput(p, NB, 'fresh', 'isNew')).toBe(true);
      expect(run(p, ...mode)).toEqual({ fresh: 'cached' });
    });

    it(`a file that becomes a folder: the task asking isDirectory() re-runs and says so${where}`, () => {
      const p = logProject(
        "import { statSync } from 'node:fs';",
        '//| task: kind\nconst what = statSync("data/log.txt").isDirectory() ? "folder" : "file";',
      );
      settle(p, mode, { kind: 'ran' });
      expect(showOutput(p, NB, 'kind', 'what')).toBe('file');
      rmSync(join(p.dir, LOG));
      mkdirSync(join(p.dir, LOG));
      expect(run(p, ...mode)).toEqual({ kind: 'ran' });
      expect(showOutput(p, NB, 'kind', 'what')).toBe('folder');
      expect(run(p, ...mode)).toEqual({ kind: 'cached' });
    });
  }

  it('variant: fs/promises stat and fstat on a FileHandle, inside a setup helper: a touch (bytes unchanged) re-runs the task with the new mtimes', () => {
    const p = logProject(
      [
        "import { open, stat } from 'node:fs/promises';",
        'async function mtimes(path: string) {',
        '  const handle = await open(path);',
        '  try {',
        '    return [(await stat(path)).mtimeMs, (await handle.stat()).mtimeMs];',
        '  } finally {',
        '    await handle.close();',
        '  }',
        '}',
      ].join('\n'),
      '//| task: stamp\nconst both = await mtimes("data/log.txt");',
    );
    settle(p, [], { stamp: 'ran' });
    expect(showOutput(p, NB, 'stamp', 'both')).toEqual([1_700_000_000_000, 1_700_000_000_000]);
    utimesSync(join(p.dir, LOG), 1_750_000_000, 1_750_000_000);
    expect(run(p)).toEqual({ stamp: 'ran' });
    expect(showOutput(p, NB, 'stamp', 'both')).toEqual([1_750_000_000_000, 1_750_000_000_000]);
    expect(run(p)).toEqual({ stamp: 'cached' });
  });

  it('an existence probe is not a content dependency: the file growing keeps an existsSync task cached', () => {
    const p = logProject(
      "import { existsSync } from 'node:fs';",
      '//| task: present\nconst has = existsSync("data/log.txt");',
    );
    settle(p, [], { present: 'ran' });
    expect(showOutput(p, NB, 'present', 'has')).toBe(true);
    appendFileSync(join(p.dir, LOG), 'two\n');
    utimesSync(join(p.dir, LOG), 1_800_000_000, 1_800_000_000);
    expect(run(p)).toEqual({ present: 'cached' });
    rmSync(join(p.dir, LOG));
    expect(run(p)).toEqual({ present: 'ran' });
    expect(showOutput(p, NB, 'present', 'has')).toBe(false);
  });
});
