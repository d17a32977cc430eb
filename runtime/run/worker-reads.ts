// Preloaded (`--import`) in a worker thread a task starts (`new Worker(…)`): records what the
// thread reads into the task's log (read-record.ts `recordWorkerThread`), before its script runs.
import { recordWorkerThread } from './read-record.js';

recordWorkerThread();
