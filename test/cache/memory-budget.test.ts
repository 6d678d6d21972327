import { afterAll, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';

const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const cache of opened) await cache.close();
});

describe('memoryBudget with many small results', () => {
  it('counts what each entry held in memory costs besides its result, so small results do not pile up far past the budget', async () => {
    const cache = await openCache({ backend: { type: 'memory' }, flush: 'manual', handleExit: false, memoryBudget: 64 * 1024 });
    opened.push(cache);
    let runs = 0;
    const f = cache.memoize('f', (x: number) => {
      runs += 1;
      return x + 1; // about 9 bytes encoded: 1,000 results alone are 9 KB, well under the budget
    });
    for (let x = 0; x < 1000; x++) await f(x);
    await cache.checkpoint();
    await f(1000); // a new entry makes the module look at its budget again
    // Each entry held costs hundreds of bytes of record and bookkeeping: 64 KiB holds about a hundred, not a thousand.
    expect(cache.stats().modules['f']!.entries).toBeLessThanOrEqual(100);
    for (let x = 0; x <= 1000; x++) expect(await f(x)).toBe(x + 1);
    expect(runs).toBe(1001);
  });
});
