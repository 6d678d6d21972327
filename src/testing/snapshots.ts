import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import type { ContractDatabase } from './fixture.js';
import { bytes, hex, orderedKeys } from './keys.js';

/** Starts an iteration, reads its first entry, then writes around it; returns the rest of it. */
async function iterateWhileWriting(suite: SuiteContext, db: ContractDatabase): Promise<[string, string][]> {
  await suite.fill(db);
  const iterator = db.entries();
  const first = await iterator.next();
  expect(hex(first.value?.[0])).toBe(hex(orderedKeys[0]));
  await db.put(bytes(0xff, 0xff, 0xff), bytes(1));
  await db.put(bytes(0x50), bytes(1));
  await db.delete(orderedKeys[5]!);
  await db.put(orderedKeys[8]!, bytes(0xaa));
  const rest: [string, string][] = [];
  for await (const [key, value] of { [Symbol.asyncIterator]: () => iterator }) rest.push([hex(key), hex(value)]);
  expect(hex(await db.get(orderedKeys[8]!))).toBe('aa');
  return rest;
}

/**
 * Iteration while writes go on. `manifest.snapshots` promises a consistent
 * view taken when the iteration starts; without it, the weaker promise: every
 * key left untouched comes once, in order, unchanged.
 */
export function snapshotTests(suite: SuiteContext): void {
  describe('snapshots', () => {
    it('iterates over a snapshot taken when the iteration starts, or (manifest.snapshots false) yields every untouched key once, in order', async () => {
      const db = await suite.open();
      const rest = await iterateWhileWriting(suite, db);
      if (db.manifest.snapshots) {
        expect(rest).toEqual(orderedKeys.slice(1).map((key) => [hex(key), hex(key)]));
        return;
      }
      const keys = rest.map(([key]) => key);
      const touched = new Set([orderedKeys[5]!, orderedKeys[8]!].map(hex));
      const untouched = orderedKeys.slice(1).map(hex).filter((key) => !touched.has(key));
      expect(keys.filter((key) => untouched.includes(key))).toEqual(untouched);
      for (const [key, value] of rest) if (untouched.includes(key)) expect(value).toBe(key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))));
    });
  });
}
