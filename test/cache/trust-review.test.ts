import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeRegistry, type Cache } from '../../src/index.js';
import { MemostrataError } from '../../src/errors.js';
import { valueKey } from '../../src/layers/keys.js';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

/*
 * Defects a hostile review found in the trust fixes, pinned as they were
 * reported: each test failed before its fix.
 */
const open = openedCaches();
const records = storedRecords;
function failBatches(cache: Cache, times: number): void {
  const proxy = cache.store.proxy;
  const original = proxy.batch.bind(proxy);
  let left = times;
  proxy.batch = (async (...args: Parameters<typeof original>) => {
    if (left > 0) {
      left -= 1;
      throw new MemostrataError('BACKEND', 'store unreachable (test)');
    }
    return original(...args);
  }) as typeof proxy.batch;
}

describe('races and counts found in review: deletes, getters, counters', () => {
  it('clear() then a call made before clear resolves: the cleared result is neither served nor kept', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let version = 'old';
    let h = cache.memoize('h', (x: number) => `${version}:${x}`);
    expect(await h(5)).toBe('old:5');
    await cache.close();
    cache = await open(path);
    version = 'new';
    h = cache.memoize('h', (x: number) => `${version}:${x}`);
    const cleared = h.clear();
    const during = h(5);
    await cleared;
    const seen = await during;
    await cache.checkpoint();
    expect(await h(5)).toBe(seen);
    await cache.close();
    cache = await open(path);
    h = cache.memoize('h', (x: number) => `${version}:${x}`);
    expect(await h(5)).toBe('new:5');
  });

  it('delete() then a call made before delete resolves: the deleted result is not kept', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let version = 'old';
    let h = cache.memoize('h', (x: number) => `${version}:${x}`);
    expect(await h(5)).toBe('old:5');
    await cache.close();
    cache = await open(path);
    version = 'new';
    h = cache.memoize('h', (x: number) => `${version}:${x}`);
    const deleted = h.delete(5);
    const during = h(5);
    await deleted;
    await during;
    await cache.close();
    cache = await open(path);
    h = cache.memoize('h', (x: number) => `${version}:${x}`);
    expect(await h(5)).toBe('new:5');
  });

  it('a stored error that this module does not replay is not counted as a stored hit', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let fail = true;
    const fn = (x: number): number => {
      if (fail) throw new Error('boom');
      return x;
    };
    let f = cache.memoize('f', fn, { cacheErrors: true });
    await expect(f(1)).rejects.toThrow('boom');
    await cache.close();
    cache = await open(path);
    fail = false;
    f = cache.memoize('f', fn);
    expect(await f(1)).toBe(1);
    await cache.checkpoint();
    expect(cache.stats().modules.f!.hits).toBe(0);
    const [record] = await records(cache, 'f');
    expect(record!.hits).toBe(0);
  });

  it('an argument with a getter is keyed, seen and stored as one reading', async () => {
    const cache = await open(join(tempDir(), 'cache'));
    const f = cache.memoize('f', (o: { x: number }) => o.x * 10);
    let n = 0;
    const arg = {
      get x() {
        n += 1;
        return n;
      },
    };
    const first = await f(arg as { x: number });
    // whatever reading the function got, the key must be that reading
    const second = await f({ x: first / 10 });
    expect(second).toBe(first);
    expect(await f({ x: 1 })).toBe(10);
  });

  it('hits counted while an entry is evicted during a flush are written once', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const big = (x: number): string => 'x'.repeat(1000) + String(x);
    let f = cache.memoize('f', big);
    for (let i = 0; i < 5; i++) await f(i);
    await cache.close();
    cache = await open(path, { memoryBudget: 2500 });
    f = cache.memoize('f', big);
    await f(0); // read through: 1 hit
    await f(0); // 2 hits
    await f(0); // 3 hits
    // a checkpoint whose batch overlaps read-throughs that evict f(0)
    const cp = cache.checkpoint();
    const reads = [f(1), f(2), f(3), f(4)];
    await Promise.all([cp, ...reads]);
    await cache.checkpoint();
    await cache.close();
    cache = await open(path);
    const byCall = await records(cache, 'f');
    const total = byCall.reduce((sum, r) => sum + r.hits, 0);
    expect(total).toBe(3 + 4);
  });
});

describe('failed writes and recomputed damage found in review', () => {
  it('a write-through call whose flush meets an unreachable store returns its result', async () => {
    const cache = await open();
    const f = cache.memoize('f', (x: number) => x + 1, { flush: 'write-through' });
    failBatches(cache, 1);
    expect(await f(1)).toBe(2);
  });

  it('a due flush that fails on the call path is retried without further calls', async () => {
    const cache = await open(undefined, { flush: { everyMs: 5 } });
    const f = cache.memoize('f', (x: number) => x + 1);
    await f(0);
    await new Promise((resolve) => setTimeout(resolve, 20)); // timer fired, store flushed
    failBatches(cache, 1);
    await f(1); // schedules
    const until = Date.now() + 10;
    while (Date.now() < until); // starve timers: the next store finds the flush due
    await f(2); // due flush on the call path fails
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cache.pendingWrites()).toBe(0);
  });

  it('a recomputed damaged entry starts its stored hits from zero', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let f = cache.memoize('f', (x: number) => ({ v: x }));
    await f(1);
    for (let i = 0; i < 5; i++) await f(1);
    await cache.close();
    cache = await open(path);
    const [record] = await records(cache, 'f');
    expect(record!.hits).toBe(5);
    await cache.store.serialized.put(valueKey(record!.result!), { v: 999 });
    f = cache.memoize('f', (x: number) => ({ v: x }));
    expect(await f(1)).toEqual({ v: 1 });
    await cache.checkpoint();
    const [after] = await records(cache, 'f');
    expect(after!.hits).toBe(0);
  });
});

describe('a registered type whose decode(encode(x)) drifts', () => {
  it('rejects the call with UNSERIALIZABLE instead of re-keying forever', async () => {
    class Drifting {
      constructor(public n: number) {}
    }
    const types = new TypeRegistry();
    types.register({ name: 'review.Drifting', type: Drifting, encode: (d: Drifting) => d.n, decode: (n: number) => new Drifting(n + 1) });
    const cache = await open(undefined, { types });
    const f = cache.memoize('drift', (d: Drifting) => d.n);
    await expect(f(new Drifting(1))).rejects.toMatchObject({ code: 'UNSERIALIZABLE', message: expect.stringContaining('decode(encode(x))') });
  });
});
