// The classes whose instances Cellar can store and give back as instances: the exported classes
// of the project's own modules (a notebook's setup.ts and shared.ts, any local .ts/.js file),
// each under a stable id, `<module path relative to the project>#<export name>`.
//
// Who registers: the pipeline loader's esbuild bundle appends one call to every local module that
// declares a class (runtime/load/bundle.ts), so the module's exports are registered as it finishes
// evaluating, in every thread that loads the pipeline. Hand-written pipelines loaded another way
// (plain .js, CELLAR_LOADER=tsx, tests) call `registerClass` themselves.
//
// How an instance is rebuilt: Object.setPrototypeOf(fields, Class.prototype), the constructor
// never called. The stored fields are the state the constructor (or a static factory) already
// produced; calling it again would need its original arguments, could re-do the work it did
// (training, I/O) and would throw where it validates input. Python's pickle does the same
// (`object.__new__` + `__dict__`, no `__init__`). So a class whose state is not its own
// enumerable fields cannot come back this way and is refused up front (`classProblem`): private
// `#names` (an object made without the constructor lacks them: `this.#x` throws), accessor or
// hidden own properties, built-in bases (Map, Array, Error: their internal slots are not fields).
// See docs/design/classes.md.

/** A class Cellar can rebuild instances of: registered by id. */
type Class = abstract new (...args: never[]) => object;

const byId = new Map<string, Class>();
const idOf = new WeakMap<object, string>();

/**
 * Registers `cls` under `id` (default: its name), so that its instances stored by a task come
 * back as instances in the tasks that read them. The first id a class gets is the one recorded
 * with stored values; a later id (a re-export) only adds a way to find it. Compiled notebooks and
 * pipelines loaded by `cellar run` register the project's exported classes by themselves; call
 * this for a class of a hand-written pipeline loaded otherwise.
 */
export function registerClass(cls: Class, id: string = cls.name): void {
  byId.set(id, cls);
  if (!idOf.has(cls)) idOf.set(cls, id);
}

/**
 * Registers every class among a module's exports, as `<moduleId>#<export name>`. Called by the
 * code the pipeline bundle appends to each local module that declares a class (bundle.ts), with
 * the module's path relative to the project as `moduleId` and its own namespace object.
 */
export function registerModuleClasses(moduleId: string, exports: Record<string, unknown>): void {
  for (const name of Object.keys(exports)) {
    const value = exports[name];
    if (isClass(value)) registerClass(value, `${moduleId}#${name}`);
  }
}

/**
 * A class, not a plain function: its `prototype` is non-writable (for functions and generator
 * functions it is writable; arrow functions and methods have none). One property read per export.
 */
function isClass(value: unknown): value is Class {
  return (
    typeof value === 'function' &&
    Object.getOwnPropertyDescriptor(value, 'prototype')?.writable === false
  );
}

/** The id `ctor` was registered under, or undefined. */
export function classIdOf(ctor: unknown): string | undefined {
  return ctor && typeof ctor === 'function' ? idOf.get(ctor) : undefined;
}

/** The class registered under `id`, or undefined. */
export function classById(id: string): Class | undefined {
  return byId.get(id);
}

/** The class name in an id (`generated/nb/setup.ts#Centroids` → `Centroids`). */
export const classNameOf = (id: string): string => id.slice(id.lastIndexOf('#') + 1);

// `this.#x`, `obj.#x`, `#x in obj`: uses of a private name. A private method counts too: called
// on an object the constructor did not make, it throws ("Receiver must be an instance of class").
const PRIVATE_USE = /\.\s*#[A-Za-z_$]|#[A-Za-z_$][\w$]*\s+in\s/;
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
const problems = new WeakMap<object, string | undefined>();

/**
 * Why an instance of a registered class cannot be rebuilt from its own fields, or undefined when
 * it can. Looks at the class and its bases (their source, once per class) and at the instance's
 * own properties (accessors, non-enumerable or symbol keys would be lost).
 */
export function classProblem(obj: object): string | undefined {
  const ctor = (Object.getPrototypeOf(obj) as { constructor?: unknown } | null)?.constructor;
  if (typeof ctor === 'function') {
    if (!problems.has(ctor)) problems.set(ctor, classChainProblem(ctor));
    const p = problems.get(ctor);
    if (p) return p;
  }
  const names = Object.getOwnPropertyNames(obj);
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(obj, name)!;
    if (d.get || d.set)
      return `its field \`${name}\` is a getter/setter defined on the instance, whose state lives elsewhere`;
    if (!d.enumerable) return `its field \`${name}\` is not enumerable, so it would not be stored`;
  }
  if (Object.getOwnPropertySymbols(obj).length > 0)
    return 'it has fields keyed by a Symbol, which are not stored';
  return undefined;
}

function classChainProblem(ctor: Function): string | undefined {
  for (let c: unknown = ctor; typeof c === 'function' && c !== Function.prototype;) {
    const source = Function.prototype.toString.call(c);
    if (NATIVE.test(source))
      return `it extends the built-in ${(c as Function).name || 'class'}, whose internal state is not fields`;
    if (PRIVATE_USE.test(source))
      return `${c === ctor ? 'it' : `its base class ${(c as Function).name}`} uses private \`#\` members, which an instance rebuilt without its constructor does not have`;
    c = Object.getPrototypeOf(c);
  }
  return undefined;
}
