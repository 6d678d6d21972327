import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UuidStrings } from '../../src/layers/uuid-strings.js';

/** A UUID made the way UUIDDatabase makes them: pieces of a hex string joined by a template literal. */
function builtUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

describe('UuidStrings', () => {
  it('gives back the same text for any string, UUID or not', () => {
    const strings = new UuidStrings();
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[0-9a-f]{32}$/).map(builtUuid)), (text) => {
        expect(strings.intern(text)).toBe(text);
        expect(strings.intern(text)).toBe(text);
      }),
    );
  });

  it('keeps answering with equal text after more distinct UUIDs than its table holds', () => {
    const strings = new UuidStrings();
    const hex = (index: number): string => index.toString(16).padStart(32, '0');
    for (let index = 0; index < 10_000; index++) expect(strings.intern(builtUuid(hex(index)))).toBe(builtUuid(hex(index)));
    expect(strings.intern(builtUuid(hex(3)))).toBe(builtUuid(hex(3)));
  });

  it('leaves a string with a lone surrogate as it is (a byte round trip would change it)', () => {
    const strings = new UuidStrings();
    const odd = `${'0'.repeat(8)}-0000-0000-0000-00000000000\ud800`;
    expect(strings.intern(odd)).toBe(odd);
  });
});
