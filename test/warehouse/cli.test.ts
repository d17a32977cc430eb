// `cellar run` against BigQuery (the real client, via the local stand-in): `--dry-run` shows the
// bytes each task would process, the maximum-bytes-billed setting stops a run with a clear error,
// and a normal run materialises and then reuses the table.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandIn, type StandIn } from '../support/bigquery-standin/server.js';
import { EVENTS_DDL } from './fixtures.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const PIPELINE = `
import { definePipeline, defineTask, sql } from 'cellar';

export const daily = defineTask({
  name: 'daily',
  params: {},
  inputs: {},
  outputs: { t: {} },
  warehouse: { reads: ['src.events'], materialize: 'mart.daily' },
  run: () => ({ t: sql\`SELECT d, COUNT(*) AS n FROM src.events GROUP BY d\` }),
});

export default definePipeline({ name: 'whcli', tasks: [daily] });
`;

function cellar(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'cellar.mjs'), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('cellar run on BigQuery (client via the stand-in)', () => {
  let standIn: StandIn;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    standIn = await startStandIn();
    await standIn.exec(EVENTS_DDL);
    mkdirSync(join(root, 'test', '.tmp'), { recursive: true });
    dir = mkdtempSync(join(root, 'test', '.tmp', 'wh-cli-'));
    writeFileSync(join(dir, 'pipeline.ts'), PIPELINE);
    env = {
      CELLAR_WAREHOUSE: 'bigquery',
      CELLAR_BQ_PROJECT: 'cellar-test',
      CELLAR_BQ_ENDPOINT: standIn.url,
      CELLAR_WORKSPACE: join(dir, 'ws'),
      CELLAR_MAX_BYTES_BILLED: '',
    };
  });
  afterAll(async () => {
    await standIn.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--dry-run shows the bytes each task would process', async () => {
    const r = await cellar(['run', join(dir, 'pipeline.ts'), '--dry-run'], env);
    expect(r.code, r.out).toBe(0);
    // 95 rows × 6 columns × 8 bytes, the stand-in's estimate.
    expect(r.out).toMatch(/daily\s+4\.6 KB in 1 query/);
  });

  it('stops a task that would bill more than the configured maximum', async () => {
    const r = await cellar(['run', join(dir, 'pipeline.ts')], {
      ...env,
      CELLAR_MAX_BYTES_BILLED: '1000',
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/exceeded limit for bytes billed: 1000/);
    expect(r.out).toMatch(/maxBytesBilled|CELLAR_MAX_BYTES_BILLED/);
  });

  it('materialises on the first run and reuses the table on the second', async () => {
    const first = await cellar(['run', join(dir, 'pipeline.ts')], env);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/1 ran successfully/);
    const second = await cellar(['run', join(dir, 'pipeline.ts')], env);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toMatch(/1 was cached|were cached/);
  });
});
