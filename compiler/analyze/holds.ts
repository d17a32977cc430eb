// What class instances a top-level value evidently holds, read from the syntax of its declaration
// (no types: the analyser parses without lib files or package types, see cell.ts). The link stage
// keeps the names imported from a package and refuses an output holding one that no
// `registerModelFormat` in setup names (plan/package-classes.ts, docs/design/classes.md).
//
// Followed: the containers whose elements are stored as values (arrays, tuples, Map values and
// keys, Set, Promise — an output is awaited —, Record values, plain object properties, unions).
// Not followed: any other generic (`ReturnType<X['toJSON']>` holds no X), function types, and the
// type of a call's result (`X.load(json)` without an annotation): those fall to the store-time
// refusal. Pure: no `node:` imports.
import type * as TsMorphModule from 'ts-morph';

type TS = typeof TsMorphModule.ts;
type Node = TsMorphModule.ts.Node;

/** Generics whose type arguments are stored with the value (all of them: a Map's keys too). */
const CONTAINERS = new Set([
  'Array',
  'ReadonlyArray',
  'Map',
  'ReadonlyMap',
  'Set',
  'ReadonlySet',
  'Promise',
  'Awaited',
  'Record',
  'Partial',
  'Readonly',
]);

/** `X` or `ns.X` as written (an identifier or a one-level qualified name), else undefined. */
export function className(ts: TS, name: Node): string | undefined {
  if (ts.isIdentifier(name)) return name.text;
  if (ts.isQualifiedName(name) && ts.isIdentifier(name.left))
    return `${name.left.text}.${name.right.text}`;
  if (ts.isPropertyAccessExpression(name) && ts.isIdentifier(name.expression))
    return `${name.expression.text}.${name.name.text}`;
  return undefined;
}

/**
 * Class names a declaration's value holds, from its type annotation and initializer, sorted.
 * Bounded walks with an explicit stack (a 5,000-element array literal is ordinary data).
 */
export function heldClasses(
  ts: TS,
  type: TsMorphModule.ts.TypeNode | undefined,
  init: TsMorphModule.ts.Expression | undefined,
): string[] {
  const out = new Set<string>();
  const types: Node[] = type ? [type] : [];
  const values: Node[] = init ? [init] : [];
  while (values.length) {
    const e = values.pop()!;
    if (
      ts.isParenthesizedExpression(e) ||
      ts.isAwaitExpression(e) ||
      ts.isNonNullExpression(e) ||
      ts.isSatisfiesExpression(e)
    )
      values.push(e.expression);
    else if (ts.isAsExpression(e)) types.push(e.type);
    else if (ts.isArrayLiteralExpression(e))
      for (const el of e.elements) values.push(ts.isSpreadElement(el) ? el.expression : el);
    else if (ts.isObjectLiteralExpression(e)) {
      for (const p of e.properties) if (ts.isPropertyAssignment(p)) values.push(p.initializer);
    } else if (ts.isConditionalExpression(e)) values.push(e.whenTrue, e.whenFalse);
    else if (ts.isNewExpression(e)) {
      const name = className(ts, e.expression);
      if (name && CONTAINERS.has(name)) types.push(...(e.typeArguments ?? []));
      else if (name) out.add(name);
    }
  }
  while (types.length) {
    const t = types.pop()!;
    if (ts.isTypeReferenceNode(t)) {
      const name = className(ts, t.typeName);
      if (!name) continue;
      if (CONTAINERS.has(name)) types.push(...(t.typeArguments ?? []));
      else out.add(name); // its own type arguments are not followed: `ReturnType<X[…]>` holds no X
    } else if (ts.isArrayTypeNode(t)) types.push(t.elementType);
    else if (ts.isTupleTypeNode(t))
      for (const el of t.elements) types.push(ts.isNamedTupleMember(el) ? el.type : el);
    else if (ts.isUnionTypeNode(t) || ts.isIntersectionTypeNode(t)) types.push(...t.types);
    else if (ts.isParenthesizedTypeNode(t) || ts.isTypeOperatorNode(t)) types.push(t.type);
    else if (ts.isTypeLiteralNode(t)) {
      for (const m of t.members)
        if ((ts.isPropertySignature(m) || ts.isIndexSignatureDeclaration(m)) && m.type)
          types.push(m.type);
    }
  }
  return [...out].sort();
}
