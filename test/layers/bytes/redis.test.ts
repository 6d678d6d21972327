import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis-backend.js';
import { buildLayers } from '../../../src/layers/bytes/build-layers.js';
import { KeyPrefix, prefixRange } from '../../../src/layers/keys.js';
import { openCache, type LayerConfig } from '../../../src/index.js';
import { runDatabaseContract } from '../../contract/database-contract.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { writeKeyFile } from './keys.js';

afterAll(removeTempDirs);

const MARKER = 'TRIAL-ARM-B-93c1';

describeWithRedis('byte layers on Redis', () => {
  let server: RedisServer;
  let prefixes = 0;
  const opened: { close(): Promise<void> }[] = [];
  const nextPrefix = (): string => `bytes${(prefixes += 1)}:`;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  const layersIn = (dir: string): LayerConfig[] => [
    { type: 'sign', secretFile: writeKeyFile(dir, 'sign.key') },
    { type: 'encrypt', keyFile: writeKeyFile(dir, 'store.key') },
  ];

  runDatabaseContract('sign and encrypt over RedisBackend', {
    open: async () => buildLayers(layersIn(tempDir()), await RedisBackend.open({ url: server.url, prefix: nextPrefix() })).top,
  });

  it('keeps no plaintext of a result in Redis, and recomputes a value changed there', async () => {
    const dir = tempDir();
    const backend = { type: 'redis' as const, url: server.url, prefix: nextPrefix() };
    const layers = layersIn(dir);
    const first = await openCache({ backend, layers, handleExit: false });
    await first.memoize('note', (n: number) => `${MARKER} ${n}`)(1);
    await first.close();

    const admin = new Redis(server.url);
    const keys = await admin.keys(`${backend.prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const type = await admin.type(key);
      const dump = type === 'string' ? await admin.getBuffer(key) : type === 'hash' ? Buffer.concat(await admin.hvalsBuffer(key)) : Buffer.from(JSON.stringify(await admin.zrange(key, '0', '-1')));
      expect(dump?.includes(MARKER), key).toBe(false);
    }
    admin.disconnect();

    const bare = await RedisBackend.open({ url: server.url, prefix: backend.prefix });
    let flipped = 0;
    for await (const [key, value] of bare.entries(prefixRange(KeyPrefix.value))) {
      const damaged = Uint8Array.from(value);
      damaged[damaged.length - 20]! ^= 0x01;
      await bare.put(key, damaged);
      flipped += 1;
    }
    await bare.close();
    expect(flipped).toBeGreaterThan(0);

    const second = await openCache({ backend, layers, handleExit: false });
    opened.push(second);
    let runs = 0;
    const note = second.memoize('note', (n: number) => {
      runs += 1;
      return `${MARKER} ${n}`;
    });
    expect(await note(1)).toBe(`${MARKER} 1`);
    expect(runs).toBe(1);
  });

  it('computes a call once between two caches through the layers (leases compare opened bytes)', async () => {
    const dir = tempDir();
    const backend = { type: 'redis' as const, url: server.url, prefix: nextPrefix() };
    const layers = layersIn(dir);
    const caches = [await openCache({ backend, layers, handleExit: false }), await openCache({ backend, layers, handleExit: false })];
    opened.push(...caches);
    let runs = 0;
    const slow = caches.map((cache) =>
      cache.memoize('slow', async (n: number) => {
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 200));
        return n * 2;
      }, { flush: 'write-through' }),
    );
    expect(await Promise.all(slow.map((f) => f(21)))).toEqual([42, 42]);
    expect(runs).toBe(1);
  });
});
