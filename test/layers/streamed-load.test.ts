import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { loadDigester, type Digester } from '../../src/layers/digest.js';
import { SerializedDB } from '../../src/layers/serialized-db.js';
import { UUIDDatabase } from '../../src/layers/uuid-database.js';
import { valueKey } from '../../src/layers/keys.js';

/** The real digester, counting the values it digests whole and the streams it hands out. */
async function countingDigester(): Promise<{ digester: Digester; wholes: () => number; streams: () => number }> {
  const real = await loadDigester();
  let wholes = 0;
  let streams = 0;
  const digester = new Proxy(real, {
    get(target, property, receiver) {
      const member = Reflect.get(target, property, receiver) as unknown;
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => {
        if (property === 'digest' || property === 'hasDigest') wholes += 1;
        if (property === 'typedArrayStream') streams += 1;
        return (member as (...parameters: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { digester, wholes: () => wholes, streams: () => streams };
}

const opened: UUIDDatabase[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

async function valuesStack(backend = new MemoryBackend()): Promise<{ values: UUIDDatabase; counts: Awaited<ReturnType<typeof countingDigester>> }> {
  const counts = await countingDigester();
  const values = new UUIDDatabase(new SerializedDB(backend, { largeValueBytes: 1024 }), counts.digester);
  opened.push(values);
  return { values, counts };
}

describe('loading a large value that is one typed array', () => {
  it('takes its digest while reading it, and does not digest the loaded array again', async () => {
    const { values, counts } = await valuesStack();
    const array = Float64Array.from({ length: 200_000 }, (_, index) => Math.cos(index));
    const uuid = await values.intern(array);
    const [wholes, streams] = [counts.wholes(), counts.streams()];
    const loaded = await values.load(uuid);
    expect(loaded).toEqual(array);
    expect(counts.streams()).toBe(streams + 1);
    expect(counts.wholes()).toBe(wholes);
  });

  it('still digests whole a large value of one segment that is more than the array (an object holding it)', async () => {
    const { values, counts } = await valuesStack();
    const value = { grid: Float64Array.from({ length: 200_000 }, (_, index) => index) };
    const uuid = await values.intern(value);
    const wholes = counts.wholes();
    expect(await values.load(uuid)).toEqual(value);
    // Its one segment was offered a stream, but the loaded value is the object: digested whole.
    expect(counts.wholes()).toBe(wholes + 1);
  });

  it('refuses with CORRUPT an array stored under another array\'s UUID, though every block checks out', async () => {
    const backend = new MemoryBackend();
    const { values } = await valuesStack(backend);
    const array = Float64Array.from({ length: 200_000 }, (_, index) => index);
    const other = Float64Array.from({ length: 200_000 }, (_, index) => index + 1);
    const uuid = await values.intern(array);
    const otherUuid = await values.intern(other);
    // A store whose record for `uuid` names the other array's blob: sound blocks, the wrong content.
    await backend.put(valueKey(uuid), (await backend.get(valueKey(otherUuid)))!);
    const { values: fresh } = await valuesStack(backend);
    await expect(fresh.load(uuid)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringContaining('does not match its content digest') });
    expect(await fresh.load(otherUuid)).toEqual(other);
  });
});
