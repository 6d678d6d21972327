import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { BatchOperation } from '../../src/contract/database.js';
import { SerializedDB, typesKey } from '../../src/layers/serialized-db.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { ValueCodec } from '../../src/layers/value-codec.js';
import { runDatabaseContract } from '../contract/database-contract.js';
import { strictDeepEqual } from '../helpers/supported-values.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

runDatabaseContract('SerializedDB over MemoryBackend', { open: async () => new SerializedDB(new MemoryBackend()) });

runDatabaseContract('SerializedDB over LevelBackend', { open: async () => new SerializedDB(await LevelBackend.open(join(tempDir(), 'store'))) });

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

class Molecule {
  constructor(readonly symbols: string[]) {}
}

function fullRegistry(): TypeRegistry {
  const types = new TypeRegistry();
  types.register({ name: 'geo.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: number[]) => new Point(x!, y!) });
  types.register({ name: 'chem.Molecule', type: Molecule, encode: (m: Molecule) => m.symbols, decode: (symbols: string[]) => new Molecule(symbols) });
  return types;
}

/** A MemoryBackend that records the writes it receives. */
class RecordingBackend extends MemoryBackend {
  readonly writes: { method: 'put' | 'batch' | 'delete'; keys: string[] }[] = [];
  flushes = 0;

  protected override async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.writes.push({ method: 'put', keys: [text(key)] });
    return super._put(key, value);
  }

  protected override async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<void> {
    this.writes.push({ method: 'batch', keys: operations.map((op) => text(op.key)) });
    return super._batch(operations);
  }

  protected override async _delete(key: Uint8Array): Promise<void> {
    this.writes.push({ method: 'delete', keys: [text(key)] });
    return super._delete(key);
  }

  protected override async _flush(): Promise<void> {
    this.flushes++;
  }
}

const key = (name: string): Uint8Array => new TextEncoder().encode(name);
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

const richValue = {
  numbers: [0, -0, NaN, Infinity, 1.5, 2 ** 60],
  big: [1n, -(2n ** 100n)],
  strings: ['', 'ü', '\uD800'],
  map: new Map<unknown, unknown>([['a', 1], [{ k: 1 }, new Set([new Date(7)])]]),
  binary: { floats: new Float64Array([1, -0]), buffer: Buffer.from('hi'), view: new DataView(new ArrayBuffer(2)), raw: new ArrayBuffer(3), big64: new BigInt64Array([-5n]) },
  nothing: [null, undefined],
};

describe('SerializedDB', () => {
  const opened: SerializedDB[] = [];
  const track = (db: SerializedDB): SerializedDB => {
    opened.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  it('round-trips values through put, get, getMany, entries and batch', async () => {
    const db = track(new SerializedDB(new MemoryBackend()));
    await db.put(key('a'), richValue);
    await db.batch([
      { type: 'put', key: key('b'), value: new Map([['m', 1]]) },
      { type: 'put', key: key('c'), value: 1n },
    ]);
    expect(strictDeepEqual(await db.get(key('a')), richValue)).toBe(true);
    const many = await db.getMany([key('c'), key('missing'), key('b')]);
    expect(many[0]).toBe(1n);
    expect(many[1]).toBeUndefined();
    expect(many[2]).toBeInstanceOf(Map);
    const entries: [string, unknown][] = [];
    for await (const [k, v] of db.entries()) entries.push([text(k), v]);
    expect(entries.map(([k]) => k)).toEqual(['a', 'b', 'c']);
    expect(strictDeepEqual(entries[0]![1], richValue)).toBe(true);
    const keys: string[] = [];
    for await (const k of db.keys({ gte: key('b') })) keys.push(text(k));
    expect(keys).toEqual(['b', 'c']);
  });

  it('stores values as CBOR bytes in the layer below', async () => {
    const below = new MemoryBackend();
    const db = track(new SerializedDB(below));
    await db.put(key('k'), { a: [1, 'x'] });
    const bytes = await below.get(key('k'));
    expect(new ValueCodec().decode(bytes!)).toEqual({ a: [1, 'x'] });
    expect(Buffer.from(bytes!).toString('hex')).toBe('a1616182016178');
  });

  it('rejects an unserializable value with its path, and a batch holding one writes nothing', async () => {
    const below = new RecordingBackend();
    const db = track(new SerializedDB(below));
    await db.put(key('keep'), 1);
    await expect(db.put(key('x'), { mesh: { nodes: () => 1 } })).rejects.toMatchObject({ code: 'UNSERIALIZABLE', message: expect.stringContaining('value.mesh.nodes') });
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    await expect(
      db.batch([
        { type: 'del', key: key('keep') },
        { type: 'put', key: key('y'), value: 2 },
        { type: 'put', key: key('z'), value: { ok: 1, bad: cyclic } },
      ]),
    ).rejects.toMatchObject({ code: 'UNSERIALIZABLE', message: expect.stringContaining('batch[2].value.bad[0]') });
    expect(below.writes).toEqual([{ method: 'put', keys: ['keep'] }]);
    expect(await db.get(key('keep'))).toBe(1);
    expect(await db.has(key('y'))).toBe(false);
  });

  it('rejects undefined as a value, like every database', async () => {
    const db = track(new SerializedDB(new MemoryBackend()));
    await expect(db.put(key('u'), undefined)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await db.put(key('u'), [undefined]);
    expect(await db.get(key('u'))).toEqual([undefined]);
  });

  it('owns the layer below: flush flushes it and close closes it', async () => {
    const below = new RecordingBackend();
    const db = new SerializedDB(below);
    await db.flush();
    expect(below.flushes).toBe(1);
    await db.close();
    expect(below.status).toBe('closed');
  });

  it('refuses a codec together with a registry the codec does not use', () => {
    expect(() => new SerializedDB(new MemoryBackend(), { types: new TypeRegistry(), codec: new ValueCodec(new TypeRegistry()) })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
    const types = new TypeRegistry();
    const codec = new ValueCodec(types);
    expect(new SerializedDB(new MemoryBackend(), { types, codec }).codec).toBe(codec);
  });

  describe('records the registered types it stores', () => {
    it('writes meta!types in the same batch as the first value that uses a type, and only then', async () => {
      const below = new RecordingBackend();
      const db = track(new SerializedDB(below, { types: fullRegistry() }));
      await db.put(key('plain'), 1);
      await db.put(key('p1'), { at: new Point(1, 2) });
      await db.put(key('p2'), [new Point(3, 4)]);
      await db.batch([
        { type: 'put', key: key('m1'), value: new Molecule(['H', 'O']) },
        { type: 'put', key: key('p3'), value: new Point(0, 0) },
      ]);
      expect(below.writes).toEqual([
        { method: 'put', keys: ['plain'] },
        { method: 'batch', keys: ['p1', 'meta!types'] },
        { method: 'put', keys: ['p2'] },
        { method: 'batch', keys: ['m1', 'p3', 'meta!types'] },
      ]);
      expect(await db.storedTypeNames()).toEqual(['chem.Molecule', 'geo.Point']);
      expect(await db.get(typesKey)).toEqual(['chem.Molecule', 'geo.Point']);
    });

    it('merges names from concurrent writes', async () => {
      const db = track(new SerializedDB(new MemoryBackend(), { types: fullRegistry() }));
      await Promise.all([db.put(key('p'), new Point(1, 1)), db.put(key('m'), new Molecule(['C'])), db.put(key('n'), 5)]);
      expect(await db.storedTypeNames()).toEqual(['chem.Molecule', 'geo.Point']);
      expect(await db.get(key('n'))).toBe(5);
    });

    it('keeps call order between a write that records a type and a later plain write to the same key', async () => {
      const db = track(new SerializedDB(new MemoryBackend(), { types: fullRegistry() }));
      const first = db.put(key('k'), new Point(1, 1));
      const second = db.put(key('k'), 'later');
      await Promise.all([first, second]);
      expect(await db.get(key('k'))).toBe('later');
    });

    it('writes nothing, not even the type record, when a batch holds an unserializable value', async () => {
      const below = new RecordingBackend();
      const db = track(new SerializedDB(below, { types: fullRegistry() }));
      await expect(
        db.batch([
          { type: 'put', key: key('p'), value: new Point(1, 1) },
          { type: 'put', key: key('bad'), value: Symbol('s') },
        ]),
      ).rejects.toMatchObject({ code: 'UNSERIALIZABLE' });
      expect(below.writes).toEqual([]);
      expect(await db.storedTypeNames()).toEqual([]);
    });

    it('lets a new process list the types a LevelDB store needs, and name the missing one on read', async () => {
      const path = join(tempDir(), 'store');
      const writer = new SerializedDB(await LevelBackend.open(path), { types: fullRegistry() });
      await writer.put(key('v!point'), { where: new Point(1, 2) });
      await writer.put(key('v!water'), new Molecule(['H', 'H', 'O']));
      await writer.close();

      const reader = track(new SerializedDB(await LevelBackend.open(path), { types: new TypeRegistry() }));
      expect(await reader.storedTypeNames()).toEqual(['chem.Molecule', 'geo.Point']);
      await expect(reader.get(key('v!point'))).rejects.toMatchObject({
        code: 'UNKNOWN_TYPE',
        message: expect.stringMatching(/'v!point'.*'geo\.Point'.*registerType/),
      });

      const types = new TypeRegistry();
      types.register({ name: 'geo.Point', type: Point, encode: (p: Point) => [p.x, p.y], decode: ([x, y]: number[]) => new Point(x!, y!) });
      await reader.close();
      const registered = track(new SerializedDB(await LevelBackend.open(path), { types }));
      const value = (await registered.get(key('v!point'))) as { where: Point };
      expect(value.where).toBeInstanceOf(Point);
      expect(value.where.y).toBe(2);
    });

    it('records a name again after meta!types was deleted', async () => {
      const db = track(new SerializedDB(new MemoryBackend(), { types: fullRegistry() }));
      await db.put(key('p'), new Point(1, 1));
      await db.delete(typesKey);
      expect(await db.storedTypeNames()).toEqual([]);
      await db.put(key('q'), new Point(2, 2));
      expect(await db.storedTypeNames()).toEqual(['geo.Point']);
    });

    it('reports CORRUPT when meta!types is not a list of names', async () => {
      const below = new MemoryBackend();
      const db = track(new SerializedDB(below));
      await db.put(typesKey, { not: 'a list' });
      await expect(new SerializedDB(below).storedTypeNames()).rejects.toMatchObject({ code: 'CORRUPT' });
    });
  });

  describe('reports bytes corrupted in the backend as CORRUPT, naming the key', () => {
    const corruptions: [string, (bytes: Uint8Array) => Uint8Array][] = [
      ['truncated', (bytes) => bytes.subarray(0, bytes.length - 1)],
      ['garbage', () => new Uint8Array([0xff, 0x00, 0x13])],
      ['a foreign tag', () => new Uint8Array([0xd8, 0x1b, 0x82, 0x60, 0x60])],
      ['trailing bytes', (bytes) => new Uint8Array([...bytes, 0x00])],
    ];

    for (const [backendName, openBackend] of [
      ['MemoryBackend', async () => new MemoryBackend()],
      ['LevelBackend', () => LevelBackend.open(join(tempDir(), 'store'))],
    ] as const) {
      it.each(corruptions)(`over ${backendName}: %s`, async (_name, damage) => {
        const below = await openBackend();
        const db = track(new SerializedDB(below));
        await db.put(key('v!printable'), { a: [1, 2, 3] });
        await db.put(new Uint8Array([0x00, 0xff, 0x10]), { a: [1, 2, 3] });
        for (const k of [key('v!printable'), new Uint8Array([0x00, 0xff, 0x10])]) {
          await below.put(k, damage((await below.get(k))!));
        }
        await expect(db.get(key('v!printable'))).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining("At key 'v!printable'") });
        await expect(db.get(new Uint8Array([0x00, 0xff, 0x10]))).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining('At key 0x00ff10') });
        await expect(db.getMany([key('v!printable')])).rejects.toMatchObject({ code: 'CORRUPT' });
        const iterate = async (): Promise<void> => {
          for await (const _ of db.entries()) void _;
        };
        await expect(iterate()).rejects.toMatchObject({ code: 'CORRUPT' });
        expect(await db.has(key('v!printable'))).toBe(true);
      });
    }
  });
});
