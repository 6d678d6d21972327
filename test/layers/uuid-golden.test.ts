import fc from 'fast-check';
import { v5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { loadDigester } from '../../src/layers/digest.js';
import { UUIDDatabase, UUID_NAMESPACE } from '../../src/layers/uuid-database.js';

describe('UUIDDatabase', () => {
  it('derives the UUID every other process and machine derives (golden values)', async () => {
    const digester = await loadDigester();
    const uuid = (value: unknown) => UUIDDatabase.uuidOfDigest(digester.digest(value));
    expect({ text: uuid('sto-3g'), array: uuid(new Float64Array([1, 2, 3])), object: uuid({ a: 1, b: [true, null] }) }).toEqual({
      array: '7df3cc54-e4c1-5a8a-a752-312e7f01cbed',
      object: '1ac450b2-5764-5485-a699-04a4e507fa12',
      text: '34069c42-e15e-56b6-a8cc-1c2745de68b1',
    });
  });

  it('derives exactly the RFC 9562 version-5 UUID of the digest in its namespace', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (digest) => {
        expect(UUIDDatabase.uuidOfDigest(digest)).toBe(v5(digest, UUID_NAMESPACE));
      }),
      { numRuns: 1000 },
    );
  });
});
