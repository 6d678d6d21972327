import { describe, expect, it } from 'vitest';
import type { BatchOperation } from '../../src/contract/database.js';
import { openCache } from '../../src/index.js';
import { keyText, prefixRange } from '../../src/layers/keys.js';

describe('checkpoint', () => {
  it('writes every module in one batch: a failure writes no module’s entries', async () => {
    const cache = await openCache({ backend: { type: 'memory' }, handleExit: false });
    const a = cache.memoize('a', (x: number) => x + 1, { flush: 'manual' });
    const b = cache.memoize('b', (x: number) => x + 2, { flush: 'manual' });
    await a(1);
    await b(1);
    const backend = cache.store.backend;
    const batch = backend.batch.bind(backend);
    // The disk fills up while module b's records are written.
    backend.batch = async (operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options) => {
      if (operations.some((op) => keyText(op.key).startsWith('m!b!'))) throw new Error('disk full');
      return batch(operations, options);
    };
    await expect(cache.checkpoint()).rejects.toThrow('disk full');
    const records: string[] = [];
    for await (const key of cache.store.serialized.keys(prefixRange('m!'))) records.push(keyText(key));
    expect(records).toEqual([]);
    backend.batch = batch;
    await cache.checkpoint();
    expect(await a.has(1)).toBe(true);
    expect(await b.has(1)).toBe(true);
    await cache.close();
  });
});
