// Baselines of the text people read (the TypeScript `.errors.txt` habit): the run summary, the
// `--dry-run` plan, the failure lines and `cellar tree`. Each is compared whole with a file in
// test/cli/baselines/; `UPDATE_BASELINES=1 npx vitest run test/cli/baselines.test.ts` rewrites
// them, and the diff is reviewed like code. Keys, durations, clock times and temp paths are
// replaced by placeholders so the text is the same on every machine and every run.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineTask, definePipeline, output, MemoryStore, type RunEvent } from 'cellar';
import { runPipeline } from '../../runtime/run/run.js';
import { formatEvent, formatPlan, formatSummary } from '../../runtime/run/summary.js';
import { run as tree } from '../../cli/commands/tree.js';

const here = fileURLToPath(new URL('.', import.meta.url));

function normalize(text: string, paths: Record<string, string> = {}): string {
  let out = text;
  for (const [path, name] of Object.entries(paths)) out = out.split(path).join(name);
  return out
    .replace(/\b[0-9a-f]{12,64}\b/g, '<key>')
    .replace(/\b\d\d:\d\d:\d\d\b/g, '<time>')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, '<duration>')
    .replace(/\b\d{4}-\d\d-\d\dT[\d:.]+Z\b/g, '<timestamp>');
}

function expectBaseline(name: string, text: string): void {
  const file = join(here, 'baselines', name);
  if (process.env.UPDATE_BASELINES) writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  expect(existsSync(file), `${file} is missing: run with UPDATE_BASELINES=1 and review it`).toBe(
    true,
  );
  expect(text.endsWith('\n') ? text : `${text}\n`).toBe(readFileSync(file, 'utf8'));
}

function shop() {
  const orders = defineTask({
    name: 'orders',
    params: { days: { type: 'number', default: 7 } },
    inputs: {},
    outputs: { rows: {} },
    run: (_i, { days }) => ({
      rows: Array.from({ length: days }, (_, i) => ({ day: i, amount: i * 10 })),
    }),
  });
  const total = defineTask({
    name: 'total',
    params: {},
    inputs: { rows: output(orders, 'rows') },
    outputs: { sum: {} },
    run: ({ rows }) => ({ sum: rows.reduce((s, r) => s + r.amount, 0) }),
  });
  const forecast = defineTask({
    name: 'forecast',
    params: {},
    inputs: { rows: output(orders, 'rows') },
    outputs: { next: {} },
    run: (): { next: number } => {
      throw new Error('model file missing: models/forecast.json');
    },
  });
  const report = defineTask({
    name: 'report',
    params: {},
    inputs: { sum: output(total, 'sum'), next: output(forecast, 'next') },
    outputs: { text: {} },
    run: ({ sum, next }) => ({ text: `${sum} ${next}` }),
  });
  return definePipeline({ name: 'shop', tasks: [orders, total, forecast, report] });
}

afterEach(() => vi.restoreAllMocks());

describe('baselines of what users read', () => {
  it('run: event lines and the summary of a run with a failure and its downstream not run', async () => {
    const events: RunEvent[] = [];
    const { result } = await runPipeline({
      pipeline: shop(),
      store: new MemoryStore(),
      workers: 1,
      keepGoing: true,
      codeAware: false,
      onEvent: (e) => events.push(e),
    });
    const lines = events
      .map((e) => formatEvent(e))
      .filter(Boolean)
      .join('\n');
    expectBaseline('run-failure.txt', normalize(`${lines}\n\n${formatSummary(result!)}`));
  });

  it('--dry-run: the plan with reasons, after a param change', async () => {
    const store = new MemoryStore();
    await runPipeline({ pipeline: shop(), store, workers: 1, keepGoing: true, codeAware: false });
    const { prepared } = await runPipeline({
      pipeline: shop(),
      store,
      params: { days: 3 },
      dryRun: true,
      codeAware: false,
    });
    expectBaseline('dry-run.txt', normalize(formatPlan(prepared.plan, { showCached: true })));
  });

  it('cellar tree: a pipeline that has not run', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cellar-tree-'));
    const pipeline = join(here, '../runtime/fixtures/basic/pipeline.ts');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await tree([pipeline, '--workspace', workspace])).toBe(0);
    const text = log.mock.calls.map((c) => String(c[0])).join('\n');
    expectBaseline('tree-not-run.txt', normalize(text, { [workspace]: '<workspace>' }));
  });
});
