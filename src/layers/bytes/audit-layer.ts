import { appendFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import type { BatchCondition, BatchOperation, Database, WriteOptions } from '../../contract/database.js';
import { PassThroughLayer, type LayerOptions } from '../pass-through-layer.js';
import { keyAsText } from './key-text.js';

/** Options of an {@link AuditLayer}. */
export interface AuditLayerOptions extends LayerOptions {
  /** The JSON-lines file that every write is appended to (made if missing). */
  path: string;
}

/** One line of the audit log. */
export interface AuditEntry {
  /** When the write was acknowledged by the store below, ISO 8601. */
  time: string;
  /** The machine. */
  host: string;
  /** The process. */
  pid: number;
  /** The operating-system user. */
  user: string;
  /** `put` or `del` (each operation of a batch is a line of its own). */
  op: 'put' | 'del';
  /** The key: as text when printable, else `0x` and hex. */
  key: string;
  /** Bytes of the value written (at this layer: before the layers below it, such as encrypt), 0 for a delete. */
  bytes: number;
}

/**
 * Appends a JSON line to a file for every put and delete that reaches the
 * store through it (one append per batch); reads pass through untouched.
 * A line is written once the store below has acknowledged the write, so the
 * log lists what was written; a process killed between the two loses that
 * line. Put it below `encrypt` to log the sizes of the stored ciphertext,
 * above it for the plaintext sizes; keys are the same either way.
 */
export class AuditLayer extends PassThroughLayer<Uint8Array> {
  /** The log file. */
  readonly path: string;
  readonly #who: Pick<AuditEntry, 'host' | 'pid' | 'user'>;
  /** Appends run one after another, so lines keep the order of the writes. */
  #appending: Promise<void> = Promise.resolve();

  /** Forwards the atomic claim of an empty store (see `openStore`) where the store below has one. */
  readonly initializeFormat?: (key: Uint8Array, value: Uint8Array) => Promise<Uint8Array | undefined>;

  constructor(below: Database<Uint8Array, Uint8Array>, options: AuditLayerOptions) {
    super(below, options);
    this.path = options.path;
    this.#who = { host: hostname(), pid: process.pid, user: currentUser() };
    const claim = (below as { initializeFormat?: (key: Uint8Array, value: Uint8Array) => Promise<Uint8Array | undefined> }).initializeFormat;
    if (typeof claim === 'function') {
      this.initializeFormat = async (key, value) => {
        const before = await claim.call(below, key, value);
        // Written by this process only when what is there now is what it offered.
        if (before !== undefined && Buffer.compare(before, value) === 0) await this.#log([{ type: 'put', key, value }]);
        return before;
      };
    }
  }

  /** Large values go through the layers as chunks, so every chunk is logged. */
  get blobs(): undefined {
    return undefined;
  }

  protected async _put(key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    await this.below.put(key, value, options);
    await this.#log([{ type: 'put', key, value }]);
  }

  protected async _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    await this.below.delete(key, options);
    await this.#log([{ type: 'del', key }]);
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    await this.below.batch(operations, options);
    await this.#log(operations);
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<boolean> {
    const applied = await this.below.batchIf(condition, operations, options);
    if (applied) await this.#log(operations);
    return applied;
  }

  protected async _close(): Promise<void> {
    await this.#appending;
    await super._close();
  }

  #log(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<void> {
    if (operations.length === 0) return this.#appending;
    const time = new Date().toISOString();
    const lines = operations.map((op) => {
      const entry: AuditEntry = { time, ...this.#who, op: op.type, key: keyAsText(op.key), bytes: op.type === 'put' ? op.value.length : 0 };
      return `${JSON.stringify(entry)}\n`;
    });
    // 'a': appends land at the end even when several processes log to one file.
    const append = this.#appending.then(() => appendFile(this.path, lines.join(''), { flag: 'a' }));
    this.#appending = append.catch(() => undefined);
    return append;
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid).
    return process.env.USER ?? String(process.getuid?.() ?? '');
  }
}
