// The in-memory twin of LocalStore: same contract, no disk, for tests and `evaluate`-style runs.
import type { Manifest } from '../types.js';
import {
  checkRescope,
  markedDamaged,
  pipelineFolder,
  sizeDiffers,
  type MissingOutput,
  type Store,
  type TaskLock,
} from './store.js';

/**
 * A store that keeps manifests and output bytes in memory: the in-memory twin of the local
 * folder store, for tests (`runPipeline({ pipeline, store: new MemoryStore() })`, `load(task, {},
 * { store })`). Nothing survives the process; locks are in-process only.
 */
export class MemoryStore implements Store {
  readonly location: string;
  readonly files: Map<string, Uint8Array>;
  readonly manifests: Map<string, Manifest>;
  readonly logs: Map<string, string[]>;
  private readonly locks: Map<string, Promise<void>>;
  private readonly finishedAt: Map<string, number>;
  private readonly clock: { order: number };
  /** `<pipeline folder>/` for a view, '' for the root: the prefix of every key of this view. */
  private readonly prefix: string;

  /**
   * `new MemoryStore()` is an empty root. The maps are shared by the root and its pipeline views,
   * keyed by `<pipeline folder>/<task>/<key>` (manifests) and `<pipeline folder>/<file>` (outputs),
   * so a test holding the root sees everything its runs stored.
   */
  constructor(
    readonly pipeline?: string,
    shared?: MemoryStore,
  ) {
    this.prefix = pipeline === undefined ? '' : `${pipelineFolder(pipeline)}/`;
    this.location = `memory:${this.prefix}`;
    this.files = shared?.files ?? new Map();
    this.manifests = shared?.manifests ?? new Map();
    this.logs = shared?.logs ?? new Map();
    this.locks = shared?.locks ?? new Map();
    this.finishedAt = shared?.finishedAt ?? new Map();
    this.clock = shared?.clock ?? { order: 0 };
  }

  forPipeline(pipeline: string): MemoryStore {
    if (checkRescope(this.pipeline, pipeline) === 'same') return this;
    return new MemoryStore(pipeline, this);
  }

  outputPath(_task: string, file: string): string {
    return `memory:${this.prefix}${file}`;
  }

  isDone(task: string, key: string): boolean {
    return this.manifests.has(`${this.prefix}${task}/${key}`);
  }

  async readManifest(task: string, key: string): Promise<Manifest | undefined> {
    return this.manifests.get(`${this.prefix}${task}/${key}`);
  }

  async dropManifest(task: string, key: string): Promise<void> {
    this.manifests.delete(`${this.prefix}${task}/${key}`);
  }

  async latestManifest(task: string): Promise<Manifest | undefined> {
    return (await this.recentManifests(task, 1))[0];
  }

  async recentManifests(task: string, limit: number): Promise<Manifest[]> {
    const folder = `${this.prefix}${task}/`;
    const found: { m: Manifest; order: number }[] = [];
    for (const [id, m] of this.manifests) {
      // The id's folder, not m.task: another pipeline's task of the same name is not this one.
      if (id.startsWith(folder) && !id.slice(folder.length).includes('/'))
        found.push({ m, order: this.finishedAt.get(id) ?? 0 });
    }
    return found
      .sort((a, b) => b.order - a.order)
      .slice(0, limit)
      .map((f) => f.m);
  }

  async writeOutput(_task: string, file: string, bytes: Uint8Array): Promise<void> {
    this.files.set(`${this.prefix}${file}`, bytes.slice());
  }

  async readOutput(_task: string, file: string): Promise<Uint8Array> {
    const bytes = this.files.get(`${this.prefix}${file}`);
    // ENOENT, as a local file: readers say whose output is missing (perform.ts readOutput).
    if (!bytes)
      throw Object.assign(new Error(`no stored output ${this.prefix}${file}`), { code: 'ENOENT' });
    return bytes;
  }

  missingOutput(task: string, key: string): MissingOutput | undefined {
    const manifest = this.manifests.get(`${this.prefix}${task}/${key}`);
    const marked = manifest && markedDamaged(manifest);
    if (marked) return marked;
    for (const [output, stored] of Object.entries(manifest?.outputs ?? {})) {
      const bytes = this.files.get(`${this.prefix}${stored.file}`);
      if (!bytes) return { output, file: stored.file };
      if (typeof stored.bytes === 'number' && bytes.byteLength !== stored.bytes)
        return {
          output,
          file: stored.file,
          damaged: sizeDiffers(bytes.byteLength, stored.bytes),
        };
    }
    return undefined;
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    const id = `${this.prefix}${manifest.task}/${manifest.key}`;
    const before = this.manifests.get(id);
    this.manifests.set(id, structuredClone(manifest));
    this.finishedAt.set(id, ++this.clock.order);
    // As LocalStore: the files only the replaced manifest named go once the new one is in.
    if (before) {
      const kept = filesOf(manifest);
      this.removeUnnamed(
        manifest.task,
        id,
        [...filesOf(before)].filter((f) => !kept.has(f)),
      );
    }
  }

  async discardOutputs(task: string, key: string, files: readonly string[]): Promise<void> {
    const id = `${this.prefix}${task}/${key}`;
    const stored = this.manifests.get(id);
    const named = stored ? filesOf(stored) : new Set<string>();
    this.removeUnnamed(
      task,
      id,
      files.filter((f) => !named.has(f)),
    );
  }

  /** Remove output files of `task` no manifest of the task but `id`'s names. */
  private removeUnnamed(task: string, id: string, files: readonly string[]): void {
    if (files.length === 0) return;
    const folder = `${this.prefix}${task}/`;
    const others = new Set<string>();
    for (const [other, m] of this.manifests)
      if (other !== id && other.startsWith(folder) && !other.slice(folder.length).includes('/'))
        for (const f of filesOf(m)) others.add(f);
    for (const file of files) if (!others.has(file)) this.files.delete(`${this.prefix}${file}`);
  }

  async lock(task: string, key: string): Promise<TaskLock> {
    const id = `${this.prefix}${task}/${key}`;
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
    const id = `${this.prefix}${runId}`;
    const lines = this.logs.get(id) ?? [];
    lines.push(line);
    this.logs.set(id, lines);
  }

  *recentLogs(): Iterable<string> {
    // Insertion order is run order (run ids begin with their start time).
    const ids = [...this.logs.keys()].filter(
      (id) => id.startsWith(this.prefix) && !id.slice(this.prefix.length).includes('/'),
    );
    for (const id of ids.reverse()) yield this.logs.get(id)!.join('\n') + '\n';
  }
}

/** The output files a manifest names. */
function filesOf(manifest: Manifest): Set<string> {
  return new Set(Object.values(manifest.outputs ?? {}).map((o) => o.file));
}
