/**
 * What layer wrote bytes read without it, from their mark: a store opened
 * without the layers it was written with can then say which it needs.
 */
export function layerOfStoredBytes(bytes: Uint8Array): 'encrypt' | 'sign' | undefined {
  const mark = Buffer.from(bytes.subarray(0, 4)).toString('latin1');
  return mark === 'mse1' ? 'encrypt' : mark === 'mss1' ? 'sign' : undefined;
}
