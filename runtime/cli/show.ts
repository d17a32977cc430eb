// `cellar show <pipeline> <task> [output]`: print a stored output without running anything.
// Tables print as an aligned preview (first rows, shape, column types); `--json` prints the value
// itself for machines. Exit 1 when the task has no stored result for these params.
import { preparePipelineRun } from '../run.js';
import { readOutput } from '../perform.js';
import type { OutputSchema } from '../types.js';
import { CliError, EXIT } from './errors.js';
import { openPipeline, parseOrUsage, parseParams, toCliError } from './pipeline-args.js';
import { describeSchema } from './tree.js';

const USAGE = `usage: cellar show <pipeline.ts|notebook.ipynb> <task> [output] [options]

Print a task's cached outputs (tables as a preview). Runs nothing; exit 1 if it is not cached.

  --param k=v        the params whose result to show (repeatable)
  --rows N           rows of a table preview (default 10)
  --json             print the values as JSON
  --workspace DIR    where outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)`;

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const { values, positionals } = parseOrUsage({
    args,
    allowPositionals: true,
    options: {
      param: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
      rows: { type: 'string', default: '10' },
      workspace: { type: 'string' },
    },
  });
  const [pipelineArg, taskName, outputName] = positionals;
  if (!taskName) throw new CliError(`a task name is needed\n\n${USAGE}`, 'E_USAGE');
  const { pipeline, file } = await openPipeline(pipelineArg);
  let prepared;
  try {
    prepared = await preparePipelineRun({ pipeline, pipelineFile: file, params: parseParams(values.param, pipeline), workspace: values.workspace }, false);
  } catch (error) {
    throw toCliError(error);
  }
  const { graph, keys, options } = prepared;
  const node = graph.byName.get(taskName);
  if (!node) throw new CliError(`unknown task '${taskName}' (tasks: ${[...graph.byName.keys()].join(', ')})`, 'E_UNKNOWN_TASK');
  const key = keys.get(taskName)!.value;
  const manifest = await options.store.readManifest(taskName, key);
  if (!manifest) throw new CliError(`'${taskName}' has no stored result for these params (key ${key}); run the pipeline first`, 'E_NOT_CACHED', EXIT.failure);
  const names = outputName ? [outputName] : Object.keys(manifest.outputs);
  for (const name of names) if (!manifest.outputs[name]) throw new CliError(`task '${taskName}' has no output '${name}' (outputs: ${Object.keys(manifest.outputs).join(', ')})`, 'E_UNKNOWN_OUTPUT');

  const limit = Math.max(1, Number(values.rows) || 10);
  const json: Record<string, unknown> = {};
  for (const name of names) {
    const stored = manifest.outputs[name]!;
    const value = await readOutput(options.store, node.task, name, stored);
    if (values.json) {
      json[name] = toJsonSafe(value);
      continue;
    }
    console.log(`${taskName}.${name}  ${describeSchema(stored.schema)}\n  ${options.store.outputPath(taskName, stored.file)}\n`);
    console.log(preview(value, stored.schema, limit));
    console.log('');
  }
  if (values.json) console.log(JSON.stringify(outputName ? json[outputName] : json));
  return EXIT.ok;
}

function toJsonSafe(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>, (v) => (typeof v === 'bigint' ? String(v) : v));
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSafe(v)]));
  }
  return value;
}

function preview(value: unknown, schema: OutputSchema, limit: number): string {
  if (schema.kind === 'table') {
    const columns = schema.columns.map((c) => c.name);
    const rows: unknown[][] = [];
    for (let i = 0; i < Math.min(limit, schema.rows); i++) {
      rows.push(schema.shape === 'records' ? columns.map((c) => (value as Record<string, unknown>[])[i]![c]) : columns.map((c) => (value as Record<string, ArrayLike<unknown>>)[c]![i]));
    }
    const cell = (v: unknown) => (v === null || v === undefined ? '∅' : v instanceof Date ? v.toISOString() : typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : String(v));
    const text = [columns, ...rows.map((r) => r.map(cell))];
    const widths = columns.map((_, j) => Math.min(30, Math.max(...text.map((r) => String(r[j]).length))));
    const fmt = (r: unknown[]) => r.map((v, j) => String(v).slice(0, 30).padEnd(widths[j]!)).join('  ');
    const out = [fmt(text[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...text.slice(1).map(fmt)];
    if (schema.rows > limit) out.push(`… ${schema.rows - limit} more rows (${schema.rows} × ${columns.length})`);
    return out.join('\n');
  }
  if (schema.kind === 'text') return String(value);
  if (schema.kind === 'binary') {
    const bytes = value as Uint8Array;
    return `${bytes.byteLength} bytes: ${Buffer.from(bytes.subarray(0, 32)).toString('hex')}${bytes.byteLength > 32 ? '…' : ''}`;
  }
  const text = JSON.stringify(schema.kind === 'model' && (value as { toJSON?: () => unknown })?.toJSON ? (value as { toJSON: () => unknown }).toJSON() : value, null, 2) ?? String(value);
  const lines = text.split('\n');
  return lines.length > 40 ? `${lines.slice(0, 40).join('\n')}\n… (${lines.length - 40} more lines; --json for all)` : text;
}
