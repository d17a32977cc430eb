// State a local module (a project file a notebook imports, not a package) keeps at its top level
// and changes when one of its exported functions is called (`let n = 0; export function next() {
// return ++n; }`). Pipeline tasks run in worker threads that load the module once, so every task
// in a thread shares that state: what a task computes from it would depend on which tasks ran
// before it in the same thread, under one cache key. link.ts refuses a task calling such a
// function (E_MODULE_STATE), as it refuses a setup helper changing setup state (E_SETUP_STATE).
//
// A function is a top-level function, or a method reached by a qualified name: an object
// literal's (`counter.bump`, `this` being the object), a class's static one (`Counter.bump`, the
// class's statics being its state), and an instance method on a top-level `const c = new C()`
// (`c.inc`). A top-level or local alias of the state (`const s = state`, `const items =
// state.items`) changes it too. With `importedWrites`, a function imported from another local
// module (named, default or namespace) or re-exported from one counts as it does there.
//
// Conservative by design: only names declared at the module's top level count as state (a `let`
// or `var`; a `const` holding an array or object literal, a local class's instance or a `new
// Map`/`Set`/`Array`/`Object`; a class),
// a function declaring a name of the state anywhere in it is not judged for that name (a local
// variable shadowing it), a Map or Set filled with `set`/`add` used as a memo (memo.ts: not a
// count, a first-time flag or a registry), a lazy `x ??= load()` and a plain rebinding computed
// from neither the old value nor the call's arguments (`if (!db) db = open()`, a lazy singleton)
// pass, and so does state nothing reads besides its changes (a log only appended to).
import type * as TsMorphModule from 'ts-morph';
import { borrowedMutator, MUTATING_METHODS, REFLECTIVE_SETTERS } from './cell.js';
import { collectionBreach, lazyBreach } from './memo.js';
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
  /** The module the change is in, when another local module the judged one imports. */
  file?: string;
  /** The change is to a global (`globalThis.x = …`), not to the module's own state. */
  global?: boolean;
  /** A Map/Set memo or a lazy initialisation used as state after all (memo.ts). */
  memo?: true;
}

/** The writes of a local module a module imports, by its specifier; undefined when not read. */
export type ImportedWrites = (
  specifier: string,
) => { file: string; writes: ReadonlyMap<string, ModuleStateWrite> } | undefined;

const COLLECTIONS = new Set(['Map', 'Set', 'Array', 'Object', 'WeakMap', 'WeakSet']);
const MEMO_METHODS = new Set(['set', 'add', 'delete', 'clear']);
const LAZY = new Set(['??=', '||=']);
/** Names of the global object: a property set on it is seen by every task in the thread. */
const GLOBAL_OBJECTS = new Set(['globalThis', 'global', 'window', 'self']);
/** The pseudo state name a change to the global object is recorded under. */
const GLOBAL = 'globalThis';

/**
 * For each exported function of a module's source that changes module-level state when called,
 * directly or through functions of the same module it calls: the first such change. Exports by
 * their exported name (`default` for a default export); a method by its qualified name
 * (`counter.bump` for `export const counter = { n: 0, bump() { this.n++; } }`, `Counter.bump` for
 * a static method, `c.inc` for a method of a top-level `const c = new C()`). With
 * `importedWrites`, a function of another local module it imports or re-exports counts as it does
 * there (`file` names that module).
 */
export function moduleStateWrites(
  ts: TS,
  text: string,
  fileName: string,
  importedWrites?: ImportedWrites,
): Map<string, ModuleStateWrite> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const lineOf = (n: Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  /** Module-level state: name → whether it is a Map or Set (a memo may fill those). */
  const state = new Map<string, { memo: boolean }>();
  const functions = new Map<string, Node>();
  /** A method's `this`: the state it is (`counter` for `counter.bump`, `Counter` for a static). */
  const thisOf = new Map<string, string>();
  const exported = new Map<string, string>(); // exported name → local name
  /** Names another local module's function is reached by (`bump`, `ns.bump`), with its write. */
  const external = new Map<string, ModuleStateWrite>();
  /** Exported names whose write is another module's (`export { bump } from './b.js'`). */
  const reexported = new Map<string, ModuleStateWrite>();
  /** Top-level aliases of state (`const s = state`, `const items = state.items`): alias → state. */
  const aliasCandidates: [string, Node][] = [];
  const classMethods = new Map<string, Map<string, Node>>();
  const letNames = new Set<string>();
  const theirs = (spec: TsMorphModule.ts.Expression | undefined) => {
    if (!importedWrites || !spec || !ts.isStringLiteral(spec) || !/^\.\.?\//.test(spec.text))
      return undefined;
    const found = importedWrites(spec.text);
    if (!found) return undefined;
    const out = new Map<string, ModuleStateWrite>();
    for (const [k, w] of found.writes) out.set(k, { ...w, file: w.file ?? found.file });
    return out;
  };
  /** `into` gets `from`'s entries for `name` and its members, under `as`. */
  const take = (
    into: Map<string, ModuleStateWrite>,
    from: ReadonlyMap<string, ModuleStateWrite>,
    name: string,
    as: string,
  ) => {
    for (const [k, w] of from)
      if (k === name) into.set(as, w);
      else if (k.startsWith(`${name}.`)) into.set(as + k.slice(name.length), w);
  };
  /** The functions of an object literal (`bump() {…}`, `bump: () => …`) as `name.member`. */
  const methodsOf = (owner: string, obj: TsMorphModule.ts.ObjectLiteralExpression) => {
    for (const p of obj.properties) {
      const key =
        p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
      if (key === undefined) continue;
      const fn = ts.isMethodDeclaration(p)
        ? p
        : ts.isPropertyAssignment(p)
          ? unwrapExpression(ts, p.initializer)
          : undefined;
      if (
        !fn ||
        !(ts.isMethodDeclaration(fn) || ts.isFunctionExpression(fn) || ts.isArrowFunction(fn))
      )
        continue;
      functions.set(`${owner}.${key}`, fn);
      if (!ts.isArrowFunction(fn)) thisOf.set(`${owner}.${key}`, owner);
    }
  };
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
    if (ts.isImportDeclaration(st) && st.importClause && !st.importClause.isTypeOnly) {
      const from = theirs(st.moduleSpecifier);
      const clause = st.importClause;
      if (!from) continue;
      if (clause.name) take(external, from, 'default', clause.name.text);
      const nb = clause.namedBindings;
      if (nb && ts.isNamespaceImport(nb))
        for (const [k, w] of from) external.set(`${nb.name.text}.${k}`, w);
      else if (nb)
        for (const e of nb.elements)
          if (!e.isTypeOnly) take(external, from, (e.propertyName ?? e.name).text, e.name.text);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
      const from = theirs(st.moduleSpecifier);
      if (!from || st.isTypeOnly) continue;
      const clause = st.exportClause;
      if (!clause)
        for (const [k, w] of from) {
          if (k !== 'default' && !k.startsWith('default.')) reexported.set(k, w);
        }
      else if (ts.isNamespaceExport(clause))
        for (const [k, w] of from) reexported.set(`${clause.name.text}.${k}`, w);
      else
        for (const e of clause.elements)
          if (!e.isTypeOnly) take(reexported, from, (e.propertyName ?? e.name).text, e.name.text);
    } else if (ts.isClassDeclaration(st) && st.name) {
      // Static members are the class's own state; instance methods count on a top-level instance.
      const cls = st.name.text;
      const methods = new Map<string, Node>();
      for (const m of st.members) {
        const key = m.name && ts.isIdentifier(m.name) ? m.name.text : undefined;
        if (key === undefined || !ts.isMethodDeclaration(m) || !m.body) continue;
        const isStatic = (ts.getModifiers(m) ?? []).some(
          (x) => x.kind === ts.SyntaxKind.StaticKeyword,
        );
        if (isStatic) {
          functions.set(`${cls}.${key}`, m);
          thisOf.set(`${cls}.${key}`, cls);
        } else methods.set(key, m);
      }
      state.set(cls, { memo: false });
      classMethods.set(cls, methods);
      if (hasExport(st)) exported.set(isDefault(st) ? 'default' : cls, cls);
    } else if (ts.isFunctionDeclaration(st) && st.name && st.body) {
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
          for (const n of bindingNames(d.name)) letNames.add(n);
          if (hasExport(st)) for (const n of bindingNames(d.name)) exported.set(n, n);
          continue;
        }
        if (!ts.isIdentifier(d.name) || !init) continue;
        if (hasExport(st)) exported.set(d.name.text, d.name.text);
        if (ts.isArrayLiteralExpression(init) || ts.isObjectLiteralExpression(init)) {
          state.set(d.name.text, { memo: false });
          if (ts.isObjectLiteralExpression(init)) methodsOf(d.name.text, init);
        } else if (
          ts.isNewExpression(init) &&
          ts.isIdentifier(init.expression) &&
          classMethods.has(init.expression.text)
        ) {
          // `const c = new Counter()`: its methods' `this` is `c`.
          state.set(d.name.text, { memo: false });
          for (const [key, m] of classMethods.get(init.expression.text)!) {
            functions.set(`${d.name.text}.${key}`, m);
            thisOf.set(`${d.name.text}.${key}`, d.name.text);
          }
        } else if (
          ts.isIdentifier(init) ||
          ts.isPropertyAccessExpression(init) ||
          ts.isElementAccessExpression(init)
        )
          aliasCandidates.push([d.name.text, init]);
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
    } else if (ts.isExportAssignment(st)) {
      const value = unwrapExpression(ts, st.expression);
      if (ts.isIdentifier(value)) exported.set('default', value.text);
      else if (ts.isObjectLiteralExpression(value)) {
        // `export default { n: 0, bump() { this.n++; } }`: the object is state under `default`.
        state.set('default', { memo: false });
        methodsOf('default', value);
        exported.set('default', 'default');
      }
    }
  }
  // An exported object's, class's or instance's methods are exported under its exported name.
  for (const [name, local] of [...exported])
    for (const key of functions.keys())
      if (key.startsWith(`${local}.`)) exported.set(name + key.slice(local.length), key);
  for (const [name, local] of [...exported])
    for (const [key, w] of external)
      if (key === local || key.startsWith(`${local}.`))
        reexported.set(name + key.slice(local.length), w);
  const touchesGlobals = /\b(?:globalThis|global|window|self)\b/.test(text);
  if (
    (state.size === 0 && external.size === 0 && !touchesGlobals) ||
    exported.size + reexported.size === 0
  )
    return new Map(reexported);
  const exportedLocals = new Set(exported.values());
  /** Every name the module declares at its top level (a module's own `self` is no global). */
  const moduleNames = new Set<string>();
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st))
      for (const d of st.declarationList.declarations)
        bindingNames(d.name).forEach((x) => moduleNames.add(x));
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name)
      moduleNames.add(st.name.text);
    else if (ts.isImportDeclaration(st) && st.importClause) {
      if (st.importClause.name) moduleNames.add(st.importClause.name.text);
      const nb = st.importClause.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) moduleNames.add(nb.name.text);
      else if (nb) for (const e of nb.elements) moduleNames.add(e.name.text);
    }
  }

  // State read somewhere besides as the target of its changes (or exported, for any importer to
  // read): a change to state nothing reads changes no result.
  const targets = new Set<Node>();
  /** The name (or `this`) a chain of property reads starts from. */
  const rootOf = (e: Node): Node | undefined => {
    e = unwrapExpression(ts, e);
    while (ts.isPropertyAccessExpression(e) || ts.isElementAccessExpression(e))
      e = unwrapExpression(ts, e.expression);
    return ts.isIdentifier(e) || e.kind === ts.SyntaxKind.ThisKeyword ? e : undefined;
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

  /** Is the value of this expression used (`return ++n`), not only its effect (`n++;`)? */
  const valueUsed = (e: Node): boolean => {
    let n = e;
    while (ts.isParenthesizedExpression(n.parent)) n = n.parent;
    const p = n.parent;
    return !(
      ts.isExpressionStatement(p) ||
      ts.isVoidExpression(p) ||
      (ts.isForStatement(p) && p.incrementor === n) ||
      (ts.isBinaryExpression(p) &&
        p.operatorToken.kind === ts.SyntaxKind.CommaToken &&
        p.left === n)
    );
  };

  /** Does `n` use the name (`n + 1` uses `n`)? */
  const mentions = (n: Node, name: string): boolean =>
    (ts.isIdentifier(n) && n.text === name) ||
    (ts.forEachChild(n, (c) => mentions(c, name) || undefined) ?? false);

  interface Own {
    state: string;
    what: string;
    line: number;
    memo?: true;
  }
  const own = new Map<string, Own[]>();
  /** Private Maps and Sets functions fill with `set`/`add` (judged as memos below). */
  const memoFilled = new Set<string>();
  /** Top-level `let`s some function assigns (`n = …`, `n++`). */
  const changedLets = new Set<string>();
  {
    const visit = (n: Node) => {
      const target =
        ts.isBinaryExpression(n) &&
        n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        n.operatorToken.kind <= ts.SyntaxKind.LastAssignment
          ? n.left
          : (ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
              (n.operator === ts.SyntaxKind.PlusPlusToken ||
                n.operator === ts.SyntaxKind.MinusMinusToken)
            ? n.operand
            : undefined;
      if (target && ts.isIdentifier(target) && letNames.has(target.text))
        changedLets.add(target.text);
      ts.forEachChild(n, visit);
    };
    for (const fn of functions.values()) visit(fn);
  }
  const callees = new Map<string, string[]>();
  // Top-level aliases, once every state name is known (`const s = state`: a change to `s` is one
  // to `state`).
  const topAlias = new Map<string, string>();
  for (const [alias, init] of aliasCandidates) {
    const root = rootOf(init);
    if (root && ts.isIdentifier(root) && state.has(root.text)) topAlias.set(alias, root.text);
  }
  /** `counter.bump`, `ns.bump`, `this.bump` (as its owner's): a callee's qualified name. */
  const qualifiedName = (e: Node, self: string | undefined): string | undefined => {
    e = unwrapExpression(ts, e);
    if (ts.isIdentifier(e)) return e.text;
    if (e.kind === ts.SyntaxKind.ThisKeyword) return self;
    if (!ts.isPropertyAccessExpression(e)) return undefined;
    const head = qualifiedName(e.expression, self);
    return head === undefined ? undefined : `${head}.${e.name.text}`;
  };
  for (const [name, fn] of functions) {
    const shadowed = declaredIn(fn);
    /** Local aliases of state in this function (`const s = state.items`). */
    const localAlias = new Map<string, string>();
    /** The state a root stands for: a state name, an alias of one, or `this` of a method. */
    const stateOf = (root: Node | undefined, self: string | undefined): string | undefined => {
      if (!root) return undefined;
      if (root.kind === ts.SyntaxKind.ThisKeyword) return self;
      if (!ts.isIdentifier(root)) return undefined;
      const local = localAlias.get(root.text);
      if (local !== undefined) return local;
      if (shadowed.has(root.text)) return undefined;
      if (GLOBAL_OBJECTS.has(root.text) && !state.has(root.text) && !moduleNames.has(root.text))
        return GLOBAL;
      return state.has(root.text) ? root.text : topAlias.get(root.text);
    };
    const writes: Own[] = [];
    const calls: string[] = [];
    const add = (root: Node, st: string, what: string, at: Node, memo?: true) => {
      // A change whose value is used (`return ++n`) reads the state as well.
      if (ts.isIdentifier(root) && root.text === st && !valueUsed(at)) targets.add(root);
      writes.push({ state: st, what, line: lineOf(at), ...(memo ? { memo } : {}) });
    };
    // `self`: what `this` is here (the method's owner); a nested function has its own `this`.
    const visit = (n: Node, self: string | undefined) => {
      if (
        n !== fn &&
        (ts.isFunctionDeclaration(n) ||
          ts.isFunctionExpression(n) ||
          ts.isMethodDeclaration(n) ||
          ts.isClassLike(n))
      )
        self = undefined;
      if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
        const init = unwrapExpression(ts, n.initializer);
        if (
          ts.isIdentifier(init) ||
          ts.isPropertyAccessExpression(init) ||
          ts.isElementAccessExpression(init)
        ) {
          const st = stateOf(rootOf(init), self);
          if (st !== undefined) localAlias.set(n.name.text, st);
        }
      }
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
          const st =
            localAlias.has(left.text) || topAlias.has(left.text) ? undefined : stateOf(left, self);
          if (st !== undefined && !LAZY.has(op) && !rebinding) add(left, st, 'assigns to', n);
          else if (st !== undefined && st !== GLOBAL) {
            // A lazy `x ??= load()` or a rebinding is a memo's only when computed from neither
            // the caller's arguments (`cached ??= { size }`) nor state other calls change.
            const breach = lazyBreach(ts, n, (x) => x !== st && changedLets.has(x));
            if (breach) add(left, st, breach.what, n, true);
          }
        } else if (ts.isPropertyAccessExpression(left) || ts.isElementAccessExpression(left)) {
          const root = rootOf(left);
          const st = stateOf(root, self);
          if (st !== undefined && !LAZY.has(op))
            add(root!, st, `assigns to \`${left.getText(sf)}\` of`, n);
        }
      } else if (
        (ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
        (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)
      ) {
        const root = rootOf(n.operand);
        const direct = ts.isIdentifier(n.operand);
        const st =
          direct && (localAlias.has(n.operand.text) || topAlias.has(n.operand.text))
            ? undefined
            : stateOf(root, self);
        if (st !== undefined)
          add(root!, st, direct ? 'assigns to' : `assigns to \`${n.operand.getText(sf)}\` of`, n);
      } else if (ts.isDeleteExpression(n)) {
        const root = rootOf(n.expression);
        const st = stateOf(root, self);
        if (st !== undefined) add(root!, st, `deletes \`${n.expression.getText(sf)}\` of`, n);
      } else if (ts.isCallExpression(n)) {
        const callee = n.expression;
        const q = qualifiedName(callee, self);
        const known =
          q !== undefined &&
          (functions.has(q) || external.has(q)) &&
          !shadowed.has(q.split('.')[0]!);
        // A function of the module (`this.add()` on an object with an `add`) is followed, not
        // taken for a collection's mutating method.
        if (known) calls.push(q);
        else if (
          ts.isPropertyAccessExpression(callee) &&
          MUTATING_METHODS.has(callee.name.text) &&
          !REFLECTIVE_SETTERS.has(callee.getText(sf)) // `Reflect.set(bag, …)` changes `bag`
        ) {
          const root = rootOf(callee.expression);
          const st = stateOf(root, self);
          const direct = root !== undefined && unwrapExpression(ts, callee.expression) === root;
          // A field of `this` filled with `set`/`add` (`static #cache = new Map()`, then
          // `this.#cache.set(k, v)`) is the memo idiom, as E_SETUP_STATE judges a setup class's.
          const receiver = unwrapExpression(ts, callee.expression);
          const thisField =
            ts.isPropertyAccessExpression(receiver) &&
            unwrapExpression(ts, receiver.expression).kind === ts.SyntaxKind.ThisKeyword;
          // Only a private one: an exported Map other modules' code reads (`reg.get(k)`) is a
          // registry every task in the thread shares, whatever fills it.
          const memo =
            MEMO_METHODS.has(callee.name.text) &&
            ((direct && st !== undefined && state.get(st)?.memo && !exportedLocals.has(st)) ||
              thisField);
          if (st !== undefined && !memo) add(root!, st, `calls \`${callee.name.text}(...)\` on`, n);
          else if (st !== undefined && direct) memoFilled.add(st);
        } else if (
          ts.isPropertyAccessExpression(callee) &&
          (callee.getText(sf) === 'Object.assign' || REFLECTIVE_SETTERS.has(callee.getText(sf))) &&
          n.arguments[0]
        ) {
          // `Object.defineProperty(bag, k, …)`, `Reflect.set(bag, k, v)`: a change to `bag`.
          const root = rootOf(n.arguments[0]);
          const st = stateOf(root, self);
          if (st !== undefined) add(root!, st, `calls \`${callee.getText(sf)}(...)\` on`, n);
        } else if (n.arguments[0] && borrowedMutator(ts, callee)) {
          // `Array.prototype.push.call(list, x)`: the borrowed method changes its receiver.
          const root = rootOf(n.arguments[0]);
          const st = stateOf(root, self);
          if (st !== undefined)
            add(root!, st, `calls \`${borrowedMutator(ts, callee)}(...)\` on`, n);
        }
      }
      ts.forEachChild(n, (c) => visit(c, self));
    };
    visit(fn, thisOf.get(name));
    own.set(name, writes);
    callees.set(name, calls);
  }

  // A Map or Set a function fills as a memo: every function using it must use it as a memo's
  // (memo.ts): a count kept in it, a first-time flag or a registry is state.
  for (const st of memoFilled)
    for (const [name, fn] of functions) {
      const breach = collectionBreach(ts, fn, st);
      if (breach)
        own
          .get(name)!
          .push({ state: st, what: breach.what, line: lineOf(breach.node), memo: true });
    }

  // A name read anywhere besides as a change's target, or exported.
  // The global object: any task's code may read what is set on it.
  const read = new Set<string>([...exported.values(), GLOBAL]);
  const seeReads = (n: Node) => {
    if (ts.isIdentifier(n) && state.has(n.text) && !targets.has(n)) {
      const p = n.parent;
      const isDecl = p && ts.isVariableDeclaration(p) && p.name === n;
      if (!isDecl) read.add(n.text);
    }
    ts.forEachChild(n, seeReads);
  };
  seeReads(sf);

  const out = new Map<string, ModuleStateWrite>(reexported);
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
          found = {
            fn,
            via: path,
            state: w.state,
            what: w.what,
            line: w.line,
            ...(w.state === GLOBAL ? { global: true } : {}),
            ...(w.memo ? { memo: true as const } : {}),
          };
          break;
        }
        // A function of another local module: its change, reached through this path.
        const ext = external.get(fn);
        if (ext) {
          found = { ...ext, via: [...path.slice(0, -1), ...ext.via] };
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
