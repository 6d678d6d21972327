import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MemostrataError } from '../errors.js';

/** LMDB's lock file in an environment directory: the reader table and the shared last-transaction word. */
const LOCK_FILE = 'lock.mdb';
/** `MDB_MAGIC`, the lock file's first little-endian uint32. */
const LOCK_MAGIC = 0xbeefc0de;
/** Where the last committed transaction id (`mti_txnid`, a little-endian uint64) sits in the lock file. */
const LAST_TXN_OFFSET = 8;

/**
 * The last-transaction word of an LMDB environment's lock file, and the one
 * repair memostrata makes to it.
 *
 * Why it needs repair: every write transaction starts from the snapshot this
 * word names. The LMDB that lmdb-js 3.x bundles sets the word, in every
 * process that opens the environment, to the transaction id it read from the
 * data file's header moments before, without taking the write lock (upstream
 * LMDB fixed the same line as ITS#9496). When another process commits in
 * between, the word moves back one transaction; the next write transaction,
 * in any process, then starts from the older snapshot, takes the same id,
 * and its commit replaces the newer one: acknowledged writes vanish, or a
 * later commit fails with `mdb_page_touch no parent`.
 *
 * A write transaction holding the write lock can tell (its id is not the one
 * after the newest meta page's) and set the word right before writing anything.
 */
export class LmdbLockFile {
  readonly #path: string;
  #fd: number | undefined;

  /** @param directory - the environment directory. */
  constructor(directory: string) {
    this.#path = join(directory, LOCK_FILE);
  }

  /**
   * Sets the last-transaction word to `newest`, the newest committed
   * transaction id, unless it already says so. Only while this process holds
   * LMDB's write lock, so that no commit moves the word meanwhile; a word
   * above `newest` is as wrong as one below it (LMDB picks the meta page by
   * the word's parity), and LMDB itself sets the word to the newest meta
   * page's id under that lock when a writer died holding it.
   *
   * @throws MemostrataError `BACKEND` when the lock file does not start with
   *   LMDB's magic (a layout this code does not know): nothing is written.
   */
  repair(newest: number): void {
    // Kept open until close(): closing any descriptor of the lock file drops every
    // fcntl lock this process holds on it, LMDB's own included.
    this.#fd ??= openSync(this.#path, 'r+');
    const head = Buffer.alloc(LAST_TXN_OFFSET + 8);
    readSync(this.#fd, head, 0, head.length, 0);
    if (head.readUInt32LE(0) !== LOCK_MAGIC) {
      throw new MemostrataError('BACKEND', `${this.#path} does not start with LMDB's magic number, so its last-transaction word cannot be repaired; nothing was written. Close every process using the store and open it again.`);
    }
    if (head.readBigUInt64LE(LAST_TXN_OFFSET) === BigInt(newest)) return;
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(BigInt(newest));
    writeSync(this.#fd, word, 0, word.length, LAST_TXN_OFFSET);
  }

  /** Closes the descriptor `repair` opened. Only after the environment is closed in this process. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}
