import xxhash from 'xxhash-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMemostrataError } from '../../src/errors.js';
import { DIGEST_BYTES, DIGEST_FORMAT_VERSION, digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { Mesh, Point } from '../helpers/user-types.js';


class Unregistered {
  readonly field = 1;
}

const types = new TypeRegistry();
types.register({ name: 'test.Point', type: Point, encode: (p) => ({ x: p.x, y: p.y }), decode: (p: { x: number; y: number }) => new Point(p.x, p.y) });
types.register({ name: 'test.Mesh', type: Mesh, encode: (m) => ({ nodes: m.nodes }), decode: (p: { nodes: unknown }) => new Mesh(p.nodes) });

let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(types);
});

const hex = (value: unknown): string => digestToHex(digester.digest(value));
const same = (a: unknown, b: unknown) => expect(hex(a)).toBe(hex(b));
const differ = (a: unknown, b: unknown) => expect(hex(a)).not.toBe(hex(b));

/** Runs `run`, expecting an UNSERIALIZABLE error whose message names `path`; returns the message. */
function unserializableMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isMemostrataError(error, 'UNSERIALIZABLE')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected UNSERIALIZABLE, nothing was thrown');
}

describe('the digest', () => {
  it('is 16 bytes and deterministic', () => {
    const value = { a: [1, 'two', 3n], b: new Map([[1, new Set([2])]]) };
    const digest = digester.digest(value);
    expect(digest).toBeInstanceOf(Uint8Array);
    expect(digest.length).toBe(DIGEST_BYTES);
    expect(digestToHex(digest)).toMatch(/^[0-9a-f]{32}$/);
    same(value, structuredClone(value));
  });

  it('gives the same digest from a second digester (the canonical form does not depend on the instance)', async () => {
    const other = await loadDigester(types);
    const value = { deep: [new Float64Array([1, 2]), { p: new Point(1, 2) }] };
    expect(digestToHex(other.digest(value))).toBe(hex(value));
  });

  it('hashes the documented canonical form (a changed form invalidates every stored key: bump DIGEST_FORMAT_VERSION)', async () => {
    const { h64Raw } = await xxhash();
    const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
    const u64 = (n: number) => [...u32(n), 0, 0, 0, 0];
    const text = (s: string) => [0x07, ...u32(s.length), ...Buffer.from(s)];
    const one = [...new Uint8Array(new Float64Array([1]).buffer)];
    const canonical = new Uint8Array([
      ...[0x0a, ...u32(3)], // object, 3 keys, sorted
      ...text('a'),
      ...[0x04, ...one], // number 1
      ...text('b'),
      ...[0x09, ...u32(5)], // array of 5
      ...text('x'),
      ...[0x01, 0x00, 0x03], // null, undefined, true
      ...[0x05, ...u64(2)], // bigint 2n
      ...text('c'),
      ...[0x0e, 2, ...u64(3), 1, 2, 3], // Uint8Array (class 2), 3 bytes
    ]);
    const digest = digester.digest({ c: new Uint8Array([1, 2, 3]), b: ['x', null, undefined, true, 2n], a: 1 });
    const view = new DataView(digest.buffer, digest.byteOffset, DIGEST_BYTES);
    expect(view.getBigUint64(0)).toBe(h64Raw(canonical, 0x6d656d6f73747261n));
    expect(view.getBigUint64(8)).toBe(h64Raw(canonical, 0x74612d6469676573n));
    expect(DIGEST_FORMAT_VERSION).toBe(1);
  });
});

describe('rules of the canonical form', () => {
  it('keys numbers on their exact bits: -0 and 0 differ', () => {
    differ(0, -0);
    differ([0], [-0]);
    same(0.1 + 0.2, 0.30000000000000004);
    differ(0.1 + 0.2, 0.3);
    differ(Infinity, -Infinity);
  });

  it('makes every NaN one key, even NaNs with other payloads', () => {
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, 0x7ff00000 | 0x1234);
    view.setUint32(4, 0xdeadbeef);
    const payloadNaN = view.getFloat64(0);
    same(NaN, payloadNaN);
    same(NaN, -NaN);
    same(NaN, 0 / 0);
    differ(NaN, Infinity);
  });

  it('keys NaN payloads inside typed arrays by their raw bytes', () => {
    const a = new Float64Array([NaN]);
    const b = new Float64Array(1);
    new DataView(b.buffer).setFloat64(0, NaN, true);
    new Uint8Array(b.buffer)[0] = 1;
    expect(Number.isNaN(b[0])).toBe(true);
    differ(a, b);
  });

  it('distinguishes 1, 1n, "1" and true', () => {
    const keys = new Set([hex(1), hex(1n), hex('1'), hex(true), hex([1]), hex(new Date(1))]);
    expect(keys.size).toBe(6);
  });

  it('keys bigints on their value, beyond 64 bits too', () => {
    same(2n ** 70n, 2n ** 70n);
    differ(2n ** 70n, -(2n ** 70n));
    differ(2n ** 64n, 0n);
    differ(2n ** 63n, -(2n ** 63n));
    differ(-1n, 2n ** 64n - 1n);
    differ(2n ** 64n + 1n, 2n ** 128n + 1n);
  });

  it('keys strings on their code units, unicode and unpaired surrogates included', () => {
    same('héllo 😀', 'héllo 😀');
    differ('é', 'e\u0301');
    differ('\uD800', '\uFFFD');
    differ('a\uDC00', 'a\uDC01');
    same('\uD800x', '\uD800x');
    differ('', ' ');
    const long = 'ü'.repeat(100_000);
    same(long, 'ü'.repeat(100_000));
    differ(long, `${'ü'.repeat(99_999)}u`);
  });

  it('does not let adjacent strings run together', () => {
    differ(['ab', 'c'], ['a', 'bc']);
    differ({ ab: 'c' }, { a: 'bc' });
  });

  it('distinguishes an undefined property from a missing one', () => {
    differ({ a: undefined }, {});
    differ({ a: 1, b: undefined }, { a: 1 });
    differ(undefined, null);
  });

  it('keys array holes like undefined', () => {
    // eslint-disable-next-line no-sparse-arrays
    same([1, , 3], [1, undefined, 3]);
    same(new Array(3), [undefined, undefined, undefined]);
    differ([undefined], []);
  });

  it('ignores object key order', () => {
    same({ a: 1, b: 2, c: { x: 1, y: 2 } }, { c: { y: 2, x: 1 }, b: 2, a: 1 });
    same({ 10: 'a', 9: 'b', x: 'c' }, { x: 'c', 9: 'b', 10: 'a' });
    differ({ a: 1, b: 2 }, { a: 2, b: 1 });
  });

  it('keys an own __proto__ property like any other key', () => {
    const own = JSON.parse('{"__proto__": 1}') as object;
    differ(own, {});
    same(own, JSON.parse('{"__proto__": 1}'));
    differ(own, JSON.parse('{"__proto__": 2}'));
  });

  it('keys a null-prototype object like a plain object', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.a = 1;
    same(bare, { a: 1 });
  });

  it('ignores Map insertion order but not which key holds which value', () => {
    same(
      new Map<unknown, unknown>([
        [1, 'a'],
        ['1', 'b'],
        [{ k: 1 }, [2]],
      ]),
      new Map<unknown, unknown>([
        [{ k: 1 }, [2]],
        ['1', 'b'],
        [1, 'a'],
      ]),
    );
    differ(
      new Map([
        [1, 'a'],
        [2, 'b'],
      ]),
      new Map([
        [1, 'b'],
        [2, 'a'],
      ]),
    );
    differ(new Map([[1, 2]]), new Map([[2, 1]]));
  });

  it('ignores Set insertion order, with non-string elements', () => {
    same(new Set([1, 'x', [1, 2], new Set([3n])]), new Set([new Set([3n]), [1, 2], 'x', 1]));
    differ(new Set([1, 2]), new Set([1, 3]));
    differ(new Set([1]), [1]);
    differ(new Set([[1, 2]]), new Map([[1, 2]]));
  });

  it('keys typed arrays on class + length + bytes: a Float32Array and a Uint8Array of the same bytes differ', () => {
    const floats = new Float32Array([1.5, -2]);
    const bytes = new Uint8Array(floats.buffer);
    differ(floats, bytes);
    differ(new Int32Array([1]), new Uint32Array([1]));
    differ(new Uint8Array([1]), new Uint8ClampedArray([1]));
    differ(new BigInt64Array([1n]), new BigUint64Array([1n]));
    differ(new Float64Array([1, 2]), new Float64Array([1, 2, 0]));
    same(new Float64Array([1, 2]), new Float64Array([1, 2]));
    differ(new Float64Array([0]), new Float64Array([-0]));
  });

  it('keys Buffer as its own kind, apart from Uint8Array with the same bytes', () => {
    differ(Buffer.from([1, 2, 3]), new Uint8Array([1, 2, 3]));
    same(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3]));
    differ(new DataView(new Uint8Array([1, 2, 3]).buffer), new Uint8Array([1, 2, 3]).buffer);
  });

  it('keys a Buffer slice or DataView on its own bytes, never the whole backing buffer', () => {
    const first = Buffer.from([9, 9, 1, 2, 3, 9]);
    const second = Buffer.from([7, 1, 2, 3, 7, 7, 7]);
    same(first.subarray(2, 5), second.subarray(1, 4));
    differ(first.subarray(2, 5), first.subarray(1, 4));
    same(new DataView(first.buffer, first.byteOffset + 2, 3), new DataView(second.buffer, second.byteOffset + 1, 3));
    differ(new DataView(first.buffer, first.byteOffset + 2, 3), new DataView(first.buffer, first.byteOffset + 2, 4));
    const backingA = new Float64Array([5, 1, 2, 6]);
    const backingB = new Float64Array([1, 2, 7]);
    same(new Float64Array(backingA.buffer, 8, 2), new Float64Array(backingB.buffer, 0, 2));
    differ(new Float64Array(backingA.buffer, 8, 2), new Float64Array(backingA.buffer, 0, 2));
  });

  it('streams large views without changing the rules (same bytes at other offsets, other chunks)', () => {
    const big = new Float64Array(1_000_000).map((_, i) => Math.sin(i));
    const copy = new Float64Array(big.length + 3);
    copy.set(big, 3);
    const atOffset = new Float64Array(copy.buffer, 24, big.length);
    same(big, atOffset);
    same({ a: 'prefix', big }, { big: atOffset, a: 'prefix' });
    const changed = big.slice();
    changed[changed.length - 1] = 0;
    differ(big, changed);
    differ(Buffer.from(big.buffer), new Uint8Array(big.buffer));
  });

  it('keys Dates on their time value; every invalid Date is one key', () => {
    same(new Date(1_700_000_000_000), new Date(1_700_000_000_000));
    differ(new Date(0), new Date(1));
    same(new Date(NaN), new Date('not a date'));
    differ(new Date(NaN), NaN);
    differ(new Date(0), 0);
  });

  it('keys ArrayBuffers on their bytes', () => {
    same(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]).buffer);
    differ(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 3]).buffer);
    differ(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]));
  });

  it('keys registered types on their name + encoded form', () => {
    same(new Point(1, 2), new Point(1, 2));
    differ(new Point(1, 2), new Point(2, 1));
    differ(new Point(1, 2), { x: 1, y: 2 });
    same({ p: new Point(1, 2) }, { p: new Point(1, 2) });
  });

  it('keys shared references like copies (a DAG is not a cycle)', () => {
    const shared = { v: [1, 2] };
    same([shared, shared, { again: shared }], [{ v: [1, 2] }, { v: [1, 2] }, { again: { v: [1, 2] } }]);
  });

  it('hashes raw parts length-prefixed, so parts do not run together', () => {
    const parts = (...texts: string[]) => digestToHex(digester.digestParts(texts.map((text) => Buffer.from(text))));
    expect(parts('ab', 'c')).not.toBe(parts('a', 'bc'));
    expect(parts('abc')).not.toBe(parts('abc', ''));
    expect(parts('abc')).toBe(parts('abc'));
    expect(digester.digestParts([]).length).toBe(DIGEST_BYTES);
  });

  it('gives one digest per argument, equal to digest() of that argument', () => {
    const args = [1, { a: 'x' }, [new Point(0, 0)]];
    const digests = digester.digestArgs(args);
    expect(digests.map(digestToHex)).toEqual(args.map((arg) => hex(arg)));
    expect(new Set(digests.map(digestToHex)).size).toBe(3);
    expect(digests[0]?.buffer).not.toBe(digests[1]?.buffer);
  });
});

describe('values that cannot be keyed throw UNSERIALIZABLE naming the path', () => {
  it('rejects a function', () => {
    const message = unserializableMessage(() => digester.digestArgs([1, { callback: function onDone() {} }]));
    expect(message).toContain('args[1].callback');
    expect(message).toContain('onDone');
  });

  it('rejects a symbol', () => {
    expect(unserializableMessage(() => digester.digest([Symbol('s')]))).toContain('value[0]');
  });

  it('rejects an object with symbol keys', () => {
    expect(unserializableMessage(() => digester.digest({ a: { [Symbol('k')]: 1 } }))).toContain('value.a');
  });

  it('rejects an instance of an unregistered class', () => {
    const message = unserializableMessage(() => digester.digestArgs([new Unregistered()]));
    expect(message).toContain('args[0]');
    expect(message).toContain('Unregistered');
  });

  it('names the path of a value nested in arguments, e.g. args[1].mesh.nodes', () => {
    const message = unserializableMessage(() => digester.digestArgs([0, { mesh: { nodes: () => 1 } }]));
    expect(message).toMatch(/Cannot key or store args\[1\]\.mesh\.nodes:/);
  });

  it('names the path through a registered type transparently', () => {
    const message = unserializableMessage(() => digester.digestArgs([0, { mesh: new Mesh([1, new Unregistered()]) }]));
    expect(message).toContain('args[1].mesh.nodes[1]');
  });

  it('names paths inside Maps and Sets and odd keys', () => {
    expect(unserializableMessage(() => digester.digest({ 'a b': new Map([['k', Symbol('s')]]) }))).toContain('value["a b"].get("k")');
    expect(unserializableMessage(() => digester.digest(new Set([1, () => 1])))).toContain('value.values()[1]');
    expect(unserializableMessage(() => digester.digest(new Map([[() => 1, 1]])))).toContain('value.keys()[0]');
  });

  it('rejects a cycle, naming where it closes and what it closes back to', () => {
    const node: { next?: unknown } = {};
    node.next = { next: node };
    const message = unserializableMessage(() => digester.digestArgs([node]));
    expect(message).toContain('args[0].next.next: it is a cycle back to args[0]');
  });

  it('rejects cycles through arrays, Maps, Sets and registered types', () => {
    const array: unknown[] = [1];
    array.push([array]);
    expect(unserializableMessage(() => digester.digest(array))).toContain('value[1][0]: it is a cycle back to value');
    const map = new Map<string, unknown>();
    map.set('self', map);
    expect(unserializableMessage(() => digester.digest(map))).toContain('value.get("self"): it is a cycle back to value');
    const set = new Set<unknown>();
    set.add(set);
    expect(unserializableMessage(() => digester.digest(set))).toContain('cycle back to value');
    const nodes: unknown[] = [];
    const mesh = new Mesh(nodes);
    nodes.push(mesh);
    expect(unserializableMessage(() => digester.digest(mesh))).toContain('value.nodes[0]: it is a cycle back to value');
  });

  it('still works after an error (no state leaks from the failed digest)', () => {
    const before = hex({ a: [1, 2] });
    const big = new Float64Array(100_000);
    unserializableMessage(() => digester.digest([big, () => 1]));
    unserializableMessage(() => digester.digest(new Map([[1, [big, Symbol('x')]]])));
    expect(hex({ a: [1, 2] })).toBe(before);
  });

  it('wraps a registered encode() that throws', () => {
    class Fragile {}
    const fragileTypes = new TypeRegistry();
    fragileTypes.register({
      name: 'test.Fragile',
      type: Fragile,
      encode: () => {
        throw new Error('boom');
      },
      decode: () => new Fragile(),
    });
    return loadDigester(fragileTypes).then((fragile) => {
      const message = unserializableMessage(() => fragile.digestArgs([{ f: new Fragile() }]));
      expect(message).toContain('args[0].f');
      expect(message).toContain('test.Fragile');
    });
  });
});

describe('the hash', () => {
  it('is two xxhash64 passes with different seeds over the same canonical bytes', async () => {
    const { h64Raw } = await xxhash();
    const digest = digester.digestParts([new Uint8Array([1, 2, 3])]);
    const view = new DataView(digest.buffer, digest.byteOffset, 16);
    // Re-derive the canonical bytes of parts: tag 0xff, u32 count, u64 length, bytes.
    const canonical = new Uint8Array([0xff, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    expect(view.getBigUint64(0)).toBe(h64Raw(canonical, 0x6d656d6f73747261n));
    expect(view.getBigUint64(8)).toBe(h64Raw(canonical, 0x74612d6469676573n));
  });
});

describe('binary data inside Map and Set entries', () => {
  it('digests a typed array or Buffer of any size in an entry, sizes around the entry scratch buffer included', () => {
    // An entry's sink has 8 KiB of scratch: views of 8–16 KiB were copied into it and overflowed (a RangeError).
    for (const size of [8191, 8192, 8193, 12_000, 16_384, 16_385]) {
      const bytes = new Uint8Array(size).fill(7);
      const changed = bytes.slice();
      changed[size - 1] = 8;
      expect(digester.digest(new Map([[1, bytes]]))).toEqual(digester.digest(new Map([[1, bytes.slice()]])));
      expect(digester.digest(new Map([[1, bytes]]))).not.toEqual(digester.digest(new Map([[1, changed]])));
      expect(digester.digest(new Set([Buffer.from(bytes)]))).not.toEqual(digester.digest(new Set([Buffer.from(changed)])));
    }
  });
});

