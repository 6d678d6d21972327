import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ValueTransformLayer } from 'memostrata';

/**
 * The example byte layer of docs/extending.md: stores every value
 * deflate-compressed. Keys, order and ranges pass through; conditional
 * batches compare the values the caller sees (ValueTransformLayer does that).
 */
export class CompressLayer extends ValueTransformLayer {
  protected seal(_key: Uint8Array, value: Uint8Array): Uint8Array {
    return deflateRawSync(value);
  }

  protected open(_key: Uint8Array, stored: Uint8Array): Uint8Array {
    return inflateRawSync(stored);
  }
}
