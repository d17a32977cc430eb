// `cellar exec` end to end: the real CLI against a real Jupyter server and the real tslab kernel,
// in a throwaway project. One server for the file (the CLI attaches with --server/--token, the
// path a user with a running JupyterLab takes); each run starts its own kernel. No timing
// assertions: the machine is shared; timeouts are generous.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { jupyterAvailable, startJupyter, type JupyterServer } from '../support/jupyter.js';
import { prepareCellarForTslab } from '../support/tslab.js';
import { project, removeProjects, repo, type Project } from '../acceptance/harness.js';

interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  metadata: {
    tags?: string[];
    papermill?: {
      status: string;
      start_time: string | null;
      end_time: string | null;
      duration: number | null;
      exception: boolean | null;
    };
  };
  outputs?: {
    output_type: string;
    name?: string;
    text?: string;
    ename?: string;
    evalue?: string;
  }[];
  execution_count?: number | null;
}
interface Nb {
  metadata: {
    papermill: {
      parameters: Record<string, unknown>;
      default_parameters: Record<string, unknown>;
      duration: number;
      exception: boolean;
      start_time: string;
      end_time: string;
    };
  };
  cells: Cell[];
}

/** An nbformat 4.5 tslab notebook from [id, source, tags?] code cells. */
function notebook(cells: [string, string, string[]?][]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' },
      language_info: { name: 'typescript' },
    },
    cells: cells.map(([id, source, tags]) => ({
      cell_type: 'code',
      id,
      source,
      metadata: tags ? { tags } : {},
      outputs: [],
      execution_count: null,
    })),
  });
}

const text = (cell: Cell) =>
  (cell.outputs ?? [])
    .filter((o) => o.output_type === 'stream')
    .map((o) => o.text)
    .join('');
const src = (cell: Cell) => (Array.isArray(cell.source) ? cell.source.join('') : cell.source);

let p: Project;
let server: JupyterServer;

/** `cellar <args>` in the project, with a generous time limit (the machine is shared and slow). */
function cellar(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'bin/cellar.mjs'), ...args], {
    cwd: p.dir,
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function exec(...args: string[]) {
  return cellar('exec', ...args, '--server', server.baseUrl, '--token', server.token);
}

describe.skipIf(!jupyterAvailable())(
  'cellar exec: papermill for TypeScript in the real tslab kernel',
  () => {
    beforeAll(async () => {
      await prepareCellarForTslab();
      p = project();
      p.write(
        'notebooks/params.ipynb',
        notebook([
          ['setup', "import { writeFileSync } from 'node:fs';"],
          [
            'params',
            "//| params\nconst n = 2;\nconst label = 'default';\nconst regions = ['north'];\nconst strict = false;",
          ],
          [
            'show',
            'console.log(JSON.stringify({ n: n, label: label, regions: regions, strict: strict }));',
          ],
          ['double', 'const doubled = n * 2;\ndoubled'],
        ]),
      );
      p.write(
        'params.json',
        JSON.stringify({ n: 5, regions: ['south', 'east'], label: 'from-file' }),
      );
      server = await startJupyter({ rootDir: p.dir });
    }, 600_000);
    afterAll(async () => {
      await server?.stop();
      removeProjects();
    });

    test('-f and -p set typed parameters in an injected-parameters cell after the params cell; outputs and papermill metadata are written', () => {
      const run = exec(
        'notebooks/params.ipynb',
        '-f',
        'params.json',
        '-p',
        'label',
        'hello world',
        '-p',
        'strict',
        'true',
        '-o',
        'out/params.ipynb',
      );
      expect(run.code, run.stderr).toBe(0);
      const nb = JSON.parse(p.read('out/params.ipynb')) as Nb;
      const ids = nb.cells.map((c) => c.id);
      expect(ids).toEqual(['setup', 'params', 'injected-parameters', 'show', 'double']);
      const injected = nb.cells[2]!;
      expect(injected.metadata.tags).toEqual(['injected-parameters']);
      // Typed TypeScript literals, declared with the params cell's types; -p wins over -f.
      expect(src(injected)).toContain('const n: number = 5;');
      expect(src(injected)).toContain('const label: string = "hello world";');
      expect(src(injected)).toContain('const regions: string[] = ["south","east"];');
      expect(src(injected)).toContain('const strict: boolean = true;');
      // The kernel saw the injected values, and every cell kept its output.
      expect(JSON.parse(text(nb.cells[3]!))).toEqual({
        n: 5,
        label: 'hello world',
        regions: ['south', 'east'],
        strict: true,
      });
      expect(text(nb.cells[4]!).trim()).toBe('10');
      // papermill's metadata, notebook-level and per cell.
      expect(nb.metadata.papermill.parameters).toEqual({
        n: 5,
        label: 'hello world',
        regions: ['south', 'east'],
        strict: true,
      });
      expect(nb.metadata.papermill.default_parameters).toEqual({
        n: 2,
        label: 'default',
        regions: ['north'],
        strict: false,
      });
      expect(nb.metadata.papermill.exception).toBe(false);
      expect(nb.metadata.papermill.duration).toBeGreaterThan(0);
      for (const cell of nb.cells) {
        expect(cell.metadata.papermill).toMatchObject({ status: 'completed', exception: false });
        expect(cell.metadata.papermill!.duration).toBeGreaterThanOrEqual(0);
        expect(Date.parse(cell.metadata.papermill!.end_time!)).toBeGreaterThanOrEqual(
          Date.parse(cell.metadata.papermill!.start_time!),
        );
        expect(cell.execution_count).toBeTypeOf('number');
      }
      // Running the output notebook again replaces its injected cell instead of adding a second one,
      // starting from its values (the compiled pipeline's defaults): -p overrides only what it names.
      const again = exec(
        'out/params.ipynb',
        '-p',
        'n',
        '7',
        '-o',
        'out/again.ipynb',
        '--prepare-only',
      );
      expect(again.code, again.stderr).toBe(0);
      const prepared = JSON.parse(p.read('out/again.ipynb')) as Nb;
      expect(
        prepared.cells.filter((c) => c.metadata.tags?.includes('injected-parameters')),
      ).toHaveLength(1);
      expect(src(prepared.cells[2]!)).toBe(
        [
          '// Parameters (injected by cellar exec)',
          'const n: number = 7;',
          'const label: string = "hello world";',
          'const regions: string[] = ["south","east"];',
          'const strict: boolean = true;',
        ].join('\n'),
      );
    }, 900_000);

    test('an unknown parameter, or a value of the wrong type, is refused before anything runs (exit 2, no output notebook)', () => {
      const unknown = exec('notebooks/params.ipynb', '-p', 'nn', '3', '-o', 'out/unknown.ipynb');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("unknown parameter 'nn'");
      expect(unknown.stderr).toContain('E_UNKNOWN_PARAM');
      expect(unknown.stderr).toContain('n: number');
      expect(existsSync(join(p.dir, 'out/unknown.ipynb'))).toBe(false);

      const notNumber = exec('notebooks/params.ipynb', '-p', 'n', 'three', '-o', 'out/bad.ipynb');
      expect(notNumber.code).toBe(2);
      expect(notNumber.stderr).toMatch(
        /parameter 'n' is number \(notebooks\/params\.ipynb cell 2 \(id params\), line 2\), got 'three'/,
      );
      // A structured value is checked by the TypeScript compiler against the declared type.
      p.write('wrong.json', JSON.stringify({ regions: [1, 2] }));
      const wrongFile = exec('notebooks/params.ipynb', '-f', 'wrong.json', '-o', 'out/bad.ipynb');
      expect(wrongFile.code).toBe(2);
      expect(wrongFile.stderr).toContain("parameter 'regions' is string[]");
      expect(wrongFile.stderr).toContain("Type 'number' is not assignable to type 'string'");
      const wrongBool = exec(
        'notebooks/params.ipynb',
        '-p',
        'strict',
        'yes',
        '-o',
        'out/bad.ipynb',
      );
      expect(wrongBool.code).toBe(2);
      expect(existsSync(join(p.dir, 'out/bad.ipynb'))).toBe(false);
    }, 900_000);

    test('a failing cell: error banner at the top naming the cell, the output notebook written, exit 1, nothing after it ran', () => {
      p.write(
        'notebooks/fails.ipynb',
        notebook([
          ['params', '//| params\nconst limit = 3;'],
          [
            'check',
            "console.log('checking');\nif (limit > 2) throw new RangeError(`limit ${limit} is above 2`);",
          ],
          ['after', "require('node:fs').writeFileSync('ran-after-failure.txt', 'yes');"],
        ]),
      );
      const run = exec('notebooks/fails.ipynb', '-o', 'out/fails.ipynb');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('cell 2 (id check) failed: RangeError: limit 3 is above 2');
      const nb = JSON.parse(p.read('out/fails.ipynb')) as Nb;
      const banner = nb.cells[0]!;
      expect(banner.cell_type).toBe('markdown');
      expect(src(banner)).toContain('An Exception was encountered at');
      expect(src(banner)).toContain('(id check)');
      expect(src(banner)).toContain('RangeError: limit 3 is above 2');
      const failed = nb.cells.find((c) => c.id === 'check')!;
      expect(failed.metadata.papermill).toMatchObject({ status: 'failed', exception: true });
      // ename / evalue built from tslab's stderr; what the cell printed before is kept.
      expect(failed.outputs!.find((o) => o.output_type === 'error')).toMatchObject({
        ename: 'RangeError',
        evalue: 'limit 3 is above 2',
      });
      expect(text(failed)).toContain('checking');
      const after = nb.cells.find((c) => c.id === 'after')!;
      expect(after.metadata.papermill!.status).toBe('pending');
      expect(after.outputs).toEqual([]);
      expect(existsSync(join(p.dir, 'notebooks/ran-after-failure.txt'))).toBe(false);
      expect(nb.metadata.papermill.exception).toBe(true);
      // A type error is a failure too, named as one.
      p.write('notebooks/typeerror.ipynb', notebook([['typed', "const x: number = 'text';"]]));
      const typed = exec('notebooks/typeerror.ipynb', '-o', 'out/typeerror.ipynb');
      expect(typed.code).toBe(1);
      expect(typed.stderr).toContain(
        "TypeScriptError: 1:7 - Type 'string' is not assignable to type 'number'",
      );
      // A message of several lines keeps them all: an assertion says what differed.
      p.write(
        'notebooks/asserts.ipynb',
        notebook([['check', "import assert from 'node:assert';\nassert.strictEqual(5 * 2, 8);"]]),
      );
      const asserted = exec('notebooks/asserts.ipynb', '-o', 'out/asserts.ipynb');
      expect(asserted.code).toBe(1);
      expect(asserted.stderr).toContain(
        'failed: AssertionError: Expected values to be strictly equal:\n10 !== 8',
      );
    }, 900_000);

    test('a cell that loops forever is interrupted at the cell timeout and the run fails; so is an await that never resolves', () => {
      // The endless cell runs first: in a fresh kernel the first cell also pays tslab's TypeScript
      // setup, so a cell before it could itself outlast the timeout on a loaded machine. Run
      // first, it is the cell timed out whichever part is slow, and the timeout can stay short.
      p.write(
        'notebooks/loops.ipynb',
        notebook([
          ['spin', 'while (true) {}'],
          ['after', "require('node:fs').writeFileSync('ran-after-loop.txt', 'yes');"],
        ]),
      );
      const run = exec('notebooks/loops.ipynb', '-o', 'out/loops.ipynb', '--cell-timeout', '5');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('cell 1 (id spin) timed out');
      const nb = JSON.parse(p.read('out/loops.ipynb')) as Nb;
      const spin = nb.cells.find((c) => c.id === 'spin')!;
      expect(spin.metadata.papermill!.status).toBe('failed');
      expect(spin.outputs!.find((o) => o.output_type === 'error')).toMatchObject({
        ename: 'CellTimeout',
      });
      expect(nb.cells.find((c) => c.id === 'after')!.metadata.papermill!.status).toBe('pending');
      expect(existsSync(join(p.dir, 'notebooks/ran-after-loop.txt'))).toBe(false);

      p.write(
        'notebooks/waits.ipynb',
        notebook([
          ['wait', 'await new Promise<void>(() => {});'],
          ['after', "console.log('after');"],
        ]),
      );
      const waits = exec('notebooks/waits.ipynb', '-o', 'out/waits.ipynb', '--cell-timeout', '5');
      expect(waits.code).toBe(1);
      expect(waits.stderr).toContain('cell 1 (id wait) timed out');
      const waited = JSON.parse(p.read('out/waits.ipynb')) as Nb;
      expect(waited.cells.find((c) => c.id === 'after')!.metadata.papermill!.status).toBe(
        'pending',
      );
    }, 900_000);

    test('process.exit() in a cell fails the run: the restarted, empty kernel never runs the next cell', () => {
      p.write(
        'notebooks/exits.ipynb',
        notebook([
          ['state', 'const kept = 42;'],
          ['exit', 'process.exit(3);'],
          ['after', "require('node:fs').writeFileSync('ran-after-exit.txt', String(typeof kept));"],
        ]),
      );
      const run = exec('notebooks/exits.ipynb', '-o', 'out/exits.ipynb');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('cell 2 (id exit) lost the kernel');
      // An orderly end, in our words only: no crash of the Jupyter client library as it shuts the
      // restarting kernel down (an unhandled "Kernel connection disconnected"), none of its
      // console talk, no server traceback.
      expect(run.stderr).toContain('the executed notebook (with an error banner) is in');
      for (const noise of [
        'Kernel connection disconnected',
        'Traceback',
        'Connection lost',
        'Node.js v',
      ])
        expect(run.stderr).not.toContain(noise);
      expect(run.stdout).not.toContain('Kernel: ');
      const nb = JSON.parse(p.read('out/exits.ipynb')) as Nb;
      expect(
        nb.cells.find((c) => c.id === 'exit')!.outputs!.find((o) => o.output_type === 'error'),
      ).toMatchObject({ ename: 'KernelRestarted' });
      expect(nb.cells.find((c) => c.id === 'after')!.metadata.papermill!.status).toBe('pending');
      expect(existsSync(join(p.dir, 'notebooks/ran-after-exit.txt'))).toBe(false);
      expect(src(nb.cells[0]!)).toContain('KernelRestarted');
    }, 900_000);

    test('--prepare-only writes the parameterised notebook without a kernel', () => {
      const run = cellar('exec', 'notebooks/params.ipynb', '-p', 'n', '9', '--prepare-only');
      expect(run.code, run.stderr).toBe(0);
      // Default output: the project's .cellar/exec/, never next to the notebook (compile would pick it up).
      const nb = JSON.parse(readFileSync(join(p.dir, '.cellar/exec/params.ipynb'), 'utf8')) as Nb;
      expect(src(nb.cells[2]!)).toContain('const n: number = 9;');
      expect(nb.cells.every((c) => c.metadata.papermill!.status === 'pending')).toBe(true);
    }, 900_000);
  },
);
