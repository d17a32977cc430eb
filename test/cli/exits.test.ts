// Every non-zero exit of `cellar` prints what failed with a code: a bare status (a reported
// `cellar build` that exited 2 and printed nothing) leaves a user nowhere to start. The command
// table is driven in-process (cli/main.ts `main`), with stderr captured.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { describeUnexpected, main } from '../../cli/main.js';
import { CellarError } from '../../runtime/errors.js';
import { WarehouseError } from '../../runtime/warehouse/types.js';
import { codeCell, notebookText, type NotebookCell } from '../compiler/notebook.js';

const scratch = mkdtempSync(join(tmpdir(), 'cellar-exits-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let stderr: string[] = [];
beforeEach(() => {
  stderr = [];
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.join(' ')));
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => vi.restoreAllMocks());

/** The first stderr line must name the command (or `cellar`) and end with a code. */
const CODED = /^cellar( [a-z]+)?: .+ \(E_[A-Z_]+\)$/;

describe('--workdir that is not a folder', () => {
  it('is E_NO_WORKDIR naming the option, for run, show and tree, whatever is cached', async () => {
    // A tester's findings: a file gave a raw ENOTDIR (E_UNEXPECTED), a missing folder was blamed
    // on the pipeline, or accepted silently when every task was cached.
    const file = join(scratch, 'data.txt');
    writeFileSync(file, 'x');
    for (const [dir, says] of [
      [file, 'is a file, not a folder'],
      [join(scratch, 'nowhere'), 'does not exist'],
    ] as const)
      for (const argv of [
        ['run', join(scratch, 'x.ipynb'), '--workdir', dir],
        ['show', join(scratch, 'x.ipynb'), 't', '--workdir', dir],
        ['tree', join(scratch, 'x.ipynb'), '--workdir', dir],
      ]) {
        stderr = [];
        const code = await main(argv);
        expect(code, argv.join(' ')).toBe(2);
        expect(stderr[0]?.split('\n')[0], argv.join(' ')).toBe(
          `cellar ${argv[0]}: --workdir ${dir} ${says}: give the folder the tasks run in (where their relative data paths resolve) (E_NO_WORKDIR)`,
        );
      }
  });
});

describe('--workspace that is a file', () => {
  it('is E_WORKSPACE_WRITE naming the option and the path, for run and show (not a raw ENOTDIR)', async () => {
    const file = join(scratch, 'ws-file');
    writeFileSync(file, 'x');
    const nb = join(scratch, 'wsf.ipynb');
    writeFileSync(nb, notebookText([codeCell('t', '//| task: t\nconst v = 1;')]));
    for (const argv of [
      ['run', nb, '--workspace', file],
      ['show', nb, 't', '--workspace', file],
    ]) {
      stderr = [];
      const code = await main(argv);
      expect(code, argv.join(' ')).not.toBe(0);
      expect(stderr[0]?.split('\n')[0], argv.join(' ')).toBe(
        `cellar ${argv[0]}: the workspace ${file} (--workspace) is a file, not a folder: give a folder (it is made if missing) (E_WORKSPACE_WRITE)`,
      );
    }
  });
});

describe('a non-zero exit always says what failed, with a code', () => {
  it('no command at all: E_USAGE and the command list, exit 2', async () => {
    expect(await main([])).toBe(2);
    expect(stderr[0]!.split('\n')[0]).toBe('cellar: give a command (E_USAGE)');
    expect(stderr[0]).toContain('commands:');
  });

  it('an unknown command: E_UNKNOWN_COMMAND, exit 2', async () => {
    expect(await main(['bild'])).toBe(2);
    expect(stderr[0]!.split('\n')[0]).toBe("cellar: unknown command 'bild' (E_UNKNOWN_COMMAND)");
  });

  it('cellar build with no pipeline, two pipelines, an unknown option or a missing file', async () => {
    const cases: [string[], RegExp][] = [
      [['build'], /give one notebook or pipeline to build \(E_USAGE\)$/],
      [['build', 'a.ipynb', 'b.ipynb'], /give one notebook or pipeline to build \(E_USAGE\)$/],
      [['build', 'a.ipynb', '--bogus'], /unknown option --bogus \(E_USAGE\)$/],
      [['build', join(scratch, 'missing.ipynb')], /missing\.ipynb.* \(E_[A-Z_]+\)$/],
      [['build', scratch], /\(E_[A-Z_]+\)$/], // a folder with no notebook or pipeline in it
    ];
    for (const [argv, line] of cases) {
      stderr = [];
      const code = await main(argv);
      expect(code, argv.join(' ')).not.toBe(0);
      expect(stderr[0]?.split('\n')[0], argv.join(' ')).toMatch(CODED);
      expect(stderr[0]?.split('\n')[0], argv.join(' ')).toMatch(line);
    }
  });

  it('a file that is neither a notebook nor a pipeline module (README.md, package.json) is E_USAGE saying what is wanted', async () => {
    // A newcomer's finding: Node's "Unknown file extension", or "not valid JSON" from plan.
    writeFileSync(join(scratch, 'README.md'), '# notes\n');
    writeFileSync(join(scratch, 'data.json'), '{}\n');
    for (const argv of [
      ['run', join(scratch, 'README.md')],
      ['show', join(scratch, 'data.json'), 'task'],
      ['tree', join(scratch, 'README.md')],
      ['plan', join(scratch, 'README.md')],
    ]) {
      stderr = [];
      expect(await main(argv), argv.join(' ')).toBe(2);
      expect(stderr[0]?.split('\n')[0], argv.join(' ')).toMatch(CODED);
      expect(stderr[0], argv.join(' ')).toMatch(/not one|neither a notebook/);
      expect(stderr[0], argv.join(' ')).toContain('(E_USAGE)');
    }
  });

  it('every command refuses an unknown option with a coded line, never a bare status', async () => {
    const names = [
      'compile',
      'plan',
      'run',
      'worker',
      'tree',
      'show',
      'fixtures',
      'exec',
      'verify',
      'kernel',
      'notebook',
      'docs',
      'build',
    ];
    for (const name of names) {
      stderr = [];
      expect(await main([name, '--no-such-option'])).toBe(2);
      expect(stderr[0]?.split('\n')[0], name).toBe(
        `cellar ${name}: unknown option --no-such-option (E_USAGE)`,
      );
    }
  });

  it('cellar exec and verify (their own parsing): no notebook is E_USAGE, a missing one E_NOT_FOUND, --help exits 0', async () => {
    for (const name of ['exec', 'verify']) {
      stderr = [];
      expect(await main([name, join(scratch, 'gone.ipynb')])).toBe(2);
      // Named like every other missing path (compile, docs, exec -f), without the usage text.
      expect(stderr[0], name).toBe(
        `cellar ${name}: no such notebook: ${join(scratch, 'gone.ipynb')} (E_NOT_FOUND)`,
      );
      stderr = [];
      expect(await main([name])).toBe(2);
      expect(stderr[0]?.split('\n')[0], name).toBe(`cellar ${name}: missing <notebook> (E_USAGE)`);
      expect(await main([name, '--help'])).toBe(0);
    }
  });

  it('a missing file or an uncreatable folder the command line names is E_NOT_FOUND, naming it and its option', async () => {
    // A tester's findings: each was an internal error (E_UNEXPECTED, exit 1), as `compile` was not.
    const nb = join(scratch, 'nf.ipynb');
    writeFileSync(nb, notebookText([codeCell('t', '//| task: t\nconst v = 1;')]));
    const file = join(scratch, 'nf-file.txt');
    writeFileSync(file, 'x');
    // A server nothing listens on: reaching it would be exit 1 (E_JUPYTER_*), not these refusals.
    const server = ['--server', 'http://127.0.0.1:9', '--token', 't'];
    const missing = join(scratch, 'missing.json');
    for (const [argv, says] of [
      [
        ['docs', join(scratch, 'nosuch.ipynb')],
        `no such file or folder: ${join(scratch, 'nosuch.ipynb')}`,
      ],
      [
        ['compile', join(scratch, 'nosuch.ipynb')],
        `no such file or folder: ${join(scratch, 'nosuch.ipynb')}`,
      ],
      [
        ['exec', nb, '-f', missing, ...server],
        `cannot read the params file ${missing} (-f): no such file or folder`,
      ],
      [
        ['exec', nb, '-o', join(file, 'out.ipynb'), ...server],
        `cannot create the folder ${file} for the output notebook (-o): ENOTDIR`,
      ],
    ] as const) {
      stderr = [];
      expect(await main([...argv]), argv.join(' ')).toBe(2);
      expect(stderr[0]?.split('\n')[0], argv.join(' ')).toBe(
        `cellar ${argv[0]}: ${says} (E_NOT_FOUND)`,
      );
    }
    // The tester's own: Node 20's recursive mkdirSync spins forever on /proc/x (ENOENT under a
    // parent that exists), so this hung before cellar made the folder one level at a time.
    if (existsSync('/proc/self')) {
      stderr = [];
      expect(await main(['exec', nb, '-o', '/proc/x/out.ipynb', ...server])).toBe(2);
      expect(stderr[0]?.split('\n')[0]).toBe(
        'cellar exec: cannot create the folder /proc/x for the output notebook (-o): ENOENT (E_NOT_FOUND)',
      );
    }
  });

  it('cellar verify refuses a param the pipeline does not take before any kernel starts', async () => {
    // Inside the repo, so the compiled pipeline resolves 'cellar' as a project's does.
    const project = join(import.meta.dirname, '..', '.tmp', `exits-verify-${process.pid}`);
    mkdirSync(join(project, 'notebooks'), { recursive: true });
    try {
      writeFileSync(join(project, 'package.json'), '{"name":"scratch","type":"module"}\n');
      // Papermill's params cell: `cellar exec` types `unused` by it, but no task reads it.
      const params: NotebookCell = {
        ...codeCell('c1', 'const k = 2;\nconst unused = 1;'),
        metadata: { tags: ['parameters'] },
      };
      const nb = join(project, 'notebooks', 'p.ipynb');
      writeFileSync(
        nb,
        notebookText([params, '//| task: scaled\nconst ys = [1, 2].map((y) => y * k);']),
      );
      // A server nothing listens on: reaching it would be exit 1 (E_JUPYTER_*), not this refusal.
      const server = ['--server', 'http://127.0.0.1:9', '--token', 't'];
      expect(await main(['verify', nb, '-p', 'unused', '5', ...server])).toBe(2);
      expect(stderr[0]?.split('\n')[0]).toMatch(CODED);
      expect(stderr[0]).toContain("unknown param 'unused' (pipeline params: k)");
      expect(stderr[0]).toContain('(E_UNKNOWN_PARAM)');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('an error no command coded still gets a code, and a message even when it has none', () => {
    expect(describeUnexpected(new Error(''))).toBe('Error with no message (E_UNEXPECTED)');
    expect(describeUnexpected(new TypeError('x is not a function'))).toBe(
      'x is not a function (E_UNEXPECTED)',
    );
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'a'"), {
      code: 'ENOENT',
    });
    expect(describeUnexpected(enoent)).toBe(
      "ENOENT: no such file or directory, open 'a' (E_UNEXPECTED)",
    );
    const missing = Object.assign(new Error("Cannot find module 'x'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(describeUnexpected(missing)).toBe(
      "ERR_MODULE_NOT_FOUND: Cannot find module 'x' (E_UNEXPECTED)",
    );
    expect(describeUnexpected(undefined)).toBe('non-Error value thrown: undefined (E_UNEXPECTED)');
    expect(describeUnexpected('')).toBe('an empty value was thrown (E_UNEXPECTED)');
    expect(describeUnexpected({ code: 1 })).toBe(
      'non-Error value thrown: {"code":1} (E_UNEXPECTED)',
    );
    // Coded errors keep their own code, written once.
    expect(describeUnexpected(new CellarError('no output yet', 'E_NOT_CACHED'))).toBe(
      'no output yet (E_NOT_CACHED)',
    );
    expect(describeUnexpected(new WarehouseError('E_WH_QUERY', 'DuckDB: bad'))).toBe(
      'DuckDB: bad (E_WH_QUERY)',
    );
  });
});
