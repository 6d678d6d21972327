import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MemostrataError } from '../../errors.js';

/** Bytes of a symmetric key (AES-256, HMAC-SHA256): 256 bits. */
export const KEY_BYTES = 32;

/** Bytes of a key id: enough to tell a store's few keys apart, too few to say anything about the key. */
export const KEY_ID_BYTES = 8;

/**
 * Reads a key file: 64 hex characters (a 256-bit key), whitespace anywhere
 * ignored, as `memostrata keygen` writes it.
 *
 * @throws MemostrataError `CONFIG` naming the file when it cannot be read or is not such a key.
 */
export function readKeyFile(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MemostrataError('CONFIG', `Cannot read the key file ${file}: ${(error as Error).message}. Make one with \`memostrata keygen ${file}\`.`, { cause: error });
  }
  return parseKey(text, `the key file ${file}`);
}

/**
 * Reads a key from an environment variable, in the form of a key file.
 *
 * @throws MemostrataError `CONFIG` naming the variable when it is unset or not such a key.
 */
export function readKeyEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env): Uint8Array {
  const text = env[name];
  if (text === undefined || text === '') {
    throw new MemostrataError('CONFIG', `The environment variable ${name} (keyEnv) is not set; set it to 64 hex characters (\`memostrata keygen <file>\` makes a key).`);
  }
  return parseKey(text, `the environment variable ${name}`);
}

/** A 256-bit key from its hex text. @throws MemostrataError `CONFIG` naming `source`. */
export function parseKey(text: string, source: string): Uint8Array {
  const hex = text.replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(hex)) {
    throw new MemostrataError('CONFIG', `${capitalize(source)} must hold a 256-bit key as 64 hex characters; it holds other characters. Make one with \`memostrata keygen <file>\`.`);
  }
  if (hex.length !== KEY_BYTES * 2) {
    throw new MemostrataError('CONFIG', `${capitalize(source)} must hold a 256-bit key as 64 hex characters; it holds ${hex.length}. Make one with \`memostrata keygen <file>\`.`);
  }
  return Buffer.from(hex, 'hex');
}

/**
 * The id a value stored with `key` carries: the first bytes of the key's
 * SHA-256, domain-separated so that it is not a hash of the bare key that
 * another system might publish.
 */
export function keyId(key: Uint8Array): Uint8Array {
  return createHash('sha256').update('memostrata key id\0').update(key).digest().subarray(0, KEY_ID_BYTES);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
