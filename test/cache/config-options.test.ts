import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveCacheOptions } from '../../src/cache/config.js';
import { LevelBackend, LmdbBackend, openCache, RedisBackend, type LevelBackendOptions, type LmdbBackendOptions, type RedisBackendOptions } from '../../src/index.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

// Every option of each backend's one options type, each away from its
// default: `satisfies Required<…>` makes a new option fail to typecheck here
// until this test sends it through a JSON config file.
const levelOptions = { sync: true, compression: false, writeBufferSize: 1 << 20, syncReads: false } satisfies Required<LevelBackendOptions>;
const lmdbOptions = { sync: true } satisfies Required<LmdbBackendOptions>;
/** All but `tls`, which needs a TLS server: test/backends/redis-tls.test.ts opens one from a JSON config file. */
const redisOptions = {
  username: 'default',
  password: 'any', // the default user has `nopass` on the test server: any password logs in
  connectTimeoutMs: 4321,
  commandTimeoutMs: 8765,
  closeTimeoutMs: 1234,
  reconnectForMs: 2345,
  pageSize: 77,
  chunkOperations: 55,
  chunkBytes: 65_536,
  maxValueBytes: 1_000_000,
  maxBatchBytes: 2_000_000,
  blobDir: '/tmp/memostrata-config-options-blobs', // absolute: a relative one resolves against the file
} satisfies Required<Omit<RedisBackendOptions, 'url' | 'prefix' | 'tls'>>;

function configFile(config: object): string {
  const file = join(tempDir('memostrata-config-options-'), 'memostrata.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const configError = (message: string | RegExp) =>
  expect.objectContaining({ name: 'MemostrataError', code: 'CONFIG', message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message) });

afterAll(removeTempDirs);
afterEach(() => {
  vi.restoreAllMocks();
});

describe('every LevelDB and LMDB option from a JSON config file', () => {
  it('opens the LevelDB backend with each LevelDB option of the file', async () => {
    const open = vi.spyOn(LevelBackend, 'open');
    const file = configFile({ backend: { type: 'level', path: 'store', ...levelOptions } });
    const cache = await openCache({ configFile: file, handleExit: false });
    await cache.close();
    expect(open).toHaveBeenCalledTimes(1);
    expect(open.mock.calls[0]![0]).toBe(join(file, '..', 'store'));
    expect(open.mock.calls[0]![1]).toEqual(levelOptions);
  });

  it('opens the LMDB backend with each LMDB option of the file', async () => {
    const open = vi.spyOn(LmdbBackend, 'open');
    const file = configFile({ backend: { type: 'lmdb', path: 'store', ...lmdbOptions } });
    const cache = await openCache({ configFile: file, handleExit: false });
    await cache.close();
    expect(open).toHaveBeenCalledTimes(1);
    expect(open.mock.calls[0]![1]).toEqual(lmdbOptions);
  });

  it('names a LevelDB or LMDB option of the wrong type, in the file', () => {
    const wrong: [object, string][] = [
      [{ type: 'level', compression: 'yes' }, 'backend.compression must be true or false'],
      [{ type: 'level', syncReads: 1 }, 'backend.syncReads must be true or false'],
      [{ type: 'level', writeBufferSize: 0 }, 'backend.writeBufferSize must be a positive integer'],
      [{ type: 'level', writeBufferSize: 1.5 }, 'backend.writeBufferSize must be a positive integer'],
      [{ type: 'lmdb', path: 'x', sync: 'no' }, 'backend.sync must be true or false'],
    ];
    for (const [backend, message] of wrong) {
      const file = configFile({ backend });
      expect(() => resolveCacheOptions({ configFile: file }, {}), JSON.stringify(backend)).toThrow(configError(`${file}: ${message}`));
    }
  });

  it('suggests the closest option name for a mistyped one', () => {
    const typos: [object, string][] = [
      [{ type: 'level', compresion: false }, "unknown option 'backend.compresion' (did you mean 'backend.compression'?)"],
      [{ type: 'level', syncRead: false }, "unknown option 'backend.syncRead' (did you mean 'backend.syncReads'?)"],
      [{ type: 'lmdb', path: 'x', synk: true }, "unknown option 'backend.synk' (did you mean 'backend.sync'?)"],
      [{ type: 'redis', pagesize: 10 }, "unknown option 'backend.pagesize' (did you mean 'backend.pageSize'?)"],
      [{ type: 'redis', commandTimeout: 10 }, "unknown option 'backend.commandTimeout' (did you mean 'backend.commandTimeoutMs'?)"],
      [{ type: 'redis', url: 'rediss://h', tls: { cafile: 'ca.crt' } }, "unknown option 'backend.tls.cafile' (did you mean 'backend.tls.caFile'?)"],
      [{ type: 'redis', url: 'rediss://h', tls: { serverName: 'h' } }, "unknown option 'backend.tls.serverName' (did you mean 'backend.tls.servername'?)"],
    ];
    for (const [backend, message] of typos) {
      const file = configFile({ backend });
      expect(() => resolveCacheOptions({ configFile: file }, {}), JSON.stringify(backend)).toThrow(configError(`${file}: ${message}`));
    }
  });

  it('names a Redis option of the wrong type, in the file', () => {
    const wrong: [object, string][] = [
      [{ type: 'redis', connectTimeoutMs: 0 }, 'backend.connectTimeoutMs must be a number of milliseconds'],
      [{ type: 'redis', commandTimeoutMs: '10s' }, 'backend.commandTimeoutMs must be a number of milliseconds'],
      [{ type: 'redis', closeTimeoutMs: -1 }, 'backend.closeTimeoutMs must be a number of milliseconds'],
      [{ type: 'redis', reconnectForMs: null }, 'backend.reconnectForMs must be a number of milliseconds'],
      [{ type: 'redis', pageSize: 0 }, 'backend.pageSize must be a positive integer'],
      [{ type: 'redis', chunkOperations: 2.5 }, 'backend.chunkOperations must be a positive integer'],
      [{ type: 'redis', chunkBytes: '1MB' }, 'backend.chunkBytes must be a positive integer'],
      [{ type: 'redis', maxValueBytes: -1 }, 'backend.maxValueBytes must be a positive integer'],
      [{ type: 'redis', maxBatchBytes: 0 }, 'backend.maxBatchBytes must be a positive integer'],
      [{ type: 'redis', blobDir: '' }, 'backend.blobDir must be the path of a directory'],
      [{ type: 'redis', username: 7 }, 'backend.username must be a non-empty string'],
      [{ type: 'redis', password: '' }, 'backend.password must be a non-empty string'],
      [{ type: 'redis', url: 'rediss://h', tls: 'on' }, 'backend.tls must be an object'],
      [{ type: 'redis', url: 'rediss://h', tls: { caFile: 3 } }, 'backend.tls.caFile must be the path of a PEM file'],
      [{ type: 'redis', tls: {} }, 'backend.tls is set, but the url is not a TLS URL'],
    ];
    for (const [backend, message] of wrong) {
      const file = configFile({ backend });
      expect(() => resolveCacheOptions({ configFile: file }, {}), JSON.stringify(backend)).toThrow(configError(`${file}: ${message}`));
    }
  });
});

describeWithRedis('every Redis option from a JSON config file', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('opens the Redis backend with each Redis option of the file', async () => {
    const open = vi.spyOn(RedisBackend, 'open');
    const file = configFile({ backend: { type: 'redis', url: server.url, prefix: 'config-options:', ...redisOptions } });
    const cache = await openCache({ configFile: file, handleExit: false });
    try {
      expect(open).toHaveBeenCalledTimes(1);
      expect(open.mock.calls[0]![0]).toEqual({ type: 'redis', url: server.url, prefix: 'config-options:', ...redisOptions });
      const backend = (await open.mock.results[0]!.value) as RedisBackend;
      expect(backend.prefix).toBe('config-options:');
      expect(backend.chunkLimits).toEqual({ operations: redisOptions.chunkOperations, bytes: redisOptions.chunkBytes });
      expect(backend.limits).toEqual({ maxValueBytes: redisOptions.maxValueBytes, maxBatchBytes: redisOptions.maxBatchBytes });
      expect(backend.blobs?.location).toBe(redisOptions.blobDir);
    } finally {
      await cache.close();
    }
  });
});
