// What generated tests call (through the public 'cellar' entry): `checkPipeline` for the graph
// test of each pipeline, and the replay, schema and empty-input checks over a task's fixture
// (generated/<notebook>/__fixtures__/<task>.fixture.json, written by `cellar fixtures`).
//
// Each check runs the task's own function (`task.run(inputs, params)`) in memory, on the
// recorded inputs, with no store, no cache and no warehouse, and throws an AssertionError whose
// message names the output, row and column that differ.
import { AssertionError } from 'node:assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildGraph } from '../run/graph.js';
import { diagnosticsError } from '../errors.js';
import type { AnyTask, Pipeline } from '../task.js';
import {
  compareOutputs,
  compareSchemas,
  decodeFixture,
  describeDifference,
  emptyLike,
  schemaOf,
  type Fixture,
} from './fixture.js';
import { compareDigests } from './digest.js';
import { runSqlTaskOnSample } from './warehouse-replay.js';

/**
 * Build `pipeline`'s graph with its default params, resolving every task's upstream tasks,
 * inputs (each names a declared output of a task of the expected family) and output codecs,
 * without running a task or opening a warehouse.
 *
 * @returns the task names in the order a run would start them, and each task's upstream names.
 * @throws CellarError carrying every problem found (`E_UNKNOWN_OUTPUT`, `E_WRONG_TASK_TYPE`,
 *   `E_UNKNOWN_CODEC`, `E_DEPENDENCY_CYCLE`, `E_PARAM_TYPE`, …) in `diagnostics`.
 */
export function checkPipeline(pipeline: Pipeline): {
  tasks: string[];
  upstream: Record<string, string[]>;
} {
  const { graph, diagnostics } = buildGraph(pipeline);
  if (!graph) throw diagnosticsError(diagnostics);
  return {
    tasks: graph.nodes.map((n) => n.name),
    upstream: Object.fromEntries(graph.nodes.map((n) => [n.name, [...n.upstream]])),
  };
}

/** Read and decode a fixture file. @throws CellarError E_FIXTURE_FORMAT for a file that is not one. */
export function readFixture(file: URL | string): Fixture {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  return decodeFixture(readFileSync(path, 'utf8'), path);
}

/**
 * Run the task's function on the fixture's inputs and params; returns its outputs. A SQL task's
 * fixture carries its sampled tables: they are loaded into an in-memory DuckDB (empty, with
 * `emptyTables`) and the task's SQL runs there (warehouse-replay.ts).
 */
export async function replayTask(
  task: AnyTask,
  fixture: Fixture,
  inputs: Record<string, unknown> = fixture.inputs,
  emptyTables = false,
): Promise<Record<string, unknown>> {
  const out = fixture.warehouse
    ? await runSqlTaskOnSample(task, fixture.params, inputs, fixture.warehouse, {
        empty: emptyTables,
      })
    : await task.run(inputs as never, fixture.params as never);
  if (out === null || typeof out !== 'object')
    throw new AssertionError({
      message: `task '${task.name}' returned ${String(out)}, not an object of its outputs`,
    });
  return out as Record<string, unknown>;
}

/**
 * Replay the task on its recorded inputs and compare with the recorded outputs (tables row by
 * row, floats within the fixture's `tolerance`, NaN equal to NaN, Maps, Sets, Dates, typed arrays);
 * an output recorded as a digest (over the byte budget) compares exactly, part by part.
 * @throws AssertionError listing the first differences: `output 'x', row 3, column 'y': expected …, got …`.
 */
export async function assertReplay(task: AnyTask, fixture: Fixture): Promise<void> {
  const actual = await replayTask(task, fixture);
  const digested = fixture.digests ?? {};
  const compared = Object.fromEntries(
    Object.entries(actual).filter(([k]) => !Object.hasOwn(digested, k)),
  );
  const diffs = [
    ...compareOutputs(compared, fixture.outputs, fixture.tolerance).map(describeDifference),
    ...compareDigests(actual, digested),
  ];
  if (diffs.length === 0) return;
  throw new AssertionError({
    message:
      `task '${task.name}' no longer gives the recorded outputs (tolerance ${fixture.tolerance}); ` +
      `if the change is intended, run \`cellar fixtures\` again:\n  ${diffs.join('\n  ')}`,
  });
}

/**
 * Replay the task and check each output's recorded schema: a table keeps its columns, their types
 * and nullability; another value keeps its type. Values are not compared.
 * @throws AssertionError naming each output and column whose schema changed.
 */
export async function assertReplaySchemas(task: AnyTask, fixture: Fixture): Promise<void> {
  const problems = compareSchemas(await replayTask(task, fixture), fixture.schemas);
  if (problems.length > 0)
    throw new AssertionError({
      message: `task '${task.name}': outputs changed schema:\n  ${problems.join('\n  ')}`,
    });
}

/**
 * Give every table input an empty table of its recorded schema (other inputs as recorded); for
 * a SQL task, every warehouse table it reads is created with its recorded columns and no rows.
 * With `refuses: false` the task must return every recorded output, each of the same kind
 * (a table stays a table, a number a number, or null from a SQL task's aggregate of no rows);
 * with `refuses: true` (the `//| empty: error`
 * directive) it must throw an Error with a message, not crash with a TypeError or RangeError.
 * @throws AssertionError saying which of those did not hold.
 */
export async function assertEmptyInput(
  task: AnyTask,
  fixture: Fixture,
  options: { refuses: boolean },
): Promise<void> {
  const inputs: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fixture.inputs))
    inputs[name] = emptyLike(value, fixture.inputSchemas[name]);
  let outputs: Record<string, unknown>;
  try {
    outputs = await replayTask(task, fixture, inputs, true);
  } catch (error) {
    if (!options.refuses)
      throw new AssertionError({
        message: `task '${task.name}' crashed on empty input tables (mark it \`//| empty: error\` if empty input is meaningless): ${String(error)}`,
      });
    const e = error as Error;
    if (!(e instanceof Error) || e instanceof TypeError || e instanceof RangeError || !e.message) {
      throw new AssertionError({
        message: `task '${task.name}' is marked \`//| empty: error\` but fails on empty input with ${String(e)}, not a clear error (throw an Error saying the input is empty)`,
      });
    }
    return;
  }
  if (options.refuses)
    throw new AssertionError({
      message: `task '${task.name}' is marked \`//| empty: error\` but accepted empty input tables`,
    });
  const problems: string[] = [];
  for (const [output, want] of Object.entries(fixture.schemas)) {
    if (!Object.hasOwn(outputs, output) || outputs[output] === undefined) {
      problems.push(`output '${output}' is missing`);
      continue;
    }
    // SQL's value for an aggregate over no rows is NULL (DuckDB; BigQuery raises on 0/0): a SQL
    // task's single value may come back null. Its tables must still be tables.
    if (fixture.warehouse && want.kind === 'value' && outputs[output] === null) continue;
    const got = schemaOf(outputs[output]);
    // An empty row table has no columns to see; a table must still come back as an array.
    const gotKind =
      got.kind === 'table' || (want.kind === 'table' && Array.isArray(outputs[output]))
        ? 'table'
        : `a ${got.type}`;
    const wantKind = want.kind === 'table' ? 'table' : `a ${want.type}`;
    if (
      gotKind !== wantKind &&
      !(want.kind === 'value' && want.type === 'array' && Array.isArray(outputs[output]))
    )
      problems.push(`output '${output}': expected ${wantKind}, got ${gotKind}`);
  }
  if (problems.length > 0)
    throw new AssertionError({
      message: `task '${task.name}' on empty input tables returns the wrong shape:\n  ${problems.join('\n  ')}`,
    });
}
