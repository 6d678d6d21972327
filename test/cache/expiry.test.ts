import { afterAll, describe, expect, it, vi } from 'vitest';
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
    await f(1);
    // Stored by now: its createdAt is at most this.
    const storedBy = Date.now();
    await pastAge(storedBy, 20);
    const again = await f(1);
    expect(again.run).toBe(2);
    expect(runs).toBe(2);
    await cache.checkpoint();
    // Replaced: one record, the recomputed one.
    const records = await storedRecords(cache, 'expiry.cache');
    expect(records).toHaveLength(1);
    expect(records[0]!.createdAt).toBeGreaterThan(storedBy);
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

  it('has explainMisses say that a miss is an expired entry', async () => {
    const cache = await open(undefined, { maxAge: 20, explainMisses: true });
    const f = cache.memoize('expiry.explained', (x: number) => x);
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await f(1);
      await pastAge(Date.now(), 20);
      await f(1);
    } finally {
      spy.mockRestore();
    }
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^memostrata: miss in 'expiry\.explained': expired \(stored .* ago, maxAge 20 ms\) vs stored call [0-9a-f]{12}\n$/);
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
    await forever(1);
    await pastAge(Date.now(), 10);
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
