// State a local module (a project file a notebook imports, not a package) keeps at its top level
// and changes when one of its exported functions is called (`let n = 0; export function next() {
// return ++n; }`). Pipeline tasks run in worker threads that load the module once, so every task
// in a thread shares that state: what a task computes from it would depend on which tasks ran
// before it in the same thread, under one cache key. link.ts refuses a task calling such a
// function (E_MODULE_STATE), as it refuses a setup helper changing setup state (E_SETUP_STATE).
//
// Conservative by design: only names declared at the module's top level count as state (a `let`
// or `var`; a `const` holding an array or object literal or a `new Map`/`Set`/`Array`/`Object`),
// a function declaring a name of the state anywhere in it is not judged for that name (a local
// variable shadowing it), a Map or Set filled with `set`/`add` (a memo), a lazy `x ??= load()` and
// a plain rebinding not computed from the old value (`if (!db) db = open()`, a lazy singleton)
// pass, and so does state nothing reads besides its changes (a log only appended to).
import type * as TsMorphModule from 'ts-morph';
import { MUTATING_METHODS } from './cell.js';
import { unwrapExpression } from './syntax.js';

type TS = typeof TsMorphModule.ts;
type Node = TsMorphModule.ts.Node;

/** A change to module-level state an exported function makes when called. */
export interface ModuleStateWrite {
  /** The function the change is in (the exported one, or one it calls in the same module). */
  fn: string;
  /** The functions of the module called to reach it, from the exported one (`['next', 'bump']`). */
  via: string[];
  /** The module-level variable changed. */
  state: string;
  /** What the change does, for the message (`assigns to`, `calls \`push(...)\` on`). */
  what: string;
  /** 1-based line of the change in the module file. */
  line: number;
}

const COLLECTIONS = new Set(['Map', 'Set', 'Array', 'Object', 'WeakMap', 'WeakSet']);
const MEMO_METHODS = new Set(['set', 'add', 'delete', 'clear']);
const LAZY = new Set(['??=', '||=']);

/**
 * For each exported function of a module's source that changes module-level state when called,
 * directly or through functions of the same module it calls: the first such change. Exports by
 * their exported name (`default` for a default export).
 */
export function moduleStateWrites(
  ts: TS,
  text: string,
  fileName: string,
): Map<string, ModuleStateWrite> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const lineOf = (n: Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  /** Module-level state: name → whether it is a Map or Set (a memo may fill those). */
  const state = new Map<string, { memo: boolean }>();
  const functions = new Map<string, Node>();
  const exported = new Map<string, string>(); // exported name → local name
  const hasExport = (n: Node) =>
    ts.canHaveModifiers(n) &&
    (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const isDefault = (n: Node) =>
    ts.canHaveModifiers(n) &&
    (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  const bindingNames = (name: TsMorphModule.ts.BindingName, out: string[] = []): string[] => {
    if (ts.isIdentifier(name)) out.push(name.text);
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindingNames(e.name, out);
    return out;
  };
  for (const st of sf.statements) {
    if (ts.isFunctionDeclaration(st) && st.name && st.body) {
      functions.set(st.name.text, st);
      if (hasExport(st)) exported.set(isDefault(st) ? 'default' : st.name.text, st.name.text);
    } else if (ts.isVariableStatement(st)) {
      const isConst = (st.declarationList.flags & ts.NodeFlags.Const) !== 0;
      for (const d of st.declarationList.declarations) {
        const init = d.initializer && unwrapExpression(ts, d.initializer);
        if (
          ts.isIdentifier(d.name) &&
          init &&
          (ts.isArrowFunction(init) || ts.isFunctionExpression(init))
        ) {
          functions.set(d.name.text, init);
          if (hasExport(st)) exported.set(d.name.text, d.name.text);
          continue;
        }
        if (!isConst) {
          for (const n of bindingNames(d.name)) state.set(n, { memo: false });
          if (hasExport(st)) for (const n of bindingNames(d.name)) exported.set(n, n);
          continue;
        }
        if (!ts.isIdentifier(d.name) || !init) continue;
        if (ts.isArrayLiteralExpression(init) || ts.isObjectLiteralExpression(init))
          state.set(d.name.text, { memo: false });
        else if (
          ts.isNewExpression(init) &&
          ts.isIdentifier(init.expression) &&
          COLLECTIONS.has(init.expression.text)
        )
          state.set(d.name.text, { memo: /^(Weak)?(Map|Set)$/.test(init.expression.text) });
      }
    } else if (
      ts.isExportDeclaration(st) &&
      !st.moduleSpecifier &&
      st.exportClause &&
      ts.isNamedExports(st.exportClause)
    ) {
      for (const e of st.exportClause.elements)
        exported.set(e.name.text, (e.propertyName ?? e.name).getText(sf));
    } else if (ts.isExportAssignment(st) && ts.isIdentifier(st.expression)) {
      exported.set('default', st.expression.text);
    }
  }
  if (state.size === 0 || exported.size === 0) return new Map();

  // State read somewhere besides as the target of its changes (or exported, for any importer to
  // read): a change to state nothing reads changes no result.
  const targets = new Set<Node>();
  const rootOf = (e: Node): TsMorphModule.ts.Identifier | undefined => {
    e = unwrapExpression(ts, e);
    while (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e))
      e = unwrapExpression(ts, e.expression);
    return ts.isIdentifier(e) ? e : undefined;
  };

  /** Names declared anywhere inside a function (its parameters, variables, inner functions). */
  const declaredIn = (fn: Node): Set<string> => {
    const names = new Set<string>();
    const visit = (n: Node) => {
      if (ts.isVariableDeclaration(n) || ts.isParameter(n))
        bindingNames(n.name).forEach((x) => names.add(x));
      if (
        (ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n) || ts.isFunctionExpression(n)) &&
        n.name &&
        n !== fn
      )
        names.add(n.name.text);
      if (ts.isCatchClause(n) && n.variableDeclaration)
        bindingNames(n.variableDeclaration.name).forEach((x) => names.add(x));
      ts.forEachChild(n, visit);
    };
    visit(fn);
    return names;
  };

  /** Does `n` use the name (`n + 1` uses `n`)? */
  const mentions = (n: Node, name: string): boolean =>
    (ts.isIdentifier(n) && n.text === name) ||
    (ts.forEachChild(n, (c) => mentions(c, name) || undefined) ?? false);

  interface Own {
    state: string;
    what: string;
    line: number;
  }
  const own = new Map<string, Own[]>();
  const callees = new Map<string, string[]>();
  for (const [name, fn] of functions) {
    const shadowed = declaredIn(fn);
    const isState = (id: TsMorphModule.ts.Identifier | undefined) =>
      id !== undefined && state.has(id.text) && !shadowed.has(id.text);
    const writes: Own[] = [];
    const calls: string[] = [];
    const add = (id: TsMorphModule.ts.Identifier, what: string, at: Node) => {
      targets.add(id);
      writes.push({ state: id.text, what, line: lineOf(at) });
    };
    const visit = (n: Node) => {
      if (
        ts.isBinaryExpression(n) &&
        n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        n.operatorToken.kind <= ts.SyntaxKind.LastAssignment
      ) {
        const op = n.operatorToken.getText(sf);
        const left = n.left;
        if (ts.isIdentifier(left)) {
          // A plain `db = open()` is a lazy singleton's (or a setter's) rebinding, passed as
          // E_SETUP_STATE passes it; `n = n + 1` computes from the old value and counts.
          const rebinding = op === '=' && !mentions(n.right, left.text);
          if (isState(left) && !LAZY.has(op) && !rebinding) add(left, 'assigns to', n);
        } else if (ts.isPropertyAccessExpression(left) || ts.isElementAccessExpression(left)) {
          const root = rootOf(left);
          if (isState(root) && !LAZY.has(op))
            add(root!, `assigns to \`${left.getText(sf)}\` of`, n);
        }
      } else if (
        (ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
        (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)
      ) {
        const root = rootOf(n.operand);
        if (isState(root))
          add(
            root!,
            ts.isIdentifier(n.operand)
              ? 'assigns to'
              : `assigns to \`${n.operand.getText(sf)}\` of`,
            n,
          );
      } else if (ts.isDeleteExpression(n)) {
        const root = rootOf(n.expression);
        if (isState(root)) add(root!, `deletes \`${n.expression.getText(sf)}\` of`, n);
      } else if (ts.isCallExpression(n)) {
        const callee = n.expression;
        if (ts.isPropertyAccessExpression(callee) && MUTATING_METHODS.has(callee.name.text)) {
          const root = rootOf(callee.expression);
          const direct = root !== undefined && ts.isIdentifier(callee.expression);
          const memo = direct && state.get(root.text)?.memo && MEMO_METHODS.has(callee.name.text);
          if (isState(root) && !memo) add(root!, `calls \`${callee.name.text}(...)\` on`, n);
        } else if (
          ts.isPropertyAccessExpression(callee) &&
          callee.getText(sf) === 'Object.assign' &&
          n.arguments[0]
        ) {
          const root = rootOf(n.arguments[0]);
          if (isState(root)) add(root!, 'calls `Object.assign(...)` on', n);
        } else if (
          ts.isIdentifier(callee) &&
          functions.has(callee.text) &&
          !shadowed.has(callee.text)
        )
          calls.push(callee.text);
      }
      ts.forEachChild(n, visit);
    };
    visit(fn);
    own.set(name, writes);
    callees.set(name, calls);
  }

  // A name read anywhere besides as a change's target, or exported.
  const read = new Set<string>([...exported.values()]);
  const seeReads = (n: Node) => {
    if (ts.isIdentifier(n) && state.has(n.text) && !targets.has(n)) {
      const p = n.parent;
      const isDecl = p && ts.isVariableDeclaration(p) && p.name === n;
      if (!isDecl) read.add(n.text);
    }
    ts.forEachChild(n, seeReads);
  };
  seeReads(sf);

  const out = new Map<string, ModuleStateWrite>();
  for (const [exportName, local] of exported) {
    if (!functions.has(local)) continue;
    // Breadth first, so the write named is the one fewest calls away.
    const seen = new Set([local]);
    let frontier: string[][] = [[local]];
    let found: ModuleStateWrite | undefined;
    while (frontier.length && !found) {
      const next: string[][] = [];
      for (const path of frontier) {
        const fn = path[path.length - 1]!;
        const w = own.get(fn)?.find((x) => read.has(x.state));
        if (w) {
          found = { fn, via: path, state: w.state, what: w.what, line: w.line };
          break;
        }
        for (const c of callees.get(fn) ?? [])
          if (!seen.has(c)) {
            seen.add(c);
            next.push([...path, c]);
          }
      }
      frontier = next;
    }
    if (found) out.set(exportName, found);
  }
  return out;
}
