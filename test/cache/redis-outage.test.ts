import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { openCache, type Cache } from '../../src/index.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { captureWarnings } from '../helpers/warnings.js';

/*
 * A Redis blip must not fail the job or lose its results: calls compute while
 * the server is away, their results go out once it is back, and close() waits
 * a bounded time.
 */
/** `work()` once it succeeds, retrying for at most 10 s: for the moment a client takes to reconnect. */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let waited = 0; ; waited += 100) {
    try {
      return await work();
    } catch (error) {
      if (waited >= 10_000) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describeWithRedis('a cache on a Redis server that goes away and comes back', () => {
  let server: RedisServer;
  const caches: Cache[] = [];
  let prefixes = 0;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close().catch(() => undefined)));
  });
  const open = async (prefix: string, options: { flush?: { everyMs: number }; closeRetryMs?: number } = {}): Promise<Cache> => {
    const cache = await openCache({ backend: { type: 'redis', url: server.url, prefix }, handleExit: false, ...options });
    caches.push(cache);
    return cache;
  };

  it('computes while the server is away, warns once, and writes the results once it is back', async () => {
    const prefix = `outage${(prefixes += 1)}:`;
    const cache = await open(prefix, { flush: { everyMs: 50 } });
    let runs = 0;
    const square = cache.memoize('square', (x: number) => {
      runs += 1;
      return x * x;
    });
    expect(await square(1)).toBe(1);
    await cache.checkpoint();
    await server.kill();
    const warnings = captureWarnings();
    // A stored call cannot be read now: it computes instead of failing.
    expect(await square(1)).toBe(1);
    for (let x = 2; x <= 6; x++) expect(await square(x)).toBe(x * x);
    expect(runs).toBe(6);
    await new Promise((resolve) => setTimeout(resolve, 200)); // background flushes fail and back off
    const said = (await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_UNREACHABLE');
    expect(said).toHaveLength(1);
    expect(cache.pendingWrites()).toBeGreaterThan(0);
    await server.restart();
    // The retried background flush writes what was computed meanwhile, without a checkpoint.
    for (let waited = 0; cache.pendingWrites() > 0 && waited < 15_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cache.pendingWrites()).toBe(0);
    const other = await open(prefix);
    let otherRuns = 0;
    const otherSquare = other.memoize('square', (x: number) => {
      otherRuns += 1;
      return x * x;
    });
    for (let x = 2; x <= 6; x++) expect(await otherSquare(x)).toBe(x * x);
    expect(otherRuns).toBe(0);
  });

  it('after the server restarted empty, never writes a record naming a value the server lost', async () => {
    const prefix = `outage${(prefixes += 1)}:`;
    const cache = await open(prefix);
    const square = cache.memoize('square', (x: number) => x * x);
    expect(await square(1)).toBe(1);
    await cache.checkpoint();
    await server.restart(); // no persistence: every key is gone
    await retried(() => cache.memoize('ping', (x: number) => x).has(0)); // the client has reconnected
    expect(await square(-1)).toBe(1); // its result and input are values this process saw stored
    await cache.checkpoint();
    const other = await open(prefix);
    let runs = 0;
    const otherSquare = other.memoize('square', (x: number) => {
      runs += 1;
      return x * x;
    });
    expect(await otherSquare(-1)).toBe(1);
    expect(runs).toBe(0);
    expect(other.stats().modules['square']).toMatchObject({ hits: 1, corrupt: 0 });
  });

  it('drops a result over the server’s value limit with a warning, and writes the others', async () => {
    const prefix = `outage${(prefixes += 1)}:`;
    const cache = await openCache({ backend: { type: 'redis', url: server.url, prefix, maxValueBytes: 4096 }, handleExit: false });
    caches.push(cache);
    const text = cache.memoize('text', (n: number) => 'x'.repeat(n));
    const warnings = captureWarnings();
    expect(await text(10_000)).toHaveLength(10_000);
    expect(await text(10)).toHaveLength(10);
    await cache.checkpoint();
    const said = (await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_UNSTORABLE');
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toMatch(/4096/);
    expect(cache.stats().modules['text']).toMatchObject({ unstorable: 1 });
    expect(await text.has(10)).toBe(true);
    expect(await text.has(10_000)).toBe(false);
  });

  it('rejects close() with BACKEND naming the unwritten results once its retry time is over', async () => {
    const cache = await open(`outage${(prefixes += 1)}:`, { closeRetryMs: 500 });
    const f = cache.memoize('f', (x: number) => x + 1);
    await server.kill();
    try {
      await f(1);
      await f(2);
      const started = Date.now();
      await expect(cache.close()).rejects.toMatchObject({ code: 'BACKEND', message: expect.stringMatching(/2 results could not be written/) });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await server.restart();
    }
  });
});
