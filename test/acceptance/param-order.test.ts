// A param object's member order is in the key (issue 8, breaker report A8): the key's canonical
// JSON sorts members, but a task receives them in the order given (`Object.keys(weights)[0]`), so
// two orders may compute two results and must not share one (runtime/key/keys.ts paramKeyOrder).
// Through the real CLI; the asserted values are the ones `cellar show` prints.
import { afterAll, describe, expect, it } from 'vitest';
import { notebookText } from '../compiler/notebook.js';
import { type Project, project, removeProjects, runStatuses } from './harness.js';

afterAll(removeProjects);

const NB = 'notebooks/weights.ipynb';

const run = (p: Project, param: string) => runStatuses(p, NB, '--param', param);

function show(p: Project, task: string, output: string, param: string): unknown {
  const r = p.cellar('show', NB, task, output, '--json', '--param', param);
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout);
}

describe("a param object's member order is in the key", () => {
  it('the same members in another order run again and each order shows its own result; nested objects too', () => {
    const p = project();
    p.write(
      NB,
      notebookText([
        // Declared open: the values below add members and nest objects, which a JSON --param is
        // checked against (E_BAD_PARAM otherwise).
        '//| params\nconst weights: Record<string, number | Record<string, number>> = { b: 2, a: 1 };',
        '//| task: order\nconst firstKey = Object.keys(weights)[0];',
        '//| task: total\nconst sum = Object.values(weights).reduce((s: number, v: unknown) => s + (typeof v === "number" ? v : 0), 0);',
        '//| task: inner\nconst innerFirst = Object.keys((weights as unknown as Record<string, object>).w ?? {})[0] ?? null;',
      ]),
    );
    const bac = 'weights={"b":2,"a":1,"c":0}';
    const acb = 'weights={"a":1,"c":0,"b":2}';
    expect(run(p, bac)).toEqual({ order: 'ran', total: 'ran', inner: 'ran' });
    expect(run(p, bac)).toEqual({ order: 'cached', total: 'cached', inner: 'cached' });
    expect(show(p, 'order', 'firstKey', bac)).toBe('b');
    // Another order: order runs again, and so does every task given the param (the key cannot
    // tell which tasks look at the order).
    expect(run(p, acb).order).toBe('ran');
    expect(show(p, 'order', 'firstKey', acb)).toBe('a');
    expect(show(p, 'order', 'firstKey', bac)).toBe('b');
    expect(show(p, 'total', 'sum', acb)).toBe(3);
    // A sorted object keys as before; a nested object's order counts as well.
    const yx = 'weights={"w":{"y":1,"x":2}}';
    const xy = 'weights={"w":{"x":2,"y":1}}';
    run(p, yx);
    expect(run(p, xy).inner).toBe('ran');
    expect(show(p, 'inner', 'innerFirst', yx)).toBe('y');
    expect(show(p, 'inner', 'innerFirst', xy)).toBe('x');
  });
});
