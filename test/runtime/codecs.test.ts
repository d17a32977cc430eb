// Codecs: each value kind round-trips through bytes with its schema recorded; auto-selection by
// value; model objects come back as models.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RandomForestClassifier } from 'ml-random-forest';
import { getCodec, pickCodec, codecKey } from '../../runtime/codecs/index.js';
import { codecLimits } from '../../runtime/codecs/structured.js';
import { fieldOrder } from '../../runtime/codecs/table.js';

async function roundTrip(value: unknown, spec: Record<string, unknown> = {}) {
  const codec = pickCodec(value, spec);
  const { bytes, schema } = await codec.encode(value, spec);
  return { codec: codec.id, schema, back: await codec.decode(bytes, spec, schema) };
}

describe('codecs', () => {
  it("under auto, an array's named properties beside its elements come back (d3-dsv's csvParse(…).columns, Object.assign(list, { unit }))", async () => {
    const parsed = Object.assign(
      [
        { a: 1, b: 'x' },
        { a: 2, b: 'y' },
      ],
      { columns: ['a', 'b'] },
    );
    const rows = await roundTrip(parsed);
    expect(rows.codec).toBe('structured');
    expect(rows.back).toEqual(parsed);
    expect((rows.back as unknown as { columns: string[] }).columns).toEqual(['a', 'b']);
    const nums = await roundTrip(Object.assign([1, 2, 3], { unit: 'kg' }));
    expect(nums.codec).toBe('structured');
    expect((nums.back as unknown as { unit: string }).unit).toBe('kg');
    // A plain list and plain records keep their codecs.
    expect((await roundTrip([1, 2, 3])).codec).toBe('json');
    expect((await roundTrip([{ a: 1 }, { a: 2 }])).codec).toBe('table');
  });

  it("a named codec that would drop an array's named properties refuses, naming them and the way out", async () => {
    const parsed = Object.assign([{ a: 1 }], { columns: ['a'] });
    await expect(
      (async () => getCodec('table').encode(parsed, { codec: 'table' }))(),
    ).rejects.toThrow(/named properties beside its rows \(columns\).*auto picks 'structured'/);
    expect(() => getCodec('json').encode(parsed, { codec: 'json' })).toThrow(
      /cannot hold an array with named properties \(columns\)/,
    );
  });

  it('under auto, records whose key orders differ are stored as JSON and come back in their own order', async () => {
    const rows = [
      { a: 1, b: 'x' },
      { b: 'y', a: 2 },
    ];
    const { codec, back } = await roundTrip(rows);
    expect(codec).toBe('json');
    expect((back as object[]).map((r) => Object.keys(r).join(''))).toEqual(['ab', 'ba']);
    // Fields absent from some records, in column order otherwise: still a table.
    expect((await roundTrip([{ a: 1, b: 'x' }, { b: 'y' }, { a: 3 }])).codec).toBe('table');
    // Naming the table codec stores them anyway, in column order.
    const named = await roundTrip(rows, { codec: 'table' });
    expect((named.back as object[]).map((r) => Object.keys(r).join(''))).toEqual(['ab', 'ab']);
  });

  it('tables of records go to Arrow IPC and come back as records, typed per column', async () => {
    const rows = [
      { species: 'Adelie', mass: 3750, ok: true, when: new Date('2024-01-02T00:00:00Z') },
      { species: 'Gentoo', mass: null, ok: false, when: new Date('2024-01-03T00:00:00Z') },
    ];
    const { codec, schema, back } = await roundTrip(rows);
    expect(codec).toBe('table');
    expect(schema).toEqual({
      kind: 'table',
      rows: 2,
      shape: 'records',
      columns: [
        { name: 'species', type: 'string' },
        { name: 'mass', type: 'number' },
        { name: 'ok', type: 'boolean' },
        { name: 'when', type: 'date' },
      ],
    });
    expect(back).toEqual(rows);
  });

  it('a column named __proto__ (as JSON.parse makes one) is a column, in records and in columns', async () => {
    // A tester's finding: stored, then reported as a damaged file ("column '__proto__' missing
    // from the stored table"): assigning it by name set the prototype instead.
    const rows = JSON.parse('[{"__proto__": 1, "a": 2}, {"__proto__": 5, "a": 6}, {"a": 7}]');
    const { codec, back } = await roundTrip(rows, { codec: 'table' });
    expect(codec).toBe('table');
    expect(back).toEqual(rows);
    const list = back as Record<string, unknown>[];
    expect(list.map((r) => Object.hasOwn(r, '__proto__'))).toEqual([true, true, false]);
    expect(Object.getPrototypeOf(list[0])).toBe(Object.prototype);
    expect(list[0]!['__proto__']).toBe(1);
    const columns = JSON.parse('{"__proto__": [1, 2], "b": ["x", "y"]}');
    const auto = await roundTrip(columns);
    expect(auto.codec).toBe('table');
    expect(Object.hasOwn(auto.back as object, '__proto__')).toBe(true);
    expect((auto.back as Record<string, unknown>)['__proto__']).toEqual([1, 2]);
    expect(auto.back).toEqual(columns);
  });

  it('columnar tables keep typed arrays as typed arrays and plain arrays as plain arrays', async () => {
    const cols = {
      x: new Float64Array([1.5, 2.5, 3.5]),
      id: new Int32Array([1, 2, 3]),
      name: ['a', 'b', 'c'],
    };
    const { codec, schema, back } = await roundTrip(cols);
    expect(codec).toBe('table');
    expect(schema).toMatchObject({
      shape: 'columns',
      rows: 3,
      columns: [
        { name: 'x', type: 'Float64Array' },
        { name: 'id', type: 'Int32Array' },
        { name: 'name', type: 'string' },
      ],
    });
    const b = back as typeof cols;
    expect(b.x).toBeInstanceOf(Float64Array);
    expect(Array.from(b.x)).toEqual([1.5, 2.5, 3.5]);
    expect(b.id).toBeInstanceOf(Int32Array);
    expect(b.name).toEqual(['a', 'b', 'c']);
  });

  it('values that are not tables go to JSON; mixed-type columns are not tables', async () => {
    expect((await roundTrip([{ a: 1 }, { a: 'x' }])).codec).toBe('json');
    expect((await roundTrip([{ a: { nested: 1 } }])).codec).toBe('json');
    const r = await roundTrip({ accuracy: 0.93, labels: ['a', 'b'], n: 3 });
    expect(r).toMatchObject({
      codec: 'json',
      schema: { kind: 'json', type: 'object' },
      back: { accuracy: 0.93, labels: ['a', 'b'], n: 3 },
    });
    expect((await roundTrip(42)).back).toBe(42);
    expect((await roundTrip([])).codec).toBe('json');
  });

  it('strings are text and bytes are binary', async () => {
    expect(await roundTrip('héllo\nworld')).toMatchObject({
      codec: 'text',
      schema: { kind: 'text', chars: 11 },
      back: 'héllo\nworld',
    });
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const r = await roundTrip(bytes);
    expect(r.codec).toBe('binary');
    expect(Array.from(r.back as Uint8Array)).toEqual([0, 1, 2, 255]);
  });

  it('bytes, typed arrays and DataViews read back from a file own their whole buffer, as they left', async () => {
    // Read as the store reads (readFileSync): a small file's bytes are a slice of Buffer's
    // shared pool, and decoders make views into what they read.
    const dir = mkdtempSync(join(tmpdir(), 'cellar-codecs-'));
    try {
      const fromFile = async (value: unknown) => {
        const codec = pickCodec(value, {});
        const { bytes, schema } = await codec.encode(value, {});
        writeFileSync(join(dir, 'out'), bytes);
        return codec.decode(readFileSync(join(dir, 'out')), {}, schema);
      };
      const owns = (v: ArrayBufferView) =>
        v.byteOffset === 0 && v.buffer.byteLength === v.byteLength;
      const u8 = (await fromFile(new Uint8Array([1, 2, 3]))) as Uint8Array;
      expect(u8.constructor).toBe(Uint8Array);
      expect(owns(u8)).toBe(true);
      expect(String(u8)).toBe('1,2,3');
      const buf = (await fromFile(Buffer.from('hi'))) as Buffer;
      expect(Buffer.isBuffer(buf)).toBe(true);
      expect(buf.toString()).toBe('hi');
      expect(owns(buf)).toBe(true);
      const dv = new DataView(new ArrayBuffer(4));
      dv.setInt32(0, 7);
      const back = (await fromFile({ dv, f32: new Float32Array([1, 2, 3]) })) as {
        dv: DataView;
        f32: Float32Array;
      };
      expect(owns(back.dv)).toBe(true);
      expect(back.dv.getInt32(0)).toBe(7);
      expect(Array.from(new Float32Array(back.f32.buffer))).toEqual([1, 2, 3]);
      const table = (await fromFile({
        x: new Float64Array([1.5, 2.5]),
        n: ['a', 'b'],
      })) as { x: Float64Array };
      expect(table.x).toBeInstanceOf(Float64Array);
      expect(owns(table.x)).toBe(true);
      expect(Array.from(new Float64Array(table.x.buffer))).toEqual([1.5, 2.5]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('csv by name: quoting, numbers back as numbers', async () => {
    const rows = [
      { name: 'a, "quoted"', v: 1.5 },
      { name: 'line\nbreak', v: 2 },
    ];
    const r = await roundTrip(rows, { codec: 'csv' });
    expect(r.codec).toBe('csv');
    expect(r.back).toEqual(rows);
    expect(r.schema).toMatchObject({ kind: 'table', rows: 2 });
  });

  it('csv gives back each column as its type: digit strings stay strings, "" differs from null', async () => {
    const rows = [
      {
        code: '007',
        sci: '1e3',
        n: -0,
        ok: true,
        when: new Date('2024-03-10T02:30:00Z'),
        big: 2n ** 70n,
      },
      { code: '', sci: null, n: 3, ok: false, when: null, big: -1n },
    ];
    const r = await roundTrip(rows, { codec: 'csv' });
    expect(r.back).toEqual(rows);
    expect(Object.is((r.back as { n: number }[])[0]!.n, -0)).toBe(true);
    expect((r.back as { code: string }[])[1]!.code).toBe('');
    expect(r.schema).toMatchObject({
      columns: [
        { name: 'code', type: 'string' },
        { name: 'sci', type: 'string' },
        { name: 'n', type: 'number' },
        { name: 'ok', type: 'boolean' },
        { name: 'when', type: 'date' },
        { name: 'big', type: 'bigint' },
      ],
    });
    // The file stays plain CSV for other tools.
    const { bytes } = await getCodec('csv').encode(rows, { codec: 'csv' });
    expect(new TextDecoder().decode(bytes).split('\n')[0]).toBe('code,sci,n,ok,when,big');
  });

  it('csv keeps the shape: columns come back as columns, empty tables with their columns', async () => {
    const columns = { a: [1, 2], b: ['x', 'y'] };
    expect((await roundTrip(columns, { codec: 'csv' })).back).toEqual(columns);
    expect((await roundTrip({ a: [], b: [] }, { codec: 'csv' })).back).toEqual({ a: [], b: [] });
    expect((await roundTrip([], { codec: 'csv' })).back).toEqual([]);
  });

  it('csv refuses what it cannot give back, naming the column, the row and the codec that keeps it', async () => {
    const csv = getCodec('csv');
    const refused = async (value: unknown) => {
      try {
        await csv.encode(value, { codec: 'csv' });
      } catch (e) {
        return (e as Error).message;
      }
      return 'stored';
    };
    expect(await refused([{ a: 1 }, { a: 'x' }])).toMatch(
      /column "a" mixes number and string values \(row 1\).*table codec/,
    );
    expect(await refused([{ a: 1, b: 2 }, { a: 3 }])).toMatch(
      /column "b" has no value in row 1 \(absent or undefined\)/,
    );
    expect(await refused([{ a: { nested: 1 } }])).toMatch(
      /column "a" row 0 holds an object \(Object\)/,
    );
    expect(await refused([{ a: 'x\ud800' }])).toMatch(
      /column "a" row 0 holds a lone surrogate \(\\ud800\)/,
    );
    expect(await refused({ a: [1, 2], b: [1] })).toMatch(/equal-length columns; "b" has 1 values/);
    expect(await refused([1, 2])).toMatch(/flat records; row 0 is a number/);
  });

  it('text stores strings only; a lone surrogate is refused by text and table, kept by auto (json)', async () => {
    await expect(async () => getCodec('text').encode(5, { codec: 'text' })).rejects.toThrow(
      /the text codec stores strings; this is a number/,
    );
    await expect(async () => getCodec('text').encode('a\udc00', { codec: 'text' })).rejects.toThrow(
      /lone surrogate \(\\udc00\) at index 1.*codec 'json'/,
    );
    const odd = 'x\ud83d'; // half of an emoji, as a slice of a JS string can leave
    const r = await roundTrip(odd);
    expect(r.codec).toBe('json');
    expect(r.back).toBe(odd);
    await expect(async () => roundTrip([{ s: 'ok' }, { s: odd }])).rejects.toThrow(
      /column "s" row 1 holds a lone surrogate \(\\ud83d\) at index 1.*codec 'structured'/,
    );
    expect((await roundTrip([{ s: odd }], { codec: 'structured' })).back).toEqual([{ s: odd }]);
  });

  describe('a leading U+FEFF (byte-order mark) in a string is data: every codec gives it back', () => {
    const BOM = '\uFEFF';
    const strings = [`${BOM}abc`, BOM, `${BOM}${BOM}x`, `${BOM}id,name\n1,a\n`];

    it('text: the string comes back whole, and its bytes keep EF BB BF', async () => {
      for (const s of strings) {
        const { bytes, schema } = await getCodec('text').encode(s, { codec: 'text' });
        expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
        expect(await getCodec('text').decode(bytes, { codec: 'text' }, schema)).toBe(s);
        // Auto picks text for a string.
        const auto = await roundTrip(s);
        expect(auto.codec).toBe('text');
        expect(auto.back).toBe(s);
      }
    });

    it('json and structured: strings, keys and nested values come back whole', async () => {
      const nested = { [`${BOM}k`]: [`${BOM}a`, { s: BOM }], list: strings };
      for (const codec of ['json', 'structured'])
        for (const v of [...strings, nested])
          expect((await roundTrip(v, { codec })).back).toEqual(v);
      // A nested value under auto.
      expect((await roundTrip(nested)).back).toEqual(nested);
    });

    it('csv: values and column names come back whole, in records and in columns', async () => {
      const records = [
        { [`${BOM}id`]: `${BOM}1`, name: BOM },
        { [`${BOM}id`]: 'x', name: `${BOM}${BOM}` },
      ];
      const r = await roundTrip(records, { codec: 'csv' });
      expect(r.back).toEqual(records);
      expect(Object.keys((r.back as object[])[0]!)).toEqual([`${BOM}id`, 'name']);
      const cols = { [`${BOM}s`]: strings, n: [1, 2, 3, 4] };
      expect((await roundTrip(cols, { codec: 'csv' })).back).toEqual(cols);
    });

    it('table (Arrow): string cells come back whole, with nulls, missing fields and undefined', async () => {
      const rows = [
        { s: `${BOM}x`, t: 'plain' },
        { s: 'y', t: BOM },
        { s: null, t: `${BOM}é€😀` },
        { t: '' },
        { s: undefined, t: `${BOM}${BOM}` },
      ];
      const r = await roundTrip(rows);
      expect(r.codec).toBe('table');
      expect(r.back).toEqual(rows);
      expect((r.back as { s?: string }[])[0]!.s).toBe(`${BOM}x`);
      expect('s' in (r.back as object[])[3]!).toBe(false);
      expect(Object.hasOwn((r.back as object[])[4]!, 's')).toBe(true);
      const cols = { s: strings, n: new Float64Array([1, 2, 3, 4]) };
      const c = await roundTrip(cols, { codec: 'table' });
      expect(c.back).toEqual(cols);
      // Many rows (more than one value per chunk of work).
      const many = Array.from({ length: 2000 }, (_, i) => ({ s: i % 3 ? `${BOM}${i}` : `${i}` }));
      expect((await roundTrip(many)).back).toEqual(many);
    });

    it('table (Arrow): a column name with a leading U+FEFF is found, and not taken for the column without it', async () => {
      const rows = [
        { [`${BOM}id`]: 1, id: 'plain', [BOM]: true, '7': `${BOM}seven`, [`${BOM}s`]: 'a' },
        { [`${BOM}id`]: 2, id: 'other', [BOM]: false, '7': 'x' },
      ];
      const r = await roundTrip(rows, { codec: 'table' });
      expect(r.back).toEqual(rows);
      const cols = {
        id: ['a', 'b'],
        [`${BOM}id`]: [`${BOM}b`, 'c'],
        [`${BOM}n`]: new Int32Array([3, 4]),
      };
      expect((await roundTrip(cols, { codec: 'table' })).back).toEqual(cols);
    });

    it("table (Arrow): fieldOrder lists the file's fields in apache-arrow's order", async () => {
      const rows = [
        { b: 1, [`${BOM}a`]: 'x', '10': 'ten', '2': null, m: 1 },
        { b: 2, [`${BOM}a`]: 'y', '10': 'x', '2': 'two' },
      ];
      const { bytes, schema } = await getCodec('table').encode(rows, { codec: 'table' });
      if (schema.kind !== 'table') throw new Error('not a table');
      const arrow = await import('apache-arrow');
      const read = arrow.tableFromIPC(bytes).schema.fields.map((f) => f.name);
      // apache-arrow's own reading drops the U+FEFF of a name; its position is what finds it.
      expect(read).toEqual(fieldOrder(schema.columns).map((n) => n.replace(/^\uFEFF/, '')));
      expect(fieldOrder(schema.columns)).toContain(`${BOM}a`);
    });
  });

  it('model objects: a random forest comes back as a working model', async () => {
    const model = new RandomForestClassifier({ nEstimators: 5, seed: 3, noOOB: true } as never);
    const X = Array.from({ length: 40 }, (_, i) => [i % 7, (i * 3) % 11]);
    const y = X.map(([a, b]) => (a! + b! > 8 ? 1 : 0));
    model.train(X, y);
    const r = await roundTrip(model);
    expect(r.codec).toBe('model');
    expect(r.schema).toEqual({ kind: 'model', format: 'ml-random-forest/RandomForestClassifier' });
    expect(r.back).toBeInstanceOf(RandomForestClassifier);
    expect((r.back as RandomForestClassifier).predict(X)).toEqual(model.predict(X));
  });

  it('model objects through save/load functions in the output spec', async () => {
    class Scaler {
      constructor(readonly k: number) {}
      apply(x: number) {
        return x * this.k;
      }
    }
    const spec = {
      codec: 'model',
      save: (s: Scaler) => new TextEncoder().encode(String(s.k)),
      load: (b: Uint8Array) => new Scaler(Number(new TextDecoder().decode(b))),
    };
    const r = await roundTrip(new Scaler(3), spec);
    expect((r.back as Scaler).apply(2)).toBe(6);
  });

  it('codec id and version enter the key; auto names every codec it may pick', () => {
    expect(codecKey({ codec: 'csv' })).toBe(`csv@${getCodec('csv').version}`);
    expect(codecKey({})).toMatch(
      /^auto3\(binary@\d+,text@\d+,table@\d+,model@\d+,json@\d+,structured@\d+\)$/,
    );
    expect(() => codecKey({ codec: 'parquet-nope' })).toThrow(/unknown codec 'parquet-nope'/);
  });

  describe('values JSON cannot hold', () => {
    it('a Map, Set, Date, BigInt or typed array round-trips through the structured codec', async () => {
      const counts = new Map<string, number>([
        ['x', 2],
        ['y', 3],
      ]);
      const m = await roundTrip(counts);
      expect(m.codec).toBe('structured');
      expect(m.schema).toEqual({ kind: 'json', type: 'Map', length: 2 });
      expect(m.back).toBeInstanceOf(Map);
      expect((m.back as Map<string, number>).get('x')).toBe(2);

      const s = await roundTrip(new Set(['a', 'b']));
      expect(s.back).toEqual(new Set(['a', 'b']));
      const d = await roundTrip({ when: new Date('2024-05-01T12:00:00Z'), n: 1 });
      expect(d.codec).toBe('structured');
      expect((d.back as { when: Date }).when).toBeInstanceOf(Date);
      expect((d.back as { when: Date }).when.toISOString()).toBe('2024-05-01T12:00:00.000Z');
      // A Date alone (it has a toJSON, so it once went to the model codec and came back a string).
      const alone = await roundTrip(new Date('2024-05-01T12:00:00Z'));
      expect(alone.codec).toBe('structured');
      expect(alone.back).toEqual(new Date('2024-05-01T12:00:00Z'));
      const b = await roundTrip({ big: 12345678901234567890n });
      expect((b.back as { big: bigint }).big).toBe(12345678901234567890n);
      const t = await roundTrip({ weights: new Float32Array([0.5, 1.5]), tag: 'w' });
      expect(t.codec).toBe('structured');
      expect((t.back as { weights: Float32Array }).weights).toBeInstanceOf(Float32Array);
      expect(Array.from((t.back as { weights: Float32Array }).weights)).toEqual([0.5, 1.5]);
      // Nested inside plain data, and numbers JSON turns into null.
      const nested = await roundTrip({
        byRegion: new Map([['north', new Set([1, 2])]]),
        ratio: Number.NaN,
      });
      expect(nested.back).toEqual({
        byRegion: new Map([['north', new Set([1, 2])]]),
        ratio: Number.NaN,
      });
    });

    it('plain data still goes to JSON (readable files)', async () => {
      expect((await roundTrip({ a: [1, 2, { b: 'c' }], d: null })).codec).toBe('json');
    });

    it('an instance of a class Cellar does not know is refused by name, with the output and the ways out', () => {
      class Tokenizer {
        vocab = ['a'];
        encode(s: string) {
          return this.vocab.indexOf(s);
        }
      }
      expect(() => pickCodec(new Tokenizer(), {}, 'tok')).toThrow(
        /holds a Tokenizer instance.*export it from the notebook's setup cell.*registerModelFormat.*`\/\/\| output: tok=model`/,
      );
      // Nested: the path says where.
      expect(() => pickCodec({ parts: [1, new Tokenizer()] }, {}, 'bundle')).toThrow(
        /Tokenizer instance at bundle\.parts\[1\]/,
      );
      expect(() => pickCodec(new Map([['t', new Tokenizer()]]), {}, 'm')).toThrow(
        /Tokenizer instance at m\.get\("t"\)/,
      );
    });

    it('an object without a prototype (Object.create(null)) comes back without one, nested and shared too', async () => {
      const counts = Object.assign(Object.create(null) as object, { constructor: 2, apple: 3 });
      const m = await roundTrip(counts);
      expect(m.codec).toBe('structured');
      expect(Object.getPrototypeOf(m.back)).toBe(null);
      expect({ ...(m.back as object) }).toEqual({ constructor: 2, apple: 3 });
      // Nested in plain data beside a Map, and the same dictionary twice: still one object.
      const nested = await roundTrip({ byWord: counts, again: counts, tags: new Map([['a', 1]]) });
      const back = nested.back as { byWord: object; again: object; tags: Map<string, number> };
      expect(Object.getPrototypeOf(back.byWord)).toBe(null);
      expect(back.again).toBe(back.byWord);
      expect('toString' in back.byWord).toBe(false);
      expect(back.tags.get('a')).toBe(1);
    });

    it('an enumerable symbol-keyed property is refused at store time, naming the output and where it is', async () => {
      const tag = Symbol('source');
      expect(() => pickCodec({ rows: 2, [tag]: 'warehouse' }, {}, 'summary')).toThrow(
        /holds a property keyed by a symbol at summary\[Symbol\(source\)\].*Key it by a string/,
      );
      // Nested, in an array, and through the structured codec and the json codec named explicitly.
      const deep = { parts: [{ n: 1, [tag]: true }] };
      expect(() => pickCodec(deep, {}, 'p')).toThrow(/at p\.parts\[0\]\[Symbol\(source\)\]/);
      expect(() => getCodec('structured').encode(deep, {})).toThrow(/keyed by a symbol/);
      expect(() => getCodec('json').encode(deep, {})).toThrow(/keyed by a symbol/);
      // A non-enumerable one is a hidden tag, not data: the value is stored as before.
      const hidden = { n: 1 };
      Object.defineProperty(hidden, tag, { value: 'x', enumerable: false });
      expect((await roundTrip(hidden)).codec).toBe('json');
    });

    it('the json codec, named explicitly, refuses what it would change instead of writing {}', () => {
      expect(() => getCodec('json').encode(new Map([['x', 1]]), {})).toThrow(
        /json codec cannot hold Map.*structured/,
      );
      expect(() => getCodec('json').encode({ n: 1n }, {})).toThrow(/cannot hold BigInt/);
    });
  });
  it('the model codec refuses a class instance it cannot save by class name and the fixes, not a raw TypeError', async () => {
    class Centroids {
      constructor(readonly points: number[][]) {}
      nearest(x: number[]) {
        return this.points.findIndex((p) => p[0] === x[0]);
      }
    }
    const model = new Centroids([
      [0, 0],
      [5, 5],
    ]);
    await expect(async () => getCodec('model').encode(model, {})).rejects.toThrow(
      /no way to save a Centroids instance: register one with registerModelFormat.*export the class/,
    );
    await expect(async () => getCodec('model').encode({ a: 1 }, {})).rejects.toThrow(
      /no way to save plain data: /,
    );
  });

  describe('rows without a value: absent, undefined and null stay apart', () => {
    it('a record without a field comes back without it; undefined and null as themselves', async () => {
      const rows = [{ a: 1, b: 'x' }, { a: 2 }, { a: 3, b: undefined }, { a: 4, b: null }];
      const r = await roundTrip(rows, { codec: 'table' });
      const back = r.back as Record<string, unknown>[];
      expect(back).toHaveLength(4);
      expect(back[0]).toEqual({ a: 1, b: 'x' });
      expect('b' in back[1]!).toBe(false);
      expect('b' in back[2]! && back[2]!.b === undefined).toBe(true);
      expect(back[3]!.b).toBeNull();
      expect(r.schema).toMatchObject({ columns: [{ name: 'a' }, { name: 'b', missing: true }] });
      // A column with every row holding a value (or null) carries no mask.
      expect((r.schema as { columns: object[] }).columns[0]).not.toHaveProperty('missing');
    });

    it('variant: undefined and holes in a column of a columns table come back undefined, not null', async () => {
      const sparse = [1, , 3] as (number | undefined)[]; // eslint-disable-line no-sparse-arrays
      const cols = { x: [1, undefined, null], y: sparse, z: new Float64Array([1, 2, 3]) };
      const back = (await roundTrip(cols, { codec: 'table' })).back as Record<string, unknown[]>;
      expect(back.x).toEqual([1, undefined, null]);
      expect(back.x![1]).toBeUndefined();
      expect(back.x![2]).toBeNull();
      expect(back.y![1]).toBeUndefined();
      expect(back.z).toBeInstanceOf(Float64Array);
    });
  });

  describe('empty tables (shared case bug13)', () => {
    it('an empty list of records, stored as a table, comes back an empty list', async () => {
      const bigOrders = [{ id: 1, region: 'north', amount: 5 }].filter((o) => o.amount > 100);
      const r = await roundTrip(bigOrders, { codec: 'table' });
      expect(r.codec).toBe('table');
      expect(r.schema).toEqual({ kind: 'table', rows: 0, shape: 'records', columns: [] });
      expect(r.back).toEqual([]);
    });

    it('empty columns keep their names, and typed empty columns keep their type', async () => {
      const bigColumns = { id: [] as number[], region: [] as string[], amount: [] as number[] };
      const r = await roundTrip(bigColumns, { codec: 'table' });
      expect(r.schema).toEqual({
        kind: 'table',
        rows: 0,
        shape: 'columns',
        columns: [
          { name: 'id', type: 'null' },
          { name: 'region', type: 'null' },
          { name: 'amount', type: 'null' },
        ],
      });
      const back = r.back as typeof bigColumns;
      expect(Object.keys(back)).toEqual(['id', 'region', 'amount']);
      expect(Array.isArray(back.amount)).toBe(true);
      expect(back.amount.reduce((a, b) => a + b, 0)).toBe(0);
      // Variant: typed arrays say their type even with no rows; a column of only nulls keeps its rows.
      const typed = await roundTrip(
        { x: new Float64Array(0), n: new Int32Array(0) },
        { codec: 'table' },
      );
      expect(typed.schema).toMatchObject({
        rows: 0,
        columns: [
          { name: 'x', type: 'Float64Array' },
          { name: 'n', type: 'Int32Array' },
        ],
      });
      expect((typed.back as { x: Float64Array }).x).toBeInstanceOf(Float64Array);
      expect((typed.back as { n: Int32Array }).n).toBeInstanceOf(Int32Array);
      const nulls = await roundTrip([{ a: null }, { a: null }], { codec: 'table' });
      expect(nulls.back).toEqual([{ a: null }, { a: null }]);
    });
  });

  describe('values too large for one JSON string (shared case bug18)', () => {
    // The real case is 3.5 M strings (~560 MB), past V8's string limit. The same path is crossed
    // here with a lowered limit, so the test costs kilobytes.
    const lines = Array.from(
      { length: 2000 },
      (_, i) => `line ${String(i).padStart(8, '0')} ` + 'x'.repeat(20),
    );
    let saved: number;
    beforeEach(() => {
      saved = codecLimits.jsonChars;
      codecLimits.jsonChars = 10_000;
    });
    afterEach(() => {
      codecLimits.jsonChars = saved;
    });

    it('a large array of strings is stored without building one JSON string, and comes back whole', async () => {
      const r = await roundTrip(lines);
      expect(r.codec).toBe('structured');
      expect(r.schema).toEqual({ kind: 'json', type: 'array', length: 2000 });
      expect(r.back).toEqual(lines);
      // Under the limit, the same kind of value is still readable JSON.
      expect((await roundTrip(lines.slice(0, 10))).codec).toBe('json');
    });

    it('the json codec named explicitly refuses a value past the limit, naming the way out', async () => {
      // Variant: objects of long keys count too, not just strings in arrays.
      const wide = Object.fromEntries(
        Array.from({ length: 500 }, (_, i) => [`key_${i}_${'k'.repeat(20)}`, i]),
      );
      expect(pickCodec(wide, {}).id).toBe('structured');
      expect(() => getCodec('json').encode(lines, {})).toThrow(
        /json codec cannot hold a value too large for one JSON text.*limit is 10000.*leave the codec out \(auto picks 'structured'\)/,
      );
    });
  });

  describe('a string column past what one Arrow Utf8 column holds (2 GiB of UTF-8)', () => {
    // The real case, 2,300 rows of a 1 M-character string, came back with the rows past 2 GiB
    // empty (the builder's 32-bit offsets wrapped), and apache-arrow reads no string back from a
    // LargeUtf8 column that large. Crossed here with a lowered limit.
    // Such text is past one JSON string too: both limits lowered, as the real value crosses both.
    const saved = { ...codecLimits };
    beforeEach(() => {
      codecLimits.arrowStringBytes = 100;
      codecLimits.jsonChars = 100;
    });
    afterEach(() => {
      Object.assign(codecLimits, saved);
    });
    const rows = Array.from({ length: 40 }, (_, i) => ({
      id: i,
      s: `é-${i}`,
      t: i % 2 ? 'a' : 'b',
    }));

    it('goes to the structured codec under auto and comes back whole', async () => {
      const r = await roundTrip(rows);
      expect(r.codec).toBe('structured');
      expect(r.back).toEqual(rows);
      // Under the Arrow limit (column t alone: 40 bytes), the same kind of value is still a table.
      codecLimits.jsonChars = saved.jsonChars;
      expect((await roundTrip(rows.map(({ id, t }) => ({ id, t })))).codec).toBe('table');
    });

    it('the table codec named explicitly refuses it, naming the column and the way out', async () => {
      await expect(getCodec('table').encode(rows, {})).rejects.toThrow(
        /column 's' holds more text than one Arrow string column can \(100 bytes of UTF-8\); leave the codec out \(auto picks 'structured'/,
      );
    });
  });
});
