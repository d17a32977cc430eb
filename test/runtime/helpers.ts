// Shared by the runtime's process-level tests: copy a fixture pipeline into test/.tmp (inside the
// project, so its `import 'cellar'` resolves to this package) and run the real CLI on it.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const cli = join(root, 'bin', 'cellar.mjs');

let counter = 0;
export function copyFixture(name: string): string {
  const dir = join(
    root,
    'test',
    '.tmp',
    'runtime',
    `${name}-${process.pid}-${Date.now()}-${counter++}`,
  );
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'test', 'runtime', 'fixtures', name), dir, { recursive: true });
  return dir;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(
  args: string[],
  options: { cwd?: string } = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: options.cwd ?? root,
    env: { ...process.env, CELLAR_WORKSPACE: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res) =>
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export function runCli(args: string[], options: { cwd?: string } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

export type Statuses = Record<string, string>;

/** Run a pipeline with --json and return each task's status (and the parsed result). */
export async function runJson(args: string[], options: { cwd?: string } = {}) {
  const r = await runCli([...args, '--json'], options);
  let parsed:
    | { ok: boolean; tasks: { name: string; status: string; key: string; durationMs: number }[] }
    | undefined;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop()!);
  } catch {
    throw new Error(`cellar did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  const status: Statuses = Object.fromEntries(parsed!.tasks.map((t) => [t.name, t.status]));
  const keys: Record<string, string> = Object.fromEntries(
    parsed!.tasks.map((t) => [t.name, t.key]),
  );
  return { ...r, result: parsed!, status, keys };
}

/** Lines of calls.log (tasks append `<task> <pid>` each time they compute). */
export function calls(dir: string): string[] {
  const path = join(dir, 'data', 'calls.log');
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : [];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
