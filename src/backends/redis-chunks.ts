import type { BatchOperation } from '../contract/database.js';

/** How much one chunk of a batch (one command to the server) may carry. */
export interface ChunkLimits {
  /** Most operations in one chunk. */
  readonly operations: number;
  /** Most bytes in one chunk (keys, values, framing); a single larger operation goes alone. */
  readonly bytes: number;
}

type Operation = BatchOperation<Uint8Array, Uint8Array>;

/** Bytes of RESP framing around one argument (`$<length>\r\n…\r\n`), rounded up. */
export const ARGUMENT_FRAMING = 16;

/**
 * Bytes one operation adds to a command: its key twice (the entry's Redis key
 * and its index member, with the tag and prefix), its value, and framing.
 */
export function operationBytes(op: Operation, prefixBytes: number): number {
  return 2 * op.key.length + prefixBytes + 10 + (op.type === 'put' ? op.value.length : 0) + 4 * ARGUMENT_FRAMING;
}

/**
 * Cuts `operations` into consecutive chunks, in order, each within `limits`:
 * the unit a batch is sent in, so that no single command keeps the server
 * busy for long (a Redis script blocks every other client while it runs).
 */
export function splitIntoChunks(operations: readonly Operation[], limits: ChunkLimits, prefixBytes: number): Operation[][] {
  const chunks: Operation[][] = [];
  let chunk: Operation[] = [];
  let bytes = 0;
  for (const op of operations) {
    const size = operationBytes(op, prefixBytes);
    if (chunk.length > 0 && (chunk.length >= limits.operations || bytes + size > limits.bytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(op);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
