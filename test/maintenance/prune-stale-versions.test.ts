import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { type Cache } from '../../src/index.js';
import { CodeVersionTally, listRecords, prune } from '../../src/maintenance/index.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);
afterEach(() => {
  vi.restoreAllMocks();
});

/** Two versions of one computation's code, as two builds of a program would have them. */
const original = new Function('return (x) => x * 2;')() as (x: number) => number;
const edited = new Function('return (x) => x * 3;')() as (x: number) => number;

/** Runs `fn` memoized with version 'auto' on `inputs` in a cache on `path`; returns the version. */
async function runAuto(path: string, fn: (x: number) => number, inputs: number[]): Promise<string> {
  let version = '';
  await fillStore(path, async (cache: Cache) => {
    const memoized = cache.memoize('scale', fn, { version: 'auto' });
    version = memoized.version;
    for (const input of inputs) await memoized(input);
  });
  return version;
}

/** The versions of the stored calls, sorted. */
async function storedVersions(path: string): Promise<string[]> {
  return withStore(path, async (store) => (await listRecords(store)).map((record) => record.version).sort());
}

describe('prune --stale-versions', () => {
  it("removes the calls of a module's older code versions, and --dry-run only counts them", async () => {
    const path = storePath();
    const before = await runAuto(path, original, [1, 2, 3]);
    const after = await runAuto(path, edited, [1]);
    expect(before).not.toBe(after);

    const dry = await withStore(path, (store) => prune(store, { staleVersions: true, dryRun: true }));
    expect(dry).toMatchObject({ records: 3, byModule: { scale: 3 } });
    expect(await storedVersions(path)).toEqual([before, before, before, after].sort());

    const pruned = await withStore(path, (store) => prune(store, { staleVersions: true }));
    expect(pruned).toMatchObject({ records: 3, byModule: { scale: 3 } });
    expect(await storedVersions(path)).toEqual([after]);
  });

  it('keeps the version a reverted program hit, though it stored nothing new', async () => {
    const path = storePath();
    const before = await runAuto(path, original, [1, 2]);
    const after = await runAuto(path, edited, [1]);
    // Back to the original code: both calls hit, only hit counters are written.
    expect(await runAuto(path, original, [1, 2])).toBe(before);

    const versions = await withStore(path, async (store) => {
      const tally = new CodeVersionTally();
      for (const record of await listRecords(store)) tally.add(record);
      return (await tally.versions(store)).get('scale');
    });
    expect(versions).toMatchObject([
      { version: before, entries: 2, current: true },
      { version: after, entries: 1, current: false },
    ]);
    expect(await withStore(path, (store) => prune(store, { staleVersions: true }))).toMatchObject({ records: 1 });
    expect(await storedVersions(path)).toEqual([before, before]);
  });

  it('goes by the version the module metadata says was stored last, not by clocks that disagree', async () => {
    const path = storePath();
    // A machine whose clock runs an hour ahead stores calls of the original code ...
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 3_600_000);
    const before = await runAuto(path, original, [1, 2]);
    vi.restoreAllMocks();
    // ... then a machine with the right time stores the edited code's: the newest code, the oldest timestamps.
    const after = await runAuto(path, edited, [1]);

    expect(await withStore(path, (store) => prune(store, { staleVersions: true }))).toMatchObject({ records: 2 });
    expect(await storedVersions(path)).toEqual([after]);
    expect(before).not.toBe(after);
  });

  it('treats explicit versions and dependency changes alike', async () => {
    const path = storePath();
    const square = (x: number) => x * x;
    await fillStore(path, async (cache) => {
      const dep = cache.memoize('dep', (x: number) => x, { version: '1' });
      await cache.memoize('square', square, { version: '1', dependsOn: [dep] })(2);
    });
    await fillStore(path, async (cache) => {
      const dep = cache.memoize('dep', (x: number) => x, { version: '2' });
      await cache.memoize('square', square, { version: '1', dependsOn: [dep] })(3);
    });
    const pruned = await withStore(path, (store) => prune(store, { staleVersions: true, modules: ['square'] }));
    expect(pruned).toMatchObject({ records: 1, byModule: { square: 1 } });
    const left = await withStore(path, (store) => listRecords(store, 'square'));
    expect(left.map((record) => record.deps)).toEqual(['dep@2']);
  });
});
