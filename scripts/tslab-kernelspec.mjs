// Writes a project-local Jupyter kernelspec for this checkout's tslab, so JupyterLab (or any
// Jupyter front end) runs the example notebooks with the same tslab the tests use.
//
// Why not `tslab install`: it shells out to a Python install script that needs IPython and
// writes into the user's or the system's Jupyter folders. A kernelspec is one JSON file; Jupyter
// finds it through JUPYTER_PATH, and nothing outside the project changes.
//
//   node scripts/tslab-kernelspec.mjs [dir]     (default dir: .cellar/jupyter)
//   JUPYTER_PATH=.cellar/jupyter jupyter lab notebooks/
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function writeKernelspec(dir = join(root, '.cellar', 'jupyter')) {
  const kernelDir = join(resolve(dir), 'kernels', 'tslab');
  mkdirSync(kernelDir, { recursive: true });
  const spec = {
    argv: [process.execPath, join(root, 'node_modules/tslab/bin/tslab'), 'kernel', '--config-path', '{connection_file}'],
    display_name: 'TypeScript (cellar)',
    language: 'typescript',
  };
  writeFileSync(join(kernelDir, 'kernel.json'), JSON.stringify(spec, null, 2) + '\n');
  return resolve(dir);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = writeKernelspec(process.argv[2]);
  const shown = relative(process.cwd(), dir) || '.';
  console.log(`wrote ${join(shown, 'kernels/tslab/kernel.json')}`);
  console.log(`open the notebooks with:  JUPYTER_PATH=${shown} jupyter lab notebooks/`);
}
