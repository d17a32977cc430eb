// `cellar docs` on the real example notebooks: the penguins pipeline is run for real (its outputs,
// manifests and run log land in a scratch workspace), flights is left unrun, and the site is
// built twice by the real CLI. The pages are read as files, then driven in Debian's Chromium
// through playwright-core: home → pipeline → task, and a search for an output column name.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const tmp = join(repo, 'test', '.tmp', `docs-${process.pid}`);
const workspace = join(tmp, 'workspace');
const site = join(tmp, 'site');
const rebuilt = join(tmp, 'site-again');
const screenshots = join(repo, 'test', '.tmp', 'docs-screenshots');
const notebooks = ['notebooks/penguins.ipynb', 'notebooks/flights.ipynb'];

function cellar(...args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, CELLAR_WORKSPACE: '' },
  });
  if (r.status !== 0)
    throw new Error(`cellar ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const read = (dir: string, page: string) => readFileSync(join(dir, page), 'utf8');

/**
 * A page's bytes without the sentence saying whether the last full run still holds (pages.ts
 * `currency`): other test files run the repo's penguins notebook with other workspaces meanwhile,
 * which replaces the warm-run record the sentence is read from. The rest must be identical.
 */
function stable(path: string): Buffer {
  if (!path.endsWith('.html')) return readFileSync(path);
  return Buffer.from(
    readFileSync(path, 'utf8').replace(/<p class="cellar-(?:current|maybe-stale)">.*?<\/p>/g, ''),
  );
}

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      // The build stamp digests the inputs, the currency sentence's fact among them.
      else if (e.name !== '.cellar-docs.json')
        out.set(relative(dir, p), createHash('sha256').update(stable(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** The markdown cell right before each task's first cell: its prose, as the notebook has it. */
function proseLines(notebook: string): Map<string, string> {
  const nb = JSON.parse(readFileSync(join(repo, notebook), 'utf8')) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  const text = (c: { source: string | string[] }) =>
    Array.isArray(c.source) ? c.source.join('') : c.source;
  const out = new Map<string, string>();
  nb.cells.forEach((c, i) => {
    const m = /^\/\/\| task: (\w+)/.exec(text(c));
    const before = nb.cells[i - 1];
    if (m && before?.cell_type === 'markdown')
      out.set(
        m[1]!,
        text(before)
          .split('\n')[0]!
          .replace(/^#+\s*/, ''),
      );
  });
  return out;
}

beforeAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  cellar('run', 'notebooks/penguins.ipynb', '--workspace', workspace);
  cellar('docs', ...notebooks, '--out', site, '--workspace', workspace);
  cellar('docs', ...notebooks, '--out', rebuilt, '--workspace', workspace);
}, 900_000);

describe('cellar docs on the example notebooks', () => {
  const tasks = {
    penguins: ['load', 'features', 'split', 'train', 'evaluate'],
    flights: ['baseline', 'route_rates', 'hour_rates', 'features', 'calibration'],
  };

  it('gives every task a page holding its notebook prose', () => {
    for (const [pipeline, names] of Object.entries(tasks)) {
      const prose = proseLines(`notebooks/${pipeline}.ipynb`);
      for (const name of names) {
        const page = read(site, `tasks/${pipeline}/${name}.html`);
        const heading = prose.get(name)!;
        expect(heading, `${pipeline}/${name} has prose in the notebook`).toBeTruthy();
        expect(page, `${pipeline}/${name}`).toContain(heading.replace(/&/g, '&amp;'));
      }
    }
  });

  it("shows penguins' features output schema and the row count 342 from the run", () => {
    const page = read(site, 'tasks/penguins/features.html');
    expect(page).toContain('342 rows');
    for (const column of ['species', 'beakLength', 'bodyMass', 'beakRatio', 'sex'])
      expect(page).toContain(`<code class="cellar-column">${column}</code>`);
    // Statistics recorded by the run: a histogram for numbers, top values for categories.
    expect(page).toMatch(/class="cellar-histogram"/);
    expect(page).toMatch(/Adelie \(\d+\)/);
    expect(page).toContain('Last run finished');
  });

  it('draws every task its lineage as an inline SVG whose nodes link to task pages', () => {
    for (const [pipeline, names] of Object.entries(tasks)) {
      for (const name of names) {
        const page = read(site, `tasks/${pipeline}/${name}.html`);
        expect(page, `${pipeline}/${name}`).toMatch(/<figure class="cellar-lineage-svg"><svg/);
      }
    }
    const features = read(site, 'tasks/penguins/features.html');
    expect(features).toContain('href="load.html"');
    expect(features).toContain('href="split.html"');
    expect(features).not.toContain('cellar-task:');
  });

  it('builds byte-identical output the second time', () => {
    const a = files(site);
    const b = files(rebuilt);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    const differing = [...a].filter(([f, h]) => b.get(f) !== h).map(([f]) => f);
    expect(differing).toEqual([]);
  });

  it('shows "not run yet" for tasks never run instead of failing', () => {
    for (const name of tasks.flights) {
      const page = read(site, `tasks/flights/${name}.html`);
      expect(page, name).toContain('not run yet');
    }
    // A data check of a never-run task has no result yet either.
    expect(read(site, 'tasks/flights/route_rates.html')).toMatch(
      /rows &gt;= 1000<\/code><\/td><td class="cellar-check-not-run">not run yet/,
    );
  });

  it('records the run history with params, statuses and the accuracy metric', () => {
    const page = read(site, 'runs/penguins.html');
    expect(page).toContain('param nTrees');
    expect(page).toContain('evaluate.metrics.accuracy');
    expect(page).toMatch(/<td>ran \d+/);
    expect(read(site, 'runs/flights.html')).toContain('No runs recorded yet');
  });

  it('lists pipelines with their opening prose on the home page, and keeps every page under 500 KB', () => {
    const home = read(site, 'index.html');
    expect(home).toContain('href="pipelines/penguins.html"');
    expect(home).toContain('href="pipelines/flights.html"');
    expect(home).toContain('Adélie');
    for (const [file] of files(site))
      if (file.endsWith('.html'))
        expect(statSync(join(site, file)).size, file).toBeLessThan(500 * 1024);
    // Shared assets, loaded once per visit; no page refers to a remote script or style.
    expect(existsSync(join(site, 'assets', 'navigation.js'))).toBe(true);
    expect(home).not.toMatch(/<script[^>]+src="https?:/);
    expect(home).not.toMatch(/<link[^>]+href="https?:/);
  });
});

describe('the site in a browser (Chromium, headless)', () => {
  const chromium = '/usr/bin/chromium';
  it.skipIf(!existsSync(chromium))(
    'goes home → pipeline → task and finds a task by an output column name',
    async (ctx) => {
      if (!existsSync(chromium))
        return ctx.skip(`no ${chromium}: install Debian's chromium (scripts/setup-system.sh does)`);
      const { chromium: launcher } = await import('playwright-core');
      const browser = await launcher.launch({
        executablePath: chromium,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        // Playwright's defaults (30 s) are speed checks on a loaded machine: these limits only
        // guard against a hang, inside the test's 600 s.
        timeout: 300_000,
      });
      try {
        mkdirSync(screenshots, { recursive: true });
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        page.setDefaultTimeout(300_000); // every wait, click and navigation below
        const remote: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith('file:')) remote.push(r.url());
        });
        await page.goto(pathToFileURL(join(site, 'index.html')).href);
        await page.click('.col-content a[href="pipelines/penguins.html"]');
        await page.waitForURL(/pipelines\/penguins\.html$/);
        await page.locator('#cellar-dag svg').waitFor();
        await page.screenshot({ path: join(screenshots, 'pipeline.png'), fullPage: false });
        await page.click('#cellar-tasks a.cellar-task-link:text-is("features")');
        await page.waitForURL(/tasks\/penguins\/features\.html$/);
        await expect(page.locator('.cellar-rows').first().textContent()).resolves.toContain(
          '342 rows',
        );
        await page.locator('#cellar-lineage svg').waitFor();
        await page.screenshot({ path: join(screenshots, 'task.png'), fullPage: true });

        // The search index is not fetched until the search box is used.
        expect(await page.evaluate(() => 'searchData' in globalThis)).toBe(false);
        await page.click('#tsd-search-trigger');
        await page.fill('#tsd-search-input', 'beakRatio');
        const hit = page.locator('#tsd-search-results a', { hasText: 'features' });
        await hit.first().waitFor();
        expect(await hit.first().getAttribute('href')).toContain('tasks/penguins/features.html');
        await page.screenshot({ path: join(screenshots, 'search.png') });
        // A click on a lineage node opens that task's page.
        await page.keyboard.press('Escape');
        await page.locator('#cellar-lineage svg a[href="split.html"]').first().click();
        await page.waitForURL(/tasks\/penguins\/split\.html$/);
        expect(remote).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    600_000,
  );
});
