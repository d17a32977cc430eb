import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CODES } from '../../compiler/diagnostics.js';
import { RUNTIME_CODES } from '../../runtime/codes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('runtime error codes', () => {
  it('every code is in the table of docs/design/runtime.md, and the table has no stale ones', () => {
    const doc = readFileSync(join(root, 'docs/design/runtime.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.keys(RUNTIME_CODES).sort());
  });

  it("every code quoted in runtime/ and cli/ source is catalogued (the runtime's, or the compiler's for compile diagnostics)", () => {
    // The types already refuse a free string where a code is expected; this also catches a code
    // written into a message or a JSON literal.
    const known = new Set([...Object.keys(RUNTIME_CODES), ...Object.keys(CODES)]);
    const stray: string[] = [];
    for (const dir of ['runtime', 'cli']) {
      for (const file of readdirSync(join(root, dir), { recursive: true }) as string[]) {
        if (!file.endsWith('.ts')) continue;
        const text = readFileSync(join(root, dir, file), 'utf8');
        for (const [, code] of text.matchAll(/'(E_[A-Z][A-Z_]*)'/g))
          if (!known.has(code!)) stray.push(`${dir}/${file}: ${code}`);
      }
    }
    expect(stray).toEqual([]);
  });
});
