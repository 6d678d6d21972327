import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend, type RedisBackendOptions } from '../../src/backends/redis-backend.js';
import { runDatabaseContract, type ContractDatabase } from '../contract/database-contract.js';
import { freePort, startRedisServer, describeWithRedis, type RedisServer } from '../helpers/redis-server.js';
import { perModuleFixture, stackOn } from '../layers/stack.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const hex = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString('hex'));
const backendError = { name: 'MemostrataError', code: 'BACKEND' };

/** Runs `promise` and fails if it takes longer than `ms`: "nothing hangs". */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('RedisBackend without a server', () => {
  it('fails to open with BACKEND naming the URL, quickly, when nothing listens', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await within(5000, RedisBackend.open({ url }).then(() => undefined, (e: unknown) => e));
    expect(error).toMatchObject(backendError);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toMatch(/unreachable/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('never prints the password of the URL', async () => {
    const error = await RedisBackend.open({ url: `redis://user:s3cret@127.0.0.1:${await freePort()}` }).catch((e: unknown) => e);
    expect(error).toMatchObject(backendError);
    expect((error as Error).message).not.toContain('s3cret');
    expect((error as Error).message).toContain('***');
  });

  it('rejects a URL that is not a Redis URL with CONFIG', async () => {
    await expect(RedisBackend.open({ url: 'http://127.0.0.1:6379' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('scheme') });
    await expect(RedisBackend.open({ url: 'not a url' })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});

describeWithRedis('RedisBackend', () => {
  let server: RedisServer;
  let admin: Redis;
  let prefixes = 0;
  const opened: RedisBackend[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url, { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  /** A backend on its own fresh prefix, so that every test starts empty. */
  const open = async (options: RedisBackendOptions = {}): Promise<RedisBackend> => {
    prefixes += 1;
    const db = await RedisBackend.open({ url: server.url, prefix: `test${prefixes}:`, ...options });
    opened.push(db);
    return db;
  };

  runDatabaseContract('RedisBackend', { open: () => open() });
  // Two-entry pages: every range test crosses page boundaries, forward and reverse.
  runDatabaseContract('RedisBackend with two-entry pages', { open: () => open({ pageSize: 2 }) });

  for (const layer of ['UUIDDatabase', 'ProxyObjectDatabase'] as const) {
    runDatabaseContract(`${layer} over RedisBackend`, {
      open: async (): Promise<ContractDatabase> => {
        const stack = await stackOn(await open());
        return layer === 'UUIDDatabase' ? stack.values : stack.proxy;
      },
    });
  }
  runDatabaseContract('PerModuleObjectDatabase over RedisBackend', perModuleFixture(open));

  it('keeps each entry in a Redis key of its own, listed by an index in unsigned byte order', async () => {
    const db = await open({ prefix: 'layout:' });
    await db.put(bytes(0xff), bytes(1));
    await db.put(bytes(0x00), bytes(2));
    await db.put(bytes(0x7f, 0x00), bytes(3));
    const names = await admin.keysBuffer('layout:*');
    const entries = names.filter((name) => !name.toString('latin1').startsWith('layout:index{'));
    expect(entries.map((name) => name.toString('latin1').replace(/^layout:\{[0-9a-f]{8}\}/, '')).sort()).toEqual(['\u0000', '\u007f\u0000', '\u00ff']);
    const index = names.find((name) => name.toString('latin1').startsWith('layout:index{'))!;
    const members = await admin.zrangebylexBuffer(index, '-', '+');
    expect(members.map((member) => member.toString('hex'))).toEqual(['00', '7f00', 'ff']);
    const stored = entries.find((name) => name.subarray(-2).equals(Buffer.from([0x7f, 0x00])))!;
    expect((await admin.getBuffer(stored))?.toString('hex')).toBe('03');
  });

  it("gives a call's record, saved state, counters and lease one hash tag, whatever braces its module name holds", async () => {
    const db = await open({ prefix: 'tags:' });
    const text = new TextEncoder();
    const call = ['m!{a}b}!c0ffee', 's!{a}b}!c0ffee', 'c!{a}b}!c0ffee!writer1', 'l!{a}b}!c0ffee'];
    const other = ['m!{a}b}!beef', 'v!0f7c1a3e-1111-5111-8111-111111111111'];
    for (const key of [...call, ...other]) await db.put(text.encode(key), bytes(1));
    const tagOf = async (key: string): Promise<string> => {
      const names = (await admin.keysBuffer('tags:{*')).map((name) => name.toString('latin1'));
      const name = names.find((candidate) => candidate.endsWith(`}${key}`))!;
      return /^tags:\{([0-9a-f]{8})\}/.exec(name)![1]!;
    };
    const callTags = await Promise.all(call.map(tagOf));
    expect(new Set(callTags).size).toBe(1);
    for (const key of other) expect(await tagOf(key)).not.toBe(callTags[0]);
  });

  it('keeps stores with different prefixes apart on one server', async () => {
    const a = await open();
    const b = await open();
    await a.put(bytes(1), bytes(0xa));
    expect(await b.get(bytes(1))).toBeUndefined();
    expect(await b.getMany([bytes(1)])).toEqual([undefined]);
    const keys: Uint8Array[] = [];
    for await (const key of b.keys()) keys.push(key);
    expect(keys).toEqual([]);
  });

  it('shares one store between two connections with the same prefix', async () => {
    const writer = await open({ prefix: 'shared:' });
    const reader = await open({ prefix: 'shared:' });
    await writer.batch([{ type: 'put', key: bytes(1), value: bytes(1) }, { type: 'put', key: bytes(2), value: bytes(2) }]);
    expect((await reader.getMany([bytes(1), bytes(2)])).map(hex)).toEqual(['01', '02']);
  });

  it('never lets a reader see half a batch', async () => {
    const writer = await open({ prefix: 'atomic:' });
    const reader = await open({ prefix: 'atomic:' });
    const keys = Array.from({ length: 50 }, (_, i) => bytes(i));
    let writing = true;
    const writes = (async () => {
      for (let round = 0; round < 200; round += 1) {
        await writer.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes(round % 256) })));
      }
      writing = false;
    })();
    let reads = 0;
    while (writing && reads < 10_000) {
      const values = await reader.getMany(keys);
      const seen = new Set(values.map(hex));
      expect(seen.size, `read ${reads} saw values ${[...seen].join(', ')}`).toBe(1);
      reads += 1;
    }
    await writes;
    expect(reads).toBeGreaterThan(0);
  });

  it('writes nothing from a batch when the index key holds foreign data', async () => {
    const db = await open({ prefix: 'foreign:' });
    await db.put(bytes(1), bytes(1));
    // Someone replaces the index with a string: every write must now fail before writing.
    const [index] = await admin.keys('foreign:index{*');
    await admin.del(index!);
    await admin.set(index!, 'not a sorted set');
    await expect(db.batch([{ type: 'put', key: bytes(2), value: bytes(2) }, { type: 'del', key: bytes(1) }])).rejects.toMatchObject(backendError);
    expect(hex(await db.get(bytes(1)))).toBe('01');
    expect(await db.get(bytes(2))).toBeUndefined();
  });

  it('refuses a store in the older two-key layout with FORMAT_VERSION, saying how to convert it', async () => {
    await admin.hset('legacy:values', 'meta!format', 'x');
    await admin.zadd('legacy:keys', 0, 'meta!format');
    const error = await RedisBackend.open({ url: server.url, prefix: 'legacy:' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'FORMAT_VERSION', message: expect.stringMatching(/two-key layout.*memostrata export.*memostrata import/) });
  });

  it('refuses a prefix with braces, which would move the hash tag, with CONFIG', async () => {
    await expect(RedisBackend.open({ url: server.url, prefix: 'a{b}:' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('prefix') });
  });

  it('applies a batch larger than a chunk in order, across chunks', async () => {
    const db = await open({ chunkOperations: 2 });
    await db.batch([
      { type: 'put', key: bytes(1), value: bytes(1) },
      { type: 'put', key: bytes(2), value: bytes(2) },
      { type: 'del', key: bytes(1) },
      { type: 'put', key: bytes(2), value: bytes(0x22) },
      { type: 'put', key: bytes(1), value: bytes(0x11) },
    ]);
    expect((await db.getMany([bytes(1), bytes(2)])).map(hex)).toEqual(['11', '22']);
  });

  it("wakes a waiter in changed() when another connection's batchIf changes the key, well before its timeout", async () => {
    const waiter = await open({ prefix: 'changed:' });
    const writer = await open({ prefix: 'changed:' });
    // The first wait resolves once the subscription is live: a change before that could have been missed.
    await waiter.changed(bytes(5), 30_000);
    const woken = waiter.changed(bytes(5), 60_000).then(() => 'woken');
    expect(await writer.batchIf({ key: bytes(5), value: undefined }, [{ type: 'put', key: bytes(5), value: bytes(1) }])).toBe(true);
    const timedOut = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref());
    expect(await Promise.race([woken, timedOut])).toBe('woken');
  });

  it('refuses to open a prefix whose keys hold other data', async () => {
    await admin.set('taken:values', 'someone else');
    await expect(RedisBackend.open({ url: server.url, prefix: 'taken:' })).rejects.toMatchObject({ code: 'NOT_A_STORE', message: expect.stringContaining('taken:') });
  });

  it('returns every key present throughout a multi-page iteration exactly once, in order', async () => {
    const db = await open({ pageSize: 3 });
    const stable = Array.from({ length: 30 }, (_, i) => bytes(2 * i));
    for (const key of stable) await db.put(key, key);
    const seen: string[] = [];
    let step = 0;
    for await (const [key] of db.entries()) {
      seen.push(hex(key)!);
      // Writes between pages: new odd keys behind and ahead, and a deleted odd key.
      step += 1;
      await db.put(bytes(2 * step + 1), bytes(1));
      if (step > 2) await db.delete(bytes(2 * step - 3));
      expect(step).toBeLessThan(200);
    }
    const stableSeen = seen.filter((key) => Number.parseInt(key, 16) % 2 === 0);
    expect(stableSeen).toEqual(stable.map((key) => hex(key)));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
  });

  it('says in its manifest that it persists, but has no snapshots and sends batches in chunks', async () => {
    const db = await open();
    expect(db.manifest).toMatchObject({ persistent: true, snapshots: false, atomicBatches: false });
  });

  it('closes its connection on close()', async () => {
    const countClients = async (): Promise<number> => String(await admin.call('CLIENT', 'LIST')).trim().split('\n').length;
    const before = await countClients();
    const db = await RedisBackend.open({ url: server.url, prefix: 'quit:' });
    expect(await countClients()).toBe(before + 1);
    await db.close();
    // QUIT is answered before the server drops the connection: allow it a moment.
    for (let i = 0; i < 50 && (await countClients()) > before; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await countClients()).toBe(before);
  });
});

describeWithRedis('RedisBackend when the server goes away', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rejects every operation with BACKEND once the server is killed, and closes without hanging', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'killed:' });
    await db.put(bytes(1), bytes(1));
    await server.kill();
    const unreachable = { ...backendError, message: expect.stringContaining(server.url) };
    await within(3000, expect(db.get(bytes(1))).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.getMany([bytes(1)])).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.has(bytes(1))).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.put(bytes(2), bytes(2))).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.batch([{ type: 'del', key: bytes(1) }])).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.entries().next()).rejects.toMatchObject(unreachable));
    await within(3000, expect(db.keys().next()).rejects.toMatchObject(unreachable));
    await expect(db.get(bytes(1))).rejects.toThrow(/unreachable/);
    await within(3000, db.close());
  });

  it('rejects a command the server does not answer with BACKEND after the command timeout', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'paused:', commandTimeoutMs: 300 });
    await server.pause();
    try {
      await within(3000, expect(db.get(bytes(1))).rejects.toMatchObject(backendError));
    } finally {
      await server.resume();
    }
    await within(3000, db.close());
  });

  it('fails to open within connectTimeoutMs when the server accepts but does not answer', async () => {
    if (!server.isRunning()) await server.restart();
    await server.pause();
    try {
      const error = await within(5000, RedisBackend.open({ url: server.url, prefix: 'frozen:', connectTimeoutMs: 500 }).catch((e: unknown) => e));
      expect(error).toMatchObject({ ...backendError, message: expect.stringContaining('not answering') });
    } finally {
      await server.resume();
    }
  });

  it('refuses a database number the server does not have, with CONFIG', async () => {
    if (!server.isRunning()) await server.restart();
    await expect(RedisBackend.open({ url: `${server.url}/99`, prefix: 'db99:' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('no such database') });
    const admin = new Redis(server.url);
    try {
      // Nothing went to database 0 instead.
      expect(await admin.keys('db99:*')).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  it('says that the credentials were refused, with CONFIG', async () => {
    if (!server.isRunning()) await server.restart();
    const admin = new Redis(server.url);
    await admin.call('CONFIG', 'SET', 'requirepass', 'right');
    try {
      const wrong = new URL(server.url);
      wrong.password = 'wrong';
      await expect(RedisBackend.open({ url: wrong.toString(), prefix: 'auth:' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('refused the credentials') });
    } finally {
      await admin.call('CONFIG', 'SET', 'requirepass', '');
      admin.disconnect();
    }
  });

  it('reconnects when the server is back within reconnectForMs', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'back:', reconnectForMs: 10_000 });
    await server.kill();
    await expect(db.get(bytes(1))).rejects.toMatchObject(backendError);
    await server.restart();
    let value: Uint8Array | undefined | Error = new Error('never reconnected');
    for (let attempt = 0; attempt < 100 && value instanceof Error; attempt += 1) {
      value = await db.put(bytes(1), bytes(7)).then(() => db.get(bytes(1)), (error: Error) => error);
      if (value instanceof Error) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(hex(value as Uint8Array)).toBe('07');
    await db.close();
  });

  it('fails at once after reconnectForMs, then works again once the server is back', async () => {
    if (!server.isRunning()) await server.restart();
    const db = await RedisBackend.open({ url: server.url, prefix: 'gone:', reconnectForMs: 200 });
    await server.kill();
    await expect(db.get(bytes(1))).rejects.toMatchObject(backendError);
    // Background retries end after reconnectForMs: wait until they have.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await within(3000, expect(db.get(bytes(1))).rejects.toMatchObject(backendError));
    await server.restart();
    // Each operation that finds the backend given up starts one new attempt.
    let value: Uint8Array | undefined | Error = new Error('never reconnected');
    for (let attempt = 0; attempt < 100 && value instanceof Error; attempt += 1) {
      value = await db.put(bytes(1), bytes(8)).then(() => db.get(bytes(1)), (error: Error) => error);
      if (value instanceof Error) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(hex(value as Uint8Array)).toBe('08');
    await within(3000, db.close());
  });
});
