import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../src/backends/redis-backend.js';
import { openCache, type Cache } from '../../src/index.js';
import { runDatabaseContract } from '../contract/database-contract.js';
import { redisCliInstalled, startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js';
import { describeWithRedis } from '../helpers/redis-server.js';
import { perModuleFixture, stackOn } from '../layers/stack.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);

describeWithRedis('RedisBackend on a Redis Cluster of three masters', () => {
  let cluster: RedisClusterServer;
  let admin: Cluster;
  let prefixes = 0;
  const opened: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    if (!redisCliInstalled) throw new Error('redis-cli (which joins the cluster) is not installed: apt-get install -y redis-tools');
    cluster = await startRedisCluster();
    admin = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  }, 60_000);
  afterAll(async () => {
    admin?.disconnect();
    await cluster?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  const open = async (options: RedisBackendOptions = {}): Promise<RedisBackend> => {
    prefixes += 1;
    const db = await RedisBackend.open({ url: cluster.url, prefix: `cluster${prefixes}:`, ...options });
    opened.push(db);
    return db;
  };

  runDatabaseContract('RedisBackend on a cluster', { open: () => open() });
  runDatabaseContract('RedisBackend on a cluster, two-entry pages and chunks', { open: () => open({ pageSize: 2, chunkOperations: 2 }) });
  runDatabaseContract('PerModuleObjectDatabase over RedisBackend on a cluster', perModuleFixture(open));
  runDatabaseContract('ProxyObjectDatabase over RedisBackend on a cluster', { open: async () => (await stackOn(await open())).proxy });

  it('spreads the entries of a store over every master', async () => {
    const db = await open({ prefix: 'spread:' });
    await db.batch(Array.from({ length: 60 }, (_, i) => ({ type: 'put' as const, key: text(`v!${i}`), value: bytes(i) })));
    const perNode = await Promise.all(admin.nodes('master').map((node) => node.keys('spread:{*')));
    expect(perNode.every((keys) => keys.length > 0)).toBe(true);
    expect(perNode.flat()).toHaveLength(60);
  });

  it("writes a call's record, deletes its saved state and releases its lease in one conditional step", async () => {
    const db = await open();
    const lease = text('l!{mod}!c0ffee');
    await db.put(lease, text('owner-1'));
    await db.put(text('s!{mod}!c0ffee'), text('state'));
    const applied = await db.batchIf({ key: lease, value: text('owner-1') }, [
      { type: 'put', key: text('v!value-1'), value: text('result') },
      { type: 'put', key: text('m!{mod}!c0ffee'), value: text('record') },
      { type: 'del', key: text('s!{mod}!c0ffee') },
      { type: 'del', key: lease },
    ]);
    expect(applied).toBe(true);
    const keys: string[] = [];
    for await (const key of db.keys()) keys.push(new TextDecoder().decode(key));
    expect(keys).toEqual(['m!{mod}!c0ffee', 'v!value-1']);
  });

  it('lists a key once after a crash left its index member without an entry, and removes that member', async () => {
    const db = await open({ prefix: 'dangling:' });
    await db.put(bytes(1), bytes(1));
    await db.put(bytes(2), bytes(2));
    // What a writer that died between indexing a key and writing its entry leaves.
    const index = (await Promise.all(admin.nodes('master').map((node) => node.keys('dangling:index{*')))).flat()[0]!;
    await admin.zadd(index, 0, Buffer.from([3]));
    const keys: string[] = [];
    for await (const key of db.keys()) keys.push(Buffer.from(key).toString('hex'));
    expect(keys).toEqual(['01', '02']);
    expect(await admin.zcard(index)).toBe(2);
  });

  it('round-trips memoized results through a cache on the cluster, across a reopen', async () => {
    const config = { backend: { type: 'redis' as const, url: cluster.url, prefix: 'cache:' }, handleExit: false };
    let computed = 0;
    const square = (x: number): number => {
      computed += 1;
      return x * x;
    };
    const first: Cache = await openCache(config);
    const f = first.memoize('square{v1}', square);
    expect(await Promise.all([1, 2, 3].map((x) => f(x)))).toEqual([1, 4, 9]);
    await first.close();
    const second: Cache = await openCache(config);
    opened.push(second);
    const g = second.memoize('square{v1}', square);
    expect(await Promise.all([1, 2, 3].map((x) => g(x)))).toEqual([1, 4, 9]);
    expect(computed).toBe(3);
  });
});
