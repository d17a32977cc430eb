// tagCells: Notebook → TaggedCell[]: reads the `//|` directives (and the same as Jupyter cell
// tags) and gives every cell its role in the pipeline.
//
// Directives sit as comment lines at the top of a code cell, so the notebook still runs in tslab
// unchanged. Roles follow the notebook's reading order: code before the first task is shared
// setup; `//| task: x` starts a task and the untagged code cells after it continue it; explore,
// params and test cells are transparent (they do not end the task around them). Directive lines
// are blanked, not removed, so every later message keeps the cell's true line numbers.
import { diagnostic, suggest } from '../diagnostics.js';
import type { CellRole, Diagnostic, Directives, Notebook, TaggedCell } from '../types.js';

export const DIRECTIVE_NAMES = [
  'task', 'params', 'explore', 'test', 'version', 'rerun', 'cache', 'output', 'dialect', 'materialize', 'check', 'empty',
] as const;

const TASK_NAME = /^[A-Za-z_][\w.-]*$/;
const TABLE_NAME = /^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*){1,2}$/;
const DIRECTIVE_LINE = /^\s*\/\/\|\s?(.*)$/;

export interface TaggedNotebook {
  cells: TaggedCell[];
  diagnostics: Diagnostic[];
  /** True when any cell carries a directive or a Cellar tag. */
  hasDirectives: boolean;
}

/** The runtime's built-in codecs (runtime/codecs/index.ts; a test keeps the two lists equal). */
export const BUILTIN_CODECS = ['auto', 'binary', 'csv', 'json', 'model', 'structured', 'table', 'text'];
/** Formats people name that a built-in codec stores. */
const CODEC_ALIASES: Record<string, string> = { parquet: 'table', arrow: 'table', feather: 'table', ipc: 'table', txt: 'text', bytes: 'binary', pickle: 'model' };

interface RawDirective {
  name: string;
  value: string;
  line: number;
  fromTag: boolean;
}

/**
 * How many lines open a cell before its compiled code: the `//|` directive lines and the blank
 * lines among and after them (directives are blanked and leading blank lines dropped when the
 * cell is emitted). runtime/load/source.ts counts the same for failure locations, since the
 * runtime cannot import the compiler; test/compiler/stages.test.ts keeps the two equal.
 */
export function linesBeforeCode(source: string): number {
  const lines = source.split(/\r\n?|\n/);
  let n = 0;
  while (n < lines.length && (DIRECTIVE_LINE.test(lines[n]!) || lines[n]!.trim() === '')) n++;
  return n;
}

function readRaw(source: string, tags: string[]): { raw: RawDirective[]; code: string } {
  const lines = source.split('\n');
  const raw: RawDirective[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = DIRECTIVE_LINE.exec(line);
    if (!m) {
      if (line.trim() === '') continue;
      break;
    }
    const text = m[1]!.trim();
    const colon = text.indexOf(':');
    raw.push({
      name: (colon < 0 ? text : text.slice(0, colon)).trim(),
      value: colon < 0 ? '' : text.slice(colon + 1).trim(),
      line: i + 1,
      fromTag: false,
    });
    lines[i] = '';
  }
  for (const tag of tags) {
    const sep = tag.search(/[:=]/);
    const name = (sep < 0 ? tag : tag.slice(0, sep)).trim();
    // Only tags that look like ours: other tools' tags (e.g. `hide-input`) are not errors.
    if (!(DIRECTIVE_NAMES as readonly string[]).includes(name)) continue;
    raw.push({ name, value: sep < 0 ? '' : tag.slice(sep + 1).trim(), line: 1, fromTag: true });
  }
  return { raw, code: lines.join('\n') };
}

/** Where a cell's directives report: the diagnostics so far and the cell's location. */
interface DirectiveReport {
  at: { notebook: string; cell: number; cellId?: string };
  diagnostics: Diagnostic[];
}

/** The directive as the user wrote it, for a snippet: `//| name: value`, or `tag name:value`. */
const written = (r: RawDirective) => (r.fromTag ? `tag ${r.name}${r.value ? `:${r.value}` : ''}` : `//| ${r.name}${r.value ? `: ${r.value}` : ''}`);

function badValue(report: DirectiveReport, r: RawDirective, message: string, hint?: string): void {
  report.diagnostics.push(diagnostic('error', 'E_DIRECTIVE_VALUE', { ...report.at, line: r.line }, message, { hint, snippet: written(r) }));
}

type DirectiveParser = (r: RawDirective, d: Directives, report: DirectiveReport) => void;

/** `task: <name>` / `test: <task>`. */
const taskName: DirectiveParser = (r, d, report) => {
  if (TASK_NAME.test(r.value)) {
    d[r.name as 'task' | 'test'] = r.value;
    return;
  }
  // `make data` → `make_data`: the name the user meant, in a form that is allowed.
  const fixed = r.value.trim().replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '');
  badValue(report, r, `\`${r.name}\` needs a task name (letters, digits, _ . -), got "${r.value}"`, `write \`//| ${r.name}: ${fixed && TASK_NAME.test(fixed) ? fixed : 'train'}\``);
};

/** `params`, `explore`, `rerun`: no value. */
const flag: DirectiveParser = (r, d, report) => {
  if (r.value) badValue(report, r, `\`${r.name}\` takes no value`);
  else d[r.name as 'params' | 'explore' | 'rerun'] = true;
};

/** `output: <name>=<codec>`; a codec that is not built in only warns (projects may register their own). */
const output: DirectiveParser = (r, d, report) => {
  const m = /^([A-Za-z_$][\w$]*)\s*=\s*([\w.-]+)$/.exec(r.value);
  if (!m) return badValue(report, r, `\`output\` needs \`<name>=<format>\`, got "${r.value}"`, 'write `//| output: model=json`');
  const [, name, codec] = m as unknown as [string, string, string];
  d.outputs.push({ name, codec });
  if (BUILTIN_CODECS.includes(codec)) return;
  const guess = CODEC_ALIASES[codec.toLowerCase()] ?? suggest(codec, BUILTIN_CODECS);
  report.diagnostics.push(
    diagnostic('warning', 'W_UNKNOWN_CODEC', { ...report.at, line: r.line }, `\`${codec}\` is not a built-in codec (${BUILTIN_CODECS.join(', ')}): the run fails unless the project registers it with registerCodec`, {
      hint: guess ? `did you mean \`${name}=${guess}\`?` : 'leave the output out to let `auto` choose',
      snippet: r.fromTag ? `tag ${r.name}:${r.value}` : `//| ${r.name}: ${r.value}`,
    }),
  );
};

const DIRECTIVE_PARSERS: Record<(typeof DIRECTIVE_NAMES)[number], DirectiveParser> = {
  task: taskName,
  test: taskName,
  params: flag,
  explore: flag,
  rerun: flag,
  version: (r, d, report) => {
    if (!/^\d+$/.test(r.value)) badValue(report, r, `\`version\` needs a whole number, got "${r.value}"`, 'write `//| version: 2`');
    else d.version = Number(r.value);
  },
  cache: (r, d, report) => {
    if (r.value !== 'code' && r.value !== 'params') badValue(report, r, `\`cache\` is \`code\` or \`params\`, got "${r.value}"`);
    else d.cache = r.value;
  },
  output,
  dialect: (r, d, report) => {
    if (r.value !== 'bigquery' && r.value !== 'duckdb') badValue(report, r, `\`dialect\` is \`bigquery\` or \`duckdb\`, got "${r.value}"`);
    else d.dialect = r.value;
  },
  materialize: (r, d, report) => {
    if (!TABLE_NAME.test(r.value)) badValue(report, r, `\`materialize\` needs \`<dataset>.<table>\`, got "${r.value}"`, 'write `//| materialize: mart.features`');
    else d.materialize = r.value;
  },
  empty: (r, d, report) => {
    if (r.value !== 'error') badValue(report, r, `\`empty\` takes \`error\` (empty input tables are meaningless for this task), got "${r.value}"`, 'write `//| empty: error`');
    else d.empty = 'error';
  },
  check: (r, d, report) => {
    if (!r.value) badValue(report, r, '`check` needs an expression', 'write `//| check: rows >= 1000`');
    else d.checks.push(r.value);
  },
};

function unknownDirective(r: RawDirective, report: DirectiveReport): void {
  const guess = suggest(r.name, DIRECTIVE_NAMES);
  report.diagnostics.push(
    diagnostic('error', 'E_UNKNOWN_DIRECTIVE', { ...report.at, line: r.line }, `unknown directive \`${r.name}\``, {
      hint: guess ? `did you mean \`${guess}\`?` : `directives are: ${DIRECTIVE_NAMES.join(', ')}`,
      snippet: `//| ${r.name}${r.value ? `: ${r.value}` : ''}`,
    }),
  );
}

/** A cell's raw directives → its Directives, reporting bad values and unknown names. */
function parseDirectives(raw: RawDirective[], at: DirectiveReport['at'], diagnostics: Diagnostic[]): Directives {
  const d: Directives = { outputs: [], checks: [] };
  const report: DirectiveReport = { at, diagnostics };
  for (const r of raw) {
    const parse = Object.hasOwn(DIRECTIVE_PARSERS, r.name) ? DIRECTIVE_PARSERS[r.name as keyof typeof DIRECTIVE_PARSERS] : undefined;
    if (parse) parse(r, d, report);
    else unknownDirective(r, report);
  }
  return d;
}

const TASK_ONLY = ['version', 'rerun', 'cache', 'outputs', 'dialect', 'materialize', 'checks', 'empty'] as const;

export function tagCells(notebook: Notebook): TaggedNotebook {
  const diagnostics: Diagnostic[] = [];
  const cells: TaggedCell[] = [];
  let currentTask: string | undefined;
  let hasDirectives = false;
  for (const cell of notebook.cells) {
    const at = { notebook: notebook.path, cell: cell.index + 1, cellId: cell.id };
    if (cell.type !== 'code') {
      cells.push({ index: cell.index, id: cell.id, role: 'markdown', startsTask: false, directives: { outputs: [], checks: [] }, code: cell.source });
      continue;
    }
    const { raw, code } = readRaw(cell.source, cell.tags);
    if (raw.length) hasDirectives = true;
    const d = parseDirectives(raw, at, diagnostics);
    const kinds = (['task', 'params', 'explore', 'test'] as const).filter((k) => d[k] !== undefined);
    if (kinds.length > 1) {
      diagnostics.push(
        diagnostic('error', 'E_DIRECTIVE_CONFLICT', { ...at, line: 1 }, `a cell can be only one of task, params, explore, test; this one says ${kinds.join(' and ')}`),
      );
    }
    let role: CellRole;
    let task: string | undefined;
    if (d.task !== undefined) {
      role = 'task';
      task = currentTask = d.task;
    } else if (d.params) role = 'params';
    else if (d.explore) role = 'explore';
    else if (d.test !== undefined) {
      role = 'test';
      task = d.test;
    } else if (code.trim() === '') role = 'explore';
    else if (currentTask !== undefined) {
      role = 'task';
      task = currentTask;
    } else role = 'setup';

    if (role !== 'task' && role !== 'explore') {
      const misplaced = TASK_ONLY.filter((k) => (Array.isArray(d[k]) ? (d[k] as unknown[]).length > 0 : d[k] !== undefined));
      if (misplaced.length) {
        diagnostics.push(
          diagnostic('error', 'E_DIRECTIVE_CONFLICT', { ...at, line: 1 }, `\`${misplaced.join('`, `').replace('outputs', 'output').replace('checks', 'check')}\` only applies to task cells, and this is a ${role} cell`, {
            hint: 'put it on the `//| task:` cell (or on a cell that continues the task)',
          }),
        );
      }
    }
    cells.push({ index: cell.index, id: cell.id, role, task, startsTask: d.task !== undefined, directives: d, code });
  }
  return { cells, diagnostics, hasDirectives };
}
