// A leading U+FEFF (byte-order mark) in a stored string is data. The text and table (Arrow)
// codecs used to drop it when reading an output back (`new TextDecoder()`, and apache-arrow's
// own, treat a leading EF BB BF as a byte-order mark): the bytes on disk kept it, and the
// downstream task, `cellar show` and `load()` got the string without it.
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects, showOutput } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

describe('a string starting with U+FEFF, stored by each codec', () => {
  const p = project();
  p.write(
    'notebooks/bom.ipynb',
    notebookText([
      codeCell(
        'mk',
        [
          '//| task: mk',
          '//| output: asCsv=csv',
          '//| output: asText=text',
          '//| output: asJson=json',
          "const asText = '\\uFEFFid,name\\n1,a\\n';",
          "const asTable = [{ s: '\\uFEFFx' }, { s: 'y' }];",
          "const asNamed = [{ '\\uFEFFid': 1, id: 'plain' }];",
          "const asCsv = [{ '\\uFEFFid': '\\uFEFF1' }];",
          "const asJson = '\\uFEFFj';",
          "const asAuto = '\\uFEFF';",
        ].join('\n'),
      ),
      codeCell(
        'use',
        [
          '//| task: use',
          'const first = (s: string) => s.charCodeAt(0);',
          'const csvKey = Object.keys(asCsv[0]!)[0]!;',
          'const report = {',
          '  text: [asText.length, first(asText)],',
          '  table: [asTable[0]!.s.length, first(asTable[0]!.s), asTable[1]!.s],',
          "  named: [(asNamed[0] as Record<string, unknown>)['\\uFEFFid'], asNamed[0]!.id],",
          '  csv: [csvKey.length, (asCsv[0] as Record<string, string>)[csvKey]!.length],',
          '  json: asJson.length,',
          '  auto: [asAuto.length, first(asAuto)],',
          '};',
        ].join('\n'),
      ),
    ]),
  );

  it('reaches the downstream task and `cellar show` whole', () => {
    const r = p.cellar('run', 'notebooks/bom.ipynb');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(showOutput(p, 'notebooks/bom.ipynb', 'use', 'report')).toEqual({
      text: [13, 0xfeff],
      table: [2, 0xfeff, 'y'],
      named: [1, 'plain'],
      csv: [3, 2],
      json: 2,
      auto: [1, 0xfeff],
    });
    expect(showOutput(p, 'notebooks/bom.ipynb', 'mk', 'asText')).toBe('\uFEFFid,name\n1,a\n');
    expect(showOutput(p, 'notebooks/bom.ipynb', 'mk', 'asAuto')).toBe('\uFEFF');
    expect(showOutput(p, 'notebooks/bom.ipynb', 'mk', 'asTable')).toEqual([
      { s: '\uFEFFx' },
      { s: 'y' },
    ]);
  });
});
