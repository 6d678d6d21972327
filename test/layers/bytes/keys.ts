import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LevelBackend } from '../../../src/backends/level-backend.js';
import { KeyPrefix, prefixRange } from '../../../src/layers/keys.js';

/** A fresh 256-bit key. */
export function newKey(): Buffer {
  return randomBytes(32);
}

/** Writes `key` as a key file in `dir` and returns its path. */
export function writeKeyFile(dir: string, name: string, key: Uint8Array = newKey()): string {
  const file = join(dir, name);
  writeFileSync(file, `${Buffer.from(key).toString('hex')}\n`);
  return file;
}

/** A fresh Ed25519 key pair. */
export function newSigner(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** Writes an Ed25519 key pair as PEM files `<name>.pem` and `<name>.pub.pem` in `dir`. */
export function writeSignerFiles(dir: string, name: string): { privateKeyFile: string; publicKeyFile: string } {
  const { privateKey, publicKey } = newSigner();
  const privateKeyFile = join(dir, `${name}.pem`);
  const publicKeyFile = join(dir, `${name}.pub.pem`);
  writeFileSync(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKeyFile, publicKeyFile };
}

/** Flips one byte near the end of every stored value (`v!` keys) of the LevelDB store at `path`, in the bare backend; returns how many. */
export async function flipValueBytes(path: string): Promise<number> {
  const backend = await LevelBackend.open(path);
  let flipped = 0;
  try {
    for await (const [key, value] of backend.entries(prefixRange(KeyPrefix.value))) {
      const damaged = Uint8Array.from(value);
      damaged[Math.max(0, damaged.length - 20)]! ^= 0x01;
      await backend.put(key, damaged);
      flipped += 1;
    }
  } finally {
    await backend.close();
  }
  return flipped;
}
