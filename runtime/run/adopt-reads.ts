// After a run that discovered run-time reads (runtime/key/run-reads.ts), file its results under
// the keys the next run will compute, so discovering a read costs no second run.
//
// (The recorder hashes what `readFileSync`, fs/promises `readFile` and the `readdir`s hand the
// task; other reads, streams and descriptors, are proven by the file's age instead.)
//
// A task's key before its first run cannot hold the files it will read; after the run, its record
// holds them, and the next run's key gains their content hashes. The result just computed is the
// right result for that new key exactly when the new key differs from the old one only by
//   - inputs the run itself discovered (new `reads` and `env` entries) whose content now keyed is
//     the content the task read: the hash of what the task was handed equals the hash now, or the
//     file, folder or package has not changed since before the run started (its ctime, which no
//     user-space write can set back, and mtime are older than the run's start by more than
//     filestamp's racy window); and
//   - upstream keys that moved the same way (upstream results adopted here).
// Then a manifest for the new key is written beside the old one, pointing at the same output
// files. Anything else (an entry already in the old key with another value now, a file touched
// during the run, a changed env value) is left to the next run, which re-runs the task.
//
// The executor calls `finished` as each task's manifest is written (so a run killed later keeps
// what finished), and `sweep` at the end for tasks served from cache whose upstream moved.
import { lstatSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { canonicalJson, makeKey } from '../key/hash.js';
import { stampLimits } from '../key/filestamp.js';
import { addRecordedReads } from '../key/keys.js';
import {
  hasRunReads,
  codeFilesOfKey,
  moduleRecordsOfCode,
  recordedRunReads,
  withModuleReads,
  RunReadStamps,
  LINK,
  LSTAT,
  pathOfInput,
  type ReadsContext,
  type RecordedRunReads,
  emptyRunReads,
  WORKDIR_INPUT,
} from '../key/run-reads.js';
import type { Store } from '../store/store.js';
import type { CacheKey, GraphNode, KeyInputs, Manifest } from '../types.js';

const EMPTY = canonicalJson(emptyRunReads());
const shape = (r: RecordedRunReads | undefined) =>
  r ? canonicalJson({ ...r, observed: undefined }) : EMPTY;

export class ReadAdopter {
  /** Task → the key its result is now also filed under. */
  private readonly moved = new Map<string, string>();
  /** Tasks whose result this run stored under no key of its own (execute.ts `unkeyed`). */
  private readonly unkeyed = new Set<string>();
  private readonly stamps: RunReadStamps;
  private readonly quietBefore: number;

  constructor(
    private readonly ctx: ReadsContext,
    /** The records the run's keys were computed from. */
    private readonly before: Map<string, RecordedRunReads>,
    private readonly store: Store,
    runStartMs: number,
  ) {
    this.stamps = RunReadStamps.forProject(ctx.root);
    this.quietBefore = runStartMs - stampLimits.racyMs;
  }

  /**
   * `node` finished under `key` (ran, or served from cache) with `manifest` stored: if its record
   * grew or an upstream result moved, file the result under the next key where provably the same.
   * `readNothing`: the run just finished saw the task read nothing (its runner says so), so it
   * wrote no record to look for. `unkeyed`: its runner found it read an input its key lacks
   * (perform.ts `PerformedTask.unkeyed`), perhaps only through a module's record: always looked at.
   * Returns the key the result is now also filed under, if any.
   */
  async finished(
    node: GraphNode,
    key: CacheKey,
    manifest?: Manifest,
    readNothing = false,
    unkeyed = false,
  ): Promise<string | undefined> {
    if (unkeyed) this.unkeyed.add(node.name);
    const next = this.nextKey(node, key, readNothing && !unkeyed, unkeyed);
    if (!next) return undefined;
    const { k1, inputs, rec } = next;
    if (!this.onlyDiscovered(key.inputs, inputs, rec.observed ?? {})) return undefined;
    if (!(await this.store.isDone(node.name, k1.value))) {
      const m = manifest ?? (await this.store.readManifest(node.name, key.value));
      if (!m) return undefined;
      await this.store.writeManifest({ ...m, key: k1.value, inputs });
    }
    this.moved.set(node.name, k1.value);
    return k1.value;
  }

  /**
   * Before `node` runs under `key`: the result another run (a second `cellar run` started at
   * the same time) filed under the key its grown record gives now, if that key is done. That
   * run discovered a read this run's key lacks, so it stored its result under no key this run
   * computed (execute.ts `unkeyed`), only under the next one; the next key holds each read by
   * its content now, so its result is the one this run would compute. The task's result moves
   * there (its downstream follows it, as after `finished`). Undefined when the record is the
   * one this run keyed from (then the result is this run's to make).
   */
  async servedElsewhere(
    node: GraphNode,
    key: CacheKey,
  ): Promise<{ key: string; manifest: Manifest } | undefined> {
    const next = this.nextKey(node, key, false, false);
    if (!next || !(await this.store.isDone(node.name, next.k1.value))) return undefined;
    const manifest = await this.store.readManifest(node.name, next.k1.value);
    if (!manifest) return undefined;
    this.moved.set(node.name, next.k1.value);
    return { key: next.k1.value, manifest };
  }

  /** The key `node`'s result belongs under after its record grew or an upstream moved, with its
   *  inputs and the record it was computed from; undefined when neither happened. */
  private nextKey(
    node: GraphNode,
    key: CacheKey,
    readNothing: boolean,
    unkeyed: boolean,
  ): { k1: CacheKey; inputs: KeyInputs; rec: RecordedRunReads } | undefined {
    const upMoved = node.upstream.some((u) => this.moved.has(u));
    // Most tasks read nothing by path: no record to open, and no stat when the runner said so.
    if (
      !unkeyed &&
      !upMoved &&
      !this.before.has(node.name) &&
      (readNothing || !hasRunReads(this.ctx, node.name))
    )
      return undefined;
    // An upstream result stored under no key of its own that did not move either (its adoption
    // was declined): no key names the result this task read, so none is this task's.
    if (node.upstream.some((u) => this.unkeyed.has(u) && !this.moved.has(u))) return undefined;
    // With the records of the local modules its code reaches, as computeKeys joins them.
    const files = codeFilesOfKey(key);
    const modules =
      node.task.module && files ? moduleRecordsOfCode(this.ctx.root, node.task.module, files) : [];
    const rec = recordedRunReads(this.ctx, node.name, modules);
    const was = withModuleReads(this.before.get(node.name), this.before, modules);
    if (!upMoved && shape(rec) === shape(was)) return undefined;
    const upstream: Record<string, string> = {};
    for (const [u, k] of Object.entries(key.inputs.upstream)) upstream[u] = this.moved.get(u) ?? k;
    const inputs: KeyInputs = { ...key.inputs, upstream };
    delete inputs.reads;
    addRecordedReads(inputs, rec, this.ctx, this.stamps, {
      workdir: this.ctx.workdir ?? process.cwd(),
      workspace: this.ctx.workspace,
    });
    const k1 = makeKey(inputs);
    return k1.value === key.value ? undefined : { k1, inputs, rec };
  }

  /** Tasks served from cache whose upstream moved: in graph order, after the run. */
  async sweep(nodes: readonly GraphNode[], finished: Map<string, CacheKey>): Promise<void> {
    if (this.moved.size === 0) return;
    for (const node of nodes) {
      const key = finished.get(node.name);
      if (key && !this.moved.has(node.name) && node.upstream.some((u) => this.moved.has(u)))
        await this.finished(node, key);
    }
    this.stamps.save();
  }

  private onlyDiscovered(a: KeyInputs, b: KeyInputs, observed: Record<string, string>): boolean {
    const { reads: ra = {}, env: ea = {}, upstream: _ua, ...restA } = a;
    const { reads: rb = {}, env: eb = {}, upstream: _ub, ...restB } = b;
    if (canonicalJson(restA) !== canonicalJson(restB)) return false;
    for (const [name, hash] of Object.entries(ea)) if (eb[name] !== hash) return false;
    for (const [path, value] of Object.entries(ra)) if (rb[path] !== value) return false;
    for (const [path, value] of Object.entries(rb)) {
      if (path in ra) continue;
      // The folder this very run ran in: not data that may have moved.
      if (path === WORKDIR_INPUT) continue;
      // The task was handed exactly this content (or listing), or the path has not changed
      // since before the run started.
      if (observed[path] === value) continue;
      if (!this.quiet(path, value)) return false;
    }
    return true;
  }

  /** Not changed since `quietBefore`: the path itself, a package's package.json, or for a
   *  missing path its folder. */
  private quiet(recorded: string, value: string): boolean {
    // A link's target or resolved path may move with no change to any file a stat sees (an
    // ancestor link re-pointed): never taken as quiet.
    if (recorded.endsWith(LINK)) return false;
    // A stat read's input (`data/x.csv#stat`, `#lstat`) is the path's own.
    const path = pathOfInput(recorded);
    const abs = isAbsolute(path) ? path : join(this.ctx.root, ...path.split('/'));
    const target = value.startsWith('pkg:')
      ? join(abs, 'package.json')
      : value === 'missing' || value === 'probe:missing' || value === 'stat:missing'
        ? dirname(abs)
        : abs;
    try {
      const st = recorded.endsWith(LSTAT) ? lstatSync(target) : statSync(target);
      return Math.max(st.mtimeMs, st.ctimeMs) < this.quietBefore;
    } catch {
      return false;
    }
  }
}
