import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/cache/store.js';
import { backup, diff, exportStore, importStore, merge, restore, verify } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { blobFiles, keysOf, LARGE, ramp, storeCall } from './blobs-helpers.js';
import { storePath } from './stores.js';

afterAll(() => removeTempDirs());

type Kind = 'level' | 'lmdb' | 'memory';

async function withKind<T>(kind: Kind, path: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(kind === 'memory' ? { type: 'memory' } : { type: kind, path });
  try {
    return await use(store);
  } finally {
    await store.serialized.close();
  }
}

/** Stores call 1 of `grid` with a large result and call 2 with a small one. */
async function fill(store: Store): Promise<void> {
  await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
  await storeCall(store, 'grid', 2, [2], 'small');
}

/** Loads the large result and checks the store. */
async function largeResult(store: Store): Promise<unknown> {
  const record = await store.proxy.lookup('grid', (1).toString(16).padStart(32, '0'));
  return store.proxy.loadResult(record!);
}

describe('export and import carry blobs', () => {
  for (const [from, to] of [['level', 'lmdb'], ['lmdb', 'level'], ['memory', 'level'], ['level', 'memory']] as const) {
    it(`round-trips a large value from ${from} to ${to}`, async () => {
      const file = join(tempDir('memostrata-export-'), 'store.cbor');
      const exported = await withKind(from, storePath(), async (store) => {
        await fill(store);
        return exportStore(store, file);
      });
      expect(exported.blobs).toBe(1);
      expect(exported.blobBytes).toBeGreaterThan(8 * LARGE);
      const target = storePath();
      await withKind(to, target, async (store) => {
        const imported = await importStore(store, file);
        expect(imported.blobs).toEqual({ added: 1, skipped: 0 });
        expect(await largeResult(store)).toEqual(ramp(LARGE, 1));
        expect((await verify(store)).problems).toEqual([]);
        // Blobs are the target's own: files beside an embedded store, b! chunks in memory.
        if (to === 'memory') expect((await keysOf(store)).some((key) => key.startsWith('b!'))).toBe(true);
        else expect(blobFiles(target)).toHaveLength(1);
        const again = await importStore(store, file);
        expect(again.blobs).toEqual({ added: 0, skipped: 1 });
      });
    });
  }

  it('writes no b! chunk as an entry', async () => {
    const file = join(tempDir('memostrata-export-'), 'store.cbor');
    const exported = await withKind('memory', '', async (store) => {
      await fill(store);
      return exportStore(store, file);
    });
    // A b! key as an entry's key text: `b!<id>` (66 characters) or `b!<id>!<chunk>` (75).
    const bytes = readFileSync(file);
    expect(bytes.includes(Buffer.from([0x78, 66, 0x62, 0x21]))).toBe(false);
    expect(bytes.includes(Buffer.from([0x78, 75, 0x62, 0x21]))).toBe(false);
    expect(exported.blobs).toBe(1);
  });

  it('refuses a file whose blob bytes were changed, and writes nothing', async () => {
    const file = join(tempDir('memostrata-export-'), 'store.cbor');
    await withKind('level', storePath(), async (store) => {
      await fill(store);
      await exportStore(store, file);
    });
    const bytes = readFileSync(file);
    bytes[bytes.length - 200_000] = bytes[bytes.length - 200_000]! ^ 0x01;
    writeFileSync(file, bytes);
    const target = storePath();
    await withKind('level', target, async (store) => {
      await expect(importStore(store, file)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringMatching(/blob [0-9a-f]{64} is damaged: .*does not match its checksum/) });
      expect((await keysOf(store)).filter((key) => !key.startsWith('meta!'))).toEqual([]);
    });
    expect(blobFiles(target)).toEqual([]);
  });

  it('refuses to export a store whose blob is missing, naming it and verify --fix', async () => {
    const path = storePath();
    await withKind('level', path, fill);
    for (const blob of blobFiles(path)) rmSync(blob);
    const file = join(tempDir('memostrata-export-'), 'store.cbor');
    await withKind('level', path, async (store) => {
      await expect(exportStore(store, file)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringMatching(/is missing.*verify --fix/) });
    });
    expect(existsSync(file)).toBe(false);
  });
});

describe('backup and restore carry blobs', () => {
  for (const kind of ['level', 'lmdb'] as const) {
    it(`backs up and restores a large value (${kind})`, async () => {
      const path = storePath();
      await withKind(kind, path, fill);
      const copy = join(tempDir('memostrata-backup-'), 'copy');
      const backedUp = await withKind(kind, path, (store) => backup(store, copy));
      expect(backedUp.blobs).toBe(1);
      expect(blobFiles(copy)).toHaveLength(1);
      const restored = storePath();
      const result = await restore(copy, restored);
      expect(result.blobs).toBe(1);
      await withKind(kind, restored, async (store) => {
        expect(await largeResult(store)).toEqual(ramp(LARGE, 1));
        expect((await verify(store)).problems).toEqual([]);
      });
    });
  }

  it('backs up a memory store: its b! chunks become the copy\'s blob files', async () => {
    const copy = join(tempDir('memostrata-backup-'), 'copy');
    await withKind('memory', '', async (store) => {
      await fill(store);
      await backup(store, copy);
    });
    expect(blobFiles(copy)).toHaveLength(1);
    await withKind('level', copy, async (store) => {
      expect((await keysOf(store)).some((key) => key.startsWith('b!'))).toBe(false);
      expect(await largeResult(store)).toEqual(ramp(LARGE, 1));
    });
  });
});

describe('merge and diff with blobs', () => {
  it('merge copies the blobs the merged values name into the target (LevelDB shards into LMDB)', async () => {
    const shardA = storePath();
    const shardB = storePath();
    await withKind('level', shardA, fill);
    await withKind('level', shardB, (store) => storeCall(store, 'grid', 3, [3], ramp(LARGE, 3)));
    const target = storePath();
    const sources = [await openStore({ type: 'level', path: shardA }), await openStore({ type: 'level', path: shardB })];
    try {
      await withKind('lmdb', target, async (store) => {
        const merged = await merge(sources, store);
        expect(merged.blobs).toEqual({ added: 2, skipped: 0 });
        expect(await largeResult(store)).toEqual(ramp(LARGE, 1));
        const record = await store.proxy.lookup('grid', (3).toString(16).padStart(32, '0'));
        expect(await store.proxy.loadResult(record!)).toEqual(ramp(LARGE, 3));
        expect((await verify(store)).problems).toEqual([]);
      });
    } finally {
      for (const source of sources) await source.serialized.close();
    }
    expect(blobFiles(target)).toHaveLength(2);
  });

  it('backup refuses a blob damaged in the middle, naming it, and leaves no backup', async () => {
    const path = storePath();
    await withKind('level', path, fill);
    const [file] = blobFiles(path);
    const bytes = readFileSync(file!);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(file!, bytes);
    const dest = join(tempDir('memostrata-backup-'), 'copy');
    await withKind('level', path, async (store) => {
      await expect(backup(store, dest)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining(file!.slice(-64)) });
    });
    expect(existsSync(dest)).toBe(false);
  });

  it('diff finds a memory store (b! chunks) and a LevelDB store (files) holding the same large value identical', async () => {
    const memory = await openStore({ type: 'memory' });
    const level = await openStore({ type: 'level', path: storePath() });
    try {
      await fill(memory);
      await fill(level);
      const result = await diff(memory, level);
      expect(result.identical).toBe(true);
      await storeCall(level, 'grid', 3, [3], ramp(LARGE, 3));
      expect((await diff(memory, level)).values.onlyInB).toBe(2);
    } finally {
      await memory.serialized.close();
      await level.serialized.close();
    }
  });
});
