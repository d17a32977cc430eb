// What the acceptance tests stand on: a throwaway project with real notebook files, and the real
// `cellar` command run in it as a separate process, exactly as a user types it.
//
// Projects live under test/.tmp/ inside the checkout, so Node finds the repository's node_modules
// (and `cellar` itself through the node_modules/cellar link) the way an installed project would.
// Nothing is mocked: the CLI compiles with ts-morph, runs tasks in workers, caches to disk.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { cellarAsync, type CliResult } from '../support/cellar-cli.js';

export const repo = join(import.meta.dirname, '..', '..');
export const fixtures = join(import.meta.dirname, 'fixtures');
const base = join(repo, 'test', '.tmp', `acceptance-${process.pid}`);
let count = 0;

export type { CliResult };

export interface Project {
  dir: string;
  /** Run `cellar <args>` in the project folder. */
  cellar(...args: string[]): CliResult;
  /**
   * `cellar <args>` without blocking this process: for tests holding a Jupyter kernel open, whose
   * websocket must go on answering the server's pings while the CLI runs (with `cellar()`'s
   * spawnSync a loaded machine lost the connection, and the kernel's next reply with it).
   */
  cellarAsync(...args: string[]): Promise<CliResult>;
  /** Run any command in the project folder (or a folder inside it). */
  run(command: string, args: string[], subdir?: string): CliResult;
  /** Run `cellar <args>` from a folder inside the project, as from a terminal opened there. */
  cellarIn(subdir: string, ...args: string[]): CliResult;
  /** Run a TypeScript script with tsx, as a user's own script would be run. */
  script(file: string, text: string): CliResult;
  read(path: string): string;
  write(path: string, text: string): void;
  /** Set (or with undefined, remove) an environment variable for the commands run after this. */
  setEnv(name: string, value: string | undefined): void;
}

/** A fresh project holding the named fixture files in notebooks/. */
export function project(...files: string[]): Project {
  const dir = join(base, `p${++count}`);
  mkdirSync(join(dir, 'notebooks'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "acceptance-project", "private": true, "type": "module" }\n',
  );
  for (const f of files) cpSync(join(fixtures, f), join(dir, 'notebooks', f));
  // No colour codes in what the tests read, and the project's own workspace (.cellar/).
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.CELLAR_WORKSPACE;
  const run = (command: string, args: string[], subdir = '.'): CliResult => {
    const r = spawnSync(command, args, {
      cwd: join(dir, subdir),
      encoding: 'utf8',
      timeout: 600_000,
      env,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    dir,
    run,
    cellar: (...args) => run(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args]),
    cellarAsync: (...args) => cellarAsync(args, { cwd: dir, env }),
    cellarIn: (subdir, ...args) =>
      run(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args], subdir),
    script: (file, text) => {
      writeFileSync(join(dir, file), text);
      return run(process.execPath, [join(repo, 'node_modules', 'tsx', 'dist', 'cli.mjs'), file]);
    },
    read: (path) => readFileSync(join(dir, path), 'utf8'),
    write: (path, text) => writeFileSync(join(dir, path), text),
    setEnv: (name, value) => {
      if (value === undefined) delete env[name];
      else env[name] = value;
    },
  };
}

export function removeProjects(): void {
  rmSync(base, { recursive: true, force: true });
}

/** A stack trace line (`    at fn (file:1:2)`): users should never see one without --verbose. */
export const STACK_FRAME = /^\s+at .+[:(].*\d+:\d+\)?$/m;

/**
 * `cellar run <notebook> --json [flags]` in the project, which must succeed: each task's status
 * by name.
 */
export function runStatuses(
  p: Project,
  notebook: string,
  ...flags: string[]
): Record<string, string> {
  return statusesOf(p.cellar('run', notebook, '--json', ...flags));
}

/**
 * `node <entry> --json --workspace ws [flags]` (a built folder's run.mjs, relative to the
 * project), which must succeed: each task's status by name.
 */
export function runBuilt(p: Project, entry: string, ...flags: string[]): Record<string, string> {
  return statusesOf(p.run(process.execPath, [entry, '--json', '--workspace', 'ws', ...flags]));
}

/** A successful `--json` run's task statuses by name. */
function statusesOf(r: CliResult): Record<string, string> {
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return Object.fromEntries(
    JSON.parse(r.stdout).tasks.map((t: { name: string; status: string }) => [t.name, t.status]),
  );
}

/** `cellar show <notebook> <task> <output> --json`, which must succeed: the parsed value. */
export function showOutput(
  p: Project,
  notebook: string,
  task: string,
  output: string,
  ...flags: string[]
): unknown {
  const r = p.cellar('show', notebook, task, output, '--json', ...flags);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout);
}

export { editKeepingMtimeAndSize } from '../support/edit.js';

// Test notebooks (cells with their own ids): one builder for every suite, test/compiler/notebook.ts.
export {
  codeCell,
  markdownCell,
  notebookText,
  tslabNotebook,
  type NotebookCell,
} from '../compiler/notebook.js';
