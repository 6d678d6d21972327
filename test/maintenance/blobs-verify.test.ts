import { createHash } from 'node:crypto';
import { cpSync, existsSync, openSync, readFileSync, readSync, statSync, writeSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/cache/store.js';
import { openCache, type StoredCall } from '../../src/index.js';
import { exportStore, importStore, verify } from '../../src/maintenance/index.js';
import { smashMiddle } from '../fixtures/bit-rot.js';
import { V4_GRID, v4Grid } from '../fixtures/make-v4-crc-store.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { blobFiles, fillKind, keysOf, LARGE, ramp, storeCall } from './blobs-helpers.js';
import { counted, storePath, withStore } from './stores.js';

afterAll(() => removeTempDirs());

/** Flips one bit of the byte at `position` of `file`. */
function flipByte(file: string, position: number): void {
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x10;
    writeSync(fd, byte, 0, 1, position);
  } finally {
    closeSync(fd);
  }
}

/** A LevelDB store with two large results (two blobs) of module `grid`, calls 1 and 2. */
async function twoBlobStore(): Promise<{ path: string; fileOf: (n: number) => Promise<string> }> {
  const path = storePath();
  await withStore(path, async (store) => {
    await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
    await storeCall(store, 'grid', 2, [2], ramp(LARGE, 2));
  });
  const fileOf = (n: number) =>
    withStore(path, async (store) => {
      const bytes = await store.bytes.get(new TextEncoder().encode(`v!${store.values.uuidOf(ramp(LARGE, n))}`));
      const id = store.serialized.codec.blobReference(bytes!)!.id;
      return blobFiles(path).find((file) => file.endsWith(id))!;
    });
  return { path, fileOf };
}

describe('verify and blobs', () => {
  it('checks every blob a key names and finds a sound store sound', async () => {
    const { path } = await twoBlobStore();
    const result = await withStore(path, (store) => verify(store));
    expect(result.problems).toEqual([]);
    expect(result.blobs.checked).toBe(2);
    expect(result.blobs.bytes).toBeGreaterThan(2 * 8 * LARGE);
    expect(result.blobs.orphans).toEqual([]);
  });

  it('reports a flipped byte in the middle of a blob as bad-blob naming the key and the blob, and the record that uses it', async () => {
    const { path, fileOf } = await twoBlobStore();
    const file = await fileOf(1);
    flipByte(file, Math.floor(statSync(file).size / 2));
    const result = await withStore(path, (store) => verify(store));
    const id = file.slice(-64);
    const bad = result.problems.filter((problem) => problem.kind === 'bad-blob');
    expect(bad).toHaveLength(1);
    expect(bad[0]!.key).toMatch(/^v!/);
    expect(bad[0]!.message).toContain(id);
    expect(bad[0]!.fixable).toBe(true);
    expect(result.problems.filter((problem) => problem.kind === 'bad-value').map((problem) => problem.key)).toEqual([expect.stringMatching(/^m!grid!/)]);
  });

  it('finds a damaged header and a changed size', async () => {
    const { path, fileOf } = await twoBlobStore();
    flipByte(await fileOf(1), 30);
    const file2 = await fileOf(2);
    const fd = openSync(file2, 'a');
    writeSync(fd, Buffer.from([1, 2, 3]));
    closeSync(fd);
    const result = await withStore(path, (store) => verify(store));
    const messages = result.problems.filter((problem) => problem.kind === 'bad-blob').map((problem) => problem.message);
    expect(messages).toHaveLength(2);
    expect(messages.some((message) => /header|table/.test(message))).toBe(true);
    expect(messages.some((message) => /bytes, not the/.test(message))).toBe(true);
  });

  it('reports a missing blob as missing-blob', async () => {
    const { path, fileOf } = await twoBlobStore();
    rmSync(await fileOf(2));
    const result = await withStore(path, (store) => verify(store));
    expect(result.problems.map((problem) => problem.kind).sort()).toEqual(['bad-value', 'missing-blob']);
  });

  it('--fix removes the value, the record and the damaged blob, keeps the other', async () => {
    const { path, fileOf } = await twoBlobStore();
    const damaged = await fileOf(1);
    const kept = await fileOf(2);
    flipByte(damaged, statSync(damaged).size - 100_000);
    const fixed = await withStore(path, (store) => verify(store, { fix: true }));
    expect(fixed.removed.filter((key) => key.startsWith('v!') || key.startsWith('m!'))).toHaveLength(2);
    expect(fixed.blobs.removed).toEqual([damaged.slice(-64)]);
    expect(existsSync(damaged)).toBe(false);
    expect(existsSync(kept)).toBe(true);
    const again = await withStore(path, (store) => verify(store));
    expect(again.problems).toEqual([]);
    expect(again.blobs.checked).toBe(1);
  });

  it('a call whose blob is damaged is recomputed, never served, and verify --fix lets it be stored again', async () => {
    const path = storePath();
    await fillKind('level', path, async (cache) => {
      const grid = cache.memoize('grid', (n: number) => ramp(LARGE, n));
      await grid(1);
      await grid(2);
    });
    const first = blobFiles(path)[0]!;
    flipByte(first, statSync(first).size - 100_000);
    await withStore(path, (store) => verify(store, { fix: true }));
    const cache = await openCache({ path, handleExit: false, flush: 'manual' });
    try {
      const compute = counted((n: number) => ramp(LARGE, n));
      const grid = cache.memoize('grid', compute);
      expect(await grid(1)).toEqual(ramp(LARGE, 1));
      expect(await grid(2)).toEqual(ramp(LARGE, 2));
      expect(compute.calls).toBe(1);
    } finally {
      await cache.close();
    }
  });

  it('reports blobs nothing names and unfinished writes as orphans without failing', async () => {
    const { path } = await twoBlobStore();
    const orphan = await withStore(path, async (store) => {
      const written = await store.serialized.largeValues.write([Buffer.from('nobody names me')]);
      return written.id;
    });
    const result = await withStore(path, (store) => verify(store));
    expect(result.problems).toEqual([]);
    expect(result.blobs.orphans.map((blob) => blob.id)).toEqual([orphan]);
  });

  it('checks blobs kept as b! chunks (memory) and does not call their keys unknown', async () => {
    const store = await openStore({ type: 'memory' });
    try {
      await storeCall(store, 'grid', 3, [3], ramp(LARGE, 3));
      const keys = await keysOf(store);
      expect(keys.some((key) => key.startsWith('b!'))).toBe(true);
      const sound = await verify(store);
      expect(sound.problems).toEqual([]);
      expect(sound.blobs.checked).toBe(1);
      // Damage one chunk.
      const chunkKey = new TextEncoder().encode(keys.find((key) => /^b!.*!00000000$/.test(key))!);
      const chunk = Buffer.from((await store.backend.get(chunkKey))!);
      chunk[chunk.length - 10] = chunk[chunk.length - 10]! ^ 0x01;
      await store.backend.put(chunkKey, chunk);
      const damaged = await verify(store, { fix: true });
      expect(damaged.problems.map((problem) => problem.kind)).toEqual(['bad-blob', 'bad-value']);
      const left = await keysOf(store);
      expect(left.filter((key) => key.startsWith('b!'))).toEqual([]);
      expect(left).not.toContain(`v!${store.values.uuidOf(ramp(LARGE, 3))}`);
    } finally {
      await store.serialized.close();
    }
  });
});

describe('a blob written by the first release of blobs (CRC-32 block checksums, named by the SHA-256 of its bytes)', () => {
  const fixture = new URL('../fixtures/v4-crc-store', import.meta.url).pathname;
  /** A copy of the fixture store, and the path of its one blob file. */
  function copy(): { path: string; file: string } {
    const path = storePath();
    cpSync(fixture, path, { recursive: true });
    return { path, file: blobFiles(path)[0]! };
  }
  async function withGrid<T>(path: string, use: (grid: (n: number) => Promise<Float64Array>, stored: (n: number) => Promise<StoredCall | undefined>) => Promise<T>): Promise<T> {
    const cache = await openCache({ path, flush: 'manual', handleExit: false, largeValueBytes: V4_GRID.largeValueBytes });
    try {
      const grid = cache.memoize(V4_GRID.module, v4Grid);
      return await use(grid, (n) => grid.stored(n));
    } finally {
      await cache.close();
    }
  }

  it('is read whole and in part, found sound, and carried through export and import', async () => {
    const { path, file } = copy();
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(file.slice(-64));
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
    const [n] = V4_GRID.args;
    const expected = v4Grid(n);
    await withGrid(path, async (grid, stored) => {
      const part = (await (await stored(n))!.arrays[0]!.read(30_000, 30_010)) as Float64Array;
      expect([...part]).toEqual([...expected.subarray(30_000, 30_010)]);
      expect(await grid(n)).toEqual(expected);
    });
    const exported = join(tempDir('memostrata-v4-'), 'store.cbor');
    await withStore(path, (store) => exportStore(store, exported));
    const target = storePath();
    await withStore(target, async (store) => {
      await importStore(store, exported);
      expect((await verify(store)).problems).toEqual([]);
    });
    expect(blobFiles(target).map((name) => name.slice(-64))).toEqual([file.slice(-64)]);
  });

  it('is damaged when any byte changes, in its header, its data or its checksum table, and never served', async () => {
    const size = statSync(copy().file).size;
    for (const position of [30, 200, Math.floor(size / 2), size - 2]) {
      const { path, file } = copy();
      flipByte(file, position);
      const bad = (await withStore(path, (store) => verify(store))).problems.filter((problem) => problem.kind === 'bad-blob');
      expect(bad.map((problem) => problem.message).join(' ')).toContain(file.slice(-64));
      const [n] = V4_GRID.args;
      // Whole, the value is recomputed (a warning says so) rather than served.
      await withGrid(path, async (grid) => expect(await grid(n)).toEqual(v4Grid(n)));
    }
  });
});

describe('verify --fix salvaging a damaged LevelDB store', () => {
  it('keeps the blob files: the salvaged store still serves its large values', async () => {
    const path = storePath();
    await withStore(path, async (store) => {
      await storeCall(store, 'grid', 1, [1], ramp(LARGE, 1));
      for (let n = 0; n < 2000; n++) await storeCall(store, 'small', n + 10, [n], `a small result number ${n} `.repeat(20));
      await store.backend.compact({});
    });
    const before = blobFiles(path);
    expect(before).toHaveLength(1);
    smashMiddle(path, 4096);
    const fixed = await withStore(path, (store) => verify(store, { fix: true }));
    expect(fixed.repaired).toBe(true);
    expect(blobFiles(path)).toEqual(before);
    const again = await withStore(path, (store) => verify(store));
    expect(again.problems.filter((problem) => problem.kind === 'missing-blob')).toEqual([]);
  });
});
