// `cellar worker <pipeline|build dir> --redis <url>`: take tasks of a distributed run (`cellar run
// --executor bullmq`) from Redis and run them here, until stopped (SIGINT or SIGTERM finish the
// jobs in hand, then exit 0). Start as many as you like, on as many machines as share the store.
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { builtManifest, useBuiltFolder } from '../build/built-folder.js';
import { keepWriterMarkers } from '../../runtime/store/local.js';
import { chooseStore } from '../../runtime/store/open.js';
import { resolveWorkspace } from '../../runtime/store/workspace.js';
import { CliError, EXIT } from '../errors.js';
import { CellarError } from '../../runtime/errors.js';
import { resolvePipelineFile } from '../pipeline-args.js';
import { defineCommand, type CommandInput } from '../command.js';

const USAGE = `usage: cellar worker <pipeline.ts|notebook.ipynb|folder> --redis URL [options]

  --redis URL             the Redis the coordinator (cellar run --executor bullmq) uses
  --concurrency N         tasks run at once here, on worker threads (default: CPU count)
  --store SPEC            the shared store: gs://bucket/prefix or a folder; must be the coordinator's
                          (default: \`store\` in cellar.config.json, $CELLAR_STORE, else the workspace)
  --workspace DIR         the local workspace (default <project>/.cellar/workspace, or $CELLAR_WORKSPACE)
  --workdir DIR           where tasks run: relative data paths resolve from it (default: the notebook's folder)
  --lock-duration MS      a job whose worker stops renewing its lock for this long is retaken (default 30000)
  --stalled-interval MS   how often to look for such jobs (default 30000)
  --max-stalled N         how often a job may stall before it fails (default 2)`;

function wholeNumber(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`--${name} needs a whole number ≥ ${min}, got '${raw}'`, 'E_USAGE');
  return n;
}

const OPTIONS = {
  redis: { type: 'string' },
  concurrency: { type: 'string' },
  store: { type: 'string' },
  workspace: { type: 'string' },
  workdir: { type: 'string' },
  'lock-duration': { type: 'string' },
  'stalled-interval': { type: 'string' },
  'max-stalled': { type: 'string' },
} as const;

export const run = defineCommand({ usage: USAGE, options: OPTIONS, run: work });

async function work({ values, positionals }: CommandInput<typeof OPTIONS>): Promise<number> {
  if (!values.redis) throw new CliError(`--redis <url> is needed\n\n${USAGE}`, 'E_USAGE');
  if (positionals.length !== 1) throw new CliError(`one pipeline is needed\n\n${USAGE}`, 'E_USAGE');
  const concurrency = wholeNumber('concurrency', values.concurrency, 1) ?? availableParallelism();
  const file = await resolvePipelineFile(positionals[0]);
  // A `cellar build` folder (README: workers may run one) has no sources to fingerprint: its
  // manifest's fingerprints are registered as `node run.mjs` does, and its tasks run where the
  // build says the notebook's folder was unless --workdir says otherwise.
  const built = builtManifest(dirname(file));
  if (built) useBuiltFolder(dirname(file), built, 'cellar worker');
  const workdir =
    values.workdir ??
    (built && existsSync(resolve(dirname(file), built.workdir))
      ? resolve(dirname(file), built.workdir)
      : undefined);
  const workspace = resolveWorkspace({ explicit: values.workspace, near: dirname(file) });
  let store;
  try {
    store = chooseStore({ explicit: values.store, workspace, near: dirname(file) });
  } catch (error) {
    throw new CliError(`cannot open the store: ${(error as Error).message}`, 'E_STORE');
  }
  const { startWorker } = await import('../../runtime/distributed/worker.js');
  let worker;
  try {
    worker = await startWorker({
      pipelineFile: file,
      redis: values.redis,
      concurrency,
      workspace,
      store,
      ...(workdir ? { workdir } : {}),
      lockDurationMs: wholeNumber('lock-duration', values['lock-duration'], 100),
      stalledIntervalMs: wholeNumber('stalled-interval', values['stalled-interval'], 100),
      maxStalledCount: wholeNumber('max-stalled', values['max-stalled'], 0),
      onLog: (line) => process.stderr.write(line + '\n'),
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof CellarError)
      throw new CliError(error.message.replace(/ \(E_[A-Z_]+\)$/, ''), error.code);
    throw new CliError((error as Error).message, 'E_USAGE');
  }
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('stopping: finishing the jobs in hand (signal again to stop at once)\n');
  // A second signal stops at once (a Redis that went away can keep a graceful close waiting); the
  // jobs in hand then stall and are retaken by other workers, as after a crash.
  const force = () => {
    // Writes may be cut short: leave this process's workspace markers for the next run's sweep.
    keepWriterMarkers();
    process.exit(EXIT.failure);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await worker.close();
  return EXIT.ok;
}
