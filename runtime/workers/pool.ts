// The task pool `cellar run` uses: worker threads.
//
// Why threads, not child processes: a thread starts in tens of milliseconds and shares the
// process (one lock owner PID, one working directory set once by the scheduler, no stdio
// plumbing), while CPU-bound task code runs off the scheduler's event loop, which keeps the
// progress display, lock waits and other tasks moving. Values never cross the thread boundary:
// a worker reads its inputs from the store and writes its outputs there; only small job and
// result records are posted. Worker threads cannot `process.chdir`, which is why the scheduler
// sets the pipeline's working directory for the whole process before starting workers.
//
// A worker that dies (a native crash, `process.exit` in task code) fails the job it was running
// and is replaced on the next job. A job past its task's `timeoutMs` ends its worker the same way
// (`Worker.terminate` stops a busy loop too, which nothing inside the thread could) and fails with
// E_TASK_TIMEOUT.
//
// Idle workers beyond the first are retired after `retireIdleAfterMs` (when given): each thread
// holds its own copy of the whole pipeline module (~75 MB at 100k tasks), and the tail of a run
// is often one task at a time (a fan-in's `total` reading 100k inputs), where a second thread
// only holds memory. A job arriving later starts a thread again (loading the module once more).
import { Worker } from 'node:worker_threads';
import type { JobResult, TaskRunner } from '../run/execute.js';
import { timeoutError, type TaskJob } from '../run/perform.js';
import type { StoreChoice } from '../store/open.js';

interface Pending {
  resolve: (result: JobResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  jobs: Map<number, Pending>;
  /** When the slot last turned idle (performance.now() ms). */
  idleSince: number;
  /** Armed while the slot may be retired (`retireIdleAfterMs`); one timer, not one per job. */
  idleTimer?: NodeJS.Timeout;
  /** The job it runs, when its task has a `timeoutMs`: armed once the thread starts the task. */
  timed?: { id: number; task: string; timeoutMs: number };
  deadline?: NodeJS.Timeout;
}

export class WorkerPool implements TaskRunner {
  /** A job's worker writes its manifest after its outputs (thread.ts; execute.ts sends `manifest`). */
  readonly writesManifests = true;
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; job: TaskJob; pending: Pending }[] = [];
  private nextId = 0;

  constructor(
    private readonly size: number,
    private readonly init: {
      pipelineFile: string;
      workspace: string;
      params: Record<string, unknown>;
      store?: Pick<StoreChoice, 'spec' | 'gcs'>;
      /** The run's project, whose warehouse its tasks query (warehouse/project-root.ts). */
      projectRoot?: string;
    },
    /** Retire a worker idle this long while another is still alive; absent: never retire. */
    private readonly retireIdleAfterMs?: number,
  ) {}

  /** Worker threads alive now (started and not retired or dead). */
  get threads(): number {
    return this.slots.length;
  }

  run(job: TaskJob): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    for (const s of this.slots) {
      clearTimeout(s.idleTimer);
      clearTimeout(s.deadline);
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const { id, job, pending } = this.queue.shift()!;
      slot.busy = true;
      slot.jobs.set(id, pending);
      slot.worker.postMessage({ id, job });
      slot.timed =
        job.timeoutMs === undefined ? undefined : { id, task: job.task, timeoutMs: job.timeoutMs };
    }
  }

  /**
   * Job `id` ran past its task's timeout: end its thread (out of the pool first, so the exit
   * fails no other job and the next job starts a new thread) and fail the job. The scheduler
   * still holds the task's lock and releases it, so nothing of the attempt is committed: the
   * thread writes the manifest last, after its outputs (a manifest written just before the stop
   * is a finished result, which the next run may serve).
   */
  private stopLate(slot: Slot, id: number, task: string, timeoutMs: number): void {
    const pending = slot.jobs.get(id);
    if (!pending) return;
    slot.jobs.delete(id);
    clearTimeout(slot.idleTimer);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
    pending.reject(timeoutError(task, timeoutMs, true));
    this.dispatch();
  }

  private spawn(): Slot {
    // Built (dist/): the worker entry is plain JS. From source (tests): register tsx in the
    // thread first (`--import` is not accepted in a worker's execArgv), then load worker.ts.
    const source = import.meta.url.endsWith('.ts');
    const worker = source
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(new URL('./thread.ts', import.meta.url).href)}))`,
          { eval: true, workerData: this.init },
        )
      : new Worker(new URL('./worker.js', import.meta.url), { workerData: this.init });
    const slot: Slot = { worker, busy: false, jobs: new Map(), idleSince: 0 };
    worker.on(
      'message',
      (msg: {
        id: number;
        /** The thread began a timed job (thread.ts): its time counts from now. */
        started?: true;
        ok: boolean;
        result?: JobResult;
        error?: { message: string; stack?: string };
      }) => {
        if (msg.started) {
          const timed = slot.timed;
          if (timed?.id === msg.id)
            slot.deadline = setTimeout(
              () => this.stopLate(slot, timed.id, timed.task, timed.timeoutMs),
              timed.timeoutMs,
            );
          return;
        }
        const pending = slot.jobs.get(msg.id);
        slot.jobs.delete(msg.id);
        slot.busy = false;
        clearTimeout(slot.deadline);
        if (msg.ok) pending?.resolve(msg.result!);
        else {
          const error = new Error(msg.error!.message);
          if (msg.error!.stack) error.stack = msg.error!.stack;
          pending?.reject(error);
        }
        this.dispatch();
        if (!slot.busy) {
          slot.idleSince = performance.now();
          this.retireLater(slot, this.retireIdleAfterMs);
        }
      },
    );
    const fail = (error: Error) => {
      clearTimeout(slot.idleTimer);
      clearTimeout(slot.deadline);
      for (const p of slot.jobs.values()) p.reject(error);
      slot.jobs.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) =>
      fail(new Error(`worker thread exited with code ${code} while running a task`)),
    );
    this.slots.push(slot);
    return slot;
  }

  /** Retire `slot` once it has been idle `retireIdleAfterMs`, unless it is the last thread. */
  private retireLater(slot: Slot, afterMs: number | undefined): void {
    if (afterMs === undefined || slot.idleTimer) return;
    const armedAt = performance.now();
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      const i = this.slots.indexOf(slot);
      if (slot.busy || i < 0 || this.slots.length < 2) return;
      const now = performance.now();
      const idleMs = now - slot.idleSince;
      // A timer firing late means this thread was blocked (a long synchronous step, GC, a loaded
      // host): results waiting to be read would have given the slot its next job, so idleness
      // measured across the stall is no evidence. Judge it again over a responsive stretch.
      const lateMs = now - armedAt - afterMs;
      if (idleMs < this.retireIdleAfterMs! || lateMs > Math.max(this.retireIdleAfterMs! / 2, 100)) {
        this.retireLater(
          slot,
          Math.max(this.retireIdleAfterMs! - idleMs, this.retireIdleAfterMs! / 2, 1),
        );
        return;
      }
      // Out of the pool before it ends, so its exit fails no job and the next job spawns anew.
      this.slots.splice(i, 1);
      void slot.worker.terminate();
    }, afterMs);
    slot.idleTimer.unref();
  }
}
