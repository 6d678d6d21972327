import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMemostrataError } from '../../src/errors.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';
import { strictDeepEqual, supportedValue } from '../helpers/supported-values.js';

/** A user class with one field of any supported value. */
class Box {
  constructor(readonly content: unknown) {}
}

const types = new TypeRegistry();
types.register({ name: 'test.Box', type: Box, encode: (box: Box) => ({ content: box.content }), decode: (plain: { content: unknown }) => new Box(plain.content) });
const codec = new ValueCodec(types);

/** Supported values, with registered `Box` instances mixed in at any depth. */
const valueWithBoxes: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    supportedValue({ maxDepth: 2 }),
    tie('value').map((content) => new Box(content)),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 3 }), tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** `strictDeepEqual`, extended to look inside `Box`es. */
function equalWithBoxes(a: unknown, b: unknown): boolean {
  if (a instanceof Box || b instanceof Box) return a instanceof Box && b instanceof Box && equalWithBoxes(a.content, b.content);
  if (containsBox(a) || containsBox(b)) {
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => equalWithBoxes(item, b[i]));
    if (isRecord(a) && isRecord(b)) {
      const keys = Object.keys(a);
      return keys.length === Object.keys(b).length && keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && equalWithBoxes(a[key], b[key]));
    }
    return false;
  }
  return strictDeepEqual(a, b);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === Object.prototype || prototype === null;
}

function containsBox(value: unknown): boolean {
  if (value instanceof Box) return true;
  if (Array.isArray(value)) return value.some(containsBox);
  if (isRecord(value)) return Object.values(value).some(containsBox);
  return false;
}

/** Decoding arbitrary bytes either fails with a clear code or gives a supported value (one that encodes again). */
function decodesCleanlyOrRefuses(bytes: Uint8Array): boolean {
  let decoded: unknown;
  try {
    decoded = codec.decode(bytes);
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT') || isMemostrataError(error, 'UNKNOWN_TYPE')) return true;
    throw error;
  }
  codec.encode(decoded);
  return true;
}

describe('ValueCodec (property)', () => {
  it('decode(encode(v)) deep-equals v over the supported value space', () => {
    fc.assert(
      fc.property(supportedValue(), (value) => strictDeepEqual(codec.decode(codec.encode(value)), value)),
      { numRuns: 2000 },
    );
  });

  it('round-trips registered types at any depth', () => {
    fc.assert(
      fc.property(valueWithBoxes, (value) => equalWithBoxes(codec.decode(codec.encode(value)), value)),
      { numRuns: 1000 },
    );
  });

  it('returns a value that shares no memory with the bytes', () => {
    fc.assert(
      fc.property(supportedValue(), (value) => {
        const bytes = codec.encode(value).slice();
        const decoded = codec.decode(bytes);
        bytes.fill(0);
        return strictDeepEqual(decoded, value);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses or cleanly decodes random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesCleanlyOrRefuses), { numRuns: 5000 });
  });

  it('refuses or cleanly decodes a valid encoding with bytes flipped or cut', () => {
    fc.assert(
      fc.property(
        valueWithBoxes,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.option(fc.nat()),
        (value, flips, cut) => {
          const bytes = codec.encode(value).slice();
          for (const [at, mask] of flips) bytes[at % bytes.length]! ^= mask;
          return decodesCleanlyOrRefuses(cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('never leaks an error that is not a MemostrataError', () => {
    // A plain property spelled out, so that a failure reports the unexpected error itself.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (tail) => {
        for (const head of [0xd8, 0xd9, 0xc2, 0x9f, 0xbf, 0x5f]) {
          expect(() => decodesCleanlyOrRefuses(new Uint8Array([head, ...tail]))).not.toThrow();
        }
      }),
      { numRuns: 1000 },
    );
  });
});
