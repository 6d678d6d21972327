import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { Database } from '../../src/contract/database.js';
import { KeyedBlobStore } from '../../src/layers/blob/keyed-blob-store.js';
import { openStore } from '../../src/cache/store.js';
import { valueKey } from '../../src/layers/keys.js';
import { exportStore, importStore } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

/** Paths of directories opened to be fsynced (FileBlobStore opens a directory read-only only to sync it). */
const openedForSync: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      if (args[1] === 'r' && (await handle.stat()).isDirectory()) openedForSync.push(String(args[0]));
      return handle;
    },
  };
});

const { FileBlobStore } = await import('../../src/backends/file-blob-store.js');

afterAll(removeTempDirs);

/** `db`, except that `before` runs when `method` is called (the owner of a value touches it meanwhile). */
function on(db: Database<Uint8Array, Uint8Array>, method: 'batch' | 'batchIf', before: () => void): Database<Uint8Array, Uint8Array> {
  return new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(target);
      return property === method
        ? (...args: unknown[]) => {
            before();
            return bound(...args);
          }
        : bound;
    },
  });
}

describe('KeyedBlobStore, a write over a blob that is there', () => {
  const original = new Uint8Array(5 * 1024 * 1024).map((_, index) => index % 251);

  /** Stores `original`, then writes an equal value under the same name whose memory its owner fills with 7s when `method` is called. */
  async function rewriteChanged(method: 'batch' | 'batchIf'): Promise<{ outcome: PromiseSettledResult<unknown>; stored: Uint8Array }> {
    const backend = new MemoryBackend();
    const { id } = await new KeyedBlobStore(backend, 'memory').write([original]);
    const value = original.slice();
    const store = new KeyedBlobStore(
      on(backend, method, () => value.fill(7)),
      'memory',
    );
    const [outcome] = await Promise.allSettled([
      store.write([value], {
        name: () => id,
        written: () => {
          if (Buffer.compare(value, original) !== 0) throw new Error('changed during the write');
        },
      }),
    ]);
    const reader = await new KeyedBlobStore(backend, 'memory').open(id);
    expect(reader).toBeDefined();
    const stored = new Uint8Array(original.length);
    await reader!.read(0, stored);
    return { outcome: outcome!, stored };
  }

  it('is refused and leaves the stored blob as it was when the value changed before its chunks are written', async () => {
    const { outcome, stored } = await rewriteChanged('batchIf');
    expect(outcome).toMatchObject({ status: 'rejected', reason: { message: 'changed during the write' } });
    expect(Buffer.compare(stored, original)).toBe(0);
  });

  it('leaves the stored blob as it was when the value changes while its chunks are written', async () => {
    const { stored } = await rewriteChanged('batch');
    expect(Buffer.compare(stored, original)).toBe(0);
  });
});

describe('FileBlobStore, durability of a blob in a folder it did not create', () => {
  it('syncs the blob directory for a folder an earlier writer made but may not have synced', async () => {
    const dir = tempDir('memostrata-review-blobs-2-');
    // A writer that died between making the folder and syncing the blob directory left it like this.
    mkdirSync(join(dir, 'ab'), { recursive: true });
    openedForSync.length = 0;
    const store = new FileBlobStore(dir);
    const { id } = await store.write([new Uint8Array(100)], { name: () => 'ab'.padEnd(64, '0') });
    expect(id.slice(0, 2)).toBe('ab');
    expect(openedForSync).toContain(join(dir, 'ab'));
    expect(openedForSync).toContain(dir);
  });
});

describe('import of a large value whose blob is sound but holds another value', () => {
  it('refuses the file, so that the value is never served under a UUID it does not have', async () => {
    const root = tempDir('memostrata-review-blobs-2-');
    const source = await openStore({ type: 'level', path: join(root, 'a') });
    const meant = { data: new Float64Array(300_000).fill(1) };
    const other = { data: new Float64Array(300_000).fill(2) };
    let file: string;
    let uuid: string;
    try {
      uuid = await source.values.intern(meant);
      // A foreign (or faulty) writer stored another value at v!<uuid>: its blob is named from that key and every block checks.
      await source.serialized.put(valueKey(uuid), other);
      file = (await exportStore(source, join(root, 'a.export'))).file;
    } finally {
      await source.serialized.close();
    }
    const target = await openStore({ type: 'level', path: join(root, 'b') });
    try {
      await expect(importStore(target, file)).rejects.toMatchObject({ code: 'CORRUPT' });
      expect(await target.bytes.has(valueKey(uuid))).toBe(false);
    } finally {
      await target.serialized.close();
    }
  });
});
