import { afterAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { resolveCacheOptions } from '../../src/cache/config.js';
import { EXPLAIN_SCAN_LIMIT } from '../../src/index.js';
import { openedCaches } from '../helpers/open-caches.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

describe('f.explain(...args)', () => {
  const open = openedCaches();

  it('says hit for a stored call and computes nothing', async () => {
    const cache = await open();
    const run = vi.fn((a: number, b: string) => `${a}${b}`);
    const f = cache.memoize('explain.hit', run);
    await f(1, 'x');
    const explanation = await f.explain(1, 'x');
    expect(explanation).toMatchObject({ hit: true, nearest: undefined });
    expect(run).toHaveBeenCalledTimes(1);
    expect(cache.stats().modules['explain.hit']).toMatchObject({ hits: 0, misses: 1 });
  });

  it('names the differing argument position, with both small values', async () => {
    const cache = await open();
    const f = cache.memoize('explain.arg', (molecule: { atoms: string[] }, basis: string, scale: number) => molecule.atoms.length * scale + basis.length);
    await f({ atoms: ['O', 'H', 'H'] }, 'sto-3g', 2);
    await cache.checkpoint();
    const explanation = await f.explain({ atoms: ['O', 'H', 'H'] }, '6-31g', 2);
    expect(explanation.hit).toBe(false);
    expect(explanation.nearest?.differences).toEqual([{ kind: 'argument', position: 1, detail: 'now "6-31g", stored "sto-3g"' }]);
    expect(explanation.reason).toContain('argument 1');
  });

  it('picks the stored call with the fewest differences', async () => {
    const cache = await open();
    const f = cache.memoize('explain.nearest', (a: number, b: number, c: number) => a + b + c);
    await f(1, 2, 3);
    await f(7, 8, 9);
    await f(1, 8, 9);
    const explanation = await f.explain(7, 8, 3);
    // (7, 8, 9) differs at 2 only; (1, 8, 9) at 0 and 2; (1, 2, 3) at 0 and 1.
    expect(explanation.nearest?.differences.map((d) => d.position)).toEqual([2]);
  });

  it('does not count ignored positions', async () => {
    const cache = await open();
    const f = cache.memoize('explain.ignore', (a: number, _log: string, b: number) => a + b, { ignore: [1] });
    await f(1, 'quiet', 2);
    expect((await f.explain(1, 'loud', 2)).hit).toBe(true);
    const explanation = await f.explain(1, 'loud', 3);
    expect(explanation.nearest?.differences).toEqual([expect.objectContaining({ kind: 'argument', position: 2 })]);
  });

  it('reports a version change as version, and a code change under version auto as code', async () => {
    const path = join(tempDir(), 'store');
    let cache = await open(path);
    await cache.memoize('explain.version', (a: number) => a, { version: 1 })(5);
    await cache.memoize('explain.code', (a: number) => a + 1, { version: 'auto' })(5);
    await cache.close();
    cache = await open(path);
    const v2 = cache.memoize('explain.version', (a: number) => a, { version: 2 });
    expect((await v2.explain(5)).nearest?.differences).toEqual([{ kind: 'version', detail: 'stored "1", now "2"' }]);
    const edited = cache.memoize('explain.code', (a: number) => a + 2, { version: 'auto' });
    expect((await edited.explain(5)).nearest?.differences.map((d) => d.kind)).toEqual(['code']);
  });

  it('reports a changed dependency as dependency', async () => {
    const path = join(tempDir(), 'store');
    let cache = await open(path);
    const dep1 = cache.memoize('explain.dep', (a: number) => a, { version: 1 });
    await cache.memoize('explain.user', (a: number) => a, { dependsOn: [dep1] })(3);
    await cache.close();
    cache = await open(path);
    const dep2 = cache.memoize('explain.dep', (a: number) => a, { version: 2 });
    const user = cache.memoize('explain.user', (a: number) => a, { dependsOn: [dep2] });
    expect((await user.explain(3)).nearest?.differences).toEqual([{ kind: 'dependency', detail: 'stored "explain.dep@1", now "explain.dep@2"' }]);
  });

  it('reports no nearest call when the module has none stored', async () => {
    const cache = await open();
    const f = cache.memoize('explain.empty', (a: number) => a);
    expect(await f.explain(1)).toMatchObject({ hit: false, nearest: undefined, reason: 'no call of this module is stored' });
  });

  it('compares at most EXPLAIN_SCAN_LIMIT stored calls and says when it stopped there', async () => {
    const cache = await open(undefined, { flush: 'manual' });
    const f = cache.memoize('explain.bound', (a: number, b: string) => a + b.length);
    for (let i = 0; i <= EXPLAIN_SCAN_LIMIT; i++) await f(i, `a${i}`);
    await cache.checkpoint();
    // Every stored call differs in both arguments: nothing stops the scan early.
    const explanation = await f.explain(-1, 'zz');
    expect(explanation).toMatchObject({ hit: false, scanned: EXPLAIN_SCAN_LIMIT, truncated: true });
    expect(explanation.nearest?.differences).toHaveLength(2);
    expect(explanation.reason).toContain(`compared the first ${EXPLAIN_SCAN_LIMIT.toLocaleString('en-US')} stored calls only`);
  });

  it('explains by what a key normalizer returns', async () => {
    const cache = await open();
    const f = cache.memoize('explain.key', (x: number, label: string) => `${x}${label}`, { key: (x: number) => [Math.round(x * 10) / 10] });
    await f(1.01, 'a');
    expect((await f.explain(1.04, 'b')).hit).toBe(true);
    expect((await f.explain(1.2, 'b')).nearest?.differences).toEqual([{ kind: 'argument', position: 0, detail: 'now 1.2, stored 1' }]);
  });

  it('has equal inputs never differ and different inputs always differ (property)', async () => {
    const cache = await open();
    const f = cache.memoize('explain.property', (a: unknown, b: unknown) => [a, b]);
    await f({ k: [1, 2] }, 'fixed');
    const { differencesOf, describeCall } = await import('../../src/cache/explain.js');
    await cache.checkpoint();
    const records = [];
    for await (const record of cache.store.proxy.records('explain.property')) records.push(record);
    const record = records[0]!;
    const settings = { module: 'explain.property', version: '1', deps: '', ignore: new Set<number>(), cacheErrors: false, maxAgeMs: Infinity };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const same = describeCall(cache.store, settings, 'x', [{ k: [1, 2] }, value]);
        const differences = differencesOf(record, same, Date.now());
        const equal = JSON.stringify(value) === '"fixed"';
        expect(differences.some((d) => d.position === 0)).toBe(false);
        expect(differences.some((d) => d.position === 1)).toBe(!equal);
      }),
    );
  });
});

describe('explainMisses', () => {
  const open = openedCaches();

  const capture = () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return { lines, restore: () => spy.mockRestore() };
  };

  it('prints one line per miss naming the module and what differs', async () => {
    const cache = await open(undefined, { explainMisses: true });
    const f = cache.memoize('misses.on', (a: number, b: string) => `${a}${b}`);
    const stderr = capture();
    try {
      await f(1, 'a');
      await f(1, 'a');
      await f(1, 'b');
    } finally {
      stderr.restore();
    }
    expect(stderr.lines).toHaveLength(2);
    expect(stderr.lines[0]).toBe("memostrata: miss in 'misses.on': no call of this module is stored\n");
    expect(stderr.lines[1]).toMatch(/^memostrata: miss in 'misses\.on': argument 1 \(now "b", stored "a"\) vs stored call [0-9a-f]{12}\n$/);
  });

  it('prints nothing when off', async () => {
    const cache = await open();
    const f = cache.memoize('misses.off', (a: number) => a);
    const stderr = capture();
    try {
      await f(1);
      await f(2);
    } finally {
      stderr.restore();
    }
    expect(stderr.lines).toEqual([]);
  });

  it('is turned on by MEMOSTRATA_EXPLAIN=1 unless given, and read from a config file', async () => {
    expect(resolveCacheOptions({ backend: { type: 'memory' } }, { MEMOSTRATA_EXPLAIN: '1' }).explainMisses).toBe(true);
    expect(resolveCacheOptions({ backend: { type: 'memory' }, explainMisses: false }, { MEMOSTRATA_EXPLAIN: '1' }).explainMisses).toBe(false);
    expect(resolveCacheOptions({ backend: { type: 'memory' } }, {}).explainMisses).toBe(false);
    expect(() => resolveCacheOptions({ backend: { type: 'memory' } }, { MEMOSTRATA_EXPLAIN: 'yes' })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    const { writeFileSync } = await import('node:fs');
    const file = join(tempDir(), 'config.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'memory' }, explainMisses: true }));
    expect(resolveCacheOptions({ configFile: file }, {}).explainMisses).toBe(true);
  });
});
