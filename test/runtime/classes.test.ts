// Class instances across tasks (issue 8 item 6), at the codec level: an instance of a registered
// class (what the pipeline bundle registers for the project's exported classes) comes back as an
// instance of that class, nested or not, with shared references kept; a class whose state is not
// its own fields is refused before anything is written. The same through the real CLI, with
// classes declared in notebooks and local modules: test/acceptance/classes.test.ts.
import { describe, expect, it } from 'vitest';
import { getCodec, pickCodec } from '../../runtime/codecs/index.js';
import { registerClass, registerModuleClasses } from '../../runtime/codecs/classes.js';
import { registerModelFormat } from '../../runtime/codecs/model.js';

async function roundTrip(value: unknown, spec: Record<string, unknown> = {}, output = 'model') {
  const codec = pickCodec(value, spec, output);
  const { bytes, schema } = await codec.encode(value, spec);
  return { codec: codec.id, schema, back: await codec.decode(bytes, spec, schema) };
}

class Centroids {
  constructor(public points: number[][]) {}
  nearest(x: number[]): number {
    let best = 0;
    let bestD = Infinity;
    this.points.forEach((p, i) => {
      const d = p.reduce((s, v, j) => s + (v - x[j]!) ** 2, 0);
      if (d < bestD) [best, bestD] = [i, d];
    });
    return best;
  }
  static fit(points: number[][]): Centroids {
    return new Centroids(points.map((p) => [...p]));
  }
}
class Labelled {
  constructor(
    public label: string,
    public inner: Centroids,
  ) {}
  describe(): string {
    return `${this.label}:${this.inner.points.length}`;
  }
}
class Shape {
  constructor(public sides: number) {}
  get isTriangle(): boolean {
    return this.sides === 3;
  }
}
class Square extends Shape {
  constructor(public side: number) {
    super(4);
  }
  area(): number {
    return this.side ** 2;
  }
}
registerModuleClasses('notebooks/lib/geometry.ts', { Centroids, Labelled, Shape, Square, helper });
function helper() {}

describe('instances of registered classes', () => {
  it('come back as instances of their class, methods working, with no constructor call', async () => {
    const model = Centroids.fit([
      [0, 0],
      [10, 10],
    ]);
    const r = await roundTrip(model);
    expect(r.codec).toBe('structured');
    expect(r.schema).toEqual({
      kind: 'json',
      type: 'Centroids',
      classes: ['notebooks/lib/geometry.ts#Centroids'],
    });
    expect(r.back).toBeInstanceOf(Centroids);
    expect((r.back as Centroids).nearest([9, 8])).toBe(1);
    expect(r.back).toEqual(model);
  });

  it('nested: a Map of instances, an array of them, an instance holding another, shared references kept', async () => {
    const a = new Centroids([[1, 1]]);
    const value = {
      byRegion: new Map([
        ['north', a],
        ['south', new Centroids([[2, 2]])],
      ]),
      list: [a, new Labelled('x', a)],
    };
    const r = await roundTrip(value);
    expect(r.codec).toBe('structured');
    expect((r.schema as { classes: string[] }).classes).toEqual([
      'notebooks/lib/geometry.ts#Centroids',
      'notebooks/lib/geometry.ts#Labelled',
    ]);
    const back = r.back as typeof value;
    expect(back.byRegion.get('south')).toBeInstanceOf(Centroids);
    expect(back.byRegion.get('south')!.nearest([2, 2])).toBe(0);
    expect(back.list[1]).toBeInstanceOf(Labelled);
    expect((back.list[1] as Labelled).describe()).toBe('x:1');
    // One object stored once: the Map's, the array's and the Labelled's `a` are the same instance.
    expect(back.list[0]).toBe(back.byRegion.get('north'));
    expect((back.list[1] as Labelled).inner).toBe(back.list[0]);
  });

  it('subclasses keep their own class and their base class getters', async () => {
    const r = await roundTrip([new Square(3), new Shape(3)]);
    const [sq, tri] = r.back as [Square, Shape];
    expect(sq).toBeInstanceOf(Square);
    expect(sq).toBeInstanceOf(Shape);
    expect(sq.area()).toBe(9);
    expect(tri.isTriangle).toBe(true);
  });

  it('with a toJSON, still come back as instances (the fields are stored, not what toJSON returns)', async () => {
    class Scaled {
      constructor(public k: number) {}
      apply(x: number) {
        return x * this.k;
      }
      toJSON() {
        return { k: this.k };
      }
    }
    registerClass(Scaled, 'notebooks/scaled.ts#Scaled');
    const r = await roundTrip(new Scaled(3));
    expect(r.codec).toBe('structured');
    expect((r.back as Scaled).apply(2)).toBe(6);
  });

  it('with the model codec named (`//| output: model=model`), come back as instances', async () => {
    const r = await roundTrip(new Centroids([[0, 0]]), { codec: 'model' });
    expect(r.schema).toEqual({ kind: 'model', format: 'cellar/class' });
    expect(r.back).toBeInstanceOf(Centroids);
    expect((r.back as Centroids).nearest([1, 1])).toBe(0);
  });

  it('a registered model format still wins over the class fields', async () => {
    class Tree {
      constructor(public depth: number) {}
    }
    registerClass(Tree, 'notebooks/tree.ts#Tree');
    registerModelFormat({
      name: 'test/tree',
      matches: (v) => v instanceof Tree,
      save: (t: Tree) => ({ d: t.depth }),
      load: (s: { d: number }) => new Tree(s.d + 100),
    });
    const r = await roundTrip(new Tree(1));
    expect(r.codec).toBe('model');
    expect((r.back as Tree).depth).toBe(101);
  });

  it('an explicit json codec refuses them, naming the structured codec', () => {
    expect(() => getCodec('json').encode({ m: new Centroids([]) }, {})).toThrow(
      /json codec cannot hold a Centroids instance.*structured/,
    );
  });
});

describe('classes whose state is not their fields are refused before anything is written', () => {
  it('private #fields', () => {
    class Secret {
      #seed = 1;
      constructor(public n: number) {}
      next() {
        return this.#seed + this.n;
      }
    }
    registerClass(Secret, 'notebooks/secret.ts#Secret');
    expect(() => pickCodec({ rng: new Secret(2) }, {}, 'state')).toThrow(
      /holds a Secret instance at state\.rng, which cannot be stored with its class: it uses private `#` members.*plain public fields.*registerModelFormat/,
    );
  });

  it('private #fields in a base class', () => {
    class Base {
      #id = 1;
      id() {
        return this.#id;
      }
    }
    class Child extends Base {
      k = 2;
    }
    registerClass(Child, 'notebooks/child.ts#Child');
    expect(() => pickCodec(new Child(), {}, 'c')).toThrow(
      /its base class Base uses private `#` members/,
    );
  });

  it('state behind a getter defined on the instance', () => {
    class Hidden {
      constructor(value: number) {
        Object.defineProperty(this, 'value', { get: () => value, enumerable: true });
      }
    }
    registerClass(Hidden, 'notebooks/hidden.ts#Hidden');
    expect(() => pickCodec(new Hidden(3), {}, 'h')).toThrow(
      /Hidden instance, which cannot be stored with its class: its field `value` is a getter\/setter/,
    );
  });

  it('a built-in base (its internal slots are not fields)', () => {
    class Counts extends Map<string, number> {}
    registerClass(Counts, 'notebooks/counts.ts#Counts');
    expect(() => pickCodec(new Counts([['a', 1]]), {}, 'counts')).toThrow(
      /Counts instance.*extends the built-in Map/,
    );
  });

  it('a function held in a field (an arrow-function class field), named by its path', () => {
    class WithCallback {
      scale = 2;
      apply = (x: number) => x * this.scale;
    }
    registerClass(WithCallback, 'notebooks/cb.ts#WithCallback');
    expect(() => pickCodec(new WithCallback(), {}, 'w')).toThrow(
      /holds a function apply at w\.apply, which no codec can store.*method/,
    );
  });

  it('a class that is not registered (declared in a function, not exported, or from a package), even with a toJSON', () => {
    class Local {
      x = 1;
      toJSON() {
        return { x: this.x };
      }
    }
    expect(() => pickCodec(new Local(), {}, 'model')).toThrow(
      /holds a Local instance.*If Local is your own class, export it from the notebook's setup cell or a module of the project.*if it comes from a package, register a model format.*registerModelFormat/,
    );
  });

  it('a stored instance whose class is gone is a clear error on read, not a plain object', async () => {
    class Gone {
      v = 1;
    }
    registerClass(Gone, 'notebooks/gone.ts#Gone');
    const codec = getCodec('structured');
    const { bytes, schema } = await codec.encode(new Gone(), {});
    const renamed = { ...schema, classes: ['notebooks/gone.ts#Renamed'] } as typeof schema;
    // The class list is what the envelope was written with; a reader that cannot find one says so.
    const forged = await import('node:v8').then((v8) => {
      const env = v8.deserialize(bytes) as { classes: string[] };
      env.classes = ['notebooks/gone.ts#Renamed'];
      return new Uint8Array(v8.serialize(env));
    });
    expect(() => codec.decode(forged, {}, renamed)).toThrow(
      /holds Renamed instances \(class notebooks\/gone\.ts#Renamed\), and no loaded module exports that class/,
    );
  });
});
