import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// Through the package's own name: package.json "exports" resolve these to dist/ (built by test/global-setup.ts), as in a user's project.
import { LevelBackend, MemoryBackend } from 'memostrata';
import { runDatabaseContract } from 'memostrata/testing';
import { CountingLayer } from '../fixtures/example-counting-layer.js';
import { SortedMapBackend } from '../fixtures/example-sorted-map-backend.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

/* The worked examples of docs/extending.md, run through the shipped suite as a user would. */
runDatabaseContract('SortedMapBackend (docs/extending.md)', { open: async () => new SortedMapBackend() });

runDatabaseContract('CountingLayer over SortedMapBackend (docs/extending.md)', { open: async () => new CountingLayer(new SortedMapBackend()) });

const storeOf = new WeakMap<object, string>();
const countingOverLevel = async (path: string): Promise<CountingLayer<Uint8Array>> => {
  const layer = new CountingLayer(await LevelBackend.open(path));
  storeOf.set(layer, path);
  return layer;
};
runDatabaseContract('CountingLayer over LevelBackend', {
  open: () => countingOverLevel(join(tempDir(), 'store')),
  reopen: (closed) => countingOverLevel(storeOf.get(closed)!),
});

describe('CountingLayer (docs/extending.md)', () => {
  it('counts the reads, writes and deletes that reach the layer below, batches included', async () => {
    const layer = new CountingLayer(new MemoryBackend());
    const key = new Uint8Array([1]);
    await layer.put(key, new Uint8Array([2]));
    await layer.get(key);
    await layer.getMany([key, new Uint8Array([3])]);
    await layer.batch([
      { type: 'put', key: new Uint8Array([4]), value: new Uint8Array([4]) },
      { type: 'del', key },
    ]);
    await expect(layer.put('bad' as never, new Uint8Array([1]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(layer.counts).toEqual({ reads: 3, writes: 2, deletes: 1 });
    await layer.close();
  });
});
