import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { BlobReader } from '../../contract/blob-store.js';
import { MemostrataError } from '../../errors.js';
import type { SegmentType, SplitValue } from '../value-codec.js';
import { MAX_VALUE_BYTES } from '../limits.js';
import { typedArrayClasses, type SegmentWatch } from '../typed-arrays.js';
import { blockChecksum, WRITTEN_CHECKSUM, type BlockChecksum, type ChecksumKind } from './block-checksum.js';

/*
 * The layout of a blob that holds one large value (docs/store-format.md):
 *
 *   [0, 8)     magic 'MSTBLOB1'
 *   [8, 12)    u32 LE: T, bytes of the table
 *   [12, 16)   u32 LE: S, bytes of the skeleton
 *   [16, 20)   u32 LE: CRC-32 of [24, 24 + T + S)
 *   [20, 24)   zero
 *   [24, …)    the table, JSON: { block, checksum, segments: [{ type, path, offset, bytes }], crcOffset, crcCount },
 *              offsets counted from the data start
 *              then the skeleton (CBOR, ValueCodec.encodeSplit)
 *   data start (the header's end, rounded up to 8): each segment's bytes at
 *              its offset (8-aligned), little-endian, then the checksum of
 *              every `block` bytes of every segment in order (`checksum`:
 *              xxh64, u64 LE; absent in blobs written before it: CRC-32, u32
 *              LE; see block-checksum.ts). `crcOffset` and `crcCount` are
 *              where that checksum table starts and how many it holds.
 *
 * A segment's bytes are the typed array's own memory, so storing writes them
 * from the value and loading reads them into the new array: no whole-value
 * copy either way. The block checksums let a read of part of an array check
 * the bytes it read without reading the rest; they come last so that they
 * are computed while the segments are being written.
 *
 * The blob's name (see {@link valueBlob}) is the SHA-256 of the key that
 * names it, its header and its checksum table: the checksums stand for the
 * data, so naming costs no second pass over it, and a sound blob (every
 * block matches its checksum, the name matches) is the one that was written.
 * Blobs written before that were named by the SHA-256 of all their bytes;
 * {@link checkBlob} knows both.
 */

const MAGIC = Buffer.from('MSTBLOB1', 'latin1');
const FIXED_BYTES = 24;
/** The bytes each block checksum covers: a read of part of an array reads at most two blocks more than it asked for. */
export const BLOCK_BYTES = 64 * 1024;
/** Segments are written and read in slices of this size, so that checksums are computed while the disk works. */
const SLICE_BYTES = 8 * 1024 * 1024;
/**
 * The largest table and skeleton a blob may claim: as large as a value may be
 * stored (a value without typed arrays is all skeleton). A damaged length
 * allocates no more than the blob's own size, which bounds it too.
 */
const MAX_HEADER_BYTES = MAX_VALUE_BYTES;

/** Where a segment of a blob sits, from its table. */
export interface SegmentEntry {
  /** What the segment holds. */
  readonly type: SegmentType;
  /** Where it sits in the value. */
  readonly path: readonly (string | number)[];
  /** Its first byte, counted from the blob's start. */
  readonly position: number;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The index of its first block's checksum. */
  readonly firstBlock: number;
}

/** What a blob's header says: read once per open blob. */
export interface BlobLayout {
  /** The value's CBOR with segment indexes where its large binaries stood. */
  readonly skeleton: Uint8Array;
  /** The segments, in index order. */
  readonly segments: readonly SegmentEntry[];
  /** How its blocks are checksummed. */
  readonly checksum: BlockChecksum;
  /** The checksum of every block of every segment, as stored. */
  readonly sums: Buffer;
  /** The bytes each checksum covers. */
  readonly block: number;
  /** The header as stored (fixed part; table and skeleton): with {@link BlobLayout.sums}, what a value blob's name covers. */
  readonly header: readonly Uint8Array[];
}

/** The element size of a segment type (1 for a Buffer). */
export function elementBytes(type: SegmentType): number {
  return type === 'Buffer' ? 1 : typedArrayClasses[type].BYTES_PER_ELEMENT;
}

/** A large value's blob, ready for {@link BlobStore.write}: its bytes in order, and its name once they have all been taken. */
export interface ValueBlob {
  /** The blob's bytes, as views to write in order (see {@link valueBlob}). */
  readonly parts: Iterable<Uint8Array>;
  /**
   * The blob's name as the value stored at `key`; only once every part has
   * been taken (it covers the checksums computed on the way).
   */
  name(key: Uint8Array): string;
}

/** The block checksum blobs are written with, loaded. */
export function writtenChecksum(): Promise<BlockChecksum> {
  return blockChecksum(WRITTEN_CHECKSUM);
}

/**
 * The blob that holds `split`, a value to store, its blocks summed with
 * `checksum` (see {@link writtenChecksum}). Its parts are the header, then
 * the segments in slices that are views of the value's memory, then the
 * checksum table. A slice's checksums are computed when the part after it is
 * asked for, so that they are computed while the disk writes it (and a writer
 * that takes every part at once hands all the slices over first).
 */
export function valueBlob(split: SplitValue, checksum: BlockChecksum): ValueBlob {
  let offset = 0;
  let count = 0;
  const segments = split.segments.map((segment) => {
    const entry = { type: segment.type, path: segment.path, offset, bytes: segment.bytes.byteLength };
    offset = align8(offset + segment.bytes.byteLength);
    count += Math.ceil(segment.bytes.byteLength / BLOCK_BYTES);
    return entry;
  });
  const table = Buffer.from(JSON.stringify({ block: BLOCK_BYTES, checksum: checksum.kind, segments, crcOffset: offset, crcCount: count }), 'utf8');
  const fixed = Buffer.alloc(FIXED_BYTES);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(table.length, 8);
  fixed.writeUInt32LE(split.skeleton.length, 12);
  fixed.writeUInt32LE(crc32(split.skeleton, crc32(table)), 16);
  // Not joined: a value without typed arrays is all skeleton, which may be hundreds of MB.
  const header = [fixed, table, split.skeleton];
  const headerBytes = FIXED_BYTES + table.length + split.skeleton.length;
  const sums = Buffer.alloc(count * checksum.bytes);
  let summed = 0;
  // Let go once written: a write started early keeps the name, not the value's memory.
  let segmentsLeft: SplitValue['segments'] | undefined = split.segments;
  function* parts(): Generator<Uint8Array> {
    yield* header;
    yield padding(headerBytes);
    for (const segment of segmentsLeft ?? []) {
      const bytes = segment.bytes;
      for (let start = 0; start < bytes.byteLength; start += SLICE_BYTES) {
        const slice = bytes.subarray(start, Math.min(start + SLICE_BYTES, bytes.byteLength));
        // Summed when the next part is asked for: after the writer has handed this slice to the disk.
        yield slice;
        for (let block = 0; block < slice.byteLength; block += BLOCK_BYTES) checksum.put(slice.subarray(block, block + BLOCK_BYTES), sums, checksum.bytes * summed++);
      }
      yield padding(bytes.byteLength);
    }
    segmentsLeft = undefined;
    yield sums;
  }
  return {
    parts: parts(),
    name: (key) => {
      if (summed !== count) throw new Error('valueBlob: the name was asked for before every part was taken');
      return blobName(key, header, sums);
    },
  };
}

/** A value blob's name: the SHA-256 of a tag, the key that names the blob, its header (fixed part, table, skeleton) and its checksum table. */
function blobName(key: Uint8Array, header: readonly Uint8Array[], sums: Uint8Array): string {
  const keyLength = Buffer.alloc(4);
  keyLength.writeUInt32LE(key.length);
  const hash = createHash('sha256').update(NAME_TAG).update(keyLength).update(key);
  for (const part of header) hash.update(part);
  return hash.update(sums).digest('hex');
}

/** Whether `id` is the name a value blob with `layout` gets at `key` (not so for blobs named by the SHA-256 of their bytes). */
function isNamedFrom(layout: BlobLayout, key: Uint8Array, id: string): boolean {
  return blobName(key, layout.header, layout.sums) === id;
}

/** Sets the names of value blobs apart from SHA-256s of other byte strings. */
const NAME_TAG = Buffer.from('memostrata value blob\0', 'latin1');

/**
 * Reads and checks the header of the blob `reader` has open.
 *
 * @throws MemostrataError `CORRUPT` when it is not a blob of a value or is damaged.
 */
export async function readBlobLayout(reader: BlobReader, name: string): Promise<BlobLayout> {
  const fail = (what: string): never => {
    throw new MemostrataError('CORRUPT', `The blob ${name} is damaged: ${what}. Run \`memostrata verify --fix\`.`);
  };
  if (reader.bytes < FIXED_BYTES) fail(`it has ${reader.bytes} bytes, fewer than a header`);
  const fixed = Buffer.alloc(FIXED_BYTES);
  await reader.read(0, fixed);
  if (!fixed.subarray(0, 8).equals(MAGIC)) fail('it does not start with MSTBLOB1');
  const tableBytes = fixed.readUInt32LE(8);
  const skeletonBytes = fixed.readUInt32LE(12);
  if (tableBytes + skeletonBytes > Math.min(MAX_HEADER_BYTES, reader.bytes - FIXED_BYTES)) fail('its header claims more bytes than it has');
  const header = Buffer.alloc(tableBytes + skeletonBytes);
  await reader.read(FIXED_BYTES, header);
  if (crc32(header) !== fixed.readUInt32LE(16)) fail('its header does not match its checksum');
  const table = parseTable(header.subarray(0, tableBytes), fail);
  const checksum = await blockChecksum(table.checksum ?? 'crc32');
  const dataStart = align8(FIXED_BYTES + header.length);
  const sumsPosition = dataStart + table.crcOffset;
  const end = sumsPosition + checksum.bytes * table.crcCount;
  if (end !== reader.bytes) fail(`it has ${reader.bytes} bytes where its table says ${end}`);
  const sums = Buffer.alloc(checksum.bytes * table.crcCount);
  await reader.read(sumsPosition, sums);
  let firstBlock = 0;
  let segmentsEnd = 0;
  const segments = table.segments.map((segment): SegmentEntry => {
    if (segment.offset !== align8(segmentsEnd) || segment.bytes % elementBytes(segment.type) !== 0) fail('its segments are not laid out in order');
    const entry = { type: segment.type, path: segment.path, position: dataStart + segment.offset, bytes: segment.bytes, firstBlock };
    firstBlock += Math.ceil(segment.bytes / table.block);
    segmentsEnd = segment.offset + segment.bytes;
    return entry;
  });
  if (firstBlock !== table.crcCount || align8(segmentsEnd) !== table.crcOffset) fail('its table does not add up');
  // The skeleton shares no memory with the header buffer's other parts that matter; keep a view.
  return { skeleton: header.subarray(tableBytes), segments, checksum, sums, block: table.block, header: [fixed, header] };
}

/**
 * The whole of segment `index`, read straight into the memory of a new typed
 * array (or Buffer) and, with `verifyBlocks`, checked block by block; `watch`
 * sees its bytes as they arrive.
 *
 * @throws MemostrataError `CORRUPT` when a block does not match its checksum.
 */
export async function readSegment(reader: BlobReader, layout: BlobLayout, index: number, name: string, verifyBlocks = true, watch?: SegmentWatch): Promise<ArrayBufferView> {
  const segment = layout.segments[index]!;
  const array = allocate(segment.type, segment.bytes);
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  const seen = watch?.(array);
  if (!verifyBlocks && seen === undefined) {
    await reader.read(segment.position, bytes);
    return array;
  }
  // Read slice i + 1 while checking slice i: the read runs in the thread pool.
  let previous: { read: Promise<void>; start: number; end: number } | undefined;
  for (let start = 0; start === 0 || previous !== undefined; start += SLICE_BYTES) {
    const end = Math.min(start + SLICE_BYTES, bytes.length);
    let read: Promise<void> | undefined;
    if (start < end) {
      read = reader.read(segment.position + start, bytes.subarray(start, end));
      // Awaited below; until then a failure must not count as unhandled.
      read.catch(() => undefined);
    }
    if (previous !== undefined) {
      await previous.read;
      if (verifyBlocks) checkBlocks(layout, segment, bytes, previous.start, previous.end, name);
      seen?.(bytes.subarray(previous.start, previous.end));
    }
    previous = read === undefined ? undefined : { read, start, end };
  }
  return array;
}

/**
 * Bytes `[start, end)` of segment `index`, reading only the blocks that hold
 * them, checked against their checksums.
 *
 * @throws MemostrataError `CORRUPT` when a block does not match its checksum.
 */
export async function readSegmentRange(reader: BlobReader, layout: BlobLayout, index: number, start: number, end: number, name: string): Promise<Uint8Array> {
  const segment = layout.segments[index]!;
  const first = Math.floor(start / layout.block) * layout.block;
  const last = Math.min(Math.ceil(end / layout.block) * layout.block, segment.bytes);
  const bytes = new Uint8Array(Math.max(0, last - first));
  if (bytes.length > 0) await reader.read(segment.position + first, bytes);
  checkBlocks(layout, segment, bytes, 0, bytes.length, name, first);
  return bytes.subarray(start - first, end - first);
}

/** Builds the value a blob holds: every segment read into its own array, then the skeleton decoded around them. */
export async function readSegments(reader: BlobReader, layout: BlobLayout, name: string, verifyBlocks = true, watch?: SegmentWatch): Promise<ArrayBufferView[]> {
  const arrays: ArrayBufferView[] = [];
  for (let index = 0; index < layout.segments.length; index++) arrays.push(await readSegment(reader, layout, index, name, verifyBlocks, watch));
  return arrays;
}

/**
 * Checks a whole blob against the reference that names it: its size, its
 * header and table, the checksum of every block, and its name. A value blob's name
 * is checked from `keys` (those that name it: one is the key it was written
 * for) and its layout; a blob not named that way (written before value blobs
 * were, or damaged in its header or checksums) has all its bytes hashed against
 * it. Reads the blob once, in slices (a 1 GiB blob never sits in memory);
 * `tap` gets each slice in order, its own copy (an export writes them out).
 *
 * @returns what is wrong, for people, or `undefined` when the blob is sound.
 */
export async function checkBlob(
  reader: BlobReader,
  reference: { id: string; bytes: number },
  name: string,
  keys: readonly Uint8Array[],
  tap?: (slice: Uint8Array) => Promise<void>,
): Promise<string | undefined> {
  if (reader.bytes !== reference.bytes) return `it has ${reader.bytes} bytes, not the ${reference.bytes} it was written with`;
  let hash: Hash | undefined;
  try {
    const layout = await readBlobLayout(reader, name);
    if (!keys.some((key) => isNamedFrom(layout, key, reference.id))) hash = createHash('sha256');
    const size = Math.min(SLICE_BYTES, Math.max(reader.bytes, 1));
    const reused = tap === undefined ? Buffer.allocUnsafe(size) : undefined;
    /** Reads `[from, to)` slice by slice; `check` sees each slice with its offset from `from`. */
    const pass = async (from: number, to: number, check?: (view: Uint8Array, offset: number) => void): Promise<void> => {
      for (let start = from; start < to; start += SLICE_BYTES) {
        const length = Math.min(SLICE_BYTES, to - start);
        const view = reused?.subarray(0, length) ?? Buffer.allocUnsafe(length);
        await reader.read(start, view);
        hash?.update(view);
        check?.(view, start - from);
        await tap?.(view);
      }
    };
    let cursor = 0;
    for (const segment of layout.segments) {
      await pass(cursor, segment.position);
      // SLICE_BYTES is a multiple of the block size, so every slice starts on a block.
      await pass(segment.position, segment.position + segment.bytes, (view, offset) => checkBlocks(layout, segment, view, 0, view.length, name, offset));
      cursor = segment.position + segment.bytes;
    }
    await pass(cursor, reader.bytes);
  } catch (error) {
    if (error instanceof MemostrataError && error.code === 'CORRUPT') return error.message;
    throw error;
  }
  return hash === undefined || hash.digest('hex') === reference.id ? undefined : 'its bytes do not match its name (they changed after it was written)';
}

/** Checks the blocks of `segment` held in `bytes[from, to)`, where `bytes[0]` is the segment's byte `base`. */
function checkBlocks(layout: BlobLayout, segment: SegmentEntry, bytes: Uint8Array, from: number, to: number, name: string, base = 0): void {
  const { checksum } = layout;
  for (let offset = from; offset < to; offset += layout.block) {
    const block = segment.firstBlock + (base + offset) / layout.block;
    if (!checksum.matches(bytes.subarray(offset, Math.min(offset + layout.block, to)), layout.sums, checksum.bytes * block)) {
      throw new MemostrataError('CORRUPT', `The blob ${name} is damaged: block ${block} (bytes ${segment.position + base + offset}…) does not match its checksum. Run \`memostrata verify --fix\`.`);
    }
  }
}

/**
 * A typed array (or Buffer) of `bytes` bytes, for a segment of `type`. Not
 * zeroed: a segment read fills every byte or throws, so nothing old is seen,
 * and zeroing a gigabyte first would cost a pass over it.
 */
function allocate(type: SegmentType, bytes: number): ArrayBufferView {
  const memory = Buffer.allocUnsafeSlow(bytes);
  if (type === 'Buffer') return memory;
  const Class = typedArrayClasses[type];
  return new Class(memory.buffer, memory.byteOffset, bytes / Class.BYTES_PER_ELEMENT);
}

interface Table {
  block: number;
  /** Absent in blobs written before checksums were xxh64: CRC-32. */
  checksum?: ChecksumKind;
  segments: { type: SegmentType; path: (string | number)[]; offset: number; bytes: number }[];
  crcOffset: number;
  crcCount: number;
}

/** The table of a blob, checked field by field: its bytes come from disk. */
function parseTable(bytes: Uint8Array, fail: (what: string) => never): Table {
  let table: unknown;
  try {
    table = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return fail('its table is not JSON');
  }
  const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
  const record = table as Partial<Table> | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    record.block !== BLOCK_BYTES ||
    (record.checksum !== undefined && record.checksum !== 'crc32' && record.checksum !== 'xxh64') ||
    !isCount(record.crcOffset) ||
    !isCount(record.crcCount) ||
    !Array.isArray(record.segments)
  ) {
    fail('its table is malformed');
  }
  for (const segment of record!.segments!) {
    const valid =
      segment !== null &&
      typeof segment === 'object' &&
      (segment.type === 'Buffer' || Object.hasOwn(typedArrayClasses, segment.type)) &&
      isCount(segment.offset) &&
      isCount(segment.bytes) &&
      Array.isArray(segment.path) &&
      segment.path.every((step) => typeof step === 'string' || isCount(step));
    if (!valid) fail('a segment of its table is malformed');
  }
  return record as Table;
}

function align8(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}

const ZEROS = new Uint8Array(8);

/** The zero bytes that bring `length` to a multiple of 8. */
function padding(length: number): Uint8Array {
  return ZEROS.subarray(0, align8(length) - length);
}
