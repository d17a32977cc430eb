// Pure: the "did you mean" hint for a misspelt name (a param, a task, an output, a codec), one
// copy for the runtime and the CLI. Levenshtein distance below 3. (The compiler keeps its own in
// compiler/diagnostics.ts: it may not import the runtime, and it counts a swap of two letters as
// one edit and returns the bare name for its hint field.)

/** `, did you mean 'x'?` for the closest candidate within edit distance 2, else ''. */
export function suggest(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best ? `, did you mean '${best}'?` : '';
}

/**
 * The candidates for a message naming a wrong one (`unknown task 'x' (tasks: a, b, …)`): the
 * first 20, then how many more, so a 100k-task pipeline does not print 100k names.
 */
export function nameList(names: readonly string[]): string {
  return names.length <= 20
    ? names.join(', ')
    : `${names.slice(0, 20).join(', ')}, and ${names.length - 20} more`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
