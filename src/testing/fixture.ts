import type { Database } from '../contract/database.js';

/**
 * A database under the contract: byte keys, and values that round-trip a
 * `Uint8Array` (a byte backend stores it as is; a typed layer serializes it).
 *
 * @category Contract suite
 */
export type ContractDatabase = Database<Uint8Array, unknown>;

/**
 * How the contract suite gets the databases it tests.
 *
 * @category Contract suite
 */
export interface ContractFactory {
  /** A new, empty database, of its own: every test opens one and the suite closes it. */
  open(): Promise<ContractDatabase>;
  /**
   * The store of `closed` (already closed), opened again. Give it for a
   * persistent database: the suite then tests that data outlives close();
   * without it that test is not run.
   * @default undefined
   */
  reopen?(closed: ContractDatabase): Promise<ContractDatabase>;
}
