// `cellar docs` on a small throwaway project: notebook prose keeps its images (a file next to the
// notebook and a Jupyter cell attachment both end up in the site's media/ folder and are shown),
// a task with no prose still gets a page, and a notebook that does not compile fails the build
// with a message naming the notebook, cell and line instead of writing half a site.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const dir = join(repo, 'test', '.tmp', `docs-prose-${process.pid}`);
// A 1×1 PNG.
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const cell = (cell_type: string, source: string, extra: Record<string, unknown> = {}) => ({
  cell_type,
  source,
  metadata: {},
  ...(cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
  ...extra,
});

function notebook(cells: object[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c, i) => ({ id: `c${i}`, ...c })),
  });
}

function cellar(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CELLAR_WORKSPACE: '' },
  });
}

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks', 'figures'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "prose-project", "private": true, "type": "module" }\n',
  );
  writeFileSync(join(dir, 'notebooks', 'figures', 'beaks.png'), Buffer.from(PNG, 'base64'));
  writeFileSync(
    join(dir, 'notebooks', 'birds.ipynb'),
    notebook([
      cell('markdown', '# Birds\n\nWhy we count birds.\n\n![beak sizes](figures/beaks.png)'),
      cell(
        'markdown',
        '## Count them\n\nThe sketch from the field trip: ![sketch](attachment:sketch.png)',
        { attachments: { 'sketch.png': { 'image/png': PNG } } },
      ),
      cell('code', '//| task: count\nconst n = [1, 2, 3].length;'),
      cell('code', '//| task: double\n//| timeout: 90s\n//| retries: 2\nconst twice = n * 2;'),
    ]),
  );
}, 600_000);

describe('cellar docs on notebook prose', () => {
  it('keeps markdown images from files and cell attachments, and pages tasks with no prose', () => {
    const r = cellar('docs', 'notebooks/birds.ipynb', '--out', 'site', '--no-api');
    expect(r.status, r.stderr).toBe(0);
    const media = readdirSync(join(dir, 'site', 'media'));
    expect(media).toContain('beaks.png');
    expect(media.some((f) => f.includes('sketch.png'))).toBe(true);
    const pipeline = readFileSync(join(dir, 'site', 'pipelines', 'birds.html'), 'utf8');
    expect(pipeline).toMatch(/<img src="\.\.\/media\/beaks\.png" alt="beak sizes"/);
    const count = readFileSync(join(dir, 'site', 'tasks', 'birds', 'count.html'), 'utf8');
    expect(count).toMatch(/<img src="\.\.\/\.\.\/media\/[^"]*sketch\.png" alt="sketch"/);
    const double = readFileSync(join(dir, 'site', 'tasks', 'birds', 'double.html'), 'utf8');
    expect(double).toContain('No notebook prose before this task.');
    expect(double).toContain('not run yet');
    // `//| timeout` and `//| retries` in words, on the page of the task that sets them only.
    expect(double).toContain(
      'Each attempt may take at most 1m 30s (//| timeout); past that it fails with E_TASK_TIMEOUT. A failed attempt is tried again up to 2 more times (//| retries).',
    );
    expect(count).not.toContain('cellar-attempts');
  }, 600_000);

  it('fails naming the notebook, cell and line when a notebook does not compile, and writes no site', () => {
    writeFileSync(
      join(dir, 'notebooks', 'bad.ipynb'),
      notebook([cell('code', '//| task: oops\nconst y = missingName + 1;')]),
    );
    const r = cellar('docs', 'notebooks/bad.ipynb', '--out', 'bad-site', '--no-api');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/notebooks\/bad\.ipynb.*cell 1.*line 2/s);
    expect(r.stderr).toContain('E_COMPILE');
    expect(existsSync(join(dir, 'bad-site'))).toBe(false);
  }, 600_000);
});
