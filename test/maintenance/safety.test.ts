import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModuleMeta } from '../../src/index.js';
import { backup, findRecords, prune, removeRecords, verify } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

describe('removing records keeps the module metadata true', () => {
  it('recounts meta!module after removeRecords (what `memostrata rm` runs)', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const square = cache.memoize('square', (x: number) => x * x);
      for (const x of [1, 2, 3]) await square(x);
    });
    await withStore(path, async (store) => {
      expect(await readModuleMeta(store.serialized, 'square')).toMatchObject({ entries: 3 });
      const records = await findRecords(store, 'square', '');
      await removeRecords(store, records.slice(0, 2), { statePrefix: 's!square!' });
      expect(await readModuleMeta(store.serialized, 'square')).toMatchObject({ entries: 1, bytes: records[2]!.size });
    });
  });
});

describe('backup is never found half-written', () => {
  it('writes nothing at the destination until the copy is complete, and nothing at all when it fails', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('many', (x: number) => [x, x + 1]);
      for (let x = 0; x < 1500; x += 1) await f(x);
    });
    const dest = join(tempDir(), 'backup');
    const seen: boolean[] = [];
    await withStore(path, (store) => backup(store, dest, { onProgress: () => seen.push(existsSync(dest)) }));
    // Every report but the final one comes while the copy is still being written.
    expect(seen.slice(0, -1)).not.toContain(true);
    expect(seen.length).toBeGreaterThan(1);

    const failed = join(tempDir(), 'failed');
    const stop = new Error('interrupted');
    await expect(
      withStore(path, (store) =>
        backup(store, failed, {
          onProgress: (done) => {
            if (done >= 1000) throw stop;
          },
        }),
      ),
    ).rejects.toBe(stop);
    expect(existsSync(failed)).toBe(false);
  });
});

describe('saved states are never collected as garbage', () => {
  it('keeps s! entries through prune and verify --fix', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const { currentCall } = await import('../../src/index.js');
      const job = cache.memoize('job', async (n: number) => {
        await currentCall().save({ step: n, partial: new Float64Array([1, 2, 3]) });
        throw new Error('killed');
      });
      await job(7).catch(() => undefined);
    });
    await withStore(path, async (store) => {
      await prune(store, { olderThanMs: 0, now: Date.now() + 1 });
      const result = await verify(store, { fix: true });
      expect(result.problems).toEqual([]);
      let states = 0;
      for await (const key of store.backend.keys()) if (Buffer.from(key).toString().startsWith('s!job!')) states += 1;
      expect(states).toBe(1);
    });
  });
});
