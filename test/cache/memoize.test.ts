import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openCache, type Cache, type CacheOptions } from '../../src/index.js';
import { readModuleMeta } from '../../src/layers/module-meta.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { captureWarnings } from '../helpers/warnings.js';

afterAll(removeTempDirs);

/** The same behaviour suite on every backend: only the options differ. */
const configurations: Record<string, () => CacheOptions> = {
  'LevelDB at a path': () => ({ path: join(tempDir(), 'cache'), handleExit: false }),
  'memory backend': () => ({ backend: { type: 'memory' }, handleExit: false }),
};

for (const [name, options] of Object.entries(configurations)) {
  describe(`memoize on ${name}`, () => {
    const caches: Cache[] = [];
    const open = async (): Promise<Cache> => {
      const cache = await openCache(options());
      caches.push(cache);
      return cache;
    };
    afterEach(async () => {
      await Promise.all(caches.splice(0).map((cache) => cache.close()));
    });

    /** A memoized function that counts how often it really ran. */
    const counted = <A extends unknown[], R>(fn: (...args: A) => R) => {
      const counter = { runs: 0 };
      const wrapped = (...args: A): R => {
        counter.runs += 1;
        return fn(...args);
      };
      return { counter, wrapped };
    };

    it('runs the function once per distinct call and hits on equal inputs', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((molecule: { atoms: string[]; coords: Float64Array }, basis: string) => ({
        energy: molecule.coords.reduce((sum, x) => sum + x, 0) + basis.length,
      }));
      const energy = cache.memoize('scf.energy', wrapped);
      const water = { atoms: ['O', 'H', 'H'], coords: new Float64Array([0, 0.1, 0.2]) };
      const first = await energy(water, 'sto-3g');
      // Equal by value, built anew and with keys in another order.
      const again = await energy({ coords: new Float64Array([0, 0.1, 0.2]), atoms: ['O', 'H', 'H'] }, 'sto-3g');
      expect(again).toEqual(first);
      expect(counter.runs).toBe(1);
      await energy(water, '6-31g');
      await energy({ ...water, coords: new Float32Array([0, 0.1, 0.2]) as unknown as Float64Array }, 'sto-3g');
      await (energy as (...args: unknown[]) => Promise<unknown>)(water, 'sto-3g', undefined);
      expect(counter.runs).toBe(4);
      expect(cache.stats().modules['scf.energy']).toMatchObject({ hits: 1, misses: 4, entries: 4 });
    });

    it('keeps 1, 1n and "1" apart, and -0 apart from 0', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((x: unknown) => String(x));
      const show = cache.memoize('show', wrapped);
      for (const value of [1, 1n, '1', 0, -0, 1, 1n, '1', 0, -0]) await show(value);
      expect(counter.runs).toBe(5);
    });

    it('accepts synchronous and asynchronous functions and always returns a Promise', async () => {
      const cache = await open();
      const sync = cache.memoize('sync', (x: number) => x + 1);
      const async = cache.memoize('async', async (x: number) => x + 2);
      const result = sync(1);
      expect(result).toBeInstanceOf(Promise);
      expect(await result).toBe(2);
      expect(await sync(1)).toBe(2);
      expect(await async(1)).toBe(3);
    });

    it('refuses one name memoized twice with other settings, so two functions never share entries', async () => {
      const cache = await open();
      cache.memoize('twice', (x: number) => x, { version: 1 });
      expect(cache.memoize('twice', (x: number) => x, { version: 1 })).toBeTypeOf('function');
      for (const other of [{ version: 2 }, { version: 1, ignore: [0] }, { version: 1, cacheErrors: true }, { version: 1, flush: 'manual' as const }]) {
        expect(() => cache.memoize('twice', (x: number) => x, other)).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('other settings') }));
      }
    });

    it('refuses an unknown memoize option, naming it and the closest valid one', async () => {
      const cache = await open();
      expect(() => cache.memoize('typo', (x: number) => x, { verison: 2 } as never)).toThrow(
        expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(/'verison'.*did you mean 'version'/) }),
      );
      expect(() => cache.memoize('typo', (x: number) => x, { cache: true } as never)).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining("'cache'") }));
      expect(() => cache.memoize('lone', (x: number) => x, { version: 'v\uDBFF' })).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('unpaired surrogate') }));
    });

    it('does not key on ignored argument positions', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((x: number, _log: (line: string) => void, _threads: number) => x * x);
      const square = cache.memoize('square', wrapped, { ignore: [1, 2] });
      expect(await square(4, () => undefined, 8)).toBe(16);
      expect(await square(4, console.log, 2)).toBe(16);
      expect(counter.runs).toBe(1);
    });

    it('runs 100 concurrent identical calls once and gives all of them the result', async () => {
      const cache = await open();
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { counter, wrapped } = counted(async (x: number) => {
        await gate;
        return new Float64Array([x, x]);
      });
      const slow = cache.memoize('slow', wrapped);
      const calls = Array.from({ length: 100 }, () => slow(7));
      release();
      const results = await Promise.all(calls);
      expect(counter.runs).toBe(1);
      for (const result of results) expect(result).toEqual(new Float64Array([7, 7]));
    });

    it('rejects every concurrent caller when the call fails, and caches nothing', async () => {
      const cache = await open();
      const { counter, wrapped } = counted(async (x: number) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new Error(`no convergence for ${x}`);
      });
      const failing = cache.memoize('failing', wrapped);
      const calls = await Promise.allSettled(Array.from({ length: 100 }, () => failing(1)));
      expect(calls.every((call) => call.status === 'rejected' && /no convergence for 1/.test(String(call.reason)))).toBe(true);
      expect(counter.runs).toBe(1);
      expect(await failing.has(1)).toBe(false);
      await expect(failing(1)).rejects.toThrow('no convergence');
      expect(counter.runs).toBe(2);
    });

    it('caches errors on request and rejects later hits with an equivalent error', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((x: number) => {
        const error = new RangeError(`bad geometry ${x}`) as RangeError & { code: string };
        error.code = 'E_GEOMETRY';
        throw error;
      });
      const strict = cache.memoize('strict', wrapped, { cacheErrors: true });
      await expect(strict(1)).rejects.toMatchObject({ name: 'RangeError', message: 'bad geometry 1', code: 'E_GEOMETRY' });
      await expect(strict(1)).rejects.toMatchObject({ name: 'RangeError', message: 'bad geometry 1', code: 'E_GEOMETRY' });
      expect(counter.runs).toBe(1);
      await cache.checkpoint();
      expect(await strict.has(1)).toBe(true);
    });

    it('gives the caller that ran a failing call its original error, class and stack included', async () => {
      const cache = await open();
      class ConvergenceError extends Error {}
      const failing = cache.memoize('failing.class', () => {
        throw new ConvergenceError('no convergence');
      }, { cacheErrors: true });
      await expect(failing()).rejects.toBeInstanceOf(ConvergenceError);
      await expect(failing()).rejects.toMatchObject({ name: 'Error', message: 'no convergence' });
    });

    it('does not let a flush under way undo a delete or a clear', async () => {
      const cache = await open();
      const f = cache.memoize('gated', (x: number) => x, { flush: 'manual' });
      await f(1);
      await f(2);
      const backend = cache.store.backend;
      const batch = backend.batch.bind(backend);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inBatch: () => void = () => undefined;
      const batchStarted = new Promise<void>((resolve) => {
        inBatch = resolve;
      });
      // Hold only the checkpoint's batch (it puts records); anything else goes straight through.
      backend.batch = async (operations, options) => {
        if (operations.some((op) => op.type === 'put')) {
          inBatch();
          await gate;
        }
        return batch(operations, options);
      };
      const checkpoint = cache.checkpoint();
      await batchStarted;
      const deleted = f.delete(1);
      const cleared = deleted.then(() => f.clear());
      // Give an unqueued delete every chance to land before the checkpoint's batch.
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      await checkpoint;
      backend.batch = batch;
      await cleared;
      expect(await f.has(1)).toBe(false);
      expect(await f.has(2)).toBe(false);
    });

    it('keeps per-module metadata: version, entries and bytes, in the same batches as the entries', async () => {
      const cache = await open();
      const f = cache.memoize('meta.counted', (x: number) => new Float64Array(100).fill(x), { version: '3', flush: 'manual' });
      const meta = () => readModuleMeta(cache.store.serialized, 'meta.counted');
      await f(1);
      await f(2);
      await f(3);
      expect(await meta()).toBeUndefined();
      await cache.checkpoint();
      expect(await meta()).toMatchObject({ module: 'meta.counted', version: '3', entries: 3, bytes: 3 * 805 });
      await f(1);
      await cache.checkpoint();
      expect(await meta()).toMatchObject({ entries: 3 });
      await f.delete(2);
      expect(await meta()).toMatchObject({ entries: 2, bytes: 2 * 805 });
      await f.clear();
      expect(await meta()).toMatchObject({ entries: 0, bytes: 0 });
    });

    it('answers has, delete and clear without computing', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((x: number) => x + 1);
      const inc = cache.memoize('inc', wrapped);
      const other = cache.memoize('other', (x: number) => x);
      expect(await inc.has(1)).toBe(false);
      await inc(1);
      await inc(2);
      await other(1);
      expect(await inc.has(1)).toBe(true);
      await inc.delete(1);
      expect(await inc.has(1)).toBe(false);
      await cache.checkpoint();
      await inc.clear();
      expect(await inc.has(2)).toBe(false);
      expect(await other.has(1)).toBe(true);
      expect(counter.runs).toBe(2);
    });

    it('rejects an unserializable argument or result naming its path, and stores nothing', async () => {
      const cache = await open();
      const { counter, wrapped } = counted((_x: unknown, y: unknown) => y);
      const echo = cache.memoize('echo', wrapped);
      await expect(echo(1, { mesh: { nodes: () => 0 } })).rejects.toMatchObject({
        name: 'MemostrataError',
        code: 'UNSERIALIZABLE',
        message: expect.stringContaining('args[1].mesh.nodes'),
      });
      expect(counter.runs).toBe(0);
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      await expect(echo(cyclic, 1)).rejects.toMatchObject({ code: 'UNSERIALIZABLE', message: expect.stringContaining('args[0]') });
      await cache.checkpoint();
      const records = [];
      for await (const record of cache.store.proxy.records()) records.push(record);
      expect(records).toEqual([]);
    });

    it('returns a result that cannot be stored, stores nothing, counts it and warns once with the path and the fix', async () => {
      const cache = await open();
      const warnings = captureWarnings();
      const { counter, wrapped } = counted((kind: string) => (kind === 'symbol' ? { tag: Symbol('x') } : new (class Opaque {})()));
      const makeResult = cache.memoize(`make.${options().backend?.type ?? 'level'}`, wrapped);
      expect(await makeResult('symbol')).toMatchObject({ tag: expect.any(Symbol) });
      expect(await makeResult('class')).toBeTypeOf('object');
      expect(await makeResult('symbol')).toMatchObject({ tag: expect.any(Symbol) });
      expect(counter.runs).toBe(3);
      await cache.checkpoint();
      expect(await makeResult.has('symbol')).toBe(false);
      expect(cache.stats().modules[makeResult.moduleName]).toMatchObject({ entries: 0, unstorable: 3 });
      const said = (await warnings.stop()).filter((warning) => warning.code === 'MEMOSTRATA_UNSTORABLE');
      expect(said).toHaveLength(1);
      expect(said[0]!.message).toMatch(/result\.tag.*registerType/);
      const records = [];
      for await (const record of cache.store.proxy.records()) records.push(record);
      expect(records).toEqual([]);
    });

    it('rejects wrong memoize options with CONFIG naming the option', async () => {
      const cache = await open();
      expect(() => cache.memoize('bad', (x: number) => x, { ignore: ['1'] as never })).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('ignore') }));
      expect(() => cache.memoize('bad', (x: number) => x, { flush: { everyMs: -1 } })).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('everyMs') }));
      expect(() => cache.memoize('bad', (x: number) => x, { dependsOn: [(x: number) => x] as never })).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('dependsOn') }));
      expect(() => cache.memoize('bad!name', (x: number) => x)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    it('adds each hit’s original compute time to savedMs', async () => {
      const cache = await open();
      const slow = cache.memoize('slow.sum', async (n: number) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return n;
      });
      await slow(1);
      await slow(1);
      await slow(1);
      const stats = cache.stats().modules['slow.sum']!;
      expect(stats).toMatchObject({ hits: 2, misses: 1 });
      expect(stats.computeMs).toBeGreaterThanOrEqual(25);
      expect(stats.savedMs).toBeCloseTo(2 * stats.computeMs, 5);
    });

    it('rejects use after close with CLOSED', async () => {
      const cache = await open();
      const fn = cache.memoize('after.close', (x: number) => x);
      await fn(1);
      await cache.close();
      await cache.close();
      expect(() => cache.memoize('late', (x: number) => x)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
      await expect(fn(1)).rejects.toMatchObject({ code: 'CLOSED', message: expect.stringContaining('The cache at') });
      await expect(fn.has(1)).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(cache.checkpoint()).rejects.toMatchObject({ code: 'CLOSED' });
    });
  });
}

describe('memoize on LevelDB across a reopen in one process', () => {
  it('hits after close and reopen, and a version bump misses', async () => {
    const path = join(tempDir(), 'cache');
    let runs = 0;
    const work = (x: number) => {
      runs += 1;
      return new Float64Array([x, x * x]);
    };
    const first = await openCache({ path, handleExit: false });
    const f = first.memoize('work', work, { version: 'a' });
    await f(2);
    await f(3);
    await first.close();
    const second = await openCache({ path, handleExit: false });
    const g = second.memoize('work', work, { version: 'a' });
    expect(await g(2)).toEqual(new Float64Array([2, 4]));
    expect(await g(3)).toEqual(new Float64Array([3, 9]));
    expect(runs).toBe(2);
    expect(second.stats().modules['work']).toMatchObject({ hits: 2, misses: 0 });
    await second.close();
    const third = await openCache({ path, handleExit: false });
    await third.memoize('work', work, { version: 'b' })(2);
    expect(runs).toBe(3);
    await third.close();
  });
});

describe('memoize on LevelDB: settings that change between runs', () => {
  const caches: Cache[] = [];
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });
  /** A new cache on the store at `path`, closing the previous one: a later run of the program. */
  const run = async (path: string): Promise<Cache> => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
    const cache = await openCache({ path, handleExit: false });
    caches.push(cache);
    return cache;
  };

  it('turns entries into misses when the version or a dependency’s version changes', async () => {
    const path = join(tempDir(), 'cache');
    let runs = 0;
    const wrapped = (x: number) => {
      runs += 1;
      return x * 2;
    };
    let cache = await run(path);
    const v1 = cache.memoize('double', wrapped, { version: 1, dependsOn: [cache.memoize('fock', (x: number) => x, { version: 1 })] });
    await v1(3);
    await v1(3);
    expect(runs).toBe(1);
    cache = await run(path);
    await cache.memoize('double', wrapped, { version: 2, dependsOn: [cache.memoize('fock', (x: number) => x, { version: 1 })] })(3);
    expect(runs).toBe(2);
    cache = await run(path);
    const fock2 = cache.memoize('fock', (x: number) => x, { version: 2 });
    const v1WithNewFock = cache.memoize('double', wrapped, { version: 1, dependsOn: [fock2] });
    await v1WithNewFock(3);
    expect(runs).toBe(3);
    expect(v1WithNewFock.fingerprint).toBe('double@1[fock@2]');
    cache = await run(path);
    await cache.memoize('double', wrapped, { version: 1, dependsOn: [cache.memoize('fock', (x: number) => x, { version: 1 })] })(3);
    expect(runs).toBe(3);
  });

  it('replays a stored error only to a module that caches errors', async () => {
    const path = join(tempDir(), 'cache');
    let fail = true;
    const flaky = (x: number) => {
      if (fail) throw new Error(`transient ${x}`);
      return x;
    };
    let cache = await run(path);
    await expect(cache.memoize('flaky', flaky, { cacheErrors: true })(1)).rejects.toThrow('transient 1');
    fail = false;
    cache = await run(path);
    expect(await cache.memoize('flaky', flaky)(1)).toBe(1);
    cache = await run(path);
    expect(await cache.memoize('flaky', flaky, { cacheErrors: true })(1)).toBe(1);
  });

  it('keys the ignored positions into the module: changing them is like a version bump', async () => {
    const path = join(tempDir(), 'cache');
    let runs = 0;
    const wrapped = (a: number, b: number) => {
      runs += 1;
      return a * 10 + b;
    };
    let cache = await run(path);
    expect(await cache.memoize('ignoring', wrapped, { ignore: [1] })(1, 2)).toBe(12);
    cache = await run(path);
    expect(await cache.memoize('ignoring', wrapped, { ignore: [0] })(5, 1)).toBe(51);
    expect(runs).toBe(2);
  });
});

describe('memoize with binary data inside Maps and Sets', () => {
  it('stores and hits a result, and keys an argument, whose Map and Set entries hold 8–16 KiB of binary data', async () => {
    // Such entries overflowed the digest's entry buffer: the call threw a RangeError.
    const path = join(tempDir(), 'cache');
    let runs = 0;
    const spectrum = (samples: Map<string, Float64Array>) => {
      runs += 1;
      return new Map([...samples].map(([name, values]) => [name, new Set([Buffer.from(values.buffer)])]));
    };
    const input = new Map([['a', new Float64Array(1500).fill(0.5)]]);
    const first = await openCache({ path, handleExit: false });
    const stored = await first.memoize('spectrum', spectrum)(input);
    await first.close();
    const second = await openCache({ path, handleExit: false });
    const f = second.memoize('spectrum', spectrum);
    expect(await f(new Map([['a', new Float64Array(1500).fill(0.5)]]))).toEqual(stored);
    expect(runs).toBe(1);
    await f(new Map([['a', new Float64Array(1500).fill(0.25)]]));
    expect(runs).toBe(2);
    await second.close();
  });
});
