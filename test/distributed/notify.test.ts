// `cellar run --notify <url>`: the summary goes to a webhook as Slack-compatible JSON on failure,
// on success only with --notify-on-success, and a webhook that cannot be reached is a warning,
// not a different exit code. The webhook is a real local HTTP server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { copyShapes, root, runCli } from './helpers.js';

interface Received {
  path: string;
  contentType: string;
  body: {
    text: string;
    blocks: { type: string; text: { type: string; text: string } }[];
    cellar: { ok: boolean; tasks: { name: string; status: string }[] };
  };
}

let server: Server;
let url = '';
const received: Received[] = [];
let answer = 200;

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({
        path: req.url!,
        contentType: String(req.headers['content-type']),
        body: JSON.parse(body),
      });
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer === 200 ? 'ok' : 'no_service');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('cellar run --notify', () => {
  it('posts the summary of a failed run as Slack JSON: headline naming the failed task, summary block, the --json result', async () => {
    const dir = copyShapes();
    received.length = 0;
    const r = await runCli([
      'run',
      join(dir, 'fails.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--notify',
      `${url}/hooks/T1/B2`,
    ]);
    expect(r.code).toBe(1);
    expect(received).toHaveLength(1);
    const [post] = received;
    expect(post!.path).toBe('/hooks/T1/B2');
    expect(post!.contentType).toBe('application/json');
    expect(post!.body.text).toMatch(/^Cellar run of fails FAILED on .+: boom$/);
    expect(post!.body.blocks.map((b) => [b.type, b.text.type])).toEqual([
      ['section', 'mrkdwn'],
      ['section', 'mrkdwn'],
    ]);
    expect(post!.body.blocks[1]!.text.text).toContain('===== Cellar Execution Summary =====');
    expect(post!.body.blocks[1]!.text.text).toContain('boom at n=3');
    expect(post!.body.cellar.ok).toBe(false);
    expect(post!.body.cellar.tasks.map((t) => [t.name, t.status])).toEqual([
      ['ok', 'ran'],
      ['boom', 'failed'],
      ['after', 'not-run'],
    ]);
  }, 600_000);

  it('stays quiet on success unless --notify-on-success', async () => {
    const dir = copyShapes();
    received.length = 0;
    const quiet = await runCli([
      'run',
      join(dir, 'diamond.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--notify',
      url,
    ]);
    expect(quiet.code).toBe(0);
    expect(received).toHaveLength(0);
    const told = await runCli([
      'run',
      join(dir, 'diamond.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--notify',
      url,
      '--notify-on-success',
    ]);
    expect(told.code).toBe(0);
    expect(received).toHaveLength(1);
    expect(received[0]!.body.text).toMatch(/^Cellar run of diamond succeeded on /);
    expect(received[0]!.body.cellar.tasks.every((t) => t.status === 'cached')).toBe(true);
  }, 600_000);

  it("a webhook that refuses or cannot be reached is a warning; the exit code stays the run's", async () => {
    const dir = copyShapes();
    answer = 404;
    const refused = await runCli([
      'run',
      join(dir, 'fails.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--notify',
      url,
    ]);
    answer = 200;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/warning: could not post the summary to .*HTTP 404/);
    const unreachable = await runCli([
      'run',
      join(dir, 'diamond.ts'),
      '--workspace',
      join(dir, 'ws'),
      '--notify',
      'http://127.0.0.1:9/hook',
      '--notify-on-success',
    ]);
    expect(unreachable.code).toBe(0);
    expect(unreachable.stderr).toMatch(/warning: could not post the summary/);
    const bad = await runCli(['run', join(dir, 'diamond.ts'), '--notify', 'slack-channel']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--notify needs an http(s) URL');
  }, 600_000);
});
