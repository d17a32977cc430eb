// compileNotebook: notebook text → CompileResult {files, diagnostics}, running the stages in order.
//
//   parseNotebook → tagCells → analyzeCells → linkCells → emitPlan → formatFiles
//
// Pure apart from lazily imported libraries: no disk, no clock. A `CompileMemory` carries cell
// analyses and formatted modules between calls (the warm process of `--watch`, or the on-disk
// cache the host loads), so editing one cell re-analyses one cell and re-formats only the modules
// whose text changed. A notebook with errors stops before emission: half a pipeline is worse
// than none.
import { diagnostic, hasErrors, sortDiagnostics } from './diagnostics.js';
import { loadAnalyzer, type CellInput } from './analyze/cell.js';
import { sqlFacts, type SqlFacts } from './analyze/sql.js';
import { parseNotebook } from './notebook/parse.js';
import { tagCells } from './notebook/directives.js';
import { linkCells } from './plan/link.js';
import { emitPlan } from './emit/pipeline.js';
import { formatFiles, type FormatCache } from './emit/print.js';
import type { CellAnalysis, CompileResult, Diagnostic, TaggedCell } from './types.js';

/** Bump when the shape of analyses or emitted code changes: it keys the on-disk cache. */
export const COMPILER_VERSION = '0.1.0-4'; // -4: callable consts; -3: display-only statements, aliases, SQL problems

export interface CompileMemory {
  /** Cell analyses by `role + '\0' + code` (an analysis depends on nothing else). */
  analyses: Map<string, CellAnalysis>;
  /** Formatted module text by unformatted text. */
  formatted: Map<string, string>;
  /** Tables read, by dialect + SQL templates. */
  sql: Map<string, SqlFacts>;
}

export const newMemory = (): CompileMemory => ({ analyses: new Map(), formatted: new Map(), sql: new Map() });

export interface CompileOptions {
  /** The notebook's folder relative to `<out>/<stem>/`, forward slashes (pipeline `workdir`). */
  workdir: string;
  memory?: CompileMemory;
  /** Shortens memory keys (the host passes sha-256 so the on-disk cache stays small). */
  hash?: (text: string) => string;
  /** Skip formatting (tests of the raw emitter). */
  format?: boolean;
}

export interface CompileStats {
  cells: number;
  analyzed: number;
  formatted: number;
  /** Memory keys this compile used: what a cache needs to keep for the next one. */
  used: { analyses: string[]; formatted: string[]; sql: string[] };
}

const analysisText = (cell: TaggedCell) => `${cell.role === 'params' ? 'params' : 'code'}\0${cell.code}`;

/** Put this cell's place on a (possibly cached) analysis and its diagnostics. */
function stamp(a: CellAnalysis, cell: TaggedCell, notebook: string): CellAnalysis {
  return {
    ...a,
    index: cell.index,
    diagnostics: a.diagnostics.map((d) => ({ ...d, notebook, cell: cell.index + 1, ...(cell.id ? { cellId: cell.id } : {}) })),
  };
}

export async function compileNotebook(path: string, text: string, options: CompileOptions): Promise<CompileResult & { stats: CompileStats }> {
  try {
    return await compileStages(path, text, options);
  } catch (error) {
    // A compiler bug becomes a diagnostic naming the notebook, never a crash of `--watch`.
    const detail = error instanceof Error ? error.message : String(error);
    return {
      notebook: path,
      files: [],
      diagnostics: [diagnostic('error', 'E_INTERNAL', { notebook: path }, `the compiler failed: ${detail}`, { hint: 'please report it with the notebook' })],
      stats: { cells: 0, analyzed: 0, formatted: 0, used: { analyses: [], formatted: [], sql: [] } },
    };
  }
}

async function compileStages(path: string, text: string, options: CompileOptions): Promise<CompileResult & { stats: CompileStats }> {
  const memory = options.memory ?? newMemory();
  const hash = options.hash ?? ((t: string) => t);
  const stats: CompileStats = { cells: 0, analyzed: 0, formatted: 0, used: { analyses: [], formatted: [], sql: [] } };
  const parsed = parseNotebook(path, text);
  if (!parsed.notebook) return { notebook: path, files: [], diagnostics: parsed.diagnostics, stats };
  if (hasErrors(parsed.diagnostics)) return { notebook: path, files: [], diagnostics: parsed.diagnostics, stats };
  const notebook = parsed.notebook;
  stats.cells = notebook.cells.length;
  const tagged = tagCells(notebook);
  const diagnostics: Diagnostic[] = [...parsed.diagnostics, ...tagged.diagnostics];
  if (!tagged.hasDirectives) {
    diagnostics.push(
      diagnostic('note', 'W_NO_DIRECTIVES', { notebook: path }, 'no cell carries a directive, so there is nothing to compile', {
        hint: 'start a task by putting `//| task: <name>` on the first line of a code cell (see the directive reference in README.md)',
      }),
    );
    return { notebook: path, files: [], diagnostics, stats };
  }

  // Analyse every compiled cell, reusing what the memory holds.
  const compiled = tagged.cells.filter((c) => c.role !== 'markdown' && c.role !== 'explore');
  const analysisKey = (c: TaggedCell) => hash(analysisText(c));
  const missing = compiled.filter((c) => !memory.analyses.has(analysisKey(c)));
  if (missing.length) {
    const analyzer = await loadAnalyzer();
    const fresh = analyzer.analyzeCells(missing.map((c): CellInput => ({ index: c.index, role: c.role, code: c.code })));
    missing.forEach((c, i) => memory.analyses.set(analysisKey(c), fresh[i]!));
    stats.analyzed = missing.length;
  }
  stats.used.analyses = compiled.map(analysisKey);
  const analyses = new Map(compiled.map((c) => [c.index, stamp(memory.analyses.get(analysisKey(c))!, c, path)]));
  for (const a of analyses.values()) diagnostics.push(...a.diagnostics);
  if (hasErrors(diagnostics)) return { notebook: path, files: [], diagnostics: sortDiagnostics(diagnostics), stats };

  // Tables read by each task cell's SQL (lazy: only when a cell has sql``).
  const reads = new Map<number, string[]>();
  for (const c of compiled) {
    const templates = analyses.get(c.index)!.sqlTemplates;
    if (c.role !== 'task' || templates.length === 0) continue;
    const dialect = tagged.cells.find((t) => t.role === 'task' && t.task === c.task && t.directives.dialect)?.directives.dialect;
    const key = hash(`${dialect ?? ''}\0${templates.join('\0')}`);
    if (!memory.sql.has(key)) memory.sql.set(key, await sqlFacts(templates, dialect));
    stats.used.sql.push(key);
    const facts = memory.sql.get(key)!;
    reads.set(c.index, facts.reads);
    for (const problem of facts.problems) {
      const start = analyses.get(c.index)!.sqlTemplateAt?.[problem.template];
      const line = start ? start.line + (problem.line ?? 1) - 1 : undefined;
      diagnostics.push(
        diagnostic('warning', 'W_SQL_SYNTAX', { notebook: path, cell: c.index + 1, ...(c.id ? { cellId: c.id } : {}), line }, `this sql\`…\` does not parse as ${dialect ?? 'BigQuery (the default)'} SQL: ${problem.message}`, {
          hint: dialect ? 'fix the query; the warehouse would refuse it when the task runs' : 'fix the query, or if it is DuckDB SQL say so with `//| dialect: duckdb` on the task',
          ...(line ? { snippet: c.code.split('\n')[line - 1] ?? '' } : {}),
        }),
      );
    }
  }

  const linked = linkCells({ notebook: path, stem: notebook.stem, cells: tagged.cells, analyses, sqlReads: reads, kernel: notebook.kernel });
  diagnostics.push(...linked.diagnostics);
  if (!linked.plan || hasErrors(diagnostics)) return { notebook: path, files: [], diagnostics: sortDiagnostics(diagnostics), plan: linked.plan, stats };
  const plan = linked.plan;
  if (plan.tasks.length === 0) {
    diagnostics.push(
      diagnostic('note', 'W_NO_DIRECTIVES', { notebook: path }, 'the notebook has directives but no `//| task:` cell, so there is nothing to compile', {
        hint: 'start a task by putting `//| task: <name>` on the first line of a code cell',
      }),
    );
    return { notebook: path, files: [], diagnostics: sortDiagnostics(diagnostics), plan, stats };
  }

  const raw = emitPlan({ plan, cells: new Map(tagged.cells.map((c) => [c.index, c])), analyses, workdir: options.workdir });
  let files = raw;
  if (options.format !== false) {
    const cache: FormatCache = {
      get: (k) => {
        stats.used.formatted.push(hash(k));
        return memory.formatted.get(hash(k));
      },
      set: (k, v) => {
        stats.formatted++;
        memory.formatted.set(hash(k), v);
      },
    };
    files = await formatFiles(raw, cache);
  }
  return { notebook: path, files, diagnostics: sortDiagnostics(diagnostics), plan, stats };
}
