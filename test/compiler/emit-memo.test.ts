// What a one-cell compile keys its reuse on (docs/design/performance.md, "The one-cell compile,
// fourth pass"): a task module's emit inputs name each cell's analysis by its memory key instead
// of spelling it out, and the plan file is kept when it holds the plan's text. Real analyses,
// real compiles, real files.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAnalyzer } from '../../compiler/analyze/cell.js';
import { taskModuleInputs, type EmitContext } from '../../compiler/emit/task.js';
import { compileFile, writeOutcome, type HostOptions } from '../../compiler/host.js';
import { parseNotebook } from '../../compiler/notebook/parse.js';
import { tagCells } from '../../compiler/notebook/directives.js';
import { linkCells } from '../../compiler/plan/link.js';
import { compileNotebook, newMemory } from '../../compiler/program.js';
import type { CellAnalysis } from '../../compiler/types.js';
import { notebookText } from './notebook.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The emit context of a notebook, as the compile builds it (parse, tag, analyse, link). */
async function emitContext(cells: string[]): Promise<EmitContext> {
  const tagged = tagCells(parseNotebook('nb.ipynb', notebookText(cells)).notebook!);
  const compiled = tagged.cells.filter((c) => c.role !== 'markdown' && c.role !== 'explore');
  const fresh = (await loadAnalyzer()).analyzeCells(
    compiled.map((c) => ({ index: c.index, role: c.role, code: c.code })),
  );
  const analyses = new Map<number, CellAnalysis>(compiled.map((c, i) => [c.index, fresh[i]!]));
  const { plan } = linkCells({
    notebook: 'nb.ipynb',
    stem: 'nb',
    cells: tagged.cells,
    analyses,
    kernel: 'tslab',
    language: 'typescript',
  });
  return {
    plan: plan!,
    cells: new Map(tagged.cells.map((c) => [c.index, c])),
    analyses,
    workdir: '../../notebooks',
    hasSetupModule: false,
  };
}

describe("a task module's emit inputs", () => {
  it("name a cell's analysis by its memory key, with the SQL facts the compile adds to it", async () => {
    const ctx = await emitContext([
      '//| params\nconst salt = 1;',
      '//| task: a\nconst a = 1 + salt;',
    ]);
    const task = ctx.plan.tasks.find((t) => t.name === 'a')!;
    const cell = task.cells[0]!;
    const analysis = ctx.analyses.get(cell)!;
    // Without keys (a compile with no hash): the analysis itself.
    expect(taskModuleInputs(ctx, task)).toContain(JSON.stringify(analysis));

    const keyed = (key: string, a: CellAnalysis = analysis) =>
      taskModuleInputs(
        {
          ...ctx,
          analyses: new Map(ctx.analyses).set(cell, a),
          analysisKeys: new Map([[cell, key]]),
        },
        task,
      );
    const inputs = keyed('k1');
    expect(inputs).not.toContain(JSON.stringify(analysis.declarations));
    expect(inputs).toContain('"k1"');
    expect(keyed('k1')).toBe(inputs);
    // Another analysis (another key), or other SQL facts on the same one: other inputs.
    expect(keyed('k2')).not.toBe(inputs);
    expect(keyed('k1', { ...analysis, sqlReads: ['main.t'] })).not.toBe(inputs);
    expect(keyed('k1', { ...analysis, sqlFiles: ['data/t.csv'] })).not.toBe(inputs);
  });

  it("re-derive a task's imports when an upstream moves to another task, its own code unchanged", async () => {
    const before = [
      '//| params\nconst salt = 1;',
      '//| task: a\nconst x = 1 + salt;',
      '//| task: b\nconst y = x + 1;',
    ];
    const after = [before[0]!, '//| task: a0\nconst x = 1 + salt;', before[2]!];
    const memory = newMemory();
    const options = { workdir: '../../notebooks', memory, hash: sha256 };
    await compileNotebook('nb.ipynb', notebookText(before), options);
    const warm = await compileNotebook('nb.ipynb', notebookText(after), options);
    // No cell's code changed (directive lines are blanked), so no analysis key did: every
    // analysis came from the memory, and b's module still changed.
    expect(warm.stats.analyzed).toBe(0);
    expect(warm.stats.emitted).toBe(2);
    const cold = await compileNotebook('nb.ipynb', notebookText(after), {
      workdir: '../../notebooks',
      hash: sha256,
    });
    expect(warm.files).toEqual(cold.files);
    const b = warm.files.find((f) => f.path === 'nb/b.ts')!.contents;
    expect(b).toContain("from './a0.js'");
    expect(b).not.toContain("from './a.js'");
  }, 60_000);
});

describe("the compile record's plan file", () => {
  const base = join(import.meta.dirname, '..', '.tmp', `emit-memo-${process.pid}`);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const project = (cells: string[]): { nb: string; opts: HostOptions } => {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(join(base, 'notebooks'), { recursive: true });
    writeFileSync(join(base, 'package.json'), '{ "name": "emit-memo", "type": "module" }\n');
    const nb = join(base, 'notebooks', 'nb.ipynb');
    writeFileSync(nb, notebookText(cells));
    return { nb, opts: { root: base, outDir: join(base, 'generated') } };
  };
  const record = () =>
    JSON.parse(
      readFileSync(join(base, '.cellar', 'compile', 'notebooks_nb.ipynb.json'), 'utf8'),
    ) as {
      planHash: string;
    };
  const planFile = () => join(base, '.cellar', 'compile', 'notebooks_nb.ipynb.plan.json');

  it('is kept when it holds the new plan, else written, and always hashes to what the record names', async () => {
    const cells = [
      '//| params\nconst salt = 1;',
      '//| task: a\nconst a = 1 + salt;',
      '//| task: b\nconst b = a + 1;',
    ];
    const { nb, opts } = project(cells);
    writeOutcome(await compileFile(nb, opts), opts.outDir);
    const first = statSync(planFile(), { bigint: true });
    expect(record().planHash).toBe(sha256(readFileSync(planFile(), 'utf8')));

    // A change inside an expression keeps the plan: the file stays as it was.
    writeFileSync(nb, notebookText([cells[0]!, '//| task: a\nconst a = 1 + salt + 1;', cells[2]!]));
    const kept = await compileFile(nb, opts);
    writeOutcome(kept, opts.outDir);
    expect(kept.cached).toBe(false);
    const second = statSync(planFile(), { bigint: true });
    expect([second.ino, second.mtimeNs]).toEqual([first.ino, first.mtimeNs]);
    expect(record().planHash).toBe(sha256(readFileSync(planFile(), 'utf8')));
    expect(JSON.parse(readFileSync(planFile(), 'utf8'))).toEqual(kept.plan);

    // A new task moves the plan: written, and a full hit gives it back.
    writeFileSync(nb, notebookText([...cells, '//| task: c\nconst c = b + 1;']));
    const moved = await compileFile(nb, opts);
    writeOutcome(moved, opts.outDir);
    expect(record().planHash).toBe(sha256(readFileSync(planFile(), 'utf8')));
    const hit = await compileFile(nb, opts);
    expect(hit.cached).toBe(true);
    expect(hit.plan).toEqual(moved.plan);
  }, 60_000);
});
