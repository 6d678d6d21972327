import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openCache, type BackendConfig } from '../../src/index.js';
import { KeyPrefix, keyText, prefixRange } from '../../src/layers/keys.js';
import { fixturePath, spawnTsChild } from '../helpers/child-process.js';
import { redisCliInstalled, startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);

let prefixes = 0;
const prefix = (): string => `leases${process.pid}-${(prefixes += 1)}:`;

/** The lease scenarios every shared Redis store must pass: the URL comes from the suite's server. */
function sharedStoreScenarios(url: () => string): void {
  it('computes each of 200 calls exactly once when 4 processes call them in shuffled orders', async () => {
    const backend: BackendConfig = { type: 'redis', url: url(), prefix: prefix() };
    const countFile = join(tempDir(), 'computed.txt');
    writeFileSync(countFile, '');
    const workers = [1, 2, 3, 4].map((seed) => spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'calls', String(seed)]));
    const done = await Promise.all(workers.map((worker) => worker.nextLine((line) => line.startsWith('done'))));
    await Promise.all(workers.map((worker) => worker.exited));
    const computed = readFileSync(countFile, 'utf8').trim().split('\n').map(Number);
    expect(computed.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, x) => x));
    expect(done.map((line) => Number(line.split(' ')[2])).reduce((sum, n) => sum + n, 0)).toBe(200);
  }, 120_000);

  it('lets a waiter take over a long call whose owner was SIGKILLed, resuming from its last saved state', async () => {
    const backend: BackendConfig = { type: 'redis', url: url(), prefix: prefix() };
    const countFile = join(tempDir(), 'starts.txt');
    writeFileSync(countFile, '');
    const owner = spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'resumable', '1500']);
    await owner.nextLine((line) => line === 'saved 2');
    const waiter = spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'resumable', '1500']);
    await waiter.nextLine((line) => line === 'calling');
    await sleep(100);
    owner.kill('SIGKILL');
    await owner.exited;
    expect(owner.lines.some((line) => line.startsWith('result'))).toBe(false);
    const lastSaved = Math.max(...owner.lines.filter((line) => line.startsWith('saved ')).map((line) => Number(line.split(' ')[1])));
    expect(await waiter.nextLine((line) => line.startsWith('result '))).toBe(`result ${Array.from({ length: 12 }, (_, i) => i * i).reduce((a, b) => a + b, 0)}`);
    const starts = readFileSync(countFile, 'utf8').trim().split('\n');
    expect(starts).toEqual([`start 0 ${owner.process.pid}`, `start ${lastSaved} ${waiter.process.pid}`]);
    await waiter.exited;
  }, 60_000);
}

describeWithRedis('leases on a single Redis server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  sharedStoreScenarios(() => server.url);

  it('keeps calling while Redis is killed and restarted empty: results are written once it is back, and no lease is left held', async () => {
    const own = await startRedisServer();
    const warnings = captureWarnings();
    try {
      const cache = await openCache({ backend: { type: 'redis', url: own.url, prefix: prefix() }, handleExit: false, flush: 'manual', lease: { ttlMs: 600 }, closeRetryMs: 5000 });
      let computed = 0;
      const f = cache.memoize('outage', async (x: number) => {
        computed += 1;
        await sleep(20);
        return x * x;
      });
      const results: number[] = [];
      for (let x = 0; x < 30; x += 1) {
        if (x === 10) await own.kill();
        if (x === 20) await own.restart();
        results.push(await f(x));
      }
      expect(results).toEqual(Array.from({ length: 30 }, (_, x) => x * x));
      expect(computed).toBe(30);
      await cache.checkpoint();
      // What was computed while the server was away is stored now; what it held before the restart is gone with it.
      const stored: string[] = [];
      const leases: string[] = [];
      for await (const key of cache.store.proxy.keys(prefixRange(KeyPrefix.record))) stored.push(keyText(key));
      for await (const key of cache.store.proxy.keys(prefixRange(KeyPrefix.lease))) leases.push(keyText(key));
      expect(stored).toHaveLength(20);
      expect(leases).toEqual([]);
      await cache.close();
      expect((await warnings.stop()).map((warning) => warning.code)).toContain('MEMOSTRATA_UNREACHABLE');
    } finally {
      await warnings.stop();
      await own.stop();
    }
  }, 60_000);
});

describeWithRedis('leases on a local Redis Cluster', () => {
  let cluster: RedisClusterServer | undefined;
  beforeAll(async () => {
    if (!redisCliInstalled) throw new Error('redis-cli (which joins the cluster) is not installed: apt-get install -y redis-tools');
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  sharedStoreScenarios(() => cluster!.url);
});
