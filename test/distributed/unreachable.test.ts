// A distributed run whose Redis is not there, or whose workers are not: `cellar run --executor
// bullmq` and `cellar worker` given a Redis that refuses connections stop within seconds with one
// line (E_REDIS_UNREACHABLE, exit 2), where they hung for ever printing ioredis' stack traces; a
// coordinator whose jobs no worker takes says so (CELLAR_WORKER_WAIT_MS shortens the wait here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort as closedPort, startRedis, type RedisServer } from '../support/redis.js';
import { copyShapes, root, runCli, startCli } from './helpers.js';

let redis: RedisServer | undefined;

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
});

afterAll(async () => {
  await redis?.stop();
});

describe('a distributed run whose Redis cannot be reached', () => {
  for (const command of ['run', 'worker'] as const) {
    it(`cellar ${command}: exits 2 within seconds naming the URL and the reason, no stack traces`, async () => {
      const dir = copyShapes();
      const url = `redis://127.0.0.1:${await closedPort()}`;
      const args =
        command === 'run'
          ? ['run', join(dir, 'diamond.ts'), '--executor', 'bullmq', '--redis', url]
          : ['worker', join(dir, 'diamond.ts'), '--redis', url];
      const started = Date.now();
      const result = await runCli([...args, '--workspace', join(dir, 'ws')]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(
        `cellar ${command}: cannot reach Redis at ${url} (ECONNREFUSED): start redis-server or give --redis (E_REDIS_UNREACHABLE)`,
      );
      expect(result.stderr).not.toMatch(/Unhandled error event|TCPConnectWrap/);
      // Generous for a loaded machine; it hung for ever before.
      expect(Date.now() - started).toBeLessThan(30_000);
    }, 60_000);
  }
});

describe('a coordinator whose jobs no worker takes', () => {
  it('says it waits for a worker and how to start one', async () => {
    redis = await startRedis();
    const dir = copyShapes();
    process.env.CELLAR_WORKER_WAIT_MS = '200';
    const { child, done } = startCli([
      'run',
      join(dir, 'diamond.ts'),
      '--executor',
      'bullmq',
      '--redis',
      redis.url,
      '--workspace',
      join(dir, 'ws'),
    ]);
    delete process.env.CELLAR_WORKER_WAIT_MS;
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    try {
      await new Promise<void>((resolveSaid, reject) => {
        child.stderr!.on('data', () => {
          if (stderr.includes('waiting for a worker')) resolveSaid();
        });
        child.once('exit', () => reject(new Error(`the coordinator exited:\n${stderr}`)));
      });
    } finally {
      child.kill('SIGKILL');
      await done;
    }
    expect(stderr).toMatch(
      /cellar run: waiting for a worker: none has taken a job of pipeline diamond for 0\.2 s; start one with `cellar worker \S*diamond\.ts --redis redis:\/\/127\.0\.0\.1:\d+`/,
    );
  }, 60_000);
});
