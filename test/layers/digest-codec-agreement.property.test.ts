import fc from 'fast-check';
import xxhash from 'xxhash-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMemostrataError } from '../../src/errors.js';
import { digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { CanonicalEncoder } from '../../src/layers/digest/canonical-encoder.js';
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
let digester: Digester;
let encoder: CanonicalEncoder;
beforeAll(async () => {
  digester = await loadDigester(types);
  encoder = new CanonicalEncoder(await xxhash(), types);
});
const hex = (value: unknown): string => digestToHex(digester.digest(value));
const roundTrip = (value: unknown): unknown => codec.decode(codec.encode(value));

const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, supportedValue({ maxDepth: 2 }), tie('value').map((content) => new Box(content)), fc.array(tie('value'), { maxLength: 3 })),
})).value;

/** Every non-plain container inside `root` (arrays, typed arrays, Buffers, Maps, Sets, Dates, DataViews, ArrayBuffers). */
function builtIns(root: unknown): object[] {
  const found: object[] = [];
  const seen = new Set<unknown>();
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null || seen.has(node)) return;
    seen.add(node);
    if (node instanceof Box) return walk(node.content);
    const prototype = Object.getPrototypeOf(node) as unknown;
    if (prototype !== Object.prototype && prototype !== null) found.push(node);
    if (Array.isArray(node)) node.forEach(walk);
    else if (node instanceof Map) node.forEach((entry, key) => (walk(key), walk(entry)));
    else if (node instanceof Set) node.forEach(walk);
    else if (prototype === Object.prototype || prototype === null) Object.values(node).forEach(walk);
  };
  walk(root);
  return found;
}

function refusal(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!isMemostrataError(error, 'UNSERIALIZABLE')) throw error;
    return error.message;
  }
}

describe('the digest and the codec agree', () => {
  it('a stored value keys exactly as the value that was stored', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(hex(roundTrip(v))).toBe(hex(v));
      }),
      { numRuns: 1000 },
    );
  });

  it('two values key alike exactly when their stored forms read back alike', () => {
    const small = supportedValue({ maxDepth: 1, maxLength: 2 });
    fc.assert(
      fc.property(fc.oneof(fc.tuple(small, small), value.map((v) => [v, roundTrip(v)] as const)), ([a, b]) => {
        expect(hex(a) === hex(b)).toBe(strictDeepEqual(roundTrip(a), roundTrip(b)));
      }),
      { numRuns: 1000 },
    );
  });

  it('both refuse a value with data hidden in any built-in container, naming the property', () => {
    fc.assert(
      fc.property(value, fc.nat(), fc.boolean(), (v, pick, useSymbol) => {
        const candidates = builtIns(v);
        fc.pre(candidates.length > 0);
        const target = candidates[pick % candidates.length] as Record<string | symbol, unknown>;
        const key = useSymbol ? Symbol('hiddenTag') : 'hiddenTag';
        target[key] = 1;
        const fromDigest = refusal(() => digester.digest(v));
        const fromKey = refusal(() => digester.callKey(new Uint8Array(16), [v], new Set()));
        const fromCodec = refusal(() => codec.encode(v));
        for (const message of [fromDigest, fromKey, fromCodec]) expect(message).toContain('hiddenTag');
      }),
      { numRuns: 500 },
    );
  });

  it(`bounds the stored size from above, so the digest's size limit is never looser than the codec's`, () => {
    const out = new DataView(new ArrayBuffer(16));
    fc.assert(
      fc.property(value, (v) => {
        encoder.digestInto(v, 'value', out, 0);
        expect(encoder.lastSizeBound).toBeGreaterThanOrEqual(codec.encode(v).byteLength);
      }),
      { numRuns: 1000 },
    );
  });
});
