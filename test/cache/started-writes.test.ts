/*
 * A large result's blob starts on its way to the disk at the call, while the
 * result's digest is taken; the checkpoint finishes it (SerializedDB.startWriting,
 * FileBlobStore.begin). These tests attack what that changes: a result
 * changed after the call, an equal result, one already stored, a prune that
 * took the unfinished file, a write left unfinished at close.
 */
import { readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileBlobStore, STARTED_OPEN_MAX } from '../../src/backends/file-blob-store.js';
import { MemostrataError } from '../../src/index.js';
import { verify } from '../../src/maintenance/index.js';
import { bytesOf, field, landed, named, unfinished, unfinishedSettled } from '../helpers/blob-files.js';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);
const open = openedCaches();

const MB = 1024 * 1024;

describe('a large result written from the call on', () => {
  it('is on its way to the disk before the checkpoint, which names it; it round-trips through a restart', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (seed: number) => field((8 * MB) / 8, seed));
    const result = await f(1);
    // Started at the call: an unfinished file of at least the array's size, nothing named yet.
    const [file, ...others] = unfinished(path);
    expect(others).toEqual([]);
    await landed(file!, 8 * MB);
    expect(named(path)).toEqual([]);
    await cache.checkpoint();
    expect(unfinished(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
    await cache.close();

    let runs = 0;
    const again = await open(path, { flush: 'manual' });
    const g = again.memoize('started.f', (seed: number) => {
      runs += 1;
      return field((8 * MB) / 8, seed);
    });
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(result))).toBe(0);
    expect(runs).toBe(0);
    expect((await verify(again.store)).problems).toEqual([]);
  });

  it('is dropped, and its file removed, when the result is changed in place before the checkpoint', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (seed: number) => field((4 * MB) / 8, seed));
    const result = (await f(1)) as Float64Array;
    result[12345] = -1; // changed after the call: what was written is not what the store would hold
    const warnings = captureWarnings();
    await cache.checkpoint();
    expect((await warnings.stop()).map(({ code }) => code)).toContain('MEMOSTRATA_MUTATED');
    await cache.close();
    expect(unfinished(path)).toEqual([]);
    expect(named(path)).toEqual([]);

    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('started.f', (seed: number) => {
      runs += 1;
      return field((4 * MB) / 8, seed);
    });
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(field((4 * MB) / 8, 1)))).toBe(0);
    expect(runs).toBe(1);
  });

  it('never serves bytes changed while the disk took them, even when the change is undone before the checkpoint', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const length = (32 * MB) / 8;
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (seed: number) => field(length, seed));
    const result = (await f(1)) as Float64Array;
    // Changed at once, while the thread pool may still be copying it to the file, then changed back: the store's
    // checks of the value see it unchanged, and the file may hold the changed bytes.
    const saved = result.slice();
    result.fill(-7);
    await new Promise((resolve) => setTimeout(resolve, 20));
    result.set(saved);
    await cache.checkpoint();
    await cache.close();

    const again = await open(path, { flush: 'manual' });
    const g = again.memoize('started.f', (seed: number) => field(length, seed));
    const expected = field(length, 1);
    // A read in part gives the right elements or CORRUPT: the blocks' checksums were taken at the call.
    const stored = (await g.stored(1))!;
    for (const [start, end] of [[0, 1000], [length / 2, length / 2 + 5000], [length - 10, length]] as const) {
      try {
        const part = await stored.arrays[0]!.read(start, end);
        expect(Buffer.compare(bytesOf(part), bytesOf(expected.subarray(start, end)))).toBe(0);
      } catch (error) {
        expect(error).toMatchObject({ code: 'CORRUPT' });
      }
    }
    // A whole read is checked against the content digest: the right array, stored or computed again.
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(expected))).toBe(0);
  });

  it('names a file whose bytes are not what was handed over, but never serves them: they read as damaged and are computed again', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const length = (4 * MB) / 8;
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (seed: number) => field(length, seed));
    await f(1);
    const [file] = unfinished(path);
    await landed(file!, 4 * MB);
    // What a change the pool copied and the caller then undid leaves: other bytes than the checksums, taken at the
    // call, say. The checkpoint does not read the file back (that pass would cost about a third of a store).
    const handle = await openFile(file!, 'r+');
    await handle.write(Buffer.alloc(4096, 0xee), 0, 4096, 1024 * 1024);
    await handle.close();
    await cache.checkpoint();
    await cache.close();

    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('started.f', (seed: number) => {
      runs += 1;
      return field(length, seed);
    });
    await expect((await g.stored(1))!.arrays[0]!.read(100_000, 200_000)).rejects.toMatchObject({ code: 'CORRUPT' });
    expect((await verify(again.store)).problems.map(({ kind }) => kind).sort()).toEqual(['bad-blob', 'bad-value']);
    // A whole read is checked against the content digest: computed again, and the store repaired.
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(field(length, 1)))).toBe(0);
    expect(runs).toBe(1);
    await again.checkpoint();
    expect((await verify(again.store)).problems).toEqual([]);
  });

  it('writes one blob for equal results, and removes what was started for the other', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (_name: string) => field((2 * MB) / 8, 3));
    await f('a');
    await f('b');
    expect(unfinished(path)).toHaveLength(2);
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
  });

  it('removes what was started for a result the store holds already', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const first = await open(path, { flush: 'manual' });
    await first.memoize('started.f', () => field((2 * MB) / 8, 4))();
    await first.checkpoint();
    await first.close();
    const cache = await open(path, { flush: 'manual' });
    // Another module computes an equal value: stored once already.
    await cache.memoize('started.g', () => field((2 * MB) / 8, 4))();
    expect(unfinished(path)).toHaveLength(1);
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
  });

  it('is written again at the checkpoint when a prune took the unfinished file', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('started.f', (seed: number) => field((2 * MB) / 8, seed));
    const result = await f(1);
    const [file] = unfinished(path);
    await landed(file!, 2 * MB);
    rmSync(file!);
    await cache.checkpoint();
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('started.f', (seed: number) => {
      runs += 1;
      return field((2 * MB) / 8, seed);
    });
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(result))).toBe(0);
    expect(runs).toBe(0);
  });

  it('names a blob as new, however long ago the call wrote it: a prune of a shared store leaves a young blob to its writer', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    await cache.memoize('started.f', () => field((2 * MB) / 8, 5))();
    const [file] = unfinished(path);
    await landed(file!, 2 * MB);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(file!, hourAgo, hourAgo);
    const before = Date.now();
    await cache.checkpoint();
    const [blob] = named(path);
    expect(statSync(blob!).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
  });

  it('leaves no unfinished file behind at close, for a call that was not stored', async () => {
    const path = join(tempDir('memostrata-started-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const result = (await cache.memoize('started.f', () => field((2 * MB) / 8, 6))()) as Float64Array;
    result[0] = 1; // not stored, so nothing finishes what was started for it
    const warnings = captureWarnings();
    await cache.close();
    await warnings.stop();
    expect(unfinished(path)).toEqual([]);
    expect(named(path)).toEqual([]);
  });
});

describe('FileBlobStore.begin', () => {
  it('writes what finish names, and abandon removes what it started', async () => {
    const dir = join(tempDir('memostrata-begin-'), 'blobs');
    const store = new FileBlobStore(dir);
    const parts = [Buffer.from('hello '), Buffer.alloc(3 * MB, 7), Buffer.from(' world')];
    const pending = store.begin(parts)!;
    const info = await pending.finish({ name: () => 'a'.repeat(64) });
    expect(info).toEqual({ id: 'a'.repeat(64), bytes: 6 + 3 * MB + 6 });
    const reader = (await store.open(info.id))!;
    const head = new Uint8Array(6);
    await reader.read(0, head);
    await reader.close();
    expect(Buffer.from(head).toString()).toBe('hello ');
    await expect(pending.finish({ name: () => 'b'.repeat(64) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const dropped = store.begin([Buffer.alloc(MB, 1)])!;
    await dropped.abandon();
    await dropped.abandon();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('leaves nothing under the name when the writer refuses the write, and rejects with its error', async () => {
    const dir = join(tempDir('memostrata-begin-'), 'blobs');
    const store = new FileBlobStore(dir);
    const refusal = new MemostrataError('UNSERIALIZABLE', 'changed');
    await expect(
      store.begin([Buffer.alloc(MB, 2)])!.finish({
        name: () => 'c'.repeat(64),
        written: () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    expect(await store.open('c'.repeat(64))).toBeUndefined();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('keeps at most STARTED_OPEN_MAX descriptors open for started writes; past that the caller writes the usual way', async () => {
    const store = new FileBlobStore(join(tempDir('memostrata-begin-'), 'blobs'));
    // Started in one go, before any can become durable and close: each holds its descriptor.
    const started = Array.from({ length: STARTED_OPEN_MAX }, () => store.begin([Buffer.alloc(1024, 1)]));
    expect(started.every((pending) => pending !== undefined)).toBe(true);
    expect(store.begin([Buffer.alloc(1024, 2)])).toBeUndefined();
    await Promise.all(started.map((pending) => pending!.abandon()));
    const again = store.begin([Buffer.alloc(1024, 3)]);
    expect(again).toBeDefined();
    await again!.abandon();
  });

  it('starts nothing where it cannot write (the caller writes the usual way)', () => {
    const file = join(tempDir('memostrata-begin-'), 'not-a-folder');
    rmSync(file, { force: true });
    writeFileSync(file, 'x');
    expect(new FileBlobStore(file).begin([Buffer.alloc(10)])).toBeUndefined();
  });
});
