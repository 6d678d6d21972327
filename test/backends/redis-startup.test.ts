import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis-backend.js';
import { openStore, type Store } from '../../src/cache/store.js';
import { FORMAT_VERSION } from '../../src/layers/keys.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
const storeUrl = new URL('../../src/cache/store.ts', import.meta.url).href;
const formatField = 'meta!format';

/**
 * A Node process that opens the store named by each line it reads on stdin
 * (`<url> <prefix>`), closes it, and prints `ok` or the error's code and
 * message: one of several "machines" starting a job at the same moment.
 */
function opener(): { child: ChildProcess; open(url: string, prefix: string): Promise<string>; end(): Promise<void> } {
  const code = `
    import { createInterface } from 'node:readline';
    import { openStore } from ${JSON.stringify(storeUrl)};
    for await (const line of createInterface({ input: process.stdin })) {
      const [url, prefix] = line.split(' ');
      try {
        const store = await openStore({ type: 'redis', url, prefix });
        await store.serialized.close();
        console.log('ok');
      } catch (error) {
        console.log(JSON.stringify(error.code + ': ' + error.message));
      }
    }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repositoryRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) waiting.shift()?.resolve(line);
  });
  // One listener for every open(): one each would pile up past Node's listener limit over many rounds.
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      for (const waiter of waiting.splice(0)) waiter.reject(new Error('the opener process exited'));
      resolve();
    }),
  );
  return {
    child,
    open(url, prefix) {
      return new Promise<string>((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin!.write(`${url} ${prefix}\n`);
      });
    },
    async end() {
      child.stdin!.end();
      await exited;
    },
  };
}

describeWithRedis('a Redis store opened by several processes at once, or emptied by a server restart', () => {
  let server: RedisServer;
  let admin: Redis;
  const stores: Store[] = [];

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
    await Promise.all(stores.splice(0).map((store) => store.serialized.close()));
  });

  const open = async (prefix: string): Promise<Store> => {
    const store = await openStore({ type: 'redis', url: server.url, prefix });
    stores.push(store);
    return store;
  };

  it('lets every one of six processes open a new prefix at the same moment', { timeout: 120_000 }, async () => {
    const openers = Array.from({ length: 6 }, opener);
    try {
      const failures: string[] = [];
      for (let round = 0; round < 60; round += 1) {
        const answers = await Promise.all(openers.map((process) => process.open(server.url, `race${round}:`)));
        failures.push(...answers.filter((answer) => answer !== 'ok').map((answer) => `round ${round}: ${answer}`));
      }
      expect(failures).toEqual([]);
    } finally {
      await Promise.all(openers.map((process) => process.end()));
    }
  });

  it('re-initialises a store that a server restart left empty, on open', async () => {
    const first = await open('emptied:');
    await first.serialized.put(new TextEncoder().encode('m!x!1'), 'a record');
    await first.serialized.close();
    await server.restart();
    const reopened = await open('emptied:');
    expect(await reopened.serialized.get(new TextEncoder().encode(formatField))).toBe(FORMAT_VERSION);
  });

  it('re-marks an emptied store on the first write of a process that was open across the restart', async () => {
    const before = await open('across:');
    await server.restart();
    // The open process keeps working once the server is back: its first write lands in an empty keyspace.
    await eventually(() => before.serialized.put(new TextEncoder().encode('m!x!2'), 'written after the restart'));
    // A process that starts now finds a store, not "data that memostrata did not write".
    const after = await open('across:');
    expect(await after.serialized.get(new TextEncoder().encode('m!x!2'))).toBe('written after the restart');
    expect(await after.serialized.get(new TextEncoder().encode(formatField))).toBe(FORMAT_VERSION);
  });

  it('still refuses a prefix that holds keys but no format version', async () => {
    const backend = await RedisBackend.open({ url: server.url, prefix: 'foreign-data:' });
    await backend.put(new TextEncoder().encode('someone'), new Uint8Array([1]));
    await backend.close();
    await expect(open('foreign-data:')).rejects.toMatchObject({ code: 'NOT_A_STORE' });
    const [index] = await admin.keys('foreign-data:index{*');
    expect(await admin.zrange(index!, '0', '-1')).toEqual(['someone']);
  });
});

/** Retries `write` until the reconnected backend takes it (the server needs a moment to come back). */
async function eventually(write: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
