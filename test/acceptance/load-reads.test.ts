// What a pipeline module reads while it LOADS is in every task's key (issue 8: whatever a task's
// code loads is part of its key). A notebook's setup cell, or a local module it imports, that
// reads a file at its top level (`const limits = JSON.parse(readFileSync('limits.json'))`), lists
// a folder, probes a path or reads a variable by a computed name runs when the module is
// evaluated, before any task: the loader records those reads on the main thread and the run keys
// them at once (runtime/load/loader.ts, runtime/key/run-reads.ts PIPELINE_LOAD). Node's own reads
// on the module's behalf (its files, its imports', Cellar's) are code and are left out, so a run
// from the sources and a built bundle's run compute the same keys. Real CLI, real files.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { sha256 } from '../../runtime/key/hash.js';
import { runReadsDir } from '../../runtime/key/run-reads.js';
import {
  type Project,
  editKeepingMtimeAndSize,
  project,
  removeProjects,
  repo,
  runStatuses as run,
  showOutput as show,
} from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/limits.ipynb';
/** A task using what the setup cell computed at load, and one that uses nothing from setup. */
const CAPPED = '//| task: capped\nconst capped = [5, 50, 500].map((x) => Math.min(x, limits.max));';
const PLAIN = '//| task: plain\nconst plain = 1 + 1;';

/** `cellar run <nb> --json` with extra flags: each task's key by name. */
function keys(p: Project, ...flags: string[]): Record<string, string> {
  const r = p.cellar('run', NB, '--json', ...flags);
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    JSON.parse(r.stdout).tasks.map((t: { name: string; key: string }) => [t.name, t.key]),
  );
}

describe("reads a pipeline module makes while it loads are in every task's key", () => {
  it("a setup cell's top-level readFileSync: an edit keeping size and mtime re-runs with the new value", () => {
    const p = project();
    p.write('notebooks/limits.json', '{"max": 40}');
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';\nconst limits = JSON.parse(readFileSync('limits.json', 'utf8'));",
        CAPPED,
        PLAIN,
      ]),
    );
    expect(run(p, NB)).toEqual({ capped: 'ran', plain: 'ran' });
    // Keyed from the very first run: the load is recorded before any key is computed.
    expect(run(p, NB)).toEqual({ capped: 'cached', plain: 'cached' });
    // No warm-run record: only loading the module tells what it reads now.
    const warm = join(p.dir, '.cellar', 'cache', 'warm');
    expect(existsSync(warm) ? readdirSync(warm) : []).toEqual([]);
    expect(show(p, NB, 'capped', 'capped')).toEqual([5, 40, 40]);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'limits.json'), '40', '70');
    const dry = p.cellar('run', NB, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/reads\.notebooks\/limits\.json: \w+ → \w+/);
    // Which task uses what the module computed at load is not known: every task re-runs.
    expect(run(p, NB)).toEqual({ capped: 'ran', plain: 'ran' });
    expect(show(p, NB, 'capped', 'capped')).toEqual([5, 50, 70]);
    expect(run(p, NB)).toEqual({ capped: 'cached', plain: 'cached' });
  });

  it('a local helper module the setup cell imports, reading the file at its own top level', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'lib'), { recursive: true });
    p.write('notebooks/limits.json', '{"max": 40}');
    p.write(
      'notebooks/lib/limits.ts',
      "import { readFileSync } from 'node:fs';\nexport const limits: { max: number } = JSON.parse(readFileSync('limits.json', 'utf8'));\n",
    );
    p.write(NB, notebookText(["import { limits } from './lib/limits';", CAPPED]));
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(run(p, NB)).toEqual({ capped: 'cached' });
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'limits.json'), '40', '30');
    expect(run(p, NB)).toEqual({ capped: 'ran' });
    expect(show(p, NB, 'capped', 'capped')).toEqual([5, 30, 30]);
  });

  it('a folder listed at load: a file added re-runs; a probe at load: the file appearing re-runs', () => {
    const p = project();
    mkdirSync(join(p.dir, 'notebooks', 'regions'), { recursive: true });
    p.write('notebooks/regions/north.csv', 'a\n');
    p.write(
      NB,
      notebookText([
        "import { existsSync, readdirSync } from 'node:fs';\nconst regions = readdirSync('regions').sort();\nconst strict = existsSync('strict.flag');",
        '//| task: summary\nconst summary = `${regions.join("+")}:${strict ? "strict" : "loose"}`;',
      ]),
    );
    expect(run(p, NB)).toEqual({ summary: 'ran' });
    expect(run(p, NB)).toEqual({ summary: 'cached' });
    p.write('notebooks/regions/south.csv', 'a\n');
    expect(run(p, NB)).toEqual({ summary: 'ran' });
    expect(show(p, NB, 'summary', 'summary')).toBe('north.csv+south.csv:loose');
    expect(run(p, NB)).toEqual({ summary: 'cached' });
    p.write('notebooks/strict.flag', '');
    expect(run(p, NB)).toEqual({ summary: 'ran' });
    expect(show(p, NB, 'summary', 'summary')).toBe('north.csv+south.csv:strict');
  });

  it('a variable read by a computed name at load: a changed value re-runs', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "const modeName = ['LIMITS', 'MODE'].join('_');\nconst mode = process.env[modeName] ?? 'soft';",
        '//| task: moded\nconst moded = `mode=${mode}`;',
      ]),
    );
    p.setEnv('LIMITS_MODE', 'hard');
    expect(run(p, NB)).toEqual({ moded: 'ran' });
    expect(run(p, NB)).toEqual({ moded: 'cached' });
    p.setEnv('LIMITS_MODE', 'firm');
    expect(run(p, NB)).toEqual({ moded: 'ran' });
    expect(show(p, NB, 'moded', 'moded')).toBe('mode=firm');
  });

  it('a built bundle run computes the same keys as the run from the sources, and sees the edit too', () => {
    const p = project();
    p.write('notebooks/limits.json', '{"max": 40}');
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';\nconst limits = JSON.parse(readFileSync('limits.json', 'utf8'));",
        CAPPED,
      ]),
    );
    const b = p.cellar('build', NB, '--out', 'built/limits');
    expect(b.code, b.stderr).toBe(0);
    const built = (workspace: string) => {
      const r = p.run(process.execPath, [
        join(p.dir, 'built', 'limits', 'run.mjs'),
        '--workspace',
        workspace,
        '--workdir',
        join(p.dir, 'notebooks'),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      return Object.fromEntries(
        JSON.parse(r.stdout).tasks.map((t: { name: string; key: string }) => [t.name, t.key]),
      );
    };
    const source = keys(p);
    expect(built(join(p.dir, 'batch-store'))).toEqual(source);
    editKeepingMtimeAndSize(join(p.dir, 'notebooks', 'limits.json'), '40', '60');
    const edited = keys(p);
    expect(edited.capped).not.toBe(source.capped);
    expect(built(join(p.dir, 'batch-store'))).toEqual(edited);
    // In process (the main thread runs the tasks) the keys are the same as on worker threads.
    expect(keys(p, '--in-process')).toEqual(edited);
  });

  it("Cellar's own files in a load record (an older Cellar's probes of its package.json) are no reads: the warm-run record still answers", () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { appendFileSync } from 'node:fs';\nappendFileSync('loads.log', 'load\\n');",
        PLAIN,
      ]),
    );
    const loads = () => readFileSync(join(p.dir, 'notebooks', 'loads.log'), 'utf8').split('\n');
    expect(run(p, NB)).toEqual({ plain: 'ran' });
    // The load record an older build left behind, as records are merged and never dropped.
    const at = { root: p.dir, pipeline: 'limits', workspace: join(p.dir, '.cellar', 'workspace') };
    mkdirSync(runReadsDir(at), { recursive: true });
    const own = [join(repo, 'dist', 'package.json'), join(repo, 'package.json')];
    writeFileSync(
      join(runReadsDir(at), `_load_-${sha256('limits\u0000<load>').slice(0, 16)}.json`),
      JSON.stringify({
        task: '<load>',
        pipeline: 'limits',
        files: [],
        dirs: [],
        probes: own,
        stats: [],
        packages: [],
        env: [],
      }),
    );
    const warm = join(p.dir, '.cellar', 'cache', 'warm');
    rmSync(warm, { recursive: true, force: true });
    expect(run(p, NB)).toEqual({ plain: 'cached' });
    expect(readdirSync(warm)).not.toEqual([]);
    const before = loads().length;
    expect(run(p, NB)).toEqual({ plain: 'cached' });
    expect(loads().length, 'the pipeline was loaded: the warm-run record did not answer').toBe(
      before,
    );
  });

  it('a module that reads nothing at load records nothing and keeps the warm-run record', () => {
    const p = project();
    // Writing at load (a log line per load) is not a read: it also tells a load from the shortcut.
    p.write(
      NB,
      notebookText([
        "import { appendFileSync } from 'node:fs';\nappendFileSync('loads.log', 'load\\n');",
        PLAIN,
      ]),
    );
    const loads = () => readFileSync(join(p.dir, 'notebooks', 'loads.log'), 'utf8').split('\n');
    expect(run(p, NB)).toEqual({ plain: 'ran' });
    expect(existsSync(join(p.dir, '.cellar', 'run-reads'))).toBe(false);
    expect(readdirSync(join(p.dir, '.cellar', 'cache', 'warm'))).not.toEqual([]);
    const before = loads().length;
    expect(run(p, NB)).toEqual({ plain: 'cached' });
    expect(loads().length, 'the pipeline was loaded: the warm-run record did not answer').toBe(
      before,
    );
  });
});
