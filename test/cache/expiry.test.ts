import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

/** Waits until the clock has moved past `ms` after `since`; what the tests assert is only "older than". */
async function pastAge(since: number, ms: number): Promise<void> {
  while (Date.now() - since <= ms) await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('maxAge', () => {
  const open = openedCaches();

  it('recomputes and replaces an entry older than the cache maxAge, even one held in memory', async () => {
    const cache = await open(undefined, { maxAge: 20 });
    let runs = 0;
    const f = cache.memoize('expiry.cache', (x: number) => ({ x, run: ++runs }));
    const started = Date.now();
    const first = await f(1);
    expect(await f(1)).toEqual(first);
    await pastAge(started, 20);
    const again = await f(1);
    expect(again.run).toBe(2);
    expect(runs).toBe(2);
    await cache.checkpoint();
    const records = await storedRecords(cache, 'expiry.cache');
    expect(records).toHaveLength(1);
    expect(await f(1)).toEqual(again);
  });

  it('expires entries read back from the store after a restart', async () => {
    const path = join(tempDir(), 'store');
    let cache = await open(path);
    let runs = 0;
    const body = (x: number): number => {
      runs += 1;
      return x;
    };
    await cache.memoize('expiry.restart', body)(1);
    await cache.close();
    const storedAt = Date.now();
    cache = await open(path, { maxAge: 30 });
    const f = cache.memoize('expiry.restart', body);
    await pastAge(storedAt, 30);
    expect(await f.has(1)).toBe(false);
    const explanation = await f.explain(1);
    expect(explanation.hit).toBe(false);
    expect(explanation.nearest?.differences.map((d) => d.kind)).toEqual(['expired']);
    await f(1);
    expect(runs).toBe(2);
  });

  it("lets a module's maxAge win over the cache's, Infinity included", async () => {
    const cache = await open(undefined, { maxAge: 10 });
    let runs = 0;
    const forever = cache.memoize(
      'expiry.forever',
      (x: number) => {
        runs += 1;
        return x;
      },
      { maxAge: Infinity },
    );
    const started = Date.now();
    await forever(1);
    await pastAge(started, 10);
    await forever(1);
    expect(runs).toBe(1);
    expect(await forever.has(1)).toBe(true);
  });

  it('refuses a maxAge that is not a positive number', async () => {
    const cache = await open();
    for (const maxAge of [0, -1, '1d', Number.NaN]) {
      expect(() => cache.memoize('expiry.bad', (x: number) => x, { maxAge: maxAge as number })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    }
    await expect(open(undefined, { maxAge: -5 })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});
