import { beforeAll, describe, expect, it } from 'vitest';
import { digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';

const codec = new ValueCodec(new TypeRegistry());
let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(new TypeRegistry());
});
const hex = (value: unknown): string => digestToHex(digester.digest(value));
const roundTrip = (value: unknown): unknown => codec.decode(codec.encode(value));

describe('values that could share a key or read back differently', () => {
  it('keeps -0 apart from 0 as a Map value, and reads it back (JS itself folds -0 keys and Set elements)', () => {
    expect(hex(new Map([[1, -0]]))).not.toBe(hex(new Map([[1, 0]])));
    expect(Object.is((roundTrip(new Map([[1, -0]])) as Map<number, number>).get(1), -0)).toBe(true);
    expect(hex(new Set([-0]))).toBe(hex(new Set([0])));
  });

  it('keys a hole like undefined and reads it back as undefined, so the stored value keys the same', () => {
    const holey = [1, , 3];
    expect(hex(holey)).toBe(hex([1, undefined, 3]));
    expect(hex(roundTrip(holey))).toBe(hex(holey));
  });

  it('keys a view by its own bytes whatever buffer holds them (shared, resizable, offset)', () => {
    const shared = new SharedArrayBuffer(32);
    new Float64Array(shared).set([1, 2, 3, 4]);
    const view = new Float64Array(shared, 8, 2);
    expect(hex(view)).toBe(hex(new Float64Array([2, 3])));
    expect(roundTrip(view)).toEqual(new Float64Array([2, 3]));
    const resizable = new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer)(8, { maxByteLength: 16 });
    new Uint8Array(resizable).set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(hex(resizable)).toBe(hex(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer));
    expect(hex(roundTrip(resizable))).toBe(hex(resizable));
  });

  it('keys bigints exactly around the 64-bit boundary and beyond', () => {
    const values = [-(1n << 63n), -(1n << 63n) - 1n, (1n << 63n) - 1n, 1n << 63n, 1n << 64n, -(1n << 64n), (1n << 200n) + 1n];
    const digests = new Set(values.map(hex));
    expect(digests.size).toBe(values.length);
    for (const value of values) expect(roundTrip(value)).toBe(value);
  });
});
