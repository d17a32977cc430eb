// The body of one worker thread in the task pool (workers.ts). It loads the pipeline module
// once, then runs jobs as they arrive: decode inputs from the store, run, encode and write the
// outputs, then the manifest when the job carries one (execute.ts: the result is to be cached),
// and answer with what it wrote. It never takes locks: the scheduler on the main thread holds the
// task's lock around the job (its heartbeat runs while task code blocks this thread). The
// manifest, the done marker, is written last, so a worker that dies mid-task leaves nothing
// marked done. (Writing it here rather than on the scheduler's thread: that one thread also locks,
// dispatches and keys for every task, and a cold run of small tasks waited on its writes.)
import { useProjectWarehouse } from '../warehouse/project-root.js';
import { locatingStack, thrownMessage } from '../errors.js';
import { parentPort, workerData } from 'node:worker_threads';
import { loadPipeline } from '../load/loader.js';
import { tasksByName } from '../run/graph.js';
import { neverSettlesError, performTask, type TaskJob } from '../run/perform.js';
import { whileSettleable } from '../settle.js';
import { LocalStore } from '../store/local.js';
import { openStore, type StoreChoice } from '../store/open.js';
import type { Store } from '../store/store.js';
import type { AnyTask } from '../task.js';

interface WorkerInit {
  pipelineFile: string;
  workspace: string;
  params: Record<string, unknown>;
  /** A shared store (`gs://…` or a folder) instead of the local workspace. */
  store?: Pick<StoreChoice, 'spec' | 'gcs'>;
  /** The run's project: its warehouse is the one the keys were computed against. */
  projectRoot?: string;
}

const init = workerData as WorkerInit;
if (init.projectRoot) useProjectWarehouse(init.projectRoot);
const loaded = loadPipeline(init.pipelineFile);
// The scheduler has built and checked the graph; a worker only looks tasks up by name (building
// the whole graph again in every worker cost each one the graph's memory at 100k tasks).
const ready: Promise<Map<string, AnyTask>> = loaded.then(({ pipeline }) =>
  tasksByName(pipeline, init.params),
);
// The pipeline's own view of the store, as the scheduler's (run.ts normalizeRunOptions).
const opened: Promise<Store> = (async () => {
  const root = init.store ? await openStore(init.store) : new LocalStore(init.workspace);
  return root.forPipeline((await loaded).pipeline.name);
})();

parentPort!.on('message', async (message: { id: number; job: TaskJob }) => {
  try {
    const tasks = await ready;
    const store = await opened;
    const task = tasks.get(message.job.task);
    if (!task)
      throw new Error(`worker: task '${message.job.task}' not found in ${init.pipelineFile}`);
    // A task's timeout counts from here, not from the post: a new thread first loads the pipeline
    // module, which is no part of the task's time. Only timed jobs pay for the message.
    if (message.job.timeoutMs !== undefined)
      parentPort!.postMessage({ id: message.id, started: true });
    const t0 = performance.now();
    const { outputs, notCached, readNothing, unkeyed, written } = await whileTaskSettleable(
      message.job.task,
      performTask(task, tasks, message.job, store),
    );
    const durationMs = Math.round(performance.now() - t0);
    const manifest = message.job.manifest;
    let finishedAt: string | undefined;
    if (manifest && !notCached && !unkeyed) {
      finishedAt = new Date().toISOString();
      await store.writeManifest({
        task: task.name,
        key: message.job.key,
        inputs: manifest.inputs,
        outputs,
        durationMs,
        finishedAt,
        ...(written ? { written } : {}),
      });
    }
    parentPort!.postMessage({
      id: message.id,
      ok: true,
      result: {
        outputs,
        durationMs,
        ...(finishedAt ? { finishedAt } : {}),
        ...(notCached ? { notCached } : {}),
        ...(readNothing ? { readNothing } : {}),
        ...(unkeyed ? { unkeyed } : {}),
        ...(written ? { written } : {}),
      },
    });
  } catch (error) {
    // A thrown non-Error has no stack: send none rather than this thread's own frames.
    const err =
      error instanceof Error
        ? { message: workerAdvice(error, message.job.task), stack: locatingStack(error) }
        : { message: thrownMessage(error), stack: thrownMessage(error) };
    parentPort!.postMessage({ id: message.id, ok: false, error: err });
  }
});

// The port keeps this thread's loop alive: unref'd while the module loads, a setup awaiting what
// nothing can settle on this thread (though it did on the main thread) empties the loop and the
// load fails by name (loader.ts), failing each job sent meanwhile, rather than hang the run. After
// the 'message' listener: adding it refs the port.
parentPort!.unref();
loaded.then(
  () => parentPort!.ref(),
  () => parentPort!.ref(),
);

/**
 * `running` (task `task`'s run), failed with E_NEVER_SETTLES when the task awaits a promise nothing
 * can settle any more. The port to the scheduler keeps this thread's event loop alive for the next
 * job, so such a task would hang the run forever (the main thread waits for its answer). While it
 * runs the port is unref'd: when nothing else is pending (no timer, I/O, or child of the task), the
 * loop empties and the wait fails, exactly as for a task run in process (settle.ts). The port is
 * ref'd again, so the thread lives on to answer and to take the next job; the stuck promise is
 * left behind, never settled. No timer decides it.
 */
async function whileTaskSettleable<T>(task: string, running: Promise<T>): Promise<T> {
  parentPort!.unref();
  try {
    return await whileSettleable(running, () => neverSettlesError(task));
  } finally {
    parentPort!.ref();
  }
}

/**
 * Node's own "process.chdir() is not supported in workers" (ERR_WORKER_UNSUPPORTED_OPERATION:
 * chdir, setting umask, setuid…) says nothing of why a task is on a worker or what to do: name the
 * task and the two ways out. Any other error is returned as it is.
 */
function workerAdvice(error: Error, task: string): string {
  if ((error as { code?: unknown }).code !== 'ERR_WORKER_UNSUPPORTED_OPERATION')
    return thrownMessage(error);
  return `${error.message}: task '${task}' runs on a worker thread, which shares the process's working folder with the tasks running beside it. Pass paths instead (tasks run in the notebook's folder: readFileSync('data/x.txt') rather than process.chdir('data')), or run with --in-process (task code on the main thread: change the folder back before the task ends, as other tasks resolve relative paths from it)`;
}
