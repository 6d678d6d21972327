import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import type { Cache, EntryInfo, EntryQuery } from '../../src/index.js';

afterAll(removeTempDirs);

async function all(cache: Cache, query?: EntryQuery): Promise<EntryInfo[]> {
  const found: EntryInfo[] = [];
  for await (const entry of cache.entries(query)) found.push(entry);
  return found;
}

describe('cache.entries()', () => {
  const open = openedCaches();

  const filled = async (): Promise<Cache> => {
    const cache = await open();
    const small = cache.memoize('entries.small', (i: number) => i);
    const big = cache.memoize('entries.big', (i: number) => {
      const until = performance.now() + 2;
      while (performance.now() < until);
      return 'x'.repeat(100 * (i + 1));
    });
    for (let i = 0; i < 3; i++) await small(i);
    for (let i = 0; i < 3; i++) await big(i);
    await big(0);
    await cache.checkpoint();
    return cache;
  };

  it('yields every stored entry with its metadata, loading no result', async () => {
    const cache = await filled();
    const entries = await all(cache);
    expect(entries).toHaveLength(6);
    const loads = (cache.store.values.load = ((original) => {
      let count = 0;
      const wrapped = Object.assign((uuid: string) => {
        count += 1;
        return original(uuid);
      }, { count: () => count });
      return wrapped;
    })(cache.store.values.load.bind(cache.store.values)));
    const big = await all(cache, { module: 'entries.big' });
    expect(loads.count()).toBe(0);
    expect(big).toHaveLength(3);
    for (const entry of big) {
      expect(entry).toMatchObject({ module: 'entries.big', version: '1', error: false });
      expect(entry.call).toMatch(/^[0-9a-f]{32}$/);
      expect(entry.computeMs).toBeGreaterThan(0);
    }
    expect(big.map((entry) => entry.hits).sort()).toEqual([0, 0, 1]);
    expect(big.map((entry) => entry.bytes).sort((a, b) => a - b)).toEqual([105, 205, 305]);
  });

  it('filters by time stored, compute time, and sorts and limits', async () => {
    const cache = await filled();
    const entries = await all(cache);
    const times = entries.map((entry) => entry.createdAt).sort((a, b) => a - b);
    const middle = times[3]!;
    expect((await all(cache, { since: middle })).every((entry) => entry.createdAt >= middle)).toBe(true);
    expect((await all(cache, { before: new Date(middle) })).every((entry) => entry.createdAt < middle)).toBe(true);
    expect((await all(cache, { since: middle })).length + (await all(cache, { before: middle })).length).toBe(6);
    expect((await all(cache, { minComputeMs: 2 })).map((entry) => entry.module)).toEqual(['entries.big', 'entries.big', 'entries.big']);
    const largest = await all(cache, { sortBy: 'bytes', limit: 2 });
    expect(largest.map((entry) => entry.bytes)).toEqual([305, 205]);
    expect((await all(cache, { sortBy: 'hits', limit: 1 }))[0]!.hits).toBe(1);
    expect(await all(cache, { limit: 0 })).toEqual([]);
  });

  it('refuses a wrong query before reading anything', async () => {
    const cache = await open();
    for (const query of [{ sortBy: 'size' }, { limit: -1 }, { since: 'yesterday' }, { minComputeMs: -3 }, { modul: 'x' }, { module: 'a!b' }]) {
      expect(() => cache.entries(query as EntryQuery)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
