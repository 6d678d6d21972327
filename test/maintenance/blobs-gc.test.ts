import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/cache/store.js';
import { MemostrataError } from '../../src/errors.js';
import { memoKey, valueKey } from '../../src/layers/keys.js';
import { sweepValues } from '../../src/maintenance/garbage.js';
import { collectGarbage, prune, sweepBlobs, verify } from '../../src/maintenance/index.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { blobFileBytes, blobFiles, keysOf, LARGE, ramp, storeCall } from './blobs-helpers.js';
import { storePath, withStore } from './stores.js';

afterAll(() => removeTempDirs());

/** Removes a call's record behind the store's back, leaving its values (and blob) for the collector. */
async function dropRecord(store: Store, module: string, call: string): Promise<void> {
  await store.backend.delete(memoKey(module, call));
}

async function withKind<T>(kind: 'level' | 'lmdb', path: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ type: kind, path });
  try {
    return await use(store);
  } finally {
    await store.serialized.close();
  }
}

describe('garbage collection of blobs', () => {
  it('deletes the blob of a value no record names (LevelDB: at once), frees its disk space and keeps the others', async () => {
    const path = storePath();
    const freed = await withStore(path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await storeCall(store, 'grid', 2, [2], ramp(LARGE, 2));
      expect(blobFiles(path)).toHaveLength(2);
      await dropRecord(store, 'grid', gone);
      return collectGarbage(store);
    });
    expect(freed.blobs).toBe(1);
    expect(freed.blobBytes).toBeGreaterThan(8 * LARGE);
    expect(blobFiles(path)).toHaveLength(1);
    expect(blobFileBytes(path)).toBeLessThan(8 * LARGE + 100_000);
    expect(await withStore(path, async (store) => store.values.load(store.values.uuidOf(ramp(LARGE, 2))))).toEqual(ramp(LARGE, 2));
  });

  it('a dry run counts the blob it would free and deletes nothing', async () => {
    const path = storePath();
    const freed = await withStore(path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
      return collectGarbage(store, { dryRun: true });
    });
    expect(freed.blobs).toBe(1);
    expect(blobFiles(path)).toHaveLength(1);
  });

  it('deletes the remains of an unfinished write (a killed checkpoint) and blobs nothing names', async () => {
    const path = storePath();
    await withStore(path, async (store) => {
      await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await store.serialized.largeValues.write([Buffer.from('a blob no key names')]);
    });
    const temporary = join(path, 'blobs', 'tmp', `${randomUUID()}.part`);
    mkdirSync(join(path, 'blobs', 'tmp'), { recursive: true });
    writeFileSync(temporary, Buffer.alloc(1000));
    const freed = await withStore(path, (store) => collectGarbage(store));
    expect(freed.blobs).toBe(2);
    expect(existsSync(temporary)).toBe(false);
    expect(blobFiles(path)).toHaveLength(1);
  });

  it('on a shared store (LMDB) keeps an unnamed blob younger than the grace period, and deletes it once older', async () => {
    const path = storePath();
    await withKind('lmdb', path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
    });
    const young = await withKind('lmdb', path, (store) => collectGarbage(store));
    expect(young.blobs).toBe(0);
    expect(blobFiles(path)).toHaveLength(1);
    const [file] = blobFiles(path);
    const anHourAgo = new Date(Date.now() - 60 * 60 * 1000);
    utimesSync(file!, anHourAgo, anHourAgo);
    const old = await withKind('lmdb', path, (store) => collectGarbage(store));
    expect(old.blobs).toBe(1);
    expect(blobFiles(path)).toHaveLength(0);
  });

  it('orphanGraceMs: 0 deletes a young unnamed blob on a shared store', async () => {
    const path = storePath();
    const freed = await withKind('lmdb', path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
      return collectGarbage(store, { orphanGraceMs: 0 });
    });
    expect(freed.blobs).toBe(1);
    expect(blobFiles(path)).toHaveLength(0);
  });

  it('deletes the b! chunks of a blob nothing names (memory)', async () => {
    const store = await openStore({ type: 'memory' });
    try {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
      const freed = await collectGarbage(store);
      expect(freed.blobs).toBe(1);
      expect((await keysOf(store)).filter((key) => key.startsWith('b!'))).toEqual([]);
    } finally {
      await store.serialized.close();
    }
  });
});

describe('prune and blobs', () => {
  it('--max-size counts a large value by its blob: the large result goes first when over the limit', async () => {
    const path = storePath();
    const result = await withStore(path, async (store) => {
      await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      for (let n = 0; n < 5; n++) await storeCall(store, 'small', n + 10, [n], `small ${n}`);
      return prune(store, { maxBytes: 1_000_000, policy: 'lru' });
    });
    expect(result.byModule).toEqual({ grid: 1 });
    expect(result.blobs).toBe(1);
    expect(blobFiles(path)).toHaveLength(0);
  });

  it('without criteria prune collects unnamed blobs', async () => {
    const path = storePath();
    const result = await withStore(path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
      return prune(store);
    });
    expect(result.blobs).toBe(1);
    expect(result.blobBytes).toBeGreaterThan(8 * LARGE);
    expect(blobFiles(path)).toHaveLength(0);
  });
});

describeWithRedis('garbage collection of blobs on Redis (b! chunks, shared)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps a young unnamed blob for the grace period, deletes it with orphanGraceMs: 0, and keeps named ones', async () => {
    const store = await openStore({ type: 'redis', url: server.url, prefix: `blobs-gc-${Date.now()}:` });
    try {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await storeCall(store, 'grid', 2, [2], ramp(LARGE, 2));
      await dropRecord(store, 'grid', gone);
      const young = await collectGarbage(store);
      expect(young.blobs).toBe(0);
      expect((await keysOf(store)).filter((key) => /^b![0-9a-f]{64}$/.test(key))).toHaveLength(2);
      const now = await collectGarbage(store, { orphanGraceMs: 0 });
      expect(now.blobs).toBe(1);
      expect((await keysOf(store)).filter((key) => /^b![0-9a-f]{64}$/.test(key))).toHaveLength(1);
      expect((await verify(store)).problems).toEqual([]);
    } finally {
      await store.serialized.close();
    }
  });
});

describe('sweeping blobs on a shared store', () => {
  it('spares a blob that a writer rewrote between the first look and the delete', async () => {
    const path = storePath();
    await withKind('lmdb', path, async (store) => {
      await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      // Nothing names the blob any more: its value is gone.
      await store.backend.delete(valueKey(store.values.uuidOf(ramp(LARGE, 1))));
      const real = store.serialized.largeValues;
      let looks = 0;
      const deleted: string[] = [];
      // The second listing sees a newer modification time: another process stored the value again.
      const watched = {
        location: real.location,
        write: real.write.bind(real),
        open: real.open.bind(real),
        delete: async (ids: readonly string[]) => {
          deleted.push(...ids);
        },
        list: async function* () {
          looks += 1;
          for await (const blob of real.list()) yield { ...blob, modifiedMs: looks === 1 ? 1_000 : 2_000 };
        },
      };
      const serialized = Object.assign(Object.create(store.serialized) as typeof store.serialized, { largeValues: watched });
      const result = await sweepBlobs({ ...store, serialized }, { orphanGraceMs: 0 });
      expect(looks).toBe(2);
      expect(deleted).toEqual([]);
      expect(result).toMatchObject({ blobs: 0, keptYoung: 1 });
    });
  });
});

describe('collecting blobs when a value cannot be read', () => {
  it('keeps every blob and warns, while the values nothing uses are still freed', async () => {
    const path = storePath();
    await withStore(path, async (store) => {
      const gone = await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      await dropRecord(store, 'grid', gone);
      // A byte layer that refuses one value (as a failed authentication does) while the blobs' names are read.
      const entries: typeof store.bytes.entries = (range = {}) => {
        if (range.lt !== undefined && Buffer.from(range.lt).toString() === 'b!') {
          return (async function* () {
            throw new MemostrataError('CORRUPT', 'The value at v!x fails its authentication.');
          })();
        }
        return store.bytes.entries(range);
      };
      const bytes = new Proxy(store.bytes, {
        get: (target, property) => {
          if (property === 'entries') return entries;
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const warnings: string[] = [];
      const listener = (warning: Error & { code?: string }) => {
        if (warning.code === 'MEMOSTRATA_BLOBS_KEPT') warnings.push(warning.message);
      };
      process.on('warning', listener);
      try {
        const freed = await sweepValues({ ...store, bytes }, new Set(), false);
        expect(freed.values).toBeGreaterThan(0);
        expect(freed.blobs).toBe(0);
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings).toEqual([expect.stringContaining('fails its authentication')]);
      } finally {
        process.off('warning', listener);
      }
    });
    expect(blobFiles(path)).toHaveLength(1);
  });
});
