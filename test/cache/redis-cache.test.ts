import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveCacheOptions } from '../../src/cache/config.js';
import { openCache, type Cache } from '../../src/index.js';
import { describeWithRedis, freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const indexUrl = new URL('../../src/index.ts', import.meta.url).href;

describe("backend { type: 'redis' } in the configuration", () => {
  it('accepts a URL and a prefix, both optional', () => {
    expect(resolveCacheOptions({ backend: { type: 'redis' } }).backend).toEqual({ type: 'redis' });
    expect(resolveCacheOptions({ backend: { type: 'redis', url: 'redis://cache.lab:6380/2', prefix: 'scan:' } }).backend).toEqual({
      type: 'redis',
      url: 'redis://cache.lab:6380/2',
      prefix: 'scan:',
    });
  });

  it('names the field that is wrong', () => {
    const wrong: [unknown, RegExp][] = [
      [{ type: 'redis', url: 'http://cache.lab' }, /backend\.url/],
      [{ type: 'redis', url: 6379 }, /backend\.url/],
      [{ type: 'redis', prefix: 7 }, /backend\.prefix/],
      [{ type: 'redis', path: '.memostrata' }, /backend\.path/],
      [{ type: 'redis-cluster' }, /backend\.type/],
    ];
    for (const [backend, field] of wrong) {
      expect(() => resolveCacheOptions({ backend: backend as never }), JSON.stringify(backend)).toThrow(
        expect.objectContaining({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringMatching(field) }),
      );
    }
  });

  it('fails to open with BACKEND naming the URL within a few seconds when no server listens', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await openCache({ backend: { type: 'redis', url }, handleExit: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'BACKEND', message: expect.stringContaining(url) });
    expect((error as Error).message).toMatch(/unreachable/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

/**
 * A memoized square over `xs` in a new Node process: one more "machine" on
 * the same Redis. It checkpoints and closes, or with `end: 'exit'` just ends
 * (the exit hook flushes); either way it must exit on its own within 30 s.
 */
async function squaresInChild(
  url: string,
  prefix: string,
  xs: number[],
  end: 'close' | 'exit' = 'close',
): Promise<{ results: number[]; computed: number; hits: number }> {
  const code = `
    import { openCache } from ${JSON.stringify(indexUrl)};
    const cache = await openCache({ backend: { type: 'redis', url: ${JSON.stringify(url)}, prefix: ${JSON.stringify(prefix)} }, flush: 'manual' });
    let computed = 0;
    const square = cache.memoize('machines.square', (x) => { computed += 1; return x * x; });
    const results = [];
    for (const x of ${JSON.stringify(xs)}) results.push(await square(x));
    const hits = cache.stats().modules['machines.square'].hits;
    if (${JSON.stringify(end)} === 'close') {
      await cache.checkpoint();
      await cache.close();
    }
    console.log(JSON.stringify({ results, computed, hits }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repositoryRoot,
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { results: number[]; computed: number; hits: number };
}

describeWithRedis('a cache shared through Redis', () => {
  let server: RedisServer;
  let prefixes = 0;
  const caches: Cache[] = [];
  const prefix = (): string => `cache${(prefixes += 1)}:`;
  const open = async (url: string, storePrefix: string): Promise<Cache> => {
    const cache = await openCache({ backend: { type: 'redis', url, prefix: storePrefix }, flush: 'manual', handleExit: false });
    caches.push(cache);
    return cache;
  };

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close().catch(() => undefined)));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves results one cache computed and checkpointed to another cache on the same server', async () => {
    const storePrefix = prefix();
    const first = await open(server.url, storePrefix);
    const second = await open(server.url, storePrefix);
    let computedByFirst = 0;
    let computedBySecond = 0;
    const energyA = first.memoize('scf.energy', (molecule: { atoms: string[] }) => {
      computedByFirst += 1;
      return molecule.atoms.length * -1.5;
    });
    const energyB = second.memoize('scf.energy', (molecule: { atoms: string[] }) => {
      computedBySecond += 1;
      return molecule.atoms.length * -1.5;
    });
    expect(await energyA({ atoms: ['O', 'H', 'H'] })).toBe(-4.5);
    await first.checkpoint();
    expect(await energyB({ atoms: ['O', 'H', 'H'] })).toBe(-4.5);
    expect([computedByFirst, computedBySecond]).toEqual([1, 0]);
    expect(second.stats().modules['scf.energy']).toMatchObject({ hits: 1, misses: 0 });
    expect(second.location).toContain(server.url);
  });

  it('does not serve what the other cache has not written yet (a module without leases)', async () => {
    const storePrefix = prefix();
    const first = await open(server.url, storePrefix);
    const second = await open(server.url, storePrefix);
    await first.memoize('pending', (x: number) => x + 1, { lease: false })(1);
    let computed = 0;
    expect(await second.memoize('pending', (x: number) => {
      computed += 1;
      return x + 1;
    }, { lease: false })(1)).toBe(2);
    expect(computed).toBe(1);
  });

  it('stores a leased result before the call returns, so another cache hits it at once', async () => {
    const storePrefix = prefix();
    const first = await open(server.url, storePrefix);
    const second = await open(server.url, storePrefix);
    await first.memoize('leased', (x: number) => x + 1)(1);
    expect(first.pendingWrites()).toBe(0);
    let computed = 0;
    expect(await second.memoize('leased', (x: number) => {
      computed += 1;
      return x + 1;
    })(1)).toBe(2);
    expect(computed).toBe(0);
  });

  it('lets one process hit what another process computed', async () => {
    const storePrefix = prefix();
    const producer = await squaresInChild(server.url, storePrefix, [2, 3, 4]);
    expect(producer).toEqual({ results: [4, 9, 16], computed: 3, hits: 0 });
    const consumer = await squaresInChild(server.url, storePrefix, [4, 3, 2, 5]);
    expect(consumer).toEqual({ results: [16, 9, 4, 25], computed: 1, hits: 3 });
  });

  it('lets a process that never calls close() end by itself, flushing on the way out', async () => {
    const storePrefix = prefix();
    const started = Date.now();
    expect(await squaresInChild(server.url, storePrefix, [6, 7], 'exit')).toEqual({ results: [36, 49], computed: 2, hits: 0 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await squaresInChild(server.url, storePrefix, [6, 7])).toEqual({ results: [36, 49], computed: 0, hits: 2 });
  });

  it('keeps stores under different prefixes apart', async () => {
    const first = await open(server.url, prefix());
    const second = await open(server.url, prefix());
    await first.memoize('apart', (x: number) => x)(1);
    await first.checkpoint();
    let computed = 0;
    await second.memoize('apart', (x: number) => {
      computed += 1;
      return x;
    })(1);
    expect(computed).toBe(1);
  });

  it('rejects a checkpoint with BACKEND once the server is gone, and closes without hanging', async () => {
    const own = await startRedisServer();
    try {
      const cache = await open(own.url, prefix());
      const square = cache.memoize('lost', (x: number) => x * x, { lease: false });
      expect(await square(3)).toBe(9);
      await own.kill();
      const started = Date.now();
      await expect(cache.checkpoint()).rejects.toMatchObject({ code: 'BACKEND', message: expect.stringContaining(own.url) });
      await cache.close().catch(() => undefined);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await own.stop();
    }
  });
});
