// The in-memory twin of LocalStore: same contract, no disk, for tests and `evaluate`-style runs.
import type { Manifest } from '../types.js';
import type { Store, TaskLock } from './store.js';

/**
 * A store that keeps manifests and output bytes in memory: the in-memory twin of the local
 * folder store, for tests (`runPipeline({ pipeline, store: new MemoryStore() })`, `load(task, {},
 * { store })`). Nothing survives the process; locks are in-process only.
 */
export class MemoryStore implements Store {
  readonly location = 'memory:';
  readonly files = new Map<string, Uint8Array>();
  readonly manifests = new Map<string, Manifest>();
  readonly logs = new Map<string, string[]>();
  private readonly locks = new Map<string, Promise<void>>();
  private order = 0;
  private readonly finishedAt = new Map<string, number>();

  outputPath(_task: string, file: string): string {
    return `memory:${file}`;
  }

  isDone(task: string, key: string): boolean {
    return this.manifests.has(`${task}/${key}`);
  }

  async readManifest(task: string, key: string): Promise<Manifest | undefined> {
    return this.manifests.get(`${task}/${key}`);
  }

  async latestManifest(task: string): Promise<Manifest | undefined> {
    let best: Manifest | undefined;
    let bestOrder = -1;
    for (const [id, m] of this.manifests) {
      const order = this.finishedAt.get(id) ?? 0;
      if (m.task === task && order > bestOrder) [best, bestOrder] = [m, order];
    }
    return best;
  }

  async writeOutput(_task: string, file: string, bytes: Uint8Array): Promise<void> {
    this.files.set(file, bytes.slice());
  }

  async readOutput(_task: string, file: string): Promise<Uint8Array> {
    const bytes = this.files.get(file);
    if (!bytes) throw new Error(`no stored output ${file}`);
    return bytes;
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    const id = `${manifest.task}/${manifest.key}`;
    this.manifests.set(id, structuredClone(manifest));
    this.finishedAt.set(id, ++this.order);
  }

  async lock(task: string, key: string): Promise<TaskLock> {
    const id = `${task}/${key}`;
    while (this.locks.has(id)) await this.locks.get(id);
    let release!: () => void;
    this.locks.set(id, new Promise<void>((r) => (release = r)));
    return {
      release: async () => {
        if (this.locks.has(id)) {
          this.locks.delete(id);
          release();
        }
      },
    };
  }

  appendLog(runId: string, line: string): void {
    const lines = this.logs.get(runId) ?? [];
    lines.push(line);
    this.logs.set(runId, lines);
  }
}
