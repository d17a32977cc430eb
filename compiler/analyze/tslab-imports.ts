// Relative imports that `cellar run` loads but the tslab kernel refuses. Pure (no node:*).
//
// tslab compiles each cell with its own TypeScript 5.0.4, `moduleResolution: node10` and
// `rootDir` set to its working directory, the notebook's folder (node_modules/tslab/dist/
// converter.js). Found with a real kernel (test/e2e/tslab-imports.test.ts): for a module
// lib/consts.ts
// - `./lib/consts.ts` fails: "An import path can only end with a '.ts' extension when
//   'allowImportingTsExtensions' is enabled" (esbuild, which bundles the pipeline, loads it);
// - `../lib/consts`, in any form (`.js`, no extension, a `.js` module too), fails: "File … is not
//   under 'rootDir'": tslab cannot load a module outside the notebook's folder;
// - `./lib/consts.js` and `./lib/consts` load in both;
// - a `.mts` module loads in tslab in no form: `./lib/more.mts` fails like `.ts`, and
//   `./lib/more.mjs` type-checks but tslab's CommonJS `require` finds no such file. The compiler
//   cannot tell that `.mjs` from a real `.mjs` file without the file system, so only the `.mts`
//   spelling is reported (the hint: rename the module to `.ts`); `.cts` is taken to behave like
//   `.mts` (not tried with a kernel).
// So the compiler warns (the pipeline is fine; the notebook is what breaks, in Jupyter) and names
// the form that works in both.
import { diagnostic } from '../diagnostics.js';
import type { CellAnalysis, Diagnostic, Kernel, TaggedCell } from '../types.js';

/** TypeScript source extensions an import may not name under tslab. */
const TS_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts'];

/**
 * W_TSLAB_IMPORT_EXTENSION and W_TSLAB_IMPORT_OUTSIDE for each relative static import of a
 * compiled cell of a tslab notebook (`kernel` tslab), at the import's cell, line and column.
 * `notebook` is the project-relative path (forward slashes) that messages name and that places
 * the notebook's folder.
 */
export function tslabImportDiagnostics(
  notebook: string,
  kernel: Kernel,
  cells: readonly TaggedCell[],
  analyses: ReadonlyMap<number, CellAnalysis>,
): Diagnostic[] {
  if (kernel !== 'tslab') return [];
  const folder = resolve(notebook, '..');
  const out: Diagnostic[] = [];
  for (const c of cells) {
    for (const imp of analyses.get(c.index)?.imports ?? []) {
      const spec = imp.module;
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue;
      const where = {
        notebook,
        cell: c.index + 1,
        cellId: c.id,
        line: imp.line,
        column: imp.column,
      };
      const snippet = c.code.split('\n')[imp.line - 1] ?? '';
      const ext = TS_EXTENSIONS.find((e) => spec.endsWith(e) && !spec.endsWith(`.d${e}`));
      // `.ts`/`.tsx` → `.js`; a `.mts`/`.cts` module must become `.ts` first (see above).
      const stem = ext ? spec.slice(0, -ext.length) : spec;
      const both = ext ? `${stem}.js` : spec;
      const rename =
        ext === '.mts' || ext === '.cts'
          ? `rename the module to \`${stem.slice(stem.lastIndexOf('/') + 1)}.ts\` and `
          : '';
      const target = resolve(folder, spec);
      const inside =
        folder === ''
          ? target !== '..' && !target.startsWith('../')
          : target.startsWith(`${folder}/`);
      if (ext)
        out.push(
          diagnostic(
            'warning',
            'W_TSLAB_IMPORT_EXTENSION',
            where,
            `\`${spec}\` ends in \`${ext}\`: \`cellar run\` loads it, but the tslab kernel refuses the cell ("An import path can only end with a '${ext}' extension when 'allowImportingTsExtensions' is enabled")`,
            {
              hint: inside
                ? `${rename}import '${both}' instead: both tslab and \`cellar run\` load it`
                : `${rename}import '${both}' instead (and see W_TSLAB_IMPORT_OUTSIDE on this line)`,
              snippet,
            },
          ),
        );
      if (!inside) {
        const base = target.slice(target.lastIndexOf('/') + 1);
        const moved = ext ? `${base.slice(0, -ext.length)}.js` : base;
        out.push(
          diagnostic(
            'warning',
            'W_TSLAB_IMPORT_OUTSIDE',
            where,
            `\`${spec}\` is \`${target}\`, outside the notebook's folder${folder ? ` \`${folder}/\`` : ''}: \`cellar run\` loads it, but the tslab kernel refuses the cell ("File '…' is not under 'rootDir'"), in any form of the path`,
            {
              hint: `move the module under the notebook's folder (\`${folder ? `${folder}/` : ''}lib/${base}\`) and import './lib/${moved}': both tslab and \`cellar run\` load that`,
              snippet,
            },
          ),
        );
      }
    }
  }
  return out;
}

/**
 * `folder` joined with a relative `spec`, `.` and `..` folded, no leading `/`:
 * `notebooks` + `../lib/x` → `lib/x`; `notebooks/a.ipynb` + `..` → `notebooks`.
 */
function resolve(folder: string, spec: string): string {
  const parts: string[] = [];
  for (const seg of `${folder}/${spec}`.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}
