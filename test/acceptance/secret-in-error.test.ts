// A task that reads a token from the environment and fails with it in its error
// (`throw new Error(`auth failed for ${token}`)`) must not print the token in the run summary,
// store it in the run log under .cellar/, or hand it out in `--json`: every value of a variable the
// task read (by name, or by a computed name seen while it ran) is `[redacted: NAME]` there, while
// the failure still names its notebook, cell and line. Short values (`dev`) are left alone: they
// would match ordinary words.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeCell, notebookText, project, removeProjects } from './harness.js';

afterAll(() => process.env.KEEP || removeProjects());

const SECRET = 'tok-5f3a9e21c0ffee';
const COMPUTED = 'pw-77aa11bb';

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ file: path, text: readFileSync(path, 'latin1') });
  }
  return out;
}

describe('a secret read from the environment in a failing task', () => {
  const p = project();
  p.write(
    'notebooks/auth.ipynb',
    notebookText([
      codeCell('params', "//| params\nconst mode = 'message';"),
      codeCell(
        'login',
        [
          '//| task: login',
          "const tok = process.env.CE_TOKEN ?? '';",
          "const which = ['CE', 'PASSWORD'].join('_');",
          "const pw = process.env[which] ?? '';",
          "const stage = process.env.CE_STAGE ?? '';",
          "if (mode === 'message') throw new Error(`auth failed for token ${tok} on ${stage}`);",
          "if (mode === 'computed') throw new Error(`login as admin:${pw} refused`);",
          "if (mode === 'object') throw { token: tok, status: 401 };",
          'const ok = tok.length + pw.length;',
        ].join('\n'),
      ),
    ]),
  );
  p.setEnv('CE_TOKEN', SECRET);
  p.setEnv('CE_PASSWORD', COMPUTED);
  p.setEnv('CE_STAGE', 'dev');

  for (const runner of [[], ['--in-process']]) {
    const how = runner.length ? 'in-process' : 'on worker threads';
    it(`is redacted from the summary, the run log and --json, and the failure keeps its cell and line (${how})`, () => {
      const r = p.cellar('run', 'notebooks/auth.ipynb', ...runner);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stdout).toContain('auth failed for token [redacted: CE_TOKEN] on dev');
      expect(r.stdout).toContain('at notebooks/auth.ipynb, cell 2 (id login), line 6');

      const json = p.cellar('run', 'notebooks/auth.ipynb', '--json', ...runner);
      expect(json.stdout + json.stderr).not.toContain(SECRET);
      const [task] = JSON.parse(json.stdout).tasks;
      expect(task.error).toMatch(/^auth failed for token \[redacted: CE_TOKEN\] on dev/);
      expect(task.location).toBe('notebooks/auth.ipynb, cell 2 (id login), line 6');

      const stored = filesUnder(join(p.dir, '.cellar'));
      expect(stored.some((f) => f.file.endsWith('.jsonl'))).toBe(true);
      expect(stored.filter((f) => f.text.includes(SECRET)).map((f) => f.file)).toEqual([]);
      expect(stored.some((f) => f.text.includes('[redacted: CE_TOKEN]'))).toBe(true);
    });
  }

  it('redacts a variable read by a computed name, and a thrown object holding the value', () => {
    const computed = p.cellar('run', 'notebooks/auth.ipynb', '--param', 'mode=computed');
    expect(computed.code, computed.stderr).toBe(1);
    expect(computed.stdout + computed.stderr).not.toContain(COMPUTED);
    expect(computed.stdout).toContain('login as admin:[redacted: CE_PASSWORD] refused');
    expect(computed.stdout).toContain('at notebooks/auth.ipynb, cell 2 (id login), line 7');

    const object = p.cellar('run', 'notebooks/auth.ipynb', '--param', 'mode=object', '--json');
    expect(object.code, object.stderr).toBe(1);
    expect(object.stdout + object.stderr).not.toContain(SECRET);
    const [task] = JSON.parse(object.stdout).tasks;
    expect(task.error).toContain('"token":"[redacted: CE_TOKEN]"');
    expect(task.location).toMatch(/^notebooks\/auth\.ipynb, cell 2 \(id login\)/);
    for (const f of filesUnder(join(p.dir, '.cellar'))) {
      expect(f.text, f.file).not.toContain(SECRET);
      expect(f.text, f.file).not.toContain(COMPUTED);
    }
  });
});
