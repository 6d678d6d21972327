import { createHash } from 'node:crypto';
import { isBlobId, type BlobInfo, type BlobReader, type BlobStore, type BlobWriteOptions, type ListedBlob } from '../../contract/blob-store.js';
import type { BatchOperation, Database } from '../../contract/database.js';
import { MemostrataError } from '../../errors.js';
import { blobChunkKey, blobKey, KeyPrefix, keyText, prefixRange } from '../keys.js';

/**
 * The most bytes in one chunk: one Redis command moves at most this much, so
 * no command blocks the server for long.
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunks written per batch: bounds the memory a write holds beyond the value. */
const CHUNKS_PER_BATCH = 4;

/** What `b!<id>` holds, as JSON. */
interface BlobHead {
  bytes: number;
  startedMs: number;
  complete: boolean;
}

/**
 * Blobs as chunks of at most {@link CHUNK_BYTES} under `b!` keys of a byte
 * database: for stores without a filesystem of their own (Redis, memory),
 * and for stacks with byte layers, whose chunks go through every layer
 * (encrypted, signed, audited) like any other value.
 *
 * `b!<id>` is written first, saying the write has started, then the chunks,
 * then `b!<id>` again saying it is complete, durably: a reader never takes a
 * blob whose chunks are not all there, and a killed write leaves a head that
 * says `complete: false`, which {@link KeyedBlobStore.list} reports.
 */
export class KeyedBlobStore implements BlobStore {
  readonly location: string;
  readonly #db: Database<Uint8Array, Uint8Array>;

  /** @param location - where `db` is, for messages. */
  constructor(db: Database<Uint8Array, Uint8Array>, location: string) {
    this.#db = db;
    this.location = `${location} (keys ${KeyPrefix.blob}…)`;
  }

  async write(parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: BlobWriteOptions = {}): Promise<BlobInfo> {
    // The chunk keys carry the name, so every part is produced (and, by default, hashed) first: held in memory.
    const views: Uint8Array[] = [];
    const hash = options.name === undefined ? createHash('sha256') : undefined;
    let bytes = 0;
    for await (const part of parts) {
      views.push(part);
      hash?.update(part);
      bytes += part.byteLength;
    }
    const id = options.name?.() ?? hash!.digest('hex');
    if (!isBlobId(id)) throw new MemostrataError('INVALID_ARGUMENT', `A blob was to be named ${JSON.stringify(id)}, which is not a blob id (64 lowercase hex characters).`);
    // Only where no head is: a complete head may already be named by a record (an equal value stored by
    // another writer), and saying `complete: false` over it would make that blob read as missing until
    // this write ends, and forever (and garbage to collect) if this process dies first.
    const started = await this.#db.batchIf({ key: blobKey(id), value: undefined }, [{ type: 'put', key: blobKey(id), value: head({ bytes, startedMs: Date.now(), complete: false }) }]);
    // Over a blob that is there, the writer's check comes first and the chunks are copies: a refusal (the value
    // changed in place during the write) must not have rewritten that blob's chunks with the changed bytes.
    const chunks = started || options.written === undefined ? chunksOf(views, CHUNK_BYTES) : [...chunksOf(views, CHUNK_BYTES)].map((chunk) => Uint8Array.from(chunk));
    if (!started) options.written?.();
    let batch: BatchOperation<Uint8Array, Uint8Array>[] = [];
    let index = 0;
    for (const chunk of chunks) {
      batch.push({ type: 'put', key: blobChunkKey(id, index++), value: chunk });
      if (batch.length === CHUNKS_PER_BATCH) {
        await this.#db.batch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.#db.batch(batch);
    if (started) {
      try {
        options.written?.();
      } catch (error) {
        // Refused: what this write started goes.
        await this.delete([id]);
        throw error;
      }
    }
    await this.#db.put(blobKey(id), head({ bytes, startedMs: Date.now(), complete: true }), { sync: true });
    return { id, bytes };
  }

  async open(id: string): Promise<BlobReader | undefined> {
    if (!isBlobId(id)) throw new MemostrataError('INVALID_ARGUMENT', `${JSON.stringify(id)} is not a blob id (64 lowercase hex characters).`);
    const stored = await this.#db.get(blobKey(id));
    if (stored === undefined) return undefined;
    const { bytes, complete } = parseHead(stored, id);
    return complete ? new KeyedBlobReader(this.#db, id, bytes) : undefined;
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (!isBlobId(id)) throw new MemostrataError('INVALID_ARGUMENT', `${JSON.stringify(id)} names no blob.`);
      // Chunks first: a head without chunks is an unfinished write, never a blob that reads as damaged.
      const chunks: BatchOperation<Uint8Array, Uint8Array>[] = [];
      for await (const key of this.#db.keys(prefixRange(`${KeyPrefix.blob}${id}!`))) chunks.push({ type: 'del', key });
      for (let start = 0; start < chunks.length; start += 1000) await this.#db.batch(chunks.slice(start, start + 1000));
      await this.#db.delete(blobKey(id));
    }
  }

  async *list(): AsyncGenerator<ListedBlob> {
    let heads: Uint8Array[] = [];
    for await (const key of this.#db.keys(prefixRange(KeyPrefix.blob))) {
      // Heads are exactly `b!<id>`; chunk keys have one more part.
      if (key.length !== KeyPrefix.blob.length + 64) continue;
      heads.push(key);
      if (heads.length === 1000) {
        yield* this.#listed(heads);
        heads = [];
      }
    }
    yield* this.#listed(heads);
  }

  async *#listed(keys: Uint8Array[]): AsyncGenerator<ListedBlob> {
    const values = await this.#db.getMany(keys);
    for (const [index, value] of values.entries()) {
      const id = keyText(keys[index]!).slice(KeyPrefix.blob.length);
      if (value === undefined) continue;
      const { bytes, complete, startedMs } = parseHead(value, id);
      yield { id, bytes, complete, modifiedMs: startedMs };
    }
  }
}

class KeyedBlobReader implements BlobReader {
  readonly bytes: number;
  readonly #db: Database<Uint8Array, Uint8Array>;
  readonly #id: string;

  constructor(db: Database<Uint8Array, Uint8Array>, id: string, bytes: number) {
    this.#db = db;
    this.#id = id;
    this.bytes = bytes;
  }

  async read(position: number, target: Uint8Array): Promise<void> {
    const end = position + target.byteLength;
    if (end > this.bytes) throw this.#damaged(`a read up to byte ${end} of its ${this.bytes}`);
    const first = Math.floor(position / CHUNK_BYTES);
    const last = Math.ceil(end / CHUNK_BYTES);
    // A few chunks at a time: a read of a whole large value must not hold every chunk at once.
    for (let start = first; start < last; start += CHUNKS_PER_BATCH) {
      const indexes = Array.from({ length: Math.min(CHUNKS_PER_BATCH, last - start) }, (_, offset) => start + offset);
      const chunks = await this.#db.getMany(indexes.map((index) => blobChunkKey(this.#id, index)));
      indexes.forEach((index, offset) => {
        const chunk = chunks[offset];
        const chunkStart = index * CHUNK_BYTES;
        const expected = Math.min(CHUNK_BYTES, this.bytes - chunkStart);
        if (chunk === undefined || chunk.byteLength !== expected) throw this.#damaged(`chunk ${index} is ${chunk === undefined ? 'missing' : `${chunk.byteLength} bytes, not ${expected}`}`);
        const from = Math.max(position, chunkStart);
        const to = Math.min(end, chunkStart + chunk.byteLength);
        target.set(chunk.subarray(from - chunkStart, to - chunkStart), from - position);
      });
    }
  }

  async close(): Promise<void> {}

  #damaged(what: string): MemostrataError {
    return new MemostrataError('CORRUPT', `The blob ${this.#id} is damaged: ${what}. Run \`memostrata verify --fix\`.`);
  }
}

/** `views` cut into chunks of `size` bytes (the last may be shorter): views where a chunk lies in one part, copies where it spans parts. */
function* chunksOf(views: readonly Uint8Array[], size: number): Generator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const joined = (): Uint8Array => (pending.length === 1 ? pending[0]! : Buffer.concat(pending));
  for (const view of views) {
    let offset = 0;
    while (offset < view.byteLength) {
      const take = Math.min(size - pendingBytes, view.byteLength - offset);
      pending.push(view.subarray(offset, offset + take));
      pendingBytes += take;
      offset += take;
      if (pendingBytes === size) {
        yield joined();
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes > 0) yield joined();
}

function head(value: BlobHead): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function parseHead(bytes: Uint8Array, id: string): BlobHead {
  let value: Partial<BlobHead> | null;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<BlobHead> | null;
  } catch {
    value = null;
  }
  if (value === null || typeof value !== 'object' || !Number.isSafeInteger(value.bytes) || value.bytes! < 0 || typeof value.complete !== 'boolean' || !Number.isFinite(value.startedMs)) {
    throw new MemostrataError('CORRUPT', `The head of blob ${id} (${KeyPrefix.blob}${id}) is damaged; run \`memostrata verify --fix\`.`);
  }
  return { bytes: value.bytes!, complete: value.complete, startedMs: value.startedMs! };
}
