import { afterEach } from 'vitest';
import { openCache, type Cache, type CacheOptions } from '../../src/index.js';
import type { MemoRecord } from '../../src/layers/memo-record.js';

/**
 * `open(path?, options?)`: a cache on the LevelDB store at `path` (or in
 * memory without one), with exit hooks off, closed after each test of the
 * file that calls this.
 */
export function openedCaches(): (path?: string, options?: CacheOptions) => Promise<Cache> {
  const caches: Cache[] = [];
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close().catch(() => undefined)));
  });
  return async (path, options = {}) => {
    const cache = await openCache({ ...(path === undefined ? { backend: { type: 'memory' } } : { path }), handleExit: false, ...options });
    caches.push(cache);
    return cache;
  };
}

/** Every stored record of `module`, hits summed, in key order. */
export async function storedRecords(cache: Cache, module: string): Promise<MemoRecord[]> {
  const found: MemoRecord[] = [];
  for await (const record of cache.store.proxy.records(module)) found.push(record);
  return found;
}
