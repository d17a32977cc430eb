// Builds .ipynb text from a list of cells, so tests state notebooks in a few readable lines.
// A cell is code by default; prefix its text with `md:` for markdown.
export function notebookText(
  cells: string[],
  kernel: { language?: string; name?: string } = {},
): string {
  return JSON.stringify(
    {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {
        kernelspec: {
          name: kernel.name ?? 'tslab',
          display_name: 'TypeScript',
          language: kernel.language ?? 'typescript',
        },
        language_info: { name: kernel.language ?? 'typescript' },
      },
      cells: cells.map((text, i) =>
        text.startsWith('md:')
          ? { cell_type: 'markdown', id: `c${i + 1}`, metadata: {}, source: text.slice(3).trim() }
          : {
              cell_type: 'code',
              id: `c${i + 1}`,
              metadata: {},
              execution_count: null,
              outputs: [],
              source: text.split(/(?<=\n)/),
            },
      ),
    },
    null,
    1,
  );
}
