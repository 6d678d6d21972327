import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { BlobStore, ListedBlob } from '../../src/contract/blob-store.js';
import { FileBlobStore } from '../../src/backends/file-blob-store.js';
import type { Database } from '../../src/contract/database.js';
import { KeyedBlobStore } from '../../src/layers/blob/keyed-blob-store.js';
import { keyText, prefixRange } from '../../src/layers/keys.js';
import { SerializedDB } from '../../src/layers/serialized-db.js';
import { tempDir } from '../helpers/temp-dir.js';

const key = (text: string): Uint8Array => new TextEncoder().encode(text);
const open: SerializedDB[] = [];

afterEach(async () => {
  for (const db of open.splice(0)) if (db.status === 'open') await db.close();
});

function serialized(below: Database<Uint8Array, Uint8Array>, largeValueBytes?: number): SerializedDB {
  const db = new SerializedDB(below, largeValueBytes === undefined ? {} : { largeValueBytes });
  open.push(db);
  return db;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function ramp(length: number, scale = 1): Float64Array {
  return Float64Array.from({ length }, (_, index) => index * scale + 0.5);
}

describe('large values in a LevelDB store', () => {
  it('keeps a value over largeValueBytes as a blob file, not in LevelDB, and reads it back exactly', async () => {
    const path = join(tempDir('memostrata-blob-'), 'store');
    const db = serialized(await LevelBackend.open(path));
    const value = { grid: ramp(400_000), label: 'energy', small: new Int32Array([1, 2, 3]) };
    await db.put(key('v!large'), value);
    const blobFiles = filesUnder(join(path, 'blobs'));
    expect(blobFiles).toHaveLength(1);
    expect(statSync(blobFiles[0]!).size).toBeGreaterThan(3_200_000);
    // LevelDB holds only the reference: its files stay far smaller than the value.
    const levelBytes = filesUnder(path)
      .filter((file) => !file.includes(`${join(path, 'blobs')}`))
      .reduce((sum, file) => sum + statSync(file).size, 0);
    expect(levelBytes).toBeLessThan(100_000);
    await db.close();

    const again = serialized(await LevelBackend.open(path));
    expect(await again.get(key('v!large'))).toEqual(value);
  });

  it('keeps a value at or under largeValueBytes inside the store', async () => {
    const path = join(tempDir('memostrata-blob-'), 'store');
    const db = serialized(await LevelBackend.open(path), 1_000_000);
    await db.put(key('v!medium'), ramp(100_000)); // 800 kB
    expect(filesUnder(path).some((file) => file.includes('blobs'))).toBe(false);
    expect(await db.get(key('v!medium'))).toEqual(ramp(100_000));
  });

  it('never serves a blob with a flipped byte: the read is CORRUPT', async () => {
    const path = join(tempDir('memostrata-blob-'), 'store');
    const db = serialized(await LevelBackend.open(path));
    await db.put(key('v!large'), ramp(300_000));
    const [file] = filesUnder(join(path, 'blobs'));
    const bytes = readFileSync(file!);
    bytes[bytes.length - 200_000]! ^= 0x10;
    writeFileSync(file!, bytes);
    await expect(db.get(key('v!large'))).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining('does not match its checksum') });
  });

  it('reports a missing blob as CORRUPT naming verify --fix', async () => {
    const path = join(tempDir('memostrata-blob-'), 'store');
    const db = serialized(await LevelBackend.open(path));
    await db.put(key('v!large'), ramp(300_000));
    const [file] = filesUnder(join(path, 'blobs'));
    writeFileSync(file!, '');
    await expect(db.get(key('v!large'))).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining('verify --fix') });
  });
});

describe('large values as chunks', () => {
  it('keeps a large value as b! chunks of a store without files, and reads it back', async () => {
    const backend = new MemoryBackend();
    const db = serialized(backend, 100_000);
    const value = new Map<string, unknown>([['a', ramp(50_000)], ['b', Buffer.alloc(300_000, 7)]]);
    await db.put(key('v!large'), value);
    const keys: string[] = [];
    for await (const stored of backend.keys(prefixRange('b!'))) keys.push(keyText(stored));
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(await db.get(key('v!large'))).toEqual(value);
  });

  it('reads a chunked blob in part across chunk boundaries', async () => {
    const backend = new MemoryBackend();
    const blobs = new KeyedBlobStore(backend, 'memory');
    const bytes = Buffer.alloc(9 * 1024 * 1024 + 5);
    for (let index = 0; index < bytes.length; index++) bytes[index] = (index * 31) & 0xff;
    const info = await blobs.write([bytes.subarray(0, 1000), bytes.subarray(1000)]);
    const reader = (await blobs.open(info.id))!;
    const part = Buffer.alloc(5 * 1024 * 1024);
    await reader.read(4 * 1024 * 1024 - 17, part);
    expect(part.equals(bytes.subarray(4 * 1024 * 1024 - 17, 9 * 1024 * 1024 - 17))).toBe(true);
  });
});

describe('reading a stored value in part', () => {
  for (const [name, make] of [
    ['files', (dir: string) => LevelBackend.open(join(dir, 'store'))],
    ['chunks', async () => new MemoryBackend()],
  ] as const) {
    it(`returns the bytes of any range of a segment, reading the blob only there (${name})`, async () => {
      const db = serialized(await make(tempDir('memostrata-blob-')), 200_000);
      const grid = ramp(300_000, 3);
      await db.put(key('v!grid'), { grid, note: 'x' });
      const opened = (await db.open(key('v!grid')))!;
      const outline = opened.outline as { grid: Float64Array; note: string };
      expect(outline.note).toBe('x');
      const segment = opened.segments.get(outline.grid)!;
      expect(segment).toMatchObject({ type: 'Float64Array', bytes: grid.byteLength });
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: grid.length }), fc.integer({ min: 0, max: grid.length }), async (a, b) => {
          const [start, end] = a <= b ? [a, b] : [b, a];
          const bytes = await segment.read(start * 8, end * 8);
          // Compared as bytes: toEqual walks a typed array element by element, slowly.
          expect(Buffer.compare(bytes, new Uint8Array(grid.buffer, start * 8, (end - start) * 8))).toBe(0);
        }),
        { numRuns: 40 },
      );
    });
  }
});

describe('the blob store contract', () => {
  it('lists a killed write as unfinished, and delete removes it', async () => {
    const dir = tempDir('memostrata-blob-');
    const backend = await LevelBackend.open(join(dir, 'store'));
    const blobs: BlobStore = backend.blobs;
    const info = await blobs.write([Buffer.from('hello')]);
    writeFileSync(join(backend.blobs.location, 'tmp', '00000000-0000-0000-0000-000000000000.part'), 'half');
    const listed = [];
    for await (const blob of blobs.list()) listed.push(blob);
    expect(listed.map(({ id, complete, bytes }) => ({ id, complete, bytes })).sort((a, b) => Number(a.complete) - Number(b.complete))).toEqual([
      { id: '00000000-0000-0000-0000-000000000000.part', complete: false, bytes: 4 },
      { id: info.id, complete: true, bytes: 5 },
    ]);
    await blobs.delete(listed.map((blob) => blob.id));
    const after = [];
    for await (const blob of blobs.list()) after.push(blob);
    expect(after).toEqual([]);
    await backend.close();
  });
});

/**
 * XORs into the first 64 KiB block of `array` a bit pattern that is the
 * CRC-32 generator polynomial: the block changes, its CRC-32 does not (the
 * CRC is linear, and a multiple of its polynomial has a CRC of zero).
 */
function withSameBlockCrcs(array: Float64Array): Float64Array {
  const copy = array.slice();
  const bytes = new Uint8Array(copy.buffer);
  const flip = (bit: number): void => {
    bytes[bit >> 3] = bytes[bit >> 3]! ^ (1 << (bit & 7));
  };
  const start = 800;
  flip(start);
  for (let power = 31; power >= 0; power--) if ((0x04c11db7 >>> power) & 1) flip(start + 32 - power);
  return copy;
}

describe('the names of value blobs', () => {
  it('give two values whose blocks have equal CRCs blobs of their own: each is read back, whole and in part', async () => {
    const first = ramp(300_000);
    const second = withSameBlockCrcs(first);
    // The hostile pair: different values, the same header and the same CRC of every block.
    const { crc32 } = await import('node:zlib');
    const blockOf = (array: Float64Array) => new Uint8Array(array.buffer, 0, 65_536);
    expect(Buffer.from(blockOf(second)).equals(Buffer.from(blockOf(first)))).toBe(false);
    expect(crc32(blockOf(second))).toBe(crc32(blockOf(first)));

    const path = join(tempDir('memostrata-blob-'), 'store');
    const { openCache } = await import('../../src/index.js');
    const results = [first, second];
    const fill = await openCache({ path, flush: 'manual', handleExit: false });
    const f = fill.memoize('grid', (n: number) => results[n]!);
    await f(0);
    await f(1);
    await fill.checkpoint();
    await fill.close();
    expect(filesUnder(join(path, 'blobs')).filter((file) => !file.includes(join('blobs', 'tmp')))).toHaveLength(2);

    const cache = await openCache({ path, flush: 'manual', handleExit: false });
    try {
      const g = cache.memoize('grid', (_n: number): Float64Array => {
        throw new Error('a stored result was computed again');
      });
      const bytesOf = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);
      for (const n of [0, 1]) {
        const stored = await g.stored(n);
        expect(bytesOf(await stored!.arrays[0]!.read(0, 200)).equals(bytesOf(results[n]!.subarray(0, 200)))).toBe(true);
        expect(bytesOf(await g(n)).equals(bytesOf(results[n]!))).toBe(true);
      }
    } finally {
      await cache.close();
    }
  });

  it('are one blob for one value at one key, and another blob for the same value at another key', async () => {
    const backend = new MemoryBackend();
    const db = serialized(backend, 1_000);
    const value = ramp(10_000);
    const idAt = async (at: string): Promise<string> => db.codec.blobReference((await backend.get(key(at)))!)!.id;
    await db.put(key('v!a'), value);
    const once = await idAt('v!a');
    await db.put(key('v!a'), value.slice());
    expect(await idAt('v!a')).toBe(once);
    await db.put(key('v!b'), value);
    expect(await idAt('v!b')).not.toBe(once);
    expect(await db.get(key('v!b'))).toEqual(value);
  });
});

describe('a blob write its writer refuses', () => {
  const stores: [string, () => Promise<BlobStore>][] = [
    ['files', async () => new FileBlobStore(join(tempDir('memostrata-blob-'), 'blobs'))],
    ['b! chunks', async () => new KeyedBlobStore(new MemoryBackend(), 'memory')],
  ];
  for (const [kind, make] of stores) {
    it(`rejects with the writer's own error and leaves nothing under the name (${kind})`, async () => {
      const blobs = await make();
      const refusal = new Error('changed while written');
      const id = 'ab'.repeat(32);
      await expect(blobs.write([Buffer.alloc(200_000, 7)], { name: () => id, written: () => { throw refusal; } })).rejects.toBe(refusal);
      expect(await blobs.open(id)).toBeUndefined();
      const left: ListedBlob[] = [];
      for await (const blob of blobs.list()) left.push(blob);
      expect(left).toEqual([]);
      // The same write, not refused, then stands under that name.
      await blobs.write([Buffer.alloc(200_000, 7)], { name: () => id });
      expect((await blobs.open(id))?.bytes).toBe(200_000);
    });
  }
});

describe('a blob file whose early flush fails', () => {
  it('fails the write (BACKEND) though the last sync succeeds, and leaves nothing: a lost flush is never reported as durable', async () => {
    const dir = join(tempDir('memostrata-blob-'), 'blobs');
    const probe = await (await import('node:fs/promises')).open(join(dir, '..', 'probe'), 'w');
    const FileHandle = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = FileHandle.datasync;
    let failures = 0;
    FileHandle.datasync = function (this: unknown) {
      failures += 1;
      return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    };
    try {
      const blobs = new FileBlobStore(dir);
      const slice = Buffer.alloc(8 * 1024 * 1024, 3);
      // 72 MiB: past the first early flush at 64 MiB.
      await expect(blobs.write(Array.from({ length: 9 }, () => slice), { name: () => 'cd'.repeat(32) })).rejects.toMatchObject({ code: 'BACKEND', message: expect.stringContaining('EIO') });
      expect(failures).toBe(1);
      expect(await blobs.open('cd'.repeat(32))).toBeUndefined();
      const left: ListedBlob[] = [];
      for await (const blob of blobs.list()) left.push(blob);
      expect(left).toEqual([]);
    } finally {
      FileHandle.datasync = original;
    }
  });
});
