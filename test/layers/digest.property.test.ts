import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { digestToHex, loadDigester, type Digester } from '../../src/layers/digest.js';
import { TypeRegistry } from '../../src/layers/type-registry.js';
import { strictDeepEqual, supportedValue } from '../helpers/supported-values.js';
import { seededRandom } from '../helpers/seeded-random.js';

const RUNS = { numRuns: 1000 };

let digester: Digester;
beforeAll(async () => {
  digester = await loadDigester(new TypeRegistry());
});

const hex = (value: unknown): string => digestToHex(digester.digest(value));

/** Seeded, so fast-check controls (and replays) every shuffle. */
const seeded = seededRandom;

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || prototype === Object.prototype;
}

function objectLike(template: object, entries: [string, unknown][]): Record<string, unknown> {
  const object: Record<string, unknown> = Object.getPrototypeOf(template) === null ? (Object.create(null) as Record<string, unknown>) : {};
  for (const [key, value] of entries) object[key] = value;
  return object;
}

/** A deep copy of the containers with object keys, Map entries and Set elements in a new order. */
function reorder(value: unknown, random: () => number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((element) => reorder(element, random)); // keeps holes
  if (value instanceof Map) return new Map(shuffle([...value].map(([k, v]) => [reorder(k, random), reorder(v, random)] as const), random));
  if (value instanceof Set) return new Set(shuffle([...value].map((element) => reorder(element, random)), random));
  if (isPlainObject(value)) return objectLike(value, shuffle(Object.entries(value).map(([k, v]) => [k, reorder(v, random)]), random));
  return value;
}

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/** A near miss of `value`: usually different under the rules, sometimes equal (NaN payloads, invalid Dates). */
function tweak(value: unknown, random: () => number): unknown {
  const pick = (...options: unknown[]): unknown => options[Math.floor(random() * options.length)];
  switch (typeof value) {
    case 'number':
      if (Object.is(value, 0)) return pick(-0, 0n, '0', false);
      if (Object.is(value, -0)) return 0;
      if (Number.isNaN(value)) return pick(NaN, -NaN, Infinity, new Date(NaN));
      return Number.isInteger(value) ? pick(BigInt(value), String(value), value + 1, -value) : pick(String(value), -value, Math.fround(value));
    case 'bigint':
      return pick(Number(value), String(value), value + 1n);
    case 'string':
      if (/[\uD800-\uDFFF]/.test(value)) return value.replace(/[\uD800-\uDFFF]/g, '\uFFFD'); // what a lossy UTF-8 pass would see
      return value.length > 0 ? pick(value.slice(1), `${value}\u0000`, value.normalize('NFD'), `${value[0]}\u0000${value.slice(1)}`) : pick(undefined, null, 0, '\u0000');
    case 'boolean':
      return pick(!value, Number(value));
    case 'undefined':
      return pick(null, [], {});
  }
  if (value === null) return pick(undefined, 0, {});
  const object = value as object;
  if (Buffer.isBuffer(object)) return pick(new Uint8Array(object), new DataView(Uint8Array.from(object).buffer));
  if (object instanceof DataView) return pick(Buffer.from(bytesOf(object)), bytesOf(object).slice().buffer);
  if (ArrayBuffer.isView(object)) {
    const bytes = bytesOf(object).slice();
    return object instanceof Uint8Array ? pick(Buffer.from(bytes), new Int8Array(bytes.buffer)) : pick(new Uint8Array(bytes.buffer), Buffer.from(bytes));
  }
  if (object instanceof ArrayBuffer) return pick(new Uint8Array(object.slice(0)), new DataView(object.slice(0)));
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? new Date('invalid') : pick(new Date(object.getTime() + 1), object.getTime());
  if (Array.isArray(object)) return pick([...object, undefined], object.slice(1), new Set(object));
  if (object instanceof Map) return pick(new Map<unknown, unknown>([...object, ['added key', 0]]), new Map([...object].slice(1)), new Set(object.keys()));
  if (object instanceof Set) return pick(new Set([...object].slice(1)), [...object], new Set([...object, 'extra']));
  const record = object as Record<string, unknown>;
  const keys = Object.keys(record);
  const missing = keys.includes('added') ? 'added2' : 'added';
  return pick(
    objectLike(record, [...Object.entries(record), [missing, undefined]]),
    objectLike(record, Object.entries(record).slice(1)),
    keys.length > 0 ? objectLike(record, Object.entries(record).map(([k, v], i) => [i === 0 ? `${k}_` : k, v])) : [],
  );
}

function countNodes(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 1;
  if (Array.isArray(value)) return 1 + value.reduce((sum: number, element) => sum + countNodes(element), 0);
  if (value instanceof Map) return 1 + [...value].reduce((sum, [k, v]) => sum + countNodes(k) + countNodes(v), 0);
  if (value instanceof Set) return 1 + [...value].reduce((sum: number, element) => sum + countNodes(element), 0);
  if (isPlainObject(value)) return 1 + Object.values(value).reduce((sum: number, element) => sum + countNodes(element), 0);
  return 1;
}

/** A copy of `value` in which the `target`-th node (pre-order) is replaced by a near miss. */
function mutate(value: unknown, target: number, random: () => number): unknown {
  let counter = 0;
  const walk = (node: unknown): unknown => {
    if (counter++ === target) return tweak(node, random);
    if (typeof node !== 'object' || node === null) return node;
    if (Array.isArray(node)) return node.map(walk);
    if (node instanceof Map) return new Map([...node].map(([k, v]) => [walk(k), walk(v)] as const));
    if (node instanceof Set) return new Set([...node].map(walk));
    if (isPlainObject(node)) return objectLike(node, Object.entries(node).map(([k, v]) => [k, walk(v)]));
    return node;
  };
  return walk(value);
}

/** `value` with its `target`-th node (modulo its size) tweaked, reordered: a near miss, sometimes equal. */
function nearMiss(value: unknown, target: number, seed: number): unknown {
  const random = seeded(seed);
  return reorder(mutate(value, target % countNodes(value), random), random);
}

describe('digest properties', () => {
  it('is deterministic: the same value, twice and from another digester, gives the same digest', async () => {
    const other = await loadDigester(new TypeRegistry());
    fc.assert(
      fc.property(supportedValue(), (value) => {
        const first = hex(value);
        expect(hex(value)).toBe(first);
        expect(digestToHex(other.digest(value))).toBe(first);
        expect(digestToHex(digester.digestArgs([value, value])[1] as Uint8Array)).toBe(first);
      }),
      RUNS,
    );
  });

  it('ignores object key order and Map/Set insertion order', () => {
    fc.assert(
      fc.property(supportedValue(), fc.integer(), (value, seed) => {
        const reordered = reorder(value, seeded(seed));
        expect(strictDeepEqual(value, reordered)).toBe(true);
        expect(hex(reordered)).toBe(hex(value));
      }),
      RUNS,
    );
  });

  it('gives equal digests exactly for strictly deep-equal values (independent pairs)', () => {
    const small = supportedValue({ maxDepth: 1, maxLength: 2 });
    fc.assert(
      fc.property(fc.oneof(fc.tuple(supportedValue(), supportedValue()), fc.tuple(small, small)), ([a, b]) => {
        expect(hex(a) === hex(b)).toBe(strictDeepEqual(a, b));
      }),
      RUNS,
    );
  });

  it('gives equal digests exactly for strictly deep-equal values (near misses)', () => {
    let equalPairs = 0;
    let differentPairs = 0;
    fc.assert(
      fc.property(supportedValue(), fc.nat(), fc.integer(), (value, target, seed) => {
        const other = nearMiss(value, target, seed);
        const equal = strictDeepEqual(value, other);
        if (equal) equalPairs++;
        else differentPairs++;
        expect(hex(value) === hex(other)).toBe(equal);
      }),
      RUNS,
    );
    // Both directions of the equivalence were exercised.
    expect(equalPairs).toBeGreaterThan(20);
    expect(differentPairs).toBeGreaterThan(500);
  });
});

describe('hasDigest (half a digest, for checks that a value was not changed)', () => {
  it('holds exactly for strictly deep-equal values (near misses), as the whole digest does', () => {
    let equalPairs = 0;
    fc.assert(
      fc.property(supportedValue(), fc.nat(), fc.integer(), (value, target, seed) => {
        const other = nearMiss(value, target, seed);
        const equal = strictDeepEqual(value, other);
        if (equal) equalPairs++;
        expect(digester.hasDigest(other, digester.digest(value))).toBe(equal);
        expect(digester.hasDigest(value, digester.digest(value))).toBe(true);
      }),
      RUNS,
    );
    expect(equalPairs).toBeGreaterThan(20);
  });

  it('notices one changed element of a large typed array, and leaves the sink whole for the next digest', () => {
    const grid = Float64Array.from({ length: 100_000 }, (_, index) => index / 3);
    const digest = digester.digest({ grid });
    grid[77_777] = -1;
    expect(digester.hasDigest({ grid }, digest)).toBe(false);
    grid[77_777] = 77_777 / 3;
    expect(digester.hasDigest({ grid }, digest)).toBe(true);
    // Both halves again after a half: the same digest as a fresh digester gives.
    expect(hex({ grid })).toBe(digestToHex(digest));
  });
});
