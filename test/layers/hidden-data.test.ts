import { beforeAll, describe, expect, it } from 'vitest';
import { isMemostrataError } from '../../src/errors.js';
import { digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';

class Vector extends Array<number> {}
class MyMap extends Map {}
class MySet extends Set<unknown> {}
class MyDate extends Date {}
class MyFloats extends Float64Array {}
class MyView extends (DataView as new (buffer: ArrayBuffer) => DataView) {
  constructor() {
    super(new ArrayBuffer(2));
  }
}
class RegisteredVector extends Array<number> {}

const types = new TypeRegistry();
types.register({ name: 'test.RegisteredVector', type: RegisteredVector, encode: (v) => [...v], decode: (v: number[]) => RegisteredVector.from(v) });
const codec = new ValueCodec(types);
let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(types);
});
const none = new Set<number>();
const identity = new Uint8Array(16);

/** The messages of the refusals by the call key, the digest and the codec (each must refuse). */
function refusals(value: unknown): string[] {
  const messages: string[] = [];
  for (const run of [() => digester.callKey(identity, [value], none), () => digester.digest(value, 'args[0]'), () => codec.encode(value, 'args[0]')]) {
    try {
      run();
    } catch (error) {
      if (!isMemostrataError(error, 'UNSERIALIZABLE')) throw error;
      messages.push(error.message);
      continue;
    }
    throw new Error(`expected UNSERIALIZABLE from ${run.toString()}`);
  }
  return messages;
}

function expectRefused(value: unknown, path: string, hint?: string): void {
  for (const message of refusals(value)) {
    expect(message).toContain(`Cannot key or store ${path}:`);
    if (hint !== undefined) expect(message).toContain(hint);
  }
}

const long = (extra?: object): number[] => Object.assign(Array.from({ length: 1000 }, (_, i) => i), extra);
const longTyped = (extra?: object): Float64Array => Object.assign(new Float64Array(1000), extra);

describe('data the key would not see', () => {
  it('refuses an array with a named property, naming its path and how to copy it', () => {
    expectRefused(Object.assign([1, 2], { extra: 'A' }), 'args[0].extra', '[...x] or Array.from(x)');
    expectRefused({ mesh: [Object.assign([1], { 'two words': 2 })] }, 'args[0].mesh[0]["two words"]');
    expectRefused(long({ extra: 'A' }), 'args[0].extra', 'Array.from(x)');
    // As many keys as elements: a hole and a name.
    expectRefused(Object.assign([, 2], { x: 1 }), 'args[0].x');
    expectRefused(Object.assign(new Array(100), { x: 1 }), 'args[0].x');
  });

  it('refuses a RegExp match array (index, input, groups)', () => {
    expectRefused('xbx'.match(/b/), 'args[0].index');
    expectRefused('xbx'.match(/(?<b>b)/), 'args[0].index');
  });

  it('refuses named properties of typed arrays, Buffers, Maps, Sets, Dates, DataViews and ArrayBuffers', () => {
    expectRefused(Object.assign(new Float64Array(3), { units: 'm' }), 'args[0].units', 'x.slice()');
    expectRefused(longTyped({ units: 'm' }), 'args[0].units', 'x.slice()');
    expectRefused(Object.assign(Buffer.from('abc'), { encoding: 'utf8' }), 'args[0].encoding', 'Buffer.from(x)');
    expectRefused(Object.assign(Buffer.alloc(100), { encoding: 'utf8' }), 'args[0].encoding', 'Buffer.from(x)');
    expectRefused(Object.assign(new Map([[1, 2]]), { note: 1 }), 'args[0].note', 'new Map(x)');
    expectRefused(Object.assign(new Set([1]), { note: 1 }), 'args[0].note', 'new Set(x)');
    expectRefused(Object.assign(new Date(0), { zone: 'UTC' }), 'args[0].zone', 'new Date(x.getTime())');
    expectRefused(Object.assign(new DataView(new ArrayBuffer(4)), { note: 1 }), 'args[0].note', 'new DataView');
    expectRefused(Object.assign(new ArrayBuffer(4), { note: 1 }), 'args[0].note', 'x.slice(0)');
  });

  it('refuses symbol-keyed properties on every kind, enumerable or not', () => {
    const tag = Symbol('tag');
    const hidden = <T extends object>(value: T): T => Object.defineProperty(value, tag, { value: 1, enumerable: false });
    expectRefused({ [tag]: 1 }, 'args[0]', 'symbol keys');
    expectRefused(hidden({}), 'args[0]', 'symbol keys');
    expectRefused(Object.assign([1], { [tag]: 1 }), 'args[0][Symbol(tag)]');
    expectRefused(hidden([1]), 'args[0][Symbol(tag)]');
    expectRefused(hidden(long()), 'args[0][Symbol(tag)]');
    expectRefused(Object.assign(long(), { [tag]: 1 }), 'args[0][Symbol(tag)]');
    expectRefused(hidden(longTyped()), 'args[0][Symbol(tag)]');
    expectRefused(hidden(new Map()), 'args[0][Symbol(tag)]');
  });

  it('keys an array with a non-enumerable named property like its elements, as it does objects', () => {
    for (const make of [() => [1, 2], () => long()]) {
      const withHidden = Object.defineProperty(make(), 'note', { value: 'x', enumerable: false });
      expect(digestToHex(digester.digest(withHidden))).toBe(digestToHex(digester.digest(make())));
      expect(codec.decode(codec.encode(withHidden))).toEqual(make());
    }
  });

  it('still keys plain arrays, long ones and holey ones, like their copies', () => {
    for (const value of [[], [1, 2, 3], long(), [1, , 3], new Array(40), longTyped(), Buffer.alloc(100), new Map([[1, 2]]), new Date(5)]) {
      expect(refusalsOrNone(value)).toBe('none');
    }
  });

  it('refuses subclasses of built-ins unless registered, and objects that only inherit a built-in prototype', () => {
    expectRefused(Vector.from([1, 2]), 'args[0]', 'a subclass of Array');
    expectRefused(new MyMap(), 'args[0]', 'a subclass of Map');
    expectRefused(new MySet(), 'args[0]', 'a subclass of Set');
    expectRefused(new MyDate(0), 'args[0]', 'a subclass of Date');
    expectRefused(new MyFloats(2), 'args[0]', 'a subclass of Float64Array');
    expectRefused(new MyView(), 'args[0]', 'a subclass of DataView');
    for (const prototype of [Array.prototype, Map.prototype, Set.prototype, Date.prototype, ArrayBuffer.prototype]) {
      expectRefused(Object.create(prototype), 'args[0]', 'is not a real');
    }
    // A typed array dressed as another class keys and stores as what it really is: neither.
    expectRefused(Object.setPrototypeOf(new Uint8Array(8), Float64Array.prototype), 'args[0]', 'not a real Float64Array');
    expectRefused(Object.setPrototypeOf(new Float64Array(2), Buffer.prototype), 'args[0]', 'not a real Buffer');
    const decoded = codec.decode(codec.encode(RegisteredVector.from([1, 2])));
    expect(decoded).toBeInstanceOf(RegisteredVector);
  });

  it('refuses boxed primitives', () => {
    for (const boxed of [Object(1), Object('s'), Object(true), Object(1n)]) expectRefused(boxed, 'args[0]', 'not registered');
  });
});

function refusalsOrNone(value: unknown): string {
  try {
    digester.callKey(identity, [value], none);
    digester.digest(value);
    codec.encode(value);
    return 'none';
  } catch (error) {
    return (error as Error).message;
  }
}

describe('values without content', () => {
  it('refuses detached ArrayBuffers and views of them as UNSERIALIZABLE, not a TypeError', () => {
    const buffer = new ArrayBuffer(8);
    const views = [new Float64Array(buffer), new DataView(buffer), Buffer.from(buffer)];
    structuredClone(buffer, { transfer: [buffer] });
    for (const value of [buffer, ...views]) expectRefused({ data: value }, 'args[0].data', 'detached');
    for (const value of [new ArrayBuffer(0), new Float64Array(0), new DataView(new ArrayBuffer(0)), Buffer.alloc(0)]) expect(refusalsOrNone(value)).toBe('none');
  });
});
