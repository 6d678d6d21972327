import { isAbsolute, resolve } from 'node:path';
import type { Database } from '../../contract/database.js';
import { MemostrataError } from '../../errors.js';

/**
 * Encrypts every stored value (AES-256-GCM). Give `keyFile` or `keyEnv`.
 *
 * @category Configuration
 */
export interface EncryptLayerConfig {
  /** The encrypt layer. */
  type: 'encrypt';
  /** A file holding the key as 64 hex characters (`memostrata keygen <file>`); relative to the config file in one. */
  keyFile?: string;
  /** An environment variable holding the key, in the form of a key file; instead of `keyFile`. */
  keyEnv?: string;
  /**
   * Key files of earlier keys: values written with them are read, never
   * written. After `memostrata rekey` they can go.
   * @default []
   */
  previousKeyFiles?: string[];
}

/**
 * Signs every stored value and serves only values whose signature checks.
 * Either `secretFile` (HMAC-SHA256, a key file as for encrypt), or Ed25519:
 * `publicKeyFiles` of the trusted writers and, to write, `privateKeyFile`
 * (PEM files, as `crypto.generateKeyPairSync('ed25519')` exports them).
 * Without `secretFile` and `privateKeyFile` the cache is a reader: it hits
 * on signed entries and stores nothing.
 *
 * @category Configuration
 */
export interface SignLayerConfig {
  /** The sign layer. */
  type: 'sign';
  /** A shared secret, as a key file: HMAC-SHA256. */
  secretFile?: string;
  /** This writer's Ed25519 private key (PEM). @default undefined (a reader) */
  privateKeyFile?: string;
  /** The trusted writers' Ed25519 public keys (PEM). @default [] */
  publicKeyFiles?: string[];
}

/**
 * Appends a JSON line for every write and delete to a file.
 *
 * @category Configuration
 */
export interface AuditLayerConfig {
  /** The audit layer. */
  type: 'audit';
  /** The JSON-lines log file; relative to the config file in one. */
  path: string;
}

/**
 * A layer of your own: given the byte database below, returns the one
 * stacked on it (a {@link PassThroughLayer} subclass, say). Only in
 * `openCache` options, not in a JSON file.
 *
 * @category Configuration
 */
export type LayerFactory = (below: Database<Uint8Array, Uint8Array>) => Database<Uint8Array, Uint8Array>;

/**
 * One byte layer between the serialized values and the backend.
 *
 * @category Configuration
 */
export type LayerConfig = EncryptLayerConfig | SignLayerConfig | AuditLayerConfig | LayerFactory;

const fields: Record<string, ReadonlySet<string>> = {
  encrypt: new Set(['type', 'keyFile', 'keyEnv', 'previousKeyFiles']),
  sign: new Set(['type', 'secretFile', 'privateKeyFile', 'publicKeyFiles']),
  audit: new Set(['type', 'path']),
};

/**
 * Checks the `layers` option; relative paths resolve against `base` (the
 * config file's directory) when given.
 *
 * @throws MemostrataError `CONFIG` naming the field (`layers[1].keyFile`) after `where`.
 */
export function resolveLayers(value: unknown, where: string, base?: string): LayerConfig[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw configError(where, 'layers', `must be an array of layers such as [{ "type": "encrypt", "keyFile": "store.key" }]; got ${show(value)}.`);
  return value.map((layer: unknown, index) => resolveLayer(layer, where, `layers[${index}]`, base));
}

function resolveLayer(layer: unknown, where: string, field: string, base: string | undefined): LayerConfig {
  if (typeof layer === 'function') return layer as LayerFactory;
  if (layer === null || typeof layer !== 'object' || Array.isArray(layer)) {
    throw configError(where, field, `must be { type: 'encrypt' | 'sign' | 'audit', … } or a function (below) => layer; got ${show(layer)}.`);
  }
  const type = (layer as { type?: unknown }).type;
  const allowed = typeof type === 'string' ? fields[type] : undefined;
  if (allowed === undefined) throw configError(where, `${field}.type`, `must be 'encrypt', 'sign' or 'audit'; got ${show(type)}.`);
  for (const name of Object.keys(layer)) {
    if (!allowed.has(name)) throw configError(where, `${field}.${name}`, `is not an option of the ${String(type)} layer; its options are ${[...allowed].join(', ')}.`);
  }
  const get = (name: string): unknown => (layer as Record<string, unknown>)[name];
  const path = (name: string): string | undefined => optionalPath(get(name), where, `${field}.${name}`, base);
  const paths = (name: string): string[] | undefined => optionalPaths(get(name), where, `${field}.${name}`, base);
  switch (type) {
    case 'encrypt': {
      const keyFile = path('keyFile');
      const keyEnv = get('keyEnv');
      if (keyEnv !== undefined && (typeof keyEnv !== 'string' || keyEnv.length === 0)) throw configError(where, `${field}.keyEnv`, `must be the name of an environment variable; got ${show(keyEnv)}.`);
      if ((keyFile === undefined) === (keyEnv === undefined)) throw configError(where, field, 'needs exactly one of keyFile and keyEnv (`memostrata keygen <file>` makes a key file).');
      const previousKeyFiles = paths('previousKeyFiles');
      return { type: 'encrypt', ...(keyFile === undefined ? { keyEnv: keyEnv as string } : { keyFile }), ...(previousKeyFiles === undefined ? {} : { previousKeyFiles }) };
    }
    case 'sign': {
      const secretFile = path('secretFile');
      const privateKeyFile = path('privateKeyFile');
      const publicKeyFiles = paths('publicKeyFiles');
      if (secretFile !== undefined) {
        if (privateKeyFile !== undefined || publicKeyFiles !== undefined) throw configError(where, field, 'takes either secretFile (HMAC) or privateKeyFile and publicKeyFiles (Ed25519), not both.');
        return { type: 'sign', secretFile };
      }
      if (privateKeyFile === undefined && (publicKeyFiles === undefined || publicKeyFiles.length === 0)) {
        throw configError(where, field, 'needs secretFile (a shared secret), or publicKeyFiles (trusted writers) and, to write, privateKeyFile.');
      }
      return { type: 'sign', ...(privateKeyFile === undefined ? {} : { privateKeyFile }), publicKeyFiles: publicKeyFiles ?? [] };
    }
    default: {
      const logPath = path('path');
      if (logPath === undefined) throw configError(where, `${field}.path`, 'is required: the audit log file.');
      return { type: 'audit', path: logPath };
    }
  }
}

function optionalPath(value: unknown, where: string, field: string, base: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw configError(where, field, `must be a file path; got ${show(value)}.`);
  return base === undefined || isAbsolute(value) ? value : resolve(base, value);
}

function optionalPaths(value: unknown, where: string, field: string, base: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw configError(where, field, `must be an array of file paths; got ${show(value)}.`);
  return value.map((item: unknown, index) => {
    const path = optionalPath(item, where, `${field}[${index}]`, base);
    if (path === undefined) throw configError(where, `${field}[${index}]`, 'must be a file path; got undefined.');
    return path;
  });
}

function configError(where: string, field: string, problem: string): MemostrataError {
  return new MemostrataError('CONFIG', `${where}: ${field} ${problem}`);
}

function show(value: unknown): string {
  return typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
}
