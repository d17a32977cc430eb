// The runtime's Deno shim (runtime/deno.ts): the Deno APIs compiled Deno notebooks call, on Node,
// against real files; and the code hash's reading of `Deno.env.get('X')` as an env read that
// enters the task's key (the run-level proof is test/acceptance/deno-data.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Deno } from 'cellar';
import { envReadIn } from '../../runtime/key/codehash.js';

const dir = mkdtempSync(join(tmpdir(), 'cellar-deno-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Deno shim', () => {
  it('reads text and bytes as Deno does (bytes as a plain Uint8Array)', async () => {
    const file = join(dir, 'a.csv');
    writeFileSync(file, 'x,é\n');
    expect(await Deno.readTextFile(file)).toBe('x,é\n');
    expect(Deno.readTextFileSync(new URL(`file://${file}`))).toBe('x,é\n');
    const bytes = await Deno.readFile(file);
    expect(bytes.constructor).toBe(Uint8Array);
    expect([...Deno.readFileSync(file)]).toEqual([...Buffer.from('x,é\n')]);
  });

  it("writes, appends, and with create: false refuses a missing file (Deno's options)", async () => {
    const file = join(dir, 'out.txt');
    await Deno.writeTextFile(file, 'a');
    Deno.writeTextFileSync(file, 'b', { append: true });
    await Deno.writeTextFile(file, 'c', { append: true });
    expect(readFileSync(file, 'utf8')).toBe('abc');
    await expect(
      Deno.writeTextFile(join(dir, 'missing.txt'), 'x', { create: false }),
    ).rejects.toThrow(/ENOENT/);
  });

  it('env.get is process.env, cwd is process.cwd, displays do nothing', async () => {
    process.env.CELLAR_DENO_SHIM_TEST = 'v';
    expect(Deno.env.get('CELLAR_DENO_SHIM_TEST')).toBe('v');
    delete process.env.CELLAR_DENO_SHIM_TEST;
    expect(Deno.env.get('CELLAR_DENO_SHIM_TEST')).toBeUndefined();
    expect(Deno.cwd()).toBe(process.cwd());
    expect(Deno.jupyter.md`# ${1}`).toBeUndefined();
    await expect(Deno.jupyter.display({ a: 1 })).resolves.toBeUndefined();
  });
});

describe('env reads in code', () => {
  it("count Deno.env.get('X') like process.env.X; a computed name is *", () => {
    expect(
      envReadIn(
        'const d = Deno.env.get("DATA_DIR") ?? "."; const t = Deno.env.get(`TOKEN`); const h = process.env.HOME;',
      ),
    ).toEqual(['DATA_DIR', 'HOME', 'TOKEN']);
    expect(envReadIn('const v = Deno.env.get(name);')).toEqual(['*']);
    expect(envReadIn('const v = Deno.env.get(`A_${x}`);')).toEqual(['*']);
  });

  it('count the host time zone for Date or Intl code and the locale for Intl or toLocale…String', () => {
    expect(envReadIn('const h = new Date(t).getHours();')).toEqual(['@timeZone']);
    expect(envReadIn('const s = n.toLocaleString();')).toEqual(['@locale', '@timeZone']);
    expect(envReadIn('const f = new Intl.NumberFormat().format(n);')).toEqual([
      '@locale',
      '@timeZone',
    ]);
    // A Date the code did not build (a file's mtime, an upstream's value) names no `Date`.
    expect(envReadIn("const h = statSync('data.txt').mtime.getHours();")).toEqual(['@timeZone']);
    expect(envReadIn('const d = when.getDate();')).toEqual(['@timeZone']);
    expect(envReadIn('const u = when.getUTCHours();')).toEqual([]);
    // Names that merely contain the words do not count.
    expect(envReadIn('const updatedAt = row.DateKey + myIntl;')).toEqual([]);
  });

  it('count the locale for string ordering and casing by locale (no time zone in them)', () => {
    expect(envReadIn('const s = ws.sort((a, b) => a.localeCompare(b));')).toEqual(['@locale']);
    expect(envReadIn('const up = name.toLocaleUpperCase();')).toEqual(['@locale']);
    expect(envReadIn('const low = name.toLocaleLowerCase();')).toEqual(['@locale']);
  });
});
