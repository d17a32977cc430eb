// E_PACKAGE_CLASS_OUTPUT: a task output holding an instance of a class from a package, which the
// runtime cannot store as a class (it registers the project's own classes only, and a package's
// fields are not its state), unless a setup cell registers a format for it. Refused at compile
// time, so `cellar run` stops before any task runs instead of after the producing task (issue 8,
// item 6; docs/design/classes.md). The runtime's store-time refusal stays as the fallback for
// what the syntax does not show.
//
// Facts used, all from the analyses: what each output's declaration evidently holds
// (`Declaration.holds`: `new X(…)`, an annotation `X`, `Map<K, X>`…, see analyze/holds.ts), where
// X is imported from (a bare specifier: a package), proof X is a class (some compiled cell calls
// `new X`), and the names setup cells pass to `registerModelFormat`/`registerCodec`.
// Rejected: asking a type checker over the package's declaration files. The analyser parses
// without lib files or package types on purpose (~0.3 s per 100 cells against ~1.5 s with libs,
// docs/design/compiler.md); loading them for this one check would cost every compile that.
import { diagnostic } from '../diagnostics.js';
import type {
  CellAnalysis,
  Diagnostic,
  ImportBinding,
  TaggedCell,
  TaskNode,
  Version,
} from '../types.js';

export interface PackageClassInput {
  notebook: string;
  cells: ReadonlyMap<number, TaggedCell>;
  analyses: ReadonlyMap<number, CellAnalysis>;
  tasks: Iterable<TaskNode>;
  versions: Record<string, Version>;
  setupCells: number[];
}

/**
 * Package classes the runtime stores without a registration: its built-in model formats
 * (runtime/codecs/model.ts registers ml-random-forest's two forests). Kept equal by hand: the
 * compiler may not import the runtime.
 */
const BUILT_IN_FORMATS: Record<string, string[]> = {
  'ml-random-forest': ['RandomForestClassifier', 'RandomForestRegression'],
};

/**
 * The built-in codecs: none stores a package's instance without a model format. An output naming
 * another codec (one the project registered with `registerCodec`) is the project's call.
 */
const BUILT_IN_CODECS = new Set([
  'auto',
  'model',
  'json',
  'structured',
  'table',
  'csv',
  'text',
  'binary',
]);

/** A bare specifier names a package: not relative, absolute, `node:` or Cellar itself. */
const isPackage = (module: string) =>
  !/^(\.|\/|[a-z]+:)/i.test(module) && module !== 'cellar' && !module.startsWith('cellar/');

/** One error per (task output, package class) no setup cell registers a format for. */
export function checkPackageClassOutputs(input: PackageClassInput): Diagnostic[] {
  const all = [...input.analyses.values()];
  const constructed = new Set(all.flatMap((a) => a.constructs ?? []));
  const ownClasses = new Set(
    all.flatMap((a) => a.declarations.filter((d) => d.kind === 'class').map((d) => d.name)),
  );
  const registered = input.setupCells.flatMap((i) => input.analyses.get(i)?.formatMentions ?? []);
  const mentioned = (names: string[]) =>
    names.some(
      (n) =>
        registered.includes(n) ||
        registered.some((m) =>
          new RegExp(`(^|[^\\w$])${n.replace(/\$/g, '\\$')}([^\\w$]|$)`).test(m),
        ),
    );
  const importOf = (task: TaskNode, local: string) => {
    for (const i of [...task.cells, ...input.setupCells, ...input.analyses.keys()])
      for (const imp of input.analyses.get(i)?.imports ?? [])
        for (const b of imp.bindings) if (b.local === local) return { module: imp.module, b };
    return undefined;
  };
  /** `X` or `ns.X` → the package and the class's exported name, when it is a package's class. */
  const packageClass = (
    task: TaskNode,
    held: string,
  ): { module: string; name: string; binding: ImportBinding } | undefined => {
    if (!constructed.has(held) || ownClasses.has(held)) return undefined;
    const [head, member] = held.split('.') as [string, string | undefined];
    const found = importOf(task, head);
    if (!found || !isPackage(found.module)) return undefined;
    if ((found.b.imported === '*') !== (member !== undefined)) return undefined;
    const name = member ?? (found.b.imported === 'default' ? head : found.b.imported);
    return { module: found.module, name, binding: found.b };
  };
  const out: Diagnostic[] = [];
  for (const task of input.tasks) {
    for (const output of task.outputs) {
      if (output.codec && !BUILT_IN_CODECS.has(output.codec)) continue;
      const v = input.versions[output.versionId];
      const analysis = v && input.analyses.get(v.cell);
      const decl = analysis?.declarations.filter((d) => d.name === output.name).pop();
      if (!v || !decl?.holds) continue;
      const cell = input.cells.get(v.cell)!;
      for (const held of decl.holds) {
        const cls = packageClass(task, held);
        if (!cls || BUILT_IN_FORMATS[cls.module]?.includes(cls.name)) continue;
        if (mentioned([held, cls.name, cls.binding.local])) continue;
        const site = decl.sites[0]!;
        const column = site.start - cell.code.lastIndexOf('\n', site.start - 1);
        out.push(
          diagnostic(
            'error',
            'E_PACKAGE_CLASS_OUTPUT',
            {
              notebook: input.notebook,
              cell: cell.index + 1,
              cellId: cell.id,
              line: decl.line,
              column,
            },
            `output '${output.name}' of task '${task.name}' holds a ${cls.name} from package '${cls.module}', which Cellar cannot store as a class (it would come back without its methods)`,
            {
              hint:
                `register a model format for it in the setup cell (registerModelFormat({ name, matches, save, load }) of the cellar package; README, "Directives"), ` +
                `or store plain data (what ${cls.name} can be rebuilt from) and rebuild it in the task that reads it`,
              snippet: cell.code.split('\n')[decl.line - 1] ?? '',
            },
          ),
        );
      }
    }
  }
  return out;
}
