// `cellar build`: ship a compiled pipeline to a batch machine, or one task's function to a
// serving process.
//
// A pipeline build is a folder a machine with only Node can run after `npm ci --omit=dev`:
//   run.mjs        the entry: `node run.mjs [task...] [cellar run options] [--workdir dir]`
//   *.js           one esbuild bundle (code-split): `cellar run`, the runtime, the pipeline and
//                  its task modules, the worker-thread body; no compiler, TypeScript or notebooks
//   manifest.json  tasks, params (types, defaults), each task's code fingerprint and hash, the
//                  package versions: the facts a run from the sources would compute from files
//   package.json   only the packages the bundle imports at run time, at the installed versions
//   package-lock.json  so `npm ci` installs exactly those
//
// Same keys as a run from the sources: the bundle keeps each task module's identity as a
// `cellar-build:<path from the project root>` URL and manifest.json carries the fingerprint the
// sources gave (runtime/key/codehash.ts `recordFingerprints`), so dev and batch share a store.
//
// A function build (`--function <task>`) is one self-contained ESM file exporting the task's
// function and its setup helpers, with every package bundled in: serving imports exactly the code
// training ran, and needs no Cellar. `defineTask`/`output` are replaced by inert stand-ins and
// declared pure, so task wiring and upstream modules are tree-shaken away.
//
// Rejected: copying the sources and running tsx on the batch machine (it would need TypeScript,
// the notebook folder layout and dev dependencies there); a Docker image built by Cellar (no
// container engine here to test it; the README gives a Dockerfile for the folder instead).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isBuiltin } from 'node:module';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import {
  BUILT_MODULE_SCHEME,
  CodeHasher,
  type RecordedFingerprint,
} from '../../runtime/key/codehash.js';
import { WORKER_SCRIPT_URL, WORKING_FOLDER_KEY } from '../../runtime/key/module-path.js';
import {
  findPackageRoot,
  findProjectRoot,
  installedPackageVersion,
} from '../../runtime/project.js';
import { canonicalJson, sha256 } from '../../runtime/key/hash.js';
import { loadLocated } from '../pipeline-args.js';
import { classRegistration, exportsClasses, onFirstLine } from '../../runtime/load/bundle.js';
import { resolvingGlobImports } from '../../runtime/key/dynamic-imports.js';
import { codeLoaderFor } from '../../runtime/load/esbuild-loaders.js';
import type { AnyTask, Pipeline } from '../../runtime/task.js';
import { CliError } from '../errors.js';
import { BUILT_CELLS_FILE, builtLineFacts } from '../failure-location.js';
import { checkOutFolder } from '../out-folder.js';
import { sweepStaging, writeStaged } from '../staging.js';
import type { BuildManifest } from './run-entry.js';
import { FEATURE_PACKAGES, WAREHOUSE_PACKAGES } from '../../runtime/missing-package.js';

/** The package holding this CLI (runtime/, cli/), from its source or its dist/ build: the bundle's own sources. */
const cellarRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
const packageJson = JSON.parse(readFileSync(join(cellarRoot, 'package.json'), 'utf8')) as {
  version: string;
};

/** The commands a built folder runs (`node run.mjs …`, `node run.mjs worker …`). */
const BUILT_COMMANDS = new Set(['run', 'worker', 'show', 'tree']);

/** Packages a built run never loads: they serve compiling, bundling and hashing sources. */
const BUILD_TIME_ONLY = new Set([
  'esbuild',
  'tsx',
  'es-module-lexer',
  'typescript',
  'ts-morph',
  'prettier',
  'typedoc',
  'cellar',
]);

export interface BuildResult {
  outDir: string;
  /** Files written, relative to outDir. */
  files: string[];
  manifest?: BuildManifest;
}

/** One of our own sources (runtime, CLI, compiler), as opposed to the user's pipeline code. */
const isCellarSource = (path: string) =>
  ['runtime', 'cli', 'compiler'].some((d) => path.startsWith(join(cellarRoot, d) + sep));

/**
 * Makes a user module's `import.meta` mean inside a bundle what it means in its source file
 * (`withBuiltImportMeta`): its identity for keying, a worker script, its location. The build
 * `define`s `import.meta.url` / `filename` / `dirname` (`BUILT_IMPORT_META_DEFINES`): esbuild
 * replaces the expressions only, never the same words in a string or a comment, so every module
 * that mentions `import.meta` declares the object they read; Cellar's own sources and packages
 * keep their chunk's `import.meta`.
 */
function moduleIdentity(projectRoot: string, fileUrls: BuiltFileUrls): Plugin {
  return {
    name: 'cellar-module-identity',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        const loader = codeLoaderFor(args.path);
        if (loader === undefined) return undefined;
        if (args.path.includes(`${sep}node_modules${sep}`) || isCellarSource(args.path)) {
          const text = readFileSync(args.path, 'utf8');
          if (!text.includes('import.meta')) return undefined;
          const contents = onFirstLine(text, `var ${BUILT_IMPORT_META} = import.meta;`);
          return { contents, loader, resolveDir: dirname(args.path) };
        }
        let contents = readFileSync(args.path, 'utf8');
        // Its exported classes are registered as under `cellar run`, so instances cross tasks.
        if (exportsClasses(contents, args.path))
          contents += classRegistration(args.path, projectRoot);
        // `import('./plugins/' + name)` resolves `name` as under `cellar run` (p1, p1.js → p1.ts).
        contents = resolvingGlobImports(contents, args.path, projectRoot);
        // Last: the edits above read the module's own first line (a generated module's header).
        contents = withBuiltImportMeta(contents, args.path, projectRoot, fileUrls);
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
}

/** Where a build sends what user code names by its module's location (`withBuiltImportMeta`). */
interface BuiltFileUrls {
  /** The pipeline's working directory on the build machine (the notebook folder). */
  workdir: string;
  /** Worker scripts found, source path → output path in the built folder (`workers/….js`). */
  workerScripts: Map<string, string>;
}

/** `new Worker(new URL('<path>', import.meta.url))`: the `new Worker(` (group 1), the script's
 *  path (group `path`), as the code hasher keys it (module-path.ts `WORKER_SCRIPT_URL`). */
const STATIC_WORKER = new RegExp(String.raw`(\bnew\s+Worker\s*\(\s*)\b` + WORKER_SCRIPT_URL, 'g');

/** What a built module's `import.meta.url` / `filename` / `dirname` read (`moduleIdentity`). */
const BUILT_IMPORT_META = '__cellarImportMeta';
const BUILT_IMPORT_META_DEFINES = Object.fromEntries(
  ['url', 'filename', 'dirname'].map((p) => [`import.meta.${p}`, `${BUILT_IMPORT_META}.${p}`]),
);
/** The chunk's own `import.meta` (bare `import.meta` is not defined away). */
const CHUNK_IMPORT_META = '__cellarChunkMeta';

/**
 * A user module's `import.meta.url`, `.filename` and `.dirname` made to work in a built folder,
 * where a module has no file of its own:
 * - `module: import.meta.url` (a task's module, `defineTask`): the module's identity,
 *   `cellar-build:<path from the project root>`, under which its fingerprint is recorded.
 * - The script of `new Worker(new URL('<path>', import.meta.url))`: bundled as an entry of its own
 *   under workers/ (recorded in `urls.workerScripts`), named from the chunk's own URL (chunks sit
 *   at the folder's top, beside workers/).
 * - Every other use: the module's located URL or path, where it would sit under the run's working
 *   directory if the sources were there: its path from the pipeline's workdir at build time
 *   (`lib/rd.ts`) joined onto the run's (`--workdir`), asked when the code asks. So
 *   `dirname(fileURLToPath(import.meta.url))` or `new URL('../data/x.json', import.meta.url)`
 *   names the workdir's data, as the source run names the notebook folder's, under the same key:
 *   the working folder is asked outside the read recorder (module-path.ts `WORKING_FOLDER_KEY`).
 *   Not the built folder's own location (esbuild's `import.meta.dirname`): data is not there.
 * Those uses read an object declared on the module's first line (the build's `define` points the
 * expressions at it, so the words in a string or comment stay as written); lines stay where they
 * were (source maps), and the imports its getters use are appended (imports are hoisted).
 */
export function withBuiltImportMeta(
  text: string,
  path: string,
  projectRoot: string,
  urls: BuiltFileUrls,
): string {
  if (!text.includes('import.meta')) return text;
  const out = text
    .replace(STATIC_WORKER, (...match: unknown[]) => {
      const worker = match[1] as string;
      const spec = (match.at(-1) as { path: string }).path;
      const target = resolve(dirname(path), spec);
      let script = urls.workerScripts.get(target);
      if (script === undefined) {
        const fromRoot = relative(urls.workdir, target).split(sep).join('/');
        const name = fromRoot.replace(/\.\.\//g, '_up/').replace(/\.[cm]?[jt]sx?$/, '');
        urls.workerScripts.set(target, (script = `workers/${name}.js`));
      }
      return `${worker}new URL(${JSON.stringify('./' + script)}, ${CHUNK_IMPORT_META}.url)`;
    })
    .replace(
      /\bmodule\s*:\s*import\.meta\.url\b/g,
      `module: ${JSON.stringify(builtModuleUrl(projectRoot, path))}`,
    );
  const fromWorkdir = relative(urls.workdir, path).split(sep).join('/');
  const located =
    `var ${CHUNK_IMPORT_META} = import.meta; var ${BUILT_IMPORT_META} = { ` +
    `get filename() { const cwd = globalThis[Symbol.for(${JSON.stringify(WORKING_FOLDER_KEY)})]?.() ?? process.cwd(); ` +
    `return __cellarJoin(cwd, ${JSON.stringify(fromWorkdir)}); }, ` +
    `get url() { return __cellarFileUrl(this.filename).href; }, ` +
    `get dirname() { return __cellarDirname(this.filename); } };`;
  return (
    `${onFirstLine(out, located)}\n` +
    `import { pathToFileURL as __cellarFileUrl } from "node:url";\n` +
    `import { dirname as __cellarDirname, join as __cellarJoin } from "node:path";\n`
  );
}

export function builtModuleUrl(projectRoot: string, path: string): string {
  return BUILT_MODULE_SCHEME + relative(projectRoot, path).split(sep).join('/');
}

/** `cellar` resolves to this checkout's runtime source, bundled once and shared by every chunk. */
function cellarAlias(): Plugin {
  return {
    name: 'cellar-self',
    setup(build) {
      build.onResolve({ filter: /^cellar$/ }, () => ({
        path: join(cellarRoot, 'runtime', 'index.ts'),
      }));
      // Compiling notebooks is not a batch machine's job: the run command's path to the compiler
      // (a notebook given instead of a pipeline) becomes a clear error.
      build.onResolve({ filter: /commands\/compile\.js$/ }, (args) =>
        isCellarSource(args.importer)
          ? { path: 'compile-unavailable', namespace: 'cellar-stub' }
          : undefined,
      );
      // Only running belongs in a built folder: every other command (docs, exec, build, …) and the
      // packages it would pull in (TypeDoc, Jupyter's client) stays out of the bundle.
      build.onResolve({ filter: /commands\/[\w-]+\.js$/ }, (args) => {
        const name = /commands\/([\w-]+)\.js$/.exec(args.path)![1]!;
        if (!isCellarSource(args.importer) || BUILT_COMMANDS.has(name) || name === 'compile')
          return undefined;
        return { path: name, namespace: 'cellar-command-stub' };
      });
      build.onLoad({ filter: /.*/, namespace: 'cellar-command-stub' }, (args) => ({
        contents: `export async function run() { console.error(${JSON.stringify(`cellar ${args.path}: not part of a built pipeline (it runs: ${[...BUILT_COMMANDS].join(', ')}) (E_UNKNOWN_COMMAND)`)}); return 2; }`,
        loader: 'js',
      }));
      build.onLoad({ filter: /.*/, namespace: 'cellar-stub' }, () => ({
        contents: `export async function ensureCompiled() { throw new Error('a built pipeline cannot compile notebooks: build again with \`cellar build\`'); }
export function staleWarning() { return undefined; }
export function compiledFresh() { return false; }`,
        loader: 'js',
      }));
    },
  };
}

/**
 * The run-time packages a bundle imports (`externals`, package names) at their installed
 * versions: what the built folder's package.json lists. Node builtins and build-time-only
 * packages are left out. The version is the one Node would load from the project, else from
 * Cellar's own install (runtime/project.ts `installedPackageVersion`).
 * @throws CliError E_BUILD_PACKAGE naming a package installed in neither place.
 */
export function runtimePackages(
  externals: Iterable<string>,
  projectRoot: string,
): Record<string, string> {
  const packages: Record<string, string> = {};
  for (const name of [...externals].sort()) {
    if (BUILD_TIME_ONLY.has(name) || isBuiltin(name)) continue;
    const version =
      installedPackageVersion(projectRoot, name) ?? installedPackageVersion(cellarRoot, name);
    if (version === undefined)
      throw new CliError(
        `the bundle imports package '${name}', which is not installed: npm install ${name}`,
        'E_BUILD_PACKAGE',
      );
    packages[name] = version;
  }
  return packages;
}

/**
 * The packages a bundle's outputs import, split by how a run reaches them from the entry points:
 * `always` through static imports only (loaded by every run), `onDemand` only behind a dynamic
 * `import()` (the runtime's lazy loads of DuckDB, BigQuery, Cloud Storage, BullMQ, …), which a
 * run loads only when it uses that feature. Node builtins and relative paths are left out.
 */
export function bundleExternals(
  outputs: Record<
    string,
    { entryPoint?: string; imports: { path: string; kind: string; external?: boolean }[] }
  >,
  /** The outputs a run starts from (cellar-run.js, pipeline.js, worker.js). */
  entries: string[],
): { always: Set<string>; onDemand: Set<string> } {
  const always = new Set<string>();
  const onDemand = new Set<string>();
  const isPackage = (p: string) =>
    !p.startsWith('node:') && !p.startsWith('.') && !p.startsWith('/');
  const reached = new Set<string>();
  // Not every output with an `entryPoint`: with splitting, each dynamic import() is one too.
  const queue = [...entries];
  while (queue.length) {
    const out = queue.pop()!;
    if (reached.has(out) || !outputs[out]) continue;
    reached.add(out);
    for (const imp of outputs[out]!.imports) {
      if (imp.kind === 'dynamic-import') continue;
      if (imp.external) {
        if (isPackage(imp.path)) always.add(packageOf(imp.path));
      } else queue.push(imp.path);
    }
  }
  for (const output of Object.values(outputs))
    for (const imp of output.imports)
      if (imp.external && isPackage(imp.path) && !always.has(packageOf(imp.path)))
        onDemand.add(packageOf(imp.path));
  return { always, onDemand };
}

const packageOf = (spec: string) =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;

function writeFileAtomic(path: string, contents: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** Builds the pipeline in `pipelineFile` (a compiled pipeline.ts) into `outDir`. */
export async function buildPipeline(
  pipelineFile: string,
  outDir: string,
  options: { lockfile?: boolean } = {},
): Promise<BuildResult> {
  const file = resolve(pipelineFile);
  const projectRoot = findProjectRoot(dirname(file));
  // The build replaces the folder: never one holding the user's files or the project.
  checkOutFolder(outDir, {
    what: 'a build',
    isOurs: isBuildFolder,
    keep: [
      { path: projectRoot, what: 'the project' },
      { path: file, what: 'the pipeline being built' },
    ],
  });
  // What killed builds of this folder left beside it (kill -9: no handler ran).
  sweepStaging(outDir, holdsOnlyBuildFiles);
  const { pipeline } = await loadLocated(file);
  const fingerprints = await fingerprintTasks(pipeline, projectRoot);
  const esbuild = await import('esbuild');
  // Build into a fresh sibling folder, then swap (cli/staging.ts): a failed, interrupted or killed
  // build leaves the old folder intact and no staging folder behind.
  const fileUrls: BuiltFileUrls = {
    workdir: resolve(dirname(file), pipeline.workdir ?? '.'),
    workerScripts: new Map(),
  };
  return writeStaged(outDir, async (staging, stopped) => {
    const bundle = (entryPoints: Record<string, string>, chunkNames: string) =>
      esbuild.build({
        absWorkingDir: projectRoot,
        entryPoints,
        outdir: staging,
        // Written by this process (below), not esbuild's: a signal's clean-up removes the staging
        // folder knowing no other process is still writing into it.
        write: false,
        bundle: true,
        splitting: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        packages: 'external',
        metafile: true,
        sourcemap: 'linked',
        // Source map paths relative to the build machine's project would be noise; keep them short.
        sourceRoot: '',
        chunkNames,
        logLevel: 'silent',
        define: BUILT_IMPORT_META_DEFINES,
        plugins: [cellarAlias(), moduleIdentity(projectRoot, fileUrls)],
      });
    const result = await bundle(
      {
        'cellar-run': join(cellarRoot, 'cli', 'build', 'run-entry.ts'),
        pipeline: file,
        // The worker-thread body: runtime/workers/pool.ts starts ./worker.js beside its chunk.
        worker: join(cellarRoot, 'runtime', 'workers', 'thread.ts'),
        // Preloaded in a worker thread a task starts, to record its reads as the task's
        // (runtime/run/read-record.ts finds ./worker-reads.js beside its chunk).
        'worker-reads': join(cellarRoot, 'runtime', 'run', 'worker-reads.ts'),
      },
      // Chunks beside the entries: the worker pool finds ./worker.js next to its own chunk.
      'chunk-[hash]',
    ).catch(bundleFailed(file));
    // The scripts of worker threads tasks start (`withBuiltImportMeta`): entries of a bundle of
    // their own, found only as the pipeline's modules were bundled. A worker script starting
    // workers of its own is not supported (its chunk's place under workers/ is not known here).
    const scripts = new Map(fileUrls.workerScripts);
    const workers =
      scripts.size === 0
        ? undefined
        : await bundle(
            Object.fromEntries(
              [...scripts].map(([source, out]) => [out.replace(/\.js$/, ''), source]),
            ),
            'workers/chunk-[hash]',
          ).catch(bundleFailed(file));
    const outputFiles = [...result.outputFiles, ...(workers?.outputFiles ?? [])];
    const outputs = { ...result.metafile.outputs, ...workers?.metafile.outputs };
    for (const output of outputFiles) {
      mkdirSync(dirname(output.path), { recursive: true });
      writeFileSync(output.path, output.contents);
    }
    // The table codec loads apache-arrow through createRequire, which esbuild cannot see.
    const { always, onDemand } = bundleExternals(
      outputs,
      Object.keys(outputs).filter(
        (o) =>
          ['cellar-run.js', 'pipeline.js', 'worker.js', 'worker-reads.js'].includes(basename(o)) ||
          [...scripts.values()].some((s) => o.endsWith(s)),
      ),
    );
    always.add('apache-arrow');
    // Loaded on demand by the runtime, but by every run of a task with SQL: regular dependencies
    // then, or `npm ci --omit=dev` on Node 20 leaves out the translator, whose `engines` says
    // Node >= 22 (npm skips an optional package whose engines do not match, and only warns for a
    // regular one; it runs on Node 20).
    const needs = neededPackages(pipeline);
    for (const name of Object.keys(needs)) always.add(name);
    const packages = runtimePackages(always, projectRoot);
    const optional = runtimePackages(
      [...onDemand].filter((name) => !always.has(name)),
      projectRoot,
    );

    const relativeWorkdir =
      relative(resolve(outDir), resolve(dirname(file), pipeline.workdir ?? '.'))
        .split(sep)
        .join('/') || '.';
    const manifest: BuildManifest = {
      format: 1,
      pipeline: pipeline.name,
      ...(pipeline.source ? { source: pipeline.source } : {}),
      workdir: relativeWorkdir,
      root: relative(resolve(outDir), projectRoot).split(sep).join('/') || '.',
      tasks: pipeline.tasks.map((t) => ({
        name: t.name,
        upstream: [...new Set(Object.values(t.inputs).map((i) => i.task.name))].sort(),
        params: Object.keys(t.params).sort(),
        codeHash: t.module
          ? sha256(
              canonicalJson(
                fingerprints[
                  builtModuleUrl(projectRoot, fileURLToPath(t.module.replace(/[?#].*$/, '')))
                ],
              ),
            ).slice(0, 16)
          : 'run-function',
      })),
      params: paramTable(pipeline),
      fingerprints,
      packages,
      ...(Object.keys(optional).length ? { optionalPackages: optional } : {}),
      ...(Object.keys(needs).length ? { needs } : {}),
      cellar: packageJson.version,
    };
    writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    // The notebook's cells, so a failed task is named by cell and line on a batch machine, which
    // has no notebook (cli/failure-location.ts).
    const cells = pipeline.source ? notebookCells(join(projectRoot, pipeline.source)) : undefined;
    // With each generated line's place in its cell and the modules' throw sites, found here where
    // TypeScript is installed: the batch machine has none (cli/failure-location.ts).
    const generatedFolder = pipeline.tasks.find((t) => t.module?.startsWith('file:'))?.module;
    const facts =
      cells && generatedFolder
        ? builtLineFacts(
            dirname(fileURLToPath(generatedFolder.replace(/[?#].*$/, ''))),
            projectRoot,
            join(projectRoot, pipeline.source!),
          )
        : undefined;
    if (cells)
      writeFileSync(
        join(staging, BUILT_CELLS_FILE),
        JSON.stringify({ cells, ...(facts ?? {}) }) + '\n',
      );
    const pkg = {
      name: `${pipeline.name}-pipeline`,
      private: true,
      type: 'module',
      description: `The ${pipeline.name} pipeline, built by cellar build${pipeline.source ? ` from ${pipeline.source}` : ''}. Run: node run.mjs --help`,
      engines: { node: '>=20.19' },
      dependencies: packages,
      // Loaded only by a feature a run may use (a warehouse, a shared store, the distributed
      // executor, a model format): `npm ci --omit=optional` leaves them out.
      ...(Object.keys(optional).length ? { optionalDependencies: optional } : {}),
    };
    writeFileSync(join(staging, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
    writeFileSync(
      join(staging, 'run.mjs'),
      `#!/usr/bin/env node\n// The ${pipeline.name} pipeline, built by \`cellar build\`. Usage: node run.mjs [task...] [--param k=v] [--workspace dir] [--workdir dir] (cellar run's options).\nimport { runBuilt } from './cellar-run.js';\n\nprocess.exitCode = await runBuilt(import.meta.dirname, process.argv.slice(2));\n`,
    );
    if (options.lockfile !== false)
      await writeLockfile(
        staging,
        Object.keys(packages).length + Object.keys(optional).length > 0,
        stopped,
      );
    return {
      outDir: resolve(outDir),
      files: Object.keys(outputs)
        .map((o) => relative(staging, resolve(projectRoot, o)))
        .concat(['manifest.json', 'package.json', 'run.mjs'], cells ? [BUILT_CELLS_FILE] : [])
        .sort(),
      manifest,
    };
  });
}

/**
 * The packages every run of `pipeline` loads though the bundle imports them only on demand, each
 * with what needs it: the warehouse's (DuckDB, the SQL translator) when a task has SQL.
 */
export function neededPackages(pipeline: Pipeline): Record<string, string> {
  const sql = pipeline.tasks.filter((t) => t.warehouse !== undefined).map((t) => t.name);
  if (sql.length === 0) return {};
  const tasks = `${sql.length === 1 ? 'task' : 'tasks'} ${sql.slice(0, 5).join(', ')}${sql.length > 5 ? `, and ${sql.length - 5} more` : ''}`;
  return Object.fromEntries(
    WAREHOUSE_PACKAGES.map((name) => [name, `${tasks} (${FEATURE_PACKAGES[name]})`]),
  );
}

/** A bundling error as the build's: E_BUILD naming the pipeline file. */
const bundleFailed =
  (file: string) =>
  (error: Error): never => {
    throw new CliError(
      `bundling ${relative(process.cwd(), file)} failed: ${error.message}`,
      'E_BUILD',
    );
  };

/** `npm ci` needs a lockfile: resolve one for exactly these dependencies (from npm's cache when it can). */
async function writeLockfile(dir: string, any: boolean, stopped?: AbortSignal): Promise<void> {
  if (!any) {
    writeFileSync(
      join(dir, 'package-lock.json'),
      JSON.stringify(
        {
          name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name,
          lockfileVersion: 3,
          requires: true,
          packages: { '': {} },
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  try {
    // Not execFileSync: npm takes seconds, and while it blocked the event loop a Ctrl-C could not
    // be handled (cli/staging.ts). Stopped, the build ends npm with it.
    await promisify(execFile)(
      'npm',
      [
        'install',
        '--package-lock-only',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
      ],
      { cwd: dir, signal: stopped },
    );
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
    throw new CliError(
      `could not resolve a package-lock.json for the build (npm install --package-lock-only): ${stderr.split('\n').find((l) => l.includes('ERR')) ?? stderr.slice(0, 300)}`,
      'E_BUILD_LOCKFILE',
    );
  }
}

/** Each cell's id and text (`{ id, source }`) of the notebook at `file`, or undefined when it
 *  cannot be read as a notebook: the failure locations of the built folder's tasks. */
function notebookCells(file: string): { id: string; source: string }[] | undefined {
  try {
    const nb = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as {
      cells?: { id?: unknown; source?: unknown }[];
    };
    if (!Array.isArray(nb.cells)) return undefined;
    return nb.cells.map((c) => ({
      id: typeof c.id === 'string' ? c.id : '',
      source: Array.isArray(c.source)
        ? c.source.join('')
        : typeof c.source === 'string'
          ? c.source
          : '',
    }));
  } catch {
    return undefined;
  }
}

/** The names a pipeline build writes at the top of its folder, and what `npm ci` adds there. */
const BUILD_ENTRY =
  /^(?:(?:cellar-run|pipeline|worker|worker-reads|chunk-[A-Z0-9]+)\.js(?:\.map)?|manifest\.json|cells\.json|package(?:-lock)?\.json|run\.mjs|node_modules|workers)$/;

/**
 * Does `dir` hold a folder `cellar build` wrote (its manifest.json and run.mjs)? False if not;
 * else true, or the names in it a build does not write (replacing the folder would delete them).
 */
function isBuildFolder(dir: string): boolean | string[] {
  try {
    const m = JSON.parse(
      readFileSync(join(dir, 'manifest.json'), 'utf8'),
    ) as Partial<BuildManifest>;
    if (
      typeof m.format !== 'number' ||
      typeof m.pipeline !== 'string' ||
      typeof m.fingerprints !== 'object' ||
      !existsSync(join(dir, 'run.mjs'))
    )
      return false;
  } catch {
    return false;
  }
  const foreign = readdirSync(dir).filter((name) => !BUILD_ENTRY.test(name));
  return foreign.length === 0 ? true : foreign;
}

/**
 * Does `dir` hold nothing a build does not write (a build's staging or old folder, whole or cut
 * short)? So a look-alike folder of the user's beside the output is never swept as a leftover.
 */
function holdsOnlyBuildFiles(dir: string): boolean {
  return readdirSync(dir).every((name) => BUILD_ENTRY.test(name));
}

async function fingerprintTasks(
  pipeline: Pipeline,
  projectRoot: string,
): Promise<Record<string, RecordedFingerprint>> {
  const hasher = new CodeHasher();
  const out: Record<string, RecordedFingerprint> = {};
  for (const task of pipeline.tasks) {
    if (!task.module) continue;
    const path = fileURLToPath(task.module.replace(/[?#].*$/, ''));
    // The env vars the code reads travel with it: a built run keys them as a source run does.
    out[builtModuleUrl(projectRoot, path)] = {
      ...(await hasher.fingerprint(task.module)),
      env: hasher.envRead(task.module),
    };
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]!]),
  );
}

function paramTable(pipeline: Pipeline): BuildManifest['params'] {
  const table: BuildManifest['params'] = {};
  for (const task of pipeline.tasks) {
    for (const [name, spec] of Object.entries(task.params)) {
      const entry = (table[name] ??= {
        type: spec.type,
        ...(spec.default === undefined ? {} : { default: spec.default }),
        tasks: [],
      });
      entry.tasks.push(task.name);
    }
  }
  return Object.fromEntries(
    Object.keys(table)
      .sort()
      .map((k) => [k, table[k]!]),
  );
}

/**
 * Builds task `taskName`'s function as one self-contained ESM file `<outDir>/<task>.mjs`,
 * exporting the function (under its own name) and the notebook's setup helpers.
 * Throws CliError E_UNKNOWN_TASK for a task the pipeline lacks, E_BUILD when bundling fails.
 */
export async function buildFunction(
  pipelineFile: string,
  taskName: string,
  outDir: string,
): Promise<BuildResult> {
  const file = resolve(pipelineFile);
  const projectRoot = findProjectRoot(dirname(file));
  const { pipeline } = await loadLocated(file);
  const task: AnyTask | undefined = pipeline.tasks.find((t) => t.name === taskName);
  if (!task)
    throw new CliError(
      `no task '${taskName}' in pipeline ${pipeline.name}; its tasks: ${pipeline.tasks.map((t) => t.name).join(', ')}`,
      'E_UNKNOWN_TASK',
    );
  if (!task.module)
    throw new CliError(
      `task '${taskName}' has no module to build from (defined without \`module: import.meta.url\`)`,
      'E_BUILD',
    );
  const modulePath = fileURLToPath(task.module.replace(/[?#].*$/, ''));
  const fnName = task.run.name;
  if (!/^[A-Za-z_$][\w$]*$/.test(fnName))
    throw new CliError(
      `task '${taskName}' runs an anonymous function: name it in its module to build it alone`,
      'E_BUILD',
    );
  const setup = join(dirname(modulePath), 'setup.ts');
  // esbuild resolves a specifier as a file path, not a URL: a URL's pathname would keep the
  // percent-encoding of a space or `<` (`My%20Odd-Name`) and name no file. Forward slashes, so
  // a Windows path is no escape sequence either.
  const specifier = (path: string) => JSON.stringify(path.split(sep).join('/'));
  const entry = [
    `export { ${fnName} } from ${specifier(modulePath)};`,
    ...(existsSync(setup) ? [`export * from ${specifier(setup)};`] : []),
  ].join('\n');
  const esbuild = await import('esbuild');
  const outFile = join(resolve(outDir), `${taskName}.mjs`);
  const stub: Plugin = {
    name: 'cellar-function-stub',
    setup(build) {
      build.onResolve({ filter: /^cellar$/ }, () => ({
        path: 'cellar',
        namespace: 'cellar-function',
      }));
      // Task wiring is declared side-effect free, so esbuild drops it with the upstream modules.
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = resolvingGlobImports(
          readFileSync(args.path, 'utf8'),
          args.path,
          findProjectRoot(dirname(args.path)),
        );
        const contents = text
          .replace(/(?<![.\w$])(defineTask|definePipeline|output)\(/g, '/* @__PURE__ */ $1(')
          // A task's module URL only keys the cache; esbuild would keep wiring that touches import.meta.
          .replace(/\bmodule: import\.meta\.url\b/g, 'module: undefined');
        const ext = args.path.slice(args.path.lastIndexOf('.') + 1);
        return {
          contents,
          loader: ext.endsWith('ts') ? 'ts' : 'js',
          resolveDir: dirname(args.path),
        };
      });
      build.onLoad({ filter: /.*/, namespace: 'cellar-function' }, () => ({
        // Task wiring only: the function itself never calls these. Anything else from 'cellar'
        // (sql, load) is a task that needs the runtime, and fails the build by name.
        contents:
          'export const defineTask = (d) => d;\nexport const output = (task, name) => ({ task, output: name });\nexport const definePipeline = (p) => p;\n',
        loader: 'js',
      }));
    },
  };
  const result = await esbuild
    .build({
      stdin: {
        contents: entry,
        resolveDir: dirname(modulePath),
        loader: 'ts',
        sourcefile: `${taskName}.function.ts`,
      },
      absWorkingDir: projectRoot,
      outfile: outFile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      treeShaking: true,
      // Native bindings cannot be inlined; everything else is, so the file stands alone.
      external: ['@duckdb/*'],
      // CommonJS packages inside an ESM bundle may call require() for Node built-ins.
      banner: {
        js: `// Task '${taskName}' of pipeline ${pipeline.name}${pipeline.source ? ` (${pipeline.source})` : ''}, built by \`cellar build --function\`.\nimport { createRequire as __cellarRequire } from 'node:module';\nconst require = __cellarRequire(import.meta.url);`,
      },
      logLevel: 'silent',
      plugins: [stub],
    })
    .catch((error: Error) => {
      throw new CliError(
        `bundling task '${taskName}' failed: ${error.message.split('\n').slice(0, 6).join('\n')}`,
        'E_BUILD',
      );
    });
  writeFileAtomic(outFile, result.outputFiles[0]!.contents);
  return { outDir: resolve(outDir), files: [`${taskName}.mjs`] };
}
