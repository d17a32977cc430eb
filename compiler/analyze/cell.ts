// analyzeCells: TaggedCell code → CellAnalysis: what each cell declares at its top level, which
// top-level names it uses (its own and other cells'), what it mutates, what it imports.
//
// Every cell is parsed as its own ES module in one in-memory TypeScript program (the TypeScript
// ts-morph carries) with no lib files: a module's top-level declarations are file-local, so a
// name the binder cannot resolve inside a cell is exactly a name the cell takes from elsewhere
// (another cell, or a global). That gives notebook scoping for the price of parsing and binding
// — no lib loading, no type checking (~0.3 s per 100 cells against ~1.5 s with libs;
// docs/design/compiler.md). ts-morph is imported lazily and only for cells the incremental cache
// does not already hold.
//
// One cell is three passes over its source file, each a function over a `CellContext` (the
// TypeScript API ts-morph carries, the file, the checker): analyzeStatements (imports,
// declarations, params, display-only statements), findAliases (`const ys = xs`) and
// collectReferences (free names, mutations, `sql` templates, top-level await).
//
// The analysis of a cell depends only on its code and role, so it is cached by them; locations in
// its diagnostics are re-stamped by the caller (the cell may have moved).
import type * as TsMorphModule from 'ts-morph';
import { diagnostic } from '../diagnostics.js';
import { syntaxHelpers, unwrapExpression } from './syntax.js';
import { MAPPED_DENO_APIS, denoApiName, mapSpecifier, unmappedDenoHint } from './deno.js';
import { className, heldClasses } from './holds.js';
import { collectionBreach, lazyBreach } from './memo.js';
import type {
  CellAnalysis,
  CellRole,
  Declaration,
  DeclarationKind,
  Diagnostic,
  ImportDecl,
  KeptState,
  MadeBy,
  Meaning,
  Mutation,
  ParamDecl,
  Reference,
  Span,
} from '../types.js';

type TS = typeof TsMorphModule.ts;
type Node = TsMorphModule.ts.Node;
type Identifier = TsMorphModule.ts.Identifier;
type SourceFile = TsMorphModule.ts.SourceFile;
type TsSymbol = TsMorphModule.ts.Symbol;

/** What the passes over one cell share. ts is passed, not imported: ts-morph loads lazily. */
interface CellContext {
  ts: TS;
  sf: SourceFile;
  checker: TsMorphModule.ts.TypeChecker;
  syntax: ReturnType<typeof syntaxHelpers>;
  input: CellInput;
  result: CellAnalysis;
  /** Symbols of the cell's own top-level declarations and imports (made by analyzeStatements). */
  topLevelSymbols: Set<TsSymbol>;
  /** Some cell of the program has `declare global`: its names resolve in every cell. */
  addsGlobals: boolean;
}

export interface CellInput {
  index: number;
  role: CellRole;
  code: string;
}

export interface Analyzer {
  analyzeCells(cells: CellInput[]): CellAnalysis[];
}

/** Array methods whose callback's first parameter is each element (the second, for reduce). */
const ELEMENT_CALLBACKS = new Set([
  'forEach',
  'map',
  'filter',
  'some',
  'every',
  'find',
  'findIndex',
  'findLast',
  'findLastIndex',
  'flatMap',
  'reduce',
  'reduceRight',
]);

/** Methods that change their receiver: calling one on another task's value changes its output. */
export const MUTATING_METHODS = new Set([
  'push',
  'pop',
  'shift',
  'unshift',
  'splice',
  'sort',
  'reverse',
  'fill',
  'copyWithin',
  'set',
  'delete',
  'clear',
  'add',
  // A Date changed in place (`d.setDate(d.getDate() + 1)`).
  ...['FullYear', 'Month', 'Date', 'Hours', 'Minutes', 'Seconds', 'Milliseconds'].flatMap((u) => [
    `set${u}`,
    `setUTC${u}`,
  ]),
  'setTime',
  'setYear',
]);

/**
 * Cells per TypeScript program. Cells are separate modules, so how they are grouped changes no
 * analysis; smaller programs let each one's syntax trees be collected before the next is built
 * (one program over 5,000 cells held ~0.5 GB and spent a fifth of the compile in the collector).
 */
export const PROGRAM_CELLS = 500;

let loading: Promise<Analyzer> | undefined;
let loadTsMorph: () => Promise<typeof TsMorphModule> = () => import('ts-morph');

/**
 * Let the host choose how ts-morph is loaded. Node's `import()` of a CommonJS package first scans
 * its whole source for named exports (ts-morph carries 9 MB of TypeScript), so the host passes a
 * plain `require`, which halves the load: this module stays free of `node:` imports.
 */
export function setTsMorphLoader(load: () => Promise<typeof TsMorphModule>): void {
  loadTsMorph = load;
}

/** Load ts-morph once per process (≈0.4 s) and return an analyzer bound to it. */
export function loadAnalyzer(): Promise<Analyzer> {
  loading ??= loadTsMorph().then((m) => createAnalyzer(m));
  return loading;
}

/** TypeScript as ts-morph carries it, loaded as `loadAnalyzer` loads it (analyze/module-state.ts). */
export function loadTypeScript(): Promise<TS> {
  return loadTsMorph().then((m) => m.ts);
}

export { mapSpecifier };

function createAnalyzer(tsMorph: typeof TsMorphModule): Analyzer {
  const ts: TS = tsMorph.ts;
  const syntax = syntaxHelpers(ts);

  const options: TsMorphModule.ts.CompilerOptions = {
    noLib: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    noResolve: true,
  };

  /** An analysis reporting that analysing the cell threw (a bug, or the stack ran out). */
  const failed = (c: CellInput, error: unknown): CellAnalysis => {
    const detail = error instanceof Error ? error.message : String(error);
    return {
      ...emptyAnalysis(c.index),
      diagnostics: [
        diagnostic(
          'error',
          'E_INTERNAL',
          { notebook: '', cell: c.index + 1, line: 1 },
          `the analyzer failed on this cell (${detail})`,
          {
            hint: 'please report it with the cell; tag the cell `//| explore` to compile the rest',
          },
        ),
      ],
    };
  };

  function analyzeCells(cells: CellInput[]): CellAnalysis[] {
    const out: CellAnalysis[] = [];
    for (let i = 0; i < cells.length; i += PROGRAM_CELLS)
      out.push(...analyzeProgram(cells.slice(i, i + PROGRAM_CELLS)));
    return out;
  }

  function analyzeProgram(cells: CellInput[]): CellAnalysis[] {
    if (cells.length === 0) return [];
    // Parsed one by one, so a cell too deep for the parser fails alone (see DeepWork).
    const results: (CellAnalysis | undefined)[] = [];
    const files = new Map<string, SourceFile>();
    cells.forEach((c, i) => {
      const name = `/cell${c.index}.ts`;
      const text = `${c.code}\nexport {};\n`;
      try {
        files.set(
          name,
          ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS),
        );
      } catch (error) {
        results[i] = failed(c, error);
      }
    });
    const parsed = cells.filter((_, i) => results[i] === undefined);
    if (parsed.length === 0) return results as CellAnalysis[];
    // A plain program over an in-memory host: ts-morph's Project keeps its files in a sorted
    // array (an insertion per file is quadratic over a 5,000-cell notebook) and wraps each one.
    const host: TsMorphModule.ts.CompilerHost = {
      getSourceFile: (name) => files.get(name),
      getDefaultLibFileName: () => '/lib.d.ts',
      writeFile: () => {},
      getCurrentDirectory: () => '/',
      getCanonicalFileName: (name) => name,
      useCaseSensitiveFileNames: () => true,
      getNewLine: () => '\n',
      fileExists: (name) => files.has(name),
      readFile: () => undefined,
    };
    const program = ts.createProgram({ rootNames: [...files.keys()], options, host });
    let checker: TsMorphModule.ts.TypeChecker;
    try {
      checker = program.getTypeChecker(); // binds every file
    } catch (error) {
      // The binder ran out of stack on some cell: halve until that cell fails alone. Cells are
      // separate modules, so a cell's analysis does not depend on which others share its program.
      if (parsed.length === 1) return [failed(parsed[0]!, error)];
      const half = Math.ceil(parsed.length / 2);
      const again = [
        ...analyzeProgram(parsed.slice(0, half)),
        ...analyzeProgram(parsed.slice(half)),
      ];
      return cells.map((_, i) => results[i] ?? again.shift()!);
    }
    const addsGlobals = cells.some((c) => /\bdeclare\s+global\b/.test(c.code));
    return cells.map((c, i) => {
      if (results[i]) return results[i];
      const sf = program.getSourceFile(`/cell${c.index}.ts`)!;
      try {
        const cx: CellContext = {
          ts,
          sf,
          checker,
          syntax,
          input: c,
          result: emptyAnalysis(c.index),
          topLevelSymbols: new Set(),
          addsGlobals,
        };
        return analyzeOne(cx, program.getSyntacticDiagnostics(sf));
      } catch (error) {
        // A bug here must not take the whole notebook down: report it on the cell.
        return failed(c, error);
      }
    });
  }

  return { analyzeCells };
}

/**
 * Every name some declaration in the cell binds, at any depth (variables, parameters, functions,
 * classes, imports, type parameters, enum members…): the binder marks each declaration node with
 * its symbol. A name outside this set cannot resolve to a declaration in the cell.
 */
function declaredNames(cx: CellContext): Set<string> {
  const { ts, sf } = cx;
  const names = new Set<string>();
  const stack: Node[] = [sf];
  while (stack.length) {
    const node = stack.pop()!;
    if ((node as { symbol?: TsSymbol }).symbol) {
      const name = ts.getNameOfDeclaration(node as TsMorphModule.ts.Declaration);
      if (name && ts.isIdentifier(name)) names.add(name.text);
    }
    ts.forEachChild(node, (child) => {
      stack.push(child);
    });
  }
  return names;
}

/** One cell: a syntax error stops it; otherwise statements, then aliases, then references. */
function analyzeOne(
  cx: CellContext,
  syntaxErrors: readonly TsMorphModule.ts.Diagnostic[],
): CellAnalysis {
  if (syntaxErrors.length) {
    cx.result.diagnostics.push(syntaxError(cx, syntaxErrors[0]!));
    return cx.result;
  }
  analyzeStatements(cx);
  const { aliases, containers } = findAliases(cx);
  if (aliases.size) cx.result.aliases = [...aliases].map(([name, target]) => ({ name, target }));
  collectReferences(cx, aliases, containers);
  if (cx.input.role === 'setup') keptState(cx);
  return cx.result;
}

const lineCol = (sf: SourceFile, pos: number) => {
  const lc = sf.getLineAndCharacterOfPosition(pos);
  return { line: lc.line + 1, column: lc.character + 1 };
};
const lineText = (sf: SourceFile, line: number) => sf.text.split('\n')[line - 1] ?? '';

/** An error at a position of the cell, with its line as the snippet (the caller stamps notebook and cell). */
function diag(
  cx: CellContext,
  code: Parameters<typeof diagnostic>[1],
  pos: number,
  message: string,
  hint?: string,
): Diagnostic {
  const at = lineCol(cx.sf, pos);
  return diagnostic('error', code, { notebook: '', cell: cx.input.index + 1, ...at }, message, {
    hint,
    snippet: lineText(cx.sf, at.line),
  });
}

/** E_SYNTAX, or E_UNSUPPORTED_JSX when the cell parses as TSX. */
function syntaxError(cx: CellContext, first: TsMorphModule.ts.Diagnostic): Diagnostic {
  const { ts, input } = cx;
  const jsx =
    /<[A-Za-z][\w.]*[\s/>]/.test(input.code) &&
    (
      ts.createSourceFile(
        'cell.tsx',
        input.code,
        ts.ScriptTarget.ES2022,
        true,
        ts.ScriptKind.TSX,
      ) as SourceFile & { parseDiagnostics: unknown[] }
    ).parseDiagnostics.length === 0;
  return jsx
    ? diag(
        cx,
        'E_UNSUPPORTED_JSX',
        first.start ?? 0,
        'JSX is not supported in compiled cells',
        'build UI elsewhere, or tag this cell `//| explore`',
      )
    : diag(
        cx,
        'E_SYNTAX',
        first.start ?? 0,
        `syntax error: ${ts.flattenDiagnosticMessageText(first.messageText, ' ')}`,
      );
}

const addSymbolOf = (cx: CellContext, name: Node | undefined) => {
  const s = name && cx.checker.getSymbolAtLocation(name);
  if (s) cx.topLevelSymbols.add(s);
};

// --- statements -----------------------------------------------------------------------------

/** Declarations of one name that may not share a module with another value declaration of it. */
const LEXICAL = new Set<DeclarationKind>(['const', 'let', 'class']);
const VALUE = new Set<DeclarationKind>(['const', 'let', 'var', 'function', 'class', 'enum']);

/**
 * E_DUPLICATE_DECLARATION: one cell declaring a name twice where a module may not (`const total`
 * twice, a `let` and a `function` of one name). tslab refuses the cell ("Cannot redeclare
 * block-scoped variable") and esbuild the compiled module, which failed only when the pipeline
 * loaded, naming the generated file instead of the cell. Function overloads, `var` twice, merged
 * enums, interfaces and namespaces are legal and pass.
 */
function duplicateDeclarations(cx: CellContext): void {
  const first = new Map<string, Declaration>();
  for (const d of cx.result.declarations) {
    if (!VALUE.has(d.kind)) continue;
    const earlier = first.get(d.name);
    if (!earlier) {
      first.set(d.name, d);
      continue;
    }
    if (!LEXICAL.has(d.kind) && !LEXICAL.has(earlier.kind)) continue;
    cx.result.diagnostics.push(
      diag(
        cx,
        'E_DUPLICATE_DECLARATION',
        d.sites[0]!.start,
        `\`${d.name}\` is declared twice in this cell (lines ${earlier.line} and ${d.line}): tslab refuses the cell ("Cannot redeclare block-scoped variable '${d.name}'"), and so would the compiled module`,
        `rename one of them, or declare it once with \`let\` and assign it again`,
      ),
    );
  }
}

/** Top-level statements: imports, declarations, params, `export` to strip, display-only statements. */
function analyzeStatements(cx: CellContext): void {
  const { ts, sf, input, result } = cx;
  const K = ts.SyntaxKind;
  for (const stmt of sf.statements) {
    if (stmt.getStart(sf) >= input.code.length) break; // the `export {}` we appended
    const statement: Span = { start: stmt.getStart(sf), end: stmt.end };
    const line = lineCol(sf, statement.start).line;
    const modifiers = ts.canHaveModifiers(stmt) ? (ts.getModifiers(stmt) ?? []) : [];
    const exportKw = modifiers.find((m) => m.kind === K.ExportKeyword);
    if (exportKw) {
      let end = exportKw.end;
      while (sf.text[end] === ' ') end++;
      result.strip.push({ start: exportKw.getStart(sf), end });
    }
    if (ts.isImportDeclaration(stmt)) {
      importStatement(cx, stmt, statement, line);
      continue;
    }
    if (ts.isImportEqualsDeclaration(stmt)) {
      result.diagnostics.push(
        diag(
          cx,
          'E_UNSUPPORTED_SYNTAX',
          statement.start,
          '`import x = require(...)` is not supported',
          'use `import x from "..."`',
        ),
      );
      continue;
    }
    if (ts.isExportDeclaration(stmt) || ts.isExportAssignment(stmt)) {
      if (
        ts.isExportDeclaration(stmt) &&
        !stmt.moduleSpecifier &&
        stmt.exportClause &&
        ts.isNamedExports(stmt.exportClause) &&
        stmt.exportClause.elements.length === 0
      ) {
        result.strip.push(statement); // `export {}`: a common trick to make a cell a module
      } else {
        result.diagnostics.push(
          diag(
            cx,
            'E_UNSUPPORTED_SYNTAX',
            statement.start,
            'export statements are not supported in cells',
            'declare the value; the compiler decides what each module exports',
          ),
        );
      }
      continue;
    }
    // A cell wrapped in `{ … }` (tslab's own examples do this) is an ordinary block: its names are
    // its own, so it declares nothing the cells after it see, and it compiles as written. What it
    // reads from other cells is found by collectReferences like anywhere else.
    const shown = ts.isExpressionStatement(stmt)
      ? ts.isAwaitExpression(stmt.expression)
        ? stmt.expression.expression
        : stmt.expression
      : undefined;
    if (shown && (ts.isCallExpression(shown) || ts.isTaggedTemplateExpression(shown))) {
      // `tslab.display.html(…)`, `await Deno.jupyter.display(…)`, Deno.jupyter.md`…`: the root of
      // a callee chain that passes through `.display` (or Deno's `.jupyter`).
      let callee: Node = ts.isCallExpression(shown) ? shown.expression : shown.tag;
      let throughDisplay = false;
      while (ts.isPropertyAccessExpression(callee)) {
        if (callee.name.text === 'display' || callee.name.text === 'jupyter') throughDisplay = true;
        callee = callee.expression;
      }
      if (throughDisplay && ts.isIdentifier(callee))
        result.displayCalls.push({ statement, root: callee.text, line });
    }
    if (
      ts.isExpressionStatement(stmt) &&
      input.role !== 'params' &&
      cx.syntax.isInert(stmt.expression)
    )
      result.inertStatements.push(statement);
    if (
      ts.isExpressionStatement(stmt) &&
      ts.isBinaryExpression(stmt.expression) &&
      stmt.expression.operatorToken.kind === K.EqualsToken &&
      ts.isIdentifier(stmt.expression.left)
    ) {
      // `df = df.filter(…)`: the link stage decides whether this is a new version of the name.
      const left = stmt.expression.left;
      (result.reassignments ??= []).push({
        name: left.text,
        site: { start: left.getStart(sf), end: left.end },
        statement,
        ...lineCol(sf, left.getStart(sf)),
      });
    }
    const add = (kind: DeclarationKind, nameNode: TsMorphModule.ts.Identifier | undefined) => {
      if (!nameNode) return;
      result.declarations.push({
        name: nameNode.text,
        kind,
        line,
        sites: [{ start: nameNode.getStart(sf), end: nameNode.end }],
        statement,
      });
      addSymbolOf(cx, nameNode);
    };
    if (ts.isVariableStatement(stmt)) variableStatement(cx, stmt, statement);
    else if (ts.isFunctionDeclaration(stmt)) add('function', stmt.name);
    else if (ts.isClassDeclaration(stmt)) add('class', stmt.name);
    else if (ts.isEnumDeclaration(stmt)) add('enum', stmt.name);
    else if (ts.isInterfaceDeclaration(stmt)) add('interface', stmt.name);
    else if (ts.isTypeAliasDeclaration(stmt)) add('type', stmt.name);
    else if (ts.isModuleDeclaration(stmt) && ts.isIdentifier(stmt.name))
      add('namespace', stmt.name);
    if (input.role === 'params' && !ts.isVariableStatement(stmt) && !ts.isEmptyStatement(stmt)) {
      result.diagnostics.push(
        diag(
          cx,
          'E_PARAM_NOT_LITERAL',
          statement.start,
          'a params cell holds only `const` declarations with literal defaults',
          'move this code into a task or setup cell',
        ),
      );
    }
  }
  duplicateDeclarations(cx);
}

/** An import: its bindings (Deno's `npm:` specifiers mapped), or E_DENO_IMPORT. */
function importStatement(
  cx: CellContext,
  stmt: TsMorphModule.ts.ImportDeclaration,
  statement: Span,
  line: number,
): void {
  const { ts, sf, result } = cx;
  const spec = (stmt.moduleSpecifier as TsMorphModule.ts.StringLiteral).text;
  const mapped = mapSpecifier(spec);
  if ('error' in mapped) {
    const npm = mapped.npm;
    result.diagnostics.push(
      diag(
        cx,
        'E_DENO_IMPORT',
        stmt.moduleSpecifier.getStart(sf),
        `\`${spec}\` is a Deno-only import`,
        npm?.startsWith('node:')
          ? `Node has it built in: import from '${npm}'`
          : npm
            ? `run \`npm install ${npm}\` and import from '${npm.replace(/(.)@.*$/, '$1')}' (or \`npm:${npm}\`, which Deno reads too)`
            : 'install an npm package that does the same and import it by its npm name (`npm:name@version` also runs in Deno)',
      ),
    );
    return;
  }
  const specifierAt = lineCol(sf, stmt.moduleSpecifier.getStart(sf));
  const decl: ImportDecl = { module: mapped.module, bindings: [], statement, line };
  if (specifierAt.line === line) decl.column = specifierAt.column;
  if (mapped.version) decl.version = mapped.version;
  const attributes = cx.syntax.importAttributes(stmt, sf);
  if (attributes) decl.attributes = attributes;
  const clause = stmt.importClause;
  if (clause) {
    const clauseTypeOnly = clause.isTypeOnly;
    if (clause.name) {
      decl.bindings.push({
        imported: 'default',
        local: clause.name.text,
        typeOnly: clauseTypeOnly,
      });
      addSymbolOf(cx, clause.name);
    }
    const nb = clause.namedBindings;
    if (nb && ts.isNamespaceImport(nb)) {
      decl.bindings.push({ imported: '*', local: nb.name.text, typeOnly: clauseTypeOnly });
      addSymbolOf(cx, nb.name);
    } else if (nb) {
      for (const el of nb.elements) {
        decl.bindings.push({
          imported: (el.propertyName ?? el.name).text,
          local: el.name.text,
          typeOnly: clauseTypeOnly || el.isTypeOnly,
        });
        addSymbolOf(cx, el.name);
      }
    }
  }
  result.imports.push(decl);
}

/** `const`/`let`/`var`: one declaration per bound name; in a params cell, the literal defaults. */
function variableStatement(
  cx: CellContext,
  stmt: TsMorphModule.ts.VariableStatement,
  statement: Span,
): void {
  const { ts, sf, input, result } = cx;
  const flags = stmt.declarationList.flags;
  const kind: DeclarationKind =
    flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
  for (const d of stmt.declarationList.declarations) {
    const sites: Declaration['sites'] = [];
    const names: string[] = [];
    bindingNames(ts, d.name, sites, names);
    const init = d.initializer && unwrapExpression(ts, d.initializer);
    const callable =
      ts.isIdentifier(d.name) &&
      init !== undefined &&
      (ts.isArrowFunction(init) || ts.isFunctionExpression(init) || ts.isClassExpression(init));
    if (kind === 'const' && ts.isIdentifier(d.name) && init && isDateTimeFormat(ts, init))
      (result.dateFormatters ??= []).push(d.name.text);
    // A value read from the environment (a token, a password) is never kept as a result by default.
    const fromEnv = init !== undefined && /\b(?:process|Deno)\s*\.\s*env\b/.test(init.getText(sf));
    // Only a name bound to the whole value holds what its initializer builds.
    const holds =
      ts.isIdentifier(d.name) && !callable ? heldClasses(ts, d.type, d.initializer) : [];
    names.forEach((name, i) =>
      result.declarations.push({
        name,
        kind,
        line: lineCol(sf, sites[i]!.start).line,
        sites: [sites[i]!],
        statement,
        ...(callable ? { callable: true } : {}),
        ...(fromEnv ? { fromEnv: true } : {}),
        ...(holds.length ? { holds } : {}),
      }),
    );
    const visitNames = (n: TsMorphModule.ts.BindingName) => {
      if (ts.isIdentifier(n)) addSymbolOf(cx, n);
      else for (const el of n.elements) if (!ts.isOmittedExpression(el)) visitNames(el.name);
    };
    visitNames(d.name);
    if (input.role === 'params') {
      const at = sites[0]?.start ?? statement.start;
      const literal = d.initializer
        ? cx.syntax.literalValue(d.initializer)
        : ({ ok: false } as const);
      if (kind !== 'const' || !ts.isIdentifier(d.name) || !literal.ok) {
        // Say which part is wrong: the keyword, the destructuring, or the value.
        const name = d.name.getText(sf);
        const [message, hint] =
          kind !== 'const'
            ? [
                `params are \`const\` declarations; \`${name}\` is declared with \`${kind}\``,
                `write \`const ${name} = …\`: a param is set per run (\`--param ${ts.isIdentifier(d.name) ? name : 'name'}=…\`), not reassigned`,
              ]
            : !ts.isIdentifier(d.name)
              ? [
                  `params are one name each; \`${name}\` destructures`,
                  'declare each param as its own `const name = <literal>`',
                ]
              : [
                  `params must be \`const name = <literal>\`; the default of \`${name}\` is not a literal`,
                  'write a literal default (number, string, boolean, array or object of literals) and compute derived values in a task',
                ];
        result.diagnostics.push(diag(cx, 'E_PARAM_NOT_LITERAL', at, message, hint));
      } else {
        result.params.push(
          paramDecl(d.name.text, literal.value, d.type?.getText(sf), lineCol(sf, at).line),
        );
      }
    }
  }
}

function bindingNames(
  ts: TS,
  name: TsMorphModule.ts.BindingName,
  out: Declaration['sites'],
  names: string[],
): void {
  if (ts.isIdentifier(name)) {
    const shorthand =
      ts.isBindingElement(name.parent) &&
      !name.parent.propertyName &&
      ts.isObjectBindingPattern(name.parent.parent);
    out.push({
      start: name.getStart(),
      end: name.end,
      ...(shorthand ? { shorthandBinding: true } : {}),
    });
    names.push(name.text);
    return;
  }
  for (const el of name.elements)
    if (!ts.isOmittedExpression(el)) bindingNames(ts, el.name, out, names);
}

// --- aliases --------------------------------------------------------------------------------

/**
 * Top-level declarations whose names hold (a part of) a value of another cell, or a built-in's
 * prototype: `const ys = xs`, `const { items } = state`, `const [first] = lists`, `const items =
 * state.items`, `const AP = Array.prototype`, `const AP = Object.getPrototypeOf([])` (name → xs,
 * state, lists, Array). A change through the name is a change of that value.
 */
function findAliases(cx: CellContext): {
  aliases: Map<string, string>;
  containers: Map<string, Container>;
} {
  const { ts, sf, checker } = cx;
  const aliases = new Map<string, string>();
  const containers = new Map<string, Container>();
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    for (const d of stmt.declarationList.declarations) {
      if (!d.initializer) continue;
      const whole = unwrapExpression(ts, d.initializer);
      if (ts.isIdentifier(whole) && ts.isObjectBindingPattern(d.name)) {
        const members = d.name.elements.flatMap((e) => {
          const key = e.propertyName ?? e.name;
          return ts.isIdentifier(key) || ts.isStringLiteral(key) ? [key.text] : [];
        });
        if (members.length)
          (cx.result.memberTakes ??= []).push({ start: whole.getStart(sf), members });
      }
      let derived = derivedValue(ts, d.initializer);
      if (!derived) continue;
      const held = derived.held;
      let target: string | undefined;
      if (typeof held === 'string') target = held;
      else {
        const symbol = checker.getSymbolAtLocation(held);
        // Declared in no other place of this cell: another cell's value, or a global.
        if (!symbol?.declarations?.some((x) => x.getSourceFile() === sf)) target = held.text;
        else {
          // `const b = a` where a is one; `const [h] = copy` where `copy = [...xs]`.
          const holds = containers.get(held.text);
          target = aliases.get(held.text) ?? holds?.target;
          if (holds && !aliases.has(held.text))
            derived = derivedValue(ts, d.initializer, holds.depth)!;
        }
        // `const items = state.items` with `state` this cell's own: reads of `state` read it too.
        if (target === undefined && symbol && cx.topLevelSymbols.has(symbol))
          for (const name of boundIdentifiers(ts, d.name))
            (cx.result.partAliases ??= []).push({ name: name.text, target: held.text });
      }
      if (target === undefined) continue;
      for (const { id, depth } of boundWithDepth(ts, d.name, derived.depth))
        if (depth === 0) aliases.set(id.text, target);
        else containers.set(id.text, { target, depth });
    }
  }
  return { aliases, containers };
}

/** A name holding a new array or object of another value's parts, `depth` levels down. */
interface Container {
  target: string;
  depth: number;
}

/** `Object.getPrototypeOf([])` / `Reflect.getPrototypeOf('')`: the built-in whose prototype it is. */
function prototypeOfLiteral(ts: TS, call: TsMorphModule.ts.CallExpression): string | undefined {
  const callee = call.expression;
  if (
    !ts.isPropertyAccessExpression(callee) ||
    callee.name.text !== 'getPrototypeOf' ||
    !ts.isIdentifier(callee.expression) ||
    (callee.expression.text !== 'Object' && callee.expression.text !== 'Reflect')
  )
    return undefined;
  const arg = call.arguments[0] && unwrapExpression(ts, call.arguments[0]);
  if (!arg) return undefined;
  if (ts.isArrayLiteralExpression(arg)) return 'Array';
  if (ts.isObjectLiteralExpression(arg)) return 'Object';
  if (ts.isStringLiteralLike(arg) || ts.isTemplateExpression(arg)) return 'String';
  if (ts.isNumericLiteral(arg)) return 'Number';
  if (ts.isBigIntLiteral(arg)) return 'BigInt';
  if (ts.isRegularExpressionLiteral(arg)) return 'RegExp';
  if (arg.kind === ts.SyntaxKind.TrueKeyword || arg.kind === ts.SyntaxKind.FalseKeyword)
    return 'Boolean';
  if (ts.isArrowFunction(arg) || ts.isFunctionExpression(arg)) return 'Function';
  if (ts.isNewExpression(arg) && ts.isIdentifier(arg.expression)) return arg.expression.text;
  return undefined;
}

/**
 * The names a binding binds to parts of the value it is given: the name itself, or each name of
 * a destructuring pattern, nested ones too. A rest element (`...rest`) is a new object or array
 * and is left out.
 */
function boundIdentifiers(ts: TS, name: TsMorphModule.ts.BindingName): Identifier[] {
  if (ts.isIdentifier(name)) return [name];
  const out: Identifier[] = [];
  for (const el of name.elements)
    if (!ts.isOmittedExpression(el) && !el.dotDotDotToken)
      out.push(...boundIdentifiers(ts, el.name));
  return out;
}

// --- derived values -------------------------------------------------------------------------

/*
 * A value derived from another without copying its parts is (a part of) it for a change made
 * through it. Its depth says how far: 0, the value or a part of it (`xs`, `xs[0]`, `xs.at(-1)`,
 * `rows.find(f)`, `m.get(k)`, `Reflect.get(cfg, 'opts')`); 1, a new array, object or iterator
 * holding its parts (`[...xs]`, `xs.slice()`, `xs.filter(f)`, `Object.values(cfg)`, `{ ...cfg }`,
 * `new Set(xs)`); 2, one holding new arrays that hold them (`Object.entries(cfg)`). Each element
 * or property taken goes one level down. A change to an object at depth 0 changes the value;
 * `[...xs].sort()` or `Object.values(cfg).push(1)` changes only the copy.
 */

/** Methods whose result is a new array (or iterator) of the receiver's elements. */
const COPYING_METHODS = new Set([
  'slice',
  'filter',
  'concat',
  'flat',
  'toSorted',
  'toReversed',
  'toSpliced',
  'with',
  'values',
  'keys',
  'splice',
]);

/** Methods whose result is the receiver itself, or a view sharing its storage. */
const SAME_METHODS = new Set(['subarray', 'valueOf']);

/**
 * Methods whose result holds none of the receiver's parts: new values built by a callback
 * (`map`: its callback's parameter is an element, noteElementVariables), copies, primitives.
 */
const FRESH_METHODS = new Set([
  'map',
  'flatMap',
  'clone',
  'copy',
  'toJSON',
  'split',
  'match',
  'matchAll',
  'join',
  'toString',
  'toLocaleString',
  'indexOf',
  'lastIndexOf',
  'includes',
  'findIndex',
  'findLastIndex',
  'some',
  'every',
  'has',
  'forEach',
]);

/** `Object.values(x)` and the like: the depth of the result, given the argument's. */
const DERIVING_CALLS = new Map<
  string,
  (d: number, call: TsMorphModule.ts.CallExpression) => number | undefined
>([
  ['Object.values', (d) => Math.max(d, 1)],
  ['Object.entries', (d) => Math.max(d, 2)],
  ['Object.fromEntries', (d) => Math.max(d - 1, 1)],
  ['Object.freeze', (d) => d],
  ['Object.seal', (d) => d],
  ['Object.preventExtensions', (d) => d],
  ['Reflect.get', (d) => Math.max(d - 1, 0)],
  ['Reflect.ownKeys', () => undefined],
  // `Array.from(xs, (x) => …)` builds new elements, as `map` does.
  ['Array.from', (d, call) => (call.arguments.length > 1 ? undefined : Math.max(d, 1))],
  ['Array.of', (d) => d + 1],
]);

/** The depth of `receiver.method(…)` given the receiver's; undefined for a fresh value. */
function methodResultDepth(
  ts: TS,
  method: string,
  d: number,
  call: TsMorphModule.ts.CallExpression,
): number | undefined {
  if (FRESH_METHODS.has(method)) return undefined;
  if (COPYING_METHODS.has(method)) return Math.max(d, 1);
  if (method === 'entries') return Math.max(d, 2);
  if (SAME_METHODS.has(method)) return d;
  // `reduce(f, {})`: the accumulator started fresh; without one it may be an element.
  if (method === 'reduce' || method === 'reduceRight') {
    const init = call.arguments[1] && unwrapExpression(ts, call.arguments[1]);
    return init && isFreshLiteral(ts, init) ? Math.max(d, 1) : Math.max(d - 1, 0);
  }
  // `at`, `find`, `findLast`, `get`, `pop`, `shift`, and any method not known to copy: it may
  // hand out one of the receiver's parts.
  return Math.max(d - 1, 0);
}

function isFreshLiteral(ts: TS, e: Node): boolean {
  return (
    ts.isObjectLiteralExpression(e) ||
    ts.isArrayLiteralExpression(e) ||
    ts.isNewExpression(e) ||
    ts.isNumericLiteral(e) ||
    ts.isStringLiteralLike(e)
  );
}

/** `new Map(x)` / `new Set(x)` / `new Array(...)`: a new collection of x's parts. */
const COLLECTIONS = new Map<string, (d: number) => number>([
  ['Map', (d) => Math.max(d - 1, 1)],
  ['WeakMap', (d) => Math.max(d - 1, 1)],
  ['Set', (d) => Math.max(d, 1)],
  ['WeakSet', (d) => Math.max(d, 1)],
]);

/**
 * The value `expr` derives (a name, or the built-in whose prototype it is) and its
 * depth, looking down through accesses, element-returning and element-preserving calls, spreads
 * and literals (`holder.at(0)!`, `Object.values(cfg)[0]`, `[...xs][0]`, `m.get(k)`). Undefined
 * for anything else (a fresh value, a copy, a primitive computed from it).
 */
function derivedValue(
  ts: TS,
  expr: Node,
  rootDepth = 0,
): { held: Identifier | string; depth: number } | undefined {
  const e: Node = unwrapExpression(ts, expr);
  if (ts.isIdentifier(e)) return { held: e, depth: rootDepth };
  if (ts.isAwaitExpression(e)) return derivedValue(ts, e.expression, rootDepth);
  if (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e)) {
    const r = derivedValue(ts, e.expression, rootDepth);
    return r && { held: r.held, depth: Math.max(r.depth - 1, 0) };
  }
  if (ts.isConditionalExpression(e))
    return shallowest(
      derivedValue(ts, e.whenTrue, rootDepth),
      derivedValue(ts, e.whenFalse, rootDepth),
    );
  if (ts.isBinaryExpression(e)) {
    const op = e.operatorToken.kind;
    const K = ts.SyntaxKind;
    if (op === K.AmpersandAmpersandToken) return derivedValue(ts, e.right, rootDepth);
    if (op === K.BarBarToken || op === K.QuestionQuestionToken || op === K.CommaToken)
      return shallowest(
        op === K.CommaToken ? undefined : derivedValue(ts, e.left, rootDepth),
        derivedValue(ts, e.right, rootDepth),
      );
    return undefined;
  }
  if (ts.isArrayLiteralExpression(e)) {
    let best: { held: Identifier | string; depth: number } | undefined;
    for (const el of e.elements) {
      const r = ts.isSpreadElement(el)
        ? derivedValue(ts, el.expression, rootDepth)
        : derivedValue(ts, el, rootDepth);
      const at = r && {
        held: r.held,
        depth: ts.isSpreadElement(el) ? Math.max(r.depth, 1) : r.depth + 1,
      };
      best = shallowest(best, at);
    }
    return best;
  }
  if (ts.isObjectLiteralExpression(e)) {
    let best: { held: Identifier | string; depth: number } | undefined;
    for (const p of e.properties) {
      const r = ts.isSpreadAssignment(p)
        ? derivedValue(ts, p.expression, rootDepth)
        : ts.isPropertyAssignment(p)
          ? derivedValue(ts, p.initializer, rootDepth)
          : ts.isShorthandPropertyAssignment(p)
            ? derivedValue(ts, p.name, rootDepth)
            : undefined;
      const at = r && {
        held: r.held,
        depth: ts.isSpreadAssignment(p) ? Math.max(r.depth, 1) : r.depth + 1,
      };
      best = shallowest(best, at);
    }
    return best;
  }
  if (ts.isNewExpression(e)) {
    const make = ts.isIdentifier(e.expression) ? COLLECTIONS.get(e.expression.text) : undefined;
    const r = make && e.arguments?.[0] ? derivedValue(ts, e.arguments[0], rootDepth) : undefined;
    return r && { held: r.held, depth: make!(r.depth) };
  }
  if (!ts.isCallExpression(e)) return undefined;
  const proto = prototypeOfLiteral(ts, e);
  if (proto !== undefined) return { held: proto, depth: 0 };
  const callee = unwrapExpression(ts, e.expression);
  const known = DERIVING_CALLS.get(callee.getText());
  if (known) {
    const r = e.arguments[0] && derivedValue(ts, e.arguments[0], rootDepth);
    const depth = r ? known(r.depth, e) : undefined;
    return r && depth !== undefined ? { held: r.held, depth } : undefined;
  }
  if (callee.getText() === 'Object.assign') {
    let best: { held: Identifier | string; depth: number } | undefined;
    for (const arg of e.arguments.slice(1)) {
      const r = derivedValue(ts, arg, rootDepth);
      best = shallowest(best, r && { held: r.held, depth: Math.max(r.depth, 1) });
    }
    return best;
  }
  if (!ts.isPropertyAccessExpression(callee)) return undefined;
  // `Object.create(null)`, `JSON.parse(text)`, `Math.max(…)`, `Buffer.from(s)`: a built-in's
  // static method makes a new value (those that hand back an argument's parts are
  // DERIVING_CALLS and `Object.assign`, above), not a part of the built-in.
  if (ts.isIdentifier(callee.expression) && BUILT_IN_NAMESPACES.has(callee.expression.text))
    return undefined;
  const method = callee.name.text;
  if (MUTATING_METHODS.has(method) && !SORTING.has(method)) return undefined;
  if (BORROWING.has(method)) return undefined;
  const r = derivedValue(ts, callee.expression, rootDepth);
  // `a.concat(xs)`: the argument's elements too.
  let best = r && (SORTING.has(method) ? r : methodDepth(ts, method, r.depth, e, r.held));
  if (method === 'concat')
    for (const arg of e.arguments) {
      const a = derivedValue(ts, arg, rootDepth);
      best = shallowest(best, a && { held: a.held, depth: Math.max(a.depth, 1) });
    }
  return best;
}

/** Built-ins whose static methods make new values (see `derivedValue`). */
const BUILT_IN_NAMESPACES = new Set([
  'Object',
  'Array',
  'JSON',
  'Math',
  'Reflect',
  'Number',
  'String',
  'Boolean',
  'BigInt',
  'Symbol',
  'Date',
  'Promise',
  'Intl',
  'Atomics',
  'ArrayBuffer',
  'DataView',
  'Buffer',
  'URL',
  'Map',
  'Set',
  'Error',
  'RegExp',
]);

/** `sort`, `reverse`, `fill`, `copyWithin` change the receiver and return it. */
const SORTING = new Set(['sort', 'reverse', 'fill', 'copyWithin']);

function methodDepth(
  ts: TS,
  method: string,
  d: number,
  call: TsMorphModule.ts.CallExpression,
  held: Identifier | string,
): { held: Identifier | string; depth: number } | undefined {
  const depth = methodResultDepth(ts, method, d, call);
  return depth === undefined ? undefined : { held, depth };
}

function shallowest<T extends { depth: number }>(
  a: T | undefined,
  b: T | undefined,
): T | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.depth < a.depth ? b : a;
}

/**
 * The names a binding binds, each with its depth given the value's (`const [h] = [...xs]`: h at
 * 0). A rest element (`...rest`) is a new array or object holding the parts.
 */
function boundWithDepth(
  ts: TS,
  name: TsMorphModule.ts.BindingName,
  depth: number,
): { id: Identifier; depth: number }[] {
  if (ts.isIdentifier(name)) return [{ id: name, depth }];
  const out: { id: Identifier; depth: number }[] = [];
  for (const el of name.elements)
    if (!ts.isOmittedExpression(el))
      out.push(
        ...boundWithDepth(
          ts,
          el.name,
          el.dotDotDotToken ? Math.max(depth, 1) : Math.max(depth - 1, 0),
        ),
      );
  return out;
}

/**
 * From an occurrence of a name, up through what derives from its value without copying its parts
 * (accesses, `!`, `as T`, `.at(i)`, `.find(f)`, `.slice()`, `[...xs]`, `Object.values(xs)`,
 * literals holding it): the outermost such expression, and the depth of each expression passed.
 * Stops below a call of a mutating or borrowing method (`xs.at(0).push`: that access is `top`).
 */
function derivedRoot(
  ts: TS,
  id: Identifier,
  start: number,
): { top: Node; depthOf: Map<Node, number>; derived: boolean } {
  const K = ts.SyntaxKind;
  const depthOf = new Map<Node, number>([[id, start]]);
  let top: Node = id;
  let d = start;
  let derived = false;
  const step = (n: Node, depth: number, through = false) => {
    top = n;
    d = depth;
    depthOf.set(n, d);
    if (through) derived = true;
  };
  for (;;) {
    const p = top.parent;
    if (
      (ts.isParenthesizedExpression(p) ||
        ts.isAsExpression(p) ||
        ts.isSatisfiesExpression(p) ||
        ts.isNonNullExpression(p) ||
        ts.isTypeAssertionExpression(p) ||
        ts.isAwaitExpression(p)) &&
      p.expression === top
    ) {
      step(p, d);
      continue;
    }
    // `Object.getPrototypeOf([]).sum = …`: the prototype of a built-in, reached through `Object`.
    if (
      ts.isCallExpression(p) &&
      p.expression === top &&
      ts.isPropertyAccessExpression(top) &&
      prototypeOfLiteral(ts, p) !== undefined
    ) {
      step(p, 0);
      continue;
    }
    if (ts.isPropertyAccessExpression(p) && p.expression === top) {
      const call = p.parent;
      if (ts.isCallExpression(call) && call.expression === p) {
        const method = p.name.text;
        if ((MUTATING_METHODS.has(method) && !SORTING.has(method)) || BORROWING.has(method)) {
          step(p, Math.max(d - 1, 0));
          return { top, depthOf, derived };
        }
        if (SORTING.has(method)) {
          // Changes the receiver (mutationOf, at `p`) and hands it on.
          step(p, Math.max(d - 1, 0));
          return { top, depthOf, derived };
        }
        const depth = methodResultDepth(ts, method, d, call);
        if (depth === undefined) return { top, depthOf, derived };
        depthOf.set(p, Math.max(d - 1, 0));
        step(call, depth, true);
        continue;
      }
      step(p, Math.max(d - 1, 0));
      continue;
    }
    if (ts.isElementAccessExpression(p) && p.expression === top) {
      step(p, Math.max(d - 1, 0));
      continue;
    }
    if (ts.isArrayLiteralExpression(p) && p.elements.some((e) => e === top)) {
      step(p, d + 1);
      continue;
    }
    if (ts.isSpreadElement(p) && ts.isArrayLiteralExpression(p.parent)) {
      depthOf.set(p, d);
      step(p.parent, Math.max(d, 1));
      continue;
    }
    if (
      ((ts.isPropertyAssignment(p) && p.initializer === top) ||
        (ts.isShorthandPropertyAssignment(p) && p.name === top)) &&
      ts.isObjectLiteralExpression(p.parent)
    ) {
      step(p.parent, d + 1);
      continue;
    }
    if (ts.isSpreadAssignment(p) && ts.isObjectLiteralExpression(p.parent)) {
      step(p.parent, Math.max(d, 1));
      continue;
    }
    if (ts.isConditionalExpression(p) && (p.whenTrue === top || p.whenFalse === top)) {
      step(p, d);
      continue;
    }
    if (
      ts.isBinaryExpression(p) &&
      (p.right === top
        ? [K.AmpersandAmpersandToken, K.BarBarToken, K.QuestionQuestionToken, K.CommaToken]
        : [K.BarBarToken, K.QuestionQuestionToken]
      ).includes(p.operatorToken.kind)
    ) {
      step(p, d);
      continue;
    }
    if (ts.isCallExpression(p) && p.arguments.some((a) => a === top)) {
      const callee = unwrapExpression(ts, p.expression).getText();
      const known = DERIVING_CALLS.get(callee);
      const depth =
        known && p.arguments[0] === top
          ? known(d, p)
          : (callee === 'Object.assign' && p.arguments[0] !== top) ||
              (ts.isPropertyAccessExpression(p.expression) && p.expression.name.text === 'concat')
            ? Math.max(d, 1)
            : undefined;
      if (depth === undefined) return { top, depthOf, derived };
      step(p, depth, true);
      continue;
    }
    if (ts.isNewExpression(p) && p.arguments?.[0] === top && ts.isIdentifier(p.expression)) {
      const make = COLLECTIONS.get(p.expression.text);
      if (!make) return { top, depthOf, derived };
      step(p, make(d), true);
      continue;
    }
    return { top, depthOf, derived };
  }
}

// --- dynamic imports ------------------------------------------------------------------------

/**
 * A dynamic `import(…)`. Its static relative prefix is noted for rebasing (`relativeImports`):
 * the notebook resolved it from its own folder, the generated module lives in generated/<stem>/.
 * A module named only at run time (`import(name)`, `` import(`${dir}/x.ts`) ``) is E_DYNAMIC_IMPORT:
 * esbuild bundles a literal, and a template literal or `+` with a static relative prefix as a glob
 * of every file it may load, so those are in the task's key; anything else would load code no key
 * holds (runtime/key/dynamic-imports.ts refuses the same in local modules).
 */
function dynamicImport(cx: CellContext, call: TsMorphModule.ts.CallExpression): void {
  const { ts, sf, result } = cx;
  const arg = call.arguments[0];
  if (!arg) return;
  let head: TsMorphModule.ts.Expression = arg;
  for (;;) {
    if (ts.isParenthesizedExpression(head)) head = head.expression;
    else if (ts.isBinaryExpression(head) && head.operatorToken.kind === ts.SyntaxKind.PlusToken)
      head = head.left;
    else break;
  }
  let prefix: { text: string; start: number; end: number } | undefined;
  if (ts.isStringLiteral(head) || ts.isNoSubstitutionTemplateLiteral(head))
    prefix = { text: head.text, start: head.getStart(sf) + 1, end: head.getEnd() - 1 };
  else if (ts.isTemplateExpression(head))
    prefix = {
      text: head.head.text,
      start: head.head.getStart(sf) + 1,
      end: head.head.getEnd() - 2,
    };
  const literal = head === arg && prefix !== undefined && !ts.isTemplateExpression(head);
  const relative = prefix !== undefined && /^\.\.?\//.test(prefix.text);
  if (!literal && !relative) {
    result.diagnostics.push(
      diag(
        cx,
        'E_DYNAMIC_IMPORT',
        arg.getStart(sf),
        `\`import(${arg.getText(sf)})\` loads a module named only at run time: its code would be in no task's key`,
        "use a string literal (import('./lib/x.ts')), or a template literal with a folder prefix (import(`./plugins/${kind}.ts`)) so Cellar can key every file it may load; for a package, import it by its name",
      ),
    );
    return;
  }
  // The raw text must be the value (no escapes) for a plain replacement to keep its meaning.
  if (relative && sf.text.slice(prefix!.start, prefix!.end) === prefix!.text)
    (result.relativeImports ??= []).push({
      start: prefix!.start,
      end: prefix!.end,
      spec: prefix!.text,
    });
}

/**
 * `import.meta` in a cell is E_IMPORT_META: the cell's code runs from generated/<stem>/, so
 * `import.meta.url` / `.dirname` / `.filename` name the compiled module, not the notebook, and a
 * path resolved from them (`createRequire(import.meta.url)('./x.json')`, `new URL('./x',
 * import.meta.url)`) points into the generated folder ("Cannot find module"). A module file next
 * to the notebook keeps its own `import.meta`.
 */
function importMeta(cx: CellContext, node: TsMorphModule.ts.MetaProperty): void {
  const { ts, sf, result } = cx;
  const parent = node.parent;
  const what =
    ts.isPropertyAccessExpression(parent) && parent.expression === node
      ? `import.meta.${parent.name.text}`
      : 'import.meta';
  result.diagnostics.push(
    diag(
      cx,
      'E_IMPORT_META',
      node.getStart(sf),
      `\`${what}\` in a notebook cell names the compiled module in generated/, not the notebook: a path resolved from it points into the generated folder`,
      "tasks run in the notebook's folder: give a relative path as it is (JSON.parse(readFileSync('./data/cfg-' + variant + '.json', 'utf8'))), or move the code into a module next to the notebook (./lib/x.ts), where import.meta is that file's",
    ),
  );
}

// --- references -----------------------------------------------------------------------------

/**
 * Every identifier: free names and the cell's own top-level names as references, mutations of
 * other cells' values (directly, through an alias, or through a loop or callback variable over
 * their elements), use before declaration, Deno APIs, `sql` templates and top-level await.
 */
function collectReferences(
  cx: CellContext,
  aliases: Map<string, string>,
  containers: Map<string, Container>,
): void {
  const { ts, sf, checker, result } = cx;
  const identifiers = new Set<string>();
  const tdzReported = new Set<string>();
  // Loop and callback variables that hold elements of another cell's value, by symbol.
  const elementOf = new Map<TsSymbol, Container>();
  const declared = cx.addsGlobals ? { has: () => true } : declaredNames(cx);
  const constructs = new Set<string>();
  const formatMentions = new Set<string>();
  // Local consts naming a top-level or another cell's value (`const l = names` in a helper, or in
  // a block), by symbol: a change through one is a change of that value.
  // `param`: a parameter of the cell's top-level function `fn` (a change through it is a change of
  // whatever a caller hands it: `paramChanges`).
  // `depth`: a new array or object holding the value's parts, that many levels down (`[...xs]`).
  type AliasTarget = {
    target: string;
    own: boolean;
    param?: { fn: string; index: number };
    depth?: number;
  };
  const aliasOf = new Map<TsSymbol, AliasTarget>();
  // What a local binding given `expr` holds: another cell's value or a global (`own` false), this
  // cell's top-level value, or what a local alias holds; undefined for anything else.
  const aliasTargetOf = (expr: Node): AliasTarget | undefined => {
    const derived = derivedValue(ts, expr);
    if (derived === undefined) return undefined;
    const held = derived.held;
    if (typeof held === 'string') return { target: held, own: false, depth: derived.depth };
    const symbol = !declared.has(held.text) ? undefined : checker.getSymbolAtLocation(held);
    let base: AliasTarget | undefined;
    if (symbol?.declarations?.length && !cx.topLevelSymbols.has(symbol)) {
      const element = elementOf.get(symbol);
      base = aliasOf.get(symbol) ?? (element && { ...element, own: false });
    } else {
      const holds = symbol !== undefined ? containers.get(held.text) : undefined;
      const aliased = symbol !== undefined ? (aliases.get(held.text) ?? holds?.target) : held.text;
      base = {
        target: aliased ?? held.text,
        own: aliased === undefined,
        ...(holds && !aliases.has(held.text) ? { depth: holds.depth } : {}),
      };
    }
    if (!base) return undefined;
    // What the expression derives from a held copy (`copy[0]` for `copy = [...xs]`): from its depth.
    const depth = base.depth ? derivedValue(ts, expr, base.depth)!.depth : derived.depth;
    return { ...base, depth };
  };
  // `const l = names`, `const { items } = state`, `let [first] = lists`, `const AP =
  // Array.prototype` in a function or a block: each name bound holds (a part of) that value.
  const noteLocalAliases = (name: TsMorphModule.ts.BindingName, alias: AliasTarget): void => {
    for (const { id, depth } of boundWithDepth(ts, name, alias.depth ?? 0)) {
      const symbol = checker.getSymbolAtLocation(id);
      if (symbol && !cx.topLevelSymbols.has(symbol)) aliasOf.set(symbol, { ...alias, depth });
    }
  };
  // A `let` too: until it is rebound (`l = []`, seen in source order), it holds the value.
  const noteDeclaration = (d: TsMorphModule.ts.VariableDeclaration): void => {
    if (!d.initializer) return;
    const alias = aliasTargetOf(d.initializer);
    if (alias) noteLocalAliases(d.name, alias);
  };
  // `((s) => s.push(1))(names)`: an IIFE's parameter holds the argument it is called with.
  const noteImmediateCall = (call: TsMorphModule.ts.CallExpression): void => {
    let callee: Node = call.expression;
    while (ts.isParenthesizedExpression(callee)) callee = callee.expression;
    if (!ts.isArrowFunction(callee) && !ts.isFunctionExpression(callee)) return;
    callee.parameters.forEach((param, i) => {
      const arg = call.arguments[i];
      if (!arg || param.dotDotDotToken || ts.isSpreadElement(arg)) return;
      const alias = aliasTargetOf(arg);
      if (alias) noteLocalAliases(param.name, alias);
    });
  };
  // The parameters of a top-level function (`function addTo(list, x)`, `const addTo = (list) =>
  // …`): a change through one changes what the caller handed it.
  const noteParameters = (fn: TsMorphModule.ts.SignatureDeclaration): void => {
    const body = (fn as { body?: Node }).body;
    if (!body) return;
    const name = topLevelFunctionOf(ts, body);
    if (name === undefined) return;
    // Only the top-level function's own parameters, not a nested function's.
    let outer: Node | undefined;
    for (let n: Node | undefined = body.parent; n; n = n.parent)
      if (ts.isFunctionLike(n)) outer = n;
    if (outer !== fn) return;
    fn.parameters.forEach((param, index) => {
      if (param.dotDotDotToken) return;
      noteLocalAliases(param.name, { target: '', own: true, param: { fn: name, index } });
    });
  };
  // `addTo(names, x)`: which values of other cells (or globals) a call of a bare name hands on.
  const noteCall = (call: TsMorphModule.ts.CallExpression, inFunction: boolean): void => {
    if (!ts.isIdentifier(call.expression) || call.arguments.length === 0) return;
    let any = false;
    const args = call.arguments.map((arg) => {
      const alias = ts.isSpreadElement(arg) ? undefined : aliasTargetOf(arg);
      // A copy holding its parts (`addTo([...names])`): changes to the copy itself are fine.
      if (!alias || alias.param || alias.depth) return null;
      any = true;
      return { name: alias.target, own: alias.own, ...lineCol(sf, arg.getStart(sf)) };
    });
    if (!any) return;
    const inside = inFunction ? topLevelFunctionOf(ts, call) : undefined;
    (result.calls ??= []).push({
      name: call.expression.text,
      args,
      ...(inside !== undefined ? { inside } : {}),
      kept: inFunction && inKeptFunction(ts, call),
      ...lineCol(sf, call.getStart(sf)),
    });
  };
  // A change through a local alias, reported as the value's: another cell's value changed
  // (E_MUTATES_UPSTREAM), and in a function kept for later, shared state (E_SETUP_STATE).
  // Reassigning the alias itself changes nothing but the local.
  const aliasMutation = (node: Identifier, alias: AliasTarget, inFunction: boolean): void => {
    const mutation = mutationOf(ts, node, sf, alias.depth ?? 0);
    if (!mutation || mutation.kind === 'assign') return;
    if (alias.param) {
      (result.paramChanges ??= []).push({ ...mutation, ...alias.param });
      return;
    }
    const change = { ...mutation, name: alias.target };
    if (!alias.own) result.mutations.push(change);
    if (inFunction && inKeptFunction(ts, node)) {
      const inside = topLevelFunctionOf(ts, node);
      (result.sharedStateChanges ??= []).push({
        ...change,
        ...(inside !== undefined ? { inside } : {}),
      });
    }
  };
  // One node: returns whether its children are visited (and inside a function or not).
  const visit = (node: Node, inFunction: boolean): boolean | undefined => {
    if (ts.isImportDeclaration(node)) return;
    if (ts.isIdentifier(node)) {
      identifiers.add(node.text);
      if (!isReference(ts, node)) return;
      const shorthand = ts.isShorthandPropertyAssignment(node.parent) && node.parent.name === node;
      // A name nothing in the cell declares resolves to no declaration (the cell is a module and
      // no cell adds globals), so the checker, whose lookup walks every enclosing node (quadratic
      // in a 5,000-term sum), is asked only about names the cell declares somewhere.
      const symbol = !declared.has(node.text)
        ? undefined
        : shorthand
          ? checker.getShorthandAssignmentValueSymbol(node.parent)
          : checker.getSymbolAtLocation(node);
      const own = symbol !== undefined && cx.topLevelSymbols.has(symbol);
      // `fmt.format()` on a formatter the cell holds (`const fmt = new Intl.DateTimeFormat('en')`),
      // or on another cell's name (link.ts judges it: `formatCalls`).
      if (symbol && !declared.has('Intl')) heldFormatterRead(cx, node, symbol);
      else if (!symbol?.declarations?.length) formatCall(cx, node);
      // Resolved to a local or parameter: not ours. Symbols with no declaration are the checker's
      // stand-ins for names it could not resolve (and built-ins like `undefined`): free.
      if (symbol?.declarations?.length && !own) {
        const alias = aliasOf.get(symbol);
        if (alias) {
          // Rebinding a `let` alias ends it: what it holds from then on is the new value.
          if (mutationOf(ts, node, sf)?.kind === 'assign') aliasOf.delete(symbol);
          else aliasMutation(node, alias, inFunction);
        } else elementMutation(cx, node, elementOf.get(symbol));
        return;
      }
      // The Deno global: a mapped API is the shim's (not another cell's name), others an error.
      if (!own && node.text === 'Deno' && !shorthand) {
        denoUse(cx, node);
        return;
      }
      if (!own && node.text === 'Date') clockRead(cx, node);
      // `Temporal.Now.*()`: the global, or a polyfill's `Temporal` the cell imports.
      if (
        own
          ? symbol?.declarations?.some(
              (d) => ts.isImportSpecifier(d) && (d.propertyName ?? d.name).text === 'Temporal',
            )
          : node.text === 'Temporal'
      )
        temporalClockRead(cx, node);
      if (!own && node.text === 'Intl') intlClockRead(cx, node);
      const at = lineCol(sf, node.getStart(sf));
      const ref: Reference = {
        name: node.text,
        start: node.getStart(sf),
        end: node.end,
        meaning: meaningOf(ts, node),
        own,
        ...at,
      };
      if (shorthand) ref.shorthand = true;
      if (ts.isPropertyAccessExpression(node.parent) && node.parent.expression === node)
        ref.member = node.parent.name.text;
      const path = accessPath(ts, node);
      if (path.length > 1 || (path.length === 1 && ref.member === undefined)) ref.path = path;
      result.references.push(ref);
      const holds = own && !aliases.has(node.text) ? containers.get(node.text) : undefined;
      if (ref.meaning === 'value' && !inFunction && (!own || aliases.has(node.text) || holds))
        noteElementVariables(
          cx,
          elementOf,
          node,
          own ? (aliases.get(node.text) ?? holds!.target) : node.text,
          holds?.depth ?? 0,
        );
      const declaredAt =
        own && !inFunction && ref.meaning === 'value' ? symbol?.valueDeclaration : undefined;
      if (
        declaredAt &&
        !tdzReported.has(node.text) &&
        usedBeforeDeclaration(cx, node, ref, declaredAt)
      )
        tdzReported.add(node.text);
      if (own && ref.meaning === 'value' && aliases.has(node.text)) {
        // `const ys = xs; ys.push(1)` changes xs: report it as xs's mutation (reassigning ys is fine).
        const mutation = mutationOf(ts, node, sf);
        if (mutation && mutation.kind !== 'assign')
          result.mutations.push({ ...mutation, name: aliases.get(node.text)! });
      }
      if (holds && ref.meaning === 'value') {
        // `const copy = [...xs]; copy[0].n = 1` changes an element of xs (`copy.push(1)` does not).
        const mutation = mutationOf(ts, node, sf, holds.depth);
        if (mutation && mutation.kind !== 'assign')
          result.mutations.push({ ...mutation, name: holds.target });
      }
      // One look at what the occurrence does; the walks up the tree only for a change.
      const mutation =
        ref.meaning === 'value' && (!own || inFunction) ? mutationOf(ts, node, sf) : undefined;
      if (mutation && !own) result.mutations.push(mutation);
      // In a function kept to be called later, a change to a top-level value is a change every
      // caller shares (a callback run while the cell loads, `xs.forEach((x) => out.push(x))`, is not).
      // A lazy `cache ??= load()` or a rebinding passes, unless computed from the caller's
      // arguments (`cached ??= { size }`: the first caller's value is every later caller's).
      const lazy =
        mutation &&
        mutation.kind === 'assign' &&
        inFunction &&
        ts.isBinaryExpression(node.parent) &&
        node.parent.left === node &&
        inKeptFunction(ts, node) &&
        initialisesOrRebinds(ts, node)
          ? lazyBreach(ts, node.parent)
          : undefined;
      if (lazy) {
        const inside = topLevelFunctionOf(ts, node);
        (result.sharedStateChanges ??= []).push({
          ...mutation!,
          breach: lazy.what,
          used: true,
          ...(inside !== undefined ? { inside } : {}),
        });
      } else if (
        mutation &&
        inFunction &&
        inKeptFunction(ts, node) &&
        !initialisesOrRebinds(ts, node)
      ) {
        const inside = topLevelFunctionOf(ts, node);
        // Through a top-level alias (`const AP = Array.prototype`), a change of what it holds.
        const held = own && mutation.kind !== 'assign' ? aliases.get(node.text) : undefined;
        (result.sharedStateChanges ??= []).push({
          ...mutation,
          ...(held !== undefined ? { name: held } : {}),
          ...(mutation.kind === 'assign' && valueUsed(ts, node) ? { used: true as const } : {}),
          ...(inside !== undefined ? { inside } : {}),
        });
      }
      // `const register = names.push.bind(names)` at the top level: a change kept to be made
      // later, as a helper's is (and judged by the uses of `register`, as a helper's).
      const bound = !inFunction && ref.meaning === 'value' ? boundMutatorName(ts, node) : undefined;
      const boundChange = bound !== undefined ? mutationOf(ts, node, sf) : undefined;
      if (boundChange)
        (result.sharedStateChanges ??= []).push({
          ...boundChange,
          name: own ? (aliases.get(node.text) ?? node.text) : node.text,
          inside: bound,
        });
      // `init();` while the cell loads: a call of the bare name, outside any function; or of a
      // member (`counter.inc()`, `registry.c.inc()`), not one taken to be called later
      // (`register.bind(…)`).
      let callee: Node = node;
      while (
        (ts.isPropertyAccessExpression(callee.parent) ||
          ts.isElementAccessExpression(callee.parent)) &&
        callee.parent.expression === callee
      )
        callee = callee.parent;
      if (ts.isPropertyAccessExpression(callee) && BORROWING.has(callee.name.text)) callee = node;
      if (
        !inFunction &&
        ref.meaning === 'value' &&
        ts.isCallExpression(callee.parent) &&
        callee.parent.expression === callee
      )
        (result.loadTimeCalls ??= []).push({ name: node.text, ...at });
      return;
    }
    if (ts.isVariableDeclaration(node)) noteDeclaration(node);
    if (ts.isCallExpression(node)) {
      noteImmediateCall(node);
      noteCall(node, inFunction);
    }
    if (ts.isFunctionLike(node)) noteParameters(node);
    if (
      !inFunction &&
      (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier))
    )
      result.topLevelAwait = true;
    const sqlTag = ts.isTaggedTemplateExpression(node) ? sqlTagDialect(ts, node.tag) : undefined;
    if (ts.isTaggedTemplateExpression(node) && sqlTag !== undefined) {
      const t = node.template;
      // `sql.dialect('duckdb')`…``: its own dialect, whatever the task's (null: the task's).
      if (sqlTag !== null || result.sqlTemplateDialects) {
        result.sqlTemplateDialects ??= result.sqlTemplates.map(() => null);
        result.sqlTemplateDialects.push(sqlTag);
      }
      let text = ts.isNoSubstitutionTemplateLiteral(t) ? t.text : t.head.text;
      const paramAt: number[] = [];
      if (!ts.isNoSubstitutionTemplateLiteral(t))
        for (const [i, span] of t.templateSpans.entries()) {
          paramAt.push(text.length);
          text += `@p${i}${span.literal.text}`;
        }
      result.sqlTemplates.push(text);
      // Where each placeholder is: the user's own `@p2` (`'x@p2p.com'`) reads like one.
      (result.sqlTemplateParamAt ??= []).push(paramAt);
      (result.sqlTemplateAt ??= []).push(lineCol(sf, t.getStart(sf) + 1));
    }
    if (ts.isNewExpression(node)) {
      const name = className(ts, node.expression);
      if (name) constructs.add(name);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      dynamicImport(cx, node);
    if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword)
      importMeta(cx, node);
    if (ts.isCallExpression(node) && isFormatRegistration(ts, node.expression))
      for (const arg of node.arguments) mentionsIn(ts, arg, formatMentions);
    return inFunction || ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node);
  };
  // Pre-order with an explicit stack, not recursion: a 5,000-term sum or 300 nested ifs are
  // ordinary code and must not depend on the call stack's depth (issue 9 item 9).
  const stack: [Node, boolean][] = [[sf, false]];
  const children: Node[] = [];
  while (stack.length) {
    const [node, inFunction] = stack.pop()!;
    const entersFunction = visit(node, inFunction);
    if (entersFunction === undefined) continue;
    children.length = 0;
    ts.forEachChild(node, (child) => {
      children.push(child);
    });
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, entersFunction]);
  }
  memoBreaches(cx);
  result.identifiers = [...identifiers].sort();
  if (constructs.size) result.constructs = [...constructs].sort();
  if (formatMentions.size) result.formatMentions = [...formatMentions].sort();
}

/**
 * Reads of the run's time at a free `Date`, noted in `clockReads` where the read starts:
 * `Date.now()`, `new Date()` / `new Date` (no argument), `Date()`, and the same reached as a value
 * (`const nowFn = Date.now`, `Date['now']`, `const { now } = Date`, `Reflect.construct(Date, [])`).
 * `new Date(ts)`, `Date.UTC(…)` and `Date.parse(s)` compute from their arguments and are not
 * noted.
 */
function clockRead(cx: CellContext, node: Identifier): void {
  const { ts, sf } = cx;
  const p = node.parent;
  let call: string | undefined;
  let start = node.getStart(sf);
  const nowMember =
    (ts.isPropertyAccessExpression(p) && p.name.text === 'now') ||
    (ts.isElementAccessExpression(p) &&
      ts.isStringLiteralLike(p.argumentExpression) &&
      p.argumentExpression.text === 'now');
  if (nowMember && p.expression === node)
    call = ts.isCallExpression(p.parent) && p.parent.expression === p ? 'Date.now()' : 'Date.now';
  else if (ts.isNewExpression(p) && p.expression === node && !p.arguments?.length) {
    call = 'new Date()';
    start = p.getStart(sf);
  } else if (ts.isCallExpression(p) && p.expression === node && p.arguments.length === 0)
    call = 'Date()';
  else if (
    ts.isVariableDeclaration(p) &&
    p.initializer === node &&
    ts.isObjectBindingPattern(p.name) &&
    p.name.elements.some((e) => (e.propertyName ?? e.name).getText(sf) === 'now')
  )
    call = 'Date.now';
  else if (
    ts.isCallExpression(p) &&
    p.arguments[0] === node &&
    p.expression.getText(sf) === 'Reflect.construct' &&
    (p.arguments.length < 2 ||
      (ts.isArrayLiteralExpression(p.arguments[1]!) && p.arguments[1].elements.length === 0))
  ) {
    call = 'Reflect.construct(Date, [])';
    start = p.getStart(sf);
  }
  if (call) noteClockRead(cx, node, call, start);
}

/**
 * The clock read through `Intl`: `Intl.DateTimeFormat(…).format()` and `.formatToParts()` with no
 * argument (they format now). `performance.now()` and
 * `process.hrtime()` are not reads of the date: they measure durations (a run's timing, logged),
 * and a task keeping one keeps a number that never filters rows by day.
 */
function intlClockRead(cx: CellContext, node: Identifier): void {
  const { ts, sf } = cx;
  const p = node.parent;
  if (!ts.isPropertyAccessExpression(p) || p.expression !== node) return;
  if (p.name.text !== 'DateTimeFormat') return;
  let made: Node = p.parent;
  if (!((ts.isNewExpression(made) || ts.isCallExpression(made)) && made.expression === p)) return;
  while (ts.isParenthesizedExpression(made.parent)) made = made.parent;
  const access = made.parent;
  if (
    ts.isPropertyAccessExpression(access) &&
    access.expression === made &&
    (access.name.text === 'format' || access.name.text === 'formatToParts') &&
    ts.isCallExpression(access.parent) &&
    access.parent.expression === access &&
    access.parent.arguments.length === 0
  )
    noteClockRead(cx, node, `Intl.DateTimeFormat().${access.name.text}()`, made.getStart(sf));
}

/**
 * `Temporal.Now.instant()`, `.plainDateISO()`, `.zonedDateTimeISO()` and the rest: every member of
 * `Temporal.Now` reads the clock (or the time zone of the machine running it), so `Temporal.Now`
 * taken as a value (`const { Now } = Temporal`, `const now = Temporal.Now`) counts as the read.
 */
function temporalClockRead(cx: CellContext, node: Identifier): void {
  const { ts, sf } = cx;
  const p = node.parent;
  const nowMember =
    (ts.isPropertyAccessExpression(p) && p.name.text === 'Now') ||
    (ts.isElementAccessExpression(p) &&
      ts.isStringLiteralLike(p.argumentExpression) &&
      p.argumentExpression.text === 'Now');
  let call: string | undefined;
  if (nowMember && p.expression === node) {
    const q = p.parent;
    call =
      ts.isPropertyAccessExpression(q) &&
      q.expression === p &&
      ts.isCallExpression(q.parent) &&
      q.parent.expression === q
        ? `${node.text}.Now.${q.name.text}()`
        : `${node.text}.Now`;
  } else if (
    ts.isVariableDeclaration(p) &&
    p.initializer === node &&
    ts.isObjectBindingPattern(p.name) &&
    p.name.elements.some((e) => (e.propertyName ?? e.name).getText(sf) === 'Now')
  )
    call = `${node.text}.Now`;
  if (call) noteClockRead(cx, node, call, node.getStart(sf));
}

/**
 * `fmt.format()` / `fmt.formatToParts()` with no argument on a name holding a date formatter
 * (`const fmt = new Intl.DateTimeFormat('en')`, or a name holding such a name): it formats now,
 * as `new Intl.DateTimeFormat('en').format()` does.
 */
function heldFormatterRead(cx: CellContext, node: Identifier, symbol: TsSymbol): void {
  const { ts, sf } = cx;
  const method = formatsNow(ts, node);
  if (!method) return;
  let held: TsSymbol | undefined = symbol;
  for (let hops = 0; held && hops < 4; hops++) {
    const d: Node | undefined = held.valueDeclaration;
    if (
      !d ||
      !ts.isVariableDeclaration(d) ||
      !ts.isIdentifier(d.name) ||
      !d.initializer ||
      (d.parent.flags & ts.NodeFlags.Const) === 0
    )
      return;
    const init: Node = unwrapExpression(ts, d.initializer);
    if (isDateTimeFormat(ts, init)) {
      noteClockRead(cx, node, `Intl.DateTimeFormat().${method}()`, node.getStart(sf));
      return;
    }
    held = ts.isIdentifier(init) ? cx.checker.getSymbolAtLocation(init) : undefined;
  }
}

/** `x.format()` / `x.formatToParts()` with no argument: the method called, else undefined. */
function formatsNow(ts: TS, node: Identifier): string | undefined {
  const access = node.parent;
  return ts.isPropertyAccessExpression(access) &&
    access.expression === node &&
    (access.name.text === 'format' || access.name.text === 'formatToParts') &&
    ts.isCallExpression(access.parent) &&
    access.parent.expression === access &&
    access.parent.arguments.length === 0
    ? access.name.text
    : undefined;
}

/** `x.format()` with no argument on a name of another cell, for link.ts (`formatCalls`). */
function formatCall(cx: CellContext, node: Identifier): void {
  const method = formatsNow(cx.ts, node);
  if (!method) return;
  const start = node.getStart(cx.sf);
  (cx.result.formatCalls ??= []).push({
    name: node.text,
    call: `Intl.DateTimeFormat().${method}()`,
    start,
    ...lineCol(cx.sf, start),
  });
}

/** `new Intl.DateTimeFormat(…)` or `Intl.DateTimeFormat(…)`. */
function isDateTimeFormat(ts: TS, e: Node): boolean {
  if (!ts.isNewExpression(e) && !ts.isCallExpression(e)) return false;
  const callee = unwrapExpression(ts, e.expression);
  return (
    ts.isPropertyAccessExpression(callee) &&
    callee.name.text === 'DateTimeFormat' &&
    ts.isIdentifier(callee.expression) &&
    callee.expression.text === 'Intl'
  );
}

function noteClockRead(cx: CellContext, node: Node, call: string, start: number): void {
  const inside = topLevelFunctionOf(cx.ts, node);
  (cx.result.clockReads ??= []).push({
    call,
    start,
    ...lineCol(cx.sf, start),
    ...(inside !== undefined ? { inside } : {}),
  });
}

/**
 * The properties read one after another on `node` (`registry.c.inc`: `['c', 'inc']`, `xs[0].n`:
 * `['0', 'n']`), up to a computed index or anything else.
 */
function accessPath(ts: TS, node: Node): string[] {
  const path: string[] = [];
  for (let n = node; ; n = n.parent) {
    const p = n.parent;
    if (ts.isPropertyAccessExpression(p) && p.expression === n) path.push(p.name.text);
    else if (
      ts.isElementAccessExpression(p) &&
      p.expression === n &&
      (ts.isStringLiteralLike(p.argumentExpression) || ts.isNumericLiteral(p.argumentExpression))
    )
      path.push(p.argumentExpression.text);
    else return path;
  }
}

/** Calls teaching the runtime to store a value: `registerModelFormat`, `registerCodec` (or `cellar.…`). */
// --- state kept by classes and closures -----------------------------------------------------

/**
 * A setup cell's state no top-level name shows (`KeptState`): fields of `this` a class's members
 * change when called, and variables a kept inner function changes in the function that made it;
 * and the top-level values made by a bare name (`madeBy`), which hold that state.
 */
function keptState(cx: CellContext): void {
  const { ts, sf, result } = cx;
  const out: KeptState[] = [];
  const functionAt = (name: string, at: Node) =>
    (result.topLevelFunctions ??= []).push({ name, start: at.getStart(sf), end: at.end });
  for (const stmt of sf.statements) {
    if (ts.isClassDeclaration(stmt) && stmt.name) classState(cx, stmt, stmt.name.text, out);
    if (ts.isFunctionDeclaration(stmt) && stmt.name && stmt.body) functionAt(stmt.name.text, stmt);
    if (!ts.isVariableStatement(stmt)) continue;
    for (const d of stmt.declarationList.declarations) {
      if (!d.initializer) continue;
      madeValues(ts, d.name, d.initializer, [], (made) => (result.madeBy ??= []).push(made));
      if (!ts.isIdentifier(d.name)) continue;
      const init = unwrapped(ts, d.initializer);
      if (ts.isClassExpression(init)) classState(cx, init, d.name.text, out);
      // `const tally = { n: 0, inc() { return ++this.n; } }`: its methods change the object.
      if (ts.isObjectLiteralExpression(init)) classState(cx, init, d.name.text, out);
      if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) functionAt(d.name.text, init);
    }
  }
  closureState(cx, out);
  if (out.length) result.keptState = out;
}

/**
 * What a bare name makes, as the declaration of `name` holds it (`MadeBy`): `new Counter()`,
 * `makeCounter()`, through methods returning the instance (`new Counter().reset()`), a member of
 * it (`makeCounter().inc`, `const { inc } = makeCounter()`), or inside an object or array
 * literal (`{ c: new Counter() }`, `[new Counter()]`, `const [next] = [makeCounter().inc]`).
 * `at`: where in `name`'s value `init` is.
 */
function madeValues(
  ts: TS,
  name: TsMorphModule.ts.BindingName,
  init: TsMorphModule.ts.Expression,
  at: string[],
  emit: (made: MadeBy) => void,
): void {
  const e = unwrapped(ts, init) as TsMorphModule.ts.Expression;
  if (ts.isIdentifier(name)) {
    if (ts.isObjectLiteralExpression(e)) {
      for (const p of e.properties) {
        const key = nameText(ts, p.name);
        if (key !== undefined && ts.isPropertyAssignment(p))
          madeValues(ts, name, p.initializer, [...at, key], emit);
      }
      return;
    }
    if (ts.isArrayLiteralExpression(e)) {
      e.elements.forEach((el, i) => {
        if (!ts.isSpreadElement(el) && !ts.isOmittedExpression(el))
          madeValues(ts, name, el, [...at, String(i)], emit);
      });
      return;
    }
    const made = madeOf(ts, e);
    if (made) emit({ name: name.text, ...made, ...(at.length ? { at } : {}) });
    return;
  }
  if (ts.isArrayBindingPattern(name)) {
    // `const [a, b] = [new Counter(), makeCounter().inc]`: each name its element.
    if (!ts.isArrayLiteralExpression(e)) return;
    name.elements.forEach((el, i) => {
      const part = e.elements[i];
      if (ts.isBindingElement(el) && !el.dotDotDotToken && part && !ts.isSpreadElement(part))
        madeValues(ts, el.name, part, [], emit);
    });
    return;
  }
  // `const { inc, get: read } = makeCounter()`: each name the member it takes.
  const made = ts.isObjectLiteralExpression(e) ? undefined : madeOf(ts, e);
  for (const el of name.elements) {
    if (el.dotDotDotToken) continue;
    const key = nameText(ts, el.propertyName ?? el.name);
    if (key === undefined) continue;
    if (ts.isObjectLiteralExpression(e)) {
      const p = e.properties.find(
        (q) => ts.isPropertyAssignment(q) && nameText(ts, q.name) === key,
      );
      if (p && ts.isPropertyAssignment(p)) madeValues(ts, el.name, p.initializer, [], emit);
    } else if (made && made.part === undefined && ts.isIdentifier(el.name))
      emit({ name: el.name.text, ...made, part: key });
  }
}

/** The bare name `expr` makes its value with, and how (`MadeBy` without `name` and `at`). */
function madeOf(ts: TS, expr: Node): Omit<MadeBy, 'name' | 'at'> | undefined {
  const e = unwrapped(ts, expr);
  if ((ts.isNewExpression(e) || ts.isCallExpression(e)) && ts.isIdentifier(e.expression))
    return { of: e.expression.text };
  // `new Counter().reset()`: the instance, when `reset` returns `this` (link.ts checks).
  if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression)) {
    const base = madeOf(ts, e.expression.expression);
    if (base && base.part === undefined)
      return { of: base.of, chain: [...(base.chain ?? []), e.expression.name.text] };
  }
  if (ts.isPropertyAccessExpression(e)) {
    const base = madeOf(ts, e.expression);
    if (base && base.part === undefined && base.chain === undefined)
      return { of: base.of, part: e.name.text };
  }
  return undefined;
}

/** `expr` seen through parentheses, type assertions and `await`. */
function unwrapped(ts: TS, expr: Node): Node {
  let e: Node = unwrapExpression(ts, expr);
  while (ts.isAwaitExpression(e)) e = unwrapExpression(ts, e.expression);
  return e;
}

/** A member's or property's name as written (`inc`, `'inc'`, `#n`); undefined when computed. */
function nameText(ts: TS, name: Node | undefined): string | undefined {
  return name &&
    (ts.isIdentifier(name) ||
      ts.isPrivateIdentifier(name) ||
      ts.isStringLiteral(name) ||
      ts.isNumericLiteral(name))
    ? name.text
    : undefined;
}

/** The nearest function `node` is in (a parameter's is its own function), else undefined. */
function enclosingFunction(ts: TS, node: Node): Node | undefined {
  for (let p = node.parent; p; p = p.parent) if (ts.isFunctionLike(p)) return p;
  return undefined;
}

/**
 * Is the value of the change `node` is in handed on (`return ++n`, `return this.items.push(x)`),
 * not discarded as a statement?
 */
function changeUsed(ts: TS, node: Node): boolean {
  const top = accessRoot(ts, node as Identifier);
  let n: Node = top === node ? node.parent : top.parent;
  while (ts.isParenthesizedExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (ts.isExpressionStatement(p) || ts.isVoidExpression(p)) return false;
  return !(ts.isForStatement(p) && p.incrementor === n);
}

/**
 * The changes of `this` in the members of class `name` called after it is made (methods,
 * accessors, properties holding a function; not the constructor, field initialisers or static
 * blocks, which run once), each with whether its field is read besides its changes.
 */
function classState(
  cx: CellContext,
  cls: TsMorphModule.ts.ClassLikeDeclaration | TsMorphModule.ts.ObjectLiteralExpression,
  name: string,
  out: KeptState[],
): void {
  const { ts, sf } = cx;
  const K = ts.SyntaxKind;
  const literal = ts.isObjectLiteralExpression(cls);
  // `class B extends Counter`: an instance of B keeps what Counter's members change.
  const base = literal
    ? undefined
    : cls.heritageClauses?.find((h) => h.token === K.ExtendsKeyword)?.types[0]?.expression;
  if (base && ts.isIdentifier(base)) (cx.result.classBases ??= []).push({ name, base: base.text });
  const found: KeptState[] = [];
  // Fields read (not changed) through `this`, by whose `this` it is; '' for `this` itself.
  const reads = {
    instance: new Set<string>(),
    static: new Set<string>(),
    object: new Set<string>(),
  };
  // Each member, with what it reaches through `this` (fields read, members called).
  const members: {
    member?: string;
    kind: KeptState['kind'];
    called: boolean;
    reaches: Set<string>;
  }[] = [];
  for (const el of literal ? cls.properties : cls.members) {
    const isStatic =
      ts.canHaveModifiers(el) &&
      (ts.getModifiers(el) ?? []).some((m) => m.kind === K.StaticKeyword);
    // In an object literal an arrow function's `this` is not the object's.
    const init =
      (ts.isPropertyDeclaration(el) || ts.isPropertyAssignment(el)) && el.initializer
        ? unwrapped(ts, el.initializer)
        : undefined;
    if (literal && init && !ts.isFunctionExpression(init)) continue;
    const body =
      ts.isMethodDeclaration(el) ||
      ts.isGetAccessor(el) ||
      ts.isSetAccessor(el) ||
      ts.isConstructorDeclaration(el) ||
      ts.isClassStaticBlockDeclaration(el)
        ? el.body
        : init && ts.isFunctionExpression(init)
          ? init.body
          : init;
    if (!body) continue;
    const called =
      ts.isMethodDeclaration(el) ||
      ts.isGetAccessor(el) ||
      ts.isSetAccessor(el) ||
      (init !== undefined && (ts.isArrowFunction(init) || ts.isFunctionExpression(init)));
    const kind = literal
      ? 'object'
      : isStatic || ts.isClassStaticBlockDeclaration(el)
        ? 'static'
        : 'instance';
    // A private member (`#bump`) is reached only through the public members calling it.
    const member = nameText(ts, el.name);
    if (!literal && member !== undefined && ts.isMethodDeclaration(el) && returnsThis(ts, body))
      (cx.result.returnsThis ??= []).push({ name, member });
    const reaches = new Set<string>();
    members.push({ ...(member !== undefined ? { member } : {}), kind, called, reaches });
    // `this` in the member, not in a nested function or class with its own `this`.
    const stack: Node[] = [body];
    while (stack.length) {
      const n = stack.pop()!;
      if (n !== body && (ts.isClassLike(n) || (ts.isFunctionLike(n) && !ts.isArrowFunction(n))))
        continue;
      n.forEachChild((c) => {
        stack.push(c);
      });
      if (n.kind !== K.ThisKeyword) continue;
      const self = n as unknown as Identifier;
      const p = n.parent;
      const field =
        ts.isPropertyAccessExpression(p) && p.expression === n
          ? p.name.text
          : ts.isElementAccessExpression(p) &&
              p.expression === n &&
              ts.isStringLiteralLike(p.argumentExpression)
            ? p.argumentExpression.text
            : '';
      const change = mutationOf(ts, self, sf);
      if (!change) {
        reads[kind].add(field);
        reaches.add(field);
        continue;
      }
      if (!called || initialisesOrRebinds(ts, self)) continue;
      const top = accessRoot(ts, self);
      const target =
        change.kind === 'method' &&
        !change.detail.includes('.') &&
        ts.isPropertyAccessExpression(top)
          ? top.expression.getText(sf)
          : change.kind === 'property'
            ? change.detail
            : 'this';
      found.push({
        kind,
        owner: name,
        ...(member !== undefined ? { member } : {}),
        state: field,
        target,
        read: changeUsed(ts, n),
        change: { ...change, name: target },
      });
    }
  }
  // A member reaching a changing one through `this` (`inc() { this.bump(); return this.n; }`)
  // makes the same change when called.
  for (let grew = true; grew;) {
    grew = false;
    for (const m of members) {
      if (!m.called || m.member === undefined) continue;
      if (found.some((f) => f.kind === m.kind && f.member === m.member)) continue;
      const via = found.find(
        (f) => f.kind === m.kind && f.member !== undefined && m.reaches.has(f.member),
      );
      if (!via) continue;
      found.push({ ...via, member: m.member });
      grew = true;
    }
  }
  for (const f of found) {
    const r = reads[f.kind as 'instance' | 'static' | 'object'];
    f.read ||= f.state === '' || r.has('') || r.has(f.state);
    out.push(f);
  }
}

/** Does every `return` of method body `body` (one at least) hand back `this`? */
function returnsThis(ts: TS, body: Node): boolean {
  let returns = 0;
  let other = false;
  const stack: Node[] = [body];
  while (stack.length && !other) {
    const n = stack.pop()!;
    if (n !== body && ts.isFunctionLike(n)) continue;
    n.forEachChild((c) => {
      stack.push(c);
    });
    if (!ts.isReturnStatement(n)) continue;
    returns++;
    other = !n.expression || unwrapped(ts, n.expression).kind !== ts.SyntaxKind.ThisKeyword;
  }
  return returns > 0 && !other;
}

/**
 * Variables a kept inner function changes in the function that made it (`let n = 0; return () =>
 * ++n`): the change persists from one call of the inner function to the next. Kept for a
 * function made by a top-level function of the cell (a factory: `owner`) or by an IIFE a
 * top-level name holds the result of (`holder`); an inner function that does not leave its
 * maker (returned, as such or in a returned object) keeps nothing past the maker's call.
 */
function closureState(cx: CellContext, out: KeptState[]): void {
  const { ts, sf, checker } = cx;
  const stack: Node[] = [sf];
  while (stack.length) {
    const n = stack.pop()!;
    n.forEachChild((c) => {
      stack.push(c);
    });
    if (!ts.isIdentifier(n) || !isReference(ts, n)) continue;
    const change = mutationOf(ts, n, sf);
    if (!change) continue;
    const symbol = checker.getSymbolAtLocation(n);
    const decl = symbol?.valueDeclaration;
    if (!symbol || !decl || !(ts.isVariableDeclaration(decl) || ts.isParameter(decl))) continue;
    const maker = enclosingFunction(ts, decl);
    // Declared at the top level: a setup value, judged as such (checkSetupState).
    if (!maker || enclosingFunction(ts, maker) !== undefined) continue;
    // The function directly inside the maker the change is made in; none: the maker's own.
    let inner: Node | undefined;
    let p: Node | undefined = n.parent;
    for (; p && p !== maker; p = p.parent) if (ts.isFunctionLike(p)) inner = p;
    if (!inner || p !== maker || initialisesOrRebinds(ts, n)) continue;
    const kept = leavesMaker(ts, inner, maker);
    if (!kept) continue;
    const owner = topLevelFunctionOf(ts, inner);
    let holder: string | undefined;
    if (owner === undefined) {
      let wrapped: Node = maker;
      while (ts.isParenthesizedExpression(wrapped.parent)) wrapped = wrapped.parent;
      if (!ts.isCallExpression(wrapped.parent) || wrapped.parent.expression !== wrapped) continue;
      for (let d: Node | undefined = wrapped.parent; d; d = d.parent)
        if (
          ts.isVariableDeclaration(d) &&
          ts.isIdentifier(d.name) &&
          ts.isVariableStatement(d.parent.parent) &&
          ts.isSourceFile(d.parent.parent.parent)
        ) {
          holder = d.name.text;
          break;
        }
      if (holder === undefined) continue;
    }
    let read = change.kind === 'assign' ? valueUsed(ts, n) : changeUsed(ts, n);
    const walk: Node[] = [maker];
    while (!read && walk.length) {
      const m = walk.pop()!;
      m.forEachChild((c) => {
        walk.push(c);
      });
      if (
        m !== n &&
        ts.isIdentifier(m) &&
        m.text === n.text &&
        isReference(ts, m) &&
        checker.getSymbolAtLocation(m) === symbol &&
        !mutationOf(ts, m, sf)
      )
        read = true;
    }
    out.push({
      kind: 'closure',
      ...(owner !== undefined ? { owner } : { holder: holder! }),
      ...(kept.member !== undefined ? { member: kept.member } : {}),
      state: n.text,
      target: n.text,
      read,
      change,
    });
  }
}

/**
 * Does function `fn`, made inside `maker`, leave it: returned (`return () => ++n`, an arrow's
 * body), as a property or method of a returned literal (`return { inc: () => ++n }`, member
 * `inc`), or by the name it is declared under (`function inc() {…} return { inc }`)?
 */
function leavesMaker(ts: TS, fn: Node, maker: Node): { member?: string } | undefined {
  const returned = (from: Node, first?: string): { member?: string } | undefined => {
    let n = from;
    let member = first;
    for (;;) {
      const p = n.parent;
      if (
        ts.isParenthesizedExpression(p) ||
        ts.isAsExpression(p) ||
        ts.isSatisfiesExpression(p) ||
        ts.isArrayLiteralExpression(p) ||
        ts.isObjectLiteralExpression(p)
      ) {
        n = p;
        continue;
      }
      if (
        (ts.isPropertyAssignment(p) && p.initializer === n) ||
        (ts.isShorthandPropertyAssignment(p) && p.name === n)
      ) {
        member = nameText(ts, p.name);
        n = p;
        continue;
      }
      break;
    }
    const p = n.parent;
    if (ts.isReturnStatement(p) && enclosingFunction(ts, p) === maker) return { member };
    if (ts.isArrowFunction(maker) && maker.body === n) return { member };
    return undefined;
  };
  if (
    (ts.isMethodDeclaration(fn) || ts.isGetAccessor(fn) || ts.isSetAccessor(fn)) &&
    ts.isObjectLiteralExpression(fn.parent)
  )
    return returned(fn, nameText(ts, fn.name));
  const direct = returned(fn);
  if (direct) return direct;
  let wrapped: Node = fn;
  while (ts.isParenthesizedExpression(wrapped.parent)) wrapped = wrapped.parent;
  const local = ts.isFunctionDeclaration(fn)
    ? fn.name
    : ts.isVariableDeclaration(wrapped.parent) && wrapped.parent.initializer === wrapped
      ? wrapped.parent.name
      : undefined;
  if (!local || !ts.isIdentifier(local)) return undefined;
  const walk: Node[] = [maker];
  while (walk.length) {
    const m = walk.pop()!;
    m.forEachChild((c) => {
      walk.push(c);
    });
    if (m !== local && ts.isIdentifier(m) && m.text === local.text && isReference(ts, m)) {
      const r = returned(m);
      if (r) return r;
    }
  }
  return undefined;
}

const FORMAT_REGISTRATIONS = new Set(['registerModelFormat', 'registerCodec']);
function isFormatRegistration(ts: TS, callee: Node): boolean {
  return (
    (ts.isIdentifier(callee) && FORMAT_REGISTRATIONS.has(callee.text)) ||
    (ts.isPropertyAccessExpression(callee) && FORMAT_REGISTRATIONS.has(callee.name.text))
  );
}

/** Every identifier (`KMeans`, and `ml.KMeans` whole) and string literal text under `node`. */
function mentionsIn(ts: TS, node: Node, out: Set<string>): void {
  const stack: Node[] = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if (ts.isIdentifier(n)) out.add(n.text);
    else if (ts.isStringLiteralLike(n)) out.add(n.text);
    else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression))
      out.add(`${n.expression.text}.${n.name.text}`);
    ts.forEachChild(n, (child) => {
      stack.push(child);
    });
  }
}

/**
 * A read of the `Deno` global: `Deno.readTextFile(…)` and the other mapped APIs are recorded
 * (`denoUses`: the module imports the runtime's shim); anything else is E_DENO_API naming it.
 */
function denoUse(cx: CellContext, node: Identifier): void {
  const { ts, sf, result } = cx;
  const chain: string[] = [];
  let at: Node = node;
  while (ts.isPropertyAccessExpression(at.parent) && at.parent.expression === at) {
    chain.push(at.parent.name.text);
    at = at.parent;
  }
  const api = denoApiName(chain);
  if (MAPPED_DENO_APIS.has(api)) {
    (result.denoUses ??= []).push({ api, start: node.getStart(sf) });
    return;
  }
  result.diagnostics.push(
    diag(
      cx,
      'E_DENO_API',
      node.getStart(sf),
      api
        ? `\`Deno.${api}\` is a Deno-only API the pipeline does not map to Node`
        : '`Deno` used as a value: only its mapped APIs (`Deno.readTextFile(…)` and the like) run in the pipeline',
      unmappedDenoHint(api),
    ),
  );
}

/**
 * `for (const r of rows)` / `rows.map((r) => …)` over another cell's value, or over what derives
 * from it (`Object.values(cfg)`, `rows.filter(f)`, `[...rows]`): r holds its elements.
 */
function noteElementVariables(
  cx: CellContext,
  elementOf: Map<TsSymbol, Container>,
  node: Identifier,
  target: string,
  start: number,
): void {
  const { ts } = cx;
  const { depthOf } = derivedRoot(ts, node, start);
  for (const [n, d] of depthOf) {
    const p = n.parent;
    let variable: Node | undefined;
    if (
      ts.isForOfStatement(p) &&
      p.expression === n &&
      ts.isVariableDeclarationList(p.initializer)
    ) {
      variable = p.initializer.declarations[0]?.name;
    } else if (
      ts.isPropertyAccessExpression(p) &&
      p.expression === n &&
      ELEMENT_CALLBACKS.has(p.name.text) &&
      ts.isCallExpression(p.parent) &&
      p.parent.expression === p
    ) {
      const callback = p.parent.arguments[0];
      if (callback && (ts.isArrowFunction(callback) || ts.isFunctionExpression(callback)))
        variable = callback.parameters[p.name.text.startsWith('reduce') ? 1 : 0]?.name;
    }
    // `for (const { tags } of rows)`, `rows.forEach(([a, b]) => …)`: each name holds a part of one.
    const names =
      variable &&
      (ts.isIdentifier(variable) ||
        ts.isObjectBindingPattern(variable) ||
        ts.isArrayBindingPattern(variable))
        ? boundWithDepth(ts, variable, Math.max(d - 1, 0))
        : [];
    for (const { id, depth } of names) {
      const symbol = cx.checker.getSymbolAtLocation(id);
      if (symbol) elementOf.set(symbol, { target, depth });
    }
  }
}

/** `r.flag = …` where `r` runs over another cell's rows (`target`): the rows themselves change. */
function elementMutation(cx: CellContext, node: Identifier, of: Container | undefined): void {
  const { ts, sf } = cx;
  const target = of?.target;
  const mutation = of !== undefined ? mutationOf(ts, node, sf, of.depth) : undefined;
  if (!mutation || mutation.kind === 'assign') return;
  let changed: Node = node;
  while (
    (ts.isPropertyAccessExpression(changed.parent) ||
      ts.isElementAccessExpression(changed.parent)) &&
    changed.parent.expression === changed
  )
    changed = changed.parent;
  const element = mutation.kind === 'method' ? `${changed.getText(sf)}(...)` : changed.getText(sf);
  cx.result.mutations.push({ ...mutation, name: target!, element });
}

/**
 * `let df = df.filter(…)`: this cell's own `df` hides the earlier cell's from the top of the
 * cell, so the read hits an uninitialised variable. tslab refuses the cell too. Reports
 * E_USED_BEFORE_DECLARATION and returns true when so.
 */
function usedBeforeDeclaration(
  cx: CellContext,
  node: Identifier,
  ref: Reference,
  declaredAt: TsMorphModule.ts.Declaration,
): boolean {
  const { ts, sf } = cx;
  if (inTypeQuery(ts, node)) return false;
  const before =
    // Inside its own body a class is already bound (`static instance = new A()` is fine).
    (ts.isClassDeclaration(declaredAt) && ref.start < declaredAt.getStart(sf)) ||
    (ts.isVariableDeclaration(declaredAt) &&
      ref.start < declaredAt.end &&
      (ts.getCombinedNodeFlags(declaredAt) & ts.NodeFlags.BlockScoped) !== 0);
  if (!before) return false;
  const declLine = lineCol(
    sf,
    (declaredAt as TsMorphModule.ts.NamedDeclaration).name!.getStart(sf),
  ).line;
  cx.result.diagnostics.push(
    diag(
      cx,
      'E_USED_BEFORE_DECLARATION',
      ref.start,
      `\`${node.text}\` is read before this cell declares it (line ${declLine}): the cell's own \`${node.text}\` hides any earlier one, so this reads an uninitialised variable (tslab stops here too: "Block-scoped variable '${node.text}' used before its declaration")`,
      `give the new value a new name, e.g. \`const ${node.text}2 = …\`, or drop the declaration keyword to reassign the earlier \`${node.text}\` (only inside the task that declared it)`,
    ),
  );
  return true;
}

// --- syntax questions about one identifier ---------------------------------------------------

function isStatementKind(ts: TS, n: Node): boolean {
  const K = ts.SyntaxKind;
  return (
    (n.kind >= K.FirstStatement && n.kind <= K.LastStatement) ||
    n.kind === K.Block ||
    n.kind === K.SourceFile
  );
}

/** Is this identifier a use of a binding (as opposed to a property name, label, declaration)? */
function isReference(ts: TS, id: Identifier): boolean {
  const K = ts.SyntaxKind;
  const p = id.parent as Node & { name?: Node; propertyName?: Node; label?: Node };
  switch (p.kind) {
    case K.PropertyAccessExpression:
      return (p as TsMorphModule.ts.PropertyAccessExpression).name !== id;
    case K.QualifiedName:
      return (p as TsMorphModule.ts.QualifiedName).right !== id;
    case K.BindingElement:
      return p.propertyName !== id && p.name !== id;
    case K.ImportSpecifier:
    case K.ExportSpecifier:
    case K.ImportClause:
    case K.NamespaceImport:
    case K.MetaProperty:
    case K.ImportType:
    case K.TypePredicate:
    case K.LabeledStatement:
    case K.BreakStatement:
    case K.ContinueStatement:
      return false;
    case K.PropertyAssignment:
    case K.PropertyDeclaration:
    case K.PropertySignature:
    case K.MethodDeclaration:
    case K.MethodSignature:
    case K.GetAccessor:
    case K.SetAccessor:
    case K.EnumMember:
    case K.VariableDeclaration:
    case K.Parameter:
    case K.FunctionDeclaration:
    case K.FunctionExpression:
    case K.ClassDeclaration:
    case K.ClassExpression:
    case K.InterfaceDeclaration:
    case K.TypeAliasDeclaration:
    case K.EnumDeclaration:
    case K.ModuleDeclaration:
    case K.TypeParameter:
    case K.NamedTupleMember:
      return p.name !== id;
    default:
      return true;
  }
}

function meaningOf(ts: TS, id: Identifier): Meaning {
  const K = ts.SyntaxKind;
  let n: Node = id;
  while (n.parent && !isStatementKind(ts, n.parent)) {
    const p = n.parent;
    if (p.kind === K.TypeQuery) return 'value';
    if (p.kind === K.ExpressionWithTypeArguments) {
      const heritage = p.parent as TsMorphModule.ts.HeritageClause;
      return heritage.token === K.ExtendsKeyword && heritage.parent.kind !== K.InterfaceDeclaration
        ? 'value'
        : 'type';
    }
    if (ts.isTypeNode(p)) return 'type';
    n = p;
  }
  return 'value';
}

/**
 * Is `node` inside a function kept to be called later (a declaration, a method, a function stored
 * in a variable or property or returned), rather than only in callbacks handed to a call or `new`
 * and IIFEs, which run while the cell's top level runs (`rows.forEach((r) => out.push(r))`)?
 */
/**
 * A Map or Set a kept function fills with `set`/`add` passes as a memo (link.ts) only when every
 * kept function of the cell using it uses it as a memo's (memo.ts): a count kept in it
 * (`m.set(k, (m.get(k) ?? 0) + 1)`), a first-time flag (`if (seen.has(k)) return false`) or a
 * registry (`m.set(k, v)`) is recorded as a change of it with `breach` saying why.
 */
function memoBreaches(cx: CellContext): void {
  const { ts, sf, result } = cx;
  const filled = new Set(
    (result.sharedStateChanges ?? [])
      .filter((m) => m.kind === 'method' && (m.detail === 'set' || m.detail === 'add'))
      .map((m) => m.name),
  );
  if (filled.size === 0) return;
  // The outermost kept functions of the cell (an explicit stack: deep expressions are ordinary).
  const kept: Node[] = [];
  const stack: Node[] = [sf];
  while (stack.length) {
    const n = stack.pop()!;
    const body = ts.isFunctionLike(n) ? (n as { body?: Node }).body : undefined;
    if (body && inKeptFunction(ts, body)) {
      kept.push(n);
      continue;
    }
    const children: Node[] = [];
    n.forEachChild((c) => {
      children.push(c);
    });
    for (let k = children.length - 1; k >= 0; k--) stack.push(children[k]!);
  }
  for (const name of filled)
    for (const fn of kept) {
      const breach = collectionBreach(ts, fn, name);
      if (!breach) continue;
      const inside = topLevelFunctionOf(ts, breach.node);
      (result.sharedStateChanges ??= []).push({
        name,
        kind: 'method',
        detail: 'set',
        breach: breach.what,
        used: true,
        ...(inside !== undefined ? { inside } : {}),
        ...lineCol(sf, breach.node.getStart(sf)),
      });
      break;
    }
}

/**
 * The name of the cell's top-level function `node` is in (its outermost function is a top-level
 * `function f() {…}`, or the initialiser of a top-level `const f = …`), else undefined.
 */
function topLevelFunctionOf(ts: TS, node: Node): string | undefined {
  let outer: Node | undefined;
  for (let n: Node | undefined = node.parent; n; n = n.parent) if (ts.isFunctionLike(n)) outer = n;
  if (!outer) return undefined;
  if (ts.isFunctionDeclaration(outer))
    return outer.name && ts.isSourceFile(outer.parent) ? outer.name.text : undefined;
  let wrapped: Node = outer;
  while (ts.isParenthesizedExpression(wrapped.parent)) wrapped = wrapped.parent;
  const decl = wrapped.parent;
  if (
    (ts.isArrowFunction(outer) || ts.isFunctionExpression(outer)) &&
    ts.isVariableDeclaration(decl) &&
    decl.initializer === wrapped &&
    ts.isIdentifier(decl.name) &&
    ts.isVariableStatement(decl.parent.parent) &&
    ts.isSourceFile(decl.parent.parent.parent)
  )
    return decl.name.text;
  return undefined;
}

function inKeptFunction(ts: TS, node: Node): boolean {
  for (let n: Node | undefined = node.parent; n; n = n.parent) {
    if (!ts.isFunctionLike(n)) continue;
    if (!ts.isArrowFunction(n) && !ts.isFunctionExpression(n)) return true;
    // The function as its parent sees it, parentheses included: an argument, or an IIFE's callee.
    let wrapped: Node = n;
    while (ts.isParenthesizedExpression(wrapped.parent)) wrapped = wrapped.parent;
    const up = wrapped.parent;
    const handedToCall =
      ((ts.isCallExpression(up) || ts.isNewExpression(up)) &&
        up.arguments?.some((arg) => arg === wrapped)) ||
      (ts.isCallExpression(up) && up.expression === wrapped);
    if (!handedToCall) return true;
  }
  return false;
}

/**
 * Is `id` (or a property path on it) the target of a lazy initialisation (`cache ??= load()`,
 * `memo.rows ||= parse()`: the same value on every call, the memo idiom), or is `id` itself
 * rebound with a plain `=` (`db = await open()`, a lazy singleton or a setter: the two cannot be
 * told apart, and refusing the first would refuse common code)? Neither counts as shared state.
 */
/** Does `node` contain an identifier named `name` (a bounded walk: keys are small)? */
function mentions(ts: TS, node: Node, name: string): boolean {
  const stack: Node[] = [node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (ts.isIdentifier(n) && n.text === name) return true;
    n.forEachChild((c) => {
      stack.push(c);
    });
  }
  return false;
}

function initialisesOrRebinds(ts: TS, id: Identifier): boolean {
  const K = ts.SyntaxKind;
  const top = accessRoot(ts, id);
  const p = top.parent;
  if (!ts.isBinaryExpression(p) || p.left !== top) return false;
  const op = p.operatorToken.kind;
  // `memo[n] = fib(n - 1) + fib(n - 2)`: a computed key on the setup value itself is the
  // plain-object memo, as `Map.set` is (`cfg['factor'] = v`, a literal key, is a setter).
  if (
    op === K.EqualsToken &&
    ts.isElementAccessExpression(top) &&
    top.expression === id &&
    !ts.isStringLiteralLike(top.argumentExpression) &&
    !ts.isNumericLiteral(top.argumentExpression) &&
    // `names[names.length] = n` appends: a key computed from the value itself is no memo key.
    !mentions(ts, top.argumentExpression, id.text)
  )
    return true;
  if (
    op === K.QuestionQuestionEqualsToken ||
    op === K.BarBarEqualsToken ||
    op === K.AmpersandAmpersandEqualsToken
  )
    return true;
  // `count = count + 1`, `items = [...items, x]`: a new value computed from the old one is an
  // accumulation, not a lazy initialisation or a setter.
  return top === id && op === K.EqualsToken && !mentions(ts, p.right, id.text);
}

/** Is the value of the expression changing `id` (`++calls`, `total += x`) used, not discarded? */
function valueUsed(ts: TS, id: Identifier): boolean {
  let n: Node = id.parent;
  while (ts.isParenthesizedExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (ts.isExpressionStatement(p) || ts.isVoidExpression(p)) return false;
  if (ts.isForStatement(p) && p.incrementor === n) return false;
  return true;
}

/**
 * The outermost property or element access on `id` (`cfg.opts[k]` for `cfg`), or `id` itself,
 * seen through parentheses and type assertions (`(globalThis as any).factor`, `xs!.push`), and
 * through a literal holding the value taken apart again (`[cfg][0].x`, `({ c: cfg }).c.x`).
 */
function accessRoot(ts: TS, id: Identifier): Node {
  let top: Node = id;
  for (;;) {
    const p = top.parent;
    const taken = takenFromLiteral(ts, top);
    if (taken) {
      top = taken;
      continue;
    }
    // `Object.getPrototypeOf([]).sum = …`: the prototype of a built-in, reached through `Object`.
    if (
      ts.isCallExpression(p) &&
      p.expression === top &&
      ts.isPropertyAccessExpression(top) &&
      prototypeOfLiteral(ts, p) !== undefined
    ) {
      top = p;
      continue;
    }
    if (
      (ts.isPropertyAccessExpression(p) ||
        ts.isElementAccessExpression(p) ||
        ts.isParenthesizedExpression(p) ||
        ts.isAsExpression(p) ||
        ts.isSatisfiesExpression(p) ||
        ts.isNonNullExpression(p) ||
        ts.isTypeAssertionExpression(p)) &&
      p.expression === top
    )
      top = p;
    else return top;
  }
}

/**
 * `[cfg][0]` / `({ c: cfg }).c` for `node` = `cfg`: an element of a literal holding the value,
 * taken out again, when something further is done with it (a property set, a method called, a
 * setter's first argument). `[cfg][0] = 1` changes only the literal: undefined.
 */
function takenFromLiteral(ts: TS, node: Node): Node | undefined {
  const p = node.parent;
  let literal: Node;
  if (ts.isArrayLiteralExpression(p) && p.elements.some((e) => e === node)) literal = p;
  else if (
    ((ts.isPropertyAssignment(p) && p.initializer === node) ||
      (ts.isShorthandPropertyAssignment(p) && p.name === node)) &&
    ts.isObjectLiteralExpression(p.parent)
  )
    literal = p.parent;
  else return undefined;
  while (ts.isParenthesizedExpression(literal.parent) || ts.isAsExpression(literal.parent))
    literal = literal.parent;
  const taken = literal.parent;
  if (
    !(ts.isPropertyAccessExpression(taken) || ts.isElementAccessExpression(taken)) ||
    taken.expression !== literal
  )
    return undefined;
  const further = taken.parent;
  return ((ts.isPropertyAccessExpression(further) || ts.isElementAccessExpression(further)) &&
    further.expression === taken) ||
    ts.isNonNullExpression(further) ||
    ts.isParenthesizedExpression(further) ||
    ts.isAsExpression(further) ||
    (ts.isCallExpression(further) && further.arguments[0] === taken)
    ? taken
    : undefined;
}

/** What this identifier's occurrence does to its value: reassign it, set a property, call a mutating method. */
function mutationOf(ts: TS, id: Identifier, sf: SourceFile, depth = 0): Mutation | undefined {
  const K = ts.SyntaxKind;
  const isAssignOp = (k: TsMorphModule.ts.SyntaxKind) =>
    k >= K.FirstAssignment && k <= K.LastAssignment;
  const isIncDec = (n: Node) =>
    (ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
    (n.operator === K.PlusPlusToken || n.operator === K.MinusMinusToken);
  const at = lineCol(sf, id.getStart());
  const p = id.parent;
  if (
    (ts.isBinaryExpression(p) && p.left === id && isAssignOp(p.operatorToken.kind)) ||
    isIncDec(p)
  ) {
    return { name: id.text, kind: 'assign', detail: id.text, ...at };
  }
  // `[a, b] = …` / `({ a } = …)`: a destructuring assignment rebinds every name in the pattern.
  let pattern: Node = id;
  while (
    ts.isArrayLiteralExpression(pattern.parent) ||
    ts.isObjectLiteralExpression(pattern.parent) ||
    ts.isSpreadElement(pattern.parent) ||
    ts.isShorthandPropertyAssignment(pattern.parent) ||
    (ts.isPropertyAssignment(pattern.parent) && pattern.parent.initializer === pattern)
  )
    pattern = pattern.parent;
  if (
    pattern !== id &&
    ts.isBinaryExpression(pattern.parent) &&
    pattern.parent.left === pattern &&
    pattern.parent.operatorToken.kind === K.EqualsToken
  ) {
    return { name: id.text, kind: 'assign', detail: id.text, ...at };
  }
  // Object.assign(target, …) changes its first argument, and so do the reflective setters.
  if (depth === 0 && ts.isCallExpression(p) && p.arguments[0] === id) {
    const callee = p.expression.getText(sf);
    if (callee === 'Object.assign')
      return { name: id.text, kind: 'method', detail: 'Object.assign', ...at };
    if (REFLECTIVE_SETTERS.has(callee))
      return { name: id.text, kind: 'method', detail: callee, ...at };
    // `Array.prototype.push.call(xs, …)`, `[].push.apply(xs, …)`, `Array.prototype.push.bind(xs)`.
    // (`xs.push.call(xs, …)` is reported once, at the receiver.)
    const method = borrowedMutator(ts, p.expression);
    if (method && !sameReceiver(ts, p.expression, id))
      return { name: id.text, kind: 'method', detail: method, ...at };
  }
  // `Reflect.apply(Array.prototype.push, xs, […])`.
  if (
    depth === 0 &&
    ts.isCallExpression(p) &&
    p.arguments[1] === id &&
    p.expression.getText(sf) === 'Reflect.apply'
  ) {
    const fn = p.arguments[0];
    if (fn && ts.isPropertyAccessExpression(fn) && MUTATING_METHODS.has(fn.name.text))
      return { name: id.text, kind: 'method', detail: fn.name.text, ...at };
  }
  // Up through what derives from the value without copying its parts (`holder.at(0)!.n`,
  // `[...xs][0].n`, `Object.values(cfg)[0].n`): a change to an object at depth 0 is the value's.
  const { top, depthOf, derived } = derivedRoot(ts, id, depth);
  if (top === id) return undefined;
  const changes = (n: Node) => depthOf.get(n) === 0;
  // `Object.defineProperty(Array.prototype, …)`, `Object.assign(cfg.opts, …)`: a part of the
  // value handed to a call that changes its first argument.
  if (ts.isCallExpression(top.parent) && top.parent.arguments[0] === top && changes(top)) {
    const callee = top.parent.expression.getText(sf);
    if (callee === 'Object.assign' || REFLECTIVE_SETTERS.has(callee))
      return { name: id.text, kind: 'method', detail: callee, ...at };
  }
  // `xs.push.bind(xs)` / `xs.push.call(ys, …)`: the mutator taken from the value, to be called on it.
  if (
    depth === 0 &&
    ts.isPropertyAccessExpression(top) &&
    BORROWING.has(top.name.text) &&
    ts.isPropertyAccessExpression(top.expression) &&
    top.expression.expression === id &&
    MUTATING_METHODS.has(top.expression.name.text)
  )
    return { name: id.text, kind: 'method', detail: top.expression.name.text, ...at };
  const q = top.parent;
  // The object whose property is set: `holder.at(0)!` for `holder.at(0)!.n = 1`.
  const target = unwrapExpression(ts, top);
  const changed =
    ts.isPropertyAccessExpression(target) || ts.isElementAccessExpression(target)
      ? target.expression
      : target;
  if (
    ((ts.isBinaryExpression(q) && q.left === top && isAssignOp(q.operatorToken.kind)) ||
      ts.isDeleteExpression(q) ||
      isIncDec(q)) &&
    changes(changed)
  ) {
    return { name: id.text, kind: 'property', detail: top.getText(sf), ...at };
  }
  if (
    ts.isPropertyAccessExpression(top) &&
    MUTATING_METHODS.has(top.name.text) &&
    ts.isCallExpression(q) &&
    q.expression === top &&
    changes(top.expression)
  ) {
    // The parts read from the root to the receiver, past `!`, `(…)` and `as T` (`.list`); through
    // a call, as written (`.at(0)!.tags`).
    const receiver = top.expression.getText(sf);
    let part = derived && receiver.startsWith(id.text) ? receiver.slice(id.text.length) : '';
    if (!derived)
      for (let n: Node = id; n !== top.expression; n = n.parent) {
        const q = n.parent;
        if (ts.isPropertyAccessExpression(q)) part += `.${q.name.text}`;
        else if (ts.isElementAccessExpression(q)) part += `[${q.argumentExpression.getText(sf)}]`;
      }
    return {
      name: id.text,
      kind: 'method',
      detail: top.name.text,
      ...(part ? { part } : {}),
      ...at,
    };
  }
  return undefined;
}

/** Calls that change their first argument as `Object.assign` does. */
export const REFLECTIVE_SETTERS = new Set([
  'Object.defineProperty',
  'Object.defineProperties',
  'Object.setPrototypeOf',
  'Reflect.set',
  'Reflect.defineProperty',
  'Reflect.deleteProperty',
  'Reflect.setPrototypeOf',
]);

/** Function methods that run (or bind) a function on a receiver given as an argument. */
const BORROWING = new Set(['call', 'apply', 'bind']);

/** `Array.prototype.push.call` / `[].splice.apply` / `Map.prototype.set.bind`: the mutator's name. */
export function borrowedMutator(ts: TS, callee: Node): string | undefined {
  if (!ts.isPropertyAccessExpression(callee) || !BORROWING.has(callee.name.text)) return undefined;
  const fn = callee.expression;
  return ts.isPropertyAccessExpression(fn) && MUTATING_METHODS.has(fn.name.text)
    ? fn.name.text
    : undefined;
}

/** Is `callee` (`xs.push.call`) borrowed from the very name `id` it is called on? */
function sameReceiver(ts: TS, callee: Node, id: Identifier): boolean {
  const fn = ts.isPropertyAccessExpression(callee) ? callee.expression : undefined;
  return (
    fn !== undefined &&
    ts.isPropertyAccessExpression(fn) &&
    ts.isIdentifier(fn.expression) &&
    fn.expression.text === id.text
  );
}

/**
 * The name a bound mutator of `id`'s value is kept under: `const add = id.push.bind(id)` or
 * `const add = Array.prototype.push.bind(id)` give `add`; anything else undefined.
 */
function boundMutatorName(ts: TS, id: Identifier): string | undefined {
  let call: Node | undefined;
  const top = accessRoot(ts, id);
  if (
    top !== id &&
    ts.isPropertyAccessExpression(top) &&
    top.name.text === 'bind' &&
    ts.isPropertyAccessExpression(top.expression) &&
    top.expression.expression === id &&
    MUTATING_METHODS.has(top.expression.name.text) &&
    ts.isCallExpression(top.parent) &&
    top.parent.expression === top
  )
    call = top.parent;
  else if (
    ts.isCallExpression(id.parent) &&
    id.parent.arguments[0] === id &&
    ts.isPropertyAccessExpression(id.parent.expression) &&
    id.parent.expression.name.text === 'bind' &&
    borrowedMutator(ts, id.parent.expression) !== undefined
  )
    call = id.parent;
  const d = call?.parent;
  return d && ts.isVariableDeclaration(d) && d.initializer === call && ts.isIdentifier(d.name)
    ? d.name.text
    : undefined;
}

/** Inside `typeof x` in a type: a type query does not read the variable at run time. */
function inTypeQuery(ts: TS, id: Identifier): boolean {
  for (let n: Node | undefined = id.parent; n && !isStatementKind(ts, n); n = n.parent)
    if (n.kind === ts.SyntaxKind.TypeQuery) return true;
  return false;
}

function emptyAnalysis(index: number): CellAnalysis {
  return {
    index,
    imports: [],
    declarations: [],
    references: [],
    mutations: [],
    topLevelAwait: false,
    sqlTemplates: [],
    params: [],
    strip: [],
    displayCalls: [],
    inertStatements: [],
    identifiers: [],
    diagnostics: [],
  };
}

function typeOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const items = [...new Set(v.map(typeOfValue))].sort();
    if (items.length === 0) return 'unknown[]';
    return items.length === 1 ? `${items[0]}[]` : `(${items.join(' | ')})[]`;
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(
      ([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${typeOfValue(x)}`,
    );
    return `{ ${entries.join('; ')} }`;
  }
  return typeof v;
}

function paramDecl(
  name: string,
  value: unknown,
  annotation: string | undefined,
  line: number,
): ParamDecl {
  const primitive =
    typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean';
  return {
    name,
    type: annotation ?? typeOfValue(value),
    paramType: primitive ? (typeof value as 'number' | 'string' | 'boolean') : 'json',
    default: value,
    line,
  };
}

/**
 * For a tag that runs SQL: `sql` → null (the task's dialect), `sql.dialect('duckdb')` → that
 * dialect; undefined for any other tag.
 */
function sqlTagDialect(ts: TS, tag: Node): 'bigquery' | 'duckdb' | null | undefined {
  if (ts.isIdentifier(tag)) return tag.text === 'sql' ? null : undefined;
  if (
    ts.isCallExpression(tag) &&
    ts.isPropertyAccessExpression(tag.expression) &&
    ts.isIdentifier(tag.expression.expression) &&
    tag.expression.expression.text === 'sql' &&
    tag.expression.name.text === 'dialect'
  ) {
    const arg = tag.arguments[0];
    const d = arg && ts.isStringLiteralLike(arg) ? arg.text : '';
    return d === 'duckdb' || d === 'bigquery' ? d : null;
  }
  return undefined;
}
