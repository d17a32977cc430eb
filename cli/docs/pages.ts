// The Cellar sections of the site's pages, as TypeDoc JSX (rendered by TypeDoc's own renderer
// inside its default theme, through the hooks plugin.ts registers): a task's feature panel, a
// pipeline's params/tasks/DAG, and the run-history table (Markdown, a TypeDoc document).
//
// Everything printed is a fact from the DocsSite with a stable format: numbers with a fixed
// number of significant digits, times as recorded in the manifests, lists in plan or name order.
// No build time, no random ids: two builds give the same bytes.
import { JSX } from 'typedoc';
import { formatDuration } from '../../runtime/duration.js';
import type { ColumnStats, OutputSchema } from '../../runtime/types.js';
import { mdCode, mdText } from './md.js';
import type { OutputDoc, PipelineDoc, RunRecord, TaskDoc } from './model.js';

const h = JSX.createElement;
const raw = (html: string) => h(JSX.Raw, { html });
type Node = JSX.Children;

/** Links to task pages from the current page; undefined when the task has no page. */
export type TaskUrl = (task: string) => string | undefined;

export function num(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  return String(Number(x.toPrecision(4)));
}

export const when = (iso: string) =>
  iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
    .replace(/Z$/, ' UTC');

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A table of the site's style: a header row, then a row per entry of `rows` (its `td` cells). */
const table = (headers: readonly string[], rows: JSX.Element[][], className = 'cellar-table') =>
  h(
    'table',
    { class: className },
    h('thead', null, h('tr', null, ...headers.map((c) => h('th', null, c)))),
    h('tbody', null, ...rows.map((cells) => h('tr', null, ...cells))),
  );
const td = (...children: Node[]) => h('td', null, ...children);

const section = (title: string, id: string, ...children: Node[]) =>
  h('section', { class: 'tsd-panel cellar-section', id }, h('h2', null, title), ...children);

const taskLink = (name: string, url: TaskUrl) => {
  const href = url(name);
  return href ? h('a', { href, class: 'cellar-task-link' }, name) : h('code', null, name);
};

const list = (names: string[], url: TaskUrl, none: string): Node =>
  names.length === 0
    ? h('em', null, none)
    : h(
        'span',
        null,
        ...names.flatMap((n, i) => (i ? [', ', taskLink(n, url)] : [taskLink(n, url)])),
      );

/** Inline the lineage SVG with its placeholder links pointing at real pages. */
export function svgWithLinks(svg: string, url: TaskUrl): string {
  return svg.replace(/xlink:href="cellar-task:([^"]*)"/g, (_all, name: string) => {
    const href = url(name.replace(/&amp;/g, '&')) ?? '#';
    return `href="${href}" xlink:href="${href}"`;
  });
}

/**
 * Whether the figures on a pipeline's pages are what a run would serve now (PipelineDoc
 * `current`): said plainly when the last full run's record still holds, else the reader is told
 * they are each task's last run and how to find out what moved (no record is also the case right
 * after a run that discovered its reads, so the wording must not claim that anything changed).
 */
function currency(p: PipelineDoc): JSX.Element {
  return p.current
    ? h(
        'p',
        { class: 'cellar-current' },
        h('strong', null, 'Up to date'),
        ': the notebook, its code, data and params are as the last full run found them when this site was built, so these figures are what ',
        h('code', null, `cellar run ${p.notebook}`),
        ' serves.',
      )
    : h(
        'p',
        { class: 'cellar-maybe-stale' },
        'Figures are from the last run of each task. Whether the notebook, its code or data changed since is not known here: ',
        h('code', null, `cellar run ${p.notebook} --dry-run`),
        ' lists what would run again.',
      );
}

/** A task's feature panel: everything but its prose (TypeDoc renders that as the page's comment). */
export function taskPanel(
  p: PipelineDoc,
  t: TaskDoc,
  lineageSvg: string | undefined,
  url: TaskUrl,
  pipelineUrl: string | undefined,
): JSX.Element {
  const run = t.lastRun;
  return h(
    'div',
    { class: 'cellar-task' },
    section(
      'Run',
      'cellar-run',
      t.lastSkipped
        ? h(
            'p',
            { class: 'cellar-failed' },
            h('strong', null, 'not run in its last run'),
            ` (${when(t.lastSkipped.at)}): ${t.lastSkipped.why}.`,
          )
        : null,
      t.lastFailure ? failedWords(t.lastFailure) : null,
      run
        ? h(
            'p',
            null,
            t.lastFailure || t.lastSkipped ? 'Last successful run finished ' : 'Last run finished ',
            h('strong', null, when(run.finishedAt)),
            ' and took ',
            h('strong', null, duration(run.durationMs)),
            '. Key ',
            h('code', null, run.key.slice(0, 16)),
            '.',
          )
        : t.lastFailure || t.lastSkipped
          ? h(
              'p',
              null,
              'No run of this task has succeeded yet. ',
              h('code', null, `cellar run ${p.notebook} ${t.name}`),
              ' runs it again.',
            )
          : h(
              'p',
              { class: 'cellar-not-run' },
              h('strong', null, 'not run yet'),
              ': no run of this pipeline has recorded this task. ',
              h('code', null, `cellar run ${p.notebook} ${t.name}`),
              ' records one.',
            ),
      run ? currency(p) : null,
    ),
    section(
      'Lineage',
      'cellar-lineage',
      h(
        'p',
        null,
        'Upstream: ',
        list(t.upstream, url, 'none (a source task)'),
        '. Downstream: ',
        list(t.downstream, url, 'none (a final task)'),
        '.',
      ),
      lineageSvg
        ? h(
            'figure',
            { class: 'cellar-lineage-svg' },
            raw(svgWithLinks(lineageSvg, url)),
            h('figcaption', null, 'Two hops up and down; click a task to open its page.'),
          )
        : null,
    ),
    section(
      'Params',
      'cellar-params',
      t.params.length === 0
        ? h('p', null, h('em', null, 'Reads no params.'))
        : paramsTable(
            'last run',
            t.params.map((name) => {
              const d = p.params.find((x) => x.name === name);
              return {
                name,
                type: d?.type ?? '',
                default: d?.default,
                last:
                  run && name in run.params
                    ? h('code', null, JSON.stringify(run.params[name]))
                    : '—',
              };
            }),
          ),
    ),
    section(
      'Outputs',
      'cellar-outputs',
      ...(t.outputs.length
        ? t.outputs.map((o) =>
            outputBlock(o, t.lastFailure !== undefined || t.lastSkipped !== undefined),
          )
        : [h('p', null, h('em', null, 'No outputs.'))]),
    ),
    t.checks.length
      ? section(
          'Data checks',
          'cellar-checks',
          table(
            ['check', 'last result'],
            t.checks.map((c) => [
              td(h('code', null, c.text)),
              h(
                'td',
                { class: `cellar-check-${c.last.status}` },
                c.last.status === 'not-run'
                  ? 'not run yet'
                  : `${c.last.status} (${when(c.last.at)})${c.last.status === 'failed' && c.last.message ? `: ${c.last.message}` : ''}`,
              ),
            ]),
          ),
        )
      : null,
    t.sql
      ? section(
          'SQL',
          'cellar-sql',
          h(
            'p',
            null,
            `Dialect ${t.sql.dialect}. `,
            t.sql.materialize
              ? h(
                  'span',
                  null,
                  'Materialised as ',
                  h('code', null, t.sql.materialize),
                  ' (suffixed with the cache key). ',
                )
              : null,
          ),
          h(
            'p',
            null,
            'Reads: ',
            t.sql.reads.length
              ? h(
                  'span',
                  null,
                  ...t.sql.reads.flatMap((r, i) => [
                    i ? ', ' : '',
                    h('code', null, r),
                    t.sql!.columns?.[r] ? ` (columns ${t.sql!.columns[r]!.join(', ')})` : '',
                  ]),
                )
              : h('em', null, 'no tables named directly'),
            '.',
          ),
          t.sql.files.length
            ? h(
                'p',
                null,
                'Files: ',
                ...t.sql.files.flatMap((f, i) => [i ? ', ' : '', h('code', null, f)]),
                ' (by content: an edit re-runs it).',
              )
            : null,
          ...t.sql.queries.map((q) =>
            h('pre', null, h('code', { class: 'language-sql' }, q.trim())),
          ),
        )
      : null,
    section('Cache key', 'cellar-cache', h('p', null, cacheWords(t))),
    t.attempts
      ? section('Attempts', 'cellar-attempts', h('p', null, attemptWords(t.attempts)))
      : null,
    section(
      'Source',
      'cellar-source',
      h(
        'p',
        null,
        `From `,
        h('code', null, p.notebook),
        `, ${t.cells.length === 1 ? 'cell' : 'cells'} ${t.cells.join(', ')}${t.cellIds.some(Boolean) ? ` (id ${t.cellIds.filter(Boolean).join(', ')})` : ''}. Pipeline: `,
        pipelineUrl ? h('a', { href: pipelineUrl }, p.name) : p.name,
        '.',
      ),
      h(
        'details',
        null,
        h('summary', null, 'Cell code'),
        h('pre', null, h('code', { class: 'language-ts' }, t.source)),
      ),
    ),
  );
}

const firstLine = (text: string) => text.split('\n')[0]!.trim();

/** `failed in its last run (time): message`, as `cellar tree` says it; the whole message when it
 *  has more lines (a stack, a check's rows). Text only: JSX escapes it. */
function failedWords(f: NonNullable<TaskDoc['lastFailure']>): JSX.Element {
  const more = f.error.trim().includes('\n');
  return h(
    'div',
    { class: 'cellar-failed' },
    h(
      'p',
      null,
      h('strong', null, 'failed in its last run'),
      ` (${when(f.at)}): `,
      h('code', null, firstLine(f.error)),
    ),
    more
      ? h('details', null, h('summary', null, 'Whole message'), h('pre', null, f.error.trim()))
      : null,
  );
}

/** "What its cache key is made of", in words, from the plan and (when run) the manifest's key inputs. */
/** What `//| timeout` and `//| retries` say, in words (runtime/task.ts `timeoutMs`, `retries`). */
export function attemptWords(a: NonNullable<TaskDoc['attempts']>): string {
  const parts: string[] = [];
  if (a.timeoutMs !== undefined)
    parts.push(
      `Each attempt may take at most ${formatDuration(a.timeoutMs)} (//| timeout); past that it fails with E_TASK_TIMEOUT.`,
    );
  if (a.retries)
    parts.push(
      `A failed attempt is tried again up to ${a.retries} more time${a.retries === 1 ? '' : 's'} (//| retries).`,
    );
  return parts.join(' ');
}

export function cacheWords(t: TaskDoc): string {
  const parts: string[] = [`the task's name and version ${t.cache.version}`];
  parts.push(t.params.length ? `the params it reads (${t.params.join(', ')})` : 'no params');
  parts.push(
    t.upstream.length
      ? `the cache keys of its upstream tasks (${t.upstream.join(', ')})`
      : 'no upstream keys',
  );
  parts.push('the codec of each output');
  if (t.cache.mode === 'code') {
    const k = t.lastRun?.keyInputs;
    parts.push(
      k
        ? `its code (a syntax hash of ${k.codeFiles} module${k.codeFiles === 1 ? '' : 's'}; comment edits do not count) and the versions of the packages it imports${k.packages.length ? ` (${k.packages.join(', ')})` : ''}`
        : 'its code (a syntax hash of its module and the local modules it imports; comment edits do not count) and the versions of the packages it imports',
    );
  } else parts.push('not its code (`//| cache: params`)');
  // What the code read while it ran, from the last run's manifest: names only (an env value never).
  const listed = (names: string[]) =>
    names.length > 12
      ? `${names.slice(0, 12).join(', ')} and ${names.length - 12} more`
      : names.join(', ');
  const reads = t.lastRun?.keyInputs.reads ?? [];
  if (reads.length)
    parts.push(`the content of the data files and folders its code read (${listed(reads)})`);
  const env = t.lastRun?.keyInputs.env ?? [];
  if (env.length)
    parts.push(`the environment variables its code reads (${listed(env)}; values are hashed)`);
  if (t.sql)
    parts.push(
      `the version of every warehouse table its SQL reads${t.sql.reads.length ? ` (${t.sql.reads.join(', ')})` : ''}`,
    );
  if (t.sql?.files.length)
    parts.push(`the content of the files its SQL reads (${listed(t.sql.files)})`);
  const words = `The key hashes ${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}.`;
  return t.cache.rerun
    ? `${words} It re-runs on every \`cellar run\` (\`//| rerun\`).`
    : `${words} Any change re-runs this task and everything downstream.`;
}

/** The params table of a task page (last column: the value of its last run) and of the pipeline
 *  page (last column: the tasks reading it): name, type and default, then the page's own column. */
function paramsTable(
  lastColumn: string,
  rows: { name: string; type: string; default: unknown; last: Node }[],
): JSX.Element {
  return table(
    ['param', 'type', 'default', lastColumn],
    rows.map((r) => [
      td(h('code', null, r.name)),
      td(h('code', null, r.type)),
      td(h('code', null, JSON.stringify(r.default))),
      td(r.last),
    ]),
  );
}

/** `failed`: a run failed or left out the task, so "not run yet" would be wrong. */
function outputBlock(o: OutputDoc, failed = false): JSX.Element {
  const s = o.stored;
  const head = h(
    'h3',
    null,
    h('code', null, o.name),
    s
      ? ` · ${schemaWords(s.schema)} · ${s.codec}, ${num(s.bytes)} bytes`
      : ` · codec ${o.declaredCodec}`,
  );
  if (!s)
    return h(
      'div',
      { class: 'cellar-output' },
      head,
      h(
        'p',
        null,
        h(
          'em',
          null,
          failed
            ? 'no successful run yet: schema and statistics appear after the first.'
            : 'not run yet: schema and statistics appear after the first run.',
        ),
      ),
    );
  const schema = s.schema;
  const scalars = s.stats?.scalars;
  return h(
    'div',
    { class: 'cellar-output' },
    head,
    schema.kind === 'table'
      ? columnsTable(schema, s.stats?.columns ?? {}, s.stats?.sampledRows)
      : null,
    scalars && Object.keys(scalars).length
      ? table(
          ['metric', 'value'],
          Object.entries(scalars).map(([k, v]) => [td(h('code', null, k)), td(num(v))]),
        )
      : null,
  );
}

export function schemaWords(s: OutputSchema): string {
  switch (s.kind) {
    case 'table':
      return `table, ${num(s.rows)} rows × ${s.columns.length} columns`;
    case 'json':
      return `JSON ${s.type}${s.length !== undefined ? ` of ${num(s.length)}` : ''}`;
    case 'text':
      return `text, ${num(s.chars)} characters`;
    case 'binary':
      return `binary, ${num(s.bytes)} bytes`;
    case 'model':
      return `model (${s.format})`;
  }
}

function columnsTable(
  schema: Extract<OutputSchema, { kind: 'table' }>,
  stats: Record<string, ColumnStats>,
  sampled?: number,
): JSX.Element {
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'cellar-rows' },
      h('strong', null, `${num(schema.rows)} rows`),
      sampled ? ` (statistics from the first ${num(sampled)})` : '',
    ),
    table(
      ['column', 'type', 'nulls', 'distinct', 'min', 'max', 'mean', 'distribution'],
      schema.columns.map((c) => {
        const st = stats[c.name];
        const isDate = c.type === 'date';
        const v = (x: number | undefined) =>
          isDate && x !== undefined ? when(new Date(x).toISOString()) : num(x);
        return [
          td(h('code', { class: 'cellar-column' }, c.name)),
          td(c.type),
          td(st ? num(st.nulls) : '—'),
          td(st ? `${num(st.distinct)}${st.distinctAtLeast ? '+' : ''}` : '—'),
          td(v(st?.min)),
          td(v(st?.max)),
          td(isDate ? '—' : num(st?.mean)),
          td(
            st?.histogram
              ? raw(histogramSvg(st.histogram.counts))
              : st?.top
                ? st.top.map((t) => `${t.value} (${num(t.count)})`).join(', ')
                : '—',
          ),
        ];
      }),
      'cellar-table cellar-columns',
    ),
  );
}

/** A 10-bar histogram as a tiny inline SVG (bar heights relative to the tallest bin). */
export function histogramSvg(counts: number[]): string {
  const w = 8;
  const hgt = 24;
  const top = Math.max(1, ...counts);
  const bars = counts
    .map((c, i) => {
      const bh = c === 0 ? 0 : Math.max(1, Math.round((c / top) * hgt));
      return `<rect x="${i * w}" y="${hgt - bh}" width="${w - 1}" height="${bh}"><title>${c}</title></rect>`;
    })
    .join('');
  return `<svg class="cellar-histogram" width="${counts.length * w}" height="${hgt}" viewBox="0 0 ${counts.length * w} ${hgt}" role="img" aria-label="histogram">${bars}</svg>`;
}

/** Tasks listed on a pipeline page when there are at most this many (else: by section). */
export const TASK_TABLE_LIMIT = 200;
/** Readers listed per param before "and N more". */
const READER_LIMIT = 20;

/** A pipeline's params, tasks and DAG, under its prose. */
export function pipelinePanel(
  p: PipelineDoc,
  dagSvg: string | undefined,
  url: TaskUrl,
  historyUrl: string | undefined,
): JSX.Element {
  const ran = p.tasks.filter((t) => t.lastRun).length;
  return h(
    'div',
    { class: 'cellar-pipeline' },
    section(
      'Params',
      'cellar-params',
      p.params.length === 0
        ? h('p', null, h('em', null, 'No params.'))
        : paramsTable(
            'read by',
            p.params.map((q) => ({
              name: q.name,
              type: q.type,
              default: q.default,
              last: [
                list(q.readers.slice(0, READER_LIMIT), url, 'no task'),
                q.readers.length > READER_LIMIT
                  ? ` and ${q.readers.length - READER_LIMIT} more`
                  : '',
              ],
            })),
          ),
    ),
    section(
      'Tasks',
      'cellar-tasks',
      h(
        'p',
        null,
        `${p.tasks.length} tasks, ${ran} with a recorded run. `,
        historyUrl ? h('a', { href: historyUrl }, `Run history (${p.runs.length} runs)`) : null,
      ),
      currency(p),
      p.tasks.length <= TASK_TABLE_LIMIT
        ? table(
            ['task', 'upstream', 'outputs', 'last run'],
            p.tasks.map((t) => [
              td(taskLink(t.name, url)),
              td(list(t.upstream, url, '—')),
              td(t.outputs.map((o) => o.name).join(', ')),
              t.lastSkipped
                ? h(
                    'td',
                    { class: 'cellar-failed' },
                    `not run in its last run (${when(t.lastSkipped.at)}): ${t.lastSkipped.why}`,
                  )
                : t.lastFailure
                  ? h(
                      'td',
                      { class: 'cellar-failed' },
                      `failed in its last run (${when(t.lastFailure.at)}): ${firstLine(t.lastFailure.error)}`,
                    )
                  : td(
                      t.lastRun
                        ? `${when(t.lastRun.finishedAt)}, ${duration(t.lastRun.durationMs)}`
                        : 'not run yet',
                    ),
            ]),
          )
        : h('p', null, 'Too many to list on one page: the sections in the navigation list them.'),
    ),
    section(
      'DAG',
      'cellar-dag',
      dagSvg
        ? h('figure', { class: 'cellar-dag-svg' }, raw(svgWithLinks(dagSvg, url)))
        : h(
            'p',
            null,
            `${p.tasks.length} tasks are too many for one readable picture: each task page draws its own neighbourhood.`,
          ),
    ),
  );
}

/** The run history as a Markdown table (a TypeDoc document), newest run first. */
export function historyMarkdown(p: PipelineDoc): string {
  const lines = [
    `Every recorded \`cellar run\` of ${mdText(p.name)} that ran a task (newest first; a run that served every task from the cache is not listed): its params, each task's status and duration, and the scalar metrics the tasks output.`,
    '',
  ];
  if (p.runs.length === 0)
    return [
      ...lines,
      `*No runs recorded yet.* Run ${mdCode(`cellar run ${p.notebook}`)} and build the site again.`,
    ].join('\n');
  const params = [...new Set(p.runs.flatMap((r) => Object.keys(r.params)))].sort();
  const metrics = [...new Set(p.runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  const perTask = p.tasks.length <= 12;
  const taskCols = perTask ? p.tasks.map((t) => t.name) : [];
  const header = [
    'run',
    'status',
    'duration',
    ...params.map((x) => `param ${x}`),
    ...taskCols.map((t) => `task ${t}`),
    ...(perTask ? [] : ['tasks']),
    ...metrics,
  ];
  // Every cell is literal text or a code span, escaped (md.ts): names and values are the user's.
  lines.push(`| ${header.map(mdText).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  for (const r of [...p.runs].reverse()) {
    const status = r.ok === undefined ? 'unfinished' : r.ok ? 'ok' : 'failed';
    const byTask = new Map(r.tasks.map((t) => [t.name, t]));
    const cell = (t: RunRecord['tasks'][number] | undefined) =>
      mdText(!t ? '—' : t.status === 'ran' ? `ran ${duration(t.durationMs)}` : t.status);
    const counts = () => {
      const c = { ran: 0, cached: 0, failed: 0, 'not-run': 0 };
      for (const t of r.tasks) c[t.status]++;
      return mdText(`${c.ran} ran, ${c.cached} cached, ${c.failed} failed`);
    };
    const row = [
      mdText(when(r.startedAt)),
      status,
      mdText(duration(r.durationMs)),
      ...params.map((x) => (x in r.params ? mdCode(JSON.stringify(r.params[x]), true) : '—')),
      ...taskCols.map((t) => cell(byTask.get(t))),
      ...(perTask ? [] : [counts()]),
      ...metrics.map((m) => (m in r.metrics ? mdText(num(r.metrics[m])) : '—')),
    ];
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

export const CELLAR_CSS = `
.cellar-section { padding: 0.5rem 1rem; margin: 1rem 0; }
.cellar-table { border-collapse: collapse; margin: 0.5rem 0; }
.cellar-table th, .cellar-table td { border: 1px solid var(--color-accent); padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
.cellar-histogram rect { fill: var(--color-link, #2563eb); }
.cellar-lineage-svg svg, .cellar-dag-svg svg { max-width: 100%; height: auto; }
.cellar-not-run strong, .cellar-check-failed, .cellar-failed strong, td.cellar-failed { color: #b91c1c; }
.cellar-check-passed { color: #15803d; }
`;
