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
// and is replaced on the next job.
import { Worker } from 'node:worker_threads';
import type { JobResult, TaskRunner } from '../run/execute.js';
import type { TaskJob } from '../run/perform.js';
import type { StoreChoice } from '../store/open.js';

interface Pending {
  resolve: (result: JobResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
  jobs: Map<number, Pending>;
}

export class WorkerPool implements TaskRunner {
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
    },
  ) {}

  run(job: TaskJob): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
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
    }
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
    const slot: Slot = { worker, busy: false, jobs: new Map() };
    worker.on(
      'message',
      (msg: {
        id: number;
        ok: boolean;
        result?: JobResult;
        error?: { message: string; stack?: string };
      }) => {
        const pending = slot.jobs.get(msg.id);
        slot.jobs.delete(msg.id);
        slot.busy = false;
        if (msg.ok) pending?.resolve(msg.result!);
        else {
          const error = new Error(msg.error!.message);
          if (msg.error!.stack) error.stack = msg.error!.stack;
          pending?.reject(error);
        }
        this.dispatch();
      },
    );
    const fail = (error: Error) => {
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
}
