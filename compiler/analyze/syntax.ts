// Questions about one expression or statement that need nothing but the syntax tree: is this a
// literal (params defaults), does this expression have no effect (display-only statements), what
// import attributes does this import carry. Split out of analyze/cell.ts so each stays readable;
// bound to the TypeScript that ts-morph carries, which cell.ts loads lazily.
import type * as TsMorphModule from 'ts-morph';

type TS = typeof TsMorphModule.ts;
type SourceFile = TsMorphModule.ts.SourceFile;

/**
 * Methods of strings, numbers and arrays that return a new value and change nothing: a display
 * statement calls them to format what it shows. No callback-taking methods (`map`, `filter`):
 * a callback may do anything.
 */
const PURE_METHODS = new Set([
  'toFixed',
  'toPrecision',
  'toExponential',
  'toString',
  'toLocaleString',
  'toUpperCase',
  'toLowerCase',
  'join',
  'slice',
  'at',
  'includes',
  'indexOf',
  'lastIndexOf',
  'padStart',
  'padEnd',
  'trim',
  'trimStart',
  'trimEnd',
  'repeat',
  'split',
  'substring',
  'startsWith',
  'endsWith',
  'concat',
]);

/** Side-effect-free functions of built-in namespaces (`Math.round(x)`, `JSON.stringify(x)`). */
const PURE_STATICS: Record<string, ReadonlySet<string>> = {
  Math: new Set([
    'abs',
    'round',
    'floor',
    'ceil',
    'trunc',
    'min',
    'max',
    'sqrt',
    'pow',
    'log',
    'log10',
    'log2',
    'exp',
    'sign',
  ]),
  JSON: new Set(['stringify']),
  Object: new Set(['keys', 'values', 'entries']),
  Number: new Set(['isFinite', 'isInteger', 'isNaN']),
  Array: new Set(['isArray']),
};

/**
 * `expr` seen through what only the type checker reads: parentheses, `x as T`, `<T>x`,
 * `x satisfies T` and `x!` (`(cfg as Config)!` is `cfg`). The one place the analyzers unwrap an
 * expression; a caller that also looks through `await` or a property access loops around it.
 */
export function unwrapExpression<E extends TsMorphModule.ts.Node>(
  ts: TS,
  expr: E,
): E | TsMorphModule.ts.Expression {
  let e: E | TsMorphModule.ts.Expression = expr;
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isSatisfiesExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isTypeAssertionExpression(e)
  )
    e = e.expression;
  return e;
}

/** How deep isInert looks before it keeps a statement (see isInert). */
const MAX_INERT_DEPTH = 200;

export function syntaxHelpers(ts: TS) {
  const K = ts.SyntaxKind;

  /** A literal initializer as JSON, or undefined when it is not a literal. */
  function literalValue(
    e: TsMorphModule.ts.Expression,
  ): { ok: true; value: unknown } | { ok: false } {
    e = unwrapExpression(ts, e);
    if (ts.isNumericLiteral(e)) return { ok: true, value: Number(e.text) };
    if (
      ts.isPrefixUnaryExpression(e) &&
      e.operator === K.MinusToken &&
      ts.isNumericLiteral(e.operand)
    )
      return { ok: true, value: -Number(e.operand.text) };
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e))
      return { ok: true, value: e.text };
    if (e.kind === K.TrueKeyword) return { ok: true, value: true };
    if (e.kind === K.FalseKeyword) return { ok: true, value: false };
    if (e.kind === K.NullKeyword) return { ok: true, value: null };
    if (ts.isArrayLiteralExpression(e)) {
      const items: unknown[] = [];
      for (const el of e.elements) {
        const v = literalValue(el);
        if (!v.ok) return v;
        items.push(v.value);
      }
      return { ok: true, value: items };
    }
    if (ts.isObjectLiteralExpression(e)) {
      const obj: Record<string, unknown> = {};
      for (const prop of e.properties) {
        if (
          !ts.isPropertyAssignment(prop) ||
          !(ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))
        )
          return { ok: false };
        const v = literalValue(prop.initializer);
        if (!v.ok) return v;
        obj[prop.name.text] = v.value;
      }
      return { ok: true, value: obj };
    }
    return { ok: false };
  }

  /**
   * An expression with no effect when evaluated as a statement: names, literals, property reads,
   * templates and operators over those, and calls of methods that only compute a value from
   * their receiver (`.toFixed(3)`, `.join(', ')`, `Math.round(x)`: see PURE_METHODS) with inert
   * arguments. In a notebook such a statement at the end of a cell shows a value; in a module it
   * is dead code. Other calls, `new`, `await`, assignments, `++`, `delete`, spreads (they run
   * iterators) and functions are effects, or may be: anything unknown is kept. The method list is
   * a judgement on names, not types: a user's own `join` with side effects would be cut, which
   * is why it holds only names whose standard meaning is a value computation.
   */
  function isInert(e: TsMorphModule.ts.Expression, depth = 0): boolean {
    // Deeper than any display statement people write (`a + b + … ` over 200 terms): kept, which
    // is always safe, and the call stack never depends on the expression's depth.
    if (depth > MAX_INERT_DEPTH) return false;
    const isInert = (x: TsMorphModule.ts.Expression) => isInertAt(x, depth + 1);
    e = unwrapExpression(ts, e);
    if (
      ts.isIdentifier(e) ||
      ts.isStringLiteral(e) ||
      ts.isNumericLiteral(e) ||
      ts.isBigIntLiteral(e) ||
      ts.isNoSubstitutionTemplateLiteral(e) ||
      ts.isRegularExpressionLiteral(e)
    )
      return true;
    if (e.kind === K.TrueKeyword || e.kind === K.FalseKeyword || e.kind === K.NullKeyword)
      return true;
    if (ts.isTemplateExpression(e))
      return e.templateSpans.every((span) => isInert(span.expression));
    if (ts.isPropertyAccessExpression(e)) return isInert(e.expression);
    if (ts.isElementAccessExpression(e))
      return isInert(e.expression) && isInert(e.argumentExpression);
    if (ts.isArrayLiteralExpression(e))
      return e.elements.every(
        (x) => !ts.isSpreadElement(x) && (ts.isOmittedExpression(x) || isInert(x)),
      );
    if (ts.isObjectLiteralExpression(e)) {
      return e.properties.every(
        (p) =>
          (ts.isPropertyAssignment(p) &&
            !ts.isComputedPropertyName(p.name) &&
            isInert(p.initializer)) ||
          (ts.isShorthandPropertyAssignment(p) && !p.objectAssignmentInitializer),
      );
    }
    if (ts.isPrefixUnaryExpression(e))
      return (
        e.operator !== K.PlusPlusToken && e.operator !== K.MinusMinusToken && isInert(e.operand)
      );
    if (ts.isTypeOfExpression(e) || ts.isVoidExpression(e)) return isInert(e.expression);
    if (ts.isConditionalExpression(e))
      return isInert(e.condition) && isInert(e.whenTrue) && isInert(e.whenFalse);
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      return (
        !(op >= K.FirstAssignment && op <= K.LastAssignment) && isInert(e.left) && isInert(e.right)
      );
    }
    if (
      ts.isCallExpression(e) &&
      !e.questionDotToken &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.arguments.every((a) => !ts.isSpreadElement(a) && isInert(a))
    ) {
      const { expression: receiver, name } = e.expression;
      if (ts.isIdentifier(receiver) && Object.hasOwn(PURE_STATICS, receiver.text))
        return PURE_STATICS[receiver.text]!.has(name.text);
      return PURE_METHODS.has(name.text) && isInert(receiver);
    }
    return false;
  }

  const isInertAt = (e: TsMorphModule.ts.Expression, depth: number) => isInert(e, depth);

  /** `with { type: 'json' }` (or the older `assert { … }`) as the emitted modules write it. */
  function importAttributes(
    stmt: TsMorphModule.ts.ImportDeclaration,
    sf: SourceFile,
  ): string | undefined {
    const attrs = stmt.attributes;
    if (!attrs || attrs.elements.length === 0) return undefined;
    const parts = attrs.elements.map((el) => {
      const value = ts.isStringLiteral(el.value)
        ? `'${el.value.text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
        : el.value.getText(sf);
      return `${el.name.getText(sf)}: ${value}`;
    });
    return `with { ${parts.join(', ')} }`;
  }

  return {
    literalValue,
    isInert: (e: TsMorphModule.ts.Expression) => isInert(e),
    importAttributes,
  };
}
