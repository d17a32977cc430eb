// Parameters for `cellar exec` / `cellar verify`, papermill's way but typed.
//
// The params cell (`//| params` on its first lines, or the Jupyter tag `parameters` as papermill
// uses) keeps the defaults. Its declarations, read by the compiler's own cell analysis (name,
// TypeScript type text, kind, default), type every value given with `-p name value` or `-f
// params.json`. An unknown name, or a value of the wrong type, is refused before any cell runs
// (ParamError, naming the notebook's params cell and the declaration's line). Accepted values
// become an `injected-parameters` cell of `const name: Type = <literal>;` lines inserted right
// after the params cell: tslab lets a later cell re-declare a `const` (probed here).
//
// Structured params (`const regions = ['north', 'south']`, an annotated interface, …) are checked
// by the TypeScript compiler itself against the declared type text; when that text names a type
// the params cell does not declare (an interface from a setup cell), the check falls back to the
// shape of the default (array, object, or the primitive kind).
import { parseNotebook } from '../../compiler/notebook/parse.js';
import { tagCells } from '../../compiler/notebook/directives.js';
import { loadAnalyzer } from '../../compiler/analyze/cell.js';
import '../../compiler/host.js'; // sets how the analyzer loads ts-morph (a plain require)
import type { ParamDecl } from '../../compiler/types.js';
import { shapeMismatch } from '../param-shape.js';

export class ParamError extends Error {
  constructor(
    message: string,
    readonly code: 'E_UNKNOWN_PARAM' | 'E_BAD_PARAM' | 'E_NO_PARAMS_CELL' | 'E_NOT_A_NOTEBOOK',
  ) {
    super(message);
    this.name = 'ParamError';
  }
}

/** The params cell of a notebook and what it declares. */
export interface ParamsCell {
  /** 0-based index among all cells; undefined when the notebook has no params cell. */
  index: number | undefined;
  id: string | undefined;
  declarations: ParamDecl[];
  /** The setup cells' `type` and `interface` declarations, as written: what a param's declared
   *  type may name (`const mode: Mode`), for the TypeScript check of its value. */
  setupTypes?: string;
  /**
   * The values of an `injected-parameters` cell an earlier `cellar exec -p` left, by name: the
   * compiled pipeline takes them as the params' defaults (compiler/plan/injected-params.ts), so a
   * new run starts from them and `-p` overrides them. Absent when there is none.
   */
  injected?: ParamDecl[];
}

/** A raw value from the command line (text, typed by the declaration) or from a JSON file (typed). */
export type RawParam =
  { name: string; text: string } | { name: string; value: unknown; from: string };

/** Find the params cell (`//| params`, or tagged `parameters`) and read its declarations. */
export async function readParamsCell(notebookPath: string, text: string): Promise<ParamsCell> {
  const parsed = parseNotebook(notebookPath, text);
  if (!parsed.notebook)
    throw new ParamError(
      `${notebookPath}: ${parsed.diagnostics.map((d) => d.message).join('; ')}`,
      'E_NOT_A_NOTEBOOK',
    );
  const notebook = parsed.notebook;
  const tagged = tagCells(notebook);
  const cell =
    tagged.cells.find((c) => c.role === 'params') ??
    notebook.cells
      .filter((c) => c.type === 'code' && c.tags.includes('parameters'))
      .map((c) => ({ index: c.index, id: c.id, code: c.source }))[0];
  if (!cell) return { index: undefined, id: undefined, declarations: [] };
  const analyzer = await loadAnalyzer();
  const [analysis] = analyzer.analyzeCells([
    { index: cell.index, role: 'params', code: cell.code },
  ]);
  const declarations = analysis?.params ?? [];
  const injectedCells = tagged.cells.filter((c) => c.injected);
  const injected = injectedCells.length
    ? analyzer
        .analyzeCells(injectedCells.map((c) => ({ index: c.index, role: 'params', code: c.code })))
        .flatMap((a) => a.params)
    : [];
  const setup = tagged.cells.filter((c) => c.role === 'setup' && c.index < cell.index);
  const setupTypes =
    setup.length > 0 && declarations.some((d) => /[A-Z]/.test(d.type))
      ? await typeDeclarations(setup.map((c) => c.code))
      : '';
  return {
    index: cell.index,
    id: cell.id,
    declarations,
    ...(setupTypes ? { setupTypes } : {}),
    ...(injected.length ? { injected } : {}),
  };
}

/**
 * The injected-parameters cell's values as the first raw params (the `-f` file's and `-p`'s come
 * after, and win): typed and checked like them.
 */
export function injectedRaw(cell: ParamsCell): RawParam[] {
  return (cell.injected ?? []).map((p) => ({
    name: p.name,
    value: p.default,
    from: 'the injected-parameters cell',
  }));
}

/** The `type` and `interface` declarations of `sources`, as written. */
async function typeDeclarations(sources: string[]): Promise<string> {
  const ts = (await import('typescript')).default;
  const out: string[] = [];
  for (const code of sources) {
    const sf = ts.createSourceFile('/setup.ts', code, ts.ScriptTarget.ES2022, true);
    for (const st of sf.statements)
      if (ts.isTypeAliasDeclaration(st) || ts.isInterfaceDeclaration(st))
        out.push(code.slice(st.getStart(sf), st.end).replace(/^export\s+/, ''));
  }
  return out.join('\n');
}

const where = (notebook: string, cell: ParamsCell, decl?: ParamDecl) =>
  `${notebook} cell ${(cell.index ?? 0) + 1}${cell.id ? ` (id ${cell.id})` : ''}${decl ? `, line ${decl.line}` : ''}`;

/**
 * Type each raw value by its declaration. Later values win (`-f` first, then each `-p`).
 * Returns name → value in declaration order. Throws ParamError naming the params cell.
 */
export async function typeParams(
  notebook: string,
  cell: ParamsCell,
  raw: RawParam[],
): Promise<Record<string, unknown>> {
  if (raw.length === 0) return {};
  const byName = new Map(cell.declarations.map((d) => [d.name, d]));
  const values = new Map<string, unknown>();
  for (const item of raw) {
    const decl = byName.get(item.name);
    if (!decl) {
      if (cell.index === undefined) {
        throw new ParamError(
          `${notebook} has no params cell, so it takes no parameter ('${item.name}' given): add a cell starting with \`//| params\` (or tagged \`parameters\`) that declares it`,
          'E_NO_PARAMS_CELL',
        );
      }
      const known = cell.declarations.map((d) => `${d.name}: ${d.type}`).join(', ');
      throw new ParamError(
        `unknown parameter '${item.name}': the params cell (${where(notebook, cell)}) declares ${known || 'nothing'}`,
        'E_UNKNOWN_PARAM',
      );
    }
    values.set(item.name, 'text' in item ? fromText(notebook, cell, decl, item.text) : item.value);
  }
  // Check every value against its declaration; structured ones by the TypeScript compiler.
  const structured: { decl: ParamDecl; value: unknown }[] = [];
  for (const [name, value] of values) {
    const decl = byName.get(name)!;
    if (decl.paramType !== 'json') {
      const ok =
        typeof value === decl.paramType && (typeof value !== 'number' || Number.isFinite(value));
      if (!ok) throw badType(notebook, cell, decl, value);
      // A narrower declared type (`'fast' | 'slow'`, `1 | 2`): the compiler checks the value too.
      if (narrowed(decl.type)) structured.push({ decl, value });
    } else structured.push({ decl, value });
  }
  if (structured.length) await checkStructured(notebook, cell, structured);
  return Object.fromEntries(
    cell.declarations.filter((d) => values.has(d.name)).map((d) => [d.name, values.get(d.name)]),
  );
}

/** Whether a declared param type says more than its kind (`'fast' | 'slow'`, not `string`). */
export function narrowed(type: string): boolean {
  return !/^\s*(string|number|boolean)\s*$/.test(type);
}

function fromText(notebook: string, cell: ParamsCell, decl: ParamDecl, text: string): unknown {
  switch (decl.paramType) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw badType(notebook, cell, decl, text);
      return n;
    }
    case 'boolean':
      if (text === 'true' || text === 'false') return text === 'true';
      throw badType(notebook, cell, decl, text);
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        throw new ParamError(
          `parameter '${decl.name}' is ${decl.type} (${where(notebook, cell, decl)}), given as JSON; '${text}' is not JSON (for example -p ${decl.name} '${JSON.stringify(decl.default)}')`,
          'E_BAD_PARAM',
        );
      }
  }
}

function badType(
  notebook: string,
  cell: ParamsCell,
  decl: ParamDecl,
  value: unknown,
  detail?: string,
): ParamError {
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return new ParamError(
    `parameter '${decl.name}' is ${decl.type} (${where(notebook, cell, decl)}), got ${shown}${detail ? `: ${detail}` : ''}`,
    'E_BAD_PARAM',
  );
}

/** `const name: Type = literal;` for a checked value (JSON is a TypeScript literal). */
export function literalOf(decl: ParamDecl, value: unknown): string {
  return `const ${decl.name}: ${decl.type} = ${JSON.stringify(value)};`;
}

/** The source of the `injected-parameters` cell. */
export function injectedSource(cell: ParamsCell, values: Record<string, unknown>): string {
  const byName = new Map(cell.declarations.map((d) => [d.name, d]));
  const lines = Object.entries(values).map(([name, value]) => literalOf(byName.get(name)!, value));
  return ['// Parameters (injected by cellar exec)', ...lines].join('\n');
}

async function checkStructured(
  notebook: string,
  cell: ParamsCell,
  items: { decl: ParamDecl; value: unknown }[],
): Promise<void> {
  const ts = (await import('typescript')).default;
  const file = '/params.ts';
  // One line per value (diagnostics are matched to values by line), the setup's types after.
  const text =
    items
      .map(({ decl, value }, i) => `const __p${i}: ${decl.type} = ${JSON.stringify(value)};`)
      .join('\n') + `\n${cell.setupTypes ?? ''}\nexport {};\n`;
  const options = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    types: [] as string[],
  };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(file, text, language) : read(name, language, ...rest);
  const program = ts.createProgram([file], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file);
  for (const [i, { decl, value }] of items.entries()) {
    const mine = diagnostics.filter(
      (d) => d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line === i,
    );
    // A type from another cell (an interface in a setup cell) is unknown here: check the shape.
    if (mine.some((d) => d.code === 2304 || d.code === 2552)) {
      const wrong = shapeMismatch(value, decl.default, decl.name);
      if (wrong)
        throw badType(
          notebook,
          cell,
          decl,
          value,
          `expected ${wrong.expected} like the default, got ${wrong.got}`,
        );
      continue;
    }
    if (mine.length) {
      // The compiler's message has no path into the value; the shape check names one when it can.
      const wrong = shapeMismatch(value, decl.default, decl.name);
      const message = ts.flattenDiagnosticMessageText(mine[0]!.messageText, ' ');
      throw badType(
        notebook,
        cell,
        decl,
        value,
        wrong ? `expected ${wrong.expected}, got ${wrong.got} (${message})` : message,
      );
    }
  }
}
