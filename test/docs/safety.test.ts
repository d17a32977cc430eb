// `cellar docs` must not serve anything a notebook's author (or a notebook's file name) can make
// run in a reader's browser: raw HTML in markdown prose is sanitized (scripts, event handlers,
// `javascript:` links, iframes and style sheets go; headings, tables, <b>, <i>, <code>, local
// images and <details> stay), and every name is escaped. Checked on the files and in Chromium
// (a page whose script ran would open an alert dialog).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const dir = join(repo, 'test', '.tmp', `docs-safety-${process.pid}`);
const site = join(dir, 'site');
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
/** A file name holding every character HTML cares about that a Linux file name allows. */
const ODD = `Odd <img src=x onerror=alert('name')>&y"q`;
/** A param value that would close a code span and open HTML. */
const LABEL = '`<img src=x onerror=alert(9)>`|b';

const cell = (cell_type: string, source: string) => ({
  cell_type,
  source,
  metadata: {},
  ...(cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
});
const notebook = (cells: object[]) =>
  JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c, i) => ({ id: `c${i}`, ...c })),
  });

function cellar(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin', 'cellar.mjs'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CELLAR_WORKSPACE: '' },
  });
}

const page = (path: string) => readFileSync(join(site, path), 'utf8');
function htmlFiles(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? htmlFiles(join(d, e.name))
      : e.name.endsWith('.html')
        ? [join(d, e.name)]
        : [],
  );
}
/** Quotes as text (either spelling is safe outside a tag, and TypeDoc uses both). */
const quotes = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'");
/** The part of a page Cellar and the notebook wrote (TypeDoc's own header scripts left out). */
const body = (html: string) => html.slice(html.indexOf('<body'));

const EVIL_PROSE = [
  '# Evil',
  '',
  'Opening <script>alert("script")</script> text.',
  '',
  '<img src=x onerror=alert("img")> <IMG SRC="jav&#x09;ascript:alert(\'entity\');"> <img/src=y onerror=alert("slash")>',
  '',
  '<a href="javascript:alert(\'link\')">click</a> <a href="JaVaScRiPt:alert(\'case\')">case</a>',
  '',
  '<iframe src="javascript:alert(\'frame\')"></iframe>',
  '',
  '<style>body { display: none }</style>',
  '',
  '<svg onload=alert("svg")><script>alert("svg script")</script></svg>',
  '',
  '<details><summary>More</summary><b>bold</b> <i>italic</i> <code>x &lt; y</code></details>',
  '',
  '<table><tr><th>kept</th></tr><tr><td>table</td></tr></table>',
  '',
  '<img src="figures/beaks.png" alt="beaks" width="40">',
].join('\n');

let docsStderr = '';

beforeAll(() => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'notebooks', 'figures'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "safety", "private": true, "type": "module" }\n',
  );
  writeFileSync(join(dir, 'notebooks', 'figures', 'beaks.png'), Buffer.from(PNG, 'base64'));
  writeFileSync(
    join(dir, 'notebooks', 'evil.ipynb'),
    notebook([
      cell('markdown', EVIL_PROSE),
      cell('code', '//| params\nconst nTrees = 10;\nconst label = "birds";'),
      cell('markdown', '## Count\n\nProse <b onmouseover="alert(\'b\')">here</b>.'),
      cell(
        'code',
        '//| task: count\nif (nTrees > 11) throw new Error(`too many <trees> & ${nTrees}`);\nconst n = [1, 2, 3].length + nTrees + label.length;',
      ),
      cell('code', '//| task: double\nconst twice = n * 2;'),
    ]),
  );
  writeFileSync(
    join(dir, 'notebooks', `${ODD}.ipynb`),
    notebook([
      cell('markdown', '# Odd\n\nAn odd name.'),
      cell('code', '//| task: one\nconst one = 1;'),
    ]),
  );
  expect(cellar('run', 'notebooks/evil.ipynb', '--param', `label=${LABEL}`).status).toBe(0);
  // count fails on this one (nTrees > 11): its page must say so, not "not run yet".
  expect(cellar('run', 'notebooks/evil.ipynb', '--param', 'nTrees=12').status).toBe(1);
  writeFileSync(
    join(dir, 'notebooks', 'fails.ipynb'),
    notebook([
      cell(
        'code',
        '//| task: boom\nconst rows = [1, 2];\nif (rows.length) throw new Error(`bad row <3> & "x"\\nsecond line`);',
      ),
    ]),
  );
  expect(cellar('run', 'notebooks/fails.ipynb').status).toBe(1);
  const r = cellar('docs', 'notebooks', '--out', 'site');
  expect(r.status, r.stderr).toBe(0);
  docsStderr = r.stderr;
}, 900_000);

describe('raw HTML in notebook markdown', () => {
  it('is sanitized on every page: no script, event handler, javascript: URL, iframe or style', () => {
    const pages = htmlFiles(site);
    expect(pages.length).toBeGreaterThan(5);
    for (const file of pages) {
      const html = body(readFileSync(file, 'utf8'));
      const where = relative(site, file);
      expect(html, where).not.toMatch(/alert\(["']?(script|svg script)/);
      expect(html, where).not.toMatch(/<[^>]+\son\w+\s*=/i);
      expect(html, where).not.toMatch(/javascript:/i);
      expect(html, where).not.toMatch(/<iframe/i);
      expect(html, where).not.toContain('display: none');
    }
  });

  it('keeps the HTML notebooks commonly use: details, bold, italic, code, tables, local images', () => {
    const html = page('pipelines/evil.html');
    expect(html).toContain(
      '<details><summary>More</summary><b>bold</b> <i>italic</i> <code>x &lt; y</code></details>',
    );
    expect(html).toContain('<table><tr><th>kept</th></tr><tr><td>table</td></tr></table>');
    expect(html).toMatch(/<img src="\.\.\/media\/beaks\.png" alt="beaks" width="40"/);
    expect(readdirSync(join(site, 'media'))).toContain('beaks.png');
    expect(html).toContain('<a>click</a>'); // the link's text stays, its script goes
    expect(page('tasks/evil/count.html')).toContain('Prose <b>here</b>.');
  });
});

describe('names and values from the user', () => {
  it('are escaped: a notebook file name on the home page, its pipeline and history pages', () => {
    const shown = `Odd &lt;img src=x onerror=alert('name')&gt;&amp;y"q`;
    const home = quotes(page('index.html'));
    expect(home).toContain(`class="tsd-kind-module">${shown}</a>`);
    expect(home).toContain(`<code>notebooks/${shown}.ipynb</code>`);
    const history = readdirSync(join(site, 'runs')).find((f) => f.startsWith('Odd'))!;
    const runs = quotes(page(`runs/${history}`));
    expect(runs).toContain(`of ${shown} that ran a task`);
    expect(runs).toContain(`<code>cellar run notebooks/${shown}.ipynb</code>`);
    for (const html of [home, runs]) expect(body(html)).not.toMatch(/<img src="?x/);
  });

  it('are escaped: a param value holding a backtick, HTML and a pipe, in the run history', () => {
    expect(quotes(page('runs/evil.html'))).toContain(
      '<td><code>"`&lt;img src=x onerror=alert(9)&gt;`|b"</code></td>',
    );
  });
});

describe('a task that failed in its last run', () => {
  const failed =
    /<strong>failed in its last run<\/strong> \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): /;
  it('is shown failed, with the time and the escaped message, on its page and in the task table', () => {
    const boom = quotes(page('tasks/fails/boom.html'));
    expect(boom).toMatch(failed);
    expect(boom).toContain('<code>bad row &lt;3&gt; &amp; "x"</code>');
    expect(boom).toContain('second line'); // the whole message, under "Whole message"
    expect(boom).toContain('No run of this task has succeeded yet.');
    expect(boom).not.toContain('not run yet');
    expect(quotes(page('pipelines/fails.html'))).toMatch(
      /<td class="cellar-failed">failed in its last run \([^)]*UTC\): bad row &lt;3&gt; &amp; "x"<\/td>/,
    );
  });

  it('is shown failed above the figures of its last successful run', () => {
    const count = page('tasks/evil/count.html');
    expect(count).toMatch(failed);
    expect(count).toContain('<code>too many &lt;trees&gt; &amp; 12</code>');
    expect(count).toContain('Last successful run finished');
    expect(page('pipelines/evil.html')).toMatch(/class="cellar-failed">failed in its last run/);
  });
});

describe('a task its last run left out because a task upstream failed', () => {
  it('says so, as cellar tree does, above its last successful run', () => {
    const double = page('tasks/evil/double.html');
    expect(double).toMatch(
      /<strong>not run in its last run<\/strong> \([^)]*UTC\): upstream count failed\./,
    );
    expect(double).toContain('Last successful run finished');
    expect(page('pipelines/evil.html')).toMatch(
      /<td class="cellar-failed">not run in its last run \([^)]*UTC\): upstream count failed<\/td>/,
    );
  });
});

describe('the run history', () => {
  it('shows the params a failed run was run with (the failing value), not —', () => {
    const runs = quotes(page('runs/evil.html'));
    const failedRow =
      /<tr>\s*<td>[^<]*UTC<\/td>\s*<td>failed<\/td>\s*<td>[^<]*<\/td>\s*<td>(.*?)<\/td>\s*<td>(.*?)<\/td>/s.exec(
        runs,
      );
    expect(failedRow, runs).not.toBeNull();
    expect(failedRow![1]).toBe('<code>"birds"</code>'); // label: the default, as keyed
    expect(failedRow![2]).toBe('<code>12</code>'); // nTrees: the value it failed with
    // The run that never succeeded at all has its row too.
    expect(page('runs/fails.html')).toMatch(/<td>failed<\/td>/);
  });
});

describe('a missing image in the prose', () => {
  it('is warned about naming the notebook, cell and path as written, not a scratch file', () => {
    expect(docsStderr).toContain(
      'notebooks/evil.ipynb, cell 1 (id c0): image "x" is not a file (looked for notebooks/x)',
    );
    expect(docsStderr).not.toContain('.cellar/docs');
    expect(docsStderr).not.toContain('The relative path');
    // The image that is there is not warned about.
    expect(docsStderr).not.toContain('figures/beaks.png');
  });
});

describe('the site in a browser (Chromium, headless)', () => {
  const chromium = '/usr/bin/chromium';
  it.skipIf(!existsSync(chromium))(
    'opens every page without a script of the notebook running',
    async () => {
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
        timeout: 300_000,
      });
      try {
        const tab = await browser.newPage();
        tab.setDefaultTimeout(300_000);
        const dialogs: string[] = [];
        tab.on('dialog', (d) => {
          dialogs.push(`${tab.url()}: ${d.message()}`);
          void d.dismiss();
        });
        for (const file of htmlFiles(site)) {
          await tab.goto(pathToFileURL(file).href);
          await tab.waitForLoadState('load');
          // Mouse and focus events on every element of the prose give handlers a chance to fire.
          await tab.evaluate(`for (const el of document.querySelectorAll('.tsd-typography *'))
          for (const kind of ['mouseover', 'focus', 'load']) el.dispatchEvent(new Event(kind));`);
        }
        // The search box shows names from the index: type the odd name's start.
        await tab.goto(pathToFileURL(join(site, 'index.html')).href);
        await tab.click('#tsd-search-trigger');
        await tab.fill('#tsd-search-input', 'Odd');
        await tab.locator('#tsd-search-results li').first().waitFor();
        await tab.waitForTimeout(300);
        expect(dialogs).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
