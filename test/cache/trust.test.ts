import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { currentCall, TypeRegistry } from '../../src/index.js';
import { memoKey, valueKey } from '../../src/layers/keys.js';
import { openedCaches, storedRecords } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';
import { moduleSummaries } from '../../src/maintenance/inventory.js';

afterAll(removeTempDirs);

/*
 * The ways a cache could serve a wrong result or lose one (issue "Trust first"),
 * each pinned by the behaviour a user relies on.
 */


const open = openedCaches();

/** A promise and the function that resolves it: lets a test hold a computation mid-run. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const records = storedRecords;

describe('arguments changed by the caller right after the call', () => {
  it('computes, stores and keys the call-time arguments', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const square = (o: { x: number }): number => o.x * o.x;
    let f = cache.memoize('square', async (o: { x: number }) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return square(o);
    });
    const o = { x: 3 };
    const pending = f(o);
    o.x = 10;
    expect(await pending).toBe(9);
    expect(await f({ x: 3 })).toBe(9);
    expect(await f({ x: 10 })).toBe(100);
    await cache.close();
    cache = await open(path);
    f = cache.memoize('square', async (o: { x: number }) => square(o));
    expect(await f({ x: 3 })).toBe(9);
    expect(await f({ x: 10 })).toBe(100);
    const [stored] = await Promise.all((await records(cache, 'square')).map((record) => cache.store.proxy.unproxy(record)));
    expect([{ x: 3 }, { x: 10 }]).toContainEqual(stored!.inputs[0]);
  });

  it('gives a concurrent caller with equal arguments the result of those arguments', async () => {
    const cache = await open(join(tempDir(), 'cache'));
    const hold = gate();
    const f = cache.memoize('sum', async (values: number[]) => {
      await hold.opened;
      return values.reduce((a, b) => a + b, 0);
    });
    const mine = [1, 2, 3];
    const first = f(mine);
    mine.push(100);
    const second = f([1, 2, 3]);
    hold.open();
    expect(await first).toBe(6);
    expect(await second).toBe(6);
  });

  it('passes ignored arguments as they are, not copied', async () => {
    const cache = await open(join(tempDir(), 'cache'));
    const log: string[] = [];
    const f = cache.memoize('logged', (x: number, sink: string[]) => {
      sink.push(`ran ${x}`);
      return x;
    }, { ignore: [1] });
    await f(1, log);
    expect(log).toEqual(['ran 1']);
  });
});

describe('damage in the store', () => {
  const work = (x: number): { x: number; squares: number[] } => ({ x, squares: [x * x, x * x * x] });

  async function storeOf(path: string, xs: number[]): Promise<void> {
    const cache = await open(path);
    const f = cache.memoize('work', work);
    for (const x of xs) await f(x);
    await cache.close();
  }

  it('never serves a value whose content no longer matches its UUID: it recomputes, warns once, counts, and repairs', async () => {
    const path = join(tempDir(), 'cache');
    await storeOf(path, [1, 2]);
    let cache = await open(path);
    const [record] = (await records(cache, 'work')).filter((r) => r.inputs.length === 1);
    const { inputs } = await cache.store.proxy.unproxy(record!);
    // Rot that still decodes: the result's bytes now hold another well-formed value.
    await cache.store.serialized.put(valueKey(record!.result!), work(99));
    const warnings = captureWarnings();
    let runs = 0;
    const f = cache.memoize('work', (x: number) => {
      runs += 1;
      return work(x);
    });
    expect(await f(inputs[0] as number)).toEqual(work(inputs[0] as number));
    expect(runs).toBe(1);
    expect(cache.stats().modules['work']).toMatchObject({ corrupt: 1, misses: 1 });
    const said = (await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_CORRUPT');
    expect(said).toHaveLength(1);
    await cache.close();
    cache = await open(path);
    const again = cache.memoize('work', (x: number) => {
      runs += 1;
      return work(x);
    });
    expect(await again(inputs[0] as number)).toEqual(work(inputs[0] as number));
    expect(runs).toBe(1);
  });

  it('never serves a record that fails its checksum, and recomputes when a value is missing', async () => {
    const path = join(tempDir(), 'cache');
    await storeOf(path, [1, 2]);
    let cache = await open(path);
    const [one, two] = await records(cache, 'work');
    // A record now naming the other call's result, written without its checksum being updated.
    await cache.store.serialized.put(memoKey('work', one!.call), { ...one!, result: two!.result });
    await cache.store.serialized.delete(valueKey(two!.result!));
    let runs = 0;
    const f = cache.memoize('work', (x: number) => {
      runs += 1;
      return work(x);
    });
    expect(await f(1)).toEqual(work(1));
    expect(await f(2)).toEqual(work(2));
    expect(runs).toBe(2);
    expect(cache.stats().modules['work']?.corrupt).toBe(2);
    await cache.close();
    cache = await open(path);
    const again = cache.memoize('work', (x: number) => {
      runs += 1;
      return work(x);
    });
    expect(await again(1)).toEqual(work(1));
    expect(await again(2)).toEqual(work(2));
    expect(runs).toBe(2);
  });

  it('starts a resumable call over when its saved state is damaged', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const fail = { now: true };
    const body = async (n: number): Promise<number> => {
      const call = currentCall();
      const restored = await call.restore<{ step: number }>();
      let step = restored?.step ?? 0;
      await call.save({ step: step + 1 });
      step += 1;
      if (fail.now) throw new Error('killed');
      return n + step;
    };
    await expect(cache.memoize('resumable', body)(5)).rejects.toThrow('killed');
    await cache.close();
    cache = await open(path);
    for await (const [key, saved] of cache.store.serialized.entries({ gte: new TextEncoder().encode('s!'), lt: new TextEncoder().encode('s"') })) {
      await cache.store.serialized.put(key, { ...(saved as object), state: { step: 40 } });
    }
    fail.now = false;
    expect(await cache.memoize('resumable', body)(5)).toBe(6);
    expect(cache.stats().modules['resumable']?.corrupt).toBe(1);
  });
});

describe('deletes and clears', () => {
  it('keep a result that finished after them, even while a checkpoint runs', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const hold = gate();
    const h = cache.memoize('h', async (x: number) => {
      if (x === 5) await hold.opened;
      return x * 2;
    });
    await h(1);
    const running = h(5);
    const checkpoint = cache.checkpoint();
    const cleared = h.clear();
    hold.open();
    expect(await running).toBe(10);
    await Promise.all([checkpoint, cleared]);
    expect(await h.has(1)).toBe(false);
    expect(await h.has(5)).toBe(true);
    await cache.close();
    cache = await open(path);
    const reopened = cache.memoize('h', async (x: number) => x * 2);
    expect(await reopened.has(5)).toBe(true);
    expect(await reopened.has(1)).toBe(false);
  });

  it('keep a result that finished after a delete of the same call', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const hold = gate();
    const h = cache.memoize('h', async (x: number) => {
      await hold.opened;
      return x * 2;
    }, { flush: 'write-through' });
    const running = h(5);
    const deleted = h.delete(5);
    hold.open();
    expect(await running).toBe(10);
    await deleted;
    await cache.close();
    cache = await open(path);
    expect(await cache.memoize('h', async (x: number) => x * 2, { flush: 'write-through' }).has(5)).toBe(true);
  });
});

describe('close() while calls compute', () => {
  it('returns a write-through call’s result without storing it, and has() then says CLOSED', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const hold = gate();
    const f = cache.memoize('slow', async (x: number) => {
      await hold.opened;
      return x + 1;
    }, { flush: 'write-through' });
    const running = f(1);
    const closing = cache.close();
    hold.open();
    expect(await running).toBe(2);
    await closing;
    await expect(f.has(1)).rejects.toMatchObject({ code: 'CLOSED' });
    cache = await open(path);
    expect(await cache.memoize('slow', async (x: number) => x + 1, { flush: 'write-through' }).has(1)).toBe(false);
  });
});

describe('a resumed call', () => {
  it('records the compute time of every run of it, not only the last', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const fail = { now: true };
    const body = async (n: number): Promise<number> => {
      const call = currentCall();
      const done = (await call.restore<number>()) ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 60));
      await call.save(done + 1);
      if (fail.now) throw new Error('killed');
      await new Promise((resolve) => setTimeout(resolve, 60));
      return n;
    };
    await expect(cache.memoize('resumed', body)(1)).rejects.toThrow('killed');
    await cache.close();
    fail.now = false;
    cache = await open(path);
    await cache.memoize('resumed', body)(1);
    await cache.checkpoint();
    const [record] = await records(cache, 'resumed');
    // First run ~60 ms until its save, second run ~120 ms: well over what the last run alone took.
    expect(record!.computeMs).toBeGreaterThanOrEqual(170);
  });
});

describe('stored hit counts', () => {
  it('add up the hits of every process, exactly, at every close', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    await cache.memoize('f', (x: number) => x + 1)(1);
    await cache.close();
    for (let run = 0; run < 3; run++) {
      cache = await open(path);
      const f = cache.memoize('f', (x: number) => x + 1);
      for (let i = 0; i < 5; i++) expect(await f(1)).toBe(2);
      await cache.checkpoint();
      await cache.close();
    }
    cache = await open(path);
    const summaries = await moduleSummaries(cache.store);
    expect(summaries.find((summary) => summary.name === 'f')).toMatchObject({ hits: 15 });
    const [record] = await records(cache, 'f');
    expect(record).toMatchObject({ hits: 15 });
    expect(record!.lastHitAt).toBeGreaterThan(record!.createdAt - 1);
  });

  it('forget the hits of a deleted call', async () => {
    const path = join(tempDir(), 'cache');
    const cache = await open(path);
    const f = cache.memoize('f', (x: number) => x + 1);
    await f(1);
    await f(1);
    await cache.checkpoint();
    await f.delete(1);
    await f(1);
    await cache.checkpoint();
    expect((await records(cache, 'f'))[0]).toMatchObject({ hits: 0 });
  });
});

describe('a value that cannot be stored', () => {
  it('never blocks the checkpoints and close of everything else, however deep it is', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const deep = cache.memoize('deep', (depth: number) => {
      let value: unknown = 'leaf';
      for (let i = 0; i < depth; i++) value = [value];
      return value;
    });
    const plain = cache.memoize('plain', (x: number) => x * 3);
    for (const depth of [600, 10_000]) expect(await deep(depth)).toBeInstanceOf(Array);
    expect(await plain(2)).toBe(6);
    await cache.checkpoint();
    expect(cache.stats().modules['deep']?.unstorable).toBe(2);
    await cache.close();
    cache = await open(path);
    expect(await cache.memoize('plain', (x: number) => x * 3).has(2)).toBe(true);
  });

  it('is dropped from its batch when the encoder refuses it after the digest accepted it, and the rest is written', async () => {
    const path = join(tempDir(), 'cache');
    const types = new TypeRegistry();
    class Fickle {
      constructor(readonly n: number) {}
    }
    let encodes = 0;
    // Fine for the digest at the call and at the flush's mutation check, refused by the encoder after that.
    types.register({ name: 'test.Fickle', type: Fickle, encode: (f: Fickle) => (++encodes > 2 ? { n: () => f.n } : { n: f.n }), decode: (e: { n: number }) => new Fickle(e.n) });
    let cache = await open(path, { types });
    const fickle = cache.memoize('fickle', (n: number) => new Fickle(n));
    const plain = cache.memoize('plain', (x: number) => x * 3);
    expect(await fickle(1)).toBeInstanceOf(Fickle);
    expect(await plain(2)).toBe(6);
    await cache.checkpoint();
    expect(cache.stats().modules['fickle']).toMatchObject({ unstorable: 1, entries: 0 });
    await cache.close();
    cache = await open(path);
    expect(await cache.memoize('plain', (x: number) => x * 3).has(2)).toBe(true);
  });
});

describe('values changed in place before they were stored', () => {
  it('are not stored, with a MEMOSTRATA_MUTATED warning: a result changed by the caller, an argument changed by the function', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path);
    const warnings = captureWarnings();
    const make = cache.memoize('mutated.result', (n: number) => ({ n }));
    const result = await make(1);
    result.n = 99; // the caller edits the live result before the flush
    const sortsItsArgument = cache.memoize('mutated.argument', (values: number[]) => values.sort((a, b) => a - b)[0]);
    expect(await sortsItsArgument([3, 1, 2])).toBe(1);
    await cache.checkpoint();
    const said = (await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_MUTATED');
    expect(said.map((warning) => warning.message).join('\n')).toMatch(/mutated\.result[\s\S]*mutated\.argument|mutated\.argument[\s\S]*mutated\.result/);
    await cache.close();
    cache = await open(path);
    expect(await cache.memoize('mutated.result', (n: number) => ({ n })).has(1)).toBe(false);
    expect(await cache.memoize('mutated.argument', (values: number[]) => values[0]).has([3, 1, 2])).toBe(false);
  });
});

describe('memoryBudget through openCache', () => {
  it('keeps memory within the budget, reads evicted results back right, and never drops one not yet stored', async () => {
    const path = join(tempDir(), 'cache');
    const cache = await open(path, { flush: 'manual', memoryBudget: 64 * 1024 });
    let runs = 0;
    const grid = cache.memoize('grid', (n: number) => {
      runs += 1;
      return new Float64Array(1024).fill(n); // 8 KiB each
    });
    for (let n = 0; n < 100; n++) await grid(n);
    // Under 'manual', results beyond the budget forced flushes instead of piling up in memory.
    expect(cache.stats().modules['grid']!.entries).toBeLessThanOrEqual(9);
    for (let n = 0; n < 100; n++) expect((await grid(n))[0]).toBe(n);
    expect(runs).toBe(100);
  });
});

describe('closing after many hits', () => {
  it('compacts the hit counters it wrote, so the next open does not replay them', async () => {
    const path = join(tempDir(), 'cache');
    let cache = await open(path, { flush: 'manual' });
    const f = cache.memoize('f', (x: number) => x + 1);
    for (let x = 0; x < 10_000; x++) await f(x);
    await cache.close();
    cache = await open(path, { flush: 'manual' });
    const compact = vi.spyOn(cache.store.backend, 'compact');
    const again = cache.memoize('f', (x: number) => x + 1);
    for (let x = 0; x < 10_000; x++) await again(x);
    await cache.close();
    expect(compact).toHaveBeenCalledTimes(1);
    expect(Buffer.from(compact.mock.calls[0]![0]!.gte as Uint8Array).toString()).toBe('c!');
  });
});
