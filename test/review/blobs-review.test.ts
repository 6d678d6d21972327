import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../src/backends/file-blob-store.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { BlobInfo, BlobStore } from '../../src/contract/blob-store.js';
import type { Database } from '../../src/contract/database.js';
import { valueBlob, writtenChecksum } from '../../src/layers/blob/blob-file.js';
import { KeyedBlobStore } from '../../src/layers/blob/keyed-blob-store.js';
import { SerializedDB } from '../../src/layers/serialized-db.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);
const key = (text: string): Uint8Array => new TextEncoder().encode(text);
const opened: SerializedDB[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) if (db.status === 'open') await db.close();
});

function serialized(below: Database<Uint8Array, Uint8Array>, options: ConstructorParameters<typeof SerializedDB>[1] = {}): SerializedDB {
  const db = new SerializedDB(below, options);
  opened.push(db);
  return db;
}

function ramp(length: number): Float64Array {
  return Float64Array.from({ length }, (_, index) => index + 0.5);
}

/** `db`, except that every batch fails as if the process had died right there. */
function dyingAtBatch(db: Database<Uint8Array, Uint8Array>): Database<Uint8Array, Uint8Array> {
  return new Proxy(db, {
    get(target, property) {
      if (property === 'batch') return () => Promise.reject(new Error('killed'));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('KeyedBlobStore', () => {
  it('keeps a stored blob readable when a second write of the same bytes dies halfway', async () => {
    const backend = new MemoryBackend();
    const store = new KeyedBlobStore(backend, 'memory');
    const bytes = new Uint8Array(9 * 1024 * 1024).map((_, index) => index % 251);
    const { id } = await store.write([bytes]);
    // Another writer (process, or cache) stores an equal value and is killed among its chunks.
    await expect(new KeyedBlobStore(dyingAtBatch(backend), 'memory').write([bytes])).rejects.toThrow('killed');
    const reader = await store.open(id);
    expect(reader).toBeDefined();
    const back = new Uint8Array(bytes.length);
    await reader!.read(0, back);
    expect(Buffer.compare(back, bytes)).toBe(0);
    // Garbage collection deletes unfinished writes: the blob a record names must not look like one.
    const listed = [];
    for await (const blob of store.list()) listed.push(blob);
    expect(listed).toEqual([expect.objectContaining({ id, complete: true })]);
  });
});

describe('FileBlobStore', () => {
  it('lists blobs while a write renames its temporary file away', async () => {
    const dir = tempDir('memostrata-review-blobs-');
    const store = new FileBlobStore(dir);
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const names = ['00000000-0000-0000-0000-000000000001.part', '00000000-0000-0000-0000-000000000002.part'];
    for (const name of names) writeFileSync(join(dir, 'tmp', name), 'partial');
    const listed: string[] = [];
    for await (const blob of store.list()) {
      listed.push(blob.id);
      // The other write finishes (renamed to its id) between the directory listing and its stat.
      for (const name of names) if (name !== blob.id) rmSync(join(dir, 'tmp', name), { force: true });
    }
    expect(listed).toHaveLength(1);
  });

  it('fails a write with a MemostrataError when its temporary folder cannot be made', async () => {
    const dir = tempDir('memostrata-review-blobs-');
    writeFileSync(join(dir, 'tmp'), 'a file where the folder of unfinished writes goes');
    const store = new FileBlobStore(dir);
    await expect(store.write([new Uint8Array(10)])).rejects.toMatchObject({ name: 'MemostrataError', code: 'BACKEND', message: expect.stringContaining(dir) });
  });

  it('fails a write with a MemostrataError when the blob folder is a file', async () => {
    const dir = join(tempDir('memostrata-review-blobs-'), 'blobs');
    writeFileSync(dir, 'not a folder');
    await expect(new FileBlobStore(dir).write([new Uint8Array(10)])).rejects.toMatchObject({ name: 'MemostrataError', code: 'BACKEND' });
    expect(readdirSync(join(dir, '..'))).toEqual(['blobs']);
  });

  it('fails a delete it cannot do with BACKEND, naming the blob directory, not with a raw file system error', async () => {
    const dir = join(tempDir('memostrata-review-blobs-'), 'blobs');
    const store = new FileBlobStore(dir);
    const id = 'd'.repeat(64);
    await store.write([Buffer.alloc(10, 4)], { name: () => id });
    // The blob's folder replaced by a file: its path no longer resolves.
    rmSync(join(dir, 'dd'), { recursive: true });
    writeFileSync(join(dir, 'dd'), 'x');
    await expect(store.delete([id])).rejects.toMatchObject({ name: 'MemostrataError', code: 'BACKEND', message: expect.stringContaining(dir) });
  });
});

/** Writes a blob built from `skeleton` and `segments` into `blobs`, and stores a reference to it at `at`. */
async function plantBlob(below: Database<Uint8Array, Uint8Array>, blobs: BlobStore, at: Uint8Array, skeleton: Uint8Array, segments: Uint8Array[], type: 'Float64Array' | 'Uint8Array' = 'Float64Array'): Promise<BlobInfo> {
  const blob = valueBlob({ skeleton, segments: segments.map((bytes, index) => ({ type, bytes, path: [index] })) }, await writtenChecksum());
  const info = await blobs.write(blob.parts, { name: () => blob.name(at) });
  await below.put(at, new ValueCodec().encodeBlobReference(info));
  return info;
}

describe('a crafted blob', () => {
  const codec = new ValueCodec();
  /** The CBOR of tag 41008 wrapping `index`, inside an array. */
  const skeletonOf = (...indexes: number[]): Uint8Array => Buffer.from([0x80 + indexes.length, ...indexes.flatMap((index) => [0xd9, 0xa0, 0x30, index])]);
  const segment = (): Uint8Array => new Uint8Array(ramp(10_000).buffer);

  it('whose skeleton leaves a segment out is CORRUPT, not a value missing part of itself', async () => {
    const below = new MemoryBackend();
    const db = serialized(below, { largeValueBytes: 1000 });
    await plantBlob(below, db.largeValues, key('v!x'), skeletonOf(0), [segment(), segment()]);
    await expect(db.get(key('v!x'))).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('whose skeleton names a segment twice or past the count is CORRUPT', async () => {
    const below = new MemoryBackend();
    const db = serialized(below, { largeValueBytes: 1000 });
    await plantBlob(below, db.largeValues, key('v!twice'), skeletonOf(0, 0), [segment()]);
    await plantBlob(below, db.largeValues, key('v!past'), skeletonOf(0, 1), [segment()]);
    await expect(db.get(key('v!twice'))).rejects.toMatchObject({ code: 'CORRUPT' });
    await expect(db.get(key('v!past'))).rejects.toMatchObject({ code: 'CORRUPT' });
    await expect(db.open(key('v!past'))).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('a segment tag outside a blob, or a blob reference inside a value, is CORRUPT', () => {
    expect(() => codec.decode(skeletonOf(0))).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    const reference = codec.encodeBlobReference({ id: 'a'.repeat(64), bytes: 100 });
    expect(() => codec.decode(Buffer.concat([Buffer.from([0x81]), reference]))).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
  });

  it('a blob reference with a bad id or size is CORRUPT', async () => {
    const below = new MemoryBackend();
    const db = serialized(below);
    for (const [index, content] of [['A'.repeat(64), 1], ['a'.repeat(63), 1], ['a'.repeat(64), -1], ['a'.repeat(64), 1.5], ['a'.repeat(64)]].entries()) {
      const { Encoder, Tag } = await import('cbor-x');
      await below.put(key(`v!${index}`), new Encoder({ useRecords: false }).encode(new Tag(content, 41009)));
      await expect(db.get(key(`v!${index}`))).rejects.toMatchObject({ code: 'CORRUPT' });
    }
  });
});

describe('a large result changed in place during its checkpoint', () => {
  const openCacheAt = openedCaches();

  it('is never read back, in part or whole, with the changed elements under the call that returned the original', async () => {
    const path = join(tempDir('memostrata-review-mutate-'), 'cache');
    // Three 8 MiB slices: the blob's later slices are taken from the array's memory while earlier ones are written.
    const length = (24 * 1024 * 1024) / 8;
    const cache = await openCacheAt(path, { flush: 'manual' });
    let runs = 0;
    const make = cache.memoize('review.mutate', (seed: number) => {
      runs += 1;
      return ramp(length).map((x) => x + seed);
    }, { version: '1' });
    const result = await make(1);
    const original = result[length - 1]!;
    const warnings = captureWarnings();
    const checkpoint = cache.checkpoint();
    // The caller changes the result once the blob write has begun (its temporary file exists).
    const tmp = join(path, 'blobs', 'tmp');
    await new Promise<void>((resolve) => {
      const poll = (): void => {
        if (existsSync(tmp) && readdirSync(tmp).length > 0) {
          result[length - 1] = -1;
          resolve();
        } else setImmediate(poll);
      };
      poll();
    });
    await checkpoint.catch(() => undefined);
    await warnings.stop();
    await cache.close();

    const again = await openCacheAt(path, { flush: 'manual' });
    const reopened = again.memoize('review.mutate', (seed: number) => {
      runs += 1;
      return ramp(length).map((x) => x + seed);
    }, { version: '1' });
    const stored = await reopened.stored(1);
    if (stored !== undefined) {
      const tail = await stored.arrays[0]!.read(length - 1, length).catch((error: unknown) => error);
      if (tail instanceof Float64Array) expect(tail[0]).toBe(original);
      else expect(tail).toMatchObject({ code: 'CORRUPT' });
    }
    const whole = await reopened(1);
    expect(whole[length - 1]).toBe(original);
  });
});

describe('a large value without typed arrays', () => {
  it('reads back a string whose blob skeleton is over 256 MiB', async () => {
    const db = serialized(new MemoryBackend(), { blobs: new FileBlobStore(join(tempDir('memostrata-review-skeleton-'), 'blobs')) });
    // No typed array to take out: the whole value is the skeleton, and any size up to MAX_VALUE_BYTES stores.
    const text = 'x'.repeat(257 * 1024 * 1024);
    await db.put(key('v!text'), text);
    const back = await db.get(key('v!text'));
    expect(typeof back === 'string' && back.length === text.length && back === text).toBe(true);
  });
});

describe('a large value holding a registered type', () => {
  class Grid {
    constructor(
      readonly n: number,
      readonly data: Float64Array,
    ) {
      // A class that checks its own invariant, as many do.
      if (data.length !== n) throw new Error(`a Grid of ${n} needs ${n} values, got ${data.length}`);
    }
  }

  it('opens for reading in part without handing its decode() a stand-in it would refuse', async () => {
    const types = new TypeRegistry();
    types.register({ name: 'review.Grid', type: Grid, encode: (grid: Grid) => ({ n: grid.n, data: grid.data }), decode: (plain: { n: number; data: Float64Array }) => new Grid(plain.n, plain.data) });
    const db = serialized(new MemoryBackend(), { types, largeValueBytes: 1000 });
    const value = { grid: new Grid(20_000, ramp(20_000)), field: ramp(30_000) };
    await db.put(key('v!grid'), value);
    expect(await db.get(key('v!grid'))).toEqual(value);
    const opened = (await db.open(key('v!grid')))!;
    const outline = opened.outline as { grid: Grid; field: Float64Array };
    // The Grid's array was read whole for its decode(); the array outside it stays in the blob, readable in part.
    expect(outline.grid).toEqual(value.grid);
    expect(outline.field).toHaveLength(0);
    expect([...opened.segments.keys()]).toEqual([outline.field]);
    const part = await opened.segments.get(outline.field)!.read(8 * 100, 8 * 102);
    expect(new Float64Array(part.buffer, part.byteOffset, 2)).toEqual(ramp(30_000).subarray(100, 102));
  });
});

describe('reading a stored segment in part', () => {
  it('returns exact, unshared bytes for empty ranges, block edges and the last partial block, of BigInt64Array and Buffer segments', async () => {
    const db = serialized(new MemoryBackend(), { largeValueBytes: 1000 });
    const big = BigInt64Array.from({ length: 3 * 8192 + 5 }, (_, index) => BigInt(index) * 7n - 3n);
    const buffer = Buffer.from(Uint8Array.from({ length: 2 * 65536 + 3 }, (_, index) => (index * 31) % 256));
    await db.put(key('v!parts'), { big, buffer });
    const opened = (await db.open(key('v!parts')))!;
    const outline = opened.outline as { big: BigInt64Array; buffer: Buffer };
    const bigSegment = opened.segments.get(outline.big)!;
    const bufferSegment = opened.segments.get(outline.buffer)!;
    const bytesOf = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    for (const [segment, whole] of [[bigSegment, bytesOf(big)], [bufferSegment, buffer]] as const) {
      const size = whole.length;
      const ranges: [number, number][] = [[0, 0], [65536, 65536], [size, size], [65536 - 8, 65536 + 8], [65536, 131072], [size - 8, size], [0, size]];
      for (const [start, end] of ranges) {
        const part = await segment.read(start, end);
        expect(Buffer.compare(bytesOf(part), whole.subarray(start, end))).toBe(0);
        if (part.length > 0) part[0]! ^= 0xff;
      }
      // What a read returned is the caller's: changing it changes no later read.
      expect(Buffer.compare(bytesOf(await segment.read(0, size)), whole)).toBe(0);
      for (const [start, end] of [[-8, 0], [0, size + 8], [8, 0], [0.5, 8], [0, Number.NaN]]) expect(() => segment.read(start!, end!)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    const view = await bigSegment.read(8 * 8191, 8 * 8193);
    expect(new BigInt64Array(view.buffer, view.byteOffset, 2)).toEqual(big.subarray(8191, 8193));
  });
});
