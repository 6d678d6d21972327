import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { LMDB_MAX_KEY_BYTES, LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { resolveCacheOptions } from '../../src/cache/config.js';
import { openStore } from '../../src/cache/store.js';
import { isBackendLimit, openCache } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

/** Every LMDB environment the backend opens, to watch its flushes. */
const openedEnvironments = vi.hoisted(() => [] as { flushed: PromiseLike<boolean> }[]);
vi.mock('lmdb', async (importOriginal) => {
  const lmdb = await importOriginal<typeof import('lmdb')>();
  return {
    ...lmdb,
    open: (...args: Parameters<typeof lmdb.open>) => {
      const environment = lmdb.open(...args);
      openedEnvironments.push(environment);
      return environment;
    },
  };
});

afterAll(removeTempDirs);

const failsWith = (code: string, text: string) => expect.objectContaining({ name: 'MemostrataError', code, message: expect.stringContaining(text) });

describe('LmdbBackend refuses what is not its store', () => {
  it('refuses a file with NOT_A_STORE', async () => {
    const file = join(tempDir(), 'notes.txt');
    writeFileSync(file, 'hello');
    await expect(LmdbBackend.open(file)).rejects.toEqual(failsWith('NOT_A_STORE', 'is a file'));
  });

  it('refuses a non-empty directory of other files, and a LevelDB store, with NOT_A_STORE', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'thesis.tex'), 'x');
    await expect(LmdbBackend.open(dir)).rejects.toEqual(failsWith('NOT_A_STORE', 'holds other files'));
    const level = join(tempDir(), 'level');
    await (await LevelBackend.open(level)).close();
    await expect(LmdbBackend.open(level)).rejects.toEqual(failsWith('NOT_A_STORE', 'a LevelDB store'));
  });

  it('refuses a data.mdb that LMDB did not write with NOT_A_STORE instead of crashing the process', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(20_000, 'not lmdb'));
    await expect(LmdbBackend.open(dir)).rejects.toEqual(failsWith('NOT_A_STORE', 'is not an LMDB data file'));
  });

  it('refuses an LMDB store that memostrata did not write with NOT_A_STORE', async () => {
    const path = join(tempDir(), 'foreign');
    const foreign = open({ path, keyEncoding: 'binary', encoding: 'binary' });
    await foreign.put(utf8('somebody'), utf8('else'));
    await foreign.close();
    await expect(openStore({ type: 'lmdb', path })).rejects.toEqual(failsWith('NOT_A_STORE', 'memostrata did not write'));
  });

  it('refuses a path under a file with CONFIG', async () => {
    const file = join(tempDir(), 'file');
    writeFileSync(file, 'x');
    await expect(LmdbBackend.open(join(file, 'store'))).rejects.toEqual(failsWith('CONFIG', 'is a file, not a directory'));
  });

  it('makes a missing directory with its parents, and a LevelBackend refuses the LMDB store', async () => {
    const path = join(tempDir(), 'a', 'b', 'store');
    const store = await LmdbBackend.open(path);
    await store.put(utf8('k'), utf8('v'));
    await store.close();
    await expect(LevelBackend.open(path)).rejects.toMatchObject({ code: 'NOT_A_STORE' });
  });
});

describe('LmdbBackend', () => {
  it('refuses a key LMDB cannot hold with BACKEND (a limit), writing nothing of its batch', async () => {
    const store = await LmdbBackend.open(join(tempDir(), 'store'));
    try {
      const long = new Uint8Array(LMDB_MAX_KEY_BYTES + 1).fill(7);
      const batch = store.batch([
        { type: 'put', key: utf8('first'), value: utf8('1') },
        { type: 'put', key: long, value: utf8('2') },
      ]);
      await expect(batch).rejects.toMatchObject({ code: 'BACKEND' });
      expect(isBackendLimit(await batch.catch((error: unknown) => error))).toBe(true);
      expect(await store.get(utf8('first'))).toBeUndefined();
      await expect(store.put(new Uint8Array(0), utf8('x'))).rejects.toMatchObject({ code: 'BACKEND' });
      // A key that cannot be stored is simply not there.
      expect(await store.get(long)).toBeUndefined();
      expect(await store.has(new Uint8Array(0))).toBe(false);
      await expect(store.delete(long)).resolves.toBeUndefined();
      const longest = new Uint8Array(LMDB_MAX_KEY_BYTES).fill(7);
      await store.put(longest, utf8('fits'));
      expect(Buffer.from((await store.get(longest))!).toString()).toBe('fits');
    } finally {
      await store.close();
    }
  });

  it('iterates ranges whose bounds LMDB could not take as keys (empty, over-long)', async () => {
    const store = await LmdbBackend.open(join(tempDir(), 'store'));
    try {
      const long = new Uint8Array(LMDB_MAX_KEY_BYTES + 5).fill(0x61);
      for (const key of [utf8('a'), long.subarray(0, LMDB_MAX_KEY_BYTES), utf8('b')]) await store.put(key, utf8('v'));
      const keys = async (range: object): Promise<number[]> => {
        const lengths: number[] = [];
        for await (const key of store.keys(range)) lengths.push(key.length);
        return lengths;
      };
      expect(await keys({ gte: new Uint8Array(0) })).toEqual([1, LMDB_MAX_KEY_BYTES, 1]);
      expect(await keys({ lt: new Uint8Array(0) })).toEqual([]);
      expect(await keys({ gt: long })).toEqual([1]);
      expect(await keys({ lt: long, reverse: true })).toEqual([LMDB_MAX_KEY_BYTES, 1]);
    } finally {
      await store.close();
    }
  });

  it('shares one LMDB environment between backends on one path in a process, closed by the last', async () => {
    const dir = tempDir();
    const first = await LmdbBackend.open(join(dir, 'store'));
    const second = await LmdbBackend.open(join(dir, '.', 'store'));
    await first.put(utf8('k'), utf8('v'));
    await first.close();
    expect(Buffer.from((await second.get(utf8('k')))!).toString()).toBe('v');
    await second.close();
    await expect(second.get(utf8('k'))).rejects.toMatchObject({ code: 'CLOSED' });
    const third = await LmdbBackend.open(join(dir, 'store'));
    expect(Buffer.from((await third.get(utf8('k')))!).toString()).toBe('v');
    await third.close();
  });

  it('waits for the flush to disk exactly on the writes that ask for durability', async () => {
    const store = await LmdbBackend.open(join(tempDir(), 'store'), { sync: false });
    // lmdb-js resolves a write once committed and flushes after (overlapping sync): a durable write must wait for both.
    const environment = openedEnvironments.at(-1)!;
    const flushes = vi.spyOn(environment.flushed, 'then');
    try {
      await store.put(utf8('k'), utf8('v'));
      await store.put(utf8('k'), utf8('v'), { sync: true });
      await store.delete(utf8('k'), { sync: true });
      await store.batch([{ type: 'del', key: utf8('k') }]);
      await store.batch([{ type: 'put', key: utf8('k'), value: utf8('v') }], { sync: true });
      expect(flushes).toHaveBeenCalledTimes(3);
    } finally {
      flushes.mockRestore();
      await store.close();
    }
    const syncing = await LmdbBackend.open(join(tempDir(), 'store'), { sync: true });
    const syncFlushes = vi.spyOn(openedEnvironments.at(-1)!.flushed, 'then');
    try {
      await syncing.put(utf8('k'), utf8('v'));
      await syncing.put(utf8('k'), utf8('v'), { sync: false });
      expect(syncFlushes).toHaveBeenCalledTimes(1);
    } finally {
      syncFlushes.mockRestore();
      await syncing.close();
    }
  });
});

describe('an LMDB store through configuration', () => {
  it('resolves { type: lmdb, path } given directly and from a JSON file, relative to the file', () => {
    expect(resolveCacheOptions({ backend: { type: 'lmdb', path: 'runs/shared' } }, {}).backend).toEqual({ type: 'lmdb', path: 'runs/shared' });
    const dir = tempDir();
    const file = join(dir, 'memostrata.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'lmdb', path: 'shared', sync: true } }));
    expect(resolveCacheOptions({ configFile: file }, {}).backend).toEqual({ type: 'lmdb', path: join(dir, 'shared'), sync: true });
  });

  it('names the wrong field of an LMDB backend', () => {
    expect(() => resolveCacheOptions({ backend: { type: 'lmdb' } }, {})).toThrow(failsWith('CONFIG', 'backend.path must be a non-empty string'));
    expect(() => resolveCacheOptions({ backend: { type: 'lmdb', path: 'x', sync: 'yes' } as never }, {})).toThrow(failsWith('CONFIG', 'backend.sync'));
    expect(() => resolveCacheOptions({ backend: { type: 'lmdb', path: 'x', mapSize: 1 } as never }, {})).toThrow(failsWith('CONFIG', "unknown option 'backend.mapSize'"));
  });

  it('opens a cache on LMDB from a config file and gets a hit after reopening', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'conf'));
    const file = join(dir, 'conf', 'memostrata.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'lmdb', path: '../store' }, flush: 'manual' }));
    let computed = 0;
    const square = (x: number): number => {
      computed += 1;
      return x * x;
    };
    const first = await openCache({ configFile: file, handleExit: false });
    expect(await first.memoize('square', square)(7)).toBe(49);
    await first.close();
    const second = await openCache({ configFile: file, handleExit: false });
    expect(await second.memoize('square', square)(7)).toBe(49);
    await second.close();
    expect(computed).toBe(1);
    await expect(LevelBackend.open(join(dir, 'store'))).rejects.toMatchObject({ code: 'NOT_A_STORE' });
  });
});
