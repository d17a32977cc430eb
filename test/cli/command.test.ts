// defineCommand (cli/command.ts): the one shape every `cellar` command has.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineCommand } from '../../cli/command.js';

const echo = defineCommand({
  usage: 'usage: cellar echo <word> [--times N] [--loud]',
  options: { times: { type: 'string', default: '1' }, loud: { type: 'boolean', default: false } },
  run: async ({ values, positionals, verbose }) => {
    console.log(JSON.stringify({ values, positionals, verbose }));
    return 0;
  },
});

describe('defineCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  it('passes parsed values, positionals and --verbose (from main, not process.argv) to run', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await echo(['hi', '--times', '3'], { verbose: true })).toBe(0);
    expect(JSON.parse(log.mock.calls[0]![0] as string)).toEqual({
      values: { times: '3', loud: false },
      positionals: ['hi'],
      verbose: true,
    });
  });

  it('prints the usage for --help or -h and exits 0 without running', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await echo(['-h'])).toBe(0);
    expect(log.mock.calls).toEqual([['usage: cellar echo <word> [--times N] [--loud]']]);
  });

  it('an unknown option, or a value missing, is a usage error (exit 2) carrying the usage', async () => {
    await expect(echo(['--lound'])).rejects.toMatchObject({
      code: 'E_USAGE',
      exitCode: 2,
      message: expect.stringContaining('usage: cellar echo'),
    });
    await expect(echo(['hi', '--times'])).rejects.toMatchObject({ code: 'E_USAGE', exitCode: 2 });
  });
});
