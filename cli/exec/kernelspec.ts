// The project-local tslab kernelspec: `<dir>/kernels/tslab/kernel.json`, found by Jupyter through
// JUPYTER_PATH=<dir>. `cellar kernel install` writes it (default dir `<project>/.cellar/jupyter`),
// `cellar notebook`, `cellar exec` and the test harness use it.
//
// Why not `tslab install`: it shells out to a Python script that needs IPython and writes into
// the user's or the system's Jupyter folders. A kernelspec is one JSON file; nothing outside the
// project changes. The kernel runs the project's own tslab (or, when the project has none, the one
// installed with cellar) with the Node running cellar, so the notebook sees the same Node as
// `cellar run`.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** The kernel name the example notebooks' metadata names (`metadata.kernelspec.name`). */
export const KERNEL_NAME = 'tslab';

/** Where `cellar kernel install` puts kernelspecs for a project: pass it as JUPYTER_PATH. */
export const jupyterPathOf = (projectRoot: string): string =>
  join(projectRoot, '.cellar', 'jupyter');

export interface Kernelspec {
  argv: string[];
  display_name: string;
  language: string;
}

/**
 * The tslab entry script: `<project>/node_modules/tslab/bin/tslab` when the project has tslab,
 * else the one installed with cellar. Throws when neither exists (with the npm command to fix it).
 */
export function findTslab(projectRoot: string): string {
  const local = join(projectRoot, 'node_modules', 'tslab', 'bin', 'tslab');
  if (existsSync(local)) return local;
  try {
    const pkg = createRequire(import.meta.url).resolve('tslab/package.json');
    const bin = join(dirname(pkg), 'bin', 'tslab');
    if (existsSync(bin)) return bin;
  } catch {
    // not installed next to cellar either
  }
  throw new Error(
    `tslab is not installed in ${projectRoot}: run \`npm install --save-dev tslab@1.0.22\``,
  );
}

export function kernelspecFor(projectRoot: string): Kernelspec {
  return {
    argv: [
      process.execPath,
      findTslab(projectRoot),
      'kernel',
      '--config-path',
      '{connection_file}',
    ],
    display_name: 'TypeScript (cellar)',
    language: 'typescript',
  };
}

/**
 * Write `<dir>/kernels/tslab/kernel.json` (atomically; unchanged bytes are not rewritten) and
 * return the absolute `dir`, the value for JUPYTER_PATH.
 */
export function writeKernelspec(
  dir: string,
  projectRoot: string,
): { jupyterPath: string; file: string; spec: Kernelspec } {
  const jupyterPath = resolve(dir);
  const kernelDir = join(jupyterPath, 'kernels', KERNEL_NAME);
  const file = join(kernelDir, 'kernel.json');
  const spec = kernelspecFor(projectRoot);
  const text = JSON.stringify(spec, null, 2) + '\n';
  mkdirSync(kernelDir, { recursive: true });
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return { jupyterPath, file, spec };
}
