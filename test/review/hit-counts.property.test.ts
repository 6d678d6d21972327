import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache, type Cache, type CacheOptions } from '../../src/index.js';
import { storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

type Step =
  | { op: 'call'; x: number }
  | { op: 'delete'; x: number }
  | { op: 'clear' }
  | { op: 'checkpoint' }
  | { op: 'reopen' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('call' as const), x: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), x: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('checkpoint' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reopen' as const) }) },
);

const flushPolicy = fc.constantFrom<CacheOptions['flush']>('manual', 'write-through', { everyMs: 1 });

describe('stored hit counters', () => {
  it('equal the hits served, over any sequence of calls, deletes, clears, checkpoints and reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), flushPolicy, fc.boolean(), async (steps, flush, small) => {
        const path = tempDir('memostrata-review-hits-');
        const options: CacheOptions = { path, handleExit: false, flush, ...(small ? { memoryBudget: 1 } : {}) };
        let cache: Cache = await openCache(options);
        const hits = new Map<number, number>(); // model: stored calls and their hits
        let runs = 0;
        const memo = (c: Cache) => c.memoize('sq', (x: number) => (runs++, x * 10));
        let f = memo(cache);
        try {
          for (const s of steps) {
            if (s.op === 'call') {
              const before = runs;
              expect(await f(s.x)).toBe(s.x * 10);
              if (hits.has(s.x)) {
                expect(runs).toBe(before); // a stored call is a hit
                hits.set(s.x, hits.get(s.x)! + 1);
              } else {
                expect(runs).toBe(before + 1);
                hits.set(s.x, 0);
              }
            } else if (s.op === 'delete') {
              await f.delete(s.x);
              hits.delete(s.x);
            } else if (s.op === 'clear') {
              await f.clear();
              hits.clear();
            } else if (s.op === 'checkpoint') {
              await cache.checkpoint();
            } else {
              await cache.close();
              cache = await openCache(options);
              f = memo(cache);
            }
          }
          await cache.close();
          cache = await openCache(options);
          const stored = new Map((await storedRecords(cache, 'sq')).map((record) => [record.inputs.join(), record.hits] as const));
          expect(stored.size).toBe(hits.size);
          expect([...stored.values()].sort()).toEqual([...hits.values()].sort());
        } finally {
          await cache.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});
