import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../src/backends/redis-backend.js';
import { redisCliInstalled } from '../helpers/redis-cluster.js';
import { describeWithRedis } from '../helpers/redis-server.js';
import { startRedisTlsCluster, TLS_USER, type RedisTlsCluster } from '../helpers/redis-tls.js';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

describeWithRedis('RedisBackend on a TLS-only Redis Cluster (rediss+cluster://), as an ACL user', () => {
  let cluster: RedisTlsCluster;

  beforeAll(async () => {
    if (!redisCliInstalled) throw new Error('redis-cli (which joins the cluster) is not installed: apt-get install -y redis-tools');
    cluster = await startRedisTlsCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const options = (more: RedisBackendOptions = {}): RedisBackendOptions => ({
    url: cluster.url,
    ...TLS_USER,
    tls: { caFile: cluster.certificates.caFile },
    connectTimeoutMs: 3000,
    ...more,
  });

  it('writes and reads keys on every node over TLS', async () => {
    const db = await RedisBackend.open(options({ prefix: 'tls-cluster:' }));
    try {
      expect(db.cluster).toBe(true);
      // Enough keys that every node holds some: each key hashes to its own slot.
      const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
      await db.batch(keys.map((key) => ({ type: 'put', key: text(key), value: text(`value of ${key}`) })));
      const values = await db.getMany(keys.map(text));
      expect(values.map((value) => new TextDecoder().decode(value))).toEqual(keys.map((key) => `value of ${key}`));
    } finally {
      await db.close();
    }
  });

  it("names tls.caFile when the nodes' certificate is not from the CA given", async () => {
    const error = await RedisBackend.open(options({ tls: { caFile: cluster.certificates.otherCaFile } })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining('backend.tls.caFile') });
  });

  it('names the credentials when the password is wrong', async () => {
    const error = await RedisBackend.open(options({ password: 'wrong' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining('refused the credentials') });
  });
});
