// Pure: the runtime's error codes, each with what it means.
//
// Every code a `CellarError`, a `WarehouseError`, a `RuntimeDiagnostic` or the `cellar` command
// carries is a key here, so a free string does not compile. Tooling (and `--json` consumers) may
// match on them: never rename one. docs/design/runtime.md keeps the same table, and
// test/runtime/codes.test.ts keeps the two in step (as test/compiler/stages.test.ts does for the
// compiler's `CODES` in compiler/diagnostics.ts).
export const RUNTIME_CODES = {
  // The pipeline definition, found when the graph is built (before anything runs).
  E_UNKNOWN_PARAM: 'a param the pipeline (or the task) does not declare',
  E_PARAM_TYPE: "a param value of the wrong type for the task's declared param",
  E_BAD_INPUT: 'a task input that does not name a task',
  E_WRONG_TASK_TYPE: 'an upstream output used as a type it is not (e.g. a model read as a table)',
  E_UNKNOWN_OUTPUT: 'an input (or `cellar show`) naming an output the task does not declare',
  E_UNKNOWN_CODEC: 'an output whose codec is not registered',
  E_DEPENDENCY_CYCLE: 'tasks that depend on each other',
  E_UNKNOWN_TASK: 'a task selector naming a task that is not in the pipeline',
  E_DUPLICATE_TASK: 'two different tasks with the same name',
  E_BAD_TASK:
    'a malformed task definition (a field of the wrong type, an unknown field, `run` not a function), named by task and field',
  // Loading and reading results.
  E_NO_PIPELINE: 'no pipeline file where one was named',
  E_PIPELINE_LOAD:
    "a pipeline module that throws or does not compile while loading, or whose load never settles (a setup cell's top-level await of a promise nothing can settle: the error names the setup's top-level awaits by cell and line)",
  E_NOT_A_PIPELINE: 'a module without a `definePipeline(...)` default export',
  E_CELLAR_UNRESOLVED:
    "a pipeline outside any project with cellar installed, loaded with CELLAR_LOADER=tsx (Node cannot find 'cellar' there)",
  E_DYNAMIC_IMPORT:
    'a dynamic `import(x)` of a module named only at run time (not a string literal, nor a template literal with a static relative prefix), which no key can hold: refused before any task runs, naming the file, line and the fix',
  E_DUPLICATE_PIPELINE:
    'two notebooks with the same file name (in different folders, compiled with different --out) running in one workspace: the second is refused, naming the first',
  E_NO_WORKDIR:
    "the tasks' working folder does not exist (the notebook's folder was moved or deleted; a built bundle: pass --workdir)",
  E_WORKSPACE_WRITE:
    'a file of the workspace (an output, a manifest, a task folder) that cannot be written: a full disk (ENOSPC), no permission; names the file, the task and the system code',
  E_NOT_CACHED: 'no stored output for this task and these params (run the pipeline first)',
  E_OUTPUT_MISSING:
    "a stored output's file gone while it is read (deleted during a run, or a store that cannot tell beforehand): names the task, the output and the file. A run whose task meets it makes the upstream again and runs the task once more; `cellar show`/`load()` say it, and the next run (or `--rerun <task>`) computes it again",
  E_OUTPUT_DAMAGED:
    "a stored output's file whose bytes are not what its run stored (truncated or edited since: another size or SHA-256 than its manifest recorded, or its codec cannot decode it), met when a task, `cellar show` or `load()` reads it: names the task, the output, the file and what differs; that result is no longer served. A task of a run meeting it has the upstream made again in the same run, then runs once more (failing with it only when it is damaged again, or cannot be made again); the next run (or `--rerun <task>`) makes it again",
  // Running a task.
  E_MUTATES_UPSTREAM:
    'a task changing, in place, a value it received from upstream (through an alias the compiler cannot follow: a shallow copy, a helper changing its argument); upstream values are frozen while a task runs, and typed arrays and arrays of doubles checked by digest when it returns (runtime/run/frozen-inputs.ts): names the task, the input, whose output it is and the line (when it threw there), with the fix (`structuredClone`)',
  E_NEVER_SETTLES:
    'a task awaiting a promise nothing is left to settle: no timer, I/O or other task pending on its thread, so it could never finish (in process, Node would exit at once with code 13 and no word; on a worker thread, the run would hang forever); also a whole command left awaiting one where no task is (a project codec decoding in `cellar show`)',
  E_TASK_TIMEOUT:
    'an attempt of a task that ran longer than its `timeoutMs` (`//| timeout`): on a worker thread the thread is stopped, whether the task was busy or waiting, and nothing of the attempt is stored; retries apply; names the task and its limit',
  // Storing outputs.
  E_SECRET_IN_OUTPUT:
    'an output holding, in clear, the value of an environment variable the task read, without `//| output` declaring it',
  // The warehouse.
  E_WH_CONFIG: 'a malformed warehouse configuration (cellar.config.json or CELLAR_* variables)',
  E_WH_QUERY: 'the warehouse refused or failed a query',
  E_WH_DIALECT: 'SQL the chosen dialect cannot express, or queries of two dialects nested',
  E_WH_PARAM:
    "a value that cannot be a query parameter or table name, a `${…}` inside a quoted string or name of a `sql` template (`LIKE '${pat}%'`: no parameter there), or `sql` not used as a tagged template",
  E_WH_BYTES_LIMIT: 'a BigQuery query over the maxBytesBilled limit',
  E_WH_CHECK: 'a `//| check:` that failed or cannot be evaluated',
  E_WH_MATERIALIZE: 'a table output that cannot be materialized',
  E_WH_SEED: 'a seed file for the local DuckDB warehouse that is missing or unreadable',
  E_WH_DYNAMIC_READ:
    'a DuckDB `query(…)`, `query_table(…)` or file read (`read_csv(…)`, `ATTACH`) whose argument is computed inside the SQL and cannot be evaluated on its own: what it reads cannot be keyed',
  E_WH_FILE:
    "a data file a task's SQL reads by path on DuckDB (read_csv, FROM 'x.csv', ATTACH) that does not exist",
  E_CHECK_SYNTAX: 'a `//| check:` expression that does not parse',
  // Shared stores.
  E_STORE:
    'a store location (`--store`, `store` in cellar.config.json, $CELLAR_STORE) that cannot be opened',
  // Distributed runs and packages loaded for a feature.
  E_REDIS_UNREACHABLE:
    '`cellar run --executor bullmq` or `cellar worker` whose Redis (`--redis`) does not answer a PING within seconds (refused, unknown host, a wrong password): names the URL and the reason, exits 2 instead of retrying forever',
  E_PACKAGE_MISSING:
    "a package a run loads for a feature (the warehouse's DuckDB and SQL translator, the distributed executor's bullmq and ioredis, BigQuery, Cloud Storage, Arrow) that is not installed where the run looks for it: names the package, what needs it (the tasks, the executor) and the fix (`npm install <package>` in the folder)",
  // The command line.
  E_NODE_VERSION:
    'a Node.js older than the one package.json `engines` names (checked by bin/cellar.mjs before anything loads)',
  E_USAGE: 'a command line the command does not accept (its usage is printed)',
  E_UNKNOWN_COMMAND: 'a command `cellar` does not have (or a built folder does not bundle)',
  E_UNEXPECTED:
    'a failure Cellar did not foresee (an uncoded error from a library, the system or a bug): its message is printed, its stack with --verbose',
  E_BAD_PARAM: "a `--param k=v` whose value does not parse as the param's type",
  E_NOT_FOUND:
    'a file or folder the command line names that does not exist or cannot be read (a notebook, `exec -f` params), or `exec -o` whose folder cannot be created',
  E_COMPILE: 'a notebook with compile errors, when running it',
  E_NO_TASKS: 'a notebook with no `//| task:` cells, when running it',
  E_DOCS_BUILD:
    '`cellar docs` could not build the site (TypeDoc reported errors converting or rendering)',
  E_OUT_FOLDER:
    "`cellar build`/`cellar docs`: an --out folder that holds the user's own files or the project, which replacing it would delete",
  // Builds (`cellar build`) and built pipelines.
  E_BUILD: 'a pipeline or task function that esbuild cannot bundle',
  E_BUILD_PACKAGE: 'a package the bundle imports that is not installed in the project',
  E_BUILD_LOCKFILE: "npm could not resolve a package-lock.json for the build's run-time packages",
  E_FIXTURE_VALUE: 'a value a fixture cannot record (a class instance, a function)',
  E_FIXTURE_FORMAT: 'a fixture file that is not valid (run `cellar fixtures` again)',
  // Headless notebooks (`cellar exec`, `verify`, `kernel`, `notebook`).
  E_NOT_A_NOTEBOOK: '`cellar exec`/`verify`: a file that is not an nbformat 4 notebook',
  E_NO_PARAMS_CELL:
    '`cellar exec -p`/`-f` on a notebook with no params cell (`//| params`, or tagged `parameters`)',
  E_NO_TSLAB: '`cellar kernel install` could not find tslab in the project or next to cellar',
  E_JUPYTER_MISSING: "Debian's Jupyter (/usr/bin/jupyter) is not installed",
  E_JUPYTER_START: 'the Jupyter server Cellar started did not answer (its log is printed)',
  E_JUPYTER_CONNECT:
    'the Jupyter server given by `--server`/`--token` does not answer or refuses the token',
  E_KERNEL_START:
    'the tslab kernel did not start within `--kernel-timeout` (or died while starting)',
} as const;

/** A catalogued runtime error code (see `RUNTIME_CODES` for what each means). */
export type RuntimeCode = keyof typeof RUNTIME_CODES;
