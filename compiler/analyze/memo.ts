// Tells a memo from state whose observable result depends on earlier calls. A Map or Set kept at
// the top level of a setup cell or a local module and filled by a helper is allowed as a memo:
// under each key it holds a value computed from that key alone, and a call returns the same
// whether the key was stored before (a hit) or not (a miss, which stores it):
// `if (!m.has(k)) m.set(k, f(k)); return m.get(k)`. A lazy `x ??= load()` is allowed likewise:
// every caller gets what any caller would have loaded. Not so (analysed here, refused by link.ts
// as E_SETUP_STATE, by module-state.ts as E_MODULE_STATE):
// - a value stored that is computed from a read of the same collection (a counter,
//   `m.set(k, (m.get(k) ?? 0) + 1)`), or from a caller's value its key does not determine
//   (`m.set(k, v)`, a registry: the last caller's wins);
// - a read of the collection deciding a value besides the stored one: `has` deciding a boolean
//   result (`if (seen.has(k)) return false; seen.add(k); return true`), `m.get(k) ?? 0`, a miss
//   that stores nothing, `m.size`, iteration, the collection handed on;
// - a lazy initialisation (`??=`, `||=`, `if (!x) x = …`) or a rebinding computed from the
//   enclosing function's parameters (`cached ??= { size }`: the first caller's wins).
// Conservative: a pattern it does not know as a memo's is refused.
import type * as TsMorphModule from 'ts-morph';

type TS = typeof TsMorphModule.ts;
type Node = TsMorphModule.ts.Node;
type Expression = TsMorphModule.ts.Expression;

/** Why a helper's use of a collection or lazy variable is not a memo's, and where. */
export interface MemoBreach {
  node: Node;
  /** For the message, followed by the state's name: `stores a value computed from … in`. */
  what: string;
}

const WRITES = new Set(['set', 'add']);
const EVICTS = new Set(['delete', 'clear']);

const isFunctionLike = (ts: TS, n: Node): boolean =>
  ts.isFunctionDeclaration(n) ||
  ts.isFunctionExpression(n) ||
  ts.isArrowFunction(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessorDeclaration(n) ||
  ts.isSetAccessorDeclaration(n);

/** The innermost function `n` is in (itself excluded). */
function functionOf(ts: TS, n: Node): Node | undefined {
  for (let p = n.parent; p; p = p.parent) if (isFunctionLike(ts, p)) return p;
  return undefined;
}

/**
 * Pre-order walk with an explicit stack (deep expressions, a 5,000-term sum, are ordinary code);
 * `f` returning false skips the node's children.
 */
function walk(root: Node, f: (n: Node) => boolean | void): void {
  const stack: Node[] = [root];
  const children: Node[] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (f(n) === false) continue;
    children.length = 0;
    n.forEachChild((c) => {
      children.push(c);
    });
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
}

const within = (n: Node, region: readonly Node[]): boolean => {
  for (let p: Node | undefined = n; p; p = p.parent) if (region.includes(p)) return true;
  return false;
};

function bindingNames(ts: TS, name: TsMorphModule.ts.BindingName, out: string[] = []): string[] {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bindingNames(ts, e.name, out);
  return out;
}

/** Identifiers an expression reads (property names and declarations excluded). */
function namesIn(ts: TS, root: Node, out = new Set<string>()): Set<string> {
  walk(root, (n) => {
    if (!ts.isIdentifier(n)) return;
    const p = n.parent;
    const isName =
      p &&
      ((ts.isPropertyAccessExpression(p) && p.name === n) ||
        (ts.isPropertyAssignment(p) && p.name === n));
    if (!isName) out.add(n.text);
  });
  return out;
}

function strip(ts: TS, e: Node): Node {
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isTypeAssertionExpression(e) ||
    ts.isSatisfiesExpression(e)
  )
    e = e.expression;
  return e;
}

/** Does the statement always leave the block it is in (return, throw, break, continue)? */
function exits(ts: TS, s: Node): boolean {
  if (
    ts.isReturnStatement(s) ||
    ts.isThrowStatement(s) ||
    ts.isBreakStatement(s) ||
    ts.isContinueStatement(s)
  )
    return true;
  if (ts.isBlock(s)) return s.statements.length > 0 && exits(ts, s.statements.at(-1)!);
  if (ts.isIfStatement(s))
    return !!s.elseStatement && exits(ts, s.thenStatement) && exits(ts, s.elseStatement);
  return false;
}

/** The statements after `s` in its block, the code a branch that always exits skips. */
function after(ts: TS, s: Node): Node[] {
  const p = s.parent;
  if (p && (ts.isBlock(p) || ts.isSourceFile(p) || ts.isCaseClause(p) || ts.isDefaultClause(p))) {
    const list = [...p.statements];
    return list.slice(list.indexOf(s as TsMorphModule.ts.Statement) + 1);
  }
  return [];
}

/** Parameters and locals of `fn` (nested functions' too) → the parameters each is computed from. */
function parameterDeps(ts: TS, fn: Node): Map<string, Set<string>> {
  const deps = new Map<string, Set<string>>();
  const sources: [string, Node][] = [];
  walk(fn, (n) => {
    if (ts.isParameter(n)) for (const x of bindingNames(ts, n.name)) deps.set(x, new Set([x]));
    else if (ts.isVariableDeclaration(n)) {
      for (const x of bindingNames(ts, n.name)) {
        if (!deps.has(x)) deps.set(x, new Set());
        if (n.initializer) sources.push([x, n.initializer]);
      }
    } else if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      n.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
      ts.isIdentifier(n.left)
    )
      sources.push([n.left.text, n.right]);
    else if (
      (ts.isForOfStatement(n) || ts.isForInStatement(n)) &&
      ts.isVariableDeclarationList(n.initializer)
    )
      for (const d of n.initializer.declarations)
        for (const x of bindingNames(ts, d.name)) sources.push([x, n.expression]);
  });
  for (let changed = true; changed;) {
    changed = false;
    for (const [x, src] of sources) {
      const own = deps.get(x);
      if (!own) continue;
      for (const name of namesIn(ts, src))
        for (const d of deps.get(name) ?? [])
          if (!own.has(d)) {
            own.add(d);
            changed = true;
          }
    }
  }
  return deps;
}

function depsOf(ts: TS, e: Node, deps: Map<string, Set<string>>): Set<string> {
  const out = new Set<string>();
  for (const name of namesIn(ts, e)) for (const d of deps.get(name) ?? []) out.add(d);
  return out;
}

/** Names `fn` declares (parameters, variables, inner functions): a local shadowing the state. */
function declaredIn(ts: TS, fn: Node): Set<string> {
  const names = new Set<string>();
  walk(fn, (n) => {
    if (ts.isVariableDeclaration(n) || ts.isParameter(n))
      bindingNames(ts, n.name).forEach((x) => names.add(x));
    if (
      (ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n) || ts.isFunctionExpression(n)) &&
      n.name &&
      n !== fn
    )
      names.add(n.name.text);
  });
  return names;
}

/**
 * Is the lazy initialisation or rebinding `x ??= e` / `x ||= e` / `x = e` (`assignment`, its left
 * side the state's name) computed from the enclosing functions' parameters (`cached ??= { size
 * }`), or from `mutable` state besides `x` (a `let` some function changes)? The first caller's
 * value would be every later caller's.
 */
export function lazyBreach(
  ts: TS,
  assignment: TsMorphModule.ts.BinaryExpression,
  mutable: (name: string) => boolean = () => false,
): MemoBreach | undefined {
  const x = ts.isIdentifier(assignment.left) ? assignment.left.text : undefined;
  let outer: Node | undefined;
  for (let f = functionOf(ts, assignment); f; f = functionOf(ts, f)) outer = f;
  if (!outer || x === undefined) return undefined;
  const deps = depsOf(ts, assignment.right, parameterDeps(ts, outer));
  const op = assignment.operatorToken.getText();
  const lazy = op !== '=';
  if (deps.size > 0) {
    const p = [...deps].map((d) => `\`${d}\``).join(', ');
    return {
      node: assignment,
      what: lazy
        ? `keeps the first call's value, computed from its parameter${deps.size > 1 ? 's' : ''} ${p} (later calls get it whatever they pass), in`
        : `stores a value computed from its parameter${deps.size > 1 ? 's' : ''} ${p} (a setter: what later calls read is the last caller's) in`,
    };
  }
  const other = [...namesIn(ts, assignment.right)].find((n) => n !== x && mutable(n));
  if (other !== undefined)
    return {
      node: assignment,
      what: `keeps a value computed from \`${other}\`, which other calls change, in`,
    };
  return undefined;
}

/**
 * The first way function `fn` uses collection `name` (a top-level Map or Set some helper fills
 * with `set`/`add`) that is not a memo's; undefined when every use is (or `fn` shadows the
 * name). `writes` are also judged by the values they store.
 */
export function collectionBreach(ts: TS, fn: Node, name: string): MemoBreach | undefined {
  if (declaredIn(ts, fn).has(name)) return undefined;
  const text = (n: Node) => n.getText();
  const occurrences: TsMorphModule.ts.Identifier[] = [];
  walk(fn, (n) => {
    if (ts.isIdentifier(n) && n.text === name) {
      const p = n.parent;
      const isName =
        (ts.isPropertyAccessExpression(p) && p.name === n) ||
        (ts.isPropertyAssignment(p) && p.name === n) ||
        (ts.isMethodDeclaration(p) && p.name === n);
      if (!isName) occurrences.push(n);
    }
  });
  if (occurrences.length === 0) return undefined;

  interface Write {
    call: TsMorphModule.ts.CallExpression;
    key?: Expression;
    value?: Expression;
  }
  interface Read {
    /** The read's expression: `m.get(k)`, `m.has(k)`, or an occurrence of a local holding `m.get(k)`. */
    expr: Node;
    kind: 'get' | 'has';
    key: string;
    /** The local holding it (`const hit = m.get(k)`), when the read is of one. */
    local?: string;
  }
  const writes: Write[] = [];
  const reads: Read[] = [];
  /** Locals holding `m.get(k)` whole: name → key text and declaration. */
  const hitLocals = new Map<string, { key: string; decl: Node }>();
  for (const id of occurrences) {
    const p = id.parent;
    const call = p.parent;
    const method =
      ts.isPropertyAccessExpression(p) &&
      p.expression === id &&
      ts.isCallExpression(call) &&
      call.expression === p
        ? p.name.text
        : undefined;
    if (method !== undefined && WRITES.has(method)) {
      const c = call as TsMorphModule.ts.CallExpression;
      writes.push({
        call: c,
        ...(c.arguments[0] ? { key: c.arguments[0] } : {}),
        ...(method === 'set' && c.arguments[1] ? { value: c.arguments[1] } : {}),
      });
      continue;
    }
    if (method !== undefined && EVICTS.has(method)) continue;
    // `Map.prototype.set.call(m, k, v)`: a borrowed write.
    const borrowed =
      ts.isCallExpression(p) && p.arguments[0] === id
        ? /^(?:Weak)?(?:Map|Set)\.prototype\.(set|add|delete|clear)\.call$/.exec(text(p.expression))
        : null;
    if (borrowed && ts.isCallExpression(p)) {
      if (WRITES.has(borrowed[1]!))
        writes.push({
          call: p as TsMorphModule.ts.CallExpression,
          ...(p.arguments[1] ? { key: p.arguments[1] } : {}),
          ...(borrowed[1] === 'set' && p.arguments[2] ? { value: p.arguments[2] } : {}),
        });
      continue;
    }
    if (method === 'get' || method === 'has') {
      const c = call as TsMorphModule.ts.CallExpression;
      const key = c.arguments[0] ? text(c.arguments[0]) : '';
      reads.push({ expr: c, kind: method, key });
      // `const hit = m.get(k)`: the local's reads are the collection's.
      let up: Node = c;
      while (ts.isNonNullExpression(up.parent) || ts.isParenthesizedExpression(up.parent))
        up = up.parent;
      const d = up.parent;
      if (
        method === 'get' &&
        ts.isVariableDeclaration(d) &&
        d.initializer === up &&
        ts.isIdentifier(d.name)
      )
        hitLocals.set(d.name.text, { key, decl: d });
      continue;
    }
    // `m.size`, `m.keys()`, `[...m]`, `for (… of m)`, `m` handed on: what earlier calls stored.
    const shown = ts.isPropertyAccessExpression(p) && p.expression === id ? text(p) : name;
    return { node: id, what: `reads \`${shown}\`, what earlier calls stored, from` };
  }
  for (const [local, { key, decl }] of hitLocals) {
    walk(fn, (n) => {
      if (ts.isIdentifier(n) && n.text === local && n.parent !== decl) {
        const p = n.parent;
        const assigned =
          ts.isBinaryExpression(p) &&
          p.left === n &&
          p.operatorToken.kind === ts.SyntaxKind.EqualsToken;
        const isName = ts.isPropertyAccessExpression(p) && p.name === n;
        if (!assigned && !isName) reads.push({ expr: n, kind: 'get', key, local });
      }
    });
  }

  /** Is `e` the stored value read back (`m.get(k)`, a local holding it) under key `key`? */
  const isStoredValue = (e: Node, key: string): boolean => {
    e = strip(ts, e);
    if (ts.isIdentifier(e)) return hitLocals.get(e.text)?.key === key;
    return (
      ts.isCallExpression(e) &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.expression.name.text === 'get' &&
      ts.isIdentifier(strip(ts, e.expression.expression)) &&
      (strip(ts, e.expression.expression) as TsMorphModule.ts.Identifier).text === name &&
      e.arguments[0] !== undefined &&
      text(e.arguments[0]) === key
    );
  };
  const sameFn = (n: Node, ref: Node) => functionOf(ts, n) === functionOf(ts, ref);
  /** Walks a region's nodes (not into nested functions). */
  const each = (region: readonly Node[], f: (n: Node) => void) => {
    for (const root of region)
      walk(root, (n) => {
        f(n);
        return !isFunctionLike(ts, n);
      });
  };

  interface Guard {
    read: Read;
    hit: Node[];
    miss: Node[];
    /** The miss side is a value (`m.get(k) ?? …`), not statements. */
    missValue?: Node;
  }
  const guards: Guard[] = [];
  const presence = (r: Read): MemoBreach => ({
    node: r.expr,
    what:
      r.kind === 'has'
        ? `decides a value by whether an earlier call stored the key (\`${text(r.expr)}\`) in`
        : `decides a value by whether an earlier call stored the key (\`${text(r.expr)}\`, missing there) in`,
  });
  for (const r of reads) {
    let node: Node = r.expr;
    let hitWhenTrue = true;
    let transformed = false;
    let mixed = false;
    for (;;) {
      const p = node.parent;
      if (
        ts.isParenthesizedExpression(p) ||
        ts.isNonNullExpression(p) ||
        ts.isAsExpression(p) ||
        ts.isTypeAssertionExpression(p) ||
        ts.isSatisfiesExpression(p)
      ) {
        node = p;
        continue;
      }
      if (ts.isPrefixUnaryExpression(p) && p.operator === ts.SyntaxKind.ExclamationToken) {
        hitWhenTrue = !hitWhenTrue;
        transformed = true;
        node = p;
        continue;
      }
      if (ts.isBinaryExpression(p)) {
        const op = p.operatorToken.kind;
        const other = p.left === node ? p.right : p.left;
        const nullish =
          other.kind === ts.SyntaxKind.NullKeyword ||
          (ts.isIdentifier(other) && other.text === 'undefined');
        if (
          nullish &&
          (op === ts.SyntaxKind.EqualsEqualsEqualsToken || op === ts.SyntaxKind.EqualsEqualsToken)
        ) {
          hitWhenTrue = !hitWhenTrue;
          transformed = true;
          node = p;
          continue;
        }
        if (
          nullish &&
          (op === ts.SyntaxKind.ExclamationEqualsEqualsToken ||
            op === ts.SyntaxKind.ExclamationEqualsToken)
        ) {
          transformed = true;
          node = p;
          continue;
        }
        if (
          !transformed &&
          !mixed &&
          p.left === node &&
          (op === ts.SyntaxKind.QuestionQuestionToken || op === ts.SyntaxKind.BarBarToken) &&
          r.kind === 'get'
        ) {
          guards.push({ read: r, hit: [], miss: [], missValue: p.right });
          node = p;
          break;
        }
        if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) {
          mixed = true;
          node = p;
          continue;
        }
      }
      break;
    }
    if (guards.at(-1)?.read === r) continue;
    const p = node.parent;
    if (ts.isIfStatement(p) && p.expression === node) {
      const yes: Node[] = [p.thenStatement];
      const no: Node[] = p.elseStatement
        ? [p.elseStatement]
        : exits(ts, p.thenStatement)
          ? after(ts, p)
          : [];
      guards.push({ read: r, hit: hitWhenTrue ? yes : no, miss: hitWhenTrue ? no : yes });
      continue;
    }
    if (ts.isConditionalExpression(p) && p.condition === node) {
      guards.push({
        read: r,
        hit: [hitWhenTrue ? p.whenTrue : p.whenFalse],
        miss: [hitWhenTrue ? p.whenFalse : p.whenTrue],
        missValue: hitWhenTrue ? p.whenFalse : p.whenTrue,
      });
      continue;
    }
    // Not a condition: the stored value itself may be used (returned, handed on, read into);
    // anything else shows whether it was stored.
    if (r.kind === 'has' || transformed || mixed) return presence(r);
    if (
      (ts.isPropertyAccessExpression(p) ||
        ts.isElementAccessExpression(p) ||
        ts.isCallExpression(p)) &&
      p.questionDotToken
    )
      return presence(r);
  }

  // The writes: a value computed from a read of the collection (a counter), or from what the
  // caller passes beside the key (a registry).
  const deps = parameterDeps(ts, fn);
  const readLocals = new Set<string>();
  const isRead = (n: Node): boolean => {
    let found = false;
    walk(n, (c) => {
      if (found) return false;
      if (ts.isIdentifier(c) && (c.text === name || readLocals.has(c.text))) {
        const p = c.parent;
        if (!(ts.isPropertyAccessExpression(p) && p.name === c)) found = true;
      }
    });
    return found;
  };
  {
    const sources: [string, Node][] = [];
    walk(fn, (n) => {
      if (ts.isVariableDeclaration(n) && n.initializer)
        for (const x of bindingNames(ts, n.name)) sources.push([x, n.initializer]);
      else if (
        ts.isBinaryExpression(n) &&
        n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        n.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
        ts.isIdentifier(n.left)
      )
        sources.push([n.left.text, n.right]);
    });
    for (let changed = true; changed;) {
      changed = false;
      for (const [x, src] of sources)
        if (!readLocals.has(x) && isRead(src)) {
          readLocals.add(x);
          changed = true;
        }
    }
  }
  for (const w of writes) {
    for (const arg of w.call.arguments) {
      if (strip(ts, arg).getText() === name || !isRead(arg)) continue;
      // `let v = m.get(k); if (!v) { v = f(k); m.set(k, v); }`: the local holds the new value.
      const fromRead = [...namesIn(ts, arg)].filter((x) => readLocals.has(x) || x === name);
      const renewed = fromRead.every((x) =>
        guards.some(
          (g) =>
            g.read.local === x &&
            within(w.call, g.miss) &&
            g.miss.some((m) => {
              let yes = false;
              each([m], (n) => {
                if (
                  ts.isBinaryExpression(n) &&
                  n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
                  ts.isIdentifier(n.left) &&
                  n.left.text === x &&
                  !isRead(n.right)
                )
                  yes = true;
              });
              return yes;
            }),
        ),
      );
      if (!renewed)
        return {
          node: w.call,
          what: `stores a value computed from what it read from the same collection (\`${text(w.call)}\`: each call sees what earlier calls stored, a count, not a memo) in`,
        };
    }
    if (w.key && w.value) {
      const keyDeps = depsOf(ts, w.key, deps);
      const extra = [...depsOf(ts, w.value, deps)].filter((d) => !keyDeps.has(d));
      if (extra.length > 0)
        return {
          node: w.call,
          what: `stores a value computed from ${extra.map((d) => `\`${d}\``).join(', ')}, which its key \`${text(w.key)}\` does not determine (\`${text(w.call)}\`: what later calls read is whichever caller stored it), in`,
        };
    }
  }

  // The guards: a hit hands back the stored value (or nothing), a miss stores it.
  for (const g of guards) {
    const key = g.read.key;
    const where = g.read.expr;
    const missWrites = writes.filter(
      (w) =>
        (within(w.call, g.miss) || (g.missValue && within(w.call, [g.missValue]))) &&
        (!w.key || text(w.key) === key),
    );
    const missing = g.missValue ? [g.missValue] : g.miss;
    if (missing.length > 0 && missWrites.length === 0)
      return {
        node: where,
        what: `on a miss of \`${text(where)}\` neither stores the key nor returns what is stored (what it returns depends on whether an earlier call stored it) in`,
      };
    let bad: Node | undefined;
    each(g.hit, (n) => {
      if (bad) return;
      if (!sameFn(n, where) && n !== g.hit[0]) return;
      if (ts.isReturnStatement(n) && n.expression && !isStoredValue(n.expression, key)) bad = n;
      else if (ts.isThrowStatement(n)) bad = n;
      else if (
        ts.isBinaryExpression(n) &&
        n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        n.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
        !isStoredValue(n.right, key)
      )
        bad = n;
      else if (
        (ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
        (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)
      )
        bad = n;
    });
    if (!bad && g.missValue === undefined)
      each(g.miss, (n) => {
        if (bad || !sameFn(n, where)) return;
        if (
          ts.isReturnStatement(n) &&
          n.expression &&
          !isStoredValue(n.expression, key) &&
          !missWrites.some((w) => w.value && text(w.value) === text(strip(ts, n.expression!)))
        )
          bad = n;
      });
    if (!bad && g.hit.length === 1 && g.missValue && !isStoredValue(g.hit[0]!, key)) bad = g.hit[0];
    if (bad) {
      const shown =
        ts.isReturnStatement(bad) && bad.expression
          ? `returns \`${text(bad.expression)}\``
          : ts.isThrowStatement(bad)
            ? 'throws'
            : `does \`${text(bad)}\``;
      return {
        node: bad,
        what: `${shown.length > 70 ? shown.slice(0, 67) + '…`' : shown} rather than the stored value, decided by whether an earlier call stored the key (\`${text(where)}\`) in`,
      };
    }
  }
  return undefined;
}
