// Files a task's SQL reads on the embedded DuckDB warehouse (`read_csv_auto('data/sales.csv')`,
// `read_parquet('data/*.parquet')`, `FROM 'x.csv'`, `ATTACH 'other.duckdb'`; sql/files.ts finds
// them), as cache-key inputs by content, under the warehouse hook:
//
//   file:<path>  the file's content hash (16 hex), or `missing`
//   glob:<pattern>  the sorted list of files it matches now (each also a `file:` input)
//   url:<url>  `remote: not content-stamped` (no cheap honest stamp: keyed by the URL only)
//
// Paths are shown relative to the project root (absolute outside it), so `--dry-run` names the
// file that changed and moving the project keeps the keys. A relative path in SQL resolves from
// the folder the task runs in (its notebook's folder, or `--workdir`), which is where DuckDB
// resolves it too: the process's working directory while the task runs, as in the notebook
// kernel (Jupyter starts it in the notebook's folder).
//
// Where the paths come from: the compiler lists the literal paths of the sql`` templates in a
// task's own cells (`warehouse.files`), known before the first run. A path in a setup helper, a
// bound parameter or a computed query is seen at run time (session.ts collects every statement's
// files in the task's scope) and recorded next to the task's tables (reads.ts); from the next run
// on it is in the key as well.
//
// Hashing: a stamp memo per project (`.cellar/warehouse-files.json`, filestamp.ts) trusts one
// `stat` only when size, inode, mtime and ctime are all unchanged (and the stamp was not racy);
// anything else re-reads the file, so an edit that keeps the size and puts the mtime back is seen.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { checkStamp, readWithStamp, sameStamp, type FileStamp } from '../../key/filestamp.js';
import type { AnyTask } from '../../task.js';
import type { RunPlan } from '../../types.js';
import { sourceWorkdir } from '../../load/source.js';
import { fileRead, type FileRead } from '../sql/files.js';
import { expandHome, warehouseConfig } from '../session.js';
import type { Warehouse } from '../types.js';

export const REMOTE_INPUT = 'remote: not content-stamped';

/** A path as stored and shown: relative to the project root with `/`, absolute outside it, a URL
 *  as written. */
export function shownPath(root: string, read: FileRead, base: string): string {
  if (read.kind === 'url') return read.path;
  // `~/x.csv` is where DuckDB reads it: under HOME, so a changed HOME is another file.
  const abs = resolve(base, expandHome(read.path));
  const rel = relative(root, abs);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? abs : rel.split(sep).join('/');
}

/** The folder a task's relative paths resolve from: the run's workdir, else its notebook's. */
export function taskWorkdir(task: AnyTask, workdir: string | undefined): string {
  return workdir ?? sourceWorkdir(task) ?? process.cwd();
}

/** The compiled literal paths of a task, classified and shown (relative to the root). */
export function compiledFiles(task: AnyTask, base: string): string[] {
  const root = warehouseConfig().projectRoot;
  return (task.warehouse?.files ?? []).map((p) => shownPath(root, fileRead(p), base));
}

/**
 * Key inputs for the files `shown` (paths as `shownPath` gives them): content hashes, glob match
 * lists, URLs. Globs are expanded by DuckDB's own `glob()`, so they match what DuckDB will read.
 */
export async function fileKeyInputs(
  w: Warehouse,
  shown: string[],
): Promise<Record<string, unknown>> {
  const root = warehouseConfig().projectRoot;
  const inputs: Record<string, unknown> = {};
  const memo = StampMemo.forProject(root);
  const absOf = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
  for (const p of [...new Set(shown)].sort()) {
    const read = fileRead(p);
    if (read.kind === 'url') {
      inputs[`url:${p}`] = REMOTE_INPUT;
      continue;
    }
    if (read.kind === 'glob') {
      const { rows } = await w.query({
        text: 'SELECT file FROM glob($1) ORDER BY file',
        params: [{ name: 'p0', type: 'STRING', value: absOf(p) }],
        tables: [],
      });
      const matches = rows.map((r) =>
        shownPath(root, { path: String(r.file), kind: 'file' }, root),
      );
      inputs[`glob:${p}`] = matches;
      for (const m of matches) inputs[`file:${m}`] = memo.hash(absOf(m));
      continue;
    }
    inputs[`file:${p}`] = memo.hash(absOf(p));
  }
  memo.save();
  return inputs;
}

/**
 * `cellar run --dry-run`'s warning for remote reads: one line per task and URL whose content is
 * not in the key (read from each plan entry's warehouse key inputs, `url:<url>`).
 */
export function remoteReadNotes(plan: RunPlan): string[] {
  const notes: string[] = [];
  for (const e of plan.entries) {
    // (A plan from the warm-run record carries keys without inputs.)
    const inputs = e.key.inputs?.hooks?.warehouse;
    if (!inputs || typeof inputs !== 'object') continue;
    for (const name of Object.keys(inputs))
      if (name.startsWith('url:'))
        notes.push(
          `note: task ${e.name} reads ${name.slice(4)}, keyed by its URL only (a remote file's content is not in the key): \`cellar run --rerun ${e.name}\` reads it again`,
        );
  }
  return notes;
}

/** Content stamps of data files, one JSON file per project; written atomically when it changes. */
class StampMemo {
  private static memos = new Map<string, StampMemo>();
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly stamps: Record<string, FileStamp>,
  ) {}

  static forProject(root: string): StampMemo {
    const file = join(root, '.cellar', 'warehouse-files.json');
    let memo = StampMemo.memos.get(file);
    if (!memo) {
      let stamps: Record<string, FileStamp> = {};
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as { stamps?: unknown };
        if (parsed.stamps && typeof parsed.stamps === 'object')
          stamps = parsed.stamps as Record<string, FileStamp>;
      } catch {
        // none yet, or unreadable: every file is read once
      }
      memo = new StampMemo(file, stamps);
      StampMemo.memos.set(file, memo);
    }
    return memo;
  }

  /** The file's content hash (16 hex), or `missing` when it cannot be read. */
  hash(abs: string): string {
    const old = this.stamps[abs];
    if (old) {
      const { same, stamp } = checkStamp(abs, old);
      if (same) {
        if (!sameStamp(stamp, old)) this.set(abs, stamp);
        return stamp.hash;
      }
    }
    try {
      const { stamp } = readWithStamp(abs);
      this.set(abs, stamp);
      return stamp.hash;
    } catch {
      if (old) {
        delete this.stamps[abs];
        this.dirty = true;
      }
      return 'missing';
    }
  }

  private set(abs: string, stamp: FileStamp): void {
    this.stamps[abs] = stamp;
    this.dirty = true;
  }

  save(): void {
    if (!this.dirty) return;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      const tmp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      writeFileSync(tmp, JSON.stringify({ version: 1, stamps: this.stamps }) + '\n');
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      // The memo only saves reads: failing to write it costs a re-hash next time, nothing else.
    }
  }
}
