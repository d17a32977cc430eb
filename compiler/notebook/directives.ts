// tagCells: Notebook → TaggedCell[]: reads the `//|` directives (and the same as Jupyter cell
// tags) and gives every cell its role in the pipeline.
//
// Directives sit as comment lines in the leading comment block of a code cell (readRaw says
// exactly which lines), so the notebook still runs in tslab
// unchanged. Roles follow the notebook's reading order: code before the first task is shared
// setup; `//| task: x` starts a task and the untagged code cells after it continue it; explore,
// params and test cells are transparent (they do not end the task around them). Directive lines
// are blanked, not removed, so every later message keeps the cell's true line numbers.
import { diagnostic, suggest } from '../diagnostics.js';
import { CHECK_FORMS, isParseError, parseCheck } from '../../runtime/warehouse/check-grammar.js';
import { storeOwnName } from '../../runtime/store/own-names.js';
import { taskFile } from '../emit/module.js';
import type { CellRole, Diagnostic, Directives, Notebook, TaggedCell } from '../types.js';

export const DIRECTIVE_NAMES = [
  'task',
  'params',
  'explore',
  'test',
  'version',
  'rerun',
  'cache',
  'output',
  'dialect',
  'materialize',
  'check',
  'empty',
  'retries',
  'timeout',
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
export const BUILTIN_CODECS = [
  'auto',
  'binary',
  'csv',
  'json',
  'model',
  'structured',
  'table',
  'text',
];
/** Formats people name that a built-in codec stores. */
const CODEC_ALIASES: Record<string, string> = {
  parquet: 'table',
  arrow: 'table',
  feather: 'table',
  ipc: 'table',
  txt: 'text',
  bytes: 'binary',
  pickle: 'model',
};

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

/** `// | task: x`, `//  |`: a comment whose text starts with `|`, i.e. a directive with a space too many. */
const SPACED_DIRECTIVE = /^\s*\/\/\s+\|\s*(.*)$/;
/**
 * What follows the `|` of a line meant as a directive: a word and an optional `: value`, or a
 * directive's name and a value (`task x`). Not prose such as a table row (`| a | b |`).
 */
const looksLikeDirective = (text: string) =>
  text === '' ||
  /^[A-Za-z][\w-]*\s*(:.*)?$/.test(text) ||
  splitDirective(text).missingColon === true;
const COMMENT_LINE = /^\s*\/\//;

/** A line in the leading comment block that looks like a directive but is not written as one. */
interface MalformedDirective {
  line: number;
  text: string;
  /** The line as it should be written, when that can be told. */
  fix?: string;
  why: string;
  /** A well-formed directive in the wrong place (below code). */
  move?: true;
}

/** `name: value` → the spelling of the directive line, `//| name: value` (`//| name` when no value). */
const spelled = (name: string, value: string) => `//| ${name}${value ? `: ${value}` : ''}`;

/**
 * The directives of a cell and its code with the directive lines blanked. Directives are read in
 * the cell's leading comment block: the lines before the first line of code that are blank or
 * `//` comments, so `// Step 2` above `//| task: x` does not hide it. In that block a line that
 * looks like a directive but is not one (`// | task: x`, `//|task x`, `//|` alone) is reported,
 * never read as an ordinary comment, since the cell would then silently join the task above;
 * so is a `//|` line below the first line of code.
 */
function readRaw(
  source: string,
  tags: string[],
): { raw: RawDirective[]; code: string; malformed: MalformedDirective[] } {
  const lines = source.split('\n');
  const raw: RawDirective[] = [];
  const malformed: MalformedDirective[] = [];
  let inLeadingBlock = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = DIRECTIVE_LINE.exec(line);
    if (!inLeadingBlock) {
      if (m)
        malformed.push({
          line: i + 1,
          text: line,
          why: 'a directive below the first line of code is not read: directives go in the comment lines that open the cell',
          move: true,
        });
      continue;
    }
    if (!m) {
      const spaced = SPACED_DIRECTIVE.exec(line);
      if (spaced && looksLikeDirective(spaced[1]!.trim())) {
        const parts = splitDirective(spaced[1]!.trim());
        malformed.push({
          line: i + 1,
          text: line,
          why: 'no space goes between `//` and `|` in a directive',
          ...(parts.name ? { fix: spelled(parts.name, parts.value) } : {}),
        });
        continue;
      }
      if (line.trim() === '' || COMMENT_LINE.test(line)) continue;
      inLeadingBlock = false;
      continue;
    }
    const text = m[1]!.trim();
    lines[i] = '';
    const { name, value, missingColon } = splitDirective(text);
    if (!name) {
      malformed.push({ line: i + 1, text: line, why: '`//|` needs a directive after it' });
      continue;
    }
    if (missingColon) {
      malformed.push({
        line: i + 1,
        text: line,
        why: `a directive's value follows a colon`,
        fix: spelled(name, value),
      });
      continue;
    }
    raw.push({ name, value, line: i + 1, fromTag: false });
  }
  for (const tag of tags) {
    const sep = tag.search(/[:=]/);
    const name = (sep < 0 ? tag : tag.slice(0, sep)).trim();
    // Only tags that look like ours: other tools' tags (e.g. `hide-input`) are not errors. A
    // `name:value` tag one typo from a directive (`tsak:second`) is ours misspelt: read, it is an
    // unknown directive with its "did you mean"; skipped, the cell silently joined the task above.
    if (
      !(DIRECTIVE_NAMES as readonly string[]).includes(name) &&
      (sep < 0 || !suggest(name, DIRECTIVE_NAMES))
    )
      continue;
    raw.push({ name, value: sep < 0 ? '' : tag.slice(sep + 1).trim(), line: 1, fromTag: true });
  }
  return { raw, code: lines.join('\n'), malformed };
}

/**
 * `task: x` → name `task`, value `x`. `task x` (a known directive, then a value with no colon)
 * is flagged `missingColon`; any other text without a colon is a name (`rerun`, or an unknown one).
 */
function splitDirective(text: string): { name: string; value: string; missingColon?: boolean } {
  const colon = text.indexOf(':');
  if (colon >= 0) return { name: text.slice(0, colon).trim(), value: text.slice(colon + 1).trim() };
  const word = /^(\S+)\s+(\S.*)$/.exec(text);
  if (word && (DIRECTIVE_NAMES as readonly string[]).includes(word[1]!))
    return { name: word[1]!, value: word[2]!.trim(), missingColon: true };
  return { name: text, value: '' };
}

function malformedDirective(m: MalformedDirective, report: DirectiveReport): void {
  report.diagnostics.push(
    diagnostic(
      'error',
      'E_DIRECTIVE_SYNTAX',
      { ...report.at, line: m.line },
      `this line looks like a directive but is not one: ${m.why}`,
      {
        hint: m.move
          ? `move \`${m.text.trim()}\` up to the comment lines at the top of the cell (or drop the \`|\` to keep it as a comment)`
          : m.fix
            ? `write \`${m.fix}\``
            : 'write a directive as `//| <name>: <value>` (e.g. `//| task: load`) at the top of the cell, or make the line an ordinary comment',
        snippet: m.text.trim(),
      },
    ),
  );
}

/** Where a cell's directives report: the diagnostics so far and the cell's location. */
interface DirectiveReport {
  at: { notebook: string; cell: number; cellId?: string };
  diagnostics: Diagnostic[];
}

/** The directive as the user wrote it, for a snippet: `//| name: value`, or `tag name:value`. */
const written = (r: RawDirective) =>
  r.fromTag
    ? `tag ${r.name}${r.value ? `:${r.value}` : ''}`
    : `//| ${r.name}${r.value ? `: ${r.value}` : ''}`;

function badValue(report: DirectiveReport, r: RawDirective, message: string, hint?: string): void {
  report.diagnostics.push(
    diagnostic('error', 'E_DIRECTIVE_VALUE', { ...report.at, line: r.line }, message, {
      hint,
      snippet: written(r),
    }),
  );
}

type DirectiveParser = (r: RawDirective, d: Directives, report: DirectiveReport) => void;

/** `task: <name>` / `test: <task>`. */
const taskName: DirectiveParser = (r, d, report) => {
  if (TASK_NAME.test(r.value)) {
    d[r.name as 'task' | 'test'] = r.value;
    return;
  }
  // `make data` → `make_data`: the name the user meant, in a form that is allowed.
  // `étape` → `etape`: letters with accents keep their base letter, not dropped.
  const fixed = r.value
    .trim()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^\w.-]+/g, '_')
    .replace(/^_+|_+$/g, '');
  badValue(
    report,
    r,
    `\`${r.name}\` needs a task name (letters, digits, _ . -, starting with a letter or _), got "${r.value}"`,
    `write \`//| ${r.name}: ${fixed && TASK_NAME.test(fixed) ? fixed : 'train'}\``,
  );
};

/** `params`, `explore`, `rerun`: no value. */
const flag: DirectiveParser = (r, d, report) => {
  if (r.value) badValue(report, r, `\`${r.name}\` takes no value`);
  else d[r.name as 'params' | 'explore' | 'rerun'] = true;
};

/** `output: <name>=<codec>`; a codec that is not built in only warns (projects may register their own). */
const output: DirectiveParser = (r, d, report) => {
  const m = /^([A-Za-z_$][\w$]*)\s*=\s*([\w.-]+)$/.exec(r.value);
  if (!m)
    return badValue(
      report,
      r,
      `\`output\` needs \`<name>=<format>\`, got "${r.value}"`,
      'write `//| output: model=json`',
    );
  const [, name, codec] = m as unknown as [string, string, string];
  d.outputs.push({ name, codec });
  if (BUILTIN_CODECS.includes(codec)) return;
  const guess = CODEC_ALIASES[codec.toLowerCase()] ?? suggest(codec, BUILTIN_CODECS);
  report.diagnostics.push(
    diagnostic(
      'warning',
      'W_UNKNOWN_CODEC',
      { ...report.at, line: r.line },
      `\`${codec}\` is not a built-in codec (${BUILTIN_CODECS.join(', ')}): the run fails unless the project registers it with registerCodec`,
      {
        hint: guess
          ? `did you mean \`${name}=${guess}\`?`
          : 'leave the output out to let `auto` choose',
        snippet: r.fromTag ? `tag ${r.name}:${r.value}` : `//| ${r.name}: ${r.value}`,
      },
    ),
  );
};

/** `timeout: 90s`: a number and a unit (ms, s, m, h), to milliseconds. */
const TIMEOUT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
/** The longest timer Node keeps (runtime/task.ts `MAX_TIMEOUT_MS`: 2^31 − 1 ms, ~24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const DIRECTIVE_PARSERS: Record<(typeof DIRECTIVE_NAMES)[number], DirectiveParser> = {
  task: taskName,
  test: taskName,
  params: flag,
  explore: flag,
  rerun: flag,
  version: (r, d, report) => {
    if (!/^\d+$/.test(r.value))
      badValue(
        report,
        r,
        `\`version\` needs a whole number, got "${r.value}"`,
        'write `//| version: 2`',
      );
    else d.version = Number(r.value);
  },
  retries: (r, d, report) => {
    if (!/^\d+$/.test(r.value))
      badValue(
        report,
        r,
        `\`retries\` needs a whole number of extra attempts, got "${r.value}"`,
        'write `//| retries: 2`',
      );
    else d.retries = Number(r.value);
  },
  timeout: (r, d, report) => {
    const m = TIMEOUT.exec(r.value);
    const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]) : NaN;
    if (!(ms > 0 && ms <= MAX_TIMEOUT_MS))
      badValue(
        report,
        r,
        m
          ? `\`timeout\` must be more than 0 and at most 596h (Node's longest timer), got "${r.value}"`
          : `\`timeout\` needs a number and a unit (ms, s, m or h), got "${r.value}"`,
        'write `//| timeout: 10m`',
      );
    else d.timeoutMs = ms;
  },
  cache: (r, d, report) => {
    if (r.value !== 'code' && r.value !== 'params')
      badValue(report, r, `\`cache\` is \`code\` or \`params\`, got "${r.value}"`);
    else d.cache = r.value;
  },
  output,
  dialect: (r, d, report) => {
    if (r.value !== 'bigquery' && r.value !== 'duckdb')
      badValue(report, r, `\`dialect\` is \`bigquery\` or \`duckdb\`, got "${r.value}"`);
    else d.dialect = r.value;
  },
  materialize: (r, d, report) => {
    if (!TABLE_NAME.test(r.value))
      badValue(
        report,
        r,
        `\`materialize\` needs \`<dataset>.<table>\`, got "${r.value}"`,
        'write `//| materialize: mart.features`',
      );
    else d.materialize = r.value;
  },
  empty: (r, d, report) => {
    if (r.value !== 'error')
      badValue(
        report,
        r,
        `\`empty\` takes \`error\` (empty input tables are meaningless for this task), got "${r.value}"`,
        'write `//| empty: error`',
      );
    else d.empty = 'error';
  },
  check: (r, d, report) => {
    if (!r.value)
      return badValue(report, r, '`check` needs an expression', 'write `//| check: rows >= 1000`');
    // The runtime runs the check; a check it cannot parse is found here, not after the task ran.
    const parsed = parseCheck(r.value);
    if (isParseError(parsed))
      badValue(
        report,
        r,
        `\`check\` ${parsed.message.slice('check '.length)}`,
        `checks read: ${CHECK_FORMS}`,
      );
    else d.checks.push(r.value);
  },
};

function unknownDirective(r: RawDirective, report: DirectiveReport): void {
  const guess = suggest(r.name, DIRECTIVE_NAMES);
  report.diagnostics.push(
    diagnostic(
      'error',
      'E_UNKNOWN_DIRECTIVE',
      { ...report.at, line: r.line },
      `unknown directive \`${r.name}\``,
      {
        hint: guess
          ? `did you mean \`${guess}\`?`
          : `directives are: ${DIRECTIVE_NAMES.join(', ')}`,
        snippet: written(r),
      },
    ),
  );
}

/** A cell's raw directives → its Directives, reporting bad values and unknown names. */
function parseDirectives(
  raw: RawDirective[],
  at: DirectiveReport['at'],
  diagnostics: Diagnostic[],
): Directives {
  const d: Directives = { outputs: [], checks: [] };
  const report: DirectiveReport = { at, diagnostics };
  const seen = new Map<string, RawDirective>();
  for (const r of raw) {
    // One value per cell for all but `output` and `check`: a second, different one is a conflict,
    // not a silent "last one wins".
    const earlier = seen.get(r.name);
    if (earlier && !REPEATABLE.has(r.name)) {
      if (earlier.value !== r.value) {
        diagnostics.push(
          diagnostic(
            'error',
            'E_DIRECTIVE_CONFLICT',
            { ...at, line: r.line },
            `a second \`${r.name}\` directive in one cell (${written(earlier)} on line ${earlier.line}, ${written(r)} here)`,
            {
              hint:
                r.name === 'task'
                  ? 'a cell belongs to one task: split the cell, or keep one `//| task:` line'
                  : `keep one \`${r.name}\``,
              snippet: written(r),
            },
          ),
        );
      }
      continue;
    }
    seen.set(r.name, r);
    const parse = Object.hasOwn(DIRECTIVE_PARSERS, r.name)
      ? DIRECTIVE_PARSERS[r.name as keyof typeof DIRECTIVE_PARSERS]
      : undefined;
    if (parse) parse(r, d, report);
    else unknownDirective(r, report);
  }
  return d;
}

/** Directives a cell may carry more than once. */
const REPEATABLE = new Set(['output', 'check']);

const TASK_ONLY = [
  'version',
  'rerun',
  'cache',
  'outputs',
  'dialect',
  'materialize',
  'checks',
  'empty',
  'retries',
  'timeoutMs',
] as const;

export function tagCells(notebook: Notebook): TaggedNotebook {
  const diagnostics: Diagnostic[] = [];
  const cells: TaggedCell[] = [];
  let currentTask: string | undefined;
  let hasDirectives = false;
  /** The line of each task cell's `//| task:` directive, for messages about the name. */
  const taskLines = new Map<number, number>();
  /** Params cells by how they are marked: `//| params` (or tag `params`), or the tag `parameters` alone. */
  const paramsCells = { directive: [] as number[], tagOnly: [] as number[] };
  for (const cell of notebook.cells) {
    const at = { notebook: notebook.path, cell: cell.index + 1, cellId: cell.id };
    if (cell.type !== 'code') {
      cells.push({
        index: cell.index,
        id: cell.id,
        role: 'markdown',
        startsTask: false,
        directives: { outputs: [], checks: [] },
        code: cell.source,
      });
      continue;
    }
    const { raw, code, malformed } = readRaw(cell.source, cell.tags);
    if (raw.length || malformed.length) hasDirectives = true;
    for (const m of malformed) malformedDirective(m, { at, diagnostics });
    const taskLine = raw.find((r) => r.name === 'task')?.line;
    if (taskLine !== undefined) taskLines.set(cell.index, taskLine);
    const d = parseDirectives(raw, at, diagnostics);
    // Papermill's convention, which `cellar exec` honours too: a code cell tagged `parameters`
    // is the params cell, read by the same rules as `//| params`. Not a Cellar directive of its
    // own (a papermill notebook with no `//|` line still has nothing to compile).
    if (cell.tags.includes(PAPERMILL_TAG)) {
      if (d.params) paramsCells.directive.push(cell.index);
      else paramsCells.tagOnly.push(cell.index);
      d.params = true;
    } else if (d.params) paramsCells.directive.push(cell.index);
    const kinds = (['task', 'params', 'explore', 'test'] as const).filter(
      (k) => d[k] !== undefined,
    );
    if (kinds.length > 1) {
      diagnostics.push(
        diagnostic(
          'error',
          'E_DIRECTIVE_CONFLICT',
          { ...at, line: 1 },
          `a cell can be only one of task, params, explore, test; this one says ${kinds.join(' and ')}`,
        ),
      );
    }
    let role: CellRole;
    let task: string | undefined;
    const injected = cell.tags.includes(INJECTED_TAG) && kinds.length === 0;
    if (injected) role = 'explore';
    else if (d.task !== undefined) {
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
      const misplaced = TASK_ONLY.filter((k) =>
        Array.isArray(d[k]) ? (d[k] as unknown[]).length > 0 : d[k] !== undefined,
      );
      if (misplaced.length) {
        diagnostics.push(
          diagnostic(
            'error',
            'E_DIRECTIVE_CONFLICT',
            { ...at, line: 1 },
            `\`${misplaced.join('`, `').replace('outputs', 'output').replace('checks', 'check').replace('timeoutMs', 'timeout')}\` only applies to task cells, and this is a ${role} cell`,
            {
              hint: 'put it on the `//| task:` cell (or on a cell that continues the task)',
            },
          ),
        );
      }
    }
    cells.push({
      index: cell.index,
      id: cell.id,
      role,
      task,
      startsTask: d.task !== undefined,
      directives: d,
      code,
      ...(injected ? { injected: true as const } : {}),
    });
  }
  fileNameProblems(cells, taskLines, notebook.path, diagnostics);
  paramsCellsConflict(notebook, paramsCells, diagnostics);
  return { cells, diagnostics, hasDirectives };
}

/** The Jupyter cell tag papermill (and `cellar exec`) reads as "this is the params cell". */
export const PAPERMILL_TAG = 'parameters';
/**
 * The tag of the cell papermill (and `cellar exec`) inserts after the params cell with the run's
 * values: they override the params' defaults (compiler/plan/injected-params.ts), never setup code.
 */
export const INJECTED_TAG = 'injected-parameters';

/**
 * A `//| params` cell beside a different cell tagged `parameters`: an E_DIRECTIVE_CONFLICT on
 * the tagged cell naming both. The two conventions name one cell each; `cellar exec` would inject
 * values after only one of them, so the pipeline and the executed notebook would disagree on
 * which params exist.
 */
function paramsCellsConflict(
  notebook: Notebook,
  paramsCells: { directive: number[]; tagOnly: number[] },
  diagnostics: Diagnostic[],
): void {
  const marked = paramsCells.directive[0];
  if (marked === undefined) return;
  const name = (index: number) => {
    const id = notebook.cells.find((c) => c.index === index)?.id;
    return `cell ${index + 1}${id ? ` (id ${id})` : ''}`;
  };
  for (const tagged of paramsCells.tagOnly) {
    diagnostics.push(
      diagnostic(
        'error',
        'E_DIRECTIVE_CONFLICT',
        {
          notebook: notebook.path,
          cell: tagged + 1,
          cellId: notebook.cells.find((c) => c.index === tagged)?.id,
          line: 1,
        },
        `two params cells: ${name(marked)} says \`//| params\` and ${name(tagged)} is tagged \`${PAPERMILL_TAG}\``,
        {
          hint: `keep one params cell: move these declarations into ${name(marked)} and drop the \`${PAPERMILL_TAG}\` tag, or drop \`//| params\` from ${name(marked)}`,
        },
      ),
    );
  }
}

/**
 * The longest task name: its module `<name>.test.ts` and the write's temp file
 * (`<file>.<pid>.tmp`) must fit the 255-byte file-name limit of ext4, APFS and NTFS, with room
 * for the runtime's own files named after the task.
 */
export const MAX_TASK_NAME = 100;
/** Names Windows reserves for devices, whatever the extension (`con.ts`, `aux.data.ts`). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

/**
 * Task names become file names (`generated/<notebook>/<task>.ts`, its `.test.ts`): a name that
 * cannot be one on some system is refused here, naming the `//| task:` line, rather than failing
 * on write with a raw ENAMETOOLONG (or, on macOS and Windows, two tasks overwriting one file).
 * TASK_NAME already keeps out characters no file system allows.
 */
function fileNameProblems(
  cells: TaggedCell[],
  taskLines: Map<number, number>,
  notebookPath: string,
  diagnostics: Diagnostic[],
): void {
  // By lower-cased file name without extension: which task (or '' for the pipeline's own files)
  // writes it, as spelt. A task named `setup`, `shared` or `pipeline` is written to
  // `<name>_task.ts` (taskFile); these catch the rest (`Shared`, `pipeline.test`).
  const files = new Map<string, { task: string; file: string; cell?: TaggedCell }>();
  for (const name of OWN_FILES) files.set(name.toLowerCase(), { task: '', file: name });
  for (const cell of cells) {
    if (!cell.startsTask || !cell.task) continue;
    const task = cell.task;
    const at = {
      notebook: notebookPath,
      cell: cell.index + 1,
      cellId: cell.id,
      line: taskLines.get(cell.index) ?? 1,
    };
    const refuse = (message: string, hint: string) =>
      diagnostics.push(
        diagnostic('error', 'E_TASK_FILE_NAME', at, message, {
          hint,
          snippet: `//| task: ${task.length > 60 ? `${task.slice(0, 60)}…` : task}`,
        }),
      );
    if (task === '__proto__') {
      // Task names are keys of the pipeline's records (runtime/task.ts refuses it at run time,
      // naming generated/<nb>/pipeline.ts): said here, on the notebook's line.
      diagnostics.push(
        diagnostic(
          'error',
          'E_RESERVED_NAME',
          at,
          '`__proto__` cannot name a task: task names are keys of the pipeline’s records, where `__proto__` sets a prototype',
          { hint: 'choose another name', snippet: `//| task: ${task}` },
        ),
      );
      continue;
    }
    const storeOwn = storeOwnName(task);
    if (storeOwn) {
      diagnostics.push(
        diagnostic('error', 'E_RESERVED_NAME', at, `\`${task}\` cannot name a task: ${storeOwn}`, {
          hint: `choose another name, e.g. \`//| task: ${task.replace(/^_+/, '').replace(/\W/g, '_')}\``,
          snippet: `//| task: ${task}`,
        }),
      );
      continue;
    }
    if (task.length > MAX_TASK_NAME) {
      refuse(
        `the task name is ${task.length} characters long; task names become file names, so the limit is ${MAX_TASK_NAME}`,
        "choose a shorter name (and say the rest in a markdown cell above the task: it becomes the task's documentation)",
      );
      continue;
    }
    if (WINDOWS_DEVICE.test(task.split('.')[0]!)) {
      refuse(
        `\`${task}\` cannot be a file name on Windows (\`${task.split('.')[0]}\` names a device there), and task names become file names`,
        `rename the task, e.g. \`//| task: ${task}_data\``,
      );
      continue;
    }
    const base = taskFile(task);
    // The task's module, its test cells' module, and its replay test once it has a fixture.
    const own = [base, `${base}.test`, `${base}.replay.test`];
    for (const file of own) {
      const other = files.get(file.toLowerCase());
      if (!other) continue;
      if (other.task === task) break; // the same task twice: E_DUPLICATE_TASK says so
      const what = other.task
        ? `task \`${other.task}\` (cell ${other.cell!.index + 1})`
        : `the pipeline's own \`${other.file}.ts\``;
      const onlyCase = other.file !== file;
      refuse(
        `task \`${task}\` would be written to ${file}.ts, the same file as ${what}${onlyCase ? ' on case-insensitive file systems (macOS, Windows)' : ''}`,
        !other.task
          ? `rename the task, e.g. \`//| task: ${task}_data\``
          : onlyCase
            ? 'rename one of the tasks so the names differ by more than case'
            : 'rename one of the tasks',
      );
      break;
    }
    for (const file of own) files.set(file.toLowerCase(), { task, file, cell });
  }
}

/**
 * The files the compiler writes into generated/<stem>/ beside the tasks' own, by name without
 * extension: setup.ts, shared.ts, pipeline.ts and pipeline.test.ts (the graph test). No task's
 * file can be a JavaScript notebook's tsconfig.json (task files end in `.ts` or `.js`), nor the
 * `__fixtures__` folder (`__fixtures__.ts` is another name).
 */
const OWN_FILES = ['setup', 'shared', 'pipeline', 'pipeline.test'];
