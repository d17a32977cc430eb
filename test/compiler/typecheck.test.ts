// Generated code must type-check under the project's strict tsconfig: every fixture baseline and
// every module in generated/. Runs the real TypeScript compiler (the project's 5.9, not tslab's).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** JavaScript notebooks' baselines carry their own tsconfig.json (checkJs): checked with it. */
const jsConfigs = readdirSync(join(import.meta.dirname, 'fixtures'))
  .map((f) => join(import.meta.dirname, 'fixtures', f, 'expected', 'tsconfig.json'))
  .filter((f) => existsSync(f));

it('fixture baselines and generated/ type-check with tsc --strict', () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const files = [
    ...tsFiles(join(import.meta.dirname, 'fixtures')).filter(
      (f) => f.includes('/expected/') && !jsConfigs.some((c) => f.startsWith(dirname(c) + '/')),
    ),
    ...tsFiles(join(root, 'generated')),
  ];
  expect(files.length).toBeGreaterThan(10);
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.includes(d.file.fileName));
  const messages = diagnostics.map((d) => {
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    return `${d.file!.fileName.slice(root.length + 1)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
  expect(messages).toEqual([]);
});

it("a JavaScript notebook's baselines type-check as JavaScript with the tsconfig.json emitted beside them", () => {
  expect(jsConfigs.length).toBeGreaterThan(0);
  for (const file of jsConfigs) {
    const config = ts.getParsedCommandLineOfConfigFile(
      file,
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
    )!;
    expect(config.errors).toEqual([]);
    // Every module of the folder: the .js ones holding the notebook's code included.
    expect(config.fileNames.filter((f) => f.endsWith('.js')).length).toBeGreaterThan(1);
    const program = ts.createProgram(config.fileNames, config.options);
    // Every diagnostic, as `npx tsc -p generated/<notebook>` reports them: cellar's own sources
    // (which 'cellar' resolves to) must type-check under the notebook's looser settings too.
    const messages = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file)
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `${d.file!.fileName.slice(root.length + 1)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      });
    expect(messages).toEqual([]);
  }
});

it('checking as JavaScript still catches real mistakes (a misspelt property of a known type)', () => {
  const dir = dirname(jsConfigs[0]!);
  const config = ts.getParsedCommandLineOfConfigFile(
    join(dir, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const bad = join(dir, 'misspelt.js');
  const host = ts.createCompilerHost(config.options);
  const read = host.readFile;
  host.readFile = (f) =>
    f === bad
      ? "export const n = 'abc'.lenght;\nexport function f(xs) { return xs.length; }\n"
      : read(f);
  const exists = host.fileExists;
  host.fileExists = (f) => f === bad || exists(f);
  const program = ts.createProgram([bad], config.options, host);
  const messages = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === bad)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
  // The typo is caught; the unannotated parameter `xs` is JavaScript, not an error.
  expect(messages).toEqual([
    "Property 'lenght' does not exist on type '\"abc\"'. Did you mean 'length'?",
  ]);
});
