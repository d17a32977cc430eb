// The docs site's one data type, `DocsSite`: what `cellar docs` knows about each pipeline, made by
// collect.ts (the compiler's TaskPlan joined with the store's manifests and run logs) and read by
// the TypeDoc plugin (plugin.ts) and its page fragments (pages.ts).
//
//   notebooks → compileFile → TaskPlan ┐
//   workspace → manifests, run logs    ┴→ DocsSite → TypeDoc (Cellar plugin) → site/
//
// Plain data, no TypeDoc types: collecting is testable without building a site, and every list
// is sorted or in notebook order so two builds from the same inputs give the same bytes.
import type { OutputSchema, OutputStats } from '../../runtime/types.js';

export interface DocsSite {
  /** The project's name (package.json `name`), the home page's title. */
  project: string;
  /** Absolute project root; notebook paths below are relative to it. */
  root: string;
  /** Absolute workspace the run facts came from. */
  workspace: string;
  pipelines: PipelineDoc[];
}

export interface PipelineDoc {
  /** Notebook stem: the pipeline's name, and the folder of its pages. */
  name: string;
  /** Project-relative notebook path (forward slashes). */
  notebook: string;
  /** Markdown at the top of the notebook (the opening prose). */
  opening: string;
  /** The notebook's prose in order, with the tasks where they start. */
  flow: FlowItem[];
  params: ParamDoc[];
  /** In the plan's topological order. */
  tasks: TaskDoc[];
  /** Recorded runs, oldest first. */
  runs: RunRecord[];
  /**
   * True when every task's stored result is what `cellar run <notebook>` (default params, the
   * site's workspace) would serve now: the warm-run record of the last full run still holds
   * (cli/warm-run.ts: the notebook, compiled code, data files, env names and tables as that run
   * found them). Undefined when not known: no such record (a run with params or of some tasks, a
   * pipeline that reads at load time), or something moved. The site runs nothing to find out.
   */
  current?: boolean;
  /** Generated module files for TypeDoc (absolute; task name → file), when API docs are built. */
  modules?: { pipeline: string; setup?: string; tasks: Record<string, string> };
}

export type FlowItem =
  { kind: 'prose'; cell: number; markdown: string } | { kind: 'task'; cell: number; task: string };

export interface ParamDoc {
  name: string;
  /** TypeScript type text. */
  type: string;
  default: unknown;
  /** Tasks reading it, in plan order. */
  readers: string[];
  cell: number;
}

export interface TaskDoc {
  name: string;
  /** Markdown right before the task: the why. */
  prose: string;
  /** 1-based cell numbers, as people count, and their ids. */
  cells: number[];
  cellIds: (string | undefined)[];
  params: string[];
  upstream: string[];
  downstream: string[];
  outputs: OutputDoc[];
  checks: CheckDoc[];
  /** The cells' code, as written in the notebook. */
  source: string;
  /** SQL tasks: the queries as written, tables read, and (where the analyser knows) columns read per table. */
  sql?: {
    dialect: string;
    reads: string[];
    /** Data files its SQL reads by path (DuckDB: `read_csv_auto('data/x.csv')`, globs, URLs):
     *  the last run's keyed paths (project-relative), else the literal paths as written. */
    files: string[];
    queries: string[];
    materialize?: string;
    columns?: Record<string, string[]>;
  };
  cache: { mode: 'code' | 'params'; version: number; rerun: boolean };
  /** `//| retries` (extra attempts) and `//| timeout` (ms per attempt), when the notebook sets them. */
  attempts?: { retries?: number; timeoutMs?: number };
  /** The last recorded run of this task in this pipeline; undefined: not run yet. */
  lastRun?: TaskRun;
  /**
   * The task failed in the last run that ran it (after `lastRun`, if any): when, and the error's
   * message, from the run log (as `cellar tree` says "failed in its last run").
   */
  lastFailure?: { at: string; error: string };
  /** A run after `lastRun` (and after `lastFailure`) left the task out because of a failure:
   *  when, and why (`upstream train failed`), as `cellar tree` says "not run in its last run". */
  lastSkipped?: { at: string; why: string };
}

export interface OutputDoc {
  name: string;
  /** Codec named in the notebook (`//| output`), or 'auto'. */
  declaredCodec: string;
  /** From the last run's manifest. */
  stored?: { codec: string; bytes: number; schema: OutputSchema; stats?: OutputStats };
}

export interface CheckDoc {
  text: string;
  /** Last result: passed when the task finished (a failing check stops it), failed with the run's message. */
  last: { status: 'passed' | 'failed'; at: string; message?: string } | { status: 'not-run' };
}

export interface TaskRun {
  key: string;
  finishedAt: string;
  durationMs: number;
  params: Record<string, unknown>;
  /** Upstream task → its key, and other key inputs, for "what the key is made of". */
  keyInputs: {
    upstream: string[];
    codeFiles: number;
    packages: string[];
    hooks: string[];
    /** Files and folders its code read on the runs recorded (paths, from the manifest's `reads`). */
    reads: string[];
    /** Environment variables its code read: names only, never values. */
    env: string[];
  };
}

export interface RunRecord {
  /** The run log's id (`<ISO time>-<pid>`). */
  id: string;
  startedAt: string;
  durationMs?: number;
  ok?: boolean;
  /** Params the run logged at its start (its tasks' keyed params), else as its tasks' manifests recorded them. */
  params: Record<string, unknown>;
  tasks: {
    name: string;
    status: 'ran' | 'cached' | 'failed' | 'not-run';
    durationMs?: number;
    error?: string;
  }[];
  /** `task.output.field` → number, from the outputs' recorded scalar metrics. */
  metrics: Record<string, number>;
}
