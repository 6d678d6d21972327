import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BatchOperation, WriteOptions } from '../../src/contract/database.js';
import { currentCall, openCache, type Cache } from '../../src/index.js';
import { keyText } from '../../src/layers/keys.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

/** Records every backend write once it has completed, with its keys and whether it was synced. */
function recordWrites(cache: Cache): { keys: string[]; sync: boolean }[] {
  const done: { keys: string[]; sync: boolean }[] = [];
  const backend = cache.store.backend;
  const batch = backend.batch.bind(backend);
  const put = backend.put.bind(backend);
  // A macrotask before each write completes: a caller that does not wait for it resolves first.
  const later = () => new Promise((resolve) => setTimeout(resolve, 5));
  backend.batch = async (operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options?: WriteOptions) => {
    await later();
    await batch(operations, options);
    done.push({ keys: operations.map((op) => keyText(op.key)), sync: options?.sync === true });
  };
  backend.put = async (key: Uint8Array, value: Uint8Array, options?: WriteOptions) => {
    await later();
    await put(key, value, options);
    done.push({ keys: [keyText(key)], sync: options?.sync === true });
  };
  return done;
}

describe('durability requests', () => {
  it('resolves a write-through call only after a batch that holds its record and asks the backend for sync: true', async () => {
    const cache = await openCache({ backend: { type: 'memory' }, handleExit: false });
    const writes = recordWrites(cache);
    const f = cache.memoize('wt', (x: number) => x * 2, { flush: 'write-through' });
    await f(1);
    expect(writes.filter((write) => write.sync && write.keys.some((key) => key.startsWith('m!wt!')))).toHaveLength(1);
    await cache.close();
  });

  it('resolves checkpoint() only after one batch that asks the backend for sync: true', async () => {
    const cache = await openCache({ backend: { type: 'memory' }, handleExit: false });
    const f = cache.memoize('cp', (x: number) => x * 2, { flush: 'manual' });
    await f(1);
    const writes = recordWrites(cache);
    await cache.checkpoint();
    expect(writes).toEqual([{ keys: expect.arrayContaining([expect.stringMatching(/^m!cp!/)]), sync: true }]);
    await cache.close();
  });

  it('resolves save() only after a write of the state that asks the backend for sync: true', async () => {
    const cache = await openCache({ backend: { type: 'memory' }, handleExit: false });
    const writes = recordWrites(cache);
    let seen: { keys: string[]; sync: boolean }[] = [];
    const f = cache.memoize(
      'resumable',
      async (x: number) => {
        await currentCall().save({ step: 1 });
        seen = [...writes];
        return x;
      },
      { flush: 'manual' },
    );
    await f(1);
    expect(seen).toEqual([{ keys: [expect.stringMatching(/^s!resumable!/)], sync: true }]);
    await cache.close();
  });
});

describe('openCache() with no options', () => {
  it('opens the store that MEMOSTRATA_CONFIG names', async () => {
    const file = join(tempDir(), 'memostrata.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'memory' }, handleExit: false }));
    const before = process.env['MEMOSTRATA_CONFIG'];
    process.env['MEMOSTRATA_CONFIG'] = file;
    try {
      const cache = await openCache();
      expect(cache.location).toBe('memory');
      await cache.close();
    } finally {
      if (before === undefined) delete process.env['MEMOSTRATA_CONFIG'];
      else process.env['MEMOSTRATA_CONFIG'] = before;
    }
  });
});
