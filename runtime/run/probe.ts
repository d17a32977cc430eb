// Between keys and plan: `probeStore` reads what `planRun` needs from the store (which keys are
// done, which cached results a task hook rejects, the previous key inputs of stale tasks), so the
// plan itself stays pure and `--dry-run` and the real run see one and the same facts.
import { hooksFor } from './hooks.js';
import type { StoreFacts } from './plan.js';
import type { Store } from '../store/store.js';
import { diffKeyInputs } from '../key/hash.js';
import type { CacheKey, KeyInputs, Manifest, TaskGraph } from '../types.js';
import { writtenFileMoved, type RunReadStamps, type WrittenCheckMode } from '../key/run-reads.js';

/**
 * The side-effect files the pipeline's tasks own (key/run-reads.ts `sideEffectFiles`), and how to
 * check them: a done task owning any has its manifest read, and is not served when a file its run
 * wrote (`Manifest.written`) is missing, or holds other bytes where it is the file's only writer.
 */
export interface WrittenCheck {
  /** The project root the recorded paths are relative to. */
  root: string;
  stamps: RunReadStamps;
  /** Task → the files it owns, recorded path → how a cache hit checks it. */
  owned: ReadonlyMap<string, ReadonlyMap<string, WrittenCheckMode>>;
}

/** Read what planRun needs from the store: done markers, hook validity, previous key inputs. */
export async function probeStore(
  graph: TaskGraph,
  keys: Map<string, CacheKey>,
  store: Store,
  options: { reasons: boolean; written?: WrittenCheck },
): Promise<StoreFacts> {
  const facts: StoreFacts = {
    done: new Set(),
    invalid: new Map(),
    previous: new Map(),
    writtenMoved: new Map(),
    outputMissing: new Map(),
  };
  const written = options.written;
  // Built only when a hook asks (warehouse tasks): a run of plain tasks never needs it.
  let keysByTask: Record<string, string> | undefined;
  const allKeys = () => {
    if (!keysByTask) {
      keysByTask = {};
      for (const [name, key] of keys) keysByTask[name] = key.value;
    }
    return keysByTask;
  };
  // One listing of the store: a task with no folder has no manifest under any key, so it is
  // neither done nor has a previous key, without two failed lookups (100k tasks: 200k stats).
  // Names with a path separator map to nested folders: those are probed one by one as before.
  const stored = store.storedTasks?.();
  for (const node of graph.nodes) {
    if (stored && !stored.has(node.name) && !/[\\/]/.test(node.name)) continue;
    const key = keys.get(node.name)!;
    // A local store answers synchronously: no await (and no microtask) per task on the warm path,
    // and both questions below from one read of the manifest (`Store.doneAndMissing`).
    const probed = store.doneAndMissing?.(node.name, key.value);
    const done = probed ? probed.done : store.isDone(node.name, key.value);
    if (done === true || (done !== false && (await done))) {
      facts.done.add(node.name);
      // The manifest says "done", but a result is complete only while every output file it names
      // is there (Luigi's rule: a task whose target is missing runs again). For a local store one
      // manifest read and one existence check per output (`Store.missingOutput`).
      const gone = probed ? probed.gone : await store.missingOutput?.(node.name, key.value);
      if (gone) {
        facts.outputMissing!.set(node.name, gone);
        continue;
      }
      // A file the cached run wrote beside its outputs (out/report.csv) deleted or edited since:
      // serving the result would leave it so while saying all is cached. One stat per file.
      const owned = written?.owned.get(node.name);
      if (owned) {
        const m = await store.readManifest(node.name, key.value);
        const moved =
          m?.written && writtenFileMoved(written!.root, m.written, owned, written!.stamps);
        if (moved) {
          facts.writtenMoved!.set(node.name, {
            path: moved.path,
            missing: moved.now === 'missing',
          });
          continue;
        }
      }
      for (const hook of hooksFor(node.task)) {
        if (!hook.isCachedValid) continue;
        const ctx = {
          params: node.params,
          upstreamKeys: key.inputs.upstream,
          key: key.value,
          keysByTask: allKeys(),
        };
        if (!(await hook.isCachedValid(node.task, ctx))) {
          facts.invalid.set(node.name, hook.name);
          break;
        }
      }
    } else if (options.reasons) {
      const closest = closestManifest(
        await store.recentManifests(node.name, PREVIOUS_RUNS_COMPARED),
        key.inputs,
      );
      if (closest) facts.previous.set(node.name, { key: closest.key, inputs: closest.inputs });
    }
  }
  return facts;
}

/** How many stored runs of a stale task `--dry-run` compares with, newest first. */
export const PREVIOUS_RUNS_COMPARED = 20;

/**
 * The stored run "why is this stale" explains against: among `candidates` (one task of one
 * pipeline, newest first), the one whose params differ from the current ones in the fewest
 * params, then in the fewest key inputs overall, then in the fewest inputs one side lacks; the
 * newest among equals. So after running `n=3` then `n=4`, changing code at `n=3` is explained
 * against the `n=3` run (a code diff), not against the newer `n=4` one (a code diff plus a param
 * diff that is not news); and an edited data file is explained against the run that keyed it
 * (`hash → hash`), not against the one from before the read was discovered (`(none) → hash`),
 * whichever of the two manifests a file system dated later (the discovering run writes both).
 */
export function closestManifest(candidates: Manifest[], inputs: KeyInputs): Manifest | undefined {
  let best: Manifest | undefined;
  let bestScore: number[] | undefined;
  for (const m of candidates) {
    const changes = diffKeyInputs(m.inputs, inputs);
    const score = [
      changes.filter((c) => c.path.startsWith('params.')).length,
      changes.length,
      changes.filter((c) => c.before === undefined || c.after === undefined).length,
    ];
    const i = bestScore ? score.findIndex((v, j) => v !== bestScore![j]) : 0;
    if (!bestScore || (i >= 0 && score[i]! < bestScore[i]!)) [best, bestScore] = [m, score];
  }
  return best;
}
