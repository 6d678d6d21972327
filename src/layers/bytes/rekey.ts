import type { Database } from '../../contract/database.js';
import { MemostrataError } from '../../errors.js';
import { EncryptLayer, type ReencryptOptions, type ReencryptResult } from './encrypt-layer.js';

/**
 * Re-encrypts every value of a store with the current key of its encrypt
 * layer (see {@link EncryptLayer.reencrypt}): open the store with the new
 * `keyFile` and the old ones in `previousKeyFiles`, run this, then drop the
 * old keys from the configuration.
 *
 * @param byteLayers - the store's byte layers (`Store.byteLayers`).
 * @throws MemostrataError `CONFIG` when there is not exactly one encrypt layer; `KEY` for a value of a key not given.
 */
export async function rekeyStore(byteLayers: readonly Database<Uint8Array, Uint8Array>[], options: ReencryptOptions = {}): Promise<ReencryptResult & { keyId: string }> {
  const encrypting = byteLayers.filter((layer): layer is EncryptLayer => layer instanceof EncryptLayer);
  if (encrypting.length !== 1) {
    throw new MemostrataError(
      'CONFIG',
      encrypting.length === 0
        ? 'rekey needs a configuration with an encrypt layer: { "layers": [{ "type": "encrypt", "keyFile": "<new key>", "previousKeyFiles": ["<old key>"] }] }.'
        : 'rekey works on a configuration with one encrypt layer; this one has several.',
    );
  }
  const layer = encrypting[0]!;
  return { keyId: layer.keyId, ...(await layer.reencrypt(options)) };
}
