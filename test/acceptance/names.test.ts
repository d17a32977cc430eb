// Names the compiler invents, through the real CLI: a setup value named like a task's const is
// still the setup value when the pipeline runs, tasks whose names differ only in `-`, `_`, `.`
// all run, and a task whose file the compiler writes itself stops the compile with a located
// error and no temp file left behind (which `--check` reports if an older crash left one).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STACK_FRAME, notebookText, project, removeProjects, runStatuses } from './harness.js';

afterAll(removeProjects);

describe('names the compiler invents', () => {
  it('a setup value `loadTask` is read as the notebook read it, not as the task `load`', () => {
    const p = project();
    p.write(
      'notebooks/d7.ipynb',
      notebookText([
        'const loadTask = 5;\nfunction run() { return 7; }',
        '//| task: load\nconst a = loadTask + run();',
        '//| task: next\nconst b = a + 1;',
      ]),
    );
    expect(runStatuses(p, 'notebooks/d7.ipynb')).toEqual({ load: 'ran', next: 'ran' });
    const r = p.cellar('show', 'notebooks/d7.ipynb', 'next', 'b', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toBe(13);
  });

  it('tasks `x-y`, `x_y`, `x.y` and `load-data`, `loadData` all run', () => {
    const p = project();
    p.write(
      'notebooks/d8.ipynb',
      notebookText([
        '//| task: x-y\nconst a = 1;',
        '//| task: x_y\nconst b = 2;',
        '//| task: x.y\nconst c = a + b;',
        '//| task: load-data\nconst d = c * 10;',
        '//| task: loadData\nconst e = d + 1;',
      ]),
    );
    expect(runStatuses(p, 'notebooks/d8.ipynb')).toEqual({
      'x-y': 'ran',
      x_y: 'ran',
      'x.y': 'ran',
      'load-data': 'ran',
      loadData: 'ran',
    });
    const r = p.cellar('show', 'notebooks/d8.ipynb', 'loadData', 'e', '--json');
    expect(JSON.parse(r.stdout)).toBe(31);
  });

  it('a task `pipeline.test` is E_TASK_FILE_NAME on its line; no temp file, and --check sees an old one', () => {
    const p = project();
    const cells = (name: string) =>
      notebookText(['//| task: first\nconst a = 1;', `//| task: ${name}\nconst b = a + 1;`]);
    p.write('notebooks/d4.ipynb', cells('pipeline.test'));
    const r = p.cellar('compile');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'notebooks/d4.ipynb, cell 2 (id c2), line 1: error E_TASK_FILE_NAME: task `pipeline.test` would be written to pipeline.test.ts',
    );
    expect(r.stderr).not.toContain('E_UNEXPECTED');
    expect(r.stderr).not.toMatch(STACK_FRAME);
    const folder = join(p.dir, 'generated', 'd4');
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);

    p.write('notebooks/d4.ipynb', cells('graph'));
    expect(p.cellar('compile').code).toBe(0);
    expect(p.cellar('compile', '--check').code).toBe(0);
    // What a crash between writing and renaming left, before failed writes cleaned up after
    // themselves: the temp file of a compile whose process has ended.
    const deadPid = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    const stray = `pipeline.ts.${deadPid}.tmp`;
    writeFileSync(join(folder, stray), 'half a module');
    const check = p.cellar('compile', '--check');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`stray d4/${stray}`);
    expect(p.cellar('compile').code).toBe(0);
    expect(readdirSync(folder)).not.toContain(stray);
    expect(p.cellar('compile', '--check').code).toBe(0);
  });
});
