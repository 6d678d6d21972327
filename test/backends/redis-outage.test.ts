import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBackendLimit, isBackendUnreachable } from '../../src/backends/backend-errors.js';
import { RedisBackend } from '../../src/backends/redis-backend.js';
import { describeWithRedis, freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const indexUrl = new URL('../../src/index.ts', import.meta.url).href;
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const backendError = { name: 'MemostrataError', code: 'BACKEND' };

/** Settles with `promise`, or fails when it is still pending after `ms`: "nothing hangs", with a bound far above the timeouts under test. */
async function settlesWithin<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** A TCP server that accepts connections and never answers: a frozen or misconfigured "Redis". */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('Redis URLs', () => {
  it('refuses a malformed URL with CONFIG saying what is wrong, before connecting', async () => {
    const port = await freePort();
    const wrong: [string, RegExp][] = [
      [`redis://127.0.0.1:${port}/abc`, /database \(abc\) must be a non-negative integer/],
      [`redis://127.0.0.1:${port}/-1`, /non-negative integer/],
      [`redis://127.0.0.1:${port}/1.5`, /non-negative integer/],
      [`redis://127.0.0.1:${port}/0/x`, /non-negative integer/],
      ['redis://127.0.0.1:0', /port must be from 1 to 65535/],
      ['redis://127.0.0.1:99999', /not a URL/],
      [`http://127.0.0.1:${port}`, /scheme must be redis: or rediss:/],
      [`redis://127.0.0.1:${port}/1?db=2`, /query parameters/],
      ['redis://', /no host|not a URL/],
    ];
    for (const [url, reason] of wrong) {
      await expect(RedisBackend.open({ url }), url).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(reason) });
    }
  });

  it('never prints the password of a URL it refuses', async () => {
    const error = await RedisBackend.open({ url: 'redis://user:s3cret@127.0.0.1:6379/abc' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFIG' });
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('refuses a bad database in the configuration with CONFIG, and nothing escapes as an unhandled error', async () => {
    const url = `redis://127.0.0.1:${await freePort()}/abc`;
    // A process of its own: an unhandled rejection or uncaught exception would end it, or be counted.
    const code = `
      import { openCache } from ${JSON.stringify(indexUrl)};
      let unhandled = 0;
      process.on('unhandledRejection', () => { unhandled += 1; });
      process.on('uncaughtException', () => { unhandled += 1; });
      const error = await openCache({ backend: { type: 'redis', url: ${JSON.stringify(url)} }, handleExit: false }).catch((e) => e);
      await new Promise((resolve) => setTimeout(resolve, 300));
      console.log(JSON.stringify({ code: error.code, message: error.message, unhandled }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repositoryRoot, timeout: 30_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { code: string; message: string; unhandled: number };
    expect(result).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('backend.url'), unhandled: 0 });
  });
});

describe('a Redis server that accepts connections but never answers', () => {
  it('fails the open with BACKEND at connectTimeoutMs, not seconds later', async () => {
    const silent = await silentServer();
    try {
      // Bounded by four times the timeout: the open used to take two seconds more than it.
      const error = await settlesWithin(
        2000,
        RedisBackend.open({ url: silent.url, connectTimeoutMs: 500, commandTimeoutMs: 60_000 }).catch((e: unknown) => e),
      );
      expect(error).toMatchObject({ ...backendError, message: expect.stringContaining('not answering') });
    } finally {
      await silent.close();
    }
  });
});

describeWithRedis('RedisBackend through an outage', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('leaks no listeners while many operations fail during an outage', async () => {
    if (!server.isRunning()) await server.restart();
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(`${warning.name}: ${warning.message}`);
    };
    process.on('warning', onWarning);
    try {
      const db = await RedisBackend.open({ url: server.url, prefix: 'leak:' });
      await db.put(bytes(1), bytes(1));
      await server.kill();
      for (let round = 0; round < 100; round += 1) {
        await Promise.all(Array.from({ length: 20 }, () => db.get(bytes(1)).catch(() => undefined)));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await server.restart();
      await db.close();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('tells an unreachable server from other failures by the cause of its BACKEND error', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'causes:' });
    const admin = new Redis(server.url);
    try {
      // A failure of the server's data, not of the connection: not "unreachable".
      await db.put(bytes(1), bytes(1));
      const [index] = await admin.keys('causes:index{*');
      await admin.del(index!);
      await admin.set(index!, 'not a sorted set');
      const wrongType = await db.put(bytes(1), bytes(1)).catch((e: unknown) => e);
      expect(wrongType).toMatchObject(backendError);
      expect(isBackendUnreachable(wrongType)).toBe(false);
      expect(isBackendLimit(wrongType)).toBe(false);
      await admin.del(index!);
    } finally {
      admin.disconnect();
    }
    await server.kill();
    const down = await db.get(bytes(1)).catch((e: unknown) => e);
    expect(down).toMatchObject({ ...backendError, message: expect.stringContaining('unreachable') });
    expect(isBackendUnreachable(down)).toBe(true);
    await server.restart();
    await db.close();
  });

  it('fails fast while the server is down and works again, as the same object, once it is back', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'blip:' });
    await db.put(bytes(1), bytes(1));
    await server.kill();
    for (const operation of [() => db.get(bytes(1)), () => db.put(bytes(2), bytes(2)), () => db.keys().next()]) {
      const error = await settlesWithin(3000, operation().catch((e: unknown) => e));
      expect(isBackendUnreachable(error)).toBe(true);
    }
    await server.restart();
    let written: unknown = new Error('never reconnected');
    for (let attempt = 0; attempt < 100 && written instanceof Error; attempt += 1) {
      written = await db.put(bytes(3), bytes(3)).then(() => 'written', (error: unknown) => error);
      if (written instanceof Error) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(written).toBe('written');
    // The server came back empty: what was written before the outage is gone, what was written after is there.
    expect((await db.getMany([bytes(1), bytes(3)])).map((value) => value && Buffer.from(value).toString('hex'))).toEqual([undefined, '03']);
    await db.close();
  });

  it('closes within closeTimeoutMs when the server stopped answering, however long commands may wait', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'stuck:', commandTimeoutMs: 60_000, closeTimeoutMs: 300 });
    await server.pause();
    try {
      await settlesWithin(5000, db.close());
    } finally {
      await server.resume();
    }
  });
});
