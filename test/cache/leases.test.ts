import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { currentCall, digestToHex, openCache, type BackendConfig, type Cache, type CacheOptions, type Memoized } from '../../src/index.js';
import type { LeaseRecord } from '../../src/cache/leases.js';
import { KeyPrefix, keyText, leaseKey, prefixRange } from '../../src/layers/keys.js';
import { fixturePath, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const caches: Cache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close().catch(() => undefined)));
});
afterAll(removeTempDirs);

async function open(backend: BackendConfig, options: CacheOptions = {}): Promise<Cache> {
  const cache = await openCache({ backend, handleExit: false, flush: 'manual', ...options });
  caches.push(cache);
  return cache;
}

function lmdb(): BackendConfig {
  return { type: 'lmdb', path: join(tempDir(), 'store') };
}

/** The leases stored now, by key. */
async function storedLeases(cache: Cache): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of cache.store.proxy.keys(prefixRange(KeyPrefix.lease))) keys.push(keyText(key));
  return keys;
}

/** A promise and the function that resolves it: a computation the test lets finish. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i += 1) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The call digest of `module`'s only lease. */
async function onlyLeaseCall(cache: Cache, module: string): Promise<string> {
  const leases = await storedLeases(cache);
  expect(leases).toHaveLength(1);
  return leases[0]!.slice(`${KeyPrefix.lease}${module}!`.length);
}

describe('leases on a store two caches share (LMDB)', () => {
  it('computes a call once while another cache waits for it, and both get the result', async () => {
    const backend = lmdb();
    const [first, second] = [await open(backend), await open(backend)];
    const release = gate();
    let computed = 0;
    const slow = async (x: number): Promise<number> => {
      computed += 1;
      await release.opened;
      return x * 10;
    };
    const a = first.memoize('slow', slow);
    const b = second.memoize('slow', slow);
    const running = a(4);
    await waitFor(() => computed === 1, 'the first call to start');
    const waiting = b(4);
    await sleep(50);
    expect(computed).toBe(1);
    release.open();
    expect(await Promise.all([running, waiting])).toEqual([40, 40]);
    expect(computed).toBe(1);
    expect(second.stats().modules.slow).toMatchObject({ hits: 1, misses: 0 });
    expect(await storedLeases(first)).toEqual([]);
  });

  it('lets a waiter compute the call itself when the owner’s call fails and errors are not cached', async () => {
    const backend = lmdb();
    const [first, second] = [await open(backend), await open(backend)];
    const release = gate();
    let runs = 0;
    const failing = first.memoize('flaky', async (x: number) => {
      runs += 1;
      await release.opened;
      throw new Error(`failed on ${x}`);
    });
    const working = second.memoize('flaky', async (x: number) => {
      runs += 1;
      return x + 1;
    });
    const owner = failing(1);
    await waitFor(() => runs === 1, 'the owner to start');
    const waiter = working(1);
    await sleep(30);
    expect(runs).toBe(1);
    release.open();
    await expect(owner).rejects.toThrow('failed on 1');
    expect(await waiter).toBe(2);
    expect(runs).toBe(2);
  });

  it('takes over a lease whose owner stopped renewing it (a lost machine), once it is ttlMs old', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 300 } });
    const f = cache.memoize('orphaned', async (x: number) => x * 2);
    const call = await callDigestOf(cache, f as Memoized<never[], unknown>, 5);
    // Another machine claimed the call and vanished: its lease is never renewed.
    await plantLease(cache, 'orphaned', call, { host: 'a-machine-that-is-gone', pid: 1 });
    expect(await f(5)).toBe(10);
    expect(await storedLeases(cache)).toEqual([]);
  });

  it('waits while the owner keeps renewing its lease, and takes over only after it stops', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 200 } });
    let computed = 0;
    const f = cache.memoize('renewed', async (x: number) => {
      computed += 1;
      return x * 3;
    });
    const call = await callDigestOf(cache, f as Memoized<never[], unknown>, 7);
    let beat = 0;
    let lease = await plantLease(cache, 'renewed', call, { host: 'another-machine', pid: 1 });
    let renewing = true;
    const heartbeat = (async () => {
      while (renewing) {
        await sleep(50);
        const next = { ...lease, beat: (beat += 1) };
        if (!(await cache.store.proxy.batchIf({ key: leaseKey('renewed', call), value: lease }, [{ type: 'put', key: leaseKey('renewed', call), value: next }]))) break;
        lease = next;
      }
    })();
    const waiting = f(7);
    await sleep(800);
    expect(computed).toBe(0);
    renewing = false;
    await heartbeat;
    expect(await waiting).toBe(21);
    expect(computed).toBe(1);
  });

  it('takes over at once from an owner on this machine whose process is gone', async () => {
    const backend = lmdb();
    // A day-long ttl: only the dead-process check can end the wait within the test.
    const cache = await open(backend, { lease: { ttlMs: 86_400_000 } });
    const f = cache.memoize('dead-owner', async (x: number) => x - 1);
    const call = await callDigestOf(cache, f as Memoized<never[], unknown>, 9);
    await plantLease(cache, 'dead-owner', call, { host: hostname(), pid: deadPid() });
    expect(await f(9)).toBe(8);
  });

  it('fences a worker whose lease was taken over: its save() rejects with LEASE_LOST and its result does not replace the new owner’s', async () => {
    const backend = lmdb();
    const cache = await open(backend);
    const observer = await open(backend);
    const release = gate();
    const saved = gate();
    let saveError: unknown;
    const f = cache.memoize('fenced', async (x: number) => {
      await currentCall().save({ step: 1 });
      saved.open();
      await release.opened;
      try {
        await currentCall().save({ step: 2 });
      } catch (error) {
        saveError = error;
      }
      return x * 100;
    });
    const running = f(1);
    await saved.opened;
    const call = await onlyLeaseCall(observer, 'fenced');
    // Another process takes the call over (as if this one had stopped renewing) and stores its own result.
    const stolen = (await observer.store.proxy.get(leaseKey('fenced', call))) as LeaseRecord;
    const newOwner: LeaseRecord = { ...stolen, host: 'new-owner', token: 'other', beat: 0 };
    expect(await observer.store.proxy.batchIf({ key: leaseKey('fenced', call), value: stolen }, [{ type: 'put', key: leaseKey('fenced', call), value: newOwner }])).toBe(true);
    release.open();
    expect(await running).toBe(100);
    expect(saveError).toMatchObject({ name: 'MemostrataError', code: 'LEASE_LOST' });
    // Neither its state nor its result was written: the call is the new owner's.
    expect(await observer.store.serialized.get(new TextEncoder().encode(`${KeyPrefix.state}fenced!${call}`))).toEqual(expect.objectContaining({ state: { step: 1 } }));
    expect(await observer.store.proxy.lookup('fenced', call)).toBeUndefined();
    expect(await observer.store.proxy.get(leaseKey('fenced', call))).toEqual(newOwner);
    await cache.checkpoint();
    expect(await observer.store.proxy.lookup('fenced', call)).toBeUndefined();
  });

  it('lets a call whose save() met LEASE_LOST wait for the new owner, and take over when that one dies too', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 300 } });
    const observer = await open(backend);
    const stealNow = gate();
    const starts: unknown[] = [];
    const f = cache.memoize('twice', async (x: number) => {
      const call = currentCall();
      const saved = await call.restore<number>();
      starts.push(saved);
      await call.save((saved ?? 0) + 1);
      if (saved === undefined) {
        stealNow.open();
        await sleep(250);
        // Taken over meanwhile: this save() rejects with LEASE_LOST, and the error ends this run.
        await call.save(99);
      }
      return x + (saved ?? 0);
    });
    const running = f(1);
    await stealNow.opened;
    const call = await onlyLeaseCall(observer, 'twice');
    const key = leaseKey('twice', call);
    // A new owner on another machine takes the call over, then vanishes without renewing.
    for (;;) {
      const held = (await observer.store.proxy.get(key)) as LeaseRecord;
      if (await observer.store.proxy.batchIf({ key, value: held }, [{ type: 'put', key, value: { ...held, host: 'elsewhere', token: 'thief' } }])) break;
    }
    expect(await running).toBe(2);
    expect(starts).toEqual([undefined, 1]);
  });

  it('releases the leases of calls still running when the cache closes, so a waiter runs them at once', async () => {
    const backend = lmdb();
    // A day-long ttl: only the release at close can end the wait within the test.
    const closing = await open(backend, { lease: { ttlMs: 86_400_000 } });
    const other = await open(backend, { lease: { ttlMs: 86_400_000 } });
    const never = gate();
    let started = 0;
    const stuck = closing.memoize('stuck', async (x: number) => {
      started += 1;
      await never.opened;
      return x;
    });
    void stuck(1);
    await waitFor(() => started === 1, 'the call to start');
    const waiting = other.memoize('stuck', async (x: number) => x + 1)(1);
    await sleep(30);
    await closing.close();
    expect(await waiting).toBe(2);
    never.open();
  });

  it('stores the result and releases the lease in one step, before the call returns', async () => {
    const backend = lmdb();
    const cache = await open(backend);
    const other = await open(backend);
    const f = cache.memoize('durable', async (x: number) => ({ x }));
    expect(await f(3)).toEqual({ x: 3 });
    expect(cache.pendingWrites()).toBe(0);
    expect(await storedLeases(other)).toEqual([]);
    let computed = 0;
    expect(await other.memoize('durable', async (x: number) => ((computed += 1), { x }))(3)).toEqual({ x: 3 });
    expect(computed).toBe(0);
  });

  it('claims no lease with lease: false on the cache or on the module: both processes compute', async () => {
    for (const options of [{ cache: { lease: false as const }, module: {} }, { cache: {}, module: { lease: false } }]) {
      const backend = lmdb();
      const [first, second] = [await open(backend, options.cache), await open(backend, options.cache)];
      const release = gate();
      let computed = 0;
      const slow = async (x: number): Promise<number> => {
        computed += 1;
        await release.opened;
        return x;
      };
      const running = first.memoize('free', slow, options.module)(1);
      const other = second.memoize('free', slow, options.module)(1);
      await waitFor(() => computed === 2, 'both to compute');
      release.open();
      expect(await Promise.all([running, other])).toEqual([1, 1]);
    }
  });

  it('writes no lease on a LevelDB or memory store', async () => {
    for (const backend of [{ type: 'level', path: join(tempDir(), 'level') }, { type: 'memory' }] as BackendConfig[]) {
      const cache = await open(backend);
      let leasesDuringCall: string[] = ['not read'];
      const f = cache.memoize('single', async (x: number) => {
        leasesDuringCall = await storedLeases(cache);
        return x;
      });
      expect(await f(1)).toBe(1);
      expect(leasesDuringCall).toEqual([]);
    }
  });

  it('refuses a malformed lease option with CONFIG, naming it', async () => {
    const backend = lmdb();
    await expect(open(backend, { lease: { ttlMs: 'long' } as never })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('lease.ttlMs') });
    await expect(open(backend, { lease: { ttl: 5 } as never })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining("'lease.ttl'") });
    await expect(open(backend, { lease: true as never })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('lease must be') });
    const cache = await open(backend);
    expect(() => cache.memoize('m', (x: number) => x, { lease: 'yes' as never })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });
});

describe('leases across processes (LMDB)', () => {
  it('computes each of 200 calls exactly once when 4 processes call them in shuffled orders', async () => {
    const backend = lmdb();
    const countFile = join(tempDir(), 'computed.txt');
    writeFileSync(countFile, '');
    const workers = [1, 2, 3, 4].map((seed) => spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'calls', String(seed)]));
    const done = await Promise.all(workers.map((worker) => worker.nextLine((line) => line.startsWith('done'))));
    await Promise.all(workers.map((worker) => worker.exited));
    const computed = readFileSync(countFile, 'utf8').trim().split('\n').map(Number);
    expect(computed.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, x) => x));
    const misses = done.map((line) => Number(line.split(' ')[2]));
    expect(misses.reduce((sum, n) => sum + n, 0)).toBe(200);
  }, 120_000);

  it('lets a waiter take over a long call whose owner was SIGKILLed, resuming from its last saved state', async () => {
    const backend = lmdb();
    const countFile = join(tempDir(), 'starts.txt');
    writeFileSync(countFile, '');
    const owner = spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'resumable', '2000']);
    await owner.nextLine((line) => line === 'saved 2');
    const waiter = spawnTsChild(fixturePath('lease-worker.ts'), [JSON.stringify(backend), countFile, 'resumable', '2000']);
    await waiter.nextLine((line) => line === 'calling');
    await sleep(100);
    owner.kill('SIGKILL');
    await owner.exited;
    expect(owner.lines.some((line) => line.startsWith('result'))).toBe(false);
    const lastSaved = Math.max(...owner.lines.filter((line) => line.startsWith('saved ')).map((line) => Number(line.split(' ')[1])));
    const result = await waiter.nextLine((line) => line.startsWith('result '));
    expect(result).toBe(`result ${Array.from({ length: 12 }, (_, i) => i * i).reduce((a, b) => a + b, 0)}`);
    const starts = readFileSync(countFile, 'utf8').trim().split('\n');
    expect(starts).toHaveLength(2);
    expect(starts[0]).toBe(`start 0 ${owner.process.pid}`);
    expect(starts[1]).toBe(`start ${lastSaved} ${waiter.process.pid}`);
    await waiter.exited;
  }, 60_000);
});

/** The call digest (hex) under which `f` stores a call with `args`: what its lease key names. */
async function callDigestOf(cache: Cache, f: Memoized<never[], unknown>, ...args: unknown[]): Promise<string> {
  const { digester } = cache.store;
  return digestToHex(digester.callDigest(digester.callKey(Buffer.from(f.identity, 'hex'), args, new Set())));
}

/** Stores a lease for a call as another process would have claimed it. */
async function plantLease(cache: Cache, module: string, call: string, owner: { host: string; pid: number }): Promise<LeaseRecord> {
  const now = Date.now();
  const lease: LeaseRecord = { ...owner, token: 'planted', startedAt: now, heartbeatAt: now, beat: 0 };
  await cache.store.proxy.put(leaseKey(module, call), lease);
  return lease;
}

/** The pid of a process that has ended. */
function deadPid(): number {
  for (let pid = 4_000_000; pid > 3_000_000; pid -= 7919) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid found');
}
