import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/cache/store.js';
import { Evictor } from '../../src/cache/eviction.js';
import type { BackendConfig, Cache } from '../../src/index.js';
import { modulePinKey, pinKey } from '../../src/layers/keys.js';
import { pin, readPins, unpin } from '../../src/maintenance/pins.js';
import { prune } from '../../src/maintenance/prune.js';
import { removeRecords } from '../../src/maintenance/remove.js';
import { verify } from '../../src/maintenance/verify.js';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';
import { describeWithRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

afterAll(removeTempDirs);

const LARGE = 10_000;
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The module every test fills: five large results, cheap to compute (the first that eviction takes). */
const LARGE_SOURCE = `(i) => String(i).repeat(${LARGE})`;
function large(cache: Cache) {
  return cache.memoize('large', (i: number) => String(i).repeat(LARGE));
}

async function fill(cache: Cache): Promise<void> {
  const f = large(cache);
  for (let i = 0; i < 5; i++) await f(i);
  await cache.checkpoint();
}

/** The results still stored in module `large`, sorted. */
async function kept(store: Store): Promise<number[]> {
  const found: number[] = [];
  for await (const record of store.proxy.records('large')) found.push(Number(((await store.proxy.loadResult(record)) as string)[0]));
  return found.sort();
}

/** Runs `body` (ES module code, `cache` opened on `backend`, `large` memoized) in another Node process. */
async function inAnotherProcess(backend: BackendConfig, body: string): Promise<void> {
  const code = `
    import { openCache } from ${JSON.stringify(join(root, 'src/index.ts'))};
    const cache = await openCache({ backend: ${JSON.stringify(backend)}, handleExit: false });
    const large = cache.memoize('large', ${LARGE_SOURCE});
    ${body}
    await cache.close();`;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root });
}

describe('stored pins', () => {
  const open = openedCaches();

  it('honours a pin set by another process sharing the store (LMDB) in maxBytes eviction', async () => {
    const backend: BackendConfig = { type: 'lmdb', path: join(tempDir(), 'store') };
    await fill(await open(undefined, { backend }));
    // Open while the other process pins: a cache evicts after its own writes, so this one has not yet.
    const cache = await open(undefined, { backend, maxBytes: 2 * LARGE + 100 });
    await inAnotherProcess(backend, 'await large.pin(1); await large.pin(3);');
    await cache.evict();
    const left = await kept(cache.store);
    expect(left).toContain(1);
    expect(left).toContain(3);
    expect(left).toHaveLength(2);
  });

  it('keeps a pin across a restart, and prune --max-size in a later process honours it', async () => {
    const path = join(tempDir(), 'store');
    await inAnotherProcess({ type: 'level', path }, 'for (let i = 0; i < 5; i++) await large(i); await large.pin(2);');
    const store = await openStore({ type: 'level', path });
    try {
      const result = await prune(store, { maxBytes: 0 });
      expect(await kept(store)).toEqual([2]);
      expect(result.records).toBe(4);
      expect(result.pinned).toMatchObject({ records: 1, overLimit: true });
    } finally {
      await store.serialized.close();
    }
  });

  it('removes the entry once it is unpinned', async () => {
    const path = join(tempDir(), 'store');
    let cache = await open(path);
    await fill(cache);
    await large(cache).pin(4);
    await cache.close();
    cache = await open(path, { maxBytes: 0 });
    expect(await large(cache).unpin(4)).toBe(true);
    expect(await large(cache).unpin(4)).toBe(false);
    await cache.evict();
    expect(await kept(cache.store)).toEqual([]);
  });

  it('keeps every entry of a module memoized with pin: true out of prune in another process', async () => {
    const path = join(tempDir(), 'store');
    const cache = await open(path);
    const pinnedModule = cache.memoize('whole', (i: number) => String(i).repeat(LARGE), { pin: true });
    for (let i = 0; i < 3; i++) await pinnedModule(i);
    await fill(cache);
    await cache.close();
    const store = await openStore({ type: 'level', path });
    try {
      await prune(store, { maxBytes: 0 });
      let whole = 0;
      for await (const _ of store.proxy.records('whole')) whole += 1;
      expect(whole).toBe(3);
      expect(await kept(store)).toEqual([]);
      expect([...(await readPins(store)).modules]).toEqual(['whole']);
    } finally {
      await store.serialized.close();
    }
  });

  it('removes a pinned entry and its pin when it is removed on purpose (rm, f.delete)', async () => {
    const path = join(tempDir(), 'store');
    const cache = await open(path);
    await fill(cache);
    const f = large(cache);
    await f.pin(0);
    await f.pin(1);
    await f.delete(0);
    const [pinnedCall] = (await readPins(cache.store)).calls.get('large')!;
    const one = (await storedRecords(cache, 'large')).find((record) => record.call === pinnedCall);
    await removeRecords(cache.store, [one!]);
    expect((await readPins(cache.store)).empty).toBe(true);
    expect(await kept(cache.store)).toEqual([2, 3, 4]);
  });

  it('removes the pins of calls invalidated or cleared, and keeps the pin of the module through f.clear', async () => {
    const cache = await open();
    await fill(cache);
    const f = large(cache);
    await f.pin(2);
    await f.pin(3);
    await pin(cache.store, { module: 'large' });
    await f.invalidate(2);
    expect([...(await readPins(cache.store)).calls.get('large')!]).toHaveLength(1);
    await f.clear();
    const left = await readPins(cache.store);
    expect(left.calls.size).toBe(0);
    expect([...left.modules]).toEqual(['large']);
  });

  it('keeps an entry pinned after the eviction pass chose it, before its step removes it', async () => {
    const cache = await open();
    await fill(cache);
    const calls = (await storedRecords(cache, 'large')).map((record) => record.call);
    const evictor = new Evictor({
      store: cache.store,
      maxBytes: 0,
      pinned: () => false,
      // Another process pins every entry between the scan and the step that deletes.
      serialize: async (work) => {
        for (const call of calls) await pin(cache.store, { module: 'large', call });
        return work();
      },
      closing: false,
      forget: (_module, chosen) => ({ evictable: new Set(chosen.keys()), done: async () => undefined }),
    });
    const result = await evictor.run();
    expect(result.records).toBe(0);
    expect(await kept(cache.store)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps an entry that another process pins while prune --max-size is choosing what to remove', async () => {
    const cache = await open();
    await fill(cache);
    const [target] = await storedRecords(cache, 'large');
    const store = cache.store;
    // The backend prune reads through pins the call once prune has read the pins and is sizing the values.
    const backend = new Proxy(store.backend, {
      get(real, property) {
        const member = Reflect.get(real, property, real) as unknown;
        if (property !== 'entries') return typeof member === 'function' ? member.bind(real) : member;
        return async function* (range: Parameters<typeof real.entries>[0]) {
          yield* real.entries(range);
          if (range !== undefined && Buffer.from(range.gte as Uint8Array).toString() === 'v!') await pin(store, { module: 'large', call: target!.call });
        };
      },
    });
    const result = await prune({ ...store, backend }, { maxBytes: 0 });
    expect(result.records).toBe(4);
    expect((await storedRecords(cache, 'large')).map((record) => record.call)).toEqual([target!.call]);
  });

  it('warns when the pinned entries alone exceed maxBytes', async () => {
    const warnings = captureWarnings();
    const cache = await open(undefined, { maxBytes: LARGE });
    const f = large(cache);
    await f.pin(0);
    await f.pin(1);
    await fill(cache);
    await cache.evict();
    expect(await kept(cache.store)).toEqual([0, 1]);
    expect((await warnings.stop()).map((warning) => warning.code)).toContain('MEMOSTRATA_PINNED_OVER_LIMIT');
  });

  it('refuses a malformed pin target and writes nothing', async () => {
    const cache = await open();
    await expect(pin(cache.store, { module: 'large', call: 'abc' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(pin(cache.store, { module: 'a!b' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(unpin(cache.store, { module: 'large', call: 'Z'.repeat(32) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await readPins(cache.store)).empty).toBe(true);
  });

  it('is sound to verify, a pin without its entry too, and a damaged pin is fixable', async () => {
    const cache = await open();
    await fill(cache);
    await large(cache).pin(0);
    await large(cache).pin(99);
    await pin(cache.store, { module: 'large' });
    expect((await verify(cache.store)).problems).toEqual([]);
    await cache.store.serialized.put(modulePinKey('large'), 'yes');
    await cache.store.serialized.put(pinKey('large', 'f'.repeat(32)), { pinnedAt: -1 });
    const problems = (await verify(cache.store)).problems;
    expect(problems.map((problem) => [problem.kind, problem.fixable])).toEqual([
      ['corrupt', true],
      ['corrupt', true],
    ]);
  });
});

describeWithRedis('stored pins on Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('honours in prune --max-size a pin that another process set', async () => {
    const backend: BackendConfig = { type: 'redis', url: server.url, prefix: 'pins:' };
    await inAnotherProcess(backend, 'for (let i = 0; i < 5; i++) await large(i); await large.pin(3);');
    const store = await openStore(backend);
    try {
      await prune(store, { maxBytes: 0 });
      expect(await kept(store)).toEqual([3]);
    } finally {
      await store.serialized.close();
    }
  });
});
