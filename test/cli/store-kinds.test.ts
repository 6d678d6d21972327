import { FORMAT_VERSION } from '../../src/layers/keys.js';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BackendConfig } from '../../src/cache/config.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { fixtureCache, makeStore, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';
import { damageAValue, fillShard } from './store-fixtures.js';

/*
 * The commands on the store kinds besides LevelDB: an LMDB directory given by
 * --store (its kind read from the directory), and a Redis store named by
 * --config. A lean matrix: each command once on each kind, not every flag.
 */

afterEach(removeScratch);

/** An LMDB store with 5 calls of `square` (x = 0 hit twice) and 1 of `label`. */
async function lmdbStore(): Promise<string> {
  const path = join(scratchDir(), 'lmdb-store');
  await fillShard({ type: 'lmdb', path }, [0, 1, 2, 3, 4], { 0: 2 });
  return path;
}

describe('an LMDB store given by --store', () => {
  it('is read as LMDB by info, ls, show and stats', async () => {
    const store = await lmdbStore();
    const info = await runJson(['info', store]);
    expect(info.code).toBe(0);
    expect(info.json).toMatchObject({ store, backend: 'lmdb', formatVersion: FORMAT_VERSION, records: 6 });
    expect((await runCli(['info', '--store', store])).stdout).toMatch(/^backend {3}LMDB/m);
    const ls = await runJson(['ls', 'square', '--store', store, '--sort', 'hits']);
    expect(ls.json.total).toBe(5);
    expect(ls.json.entries[0].hits).toBe(2);
    const show = await runJson(['show', 'square', ls.json.entries[0].call.slice(0, 8), '--store', store]);
    expect(show.json.result).toEqual({ x: 0, square: 0 });
    const stats = await runJson(['stats', '--store', store]);
    expect(stats.json.total).toMatchObject({ hits: 2, misses: 6 });
  });

  it('is verified, and verify --fix removes what is damaged', async () => {
    const store = await lmdbStore();
    expect((await runCli(['verify', '--store', store])).code).toBe(0);
    const damaged = await damageAValue({ type: 'lmdb', path: store });
    const found = await runJson(['verify', '--store', store]);
    expect(found.code).toBe(1);
    expect(found.json.problems).toContainEqual(expect.objectContaining({ key: damaged, kind: 'digest-mismatch' }));
    const fixed = await runJson(['verify', '--fix', '--store', store]);
    expect(fixed.json.removed).toContain(damaged);
    expect((await runCli(['verify', '--store', store])).code).toBe(0);
  });

  it('loses calls to rm and prune', async () => {
    const store = await lmdbStore();
    const rm = await runJson(['rm', 'label', '--yes', '--store', store]);
    expect(rm.json).toMatchObject({ cancelled: false, records: 1 });
    const prune = await runJson(['prune', '--max-size', '0', '--store', store]);
    expect(prune.json.records).toBe(5);
    expect((await runJson(['ls', '--store', store])).json.total).toBe(0);
  });

  it('is backed up as an LMDB copy that restore puts back and diff finds the same', async () => {
    const store = await lmdbStore();
    const copy = join(scratchDir(), 'backup');
    expect((await runCli(['backup', copy, '--store', store])).code).toBe(0);
    expect(readdirSync(copy)).toContain('data.mdb');
    expect((await runCli(['diff', store, copy])).code).toBe(0);
    const restored = join(scratchDir(), 'restored');
    expect((await runCli(['restore', copy, restored])).code).toBe(0);
    expect(readdirSync(restored)).toContain('data.mdb');
    const diff = await runJson(['diff', store, restored]);
    expect(diff.json).toMatchObject({ identical: true, records: { same: 6 } });
  });

  it('is exported, and imported into a new LMDB store with --type lmdb', async () => {
    const store = await lmdbStore();
    const file = join(scratchDir(), 'out.cbor');
    expect((await runCli(['export', file, '--store', store])).code).toBe(0);
    const target = join(scratchDir(), 'imported');
    const imported = await runJson(['import', file, '--type', 'lmdb', '--store', target]);
    expect(imported.json.records).toEqual({ added: 6, skipped: 0 });
    expect((await runJson(['info', target])).json.backend).toBe('lmdb');
    expect((await runCli(['diff', store, target])).code).toBe(0);
  });

  it('has nothing to migrate when it has the current format', async () => {
    const store = await lmdbStore();
    const migrate = await runJson(['migrate', store]);
    expect(migrate.json).toMatchObject({ upToDate: true, to: FORMAT_VERSION });
  });

  it('is opened by a config file naming it too', async () => {
    const store = await lmdbStore();
    const config = join(scratchDir(), 'lmdb.json');
    writeFileSync(config, JSON.stringify({ backend: { type: 'lmdb', path: store } }));
    expect((await runJson(['info', '--config', config])).json).toMatchObject({ store, backend: 'lmdb' });
  });
});

describe('paths that hold no LMDB or LevelDB store', () => {
  it('refuses a directory of other files with NOT_A_STORE and leaves it as it was', async () => {
    const dir = join(scratchDir(), 'not-a-store');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const run = await runJson(['ls', '--store', dir]);
    expect(run.code).toBe(2);
    expect(run.json.error).toMatchObject({ code: 'NOT_A_STORE', message: expect.stringContaining(dir) });
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('says, when a LevelDB store is LOCKED, that an LMDB store lets many processes share it', async () => {
    const store = join(scratchDir(), 'store');
    await makeStore(store);
    const holder = await fixtureCache(store);
    try {
      const run = await runJson(['info', store]);
      expect(run.json.error).toMatchObject({ code: 'LOCKED', message: expect.stringMatching(/LMDB store lets many processes .*memostrata merge .* --into-type lmdb/) });
    } finally {
      await holder.close();
    }
  });
});

describeWithRedis('a Redis store named by --config', () => {
  let server: RedisServer;
  let client: Redis;
  let prefixes = 0;

  beforeAll(async () => {
    server = await startRedisServer();
    client = new Redis(server.url, { lazyConnect: true });
    await client.connect();
  });

  afterAll(async () => {
    client.disconnect();
    await server?.stop();
  });

  /** A config file naming a Redis store under a prefix of its own; filled unless `empty`. */
  async function redisConfig(empty = false): Promise<{ file: string; backend: BackendConfig; prefix: string }> {
    prefixes += 1;
    const prefix = `cli${prefixes}:`;
    const backend: BackendConfig = { type: 'redis', url: server.url, prefix };
    if (!empty) await fillShard(backend, [0, 1, 2, 3, 4], { 0: 2 });
    const file = join(scratchDir(), 'redis.json');
    writeFileSync(file, JSON.stringify({ backend }));
    return { file, backend, prefix };
  }

  it('is read by info, ls, show, stats and verify', async () => {
    const { file, prefix } = await redisConfig();
    const info = await runJson(['info', '--config', file]);
    expect(info.json).toMatchObject({ backend: 'redis', store: expect.stringContaining(prefix), records: 6 });
    const ls = await runJson(['ls', 'square', '--config', file, '--sort', 'hits']);
    expect(ls.json.total).toBe(5);
    expect(ls.json.entries[0].hits).toBe(2);
    const show = await runJson(['show', 'square', ls.json.entries[0].call.slice(0, 8), '--config', file]);
    expect(show.json.result).toEqual({ x: 0, square: 0 });
    expect((await runJson(['stats', '--config', file])).json.total).toMatchObject({ hits: 2, misses: 6 });
    expect((await runJson(['verify', '--config', file])).json).toMatchObject({ ok: true, problems: [] });
  });

  it('is "no store at" when nothing is under its prefix, and stays empty', async () => {
    const { file, prefix } = await redisConfig(true);
    const run = await runCli(['ls', '--config', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^memostrata: no store at .*${prefix}`));
    expect(await client.keys(`${prefix}*`)).toEqual([]);
  });

  it('loses calls to rm and prune', async () => {
    const { file } = await redisConfig();
    expect((await runJson(['rm', 'label', '--yes', '--config', file])).json).toMatchObject({ records: 1 });
    expect((await runJson(['prune', '--max-size', '0', '--config', file])).json.records).toBe(5);
    expect((await runJson(['ls', '--config', file])).json.total).toBe(0);
  });

  it('is backed up into a LevelDB directory; restore onto it is refused, naming merge, which copies the backup back', async () => {
    const { file } = await redisConfig();
    const copy = join(scratchDir(), 'backup');
    expect((await runCli(['backup', copy, '--config', file])).code).toBe(0);
    expect(readdirSync(copy)).toContain('CURRENT');
    expect((await runCli(['diff', copy, '--config', file])).code).toBe(0);

    const empty = await redisConfig(true);
    const restore = await runJson(['restore', copy, '--config', empty.file]);
    expect(restore.code).toBe(2);
    expect(restore.json.error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining(`memostrata merge ${copy} --into-config`) });
    expect(await client.keys(`${empty.prefix}*`)).toEqual([]);
    const merged = await runJson(['merge', copy, '--into-config', empty.file]);
    expect(merged.json.records).toEqual({ added: 6, skipped: 0 });
    expect((await runCli(['diff', copy, '--config', empty.file])).code).toBe(0);
  });

  it('is exported and imported', async () => {
    const { file } = await redisConfig();
    const exported = join(scratchDir(), 'out.cbor');
    expect((await runCli(['export', exported, '--config', file])).code).toBe(0);
    const other = await redisConfig(true);
    const imported = await runJson(['import', exported, '--config', other.file]);
    expect(imported.json.records).toEqual({ added: 6, skipped: 0 });
    expect((await runJson(['info', '--config', other.file])).json.records).toBe(6);
  });

  it('has nothing to migrate when it has the current format', async () => {
    const { file } = await redisConfig();
    expect((await runJson(['migrate', '--config', file])).json).toMatchObject({ upToDate: true });
  });

  it('is left without a key by a refused import into an empty prefix', async () => {
    const { file, prefix } = await redisConfig(true);
    const bogus = join(scratchDir(), 'bogus.cbor');
    writeFileSync(bogus, 'not an export');
    const run = await runJson(['import', bogus, '--config', file]);
    expect(run.json.error.code).toBe('CORRUPT');
    expect(await client.keys(`${prefix}*`)).toEqual([]);
  });
});
