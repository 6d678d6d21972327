import fc from 'fast-check';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { digestToHex, loadDigester } from '../../src/layers/digest.js';
import { SEED_A, SEED_B } from '../../src/layers/digest/hash-sink.js';
import { supportedValue } from '../helpers/supported-values.js';

const digester = await loadDigester();
const identity = digester.digestParts([new TextEncoder().encode('module@1')]);
const none = new Set<number>();

describe('call keys', () => {
  it('keys a short call by its exact canonical bytes, so a hit hashes nothing', () => {
    const key = digester.callKey(identity, [{ b: 2, a: 1 }, 'sto-3g'], none);
    expect(key.startsWith('#')).toBe(false);
    expect(digester.callKey(identity, [{ a: 1, b: 2 }, 'sto-3g'], none)).toBe(key);
    expect(digester.callKey(identity, [{ a: 1, b: 2 }, 'sto-3G'], none)).not.toBe(key);
    expect(digester.callKey(identity, [{ a: 1, b: 2 }], none)).not.toBe(key);
    expect(digester.callKey(digester.digestParts([new TextEncoder().encode('module@2')]), [{ a: 1, b: 2 }, 'sto-3g'], none)).not.toBe(key);
  });

  it('keys a long call by the hex of its digest', () => {
    const big = new Float64Array(10_000).fill(1.5);
    const key = digester.callKey(identity, [big], none);
    expect(key).toMatch(/^#[0-9a-f]{32}$/);
    expect(digester.callKey(identity, [big.slice()], none)).toBe(key);
    expect(digester.callKey(identity, [new Float32Array(20_000).fill(1.5)], none)).not.toBe(key);
    expect(digestToHex(digester.callDigest(key))).toBe(key.slice(1));
    expect(digester.callKey(identity, ['x'.repeat(300)], none)).toMatch(/^#[0-9a-f]{32}$/);
  });

  it('digests a short key as the two seeded xxhash64 of its canonical bytes, whatever their length', async () => {
    const { h64Raw } = await xxhash();
    // The call's canonical form, written out: CALL tag, identity, argument count, then each argument.
    const canonical = (text: string): Uint8Array => {
      const bytes = Buffer.alloc(1 + 16 + 4 + 9 + 5 + text.length);
      bytes[0] = 0xfe;
      bytes.set(identity, 1);
      bytes.writeUInt32LE(2, 17);
      bytes[21] = 0x04;
      bytes.writeDoubleLE(1, 22);
      bytes[30] = 0x07;
      bytes.writeUInt32LE(text.length, 31);
      bytes.write(text, 35, 'latin1');
      return new Uint8Array(bytes);
    };
    for (const text of ['a', 'ab']) {
      const key = digester.callKey(identity, [1, text], none);
      expect(key.startsWith('#')).toBe(false);
      const bytes = canonical(text);
      const expected = h64Raw(bytes, SEED_A).toString(16).padStart(16, '0') + h64Raw(bytes, SEED_B).toString(16).padStart(16, '0');
      expect(digestToHex(digester.callDigest(key))).toBe(expected);
    }
  });

  it('keys two calls alike exactly when their arguments digest alike, and gives each key its call digest', () => {
    const args = fc.array(supportedValue(), { maxLength: 3 });
    fc.assert(
      fc.property(args, args, (a, b) => {
        const sameArgs = a.length === b.length && digester.digestArgs(a).every((digest, i) => digestToHex(digest) === digestToHex(digester.digestArgs(b)[i] as Uint8Array));
        const keyA = digester.callKey(identity, a, none);
        const keyB = digester.callKey(identity, b, none);
        expect(keyA === keyB).toBe(sameArgs);
        expect(digestToHex(digester.callDigest(keyA)) === digestToHex(digester.callDigest(keyB))).toBe(sameArgs);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves ignored positions out of the key, and names the path of a bad argument', () => {
    const ignoreLog = new Set([1]);
    expect(digester.callKey(identity, [3, () => 1, 4], ignoreLog)).toBe(digester.callKey(identity, [3, console.log, 4], ignoreLog));
    expect(digester.callKey(identity, [3, () => 1, 4], ignoreLog)).not.toBe(digester.callKey(identity, [3, () => 1, 5], ignoreLog));
    expect(() => digester.callKey(identity, [1, { mesh: { nodes: Symbol('n') } }], none)).toThrow(
      expect.objectContaining({ code: 'UNSERIALIZABLE', message: expect.stringContaining('args[1].mesh.nodes') }),
    );
    // The encoder recovers: the next key is computed from a clean state.
    expect(digester.callKey(identity, [1, 'a'], none)).toBe(digester.callKey(identity, [1, 'a'], none));
  });
});

describe('a function as an argument', () => {
  it('suggests ignore: [N] when the whole argument N is a function, and names the path either way', () => {
    const log = (): void => {};
    expect(() => digester.callKey(identity, [1, log], none)).toThrow(
      expect.objectContaining({ code: 'UNSERIALIZABLE', message: expect.stringMatching(/^Cannot key or store args\[1\]: it is a function \(log\).*`ignore: \[1\]`/) }),
    );
    expect(() => digester.digestArgs([log])).toThrow(expect.objectContaining({ message: expect.stringContaining('`ignore: [0]`') }));
    let nested = '';
    try {
      digester.callKey(identity, [1, { log }], none);
    } catch (error) {
      nested = (error as Error).message;
    }
    expect(nested).toMatch(/^Cannot key or store args\[1\]\.log: it is a function \(log\)\. Nothing was stored\.$/);
  });
});
