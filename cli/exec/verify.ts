// `cellar verify`'s engine: the notebook in the real kernel and the compiled pipeline, run with
// the same params, must give every task the same output values.
//
//   notebook ─ exec (runner.ts) with a capture probe after each task's last cell ─► values A
//   pipeline ─ runPipeline, then load() each task's stored outputs ─ same capture ─► values B
//   A vs B, output by output (compare.ts) ─► one VerifyTask per task
//
// The probe runs right after the task's last cell, so a later cell that redeclares a name cannot
// change what is compared. Values cross from the kernel by file (capture.ts: v8.serialize, into a
// private temp folder), never through printed text. The pipeline side compares what downstream
// tasks and `cellar show` get: the outputs as stored and decoded by their codecs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { compileFile } from '../../compiler/host.js';
import type { TaskPlan } from '../../compiler/types.js';
import { load } from '../../runtime/api.js';
import { pipelineParams } from '../../runtime/run/graph.js';
import { runPipeline } from '../../runtime/run/run.js';
import type { Pipeline } from '../../runtime/task.js';
import type { RunEvent } from '../../runtime/types.js';
import { openPipeline } from '../pipeline-args.js';
import { captureCell, captureHere, readCapture, type Captured } from './capture.js';
import { firstDifference, type Difference } from './compare.js';
import type { JupyterServer } from './jupyter.js';
import { executeNotebook, type ExecFailure, type Probe } from './runner.js';
import type { PreparedExec } from './setup.js';

export interface VerifyOutput {
  /** The output's name in the pipeline (and, unless renamed, in the notebook). */
  name: string;
  equal: boolean;
  difference?: Difference;
}

export interface VerifyTask {
  task: string;
  equal: boolean;
  outputs: VerifyOutput[];
  /** The first difference among the outputs (in output order). */
  difference?: Difference;
}

export interface VerifyResult {
  ok: boolean;
  notebook: string;
  params: Record<string, unknown>;
  tolerance: number;
  tasks: VerifyTask[];
  /** The notebook did not run to the end: nothing was compared. */
  notebookFailure?: ExecFailure;
  /** The pipeline did not run: nothing was compared. */
  pipelineFailure?: string;
  /** Where the executed notebook was written (to look at a failure). */
  executed: string;
}

export interface VerifyOptions {
  prepared: PreparedExec;
  /** The pipeline, loaded already (`openPipeline`); absent: loaded here. */
  opened?: { pipeline: Pipeline; file: string };
  server: JupyterServer;
  tolerance: number;
  cellTimeoutMs: number;
  kernelStartTimeoutMs: number;
  workspace?: string;
  onProgress?: (line: string) => void;
}

/** The compiled plan of the notebook (compiling it first when stale), or a CliError from compile. */
async function planOf(prepared: PreparedExec): Promise<TaskPlan> {
  const outcome = await compileFile(prepared.notebook, {
    root: prepared.root,
    outDir: join(prepared.root, 'generated'),
  });
  if (!outcome.plan)
    throw new Error(
      `${prepared.shownAs} has no task plan (does it compile? run \`cellar compile ${prepared.shownAs}\`)`,
    );
  return outcome.plan;
}

export async function verifyNotebook(options: VerifyOptions): Promise<VerifyResult> {
  const { prepared } = options;
  // Compiles when stale and throws the compile errors: a notebook that does not compile has no
  // pipeline to verify.
  const { pipeline, file } = options.opened ?? (await openPipeline(prepared.notebook));
  const plan = await planOf(prepared);
  const scratch = mkdtempSync(join(tmpdir(), 'cellar-verify-'));
  const executed = join(prepared.root, '.cellar', 'verify', basename(prepared.notebook));
  const result: VerifyResult = {
    ok: false,
    notebook: prepared.shownAs,
    params: prepared.params,
    tolerance: options.tolerance,
    tasks: [],
    executed,
  };
  try {
    // 1. The notebook, with a capture probe after each task's last cell.
    const captureFile = (task: string) => join(scratch, `${task}.v8`);
    const notebookName = (versionId: string, fallback: string) =>
      plan.versions[versionId]?.name ?? fallback;
    const probes: Probe[] = plan.tasks.map((t) => ({
      afterCell: Math.max(...t.cells),
      label: `capturing the outputs of task ${t.name}`,
      code: captureCell(
        t.name,
        t.outputs.map((o) => notebookName(o.versionId, o.name)),
        captureFile(t.name),
      ),
    }));
    options.onProgress?.(`running ${prepared.shownAs} in the tslab kernel`);
    const ran = await executeNotebook({
      input: prepared.notebook,
      output: executed,
      paramsCell: prepared.paramsCell,
      params: prepared.params,
      server: options.server,
      cellTimeoutMs: options.cellTimeoutMs,
      kernelStartTimeoutMs: options.kernelStartTimeoutMs,
      probes,
    });
    if (!ran.ok) {
      result.notebookFailure = ran.failure;
      return result;
    }
    const inNotebook = new Map(plan.tasks.map((t) => [t.name, readCapture(captureFile(t.name))]));

    // 2. The pipeline, with the same params.
    options.onProgress?.(`running the compiled pipeline ${file}`);
    const failures: string[] = [];
    const onEvent = (e: RunEvent) => {
      if (e.kind === 'task-failed') failures.push(`task ${e.task}: ${e.error}`);
    };
    const { result: run } = await runPipeline({
      pipeline,
      pipelineFile: file,
      params: prepared.params,
      workspace: options.workspace,
      onEvent,
    });
    if (!run?.ok) {
      result.pipelineFailure = failures.join('; ') || 'the pipeline run failed';
      return result;
    }

    // 3. Task by task, output by output.
    const byName = new Map(pipeline.tasks.map((t) => [t.name, t]));
    for (const t of plan.tasks) {
      const task = byName.get(t.name)!;
      // load() builds the graph of this task and its upstream only: give it just their params.
      const declared = pipelineParams([task]);
      const params = Object.fromEntries(
        Object.entries(prepared.params).filter(([name]) => name in declared),
      );
      const stored = (await load(task, params, { workspace: options.workspace })) as Record<
        string,
        unknown
      >;
      const names = t.outputs.map((o) => o.name);
      const inPipeline = await captureHere(
        Object.fromEntries(names.map((n) => [n, stored[n]])),
        captureFile(`${t.name}.pipeline`),
      );
      const notebookValues = inNotebook.get(t.name)!;
      const outputs = t.outputs.map((o): VerifyOutput => {
        const difference = compareCaptured(
          notebookValues[notebookName(o.versionId, o.name)],
          inPipeline[o.name],
          `${t.name}.${o.name}`,
          options.tolerance,
        );
        return { name: o.name, equal: !difference, ...(difference ? { difference } : {}) };
      });
      const difference = outputs.find((o) => o.difference)?.difference;
      result.tasks.push({
        task: t.name,
        equal: !difference,
        outputs,
        ...(difference ? { difference } : {}),
      });
    }
    result.ok = result.tasks.every((t) => t.equal);
    return result;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function compareCaptured(
  a: Captured | undefined,
  b: Captured | undefined,
  path: string,
  tolerance: number,
): Difference | undefined {
  if (!a || !b)
    return {
      path,
      notebook: a ? 'captured' : 'not captured',
      pipeline: b ? 'captured' : 'not captured',
      reason: 'the output was not read on one side',
    };
  if (!a.ok || !b.ok) {
    // A value neither side can write is not "equal": say why, so it can be given a plain-data form.
    return {
      path,
      notebook: a.ok ? 'captured' : `cannot capture: ${a.error}`,
      pipeline: b.ok ? 'captured' : `cannot capture: ${b.error}`,
      reason: 'the value could not be serialised for comparison',
    };
  }
  return firstDifference(a.value, b.value, path, tolerance);
}

/** One line per task: `split: equal (2 outputs)` or `split: differs at split.trainSet[3].x: …`. */
export function formatVerify(result: VerifyResult): string {
  if (result.notebookFailure)
    return `${result.notebook}: the notebook failed in the kernel, nothing compared: ${result.notebookFailure.message}\n(the executed notebook is ${result.executed})`;
  if (result.pipelineFailure)
    return `${result.notebook}: the pipeline failed, nothing compared: ${result.pipelineFailure}`;
  const width = Math.max(...result.tasks.map((t) => t.task.length));
  const lines = result.tasks.map((t) => {
    if (t.equal)
      return `${t.task.padEnd(width)}  equal (${t.outputs.length} output${t.outputs.length === 1 ? '' : 's'}: ${t.outputs.map((o) => o.name).join(', ')})`;
    const d = t.difference!;
    return `${t.task.padEnd(width)}  DIFFERS at ${d.path}: notebook ${d.notebook}, pipeline ${d.pipeline}${d.reason ? ` (${d.reason})` : ''}`;
  });
  const differing = result.tasks.filter((t) => !t.equal).length;
  lines.push(
    differing
      ? `${differing} of ${result.tasks.length} tasks differ`
      : `all ${result.tasks.length} tasks equal (floats within a relative ${result.tolerance})`,
  );
  return lines.join('\n');
}
