// `cellar show <pipeline> <task> [output]`: print a stored output without running anything.
// Tables print as an aligned preview (first rows, shape, column types); `--json` prints the value
// itself for machines. Exit 1 when the task has no stored result for these params.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { modulePath } from '../../runtime/key/module-path.js';
import type { AnyTask } from '../../runtime/task.js';
import { suggest } from '../../runtime/suggest.js';
import {
  damagedOutputError,
  markDamaged,
  missingOutputText,
  readOutput,
} from '../../runtime/run/perform.js';
import type { OutputSchema } from '../../runtime/types.js';
import { CliError, EXIT } from '../errors.js';
import {
  INSPECT_OPTIONS,
  openForInspection,
  runCommandFor,
  unknownTask,
} from '../pipeline-args.js';
import { defineCommand, type CommandInput } from '../command.js';
import { describeSchema } from '../../runtime/run/summary.js';
import { describeLastRun, lastRuns } from '../../runtime/run/last-run.js';
import { envValuesText } from '../../compiler/plan/json.js';

const USAGE = `usage: cellar show <pipeline.ts|notebook.ipynb> <task> [output] [options]
       cellar show <pipeline.ts|notebook.ipynb> <task>.<output> [options]

Print a task's cached outputs (tables as a preview). Runs nothing; exit 1 if it is not cached.

  --param k=v        the params whose result to show (repeatable)
  --rows N           rows of a table preview (default 10)
  --json             print the values as JSON
  --workspace DIR    where outputs live (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --workdir DIR      the folder the run's tasks ran in (--workdir of cellar run): a task reading
                     data by path is keyed on it`;

const OPTIONS = { ...INSPECT_OPTIONS, rows: { type: 'string', default: '10' } } as const;

export const run = defineCommand({ usage: USAGE, options: OPTIONS, run: showOutputs });

async function showOutputs({ values, positionals }: CommandInput<typeof OPTIONS>): Promise<number> {
  const { prepared } = await openForInspection(
    { values, positionals },
    { usage: USAGE, required: ['task name'], reasons: false },
  );
  const { graph, keys, options } = prepared;
  const [taskName, outputName] = taskAndOutput(
    positionals as [string, string, string | undefined],
    graph.byName,
  );
  const node = graph.byName.get(taskName);
  if (!node) throw unknownTask(taskName, prepared);
  // What the task declares decides whether an output exists, before asking whether it is cached.
  const declared = Object.keys(node.task.outputs);
  if (outputName !== undefined && !declared.includes(outputName)) {
    throw new CliError(
      `task '${taskName}' has no output '${outputName}'${suggest(outputName, declared)} (outputs: ${declared.join(', ') || 'none'})${notAnOutput(node.task, outputName)}`,
      'E_UNKNOWN_OUTPUT',
    );
  }
  const key = keys.get(taskName)!.value;
  const manifest = await options.store.readManifest(taskName, key);
  if (!manifest) {
    // A task whose last run failed has no result for a reason the user wants first (as tree says).
    const last = lastRuns(options.store, prepared.plan).get(taskName);
    const verb = last?.kind === 'not-run' ? 'was ' : last?.kind === 'running' ? 'is ' : '';
    const happened = last ? `: it ${verb}${describeLastRun(last, key)}.` : ':';
    throw new CliError(
      `'${taskName}' has no stored result for these params and inputs (key ${key})${happened} \`${runCommandFor(positionals[0]!, values, '--dry-run')}\` says what changed since its last stored run, \`${runCommandFor(positionals[0]!, values)}\` computes it`,
      'E_NOT_CACHED',
      EXIT.failure,
    );
  }
  // A result one of whose output files is gone is not stored (the next run re-makes it); one
  // whose file is not what its run wrote is damaged, and no longer served either.
  const gone = await options.store.missingOutput?.(taskName, key);
  if (gone?.damaged !== undefined) {
    const stored = manifest.outputs[gone.output];
    if (stored) await markDamaged(options.store, taskName, key, gone.output, stored, gone.damaged);
    throw damagedOutputError(options.store, node.task, gone.output, gone.file, gone.damaged);
  }
  if (gone)
    throw new CliError(
      `'${taskName}' has no complete stored result for these params (key ${key}): ${missingOutputText(taskName, gone)}`,
      'E_NOT_CACHED',
      EXIT.failure,
    );
  const names = outputName ? [outputName] : Object.keys(manifest.outputs);
  // Printing nothing at all read as a failure to find it.
  if (names.length === 0 && !values.json) {
    const fromEnv = envValuesOf(node.task);
    console.log(
      fromEnv.length > 0
        ? `task '${taskName}' is stored (key ${key}) but has no outputs to show: ${envValuesText(fromEnv)}`
        : `task '${taskName}' is stored (key ${key}) but has no outputs to show: it declares no values (functions and types are code, which the tasks using them import)`,
    );
    return EXIT.ok;
  }

  const limit = Math.max(1, Number(values.rows) || 10);
  const json: Record<string, unknown> = {};
  for (const name of names) {
    const stored = manifest.outputs[name]!;
    const value = await readOutput(options.store, node.task, name, stored, key);
    if (values.json) {
      json[name] = value;
      continue;
    }
    console.log(
      `${taskName}.${name}  ${describeSchema(stored.schema, stored.codec)}\n  ${options.store.outputPath(taskName, stored.file)}\n`,
    );
    console.log(preview(value, stored.schema, limit));
    console.log('');
  }
  if (values.json) await writeJson(outputName ? json[outputName] : json);
  return EXIT.ok;
}

/**
 * The task and output named: `<task> [output]`, or `<task>.<output>` as the output's heading
 * prints it (`values.map`) when no task has that whole name. Task names may hold dots too: of the
 * splits at each dot, the one whose task declares that output is taken (`a.b.c`: task `a.b`'s
 * output `c`, or task `a`'s output `b.c`); two such splits are refused as ambiguous, and with
 * none the longest task name that exists is kept, for its error.
 * @throws CliError E_USAGE for an output given twice or an ambiguous name.
 */
function taskAndOutput(
  [, name, output]: [string, string, string | undefined],
  tasks: ReadonlyMap<string, { task: { outputs: object } }>,
): [string, string | undefined] {
  if (tasks.has(name) || !name.includes('.')) return [name, output];
  const splits: [string, string][] = [];
  for (let dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1))
    if (tasks.has(name.slice(0, dot))) splits.push([name.slice(0, dot), name.slice(dot + 1)]);
  if (splits.length === 0) return [name, output];
  if (output !== undefined)
    throw new CliError(
      `'${name}' names task '${splits[0]![0]}' and its output '${splits[0]![1]}', and '${output}' names an output again: give the output once (\`${name}\` or \`${splits[0]![0]} ${splits[0]![1]}\`)`,
      'E_USAGE',
      EXIT.usage,
    );
  const declaring = splits.filter(([task, out]) =>
    Object.hasOwn(tasks.get(task)!.task.outputs, out),
  );
  if (declaring.length > 1)
    throw new CliError(
      `'${name}' could be ${declaring.map(([t, o]) => `task '${t}' output '${o}'`).join(' or ')}: give the task and the output apart (${declaring.map(([t, o]) => `\`${t} ${o}\``).join(' or ')})`,
      'E_USAGE',
      EXIT.usage,
    );
  return declaring[0] ?? splits[0]!;
}

/**
 * Why a value the task's cells compute is not stored: a compiled notebook's task stores only the
 * top-level values a later task reads (the compiler's dependency inference) and those a
 * `//| output:` directive declares, so `const capped = …` read by no one is left out by design.
 * Empty when `name` is not declared at the top level of the task's generated module.
 */
function notAnOutput(task: AnyTask, name: string): string {
  if (!task.module || !task.source) return '';
  let text: string;
  try {
    text = readFileSync(modulePath(task.module), 'utf8');
  } catch {
    return '';
  }
  const declaredHere = new RegExp(
    `^\\s*(?:const|let|var|function\\*?|class|async function)\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w$])`,
    'm',
  );
  if (!declaredHere.test(text)) return '';
  if (envValuesIn(text).includes(name)) return `. ${envValuesText([name])}`;
  return `. '${name}' is a value of the task's cells that no later task reads, so it is not stored: declare it with \`//| output: ${name}=auto\` under \`//| task: ${task.name}\` and run again to store it`;
}

/**
 * The values of a compiled notebook's task left out of its outputs because they hold a value read
 * from the environment (the compiler's decision: compiler/plan/link.ts `deriveOutputs`, with
 * `fromEnv` from compiler/analyze/cell.ts), read back from its generated module. Empty when the
 * module cannot be read or is not a compiled notebook's.
 */
function envValuesOf(task: AnyTask): string[] {
  if (!task.module || !task.source) return [];
  try {
    return envValuesIn(readFileSync(modulePath(task.module), 'utf8')).filter(
      (name) => !Object.hasOwn(task.outputs, name),
    );
  } catch {
    return [];
  }
}

/** The names a generated task module declares with an initializer reading `process.env` or
 *  `Deno.env` (the compiler's test, on the declaration's text up to the next statement). */
function envValuesIn(text: string): string[] {
  const lines = text.split('\n');
  const names: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:const|let|var)\s+([\w$]+)\b[^=]*=(.*)$/.exec(lines[i]!);
    if (!m) continue;
    let init = m[3]!;
    // Continuation lines: indented deeper, or closing what the declaration opened.
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j]!;
      const indent = /^\s*/.exec(line)![0].length;
      if (line.trim() === '' || (indent <= m[1]!.length && !/^\s*[)\]}.?:+\-*/|&]/.test(line)))
        break;
      init += '\n' + line;
    }
    if (/\b(?:process|Deno)\s*\.\s*env\b/.test(init)) names.push(m[2]!);
  }
  return names;
}

/**
 * The `--json` encoding, valid JSON for every stored value (documented in README.md):
 * JSON values as they are; -0 as `-0` (valid JSON, which JSON.stringify would print as 0); NaN,
 * Infinity and -Infinity as the strings "NaN", "Infinity", "-Infinity"; a BigInt as a string of
 * its digits; a Date as its ISO string; a Map with string keys as an object, any other Map as
 * [key, value] pairs; a Set or a typed array as an array; undefined (an array hole, an absent
 * value) as null; a class instance as its toJSON() gives it, else as its own enumerable fields,
 * each encoded by these same rules. A reference back to a value that contains it (a cycle) is
 * the string "[Circular $.path]" naming that value's path from the root `$`, as the non-JSON
 * view marks it `[Circular *1]`; a value shared without a cycle prints in full at each place.
 */
export function toJsonText(value: unknown): string {
  return [...jsonChunks(value)].join('');
}

/**
 * `toJsonText` in parts, each a value's opening or closing bracket, a key, or a leaf's JSON: a
 * large output (millions of strings) makes a text longer than V8's longest string ("Invalid
 * string length"), so `cellar show --json` writes the parts as they come (`writeJson`).
 */
export function* jsonChunks(value: unknown): Generator<string> {
  yield* jsonParts(toJsonSafe(value));
}

/** The parts of a value `toJsonSafe` made (arrays, plain objects and JSON leaves). */
function* jsonParts(value: unknown): Generator<string> {
  // What JSON.stringify leaves out of an object and writes as null in an array.
  const absent = (v: unknown) =>
    v === undefined || typeof v === 'function' || typeof v === 'symbol';
  if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      const item: unknown = value[i];
      if (absent(item)) yield 'null';
      else yield* jsonParts(item);
    }
    yield ']';
  } else if (value !== null && typeof value === 'object') {
    yield '{';
    let first = true;
    for (const [key, item] of Object.entries(value)) {
      if (absent(item)) continue;
      yield `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      yield* jsonParts(item);
    }
    yield '}';
  } else yield value === NEGATIVE_ZERO ? '-0' : (JSON.stringify(value) ?? 'null');
}

/** Write `value`'s `--json` text and a newline to stdout in parts of about `batch` characters,
 *  waiting for the pipe to drain between them (`jsonChunks`). */
export async function writeJson(value: unknown, batch = 1 << 20): Promise<void> {
  let pending = '';
  const flush = async () => {
    const text = pending;
    pending = '';
    if (!process.stdout.write(text))
      await new Promise<void>((done) => process.stdout.once('drain', done));
  };
  for (const part of jsonChunks(value)) {
    pending += part;
    if (pending.length >= batch) await flush();
  }
  pending += '\n';
  await flush();
}

/** -0 travels through JSON.stringify as this string and is printed back as the number `-0`. */
const NEGATIVE_ZERO = '\u0000-0';

function toJsonSafe(value: unknown, path = '$', ancestors = new Map<object, string>()): unknown {
  if (typeof value === 'number')
    return Number.isFinite(value) ? (Object.is(value, -0) ? NEGATIVE_ZERO : value) : String(value);
  if (typeof value === 'bigint') return String(value);
  if (value === undefined) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value === null || typeof value !== 'object') return value;
  const cycle = ancestors.get(value);
  if (cycle !== undefined) return `[Circular ${cycle}]`;
  ancestors.set(value, path);
  try {
    const at = (key: string | number) =>
      typeof key === 'number'
        ? `${path}[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(key)
          ? `${path}.${key}`
          : `${path}[${JSON.stringify(key)}]`;
    if (value instanceof Map) {
      const entries = [...value].map(
        ([k, v], i) => [toJsonSafe(k, at(i), ancestors), toJsonSafe(v, at(i), ancestors)] as const,
      );
      return entries.every(([k]) => typeof k === 'string') ? Object.fromEntries(entries) : entries;
    }
    if (value instanceof Set) return [...value].map((v, i) => toJsonSafe(v, at(i), ancestors));
    // Array.from visits holes too (a hole of a sparse array prints as null, not skipped).
    if (Array.isArray(value)) return Array.from(value, (v, i) => toJsonSafe(v, at(i), ancestors));
    if (ArrayBuffer.isView(value) && !(value instanceof DataView))
      return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => toJsonSafe(v));
    // A class instance prints as its own toJSON gives it, else as its own fields: each field
    // through this same encoding, so a Map or a NaN inside an instance is not lost as {} or null.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    const own = typeof toJSON === 'function' ? toJSON.call(value) : value;
    if (own !== value) return toJsonSafe(own, path, ancestors);
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, toJsonSafe(v, at(k), ancestors)]),
    );
  } finally {
    ancestors.delete(value);
  }
}

/** A table cell's number: rounded to 6 decimals, with NaN, ±Infinity and -0 as themselves. */
function showNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Object.is(v, -0)) return '-0';
  return String(Math.round(v * 1e6) / 1e6);
}

function preview(value: unknown, schema: OutputSchema, limit: number): string {
  if (schema.kind === 'table') {
    const columns = schema.columns.map((c) => c.name);
    const rows: unknown[][] = [];
    for (let i = 0; i < Math.min(limit, schema.rows); i++) {
      rows.push(
        schema.shape === 'records'
          ? columns.map((c) => (value as Record<string, unknown>[])[i]![c])
          : columns.map((c) => (value as Record<string, ArrayLike<unknown>>)[c]![i]),
      );
    }
    const cell = (v: unknown) =>
      v === null || v === undefined
        ? '∅'
        : v instanceof Date
          ? v.toISOString()
          : typeof v === 'number'
            ? showNumber(v)
            : String(v);
    const text = [columns, ...rows.map((r) => r.map(cell))];
    const widths = columns.map((_, j) =>
      Math.min(30, Math.max(...text.map((r) => String(r[j]).length))),
    );
    const fmt = (r: unknown[]) =>
      r.map((v, j) => String(v).slice(0, 30).padEnd(widths[j]!)).join('  ');
    const out = [
      fmt(text[0]!),
      widths.map((w) => '─'.repeat(w)).join('  '),
      ...text.slice(1).map(fmt),
    ];
    if (schema.rows > limit)
      out.push(`… ${schema.rows - limit} more rows (${schema.rows} × ${columns.length})`);
    return out.join('\n');
  }
  if (schema.kind === 'text') return String(value);
  if (schema.kind === 'binary') {
    const bytes = value as Uint8Array;
    return `${bytes.byteLength} bytes: ${Buffer.from(bytes.subarray(0, 32)).toString('hex')}${bytes.byteLength > 32 ? '…' : ''}`;
  }
  // As the value is, not as JSON would have it: NaN, Infinity, -0, Map, Set, Date, BigInt,
  // typed arrays and undefined print as themselves (node:util's inspect, as the REPL shows them).
  const shown =
    schema.kind === 'model' && (value as { toJSON?: () => unknown })?.toJSON
      ? (value as { toJSON: () => unknown }).toJSON()
      : value;
  const text = inspect(shown, {
    depth: 8,
    maxArrayLength: 200,
    maxStringLength: 2000,
    breakLength: 100,
    compact: 3,
  });
  const lines = text.split('\n');
  return lines.length > 40
    ? `${lines.slice(0, 40).join('\n')}\n… (${lines.length - 40} more lines; --json for all)`
    : text;
}
