import { fstatSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MemostrataError } from '../errors.js';

/** LMDB's lock file in an environment directory: the reader table and the shared last-transaction word. */
const LOCK_FILE = 'lock.mdb';
/** `MDB_MAGIC`, the lock file's first little-endian uint32. */
const LOCK_MAGIC = 0xbeefc0de;
/** Where the last committed transaction id (`mti_txnid`, a little-endian uint64) sits in the lock file. */
const LAST_TXN_OFFSET = 8;

/** Where the OS lists this process's open descriptors by number (Linux, then macOS and the BSDs). */
const DESCRIPTOR_LISTS = ['/proc/self/fd', '/dev/fd'];

/**
 * A descriptor LMDB already holds on the lock file at `path`, written through and never closed.
 * This process must neither close a descriptor of it (that drops every fcntl lock the process
 * holds on it, LMDB's included) nor open one to close later: no thread can tell when the whole
 * process is done with the environment (lmdb-js shares one native environment between the
 * threads that open a path), and Node closes a worker thread's descriptors when it exits.
 */
function lmdbDescriptorOf(path: string): number | undefined {
  const { dev, ino } = statSync(path);
  for (const list of DESCRIPTOR_LISTS) {
    let names: string[];
    try {
      names = readdirSync(list);
    } catch {
      continue;
    }
    for (const name of names) {
      const fd = Number(name);
      try {
        const stat = fstatSync(fd);
        if (stat.dev === dev && stat.ino === ino) return fd;
      } catch {
        // The listing's own descriptor, closed once read.
      }
    }
  }
  return undefined;
}

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
    const fd = lmdbDescriptorOf(this.#path);
    if (fd === undefined) {
      throw new MemostrataError('BACKEND', `This process holds no descriptor of ${this.#path} to repair its last-transaction word through (it lists its descriptors in ${DESCRIPTOR_LISTS.join(' or ')}); nothing was written. Retry the write; if this persists, close every process using the store and open it again.`);
    }
    const head = Buffer.alloc(LAST_TXN_OFFSET + 8);
    readSync(fd, head, 0, head.length, 0);
    if (head.readUInt32LE(0) !== LOCK_MAGIC) {
      throw new MemostrataError('BACKEND', `${this.#path} does not start with LMDB's magic number, so its last-transaction word cannot be repaired; nothing was written. Close every process using the store and open it again.`);
    }
    if (head.readBigUInt64LE(LAST_TXN_OFFSET) === BigInt(newest)) return;
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(BigInt(newest));
    writeSync(fd, word, 0, word.length, LAST_TXN_OFFSET);
  }
}
