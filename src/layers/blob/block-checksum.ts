import { crc32 } from 'node:zlib';
import { loadXxhash } from '../digest.js';

/**
 * The checksum of each block of a blob's segments: `xxh64` (xxHash64, seed 0,
 * u64 LE) for blobs written now, `crc32` (u32 LE) for blobs written before
 * it. xxHash64 runs at about twice the speed of zlib's CRC-32 here, and a
 * store of a large value computes one per block.
 */
export type ChecksumKind = 'crc32' | 'xxh64';

/** The checksum blobs are written with. */
export const WRITTEN_CHECKSUM: ChecksumKind = 'xxh64';

/** One kind of block checksum, ready to compute (its code loaded). */
export interface BlockChecksum {
  readonly kind: ChecksumKind;
  /** The bytes of one checksum in a blob's table. */
  readonly bytes: 4 | 8;
  /** Writes the checksum of `block` into `table` at `offset`. */
  put(block: Uint8Array, table: Buffer, offset: number): void;
  /** Whether `block`'s checksum is the one at `offset` of `table`. */
  matches(block: Uint8Array, table: Buffer, offset: number): boolean;
}

const crc: BlockChecksum = {
  kind: 'crc32',
  bytes: 4,
  put: (block, table, offset) => table.writeUInt32LE(crc32(block), offset),
  matches: (block, table, offset) => crc32(block) === table.readUInt32LE(offset),
};

let xxh64: Promise<BlockChecksum> | undefined;

/** The block checksum `kind`, once its code is loaded. */
export function blockChecksum(kind: ChecksumKind): Promise<BlockChecksum> {
  if (kind === 'crc32') return Promise.resolve(crc);
  xxh64 ??= loadXxhash().then(
    ({ h64Raw }): BlockChecksum => ({
      kind: 'xxh64',
      bytes: 8,
      put: (block, table, offset) => table.writeBigUInt64LE(h64Raw(block, 0n), offset),
      matches: (block, table, offset) => h64Raw(block, 0n) === table.readBigUInt64LE(offset),
    }),
    (error: unknown) => {
      xxh64 = undefined; // let a later call retry
      throw error;
    },
  );
  return xxh64;
}
