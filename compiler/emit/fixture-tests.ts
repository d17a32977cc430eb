// emitGraphTest and emitReplayTests: the tests Cellar writes without being asked (issue 12).
//
// - `pipeline.test.ts`: the graph of the pipeline builds with its default params, and every
//   task's upstream, inputs and codecs resolve, with nothing run and no warehouse opened.
// - `<task>.replay.test.ts`, for each task with a fixture in `__fixtures__/<task>.fixture.json`
//   (recorded by `cellar fixtures`): replay on the recorded inputs equals the recorded outputs,
//   the outputs keep their recorded schema, and empty input tables give outputs of the same shape
//   (or, with `//| empty: error`, a clear error).
//
// Which tasks have fixtures is an input of the compile (the host lists the folder), so compiling
// stays a function of what is on disk and `cellar compile --check` stays exact.
import type { EmittedFile } from '../types.js';
import { ImportSet, header, taskFile } from './module.js';
import { taskConst, type EmitContext } from './task.js';
import { fixtureFile } from '../fixture-names.js';

const literal = (value: unknown): string =>
  JSON.stringify(value).replace(/"([A-Za-z_$][\w$]*)":/g, '$1:');

export function emitGraphTest(ctx: EmitContext): EmittedFile {
  const { plan } = ctx;
  const imports = new ImportSet();
  imports.add('node:assert/strict', 'default', 'assert', false);
  imports.add('cellar', 'checkPipeline', 'checkPipeline', false);
  imports.add('vitest', 'test', 'test', false);
  imports.add('./pipeline.js', 'default', 'pipeline', false);
  const names = plan.tasks.map((t) => t.name).sort();
  const upstream = Object.fromEntries(
    plan.tasks.map((t) => [t.name, [...t.upstream].sort()]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
  );
  const body =
    `test(${literal(`${plan.stem}: the graph builds with default params, every upstream and codec resolved`)}, () => {\n` +
    `// Builds the DAG only: no task runs, no warehouse is opened.\n` +
    `const graph = checkPipeline(pipeline);\n` +
    `assert.deepEqual([...graph.tasks].sort(), ${literal(names)});\n` +
    `assert.deepEqual(graph.upstream, ${literal(upstream)});\n});`;
  return {
    path: `${plan.stem}/pipeline.test.ts`,
    contents: [header(plan, []), imports.print(), body].join('\n\n') + '\n',
  };
}

/** One `<task>.replay.test.ts` per task named in `fixtures` (tasks with a recorded fixture). */
export function emitReplayTests(ctx: EmitContext, fixtures: readonly string[]): EmittedFile[] {
  const { plan } = ctx;
  const files: EmittedFile[] = [];
  for (const task of plan.tasks) {
    if (!fixtures.includes(task.name)) continue;
    const refuses = task.cells.some((i) => ctx.cells.get(i)?.directives.empty === 'error');
    const local = taskConst(plan, task.name);
    const imports = new ImportSet();
    imports.add('node:url', 'fileURLToPath', 'fileURLToPath', false);
    for (const fn of ['assertEmptyInput', 'assertReplay', 'assertReplaySchemas', 'readFixture'])
      imports.add('cellar', fn, fn, false);
    imports.add('vitest', 'beforeAll', 'beforeAll', false);
    imports.add('vitest', 'test', 'test', false);
    imports.add(`./${taskFile(task.name)}.js`, local, local, false);
    const title = (what: string) => literal(`${task.name}: ${what}`);
    const text = [
      header(
        plan,
        task.cells.map((i) => ctx.cells.get(i)!),
      ),
      imports.print(),
      `// Recorded by \`cellar fixtures\` from the last successful run; run it again after an intended change.\n` +
        `const fixture = readFixture(new URL(${literal(`./${fixtureFile(task.name)}`)}, import.meta.url));\n\n` +
        `// Tasks resolve relative paths from the notebook's folder, as they did in Jupyter.\n` +
        `beforeAll(() => process.chdir(fileURLToPath(new URL(${literal(ctx.workdir.replace(/\/?$/, '/'))}, import.meta.url))));`,
      `test(${title('replay of recorded inputs gives the recorded outputs')}, async () => {\nawait assertReplay(${local}, fixture);\n});`,
      `test(${title('outputs keep their recorded schema')}, async () => {\nawait assertReplaySchemas(${local}, fixture);\n});`,
      refuses
        ? `test(${title('empty input tables are refused with a clear error (`//| empty: error`)')}, async () => {\nawait assertEmptyInput(${local}, fixture, { refuses: true });\n});`
        : `test(${title('empty input tables give outputs of the recorded shape')}, async () => {\nawait assertEmptyInput(${local}, fixture, { refuses: false });\n});`,
    ];
    files.push({
      path: `${plan.stem}/${taskFile(task.name)}.replay.test.ts`,
      contents: text.join('\n\n') + '\n',
    });
  }
  return files;
}
