import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { BlobReader } from '../contract/blob-store.js';
import { MemostrataError } from '../errors.js';

/*
 * The framing of a memostrata export file (docs/export-format.md): a CBOR
 * sequence (RFC 8742) of a header map, entries [key text, tag 24(byte string)],
 * blobs ["blob", id text, byte string] (version 2), and a trailer map. Entries are written and read here by hand, never through
 * cbor-x: reading must not hand untrusted bytes to a decoder that acts on tags,
 * and entry values are copied straight from the store without decoding.
 */

/** The `format` field of an export header. */
export const EXPORT_FORMAT = 'memostrata-export';
/** The `format` field of an export trailer. */
export const EXPORT_END_FORMAT = 'memostrata-export-end';
/** The version of the export file format this code writes: 2 adds blob items. */
export const EXPORT_VERSION = 2;
/** The export file format versions this code reads. */
export const READS_EXPORT_VERSIONS: readonly number[] = [1, 2];
/** The first item of a blob item. */
const BLOB_ITEM = 'blob';
/** A blob's bytes are read from the file in slices of this size. */
const BLOB_SLICE = 8 * 1024 * 1024;

const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
/** RFC 8949 §3.4.5.1: encoded CBOR data item. */
const TAG_EMBEDDED_CBOR = 24;
const READ_CHUNK = 1 << 20;
const MAX_DEPTH = 64;

/** The head (initial byte and argument) of a CBOR data item. */
export function cborHead(major: number, argument: number): Buffer {
  if (argument < 24) return Buffer.from([(major << 5) | argument]);
  if (argument < 0x100) return Buffer.from([(major << 5) | 24, argument]);
  if (argument < 0x10000) {
    const head = Buffer.alloc(3);
    head[0] = (major << 5) | 25;
    head.writeUInt16BE(argument, 1);
    return head;
  }
  if (argument < 0x100000000) {
    const head = Buffer.alloc(5);
    head[0] = (major << 5) | 26;
    head.writeUInt32BE(argument, 1);
    return head;
  }
  const head = Buffer.alloc(9);
  head[0] = (major << 5) | 27;
  head.writeBigUInt64BE(BigInt(argument), 1);
  return head;
}

/** The parts of one entry item: `[key text, 24(value bytes)]`. */
export function entryParts(key: Uint8Array, value: Uint8Array): Uint8Array[] {
  return [
    cborHead(MAJOR_ARRAY, 2),
    cborHead(MAJOR_TEXT, key.length),
    key,
    cborHead(MAJOR_TAG, TAG_EMBEDDED_CBOR),
    cborHead(MAJOR_BYTES, value.length),
    value,
  ];
}

/** The head of a blob item, `["blob", id, h'…']`, whose bytes (`size` of them) follow it. */
export function blobItemHead(id: string, size: number): Uint8Array[] {
  const name = Buffer.from(BLOB_ITEM, 'latin1');
  const text = Buffer.from(id, 'latin1');
  return [cborHead(MAJOR_ARRAY, 3), cborHead(MAJOR_TEXT, name.length), name, cborHead(MAJOR_TEXT, text.length), text, cborHead(MAJOR_BYTES, size)];
}

/** One item of an export file. */
export type ExportItem =
  | { kind: 'map'; bytes: Uint8Array; offset: number }
  | { kind: 'entry'; key: Uint8Array; value: Uint8Array; offset: number }
  /** A blob: its bytes are `[dataOffset, dataOffset + size)` of the file, not read (see {@link ExportReader.blobSlices}). */
  | { kind: 'blob'; id: string; size: number; dataOffset: number; offset: number };

/**
 * Reads the items of an export file one at a time, holding only the current
 * item in memory. Anything but the expected framing, and a file that ends
 * inside an item, throw `CORRUPT` with the byte offset.
 */
export class ExportReader {
  readonly #file: FileHandle;
  readonly #size: number;
  readonly #name: string;
  #buffer = Buffer.alloc(0);
  /** Index of the next unread byte in #buffer. */
  #pos = 0;
  /** File offset of #buffer[0]. */
  #base = 0;

  constructor(file: FileHandle, size: number, name: string) {
    this.#file = file;
    this.#size = size;
    this.#name = name;
  }

  /** The file offset of the next unread byte. */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** The next item, or `undefined` at the end of the file. */
  async next(): Promise<ExportItem | undefined> {
    this.#compact();
    if (!(await this.#ensure(1))) return undefined;
    const offset = this.offset;
    const major = this.#buffer[this.#pos]! >> 5;
    if (major === MAJOR_MAP) {
      const start = this.#pos;
      await this.#skipItem(0);
      return { kind: 'map', bytes: this.#buffer.subarray(start, this.#pos), offset };
    }
    const length = major === MAJOR_ARRAY ? await this.#head(MAJOR_ARRAY) : undefined;
    if (length === 3) return this.#blob(offset);
    if (length !== 2) throw this.corrupt(offset, 'expected an entry [key, 24(value)] or a blob ["blob", id, bytes]');
    const key = await this.#bytes(await this.#head(MAJOR_TEXT));
    if ((await this.#head(MAJOR_TAG)) !== TAG_EMBEDDED_CBOR) throw this.corrupt(offset, 'expected the value as tag 24 (embedded CBOR)');
    const value = await this.#bytes(await this.#head(MAJOR_BYTES));
    return { kind: 'entry', key, value, offset };
  }

  /**
   * The bytes of a blob item, in slices of at most 8 MiB, each a new buffer
   * (so a consumer may hold them): read synchronously, for `BlobStore.write`,
   * which takes its parts as a plain iterable.
   */
  *blobSlices(item: { size: number; dataOffset: number }): Generator<Uint8Array> {
    for (let done = 0; done < item.size; ) {
      const slice = Buffer.allocUnsafe(Math.min(BLOB_SLICE, item.size - done));
      let filled = 0;
      while (filled < slice.length) {
        const read = readSync(this.#file.fd, slice, filled, slice.length - filled, item.dataOffset + done + filled);
        if (read === 0) throw this.corrupt(item.dataOffset + done + filled, 'the file ends inside a blob (truncated?)');
        filled += read;
      }
      done += slice.length;
      yield slice;
    }
  }

  /** A blob item's bytes as a {@link BlobReader}, for checking them where they lie in the file. */
  blobReader(item: { size: number; dataOffset: number }): BlobReader {
    const file = this.#file;
    const fail = (offset: number): MemostrataError => this.corrupt(offset, 'the file ends inside a blob (truncated?)');
    return {
      bytes: item.size,
      async read(position, target) {
        if (position + target.byteLength > item.size) throw fail(item.dataOffset + item.size);
        for (let filled = 0; filled < target.byteLength; ) {
          const { bytesRead } = await file.read(target, filled, target.byteLength - filled, item.dataOffset + position + filled);
          if (bytesRead === 0) throw fail(item.dataOffset + position + filled);
          filled += bytesRead;
        }
      },
      async close() {},
    };
  }

  /** The rest of a blob item after its array head: its name, id and the head of its bytes, which are skipped. */
  async #blob(offset: number): Promise<ExportItem> {
    const name = Buffer.from(await this.#bytes(await this.#head(MAJOR_TEXT))).toString('latin1');
    if (name !== BLOB_ITEM) throw this.corrupt(offset, `expected a blob item ["blob", id, bytes], found a first item ${JSON.stringify(name)}`);
    const id = Buffer.from(await this.#bytes(await this.#head(MAJOR_TEXT))).toString('latin1');
    if (!/^[0-9a-f]{64}$/.test(id)) throw this.corrupt(offset, `a blob item's id is not 64 hex digits`);
    const size = await this.#head(MAJOR_BYTES);
    const dataOffset = this.offset;
    if (dataOffset + size > this.#size) throw this.corrupt(offset, `the file ends inside blob ${id} (truncated?)`);
    // Skip the bytes without reading them: the next item starts after them.
    this.#base = dataOffset + size;
    this.#buffer = Buffer.alloc(0);
    this.#pos = 0;
    return { kind: 'blob', id, size, dataOffset, offset };
  }

  /** A `CORRUPT` error naming the file and the offset. */
  corrupt(offset: number, what: string): MemostrataError {
    return new MemostrataError('CORRUPT', `${this.#name} is not a valid memostrata export at byte ${offset}: ${what}. Nothing was imported.`);
  }

  /** Reads the head of an item of major type `major` and returns its argument. */
  async #head(major: number): Promise<number> {
    const offset = this.offset;
    await this.#need(1, offset);
    const initial = this.#buffer[this.#pos]!;
    if (initial >> 5 !== major) throw this.corrupt(offset, `expected CBOR major type ${major}, found ${initial >> 5}`);
    return this.#argument(offset);
  }

  /** Reads the argument of the head at the current position (any major type). */
  async #argument(offset: number): Promise<number> {
    const info = this.#buffer[this.#pos]! & 0x1f;
    if (info < 24) {
      this.#pos += 1;
      return info;
    }
    if (info > 27) throw this.corrupt(offset, 'indefinite lengths and reserved values are not used in export files');
    const width = 1 << (info - 24);
    await this.#need(1 + width, offset);
    const at = this.#pos + 1;
    const value =
      width === 1 ? this.#buffer[at]! : width === 2 ? this.#buffer.readUInt16BE(at) : width === 4 ? this.#buffer.readUInt32BE(at) : Number(this.#buffer.readBigUInt64BE(at));
    this.#pos += 1 + width;
    return value;
  }

  /** Reads `length` bytes as one piece. */
  async #bytes(length: number): Promise<Uint8Array> {
    await this.#need(length, this.offset);
    const bytes = this.#buffer.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return bytes;
  }

  /** Skips one complete item (for the header and trailer maps). */
  async #skipItem(depth: number): Promise<void> {
    const offset = this.offset;
    if (depth > MAX_DEPTH) throw this.corrupt(offset, 'nesting too deep');
    await this.#need(1, offset);
    const major = this.#buffer[this.#pos]! >> 5;
    const argument = await this.#argument(offset);
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) await this.#bytes(argument);
    else if (major === MAJOR_ARRAY) for (let i = 0; i < argument; i += 1) await this.#skipItem(depth + 1);
    else if (major === MAJOR_MAP) for (let i = 0; i < 2 * argument; i += 1) await this.#skipItem(depth + 1);
    else if (major === MAJOR_TAG) await this.#skipItem(depth + 1);
  }

  /** Makes `length` more bytes available, or throws `CORRUPT`: the file ends too soon. */
  async #need(length: number, offset: number): Promise<void> {
    if (this.offset + length > this.#size || !(await this.#ensure(length))) {
      throw this.corrupt(offset, `the file ends inside an item (it is ${this.#size} bytes; truncated?)`);
    }
  }

  /** Reads until `length` unread bytes are buffered; false if the file ends first. */
  async #ensure(length: number): Promise<boolean> {
    const available = this.#buffer.length - this.#pos;
    if (available >= length) return true;
    const fileOffset = this.#base + this.#buffer.length;
    const wanted = Math.min(Math.max(length - available, READ_CHUNK), this.#size - fileOffset);
    if (wanted <= 0) return false;
    const next = Buffer.allocUnsafe(available + wanted);
    this.#buffer.copy(next, 0, this.#pos);
    const { bytesRead } = await this.#file.read(next, available, wanted, fileOffset);
    // Earlier items may still be referenced by the caller: #buffer is replaced, never overwritten.
    this.#base += this.#pos;
    this.#pos = 0;
    this.#buffer = next.subarray(0, available + bytesRead);
    if (bytesRead < wanted) throw this.corrupt(fileOffset + bytesRead, 'the file changed size while it was read');
    return this.#buffer.length >= length;
  }

  /** Drops consumed bytes once they are many, so one pass holds about one chunk. */
  #compact(): void {
    if (this.#pos < READ_CHUNK) return;
    this.#base += this.#pos;
    this.#buffer = this.#buffer.subarray(this.#pos);
    this.#pos = 0;
  }
}
