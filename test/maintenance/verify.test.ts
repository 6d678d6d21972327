import { cpSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openCache } from '../../src/index.js';
import { FORMAT_VERSION } from '../../src/layers/keys.js';
import { readModuleMeta } from '../../src/layers/module-meta.js';
import { listRecords, verify } from '../../src/maintenance/index.js';
import { smashMiddle, tableFiles } from '../fixtures/bit-rot.js';
import { BIT_ROT_CALLS, bitRotModule, buildBitRotStore } from '../fixtures/bit-rot-store.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { counted, fillStore, storePath, withStore } from './stores.js';

afterAll(async () => {
  await killRunningChildren();
  removeTempDirs();
});

const label = (n: number) => `result number ${n}`;

/** Every key of the store with its bytes, as text → hex. */
async function snapshot(store: Store): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for await (const [key, value] of store.backend.entries()) entries.set(Buffer.from(key).toString('utf8'), Buffer.from(value).toString('hex'));
  return entries;
}

describe('verify', () => {
  it('finds nothing wrong in a sound store', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', label);
      for (const n of [1, 2, 3]) await f(n);
      await cache.memoize('nothing', () => undefined)();
    });
    const result = await withStore(path, (store) => verify(store));
    expect(result.problems).toEqual([]);
    // format, 2 module metadata, 4 records, 3 inputs, 3 results; undefined (the last call's result) is never stored.
    expect(result.checked).toBe(1 + 2 + 4 + 3 + 3);
  });

  it('finds exactly the corrupted values and the records that use them, and fix removes only those', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', label);
      for (const n of [1, 2, 3, 4]) await f(n);
      await cache.memoize('g', (text: string) => text.length)(label(2)); // g's input is f(2)'s result
    });
    const { flipped, garbled, before } = await withStore(path, async (store) => {
      const flipped = `v!${store.values.uuidOf(label(2))}`;
      const garbled = `v!${store.values.uuidOf(label(3))}`;
      const key = (text: string) => new TextEncoder().encode(text);
      // A flipped byte inside the text: still CBOR, but not the value its UUID names.
      const bytes = Buffer.from((await store.backend.get(key(flipped)))!);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
      await store.backend.put(key(flipped), bytes);
      // Bytes that are not CBOR at all.
      await store.backend.put(key(garbled), new Uint8Array([0xff, 0xfe, 0x1c]));
      return { flipped, garbled, before: await snapshot(store) };
    });
    const records = await withStore(path, (store) => listRecords(store));
    const recordKey = (module: string, resultOrInput: string) =>
      `m!${module}!${records.find((record) => record.module === module && [record.result, ...record.inputs].includes(resultOrInput.slice(2)))!.call}`;
    const users = [recordKey('f', flipped), recordKey('f', garbled), recordKey('g', flipped)];

    const found = await withStore(path, (store) => verify(store));
    expect(found.problems.map((problem) => [problem.key, problem.kind]).sort()).toEqual(
      [
        [flipped, 'digest-mismatch'],
        [garbled, 'corrupt'],
        [users[0], 'bad-value'],
        [users[1], 'bad-value'],
        [users[2], 'bad-value'],
      ].sort(),
    );
    expect(found.removed).toEqual([]);
    expect(await withStore(path, snapshot)).toEqual(before); // without fix nothing changes

    const fixed = await withStore(path, (store) => verify(store, { fix: true }));
    expect([...fixed.removed].sort()).toEqual([flipped, garbled, ...users].sort());
    const after = await withStore(path, snapshot);
    const expected = new Map(before);
    for (const key of fixed.removed) expected.delete(key);
    // Besides the removals only the module metadata changes: it is recounted.
    const withoutMeta = (entries: Map<string, string>) => new Map([...entries].filter(([key]) => !key.startsWith('meta!module!')));
    expect(withoutMeta(after)).toEqual(withoutMeta(expected));
    expect(await withStore(path, (store) => readModuleMeta(store.serialized, 'f'))).toMatchObject({ entries: 2 });
    expect(await withStore(path, (store) => readModuleMeta(store.serialized, 'g'))).toMatchObject({ entries: 0 });
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);

    // The store works again: broken calls recompute, sound ones hit.
    const cache = await openCache({ path, handleExit: false });
    const fn = counted(label);
    const f = cache.memoize('f', fn);
    for (const n of [1, 2, 3, 4]) expect(await f(n)).toBe(label(n));
    expect(fn.calls).toBe(2);
    await cache.close();
  });

  it('reports a record that does not decode, a record that lost its value, and a record under the wrong key', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', label);
      for (const n of [1, 2, 3]) await f(n);
    });
    const keys = await withStore(path, async (store) => {
      const [one, two, three] = await listRecords(store);
      const encode = (text: string) => new TextEncoder().encode(text);
      const broken = `m!f!${one!.call}`;
      await store.backend.put(encode(broken), new Uint8Array([0x9f]));
      const orphan = `m!f!${two!.call}`;
      await store.backend.delete(encode(`v!${two!.result}`));
      const moved = `m!other!${three!.call}`;
      await store.backend.put(encode(moved), (await store.backend.get(encode(`m!f!${three!.call}`)))!);
      return { broken, orphan, moved };
    });
    const found = await withStore(path, (store) => verify(store, { fix: true }));
    expect(found.problems.map((problem) => [problem.key, problem.kind]).sort()).toEqual(
      [
        [keys.broken, 'corrupt'],
        [keys.orphan, 'missing-value'],
        [keys.moved, 'bad-record'],
      ].sort(),
    );
    expect([...found.removed].sort()).toEqual([keys.broken, keys.orphan, keys.moved].sort());
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });
});

describe('verify reports what is not part of a sound store', () => {
  const encode = (text: string) => new TextEncoder().encode(text);

  it('reports a format version that is not this one, and a missing one, as format problems --fix leaves alone', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      await cache.memoize('f', label)(1);
    });
    await withStore(path, async (store) => {
      await store.serialized.put(encode('meta!format'), 99);
      const wrong = await verify(store, { fix: true });
      expect(wrong.problems).toEqual([{ key: 'meta!format', kind: 'format', message: `is 99, not ${FORMAT_VERSION}`, fixable: false }]);
      expect(wrong.removed).toEqual([]);

      await store.backend.delete(encode('meta!format'));
      const missing = await verify(store);
      expect(missing.problems).toEqual([{ key: 'meta!format', kind: 'format', message: 'is missing: the store has no format version', fixable: false }]);
      await store.serialized.put(encode('meta!format'), FORMAT_VERSION);
    });
  });

  it('reports keys outside the layout; --fix removes damaged keys under its prefixes and leaves foreign ones', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      await cache.memoize('f', label)(1);
    });
    const found = await withStore(path, async (store) => {
      await store.backend.put(encode('zz!foreign'), new Uint8Array([1]));
      await store.backend.put(encode('v!not-a-uuid'), new Uint8Array([2]));
      // A flipped bit can leave a key that is not UTF-8: --fix must delete its bytes, not its text's.
      await store.backend.put(Uint8Array.from([...encode('m!f!0123'), 0xff]), new Uint8Array([3]));
      // A flipped bit in the prefix of a value key ('v' is 0x76, 'w' 0x77): one of ours all the same.
      await store.backend.put(encode(`w!${'0'.repeat(8)}-0000-5000-8000-${'0'.repeat(12)}`), new Uint8Array([4]));
      // Module metadata under a damaged name (seen in the bit-rot test: a module's key with the tail of another key).
      await store.backend.put(encode('meta!module!f!7c5892bd49'), new Uint8Array([5]));
      return verify(store, { fix: true });
    });
    const flipped = `w!${'0'.repeat(8)}-0000-5000-8000-${'0'.repeat(12)}`;
    expect(found.problems.map(({ key, kind, fixable }) => ({ key, kind, fixable }))).toEqual([
      { key: 'm!f!0123\uFFFD', kind: 'unknown-key', fixable: true },
      { key: 'meta!module!f!7c5892bd49', kind: 'unknown-key', fixable: true },
      { key: 'v!not-a-uuid', kind: 'unknown-key', fixable: true },
      { key: flipped, kind: 'unknown-key', fixable: true },
      { key: 'zz!foreign', kind: 'unknown-key', fixable: false },
    ]);
    expect([...found.removed].sort()).toEqual(['m!f!0123\uFFFD', 'meta!module!f!7c5892bd49', 'v!not-a-uuid', flipped].sort());
    const after = await withStore(path, (store) => verify(store));
    expect(after.problems.map(({ key, kind }) => ({ key, kind }))).toEqual([{ key: 'zz!foreign', kind: 'unknown-key' }]);
  });
});

describe('verify --fix and the format version', () => {
  it('gives the store its format version back when the salvage lost it with a damaged block, so the store still opens', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', label);
      for (const n of [1, 2]) await f(n);
    });
    const fixed = await withStore(path, async (store) => {
      await store.backend.put(new TextEncoder().encode('v!broken'), new Uint8Array([1])); // something to fix: a salvage runs
      const repair = store.backend.repair!.bind(store.backend);
      // What a salvage does when the block holding `meta!format` does not read (seen in the bit-rot test).
      store.backend.repair = async () => {
        await repair();
        await store.backend.delete(new TextEncoder().encode('meta!format'));
      };
      return verify(store, { fix: true });
    });
    expect(fixed.repaired).toBe(true);
    expect(fixed.problems.map(({ kind }) => kind)).toEqual(['unknown-key']);
    const cache = await openCache({ path, handleExit: false, flush: 'manual' });
    const f = counted(label);
    expect(await cache.memoize('f', f)(2)).toBe(label(2));
    expect(f.calls).toBe(0);
    await cache.close();
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });
});

describe('verify on keys the store gives out of order', () => {
  const encode = (text: string) => new TextEncoder().encode(text);

  /**
   * Makes the store give `damaged` right after the first `v!` key instead of
   * at its place in key order: what LevelDB gives when the shared-prefix
   * length of a key in a table block is damaged (seen in the bit-rot test:
   * `v!…63fe2-3a83-…` read as `v63fe2-3a83-…`).
   */
  function giveOutOfOrder(store: Store, damaged: Uint8Array): void {
    const entries = store.backend.entries.bind(store.backend);
    store.backend.entries = async function* (range) {
      let moved: [Uint8Array, Uint8Array] | undefined;
      const all: [Uint8Array, Uint8Array][] = [];
      for await (const entry of entries(range)) {
        if (Buffer.from(entry[0]).equals(damaged)) moved = entry;
        else all.push(entry);
      }
      const at = all.findIndex(([key]) => Buffer.from(key).toString('latin1').startsWith('v!'));
      if (moved !== undefined) all.splice(at + 1, 0, moved);
      yield* all;
    };
  }

  it('takes an unknown key given out of order for a damaged one of its own, and --fix removes it', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', label);
      for (const n of [1, 2, 3]) await f(n);
    });
    const damaged = 'v63fe2-3a83-5914-a6a4-ace0c04cdd6f';
    const found = await withStore(path, async (store) => {
      await store.backend.put(encode(damaged), new Uint8Array([0xa1]));
      await store.backend.put(encode('zz!foreign'), new Uint8Array([1]));
      // In order, it looks like any foreign key: left alone.
      const inOrder = await verify(store);
      expect(inOrder.problems.filter(({ kind }) => kind === 'unknown-key').map(({ key, fixable }) => ({ key, fixable }))).toEqual([
        { key: damaged, fixable: false },
        { key: 'zz!foreign', fixable: false },
      ]);
      giveOutOfOrder(store, encode(damaged));
      return verify(store, { fix: true });
    });
    expect(found.problems.filter(({ kind }) => kind === 'unknown-key')).toEqual([
      { key: damaged, kind: 'unknown-key', message: 'is a malformed key of the store layout (damaged)', fixable: true },
      { key: 'zz!foreign', kind: 'unknown-key', message: 'is not a key of the memostrata store layout', fixable: false },
    ]);
    expect(found.problems.some(({ kind, message }) => kind === 'unreadable' && /out of order/.test(message))).toBe(true);
    expect(found.removed).toContain(damaged);
    const after = await withStore(path, (store) => verify(store));
    expect(after.problems.map(({ key }) => key)).toEqual(['zz!foreign']);
  });

  it('takes an unknown key that sorts before the key given ahead of it for a damaged one too', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      await cache.memoize('f', label)(1);
    });
    // Sorts before every `v!` key, given after the first of them.
    const damaged = 'a3fe2-3a83-5914';
    const found = await withStore(path, async (store) => {
      await store.backend.put(encode(damaged), new Uint8Array([0xa1]));
      giveOutOfOrder(store, encode(damaged));
      return verify(store, { fix: true });
    });
    expect(found.problems.filter(({ kind }) => kind === 'unknown-key').map(({ key, fixable }) => ({ key, fixable }))).toEqual([{ key: damaged, fixable: true }]);
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });
});

describe('verify on a store with bit rot in its LevelDB table files', () => {
  let pristine: string;
  beforeAll(async () => {
    pristine = storePath();
    await buildBitRotStore(pristine);
    expect(tableFiles(pristine).length).toBeGreaterThan(0);
  });

  it('reports an unreadable block, salvages the rest with --fix, and every call is then right', async () => {
    const path = storePath();
    cpSync(pristine, path, { recursive: true });
    smashMiddle(path, 8192); // more than a block: at least one whole block, its trailer included, is zeroed

    const found = await withStore(path, (store) => verify(store));
    expect(found.problems.map((problem) => problem.kind)).toContain('unreadable');
    const unreadable = found.problems.find((problem) => problem.kind === 'unreadable')!;
    expect(unreadable).toMatchObject({ fixable: true, message: expect.stringMatching(/cannot be read \(.*Corruption/) });
    expect(found.checked).toBeGreaterThan(BIT_ROT_CALLS);

    const fixed = await withStore(path, (store) => verify(store, { fix: true }));
    expect(fixed.repaired).toBe(true);
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);

    const cache = await openCache({ path, handleExit: false, flush: 'manual' });
    const fn = counted(bitRotModule.fn);
    const f = cache.memoize(bitRotModule.name, fn);
    for (let n = 0; n < BIT_ROT_CALLS; n += 1) expect(await f(n)).toEqual(bitRotModule.fn(n));
    // The lost block's calls recompute; the rest hit.
    expect(fn.calls).toBeGreaterThan(0);
    expect(fn.calls).toBeLessThan(BIT_ROT_CALLS / 10);
    await cache.close();
  });

  it('serves no wrong value after verify --fix, over several seeds of flipped bits', async () => {
    const seeds = [1, 2, 3, 4, 5, 6];
    const rounds: { seed: number; outcome: Record<string, unknown> }[] = [];
    // Two at a time (two cores); each in a child, since some damage makes LevelDB abort its process.
    for (let start = 0; start < seeds.length; start += 2) {
      rounds.push(
        ...(await Promise.all(
          seeds.slice(start, start + 2).map(async (seed) => {
            const child = spawnTsChild(fixturePath('bit-rot-round.ts'), [pristine, storePath(), String(seed)]);
            const exit = await child.exited;
            expect({ seed, exit, stderr: child.stderr() }).toEqual({ seed, exit: { code: 0, signal: null }, stderr: '' });
            return { seed, outcome: JSON.parse(child.lines.at(-1)!) as Record<string, unknown> };
          }),
        )),
      );
    }
    for (const { seed, outcome } of rounds) {
      // Flipped bits in LevelDB's own key encoding (a key's shared-prefix length, its sequence number) can leave keys
      // that no rule can tell from foreign ones, or that a delete does not shadow: nothing reads them, and verify
      // keeps reporting them. Everything else --fix must have fixed.
      const left = (outcome.afterFixProblems as { kind: string }[]).filter(({ kind }) => kind !== 'unknown-key');
      expect({ seed, wrong: outcome.wrong, failed: outcome.failed, afterFix: left }).toEqual({ seed, wrong: 0, failed: 0, afterFix: [] });
    }
    // Two flipped bits per table file are found nearly always; all six seeds finding nothing would mean verify sees nothing.
    expect(rounds.some(({ outcome }) => (outcome.found as string[]).length > 0)).toBe(true);
  });

  it('serves no wrong value from a rotted store even before any verify: damaged calls recompute', async () => {
    const seeds = [11, 12, 13, 14, 15, 16];
    const outcomes: { seed: number; exit: { code: number | null; signal: NodeJS.Signals | null }; outcome?: Record<string, unknown> }[] = [];
    for (let start = 0; start < seeds.length; start += 2) {
      outcomes.push(
        ...(await Promise.all(
          seeds.slice(start, start + 2).map(async (seed) => {
            const child = spawnTsChild(fixturePath('bit-rot-round.ts'), [pristine, storePath(), String(seed), 'serve']);
            const exit = await child.exited;
            const last = child.lines.at(-1);
            return { seed, exit, ...(exit.code === 0 && last !== undefined ? { outcome: JSON.parse(last) as Record<string, unknown> } : {}) };
          }),
        )),
      );
    }
    // Some damage makes LevelDB itself abort the process (an assertion in its table reader): that serves nothing wrong either.
    const served = outcomes.filter((round) => round.outcome !== undefined);
    expect(served.length).toBeGreaterThan(0);
    for (const { seed, outcome } of served) expect({ seed, wrong: outcome!.wrong }).toEqual({ seed, wrong: 0 });
    // The checks saw damage in some seed and recomputed instead of serving it.
    expect(served.some(({ outcome }) => (outcome!.corrupt as number) > 0)).toBe(true);
  });
});
