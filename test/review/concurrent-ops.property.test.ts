import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache, type CacheOptions } from '../../src/index.js';
import { storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

type Op = { op: 'call'; m: number; x: number } | { op: 'delete'; m: number; x: number } | { op: 'clear'; m: number } | { op: 'checkpoint' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('call' as const), m: fc.integer({ min: 0, max: 1 }), x: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), m: fc.integer({ min: 0, max: 1 }), x: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), m: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('checkpoint' as const) }) },
);

describe('calls racing deletes, clears and checkpoints of two modules', () => {
  it('return right results, and never store more hits than were served', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.constantFrom<CacheOptions['flush']>('manual', 'write-through', { everyMs: 1 }), async (ops, flush) => {
        const path = tempDir('memostrata-review-race-');
        const options: CacheOptions = { path, handleExit: false, flush };
        let cache = await openCache(options);
        const fns = [0, 1].map((m) => cache.memoize(`mod${m}`, async (x: number) => (await Promise.resolve(), x * 10 + m)));
        try {
          // Launched without waiting on one another: they interleave at every await.
          await Promise.all(
            ops.map(async (o) => {
              if (o.op === 'call') expect(await fns[o.m]!(o.x)).toBe(o.x * 10 + o.m);
              else if (o.op === 'delete') await fns[o.m]!.delete(o.x);
              else if (o.op === 'clear') await fns[o.m]!.clear();
              else await cache.checkpoint();
            }),
          );
          const served = Object.values(cache.stats().modules).reduce((sum, m) => sum + m.hits, 0);
          await cache.close();
          cache = await openCache(options);
          let storedHits = 0;
          for (const m of [0, 1]) {
            for (const record of await storedRecords(cache, `mod${m}`)) storedHits += record.hits;
            // Whatever is stored is right.
            const g = cache.memoize(`mod${m}`, async (x: number) => x * 10 + m);
            for (const x of [0, 1, 2]) expect(await g(x)).toBe(x * 10 + m);
          }
          expect(storedHits).toBeLessThanOrEqual(served);
        } finally {
          await cache.close();
        }
      }),
      { numRuns: 30 },
    );
  });
});
