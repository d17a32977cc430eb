// Has a source file changed? Decided by its content, with a stat shortcut that is sound.
//
// A stamp records a file's content hash and its stat facts: size, inode, mtime and ctime in
// nanoseconds. A later check trusts "unchanged" from stat alone only when every one of those
// facts is equal; anything else re-reads the file and compares content hashes. (mtime, size)
// alone is not enough: `touch -r`, `cp -p`, archive extraction and Nix stores set mtime at will,
// so an edit that keeps the size looks untouched. ctime cannot be set from user space: any write,
// rename-over or metadata change (including `touch -r` itself) moves it to "now", and a file
// replaced by another gets a new inode or a new ctime. So equal (size, ino, mtime, ctime) means
// the bytes were not written since the stamp.
//
// One gap remains, the one git calls "racily clean": file systems keep coarse timestamps (ext4 a
// few milliseconds, some network and FAT file systems one or two seconds), so a file written twice
// within one tick, same size, keeps all four facts. A stamp taken within `stampLimits.racyMs` of the file's
// last change is therefore marked untrusted and its next check reads the content; only stamps of
// files that had been quiet for a while skip the read. Clock skew between this host and a network
// file server larger than that window would reopen the gap (documented in cache-key.md).
import { readFileSync, statSync } from 'node:fs';
import { sha256 } from './hash.js';

export interface FileStamp {
  /** sha256 of the bytes (16 hex). */
  hash: string;
  size: number;
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
  /** False when taken within `stampLimits.racyMs` of the file's last change: the next check reads the file. */
  trusted: boolean;
}

/**
 * `racyMs`: changes closer than this to the stamp are not trusted to show in ctime/mtime.
 * Mutable only so tests can exercise the stat shortcut without waiting.
 */
export const stampLimits = { racyMs: 3000 };

export function contentHash(bytes: Uint8Array | string): string {
  return sha256(bytes).slice(0, 16);
}

/**
 * Stat `path`, then read it: stat first, so a write between the two leaves a stamp whose stat
 * facts are older than its content and the next check re-reads (never the reverse).
 */
export function readWithStamp(path: string): { bytes: Buffer; stamp: FileStamp } {
  const st = statSync(path, { bigint: true });
  const bytes = readFileSync(path);
  return { bytes, stamp: stampOf(st, contentHash(bytes)) };
}

/**
 * Check `stamp` against the file now. `same`: the content is what the stamp hashed. `stamp`: a
 * refreshed stamp when the stat facts moved but the content did not (the caller may save it),
 * else the one given. A missing file is not the same.
 */
export function checkStamp(path: string, stamp: FileStamp): { same: boolean; stamp: FileStamp } {
  if (stamp.trusted && stampLimits.racyMs >= 1) {
    // The common case, a trusted stamp of an untouched file, decided by a number `stat`: in a
    // fresh process (every `cellar run`) Node's BigIntStats costs about twice the plain Stats per
    // call (BigInt fields, and four Dates made from them), and a warm run checks a thousand stamps.
    // Anything but "the same facts" goes on to the exact check below.
    let quick;
    try {
      quick = statSync(path, { throwIfNoEntry: false });
    } catch {
      return { same: false, stamp };
    }
    if (quick === undefined) return { same: false, stamp };
    if (
      quick.size === stamp.size &&
      String(quick.ino) === stamp.ino &&
      sameTime(quick.mtimeMs, stamp.mtimeNs) &&
      sameTime(quick.ctimeMs, stamp.ctimeNs)
    )
      return { same: true, stamp };
  }
  let st;
  try {
    st = statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return { same: false, stamp };
  }
  if (st === undefined) return { same: false, stamp };
  if (
    stamp.trusted &&
    Number(st.size) === stamp.size &&
    String(st.ino) === stamp.ino &&
    String(st.mtimeNs) === stamp.mtimeNs &&
    String(st.ctimeNs) === stamp.ctimeNs
  ) {
    return { same: true, stamp };
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return { same: false, stamp };
  }
  const hash = contentHash(bytes);
  if (hash !== stamp.hash) return { same: false, stamp };
  return { same: true, stamp: stampOf(st, hash) };
}

/**
 * Is a stat time in milliseconds (a double: about 0.25 µs apart at today's dates) the time a stamp
 * recorded in nanoseconds? Equal within 2 µs. That is as sound as the nanosecond comparison for a
 * trusted stamp: it was taken at least `racyMs` after the file's last change, and any write since
 * moves ctime to the time of that write, so at least `racyMs` (seconds; tests that set it below
 * 1 ms skip this shortcut) away from the recorded ctime, never within 2 µs of it. A false "moved"
 * only costs a read.
 */
function sameTime(ms: number, ns: string): boolean {
  return Math.abs(ms - Number(ns) / 1e6) < 0.002;
}

function stampOf(st: import('node:fs').BigIntStats, hash: string): FileStamp {
  const lastChangeMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n);
  return {
    hash,
    size: Number(st.size),
    ino: String(st.ino),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
    trusted: Date.now() - lastChangeMs >= stampLimits.racyMs,
  };
}

/** True when two stamps record the same stat facts and trust (nothing to save). */
export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return (
    a.hash === b.hash &&
    a.size === b.size &&
    a.ino === b.ino &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs &&
    a.trusted === b.trusted
  );
}

/**
 * Stamps by path as records store them (the compile's stamps, cli/compile-stamps.ts; the warm-run
 * record's sources, runtime/run/warm-record.ts): one array per folder, `[folder, name, hash, size,
 * ino, mtimeNs, ctimeNs, trusted (1 or 0), name, …]`, each path `folder + name` (split after its
 * last `/` or `\`: string slices, no normalising). Why: a warm run parses both records in a fresh
 * process, where `JSON.parse` of an object per file (six keys each, the folder repeated in every
 * path) cost about 13 ms for a 1,000-task notebook's record against about 2 ms for arrays of
 * strings and numbers (docs/design/warm-path.md, stop 30).
 */
export type PackedStamps = (string | number)[][];

const STAMP_FIELDS = 7;

/** `stamps` packed (see `PackedStamps`), consecutive paths of one folder in one array, in order. */
export function packStamps(stamps: Readonly<Record<string, FileStamp>>): PackedStamps {
  const out: PackedStamps = [];
  let group: (string | number)[] | undefined;
  for (const [path, s] of Object.entries(stamps)) {
    const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1;
    const folder = path.slice(0, cut);
    if (group?.[0] !== folder) out.push((group = [folder]));
    group.push(path.slice(cut), s.hash, s.size, s.ino, s.mtimeNs, s.ctimeNs, s.trusted ? 1 : 0);
  }
  return out;
}

/** The stamps `packStamps` packed, or undefined when `packed` is not of that shape (damaged). */
export function unpackStamps(packed: unknown): Record<string, FileStamp> | undefined {
  if (!Array.isArray(packed)) return undefined;
  const out: Record<string, FileStamp> = {};
  for (const group of packed as unknown[]) {
    if (!Array.isArray(group) || group.length % STAMP_FIELDS !== 1) return undefined;
    const folder = group[0];
    if (typeof folder !== 'string') return undefined;
    for (let i = 1; i < group.length; i += STAMP_FIELDS) {
      const name: unknown = group[i];
      const hash: unknown = group[i + 1];
      const size: unknown = group[i + 2];
      const ino: unknown = group[i + 3];
      const mtimeNs: unknown = group[i + 4];
      const ctimeNs: unknown = group[i + 5];
      const trusted: unknown = group[i + 6];
      if (
        typeof name !== 'string' ||
        typeof hash !== 'string' ||
        typeof size !== 'number' ||
        typeof ino !== 'string' ||
        typeof mtimeNs !== 'string' ||
        typeof ctimeNs !== 'string' ||
        (trusted !== 0 && trusted !== 1)
      )
        return undefined;
      out[folder + name] = { hash, size, ino, mtimeNs, ctimeNs, trusted: trusted === 1 };
    }
  }
  return out;
}
