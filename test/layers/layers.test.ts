import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { BatchOperation } from '../../src/contract/database.js';
import { digestToHex, loadDigester } from '../../src/layers/digest.js';
import { keyText, memoKey, prefixRange } from '../../src/layers/keys.js';
import { ENTRY_BYTES, type NewEntry, type PerModuleObjectDatabase } from '../../src/layers/per-module-object-database.js';
import type { MemoRecord } from '../../src/layers/proxy-object-database.js';
import { UUIDDatabase } from '../../src/layers/uuid-database.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { stackOn } from './stack.js';

afterAll(removeTempDirs);

const digester = await loadDigester();

/** A new call of `module` with `args` and `result`, as the Cache would store it. */
function newEntry(module: string, args: unknown[], result: unknown, size = 8): NewEntry {
  const inputs = args.map((arg, index) => ({ uuid: UUIDDatabase.uuidOfDigest(digester.digest(arg, `args[${index}]`)), value: arg }));
  const resultUuid = UUIDDatabase.uuidOfDigest(digester.digest(result, 'result'));
  const call = digestToHex(digester.digestParts([new TextEncoder().encode(module), ...inputs.map((input) => new TextEncoder().encode(input.uuid))]));
  const record: MemoRecord = {
    module,
    version: '1',
    deps: '',
    call,
    inputs: inputs.map((input) => input.uuid),
    result: resultUuid,
    createdAt: Date.now(),
    computeMs: 5,
    size,
    hits: 0,
    lastHitAt: 0,
  };
  return { record, result, values: [...inputs, { uuid: resultUuid, value: result }] };
}

/** Keeps a new entry in memory under its call digest, as its in-memory key. */
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function keep(db: PerModuleObjectDatabase, entry: NewEntry): void {
  db.store(entry.record.call, entry);
}

async function keysWithPrefix(db: { keys: MemoryBackend['keys'] }, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of db.keys(prefixRange(prefix))) keys.push(keyText(key));
  return keys;
}

/** Bytes of the files under `dir`, its blob files included. */
function directoryBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
}

describe('UUIDDatabase', () => {
  it('gives equal values one name-based UUID, the same in every process', async () => {
    const { values } = await stackOn(new MemoryBackend());
    const first = values.uuidOf({ b: [1, 2], a: new Float64Array([0.5]) });
    const second = values.uuidOf({ a: new Float64Array([0.5]), b: [1, 2] });
    expect(first).toBe(second);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(values.uuidOf({ a: new Float32Array([0.5]), b: [1, 2] })).not.toBe(first);
    await values.close();
  });

  it('stores an equal value once however often it is interned', async () => {
    const backend = new MemoryBackend();
    const { values } = await stackOn(backend);
    const uuid = await values.intern({ energy: -76.02, basis: 'sto-3g' });
    const sizeAfterFirst = backend.size;
    expect(await values.intern({ basis: 'sto-3g', energy: -76.02 })).toBe(uuid);
    expect(backend.size).toBe(sizeAfterFirst);
    expect(await values.load(uuid)).toEqual({ energy: -76.02, basis: 'sto-3g' });
    await values.close();
  });

  it('loads undefined without storing it, and tells a missing value apart', async () => {
    const backend = new MemoryBackend();
    const { values } = await stackOn(backend);
    const uuid = await values.intern(undefined);
    expect(backend.size).toBe(0);
    await expect(values.load(uuid)).resolves.toBeUndefined();
    await expect(values.load(values.uuidOf('never stored'))).rejects.toMatchObject({ code: 'CORRUPT' });
    await values.close();
  });

  it('rejects an unserializable value naming its path and writes nothing', async () => {
    const backend = new MemoryBackend();
    const { values } = await stackOn(backend);
    await expect(values.intern({ mesh: { nodes: () => 1 } }, 'args[1]')).rejects.toMatchObject({
      code: 'UNSERIALIZABLE',
      message: expect.stringContaining('args[1].mesh.nodes'),
    });
    expect(backend.size).toBe(0);
    await values.close();
  });

  it('stores an 8 MB Float64Array once when three modules use it', async () => {
    const dir = join(tempDir(), 'store');
    const backend = await LevelBackend.open(dir, { compression: false });
    const stack = await stackOn(backend);
    const big = new Float64Array(1 << 20).map((_, index) => Math.sin(index) * 1e6 + index);
    await backend.compact();
    const before = directoryBytes(dir);
    for (const [index, name] of ['mesh.a', 'mesh.b', 'mesh.c'].entries()) {
      const db = stack.module(name);
      // The same array (an equal copy, the third time): argument of one module, result of another, second argument of a third.
      const entry = index === 0 ? newEntry(name, [big], 1) : index === 1 ? newEntry(name, [index], big) : newEntry(name, ['x', big.slice()], 2);
      db.store(entry.record.call, entry);
      await db.flush();
    }
    await backend.compact();
    const grown = directoryBytes(dir) - before;
    expect(grown).toBeGreaterThan(big.byteLength * 0.9);
    expect(grown).toBeLessThan(big.byteLength * 1.2);
    // big, 1 (a result and an argument), 'x' and 2.
    expect((await keysWithPrefix(stack.serialized, 'v!')).length).toBe(4);
    await stack.proxy.close();
  });
});

describe('PerModuleObjectDatabase', () => {
  it('reads through to the store on a miss, as a restarted process does', async () => {
    const dir = join(tempDir(), 'store');
    const first = await stackOn(await LevelBackend.open(dir));
    const db = first.module('scf.energy');
    const entry = newEntry('scf.energy', [{ atoms: ['O', 'H', 'H'] }, 'sto-3g'], new Float64Array([1, 2, 3]));
    db.store(entry.record.call, entry);
    await db.flush();
    await first.proxy.close();

    const second = await stackOn(await LevelBackend.open(dir));
    const restarted = second.module('scf.energy');
    expect(restarted.peek(entry.record.call)).toBeUndefined();
    const found = await restarted.lookup(entry.record.call, entry.record.call);
    expect(found?.result).toEqual(new Float64Array([1, 2, 3]));
    expect(restarted.peek(entry.record.call)?.result).toBe(found?.result);
    const { inputs, result } = await second.proxy.unproxy(found!.record);
    expect(inputs).toEqual([{ atoms: ['O', 'H', 'H'] }, 'sto-3g']);
    expect(result).toEqual(new Float64Array([1, 2, 3]));
    await second.proxy.close();
  });

  it('writes every dirty entry in one batch and then nothing until something changes', async () => {
    const backend = new MemoryBackend();
    const batches: number[] = [];
    const batch = backend.batch.bind(backend);
    backend.batch = async (operations, options) => {
      batches.push(operations.length);
      return batch(operations, options);
    };
    const stack = await stackOn(backend);
    const db = stack.module('m');
    for (let index = 0; index < 5; index += 1) keep(db, newEntry('m', [index], index * 10));
    expect(db.dirtyCount).toBe(5);
    await db.flush();
    // Arguments 0..4 and results 0..40: the 0 they share is stored once. 9 values, 5 records, the module's metadata.
    expect(batches).toEqual([15]);
    expect(db.dirtyCount).toBe(0);
    await db.flush();
    expect(batches).toEqual([15]);
    await stack.proxy.close();
  });

  it('keeps a failed flush out of the store and its entries dirty', async () => {
    const backend = new MemoryBackend();
    const stack = await stackOn(backend);
    await stack.serialized.put(new TextEncoder().encode('meta!marker'), 1);
    const db = stack.module('m');
    for (let index = 0; index < 3; index += 1) keep(db, newEntry('m', [index], `result ${index}`));
    const batch = backend.batch.bind(backend);
    backend.batch = async () => {
      throw new Error('disk full');
    };
    await expect(db.flush()).rejects.toThrow('disk full');
    expect(backend.size).toBe(1);
    expect(db.dirtyCount).toBe(3);
    backend.batch = batch;
    await db.flush();
    expect(db.dirtyCount).toBe(0);
    expect(await keysWithPrefix(stack.serialized, 'm!m!')).toHaveLength(3);
    await stack.proxy.close();
  });

  it('writes hits to the call’s counter key with the next flush, never rewriting the record', async () => {
    const stack = await stackOn(new MemoryBackend());
    const db = stack.module('m');
    const entry = newEntry('m', [1], 2);
    db.store(entry.record.call, entry);
    await db.flush();
    const recordBytes = await stack.serialized.get(memoKey('m', entry.record.call));
    db.countHit(db.peek(entry.record.call)!);
    db.countHit(db.peek(entry.record.call)!);
    expect(db.dirtyCount).toBe(0);
    await db.flush();
    expect(await stack.serialized.get(memoKey('m', entry.record.call))).toEqual(recordBytes);
    const [listed] = await collect(stack.proxy.records('m'));
    expect(listed).toMatchObject({ hits: 2 });
    expect(listed!.lastHitAt).toBeGreaterThan(0);
    await stack.proxy.close();
  });

  it('adds the hits of every reader of a store, exactly, at every flush', async () => {
    const stack = await stackOn(new MemoryBackend());
    const writer = stack.module('m');
    const entry = newEntry('m', [1], 2);
    keep(writer, entry);
    await writer.flush();
    const call = entry.record.call;
    for (const hits of [5, 5, 5]) {
      // A restarted reader each time: it reads the entry through and serves hits.
      const reader = stack.module('m');
      reader.countHit((await reader.lookup(call, call))!);
      for (let i = 1; i < hits; i++) reader.countHit(reader.peek(call)!);
      await reader.flush();
    }
    const [listed] = await collect(stack.proxy.records('m'));
    expect(listed?.hits).toBe(15);
    await stack.proxy.close();
  });

  it('keeps the hits of an entry evicted before they were written', async () => {
    const stack = await stackOn(new MemoryBackend());
    const db = stack.module('m', { memoryBudget: 1 });
    const first = newEntry('m', [1], 2);
    const second = newEntry('m', [2], 3);
    keep(db, first);
    await db.flush();
    const call = first.record.call;
    db.countHit((await db.lookup(call, call))!);
    db.countHit((await db.lookup(call, call))!);
    keep(db, second); // pushes the first entry out of memory before its hits were written
    await db.flush();
    const listed = await collect(stack.proxy.records('m'));
    expect(listed.find((record) => record.call === call)?.hits).toBe(2);
    await stack.proxy.close();
  });

  it('evicts stored entries beyond the memory budget, least recently used first, and reads them back', async () => {
    const stack = await stackOn(new MemoryBackend());
    // Room for three entries of 1,000-byte results with their bookkeeping.
    const db = stack.module('m', { memoryBudget: 3 * (1000 + ENTRY_BYTES) });
    const entries = Array.from({ length: 10 }, (_, index) => newEntry('m', [index], new Float64Array(100).fill(index), 1000));
    for (const entry of entries) db.store(entry.record.call, entry);
    // Dirty entries are never dropped: they are not in the store yet.
    expect(db.size).toBe(10);
    await db.flush();
    expect(db.size).toBe(3);
    expect(db.peek(entries[9]!.record.call)).toBeDefined();
    expect(db.peek(entries[0]!.record.call)).toBeUndefined();
    const readBack = await db.lookup(entries[0]!.record.call, entries[0]!.record.call);
    expect(readBack?.result).toEqual(new Float64Array(100).fill(0));
    expect(db.size).toBeLessThanOrEqual(3);
    await stack.proxy.close();
  });

  it('dumps: writes every dirty entry down and releases the memory, reading back on demand', async () => {
    const stack = await stackOn(new MemoryBackend());
    const db = stack.module('m');
    const entries = [newEntry('m', [1], 'one'), newEntry('m', [2], 'two')];
    for (const entry of entries) keep(db, entry);
    await db.dump();
    expect(db.size).toBe(0);
    expect(db.dirtyCount).toBe(0);
    expect((await db.lookup(entries[1]!.record.call, entries[1]!.record.call))?.result).toBe('two');
    await stack.proxy.close();
  });

  it('never evicts an entry the store does not have yet, even when a read-through overflows the budget', async () => {
    const stack = await stackOn(new MemoryBackend());
    const stored = newEntry('m', ['stored'], new Float64Array(100).fill(-1), 1000);
    const writer = stack.module('m');
    keep(writer, stored);
    await writer.flush();
    const db = stack.module('m', { memoryBudget: 1500 });
    const fresh = [1, 2].map((index) => newEntry('m', [index], new Float64Array(100).fill(index), 1000));
    for (const entry of fresh) keep(db, entry);
    // Reading the stored entry back pushes the held results over the budget and makes the module evict.
    expect((await db.lookup(stored.record.call, stored.record.call))?.result).toEqual(new Float64Array(100).fill(-1));
    // The two new entries; the stored one it evicted had only a hit, which is a counter, not an unwritten result.
    expect(db.dirtyCount).toBe(2);
    await db.flush();
    const reader = stack.module('m');
    for (const [index, entry] of fresh.entries()) {
      expect((await reader.lookup(entry.record.call, entry.record.call))?.result).toEqual(new Float64Array(100).fill(index + 1));
    }
    await stack.proxy.close();
  });

  it('does not store an entry whose result was changed in place after the call, and warns', async () => {
    const backend = new MemoryBackend();
    const stack = await stackOn(backend);
    const db = stack.module('m');
    const result = { energy: 1 };
    keep(db, newEntry('m', [1], result));
    result.energy = 2;
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      await db.flush();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.some((message) => message.includes("module 'm'"))).toBe(true);
    expect(db.size).toBe(0);
    expect(await keysWithPrefix(stack.serialized, 'v!')).toEqual([]);
    await stack.proxy.close();
  });

  it('does not bring back a call deleted while a read-through of it was under way', async () => {
    const stack = await stackOn(new MemoryBackend());
    const entry = newEntry('m', [1], 'one');
    const writer = stack.module('m');
    keep(writer, entry);
    await writer.flush();
    const db = stack.module('m');
    const reading = db.lookup(entry.record.call, entry.record.call);
    await db.deleteCall(entry.record.call, entry.record.call);
    expect((await reading)?.result).toBe('one');
    expect(db.size).toBe(0);
    expect(await db.contains(entry.record.call, entry.record.call)).toBe(false);
    await stack.proxy.close();
  });

  it('deletes one call, and clears only its own module', async () => {
    const stack = await stackOn(new MemoryBackend());
    const a = stack.module('a');
    const b = stack.module('b');
    const one = newEntry('a', [1], 1);
    a.store(one.record.call, one);
    keep(a, newEntry('a', [2], 2));
    keep(b, newEntry('b', [1], 1));
    await a.flush();
    await b.flush();
    await a.deleteCall(one.record.call, one.record.call);
    expect(await a.contains(one.record.call, one.record.call)).toBe(false);
    expect(await keysWithPrefix(stack.serialized, 'm!a!')).toHaveLength(1);
    await a.clear();
    expect(await keysWithPrefix(stack.serialized, 'm!a!')).toHaveLength(0);
    expect(await keysWithPrefix(stack.serialized, 'm!b!')).toHaveLength(1);
    await stack.proxy.close();
  });
});

describe('ProxyObjectDatabase', () => {
  it('lists a module’s records and refuses a record that is not one', async () => {
    const stack = await stackOn(new MemoryBackend());
    const db = stack.module('list.me');
    keep(db, newEntry('list.me', ['x'], 1));
    keep(db, newEntry('list.me', ['y'], 2));
    await db.flush();
    const listed: MemoRecord[] = [];
    for await (const record of stack.proxy.records('list.me')) listed.push(record);
    expect(listed.map((record) => record.module)).toEqual(['list.me', 'list.me']);
    const operations: BatchOperation<Uint8Array, unknown>[] = [{ type: 'put', key: new TextEncoder().encode('m!list.me!ffff'), value: { not: 'a record' } }];
    await stack.proxy.batch(operations);
    await expect(stack.proxy.lookup('list.me', 'ffff')).rejects.toMatchObject({ code: 'CORRUPT' });
    await stack.proxy.close();
  });
});

describe('PerModuleObjectDatabase at scale', () => {
  it('writes the hits of 200k distinct calls in one flush', async () => {
    const stack = await stackOn(new MemoryBackend());
    const db = stack.module('m');
    const calls: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const entry = newEntry('m', [i], i);
      keep(db, entry);
      calls.push(entry.record.call);
    }
    await db.flush();
    for (const call of calls) db.countHit(db.peek(call)!);
    await db.flush();
    let counted = 0;
    for await (const _ of stack.serialized.keys(prefixRange('c!m!'))) counted += 1;
    expect(counted).toBe(calls.length);
    await stack.proxy.close();
  });
});
