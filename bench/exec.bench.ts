// `cellar exec` figures for `npm run bench`: how long the tslab kernel takes to start (the fixed
// cost of every exec and verify run), and exec's own overhead per cell — the papermill bookkeeping
// and the atomic rewrite of the output notebook after every cell — against sending the same cells
// back to back in one kernel session. Both run against one real Jupyter server (Debian's) and the
// real tslab kernel, through cli/exec (the code the CLI runs). Skipped where Jupyter is missing.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jupyterAvailable, startJupyter } from '../cli/exec/jupyter.js';
import { writeKernelspec } from '../cli/exec/kernelspec.js';
import { executeNotebook, type NbFile } from '../cli/exec/runner.js';
import type { BenchSection } from './types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CELLS = 30;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

export default async function bench(): Promise<BenchSection> {
  const measuredAt = new Date().toISOString().slice(0, 10);
  if (!jupyterAvailable())
    return {
      title: 'Headless notebooks (cellar exec)',
      measuredAt,
      notes: 'skipped: Debian jupyter-server is not installed',
      rows: [],
    };
  mkdirSync(join(root, 'bench', '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(root, 'bench', '.tmp', 'exec-'));
  const cells = Array.from({ length: CELLS }, (_, i) => `const v${i} = ${i} * 2;\nv${i}`);
  const nb: NbFile = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((source, i) => ({
      cell_type: 'code',
      id: `c${i}`,
      source,
      metadata: {},
      outputs: [],
      execution_count: null,
    })),
  };
  const input = join(dir, 'cells.ipynb');
  writeFileSync(input, JSON.stringify(nb));
  const { jupyterPath } = writeKernelspec(join(dir, 'jupyter'), root);
  let t = performance.now();
  const server = await startJupyter({ rootDir: dir, jupyterPath });
  const serverMs = performance.now() - t;
  try {
    // Kernel start, and the same cells back to back in one session (the baseline).
    const starts: number[] = [];
    const direct: number[] = [];
    for (let round = 0; round < 2; round++) {
      t = performance.now();
      const kernel = await server.openKernel(input);
      starts.push(performance.now() - t);
      await kernel.execute('0'); // the first cell pays tslab's compiler warm-up in both cases
      t = performance.now();
      for (const code of cells) await kernel.execute(code);
      direct.push((performance.now() - t) / CELLS);
      await kernel.shutdown();
    }
    // The same cells through exec's runner: per-cell time from papermill's own timestamps.
    const viaExec: number[] = [];
    for (let round = 0; round < 2; round++) {
      const warm = {
        ...nb,
        cells: [
          {
            cell_type: 'code' as const,
            id: 'warm',
            source: '0',
            metadata: {},
            outputs: [],
            execution_count: null,
          },
          ...nb.cells,
        ],
      };
      writeFileSync(input, JSON.stringify(warm));
      const result = await executeNotebook({
        input,
        output: join(dir, 'out.ipynb'),
        paramsCell: { index: undefined, id: undefined, declarations: [] },
        params: {},
        server,
      });
      if (!result.ok) throw new Error(`bench notebook failed: ${result.failure?.message}`);
      const timed = result.notebook.cells.slice(1).map((c) => c.metadata.papermill!);
      viaExec.push(
        (Date.parse(timed[timed.length - 1]!.end_time!) - Date.parse(timed[0]!.start_time!)) /
          CELLS,
      );
    }
    const overhead = median(viaExec) - median(direct);
    return {
      title: 'Headless notebooks (cellar exec)',
      measuredAt,
      notes: `A ${CELLS}-cell notebook of one-line cells on Debian's jupyter server with the real tslab kernel. "One session" sends the cells back to back through the same kernel client; "cellar exec" runs them through executeNotebook (papermill metadata, the output notebook rewritten atomically after every cell). Medians of 2 rounds. Peak RSS is the bench process (the CLI side; the kernel is a separate process).`,
      rows: [
        { name: 'jupyter server ready', value: round(serverMs), unit: 'ms' },
        {
          name: 'tslab kernel start (median)',
          value: round(median(starts)),
          unit: 'ms',
          aim: '< 5000 ms on a quiet machine',
          met: median(starts) < 5000,
        },
        {
          name: 'warm cell, one kernel session (median per cell)',
          value: round(median(direct)),
          unit: 'ms',
        },
        {
          name: 'warm cell, cellar exec (median per cell)',
          value: round(median(viaExec)),
          unit: 'ms',
        },
        {
          name: 'cellar exec overhead per cell',
          value: round(overhead),
          unit: 'ms',
          aim: '< 20 ms',
          met: overhead < 20,
        },
        {
          name: 'peak RSS (bench process)',
          value: Math.round(process.resourceUsage().maxRSS / 1024),
          unit: 'MiB',
        },
      ],
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
