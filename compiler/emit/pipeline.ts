// emitPipeline, emitTests and emitPlan: the whole DAG in one file, the `//| test:` cells as vitest
// files, and the stage entry that turns a TaskPlan into every EmittedFile.
//
// A generated test asks the runtime for the values it checks with `evaluate(task)` (the task and
// its upstream run in memory, no cache), then runs the cell's assertions unchanged, so a test
// cell that passed in the notebook passes in CI for the same reason.
import type { EmittedFile, TaskNode, TestNode } from '../types.js';
import {
  ImportSet,
  NameAllocator,
  cellLabel,
  cellName,
  docComment,
  codeExt,
  header,
  rewriteCell,
  taskFile,
} from './module.js';
import {
  addOutsideImports,
  emitSetupModule,
  emitSharedModule,
  emitTaskModule,
  planInputs,
  sharedName,
  taskConst,
  taskModuleInputs,
  taskModulePath,
  type EmitContext,
} from './task.js';
import { emitGraphTest, emitReplayTests } from './fixture-tests.js';

const literal = (value: unknown): string =>
  JSON.stringify(value).replace(/"([A-Za-z_$][\w$]*)":/g, '$1:');

export function emitPipeline(ctx: EmitContext): EmittedFile {
  const { plan } = ctx;
  const imports = new ImportSet();
  imports.add('cellar', 'definePipeline', 'definePipeline', false);
  for (const t of plan.tasks) {
    const name = taskConst(plan, t.name);
    imports.add(`./${taskFile(t.name)}.js`, name, name, false);
  }
  // Setup's top-level statements (a `registerCodec(...)`, a global option) ran before every task
  // in the notebook; importing setup.ts here runs them before any task module loads, even one that
  // imports only setup's types. Setup of only declarations needs no such import.
  const setupEffects = ctx.hasSetupModule && setupHasStatements(ctx);
  const text = [
    header(plan, []),
    docComment(
      plan.doc ||
        `The pipeline compiled from \`${plan.notebook}\`: every task, in a topological order.`,
      ['@module'],
    ),
    imports.print() +
      (setupEffects
        ? "\n// Setup's top-level statements run first, as in the notebook.\nimport './setup.js';"
        : ''),
    `export default definePipeline({\nname: ${literal(plan.stem)},\nsource: ${literal(plan.notebook)},\n` +
      `// Where the notebook ran: tasks resolve relative paths from here, as Jupyter did.\nworkdir: ${literal(ctx.workdir)},\n` +
      `tasks: [${plan.tasks.map((t) => taskConst(plan, t.name)).join(', ')}],\n});`,
  ];
  return { path: `${plan.stem}/pipeline.ts`, contents: text.filter(Boolean).join('\n\n') + '\n' };
}

/** Does a setup cell hold a top-level statement other than an import or a declaration? */
function setupHasStatements(ctx: EmitContext): boolean {
  return ctx.plan.setupCells.some((i) => {
    const a = ctx.analyses.get(i)!;
    const cut = [
      ...a.imports.map((d) => d.statement),
      ...a.declarations.map((d) => d.statement),
      ...(ctx.plan.dropped[i] ?? []),
      ...a.strip,
    ];
    let code = ctx.cells.get(i)!.code;
    for (const span of cut.sort((x, y) => y.start - x.start))
      code = code.slice(0, span.start) + ' '.repeat(span.end - span.start) + code.slice(span.end);
    return (
      code
        .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
        .replace(/;/g, '')
        .trim() !== ''
    );
  });
}

function testTitle(ctx: EmitContext, test: TestNode): string {
  const cell = ctx.cells.get(test.cell)!;
  const firstComment = /^\s*\/\/\s*(.+)$/m.exec(cell.code.split('\n').find((l) => l.trim()) ?? '');
  return `${test.task}: ${firstComment ? firstComment[1]!.trim() : `notebook cell ${cellName(cell)}`}`;
}

/** One `<task>.test.ts` per task that has `//| test:` cells. */
export function emitTests(ctx: EmitContext): EmittedFile[] {
  const { plan } = ctx;
  const byTask = new Map<string, TestNode[]>();
  for (const t of plan.tests) byTask.set(t.task, [...(byTask.get(t.task) ?? []), t]);
  const files: EmittedFile[] = [];
  for (const [task, tests] of [...byTask].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const imports = new ImportSet();
    const blocks: string[] = [];
    const allIdentifiers = new Set<string>();
    const outsideAll = new Set<string>();
    for (const t of tests) {
      for (const id of ctx.analyses.get(t.cell)!.identifiers) allIdentifiers.add(id);
      for (const n of addOutsideImports(ctx, imports, [t.cell], t.uses, undefined))
        outsideAll.add(n);
    }
    // `test`, `evaluate` and task constants are called inside the test body: avoid its names.
    const generated = new NameAllocator([...allIdentifiers, ...outsideAll]);
    const testFn = generated.fresh('test');
    const evaluateFn = generated.fresh('evaluate');
    const beforeAllFn = generated.fresh('beforeAll');
    const fileURLToPathFn = generated.fresh('fileURLToPath');
    imports.add('vitest', 'test', testFn, false);
    imports.add('vitest', 'beforeAll', beforeAllFn, false);
    imports.add('node:url', 'fileURLToPath', fileURLToPathFn, false);
    imports.add('cellar', 'evaluate', evaluateFn, false);
    const taskLocal = new Map<string, string>();
    const localFor = (name: string) => {
      if (!taskLocal.has(name)) {
        const local = generated.fresh(taskConst(plan, name));
        taskLocal.set(name, local);
        imports.add(`./${taskFile(name)}.js`, taskConst(plan, name), local, false);
      }
      return taskLocal.get(name)!;
    };
    localFor(task);
    for (const t of tests) {
      const cell = ctx.cells.get(t.cell)!;
      const fromTasks = new Map<string, string[]>();
      const paramLines: string[] = [];
      for (const id of t.uses) {
        const v = plan.versions[id]!;
        if (v.cell === t.cell) continue;
        if (
          v.owner.kind === 'task' &&
          (v.kind === 'const' || v.kind === 'let' || v.kind === 'var')
        ) {
          fromTasks.set(v.owner.task, [...(fromTasks.get(v.owner.task) ?? []), v.name]);
        } else if (v.owner.kind === 'params') {
          const p = plan.params.find((x) => x.versionId === id)!;
          paramLines.push(
            codeExt(plan) === 'js'
              ? `const ${p.name} = ${literal(p.default)}; // the param's default`
              : `const ${p.name}: ${p.type} = ${literal(p.default)}; // the param's default`,
          );
        }
      }
      if (fromTasks.size === 0) fromTasks.set(task, []);
      const evaluations = [...fromTasks]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(
          ([from, names]) =>
            `${names.length ? `const { ${[...new Set(names)].sort().join(', ')} } = ` : ''}await ${evaluateFn}(${localFor(from)});`,
        );
      const code = rewriteCell(
        cell,
        ctx.analyses.get(t.cell)!,
        plan.bindings[t.cell] ?? [],
        sharedName,
        plan.versions,
        plan.dropped[t.cell],
        [],
        ctx.workdir,
      );
      blocks.push(
        `${testFn}(${literal(testTitle(ctx, t))}, async () => {\n${[...evaluations, ...paramLines].join('\n')}\n\n${cellLabel(cell)}\n${code}\n});`,
      );
    }
    files.push({
      path: `${plan.stem}/${taskFile(task)}.test.${codeExt(plan)}`,
      contents:
        [
          header(
            plan,
            tests.map((t) => ctx.cells.get(t.cell)!),
          ),
          imports.print(),
          `// Tasks resolve relative paths from the notebook's folder, as they did in Jupyter.\n` +
            `${beforeAllFn}(() => process.chdir(${fileURLToPathFn}(new URL(${literal(ctx.workdir.replace(/\/?$/, '/'))}, import.meta.url))));`,
          ...blocks,
        ].join('\n\n') + '\n',
    });
  }
  return files;
}

/**
 * Task modules an earlier compile emitted, by what they were emitted from (task.ts `planInputs`,
 * `taskModuleInputs`): `forPlan` is asked once per emit, then per task. `recall` answers with the
 * module as it was formatted then, or undefined (then the module is emitted again and `emitted`
 * told). The caller keeps and hashes the texts; emit only says what they are.
 */
export interface TaskModuleMemo {
  forPlan(planInputs: string): {
    recall(taskInputs: string, path: string): EmittedFile | undefined;
    emitted(taskInputs: string, file: EmittedFile): void;
  };
}

/**
 * TaskPlan → every file of generated/<stem>/, unformatted (emit/print.ts formats), except task
 * modules `memo` recalled, which come formatted (the caller knows which).
 */
export function emitPlan(
  ctx: Omit<EmitContext, 'hasSetupModule'>,
  fixtures: readonly string[] = [],
  memo?: TaskModuleMemo,
): EmittedFile[] {
  const probe: EmitContext = { ...ctx, hasSetupModule: false };
  const setup = emitSetupModule(probe);
  const full: EmitContext = { ...ctx, hasSetupModule: setup !== undefined };
  const shared = emitSharedModule(full);
  const reuse = memo?.forPlan(planInputs(full));
  const taskModule = (t: TaskNode): EmittedFile => {
    if (!reuse) return emitTaskModule(full, t);
    const inputs = taskModuleInputs(full, t);
    const recalled = reuse.recall(inputs, taskModulePath(full.plan, t));
    if (recalled) return recalled;
    const file = emitTaskModule(full, t);
    reuse.emitted(inputs, file);
    return file;
  };
  const files = [
    ...(setup ? [setup] : []),
    ...(shared ? [shared] : []),
    ...ctx.plan.tasks.map(taskModule),
    emitPipeline(full),
    ...emitTests(full),
    emitGraphTest(full),
    ...emitReplayTests(full, fixtures),
    ...(ctx.plan.language === 'javascript' ? [emitJsConfig(full)] : []),
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * generated/<stem>/tsconfig.json for a JavaScript notebook: its modules are `.js` and are checked
 * as JavaScript (`checkJs`; JSDoc types where the compiler wrote them), with JavaScript's rules
 * (an editor's default for JS), not strict TypeScript's: an unannotated parameter is `any` and
 * `rows.find(…).price` is not an error, as in the kernel. What it still catches: misspelt
 * properties of known types, wrong calls, undeclared names, bad imports. Comments are allowed in
 * a tsconfig, so it carries the generated-file header like every other file.
 */
export function emitJsConfig(ctx: EmitContext): EmittedFile {
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      allowJs: true,
      checkJs: true,
      strict: false,
      noImplicitAny: false,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      resolveJsonModule: true,
    },
    include: ['.'],
  };
  return {
    path: `${ctx.plan.stem}/tsconfig.json`,
    contents: `${header(ctx.plan, [])}\n// A JavaScript notebook's modules, type-checked as JavaScript: npx tsc -p <this folder>\n${JSON.stringify(config, null, 2)}\n`,
  };
}
