/*
 * Hostile review of 62d6232 (a large result's blob starts at the call): what
 * a write started before the checkpoint costs the process when it is never
 * finished, and what many of them cost the thread pool. Each test failed on
 * 62d6232 unless its name says it pins something found sound.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../src/backends/file-blob-store.js';
import type { WriteStage } from '../../src/contract/database.js';
import { TypeRegistry } from '../../src/index.js';
import { collectGarbage, verify } from '../../src/maintenance/index.js';
import { killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { bytesOf, field, named, unfinished, unfinishedSettled } from '../helpers/blob-files.js';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);
afterEach(killRunningChildren);
const open = openedCaches();

const MB = 1024 * 1024;

/** Write requests (and other fs callbacks) waiting in or for the libuv thread pool right now. */
const fsRequests = (): number => process.getActiveResourcesInfo().filter((name) => name === 'FSReqCallback').length;

describe('started writes of results that will never be stored', () => {
  // Each of these results is kept by the caller (a long-running process keeps what it computed): a FinalizationRegistry
  // never fires for it, so before the fix its unfinished file (as large as the result) stayed in blobs/tmp until close().
  it('are removed at the checkpoint that drops a result changed in place, not only at close', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.mutated', (seed: number) => field((2 * MB) / 8, seed));
    const result = (await f(1)) as Float64Array;
    expect(unfinished(path)).toHaveLength(1);
    result[7] = -1;
    const warnings = captureWarnings();
    await cache.checkpoint();
    expect((await warnings.stop()).map(({ code }) => code)).toContain('MEMOSTRATA_MUTATED');
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toEqual([]);
    expect(result[7]).toBe(-1); // still held
  });

  it('are removed when the call is deleted before the checkpoint', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.deleted', (seed: number) => field((2 * MB) / 8, seed));
    const kept = [await f(1), await f(2)];
    expect(unfinished(path)).toHaveLength(2);
    await f.delete(1);
    await cache.checkpoint();
    // f(2) is stored; what f(1) started goes with its call.
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
    expect(kept).toHaveLength(2);
  });

  it('are removed when the module is cleared before the checkpoint', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.cleared', (seed: number) => field((2 * MB) / 8, seed));
    const kept = [await f(1), await f(2)];
    await f.clear();
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toEqual([]);
    expect(kept).toHaveLength(2);
  });

  it('are removed when a newer result of the same call replaces an unwritten one', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    let seed = 1;
    const f = cache.memoize('swr.replaced', () => field((2 * MB) / 8, seed));
    const first = await f();
    await f.delete();
    seed = 2;
    const second = await f();
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
    expect([first, second]).toHaveLength(2);
  });
  it('are removed when the call is not stored because a call it used was invalidated while it ran', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const leaf = cache.memoize('swr.leaf', (n: number) => n);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const parent = cache.memoize('swr.parent', async (n: number) => {
      const seed = await leaf(n);
      await gate;
      return field((2 * MB) / 8, seed);
    });
    const running = parent(1);
    await new Promise((resolve) => setImmediate(resolve));
    await leaf.invalidate(1);
    release();
    const result = await running;
    expect(await parent.has(1)).toBe(false);
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toEqual([]);
    expect(result).toBeInstanceOf(Float64Array);
  });
});

describe('started writes whose blob directory goes bad after the call', () => {
  it('fail the checkpoint with a MemostrataError, not a raw file-system error, and the call is stored once the directory is back', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.badDir', (seed: number) => field((2 * MB) / 8, seed));
    const result = (await f(1)) as Float64Array;
    const [file] = unfinished(path);
    expect(file).toBeDefined();
    // The unfinished writes' folder becomes a file (a cleanup script, another tool): nothing can be put there now.
    const tmp = join(path, 'blobs', 'tmp');
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(tmp, 'not a folder');
    const warnings = captureWarnings();
    let failure: unknown;
    try {
      await cache.checkpoint();
    } catch (error) {
      failure = error;
    }
    await warnings.stop();
    // Either the checkpoint says why with a code, or it keeps the entry to retry: never a bare ENOTDIR.
    if (failure !== undefined) expect(failure).toMatchObject({ name: 'MemostrataError', code: 'BACKEND' });
    rmSync(tmp, { force: true });
    await cache.checkpoint();
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('swr.badDir', (seed: number) => {
      runs += 1;
      return field((2 * MB) / 8, seed);
    });
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(result))).toBe(0);
    expect(runs).toBe(0);
  });
});

describe('a started write for a result known stored already', () => {
  it('is abandoned as soon as the digest names a value this process stored, not kept (and fsynced) until the checkpoint', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    await cache.memoize('swr.first', () => field((2 * MB) / 8, 9))();
    await cache.checkpoint();
    expect(named(path)).toHaveLength(1);
    // Many calls of another module give an equal array: each would write 2 MB and fsync it twice for nothing.
    const g = cache.memoize('swr.again', (_n: number) => field((2 * MB) / 8, 9));
    for (let n = 0; n < 4; n++) await g(n);
    expect(await unfinishedSettled(path)).toEqual([]);
    await cache.checkpoint();
    expect(named(path)).toHaveLength(1);
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const h = again.memoize('swr.again', (_n: number) => {
      runs += 1;
      return new Float64Array(0);
    });
    expect(Buffer.compare(bytesOf((await h(3)) as Float64Array), bytesOf(field((2 * MB) / 8, 9)))).toBe(0);
    expect(runs).toBe(0);
  });
});

describe('the thread pool under many started writes', () => {
  it('holds at most 128 MiB of blob writes queued across every started write, not per write', async () => {
    const dir = join(tempDir('memostrata-swr-'), 'blobs');
    const store = new FileBlobStore(dir);
    const part = Buffer.alloc(32 * MB, 3);
    const before = fsRequests();
    // Six results of 32 MB before a checkpoint (a loop over a fast function): 192 MB, 384 writes of 512 KiB.
    const pending = Array.from({ length: 6 }, () => store.begin([part])!);
    // Counted before this thread yields: no write callback can have run, so this is what was handed to the pool.
    const queued = fsRequests() - before;
    // 128 MiB in 512 KiB writes is 256; a datasync per write besides.
    expect(queued).toBeLessThanOrEqual(256 + pending.length);
    // Every write still lands once the pool has room: finish one, abandon the rest.
    const info = await pending[0]!.finish({ name: () => 'd'.repeat(64) });
    expect(info.bytes).toBe(32 * MB);
    expect(statSync(join(dir, 'dd', 'd'.repeat(64))).size).toBe(32 * MB);
    await Promise.all(pending.slice(1).map((write) => write.abandon()));
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
  it('an abandoned write that waits for room in the pool writes none of its bytes (close() does not write what it removes)', async () => {
    const dir = join(tempDir('memostrata-swr-'), 'blobs');
    const store = new FileBlobStore(dir);
    const part = Buffer.alloc(32 * MB, 5);
    const tmp = join(dir, 'tmp');
    // Each write's own file, held open here so that its size can be read after the write removed it.
    const held: number[] = [];
    const pending = Array.from({ length: 6 }, () => {
      const before = new Set(existsSync(tmp) ? readdirSync(tmp) : []);
      const write = store.begin([part])!;
      const [name] = readdirSync(tmp).filter((entry) => !before.has(entry));
      held.push(openSync(join(tmp, name!), 'r'));
      return write;
    });
    try {
      // The last two wait behind 128 MiB of the first four: abandoned before the pool had room for them.
      const dropped = pending.slice(4).map((write) => write.abandon());
      await Promise.all(pending.slice(0, 4).map((write) => write.abandon()));
      await Promise.all(dropped);
      expect(held.slice(4).map((fd) => fstatSync(fd).size)).toEqual([0, 0]);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      for (const fd of held) closeSync(fd);
    }
  });
});

describe('found sound (pins)', () => {
  it('write-through stores a large result through its started write: no unfinished file, a hit after restart', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'write-through' });
    const f = cache.memoize('swr.through', (seed: number) => field((2 * MB) / 8, seed));
    const result = (await f(1)) as Float64Array;
    expect(unfinished(path)).toEqual([]);
    expect(named(path)).toHaveLength(1);
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('swr.through', (seed: number) => {
      runs += 1;
      return field((2 * MB) / 8, seed);
    });
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(result))).toBe(0);
    expect(runs).toBe(0);
    expect((await verify(again.store)).problems).toEqual([]);
  });

  it('one array returned by two calls, changed between them: the first call is dropped, the second stored right', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const scratch = new Float64Array((2 * MB) / 8);
    const f = cache.memoize('swr.scratch', (seed: number) => {
      scratch.set(field(scratch.length, seed));
      return scratch;
    });
    await f(1);
    await f(2); // the same object, now holding seed 2: call 1's result changed in place
    const warnings = captureWarnings();
    await cache.checkpoint();
    expect((await warnings.stop()).map(({ code }) => code)).toContain('MEMOSTRATA_MUTATED');
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    const runs: number[] = [];
    const g = again.memoize('swr.scratch', (seed: number) => {
      runs.push(seed);
      return field(scratch.length, seed);
    });
    const stored2 = (await g.stored(2))!;
    expect(Buffer.compare(bytesOf(await stored2.arrays[0]!.read(0, 1000)), bytesOf(field(scratch.length, 2).subarray(0, 1000)))).toBe(0);
    expect(await g.stored(1)).toBeUndefined();
    expect(Buffer.compare(bytesOf((await g(1)) as Float64Array), bytesOf(field(scratch.length, 1)))).toBe(0);
    expect(runs).toEqual([1]);
  });

  it('a result object holding the large array and small fields changed after the call is not stored', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.object', (seed: number) => ({ data: field((2 * MB) / 8, seed), n: seed, tag: 'a' }));
    const result = (await f(1)) as { data: Float64Array; n: number; tag: string };
    result.tag = 'b'; // same length: the layout check sees the skeleton bytes differ
    const warnings = captureWarnings();
    await cache.checkpoint();
    await warnings.stop();
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    const g = again.memoize('swr.object', (seed: number) => ({ data: field((2 * MB) / 8, seed), n: seed, tag: 'a' }));
    expect(((await g(1)) as { tag: string }).tag).toBe('a');
  });
  it('a Buffer result, and a registered type holding a large array, round-trip through their started writes', async () => {
    class Grid {
      constructor(
        readonly cells: Float64Array,
        readonly label: string,
      ) {}
    }
    const types = new TypeRegistry();
    types.register({ name: 'review.Grid', type: Grid, encode: (grid: Grid) => ({ cells: grid.cells, label: grid.label }), decode: (plain: { cells: Float64Array; label: string }) => new Grid(plain.cells, plain.label) });
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual', types });
    const buffer = cache.memoize('swr.buffer', (seed: number) => Buffer.from(bytesOf(field((3 * MB) / 8, seed))));
    const grid = cache.memoize('swr.grid', (seed: number) => new Grid(field((3 * MB) / 8, seed), `g${seed}`));
    const b = (await buffer(1)) as Buffer;
    const g = (await grid(2)) as Grid;
    expect(unfinished(path)).toHaveLength(2);
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(2);
    await cache.close();
    const again = await open(path, { flush: 'manual', types });
    let runs = 0;
    const buffer2 = again.memoize('swr.buffer', (_seed: number) => {
      runs += 1;
      return Buffer.alloc(0);
    });
    const grid2 = again.memoize('swr.grid', (_seed: number) => {
      runs += 1;
      return new Grid(new Float64Array(0), '');
    });
    expect(Buffer.compare((await buffer2(1)) as Buffer, b)).toBe(0);
    const read = (await grid2(2)) as Grid;
    expect(read).toBeInstanceOf(Grid);
    expect(read.label).toBe('g2');
    expect(Buffer.compare(bytesOf(read.cells), bytesOf(g.cells))).toBe(0);
    expect(runs).toBe(0);
    expect((await verify(again.store)).problems).toEqual([]);
  });
  it('closes each started write\'s file once its bytes are durable, before any checkpoint (no descriptor kept per pending result)', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.fds', (seed: number) => field((2 * MB) / 8, seed));
    const kept: unknown[] = [];
    for (let seed = 0; seed < 12; seed++) kept.push(await f(seed));
    expect(unfinished(path)).toHaveLength(12);
    /** Descriptors this process holds on unfinished blob files (Linux). */
    const openTemporaries = (): number => {
      let count = 0;
      for (const fd of readdirSync('/proc/self/fd')) {
        try {
          if (readlinkSync(join('/proc/self/fd', fd)).includes(join('blobs', 'tmp'))) count += 1;
        } catch {
          // closed while listed
        }
      }
      return count;
    };
    for (let tries = 0; tries < 500 && openTemporaries() > 0; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(openTemporaries()).toBe(0);
    await cache.checkpoint();
    expect(await unfinishedSettled(path)).toEqual([]);
    expect(named(path)).toHaveLength(12);
    expect(kept).toHaveLength(12);
  });
});

describe('a staged checkpoint of started writes whose final write fails', () => {
  it('keeps the entries dirty, leaves no unfinished file, and the next checkpoint stores every result whole', async () => {
    const path = join(tempDir('memostrata-swr-'), 'cache');
    const cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('swr.staged', (seed: number) => field((2 * MB) / 8, seed));
    for (let seed = 0; seed < 3; seed++) await f(seed);
    const backend = cache.store.backend as typeof cache.store.backend & { openStage(): WriteStage };
    const openStage = backend.openStage.bind(backend);
    let failed = 0;
    backend.openStage = () => {
      const stage = openStage();
      // Every blob was finished and named while the parts were staged; the batch that names them never lands.
      stage.commit = async () => {
        failed += 1;
        await stage.discard();
        throw new Error('disk full');
      };
      return stage;
    };
    await expect(cache.checkpoint()).rejects.toThrow('disk full');
    expect(failed).toBe(1);
    expect(cache.pendingWrites()).toBe(3);
    expect(await unfinishedSettled(path)).toEqual([]);
    backend.openStage = openStage;
    await cache.checkpoint();
    expect(cache.pendingWrites()).toBe(0);
    await cache.close();
    const again = await open(path, { flush: 'manual' });
    let runs = 0;
    const g = again.memoize('swr.staged', (seed: number) => {
      runs += 1;
      return field((2 * MB) / 8, seed);
    });
    for (let seed = 0; seed < 3; seed++) expect(Buffer.compare(bytesOf((await g(seed)) as Float64Array), bytesOf(field((2 * MB) / 8, seed)))).toBe(0);
    expect(runs).toBe(0);
    expect((await verify(again.store)).problems).toEqual([]);
  });
});

describe('a process killed while started writes are in flight', () => {
  it('leaves only unfinished files: acknowledged results hit, verify finds no problem, and a prune removes the files', async () => {
    const dir = tempDir('memostrata-swr-');
    const path = join(dir, 'cache');
    const script = join(dir, 'job.mts');
    const index = fileURLToPath(new URL('../../src/index.js', import.meta.url)).replace(/\.js$/, '.ts');
    // Acknowledges four large results, then starts six more and is killed before any checkpoint names them.
    writeFileSync(
      script,
      `import { openCache } from ${JSON.stringify(index)};
const cache = await openCache({ path: ${JSON.stringify(path)}, flush: 'manual', handleExit: false });
const f = cache.memoize('swr.crash', (seed: number) => {
  const array = new Float64Array(${(2 * MB) / 8});
  for (let i = 0; i < array.length; i++) array[i] = Math.sin(i * 0.001 + seed) * 1e6 + i;
  return array;
});
for (let seed = 0; seed < 4; seed++) await f(seed);
await cache.checkpoint();
console.log('acknowledged');
const kept = [];
for (let seed = 4; seed < 10; seed++) kept.push(await f(seed));
console.log('started ' + kept.length);
setInterval(() => undefined, 1000);
`,
    );
    const job = spawnTsChild(script);
    await job.nextLine((line) => line === 'acknowledged');
    await job.nextLine((line) => line.startsWith('started'));
    job.kill('SIGKILL');
    expect((await job.exited).signal).toBe('SIGKILL');
    expect(named(path)).toHaveLength(4);
    // Each started write's file is made at its call: all six are left, whole or not.
    expect(unfinished(path)).toHaveLength(6);

    const cache = await open(path, { flush: 'manual' });
    let runs = 0;
    const f = cache.memoize('swr.crash', (seed: number) => {
      runs += 1;
      return field((2 * MB) / 8, seed);
    });
    for (let seed = 0; seed < 4; seed++) expect(Buffer.compare(bytesOf((await f(seed)) as Float64Array), bytesOf(field((2 * MB) / 8, seed)))).toBe(0);
    expect(runs).toBe(0);
    expect((await verify(cache.store)).problems).toEqual([]);
    await cache.close();
    const store = await open(path, { flush: 'manual' });
    await collectGarbage(store.store);
    expect(unfinished(path)).toEqual([]);
    expect(named(path)).toHaveLength(4);
  });
});
