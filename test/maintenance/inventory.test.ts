import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { findRecord, findRecords, listRecords, moduleSummaries, storeSummary } from '../../src/maintenance/index.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';
import { FORMAT_VERSION } from '../../src/layers/keys.js';

afterAll(removeTempDirs);

describe('inventory', () => {
  it('summarises each module: versions, latest version, entries, sizes, hits and time saved', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const square = cache.memoize('square', (x: number) => x * x, { version: '1' });
      for (const x of [1, 2, 3]) await square(x);
      const text = cache.memoize('text', (n: number) => 'x'.repeat(n));
      await text(100);
    });
    await fillStore(path, async (cache) => {
      const square = cache.memoize('square', (x: number) => x * x, { version: '2' });
      await square(1);
      await square(1);
      await square(1);
      const text = cache.memoize('text', (n: number) => 'x'.repeat(n));
      await text(100); // a hit on the stored record
    });
    const summaries = await withStore(path, (store) => moduleSummaries(store));
    expect(summaries.map((summary) => summary.name)).toEqual(['square', 'text']);
    const [square, text] = summaries;
    expect(square).toMatchObject({ versions: ['1', '2'], latestVersion: '2', entries: 4, hits: 2, errors: 0 });
    expect(text).toMatchObject({ versions: ['1'], latestVersion: '1', entries: 1, hits: 1 });
    expect(text!.bytes).toBeGreaterThanOrEqual(100);
    const records = await withStore(path, (store) => listRecords(store, 'text'));
    expect(text!.savedMs).toBeCloseTo(records[0]!.computeMs, 6);
    expect(text!.computeMs).toBeCloseTo(records[0]!.computeMs, 6);
  });

  it('takes the latest version from the newest record, whatever the key order', async () => {
    const path = storePath();
    // Two modules whose versions go up and down: key order (by call digest) cannot give both answers.
    const names = ['up', 'down', 'sideways'];
    await fillStore(path, async (cache) => {
      for (const [index, name] of names.entries()) {
        const f = cache.memoize(name, (x: number) => x, { version: index === 1 ? '9' : '1' });
        for (const x of [1, 2, 3, 4, 5]) await f(x);
      }
    });
    await sleep(5);
    await fillStore(path, async (cache) => {
      for (const [index, name] of names.entries()) await cache.memoize(name, (x: number) => x, { version: index === 1 ? '1' : '9' })(6);
    });
    const summaries = await withStore(path, (store) => moduleSummaries(store));
    expect(Object.fromEntries(summaries.map((summary) => [summary.name, summary.latestVersion]))).toEqual({ up: '9', down: '1', sideways: '9' });
  });

  it('describes the store: format, on-disk size, values, records and modules', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const same = cache.memoize('same', (x: number) => x % 2);
      for (const x of [1, 2, 3, 4]) await same(x); // inputs 1..4, results 0 and 1: shared with inputs 1
    });
    const summary = await withStore(path, (store) => storeSummary(store));
    expect(summary).toMatchObject({ formatVersion: FORMAT_VERSION, backend: 'level', records: 4, states: { count: 0 } });
    expect(summary.values.count).toBe(5); // 1, 2, 3, 4 and 0; the result 1 is the input 1
    expect(summary.sizeOnDisk).toBeGreaterThan(0);
    expect(summary.modules.map((module) => [module.name, module.entries])).toEqual([['same', 4]]);
  });

  it('finds records by call digest prefix, and names every match when a prefix is ambiguous', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const double = cache.memoize('double', (x: number) => 2 * x);
      for (let x = 0; x < 40; x += 1) await double(x);
    });
    await withStore(path, async (store) => {
      const all = await listRecords(store, 'double');
      expect(all).toHaveLength(40);
      const target = all[7]!;
      expect((await findRecord(store, 'double', target.call.slice(0, 12))).call).toBe(target.call);
      expect(await findRecords(store, 'double', '')).toHaveLength(40);
      // With 40 calls two share their first hex digit.
      const counts = new Map<string, number>();
      for (const record of all) counts.set(record.call[0]!, (counts.get(record.call[0]!) ?? 0) + 1);
      const [digit] = [...counts].find(([, count]) => count > 1)!;
      const error = await findRecord(store, 'double', digit).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
      for (const record of all.filter((record) => record.call.startsWith(digit))) expect((error as Error).message).toContain(record.call);
      await expect(findRecord(store, 'double', 'zz')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });
  });
});
