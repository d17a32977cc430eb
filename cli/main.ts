// The `cellar` command line: a thin layer over the compiler and the runtime.
//
// Each command lives in its own module under cli/commands/ and exports `run`, made by
// `defineCommand` (command.ts), resolving to the exit code. Commands are imported lazily so `cellar run` on a warm cache never
// pays for loading ts-morph. Exit codes: 0 success, 1 a task or check failed, 2 bad usage.
// Every non-zero exit prints one line on stderr naming the command, what failed and a code (a
// CliError's own, a coded library error's, else E_UNEXPECTED): never a bare status.
import type { Command as CommandRun } from './command.js';
import { CliError, EXIT } from './errors.js';
import { CellarError, thrownMessage } from '../runtime/errors.js';
import { whileSettleable } from '../runtime/settle.js';
import { runningCellarVersion } from '../runtime/own-package.js';
import { missingPackageError } from '../runtime/missing-package.js';

interface Command {
  summary: string;
  load: () => Promise<{ run: CommandRun }>;
}

const commands: Record<string, Command> = {
  compile: {
    summary: 'compile notebooks into generated/ (--check, --watch)',
    load: () => import('./commands/compile.js'),
  },
  plan: {
    summary: 'print the task plan of a notebook (--json)',
    load: () => import('./commands/plan.js'),
  },
  run: { summary: 'run a pipeline as a cached DAG', load: () => import('./commands/run.js') },
  worker: {
    summary: 'run tasks of distributed runs (cellar run --executor bullmq) from Redis',
    load: () => import('./commands/worker.js'),
  },
  tree: {
    summary: 'print the dependency tree with status',
    load: () => import('./commands/tree.js'),
  },
  show: { summary: 'print a cached output', load: () => import('./commands/show.js') },
  fixtures: {
    summary: 'record replay fixtures from the last run; compile emits a replay test per task',
    load: () => import('./commands/fixtures.js'),
  },
  exec: {
    summary: 'run a notebook headless in the tslab kernel, papermill-style (-p name value)',
    load: () => import('./commands/exec.js'),
  },
  verify: {
    summary: 'check the compiled pipeline computes what the notebook computes, task by task',
    load: () => import('./commands/verify.js'),
  },
  kernel: {
    summary: 'kernel install: write the project-local tslab kernelspec and check it starts',
    load: () => import('./commands/kernel.js'),
  },
  notebook: {
    summary: 'start Jupyter on loopback with the tslab kernel and print its URL',
    load: () => import('./commands/notebook.js'),
  },
  docs: {
    summary: 'build the static docs site from the notebooks (--out dir)',
    load: () => import('./commands/docs.js'),
  },
  build: {
    summary: 'bundle a pipeline for a batch machine, or a task function for serving (--function)',
    load: () => import('./commands/build.js'),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return [
    'usage: cellar <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    "Run 'cellar <command> --help' for a command's options.",
  ].join('\n');
}

/**
 * `cellar run` answered from the warm-run record by dist/warm.js (cli/warm-entry.ts: one module
 * instead of run.ts's chunks), or undefined: not the build (running from sources, no
 * `__cellarBuildId` from bin/cellar.mjs), no such file, or the record does not answer.
 */
async function warmRunAnswer(args: string[], verbose: boolean): Promise<number | undefined> {
  if (typeof (globalThis as { __cellarBuildId?: unknown }).__cellarBuildId !== 'string')
    return undefined;
  let entry: typeof import('./warm-entry.js');
  try {
    // A computed specifier: esbuild leaves it to Node, so dist/cli.js loads dist/warm.js.
    entry = (await import(new URL('./warm.js', import.meta.url).href)) as typeof entry;
  } catch {
    return undefined;
  }
  return entry.runWarm(args, verbose);
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name) {
    console.error(`cellar: give a command (E_USAGE)\n\n${help()}`);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return EXIT.ok;
  }
  if (name === '--version') {
    console.log(`cellar ${runningCellarVersion() ?? 'unknown'}`);
    return EXIT.ok;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`cellar: unknown command '${name}' (E_UNKNOWN_COMMAND)\n\n${help()}`);
    return EXIT.usage;
  }
  const verbose = args.includes('--verbose');
  try {
    // The last resort of runtime/settle.ts: a command left awaiting what only user code could
    // settle (a project codec's decode, say) where no narrower wait names it, says so and exits
    // non-zero, where Node would exit with code 13 and no word.
    return await whileSettleable(
      (async () => {
        const rest = args.filter((a) => a !== '--verbose');
        const warm = name === 'run' ? await warmRunAnswer(rest, verbose) : undefined;
        return warm ?? (await command.load()).run(rest, { verbose });
      })(),
      () =>
        new CellarError(
          `the command awaits a promise nothing is left to settle (no timer, I/O or other work is pending), so it could never finish: code it ran (a task, a setup cell, a codec) awaits a promise nothing settles`,
          'E_NEVER_SETTLES',
        ),
      { lastResort: true },
    );
  } catch (error) {
    if (error instanceof CliError) {
      // The code goes on the first line, before any usage text the message carries.
      // A first line that introduces a list ("… does not compile:") keeps its colon last.
      const [first, ...rest] = error.message.split('\n');
      const head = first.endsWith(':')
        ? `${first.slice(0, -1)} (${error.code}):`
        : `${first} (${error.code})`;
      console.error([`cellar ${name}: ${head}`, ...rest].join('\n'));
      return error.exitCode;
    }
    // A package a feature loads (bullmq for --executor bullmq, DuckDB in a built folder) not
    // installed: which, what needs it and where to install it, not Node's chunk path.
    const missing = missingPackageError(error);
    if (missing) {
      console.error(`cellar ${name}: ${missing.message}`);
      if (verbose && error instanceof Error && error.stack) console.error(error.stack);
      return EXIT.usage;
    }
    console.error(`cellar ${name}: ${describeUnexpected(error)}`);
    if (error instanceof Error && error.stack) {
      if (verbose) console.error(error.stack);
      else console.error('(run with --verbose for the stack trace)');
    }
    return EXIT.failure;
  }
}

/**
 * One line for an error no command turned into a CliError: its message (or, when it has none,
 * what was thrown) and a code: the error's own when it carries a catalogued-style `E_…` code
 * (CellarError, WarehouseError) and its message does not already end with it, else
 * E_UNEXPECTED, with a system error's code (ENOENT, ERR_…) beside the message.
 */
export function describeUnexpected(error: unknown): string {
  if (!(error instanceof Error))
    return `${thrownMessage(error) || 'an empty value was thrown'} (E_UNEXPECTED)`;
  const own = (error as { code?: unknown }).code;
  const text = error.message.trim() || `${error.name} with no message`;
  if (typeof own === 'string' && /^E_[A-Z_]+$/.test(own))
    return text.endsWith(`(${own})`) ? text : `${text} (${own})`;
  const system = typeof own === 'string' && own && !text.startsWith(own) ? `${own}: ` : '';
  return `${system}${text} (E_UNEXPECTED)`;
}
