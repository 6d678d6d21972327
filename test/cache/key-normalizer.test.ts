import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const open = openedCaches();
afterAll(removeTempDirs);

/** Rounds to three decimals: the tolerance the tests key by. `+ 0` turns the -0 of Math.round(-0.4) into 0, which keys apart from -0. */
const toMilli = (x: number): number => Math.round(x * 1000) / 1000 + 0;

describe('memoize key normalizer', () => {
  it('keys calls by what it returns: values equal after rounding are one call', async () => {
    const cache = await open();
    const seen: number[] = [];
    const f = cache.memoize(
      'rounded',
      (x: number) => {
        seen.push(x);
        return x * 2;
      },
      { key: (x) => [toMilli(x)] },
    );
    expect(await f(1.00001)).toBe(2.00002);
    // Same key (1.000): the stored result of the first call, without running.
    expect(await f(1.00004)).toBe(2.00002);
    expect(await f(1.002)).toBe(2.004);
    expect(seen).toEqual([1.00001, 1.002]);
    expect(cache.stats().modules['rounded']).toMatchObject({ hits: 1, misses: 2 });
  });

  it('hits for any two arguments that round alike (property)', async () => {
    const cache = await open();
    let runs = 0;
    const f = cache.memoize('rounded.property', (x: number) => ((runs += 1), toMilli(x)), { key: (x) => [toMilli(x)] });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -10_000, max: 10_000 }), fc.double({ min: -0.0004, max: 0.0004, noNaN: true }), async (milli, jitter) => {
        const base = milli / 1000;
        fc.pre(Object.is(toMilli(base + jitter), toMilli(base)));
        const before = runs;
        const first = await f(base);
        const second = await f(base + jitter);
        expect(second).toBe(first);
        expect(runs - before).toBeLessThanOrEqual(1);
      }),
      { numRuns: 100 },
    );
  });

  it('keys -0 apart from 0, as arguments are: a rounding normalizer has to say + 0', async () => {
    const cache = await open();
    let runs = 0;
    const naive = cache.memoize('rounded.naive', (x: number) => ((runs += 1), x), { key: (x) => [Math.round(x)] });
    await naive(0.2);
    await naive(-0.2);
    expect(runs).toBe(2);
    const careful = cache.memoize('rounded.careful', (x: number) => ((runs += 1), x), { key: (x) => [Math.round(x) + 0] });
    await careful(0.2);
    await careful(-0.2);
    expect(runs).toBe(3);
  });

  it('gives the function the original arguments, irrelevant fields included', async () => {
    const cache = await open();
    const received: unknown[][] = [];
    const f = cache.memoize(
      'options',
      (mesh: number[], options: { tolerance: number; logLabel: string }) => {
        received.push([mesh, options]);
        return mesh.length;
      },
      { key: (mesh, { tolerance }) => [mesh, tolerance] },
    );
    expect(await f([1, 2], { tolerance: 0.1, logLabel: 'first' })).toBe(2);
    expect(await f([1, 2], { tolerance: 0.1, logLabel: 'second' })).toBe(2);
    expect(received).toEqual([[[1, 2], { tolerance: 0.1, logLabel: 'first' }]]);
  });

  it('stores the normalized values as the call’s inputs, and hits them after a restart', async () => {
    const path = join(tempDir(), 'cache');
    const first = await open(path);
    const f = first.memoize('stored', (x: number) => x + 1, { key: (x) => [toMilli(x)] });
    await f(2.00003);
    await first.checkpoint();
    const [record] = await storedRecords(first, 'stored');
    expect(record!.inputs).toEqual([first.store.values.uuidOf(2)]);
    await first.close();

    const second = await open(path);
    let runs = 0;
    const again = second.memoize('stored', (x: number) => ((runs += 1), x + 1), { key: (x) => [toMilli(x)] });
    expect(await again(1.99998)).toBe(3.00003);
    expect(runs).toBe(0);
  });

  it('never serves the keys of another normalizer: its source is part of the identity', async () => {
    const path = join(tempDir(), 'cache');
    const first = await open(path);
    // 0.12 keys as [12] ...
    await first.memoize('scaled', (x: number) => x, { key: (x) => [Math.round(x * 100)] })(0.12);
    await first.close();
    const second = await open(path);
    // ... and so does 1.2 under this normalizer: it must not get 0.12's result.
    const f = second.memoize('scaled', (x: number) => x, { key: (x) => [Math.round(x * 10)] });
    expect(await f(1.2)).toBe(1.2);
    // Nor does a module without a normalizer read the normalized keys.
    const third = second.memoize('plain', (x: number) => x);
    expect(third.identity).not.toBe(f.identity);
  });

  it('has() and delete() key by the normalizer too', async () => {
    const cache = await open();
    const f = cache.memoize('lookup', (x: number) => x, { key: (x) => [toMilli(x)] });
    await f(5.00001);
    expect(await f.has(5.00002)).toBe(true);
    await f.delete(4.99999);
    expect(await f.has(5.00001)).toBe(false);
  });

  it('rejects the call with the normalizer’s error, storing nothing', async () => {
    const cache = await open();
    let runs = 0;
    const f = cache.memoize(
      'throwing',
      (x: number) => ((runs += 1), x),
      {
        key: (x) => {
          if (x < 0) throw new RangeError('negative input');
          return [x];
        },
      },
    );
    await expect(f(-1)).rejects.toThrow(new RangeError('negative input'));
    expect(runs).toBe(0);
    expect(cache.pendingWrites()).toBe(0);
    await cache.checkpoint();
    expect(await storedRecords(cache, 'throwing')).toEqual([]);
  });

  it('rejects with CONFIG when the normalizer returns no array', async () => {
    const cache = await open();
    const f = cache.memoize('not.array', (x: number) => x, { key: ((x: number) => x) as unknown as (x: number) => number[] });
    await expect(f(1)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('must return an array') });
    expect(cache.pendingWrites()).toBe(0);
  });

  it('refuses key together with ignore, and a key that is not a function, with CONFIG', async () => {
    const cache = await open();
    expect(() => cache.memoize('both', (x: number, log: () => void) => (log(), x), { key: (x) => [x], ignore: [1] })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('key and ignore cannot be combined') }),
    );
    expect(() => cache.memoize('bad', (x: number) => x, { key: 3 as unknown as () => unknown[] })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => cache.memoize('bound.key', (x: number) => x, { key: ((x: number) => [x]).bind(null) })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('key normalizer cannot be fingerprinted') }),
    );
  });
});
