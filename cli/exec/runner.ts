// `cellar exec`'s engine: papermill for TypeScript. Runs a notebook headless in the real tslab
// kernel, one cell at a time, and writes an output notebook papermill's readers understand.
//
//   input.ipynb ─ params (typed, params.ts) ─► output notebook with `injected-parameters`
//              ─ each code cell in the kernel (jupyter.ts) ─► outputs + papermill metadata
//              ─ first failure ─► error banner at the top, anchor before the failing cell, exit 1
//
// What the output notebook holds (papermill 2.x's layout, so its tooling and scrapbook-style
// readers work): `metadata.papermill` = {input_path, output_path, parameters, default_parameters,
// environment_variables, version, start_time, end_time, duration (s), exception (bool)}; each code
// cell's `metadata.papermill` = {start_time, end_time, duration, status: pending | running |
// completed | failed, exception}; `execution.iopub.*` timestamps are not written (tslab sends no
// execute_input). A failed cell gets an nbformat `error` output whose ename/evalue come from
// tslab's stderr (jupyter.ts errorOf). Cells after a failure stay `pending` with no outputs:
// nothing ran after it.
//
// The output file is rewritten atomically (temp file + rename) after every cell, so a killed run
// still leaves a readable notebook showing how far it got, and a reader never sees half a file.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { findProjectRoot } from '../../runtime/project.js';
import { runningCellarVersion } from '../../runtime/own-package.js';
import type { CellRun, JupyterServer, NotebookOutput, TslabKernel } from './jupyter.js';
import { injectedSource, type ParamsCell } from './params.js';

/** One nbformat 4 cell, loosely typed (we keep whatever else a cell holds). */
export interface NbCell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown> & { tags?: string[]; papermill?: CellMeta };
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}

export interface NbFile {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: NbCell[];
}

export interface CellMeta {
  start_time: string | null;
  end_time: string | null;
  duration: number | null;
  status: 'pending' | 'running' | 'completed' | 'failed';
  exception: boolean | null;
}

export const INJECTED_TAG = 'injected-parameters';
const ERROR_TAG = 'papermill-error-cell-tag';

/** Code run right after a cell (by its index in the input notebook), not written to the output. */
export interface Probe {
  afterCell: number;
  code: string;
  /** What the probe is, for the failure message (e.g. "capture of task split"). */
  label: string;
}

export interface ExecOptions {
  /** The input notebook (absolute). */
  input: string;
  /** Where to write the output notebook (absolute); undefined: do not write one. */
  output: string | undefined;
  paramsCell: ParamsCell;
  /** Typed parameter values (params.ts typeParams), in declaration order. */
  params: Record<string, unknown>;
  /** Open the kernel (a server must be running); not called for prepareOnly. */
  server?: JupyterServer;
  cellTimeoutMs?: number;
  kernelStartTimeoutMs?: number;
  /** Write the parameterised notebook without running it (papermill --prepare-only). */
  prepareOnly?: boolean;
  probes?: Probe[];
  /** Progress lines (cell n of m), for people. */
  onCell?: (info: { cell: number; of: number; label: string; run: CellRun }) => void;
}

/** Where a run stopped. `cell` is 1-based among all the output notebook's cells. */
export interface ExecFailure {
  /** 0-based index of the failing cell in the input notebook (undefined for a probe). */
  inputIndex: number | undefined;
  cellId: string | undefined;
  status: CellRun['status'];
  ename: string;
  evalue: string;
  /** Human-readable: `cell 9 (id train): RangeError: …`. */
  message: string;
}

export interface ExecResult {
  ok: boolean;
  output: string | undefined;
  failure?: ExecFailure;
  /** Code cells run (including the injected one), and the whole duration in seconds. */
  cellsRun: number;
  durationS: number;
  /** The notebook as written. */
  notebook: NbFile;
}

export const sourceOf = (cell: NbCell): string =>
  Array.isArray(cell.source) ? cell.source.join('') : cell.source;

/** Read an nbformat 4 notebook; throws with the path when it is not one. */
export function readNotebookFile(path: string): NbFile {
  const nb = JSON.parse(readFileSync(path, 'utf8')) as NbFile;
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells))
    throw new Error(`${path} is not an nbformat 4 notebook`);
  return nb;
}

/** Write `nb` to `path` atomically (temp file in the same folder, then rename). */
export function writeNotebookFile(path: string, nb: NbFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(nb, null, 1) + '\n');
  renameSync(tmp, path);
}

const now = () => new Date().toISOString();
const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

/**
 * Parameterise the notebook: drop a previous run's injected-parameters cell and error banners,
 * insert the new injected cell after the params cell, reset outputs and papermill metadata.
 * Returns the output notebook and, per output cell, the input cell index it came from.
 */
export function prepareNotebook(
  input: NbFile,
  options: Pick<ExecOptions, 'input' | 'output' | 'paramsCell' | 'params'>,
): { nb: NbFile; origin: (number | undefined)[] } {
  const cells: NbCell[] = [];
  const origin: (number | undefined)[] = [];
  input.cells.forEach((cell, index) => {
    const tags = cell.metadata?.tags ?? [];
    if (tags.includes(INJECTED_TAG) || tags.includes(ERROR_TAG)) return;
    const copy: NbCell = { ...cell, metadata: { ...cell.metadata } };
    if (copy.cell_type === 'code') {
      copy.outputs = [];
      copy.execution_count = null;
      copy.metadata.papermill = {
        start_time: null,
        end_time: null,
        duration: null,
        status: 'pending',
        exception: null,
      };
    } else delete copy.metadata.papermill;
    cells.push(copy);
    origin.push(index);
    if (index === options.paramsCell.index && Object.keys(options.params).length) {
      cells.push({
        cell_type: 'code',
        id: 'injected-parameters',
        source: injectedSource(options.paramsCell, options.params),
        metadata: {
          tags: [INJECTED_TAG],
          papermill: {
            start_time: null,
            end_time: null,
            duration: null,
            status: 'pending',
            exception: null,
          },
        },
        outputs: [],
        execution_count: null,
      });
      origin.push(undefined);
    }
  });
  const defaults = Object.fromEntries(
    options.paramsCell.declarations.map((d) => [d.name, d.default]),
  );
  const nb: NbFile = {
    ...input,
    nbformat_minor: Math.max(input.nbformat_minor ?? 5, 5),
    metadata: {
      ...input.metadata,
      papermill: {
        input_path: options.input,
        output_path: options.output ?? null,
        parameters: options.params,
        default_parameters: defaults,
        environment_variables: {},
        version: `cellar ${runningCellarVersion() ?? 'unknown'}`,
        start_time: null,
        end_time: null,
        duration: null,
        exception: null,
      },
    },
    cells,
  };
  return { nb, origin };
}

/** Run the notebook (or only prepare it). Never throws for a cell's failure: see ExecResult. */
export async function executeNotebook(options: ExecOptions): Promise<ExecResult> {
  const input = readNotebookFile(options.input);
  const { nb, origin } = prepareNotebook(input, options);
  const meta = nb.metadata.papermill as Record<string, unknown>;
  const write = () => options.output && writeNotebookFile(options.output, nb);
  if (options.prepareOnly) {
    write();
    return { ok: true, output: options.output, cellsRun: 0, durationS: 0, notebook: nb };
  }
  const started = now();
  meta.start_time = started;
  write();

  let kernel: TslabKernel | undefined;
  let failure: ExecFailure | undefined;
  let cellsRun = 0;
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code').length;
  try {
    kernel = await options.server!.openKernel(options.input, {
      startTimeoutMs: options.kernelStartTimeoutMs,
    });
    for (const [i, cell] of nb.cells.entries()) {
      if (cell.cell_type !== 'code') continue;
      const pm = cell.metadata.papermill!;
      pm.start_time = now();
      pm.status = 'running';
      const run = await kernel.execute(sourceOf(cell), { timeoutMs: options.cellTimeoutMs });
      cellsRun++;
      pm.end_time = now();
      pm.duration = seconds(pm.start_time, pm.end_time);
      cell.outputs = run.outputs;
      cell.execution_count = run.executionCount;
      pm.status = run.status === 'ok' ? 'completed' : 'failed';
      pm.exception = run.status !== 'ok';
      options.onCell?.({
        cell: cellsRun,
        of: codeCells,
        label:
          origin[i] === undefined
            ? 'injected-parameters'
            : `cell ${origin[i]! + 1}${cell.id ? ` (id ${cell.id})` : ''}`,
        run,
      });
      if (run.status !== 'ok') {
        failure = failureOf(run, origin[i], cell);
        markFailure(nb, i);
        break;
      }
      const probes = (options.probes ?? []).filter(
        (p) => origin[i] !== undefined && p.afterCell === origin[i],
      );
      for (const probe of probes) {
        const probed = await kernel.execute(probe.code, { timeoutMs: options.cellTimeoutMs });
        if (probed.status !== 'ok') {
          const error = probed.error!;
          failure = {
            inputIndex: undefined,
            cellId: undefined,
            status: probed.status,
            ename: error.ename,
            evalue: error.evalue,
            message: `${probe.label}, after cell ${i + 1}${cell.id ? ` (id ${cell.id})` : ''}: ${error.ename}: ${error.evalue}`,
          };
          break;
        }
      }
      if (failure) break;
      write();
    }
  } catch (error) {
    // The machinery failed (a kernel that does not start): the notebook still records it.
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: string }).code ?? 'Error';
    failure = {
      inputIndex: undefined,
      cellId: undefined,
      status: 'error',
      ename: code,
      evalue: message,
      message,
    };
    nb.cells.unshift(bannerCell(escapeHtml(`${code}: ${message}`)));
  } finally {
    await kernel?.shutdown();
  }
  const ended = now();
  meta.end_time = ended;
  meta.duration = seconds(started, ended);
  meta.exception = failure !== undefined;
  write();
  return {
    ok: failure === undefined,
    output: options.output,
    failure,
    cellsRun,
    durationS: seconds(started, ended),
    notebook: nb,
  };
}

function failureOf(run: CellRun, inputIndex: number | undefined, cell: NbCell): ExecFailure {
  const error = run.error ?? { ename: 'Error', evalue: run.stderr.trim() || run.status };
  const name =
    inputIndex === undefined
      ? 'the injected-parameters cell'
      : `cell ${inputIndex + 1}${cell.id ? ` (id ${cell.id})` : ''}`;
  const what =
    run.status === 'timeout'
      ? 'timed out'
      : run.status === 'died'
        ? 'lost the kernel'
        : run.status === 'aborted'
          ? 'was aborted'
          : 'failed';
  return {
    inputIndex,
    cellId: cell.id,
    status: run.status,
    ename: error.ename,
    evalue: error.evalue,
    message: `${name} ${what}: ${error.ename}: ${error.evalue}`,
  };
}

/** papermill's markers: a banner cell at the top linking to an anchor cell before the failure. */
function markFailure(nb: NbFile, failedAt: number): void {
  const failed = nb.cells[failedAt]!;
  const error = failed.outputs?.find((o) => o.output_type === 'error') as
    { ename: string; evalue: string } | undefined;
  const label = `In [${failed.execution_count ?? ' '}]${failed.id ? ` (id ${failed.id})` : ''}`;
  const anchor: NbCell = {
    cell_type: 'markdown',
    id: 'papermill-error-cell',
    source:
      '<span id="papermill-error-cell" style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;">Execution using cellar exec encountered an exception here and stopped:</span>',
    metadata: { tags: [ERROR_TAG] },
  };
  nb.cells.splice(failedAt, 0, anchor);
  nb.cells.unshift(
    bannerCell(
      `An Exception was encountered at '<a href="#papermill-error-cell">${label}</a>'${error ? `: ${escapeHtml(`${error.ename}: ${error.evalue.split('\n')[0]}`)}` : ''}.`,
    ),
  );
}

function bannerCell(text: string): NbCell {
  return {
    cell_type: 'markdown',
    id: 'papermill-error-banner',
    source: `<span style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;">${text}</span>`,
    metadata: { tags: [ERROR_TAG] },
  };
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * `path` for messages: relative to the current folder when it is inside the project, absolute
 * when outside it (`-o /tmp/x.ipynb` printed as `../../../tmp/x.ipynb` sent people looking).
 */
export const shown = (path: string): string => {
  const abs = resolve(path);
  const fromRoot = relative(findProjectRoot(process.cwd()), abs);
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) return abs;
  return relative(process.cwd(), abs) || abs;
};
