import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BatchOperation, WriteOptions, WriteStage } from '../../src/contract/database.js';
import { FLUSH_PART_ENTRIES } from '../../src/cache/staged-flush.js';
import { openCache, type Cache } from '../../src/index.js';
import { keyText, prefixRange } from '../../src/layers/keys.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

/** More entries than two parts of a staged flush hold. */
const ENTRIES = 2 * FLUSH_PART_ENTRIES + 7;

type StageableBackend = Cache['store']['backend'] & { openStage(): WriteStage };

async function fill(cache: Cache, name = 'square'): Promise<(x: number) => Promise<number>> {
  // No leases: each leased miss on LMDB is a durable write of its own, which is not what is tested here.
  const square = cache.memoize(name, (x: number) => x * x, { flush: 'manual', lease: false });
  for (let x = 0; x < ENTRIES; x++) await square(x);
  return square;
}

async function recordCount(cache: Cache): Promise<number> {
  let count = 0;
  for await (const _ of cache.store.serialized.keys(prefixRange('m!'))) count += 1;
  return count;
}

describe.each(['level', 'lmdb'] as const)('a checkpoint on %s', (type) => {
  const path = (name: string): string => join(tempDir(), name);

  it('hands the backend its batch in parts of bounded size, and every entry hits after a restart', async () => {
    const location = path('parts');
    const cache = await openCache({ backend: { type, path: location }, handleExit: false });
    const square = await fill(cache);
    const backend = cache.store.backend;
    const batch = backend.batch.bind(backend);
    const sizes: number[] = [];
    backend.batch = async (operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options?: WriteOptions) => {
      sizes.push(operations.length);
      return batch(operations, options);
    };
    await cache.checkpoint();
    backend.batch = batch;
    // Each entry writes its record and its result (its argument too, unless equal to a result already written).
    expect(sizes.length).toBeGreaterThan(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3 * FLUSH_PART_ENTRIES + 10);
    await cache.close();

    const reopened = await openCache({ backend: { type, path: location }, handleExit: false });
    const again = reopened.memoize('square', (x: number) => -x, { flush: 'manual', lease: false });
    for (const x of [0, FLUSH_PART_ENTRIES, ENTRIES - 1]) expect(await again(x)).toBe(x * x);
    expect(await recordCount(reopened)).toBe(ENTRIES);
    await reopened.close();
    void square;
  });

  it('writes none of its parts when the final write fails, keeps them dirty, and writes all of them at the next checkpoint', async () => {
    const location = path('fails');
    const cache = await openCache({ backend: { type, path: location }, handleExit: false });
    await fill(cache);
    const backend = cache.store.backend as StageableBackend;
    const openStage = backend.openStage.bind(backend);
    let staged = 0;
    backend.openStage = () => {
      const stage = openStage();
      // The process dies, or the disk fills, after every part was staged and before the write.
      stage.commit = async () => {
        staged = stage.size;
        await stage.discard();
        throw new Error('disk full');
      };
      return stage;
    };
    await expect(cache.checkpoint()).rejects.toThrow('disk full');
    expect(staged).toBeGreaterThan(2 * ENTRIES);
    expect(await recordCount(cache)).toBe(0);
    expect(cache.pendingWrites()).toBe(ENTRIES);
    backend.openStage = openStage;
    await cache.checkpoint();
    expect(await recordCount(cache)).toBe(ENTRIES);
    expect(cache.pendingWrites()).toBe(0);
    await cache.close();
  });

  it('adds the hits of more calls than a part holds to their counters', async () => {
    const location = path('hits');
    const cache = await openCache({ backend: { type, path: location }, handleExit: false });
    const square = await fill(cache);
    await cache.checkpoint();
    for (let x = 0; x < ENTRIES; x++) await square(x);
    for (let x = 0; x < 3; x++) await square(x);
    await cache.close();

    const reopened = await openCache({ backend: { type, path: location }, handleExit: false });
    const hits = new Map<string, number>();
    for await (const entry of reopened.entries({ module: 'square' })) hits.set(String(entry.hits), (hits.get(String(entry.hits)) ?? 0) + 1);
    expect(Object.fromEntries(hits)).toEqual({ '1': ENTRIES - 3, '2': 3 });
    await reopened.close();
  });
});

describe('a staged checkpoint', () => {
  it('stores a value that entries in different parts share once', async () => {
    const cache = await openCache({ backend: { type: 'level', path: join(tempDir(), 'shared') }, handleExit: false });
    const label = cache.memoize('label', (x: number) => (x % 2 === 0 ? 'even' : 'odd'), { flush: 'manual' });
    for (let x = 0; x < ENTRIES; x++) await label(x);
    const backend = cache.store.backend;
    const batch = backend.batch.bind(backend);
    const valuePuts = new Map<string, number>();
    backend.batch = async (operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options?: WriteOptions) => {
      for (const op of operations) if (op.type === 'put' && keyText(op.key).startsWith('v!')) valuePuts.set(keyText(op.key), (valuePuts.get(keyText(op.key)) ?? 0) + 1);
      return batch(operations, options);
    };
    await cache.checkpoint();
    backend.batch = batch;
    // ENTRIES arguments, and the two results.
    expect(valuePuts.size).toBe(ENTRIES + 2);
    expect(Math.max(...valuePuts.values())).toBe(1);
    await cache.close();
  });
});
