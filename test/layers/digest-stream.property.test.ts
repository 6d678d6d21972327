import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDigester, type Digester } from '../../src/layers/digest.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { typedArrayClasses, type TypedArrayName } from '../../src/layers/typed-arrays.js';

let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester();
});

const names = Object.keys(typedArrayClasses) as TypedArrayName[];

/** A typed array of `name` holding `bytes` (cut to whole elements). */
function arrayOf(name: TypedArrayName, bytes: Uint8Array): ArrayBufferView {
  const Class = typedArrayClasses[name];
  const length = Math.floor(bytes.length / Class.BYTES_PER_ELEMENT);
  const array = new Class(length);
  new Uint8Array(array.buffer).set(bytes.subarray(0, length * Class.BYTES_PER_ELEMENT));
  return array;
}

/** Feeds `array`'s bytes to a stream in pieces cut at `cuts` (element counts), in order. */
function streamed(array: ArrayBufferView, cuts: readonly number[]): Uint8Array {
  const stream = digester.typedArrayStream(array)!;
  const element = (array as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  const ends = [...new Set(cuts.map((cut) => Math.min(cut * element, bytes.length)))].sort((a, b) => a - b);
  let start = 0;
  for (const end of [...ends, bytes.length]) {
    stream.update(bytes.subarray(start, end));
    start = end;
  }
  return stream.digest();
}

describe('a typed array digested as its bytes arrive', () => {
  it('equals the digest of the filled array, for every typed-array class and any cut into whole elements', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat({ max: 80 }), { maxLength: 6 }), (name, bytes, cuts) => {
        const array = arrayOf(name, bytes);
        expect(streamed(array, cuts)).toEqual(digester.digest(array));
      }),
      { numRuns: 400 },
    );
  });

  it('equals it across the sink\'s streaming threshold and in slices of a restore\'s size', () => {
    const array = new Float64Array((3 * 1024 * 1024) / 8 + 5);
    for (let index = 0; index < array.length; index++) array[index] = Math.sin(index) * 1e6;
    expect(streamed(array, [1, 2048, 65536, 262144, 300000])).toEqual(digester.digest(array));
    expect(streamed(array, [])).toEqual(digester.digest(array));
  });

  it('differs when one byte differs, or the class differs over the same bytes', () => {
    const a = new Int32Array([1, 2, 3, 4]);
    const b = new Int32Array([1, 2, 3, 5]);
    expect(streamed(a, [2])).not.toEqual(streamed(b, [2]));
    expect(streamed(new Uint32Array(a.buffer), [2])).not.toEqual(streamed(a, [2]));
  });

  it('is not offered for what is not digested as a plain typed array', () => {
    expect(digester.typedArrayStream(Buffer.from([1, 2, 3]))).toBeUndefined();
    expect(digester.typedArrayStream(new DataView(new ArrayBuffer(8)))).toBeUndefined();
  });

  it('is not offered for a registered subclass of a typed array', async () => {
    class Samples extends Float64Array {}
    const types = new TypeRegistry();
    types.register({ name: 'test.samples', type: Samples, encode: (value: Samples) => Array.from(value), decode: (data: number[]) => Samples.from(data) });
    const withTypes = await loadDigester(types);
    expect(withTypes.typedArrayStream(new Samples(4))).toBeUndefined();
  });

  it('refuses bytes past the end, parts of elements, and a digest before every byte came', () => {
    expect(() => digester.typedArrayStream(new Float64Array(2))!.update(new Uint8Array(24))).toThrow(/24 bytes with 16 left/);
    expect(() => digester.typedArrayStream(new Float64Array(2))!.update(new Uint8Array(4))).toThrow(/elements of 8/);
    const stream = digester.typedArrayStream(new Float64Array(2))!;
    stream.update(new Uint8Array(8));
    expect(() => stream.digest()).toThrow(/8 bytes not yet given/);
  });
});
