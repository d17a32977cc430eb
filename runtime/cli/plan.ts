// `cellar plan` (to be written).
import { CliError } from './errors.js';

export async function run(_args: string[]): Promise<number> {
  throw new CliError('`plan` is not implemented yet', 'E_NOT_IMPLEMENTED');
}
