// Generated code must type-check under the project's strict tsconfig: every fixture baseline and
// every module in generated/. Runs the real TypeScript compiler (the project's 5.9, not tslab's).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

it('fixture baselines and generated/ type-check with tsc --strict', () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const files = [
    ...tsFiles(join(import.meta.dirname, 'fixtures')).filter((f) => f.includes('/expected/')),
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
