import { afterEach, expect } from 'vitest';
import type { Range } from '../contract/range.js';
import type { ContractDatabase, ContractFactory } from './fixture.js';
import { hex, orderedKeys } from './keys.js';

/** What every group of the suite shares: databases it opens (and closes after each test), and readers. */
export interface SuiteContext {
  /** A fresh database from the factory, closed after the test. */
  open(): Promise<ContractDatabase>;
  /** The factory's `reopen`, when it has one; the database it returns is closed after the test. */
  reopen: ((closed: ContractDatabase) => Promise<ContractDatabase>) | undefined;
  /** Stores every key of {@link orderedKeys} with itself as value, out of order. */
  fill(db: ContractDatabase): Promise<void>;
  /** The keys of `range`, as hex, checking that each value equals its key. */
  collect(db: ContractDatabase, range?: Range<Uint8Array>): Promise<string[]>;
}

/** Registers the after-each close; call inside the suite's `describe`. */
export function suiteContext(factory: ContractFactory): SuiteContext {
  const opened: ContractDatabase[] = [];
  const track = (db: ContractDatabase): ContractDatabase => {
    opened.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });
  const reopen = factory.reopen?.bind(factory);
  return {
    open: async () => track(await factory.open()),
    reopen: reopen === undefined ? undefined : async (closed) => track(await reopen(closed)),
    fill: async (db) => {
      // Out of order, so that order comes from the database, not from the writer.
      for (const key of [...orderedKeys].reverse()) await db.put(key, key);
    },
    collect: async (db, range = {}) => {
      const seen: string[] = [];
      for await (const [key, value] of db.entries(range)) {
        expect(hex(value)).toBe(hex(key));
        seen.push(hex(key));
      }
      return seen;
    },
  };
}
