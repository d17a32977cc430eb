// collectSite: notebooks + workspace → DocsSite, the facts the site is built from.
//
// The compiler gives each notebook's TaskPlan (tasks, params, prose, upstream, outputs, checks,
// SQL reads) through its public host API (compileFile, cached like `cellar compile`); the
// notebook itself gives the prose in order and the SQL text; the store gives the last run of
// each task (manifest: schema, statistics, timing, key inputs) and the run history. Nothing is
// run and generated/ is not written: the task modules TypeDoc documents are the compiler's
// in-memory output, written to a scratch folder, so the site always matches the notebook.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { formatDiagnostic, hasErrors } from '../../compiler/diagnostics.js';
import { compileFile, findNotebooks, NotFoundError, projectRoot } from '../../compiler/host.js';
import { parseNotebook } from '../../compiler/notebook/parse.js';
import type { TaskPlan } from '../../compiler/types.js';
import { recordedRunReads, WORKDIR_INPUT } from '../../runtime/key/run-reads.js';
import { resolveWorkspace } from '../../runtime/store/workspace.js';
import { CliError, EXIT } from '../errors.js';
import { warmRun } from '../warm-run.js';
import { readHistory } from './history.js';
import type { CheckDoc, DocsSite, FlowItem, OutputDoc, PipelineDoc, TaskDoc } from './model.js';

export interface CollectOptions {
  /** Notebook files or folders (default: `<root>/notebooks`). */
  paths: string[];
  /** Where the run facts live (default: the project's workspace, as `cellar run` uses). */
  workspace?: string;
  /** Scratch folder for generated modules and notebook attachments (emptied first). */
  scratch: string;
  /** Write the generated task modules for TypeDoc to document (their API). */
  api: boolean;
  /** Ask the SQL analyser which columns each query reads (loads the SQL WASM; on by default). */
  sqlColumns?: boolean;
}

const posix = (p: string) => p.split(sep).join('/');

/** Collect the site's facts. Throws CliError (exit 1) naming the notebook when one does not compile. */
/** Where the API copies of the generated modules go under the scratch root (= generated/). */
export const API_COPY_DIR = 'generated';

/** The notebooks under `paths`. @throws CliError E_NOT_FOUND for a missing path or none found. */
export function siteNotebooks(paths: string[]): string[] {
  let notebooks: string[];
  try {
    notebooks = findNotebooks(paths);
  } catch (error) {
    if (error instanceof NotFoundError) throw new CliError(error.message, 'E_NOT_FOUND');
    throw error;
  }
  if (notebooks.length === 0)
    throw new CliError(`no notebooks found in ${paths.join(', ')}`, 'E_NOT_FOUND');
  return notebooks;
}

export async function collectSite(options: CollectOptions): Promise<DocsSite> {
  const notebooks = siteNotebooks(options.paths);
  const root = projectRoot(dirname(notebooks[0]!));
  const workspace = resolveWorkspace({ explicit: options.workspace, near: root });
  let project = 'project';
  try {
    project =
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string }).name ??
      project;
  } catch {
    // no package.json: the folder's name would be no better
  }
  rmSync(options.scratch, { recursive: true, force: true });
  mkdirSync(options.scratch, { recursive: true });
  const pipelines: PipelineDoc[] = [];
  for (const nb of notebooks) {
    const outcome = await compileFile(nb, { root, outDir: join(root, 'generated') });
    if (hasErrors(outcome.diagnostics)) {
      const errors = outcome.diagnostics
        .filter((d) => d.severity === 'error')
        .map(formatDiagnostic)
        .join('\n');
      throw new CliError(
        `${outcome.notebook} does not compile, so its pages cannot be built:\n${errors}`,
        'E_COMPILE',
        EXIT.failure,
      );
    }
    if (!outcome.plan || outcome.plan.tasks.length === 0) continue; // prose-only notebooks have no pipeline
    const text = readFileSync(nb, 'utf8');
    const doc = pipelineDoc(outcome.plan, text, workspace, {
      root,
      notebookAbs: nb,
      scratch: options.scratch,
    });
    if (currentAsRun(nb, join(root, 'generated', doc.name, 'pipeline.ts'), options.workspace))
      doc.current = true;
    if (options.api) {
      // The compiler's output as TypeDoc's input (tests left out: they are not the API).
      const tasks: Record<string, string> = {};
      let pipeline = '';
      let setup: string | undefined;
      for (const f of outcome.files) {
        if (f.path.endsWith('.test.ts')) continue;
        // At the generated folder's place under the scratch root, which the TypeScript program
        // merges with the project root (build.ts `rootDirs`): a module's relative imports
        // (`../../lib/types.js`) then find the project's files, and their types show.
        const abs = join(options.scratch, API_COPY_DIR, f.path);
        mkdirSync(dirname(abs), { recursive: true });
        writeFileSync(abs, rebaseCommentLinks(f.contents, dirname(nb), dirname(abs)));
        const base = f.path.slice(f.path.lastIndexOf('/') + 1, -3);
        if (base === 'pipeline') pipeline = abs;
        else if (base === 'setup') setup = abs;
        else tasks[base] = abs;
      }
      // Task module files are named by task (`hour_rates.ts`): match them to the plan's names.
      const byTask: Record<string, string> = {};
      for (const t of doc.tasks) if (tasks[t.name]) byTask[t.name] = tasks[t.name]!;
      if (pipeline) doc.modules = { pipeline, ...(setup ? { setup } : {}), tasks: byTask };
    }
    pipelines.push(doc);
  }
  if (options.sqlColumns !== false) await addSqlColumns(pipelines, root);
  pipelines.sort((a, b) => a.name.localeCompare(b.name));
  return { project, root, workspace, pipelines };
}

/**
 * Would `cellar run` serve every task of this notebook from its store as it is now, by the notebook
 * or by its compiled pipeline.ts? Asked of the warm-run record the last full run left
 * (cli/warm-run.ts), which checks by stamps and contents without loading the pipeline or running
 * anything; false when there is none or it no longer holds.
 */
function currentAsRun(
  notebook: string,
  pipelineFile: string,
  workspace: string | undefined,
): boolean {
  return [notebook, pipelineFile].some(
    (arg) =>
      warmRun({
        arg,
        only: [],
        params: [],
        workdir: undefined,
        workspace,
        store: undefined,
        rerun: [],
        executor: 'local',
        verbose: false,
        notify: false,
      }) !== undefined,
  );
}

interface Place {
  root: string;
  notebookAbs: string;
  scratch: string;
}

/** One pipeline's page facts from its plan, its notebook's cells and its history. Exported for tests. */
export function pipelineDoc(
  plan: TaskPlan,
  notebookText: string,
  workspace: string,
  place: Place,
): PipelineDoc {
  const parsed = parseNotebook(plan.notebook, notebookText).notebook;
  const cells = parsed?.cells ?? [];
  const raw = JSON.parse(notebookText) as {
    cells?: { attachments?: Record<string, Record<string, string>> }[];
  };
  const history = readHistory(workspace, plan.stem);

  const attachmentIn = (index: number, name: string) => {
    const entry = raw.cells?.[index]?.attachments?.[name];
    return entry ? { cell: index, entry } : undefined;
  };
  /** A task's prose is the markdown cells right before it: look for an attachment there. */
  const attachmentBefore = (start: number, name: string) => {
    for (let i = start - 1; i >= 0 && cells[i]?.type === 'markdown'; i--) {
      const found = attachmentIn(i, name);
      if (found) return found;
    }
    return undefined;
  };

  // Prose in order: markdown cells, with each task marked where its first cell is.
  const starts = new Map(plan.tasks.map((t) => [t.cells[0]!, t.name]));
  const flow: FlowItem[] = [];
  for (const cell of cells) {
    if (cell.type === 'markdown' && cell.source.trim()) {
      for (const target of missingFiles(cell.source, dirname(place.notebookAbs)))
        process.stderr.write(
          `cellar docs: warning: ${plan.notebook}, cell ${cell.index + 1}${cell.id ? ` (id ${cell.id})` : ''}: ${target.image ? 'image' : 'link'} "${target.written}" is not a file (looked for ${posix(relative(place.root, target.path))}): the page shows it ${target.image ? 'broken' : 'as a dead link'}. Fix the path in the markdown, or put the file there.\n`,
        );
      flow.push({
        kind: 'prose',
        cell: cell.index + 1,
        markdown: keepImages(cell.source, (name) => attachmentIn(cell.index, name), place),
      });
    }
    const task = starts.get(cell.index);
    if (task) flow.push({ kind: 'task', cell: cell.index + 1, task });
  }

  const downstream = new Map<string, string[]>(plan.tasks.map((t) => [t.name, []]));
  for (const t of plan.tasks) for (const up of t.upstream) downstream.get(up)?.push(t.name);

  const tasks: TaskDoc[] = plan.tasks.map((t) => {
    const last = history.last.get(t.name);
    const failure = history.failures.get(t.name);
    const skipped = history.skipped.get(t.name);
    const code = t.cells.map((i) => cells[i]?.source ?? '').join('\n');
    const outputs: OutputDoc[] = t.outputs.map((o) => {
      const stored = last?.manifest.outputs[o.name];
      return {
        name: o.name,
        declaredCodec: o.codec ?? 'auto',
        ...(stored
          ? {
              stored: {
                codec: stored.codec,
                bytes: stored.bytes,
                schema: stored.schema,
                ...(stored.stats ? { stats: stored.stats } : {}),
              },
            }
          : {}),
      };
    });
    const checks: CheckDoc[] = t.checks.map((text) => ({
      text,
      last:
        failure && /check/i.test(failure.error)
          ? { status: 'failed', at: failure.at, message: failure.error }
          : last
            ? { status: 'passed', at: last.at }
            : { status: 'not-run' },
    }));
    const sqlText = sqlTemplates(code);
    const doc: TaskDoc = {
      name: t.name,
      prose: keepImages(t.doc, (name) => attachmentBefore(t.cells[0]!, name), place),
      cells: t.cells.map((c) => c + 1),
      cellIds: t.cellIds,
      params: t.params,
      upstream: t.upstream,
      downstream: (downstream.get(t.name) ?? []).sort(),
      outputs,
      checks,
      cache: { mode: t.cache, version: t.version, rerun: t.rerun },
      ...(t.retries || t.timeoutMs !== undefined
        ? {
            attempts: {
              ...(t.retries ? { retries: t.retries } : {}),
              ...(t.timeoutMs !== undefined ? { timeoutMs: t.timeoutMs } : {}),
            },
          }
        : {}),
      ...(failure ? { lastFailure: failure } : {}),
      ...(skipped && (!failure || skipped.at > failure.at) ? { lastSkipped: skipped } : {}),
      source: code,
      ...(t.warehouse || sqlText.length
        ? {
            sql: {
              dialect: t.warehouse?.dialect ?? 'bigquery',
              reads: t.warehouse?.reads ?? [],
              files: sqlFiles(t.warehouse?.files ?? [], last?.manifest.inputs.hooks),
              queries: sqlText,
              ...(t.warehouse?.materialize ? { materialize: t.warehouse.materialize } : {}),
            },
          }
        : {}),
    };
    if (last) {
      const m = last.manifest;
      const recorded = recordedRunReads(
        { root: place.root, pipeline: plan.stem, workspace },
        t.name,
      );
      doc.lastRun = {
        key: m.key,
        finishedAt: m.finishedAt,
        durationMs: m.durationMs,
        params: m.inputs.params,
        keyInputs: {
          upstream: Object.keys(m.inputs.upstream).sort(),
          // (A package's entry files, `<package:…>`, and its dependencies, `<package-deps:…>`, are
          // under `packages`, not modules.)
          codeFiles: Object.keys(m.inputs.code?.files ?? {}).filter(
            (f) => !f.startsWith('<package:') && !f.startsWith('<package-deps:'),
          ).length,
          packages: Object.keys(m.inputs.code?.packages ?? {}).sort(),
          hooks: Object.keys(m.inputs.hooks ?? {}).sort(),
          // The manifest of a run that discovered its reads holds none yet: the record made by
          // that run (what the next key holds) joins in. Names and paths only, never values.
          reads: [
            ...new Set([
              // (`<workdir>` is the folder the task ran in, not a file it read.)
              ...Object.keys(m.inputs.reads ?? {}).filter((r) => r !== WORKDIR_INPUT),
              ...(recorded?.files ?? []),
              ...(recorded?.dirs ?? []).map((d) => (d.endsWith('/') ? d : `${d}/`)),
            ]),
          ].sort(),
          env: [...new Set([...Object.keys(m.inputs.env ?? {}), ...(recorded?.env ?? [])])].sort(),
        },
      };
    }
    return doc;
  });

  const readers = new Map<string, string[]>();
  for (const t of plan.tasks)
    for (const p of t.params) (readers.get(p) ?? readers.set(p, []).get(p)!).push(t.name);
  return {
    name: plan.stem,
    notebook: plan.notebook,
    opening: plan.doc,
    flow,
    params: plan.params.map((p) => ({
      name: p.name,
      type: p.type,
      default: p.default,
      readers: readers.get(p.name) ?? [],
      cell: p.cell + 1,
    })),
    tasks,
    runs: history.runs,
  };
}

/**
 * The files a task's SQL reads: those its last run keyed (the warehouse hook's `file:`, `glob:`
 * and `url:` inputs, runtime/warehouse/tasks/files.ts: project-relative, and holding paths seen
 * only at run time), else the literal paths the compiler listed, as written.
 */
function sqlFiles(
  literal: readonly string[],
  hooks: Record<string, unknown> | undefined,
): string[] {
  const keyed = hooks?.warehouse as Record<string, unknown> | undefined;
  const fromRun = Object.keys(keyed ?? {})
    .map((k) => /^(?:file|glob|url):(.*)$/.exec(k)?.[1])
    .filter((p): p is string => p !== undefined);
  return [...new Set(fromRun.length > 0 ? fromRun : literal)].sort();
}

/** The text of each sql`…` template in a task's cells, `${…}` kept as written. */
export function sqlTemplates(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/\bsql(?:<[^`;]*?>)?`((?:[^`\\]|\\[\s\S])*)`/g))
    out.push(m[1]!.replace(/\\`/g, '`'));
  return out;
}

/**
 * The module's doc comments with each relative link of the prose (`![chart](chart.svg)`,
 * `<img src="chart.svg">`), written from the notebook's folder `from`, pointed at the same file
 * from the API copy's folder `to`: TypeDoc resolves a comment's links from the file it reads,
 * and from the copy they named nothing ("The relative path chart.svg is not a file"), so the
 * image was not copied into the API page. Code outside comments is left as it is.
 */
export function rebaseCommentLinks(text: string, from: string, to: string): string {
  const rebase = (target: string): string => {
    const cut = target.search(/[?#]/);
    const path = cut < 0 ? target : target.slice(0, cut);
    if (!path || /^[a-z][\w+.-]*:/i.test(path) || path.startsWith('/')) return target;
    let file: string;
    try {
      file = decodeURI(path);
    } catch {
      file = path; // a stray `%`: the name as written
    }
    const moved = posix(relative(to, resolve(from, file)));
    return (path.includes('%') ? encodeURI(moved) : moved) + (cut < 0 ? '' : target.slice(cut));
  };
  return text.replace(/\/\*\*[\s\S]*?\*\//g, (comment) =>
    comment
      .replace(/(\]\(<?)([^)\s>]+)/g, (_all, open: string, target: string) => open + rebase(target))
      .replace(
        /(\b(?:src|href)=\\?["'])([^"'\\]+)/g,
        (_all, open: string, target: string) => open + rebase(target),
      ),
  );
}

/**
 * The relative images and links of a markdown cell that name no file, resolved from the notebook's
 * folder `from`, as written. TypeDoc's own warning for them named the scratch copy of a generated
 * module or a line of the Markdown string (build.ts turns it off): this one names the notebook
 * and cell. URLs, anchors, absolute paths and cell attachments are left out.
 */
export function missingFiles(
  markdown: string,
  from: string,
): { written: string; path: string; image: boolean }[] {
  const out: { written: string; path: string; image: boolean }[] = [];
  const seen = new Set<string>();
  const consider = (written: string, image: boolean) => {
    const target = written.replace(/[?#].*$/, '');
    if (!target || /^[a-z][\w+.-]*:/i.test(target) || target.startsWith('/')) return;
    let file = target;
    try {
      file = decodeURI(target);
    } catch {
      // a stray `%`: the name as written
    }
    const path = resolve(from, file);
    if (seen.has(written) || existsSync(path)) return;
    seen.add(written);
    out.push({ written, path, image });
  };
  for (const m of markdown.matchAll(/(!?)\[[^\]]*\]\(\s*<?([^)\s>]+)/g))
    consider(m[2]!, m[1] === '!');
  for (const m of markdown.matchAll(/<img\b[^>]*?\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi))
    consider((m[1] ?? m[2] ?? m[3])!, true);
  return out;
}

/**
 * Markdown images stay images: a cell attachment (`![](attachment:plot.png)`) is written to the
 * scratch folder and linked relative to the notebook, which is where TypeDoc resolves the
 * relative links of the prose (it copies each image into the site's media/ folder).
 */
function keepImages(
  markdown: string,
  attachment: (name: string) => { cell: number; entry: Record<string, string> } | undefined,
  place: Place,
): string {
  return markdown.replace(/\]\(attachment:([^)\s]+)\)/g, (_all, name: string) => {
    const found = attachment(name);
    const mime = found && Object.keys(found.entry).sort()[0];
    if (!found || !mime) return '](#)';
    const file = join(
      place.scratch,
      'attachments',
      `${found.cell}-${name.replace(/[^\w.-]/g, '_')}`,
    );
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(found.entry[mime]!, 'base64'));
    return `](${posix(relative(dirname(place.notebookAbs), file))})`;
  });
}

/** Columns each SQL task reads, by table, from the warehouse's analyser; skipped quietly when it cannot say. */
async function addSqlColumns(pipelines: PipelineDoc[], root: string): Promise<void> {
  const sqlTasks = pipelines.flatMap((p) => p.tasks.filter((t) => t.sql).map((t) => ({ p, t })));
  if (sqlTasks.length === 0) return;
  let analyzeTemplate: typeof import('../../runtime/warehouse/sql/lineage.js').analyzeTemplate;
  try {
    ({ analyzeTemplate } = await import('../../runtime/warehouse/sql/lineage.js'));
  } catch {
    return;
  }
  for (const { p, t } of sqlTasks) {
    const text = readFileSync(resolve(root, p.notebook), 'utf8');
    const cells = parseNotebook(p.notebook, text).notebook?.cells ?? [];
    const code = t.cells.map((c) => cells[c - 1]?.source ?? '').join('\n');
    const columns = new Map<string, Set<string>>();
    for (const template of sqlTemplates(code)) {
      try {
        const analysis = await analyzeTemplate(
          template.split(/\$\{[^}]*\}/),
          t.sql!.dialect === 'duckdb' ? 'duckdb' : 'bigquery',
        );
        for (const c of analysis.columns)
          for (const s of c.sources)
            (columns.get(s.table) ?? columns.set(s.table, new Set()).get(s.table)!).add(s.column);
      } catch {
        // The analyser does not know this construct: the page lists tables only.
      }
    }
    if (columns.size)
      t.sql!.columns = Object.fromEntries(
        [...columns].sort((a, b) => a[0].localeCompare(b[0])).map(([k, v]) => [k, [...v].sort()]),
      );
  }
}
