import { Decoder } from 'cbor-x';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMemostrataError } from '../../src/errors.js';
import { loadDigester, type Digester } from '../../src/layers/digest.js';
import { MAX_ARRAY_LENGTH, MAX_BIGINT_BYTES, MAX_NESTING_DEPTH, MAX_OBJECT_KEYS, MAX_VALUE_BYTES } from '../../src/layers/limits.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';
import { strictDeepEqual } from '../helpers/supported-values.js';
import { Mesh } from '../helpers/user-types.js';

const types = new TypeRegistry();
types.register({ name: 'test.Mesh', type: Mesh, encode: (m) => ({ nodes: m.nodes }), decode: (p: { nodes: unknown }) => new Mesh(p.nodes) });
const codec = new ValueCodec(types);
let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(types);
});

/** The UNSERIALIZABLE message that `run` throws. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (!isMemostrataError(error, 'UNSERIALIZABLE')) throw error;
    return error.message;
  }
  throw new Error('expected UNSERIALIZABLE, nothing was thrown');
}

/** Containers nested `levels` deep, cycling through every kind of container. */
function nest(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) {
    switch (i % 5) {
      case 0:
        value = [value];
        break;
      case 1:
        value = { a: value };
        break;
      case 2:
        value = new Map([['k', value]]);
        break;
      case 3:
        value = new Set([value]);
        break;
      default:
        if (i + 1 < levels) {
          value = new Mesh(value); // a registered type and its encoded object: two levels
          i++;
        } else value = [value];
    }
  }
  return value;
}

describe('limits shared by the digest and the codec', () => {
  it(`keys and stores containers nested exactly ${MAX_NESTING_DEPTH} deep`, () => {
    for (const value of [nest(MAX_NESTING_DEPTH), JSON.parse(`${'['.repeat(MAX_NESTING_DEPTH)}1${']'.repeat(MAX_NESTING_DEPTH)}`)]) {
      expect(() => digester.digest(value)).not.toThrow();
      expect(() => digester.callKey(new Uint8Array(16), [value], new Set())).not.toThrow();
      const decoded = codec.decode(codec.encode(value));
      expect(digester.digest(decoded)).toEqual(digester.digest(value));
    }
    expect(strictDeepEqual(codec.decode(codec.encode(nest(MAX_NESTING_DEPTH - 1))), nest(MAX_NESTING_DEPTH - 1))).toBe(true);
  });

  it(`refuses one level more at the digest and at the codec, naming the limit and a short path`, () => {
    for (const value of [nest(MAX_NESTING_DEPTH + 1), JSON.parse(`${'['.repeat(MAX_NESTING_DEPTH + 1)}1${']'.repeat(MAX_NESTING_DEPTH + 1)}`)]) {
      for (const message of [
        refusal(() => digester.digest(value, 'result')),
        refusal(() => digester.callKey(new Uint8Array(16), [0, value], new Set())),
        refusal(() => codec.encode(value, 'result')),
      ]) {
        expect(message).toMatch(/^Cannot key or store (result|args\[1\])/);
        expect(message).toContain(`nested more than ${MAX_NESTING_DEPTH} containers deep`);
        expect(message).toMatch(/more\)…/); // the middle of a long path is elided
        expect(message.length).toBeLessThan(500);
      }
    }
  });

  it('refuses 10,000 levels of nesting as UNSERIALIZABLE, not a stack overflow', () => {
    const deep = JSON.parse(`${'['.repeat(10_000)}1${']'.repeat(10_000)}`);
    expect(refusal(() => digester.digest(deep))).toContain(`nested more than ${MAX_NESTING_DEPTH}`);
    expect(refusal(() => digester.digestArgs([deep]))).toMatch(/^Cannot key or store args\[0\]\[0\]/);
    expect(refusal(() => codec.encode(deep))).toContain(`nested more than ${MAX_NESTING_DEPTH}`);
    // The digester is clean afterwards.
    expect(digester.digest([1])).toEqual(digester.digest([1]));
  });

  it(`keys and stores bigints of up to ${MAX_BIGINT_BYTES} bytes and refuses larger ones at both`, () => {
    const bound = 1n << BigInt(MAX_BIGINT_BYTES * 8);
    for (const value of [bound - 1n, -bound, -bound + 1n]) {
      expect(codec.decode(codec.encode(value))).toBe(value);
      expect(digester.digest(codec.decode(codec.encode(value)))).toEqual(digester.digest(value));
    }
    for (const value of [bound, -bound - 1n, bound * bound]) {
      for (const message of [refusal(() => digester.digest({ n: value })), refusal(() => codec.encode({ n: value }))]) {
        expect(message).toContain('value.n');
        expect(message).toContain(`${MAX_BIGINT_BYTES} bytes`);
        expect(message).toMatch(/toString/); // says how to store it instead
      }
    }
  });

  it('reads no bigint larger than it writes (decoding one is quadratic in cbor-x)', () => {
    const bytes = new Uint8Array(4 + MAX_BIGINT_BYTES + 1);
    bytes.set([0xc2, 0x59, (MAX_BIGINT_BYTES + 1) >> 8, (MAX_BIGINT_BYTES + 1) & 0xff]);
    bytes[4] = 1;
    expect(() => codec.decode(bytes)).toThrow(expect.objectContaining({ code: 'CORRUPT', message: expect.stringContaining('bigint') }));
  });

  it(`refuses arrays longer than cbor-x reads back (${MAX_ARRAY_LENGTH}) at both, before walking them`, () => {
    const long = new Array<unknown>(MAX_ARRAY_LENGTH + 1);
    for (const message of [refusal(() => digester.digest([long])), refusal(() => codec.encode([long]))]) {
      expect(message).toContain('value[0]');
      expect(message).toContain(String(MAX_ARRAY_LENGTH));
    }
  });

  it('uses the limits of the cbor-x decoder itself', () => {
    const header = (major: number, length: number) => new Uint8Array([(major << 5) | 26, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff]);
    expect(() => new Decoder({ mapsAsObjects: true }).decode(header(4, MAX_ARRAY_LENGTH + 1))).toThrow(`Array length exceeds ${MAX_ARRAY_LENGTH}`);
    expect(() => new Decoder({ mapsAsObjects: true }).decode(header(5, MAX_OBJECT_KEYS + 1))).toThrow(`Property count exceeds ${MAX_OBJECT_KEYS}`);
  });

  it(`refuses a value over ${MAX_VALUE_BYTES} bytes at both, before hashing or copying it`, () => {
    const huge = new Uint8Array(MAX_VALUE_BYTES + 1); // zero pages: never touched
    for (const message of [refusal(() => digester.digest({ huge })), refusal(() => digester.callKey(new Uint8Array(16), [huge], new Set())), refusal(() => codec.encode({ huge }))]) {
      expect(message).toMatch(/value\.huge|args\[0\]/);
      expect(message).toContain(String(MAX_VALUE_BYTES));
    }
  });
});
