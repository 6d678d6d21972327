import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { operationBytes, splitIntoChunks } from '../../src/backends/redis-chunks.js';
import { slotTag } from '../../src/backends/redis-keyspace.js';
import type { BatchOperation } from '../../src/contract/database.js';

type Operation = BatchOperation<Uint8Array, Uint8Array>;
const put = (key: number, size: number): Operation => ({ type: 'put', key: new Uint8Array([key]), value: new Uint8Array(size) });
const text = (value: string): Uint8Array => new TextEncoder().encode(value);

describe('a Redis batch cut into chunks', () => {
  it('keeps every operation, in order, and no chunk over the operation or byte limit unless it holds one operation alone', () => {
    const operation = fc.oneof(
      fc.record({ type: fc.constant('put' as const), key: fc.uint8Array({ minLength: 1, maxLength: 8 }), value: fc.uint8Array({ maxLength: 3000 }) }),
      fc.record({ type: fc.constant('del' as const), key: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 20_000 }), (operations, most, bytes) => {
        const chunks = splitIntoChunks(operations, { operations: most, bytes }, 11);
        expect(chunks.flat()).toEqual(operations);
        for (const chunk of chunks) {
          expect(chunk.length).toBeGreaterThan(0);
          expect(chunk.length).toBeLessThanOrEqual(most);
          const size = chunk.reduce((sum, op) => sum + operationBytes(op, 11), 0);
          if (chunk.length > 1) expect(size).toBeLessThanOrEqual(bytes);
        }
      }),
    );
  });

  it('sends a checkpoint of 100k small entries as 100 commands of 1000 operations under the default limits', () => {
    const operations = Array.from({ length: 100_000 }, (_, i) => put(i % 256, 100));
    const chunks = splitIntoChunks(operations, { operations: 1000, bytes: 4 * 2 ** 20 }, 11);
    expect(chunks.map((chunk) => chunk.length)).toEqual(Array.from({ length: 100 }, () => 1000));
  });

  it('cuts by bytes before operations when values are large', () => {
    const chunks = splitIntoChunks([put(1, 600), put(2, 600), put(3, 600), put(4, 5000)], { operations: 1000, bytes: 1500 }, 11);
    expect(chunks.map((chunk) => chunk.map((op) => op.key[0]))).toEqual([[1, 2], [3], [4]]);
  });
});

describe('the hash tag of a Redis key', () => {
  it("is the same for a call's record, saved state, counters and lease, and differs between calls and modules", () => {
    const moduleName = fc.string({ minLength: 1, maxLength: 20 }).filter((name) => !/[!\u0000-\u001f\u007f]/.test(name));
    const call = fc.stringMatching(/^[0-9a-f]{8,32}$/);
    fc.assert(
      fc.property(moduleName, call, call, fc.stringMatching(/^[0-9a-z]{1,12}$/), (module, a, b, writer) => {
        const tags = [`m!${module}!${a}`, `s!${module}!${a}`, `c!${module}!${a}!${writer}`, `l!${module}!${a}`].map((key) => slotTag(text(key)));
        expect(new Set(tags).size).toBe(1);
        if (a !== b) expect(slotTag(text(`m!${module}!${b}`))).not.toBe(tags[0]);
        expect(slotTag(text(`m!${module}x!${a}`))).not.toBe(tags[0]);
      }),
    );
  });

  it('is eight hex digits, whatever braces the key holds', () => {
    for (const key of ['m!{x}!1', 'v!}{', 'meta!format', '{}']) expect(slotTag(text(key))).toMatch(/^[0-9a-f]{8}$/);
  });
});
