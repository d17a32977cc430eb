// Runs the SQL translator in a helper process, so its WASM heap (~190 MB resident once loaded,
// more while translating) never sits in a notebook kernel, a pipeline worker or a task that
// streams millions of rows. The helper starts on the first translation a process needs (most
// queries come from the translation cache in the warehouse file and need none), answers
// line-delimited JSON requests, and exits after 10 s without work. It does not keep the parent
// alive. `CELLAR_TRANSLATOR=in-process` runs the translator in this process instead.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SqlDialect } from '../../task.js';
import { inProcessTranspile, type Transpile, type TranspileResult } from './dialect.js';

const IDLE_MS = 10_000;

// The helper's program: import polyglot's Node build, then answer one JSON line per request.
const PROGRAM = `
const mod = await import(process.argv[1]);
const d = (x) => (x === 'bigquery' ? mod.Dialect.BigQuery : mod.Dialect.DuckDB);
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const req = JSON.parse(line);
    let res;
    try { res = mod.transpile(req.text, d(req.from), d(req.to)); } catch (e) { res = { success: false, error: String(e && e.message || e) }; }
    process.stdout.write(JSON.stringify({ id: req.id, success: res.success, sql: res.sql, error: res.error }) + '\\n');
  }
});
process.stdin.on('end', () => process.exit(0));
`;

let helper: {
  child: ChildProcessWithoutNullStreams;
  pending: Map<number, (r: TranspileResult) => void>;
  idle: NodeJS.Timeout | null;
} | null = null;
let nextId = 0;

function polyglotEntry(): string {
  // The package's Node ESM build sits next to its CommonJS entry.
  const cjs = createRequire(import.meta.url).resolve('@polyglot-sql/sdk');
  return pathToFileURL(join(dirname(cjs), 'index.node.js')).href;
}

function start(): NonNullable<typeof helper> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROGRAM, polyglotEntry()], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const h = {
    child,
    pending: new Map<number, (r: TranspileResult) => void>(),
    idle: null as NodeJS.Timeout | null,
  };
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl)) as TranspileResult & { id: number };
      buf = buf.slice(nl + 1);
      h.pending.get(msg.id)?.(msg);
      h.pending.delete(msg.id);
    }
    if (h.pending.size === 0) {
      hold(h, false);
      idleLater(h);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code) => {
    for (const resolve of h.pending.values())
      resolve({
        success: false,
        error: `SQL translator process exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`,
      });
    h.pending.clear();
    if (helper === h) helper = null;
  });
  hold(h, false);
  return h;
}

/** Keep the parent alive only while a request is waiting for its answer. */
function hold(h: NonNullable<typeof helper>, on: boolean): void {
  const handles = [h.child, h.child.stdin, h.child.stdout, h.child.stderr] as unknown as {
    ref?: () => void;
    unref?: () => void;
  }[];
  for (const x of handles) (on ? x.ref : x.unref)?.call(x);
}

function idleLater(h: NonNullable<typeof helper>): void {
  if (h.idle) clearTimeout(h.idle);
  h.idle = setTimeout(() => {
    if (h.pending.size === 0) {
      h.child.stdin.end();
      if (helper === h) helper = null;
    }
  }, IDLE_MS);
  h.idle.unref();
}

/** The translator in a helper process (see the header). */
export const helperTranspile: Transpile = (text: string, from: SqlDialect, to: SqlDialect) => {
  if (process.env.CELLAR_TRANSLATOR === 'in-process') return inProcessTranspile(text, from, to);
  helper ??= start();
  const h = helper;
  if (h.idle) clearTimeout(h.idle);
  const id = nextId++;
  hold(h, true);
  return new Promise<TranspileResult>((resolve) => {
    h.pending.set(id, resolve);
    h.child.stdin.write(JSON.stringify({ id, text, from, to }) + '\n');
  });
};

/** Stop the helper now (tests, shutdown). */
export function stopTranslator(): void {
  if (helper) {
    helper.child.stdin.end();
    helper = null;
  }
}
