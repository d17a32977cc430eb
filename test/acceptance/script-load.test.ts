// load() from a user's script finds what `cellar run` stored for a task that reads a data file
// at run time (tester finding B4: E_NOT_CACHED, "differs in reads: … → (none)", because load()
// keyed the task without the reads the run recorded). After the file changes, load() finds
// nothing for the new content rather than serving the old result. Real CLI, real tsx script.
import { afterAll, describe, expect, it } from 'vitest';
import {
  editKeepingMtimeAndSize,
  notebookText,
  project,
  removeProjects,
  runStatuses as run,
} from './harness.js';
import { join } from 'node:path';

afterAll(removeProjects);

const NB = 'notebooks/masses.ipynb';

const SCRIPT = [
  "import { load } from 'cellar';",
  "import { statsTask } from './generated/masses/stats.js';",
  'try {',
  '  console.log(JSON.stringify(await load(statsTask)));',
  '} catch (e) {',
  '  console.log((e as Error).message);',
  '}',
].join('\n');

describe('load() from a script', () => {
  it('reads the stored result of a task that read a data file, and none once the file changed', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';",
        '//| task: masses\nconst text = readFileSync("data/masses.csv", "utf8");\nconst masses = text.trim().split("\\n").slice(1).map((l) => Number(l.split(",")[1]));',
        '//| task: stats\nconst total = masses.reduce((s, m) => s + m, 0);',
      ]),
    );
    p.run('mkdir', ['-p', 'notebooks/data']);
    p.write('notebooks/data/masses.csv', 'name,mass\nada,3100\nbob,4200\n');
    expect(run(p, NB)).toEqual({ masses: 'ran', stats: 'ran' });

    const stored = p.script('peek.ts', SCRIPT);
    expect(stored.code, stored.stderr).toBe(0);
    expect(JSON.parse(stored.stdout.trim())).toEqual({ total: 7300 });

    // The same size and mtime, another value: the stored result is not this file's.
    editKeepingMtimeAndSize(join(p.dir, 'notebooks/data/masses.csv'), 'bob,4200', 'bob,4300');
    const stale = p.script('peek.ts', SCRIPT);
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.stdout).toMatch(/no stored output of 'stats'.*\(E_NOT_CACHED\)/);
    expect(run(p, NB)).toEqual({ masses: 'ran', stats: 'ran' });
    expect(JSON.parse(p.script('peek.ts', SCRIPT).stdout.trim())).toEqual({ total: 7400 });
  });
});
