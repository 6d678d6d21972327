import { afterAll, beforeAll, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

describeWithRedis('hit counts on a store that processes share', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('add up the hits of caches that run at the same time instead of overwriting each other', async () => {
    const backend = { type: 'redis' as const, url: server.url, prefix: 'counters:' };
    const first = await openCache({ backend, handleExit: false });
    await first.memoize('f', (x: number) => x + 1)(1);
    await first.close();
    const readers = await Promise.all([1, 2, 3].map(() => openCache({ backend, handleExit: false })));
    await Promise.all(
      readers.map(async (cache) => {
        const f = cache.memoize('f', (x: number) => x + 1);
        for (let i = 0; i < 5; i++) await f(1);
      }),
    );
    // All three flush at once: each adds its own counter key.
    await Promise.all(readers.map((cache) => cache.checkpoint()));
    await Promise.all(readers.map((cache) => cache.close()));
    const check = await openCache({ backend, handleExit: false });
    const listed = [];
    for await (const record of check.store.proxy.records('f')) listed.push(record);
    expect(listed.map((record) => record.hits)).toEqual([15]);
    await check.close();
  });
});
