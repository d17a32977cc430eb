// A forced re-run never leaves its downstream stale (issue 8, breaker report A9): a task forced by
// `//| rerun` or `cellar run --rerun <task>` stores its new output under its unchanged key, so the
// results computed from the old output (every key variant, down the graph) are dropped when the
// output differs, and kept when it is the same (runtime/run/replaced.ts). Through the real CLI; the
// asserted values are the ones `cellar show` prints. A task of another notebook reading the result
// with `load()` is keyed on the bytes it loaded, so it re-runs on a changed result too.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { type Project, project, removeProjects, showOutput, runStatuses } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/prices.ipynb';

/** `cellar run` with extra flags, which must succeed: each task's status by name. */
const run = (p: Project, ...flags: string[]) => runStatuses(p, NB, ...flags);

/**
 * fetchprice reads data/price.txt outside its key (`untracked`: external data), invoice doubles
 * it, letter quotes the invoice: a chain of three. `flag` is fetchprice's `//| rerun` line or ''.
 */
function pricesProject(flag: string, invoiceParams = ''): Project {
  const p = project();
  p.write(
    NB,
    notebookText([
      "import { readFileSync } from 'node:fs';\nimport { untracked } from 'cellar';",
      ...(invoiceParams ? [`//| params\n${invoiceParams}`] : []),
      `//| task: fetchprice\n${flag}\nconst price = Number(untracked(() => readFileSync('data/price.txt', 'utf8')));`,
      `//| task: invoice\nconst total = price * 2${invoiceParams ? ' + extra' : ''};`,
      '//| task: letter\nconst line = `please pay ${total}`;',
    ]),
  );
  mkdirSync(join(p.dir, 'notebooks', 'data'), { recursive: true });
  p.write('notebooks/data/price.txt', '10');
  return p;
}

describe('a forced re-run never leaves its downstream stale', () => {
  it('//| rerun upstream whose output changes: the whole chain re-runs and shows the new value', () => {
    const p = pricesProject('//| rerun');
    expect(run(p)).toEqual({ fetchprice: 'ran', invoice: 'ran', letter: 'ran' });
    expect(showOutput(p, NB, 'letter', 'line')).toBe('please pay 20');
    p.write('notebooks/data/price.txt', '99');
    expect(run(p)).toEqual({ fetchprice: 'ran', invoice: 'ran', letter: 'ran' });
    expect(showOutput(p, NB, 'invoice', 'total')).toBe(198);
    expect(showOutput(p, NB, 'letter', 'line')).toBe('please pay 198');
  });

  it('//| rerun upstream whose output is unchanged: its downstream stays cached', () => {
    const p = pricesProject('//| rerun');
    run(p);
    expect(run(p)).toEqual({ fetchprice: 'ran', invoice: 'cached', letter: 'cached' });
    expect(showOutput(p, NB, 'letter', 'line')).toBe('please pay 20');
  });

  it('--rerun upstream: a changed output re-runs the chain, the dry run says why, an unchanged one does not', () => {
    const p = pricesProject('');
    run(p);
    expect(run(p)).toEqual({ fetchprice: 'cached', invoice: 'cached', letter: 'cached' });
    const dry = p.cellar('run', NB, '--dry-run', '--rerun', 'fetchprice');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('depends on fetchprice, which re-runs first');
    expect(run(p, '--rerun', 'fetchprice')).toEqual({
      fetchprice: 'ran',
      invoice: 'cached',
      letter: 'cached',
    });
    p.write('notebooks/data/price.txt', '99');
    expect(run(p, '--rerun', 'fetchprice')).toEqual({
      fetchprice: 'ran',
      invoice: 'ran',
      letter: 'ran',
    });
    expect(showOutput(p, NB, 'letter', 'line')).toBe('please pay 198');
    // Without --rerun, the next run serves the new results, all consistent.
    expect(run(p)).toEqual({ fetchprice: 'cached', invoice: 'cached', letter: 'cached' });
  });

  it('--rerun <task> --dry-run counts the forced task as running and its downstream as running only if its output changes', () => {
    const p = pricesProject('');
    run(p);
    const dry = p.cellar('run', NB, '--dry-run', '--rerun', 'fetchprice');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would run {2}fetchprice .* forced \(rerun\)$/m);
    expect(dry.stdout).toMatch(
      /^may run {4}invoice .* depends on fetchprice, which re-runs first/m,
    );
    // `letter` reads invoice, not fetchprice: it re-runs only if invoice's re-made output differs.
    expect(dry.stdout).toMatch(
      /^may run {4}letter .* depends on fetchprice through invoice: fetchprice re-runs first; cached unless the output of invoice changes$/m,
    );
    expect(dry.stdout).not.toMatch(/^would run\s+(invoice|letter)/m);
    expect(dry.stdout.trim().split('\n').at(-1)).toBe(
      '1 task would run, 2 more if the output of fetchprice changes, 0 cached.',
    );
    const json = p.cellar('run', NB, '--dry-run', '--json', '--rerun', 'fetchprice');
    expect(json.code, json.stderr).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(
      Object.fromEntries(
        plan.tasks.map((t: { name: string; action: string }) => [t.name, t.action]),
      ),
    ).toEqual({ fetchprice: 'run', invoice: 'may-run', letter: 'may-run' });
    expect(plan.counts).toEqual({
      run: 1,
      mayRun: { count: 2, forced: ['fetchprice'] },
      cached: 0,
      notRun: 0,
    });
    // The real run agrees: the output is unchanged, so the one task the plan said would run ran.
    // Its opening line (plain output) counts the same way (variant: the run, not the dry run).
    const real = p.cellar('run', NB, '--rerun', 'fetchprice');
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout + real.stderr).toContain(
      '1 to run, 2 more if the output of fetchprice changes, 0 cached',
    );
    expect(run(p, '--rerun', 'fetchprice')).toEqual({
      fetchprice: 'ran',
      invoice: 'cached',
      letter: 'cached',
    });
  });

  it('--rerun of two tasks --dry-run names both as deciding their shared downstream', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        '//| task: a\nconst x = 1;',
        '//| task: b\nconst y = 2;',
        '//| task: c\nconst z = x + y;',
        '//| task: d\nconst w = z + 1;',
      ]),
    );
    run(p);
    const dry = p.cellar('run', NB, '--dry-run', '--rerun', 'a', '--rerun', 'b');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.trim().split('\n').at(-1)).toMatch(
      /^2 tasks would run, 2 more if the output of a or b changes, 0 cached\.$/,
    );
    expect(run(p, '--rerun', 'a', '--rerun', 'b')).toEqual({
      a: 'ran',
      b: 'ran',
      c: 'cached',
      d: 'cached',
    });
  });

  it('--rerun upstream under one param value: the results stored for another value are not served stale either', () => {
    const p = pricesProject('', 'const extra = 0;');
    run(p, '--param', 'extra=0');
    run(p, '--param', 'extra=1');
    expect(showOutput(p, NB, 'invoice', 'total')).toBe(20);
    p.write('notebooks/data/price.txt', '99');
    run(p, '--param', 'extra=0', '--rerun', 'fetchprice');
    // invoice and letter under extra=1 were computed from price 10: re-run, not served.
    expect(run(p, '--param', 'extra=1')).toEqual({
      fetchprice: 'cached',
      invoice: 'ran',
      letter: 'ran',
    });
    const show = p.cellar('show', NB, 'letter', 'line', '--json', '--param', 'extra=1');
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toBe('please pay 199');
  });

  it('--rerun upstream: a task of another notebook that load()s its result re-runs on a changed one, and stays cached on an unchanged one', () => {
    const p = pricesProject('');
    const reader = 'notebooks/reader.ipynb';
    p.write(
      reader,
      notebookText([
        "import { load } from 'cellar';\nimport { fetchpriceTask } from '../generated/prices/fetchprice';",
        '//| task: quote\nconst quoted = (await load(fetchpriceTask)).price + 1;',
      ]),
    );
    run(p);
    expect(runStatuses(p, reader)).toEqual({ quote: 'ran' });
    expect(runStatuses(p, reader)).toEqual({ quote: 'cached' });
    // A file come beside the project: nothing quote read (load()'s own hashing of the loaded
    // task's code looks at the folders above the project, and is not quote's).
    writeFileSync(join(p.dir, '..', `beside-${basename(p.dir)}.txt`), 'x');
    expect(runStatuses(p, reader)).toEqual({ quote: 'cached' });
    // Made again under the same key with the same price: what quote read is as it was.
    run(p, '--rerun', 'fetchprice');
    expect(runStatuses(p, reader)).toEqual({ quote: 'cached' });
    // Made again with another price: quote was computed from 10, so it is not served.
    p.write('notebooks/data/price.txt', '99');
    run(p, '--rerun', 'fetchprice');
    expect(runStatuses(p, reader)).toEqual({ quote: 'ran' });
    expect(showOutput(p, reader, 'quote', 'quoted')).toBe(100);
  });

  it('--rerun upstream whose stored file was named for the next key: a task that load()s it re-runs on the new value', () => {
    // fetchprice also reads data/base.txt as keyed data: its first run files its result under
    // the next run's key, in a file named for its own (`price_<key>-<hex>`), which the forced
    // re-run does not write over (it writes `price_<key>`).
    const p = project();
    p.write(
      NB,
      notebookText([
        "import { readFileSync } from 'node:fs';\nimport { untracked } from 'cellar';",
        "//| task: fetchprice\nconst price = Number(readFileSync('data/base.txt', 'utf8')) + Number(untracked(() => readFileSync('data/price.txt', 'utf8')));",
      ]),
    );
    mkdirSync(join(p.dir, 'notebooks', 'data'), { recursive: true });
    p.write('notebooks/data/base.txt', '100');
    p.write('notebooks/data/price.txt', '10');
    const reader = 'notebooks/reader.ipynb';
    p.write(
      reader,
      notebookText([
        "import { load } from 'cellar';\nimport { fetchpriceTask } from '../generated/prices/fetchprice';",
        '//| task: quote\nconst quoted = (await load(fetchpriceTask)).price + 1;',
      ]),
    );
    run(p);
    // The first run files its result under the next key only for files older than its start:
    // base.txt, written just now, may cost quote a second run.
    expect(runStatuses(p, reader)).toEqual({ quote: 'ran' });
    runStatuses(p, reader);
    expect(runStatuses(p, reader)).toEqual({ quote: 'cached' });
    expect(showOutput(p, reader, 'quote', 'quoted')).toBe(111);
    p.write('notebooks/data/price.txt', '20');
    run(p, '--rerun', 'fetchprice');
    expect(showOutput(p, NB, 'fetchprice', 'price')).toBe(120);
    expect(runStatuses(p, reader)).toEqual({ quote: 'ran' });
    expect(showOutput(p, reader, 'quote', 'quoted')).toBe(121);
  });
});
