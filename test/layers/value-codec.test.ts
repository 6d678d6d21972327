import { Encoder, Tag, encode as cborEncode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { MAX_NESTING_DEPTH } from '../../src/layers/limits.js';
import { ValueCodec } from '../../src/layers/value-codec.js';
import { typedArrayClasses, type TypedArrayName } from '../../src/layers/value-kind.js';
import { strictDeepEqual } from '../helpers/supported-values.js';
import { Mesh, Point } from '../helpers/user-types.js';


function registryWithPoint(): TypeRegistry {
  const types = new TypeRegistry();
  types.register({ name: 'geo.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: number[]) => new Point(x!, y!) });
  return types;
}

const codec = new ValueCodec(new TypeRegistry());
const roundTrip = (value: unknown, using: ValueCodec = codec): unknown => using.decode(using.encode(value));
const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/** Hex of the bytes that a binary value shows (a view's own bytes only). */
function bytesHex(value: unknown): string {
  const view = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array((value as ArrayBufferView).buffer, (value as ArrayBufferView).byteOffset, (value as ArrayBufferView).byteLength);
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/** A typed array of `name` with three elements, one element into a larger, junk-filled buffer. */
function typedArrayAtOffset(name: TypedArrayName): ArrayBufferView {
  const Class = typedArrayClasses[name];
  const size = Class.BYTES_PER_ELEMENT;
  const backing = new Uint8Array(size * 5).fill(0xa5);
  for (let i = 0; i < size * 3; i++) backing[size + i] = i * 7 + 1;
  return new Class(backing.buffer, size, 3);
}

function expectCode(action: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a throw').toMatchObject({ name: 'MemostrataError', code });
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
}

describe('ValueCodec round-trips every kind of value to the same class', () => {
  const cases: [string, unknown][] = [
    ['null', null],
    ['undefined', undefined],
    ['booleans', [true, false]],
    ['integers', [0, 1, -1, 23, 24, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, -(2 ** 32), -(2 ** 32) - 1, 2 ** 53, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]],
    ['floats', [0.1, -2.5, 1e300, Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, 1 / 3]],
    ['non-finite numbers', [NaN, Infinity, -Infinity]],
    ['strings', ['', 'a', 'ünïcødé', '\u{1F600}', 'x'.repeat(70_000)]],
    ['strings with lone surrogates', ['\uD800', 'a\uDC00b', '\uDC00\uD800']],
    ['arrays', [[], [1, [2, [3]]], [undefined, null]]],
    ['plain objects', { a: 1, b: { c: [1, 'x'] }, constructor: 'c', toString: 't', hasOwnProperty: 'h', '': 'empty', '10': 'ten', '1': 'one' }],
    ['an object with a lone-surrogate key', { ['k\uD800']: 1, plain: 2 }],
    ['Map with string keys', new Map([['a', 1], ['b', 2]])],
    ['Map with keys of any kind', new Map<unknown, unknown>([[1, 'n'], ['1', 's'], [1n, 'b'], [{ k: 1 }, 'o'], [[1], 'a'], [null, 'z'], [new Date(5), 'd']])],
    ['empty Map', new Map()],
    ['Set', new Set([1, '1', 1n, { a: 1 }, [2], null, undefined])],
    ['nested Maps and Sets', new Map([['s', new Set([new Map([['k', new Set([1])]])])]])],
    ['Dates', [new Date(0), new Date(-1), new Date(1_700_000_000_123), new Date(8.64e15), new Date(-8.64e15), new Date(NaN)]],
    ['Buffer', Buffer.from('hello')],
    ['empty Buffer', Buffer.alloc(0)],
    ['Buffer slice of a larger buffer', Buffer.from('0123456789').subarray(3, 6)],
    ['DataView at an offset', new DataView(new Uint8Array([9, 1, 2, 3, 9]).buffer, 1, 3)],
    ['ArrayBuffer', new Uint8Array([1, 2, 3]).buffer],
    ['empty ArrayBuffer', new ArrayBuffer(0)],
    ...(Object.keys(typedArrayClasses) as TypedArrayName[]).map((name): [string, unknown] => [`${name} at an offset of a larger buffer`, typedArrayAtOffset(name)]),
    ...(Object.keys(typedArrayClasses) as TypedArrayName[]).map((name): [string, unknown] => [`empty ${name}`, new typedArrayClasses[name](0)]),
    ['BigInt64Array with extremes', new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
    ['BigUint64Array with extremes', new BigUint64Array([0n, 2n ** 64n - 1n])],
    ['Float64Array with -0, NaN and Infinity', new Float64Array([-0, NaN, Infinity, -Infinity, 5e-324])],
    ['Uint8ClampedArray', new Uint8ClampedArray([0, 128, 255])],
  ];

  it.each(cases)('%s', (_name, value) => {
    const decoded = roundTrip(value);
    expect(strictDeepEqual(decoded, value)).toBe(true);
    if (typeof value === 'object' && value !== null && !(Object.getPrototypeOf(value) === null)) {
      expect(Object.getPrototypeOf(decoded)).toBe(Object.getPrototypeOf(value));
    }
  });

  it('keeps only the bytes of a view, not its whole backing buffer', () => {
    for (const name of Object.keys(typedArrayClasses) as TypedArrayName[]) {
      const view = typedArrayAtOffset(name);
      const decoded = roundTrip(view) as ArrayBufferView;
      expect(decoded.constructor).toBe(typedArrayClasses[name]);
      expect(decoded.byteLength).toBe(view.byteLength);
      expect([...new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength)]).toEqual([...new Uint8Array(view.buffer, view.byteOffset, view.byteLength)]);
    }
  });

  it('brings a null-prototype object back as a plain object', () => {
    const value = Object.assign(Object.create(null) as object, { a: 1, b: [2] });
    const decoded = roundTrip(value);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded).toEqual({ a: 1, b: [2] });
  });

  it('brings array holes back as undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    const decoded = roundTrip([1, , 3]) as unknown[];
    expect(decoded).toHaveLength(3);
    expect(1 in decoded).toBe(true);
    expect(decoded[1]).toBeUndefined();
  });

  it('keeps { a: undefined } apart from {}', () => {
    expect(Object.keys(roundTrip({ a: undefined }) as object)).toEqual(['a']);
    expect(Object.keys(roundTrip({}) as object)).toEqual([]);
  });

  it('brings bigints back as bigints, however small or large', () => {
    for (const value of [0n, 1n, -1n, 23n, 255n, 256n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n), -(2n ** 64n) - 1n, 2n ** 521n - 1n, -(3n ** 200n)]) {
      const decoded = roundTrip(value);
      expect(typeof decoded).toBe('bigint');
      expect(decoded).toBe(value);
    }
    expect(roundTrip([1, 1n, '1'])).toEqual([1, 1n, '1']);
  });
});

describe('ValueCodec writes the documented, language-neutral format', () => {
  // Stores outlive versions and are read from other languages: these bytes must not drift.
  it.each<[string, unknown, string]>([
    ['null', null, 'f6'],
    ['undefined', undefined, 'f7'],
    ['a small integer', 1, '01'],
    ['a float', 1.5, 'fb3ff8000000000000'],
    ['-0 under tag 41001', -0, 'd9a029 f6'],
    ['1n as a bignum (tag 2), not as the integer 1', 1n, 'c2 4101'],
    ['-1n as a negative bignum (tag 3)', -1n, 'c3 40'],
    ['a plain object as a map with text keys', { a: 1 }, 'a1 6161 01'],
    ['a Map under tag 259', new Map([['a', 1]]), 'd90103 a1 6161 01'],
    ['a Set under tag 258', new Set([1]), 'd90102 81 01'],
    ['a Date as epoch milliseconds under tag 41002', new Date(1000), 'd9a02a 1903e8'],
    ['a Uint8Array under tag 64', new Uint8Array([1, 2]), 'd840 420102'],
    ['a Float32Array under tag 85 (little-endian)', new Float32Array([1]), 'd855 440000803f'],
    ['a Buffer under tag 41003', Buffer.from([1]), 'd9a02b 4101'],
    ['a DataView under tag 41004', new DataView(new Uint8Array([1]).buffer), 'd9a02c 4101'],
    ['an ArrayBuffer under tag 41005', new Uint8Array([1]).buffer, 'd9a02d 4101'],
    ['a lone surrogate as UTF-16LE under tag 41007', '\uD800', 'd9a02f 4200d8'],
  ])('%s', (_name, value, expected) => {
    expect(Buffer.from(codec.encode(value)).toString('hex')).toBe(expected.replace(/\s+/g, ''));
  });

  it('writes a registered type as [name, plain value] under tag 41000', () => {
    const bytes = new ValueCodec(registryWithPoint()).encode(new Point(1, 2));
    expect(Buffer.from(bytes).toString('hex')).toBe('d9a028 82 69 67656f2e506f696e74 82 01 02'.replace(/\s+/g, ''));
  });
});

describe('ValueCodec keeps -0', () => {
  it('keeps -0 apart from 0, alone and nested', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    const decoded = roundTrip({ list: [0, -0], map: new Map([['z', -0]]), floats: new Float64Array([-0]) }) as {
      list: number[];
      map: Map<string, number>;
      floats: Float64Array;
    };
    expect(Object.is(decoded.list[0], 0)).toBe(true);
    expect(Object.is(decoded.list[1], -0)).toBe(true);
    expect(Object.is(decoded.map.get('z'), -0)).toBe(true);
    expect(Object.is(decoded.floats[0], -0)).toBe(true);
  });
});

describe('ValueCodec tells Maps and objects apart', () => {
  it('returns a Map with string keys as a Map and an object as a plain object', () => {
    const decoded = roundTrip({ object: { a: 1 }, map: new Map([['a', 1]]) }) as { object: unknown; map: unknown };
    expect(decoded.map).toBeInstanceOf(Map);
    expect((decoded.map as Map<string, number>).get('a')).toBe(1);
    expect(Object.getPrototypeOf(decoded.object)).toBe(Object.prototype);
    expect(decoded.object).toEqual({ a: 1 });
  });

  it('returns a plain object nested in a Map as a plain object', () => {
    const decoded = roundTrip(new Map([['inner', { a: new Map([['b', { c: 1 }]]) }]])) as Map<string, { a: Map<string, unknown> }>;
    const inner = decoded.get('inner')!;
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
    expect(inner.a).toBeInstanceOf(Map);
    expect(Object.getPrototypeOf(inner.a.get('b'))).toBe(Object.prototype);
  });
});

describe('ValueCodec never lets a "__proto__" key set a prototype', () => {
  it('round-trips an own "__proto__" property as an own property', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const decoded = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ polluted: true });
    expect((decoded as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('does not pollute from foreign bytes either', () => {
    const decoded = codec.decode(cborEncode(JSON.parse('{"__proto__": {"polluted": true}}'))) as object;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('ValueCodec returns values that share no memory with the bytes', () => {
  const binaries: [string, unknown][] = [
    ['Uint8Array', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
    ['Float64Array', new Float64Array([1.5, 2.5, 3.5, 4.5])],
    ['Int16Array', new Int16Array([1, -2, 3])],
    ['BigUint64Array', new BigUint64Array([1n, 2n])],
    ['Buffer', Buffer.from('abcdefgh')],
    ['DataView', new DataView(new Uint8Array([1, 2, 3, 4]).buffer)],
    ['ArrayBuffer', new Uint8Array([1, 2, 3, 4]).buffer],
  ];

  it.each(binaries)('%s, wherever the bytes sit in their buffer', (_name, value) => {
    const encoded = codec.encode(value);
    // Every alignment: an aligned typed array is where cbor-x would hand back a view of its input.
    for (let offset = 0; offset < 8; offset++) {
      const backing = new Uint8Array(offset + encoded.length + 3);
      backing.set(encoded, offset);
      const input = backing.subarray(offset, offset + encoded.length);
      const decoded = codec.decode(input);
      const before = bytesHex(value);
      backing.fill(0xee);
      expect(bytesHex(decoded), `offset ${offset}`).toBe(before);
      expect(strictDeepEqual(decoded, value)).toBe(true);
    }
  });

  it('leaves the input untouched (no properties added to it)', () => {
    const input = codec.encode({ a: new Float64Array([1]) });
    const copy = Buffer.from(input).toString('hex');
    codec.decode(input);
    expect(Object.prototype.hasOwnProperty.call(input, 'dataView')).toBe(false);
    expect(Buffer.from(input).toString('hex')).toBe(copy);
  });

  it('encodes into bytes that later encodes do not overwrite', () => {
    const first = codec.encode({ a: 'first' });
    const copy = Buffer.from(first).toString('hex');
    for (let i = 0; i < 1000; i++) codec.encode({ i, pad: 'x'.repeat(i) });
    expect(Buffer.from(first).toString('hex')).toBe(copy);
  });
});

describe('ValueCodec refuses what it cannot store, naming the path', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['a function deep in an object', () => codec.encode({ mesh: new Map([['k', 1]]), nodes: [1, { f: () => 1 }] }, 'result'), /result\.nodes\[1\]\.f: it is a function/],
    ['a function at the root', () => codec.encode(function named() {}), /^Cannot key or store value: it is a function \(named\)/],
    ['a symbol', () => codec.encode({ s: Symbol('x') }, 'args[0]'), /args\[0\]\.s: it is a symbol/],
    ['a symbol key', () => codec.encode({ [Symbol('k')]: 1 }), /value: it is an object with symbol keys/],
    ['an unregistered class instance', () => codec.encode({ mesh: new Mesh([]) }, 'result'), /result\.mesh: it is an instance of Mesh, which is not registered/],
    ['a Map subclass', () => codec.encode([new (class Fancy extends Map {})()]), /value\[0\]: it is an instance of Fancy/],
    ['a value in a Map', () => codec.encode(new Map([['k', () => 1]])), /value\.get\("k"\): it is a function/],
    ['a key of a Map', () => codec.encode(new Map([[Symbol('k'), 1]])), /value\.keys\(\)\[0\]: it is a symbol/],
    ['an element of a Set', () => codec.encode(new Set([1, new WeakMap()])), /value\.values\(\)\[1\]: it is an instance of WeakMap/],
    ['a key that needs quoting', () => codec.encode({ 'a b': { f() {} } }), /value\["a b"\]\.f: it is a function/],
    ['a RegExp', () => codec.encode(/x/), /value: it is an instance of RegExp/],
    ['an Error', () => codec.encode(new Error('e')), /it is an instance of Error/],
    ['a Promise', () => codec.encode(Promise.resolve()), /it is an instance of Promise/],
  ];

  it.each(cases)('%s', (_name, action, message) => {
    expectCode(action, 'UNSERIALIZABLE', message);
  });

  it('refuses a cycle through an object, an array, a Map and a Set', () => {
    const object: Record<string, unknown> = { a: {} };
    (object.a as Record<string, unknown>).self = object;
    expectCode(() => codec.encode(object, 'result'), 'UNSERIALIZABLE', /result\.a\.self: it is a reference to a value that contains it \(a cycle\)/);
    const array: unknown[] = [1];
    array.push([array]);
    expectCode(() => codec.encode(array), 'UNSERIALIZABLE', /value\[1\]\[0\]: .*cycle/);
    const map = new Map<string, unknown>();
    map.set('me', map);
    expectCode(() => codec.encode(map), 'UNSERIALIZABLE', /value\.get\("me"\): .*cycle/);
    const set = new Set<unknown>();
    set.add(set);
    expectCode(() => codec.encode(set), 'UNSERIALIZABLE', /cycle/);
  });

  it(`stores ${MAX_NESTING_DEPTH} levels of nesting and refuses more, with a short path`, () => {
    const nest = (levels: number, inner: unknown = 1): unknown => {
      let value = inner;
      for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { a: value };
      return value;
    };
    expect(strictDeepEqual(roundTrip(nest(MAX_NESTING_DEPTH)), nest(MAX_NESTING_DEPTH))).toBe(true);
    expectCode(() => codec.encode(nest(MAX_NESTING_DEPTH + 1), 'result'), 'UNSERIALIZABLE', new RegExp(`^Cannot key or store result.{0,200}: it is nested more than ${MAX_NESTING_DEPTH}`));
    expectCode(() => codec.encode(nest(100_000)), 'UNSERIALIZABLE', /nested more than/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { big: [1, 2, 3] };
    const decoded = roundTrip([shared, { again: shared }, new Map([['k', shared]])]) as [unknown, { again: unknown }, Map<string, unknown>];
    expect(decoded[0]).toEqual(shared);
    expect(decoded[1].again).toEqual(shared);
    expect(decoded[2].get('k')).toEqual(shared);
  });

  it('refuses a cycle through a registered type', () => {
    class Node {
      next: Node | undefined;
    }
    const types = new TypeRegistry();
    types.register({ name: 'Node', type: Node, encode: (n: Node) => ({ next: n.next }), decode: () => new Node() });
    const node = new Node();
    node.next = node;
    expectCode(() => new ValueCodec(types).encode(node, 'result'), 'UNSERIALIZABLE', /result\.next: .*cycle/);
  });

  it('names the registered type whose encode() throws', () => {
    const types = new TypeRegistry();
    types.register({
      name: 'Broken',
      type: Mesh,
      encode: () => {
        throw new Error('boom');
      },
      decode: () => new Mesh(null),
    });
    expectCode(() => new ValueCodec(types).encode({ m: new Mesh(1) }, 'result'), 'UNSERIALIZABLE', /result\.m: encode\(\) of registered type 'Broken' threw \(boom\)/);
  });
});

describe('ValueCodec stores registered types by name', () => {
  it('rebuilds an instance with its decode()', () => {
    const using = new ValueCodec(registryWithPoint());
    const decoded = roundTrip({ at: new Point(1, -0), list: [new Point(2, 3)] }, using) as { at: Point; list: Point[] };
    expect(decoded.at).toBeInstanceOf(Point);
    expect(decoded.at.x).toBe(1);
    expect(Object.is(decoded.at.y, -0)).toBe(true);
    expect(decoded.list[0]).toBeInstanceOf(Point);
  });

  it('reports the names it encoded and decoded', () => {
    const using = new ValueCodec(registryWithPoint());
    expect(using.usedTypeNames()).toEqual([]);
    const names = new Set<string>();
    const bytes = using.encode([1, new Point(0, 0)], 'value', names);
    expect([...names]).toEqual(['geo.Point']);
    expect(using.encode([1, 2], 'value', names)).toBeInstanceOf(Uint8Array);
    expect([...names]).toEqual(['geo.Point']);
    expect(using.usedTypeNames()).toEqual(['geo.Point']);
    const reader = new ValueCodec(registryWithPoint());
    const decodedNames = new Set<string>();
    reader.decode(bytes, decodedNames);
    expect([...decodedNames]).toEqual(['geo.Point']);
    expect(reader.usedTypeNames()).toEqual(['geo.Point']);
  });

  it('reports no names from an encode that failed', () => {
    const using = new ValueCodec(registryWithPoint());
    const names = new Set<string>();
    expectCode(() => using.encode([new Point(1, 2), Symbol('s')], 'value', names), 'UNSERIALIZABLE');
    expect([...names]).toEqual([]);
    expect(using.usedTypeNames()).toEqual([]);
  });

  it('throws UNKNOWN_TYPE for a type this process has not registered', () => {
    const bytes = new ValueCodec(registryWithPoint()).encode({ p: new Point(1, 2) });
    expectCode(() => codec.decode(bytes), 'UNKNOWN_TYPE', /'geo\.Point'.*registerType/);
  });

  it('throws CORRUPT when a decode() fails on the stored plain value', () => {
    const writer = new TypeRegistry();
    writer.register({ name: 'geo.Point', type: Point, encode: (p: Point) => ({ x: p.x }), decode: () => new Point(0, 0) });
    const reader = new TypeRegistry();
    reader.register({
      name: 'geo.Point',
      type: Point,
      encode: (p: Point) => [p.x, p.y],
      decode: (plain: number[]) => {
        if (!Array.isArray(plain)) throw new Error('not an array');
        return new Point(plain[0]!, plain[1]!);
      },
    });
    expectCode(() => new ValueCodec(reader).decode(new ValueCodec(writer).encode(new Point(1, 2))), 'CORRUPT', /'geo\.Point' threw.*not an array/);
  });
});

describe('ValueCodec refuses bytes it did not write', () => {
  const sample = { a: [1, 2.5, 'three', null, undefined, true], b: new Map([['k', new Set([1n])]]), c: new Float64Array([1, 2]), d: Buffer.from('xy'), e: new Date(5), f: -0 };

  it('throws CORRUPT for every truncation of a valid encoding', () => {
    const bytes = codec.encode(sample);
    for (let length = 0; length < bytes.length; length++) {
      expectCode(() => codec.decode(bytes.subarray(0, length)), 'CORRUPT');
    }
  });

  it(`throws CORRUPT for containers nested more than ${MAX_NESTING_DEPTH} deep`, () => {
    expect(codec.decode(new Uint8Array([...new Array<number>(MAX_NESTING_DEPTH).fill(0x81), 0x01]))).toBeInstanceOf(Array);
    expectCode(() => codec.decode(new Uint8Array([...new Array<number>(MAX_NESTING_DEPTH + 1).fill(0x81), 0x01])), 'CORRUPT', /nest more than/);
    expectCode(() => codec.decode(new Uint8Array(100_000).fill(0x81)), 'CORRUPT');
  });

  it('throws CORRUPT for trailing bytes', () => {
    const bytes = codec.encode(sample);
    expectCode(() => codec.decode(new Uint8Array([...bytes, 0])), 'CORRUPT', /after the value/);
  });

  it.each([
    ['empty bytes', ''],
    ['a break byte', 'ff'],
    ['an indefinite-length array', '9f01ff'],
    ['a reserved head', '1c'],
    ['an unassigned simple value', 'f0'],
    ['a one-byte simple value', 'f820'],
    ['an array claiming 2^32 items', '9affffffff00'],
    ['a string running past the end', '6561'],
    ['text', Buffer.from('{"a":1}').toString('hex')],
  ])('throws CORRUPT for %s', (_name, bytes) => {
    expectCode(() => codec.decode(hex(bytes)), 'CORRUPT');
  });

  it.each([
    ['tag 27 (generic object: cbor-x calls a constructor)', cborEncode(/x/)],
    ['tag 27 naming a global', hex('d81b 82 6846756e6374696f6e 6872657475726e2031')],
    ['tag 28/29 (shared references, cycles)', new Encoder({ structuredClone: true, useRecords: false }).encode((() => { const o: Record<string, unknown> = {}; o.self = o; return o; })())],
    ['records (cbor-x compiles readers with new Function)', new Encoder({ useRecords: true }).encode([{ a: 1, b: 2 }, { a: 3, b: 4 }, { a: 5, b: 6 }])],
    ['tag 1 (epoch date)', cborEncode(new Date(5))],
    ['tag 0 (date string)', hex('c0 74 323031332d30332d32315432303a30343a30305a')],
    ['tag 55799 (self-described CBOR)', hex('d9d9f7 01')],
    ['tag 51 (packed values)', hex('d833 84 80 80 80 00')],
    ['an unknown tag', cborEncode(new Tag('x', 40000))],
    ['a big-number tag around text', hex('c2 6161')],
    ['a typed-array tag whose length is not a multiple of the element size', hex('d856 49 000000000000f03f00')],
    ['our Date tag around text', hex('d9a02a 6161')],
    ['our -0 tag around a number', hex('d9a029 00')],
  ])('throws CORRUPT for a foreign tag: %s', (_name, bytes) => {
    expectCode(() => codec.decode(bytes), 'CORRUPT', /not a memostrata value/);
  });

  it('throws CORRUPT for a registered-type tag that is not [name, value]', () => {
    expectCode(() => codec.decode(hex('d9a028 81 63616263')), 'CORRUPT', /\[name, plain value\]/);
    expectCode(() => codec.decode(hex('d9a028 82 01 01')), 'CORRUPT');
  });

  it('reads plain CBOR that another program wrote', () => {
    expect(codec.decode(cborEncode({ a: [1, 'x', null, true] }))).toEqual({ a: [1, 'x', null, true] });
    expect(codec.decode(hex('a2 6161 01 6162 f97e00'))).toEqual({ a: 1, b: NaN });
  });

  it('throws INVALID_ARGUMENT for input that is not bytes', () => {
    expectCode(() => codec.decode('f6' as never), 'INVALID_ARGUMENT');
  });
});
