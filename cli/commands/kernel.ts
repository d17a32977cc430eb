// `cellar kernel install [--dir DIR]`: write the project-local tslab kernelspec
// (`<project>/.cellar/jupyter/kernels/tslab/kernel.json` by default) and check it starts: a
// throwaway Jupyter server on loopback starts the kernel and runs `1 + 1` in it. Nothing is
// installed into the user's or the system's Jupyter folders (see cli/exec/kernelspec.ts).
// Exit 0: written and answering; 1: written, but the kernel did not start (the reason printed).
import { relative, resolve } from 'node:path';
import { projectRoot } from '../../compiler/host.js';
import { CliError, EXIT } from '../errors.js';
import { JupyterError, jupyterAvailable, startJupyter } from '../exec/jupyter.js';
import { jupyterPathOf, writeKernelspec } from '../exec/kernelspec.js';
import { defineCommand } from '../command.js';

const USAGE = `usage: cellar kernel install [--dir DIR] [--no-check]

Write the tslab kernelspec for this project (default DIR: <project>/.cellar/jupyter) and check
that the kernel starts. Then: JUPYTER_PATH=DIR jupyter lab, or \`cellar notebook\`.`;

export const run = defineCommand({
  usage: USAGE,
  options: { dir: { type: 'string' }, 'no-check': { type: 'boolean', default: false } },
  run: install,
});

async function install({
  values,
  positionals,
}: {
  values: { dir?: string; 'no-check'?: boolean };
  positionals: string[];
}): Promise<number> {
  if (positionals[0] !== 'install' || positionals.length > 1)
    throw new CliError(`the kernel command has one action, install\n\n${USAGE}`, 'E_USAGE');
  const root = projectRoot(process.cwd());
  let written;
  try {
    written = writeKernelspec(values.dir ? resolve(values.dir) : jupyterPathOf(root), root);
  } catch (error) {
    throw new CliError((error as Error).message, 'E_NO_TSLAB', EXIT.failure);
  }
  const shownPath = relative(process.cwd(), written.jupyterPath) || '.';
  console.log(
    `wrote ${relative(process.cwd(), written.file)} (kernel 'tslab': ${written.spec.argv.slice(0, 2).join(' ')})`,
  );
  if (!values['no-check']) {
    if (!jupyterAvailable())
      throw new CliError(
        'the kernelspec is written, but Jupyter is not installed to check it: apt-get install jupyter-core jupyter-server',
        'E_JUPYTER_MISSING',
        EXIT.failure,
      );
    const started = Date.now();
    const server = await startJupyter({ rootDir: root, jupyterPath: written.jupyterPath });
    try {
      const kernel = await server.openKernel(`${root}/.cellar/kernel-check.ipynb`);
      const answer = await kernel.execute('1 + 1', { timeoutMs: 60_000 });
      if (answer.status !== 'ok' || answer.stdout.trim() !== '2') {
        throw new CliError(
          `the tslab kernel started but did not compute 1 + 1 (${answer.status}: ${answer.stderr.trim() || answer.stdout.trim()})`,
          'E_KERNEL_START',
          EXIT.failure,
        );
      }
      console.log(
        `checked: the kernel started and answered in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError(
        (error as Error).message,
        error instanceof JupyterError ? error.code : 'E_KERNEL_START',
        EXIT.failure,
      );
    } finally {
      await server.stop();
    }
  }
  console.log(`open notebooks with:  cellar notebook   (or JUPYTER_PATH=${shownPath} jupyter lab)`);
  return EXIT.ok;
}
