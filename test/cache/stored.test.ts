import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openCache, type Cache } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const caches: Cache[] = [];
afterEach(async () => {
  for (const cache of caches.splice(0)) await cache.close();
});
afterAll(removeTempDirs);

async function open(options: Parameters<typeof openCache>[0]): Promise<Cache> {
  const cache = await openCache({ flush: 'manual', handleExit: false, ...options });
  caches.push(cache);
  return cache;
}

/** A result with a large grid (a blob segment), a small array (inside the skeleton) and a Buffer in a Map. */
function simulate(n: number): { grid: Float64Array; steps: Int32Array; extra: Map<string, Buffer>; label: string } {
  return {
    grid: Float64Array.from({ length: 200_000 }, (_, index) => n * 1e6 + index / 4),
    steps: Int32Array.from([n, n + 1, n + 2]),
    extra: new Map([['raw', Buffer.alloc(100_000, n)]]),
    label: `run ${n}`,
  };
}

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('f.stored()', () => {
  it('is undefined for a call not stored, and computes nothing', async () => {
    const cache = await open({ path: join(tempDir('memostrata-stored-'), 'store') });
    let runs = 0;
    const f = cache.memoize('sim', (n: number) => {
      runs += 1;
      return simulate(n);
    });
    expect(await f.stored(1)).toBeUndefined();
    expect(runs).toBe(0);
  });

  it('after a restart, lists the typed arrays of a large result and reads any range of one, loading nothing else', async () => {
    const path = join(tempDir('memostrata-stored-'), 'store');
    const first = await open({ path, largeValueBytes: 500_000 });
    await first.memoize('sim', simulate)(7);
    await first.close();

    const cache = await open({ path, largeValueBytes: 500_000 });
    const f = cache.memoize('sim', (_n: number): ReturnType<typeof simulate> => {
      throw new Error('must not run');
    });
    const stored = (await f.stored(7))!;
    expect(stored).toMatchObject({ module: 'sim', error: false });
    expect(stored.call).toMatch(/^[0-9a-f]{32}$/);
    expect(stored.arrays.map(({ path: at, type, length }) => ({ at, type, length }))).toEqual([
      { at: ['grid'], type: 'Float64Array', length: 200_000 },
      { at: ['steps'], type: 'Int32Array', length: 3 },
      { at: ['extra', '.get("raw")'], type: 'Buffer', length: 100_000 },
    ]);
    const expected = simulate(7);
    const grid = stored.arrays[0]!;
    await fc.assert(
      fc.asyncProperty(fc.nat(200_000), fc.nat(200_000), async (a, b) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        const part = await grid.read(start, end);
        expect(part).toBeInstanceOf(Float64Array);
        expect(sameBytes(part, expected.grid.subarray(start, end))).toBe(true);
      }),
      { numRuns: 30 },
    );
    expect(await stored.arrays[1]!.read()).toEqual(expected.steps);
    const raw = await stored.arrays[2]!.read(10, 20);
    expect(Buffer.isBuffer(raw) && raw.equals(Buffer.alloc(10, 7))).toBe(true);
    const value = await stored.value();
    expect(sameBytes(value.grid, expected.grid)).toBe(true);
    expect(value.label).toBe('run 7');
    expect(cache.stats().modules.sim?.misses ?? 0).toBe(0);
  });

  it('serves a call held in memory (not checkpointed yet) and a small result stored whole', async () => {
    const path = join(tempDir('memostrata-stored-'), 'store');
    const cache = await open({ path });
    const f = cache.memoize('small', (n: number) => ({ values: new Float32Array([n, n / 2]) }));
    await f(4);
    const live = (await f.stored(4))!;
    expect(await live.arrays[0]!.read(1)).toEqual(new Float32Array([2]));
    await cache.close();
    const again = await open({ path });
    const stored = (await again.memoize('small', (n: number) => ({ values: new Float32Array([n]) })).stored(4))!;
    expect(await stored.value()).toEqual({ values: new Float32Array([4, 2]) });
    expect(await stored.arrays[0]!.read(0, 1)).toEqual(new Float32Array([4]));
  });

  it('refuses a range outside the array with INVALID_ARGUMENT', async () => {
    const cache = await open({ path: join(tempDir('memostrata-stored-'), 'store'), largeValueBytes: 1000 });
    const f = cache.memoize('sim', simulate);
    await f(1);
    await cache.checkpoint();
    const [grid] = (await f.stored(1))!.arrays;
    for (const [start, end] of [[-1, 2], [5, 4], [0, 200_001], [0.5, 3]] as const) {
      await expect(grid!.read(start, end), `${start}..${end}`).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('rejects value() with the cached error of a call whose error was cached', async () => {
    const cache = await open({ path: join(tempDir('memostrata-stored-'), 'store') });
    const f = cache.memoize('fails', (n: number): number => {
      throw new RangeError(`bad ${n}`);
    }, { cacheErrors: true });
    await expect(f(2)).rejects.toThrow('bad 2');
    const stored = (await f.stored(2))!;
    expect(stored).toMatchObject({ error: true, arrays: [] });
    await expect(stored.value()).rejects.toThrow('bad 2');
  });
});

describe('large values on Redis', () => {
  let server: RedisServer;
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps them as chunks in Redis, or as files in blobDir when configured, and reads them in part either way', async () => {
    server = await startRedisServer();
    const blobDir = join(tempDir('memostrata-stored-'), 'shared-blobs');
    for (const [prefix, extra] of [['chunks:', {}], ['files:', { blobDir }]] as const) {
      const backend = { type: 'redis' as const, url: server.url, prefix, ...extra };
      const writer = await open({ backend, largeValueBytes: 100_000 });
      await writer.memoize('sim', simulate)(3);
      await writer.close();
      const reader = await open({ backend, largeValueBytes: 100_000 });
      const stored = (await reader.memoize('sim', simulate).stored(3))!;
      const part = await stored.arrays[0]!.read(150_000, 150_010);
      expect(sameBytes(part, simulate(3).grid.subarray(150_000, 150_010)), prefix).toBe(true);
    }
    expect(readdirSync(blobDir, { recursive: true }).some((name) => /[0-9a-f]{64}$/.test(String(name)))).toBe(true);
  });
});
