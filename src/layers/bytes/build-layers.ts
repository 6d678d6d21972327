import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database } from '../../contract/database.js';
import { MemostrataError } from '../../errors.js';
import { AuditLayer } from './audit-layer.js';
import { EncryptLayer } from './encrypt-layer.js';
import { readKeyEnv, readKeyFile } from './key-file.js';
import type { LayerConfig, LayerFactory } from './layer-config.js';
import { SignLayer, type Ed25519Key } from './sign-layer.js';

/** A byte database: a backend, or a layer over one. */
export type ByteDatabase = Database<Uint8Array, Uint8Array>;

/** The byte layers stacked on a backend. */
export interface ByteStack {
  /** The top of the stack: what `SerializedDB` writes to. The backend itself when there are no layers. */
  readonly top: ByteDatabase;
  /** The layers, bottom to top (without the backend). */
  readonly layers: readonly ByteDatabase[];
  /** Whether a layer drops every write (a signed store opened with public keys only): the cache then stores nothing. */
  readonly readOnly: boolean;
}

/**
 * Reads every key a list of layer configurations names, and returns what
 * stacks those layers on a backend: on write the first layer of the list
 * runs first (it is the top, right under `SerializedDB`), on read last.
 * Keys are read here, before any store is opened, so a missing or wrong key
 * file opens and writes nothing.
 *
 * @throws MemostrataError `CONFIG` naming the key file (or variable) that cannot be read or is not a key.
 */
export function loadLayers(configs: readonly LayerConfig[], env: Readonly<Record<string, string | undefined>> = process.env): (backend: ByteDatabase) => ByteStack {
  const factories = configs.map((config) => layerFactory(config, env));
  return (backend) => {
    // Writes go down the list: the first layer is on top, the last right on the backend.
    const layers: ByteDatabase[] = [];
    let top = backend;
    for (const factory of [...factories].reverse()) {
      top = factory(top);
      layers.push(top);
    }
    return { top, layers, readOnly: layers.some((layer) => (layer as { readOnly?: unknown }).readOnly === true) };
  };
}

/** Stacks `configs` on `backend` (reading their keys first): see {@link loadLayers}. */
export function buildLayers(configs: readonly LayerConfig[], backend: ByteDatabase): ByteStack {
  return loadLayers(configs)(backend);
}

function layerFactory(config: LayerConfig, env: Readonly<Record<string, string | undefined>>): LayerFactory {
  if (typeof config === 'function') {
    return (below) => {
      const layer = config(below);
      if (layer === null || typeof layer !== 'object' || typeof (layer as Partial<ByteDatabase>).get !== 'function') {
        throw new MemostrataError('CONFIG', 'A layer function must return the layer it stacks on the database it is given (a Database of bytes, such as a PassThroughLayer).');
      }
      return layer;
    };
  }
  switch (config.type) {
    case 'encrypt': {
      const key = config.keyFile !== undefined ? readKeyFile(config.keyFile) : readKeyEnv(config.keyEnv ?? '', env);
      const previousKeys = (config.previousKeyFiles ?? []).map((file) => readKeyFile(file));
      return (below) => new EncryptLayer(below, { key, previousKeys });
    }
    case 'sign': {
      if (config.secretFile !== undefined) {
        const secret = readKeyFile(config.secretFile);
        return (below) => new SignLayer(below, { secret });
      }
      const privateKey = config.privateKeyFile === undefined ? undefined : readPem(config.privateKeyFile, 'private');
      const publicKeys = (config.publicKeyFiles ?? []).map((file) => readPem(file, 'public'));
      return (below) => new SignLayer(below, privateKey === undefined ? { publicKeys } : { privateKey, publicKeys });
    }
    case 'audit': {
      // Found now, not at the first write: a write that landed but could not be logged fails its caller.
      const directory = dirname(resolve(config.path));
      if (!existsSync(directory)) throw new MemostrataError('CONFIG', `The audit log ${config.path} is in a directory that does not exist (${directory}); make it first.`);
      return (below) => new AuditLayer(below, { path: config.path });
    }
    default:
      throw new MemostrataError('CONFIG', `Unknown layer type ${JSON.stringify((config as { type?: unknown }).type)}; the layers are encrypt, sign and audit.`);
  }
}

/** An Ed25519 key from a PEM file. @throws MemostrataError `CONFIG` naming the file. */
export function readPem(file: string, type: 'private' | 'public'): Ed25519Key {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MemostrataError('CONFIG', `Cannot read the ${type} key file ${file}: ${(error as Error).message}.`, { cause: error });
  }
  let key: KeyObject;
  try {
    key = type === 'private' ? createPrivateKey(text) : createPublicKey(text);
  } catch (error) {
    throw new MemostrataError('CONFIG', `The ${type} key file ${file} is not a PEM ${type} key: ${(error as Error).message}.`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new MemostrataError('CONFIG', `The ${type} key file ${file} holds a ${String(key.asymmetricKeyType)} key; the sign layer takes Ed25519 keys (crypto.generateKeyPairSync('ed25519')).`);
  }
  if (type === 'public' && text.includes('PRIVATE KEY')) {
    throw new MemostrataError('CONFIG', `The public key file ${file} holds a private key; give the public key only (keep the private key with the writer).`);
  }
  return key;
}
