// The `cellar` command line: a thin layer over the compiler and the runtime.
export async function main(argv: string[]): Promise<number> {
  console.error(`cellar: not implemented yet (${argv.join(' ')})`);
  return 2;
}
