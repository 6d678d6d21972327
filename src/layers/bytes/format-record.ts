import { formatKey } from '../keys.js';
import { MemostrataError } from '../../errors.js';
import { layerOfStoredBytes } from './stored-form.js';

/** Whether `key` is the store's format record, the first value any open reads. */
export function isFormatRecord(key: Uint8Array): boolean {
  return key.length === formatKey.length && Buffer.compare(key, formatKey) === 0;
}

/**
 * Why the format record cannot be read through `layer`, when its bytes do
 * not carry that layer's form: the store was made without the layer, or with
 * its layers in another order. Elsewhere such bytes are a damaged or planted
 * value (read as a miss); at the format record they mean the configuration
 * does not fit the store, and the advice for damage (`verify --fix`, "choose
 * another path") would lose the whole store.
 */
export function formatRecordMismatch(layer: 'encrypt' | 'sign', stored: Uint8Array): MemostrataError {
  const found = layerOfStoredBytes(stored);
  if (found !== undefined && found !== layer) {
    return new MemostrataError(
      'CONFIG',
      `The store's format record was written through the ${found} layer where this configuration has the ${layer} layer: the layers are listed in another order than the store was made with. List them in that order (layers apply in order on write); nothing was changed.`,
    );
  }
  return new MemostrataError(
    'CONFIG',
    `The store was made without the ${layer} layer (its format record is not in that layer's form): layers are chosen when a store is made. Open it with the layers it was made with, or copy its calls into a new store made with these; nothing was changed.`,
  );
}
