/*
 * A hostile review of leases (issue 10 part 2): each test pins a defect found
 * by attacking the protocol (a lease left held, a waiter that never wakes,
 * two takeovers, a zombie owner's write, a wrong result after a takeover).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { currentCall, digestToHex, openCache, type BackendConfig, type Cache, type CacheOptions, type Memoized } from '../../src/index.js';
import { LeaseTable, type LeaseRecord } from '../../src/cache/leases.js';
import { KeyPrefix, keyText, leaseKey, prefixRange } from '../../src/layers/keys.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const caches: Cache[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
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

async function storedLeases(cache: Cache): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of cache.store.proxy.keys(prefixRange(KeyPrefix.lease))) keys.push(keyText(key));
  return keys;
}

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

/** The call digest (hex) under which `f` stores a call with `args`. */
function callDigestOf(cache: Cache, f: Memoized<never[], unknown>, ...args: unknown[]): string {
  const { digester } = cache.store;
  return digestToHex(digester.callDigest(digester.callKey(Buffer.from(f.identity, 'hex'), args, new Set())));
}

/** A lease as another machine's process would have claimed it, never renewed. */
function foreignLease(): LeaseRecord {
  const now = Date.now();
  return { host: 'a-machine-that-is-gone', pid: 1, token: 'planted', startedAt: now, heartbeatAt: now, beat: 0 };
}

/** The value `module` stores for a call, read by a fresh cache whose function must not run. */
async function storedResult(backend: BackendConfig, module: string, ...args: unknown[]): Promise<unknown> {
  const reader = await open(backend, { lease: false });
  const read = reader.memoize(module, (..._args: unknown[]): unknown => {
    throw new Error('not stored');
  });
  return read(...args);
}

describe('leases under attack (LMDB)', () => {
  it('releases the lease of a call whose result throws while it is read for storing (a getter), so that nobody waits on it', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 30_000 } });
    const f = cache.memoize('getter', async () => ({
      get broken(): number {
        throw new Error('boom');
      },
    }));
    await expect(f()).rejects.toThrow('boom');
    expect(await storedLeases(cache)).toEqual([]);
  });

  it('takes over a value at a lease key that is not a lease (a foreign writer) once it has not changed for ttlMs', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 200 } });
    const f = cache.memoize('foreign', async (x: number) => x + 1);
    const call = callDigestOf(cache, f as Memoized<never[], unknown>, 1);
    await cache.store.proxy.put(leaseKey('foreign', call), { written: 'by someone else', at: [1, 2] });
    expect(await f(1)).toBe(2);
    expect(await storedLeases(cache)).toEqual([]);
  }, 10_000);

  it('gives a damaged lease to exactly one of two waiters, even when one decides late', async () => {
    const backend = lmdb();
    const first = await open(backend, { lease: { ttlMs: 200 } });
    const second = await open(backend, { lease: { ttlMs: 200 } });
    const release = gate();
    let computed = 0;
    const slow = async (x: number): Promise<number> => {
      computed += 1;
      await release.opened;
      return x * 2;
    };
    const a = first.memoize('damaged', slow);
    const b = second.memoize('damaged', slow);
    const key = leaseKey('damaged', callDigestOf(first, a as Memoized<never[], unknown>, 4));
    // Bit rot: bytes that do not decode.
    await first.store.backend.put(key, Uint8Array.of(0xff, 0xff, 0xff));
    // The second waiter is slow to act on what it saw: its first write to the lease key lands only
    // after the first waiter cleared the damage and claimed the call.
    const backendOfSecond = second.store.backend;
    let delayed = false;
    const claimedByFirst = async (): Promise<void> => {
      if (delayed) return;
      delayed = true;
      await waitFor(async () => {
        try {
          return (await first.store.proxy.get(key)) !== undefined;
        } catch {
          return false;
        }
      }, 'the first waiter to claim');
    };
    const touchesLease = (k: Uint8Array): boolean => Buffer.from(k).equals(Buffer.from(key));
    for (const method of ['delete', 'batch', 'batchIf'] as const) {
      const original = backendOfSecond[method].bind(backendOfSecond) as (...args: unknown[]) => Promise<unknown>;
      vi.spyOn(backendOfSecond, method).mockImplementation((async (...args: unknown[]) => {
        const first = args[0] as Uint8Array | { key: Uint8Array } | { key: Uint8Array }[];
        const keys = Array.isArray(first) ? first.map((op) => op.key) : [first instanceof Uint8Array ? first : first.key];
        if (keys.some(touchesLease)) await claimedByFirst();
        return original(...args);
      }) as never);
    }
    // The second waiter comes first, so its deadline passes first; the first waiter decides 60 ms later.
    const waiting = b(4);
    await sleep(60);
    const running = a(4);
    await waitFor(() => computed >= 1, 'a computation to start');
    await sleep(400);
    release.open();
    expect(await Promise.all([running, waiting])).toEqual([8, 8]);
    expect(computed).toBe(1);
  }, 10_000);

  it('does not let a zombie owner store its result over the result of the owner that took its call over and finished', async () => {
    const backend = lmdb();
    const zombie = await open(backend);
    const other = await open(backend);
    const release = gate();
    const saved = gate();
    const f = zombie.memoize('zombie', async (x: number) => {
      await currentCall().save({ step: 1 });
      saved.open();
      await release.opened;
      return `zombie's ${x}`;
    });
    const running = f(1);
    await saved.opened;
    const call = callDigestOf(zombie, f as Memoized<never[], unknown>, 1);
    // The zombie stopped renewing (a blocked event loop): another process took the call over,
    // computed it and released the lease, all before the zombie woke up.
    await other.store.proxy.delete(leaseKey('zombie', call));
    expect(await other.memoize('zombie', async (x: number) => `new owner's ${x}`)(1)).toBe("new owner's 1");
    release.open();
    await running;
    await zombie.checkpoint();
    expect(await storedResult(backend, 'zombie', 1)).toBe("new owner's 1");
    expect(await storedLeases(other)).toEqual([]);
  });

  it('does not let a zombie owner save its state after the owner that took its call over finished', async () => {
    const backend = lmdb();
    const zombie = await open(backend);
    const other = await open(backend);
    const release = gate();
    const saved = gate();
    let lateSave: unknown = 'not reached';
    const f = zombie.memoize('zombie-state', async (x: number) => {
      await currentCall().save({ step: 1 });
      saved.open();
      await release.opened;
      lateSave = await currentCall()
        .save({ step: 2 })
        .then(
          () => 'saved',
          (error: unknown) => error,
        );
      return x;
    });
    const running = f(1);
    await saved.opened;
    const call = callDigestOf(zombie, f as Memoized<never[], unknown>, 1);
    await other.store.proxy.delete(leaseKey('zombie-state', call));
    // The new owner resumes from the saved state; storing its result removes that state.
    const resumed = other.memoize('zombie-state', async (x: number) => ((await currentCall().restore()) === undefined ? -1 : x));
    expect(await resumed(1)).toBe(1);
    release.open();
    await running;
    expect(lateSave).toMatchObject({ code: 'LEASE_LOST' });
    // Neither a saved state nor a lease outlives the finished call.
    expect(await other.store.serialized.get(new TextEncoder().encode(`${KeyPrefix.state}zombie-state!${call}`))).toBeUndefined();
    expect(await storedLeases(other)).toEqual([]);
  });

  it('takes over a lease nobody renews after ttlMs even when the wall clock is set back meanwhile', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 300 } });
    const f = cache.memoize('clock', async (x: number) => x * 3);
    const call = callDigestOf(cache, f as Memoized<never[], unknown>, 2);
    await cache.store.proxy.put(leaseKey('clock', call), foreignLease());
    const realNow = Date.now.bind(Date);
    let offset = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    const result = f(2);
    await sleep(50);
    // NTP steps the clock back an hour while the waiter waits.
    offset = -3_600_000;
    expect(await result).toBe(6);
  }, 10_000);

  it('recomputes a call whose run met LEASE_LOST on its call-time arguments, not on what that run changed in place', async () => {
    const backend = lmdb();
    const cache = await open(backend, { lease: { ttlMs: 300 } });
    const observer = await open(backend);
    const stealNow = gate();
    let runs = 0;
    const sum = cache.memoize('mutating', async (values: number[]) => {
      runs += 1;
      const total = values.reduce((a, b) => a + b, 0);
      if (runs === 1) {
        // The function uses its argument as scratch space, then finds its call taken over.
        values.push(1000);
        stealNow.open();
        await sleep(250);
        await currentCall().save(total);
      }
      return total;
    });
    const running = sum([1, 2, 3]);
    await stealNow.opened;
    const call = callDigestOf(cache, sum as Memoized<never[], unknown>, [1, 2, 3]);
    const key = leaseKey('mutating', call);
    // A new owner on another machine takes the call over, then vanishes without renewing.
    for (;;) {
      const held = (await observer.store.proxy.get(key)) as LeaseRecord;
      if (await observer.store.proxy.batchIf({ key, value: held }, [{ type: 'put', key, value: { ...held, host: 'elsewhere', token: 'thief' } }])) break;
    }
    expect(await running).toBe(6);
    expect(runs).toBe(2);
    expect(await storedResult(backend, 'mutating', [1, 2, 3])).toBe(6);
  }, 10_000);
});

describe('leased results and other writes of the same cache (LMDB)', () => {
  it('does not let a checkpoint queued while a zombie owner finishes write its result over the new owner’s', async () => {
    const backend = lmdb();
    const zombie = await open(backend);
    const other = await open(backend);
    const release = gate();
    const saved = gate();
    const side = zombie.memoize('side', async (x: number) => x, { lease: false });
    const f = zombie.memoize('zombie-flush', async (x: number) => {
      await currentCall().save({ step: 1 });
      saved.open();
      await release.opened;
      // Another task of this process checkpoints meanwhile: one flush under way, one queued behind it.
      await side(1);
      void zombie.checkpoint();
      void zombie.checkpoint();
      return `zombie's ${x}`;
    });
    const running = f(1);
    await saved.opened;
    const call = callDigestOf(zombie, f as Memoized<never[], unknown>, 1);
    // Taken over while the zombie was stalled: the new owner holds the lease when the zombie finishes.
    const key = leaseKey('zombie-flush', call);
    const held = (await other.store.proxy.get(key)) as LeaseRecord;
    const thief: LeaseRecord = { ...held, host: 'new-owner', token: 'thief', beat: 0 };
    expect(await other.store.proxy.batchIf({ key, value: held }, [{ type: 'put', key, value: thief }])).toBe(true);
    release.open();
    expect(await running).toBe("zombie's 1");
    await zombie.checkpoint();
    expect(await other.store.proxy.lookup('zombie-flush', call)).toBeUndefined();
    expect(await other.store.proxy.get(key)).toEqual(thief);
  });
});

describe('close() and leases (LMDB)', () => {
  it('releases at close a lease whose claim was being written when close() began', async () => {
    const backend = lmdb();
    const cache = await open(backend);
    const { proxy, backend: raw } = cache.store;
    const table = new LeaseTable(proxy, 30_000, raw);
    const written = gate();
    const original = proxy.batchIf.bind(proxy);
    vi.spyOn(proxy, 'batchIf').mockImplementationOnce(async (...args) => {
      await written.opened;
      return original(...args);
    });
    const claim = table.claim('closing', 'a'.repeat(32), async () => false);
    await waitFor(() => vi.mocked(proxy.batchIf).mock.calls.length === 1, 'the claim to be written');
    // close() releases every lease first; the claim under way lands meanwhile.
    const releasing = table.releaseAll();
    written.open();
    await releasing;
    await claim.catch(() => undefined);
    expect(await storedLeases(cache)).toEqual([]);
  });

  it('returns the result of a call made just before close(), and leaves no lease held', async () => {
    const backend = lmdb();
    const cache = await openCache({ backend, handleExit: false, flush: 'manual' });
    const f = cache.memoize('just-before', async (x: number) => x * 7);
    const result = f(3);
    await cache.close();
    expect(await result).toBe(21);
    expect(await storedLeases(await open(backend))).toEqual([]);
  });

  it('refuses a claim that begins after close() with CLOSED', async () => {
    const cache = await open(lmdb());
    const table = new LeaseTable(cache.store.proxy, 30_000, cache.store.backend);
    await table.releaseAll();
    await expect(table.claim('closing', 'b'.repeat(32), async () => false)).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await storedLeases(cache)).toEqual([]);
  });
});
