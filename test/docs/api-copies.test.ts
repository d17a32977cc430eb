// The API copies of the generated modules stand under a scratch root (cli/docs/collect.ts), so
// the relative links of the prose in their doc comments are pointed at the same files from there.
import { describe, expect, it } from 'vitest';
import { rebaseCommentLinks } from '../../cli/docs/collect.js';

describe('rebaseCommentLinks', () => {
  const from = '/p/notebooks';
  const to = '/p/.cellar/docs/abc/generated/nums';

  it('points relative Markdown and HTML links in doc comments at the same file from the copy', () => {
    const text = [
      '/**',
      ' * See ![chart](chart.svg), [data](data/a%20b.csv#top) and <img src="img/x.png">.',
      ' */',
      'export const x = 1;',
    ].join('\n');
    const out = rebaseCommentLinks(text, from, to);
    expect(out).toContain('![chart](../../../../../notebooks/chart.svg)');
    expect(out).toContain('[data](../../../../../notebooks/data/a%20b.csv#top)');
    expect(out).toContain('<img src="../../../../../notebooks/img/x.png">');
  });

  it('leaves URLs, absolute paths, anchors and code outside comments as they are', () => {
    const text = [
      '/** [site](https://example.com/a.png), [abs](/srv/a.png), [here](#why), [mail](mailto:a@b.c) */',
      "const md = '![chart](chart.svg)';",
      '// ![line comment](chart.svg)',
    ].join('\n');
    expect(rebaseCommentLinks(text, from, to)).toBe(text);
  });
});
