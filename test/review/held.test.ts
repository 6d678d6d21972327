import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { digestToHex } from '../../src/layers/digest.js';
import { memoKey, valueKey } from '../../src/layers/keys.js';
import { UUIDDatabase } from '../../src/layers/uuid-database.js';
import { supportedValue } from '../helpers/supported-values.js';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);
const open = openedCaches();
const records = storedRecords;

/** Changes the first mutable part of `value` in place; whether it found one. */
function mutate(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 8) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (mutate(item, depth + 1)) return true;
    value.push('changed');
    return true;
  }
  if (value instanceof Map) {
    value.set('changed-key', 'changed');
    return true;
  }
  if (value instanceof Set) {
    value.add('changed');
    return true;
  }
  if (value instanceof Date) {
    value.setTime(Number.isNaN(value.getTime()) ? 0 : value.getTime() + 1);
    return true;
  }
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength === 0) return false;
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    bytes[0] = (bytes[0]! + 1) & 0xff;
    return true;
  }
  if (value instanceof ArrayBuffer) {
    if (value.byteLength === 0) return false;
    const bytes = new Uint8Array(value);
    bytes[0] = (bytes[0]! + 1) & 0xff;
    return true;
  }
  for (const item of Object.values(value)) if (mutate(item, depth + 1)) return true;
  (value as Record<string, unknown>)['changed-prop'] = 1;
  return true;
}

describe('what the trust fixes hold under attack', () => {
  it('an argument changed in place after the call never changes the result, its key or the stored inputs', async () => {
    const cache = await open();
    const digester = cache.store.digester;
    let runs = 0;
    const f = cache.memoize('seen', async (v: unknown) => {
      runs += 1;
      await new Promise((resolve) => setImmediate(resolve));
      return digestToHex(digester.digest(v));
    });
    await fc.assert(
      fc.asyncProperty(supportedValue({ maxDepth: 3, maxLength: 4 }), async (value) => {
        const before = digestToHex(digester.digest(value));
        const call = f(value);
        const changed = mutate(value);
        expect(await call).toBe(before);
        if (changed) expect(digestToHex(digester.digest(value))).not.toBe(before);
        await cache.checkpoint();
        const uuid = UUIDDatabase.uuidOfDigest(Buffer.from(before, 'hex'));
        const stored = await records(cache, 'seen');
        expect(stored.some((record) => record.inputs[0] === uuid)).toBe(true);
        const runsBefore = runs;
        // an equal value made fresh hits, and gives the call-time answer
        expect(await f(cache.store.serialized.codec.decode(cache.store.serialized.codec.encode(await cache.store.values.load(uuid))))).toBe(before);
        expect(runs).toBe(runsBefore);
      }),
      { numRuns: 150 },
    );
  });

  it('joiners of one in-flight call all get the call-time result when the first caller changes its argument', async () => {
    const cache = await open();
    let runs = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const f = cache.memoize('sum', async (o: { xs: number[] }) => {
      runs += 1;
      await held;
      return o.xs.reduce((a, b) => a + b, 0);
    });
    const o = { xs: [1, 2, 3] };
    const first = f(o);
    o.xs.push(100);
    const joiners = [f({ xs: [1, 2, 3] }), f({ xs: [1, 2, 3] })];
    const other = f(o);
    release();
    expect(await first).toBe(6);
    expect(await Promise.all(joiners)).toEqual([6, 6]);
    expect(await other).toBe(106);
    expect(runs).toBe(2);
  });

  it('a function that changes its own argument returns right results and stores nothing wrong', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const sortInPlace = (xs: number[]): number[] => xs.sort((a, b) => a - b);
    let f = cache.memoize('sort', sortInPlace);
    expect(await f([3, 1, 2])).toEqual([1, 2, 3]);
    expect(await f([1, 2, 3])).toEqual([1, 2, 3]);
    expect(await f([3, 1, 2])).toEqual([1, 2, 3]);
    await cache.close();
    cache = await open(path);
    let runs = 0;
    f = cache.memoize('sort', (xs: number[]) => {
      runs += 1;
      return sortInPlace(xs);
    });
    expect(await f([3, 1, 2])).toEqual([1, 2, 3]);
    expect(await f([2, 3, 1])).toEqual([1, 2, 3]);
    for (const record of await records(cache, 'sort')) {
      const { inputs, result } = await cache.store.proxy.unproxy(record);
      expect(result).toEqual([...(inputs[0] as number[])].sort((a, b) => a - b));
    }
    expect(runs).toBeGreaterThan(0);
  });

  it('a damaged value two modules share is recomputed by each and repaired for both', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const mk = (x: number): { big: string } => ({ big: 'v'.repeat(20_000) + String(x) });
    let a = cache.memoize('a', mk);
    let b = cache.memoize('b', (x: number) => mk(x));
    await a(1);
    await b(1);
    await cache.checkpoint();
    const [recordA] = await records(cache, 'a');
    const [recordB] = await records(cache, 'b');
    expect(recordA!.result).toBe(recordB!.result);
    await cache.store.serialized.put(valueKey(recordA!.result!), { big: 'wrong' });
    await cache.close();
    cache = await open(path);
    a = cache.memoize('a', mk);
    b = cache.memoize('b', (x: number) => mk(x));
    expect(await a(1)).toEqual(mk(1));
    await cache.checkpoint();
    expect(await b(1)).toEqual(mk(1));
    await cache.close();
    cache = await open(path);
    let runs = 0;
    b = cache.memoize('b', (x: number) => {
      runs += 1;
      return mk(x);
    });
    expect(await b(1)).toEqual(mk(1));
    expect(runs).toBe(0);
    expect(cache.stats().modules.b!.corrupt).toBe(0);
  });

  it('a sound record copied under another call key is never served', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let f = cache.memoize('f', (x: number) => x * 2);
    await f(1);
    await f(2);
    await cache.checkpoint();
    const [one, two] = await records(cache, 'f');
    await cache.store.serialized.put(memoKey('f', one!.call), { ...two! });
    await cache.close();
    cache = await open(path);
    f = cache.memoize('f', (x: number) => x * 2);
    expect(await f(1)).toBe(2);
    expect(await f(2)).toBe(4);
  });

  it('has(), delete() and clear() after close reject with CLOSED', async () => {
    const cache = await open();
    const f = cache.memoize('f', (x: number) => x);
    await f(1);
    await cache.close();
    await expect(f.has(1)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(f.delete(1)).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(f.clear()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(f(2)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a call reading through from the store when close() is called still returns its result', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    let f = cache.memoize('f', (x: number) => 'r'.repeat(100_000) + String(x));
    await Promise.all([1, 2, 3, 4, 5].map((x) => f(x)));
    await cache.close();
    cache = await open(path);
    f = cache.memoize('f', (x: number) => 'r'.repeat(100_000) + String(x));
    const calls = [1, 2, 3, 4, 5].map((x) => f(x));
    const closed = cache.close();
    const results = await Promise.allSettled(calls);
    await closed;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });
});
