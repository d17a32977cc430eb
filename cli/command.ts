// One shape for every command (tsup's cac commands, citty's `defineCommand`): its usage text, its
// options as `node:util` parseArgs declares them, and a `run` that gets the parsed values. The
// helper owns what each command used to do its own way: `--help`/`-h` prints the usage (exit 0),
// an unknown or malformed option is a usage error with the usage appended (E_USAGE, exit 2), and
// `--verbose` (which main.ts takes off the command line for stack traces) arrives as a flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { CliError, EXIT } from './errors.js';

/** What main.ts passes to a command besides its arguments. */
export interface CommandContext {
  /** `--verbose` was given anywhere on the command line. */
  verbose: boolean;
}

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>;

export interface CommandInput<O extends ParseArgsOptionsConfig> {
  values: Parsed<O>['values'];
  positionals: string[];
  verbose: boolean;
}

/** A command: call it with the arguments after its name; resolves to the exit code. */
export type Command = ((args: string[], context?: CommandContext) => Promise<number>) & {
  usage: string;
};

export function defineCommand<const O extends ParseArgsOptionsConfig>(definition: {
  usage: string;
  options: O;
  run(input: CommandInput<O>): Promise<number>;
}): Command {
  const command = async (
    args: string[],
    context: CommandContext = { verbose: false },
  ): Promise<number> => {
    if (args.includes('--help') || args.includes('-h')) {
      console.log(definition.usage);
      return EXIT.ok;
    }
    let parsed: Parsed<O>;
    try {
      parsed = parseArgs({
        args,
        options: definition.options,
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new CliError(
        `${usageMessage(error as Error & { code?: string })}\n\n${definition.usage}`,
        'E_USAGE',
      );
    }
    return definition.run({
      values: parsed.values,
      positionals: parsed.positionals,
      verbose: context.verbose,
    });
  };
  return Object.assign(command, { usage: definition.usage });
}

/**
 * parseArgs' own wording, made short: `Unknown option '--bogus'. To specify a positional argument
 * starting with a '-', place it …` becomes `unknown option --bogus`; other messages pass through.
 */
function usageMessage(error: Error & { code?: string }): string {
  const option = /^Unknown option '([^']+)'/.exec(error.message);
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option)
    return `unknown option ${option[1]}`;
  return error.message;
}
