import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import type { Cache } from '../../src/index.js';
import { keyText, prefixRange } from '../../src/layers/keys.js';

afterAll(removeTempDirs);

/** Holds the CPU for `ms`: an expensive computation, as far as compute time goes. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const LARGE = 10_000;

/** The blob files of the LevelDB store at `path`. */
function blobFiles(path: string): string[] {
  return readdirSync(join(path, 'blobs'), { recursive: true }).map(String).filter((name) => /[0-9a-f]{64}$/.test(name));
}

/** Two pinned large entries, five cheap large ones (the first shares its result with a pinned one), five dear small ones. */
async function fill(cache: Cache): Promise<void> {
  const pinned = cache.memoize('pinned.large', (i: number) => 'p'.repeat(LARGE) + i, { pin: true });
  const cheap = cache.memoize('cheap.large', (i: number) => (i === 0 ? 'p'.repeat(LARGE) + 0 : 'c'.repeat(LARGE) + i));
  const dear = cache.memoize('dear.small', (i: number) => {
    busy(3);
    return i;
  });
  for (let i = 0; i < 2; i++) await pinned(i);
  for (let i = 0; i < 5; i++) await cheap(i);
  for (let i = 0; i < 5; i++) await dear(i);
}

describe('maxBytes', () => {
  const open = openedCaches();

  it('frees the blob files of the large values it evicts (LevelDB)', async () => {
    const path = join(tempDir('memostrata-max-bytes-'), 'store');
    const cache = await open(path, { maxBytes: 3_000_000, largeValueBytes: 100_000 });
    const big = cache.memoize('big', (i: number) => new Float64Array(200_000).fill(i)); // 1.6 MB each, a blob each
    for (let i = 0; i < 4; i++) await big(i);
    await cache.checkpoint();
    expect(blobFiles(path)).toHaveLength(4);
    const evicted = await cache.evict();
    expect(evicted.records).toBeGreaterThanOrEqual(2);
    // Each result is its own blob; the inputs are small values stored whole.
    expect(blobFiles(path)).toHaveLength(4 - evicted.records);
  });

  it('evicts the cheap large entries before the expensive small ones, and never a pinned module', async () => {
    // 2 pinned + 5 cheap entries of ~10 kB and 5 small ones: ~70 kB; 35 kB calls for 4 cheap ones to go.
    const cache = await open(undefined, { maxBytes: 35_000 });
    await fill(cache);
    await cache.checkpoint();
    const evicted = await cache.evict();
    expect(evicted.records).toBe(4);
    expect(await storedRecords(cache, 'pinned.large')).toHaveLength(2);
    expect(await storedRecords(cache, 'dear.small')).toHaveLength(5);
    expect(await storedRecords(cache, 'cheap.large')).toHaveLength(1);
    let bytes = 0;
    for await (const entry of cache.entries()) bytes += entry.bytes;
    expect(bytes).toBeLessThanOrEqual(35_000);
  });

  it('keeps values that other entries still use, and deletes the ones nothing uses', async () => {
    const cache = await open(undefined, { maxBytes: 35_000 });
    await fill(cache);
    await cache.checkpoint();
    await cache.evict();
    for (const module of ['pinned.large', 'dear.small', 'cheap.large']) {
      for (const record of await storedRecords(cache, module)) await expect(cache.store.proxy.loadResult(record)).resolves.toBeDefined();
    }
    const evictedResults = ['c'.repeat(LARGE) + 1, 'c'.repeat(LARGE) + 2, 'c'.repeat(LARGE) + 3, 'c'.repeat(LARGE) + 4].map((value) => cache.store.values.uuidOf(value));
    const kept = new Set((await storedRecords(cache, 'cheap.large')).map((record) => record.result));
    for (const uuid of evictedResults) if (!kept.has(uuid)) expect(await cache.store.values.has(new TextEncoder().encode(`v!${uuid}`))).toBe(false);
  });

  it('stops serving an evicted entry from memory, and leaves no hit counter of it behind', async () => {
    const cache = await open(undefined, { maxBytes: 35_000 });
    await fill(cache);
    let runs = 0;
    const cheap = cache.memoize('cheap.large', (i: number) => {
      runs += 1;
      return i === 0 ? 'p'.repeat(LARGE) + 0 : 'c'.repeat(LARGE) + i;
    });
    await cache.checkpoint();
    // Hits not written yet: their counters would name records that eviction removes.
    for (let i = 0; i < 5; i++) await cheap(i);
    expect(runs).toBe(0);
    await cache.evict();
    await cache.checkpoint();
    const kept = new Set((await storedRecords(cache, 'cheap.large')).map((record) => record.call));
    const counters: string[] = [];
    for await (const key of cache.store.proxy.keys(prefixRange('c!cheap.large!'))) counters.push(keyText(key).split('!')[2]!);
    expect(counters.filter((call) => !kept.has(call))).toEqual([]);
    for (let i = 0; i < 5; i++) await cheap(i);
    expect(runs).toBe(4);
  });

  it('runs by itself after a checkpoint', async () => {
    const cache = await open(undefined, { maxBytes: 35_000 });
    await fill(cache);
    await cache.checkpoint();
    await vi.waitFor(async () => expect(await storedRecords(cache, 'cheap.large')).toHaveLength(1), { timeout: 10_000 });
  });

  it('evicts nothing of a store under the limit, and nothing without one', async () => {
    const under = await open(undefined, { maxBytes: 1_000_000 });
    await fill(under);
    await under.checkpoint();
    expect(await under.evict()).toEqual({ records: 0, bytes: 0, values: 0 });
    const unlimited = await open();
    await fill(unlimited);
    await unlimited.checkpoint();
    expect(await unlimited.evict()).toEqual({ records: 0, bytes: 0, values: 0 });
    expect(await storedRecords(unlimited, 'cheap.large')).toHaveLength(5);
  });

  it('refuses a maxBytes that is not a number of bytes, and a pin that is not a boolean', async () => {
    await expect(open(undefined, { maxBytes: -1 })).rejects.toMatchObject({ code: 'CONFIG' });
    await expect(open(undefined, { maxBytes: '10GB' as unknown as number })).rejects.toMatchObject({ code: 'CONFIG' });
    const cache = await open();
    expect(() => cache.memoize('pin.bad', (x: number) => x, { pin: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });
});
