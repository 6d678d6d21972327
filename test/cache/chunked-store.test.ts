import { describe, expect, it } from 'vitest';
import type { BatchOperation } from '../../src/index.js';
import { KeyPrefix, keyText } from '../../src/layers/keys.js';
import { openedCaches } from '../helpers/open-caches.js';

const open = openedCaches();

/** The key texts of every batch the cache's top layer is asked to write. */
function recordBatches(cache: Awaited<ReturnType<typeof open>>): string[][] {
  const batches: string[][] = [];
  const proxy = cache.store.proxy;
  const original = proxy.batch.bind(proxy);
  proxy.batch = ((operations: readonly BatchOperation<Uint8Array, unknown>[], options) => {
    batches.push(operations.map((op) => keyText(op.key)));
    return original(operations, options);
  }) as typeof proxy.batch;
  return batches;
}

describe('a checkpoint on a store that applies batches in chunks (atomicBatches: false)', () => {
  it('writes the new values in one batch and, once it is acknowledged, the records that name them in the next', async () => {
    const cache = await open();
    Object.assign(cache.store.backend, { manifest: { ...cache.store.backend.manifest, atomicBatches: false } });
    const batches = recordBatches(cache);
    const f = cache.memoize('f', (x: number) => ({ x }));
    await Promise.all([f(1), f(2), f(3)]);
    await cache.checkpoint();
    expect(batches).toHaveLength(2);
    expect(batches[0]!.length).toBeGreaterThan(0);
    expect(batches[0]!.every((key) => key.startsWith(KeyPrefix.value))).toBe(true);
    expect(batches[1]!.filter((key) => key.startsWith(KeyPrefix.record))).toHaveLength(3);
    expect(batches[1]!.some((key) => key.startsWith(KeyPrefix.value))).toBe(false);
  });

  it('writes one batch where batches are atomic', async () => {
    const cache = await open();
    const batches = recordBatches(cache);
    const f = cache.memoize('f', (x: number) => ({ x }));
    await Promise.all([f(1), f(2)]);
    await cache.checkpoint();
    expect(batches).toHaveLength(1);
  });
});
