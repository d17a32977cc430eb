// The hand-written source and the generated code share one style: the Prettier options in
// .prettierrc.json (what `npm run format` and CI's `npm run format:check` use) are exactly the
// compiler's PRETTIER_OPTIONS (compiler/emit/print.ts, what generated/ is formatted with).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PRETTIER_OPTIONS } from '../compiler/emit/print.js';

it('formats the source with the options the compiler formats generated code with', () => {
  const rc = JSON.parse(readFileSync(join(import.meta.dirname, '..', '.prettierrc.json'), 'utf8'));
  expect(rc).toEqual({ ...PRETTIER_OPTIONS });
});
