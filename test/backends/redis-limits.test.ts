import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isBackendLimit, isBackendUnreachable } from '../../src/backends/backend-errors.js';
import { RedisBackend } from '../../src/backends/redis-backend.js';
import { resolveCacheOptions } from '../../src/cache/config.js';
import { openStore } from '../../src/cache/store.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const MiB = 2 ** 20;
const key = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('Redis options in the configuration', () => {
  it('carries the timeouts and limits through to the backend configuration', () => {
    const backend = { type: 'redis', connectTimeoutMs: 800, commandTimeoutMs: 1500, closeTimeoutMs: 400, reconnectForMs: 0, pageSize: 10, maxValueBytes: 4096, maxBatchBytes: 8192 } as const;
    expect(resolveCacheOptions({ backend }).backend).toEqual(backend);
  });

  it('takes a Redis Cluster URL naming several nodes, and chunk limits', () => {
    const backend = { type: 'redis', url: 'redis+cluster://:pw@10.0.0.5:7000,10.0.0.6:7001', chunkOperations: 500, chunkBytes: 65_536 } as const;
    expect(resolveCacheOptions({ backend }).backend).toEqual(backend);
  });

  it('refuses a timeout or limit that is not a usable number, with CONFIG naming it', () => {
    const wrong: [Record<string, unknown>, RegExp][] = [
      [{ commandTimeoutMs: 0 }, /backend\.commandTimeoutMs/],
      [{ connectTimeoutMs: '5000' }, /backend\.connectTimeoutMs/],
      [{ closeTimeoutMs: 1e12 }, /backend\.closeTimeoutMs/],
      [{ reconnectForMs: -1 }, /backend\.reconnectForMs/],
      [{ maxValueBytes: 1.5 }, /backend\.maxValueBytes/],
      [{ maxBatchBytes: 0 }, /backend\.maxBatchBytes/],
      [{ url: 'redis://127.0.0.1:6379/abc' }, /backend\.url.*non-negative integer/],
      [{ comandTimeoutMs: 10 }, /commandTimeoutMs/],
      [{ chunkOperations: 0 }, /backend\.chunkOperations/],
      [{ url: 'redis+cluster://10.0.0.5:7000/2' }, /backend\.url.*no database number/],
      [{ url: 'redis+cluster://10.0.0.5:7000,10.0.0.6:99999' }, /backend\.url.*10\.0\.0\.6:99999/],
      [{ prefix: 'scan{1}:' }, /backend\.prefix.*'\{'/],
    ];
    for (const [fields, message] of wrong) {
      expect(() => resolveCacheOptions({ backend: { type: 'redis', ...fields } as never }), JSON.stringify(fields)).toThrow(
        expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(message) }),
      );
    }
  });
});

describeWithRedis('Redis write limits', () => {
  let server: RedisServer;
  let admin: Redis;
  const opened: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
    // The smallest limits Redis accepts, so that the tests need only a few MB.
    await admin.call('CONFIG', 'SET', 'proto-max-bulk-len', String(MiB));
    await admin.call('CONFIG', 'SET', 'client-query-buffer-limit', String(MiB));
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  const open = async (prefix: string, options: { maxValueBytes?: number; maxBatchBytes?: number } = {}): Promise<RedisBackend> => {
    const db = await RedisBackend.open({ url: server.url, prefix, ...options });
    opened.push(db);
    return db;
  };

  it("refuses a value over the server's proto-max-bulk-len before sending it, naming the limit and the key", async () => {
    const db = await open('bulk:');
    const error = await db.put(key('v!big'), new Uint8Array(MiB + 1)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND', message: expect.stringMatching(/'v!big'.*limit of 1\.0 MiB.*proto-max-bulk-len/) });
    expect(isBackendLimit(error)).toBe(true);
    expect(isBackendUnreachable(error)).toBe(false);
    expect(await admin.keys('bulk:*')).toEqual([]);
    // The connection was never dropped: the next write goes through at once.
    await db.put(key('v!small'), new Uint8Array(10));
    expect((await db.get(key('v!small')))?.length).toBe(10);
  });

  it('refuses a value over maxValueBytes, and writes nothing of its batch', async () => {
    const db = await open('option:', { maxValueBytes: 1000 });
    const error = await db.batch([
      { type: 'put', key: key('v!fits'), value: new Uint8Array(1000) },
      { type: 'put', key: key('v!over'), value: new Uint8Array(1001) },
    ]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND', message: expect.stringContaining("'v!over'") });
    expect((error as { cause: { key: Uint8Array; limit: number } }).cause).toMatchObject({ key: key('v!over'), limit: 1000 });
    expect(await admin.keys('option:*')).toEqual([]);
  });

  it("sends a batch over the server's client-query-buffer-limit in chunks that fit", async () => {
    const db = await open('batch:');
    expect(db.chunkLimits.bytes).toBeLessThanOrEqual(MiB);
    const operations = [1, 2, 3].map((i) => ({ type: 'put' as const, key: key(`v!part${i}`), value: new Uint8Array(400_000).fill(i) }));
    await db.batch(operations);
    expect((await db.getMany(operations.map((op) => op.key))).map((value) => value?.[0])).toEqual([1, 2, 3]);
  });

  it("refuses a conditional write whose atomic step is over the server's client-query-buffer-limit, writing nothing", async () => {
    const db = await open('step:');
    const operations = [1, 2, 3].map((i) => ({ type: 'put' as const, key: key(`m!mod!${i}`), value: new Uint8Array(400_000) }));
    const error = await db.batchIf({ key: key('l!mod!1'), value: undefined }, operations).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND', message: expect.stringMatching(/atomic step.*3 operations.*client-query-buffer-limit/) });
    expect(isBackendLimit(error)).toBe(true);
    expect(await admin.keys('step:*')).toEqual([]);
  });

  it('takes its limits from the configuration, through openStore', async () => {
    const store = await openStore({ type: 'redis', url: server.url, prefix: 'configured:', maxValueBytes: 4096, maxBatchBytes: 65_536 });
    opened.push(store.serialized);
    expect((store.backend as RedisBackend).limits).toEqual({ maxValueBytes: 4096, maxBatchBytes: 65_536 });
  });
});
