// The embedded warehouse behaves as BigQuery does (UTC) whatever the host's time zone
// (issue 8, item 4): the whole dialect suite, plus the DST-gap cases of ZONE_CASES, run in a child
// process per zone. A child per zone because DuckDB's ICU takes the host zone at process start.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CASES } from './dialect-cases.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

const dir = mkdtempSync(join(tmpdir(), 'cellar-zones-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runUnder(zone: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(tsx, [join(import.meta.dirname, 'zone-runner.ts')], {
    cwd: root,
    env: { ...process.env, TZ: zone, CELLAR_SEED: '0', ZONE_DB: join(dir, 'zones.duckdb') },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe.each(['UTC', 'America/New_York', 'Asia/Kolkata'])('dialect suite under TZ=%s', (zone) => {
  it('gives BigQuery’s (UTC) answer to every known-answer case', async () => {
    const got = await runUnder(zone);
    for (const c of CASES) expect(got[c.name], c.name).toEqual(c.expected);
    expect(got['bound Date']).toEqual([{ t: '2024-03-10T02:30:00.000Z', same_day: true }]);
  }, 600_000); // a child process on a shared machine: no speed assumption
});
