// `cellar compile --typecheck`: the generated modules of one notebook through TypeScript's own
// checker, each error placed back in the notebook cell it came from. The compile itself strips
// types (esbuild runs the code whatever its types say), so a type error in a cell, which tslab
// shows only when the cell runs, otherwise reaches no one before the pipeline runs. Adapter: it
// loads TypeScript (~0.4 s) only when asked.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { loadFailureLocation } from './failure-location.js';

/** What `--typecheck` checks with when the project has no tsconfig.json: Node's ESM, strict. */
const DEFAULTS = {
  strict: true,
  target: 'es2022',
  module: 'nodenext',
  moduleResolution: 'nodenext',
  skipLibCheck: true,
} as const;

/**
 * The type errors of the modules in `folder` (generated/<notebook>/, its *.test.ts files left out:
 * they need vitest's types, which a project may not have), checked with the nearest tsconfig.json
 * above it (else strict defaults for Node's ESM), as lines
 * `notebooks/x.ipynb, cell 2 (id c2), line 3: error TS2322: Type 'string' is not assignable…`,
 * placed in the cell by the generated module's cell markers (else `generated/x/t.ts, line 12`).
 * `notebook` is the notebook's path as shown, `notebookFile` its absolute path. Empty: none.
 */
export function typeErrors(folder: string, notebook: string, notebookFile: string): string[] {
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(folder, f));
  const options = { ...compilerOptions(ts, folder), noEmit: true };
  const program = ts.createProgram(files, options);
  const mine = new Set(files.map((f) => resolve(f)));
  const pipelineFile = join(folder, 'pipeline.ts');
  // Asked file by file: the whole program's diagnostics would check every module the generated
  // code reaches (Cellar's own sources included, for its types), ten times the work.
  return program
    .getSourceFiles()
    .filter((f) => mine.has(resolve(f.fileName)))
    .flatMap((f) => ts.getPreEmitDiagnostics(program, f))
    .filter((d) => d.file && mine.has(resolve(d.file.fileName)))
    .map((d) => {
      const { line, character } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const file = resolve(d.file!.fileName);
      // The CLI's stack-frame mapper, given the error's place as a frame of the generated module.
      const frame = `Error\n    at typecheck (${file}:${line + 1}:${character + 1})`;
      const where =
        loadFailureLocation(pipelineFile, notebook, notebookFile, frame) ??
        `${relative(process.cwd(), file)}, line ${line + 1}`;
      return `${where}: error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
}

/** The options of the nearest tsconfig.json at or above `folder`, else `DEFAULTS`. */
function compilerOptions(
  ts: typeof import('typescript'),
  folder: string,
): import('typescript').CompilerOptions {
  for (let dir = resolve(folder); ; dir = dirname(dir)) {
    const file = join(dir, 'tsconfig.json');
    if (existsSync(file)) {
      const parsed = ts.getParsedCommandLineOfConfigFile(
        file,
        {},
        { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
      );
      if (parsed) return parsed.options;
    }
    if (dirname(dir) === dir) break;
  }
  return ts.convertCompilerOptionsFromJson(DEFAULTS, folder).options;
}
