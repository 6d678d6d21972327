import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadDigester } from '../../src/layers/digest.js';
import { defaultTypes } from '../../src/layers/type-registry.js';
import { copyValue } from '../../src/layers/value-copy.js';
import { strictDeepEqual, supportedValue } from '../helpers/supported-values.js';

/** Every object reachable from `value` (views' buffers included, except Node's shared pool behind small Buffers). */
function objectsOf(value: unknown, found = new Set<object>()): Set<object> {
  if (value === null || typeof value !== 'object' || found.has(value)) return found;
  found.add(value);
  if (ArrayBuffer.isView(value)) {
    if (!Buffer.isBuffer(value)) found.add(value.buffer);
  }
  else if (value instanceof Map) for (const [k, v] of value) (objectsOf(k, found), objectsOf(v, found));
  else if (value instanceof Set) for (const item of value) objectsOf(item, found);
  else if (!(value instanceof Date) && !(value instanceof ArrayBuffer)) for (const item of Object.values(value)) objectsOf(item, found);
  return found;
}

describe('copyValue (what a miss computes on)', () => {
  it('keys exactly like the original, equals it, and shares no object with it', async () => {
    const digester = await loadDigester();
    fc.assert(
      fc.property(supportedValue(), (value) => {
        const copy = copyValue(value, 'value', defaultTypes);
        expect(Buffer.compare(digester.digest(copy), digester.digest(value))).toBe(0);
        expect(strictDeepEqual(copy, value)).toBe(true);
        const originals = objectsOf(value);
        for (const object of objectsOf(copy)) expect(originals.has(object)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps __proto__ as a key, holes as holes and null prototypes', () => {
    const object = JSON.parse('{"__proto__": {"a": 1}}') as Record<string, unknown>;
    const copied = copyValue(object, 'value', defaultTypes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype);
    expect(Object.keys(copied)).toEqual(['__proto__']);
    const holes = copyValue([1, , 3], 'value', defaultTypes) as unknown[];
    expect(1 in holes).toBe(false);
    const bare = Object.assign(Object.create(null) as object, { x: 1 });
    expect(Object.getPrototypeOf(copyValue(bare, 'value', defaultTypes))).toBe(null);
  });

  it('refuses what cannot be keyed, naming the path', () => {
    expect(() => copyValue({ mesh: { nodes: () => 0 } }, 'args[1]', defaultTypes)).toThrow(expect.objectContaining({ code: 'UNSERIALIZABLE', message: expect.stringContaining('args[1].mesh.nodes') }));
  });
});
