import { beforeAll, describe, expect, it } from 'vitest';
import { digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { assertModuleName } from '../../src/layers/keys.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';

const codec = new ValueCodec(new TypeRegistry());
let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(new TypeRegistry());
});
const hex = (value: unknown): string => digestToHex(digester.digest(value));

/** Strings that a lossy UTF-8 pass (TextEncoder, Buffer.from) turns into the same bytes as their neighbour. */
const confusable: [string, string][] = [
  ['\uDBFF', '\uFFFD'],
  ['calc\uDBFF', 'calc\uFFFD'],
  ['a\uDC00b', 'a\uFFFDb'],
  ['\uDFFF\uD800', '\uFFFD\uFFFD'],
  ['\uD800', '\uDBFF'],
];

describe('unpaired surrogates', () => {
  it('are refused in module names, saying why', () => {
    for (const name of ['calc\uDBFF', 'x\uDC00y', '\uDFFF\uD800']) {
      expect(() => assertModuleName(name)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('unpaired surrogate') }));
    }
    for (const name of ['calc\uFFFD', 'calc\u{1F600}', 'ünï']) expect(() => assertModuleName(name)).not.toThrow();
  });

  it('key argument values apart from their lossy UTF-8 look-alikes, as values, object keys and Map keys', () => {
    for (const [a, b] of confusable) {
      expect(hex(a)).not.toBe(hex(b));
      expect(hex({ [a]: 1 })).not.toBe(hex({ [b]: 1 }));
      expect(hex(new Map([[a, 1]]))).not.toBe(hex(new Map([[b, 1]])));
      expect(digester.callKey(new Uint8Array(16), [a], new Set())).not.toBe(digester.callKey(new Uint8Array(16), [b], new Set()));
      expect(digester.callKey(new Uint8Array(16), ['x'.repeat(300) + a], new Set())).not.toBe(digester.callKey(new Uint8Array(16), ['x'.repeat(300) + b], new Set()));
    }
  });

  it('round-trip exactly through the codec, and key the same afterwards', () => {
    for (const [a] of confusable) {
      for (const value of [a, { [a]: a }, new Map([[a, [a]]]), new Set([a]), 'long '.repeat(5000) + a]) {
        const decoded = codec.decode(codec.encode(value));
        expect(decoded).toEqual(value);
        expect(hex(decoded)).toBe(hex(value));
      }
      expect(codec.decode(codec.encode(a))).toBe(a);
    }
  });
});
